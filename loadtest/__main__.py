"""``python -m loadtest run ...``: the city-scale load run (see loadtest/run.py);
``python -m loadtest ingest ...``: the camera ingest endpoint under load (see loadtest/ingest.py);
``python -m loadtest eos ...``: exactly-once against at-least-once (see loadtest/eos.py);
``python -m loadtest state ...``: offered load in steps up to 50,000 reads/s (see loadtest/state.py)."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "run":
        from loadtest.run import main
    elif command == "ingest":
        from loadtest.ingest import main
    elif command == "eos":
        from loadtest.eos import main
    elif command == "state":
        from loadtest.state import main
    else:
        print(
            "usage: python -m loadtest run [--cameras N] [--rate R] [--duration S] [--max] ...\n"
            "       python -m loadtest ingest [--duration S] [--cameras N] [--batch R] [--concurrency C]\n"
            "       python -m loadtest eos [--modes ...] [--rate R] [--duration S] [--kill-after S]\n"
            "       python -m loadtest state [--steps R ...] [--step-s S] [--workers N] [--entries N]",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.exit(main(sys.argv[2:]))
