"""The dispatch console and the CAD API: one aiohttp app over a live :class:`AlertDesk`.

Pages: ``/login`` and ``/`` (the live queue and the alert view), ``/search``, ``/cameras`` (the
camera registry, administrators) and the public ``/transparency`` (no plate-level data). JSON API
under ``/api``: sessions, alerts, transitions, cameras, and ``/api/events`` (server-sent events:
the queue is pushed, never polled). Every request needs a session (cookie for the browser,
``Authorization: Bearer`` for a CAD system), except sign-in, ``/healthz``, ``/metrics``,
``/transparency`` (counts only, no plate data) and ``/policy`` (the rules, docs/policy.md).
Requests that change state must be JSON, which a cross-site form cannot send.

The app is a thin adapter: who is signed in comes from the shared
:class:`~streams.access.authn.Authenticator` (P18), what they may do from the one permission table
(P21), and which alerts they see and act on from :mod:`streams.alerts.usecases` (agency scope P19,
every view audited P15). Tokens, cookies and Authorization headers never reach a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.access.audit import process_chain
from streams.access.authn import Authenticator
from streams.access.permissions import PERMISSIONS, require
from streams.access.principal import Principal
from streams.alerts import usecases
from streams.alerts.desk import AlertDesk
from streams.alerts.lifecycle import ACTIONS, AlertEvent, AlertState, TransitionRefused
from streams.alerts.model import AlertRaised
from streams.console.admin import admin_routes
from streams.console.cameras import camera_routes
from streams.console.claims import claim_routes
from streams.console.http import error, reply
from streams.console.images import image_routes
from streams.console.maps import content_security_policy, map_routes
from streams.console.policy import POLICY_DOC, policy_html
from streams.console.transparency import TransparencyFeed, transparency_routes
from streams.console.views import alert_detail, alert_summary, queue_key
from streams.errors import AccessDenied, BrokerError, ConfigError, NotFound, NotSignedIn
from streams.metrics import LifecycleMetrics
from streams.settings import Settings

__all__ = ["COOKIE", "LiveQueue", "create_console", "serve"]

log = logging.getLogger("alpr.access")
COOKIE = "alpr_session"
_PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)
_TOKEN: web.RequestKey[str] = web.RequestKey("token", str)
#: No sign-in: the transparency page and its JSON carry counts and policy, no plate-level data.
_PUBLIC = {
    ("POST", "/api/session"),
    ("GET", "/login"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/transparency"),
    ("GET", "/transparency.json"),
    ("GET", "/policy"),  # the public policy reference (docs/policy.md), like the transparency page
}
#: With the Content-Security-Policy of the deployment (streams.console.maps: img-src allows the
#: agency's tile server, when one is configured, and nothing else).
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
#: Sign-in fields (P14, P15: what is typed is bounded before anything is checked or written).
MAX_USER, MAX_PASSWORD, CODE_LENGTHS = 64, 1024, range(6, 9)
#: How often a live stream re-checks its session: a revoked session or a disabled user's stream
#: ends within this (P18).
RECHECK_S = 2.0
Clock = Callable[[], datetime]


# -- the live stream ------------------------------------------------------------------------------


@dataclass(eq=False)
class LiveClient:
    """One connected console: whose it is (re-checked while it runs) and what waits for it."""

    principal: Principal
    queue: asyncio.Queue[AlertState] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    dropped: bool = False


class LiveQueue:
    """Pushes each changed alert to the connected consoles whose principal may see it (P19)."""

    def __init__(self, in_scope: Callable[[Principal, AlertState], bool]) -> None:
        self.in_scope = in_scope
        self.clients: set[LiveClient] = set()

    def on_change(
        self, _before: AlertState | None, _record: AlertRaised | AlertEvent, after: AlertState
    ) -> None:
        for client in list(self.clients):
            if not self.in_scope(client.principal, after):
                continue
            try:
                client.queue.put_nowait(after)
            except asyncio.QueueFull:
                client.dropped = True  # a console that stopped reading: its stream ends; it reconnects
                self.clients.discard(client)

    @contextlib.asynccontextmanager
    async def client(self, principal: Principal) -> AsyncIterator[LiveClient]:
        client = LiveClient(principal)
        self.clients.add(client)
        try:
            yield client
        finally:
            self.clients.discard(client)


def _principal_view(principal: Principal) -> dict[str, Any]:
    return {
        "name": principal.name,
        "display": principal.display,
        "badge": principal.badge,
        "agency": principal.agency,
        "role": principal.role,
        "kind": principal.kind,
        "rank": principal.rank,
        "may": sorted(PERMISSIONS.get(principal.role, frozenset())),
    }


def _token_of(request: web.Request) -> str | None:
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer "):
        return bearer.removeprefix("Bearer ").strip() or None
    return request.cookies.get(COOKIE) or None


def create_console(settings: Settings, desk: AlertDesk, auth: Authenticator, clock: Clock) -> web.Application:
    """Build the app around a desk (and an authenticator) that have not started yet, so the
    lifecycle metrics see the whole retained history as the desk folds it."""
    board = desk.board
    max_staleness = timedelta(seconds=settings.profile.hotlist_max_staleness_s)
    claim_stale = timedelta(minutes=settings.claim_stale_minutes)  # "being worked by" goes stale
    headers = {**_HEADERS, "Content-Security-Policy": content_security_policy(settings.map_tiles)}

    def earlier(principal: Principal, state: AlertState) -> AlertState | None:
        """The earlier closed alert of the same plate and entry, if this principal may see it
        (P19; P20: one out of scope is not hinted at)."""
        found = board.earlier(state)
        return found if found is not None and in_scope(principal, found) else None

    async def record_earlier(principal: Principal, states: list[AlertState]) -> None:
        """P15: the earlier alerts a page names beside these (outcome, who, when) are shown too."""
        shown = [e for e in (earlier(principal, s) for s in states) if e is not None]
        if shown:
            await usecases.record_shown(settings, principal, clock(), "alert_earlier", shown)

    def summary(principal: Principal, state: AlertState) -> dict[str, Any]:
        fresh_at = board.source_fresh.get(state.raised.entry.source)
        return alert_summary(
            state,
            clock(),
            fresh_at,
            max_staleness,
            board.camera_names,
            earlier(principal, state),
            claim_stale_after=claim_stale,
        )

    def detail(principal: Principal, state: AlertState) -> dict[str, Any]:
        return alert_detail(
            state,
            clock(),
            board.source_fresh.get(state.raised.entry.source),
            max_staleness,
            low_confidence=settings.profile.low_confidence,
            entering_agency=usecases.entering_agency(state.raised, auth.directory),
            camera_names=board.camera_names,
            earlier=earlier(principal, state),
            ocr_classes=settings.ocr_classes,
            cameras=board.cameras,
            claim_stale_after=claim_stale,
        )

    def in_scope(principal: Principal, state: AlertState) -> bool:
        return usecases.in_scope(principal, state, auth.directory, board.camera_agency)

    live = LiveQueue(in_scope)
    board.listeners.append(live.on_change)
    metrics = LifecycleMetrics(lambda: list(board.states.values()), clock)
    board.listeners.append(metrics.observe)
    static = resources.files("streams.console").joinpath("static")

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        public = (request.method, request.path) in _PUBLIC or request.path.startswith("/static/")
        api = request.path.startswith("/api/")
        if not public:
            token, now = _token_of(request), clock()
            try:
                principal = auth.principal(token, now)
            except NotSignedIn as exc:
                if api:
                    return error(401, str(exc))
                raise web.HTTPSeeOther("/login") from exc
            token = token or ""  # a principal was found, so there was a token
            await auth.touch(token, now)  # P18: the idle lock counts from the last request
            if request.method in {"POST", "DELETE", "PUT"} and request.content_type != "application/json":
                return error(415, "send JSON (Content-Type: application/json)")
            request[_PRINCIPAL] = principal
            request[_TOKEN] = token
        try:
            response = await handler(request)
        except NotSignedIn as exc:
            response = error(401, str(exc))
        except AccessDenied as exc:
            response = error(403, str(exc))
        if not response.prepared:
            response.headers.update(headers)
        if not public and api:
            log.info(
                "%s %s %s by %s", request.method, request.path, response.status, request[_PRINCIPAL].label
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
        """P18: password and code; every field bounded before anything is checked or written."""
        usage = 'send {"user": ..., "password": ..., "code": "<6-digit authenticator code>"} as JSON'
        try:
            body = await request.json(loads=orjson.loads)
        except ValueError:
            return error(400, usage)
        if not isinstance(body, dict):
            return error(400, usage)
        name, password, code = body.get("user"), body.get("password"), body.get("code")
        if not (isinstance(name, str) and isinstance(password, str) and isinstance(code, str)):
            return error(400, usage)
        if len(name) > MAX_USER or len(password) > MAX_PASSWORD or len(code) not in CODE_LENGTHS:
            return error(
                400,
                f"the user name has at most {MAX_USER} characters, the password at most {MAX_PASSWORD}, "
                "the code 6 to 8 digits",
            )
        channel = "console" if request.headers.get("X-ALPR-Client") == "console" else "api"
        try:
            signed = await auth.sign_in(
                name, password, code, source=request.remote or "unknown", channel=channel, now=clock()
            )
        except AccessDenied as exc:
            return error(401, str(exc))
        response = reply(
            {
                "token": signed.token,
                "expires_at": signed.expires_at.isoformat(),
                "user": _principal_view(signed.principal),
            }
        )
        response.set_cookie(
            COOKIE,
            signed.token,
            httponly=True,
            samesite="Strict",
            secure=settings.secure_cookies,
            max_age=int((signed.expires_at - clock()).total_seconds()),
        )
        return response

    async def sign_out(request: web.Request) -> web.Response:
        await auth.sign_out(request[_TOKEN], clock())
        response = reply({"signed_out": True})
        response.del_cookie(COOKIE)
        return response

    async def me(request: web.Request) -> web.Response:
        return reply(_principal_view(request[_PRINCIPAL]))

    async def list_alerts(request: web.Request) -> web.Response:
        now = clock()
        which = request.query.get("state", "open")
        who = request[_PRINCIPAL]
        if which == "closed":
            return await closed_page(request, who, now)
        states = await usecases.list_alerts(settings, who, board, auth.directory, now, which)
        rows = sorted((summary(who, s) for s in states), key=queue_key)  # the most urgent first
        await record_earlier(who, states)
        return reply({"alerts": rows, "server_time": now.isoformat()})

    async def closed_page(request: web.Request, who: Principal, now: datetime) -> web.Response:
        """A page of the Closed tab, newest closing first (``limit``, ``older``: the cursor the
        previous page answered, ``q``: the search); only the page shown is audited (P15)."""
        try:
            limit = int(request.query.get("limit", usecases.CLOSED_PAGE))
        except ValueError:
            return error(400, "limit is a number of alerts per page, e.g. limit=50")
        try:
            page = await usecases.closed_alerts(
                settings,
                who,
                board,
                auth.directory,
                now,
                query=request.query.get("q", ""),
                older=request.query.get("older") or None,
                limit=limit,
            )
        except ConfigError as exc:
            return error(400, str(exc))
        await record_earlier(who, page.alerts)
        rows = [summary(who, s) for s in page.alerts]
        return reply({"alerts": rows, "older": page.older, "server_time": now.isoformat()})

    async def get_alert(request: web.Request) -> web.Response:
        try:
            state = await usecases.alert_detail(
                settings, request[_PRINCIPAL], desk, auth.directory, request.match_info["alert_id"], clock()
            )
        except NotFound as exc:
            return error(404, str(exc))
        except BrokerError as exc:
            return error(503, str(exc))
        await record_earlier(request[_PRINCIPAL], [state])
        return reply(detail(request[_PRINCIPAL], state))

    async def post_transition(request: web.Request) -> web.Response:
        principal = require(request[_PRINCIPAL], "alert.act")
        alert_id = request.match_info["alert_id"]
        try:
            body = await request.json(loads=orjson.loads)
            if not isinstance(body, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError):
            return error(400, 'send a JSON object such as {"action": "verify", "note": "..."}')
        action = str(body.get("action", ""))
        if action not in ACTIONS:
            return error(400, f"action {action!r}: use one of {', '.join(ACTIONS)}")
        # Typed as sent: P7's tick boxes are JSON true/false and acknowledgements a list of names;
        # the use case refuses anything else.
        fields = {name: body[name] for name in ACTIONS[action][1] if body.get(name) not in (None, "")}
        try:
            state = await usecases.transition(
                settings,
                principal,
                desk,
                auth.directory,
                alert_id,
                action,
                clock(),
                str(body.get("note", "")),
                **fields,
            )
        except NotFound as exc:
            return error(404, str(exc))
        except BrokerError as exc:
            return error(503, str(exc))
        except TransitionRefused as exc:
            # A step another person's step overtook says who acted and when, from the alert's
            # history (streams.alerts.lifecycle): "it was already rejected (misread) by ...".
            log.info("refused %s on %s by %s: %s", action, alert_id, principal.label, exc)
            return error(409, str(exc))
        return reply(detail(principal, state))

    async def search(request: web.Request) -> web.Response:
        """The justified search (P15-P17, P19-P22): one use case, shared with the CLI; it checks,
        refuses, bounds and audits; this handler only carries JSON in and out."""
        from streams.access.search import search as justified_search

        try:
            body = await request.json(loads=orjson.loads)
            if not isinstance(body, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError):
            body = {"malformed": True}  # the use case refuses it, and audits the refusal
        try:
            found = await justified_search(settings, request[_PRINCIPAL], body, clock(), auth.directory)
        except ConfigError as exc:
            return error(400, str(exc))
        return reply(found)

    async def events(request: web.Request) -> web.StreamResponse:
        """The live queue (server-sent events): a snapshot of the open alerts in scope, then each
        change in scope. Each delivery is audited (P15); the session is re-checked every
        :data:`RECHECK_S` seconds and the stream ends when it is no longer valid (P18)."""
        principal, token = request[_PRINCIPAL], request[_TOKEN]
        require(principal, "alert.view")
        response = web.StreamResponse(
            headers={
                **headers,
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        async with live.client(principal) as client:
            now = clock()
            states = await usecases.list_alerts(
                settings, principal, board, auth.directory, now, "open", action="alert_live_snapshot"
            )
            await response.prepare(request)
            rows = sorted((summary(principal, s) for s in states), key=queue_key)
            await record_earlier(principal, states)
            await response.write(
                b"event: snapshot\ndata: "
                + orjson.dumps({"alerts": rows, "server_time": now.isoformat()})
                + b"\n\n"
            )
            while not client.dropped:
                try:
                    batch = [await asyncio.wait_for(client.queue.get(), timeout=RECHECK_S)]
                except TimeoutError:
                    batch = []
                while not client.queue.empty() and len(batch) < usecases.AUDIT_CHUNK:
                    batch.append(client.queue.get_nowait())
                now = clock()
                try:
                    client.principal = auth.principal(token, now)
                except NotSignedIn as exc:
                    await response.write(
                        b"event: signed_out\ndata: " + orjson.dumps({"reason": str(exc)}) + b"\n\n"
                    )
                    break
                batch = [s for s in batch if in_scope(client.principal, s)]
                if not batch:
                    await response.write(b": keep-alive\n\n")
                    continue
                await usecases.record_shown(settings, client.principal, now, "alert_live", batch)
                await record_earlier(client.principal, batch)
                await response.write(
                    b"".join(
                        b"event: alert\ndata: " + orjson.dumps(summary(client.principal, s)) + b"\n\n"
                        for s in batch
                    )
                )
        return response

    async def metrics_page(_request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def policy(_request: web.Request) -> web.Response:
        """The policy reference, P1-P28 (public): pages link their rule ids to ``/policy#P7``."""
        from pathlib import Path

        source = Path(__file__).resolve().parents[2] / POLICY_DOC
        if not source.is_file():
            raise web.HTTPNotFound(text=f"the policy reference is {POLICY_DOC} in the source repository")
        return web.Response(text=policy_html(source.read_text(encoding="utf-8")), content_type="text/html")

    async def healthz(_request: web.Request) -> web.Response:
        return reply({"ok": True, "alerts": len(board.states), "following": desk.following})

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
            web.get("/policy", policy),
            *transparency_routes(TransparencyFeed(settings, clock)),
            *camera_routes(settings, clock, lambda request: request[_PRINCIPAL]),
            *image_routes(settings, desk, auth, clock, lambda request: request[_PRINCIPAL]),
            *claim_routes(settings, desk, auth, clock, lambda request: request[_PRINCIPAL], detail),
            *admin_routes(settings, clock, lambda request: request[_PRINCIPAL]),
            *map_routes(settings, lambda request: request[_PRINCIPAL]),
        ]
    )
    return app


async def serve(settings: Settings, clock: Clock) -> None:
    """Run the console (and the agencies' webhooks) until cancelled."""
    from streams.console.webhooks import run_webhooks
    from streams.kafka.principals import principal
    from streams.kafka.topics import create_topics

    # Only its own topics: under ACLs (streams/kafka/principals.py) the others are not even visible.
    console = principal("alpr-console")
    await create_topics(settings, only={*console.reads, *console.writes})
    auth = Authenticator(settings)
    desk = AlertDesk(settings)
    app = create_console(settings, desk, auth, clock)
    # Sign-ins and views are audited as they happen: keep one producer open for them.
    async with auth, desk, process_chain(settings):
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, settings.console_host, settings.console_port).start()
        log.info(
            "console on http://%s:%d (%d alerts folded)",
            settings.console_host,
            settings.console_port,
            len(desk.board.states),
        )
        tasks = [asyncio.create_task(desk.follow()), asyncio.create_task(run_webhooks(settings, desk.board))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await runner.cleanup()
