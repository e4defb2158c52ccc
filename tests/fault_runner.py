"""Run the CLI and kill it with SIGKILL at a chosen point (for tests/test_faults.py).

    python tests/fault_runner.py step:N -- train ...          # after the N-th optimizer step
    python tests/fault_runner.py write:NAME:K -- train ...    # inside the K-th write of run file NAME:
                                                              # its temporary file half written
    python tests/fault_runner.py hold:PATH -- train ...       # wait before the first optimizer step
                                                              # until PATH exists (no fault: a gate)
The process kills itself, as an out-of-memory killer or a pulled plug would: no cleanup runs.
"""
import os
import signal
import sys
import time
from pathlib import Path

# the checkout this file is in, not whatever sphericalae the interpreter has installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def main():
    spec, argv = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    kind, _, rest = spec.partition(":")
    if kind == "step":
        limit, count = int(rest), [0]
        real_step = torch.optim.Adam.step

        def step(self, *args, **kwargs):
            count[0] += 1
            if count[0] > limit:
                die()
            return real_step(self, *args, **kwargs)

        torch.optim.Adam.step = step
    elif kind == "write":
        name, _, k = rest.rpartition(":")
        limit, count = int(k), [0]
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if os.path.basename(str(dst)) == name:
                count[0] += 1
                if count[0] == limit:
                    with open(src, "r+b") as fh:       # leave the temporary file half written
                        fh.truncate(os.path.getsize(src) // 2)
                    die()
            return real_replace(src, dst, *args, **kwargs)

        os.replace = replace
    elif kind == "hold":
        gate, real_step, held = Path(rest), torch.optim.Adam.step, [False]

        def step(self, *args, **kwargs):
            while not held[0] and not gate.exists():      # the run holds its folder's lock meanwhile
                time.sleep(0.05)
            held[0] = True
            return real_step(self, *args, **kwargs)

        torch.optim.Adam.step = step
    else:
        raise SystemExit(f"unknown fault {spec!r}")
    from sphericalae.__main__ import main as cli
    sys.exit(cli(argv))


if __name__ == "__main__":
    main()
