"""Which cameras may send reads: the registry as the worker follows it (issue 9, item 1).

A read from a camera that was never registered, or that was retired, is rejected with that reason
(``unknown_camera``, ``retired_camera``) and kept on the reads-rejected topic like every rejected
read: nothing is lost, and nothing from a camera the agency does not account for reaches the hot
lists. A retired camera's reads captured before the day it was retired are still accepted (they
were taken while it was in service and may arrive late).

The worker folds the compacted cameras topic into :class:`ActiveCameras` before it screens its
first read, then follows it. A camera registered a moment before its first read may not be
applied yet: the worker catches the registry up before it rejects a read as unknown (see
``streams/app.py``), so the judgment is that of the registry as of the read's arrival.

P24: an active fixed camera that faces a site of the current sites file is suspended
(streams/cameras/registry.py): its reads are refused with ``camera_suspended``, and the worker keeps
no plate of them (streams/matching/pipeline.py). Reads captured before the site was listed are
refused too: the site stood there before it was listed.
"""

from __future__ import annotations

from datetime import datetime

from streams.cameras.registry import Camera, decode_camera, status_of, suspended_for
from streams.cameras.sites import ExclusionZones, SiteWatch
from streams.errors import InvalidRecord
from streams.kafka.log import fold_latest

__all__ = ["ActiveCameras"]


class ActiveCameras:
    """``sites``: the sensitive sites followed as their file changes; None: no camera is suspended."""

    def __init__(self, sites: SiteWatch | None = None) -> None:
        self._cameras: dict[str, Camera] = {}
        self.unreadable: dict[str, str] = {}  # camera id -> why its newest record cannot be used
        self.sites = sites
        #: camera id -> (the record, the zones it was judged against, why it is suspended or None)
        self._suspended: dict[str, tuple[Camera, ExclusionZones, str | None]] = {}

    def __len__(self) -> int:
        return len(self._cameras)

    def get(self, camera_id: str) -> Camera | None:
        """The camera's newest readable record (None: not registered)."""
        return self._cameras.get(camera_id)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the cameras topic; as after compaction, a key's newest record decides."""
        fold_latest([(key, value)], decode_camera, self._cameras, self.unreadable)

    def refusal(self, camera_id: str, captured_at: datetime) -> InvalidRecord | None:
        """Why a read of this camera, captured then, is not accepted; None when it is."""
        camera = self._cameras.get(camera_id)
        if camera is None:
            why = self.unreadable.get(camera_id)
            return InvalidRecord(
                "unknown_camera",
                f"camera {camera_id!r} is not registered"
                + (f" (its record cannot be read: {why})" if why else ": register it with 'alpr camera add'"),
            )
        if camera.retired_on is not None and captured_at.date() >= camera.retired_on:
            return InvalidRecord(
                "retired_camera",
                f"camera {camera_id} was retired on {camera.retired_on.isoformat()}; "
                f"the read was captured {captured_at.isoformat()}",
            )
        why = self._suspension(camera)
        if why is not None:
            return InvalidRecord("camera_suspended", why)
        return None

    def _suspension(self, camera: Camera) -> str | None:
        """Why the camera is suspended (P24), judged once per record and sites list."""
        if self.sites is None or camera.kind != "fixed":
            return None
        zones = self.sites.zones()
        known = self._suspended.get(camera.id)
        if known is not None and known[0] is camera and known[1] is zones:
            return known[2]
        faced = suspended_for(camera, zones.sites, zones.max_distance_m)
        why = (
            f"camera {camera.id} is {status_of(camera, faced)}: its reads are refused until it is "
            f"moved ('alpr camera update {camera.id} --lat --lon --facing')"
            if faced
            else None
        )
        self._suspended[camera.id] = (camera, zones, why)
        return why
