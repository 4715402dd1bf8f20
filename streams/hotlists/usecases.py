"""The hot-list use cases, one function each, for every front end (the CLI, ``alpr hotlist serve``).

Each takes the acting :class:`~streams.access.principal.Principal` (a signed-in person or a service
account) and checks it against the permission table first (P21), before it reads anything. Who
entered, approved or removed an entry -- name, badge, rank, assignment -- comes from the
principal, that is from the directory, never from what a caller typed: nobody can approve their
own entry by typing another name, or claim a rank they do not hold (P2). Each act writes its
access record (P15) once it is done; a refusal that asked for plate data, or that a P2 check made,
is audited too, and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from streams.access.audit import record_access
from streams.access.directory import APPROVING_RANKS
from streams.access.justification import check_assignment, check_purpose, rule_first
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.errors import AccessDenied, InvalidRecord, JustificationRefused, PolicyViolation
from streams.hotlists.adapters import ExtractRefused
from streams.hotlists.adapters.ndjson import ADAPTER as NDJSON
from streams.hotlists.model import HotlistEntry, Person
from streams.hotlists.service import HotlistStore, ImportReport, SyncReport
from streams.settings import Settings

__all__ = [
    "approve",
    "import_entries",
    "member",
    "pending",
    "propose",
    "reject",
    "remove",
    "sources",
    "sync",
]

#: The purpose recorded on the access records of department-entry work (P15).
_P2_PURPOSE = "department hot-list entry (P2)"


def member(principal: Principal) -> Person:
    """The sworn member a principal is, as the directory has them (P2): never typed."""
    return Person(principal.display, principal.badge or "", principal.assignment, principal.rank)


async def _refused(
    settings: Settings, principal: Principal, now: datetime, action: str, query: dict[str, Any], why: str
) -> None:
    await record_access(settings, principal.audit(now, action, query, 0, decision="refused", reason=why))


async def _entering_member(
    settings: Settings, who: Principal, now: datetime, action: str, query: dict[str, Any]
) -> Person:
    """The entering member (P2) as the directory has them, with a real assignment: an entry made by
    someone whose directory record names no unit is refused (audited), not left incomplete."""
    try:
        check_assignment(who.assignment)
    except JustificationRefused as exc:
        await _refused(settings, who, now, action, query, rule_first(exc))
        raise
    return member(who)


async def _lieutenant(
    settings: Settings, who: Principal, now: datetime, verb: str, query: dict[str, Any]
) -> None:
    """P2: only a directory user of lieutenant rank or above approves or rejects a department
    entry; anyone else is refused, audited as ``hotlist_<verb>``."""
    rank = " ".join((who.rank or "").replace("_", " ").lower().split())
    if who.kind != "user" or rank not in APPROVING_RANKS:
        why = (
            f"P2: {who.name} ({who.rank or 'no rank'} in the directory) cannot {verb}: "
            "a lieutenant or above must"
        )
        await _refused(settings, who, now, f"hotlist_{verb}", query, why)
        raise AccessDenied(why)


async def propose(
    principal: Principal | None, settings: Settings, draft: HotlistEntry, origin: str, now: datetime
) -> list[str]:
    """Propose a department entry (P2): pending until a lieutenant approves it. The entering
    member is the principal; a draft that names its own entering member or approver is refused,
    so that nobody enters in someone else's name. The case number (the profile's formats), the
    reason (a presumed crime or listed purpose) and a partial plate's crime (P6) are judged by
    the deployment's profile; a refusal is audited and writes nothing. Returns what the entry
    still lacks."""
    who = require(principal, "hotlist.propose")
    if draft.entered_by is not None or draft.approved_by is not None:
        raise InvalidRecord(
            "schema",
            "leave out entered_by and approved_by: the entering member is whoever is signed in, "
            "and approval is its own step (alpr hotlist approve, P2)",
        )
    query: dict[str, Any] = {"entry_key": draft.key, "plate": draft.plate, "origin": origin}
    entry = msgspec.structs.replace(
        draft, entered_by=await _entering_member(settings, who, now, "hotlist_propose", query)
    )
    try:
        async with HotlistStore(settings) as store:
            missing = await store.propose(entry, origin, now, entered_by_user=who.name)
    except PolicyViolation as exc:
        await _refused(settings, who, now, "hotlist_propose", query, rule_first(exc))
        raise
    query["missing"] = missing
    await record_access(
        settings,
        who.audit(now, "hotlist_propose", query, 1, case_number=entry.case_number, purpose=_P2_PURPOSE),
    )
    return missing


async def approve(principal: Principal | None, settings: Settings, key: str, now: datetime) -> HotlistEntry:
    """Approve a pending department entry (P2): the approver is a directory user of lieutenant rank
    or above and not the entering member (compared by directory user name). Audited with both, and
    refused approvals are audited too."""
    who = require(principal, "hotlist.approve")
    query: dict[str, Any] = {"entry_key": key, "approver_rank": who.rank}
    await _lieutenant(settings, who, now, "approve", query)
    try:
        async with HotlistStore(settings) as store:
            entry, entered_by_user = await store.approve(key, member(who), now, approver_user=who.name)
    except AccessDenied as exc:
        await _refused(settings, who, now, "hotlist_approve", query, str(exc))
        raise
    await _answered(settings, who, now, "hotlist_approve", query, entry, entered_by_user)
    return entry


async def reject(
    principal: Principal | None, settings: Settings, key: str, now: datetime, note: str
) -> HotlistEntry:
    """Reject a pending department entry (P2): the lieutenant's other answer to ``approve``, with
    the same checks (a directory user of lieutenant rank or above who did not enter it: the
    entering member withdraws their own with ``alpr hotlist remove``) and a note saying why, held
    to the rules of every other justification: a note an auditor cannot check is refused. The
    pending record is removed as a withdrawal removes it (``HotlistEntryRemoved``, with the
    lieutenant as ``by``, the note as ``reason`` and ``reason_code`` "rejected"), so the entry never
    becomes active. Audited ``hotlist_reject`` with the note; every refusal is audited and changes
    nothing."""
    who = require(principal, "hotlist.approve")
    query: dict[str, Any] = {"entry_key": key, "approver_rank": who.rank}
    await _lieutenant(settings, who, now, "reject", query)
    try:
        why = check_purpose(note, settings.profile, field="rejection note", rule="P2")
    except JustificationRefused as exc:
        shown = repr(" ".join(note.split())[:80]) if note.strip() else "(empty)"
        refusal = JustificationRefused(
            "P2",
            f"the rejection note {shown} says nothing an auditor can check: say in words why the "
            "entry is rejected (e.g. 'no crime named in the synopsis', 'duplicate of an earlier entry')",
        )
        await _refused(settings, who, now, "hotlist_reject", query, rule_first(refusal))
        raise refusal from exc
    query["note"] = why
    try:
        async with HotlistStore(settings) as store:
            entry, entered_by_user = await store.reject(key, member(who), why, now, approver_user=who.name)
    except AccessDenied as exc:
        await _refused(settings, who, now, "hotlist_reject", query, str(exc))
        raise
    await _answered(settings, who, now, "hotlist_reject", query, entry, entered_by_user, reason=why)
    return entry


async def _answered(
    settings: Settings,
    who: Principal,
    now: datetime,
    action: str,
    query: dict[str, Any],
    entry: HotlistEntry,
    entered_by_user: str | None,
    **extra: Any,
) -> None:
    """The audit record of a lieutenant's answer to a pending entry (P2, P15): the entry and who
    entered it, beside the approver."""
    entered = entry.entered_by
    query |= {
        "plate": entry.plate,
        "entered_by_user": entered_by_user,
        "entered_by": entered.name if entered else None,
        "entered_by_badge": entered.badge if entered else None,
    }
    await record_access(
        settings,
        who.audit(now, action, query, 1, case_number=entry.case_number, purpose=_P2_PURPOSE, **extra),
    )


async def remove(
    principal: Principal | None,
    settings: Settings,
    key: str,
    now: datetime,
    *,
    designee_of: str | None,
    reason: str,
) -> None:
    """Remove a department entry: the entering member (by the badge the directory gives the
    principal) or their designee, who names the entering member's badge."""
    who = require(principal, "hotlist.propose")
    if not reason.strip():
        raise InvalidRecord("schema", "say why the entry is removed (reason)")
    query = {"entry_key": key, "designee_of": designee_of}
    async with HotlistStore(settings) as store:
        await store.remove(key, member(who), now, designee_of=designee_of, reason=reason)
    await record_access(
        settings, who.audit(now, "hotlist_remove", query, 1, purpose=_P2_PURPOSE, reason=reason)
    )


async def pending(
    principal: Principal | None, settings: Settings, now: datetime
) -> dict[str, dict[str, Any]]:
    """The department entries awaiting completion or approval. They hold plates, so every read
    writes an access record with how many it showed (P15); a refused one is audited as well."""
    try:
        who = require(principal, "hotlist.review")
    except AccessDenied as exc:
        if principal is not None:
            await _refused(settings, principal, now, "hotlist_pending", {}, str(exc))
        raise
    async with HotlistStore(settings) as store:
        entries = await store.pending_entries()
    await record_access(
        settings, who.audit(now, "hotlist_pending", {}, len(entries), purpose="review pending entries (P2)")
    )
    return entries


async def import_entries(
    principal: Principal | None, settings: Settings, fmt: str, path: Path, now: datetime
) -> ImportReport:
    """Import a vendor's hot list as pending department entries entered by the principal: never
    activated without a lieutenant's approval (P2)."""
    who = require(principal, "hotlist.propose")
    entering = await _entering_member(
        settings, who, now, "hotlist_import", {"format": fmt, "file": path.name}
    )
    async with HotlistStore(settings) as store:
        report = await store.import_pending(fmt, path, entering, now, entered_by_user=who.name)
    query = {"format": fmt, "file": path.name, "counts": dict(report.counts)}
    count = report.counts["pending_approval"] + report.counts["pending_incomplete"]
    await record_access(settings, who.audit(now, "hotlist_import", query, count, purpose=_P2_PURPOSE))
    return report


async def sync(
    principal: Principal | None,
    settings: Settings,
    fmt: str,
    path: Path,
    source: str | None,
    now: datetime,
    *,
    force: bool = False,
) -> SyncReport:
    """Sync a feed extract (P3): a feed-sync service account or an administrator. Audited, a
    refused extract too (it changed nothing but the source's last error)."""
    who = require(principal, "hotlist.sync")
    query: dict[str, Any] = {"format": fmt, "path": str(path), "source": source, "force": force}
    if fmt == NDJSON.name and who.kind != "service":
        # P2: shared-source entries come only from the feed-sync service's adapters. An NDJSON
        # file is our own format: anyone can label a department BOLO "ncic" in it, which would
        # make it active without a lieutenant's approval.
        why = (
            "P2: a person may not sync an NDJSON file into a shared source (its entries would skip "
            "approval); enter department entries with 'alpr hotlist add' (pending a lieutenant's "
            "approval), or let the feed-sync service account sync the feed"
        )
        await _refused(settings, who, now, "hotlist_sync", query, why)
        raise PolicyViolation("P2", why.removeprefix("P2: "))
    try:
        async with HotlistStore(settings) as store:
            report = await store.sync(fmt, path, source, now, force=force)
    except ExtractRefused as exc:
        await _refused(settings, who, now, "hotlist_sync", query, f"{exc.code}: {exc}")
        raise
    query |= {"sources": sorted(report.plan.sources), "counts": dict(report.plan.counts)}
    query["sync_id"] = report.sync_id
    await record_access(
        settings,
        who.audit(now, "hotlist_sync", query, len(report.plan.changes), purpose="feed sync (P3)"),
    )
    return report


async def sources(principal: Principal | None, settings: Settings) -> dict[str, dict[str, Any]]:
    """Each feed's sync state. No plates, so no access record (P15 covers plate-level data)."""
    require(principal, "hotlist.sources")
    async with HotlistStore(settings) as store:
        return await store.source_status()
