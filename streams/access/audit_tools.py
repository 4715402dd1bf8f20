"""Checking and reading the audit trail: ``alpr audit verify``, ``report`` and ``sample`` (P14, P15, P23).

The audit trail is only worth keeping two years if an auditor can tell that nothing was altered or
removed, so :func:`verify_chain` recomputes every hash and walks every writer's chain (see
:mod:`streams.access.audit` for how they are written). Kafka's delete policy removes whole
segments from the head of each partition once they are older than the retention; a missing
record that may have gone that way is "before the retained window", not a broken link:

* the retained window starts at the newest first record among the partitions that have lost
  their head (first offset above 0), and never later than ``kept_since`` (now minus the audit
  retention: nothing younger can have expired);
* a gap in a chain is allowed when the record before it is older than that; a chain whose first
  records are missing is allowed when any partition has lost its head;
* an anchor that names no record is allowed when its chain began before the newest lost head.

Times are the records' own ``at``, give or take a slack for clock skew and for the time between an
action and its record. A partition that retention has emptied entirely is not seen at all; with
the audit topic's few partitions keyed by user that does not happen in a working department.

The report (P15) and the random sample (P23) count only records the chain check accepts, and say
so when the trail does not verify. Pure functions first; the Kafka reading is at the end.
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import fastjsonschema
import orjson

from streams.access.audit import GENESIS, AccessRecorded, record_hash
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.access.purpose import case_numbers, is_vague, normalize_purpose
from streams.codec import validator
from streams.errors import InvalidRecord
from streams.kafka.log import read_topic
from streams.settings import Settings

__all__ = [
    "SEARCH_ACTIONS",
    "AuditEntry",
    "BrokenLink",
    "Report",
    "Tally",
    "VerifyResult",
    "draw_sample",
    "format_report",
    "format_sample",
    "format_verify",
    "is_search",
    "missing_case_number",
    "months_before",
    "read_trail",
    "run_report",
    "run_sample",
    "run_verify",
    "summarize",
    "verify_chain",
]

#: Actions that read ALPR data (P23 samples them); any action whose query names a plate, a partial
#: plate or a camera counts too.
SEARCH_ACTIONS = frozenset({"replay", "search", "hold_add", "export"})
_SEARCH_KEYS = ("plate", "partial", "camera", "cameras", "camera_id")
#: Clock skew between writers, and the lag between an action's time and its record's write.
DEFAULT_SLACK = timedelta(hours=1)
_LONG_AGO = datetime.min.replace(tzinfo=UTC)
_MAX_LISTED = 10


# -- verification (pure) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A decoded audit record at its place in the log."""

    partition: int
    offset: int
    chain: str
    seq: int
    prev_hash: str
    hash: str  # as stored
    digest: str  # as recomputed: differs from ``hash`` when the record was altered
    record: AccessRecorded

    @property
    def intact(self) -> bool:
        return self.hash == self.digest


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """Where the trail cannot be trusted, and why; ``kind`` is a stable code for tests and scripts:
    unreadable, altered, inserted, removed, prev_hash, unknown_anchor."""

    partition: int
    offset: int
    chain: str | None
    seq: int | None
    kind: str
    what: str
    at: datetime = _LONG_AGO  # where it sits in time, to name the first one

    def line(self) -> str:
        chain = "?" if self.chain is None else self.chain
        seq = "?" if self.seq is None else str(self.seq)
        return f"partition {self.partition} offset {self.offset} (chain {chain}, seq {seq}): {self.what}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    records: int  # distinct records that decode
    chains: int
    oldest: datetime | None
    newest: datetime | None
    problems: tuple[BrokenLink, ...]  # the first broken link first
    duplicates: int = 0  # byte-identical copies of a record (a producer retry): counted once
    before_window: int = 0  # gaps and anchors explained by retention
    window_start: datetime | None = None  # None: no partition has lost its head
    accepted: tuple[AccessRecorded, ...] = ()  # what the chains vouch for, one per chain and seq

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first(self) -> BrokenLink | None:
        return self.problems[0] if self.problems else None


def _decode(partition: int, offset: int, raw: bytes) -> AuditEntry | BrokenLink:
    def broken(what: str, chain: Any = None, seq: Any = None) -> BrokenLink:
        return BrokenLink(
            partition,
            offset,
            chain if isinstance(chain, str) else None,
            seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            "unreadable",
            what,
        )

    if not raw:
        return broken("an empty record (a tombstone) where an audit record should be")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return broken(f"not JSON ({exc}): a record was overwritten or written by something else")
    if not isinstance(data, dict):
        return broken(f"not an audit record (a JSON {type(data).__name__})")
    try:
        validator("audit_record")(data)
        record = AccessRecorded.from_dict(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        return broken(f"not a valid audit record: {exc.message}", data.get("chain"), data.get("seq"))
    except InvalidRecord as exc:
        return broken(f"not a valid audit record: {exc}", data.get("chain"), data.get("seq"))
    return AuditEntry(
        partition,
        offset,
        data["chain"],
        data["seq"],
        data["prev_hash"],
        data["hash"],
        record_hash(data),
        record,
    )


def _located(link: BrokenLink, at: datetime) -> BrokenLink:
    return BrokenLink(link.partition, link.offset, link.chain, link.seq, link.kind, link.what, at)


def _link(entry: AuditEntry, kind: str, what: str) -> BrokenLink:
    return BrokenLink(entry.partition, entry.offset, entry.chain, entry.seq, kind, what, entry.record.at)


def _where(entry: AuditEntry) -> str:
    return f"partition {entry.partition} offset {entry.offset}"


def _short(digest: str) -> str:
    return digest if digest == GENESIS else digest[:12] + "..."


#: Problems that make a record's content untrustworthy: the report and the sample leave it out.
#: (After a removal or a dangling anchor the record named is genuine; what is missing is not.)
_SUSPECT = frozenset({"unreadable", "altered", "inserted", "prev_hash"})


@dataclass(frozen=True, slots=True)
class _Window:
    """What retention may have removed: see the module docstring."""

    start: datetime | None  # the newest first record of a partition that lost its head
    gap_edge: datetime | None  # a gap after a record older than this may be expiry
    slack: timedelta


def _decode_all(
    records: Iterable[tuple[int, int, bytes]], kept_since: datetime | None, slack: timedelta
) -> tuple[list[AuditEntry], list[BrokenLink], _Window]:
    """Decode every record; place the unreadable ones in time; find where the retained window starts."""
    by_partition: dict[int, list[tuple[int, AuditEntry | BrokenLink]]] = defaultdict(list)
    for partition, offset, raw in records:
        by_partition[partition].append((offset, _decode(partition, offset, raw)))
    entries: list[AuditEntry] = []
    unreadable: list[BrokenLink] = []
    heads: list[datetime] = []
    for items in by_partition.values():
        items.sort(key=lambda pair: pair[0])
        when = _LONG_AGO
        for _offset, item in items:
            if isinstance(item, AuditEntry):
                when = item.record.at
                entries.append(item)
            else:
                unreadable.append(_located(item, when))
        first = next((item for _o, item in items if isinstance(item, AuditEntry)), None)
        if items[0][0] > 0 and first is not None:
            heads.append(first.record.at)  # the partition lost its head: retention (or deletion)
    start = max(heads) if heads else None
    gap_edge = start if start is None or kept_since is None else min(start, kept_since)
    return entries, unreadable, _Window(start, gap_edge, slack)


def _pick(chain: dict[int, list[AuditEntry]]) -> tuple[dict[int, AuditEntry], list[BrokenLink], int]:
    """One record per seq of a chain, the problems of the others, and the count of identical copies.

    Identical copies are producer retries. Of different records claiming one place, an intact one
    wins, preferably the one the next record links to; the other intact ones were inserted.
    """
    chosen: dict[int, AuditEntry] = {}
    problems: list[BrokenLink] = []
    duplicates = 0
    for seq, group in chain.items():
        distinct: dict[tuple[str, str], AuditEntry] = {}
        for entry in group:
            if (entry.hash, entry.digest) in distinct:
                duplicates += 1
            else:
                distinct[(entry.hash, entry.digest)] = entry
        candidates = list(distinct.values())
        valid = [e for e in candidates if e.intact]
        if not valid:
            chosen[seq] = candidates[0]  # named as altered already
            continue
        following = chain.get(seq + 1, [])
        linked = [e for e in valid if any(n.prev_hash == e.hash for n in following)]
        genuine = chosen[seq] = (linked or valid)[0]
        problems += [
            _link(
                other,
                "inserted",
                f"a second, different record claims this place in the chain (the other is at "
                f"{_where(genuine)}): a record was inserted or replaced",
            )
            for other in valid
            if other is not genuine
        ]
    return chosen, problems, duplicates


def _walk(chosen: dict[int, AuditEntry], known: set[str], window: _Window) -> tuple[list[BrokenLink], int]:
    """Check a chain's start (seq 0 and its anchor) and every link; return the problems and how
    many gaps or anchors retention explains."""
    problems: list[BrokenLink] = []
    before_window = 0
    order = sorted(chosen)
    head = chosen[order[0]]
    if order[0] > 0:
        if window.start is not None:
            before_window += 1
        else:
            problems.append(
                _link(
                    head,
                    "removed",
                    f"the chain starts at seq {order[0]}: seq 0-{order[0] - 1} missing "
                    f"({order[0]} record(s) removed)",
                )
            )
    elif head.prev_hash != GENESIS and head.prev_hash not in known:
        if window.start is not None and head.record.at <= window.start + window.slack:
            before_window += 1
        else:
            problems.append(
                _link(
                    head,
                    "unknown_anchor",
                    f"unknown anchor {_short(head.prev_hash)}: no record on the topic has that hash, "
                    "so the chain written before this one was removed",
                )
            )
    for a, b in pairwise(order):
        before, after = chosen[a], chosen[b]
        if b > a + 1:
            if window.gap_edge is not None and before.record.at < window.gap_edge + window.slack:
                before_window += 1
            else:
                missing = f"seq {a + 1}" if b == a + 2 else f"seq {a + 1}-{b - 1}"
                problems.append(
                    _link(
                        after,
                        "removed",
                        f"seq gap: seq {b} follows seq {a} ({_where(before)}); {missing} missing "
                        f"({b - a - 1} record(s) removed)",
                    )
                )
        elif after.prev_hash != before.hash:
            problems.append(
                _link(
                    after,
                    "prev_hash",
                    f"prev_hash mismatch: prev_hash {_short(after.prev_hash)} is not the hash of "
                    f"seq {a} ({_short(before.hash)} at {_where(before)}): this record or the one "
                    "before it was replaced",
                )
            )
    return problems, before_window


def verify_chain(
    records: Iterable[tuple[int, int, bytes]],
    *,
    kept_since: datetime | None = None,
    slack: timedelta = DEFAULT_SLACK,
) -> VerifyResult:
    """Check the whole audit topic, given as (partition, offset, value) from each partition's first
    offset, in any order.

    ``kept_since`` (now minus the audit retention) bounds what may have expired: without it a
    partition whose head was cut off (DeleteRecords) excuses every gap before its new head.
    ``slack`` allows for clock skew between writers and for the time between an action and its
    record. Every problem is a :class:`BrokenLink`; the first is the earliest in time (the record's
    ``at``; an unreadable record takes the time of the record before it in its partition).
    """
    entries, problems, window = _decode_all(records, kept_since, slack)
    problems += [
        _link(
            e,
            "altered",
            f"hash mismatch: the record was altered after it was written (stored hash "
            f"{_short(e.hash)}, its content hashes to {_short(e.digest)})",
        )
        for e in entries
        if not e.intact
    ]
    chains: dict[str, dict[int, list[AuditEntry]]] = defaultdict(lambda: defaultdict(list))
    for entry in sorted(entries, key=lambda e: (e.partition, e.offset)):
        chains[entry.chain][entry.seq].append(entry)
    known = {e.hash for e in entries}
    duplicates = before_window = 0
    kept: list[AuditEntry] = []
    for chain in chains.values():
        chosen, inserted, copies = _pick(chain)
        broken, explained = _walk(chosen, known, window)
        problems += inserted + broken
        duplicates += copies
        before_window += explained
        kept += [chosen[seq] for seq in sorted(chosen)]
    suspect = {(p.partition, p.offset) for p in problems if p.kind in _SUSPECT}
    times = [e.record.at for e in entries]
    return VerifyResult(
        records=len(entries) - duplicates,
        chains=len(chains),
        oldest=min(times, default=None),
        newest=max(times, default=None),
        problems=tuple(sorted(problems, key=lambda p: (p.at, p.partition, p.offset))),
        duplicates=duplicates,
        before_window=before_window,
        window_start=window.start,
        accepted=tuple(e.record for e in kept if (e.partition, e.offset) not in suspect),
    )


def _time(when: datetime | None) -> str:
    return "-" if when is None else when.astimezone(UTC).isoformat(timespec="seconds")


def format_verify(result: VerifyResult) -> list[str]:
    """The lines ``alpr audit verify`` prints."""
    if result.intact:
        lines = [
            f"audit trail intact: {result.records} records in {result.chains} chains "
            f"(oldest {_time(result.oldest)}, newest {_time(result.newest)})"
        ]
    else:
        first, rest = result.problems[0], result.problems[1:]
        lines = [f"AUDIT TRAIL BROKEN at {first.line()}"]
        if rest:
            lines.append(f"{len(rest)} further problem{'s' if len(rest) != 1 else ''}:")
            lines += [f"  {p.line()}" for p in rest[:_MAX_LISTED]]
            if len(rest) > _MAX_LISTED:
                lines.append(f"  ... and {len(rest) - _MAX_LISTED} more")
        lines.append(
            f"read {result.records} records in {result.chains} chains "
            f"(oldest {_time(result.oldest)}, newest {_time(result.newest)})"
        )
    if result.before_window:
        lines.append(
            f"{result.before_window} chain gap(s) or anchor(s) lie before the retained window "
            f"(starts {_time(result.window_start)}): expired by retention, not broken"
        )
    if result.duplicates:
        lines.append(f"{result.duplicates} identical copies of records (producer retries) counted once")
    return lines


# -- report (pure) --------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    accesses: int = 0
    refused: int = 0
    results: int = 0

    def add(self, record: AccessRecorded) -> None:
        self.accesses += 1
        self.refused += record.decision == "refused"
        self.results += record.result_count


@dataclass(frozen=True, slots=True)
class Report:
    """Who accessed what, and why, over a period (P15): the tables an auditor reads."""

    start: datetime
    end: datetime
    total: Tally
    by_user: dict[str, Tally] = field(default_factory=dict)
    by_agency: dict[str, Tally] = field(default_factory=dict)
    by_purpose: dict[str, Tally] = field(default_factory=dict)
    by_action: dict[str, Tally] = field(default_factory=dict)


def summarize(records: Iterable[AccessRecorded], start: datetime, end: datetime) -> Report:
    """Count the accesses whose ``at`` lies in [start, end]. Purposes are compared folded (case,
    spacing, URL encoding), so one purpose typed two ways is one row."""
    report = Report(start, end, Tally())
    for record in records:
        if not start <= record.at <= end:
            continue
        report.total.add(record)
        purpose = normalize_purpose(record.purpose) or "(none)"
        for table, key in (
            (report.by_user, record.user),
            (report.by_agency, record.agency or "(none)"),
            (report.by_purpose, purpose),
            (report.by_action, record.action),
        ):
            table.setdefault(key, Tally()).add(record)
    return report


def _table(title: str, rows: dict[str, Tally]) -> list[str]:
    width = max([len(title), *(len(k) for k in rows)])
    lines = [f"{title:<{width}}  {'accesses':>8}  {'refused':>7}  {'results':>8}"]
    for key, tally in sorted(rows.items(), key=lambda kv: (-kv[1].accesses, kv[0])):
        lines.append(f"{key:<{width}}  {tally.accesses:>8}  {tally.refused:>7}  {tally.results:>8}")
    return lines


def format_report(report: Report) -> list[str]:
    """The lines ``alpr audit report`` prints: a header, then one table per dimension."""
    total = report.total
    lines = [
        f"audit report {_time(report.start)} .. {_time(report.end)}: {total.accesses} accesses, "
        f"{total.refused} refused, {total.results} records returned"
    ]
    for title, rows in (
        ("user", report.by_user),
        ("agency", report.by_agency),
        ("purpose", report.by_purpose),
        ("action", report.by_action),
    ):
        lines += ["", *_table(title, rows)]
    return lines


# -- random sample (pure) ---------------------------------------------------------------------------


def is_search(record: AccessRecorded) -> bool:
    """Did the action read ALPR data? The known search actions, or a query naming a plate, a partial
    plate or a camera."""
    return record.action in SEARCH_ACTIONS or any(record.query.get(k) for k in _SEARCH_KEYS)


def missing_case_number(record: AccessRecorded) -> bool:
    """No case or incident number in the case number field nor in the purpose (P16, P23)."""
    return not case_numbers(record.case_number) and not case_numbers(record.purpose)


def months_before(now: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the 31st becomes the month's last day)."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=now.tzinfo)
    last_day = (next_month - timedelta(days=1)).day
    return now.replace(year=year, month=month, day=min(now.day, last_day))


def _stable(record: AccessRecorded) -> tuple[datetime, bytes]:
    return record.at, orjson.dumps(record.to_dict(), option=orjson.OPT_SORT_KEYS)


def draw_sample(
    records: Iterable[AccessRecorded], n: int, since: datetime, until: datetime, seed: int | None
) -> tuple[list[AccessRecorded], int]:
    """A uniform random sample of ``n`` searches that ran (refused ones returned nothing) with ``at``
    in [since, until], oldest first, and how many there were to draw from.

    With a seed the draw is reproducible (the population is put in a fixed order first), so an
    auditor can show how the sample was made; without one it comes from the OS's secure source,
    so nobody can predict which searches will be checked.
    """
    population = sorted(
        (r for r in records if is_search(r) and r.decision == "allowed" and since <= r.at <= until),
        key=_stable,
    )
    rng = secrets.SystemRandom() if seed is None else random.Random(seed)  # noqa: S311 - reproducible on purpose
    picked = rng.sample(population, min(max(n, 0), len(population)))
    return sorted(picked, key=_stable), len(population)


def _results(count: int) -> str:
    return f"{count} result" if count == 1 else f"{count} results"


def _flags(record: AccessRecorded) -> list[str]:
    flags = []
    if missing_case_number(record):
        flags.append("NO CASE OR INCIDENT NUMBER (P23)")
    if is_vague(record.purpose):
        flags.append("VAGUE PURPOSE (P23)")
    return flags


def format_sample(
    sample: Sequence[AccessRecorded], population: int, since: datetime, until: datetime, seed: int | None
) -> list[str]:
    """The lines ``alpr audit sample`` prints: one block per search, flagged lines marked."""
    drawn = "seed " + str(seed) if seed is not None else "no seed: not reproducible"
    lines = [
        f"random sample of {len(sample)} of {population} searches from {_time(since)} to {_time(until)} "
        f"({drawn})"
    ]
    for i, record in enumerate(sample, 1):
        who = (
            record.user + (f" #{record.badge}" if record.badge else "") + f" ({record.agency or 'no agency'})"
        )
        lines += [
            "",
            f"{i}. {_time(record.at)}  {who}  {record.action}, {_results(record.result_count)}",
            f"   purpose: {record.purpose or '-'}; crime type: {record.crime_type or '-'}; "
            f"case number: {record.case_number or '-'}",
        ]
        query = {k: v for k, v in record.query.items() if v not in (None, "", [], {})}
        if query:
            lines.append(f"   query: {orjson.dumps(query, option=orjson.OPT_SORT_KEYS).decode()}")
        lines += [f"   FLAG: {flag}" for flag in _flags(record)]
    missing = sum(missing_case_number(r) for r in sample)
    lines += [
        "",
        f"{missing} of {len(sample)} sampled searches have no case or incident number (P23): "
        "ask each user and their supervisor for the reason",
    ]
    return lines


# -- Kafka I/O and the commands ---------------------------------------------------------------------


async def read_trail(settings: Settings) -> list[tuple[int, int, bytes]]:
    """Every record of the audit topic now, as (partition, offset, value), from each partition's
    first offset (a tombstone's value is empty)."""
    out: list[tuple[int, int, bytes]] = []
    await read_topic(
        settings.kafka,
        settings.topic("audit"),
        lambda tp, r: out.append((tp.partition, int(r.offset), r.value or b"")),
    )
    return out


async def _checked(settings: Settings, now: datetime) -> VerifyResult:
    kept_since = now - timedelta(days=settings.profile.audit_retention_days)
    return verify_chain(await read_trail(settings), kept_since=kept_since)


def _warn_if_broken(result: VerifyResult) -> None:
    if not result.intact:
        print(
            f"WARNING: the audit trail does not verify ({len(result.problems)} broken links, first at "
            f"partition {result.problems[0].partition} offset {result.problems[0].offset}); the records "
            "they name are left out: run 'alpr audit verify'"
        )


async def _audited(settings: Settings, by: Principal, action: str, query: dict[str, Any], count: int) -> None:
    """The auditor's own access to the trail is on the trail too (P15): who, when, what, how many."""
    from streams.access.audit import record_access

    await record_access(settings, by.audit(datetime.now(UTC), action, query, count, purpose="audit"))


async def run_verify(settings: Settings, by: Principal) -> int:
    """``alpr audit verify``: 0 when the trail is intact, 1 naming the first broken link."""
    require(by, "audit.read")
    result = await _checked(settings, datetime.now(UTC))
    for line in format_verify(result):
        print(line)
    await _audited(settings, by, "audit_verify", {"intact": result.intact}, len(result.accepted))
    return 0 if result.intact else 1


async def run_report(settings: Settings, start: datetime, end: datetime, by: Principal) -> int:
    """``alpr audit report``: accesses in [start, end] by user, agency, purpose and action (P15)."""
    require(by, "audit.read")
    result = await _checked(settings, datetime.now(UTC))
    _warn_if_broken(result)
    report = summarize(result.accepted, start, end)
    for line in format_report(report):
        print(line)
    period = {"from": start.isoformat(), "to": end.isoformat()}
    await _audited(settings, by, "audit_report", period, sum(t.accesses for t in report.by_action.values()))
    return 0


async def run_sample(
    settings: Settings, n: int, months: int, seed: int | None, now: datetime, by: Principal
) -> int:
    """``alpr audit sample``: the periodic random audit of searches (P23). It prints what was
    searched (plates): the sample itself is an access, audited with the auditor (P15)."""
    require(by, "audit.read")
    result = await _checked(settings, now)
    _warn_if_broken(result)
    since = months_before(now, months)
    sample, population = draw_sample(result.accepted, n, since, now, seed)
    for line in format_sample(sample, population, since, now, seed):
        print(line)
    query = {"n": n, "months": months, "seed": seed, "population": population}
    await _audited(settings, by, "audit_sample", query, len(sample))
    return 0
