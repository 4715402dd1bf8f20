"""A home for every role (issue 18, item 6): the pages of administrators, lieutenants and auditors.

Every page is a thin adapter over the use cases the CLI calls, with the same checks, refusals and
audit records; nothing here decides who may do what (the one permission table does, P21):

* ``/home``: the links the signed-in role may use (``/`` sends a role without ``alert.view`` here);
* ``/admin`` (``directory.view``): users, agencies and sensitive sites.
  ``GET /api/directory``; ``POST /api/users`` (``alpr user add``: the authenticator secret is in
  that answer once, the password never), ``POST /api/users/{name}/training|role|active``,
  ``POST /api/agencies`` (:class:`~streams.access.directory.DirectoryStore`);
  ``GET /api/sites``, ``POST /api/sites``, ``POST /api/sites/{id}/remove`` (``alpr camera sites
  add|remove``, :func:`streams.cameras.registry.add_site` and ``remove_site``: a new site suspends
  the fixed cameras facing it, each suspension audited, P24);
* ``/approvals`` (``hotlist.review``): department entries awaiting approval with who entered them
  (P2); ``GET /api/approvals``, ``GET /api/approvals/count`` (a number, no plates),
  ``POST /api/approvals/{key}/approve``, ``POST /api/approvals/{key}/reject`` with a note
  (:mod:`streams.hotlists.usecases`: a lieutenant who did not enter it, P2);
* ``/audit`` (``audit.read``): ``GET /api/audit/verify``, ``/api/audit/sample``,
  ``/api/audit/report`` (``alpr audit verify|sample|report``: :mod:`streams.access.audit_tools`'s
  ``verify``, ``sample`` and ``report`` check the chain in a thread, so the event loop keeps
  serving, and audit each use with the auditor, P15).

Requests that change state are JSON (the console's guard refuses anything else, so a cross-site
form cannot send them). Passwords, authenticator secrets and tokens never reach a log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

from aiohttp import web

from streams.access import audit_tools
from streams.access.audit_tools import format_verify
from streams.access.directory import Agency, DirectoryStore, User
from streams.access.permissions import PEOPLE_ROLES, may, require
from streams.access.principal import Principal
from streams.access.totp import provisioning_uri
from streams.cameras.registry import add_site, remove_site, sites_file, standing_line
from streams.cameras.sites import CATEGORIES, Point, Site, load_sites, point_feature
from streams.console.http import forbidden_page, json_object, number_field, refused, reply, text_field
from streams.errors import AlprError, BrokerError, ConfigError
from streams.hotlists import usecases as hotlists
from streams.hotlists.service import HotlistStore
from streams.retention.law import AGENCY_TYPES
from streams.settings import Settings

__all__ = ["admin_routes"]

log = logging.getLogger("alpr.access")
Clock = Callable[[], datetime]
#: The pages and the permission each needs (P21); ``/home`` needs a session only.
PAGES = {
    "/admin": ("admin.html", "directory.view", "see users, agencies and sites"),
    "/approvals": ("approvals.html", "hotlist.review", "see department entries awaiting approval"),
    "/audit": ("audit.html", "audit.read", "use the audit tools"),
}
#: An audit sample or report asks for at most this many searches / this long a period.
MAX_SAMPLE, MAX_MONTHS = 500, 120


def _day(text: str | None, name: str) -> str:
    if text is None:
        return datetime.now(UTC).date().isoformat()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise ConfigError(f"{name}: {text!r} is not a date such as 2026-11-02") from exc


def _user_view(user: User) -> dict[str, Any]:
    """What a list shows of a user: never the password hash nor the authenticator secret (P18)."""
    return {
        "name": user.name,
        "display": user.display,
        "badge": user.badge,
        "agency": user.agency,
        "role": user.role,
        "rank": user.rank,
        "assignment": user.assignment,
        "training": [{"course": c, "completed": d} for c, d in user.training],
        "active": user.active,
    }


def _agency_view(agency: Agency) -> dict[str, Any]:
    return {
        "agency_id": agency.agency_id,
        "name": agency.name,
        "type": agency.type,
        "state": agency.state,
        "agreement": agency.agreement,
        "agreement_date": agency.agreement_date,
        "shares_with": list(agency.shares_with),
    }


def _site_view(site: Site) -> dict[str, Any]:
    point = site.geometry if isinstance(site.geometry, Point) else None
    return {
        "id": site.id,
        "name": site.name,
        "category": site.category,
        "label": site.label,
        "shape": type(site.geometry).__name__,
        "lat": point.lat if point else None,
        "lon": point.lon if point else None,
    }


# -- the audit tools: alpr audit verify|sample|report, for the console ---------------------------


def _when(text: str | None, name: str) -> datetime:
    if not text:
        raise ConfigError(f"{name}: required, a date or time such as 2026-11-02 or 2026-11-02T08:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: {text[:40]!r} is not a date or time such as 2026-11-02") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _whole(text: str | None, name: str, low: int, top: int) -> int | None:
    """A whole number in [low, top] from a query parameter; None when not given."""
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: {text[:20]!r} is not a whole number") from exc
    if not low <= value <= top:
        raise ConfigError(f"{name}: give {low} to {top}")
    return value


def admin_routes(
    settings: Settings, clock: Clock, user_of: Callable[[web.Request], Principal]
) -> list[web.RouteDef]:
    """The role homes' pages and API; ``user_of`` gives the signed-in user the console's guard found."""
    static = resources.files("streams.console").joinpath("static")
    directory = DirectoryStore(settings)
    sites_lock = asyncio.Lock()  # one change of the sites file at a time (read, check, replace)

    def html_page(name: str) -> web.Response:
        return web.Response(text=static.joinpath(name).read_text(encoding="utf-8"), content_type="text/html")

    async def home(_request: web.Request) -> web.Response:
        return html_page("home.html")

    async def page(request: web.Request) -> web.Response:
        name, needs, what = PAGES[request.path]
        user = user_of(request)
        if not may(user, needs):
            return forbidden_page(user, what)
        return html_page(name)

    # -- users and agencies ------------------------------------------------------------------

    async def listing(request: web.Request) -> web.Response:
        require(user_of(request), "directory.view")  # alpr user list / agency list
        try:
            found = await directory.load()
        except BrokerError as exc:
            return refused(exc)
        return reply(
            {
                "users": [_user_view(u) for u in sorted(found.users.values(), key=lambda u: u.name)],
                "services": [
                    {"name": s.name, "role": s.role, "agency": s.agency, "active": s.active}
                    for s in sorted(found.services.values(), key=lambda s: s.name)
                ],
                "agencies": [
                    _agency_view(a) for a in sorted(found.agencies.values(), key=lambda a: a.agency_id)
                ],
                "roles": list(PEOPLE_ROLES),
                "agency_types": sorted(AGENCY_TYPES),
            }
        )

    async def add_user(request: web.Request) -> web.Response:
        by = require(user_of(request), "directory.admin")
        try:
            body = await json_object(request)
            name = text_field(body, "name") or ""
            password = body.get("password")
            if not isinstance(password, str):
                raise ConfigError("password: required")
            user, secret = await directory.add_user(
                name,
                password,
                display=text_field(body, "display") or "",
                badge=text_field(body, "badge") or "",
                agency=text_field(body, "agency") or "",
                role=text_field(body, "role") or "",
                by=by,
                now=clock(),
                rank=text_field(body, "rank", required=False),
                assignment=text_field(body, "assignment", required=False),
            )
            course = text_field(body, "course", required=False)
            if course is not None:  # P21: training on record before the first sign-in
                completed = _day(text_field(body, "completed", required=False), "completed")
                user = await directory.record_training(user.name, course, completed, by, clock())
        except AlprError as exc:
            log.info("user add refused for %s: %s", by.name, exc)
            return refused(exc)
        log.info("user %s added by %s (badge %s)", user.name, by.name, by.badge)
        # The authenticator secret is in this answer only (enrolled now, as alpr user add prints
        # it once); only its sealed form is stored, and it is never logged (P18).
        issuer = f"ALPR {settings.profile.agency}"
        return reply(
            {
                "user": _user_view(user),
                "totp_secret": secret,
                "provisioning_uri": provisioning_uri(secret, user.name, issuer),
            },
            201,
        )

    async def train(request: web.Request) -> web.Response:
        by, name = require(user_of(request), "directory.admin"), request.match_info["name"]
        try:
            body = await json_object(request)
            course = text_field(body, "course") or ""
            completed = _day(text_field(body, "completed", required=False), "completed")
            user = await directory.record_training(name, course, completed, by, clock())
        except AlprError as exc:
            return refused(exc)
        return reply({"user": _user_view(user)})

    async def set_role(request: web.Request) -> web.Response:
        by, name = require(user_of(request), "directory.admin"), request.match_info["name"]
        try:
            body = await json_object(request)
            user = await directory.set_role(
                name,
                text_field(body, "role") or "",
                by,
                clock(),
                rank=text_field(body, "rank", required=False),
            )
        except AlprError as exc:
            return refused(exc)
        return reply({"user": _user_view(user), "sessions_ended": True})

    async def set_active(request: web.Request) -> web.Response:
        by, name = require(user_of(request), "directory.admin"), request.match_info["name"]
        try:
            body = await json_object(request)
            active = body.get("active")
            if not isinstance(active, bool):
                raise ConfigError('send {"active": true} or {"active": false}')
            user = await directory.set_active(name, active, by, clock())
        except AlprError as exc:
            return refused(exc)
        return reply({"user": _user_view(user), "sessions_ended": not active})

    async def add_agency(request: web.Request) -> web.Response:
        by = require(user_of(request), "directory.admin")
        try:
            body = await json_object(request)
            shares = body.get("shares_with") or []
            if not isinstance(shares, list) or not all(isinstance(s, str) for s in shares):
                raise ConfigError("shares_with: a list of agency ids")
            agency = Agency(
                text_field(body, "agency_id") or "",
                text_field(body, "name") or "",
                text_field(body, "type") or "",
                (text_field(body, "state", required=False) or settings.profile.state).upper(),
                text_field(body, "agreement", required=False) or "none",
                text_field(body, "agreement_date", required=False),
                tuple(s.strip() for s in shares if s.strip()),
            )
            added = await directory.add_agency(agency, by, clock())
        except AlprError as exc:
            log.info("agency add refused for %s: %s", by.name, exc)
            return refused(exc)
        return reply({"agency": _agency_view(added)}, 201)

    # -- sensitive sites ----------------------------------------------------------------------

    async def sites(request: web.Request) -> web.Response:
        require(user_of(request), "camera.view")  # alpr camera sites list
        if settings.sensitive_sites is None:
            return reply({"configured": False, "sites": [], "categories": CATEGORIES, "distance_m": None})
        try:
            found = await asyncio.to_thread(load_sites, sites_file(settings))
        except AlprError as exc:
            return refused(exc)
        return reply(
            {
                "configured": True,
                "sites": [_site_view(s) for s in found],
                "categories": CATEGORIES,
                "distance_m": settings.sensitive_site_distance_m,
            }
        )

    async def site_add(request: web.Request) -> web.Response:
        by = require(user_of(request), "camera.admin")
        try:
            body = await json_object(request)
            feature = point_feature(
                text_field(body, "id") or "",
                text_field(body, "name") or "",
                text_field(body, "category") or "",
                number_field(body, "lat"),
                number_field(body, "lon"),
            )
            async with sites_lock:
                edit = await add_site(by, settings, feature, clock())
        except AlprError as exc:
            log.info("sensitive site add refused for %s: %s", by.name, exc)
            return refused(exc)
        log.info("sensitive site %s added by %s (badge %s)", edit.site.id, by.name, by.badge)
        suspended = [standing_line(camera, v) for camera, faced in edit.change.suspended for v in faced]
        return reply({"site": _site_view(edit.site), "suspended": suspended}, 201)

    async def site_remove(request: web.Request) -> web.Response:
        by, site_id = require(user_of(request), "camera.admin"), request.match_info["site_id"]
        try:
            body = await json_object(request)
            async with sites_lock:
                edit = await remove_site(
                    by, settings, site_id, clock(), reinstate=body.get("reinstate") is True
                )
        except AlprError as exc:
            log.info("sensitive site remove refused for %s: %s", by.name, exc)
            return refused(exc)
        reinstated = [camera.id for camera, _faced in edit.change.reinstated]
        return reply({"site": _site_view(edit.site), "reinstated": reinstated})

    # -- the lieutenant's approval queue (P2) ---------------------------------------------------

    async def approvals(request: web.Request) -> web.Response:
        try:
            pending = await hotlists.pending(user_of(request), settings, clock())  # audited (P15)
        except BrokerError as exc:
            return refused(exc)
        rows = []
        for key, record in sorted(pending.items(), key=lambda kv: kv[1].get("proposed_at", "")):
            entry = record["entry"]
            rows.append(
                {
                    "key": key,
                    "plate": entry.get("plate"),
                    "plate_state": entry.get("plate_state"),
                    "list_type": entry.get("list_type"),
                    "case_number": entry.get("case_number"),
                    "synopsis": entry.get("reason"),
                    "entered_by": entry.get("entered_by"),
                    "entered_by_user": record.get("entered_by_user"),
                    "proposed_at": record.get("proposed_at"),
                    # what the entry lacks besides the approval this page gives
                    "missing": [m for m in record.get("missing", []) if not m.startswith("approved_by")],
                }
            )
        return reply({"pending": rows})

    async def approvals_count(request: web.Request) -> web.Response:
        """How many entries wait: a number, no plate, so no access record (P15 covers plate-level
        data), as the feeds' sync state (usecases.sources) is not audited either."""
        require(user_of(request), "hotlist.review")
        try:
            async with HotlistStore(settings) as store:
                count = len(await store.pending_entries())
        except BrokerError as exc:
            return refused(exc)
        return reply({"pending": count})

    async def approve(request: web.Request) -> web.Response:
        by, key = require(user_of(request), "hotlist.approve"), request.match_info["key"]
        try:
            await json_object(request)
            # P2: refused (and audited) when the approver entered it or is below lieutenant
            entry = await hotlists.approve(by, settings, key, clock())
        except AlprError as exc:
            log.info("approval of %s refused for %s: %s", key, by.name, exc)
            return refused(exc)
        return reply(
            {"key": key, "plate": entry.plate, "approved_by": by.display, "badge": by.badge, "rank": by.rank}
        )

    async def reject(request: web.Request) -> web.Response:
        by, key = require(user_of(request), "hotlist.approve"), request.match_info["key"]
        try:
            note = text_field(await json_object(request), "note", required=False) or ""
            # P2: refused (and audited) by the entering member, below lieutenant, or without a note
            entry = await hotlists.reject(by, settings, key, clock(), note)
        except AlprError as exc:
            log.info("rejection of %s refused for %s: %s", key, by.name, exc)
            return refused(exc)
        return reply({"key": key, "plate": entry.plate, "rejected_by": by.display, "badge": by.badge})

    # -- the audit tools ----------------------------------------------------------------------

    async def verify(request: web.Request) -> web.Response:
        """``alpr audit verify`` (P14); the use case checks the trail in a thread and audits it."""
        try:
            result = await audit_tools.verify(user_of(request), settings, clock())
        except BrokerError as exc:
            return refused(exc)
        latest = result.latest
        return reply(
            {
                "intact": result.intact,
                "records": result.records,
                "chains": result.chains,
                "oldest": result.oldest.isoformat() if result.oldest else None,
                "newest": result.newest.isoformat() if result.newest else None,
                "problems": [{"kind": p.kind, "where": p.line()} for p in result.problems[:50]],
                "problem_count": len(result.problems),
                "head": None if latest is None else {"digest": latest.digest, "records": latest.records},
                "lines": format_verify(result),
            }
        )

    async def sample(request: web.Request) -> web.Response:
        """``alpr audit sample``: a random sample of searches, flagged (P23); audited (P15)."""
        by = require(user_of(request), "audit.read")
        try:
            n = _whole(request.query.get("n"), "n", 1, MAX_SAMPLE) or 10
            months = _whole(request.query.get("months"), "months", 1, MAX_MONTHS) or 6
            seed = _whole(request.query.get("seed"), "seed", 0, 2**63)
            drawn = await audit_tools.sample(by, settings, n, months, seed, clock())
        except AlprError as exc:
            return refused(exc)
        return reply(
            {
                "intact": drawn.trail.intact,
                "population": drawn.population,
                "sample": [r.to_dict() for r in drawn.picked],
                "lines": drawn.lines(),
            }
        )

    async def report(request: web.Request) -> web.Response:
        """``alpr audit report``: accesses in [from, to] by user, agency, purpose, action (P15)."""
        by = require(user_of(request), "audit.read")
        try:
            start = _when(request.query.get("from"), "from")
            end = _when(request.query.get("to"), "to")
            if end - start > timedelta(days=31 * MAX_MONTHS) or end < start:
                raise ConfigError("from .. to: a period of at most ten years, from before to")
            made = await audit_tools.report(by, settings, start, end, clock())
        except AlprError as exc:
            return refused(exc)
        return reply(
            {"intact": made.trail.intact, "accesses": made.report.total.accesses, "lines": made.lines()}
        )

    return [
        web.get("/home", home),
        *(web.get(path, page) for path in PAGES),
        web.get("/api/directory", listing),
        web.post("/api/users", add_user),
        web.post("/api/users/{name}/training", train),
        web.post("/api/users/{name}/role", set_role),
        web.post("/api/users/{name}/active", set_active),
        web.post("/api/agencies", add_agency),
        web.get("/api/sites", sites),
        web.post("/api/sites", site_add),
        web.post("/api/sites/{site_id}/remove", site_remove),
        web.get("/api/approvals", approvals),
        web.get("/api/approvals/count", approvals_count),
        web.post("/api/approvals/{key}/approve", approve),
        web.post("/api/approvals/{key}/reject", reject),
        web.get("/api/audit/verify", verify),
        web.get("/api/audit/sample", sample),
        web.get("/api/audit/report", report),
    ]
