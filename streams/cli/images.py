"""``alpr images``: the read images' retention sweep (P11, P12).

``alpr images sweep`` deletes the images of reads past the read retention, except those on
evidence hold; ``--every`` repeats it (the retention service account's timer, as ``alpr run``
starts it). Done by the signed-in administrator or the retention service account (``image.sweep``,
P21) and audited with its counts (P15).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from streams.cli.common import Subparsers, _needs, _now, register_commands, run_timer
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.access.principal import Principal


def _sweep(settings: Settings, args: argparse.Namespace) -> int:
    from streams.images.store import open_store
    from streams.images.sweep import run_sweep

    store = open_store(settings)

    async def once(by: Principal, ahead: timedelta) -> None:
        # with --every, what passes the retention before the next sweep goes now (P11)
        now = _now()
        result = await run_sweep(settings, now, by, store, ahead)
        print(
            f"{now.isoformat(timespec='seconds')} image sweep: images of {result.deleted_reads} reads "
            f"captured before {result.cutoff.isoformat(timespec='seconds')} deleted "
            f"({result.deleted_objects} files or objects, P11); "
            f"{result.kept_held} kept on evidence hold (P12)",
            flush=True,
        )

    return run_timer(settings, args, "images sweep", "image.sweep", once)


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
