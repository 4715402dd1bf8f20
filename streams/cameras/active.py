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
"""

from __future__ import annotations

from datetime import datetime

from streams.cameras.registry import Camera, decode_camera
from streams.errors import InvalidRecord
from streams.kafka.log import fold_latest

__all__ = ["ActiveCameras"]


class ActiveCameras:
    def __init__(self) -> None:
        self._cameras: dict[str, Camera] = {}
        self.unreadable: dict[str, str] = {}  # camera id -> why its newest record cannot be used

    def __len__(self) -> int:
        return len(self._cameras)

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
        return None
