"""``alpr alerts`` and ``alpr alert``: follow alerts and work them through their lifecycle (P7-P9).

Thin adapters over :mod:`streams.alerts.usecases`, like the console: the signed-in principal
(``alpr login``) must hold ``alert.view`` / ``alert.act`` (P21), sees only its agency's alerts
(P19), and every listing is audited (P15)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from streams.access.directory import Directory
from streams.alerts.lifecycle import FLAGS, AlertState
from streams.cli.common import Subparsers, _needs, _now, register_commands
from streams.images.store import KINDS
from streams.settings import Settings


async def _scope(settings: Settings) -> tuple[Directory, dict[str, str]]:
    """The directory and each camera's agency, for agency scope outside the console (P19)."""
    from streams.access.directory import DirectoryStore
    from streams.cameras.registry import CameraStore

    directory = await DirectoryStore(settings).load()
    cameras = await CameraStore(settings).load()
    return directory, {c.id: c.agency for c in cameras.cameras.values()}


def _alerts(settings: Settings, args: argparse.Namespace) -> int:
    """Print the alerts of the principal's scope as they come (P19); each one printed is audited
    first (P15). Lifecycle events follow their alert: shown when the alert was."""
    from streams.access.audit import record_access
    from streams.access.permissions import require
    from streams.alerts.model import AlertRaised
    from streams.alerts.tail import alert_line, follow_topic
    from streams.alerts.usecases import PURPOSE, in_scope
    from streams.codec import alert_record_from_dict

    principal = require(args.signed_in, "alert.view")

    async def run() -> int:
        directory, cameras = await _scope(settings)
        shown: dict[str, bool] = {}  # alert id -> in scope
        count = 0
        async for _key, alert in follow_topic(
            settings.kafka,
            settings.topic("alerts"),
            from_beginning=not args.new,
            idle_timeout=args.timeout,
        ):
            if not isinstance(alert, dict):
                continue
            alert_id = str(alert.get("alert_id"))
            if alert.get("event") == "AlertRaised":
                raised = alert_record_from_dict(alert)
                if not isinstance(raised, AlertRaised):
                    continue
                if raised.read.camera_id not in cameras:  # registered after this command began
                    directory, cameras = await _scope(settings)
                shown[alert_id] = in_scope(principal, raised, directory, cameras)
            if not shown.get(alert_id, False):
                continue
            plate = alert.get("plate_read") or alert.get("plate")
            query = {"alerts": [alert_id], "plates": [plate] if plate else [], "event": alert.get("event")}
            await record_access(settings, principal.audit(_now(), "alert_tail", query, 1, purpose=PURPOSE))
            print(alert_line(alert), flush=True)
            count += 1
            if args.max and count >= args.max:
                break
        return count

    asyncio.run(run())
    return 0


def _alert_list(settings: Settings, args: argparse.Namespace) -> int:
    """The alerts of the principal's scope, newest first (P19); the listing is audited (P15)."""
    from streams.alerts.desk import AlertDesk
    from streams.alerts.usecases import list_alerts

    now = _now()

    async def fold() -> list[AlertState]:
        directory, _cameras = await _scope(settings)
        async with AlertDesk(settings) as desk:
            which = "open" if args.open else "all"
            return await list_alerts(settings, args.signed_in, desk.board, directory, now, which)

    shown = 0
    for state in sorted(asyncio.run(fold()), key=lambda s: s.raised.raised_at, reverse=True):
        raised = state.raised
        left = state.time_left(now)
        clock = (
            "" if left is None else (" OVERDUE" if left.total_seconds() < 0 else f" confirm within {left}")
        )
        print(
            f"{state.alert_id}  {state.status:<13} {raised.entry.list_type} {raised.match_kind}: "
            f"{raised.read.plate} ~ {raised.entry.plate} at {raised.read.camera_id} "
            f"{raised.read.captured_at.isoformat()} ({len(state.sightings)} sightings){clock}"
        )
        shown += 1
    print(f"{shown} alerts")
    return 0


def _evidence(state: AlertState, low_confidence: float) -> None:
    """P7: what the person verifies against, printed before the step: the plate, state and
    confidence as read, the camera and time, the image's address when the read has one, the
    listed entry, and each flag the verification must acknowledge."""
    from streams.alerts.lifecycle import alert_flags, flag_text, stored_image

    raised = state.raised
    read, entry = raised.read, raised.entry
    print(f"EVIDENCE for alert {state.alert_id} (compare it with the listed entry before verifying):")
    print(f"  plate as read   {read.plate}")
    print(f"  state as read   {read.plate_state or '?'}")
    print(f"  confidence      {read.confidence:.2f}")
    print(f"  camera          {read.camera_id} at {read.captured_at.isoformat()}")
    image = read.image_ref or "none (verify against the read text above)"
    if stored_image(read):
        image = f"stored: alpr alert image {state.alert_id} --kind plate --out FILE, then --image-viewed"
    print(f"  image           {image}")
    print(f"  listed          {entry.plate} {entry.plate_state or '?'} ({entry.list_type}, {entry.key})")
    for flag in alert_flags(raised, low_confidence):
        print(f"  FLAG            {flag_text(raised, flag, low_confidence)}: acknowledge with --ack {flag}")
    print(raised.advisory, flush=True)


def _alert_transition(settings: Settings, args: argparse.Namespace) -> int:
    """One step on an alert of the principal's scope (P7-P9, P19); the actor is the signed-in
    person as the directory knows them. ``verify`` first prints the evidence (an audited view of
    the alert) and records what was shown: "read-text", or "image" when the person says they
    opened the read's image (--image-viewed); a terminal cannot show it."""
    from streams.alerts.desk import AlertDesk
    from streams.alerts.usecases import alert_detail, transition

    options = {
        "reason": "reason",
        "priority": "priority",
        "agency": "confirming_agency",
        "outcome": "disposition",
    }
    fields = {name: getattr(args, o) for o, name in options.items() if getattr(args, o, None) is not None}
    if args.action == "verify":
        fields.update(
            evidence_shown="image" if args.image_viewed else "read-text",
            characters_match=args.characters_match,
            state_match=args.state_match,
            acknowledged=args.ack,
        )

    async def apply() -> AlertState:
        directory, _cameras = await _scope(settings)
        async with AlertDesk(settings) as desk:
            if args.action == "verify":
                shown = await alert_detail(settings, args.signed_in, desk, directory, args.alert_id, _now())
                _evidence(shown, settings.profile.low_confidence)
            return await transition(
                settings,
                args.signed_in,
                desk,
                directory,
                args.alert_id,
                args.action,
                _now(),
                args.note,
                **fields,
            )

    state = asyncio.run(apply())
    print(f"{args.alert_id}: {state.status.replace('_', ' ')}")
    return 0


def _alert_claim(settings: Settings, args: argparse.Namespace) -> int:
    """Work an alert ("being worked by"), or release it, as the signed-in person (P21 alert.act,
    P19 scope, P15 audited): the same use case as the console's "Work this alert" / "Take over" /
    "Release". Another person's claim that is not stale is taken only with --take-over; a refusal
    says who works it and since when (the console's 409 in the same words)."""
    from streams.alerts.desk import AlertDesk
    from streams.alerts.lifecycle import claim_text
    from streams.alerts.usecases import claim, release

    async def apply() -> AlertState:
        directory, _cameras = await _scope(settings)
        async with AlertDesk(settings) as desk:
            if args.action == "release":
                return await release(settings, args.signed_in, desk, directory, args.alert_id, _now())
            return await claim(
                settings, args.signed_in, desk, directory, args.alert_id, _now(), take_over=args.take_over
            )

    state = asyncio.run(apply())
    held = state.claim
    if held is None:
        print(f"{args.alert_id}: released; nobody is working it")
    else:
        taken = "" if held.taken_from is None else f" (taken over from {held.taken_from.label()})"
        print(f"{args.alert_id}: {claim_text(held)}{taken}")
    return 0


def _alert_image(settings: Settings, args: argparse.Namespace) -> int:
    """Write one of the alert's stored images to a new file (0600), through the console's use case
    (streams.alerts.images): P21 alert.view, P19 scope, P15 audited, and recorded as shown to the
    signed-in person (P7), so that ``alpr alert verify --image-viewed`` is accepted afterwards."""
    import os
    from pathlib import Path

    from streams.alerts.desk import AlertDesk
    from streams.alerts.images import alert_image
    from streams.errors import ConfigError
    from streams.images.store import open_store

    out = Path(args.out)
    if out.exists():
        raise ConfigError(f"{out} exists: name a new file for the image (it is never overwritten)")

    async def fetch() -> bytes:
        directory, _cameras = await _scope(settings)
        async with AlertDesk(settings) as desk:
            shown = await alert_image(
                settings,
                args.signed_in,
                desk,
                directory,
                open_store(settings),
                args.alert_id,
                args.kind,
                _now(),
                args.read,
            )
        return shown.image.data

    data = asyncio.run(fetch())
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # read data: owner only
    except OSError as exc:
        raise ConfigError(f"cannot create {out}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    print(f"{args.alert_id}: {args.kind} image written to {out} ({len(data)} bytes): compare it")
    return 0


def _add_alerts(sub: Subparsers) -> None:
    p = sub.add_parser("alerts", help="print alerts from the alerts topic")
    p.add_argument("--new", action="store_true", help="only alerts raised from now on")
    p.add_argument("--max", type=int, default=0, help="stop after this many")
    p.add_argument("--timeout", type=float, default=None, help="stop after this many idle seconds")
    _needs(p, "alert.view")
    p.set_defaults(func=_alerts)


def _add_alert(sub: Subparsers) -> None:
    p = sub.add_parser("alert", help="work alerts: verify, validate, confirm, disposition (P7-P9)")
    acts = p.add_subparsers(dest="action", required=True)
    a = acts.add_parser("list", help="alerts, newest first, with their state and confirmation clock")
    a.add_argument("--open", action="store_true", help="only alerts still open")
    _needs(a, "alert.view")
    a.set_defaults(func=_alert_list)
    a = acts.add_parser(
        "image", help="write an alert's stored plate or overview image to a file, to verify against (P7)"
    )
    a.add_argument("alert_id", help="the alert's id (alpr alert list)")
    a.add_argument("--kind", choices=KINDS, default="plate", help="plate (the crop, default) or overview")
    a.add_argument("--out", required=True, help="a new file to write the image to (mode 0600)")
    a.add_argument(
        "--read", default=None, help="a sighting's read id, for its image instead of the alert's read"
    )
    _needs(a, "alert.view")
    a.set_defaults(func=_alert_image)
    for name, text in (
        ("verify", "the plate characters and state match the image: Tentative Hit"),
        ("reject", "close the alert: misread, wrong state, not the vehicle, entry no longer active"),
        ("validate", "the entry is active per CLETS/dispatch: Live Query Transaction"),
        ("confirm", "the entering agency confirmed: Confirmed Hit"),
        ("disposition", "record what happened (P9)"),
    ):
        a = acts.add_parser(name, help=text)
        a.add_argument("alert_id", help="the alert's id (alpr alert list)")
        a.add_argument("--note", default="", help="what you saw or did, recorded with the step (P9, P15)")
        _needs(a, "alert.act")
        if name == "reject":
            a.add_argument(
                "--reason",
                required=True,
                help="misread, wrong_state, not_the_vehicle, entry_no_longer_active or other",
            )
        if name == "validate":
            a.add_argument(
                "--priority",
                choices=["urgent", "routine"],
                default="routine",
                help="how soon the entering agency must confirm: sets the confirmation deadline (P8)",
            )
        if name == "verify":
            a.add_argument(
                "--characters-match",
                action="store_true",
                help="the plate characters on the evidence match the listed plate (P7)",
            )
            a.add_argument(
                "--state-match", action="store_true", help="the state on the evidence matches the listed one"
            )
            a.add_argument(
                "--ack",
                action="append",
                default=[],
                choices=FLAGS,
                metavar="FLAG",
                help=f"acknowledge a flag of the alert ({', '.join(FLAGS)}); needs --note",
            )
            a.add_argument(
                "--image-viewed",
                action="store_true",
                help="you opened the read's image and verified against it: a stored image first with "
                "'alpr alert image ID --kind plate --out FILE' (refused otherwise, P7), a vendor's at "
                "its printed address",
            )
        if name == "confirm":
            a.add_argument(
                "--agency", required=True, help="the entering agency's ORI, which confirmed the hit (P8)"
            )
        if name == "disposition":
            a.add_argument(
                "--outcome",
                required=True,
                help="what happened, in words, e.g. 'vehicle stopped, driver arrested for PC 211' (P9)",
            )
        a.set_defaults(func=_alert_transition)
    a = acts.add_parser("claim", help="work the alert: the console shows it as being worked by you")
    a.add_argument("alert_id", help="the alert's id (alpr alert list)")
    a.add_argument(
        "--take-over",
        action="store_true",
        help="take the alert over from the person working it (recorded with both names); "
        "not needed when their claim is stale (no step for ALPR_CLAIM_STALE_MINUTES)",
    )
    _needs(a, "alert.act")
    a.set_defaults(func=_alert_claim)
    a = acts.add_parser("release", help="stop working the alert you claimed: anyone may claim it")
    a.add_argument("alert_id", help="the alert's id (alpr alert list)")
    _needs(a, "alert.act")
    a.set_defaults(func=_alert_claim)


_COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "alerts": _add_alerts,
    "alert": _add_alert,
}


def register(sub: Subparsers, *names: str) -> None:
    """Add the commands named (all of this module's by default), in the order given: `alpr --help`
    lists the commands in the order build_parser registers them."""
    register_commands(sub, _COMMANDS, names)
