# sphericalae: one command to build the book, one to run the tests. Both set themselves up:
# they create the virtual environment $(VENV) if missing and (re)install requirements.txt when it
# changed (its sha256 is kept in $(VENV)/.requirements.sha256), then install the package.
#
#   make book        build the book -> _build/html/index.html; executes the pages that changed and
#                    the pages whose package code changed (_ext/book_deps.py)
#   make test        strict book build (every page executed, every hidden check run: a failing cell
#                    fails the build) + every test: unit tests, the pages at two other settings,
#                    faults and the browser test (headless Chromium; installed with apt-get when root)
#   make test-fast   the unit tests without those marked slow (about a minute; models cached)
#   make nbval       every page cell by cell with nbval (the same cells the strict build runs)
#   make reproduce   re-execute the experiment pages at full scale (reproduce.yml) -> results/
#   make clean       remove _build (keeps the virtual environment)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements.sha256
# Sphinx re-reads (so re-executes) the pages whose file changed and, through _ext/book_deps.py, the
# pages whose package code (the definitions their imports reach) or requirements.txt changed;
# `make test` re-executes every page (--all).
JB_FLAGS := -W -n --keep-going
JB_STRICT := --all $(JB_FLAGS)
# Downloads (full MNIST) go to the checkout's data/ folder (see data/README.md).
export SPHERICALAE_DATA ?= $(CURDIR)/data
# A non-interactive MPLBACKEND (Agg) would strip every figure from the executed pages.
unexport MPLBACKEND

.PHONY: setup browser book test strict-build tests-before-browser test-fast unit nbval reproduce clean

setup:
	@test -x "$(BIN)/python" || { echo ">> creating $(VENV) with $(PYTHON)"; "$(PYTHON)" -m venv "$(VENV)"; }
	@want=$$(sha256sum requirements.txt | cut -d' ' -f1); \
	if [ "$$want" != "$$(cat "$(STAMP)" 2>/dev/null)" ]; then \
	  echo ">> installing requirements.txt into $(VENV) (first time: about 3 minutes, 6 GB)"; \
	  "$(BIN)/python" -m pip install --disable-pip-version-check -q -r requirements.txt && echo "$$want" > "$(STAMP)"; \
	fi
	@"$(BIN)/python" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .

book: setup
	"$(BIN)/jupyter-book" build . $(JB_FLAGS)
	@echo ">> book: $(CURDIR)/_build/html/index.html"

# Debian's chromium for the browser test, installed the way setup installs the venv: when it is
# missing and we can (root with apt-get). Otherwise the browser test is skipped (failed under CI=true).
browser:
	@if command -v chromium >/dev/null 2>&1 || [ -n "$$SPHERICALAE_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo ">> installing Debian's chromium for the browser test (about 300 MB, once)"; \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; } || \
	  echo ">> could not install chromium with apt-get: the browser test will be skipped"; \
	else \
	  echo ">> no chromium and not root: the browser test will be skipped (sudo apt-get install chromium)"; \
	fi

unit: setup
	"$(BIN)/python" -m pytest tests

test-fast: setup
	"$(BIN)/python" -m pytest tests -m "not slow"

nbval: setup
	"$(BIN)/python" -m pytest --nbval-lax --nbval-current-env book

# The strict build executes every cell of every page and stops on any error (hidden checks
# included), so the tests do not run the pages a second time with nbval (`make nbval` does, on
# demand). With the models cached the build and the tests are each mostly one process, so they run
# side by side (`-j2`; each one's output is printed when it ends), one thread each (torch, BLAS,
# OpenMP): two streams of two threads on two cores spin against each other; each stream's process
# pool (sphericalae/parallel.py) still trains models side by side. The browser test reads the
# built pages, so it runs last.
SIDE_BY_SIDE := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
test: setup browser
	@$(SIDE_BY_SIDE) $(MAKE) --no-print-directory -j2 --output-sync=target strict-build tests-before-browser
	"$(BIN)/python" -m pytest tests/test_browser.py

strict-build:
	"$(BIN)/jupyter-book" build . $(JB_STRICT)

tests-before-browser:
	"$(BIN)/python" -m pytest tests --ignore=tests/test_browser.py

reproduce: setup
	"$(BIN)/python" -m sphericalae.reproduce

clean:
	rm -rf _build
