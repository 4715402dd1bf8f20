"""``python -m streams.cli``: what the tests, the load tools and ``alpr run`` start subprocesses with."""

import sys

from streams.cli import main

sys.exit(main())
