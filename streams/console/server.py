"""The dispatch console and the CAD API: one aiohttp app over a live :class:`AlertDesk`.

Pages: ``/login`` and ``/`` (the live queue and the alert view), ``/search``, ``/cameras`` (the
camera registry, administrators) and the public ``/transparency`` (no plate-level data). JSON API
under ``/api``: sessions, alerts, transitions, cameras, and ``/api/events`` (server-sent events:
the queue is pushed, never polled). Every request needs a session (cookie for the browser,
``Authorization: Bearer`` for a CAD system), except sign-in, ``/healthz``, ``/metrics`` and
``/transparency`` (counts only, no plate data). Requests that change state must be JSON, which a
cross-site form cannot send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.access.audit import process_chain, record_access
from streams.access.directory import ROLES, DirectoryStore, may
from streams.access.rules import Justification, access_record, authorize
from streams.alerts.desk import AlertDesk
from streams.alerts.lifecycle import ACTIONS, Actor, AlertEvent, AlertState, TransitionRefused
from streams.alerts.model import AlertRaised
from streams.console.auth import Authenticator, Session
from streams.console.cameras import camera_routes
from streams.console.transparency import TransparencyFeed, transparency_routes
from streams.console.views import alert_detail, alert_summary, queue_key
from streams.errors import AccessDenied, BrokerError, ConfigError, NotFound
from streams.metrics import LifecycleMetrics
from streams.replay.replay import ReplayQuery, replay
from streams.settings import Settings

__all__ = ["COOKIE", "LiveQueue", "create_console", "serve"]

log = logging.getLogger("alpr.access")
COOKIE = "alpr_session"
_SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)
#: The permission each API area needs (P21: access by role).
_NEEDS = {"alerts": "alerts", "events": "alerts", "search": "search", "cameras": "admin"}
#: No sign-in: the transparency page and its JSON carry counts and policy, no plate-level data.
_PUBLIC = {
    ("POST", "/api/session"),
    ("GET", "/login"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/transparency"),
    ("GET", "/transparency.json"),
}
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
Clock = Callable[[], datetime]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


class LiveQueue:
    """Pushes each changed alert to every connected console (server-sent events)."""

    def __init__(self, view: Callable[[AlertState], dict[str, Any]]) -> None:
        self.view = view
        self.clients: set[asyncio.Queue[bytes]] = set()

    def on_change(
        self, _before: AlertState | None, _record: AlertRaised | AlertEvent, after: AlertState
    ) -> None:
        if not self.clients:
            return
        message = b"event: alert\ndata: " + orjson.dumps(self.view(after)) + b"\n\n"
        for queue in list(self.clients):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self.clients.discard(queue)  # a console that stopped reading; it reconnects

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[asyncio.Queue[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10_000)
        self.clients.add(queue)
        try:
            yield queue
        finally:
            self.clients.discard(queue)


def create_console(settings: Settings, desk: AlertDesk, auth: Authenticator, clock: Clock) -> web.Application:
    """Build the app around a desk that has not started yet, so the lifecycle metrics see the
    whole retained history as the desk folds it."""
    board = desk.board
    directory = DirectoryStore(settings)
    max_staleness = timedelta(seconds=settings.profile.hotlist_max_staleness_s)

    def summary(state: AlertState) -> dict[str, Any]:
        return alert_summary(state, clock(), board.source_fresh.get(state.raised.entry.source), max_staleness)

    def detail(state: AlertState) -> dict[str, Any]:
        return alert_detail(state, clock(), board.source_fresh.get(state.raised.entry.source), max_staleness)

    live = LiveQueue(summary)
    board.listeners.append(live.on_change)
    metrics = LifecycleMetrics(lambda: list(board.states.values()), clock)
    board.listeners.append(metrics.observe)
    static = resources.files("streams.console").joinpath("static")

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        public = (request.method, request.path) in _PUBLIC or request.path.startswith("/static/")
        if not public:
            bearer = request.headers.get("Authorization", "")
            token = bearer.removeprefix("Bearer ").strip() if bearer.startswith("Bearer ") else None
            try:
                session = auth.session(token or request.cookies.get(COOKIE), clock())
            except AccessDenied as exc:
                if request.path.startswith("/api/"):
                    return _error(401, str(exc))
                raise web.HTTPSeeOther("/login") from exc
            if request.method in {"POST", "DELETE", "PUT"} and request.content_type != "application/json":
                return _error(415, "send JSON (Content-Type: application/json)")
            request[_SESSION] = session
            needed = _NEEDS.get(request.path.split("/")[2] if request.path.startswith("/api/") else "")
            if needed is not None and not may(session.user, needed):
                return _error(403, f"P21: the {session.user.role} role may not use this ({needed})")
        response = await handler(request)
        response.headers.update(_HEADERS)
        if not public and request.path.startswith("/api/"):
            user = request[_SESSION].user
            log.info(
                "%s %s %s by %s (badge %s)",
                request.method,
                request.path,
                response.status,
                user.name,
                user.badge,
            )
        return response

    async def page(request: web.Request) -> web.Response:
        name = {"/login": "login.html", "/search": "search.html"}.get(request.path, "index.html")
        return web.Response(text=static.joinpath(name).read_text(encoding="utf-8"), content_type="text/html")

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        types = {".js": "text/javascript", ".css": "text/css"}
        kind = next((t for ext, t in types.items() if name.endswith(ext)), None)
        item = static.joinpath(name)
        if kind is None or "/" in name or not item.is_file():
            raise web.HTTPNotFound()
        return web.Response(text=item.read_text(encoding="utf-8"), content_type=kind)

    async def sign_in(request: web.Request) -> web.Response:
        try:
            body = await request.json(loads=orjson.loads)
            name, password, code = str(body["user"]), str(body["password"]), str(body["code"])
        except (ValueError, KeyError, TypeError):
            return _error(400, 'send {"user": ..., "password": ..., "code": "<6-digit TOTP code>"} as JSON')
        channel = "console" if request.headers.get("X-ALPR-Client") == "console" else "api"
        try:
            session = await auth.sign_in(name, password, code, clock(), channel)
        except AccessDenied as exc:
            return _error(401, str(exc))
        response = _json(
            {"token": session.token, "expires_at": session.expires_at.isoformat(), "user": _user(session)}
        )
        response.set_cookie(
            COOKIE,
            session.token,
            httponly=True,
            samesite="Strict",
            secure=settings.secure_cookies,
            max_age=int((session.expires_at - clock()).total_seconds()),
        )
        return response

    async def sign_out(request: web.Request) -> web.Response:
        auth.sign_out(request[_SESSION].token)
        response = _json({"signed_out": True})
        response.del_cookie(COOKIE)
        return response

    async def me(request: web.Request) -> web.Response:
        return _json(_user(request[_SESSION]))

    async def list_alerts(request: web.Request) -> web.Response:
        which = request.query.get("state", "open")
        states = list(board.states.values())
        if which == "open":
            states = [s for s in states if s.is_open]
        elif which != "all":
            states = [s for s in states if s.status == which]
        rows = sorted((summary(s) for s in states), key=queue_key)
        return _json({"alerts": rows, "server_time": clock().isoformat()})

    async def get_alert(request: web.Request) -> web.Response:
        try:
            return _json(detail(await desk.find(request.match_info["alert_id"])))
        except NotFound as exc:
            return _error(404, str(exc))
        except BrokerError as exc:
            return _error(503, str(exc))

    async def post_transition(request: web.Request) -> web.Response:
        alert_id = request.match_info["alert_id"]
        try:
            body = await request.json(loads=orjson.loads)
            if not isinstance(body, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError):
            return _error(400, 'send a JSON object such as {"action": "verify", "note": "..."}')
        action = str(body.get("action", ""))
        if action not in ACTIONS:
            return _error(400, f"action {action!r}: use one of {', '.join(ACTIONS)}")
        fields = {name: str(body[name]) for name in ACTIONS[action][1] if body.get(name) not in (None, "")}
        user = request[_SESSION].user
        try:
            state = await desk.transition(
                alert_id,
                action,
                Actor(user.display, user.badge),
                clock(),
                str(body.get("note", "")),
                **fields,
            )
        except NotFound as exc:
            return _error(404, str(exc))
        except BrokerError as exc:
            return _error(503, str(exc))
        except TransitionRefused as exc:
            log.info("refused %s on %s by %s: %s", action, alert_id, user.name, exc)
            return _error(409, str(exc))
        return _json(detail(state))

    async def search(request: web.Request) -> web.Response:
        """Sightings within the retention, for a justified search (P15-P17, P19-P22). Refusals are
        decided before any data is read and are the same whether or not data exists (P20)."""
        user = request[_SESSION].user
        try:
            body = await request.json(loads=orjson.loads)
            if not isinstance(body, dict):
                raise TypeError("not an object")
            start = datetime.fromisoformat(str(body["from"]))
            end = datetime.fromisoformat(str(body["to"]))
            approved = body.get("approved_on")
            why = Justification(
                str(body.get("purpose", "")),
                str(body.get("crime_type", "")),
                str(body.get("case_number", "")),
                body.get("on_behalf_of") or None,
                body.get("commander") or None,
                date.fromisoformat(approved) if approved else None,
            )
            plate, partial = body.get("plate") or None, body.get("partial") or None
            cameras = frozenset(str(c) for c in body.get("cameras") or [])
        except (ValueError, KeyError, TypeError) as exc:
            return _error(
                400,
                f"bad search ({exc}): send from, to (RFC 3339), purpose, crime_type, case_number, "
                "and plate, partial or cameras",
            )
        now = clock()
        query = {
            "plate": plate,
            "partial": partial,
            "cameras": sorted(cameras),
            "from": start.isoformat(),
            "to": end.isoformat(),
            "on_behalf_of": why.on_behalf_of,
            "commander": why.commander,
            "approved_on": approved,
        }
        decision = authorize(user, "search", why, await directory.load())
        rows: list[dict[str, Any]] = []
        if decision.allowed:
            try:
                found = await replay(
                    settings,
                    ReplayQuery(
                        start,
                        end,
                        why.case_number,
                        why.purpose,
                        plate=plate,
                        partial=partial,
                        cameras=cameras,
                    ),
                    now,
                )
                rows = [s.to_dict() for s in found.sightings]
            except ConfigError as exc:
                return _error(400, str(exc))
        await record_access(settings, access_record(now, user, "search", why, query, len(rows), decision))
        if not decision.allowed:
            return _error(403, f"refused: {decision.reason}")
        return _json({"sightings": rows, "count": len(rows)})

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        async with live.client() as queue:
            rows = sorted((summary(s) for s in board.states.values() if s.is_open), key=queue_key)
            await response.write(
                b"event: snapshot\ndata: "
                + orjson.dumps({"alerts": rows, "server_time": clock().isoformat()})
                + b"\n\n"
            )
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    message = b": keep-alive\n\n"
                await response.write(message)

    async def metrics_page(_request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_request: web.Request) -> web.Response:
        return _json({"ok": True, "alerts": len(board.states), "following": desk.following})

    app = web.Application(middlewares=[guard])
    app.add_routes(
        [
            web.get("/", page),
            web.get("/login", page),
            web.get("/static/{name}", asset),
            web.post("/api/session", sign_in),
            web.delete("/api/session", sign_out),
            web.get("/api/me", me),
            web.get("/api/alerts", list_alerts),
            web.get("/api/alerts/{alert_id}", get_alert),
            web.post("/api/alerts/{alert_id}/transitions", post_transition),
            web.get("/api/events", events),
            web.post("/api/search", search),
            web.get("/search", page),
            web.get("/metrics", metrics_page),
            web.get("/healthz", healthz),
            *transparency_routes(TransparencyFeed(settings, clock)),
            *camera_routes(settings, clock, lambda request: request[_SESSION].user),
        ]
    )
    return app


def _user(session: Session) -> dict[str, Any]:
    u = session.user
    return {
        "name": u.name,
        "display": u.display,
        "badge": u.badge,
        "agency": u.agency,
        "role": u.role,
        "may": sorted(ROLES.get(u.role, frozenset())),
    }


async def serve(settings: Settings, clock: Clock) -> None:
    """Run the console (and the agencies' webhooks) until cancelled."""
    from streams.console.auth import DirectoryAuthenticator
    from streams.console.webhooks import deliver_forever, load_webhooks
    from streams.kafka.principals import principal
    from streams.kafka.topics import create_topics

    auth = DirectoryAuthenticator(settings, timedelta(hours=settings.session_hours))
    hooks = load_webhooks(settings.webhooks) if settings.webhooks else []
    # Only its own topics: under ACLs (streams/kafka/principals.py) the others are not even visible.
    console = principal("alpr-console")
    await create_topics(settings, only={*console.reads, *console.writes})
    desk = AlertDesk(settings)
    app = create_console(settings, desk, auth, clock)
    # Sign-ins and searches are audited as they happen: keep one producer open for them.
    async with desk, process_chain(settings):
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, settings.console_host, settings.console_port).start()
        log.info(
            "console on http://%s:%d (%d alerts folded, %d webhooks)",
            settings.console_host,
            settings.console_port,
            len(desk.board.states),
            len(hooks),
        )
        tasks = [asyncio.create_task(desk.follow())]
        tasks += [asyncio.create_task(deliver_forever(settings, hook, desk.board)) for hook in hooks]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await runner.cleanup()
