"""``alpr ingest``: the HTTP endpoint cameras and vendor gateways post their reads to (issue 9, item 2).

``POST /v1/reads`` with ``Authorization: Bearer <camera key>`` (streams/cameras/keys.py) and a JSON
body: one read (schemas/read.json) or a list of them. The key says which camera is sending: a read
without ``camera_id`` gets the key's camera, a read naming another camera is refused.

What a caller is told, in this order of checks:

* 401: no key, or a key that is not one (the same answer whether or not the camera named in it
  exists, P20). 403: a real key that was revoked, or whose camera is retired.
* 413: a body over ``ALPR_INGEST_MAX_BYTES`` or more reads than ``ALPR_INGEST_MAX_READS``.
* 400: a body that is not JSON, or neither an object nor a non-empty list.
* 403: a read naming a camera other than the key's (each such read's index is listed; a name that
  is no camera id at all is told the id grammar, streams/cameras/ids.py).
* Reads without a position (lat and lon absent or null) are accepted. A fixed camera's take its
  registered position (``position_source`` "camera") and are screened against the exclusion zones
  with it (P24); a mobile camera's stay "position unknown" and cannot be placed in a zone. A read
  with lat but no lon, or lon but no lat, is refused (422).
* A read may carry ``plate_image`` and/or ``overview_image``: the standard base64 of a JPEG or PNG
  (``ALPR_IMAGE_MAX_PLATE_BYTES``, ``ALPR_IMAGE_MAX_OVERVIEW_BYTES``). They are taken off the read,
  stored with its retention (streams/images/, P11, P12) and named by the read's ``image_ref``
  (``alpr-image:<key>``); the read on Kafka never carries image bytes. An image that is not a JPEG
  or PNG by its first bytes, or too large, refuses its read (422, the field named). An excluded
  read's images are never written; those of reads Kafka does not take are deleted again.
* 422: reads that fail schemas/read.json (the codec's own check, streams/codec.py) or whose capture
  time is too far in the future or older than the read retention (P11), each listed with its
  index and reason. **A request is all or nothing**: when any read is refused, none is stored.
* 202 ``{"accepted": n}``: only after Kafka (acks=all, through the project's read producer) has
  acknowledged every read of the request. A read keeps the camera's own capture time, which is
  also its record's Kafka timestamp; a read that arrives late goes to the reads-late topic.
* 202 ``{"accepted": n, "refused": k, "reads": [{"index": i, "reason": ...}]}``: the k reads listed
  arrived too late to be kept within the read retention (reason code ``too_late``, P11) and were
  not stored, and never will be (resending does not help); Kafka has acknowledged the n others.
* 202 ``{"accepted": n, "excluded": k, "reads": [{"index": i, "reason": ...}]}``: the k reads
  listed were captured inside a sensitive site's exclusion zone (reason code ``sensitive_site``,
  P24) and were dropped: never stored, not kept anywhere with their plate or position, counted by
  the site's category (``alpr_reads_excluded_total`` on ``/metrics``). It is not an error: resending
  them does not help. A request may carry both ``excluded`` and ``refused`` reads.
* 403: the camera is suspended (P24): it is fixed and faces a site of the current sites file
  (streams/cameras/registry.py); nothing of the request is stored until it is moved.
* 503 with ``Retry-After``: Kafka did not acknowledge in ``ALPR_INGEST_ACK_TIMEOUT_S``. The answer
  lists the indexes Kafka did acknowledge (stored); the others may or may not have been stored, and
  resending them is safe (alert ids are made from read ids: a read sent twice alerts once).

The cameras and keys are followed live (both compacted topics, within ~0.1 s); a key not known yet
makes the ingest catch up with the topics once before it answers 401, so a camera may post the
moment its key is issued. Nothing plate-level is logged at info or above.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from aiokafka import TopicPartition
from prometheus_client import generate_latest

from streams.cameras.ids import camera_id_problem
from streams.cameras.keys import Admitted, CameraKey, Refused, authenticate, decode_key
from streams.cameras.registry import Camera, decode_camera, site_watch, status_of, suspended_for
from streams.cameras.sites import SiteWatch
from streams.codec import MAX_BATCH_READS, decode_read_batch
from streams.errors import AlprError, ConfigError, InvalidRecord
from streams.images.attach import forget_images, store_images, take_images
from streams.images.store import ImageStore, open_store
from streams.kafka.log import TopicFollower, fold_latest
from streams.metrics import IngestMetrics
from streams.reads.lateness import check_capture_time
from streams.reads.producer import ReadProducer
from streams.settings import Settings

__all__ = [
    "INGEST_TOPICS",
    "Credentials",
    "NotStored",
    "ReadSink",
    "check_reads",
    "create_ingest",
    "excluded_reads",
    "place_reads",
    "serve",
]

log = logging.getLogger("alpr.ingest")
Clock = Callable[[], datetime]
#: The topics the ingest reads (cameras, camera-keys) and writes (reads, reads-late); created when
#: missing.
INGEST_TOPICS = ("reads", "reads-late", "cameras", "camera-keys")
#: How long a caller is asked to wait after a 503.
RETRY_AFTER_S = 5
#: How long a request with an unknown key waits for the ingest to catch up with the key topic.
REFRESH_TIMEOUT_S = 3.0
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _json(data: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        headers={**_HEADERS, **(headers or {})},
    )


# -- the reads of a request (pure) ----------------------------------------------------------------


def check_reads(
    reads: list[Any], now: datetime, max_skew: timedelta, retention: timedelta
) -> list[tuple[int, str]]:
    """(index, reason) of every read that may not be stored; empty when all may.

    The codec's batch check (schemas/read.json, the same code the worker runs); then the capture
    times the worker would refuse (future beyond the skew, older than the retention, P11).
    """
    batch = decode_read_batch(orjson.dumps({"reads": reads}))
    refused = [(position, str(error)) for position, error, *_sent in batch.failed]
    if batch.wires and (
        batch.earliest is None
        or batch.latest is None
        or batch.earliest < now - retention
        or batch.latest > now + max_skew
    ):
        for i, position in enumerate(batch.positions):
            try:
                check_capture_time(batch.read(i), now, max_skew, retention)
            except InvalidRecord as exc:
                refused.append((position, str(exc)))
    return sorted(refused)


def excluded_reads(reads: list[dict[str, Any]], sites: SiteWatch | None) -> list[tuple[int, str, str]]:
    """(index, site category, reason) of every read captured inside a sensitive site's exclusion
    zone (P24), for reads the schema check passed."""
    if sites is None:
        return []
    zones = sites.zones()
    if not len(zones):
        return []
    found: list[tuple[int, str, str]] = []
    for i, read in enumerate(reads):
        if read.get("lat") is None:
            continue  # a mobile camera's read without a position cannot be placed in a zone (P24)
        site = zones.excluded(float(read["lat"]), float(read["lon"]))
        if site is not None:
            reason = (
                f"sensitive_site: captured within {zones.max_distance_m:g} m of site {site.id} "
                f"({site.label}); not stored (P24), do not resend"
            )
            found.append((i, site.category, reason))
    return found


def place_reads(reads: list[Any], camera: Camera) -> int:
    """A fixed camera's reads that carry no position (lat and lon absent or null) take its
    registered position, marked ``position_source`` "camera", so they are screened against the
    exclusion zones (P24) and alerted where the camera stands; a mobile camera's stay "position
    unknown". A read with only one of lat and lon is left for the schema check to refuse.
    Returns how many were placed."""
    if camera.kind != "fixed":
        return 0
    placed = 0
    for read in reads:
        if isinstance(read, dict) and read.get("lat") is None and read.get("lon") is None:
            read["lat"], read["lon"], read["position_source"] = camera.lat, camera.lon, "camera"
            placed += 1
    return placed


def _foreign(read: Any, camera: Camera) -> str | None:
    """Why a read may not come with this camera's key: it names another camera (stating the id
    grammar when the name is not a camera id at all); None when it is the key's."""
    if not isinstance(read, dict) or "camera_id" not in read or read["camera_id"] == camera.id:
        return None
    problem = camera_id_problem(read["camera_id"])
    return problem or f"camera_id {read['camera_id']!r} is not this key's camera"


def _reads_of(data: Any) -> list[Any] | None:
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    return None


# -- who may send: the cameras and keys topics, followed ------------------------------------------


def _name(key: bytes | None) -> str:
    return key.decode("utf-8", "replace") if key is not None else "(no key)"


class Credentials:
    """The registered cameras and their keys as the two compacted topics say now."""

    def __init__(self, settings: Settings) -> None:
        self.cameras_topic = settings.topic("cameras")
        self.keys_topic = settings.topic("camera-keys")
        self.cameras: dict[str, Camera] = {}
        self.keys: dict[str, CameraKey] = {}  # camera id -> its current key
        self.by_digest: dict[str, CameraKey] = {}
        self.unusable_cameras: dict[str, str] = {}  # camera id -> why its record cannot be used
        self.unusable_keys: dict[str, str] = {}
        self.follower = TopicFollower(settings.kafka, [self.cameras_topic, self.keys_topic], self._apply)
        self._refreshing: asyncio.Future[None] | None = None

    def _apply(self, tp: TopicPartition, record: Any) -> None:
        """A record of either topic, folded as compaction keeps it; the digest index follows the keys."""
        item = [(record.key, record.value)]
        if tp.topic == self.cameras_topic:
            fold_latest(item, decode_camera, self.cameras, self.unusable_cameras)
            why = self.unusable_cameras.get(_name(record.key))
            if why:
                log.warning("a camera record cannot be used (its reads are refused): %s", why)
            return
        name = _name(record.key)
        old = self.keys.get(name)
        fold_latest(item, decode_key, self.keys, self.unusable_keys)
        if old is not None:
            self.by_digest.pop(old.sha256, None)
        new = self.keys.get(name)
        if new is not None:
            self.by_digest[new.sha256] = new
        elif name in self.unusable_keys:
            log.warning("a key record cannot be used (its reads are refused): %s", self.unusable_keys[name])

    async def start(self) -> None:
        await self.follower.start()

    async def follow(self) -> None:
        await self.follower.run()

    async def stop(self) -> None:
        await self.follower.stop()

    def check(self, presented: str | None) -> Admitted | Refused:
        return authenticate(presented, self.by_digest, self.cameras)

    async def refresh(self) -> None:
        """Catch up with both topics (one catch-up at a time, shared by every waiting request)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._catch_up())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._refreshing), REFRESH_TIMEOUT_S)

    async def _catch_up(self) -> None:
        try:
            await self.follower.caught_up()
        except Exception as exc:  # noqa: BLE001 - Kafka unreachable: answer with what is known
            log.warning("could not catch up with the camera and key topics: %r", exc)


# -- where accepted reads go ----------------------------------------------------------------------


class NotStored(AlprError):
    """Kafka did not acknowledge every read of a request; ``acknowledged`` lists those it did,
    ``refused`` the (index, reason) of those too late to be stored at all (P11)."""

    def __init__(
        self, message: str, acknowledged: list[int], refused: list[tuple[int, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged
        self.refused = refused or []


def _too_late(future: asyncio.Future[None]) -> InvalidRecord | None:
    """The producer's refusal of a read too late to be stored, if that is how the future ended."""
    if not future.done() or future.cancelled():
        return None
    error = future.exception()
    return error if isinstance(error, InvalidRecord) else None


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # the request was answered already; do not warn that nobody looked


class ReadSink:
    """The project's batching read producer (acks=all), replaced by a fresh one after a failure:
    a producer whose batch failed (its window task may have died with it) is not used again."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timeout_s = float(settings.ingest_ack_timeout_s)
        self._producer: ReadProducer | None = None
        self._restarting: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def _new(self) -> ReadProducer:
        return ReadProducer.for_settings(self.settings, request_timeout_ms=int(self.timeout_s * 1000))

    @property
    def ready(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        producer = self._new()
        await producer.start()
        self._producer = producer

    async def write(self, reads: list[dict[str, Any]]) -> list[tuple[int, str]]:
        """Return once Kafka has every read that may be stored; otherwise :class:`NotStored`. The
        answer: (index, reason) of the reads too late to be kept within the retention (P11)."""
        producer = self._producer
        if producer is None:
            raise NotStored("Kafka is not reachable now", [])
        waiters: list[asyncio.Future[None]] = []
        failure = "Kafka did not acknowledge the reads"
        try:
            async with asyncio.timeout(self.timeout_s):
                for read in reads:
                    waiters.append(await producer.send(read))
                for waiter in waiters:  # one camera's reads share a batch: mostly done together
                    if _too_late(waiter) is None:
                        await waiter
        except TimeoutError:
            failure = f"Kafka did not acknowledge the reads within {self.timeout_s:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure of the producer: report, replace it
            failure = f"Kafka refused the reads: {exc}"
        refused = [(i, str(error)) for i, w in enumerate(waiters) if (error := _too_late(w)) is not None]
        acknowledged = [
            i for i, w in enumerate(waiters) if w.done() and not w.cancelled() and w.exception() is None
        ]
        if len(acknowledged) + len(refused) == len(reads):
            return refused
        for waiter in waiters:
            waiter.add_done_callback(_retrieved)
        self._replace(producer)
        raise NotStored(failure, acknowledged, refused)

    def _replace(self, failed: ReadProducer) -> None:
        if self._producer is not failed:
            return  # another request replaced it already
        log.error("the read producer failed; starting a new one")
        self._producer = None
        closing = asyncio.create_task(self._close(failed))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        self._restarting = asyncio.create_task(self._restart())

    async def _close(self, producer: ReadProducer) -> None:
        try:
            await asyncio.wait_for(producer.close(), self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - it failed already; nothing more to do with it
            log.warning("the failed read producer did not close cleanly: %r", exc)

    async def _restart(self) -> None:
        delay = 0.5
        while self._producer is None:
            try:
                await asyncio.wait_for(self.start(), self.timeout_s)
                log.info("read producer running again")
            except Exception as exc:  # noqa: BLE001 - keep trying; requests get 503 meanwhile
                log.warning("read producer not started (%r); again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def close(self) -> None:
        if self._restarting is not None:
            self._restarting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._restarting
        if self._producer is not None:
            await self._close(self._producer)
            self._producer = None
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


# -- the app --------------------------------------------------------------------------------------


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def create_ingest(
    settings: Settings,
    credentials: Credentials,
    sink: ReadSink,
    clock: Clock,
    sites: SiteWatch | None = None,
    metrics: IngestMetrics | None = None,
    images: ImageStore | None = None,
) -> web.Application:
    """The app; ``sites``: the sensitive sites whose exclusion zones drop reads and whose presence
    suspends fixed cameras (P24), None when none are configured; ``images``: where the reads'
    images go (None: the store the settings name)."""
    if settings.ingest_max_reads > MAX_BATCH_READS:
        raise ConfigError(
            f"ALPR_INGEST_MAX_READS={settings.ingest_max_reads}: "
            f"at most {MAX_BATCH_READS} (the limit of a read batch)"
        )
    max_reads = settings.ingest_max_reads
    max_skew = timedelta(seconds=settings.max_clock_skew_s)
    retention = settings.profile.read_retention
    counts = metrics or IngestMetrics()
    store = images if images is not None else open_store(settings)

    def suspension(camera: Camera) -> str | None:
        if sites is None:
            return None
        zones = sites.zones()
        faced = suspended_for(camera, zones.sites, zones.max_distance_m)
        if not faced:
            return None
        return (
            f"camera {camera.id} is {status_of(camera, faced)}: its reads are refused and not stored "
            "until an administrator moves it"
        )

    async def post_reads(request: web.Request) -> web.Response:
        presented = _bearer(request)
        verdict = credentials.check(presented)
        if isinstance(verdict, Refused) and verdict.status == 401 and presented:
            await credentials.refresh()  # a key issued a moment ago
            verdict = credentials.check(presented)
        if isinstance(verdict, Refused):
            if verdict.camera_id is not None:
                log.warning(
                    "refused camera %s from %s: %s", verdict.camera_id, request.remote, verdict.reason
                )
            headers = {"WWW-Authenticate": 'Bearer realm="alpr-ingest"'} if verdict.status == 401 else None
            return _json({"error": verdict.reason}, verdict.status, headers)
        camera = verdict.camera
        suspended = suspension(camera)
        if suspended is not None:
            log.warning("refused camera %s: suspended (P24)", camera.id)
            return _json({"error": suspended}, 403)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _json(
                {"error": f"the body is over {settings.ingest_max_bytes} bytes: send fewer reads"}, 413
            )
        try:
            reads = _reads_of(orjson.loads(body))
        except orjson.JSONDecodeError as exc:
            return _json({"error": f"the body is not JSON: {exc}"}, 400)
        if reads is None:
            return _json({"error": "the body must be a read (a JSON object) or a list of reads"}, 400)
        if not reads:
            return _json({"error": "the list is empty: send at least one read"}, 400)
        if len(reads) > max_reads:
            return _json({"error": f"{len(reads)} reads: at most {max_reads} in one request"}, 413)
        foreign = [
            {"index": i, "reason": why}
            for i, r in enumerate(reads)
            if (why := _foreign(r, camera)) is not None
        ]
        if foreign:
            log.warning("camera %s sent reads naming another camera; refused", camera.id)
            message = (
                f"this key is camera {camera.id}'s: it may send only that camera's reads; nothing was stored"
            )
            return _json({"error": message, "reads": foreign}, 403)
        for read in reads:
            if isinstance(read, dict):
                read.setdefault("camera_id", camera.id)
        place_reads(reads, camera)
        posted_images, bad_images = take_images(reads, settings)
        refused = sorted(bad_images + check_reads(reads, clock(), max_skew, retention))
        if refused:
            message = f"{len(refused)} of {len(reads)} reads refused; nothing was stored"
            return _json({"error": message, "reads": [{"index": i, "reason": r} for i, r in refused]}, 422)
        excluded = excluded_reads(reads, sites)
        if excluded:
            # P24: dropped here, before anything is written; only the count is kept.
            for _i, category, _reason in excluded:
                counts.excluded.labels(category).inc()
            log.warning(
                "camera %s: %d reads inside a sensitive site's zone dropped (P24)", camera.id, len(excluded)
            )
        dropped = {i for i, _category, _reason in excluded}
        indexes = [i for i in range(len(reads)) if i not in dropped]  # request index of each read sent
        too_late: list[tuple[int, str]] = []
        keys: dict[int, str] = {}  # request index -> the key its images were stored under
        if indexes:
            kept = {i: posted_images[i] for i in indexes if i in posted_images}
            try:  # only the images of reads that may be stored (never an excluded read's, P24)
                keys = await store_images(store, reads, kept)
            except Exception as exc:  # noqa: BLE001 - any failure of the image store: nothing stored, 503
                log.error("camera %s: images not stored: %r", camera.id, exc)
                message = "the images could not be stored; nothing was stored: resend the request"
                return _json({"error": message}, 503, {"Retry-After": str(RETRY_AFTER_S)})
            try:
                too_late = [(indexes[i], r) for i, r in await sink.write([reads[i] for i in indexes])]
            except NotStored as exc:
                log.error("camera %s: %d reads not stored: %s", camera.id, len(indexes), exc)
                taken = {indexes[i] for i in exc.acknowledged}
                await forget_images(store, [key for i, key in keys.items() if i not in taken])
                answer: dict[str, Any] = {
                    "error": f"{exc}; resend the reads not acknowledged (a read sent twice alerts once)",
                    "acknowledged": [indexes[i] for i in exc.acknowledged],
                }
                listed = [(i, r) for i, _c, r in excluded] + [(indexes[i], r) for i, r in exc.refused]
                if listed:
                    answer["reads"] = [{"index": i, "reason": r} for i, r in sorted(listed)]
                return _json(answer, 503, {"Retry-After": str(RETRY_AFTER_S)})
        await forget_images(store, [keys[i] for i, _reason in too_late if i in keys])  # never stored (P11)
        if not too_late and not excluded:
            return _json({"accepted": len(reads)}, 202)
        if too_late:
            log.warning("camera %s: %d reads too late to be kept, not stored (P11)", camera.id, len(too_late))
        result: dict[str, Any] = {"accepted": len(indexes) - len(too_late)}
        if excluded:
            result["excluded"] = len(excluded)
        if too_late:
            result["refused"] = len(too_late)
        listed = [(i, r) for i, _c, r in excluded] + too_late
        result["reads"] = [{"index": i, "reason": r} for i, r in sorted(listed)]
        return _json(result, 202)

    async def healthz(_request: web.Request) -> web.Response:
        ok = credentials.follower.following and sink.ready
        return _json(
            {"following": credentials.follower.following, "producing": sink.ready}, 200 if ok else 503
        )

    async def metrics_page(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(counts.registry), content_type="text/plain")

    app = web.Application(client_max_size=settings.ingest_max_bytes)
    app.add_routes(
        [web.post("/v1/reads", post_reads), web.get("/healthz", healthz), web.get("/metrics", metrics_page)]
    )
    return app


async def serve(settings: Settings, clock: Clock) -> None:
    """Run the ingest until cancelled or sent SIGTERM (requests in progress are answered first)."""
    from streams.kafka.topics import create_topics

    await create_topics(settings, only=INGEST_TOPICS)
    credentials = Credentials(settings)
    await credentials.start()
    sink = ReadSink(settings)
    try:
        await sink.start()
        sites = site_watch(settings)
        if sites is None:
            log.warning(
                "ALPR_SENSITIVE_SITES is not set: reads are not screened against sensitive sites (P24)"
            )
        app = create_ingest(settings, credentials, sink, clock, sites)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.ingest_ack_timeout_s + 1)
        await runner.setup()
        await web.TCPSite(runner, settings.ingest_host, settings.ingest_port).start()
        log.info(
            "ingest on %s (%d cameras, %d keys)",
            ", ".join(f"http://{a[0]}:{a[1]}/v1/reads" for a in runner.addresses),
            len(credentials.cameras),
            len(credentials.keys),
        )
        following = asyncio.create_task(credentials.follow())
        with contextlib.suppress(NotImplementedError):  # not on every platform
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, following.cancel)
        try:
            await following
        except asyncio.CancelledError:
            log.info("ingest stopping")
        finally:
            await runner.cleanup()
    finally:
        await sink.close()
        await credentials.stop()
