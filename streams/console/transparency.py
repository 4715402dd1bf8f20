"""The public transparency page (issue 9, item 6): what the system keeps and shares, never what it saw.

``GET /transparency`` (HTML, no script) and ``GET /transparency.json`` answer without a sign-in. They
carry aggregates and policy only: how many cameras are active, the active profile's retention, the
state law that bounds it and decides sharing (:func:`streams.retention.law.law_for`, the profile's
``state``: its citation, caps and reporting duties), the hot-list feeds in use and when each last
synced, the agencies data is shared with, and -- under California law -- the statement San José's
Police Chief asked to be added to the public transparency portal about California law and
immigration enforcement (memo of Feb. 9 2026, recommendation (c); P19). No plate, read, alert,
hot-list entry, search or user is ever read for it: the figures come from the cameras topic, the
hot-list *sources* topic (sync status, no entries) and the *agencies* topic (never the users topic,
which holds credentials). The page also publishes the digest of the latest signed checkpoint of the
audit trail and the public keys that sign them (P14, :mod:`streams.access.checkpoint`): anyone who
keeps a copy can later have ``alpr audit verify --published`` show that the trail still holds it.

Being public, the page must not let anyone make the console read Kafka at will: the figures are
read at most once per ``ttl`` and shared by every request in between (:class:`TransparencyFeed`).

:func:`summarize` and :func:`render_page` are pure.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from aiokafka.errors import KafkaError

from streams.access.checkpoint import Checkpoint, newest_checkpoint, published_line, trusted_keys
from streams.access.directory import Agency, DirectoryStore
from streams.cameras.registry import CameraRegistry, CameraStore
from streams.errors import BrokerError
from streams.kafka.log import read_latest
from streams.matching.matcher import source_stale
from streams.retention.law import StateLaw, law_for
from streams.retention.policy import Profile
from streams.settings import Settings

__all__ = ["STATEMENT", "TransparencyFeed", "render_page", "shared_with", "summarize", "transparency_routes"]

log = logging.getLogger(__name__)

#: Recommendation (c) of the Police Chief's memorandum, quoted verbatim (seeds/000_96c03df950862753.txt;
#: the memo's "Data Sharing and Immigration Enforcement" section repeats it with "San José Police
#: Department ALPR data" for the last sentence's subject).
STATEMENT: dict[str, Any] = {
    "text": (
        "The San José Police Department only shares data with California law enforcement agencies "
        "subject to the California Values Act (Senate Bill 54, 2017) and Automated License Plate "
        "Recognition Systems: Use of Data (Senate Bill 34, 2015). These laws prohibit information "
        "sharing with federal immigration enforcement. Transmittal of Police Department Automated "
        "License Plate Reader data to federal agencies for immigration enforcement is illegal."
    ),
    "source": (
        "San José Police Chief's memorandum to the Mayor and City Council, \u201cAutomated License Plate "
        "Readers Data Usage Protocol Update\u201d, February 9, 2026 (approved February 25, 2026), "
        "recommendation (c): clarification for the Department's public ALPR transparency portal"
    ),
    "links": [
        {
            "title": "Senate Bill 54 (2017), California Values Act",
            "url": "https://leginfo.legislature.ca.gov/faces/billTextClient.xhtml?bill_id=201720180SB54",
        },
        {
            "title": "Senate Bill 34 (2015), Automated License Plate Recognition Systems: Use of Data",
            "url": "https://leginfo.legislature.ca.gov/faces/billNavClient.xhtml?bill_id=201520160SB34",
        },
    ],
    "rule": "P19",
}

#: What each hot-list feed is (P1), for people who do not know the acronyms.
SOURCE_NAMES = {
    "ncic": "NCIC (FBI National Crime Information Center)",
    "clets": "CLETS (California Law Enforcement Telecommunications System)",
    "svs": "California Stolen Vehicle System (SVS)",
    "sfr": "California Stolen Vehicle System extract (SFR)",
    "slr": "California Stolen Vehicle System extract (SLR)",
    "local": "Department hot list (entries approved by a lieutenant, P2)",
}

#: What the system does not do, each enforced by code (docs/policy.md).
LIMITS = (
    "No data is shared with federal agencies for immigration enforcement, or with commercial or private "
    "entities, and no data is sold (P19).",
    "No hot list may serve immigration enforcement (P5); searches that appear connected to immigration "
    "enforcement or reproductive care are refused (P22).",
    "No fixed camera may face a reproductive health care facility, a place of religious observance, or a "
    "consulate or embassy (P24).",
    "Every search is recorded with the person, agency, purpose and case number (P15); an alert is never by "
    "itself a basis for police action (P7).",
)


def shared_with(agencies: Iterable[Agency], state: str = "CA") -> list[Agency]:
    """Agencies with an active sharing agreement (P19): signed, and allowed by the law of ``state``
    (the deployment profile's, California unless it says otherwise): never federal, commercial,
    private or out of state.

    The directory refuses the others when they are added; they are left out here as well, by the
    same law (:meth:`StateLaw.sharing_refusal`), so that a record written around the directory
    could not put them on a public list of partners."""
    law = law_for(state)
    return sorted(
        (
            a
            for a in agencies
            if a.agreement == "signed" and law.sharing_refusal(a.agency_id, a.type, a.state) is None
        ),
        key=lambda a: a.name.casefold(),
    )


def _law_figures(law: StateLaw) -> dict[str, Any]:
    """The state law that applies (P11, P13, P19, P24, P26): what it is and what it requires."""
    return {
        "state": law.state,
        "name": law.name,
        "citation": law.citation,
        "statutes": list(law.statutes),
        "in_force": law.in_force.isoformat(),
        "read_retention_max_days": law.read_retention_max_days,
        "hit_retention_max_days": law.hit_retention_max_days,
        "in_state_only": law.in_state_only,
        "immigration_use_banned": law.immigration_use_banned,
        "sensitive_sites_banned": law.sensitive_sites_banned,
        "reporting_duties": list(law.reporting_duties),
    }


def _iso(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        return None


def summarize(
    registry: CameraRegistry,
    profile: Profile,
    sources: Mapping[str, Mapping[str, Any]],
    agencies: Iterable[Agency],
    now: datetime,
    *,
    checkpoint: Checkpoint | None = None,
    public_keys: Iterable[str] = (),
) -> dict[str, Any]:
    """The public figures. Only aggregates and policy go in: nothing keyed by a plate. The audit
    checkpoint is a digest, a time and offsets (P14): it names no access."""
    active = registry.listed()
    law = law_for(profile.state)
    feeds = []
    for name, status in sorted(sources.items()):
        last_sync = _iso(status.get("last_success"))
        if last_sync is None:
            continue  # never synced: not in use
        fresh = _iso(status.get("fresh_as_of"))
        feeds.append(
            {
                "source": name,
                "name": SOURCE_NAMES.get(name, name),
                "last_sync": last_sync,
                "fresh_as_of": fresh,
                "stale": source_stale(
                    datetime.fromisoformat(fresh) if fresh else None, now, profile.hotlist_max_staleness_s
                ),
            }
        )
    return {
        "agency": profile.agency,
        "generated_at": now.isoformat(),
        "cameras": {
            "active": len(active),
            "fixed": sum(1 for c in active if c.kind == "fixed"),
            "mobile": sum(1 for c in active if c.kind == "mobile"),
            "retired": sum(1 for c in registry.cameras.values() if not c.active),
        },
        "retention": {
            "profile": profile.name,
            "read_days": profile.read_retention_days,  # P11
            "alert_days": profile.hit_retention_days,  # P13; None: kept indefinitely
            "audit_days": profile.audit_retention_days,  # P14
            "evidence_hold": "Reads tied to a criminal investigation may be kept longer, through "
            "adjudication and appeals (P12).",
        },
        "law": _law_figures(law),
        "hotlist_sources": feeds,
        "hotlist_max_staleness_hours": profile.hotlist_max_staleness_hours,
        "shared_with": [
            {"agency_id": a.agency_id, "name": a.name, "type": a.type, "agreement_date": a.agreement_date}
            for a in shared_with(agencies, profile.state)
        ],
        # The San José memo's statement is about California law: shown under California law only.
        "statement": STATEMENT if law.state == "CA" else None,
        "limits": list(LIMITS),
        "audit_checkpoint": None
        if checkpoint is None
        else {
            "sha256": checkpoint.digest,
            "signed_at": checkpoint.signed_at.isoformat(),
            "records": checkpoint.records,
            "partitions": [
                {"partition": h.partition, "first_offset": h.start, "end_offset": h.end}
                for h in checkpoint.partitions
            ],
            "signed_by": checkpoint.key,
            "published": published_line(checkpoint),
        },
        "audit_public_keys": sorted(public_keys),
    }


# -- the page -------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _when(value: str | None) -> str:
    if value is None:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _days(days: int | None) -> str:
    return "kept indefinitely" if days is None else f"{days} days"


def _law_section(law: Mapping[str, Any]) -> str:
    """The state law that applies, with its caps and reporting duties (P11, P19, P26)."""
    cap = law["read_retention_max_days"]
    caps = (
        f"at most {cap} days for plate reads"
        if cap is not None
        else "no statewide limit on how long reads are kept"
    )
    statutes = "".join(f"<li>{_e(text)}</li>" for text in law["statutes"])
    duties = "".join(f"<li>{_e(text)}</li>" for text in law["reporting_duties"]) or "<li>none named</li>"
    return (
        f'<p id="law-citation">This system operates under {_e(law["name"])} law: {_e(law["citation"])} '
        f"(in force {_e(law['in_force'])}), {_e(caps)}. The agency's own policy may be stricter, "
        "never looser.</p>"
        f'<ul id="law-statutes">{statutes}</ul>'
        f'<p>Reporting duties:</p><ul id="law-reporting">{duties}</ul>'
    )


def _statement_section(statement: Mapping[str, Any] | None) -> str:
    if statement is None:
        return ""
    links = "".join(
        f'<li><a href="{_e(link["url"])}" rel="noreferrer">{_e(link["title"])}</a></li>'
        for link in statement["links"]
    )
    return f"""<section id="t-statement" aria-labelledby="t-statement-h">
<h2 id="t-statement-h">Data sharing and immigration enforcement</h2>
<blockquote id="statement"><p>{_e(statement["text"])}</p></blockquote>
<p class="source" id="statement-source">Source: {_e(statement["source"])}.</p>
<ul class="links">{links}</ul>
</section>"""


def render_page(summary: Mapping[str, Any]) -> str:
    """The HTML page of :func:`summarize`'s figures: every value escaped, no script, no inline style
    (the console's Content-Security-Policy allows neither)."""
    cams, keep, law = summary["cameras"], summary["retention"], summary["law"]
    if summary["hotlist_sources"]:
        rows = "".join(
            f"<tr><td>{_e(f['name'])}</td><td>{_e(_when(f['last_sync']))}</td>"
            f"<td>{'stale: entries are not used until refreshed (P4)' if f['stale'] else 'current'}</td></tr>"
            for f in summary["hotlist_sources"]
        )
        sources = (
            '<table id="t-sources-table"><thead><tr><th>Hot list</th><th>Last synchronized</th>'
            f"<th>State</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    else:
        sources = '<p id="t-sources-none">No hot list has been synchronized yet.</p>'
    if summary["shared_with"]:
        items = "".join(
            f"<li>{_e(a['name'])}"
            + (f" (agreement of {_e(a['agreement_date'])})" if a["agreement_date"] else "")
            + "</li>"
            for a in summary["shared_with"]
        )
        sharing = f'<ul id="t-sharing-list">{items}</ul>'
    else:
        sharing = '<p id="t-sharing-none">Data is not shared with any other agency.</p>'
    limits = "".join(f"<li>{_e(text)}</li>" for text in summary["limits"])
    mark = summary.get("audit_checkpoint")
    if mark:
        attested = (
            f'<p>Latest signed checkpoint: <code id="checkpoint-digest">{_e(mark["sha256"])}</code>, signed '
            f'<span id="checkpoint-time">{_e(_when(mark["signed_at"]))}</span>, covering '
            f'<span id="checkpoint-records">{_e(mark["records"])}</span> audit records '
            f'(<span id="checkpoint-line">{_e(mark["published"])}</span>).</p>'
        )
    else:
        attested = '<p id="checkpoint-none">No signed checkpoint of the audit trail yet.</p>'
    keys = "".join(f"<li><code>{_e(k)}</code></li>" for k in summary.get("audit_public_keys", []))
    attested += (
        f'<p>Checkpoints are signed (Ed25519) with these public keys:</p><ul id="checkpoint-keys">{keys}</ul>'
        if keys
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ALPR transparency · {_e(summary["agency"])}</title>
<link rel="stylesheet" href="/static/console.css">
</head>
<body class="transparency">
<header><h1>Automated license plate readers: transparency · {_e(summary["agency"])}</h1></header>
<main>
<p class="notice">This page shows how the system is set up: counts and rules, never a plate, a read,
an alert or a search. The same figures as JSON: <a href="/transparency.json">/transparency.json</a>.</p>
<section id="t-cameras" aria-labelledby="t-cameras-h">
<h2 id="t-cameras-h">Cameras</h2>
<p><span id="camera-count" class="figure">{cams["active"]}</span> active cameras:
<span id="camera-fixed">{cams["fixed"]}</span> fixed,
<span id="camera-mobile">{cams["mobile"]}</span> mobile.</p>
</section>
<section id="t-retention" aria-labelledby="t-retention-h">
<h2 id="t-retention-h">How long data is kept</h2>
<dl>
<dt>Plate reads</dt><dd id="read-retention">{_e(_days(keep["read_days"]))}, then deleted (P11)</dd>
<dt>Alerts (hits)</dt><dd id="alert-retention">{_e(_days(keep["alert_days"]))} (P13)</dd>
<dt>Audit trail of every access</dt><dd id="audit-retention">{_e(_days(keep["audit_days"]))} (P14)</dd>
</dl>
<p>{_e(keep["evidence_hold"])}</p>
</section>
<section id="t-law" aria-labelledby="t-law-h">
<h2 id="t-law-h">The law that applies</h2>
{_law_section(law)}
</section>
<section id="t-audit" aria-labelledby="t-audit-h">
<h2 id="t-audit-h">Audit trail checkpoint</h2>
<p>The head of the audit trail is signed regularly with a key kept apart from the data. Keep a copy
of the digest below: if the trail were rewritten later, an audit against it would show it (P14).</p>
{attested}
</section>
<section id="t-sources" aria-labelledby="t-sources-h">
<h2 id="t-sources-h">Hot lists in use</h2>
<p>A list not refreshed within {summary["hotlist_max_staleness_hours"]} hours is not used (P3, P4).</p>
{sources}
</section>
<section id="t-sharing" aria-labelledby="t-sharing-h">
<h2 id="t-sharing-h">Agencies data is shared with</h2>
<p id="sharing-rule">Only {_e(law["name"])} law enforcement agencies with an agreement on file, each
requesting directly ({_e(law["citation"])}; P19).</p>
{sharing}
</section>
{_statement_section(summary["statement"])}
<section id="t-limits" aria-labelledby="t-limits-h">
<h2 id="t-limits-h">What the system does not do</h2>
<ul>{limits}</ul>
</section>
</main>
<footer>Figures as of <span id="generated-at">{_e(_when(summary["generated_at"]))}</span>.</footer>
</body>
</html>
"""


# -- I/O ------------------------------------------------------------------------------------------


class TransparencyFeed:
    """The figures, read from Kafka at most once per ``ttl`` seconds whatever the request rate."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime], ttl: float = 5.0) -> None:
        self.settings = settings
        self.clock = clock
        self.ttl = ttl
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def _read(self) -> dict[str, Any]:
        s = self.settings
        registry = await CameraStore(s).load()
        sources = await read_latest(s.kafka, s.topic("hotlist-sources"))
        agencies = await read_latest(s.kafka, DirectoryStore(s).agencies_topic)
        trusted = trusted_keys(s)
        checkpoint = await newest_checkpoint(s, s.topic("audit-checkpoints"), trusted)
        return summarize(
            registry,
            s.profile,
            {k.decode(): orjson.loads(v.value) for k, v in sources.items()},
            [Agency(**orjson.loads(v.value)) for v in agencies.values()],
            self.clock(),
            checkpoint=checkpoint,
            public_keys=trusted,
        )

    async def current(self) -> dict[str, Any]:
        async with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self.ttl:
                self._cached = (time.monotonic(), await self._read())
            return self._cached[1]


def transparency_routes(feed: TransparencyFeed) -> list[web.RouteDef]:
    """``/transparency`` and ``/transparency.json``; the console lists both as public routes."""

    async def figures() -> dict[str, Any] | web.Response:
        try:
            return await feed.current()
        except (BrokerError, KafkaError, OSError) as exc:
            log.warning("transparency figures unavailable: %s", exc)
            return web.Response(
                status=503, text="The transparency figures are unavailable right now; try again shortly."
            )

    async def page(_request: web.Request) -> web.Response:
        found = await figures()
        if isinstance(found, web.Response):
            return found
        return web.Response(text=render_page(found), content_type="text/html")

    async def as_json(_request: web.Request) -> web.Response:
        found = await figures()
        if isinstance(found, web.Response):
            return found
        return web.Response(body=orjson.dumps(found), content_type="application/json")

    return [web.get("/transparency", page), web.get("/transparency.json", as_json)]
