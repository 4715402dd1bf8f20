"""``alpr``: the one command-line entry point.

Each feature's commands and handlers live in their own module (ops, evidence, audit, hotlists,
alerts, directory, cameras); this module builds the parser from them and runs the command.
Handlers import what they need when they run, so ``alpr --help`` starts fast.
"""

from __future__ import annotations

import argparse
import logging
import sys

from streams.access import redact
from streams.cli.alerts import register as register_alerts
from streams.cli.audit import register as register_audit
from streams.cli.cameras import register as register_cameras
from streams.cli.common import _sign_in
from streams.cli.directory import register as register_directory
from streams.cli.evidence import register as register_evidence
from streams.cli.hotlists import register as register_hotlists
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    redact.install()  # no token, key or password reaches a log, whoever logs it
    try:
        settings = Settings.from_env()
        if getattr(args, "needs", None):  # P18, P21: who acts, checked before anything is read
            args.signed_in = _sign_in(settings, args, args.needs)
        return int(args.func(settings, args))
    except AlprError as exc:
        print(f"alpr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
