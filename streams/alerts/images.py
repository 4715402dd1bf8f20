"""An alert's images, served to a person who may see the alert (issue 18, item 1; P7, P15, P19-P21).

The console's image endpoint and ``alpr alert image`` are thin adapters over :func:`alert_image`:

* P21: ``alert.view`` first, before anything is read; P19/P20: the alert must be in the
  principal's scope, and one out of scope answers exactly like a missing one (the alert detail's
  rule, :mod:`streams.alerts.usecases`).
* Which image: a read's ``image_ref`` names the project's store only when it is the ref recomputed
  from the read itself (:func:`streams.alerts.lifecycle.stored_image`); a key that came over the
  wire is never used, so nobody reaches another read's images by forging a ref. A vendor URL is not
  fetched (the page links it; the person attests, as before).
* P15: every image served is audited (who, which alert and plate, which read, which kind).
* P7: serving an image records an ``AlertImageShown`` event on the alerts topic, once per person,
  read and kind, so that every front end and process knows who saw the plate image before verifying.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from streams.access.directory import Directory
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.alerts.desk import AlertDesk
from streams.alerts.lifecycle import Actor, AlertState, stored_image
from streams.alerts.usecases import record_shown, scoped
from streams.errors import ConfigError, NotFound
from streams.images.store import KINDS, ImageStore, StoredImage, image_key, image_ref
from streams.settings import Settings

__all__ = ["ACTION", "ShownImage", "alert_image", "image_read"]

ACTION = "alert_image"  # the audit action of an image served (P15)


@dataclass(frozen=True, slots=True)
class ShownImage:
    read_id: str
    kind: str
    image: StoredImage


def image_read(state: AlertState, read_id: str | None) -> tuple[str, str | None]:
    """The read of this alert whose image is asked for (its id, and its store key, or None when its
    images are not in the project's store); ``read_id`` None is the alert's own read, else one of its
    sightings. Raises :class:`NotFound` for a read that is not the alert's."""
    read = state.raised.read
    if read_id is None or read_id == read.read_id:
        return read.read_id, image_key(read.read_id, read.captured_at) if stored_image(read) else None
    for seen in state.sightings:
        if seen.read_id == read_id:
            captured = seen.captured_at
            if captured is None or seen.image_ref != image_ref(read_id, captured):
                return read_id, None
            return read_id, image_key(read_id, captured)
    raise NotFound(f"alert {state.alert_id} has no read {read_id}: use the alert's read or a sighting's")


async def alert_image(
    settings: Settings,
    principal: Principal | None,
    desk: AlertDesk,
    directory: Directory,
    store: ImageStore,
    alert_id: str,
    kind: str,
    now: datetime,
    read_id: str | None = None,
) -> ShownImage:
    """The stored image of one of the alert's reads, served to the principal: audited (P15) and
    recorded as shown to them (P7). Raises :class:`NotFound` for an alert that is missing or out of
    scope (the same words, P20) and for a read without that image; nothing is audited as served
    and nothing recorded then."""
    who = require(principal, "alert.view")
    if kind not in KINDS:
        raise ConfigError(f"image kind {kind!r}: use one of {', '.join(KINDS)}")
    state = await scoped(settings, who, desk, directory, alert_id, now, ACTION)
    shown_read, key = image_read(state, read_id)
    image = None if key is None else await store.get(key, kind)
    if image is None:
        raise NotFound(
            f"alert {alert_id}: read {shown_read} has no {kind} image in the store (the camera sent "
            "none, or it is past its retention, P11): verify against the read text"
        )
    await record_shown(settings, who, now, ACTION, [state], read=shown_read, kind=kind)
    await desk.image_shown(alert_id, Actor(who.display, who.badge or ""), now, shown_read, kind)
    return ShownImage(shown_read, kind, image)
