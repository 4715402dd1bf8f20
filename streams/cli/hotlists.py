"""``alpr hotlist``: feed syncs (P3), department entries and their approval (P2), imports.

Every command but ``serve`` acts as the signed-in principal (``alpr login``, or the service account
of ALPR_SERVICE_TOKEN) through :mod:`streams.hotlists.usecases`: who entered or approved an entry
comes from the directory, never from an option (P2, P21)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from streams.cli.common import Subparsers, _needs, _now, register_commands
from streams.errors import AccessDenied
from streams.settings import Settings


def _hotlist_sync(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists import usecases

    if args.every:
        return _keep_in_sync(settings, args)
    report = asyncio.run(
        usecases.sync(
            args.signed_in, settings, args.format, Path(args.path), args.source, _now(), force=args.force
        )
    )
    for problem in report.plan.errors + report.plan.dropped:
        print(problem, file=sys.stderr)
    print(f"synced {', '.join(sorted(report.plan.sources))} from {args.path}: {report.plan.summary}")
    return 0


def _keep_in_sync(settings: Settings, args: argparse.Namespace) -> int:
    """Unattended: as the service account of ALPR_SERVICE_TOKEN, never a person's session (P18),
    which would lock when idle and end with the shift. The principal is resolved again each round
    (an authenticator follows the directory), so disabling the account stops the loop."""
    from streams.access.authn import Authenticator
    from streams.hotlists.feeder import keep_in_sync, parse_duration

    token = settings.service_token
    if token is None or args.signed_in.kind != "service":
        raise AccessDenied(
            "hotlist sync --every runs unattended as a feed-sync service account: set "
            "ALPR_SERVICE_TOKEN to its token (an administrator creates one with 'alpr service add')"
        )
    every = parse_duration(args.every)

    async def run() -> None:
        async with Authenticator(settings) as auth:
            await keep_in_sync(
                settings,
                args.format,
                Path(args.path),
                args.source,
                every,
                actor=lambda now: auth.principal(token, now),
                clock=_now,
            )

    asyncio.run(run())
    return 0


def _hotlist_sources(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists import usecases
    from streams.matching.matcher import source_stale

    statuses = asyncio.run(usecases.sources(args.signed_in, settings))
    if not statuses:
        print("no feed has been synced yet")
        return 0
    max_age = settings.profile.hotlist_max_staleness_s
    now = _now()
    print(f"{'source':<8} {'entries':>8} {'fresh as of':<26} {'last success':<26} {'state':<8} last error")
    for name, st in sorted(statuses.items()):
        fresh = st.get("fresh_as_of")
        stale = source_stale(datetime.fromisoformat(fresh) if fresh else None, now, max_age)
        print(
            f"{name:<8} {st.get('entry_count', 0):>8} {fresh or '-':<26} {st.get('last_success') or '-':<26} "
            f"{'STALE' if stale else 'fresh':<8} {st.get('last_error') or '-'}"
        )
        print(f"         checksum {st.get('checksum') or '-'}")
    return 0


def _hotlist_pending(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists import usecases

    pending = asyncio.run(usecases.pending(args.signed_in, settings, _now()))
    for key, record in sorted(pending.items()):
        missing = ", ".join(record["missing"]) or "nothing but approval"
        print(
            f"{key}  plate {record['entry']['plate']}  proposed {record['proposed_at']}  missing: {missing}"
        )
    print(f"{len(pending)} pending")
    return 0


def _hotlist_add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists import usecases
    from streams.hotlists.feeder import parse_duration
    from streams.hotlists.model import HotlistEntry
    from streams.matching.normalize import normalize_plate

    now = _now()
    if args.expires == "never":
        expires = None
    elif args.expires[-1] in "smhd" and args.expires[:-1].replace(".", "").isdigit():
        expires = now + parse_duration(args.expires)
    else:
        expires = datetime.fromisoformat(args.expires)
    plate = args.plate.upper() if "?" in args.plate or "*" in args.plate else normalize_plate(args.plate)
    draft = HotlistEntry(
        source="local",
        entry_id=args.entry_id or f"BOLO-{now:%Y%m%d%H%M%S}-{plate}",
        plate=plate,
        plate_state=args.state,
        list_type=args.list_type,
        reason=args.reason,
        case_number=args.case,
        expires_at=expires,
    )
    missing = asyncio.run(usecases.propose(args.signed_in, settings, draft, "cli", now))
    waiting = ", ".join(missing) if missing else "nothing"
    print(
        f"{draft.key} pending, entered by {args.signed_in.display} (badge {args.signed_in.badge}); "
        f"still missing: {waiting}. It becomes active when a lieutenant other than you approves it:"
    )
    print(f"  alpr hotlist approve {draft.key}   (signed in as a lieutenant, P2)")
    return 0


def _hotlist_approve(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists import usecases

    who = args.signed_in
    asyncio.run(usecases.approve(who, settings, args.key, _now()))
    print(f"{args.key} approved by {who.display} (badge {who.badge}, {who.rank}): active")
    return 0


def _hotlist_reject(settings: Settings, args: argparse.Namespace) -> int:
    """P2: a lieutenant who did not enter it rejects a pending entry, saying why; it never becomes active."""
    from streams.hotlists import usecases

    who = args.signed_in
    entry = asyncio.run(usecases.reject(who, settings, args.key, _now(), args.note))
    print(
        f"{args.key} (plate {entry.plate}) rejected by {who.display} (badge {who.badge}, {who.rank}): "
        "no longer pending, never active"
    )
    return 0


def _hotlist_remove(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists import usecases

    who = args.signed_in
    asyncio.run(
        usecases.remove(who, settings, args.key, _now(), designee_of=args.designee_of, reason=args.reason)
    )
    print(f"{args.key} removed by {who.display} (badge {who.badge})")
    return 0


def _hotlist_import(settings: Settings, args: argparse.Namespace) -> int:
    from streams.hotlists import usecases

    report = asyncio.run(
        usecases.import_entries(args.signed_in, settings, args.format, Path(args.path), _now())
    )
    for problem in report.problems:
        print(problem, file=sys.stderr)
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(report.counts.items()))
    print(f"imported {args.path}: {counts or 'nothing'}; nothing was activated (approval needed, P2)")
    return 0


def _hotlist_serve(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from streams.hotlists.http import make_app

    app = make_app(settings, allowed_origins=frozenset(args.allow_origin))
    web.run_app(app, host=args.host, port=args.port, print=None)
    return 0


def _add_hotlist(sub: Subparsers) -> None:
    p = sub.add_parser("hotlist", help="hot lists: feeds, department entries, imports")
    hot = p.add_subparsers(dest="action", required=True)
    h = hot.add_parser("sync", help="sync a feed extract as a diff (P3)")
    h.add_argument(
        "--format",
        required=True,
        help="ncic, svs or ndjson (ndjson only as the feed-sync service account: a person's file "
        "could make shared entries that skip approval, P2)",
    )
    h.add_argument("--from", dest="path", required=True, help="extract file or directory")
    h.add_argument("--source", help="the source it feeds (default: what the extract says)")
    h.add_argument(
        "--force", action="store_true", help="apply even if it removes more than the allowed share"
    )
    h.add_argument(
        "--every", help="keep syncing at this interval, e.g. 12h (retries with backoff on failure)"
    )
    h.set_defaults(func=_hotlist_sync)
    _needs(h, "hotlist.sync")
    h = hot.add_parser("sources", help="sync status of each feed")
    h.set_defaults(func=_hotlist_sources)
    _needs(h, "hotlist.sources")
    h = hot.add_parser("pending", help="department entries awaiting completion or approval (audited, P15)")
    h.set_defaults(func=_hotlist_pending)
    _needs(h, "hotlist.review")
    h = hot.add_parser("add", help="propose a department entry (P2): active after a lieutenant approves it")
    h.add_argument(
        "--plate",
        required=True,
        help="plate, or a partial pattern with ? and * (P6: only for a major crime the profile lists)",
    )
    h.add_argument("--state", default=None, help="the plate's state, two letters (default: any state)")
    h.add_argument(
        "--list-type",
        default="bolo",
        help="bolo (default), stolen_vehicle, stolen_plate, felony_vehicle, wanted_person, "
        "missing_person, amber_alert, protection_order, gang, sex_offender or other (P1)",
    )
    h.add_argument(
        "--reason",
        required=True,
        help="synopsis naming the presumed crime ('PC 211 robbery', '10851 VC stolen vehicle') or a "
        "non-criminal purpose the profile lists (AMBER alert, missing person) (P2)",
    )
    h.add_argument(
        "--case",
        default=None,
        help="case or incident number in the agency's format, e.g. SJ-26-004512 (P2); needed before approval",
    )
    h.add_argument("--expires", default="30d", help="duration (30d), RFC 3339 time, or never")
    h.add_argument("--entry-id", default=None, help="the entry's id (default: BOLO-<time>-<plate>)")
    h.set_defaults(func=_hotlist_add)
    _needs(h, "hotlist.propose")
    h = hot.add_parser(
        "approve", help="approve a pending entry, signed in as a lieutenant (or above) who did not enter it"
    )
    h.add_argument("key", help="the pending entry's key (alpr hotlist pending)")
    h.set_defaults(func=_hotlist_approve)
    _needs(h, "hotlist.approve")
    h = hot.add_parser(
        "reject",
        help="reject a pending entry with a note, signed in as a lieutenant (or above) who did not enter it",
        description="The entry leaves the pending entries and never becomes active; the note (why, in words "
        "an auditor can check) is recorded with it and on the audit trail (P2, P15).",
    )
    h.add_argument("key", help="the pending entry's key (alpr hotlist pending)")
    h.add_argument(
        "--note", required=True, help="why it is rejected, e.g. 'no crime named: the case was closed' (P2)"
    )
    h.set_defaults(func=_hotlist_reject)
    _needs(h, "hotlist.approve")
    h = hot.add_parser("remove", help="the entering member or their designee removes a department entry")
    h.add_argument("key", help="the entry's key")
    h.add_argument("--designee-of", default=None, help="badge of the entering member you act for")
    h.add_argument("--reason", required=True, help="why the entry is removed, e.g. 'vehicle recovered'")
    h.set_defaults(func=_hotlist_remove)
    _needs(h, "hotlist.propose")
    h = hot.add_parser(
        "import", help="import a vendor's hot list as pending department entries entered by you"
    )
    h.add_argument(
        "--format",
        required=True,
        help="flock: its CSV export or change log, or the change log's 'Key: value' blocks (told apart "
        "by content); applied in time order, see schemas/feeds/flock_hotlist.md",
    )
    h.add_argument("path", help="a file, or a directory of them (*.csv, *.txt)")
    h.set_defaults(func=_hotlist_import)
    _needs(h, "hotlist.propose")
    h = hot.add_parser(
        "serve", help="HTTP endpoint for department entries (Authorization: Bearer <session/service token>)"
    )
    h.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    h.add_argument("--port", type=int, default=8081, help="port to listen on (default 8081)")
    h.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin (https://host[:port]) whose pages may call it; none by default",
    )
    h.set_defaults(func=_hotlist_serve)


_COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "hotlist": _add_hotlist,
}


def register(sub: Subparsers, *names: str) -> None:
    """Add the commands named (all of this module's by default), in the order given: `alpr --help`
    lists the commands in the order build_parser registers them."""
    register_commands(sub, _COMMANDS, names)
