"""``python -m loadtest run ...``: the city-scale load run (see loadtest/run.py)."""

from __future__ import annotations

import sys

from loadtest.run import main

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "run":
        print(
            "usage: python -m loadtest run [--cameras N] [--rate R] [--duration S] [--max] ...",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.exit(main(sys.argv[2:]))
