"""HTTP endpoint for department entries and feed status (aiohttp, as faust uses).

Access control, MFA and audit of these routes come with the access-control
work (POLICY P15-P21); until then bind it to 127.0.0.1 only.

POST   /hotlist/entries                 a department entry -> pending (P2)
POST   /hotlist/entries/{key}/approve   {"by": person}     -> active
DELETE /hotlist/entries/{key}           {"by": person, "designee_of": badge?, "reason": text}
GET    /hotlist/pending                 entries awaiting completion or approval
GET    /hotlist/sources                 sync status of each feed
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from streams.codec import entry_from_dict, entry_to_dict, loads
from streams.errors import AccessDenied, AlprError, InvalidRecord, NotFound, PolicyViolation
from streams.hotlists.model import Person
from streams.hotlists.service import HotlistStore
from streams.settings import Settings

__all__ = ["make_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _person(data: Any, field: str) -> Person:
    if not isinstance(data, dict) or not data.get("name") or not data.get("badge"):
        raise InvalidRecord("schema", f"{field} must be an object with name and badge")
    return Person(str(data["name"]), str(data["badge"]), data.get("assignment"), data.get("rank"))


async def _body(request: web.Request) -> Any:
    return loads(await request.read())


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except InvalidRecord as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except AccessDenied as exc:
        return web.json_response({"error": str(exc)}, status=403)
    except NotFound as exc:
        return web.json_response({"error": str(exc)}, status=404)
    except PolicyViolation as exc:
        return web.json_response({"error": str(exc), "rule": exc.rule}, status=422)
    except AlprError as exc:
        return web.json_response({"error": str(exc)}, status=503)


def make_app(settings: Settings) -> web.Application:
    def now() -> datetime:
        return datetime.now(UTC)

    async def add(request: web.Request) -> web.Response:
        entry = entry_from_dict(await _body(request))
        async with HotlistStore(settings) as store:
            missing = await store.propose(entry, "http", now())
        return web.json_response(
            {"entry_key": entry.key, "status": "pending", "missing": missing}, status=202
        )

    async def approve(request: web.Request) -> web.Response:
        body = await _body(request)
        async with HotlistStore(settings) as store:
            entry = await store.approve(request.match_info["key"], _person(body.get("by"), "by"), now())
        return web.json_response({"entry_key": entry.key, "status": "active", "entry": entry_to_dict(entry)})

    async def remove(request: web.Request) -> web.Response:
        body = await _body(request)
        reason = str(body.get("reason") or "").strip()
        if not reason:
            raise InvalidRecord("schema", "reason is required")
        async with HotlistStore(settings) as store:
            await store.remove(
                request.match_info["key"],
                _person(body.get("by"), "by"),
                now(),
                designee_of=body.get("designee_of"),
                reason=reason,
            )
        return web.json_response({"entry_key": request.match_info["key"], "status": "removed"})

    async def pending(request: web.Request) -> web.Response:
        async with HotlistStore(settings) as store:
            return web.json_response(await store.pending_entries())

    async def sources(request: web.Request) -> web.Response:
        async with HotlistStore(settings) as store:
            return web.json_response(await store.source_status())

    app = web.Application(middlewares=[errors], client_max_size=1024 * 1024)
    app.add_routes(
        [
            web.post("/hotlist/entries", add),
            web.post("/hotlist/entries/{key}/approve", approve),
            web.delete("/hotlist/entries/{key}", remove),
            web.get("/hotlist/pending", pending),
            web.get("/hotlist/sources", sources),
        ]
    )
    return app
