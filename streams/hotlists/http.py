"""``alpr hotlist serve``: the HTTP endpoint for department entries and feed status (aiohttp).

Every route acts as a principal (P18, P21): ``Authorization: Bearer <token>``, a person's session
token (the console's or the CLI's sign-in) or a service account's token, resolved by an
:class:`~streams.access.authn.Authenticator` that follows the directory and the sign-in state live.
The routes call the same use cases as the CLI (:mod:`streams.hotlists.usecases`), so who entered
or approved an entry comes from the directory, never from the request body (P2).

A web page on another origin must not be able to act through a user's browser: a request that
carries an ``Origin`` header is refused unless that origin is allowed (none by default), and a
state change must be ``Content-Type: application/json`` (which a cross-origin page cannot send
without a CORS preflight, which this endpoint never answers). Bodies are capped at 64 KiB. The
Authorization header never reaches a log.

POST   /hotlist/entries                 a department entry (no entered_by) -> pending (P2)
POST   /hotlist/entries/{key}/approve   {}                                  -> active
DELETE /hotlist/entries/{key}           {"designee_of": badge?, "reason": text}
GET    /hotlist/pending                 entries awaiting completion or approval (audited, P15)
GET    /hotlist/sources                 sync status of each feed

401 without a valid token, 403 for a role that may not (or a refused Origin), 415 for a body that
is not JSON, 413 for one over the cap.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from streams.access.authn import Authenticator
from streams.access.principal import Principal
from streams.codec import entry_from_dict, entry_to_dict, loads
from streams.errors import (
    AccessDenied,
    AlprError,
    InvalidRecord,
    NotFound,
    NotSignedIn,
    PolicyViolation,
)
from streams.hotlists import usecases
from streams.settings import Settings

__all__ = ["MAX_BODY", "make_app"]

log = logging.getLogger("alpr.hotlist.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Clock = Callable[[], datetime]

#: The largest request body: a department entry is well under 2 KiB.
MAX_BODY = 64 * 1024
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PRINCIPAL = "principal"
_AUTH = web.AppKey("auth", Authenticator)


def _error(status: int, message: str, **extra: Any) -> web.Response:
    response = web.json_response({"error": message, **extra}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="alpr-hotlist"'
    return response


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    data = loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise InvalidRecord("schema", "send a JSON object")
    return data


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The use cases' errors as HTTP answers (NotSignedIn before AccessDenied: it is one)."""
    try:
        return await handler(request)
    except InvalidRecord as exc:
        return _error(400, str(exc))
    except NotSignedIn as exc:
        return _error(401, str(exc))
    except AccessDenied as exc:
        return _error(403, str(exc))
    except NotFound as exc:
        return _error(404, str(exc))
    except PolicyViolation as exc:
        return _error(422, str(exc), rule=exc.rule)
    except AlprError as exc:
        return _error(503, str(exc))


def make_app(
    settings: Settings, *, allowed_origins: frozenset[str] = frozenset(), clock: Clock | None = None
) -> web.Application:
    """The endpoint's app; its authenticator starts and stops with it (on_startup, on_cleanup)."""

    def now() -> datetime:
        return clock() if clock is not None else datetime.now(UTC)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Origin, then credentials (P18), then content type; nothing is read before all three pass."""
        origin = request.headers.get("Origin")
        if origin is not None and origin not in allowed_origins:
            return _error(403, f"requests from the web origin {origin[:100]!r} are not allowed")
        auth = request.app[_AUTH]
        token = _bearer(request)
        if token is None:
            return _error(
                401,
                "send 'Authorization: Bearer <token>': a session token (alpr login) "
                "or a service account's token",
            )
        at = now()
        try:
            principal = auth.principal(token, at)
        except NotSignedIn:
            await auth.caught_up()  # a session opened a moment ago in another process
            try:
                principal = auth.principal(token, at)
            except NotSignedIn as exc:
                return _error(401, str(exc))
        if principal.kind == "user":
            await auth.touch(token, at)
        if request.method in _CHANGES and request.content_type != "application/json":
            return _error(415, "send JSON (Content-Type: application/json)")
        request[_PRINCIPAL] = principal
        response = await handler(request)
        log.info("%s %s %s by %s", request.method, request.path, response.status, principal.label)
        return response

    def who(request: web.Request) -> Principal:
        principal: Principal = request[_PRINCIPAL]
        return principal

    async def add(request: web.Request) -> web.Response:
        draft = entry_from_dict(await _body(request))
        missing = await usecases.propose(who(request), settings, draft, "http", now())
        return web.json_response(
            {"entry_key": draft.key, "status": "pending", "missing": missing}, status=202
        )

    async def approve(request: web.Request) -> web.Response:
        body = await _body(request)
        if "by" in body:
            raise InvalidRecord("schema", "leave out 'by': the approver is whoever is signed in (P2)")
        entry = await usecases.approve(who(request), settings, request.match_info["key"], now())
        return web.json_response({"entry_key": entry.key, "status": "active", "entry": entry_to_dict(entry)})

    async def remove(request: web.Request) -> web.Response:
        body = await _body(request)
        if "by" in body:
            raise InvalidRecord("schema", "leave out 'by': the remover is whoever is signed in")
        reason = str(body.get("reason") or "").strip()
        if not reason:
            raise InvalidRecord("schema", "reason is required: say why the entry is removed")
        designee = body.get("designee_of")
        await usecases.remove(
            who(request),
            settings,
            request.match_info["key"],
            now(),
            designee_of=None if designee is None else str(designee),
            reason=reason,
        )
        return web.json_response({"entry_key": request.match_info["key"], "status": "removed"})

    async def pending(request: web.Request) -> web.Response:
        return web.json_response(await usecases.pending(who(request), settings, now()))

    async def sources(request: web.Request) -> web.Response:
        return web.json_response(await usecases.sources(who(request), settings))

    async def start(app: web.Application) -> None:
        await app[_AUTH].start()

    async def stop(app: web.Application) -> None:
        await app[_AUTH].stop()

    app = web.Application(middlewares=[errors, guard], client_max_size=MAX_BODY)
    app[_AUTH] = Authenticator(settings)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
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
