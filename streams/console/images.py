"""An alert's images in the console (issue 18, item 1): ``GET /api/alerts/{alert_id}/images/{kind}``.

``kind`` is ``plate`` (the plate crop) or ``overview`` (the vehicle and scene); ``?read=<read_id>``
asks for a sighting's read of the same alert instead of the alert's own. The handler is a thin
adapter over :func:`streams.alerts.images.alert_image` (P21 ``alert.view``, P19/P20 scope, P15
audit, P7 the image recorded as shown to the person): it only carries the bytes out.

The answer is the image as stored (JPEG or PNG, recognised by its bytes when it was stored), with
``X-Content-Type-Options: nosniff`` (a browser never reads it as anything else),
``Cache-Control: no-store`` (read data stays out of caches, P11) and ``Content-Disposition:
inline``. 401 without a session, 403 for a role without ``alert.view``, 404 for an alert that is
missing or not in the principal's scope (the same answer, P20) and for a read without that image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from streams.access.authn import Authenticator
from streams.access.principal import Principal
from streams.alerts.desk import AlertDesk
from streams.alerts.images import alert_image
from streams.console.http import error
from streams.errors import BrokerError, ConfigError, NotFound
from streams.images.store import ImageStore, open_store
from streams.settings import Settings

__all__ = ["IMAGE_HEADERS", "image_routes"]

log = logging.getLogger("alpr.access")
IMAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Disposition": "inline",
}


def image_routes(
    settings: Settings,
    desk: AlertDesk,
    auth: Authenticator,
    clock: Callable[[], datetime],
    user_of: Callable[[web.Request], Principal],
    store: ImageStore | None = None,
) -> list[web.RouteDef]:
    """The image route; ``user_of`` gives the signed-in user the console's guard found (the guard
    answers 401 before this handler runs). The store is the settings' (local or S3) unless given."""
    images = store or open_store(settings)

    async def image(request: web.Request) -> web.Response:
        try:
            shown = await alert_image(
                settings,
                user_of(request),
                desk,
                auth.directory,
                images,
                request.match_info["alert_id"],
                request.match_info["kind"],
                clock(),
                request.query.get("read") or None,
            )
        except ConfigError as exc:
            return error(400, str(exc))
        except NotFound as exc:
            return error(404, str(exc))
        except BrokerError as exc:
            return error(503, str(exc))
        return web.Response(
            body=shown.image.data, content_type=shown.image.content_type, headers=IMAGE_HEADERS
        )

    return [web.get("/api/alerts/{alert_id}/images/{kind}", image)]
