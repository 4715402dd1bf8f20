"""``alpr images``: the read images' retention sweep (P11, P12).

``alpr images sweep`` deletes the images of reads past the read retention, except those on
evidence hold; ``--every`` repeats it (the retention service account's timer, as ``alpr run``
starts it). Done by the signed-in administrator or the retention service account (``image.sweep``,
P21) and audited with its counts (P15).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from streams.cli.common import Subparsers, _needs, _now, register_commands
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.access.principal import Principal


def _sweep(settings: Settings, args: argparse.Namespace) -> int:
    from streams.cli.common import load_token, resolve_principal
    from streams.errors import ConfigError
    from streams.hotlists.feeder import parse_duration
    from streams.images.store import open_store
    from streams.images.sweep import run_sweep

    store = open_store(settings)

    async def once(by: Principal, ahead: timedelta = timedelta(0)) -> None:
        now = _now()
        result = await run_sweep(settings, now, by, store, ahead)
        print(
            f"{now.isoformat(timespec='seconds')} image sweep: images of {result.deleted_reads} reads "
            f"captured before {result.cutoff.isoformat(timespec='seconds')} deleted "
            f"({result.deleted_objects} files or objects, P11); "
            f"{result.kept_held} kept on evidence hold (P12)",
            flush=True,
        )

    if args.every is None:
        asyncio.run(once(args.signed_in))
        return 0
    if args.signed_in.kind != "service":
        raise ConfigError(
            "images sweep --every runs as the retention service account (ALPR_SERVICE_TOKEN), "
            "not in a person's session; run it without --every to sweep once"
        )
    every, token = parse_duration(args.every), settings.service_token

    async def repeat() -> None:
        while True:
            # the account as it is now: a disabled service account stops the timer at once (P18)
            by = await resolve_principal(settings, token or load_token(settings), "image.sweep")
            await once(by, ahead=every)  # what passes the retention before the next sweep goes now
            await asyncio.sleep(every.total_seconds())

    try:
        asyncio.run(repeat())
    except KeyboardInterrupt:
        pass
    return 0


def _add_images(sub: Subparsers) -> None:
    p = sub.add_parser("images", help="the read images (plate crops, overviews): their retention sweep")
    images = p.add_subparsers(dest="action", required=True)
    s = images.add_parser(
        "sweep",
        help="delete the images of reads past the read retention, except reads on evidence hold (P11, P12)",
    )
    s.add_argument("--every", help="repeat at this interval (e.g. 1m): the retention service's timer")
    _needs(s, "image.sweep")
    s.set_defaults(func=_sweep)


_COMMANDS: dict[str, Callable[[Subparsers], None]] = {"images": _add_images}


def register(sub: Subparsers, *names: str) -> None:
    """Add the commands named (all of this module's by default), in the order given."""
    register_commands(sub, _COMMANDS, names)
