"""``alpr webhook``: which eligible agency's CAD system receives the alerts of which cameras (P19).

Thin adapters over the use cases of :mod:`streams.console.webhooks`; every command needs a
signed-in administrator (``webhook.admin``, P21) and every change is audited there (P15).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from streams.cli.common import Subparsers, _needs, _now, register_commands
from streams.settings import Settings


def _add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.console.webhooks import add_webhook

    hook = asyncio.run(
        add_webhook(
            settings, args.signed_in, args.agency, args.url, args.secret_env, tuple(args.camera), _now()
        )
    )
    print(
        f"webhook {hook.webhook_id}: {hook.agency} receives the alerts of {', '.join(hook.cameras)} "
        f"at {hook.url} (signed with ${hook.secret_env}, which the console's environment must hold)"
    )
    return 0


def _remove(settings: Settings, args: argparse.Namespace) -> int:
    from streams.console.webhooks import remove_webhook

    hook = asyncio.run(remove_webhook(settings, args.signed_in, args.agency, _now()))
    print(f"removed webhook {hook.webhook_id} of {hook.agency}: it receives nothing more")
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from streams.console.webhooks import list_webhooks

    for hook in asyncio.run(list_webhooks(settings, args.signed_in)):
        print(
            f"{hook.agency:<10} {hook.webhook_id:<12} {hook.url:<50} ${hook.secret_env:<28} "
            f"{' '.join(hook.cameras)}  (added {hook.added_at:%Y-%m-%d %H:%M} by {hook.added_by})"
        )
    return 0


def _add_webhook(sub: Subparsers) -> None:
    p = sub.add_parser(
        "webhook", help="outgoing alert webhooks to eligible agencies' CAD systems (P19); administrators"
    )
    ws = p.add_subparsers(dest="action", required=True)
    w = ws.add_parser(
        "add",
        help="send an eligible agency (CA law enforcement with an agreement) the alerts of its cameras",
    )
    w.add_argument("--agency", required=True, help="the recipient: an agency id of the directory")
    w.add_argument("--url", required=True, help="https://... (plain http only to 127.0.0.1, ::1, localhost)")
    w.add_argument(
        "--secret-env",
        required=True,
        help="NAME of the console's environment variable holding the HMAC secret (never the secret)",
    )
    w.add_argument(
        "--camera",
        required=True,
        nargs="+",
        action="extend",
        metavar="PATTERN",
        help="camera id patterns (sj-*): only cameras the agency may see (its own, or shared with it)",
    )
    _needs(w, "webhook.admin")
    w.set_defaults(func=_add)
    w = ws.add_parser("remove", help="stop sending an agency alerts")
    w.add_argument("--agency", required=True, help="the agency id whose webhook is removed")
    _needs(w, "webhook.admin")
    w.set_defaults(func=_remove)
    w = ws.add_parser("list", help="the recipients, their URLs and cameras (no secrets)")
    _needs(w, "webhook.admin")
    w.set_defaults(func=_list)


_COMMANDS: dict[str, Callable[[Subparsers], None]] = {"webhook": _add_webhook}


def register(sub: Subparsers, *names: str) -> None:
    """Add the commands named (all of this module's by default), in the order given."""
    register_commands(sub, _COMMANDS, names)
