# sphericalae: one command to build the book, one to run the tests. Both set themselves up:
# they create the virtual environment $(VENV) if missing and (re)install requirements.txt when it
# changed (its sha256 is kept in $(VENV)/.requirements.sha256), then install the package.
#
#   make book        build the book, executing every page  -> _build/html/index.html
#   make test        unit tests + every page cell by cell (nbval) + a strict book build
#   make reproduce   re-execute the experiment pages at full scale (reproduce.yml) -> results/
#   make clean       remove _build (keeps the virtual environment)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements.sha256
# --all: re-read (so re-execute) every page, since a change in sphericalae/ alone would not
# make Sphinx consider a page outdated.
JB_STRICT := --all -W -n --keep-going
# Downloads (full MNIST) go to the checkout's data/ folder (see data/README.md).
export SPHERICALAE_DATA ?= $(CURDIR)/data
# A non-interactive MPLBACKEND (Agg) would strip every figure from the executed pages.
unexport MPLBACKEND

.PHONY: setup book test unit nbval book-strict reproduce clean

setup:
	@test -x "$(BIN)/python" || { echo ">> creating $(VENV) with $(PYTHON)"; "$(PYTHON)" -m venv "$(VENV)"; }
	@want=$$(sha256sum requirements.txt | cut -d' ' -f1); \
	if [ "$$want" != "$$(cat "$(STAMP)" 2>/dev/null)" ]; then \
	  echo ">> installing requirements.txt into $(VENV) (first time: about 3 minutes, 6 GB)"; \
	  "$(BIN)/python" -m pip install --disable-pip-version-check -q -r requirements.txt && echo "$$want" > "$(STAMP)"; \
	fi
	@"$(BIN)/python" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .

book: setup
	"$(BIN)/jupyter-book" build . $(JB_STRICT)
	@echo ">> book: $(CURDIR)/_build/html/index.html"

book-strict: book

unit: setup
	"$(BIN)/python" -m pytest tests

nbval: setup
	"$(BIN)/python" -m pytest --nbval-lax --nbval-current-env book

# The strict build runs first so that pytest's summary is the last line printed.
test: setup
	"$(BIN)/jupyter-book" build . $(JB_STRICT)
	"$(BIN)/python" -m pytest tests book --nbval-lax --nbval-current-env

reproduce: setup
	"$(BIN)/python" -m sphericalae.reproduce

clean:
	rm -rf _build
