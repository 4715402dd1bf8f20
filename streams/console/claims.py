"""Who works an alert (issue 18, item 4): the console's claim and release API.

* ``POST /api/alerts/{id}/claim`` ``{}`` or ``{"take_over": true}``: the signed-in person works the
  alert ("being worked by Dispatcher Ann (badge D-102) since 14:02"); the answer is the alert view.
  Another person's claim is taken only with ``take_over`` (the take-over is recorded with both
  names) unless it is stale (no step for ``ALPR_CLAIM_STALE_MINUTES``); otherwise 409 saying who
  holds it and since when. A closed alert: 409 naming who closed it.
* ``POST /api/alerts/{id}/release`` ``{}``: the holder stops working it; anyone else 409.

A thin adapter over :func:`streams.alerts.usecases.claim` / ``release``, like the CLI's
``alpr alert claim|release``: ``alert.act`` (P21), agency scope with an alert out of scope
answered 404 like a missing one (P19, P20), every claim audited (P15). Each claim changes the
alert's state on the alerts topic, so the live queue pushes it to every console that sees it.
Requests are JSON (the console's guard refuses anything else).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from streams.access.authn import Authenticator
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.alerts import usecases
from streams.alerts.desk import AlertDesk
from streams.alerts.lifecycle import AlertState, TransitionRefused
from streams.console.http import error, json_object, reply
from streams.errors import BrokerError, ConfigError, NotFound
from streams.settings import Settings

__all__ = ["claim_routes"]

log = logging.getLogger("alpr.access")
USAGE = 'send a JSON object: {} to work the alert, {"take_over": true} to take it over from its holder'


def claim_routes(
    settings: Settings,
    desk: AlertDesk,
    auth: Authenticator,
    clock: Callable[[], datetime],
    user_of: Callable[[web.Request], Principal],
    render: Callable[[Principal, AlertState], dict[str, Any]],
) -> list[web.RouteDef]:
    """The claim and release routes; ``user_of`` gives the person the console's guard signed in
    and ``render`` the alert view the answer carries (the same as ``GET /api/alerts/{id}``)."""

    async def change(request: web.Request, release: bool) -> web.Response:
        principal = require(user_of(request), "alert.act")  # P21, before the body is read
        alert_id = request.match_info["alert_id"]
        try:
            body = await json_object(request, empty_ok=True)
        except ConfigError:
            return error(400, USAGE)
        if set(body) - {"take_over"}:
            return error(400, USAGE)
        take_over = body.get("take_over", False)
        if not isinstance(take_over, bool) or (release and take_over):
            return error(400, USAGE if not release else "a release takes no take_over")
        try:
            if release:
                state = await usecases.release(settings, principal, desk, auth.directory, alert_id, clock())
            else:
                state = await usecases.claim(
                    settings, principal, desk, auth.directory, alert_id, clock(), take_over=take_over
                )
        except NotFound as exc:
            return error(404, str(exc))
        except BrokerError as exc:
            return error(503, str(exc))
        except TransitionRefused as exc:
            # "alert ... is being worked by Dispatcher Ann (badge D-102) since ...: take it over"
            log.info(
                "refused %s of %s by %s: %s",
                "release" if release else "claim",
                alert_id,
                principal.label,
                exc,
            )
            return reply({"error": str(exc)}, 409)
        return reply(render(principal, state))

    async def claim(request: web.Request) -> web.Response:
        return await change(request, release=False)

    async def release(request: web.Request) -> web.Response:
        return await change(request, release=True)

    return [
        web.post("/api/alerts/{alert_id}/claim", claim),
        web.post("/api/alerts/{alert_id}/release", release),
    ]
