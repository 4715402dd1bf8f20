"""The images' retention sweep (P11, P12): a read's images go when the read does.

Every read's images captured before ``now - read retention`` are deleted, except those of reads on
evidence hold (P12: the read ids the evidence-holds topic lists now). A hold released, or lapsed,
since the last sweep no longer protects its read: the next sweep removes its images. Run by the
retention service account or an administrator (``image.sweep``, P21), audited with its counts
(P15): ``alpr images sweep``, every minute under ``alpr run``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from streams.access.audit import record_access
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.images.store import ImageStore, open_store, read_digest
from streams.settings import Settings

__all__ = ["SweepResult", "run_sweep", "sweep"]


@dataclass(frozen=True, slots=True)
class SweepResult:
    cutoff: datetime  # images captured before this were due
    deleted_reads: int  # reads whose images were deleted
    deleted_objects: int  # image files or objects removed
    kept_held: int  # reads past the retention kept for an evidence hold (P12)


async def sweep(
    settings: Settings, store: ImageStore, now: datetime, held: set[str], ahead: timedelta = timedelta(0)
) -> SweepResult:
    """Delete the images of every read captured before the retention cutoff whose id is not in
    ``held`` (the pure core: no permission check, no audit; see :func:`run_sweep`). ``ahead``: the
    time to the next sweep; images that will pass the retention before then go now, so none is
    ever kept past it (P11: the retention is a maximum)."""
    cutoff = now - settings.profile.read_retention + ahead  # P11
    held_digests = {read_digest(read_id) for read_id in held}  # P12
    reads = objects = kept = 0
    async for key, _captured in store.older_than(cutoff):
        if key.rsplit("/", 1)[1] in held_digests:
            kept += 1
            continue
        objects += await store.delete(key)
        reads += 1
    return SweepResult(cutoff, reads, objects, kept)


async def run_sweep(
    settings: Settings,
    now: datetime,
    by: Principal,
    store: ImageStore | None = None,
    ahead: timedelta = timedelta(0),
) -> SweepResult:
    """The sweep as a use case: ``by`` may ``image.sweep`` (P21, checked before anything is read);
    the holds as the evidence-holds topic says now; the counts on the audit trail (P15)."""
    from streams.retention.holds import HoldDesk

    require(by, "image.sweep")
    held = set(await HoldDesk(settings).holds())
    result = await sweep(settings, store if store is not None else open_store(settings), now, held, ahead)
    query = {
        "cutoff": result.cutoff.isoformat(),
        "deleted_objects": result.deleted_objects,
        "kept_held": result.kept_held,
    }
    await record_access(
        settings,
        by.audit(now, "image_sweep", query, result.deleted_reads, purpose="read retention (P11, P12)"),
    )
    return result
