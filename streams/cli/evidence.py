"""``alpr`` commands that reach back into reads for an investigation: evidence holds (P12),
incident replay (P11, P15-P17) and the retro-hunt.

They act for the signed-in principal (``alpr login``; P18, P21), never for a name typed on the
command line. Their justification, authorization and audit go through the same use case as the
console's search (:mod:`streams.access.search`), so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.cli.common import Subparsers, _justification, _needs, _now, _when, register_commands, run_timer
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.access.principal import Principal
    from streams.retention.holds import Held


def _why_body(args: argparse.Namespace, purpose: str) -> dict[str, object]:
    """The justification fields of a search body (P15-P17), from the command line."""
    return {
        "purpose": purpose,
        "crime_type": args.crime_type,
        "case_number": args.case,
        "on_behalf_of": args.on_behalf_of,
        "commander": args.commander,
        "approved_on": args.approved_on,
    }


def _hold_add(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.search import justify, parse_request
    from streams.errors import ConfigError
    from streams.retention.holds import HoldDesk

    desk = HoldDesk(settings)
    now = _now()
    by = args.signed_in
    if args.read_id:
        start, end = now - timedelta(seconds=1), now  # no window: the read is named
        query: dict[str, object] = {"read_id": args.read_id}
    elif not args.start or not args.end:
        raise ConfigError("hold add --plate needs --from and --to: the range of reads to hold")
    else:
        start, end = _when(args.start, "--from"), _when(args.end, "--to")
        query = {"plate": args.plate, "from": start.isoformat(), "to": end.isoformat()}
    body = {"from": start.isoformat(), "to": end.isoformat(), **_why_body(args, args.reason)}
    why = parse_request(body).why

    async def run() -> list[str]:
        await justify(settings, by, "hold", why, query, now)  # P15-P17, P19-P22; refusals audited
        if args.read_id:
            near = _when(args.captured_at, "--captured-at") if args.captured_at else None
            read = await desk.find_read(args.read_id, near, now)
            return await desk.add(
                [read], args.case, args.reason, by, now, query=query, crime_type=args.crime_type
            )
        return await desk.add_by_plate(
            args.plate, start, end, args.case, args.reason, by, now, crime_type=args.crime_type
        )

    placed = asyncio.run(run())
    print(f"held {len(placed)} reads for case {args.case}" + (f": {', '.join(placed)}" if placed else ""))
    if placed:
        due = (now + desk.review_period).date().isoformat()
        print(f"review due {due}: renew with alpr hold renew before then, or the hold ends (P12)")
    return 0


def _hold_renew(settings: Settings, args: argparse.Namespace) -> int:
    """P12: the periodic review - the case still needs the read, so its hold runs on."""
    from streams.retention.holds import HoldDesk

    due = asyncio.run(HoldDesk(settings).renew(args.read_id, args.case, args.reason, args.signed_in, _now()))
    print(f"renewed the hold of {args.read_id} for case {args.case}: review due {due.isoformat()}")
    return 0


def _hold_review(settings: Settings, args: argparse.Namespace) -> int:
    """P12: end every hold case whose review lapsed, each with its notice on the audit trail; with
    --every, again at that interval (the retention service account's timer)."""
    from streams.retention.holds import lapse_unreviewed

    async def once(by: Principal, _next_run: timedelta) -> None:
        now = _now()
        lapses = await lapse_unreviewed(settings, now, by)
        for lapse in lapses:
            print(
                f"lapsed: {lapse.read_id} case {lapse.case_number} (held by {lapse.held_by} on "
                f"{lapse.held_at.date().isoformat()}, review was due {lapse.review_due.date().isoformat()})"
                + ("; no case holds it now" if lapse.gone else "")
            )
        print(f"{now.isoformat()} review sweep: {len(lapses)} hold cases lapsed", flush=True)

    return run_timer(settings, args, "hold review", "hold.review", once)


def _hold_release(settings: Settings, args: argparse.Namespace) -> int:
    from streams.retention.holds import HoldDesk

    gone = asyncio.run(
        HoldDesk(settings).release(args.read_id, args.case, args.reason, args.signed_in, _now())
    )
    print(f"released {args.read_id} from case {args.case}" + ("; no case holds it now" if gone else ""))
    return 0


def _hold_list(settings: Settings, args: argparse.Namespace) -> int:
    """The held reads with their plates (audited with how many it showed, P15), each case's review
    date (P12, flagged when due within two weeks), and the holds that lapsed recently (their
    notices on the audit trail)."""
    from streams.retention.holds import RECENT_LAPSES, REVIEW_NOTICE, HoldDesk

    now = _now()
    desk = HoldDesk(settings)

    async def run() -> tuple[dict[str, Held], list[dict[str, Any]]]:
        return await desk.listing(args.signed_in, now), await desk.recent_lapses(args.signed_in, now)

    holds, lapsed = asyncio.run(run())
    due_soon = 0

    def case_text(case: dict[str, Any]) -> str:
        nonlocal due_soon
        due = desk.review_due(case)
        flag = ""
        if due - now <= REVIEW_NOTICE:
            due_soon += 1
            flag = f"; REVIEW DUE in {max(0, (due - now).days)} d"
        review = f"review due {due.date().isoformat()}{flag}"
        return f"{case['case_number']} ({case['held_by']}: {case['reason']}; {review})"

    for read_id, held in sorted(holds.items(), key=lambda kv: kv[1].read.captured_at):
        cases = ", ".join(case_text(c) for c in held.cases)
        print(
            f"{read_id}  {held.read.plate:<8} {held.read.camera_id} {held.read.captured_at.isoformat()}  "
            f"held {held.age(now).days} d  {len(held.alerts)} alert records  cases: {cases}"
        )
    print(f"{len(holds)} held reads")
    if due_soon:
        print(f"{due_soon} hold cases due for review within {REVIEW_NOTICE.days} d: renew them, or they end")
    for notice in lapsed:
        query = notice.get("query") or {}
        print(
            f"lapsed {notice['at'][:10]}: {query.get('read_id')} case {notice.get('case_number')} "
            f"(held by {query.get('held_by')} on {str(query.get('held_at'))[:10]}, "
            f"review was due {str(query.get('review_due'))[:10]})"
        )
    print(f"{len(lapsed)} holds lapsed in the last {RECENT_LAPSES.days} d (review not renewed, P12)")
    return 0


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    """Incident reconstruction: admitted, and audited with its count, by the justified search's
    own use case (streams.access.search), so replay and the console's search are one rule set."""
    from streams.access.search import MAX_EXPORT, admit, record_search
    from streams.codec import dumps
    from streams.replay.rematch import load_history, rematch
    from streams.replay.replay import print_progress, replay, write_outputs

    now = _now()
    body = {
        "from": _when(args.start, "--from").isoformat(),
        "to": _when(args.end, "--to").isoformat(),
        "plate": args.plate,
        "partial": args.partial,
        "cameras": args.camera or [],
        **_why_body(args, args.purpose),
    }
    out = Path(args.out) if args.out else Path("replays") / now.strftime("%Y%m%dT%H%M%SZ")

    async def run() -> int:
        by, request = await admit(settings, args.signed_in, "replay", body, now, bounded=False)
        query = request.replay_query()
        result = await replay(settings, query, now, print_progress)
        print(file=sys.stderr)
        left_out = len(result.sightings) - MAX_EXPORT
        if left_out > 0:  # P25: no bulk export; the earliest sightings of the window are written
            result.sightings = result.sightings[:MAX_EXPORT]
        files = write_outputs(result, query, out)
        matches = []
        if left_out > 0:
            print(
                f"capped at {MAX_EXPORT:,} sightings (P25: no bulk export): {left_out:,} later ones were not "
                "written; narrow the window or name a plate or cameras",
                file=sys.stderr,
            )
        if args.rematch:
            from streams.app import new_index

            matches = rematch(
                new_index(settings), [s.read for s in result.sightings], await load_history(settings)
            )
            rematched = out / "rematch.ndjson"
            rematched.write_bytes(b"".join(dumps(m.to_dict()) + b"\n" for m in matches))
            files.append(rematched)
        asked = {**request.asked(), "rematch": bool(args.rematch)}
        await record_search(settings, by, "replay", request.why, asked, len(result.sightings), now)
        rate = result.reads_scanned / result.seconds if result.seconds else 0.0
        print(
            f"{len(result.sightings)} sightings from {result.reads_scanned:,} reads scanned in "
            f"{result.seconds:.1f} s ({rate:,.0f} reads/s); "
            f"{result.expired_skipped} past the retention left out (P11); every stored read captured in "
            "the window was scanned, whatever its lateness"
        )
        for bound in result.bounds(query):
            print(f"note: {bound}", file=sys.stderr)
        if args.rematch:
            print(f"rematch: {len(matches)} would have alerted against the hot list of their time")
        for path in files:
            print(f"  {path}")
        return 0

    return asyncio.run(run())


def _retro_hunt(settings: Settings, args: argparse.Namespace) -> int:
    from streams.replay.retrohunt import run_retro_hunt

    asyncio.run(run_retro_hunt(settings, timedelta(hours=settings.retro_hunt_hours), _now, args.signed_in))
    return 0


def _add_hold(sub: Subparsers) -> None:
    p = sub.add_parser(
        "hold", help="evidence holds: reads tied to an investigation, kept past retention (P12)"
    )
    holds = p.add_subparsers(dest="action", required=True)
    h = holds.add_parser("add", help="hold a read (by id) or every read of a plate in a time range")
    which = h.add_mutually_exclusive_group(required=True)
    which.add_argument("--read-id", help="the read to hold (its id, from a search)")
    which.add_argument("--plate", help="hold every read of this plate between --from and --to")
    h.add_argument("--captured-at", help="about when the read was captured: narrows the search")
    h.add_argument("--from", dest="start", help="with --plate: start of the range (RFC 3339 or now-2h)")
    h.add_argument("--to", dest="end", help="with --plate: end of the range")
    h.add_argument("--reason", required=True, help="why the read is evidence, in words (P12, P15)")
    _justification(h)
    _needs(h, "hold")
    h.set_defaults(func=_hold_add)
    h = holds.add_parser("release", help="release a case's hold (the last release deletes the copy)")
    h.add_argument("--read-id", required=True, help="the held read's id (alpr hold list)")
    h.add_argument("--case", required=True, help="the case whose hold ends (other cases' holds stay)")
    h.add_argument("--reason", required=True, help="why the case no longer needs the read, in words")
    _needs(h, "hold")
    h.set_defaults(func=_hold_release)
    h = holds.add_parser(
        "renew", help="the periodic review (P12): the case still needs the read, keep holding it"
    )
    h.add_argument("--read-id", required=True, help="the held read's id (alpr hold list)")
    h.add_argument("--case", required=True, help="a case that holds the read")
    h.add_argument("--reason", required=True, help="why the case still needs the read, in words")
    _needs(h, "hold")
    h.set_defaults(func=_hold_renew)
    h = holds.add_parser("list", help="held reads with their cases, review dates and recent lapses")
    _needs(h, "hold")
    h.set_defaults(func=_hold_list)
    h = holds.add_parser(
        "review", help="end the holds whose review lapsed, each with a notice on the audit trail (P12)"
    )
    h.add_argument("--every", help="repeat at this interval (e.g. 1h): the retention service's timer")
    _needs(h, "hold.review")
    h.set_defaults(func=_hold_review)


def _add_replay(sub: Subparsers) -> None:
    p = sub.add_parser("replay", help="reconstruct an incident: the sightings of a time window (P11, P12)")
    p.add_argument("--from", dest="start", required=True, help="RFC 3339 time or now-2h")
    p.add_argument("--to", dest="end", required=True, help="RFC 3339 time or now")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--plate", help="one plate (OCR-equivalent reads included)")
    what.add_argument("--partial", help="a partial plate: ? one character, * any")
    p.add_argument("--camera", action="append", help="only these cameras (repeatable)")
    p.add_argument("--purpose", required=True, help="why (P15)")
    _justification(p)
    _needs(p, "replay")
    p.add_argument(
        "--rematch", action="store_true", help="what would have alerted, on the hot list of the time"
    )
    p.add_argument("--out", help="output folder (default replays/<time>)")
    p.set_defaults(func=_replay)


def _add_retro_hunt(sub: Subparsers) -> None:
    p = sub.add_parser("retro-hunt", help="look back through recent reads for each newly listed plate")
    _needs(p, "retro_hunt")
    p.set_defaults(func=_retro_hunt)


_COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "hold": _add_hold,
    "replay": _add_replay,
    "retro-hunt": _add_retro_hunt,
}


def register(sub: Subparsers, *names: str) -> None:
    """Add the commands named (all of this module's by default), in the order given: `alpr --help`
    lists the commands in the order build_parser registers them."""
    register_commands(sub, _COMMANDS, names)
