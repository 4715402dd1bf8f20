"""``alpr``: the one command-line entry point.

Each feature's commands and handlers live in their own module (ops, evidence, audit, hotlists,
alerts, directory, cameras); this module builds the parser from them and runs the command.
Handlers import what they need when they run, so ``alpr --help`` starts fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from streams.access import redact
from streams.cli.alerts import register as register_alerts
from streams.cli.audit import register as register_audit
from streams.cli.cameras import register as register_cameras
from streams.cli.common import _sign_in, can_ask
from streams.cli.directory import register as register_directory
from streams.cli.evidence import register as register_evidence
from streams.cli.hotlists import register as register_hotlists
from streams.cli.images import register as register_images
from streams.cli.ops import register as register_ops
from streams.cli.webhooks import register as register_webhooks
from streams.errors import AlprError
from streams.settings import Settings

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The modules' commands, interleaved in the order `alpr --help` has always listed them."""
    parser = argparse.ArgumentParser(prog="alpr", description="ALPR streaming hot-list matcher")
    sub = parser.add_subparsers(dest="command", required=True)
    register_ops(sub, "run", "broker", "topics", "retention")
    register_directory(sub, "login", "logout", "whoami", "roles", "bootstrap")
    register_evidence(sub, "hold", "replay")
    register_images(sub)
    register_audit(sub, "audit")
    register_evidence(sub, "retro-hunt")
    register_ops(sub, "worker")
    register_hotlists(sub)
    register_ops(sub, "simulate")
    register_alerts(sub)
    register_ops(sub, "console", "demo-code")
    register_directory(sub, "agency", "user", "service")
    register_webhooks(sub)
    register_cameras(sub)
    register_ops(sub, "ingest", "match")
    register_audit(sub, "aggregate", "report", "breach")
    return parser


#: The exit code of a command whose reader went away (``alpr ... | head -1``): 128 + SIGPIPE, what
#: the shell reports for any program a closed pipe ends, so a script with ``set -o pipefail`` can
#: tell that the output was cut short, without a traceback.
EXIT_CLOSED_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    """Run one command; a reader that closes the pipe early ends it quietly (:data:`EXIT_CLOSED_PIPE`).

    Standard output is flushed here, inside the ``try``, so that a closed pipe is caught once, in
    this place, and not at interpreter exit ("Exception ignored ... BrokenPipeError"); also when
    argparse itself wrote and exits with ``SystemExit`` (its ``--help`` ignores a closed pipe and
    exits 0)."""
    try:
        try:
            return _run(argv)
        finally:
            if sys.stdout is not None:  # None when started with stdout closed (>&-)
                sys.stdout.flush()
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # a peer's socket closed, not our reader: an error to report, not to hide
        # Python's documented recipe (library/signal.html, "Note on SIGPIPE"): point stdout at
        # devnull, so that the flush at exit of what is still buffered cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone (poll reports an error on it)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no descriptor (stdout replaced or closed)
        return False


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    redact.install()  # no token, key or password reaches a log, whoever logs it
    try:
        settings = Settings.from_env()
        can_ask(*getattr(args, "asks", ()))  # typed answers possible? checked before anything is read
        if getattr(args, "needs", None):  # P18, P21: who acts, checked before anything is read
            args.signed_in = _sign_in(settings, args, args.needs)
        return int(args.func(settings, args))
    except AlprError as exc:
        print(f"alpr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
