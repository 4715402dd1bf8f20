"""Outgoing webhooks: an eligible agency's CAD system receives the lifecycle of its alerts (P19).

Who receives what is data, not a file: one record per recipient agency on the compacted
``webhooks`` topic, written only by a signed-in administrator (``webhook.admin``) through
:func:`add_webhook` / :func:`remove_webhook` (``alpr webhook add|remove|list``), each change
audited with the actor (P15). A recipient must be an agency of the directory that may receive ALPR
data at all (:meth:`Directory.sharing_refusal`: allowed by the home agency's state law -- law
enforcement of that state, never federal, commercial, private or out-of-state -- with an agreement
on file, P19), and its camera patterns may only cover cameras
it may see (its own agency's, or those of agencies sharing with it: ``Directory.sees_agency``).

The URL is parsed, not prefix-matched: ``https://`` with a host and no user information, or
``http://`` to the loopback host exactly (``127.0.0.1``, ``::1``, ``localhost``), so that
``http://127.0.0.1.evil.example`` and ``http://localhost@attacker.example`` are refused. Both
``urllib.parse`` and ``yarl`` (what aiohttp sends with) must read the same host. The HMAC secret
stays in the console's environment: the record holds only the variable's name.

:func:`run_webhooks` (run by the console) follows the webhooks, agencies and cameras topics and
POSTs each alert record of a recipient's cameras as JSON, in topic order, with
``X-ALPR-Signature: sha256=<hex HMAC of the body>`` and ``X-ALPR-Event-Id``. Before every attempt
it catches up with the directory and checks again that the webhook still stands, the agency is
still eligible and the camera is still in its scope: an agency whose agreement ended gets nothing
more. Delivery is at least once: a consumer group per webhook commits a record only after the
receiver answered 2xx *and* the access record of that delivery (recipient agency, alert, plate,
webhook) is on the audit topic (P15); a failure is retried (1 s doubling to 60 s) without skipping
ahead, so a receiver must de-duplicate by event id. A webhook receives records written after it
was added, never the backlog before it.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import orjson
import yarl
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams.access.audit import AccessRecorded, record_access, write_audited
from streams.access.directory import Directory, DirectoryStore, _agency
from streams.access.permissions import require
from streams.access.principal import Principal
from streams.alerts.desk import AlertBoard
from streams.errors import AlprError, BrokerError, ConfigError, InvalidRecord, NotFound, PolicyViolation
from streams.kafka.log import TopicFollower, read_latest
from streams.settings import Settings

__all__ = [
    "LOOPBACK_HOSTS",
    "Webhook",
    "WebhookRunner",
    "add_webhook",
    "check_url",
    "group_id",
    "list_webhooks",
    "load_webhooks",
    "remove_webhook",
    "run_webhooks",
    "scope_refusals",
    "signature",
]

log = logging.getLogger(__name__)

#: The only hosts a webhook may reach over plain http: this machine, by its exact name (alerts are
#: CJI and cross no network unencrypted).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_URL = 2048
MAX_PATTERNS = 64
#: A camera pattern: the characters of camera ids (streams/cameras/registry.py) and shell wildcards.
PATTERN = re.compile(r"[A-Za-z0-9._:*?\[\]!-]{1,64}")
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
#: The purpose on every audit record of this module (P15).
ADMIN_PURPOSE = "webhook administration"
DELIVERY_PURPOSE = "CAD alert notification to an eligible agency (webhook, P19)"
#: How long a delivery waits for the directory to catch up before it tries again.
CATCH_UP_S = 10.0


# -- the recipient record --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Webhook:
    """One recipient: an agency, its endpoint, the *name* of the variable holding the HMAC secret,
    and the cameras whose alerts it receives (shell patterns over camera ids)."""

    agency: str
    url: str
    secret_env: str
    cameras: tuple[str, ...]
    webhook_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    added_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    added_by: str = ""

    def wants(self, camera_id: str) -> bool:
        return any(fnmatch.fnmatchcase(camera_id, pattern) for pattern in self.cameras)

    @property
    def added_ms(self) -> int:
        return int(self.added_at.timestamp() * 1000)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "url": self.url,
            "secret_env": self.secret_env,
            "cameras": list(self.cameras),
            "webhook_id": self.webhook_id,
            "added_at": self.added_at.astimezone(UTC).isoformat(),
            "added_by": self.added_by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Webhook:
        """A record read back from the topic, checked as :func:`add_webhook` checks it: a record
        written around the use case (by hand, by an older version) is refused, never delivered to."""
        try:
            added_at = datetime.fromisoformat(str(data["added_at"]))
            hook = cls(
                str(data["agency"]),
                check_url(str(data["url"])),
                _check_env_name(str(data["secret_env"])),
                _check_patterns(tuple(str(p) for p in data["cameras"])),
                str(data["webhook_id"]),
                added_at,
                str(data.get("added_by", "")),
            )
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise InvalidRecord("schema", f"webhook record: {exc}") from exc
        if added_at.tzinfo is None:
            raise InvalidRecord("schema", f"webhook record: added_at {data['added_at']!r} has no offset")
        return hook


def group_id(settings: Settings, hook: Webhook) -> str:
    """The consumer group of one webhook (a new one each time a webhook is added: a re-added
    recipient does not receive what was written while it had none). Under the console's
    ``-webhook-`` group prefix (streams/kafka/principals.py)."""
    return f"{settings.app_id}-webhook-{hook.agency}-{hook.webhook_id}"


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


# -- checks ------------------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """The URL, if alerts (CJI) may be sent there; else :class:`ConfigError` saying why.

    Parsed twice, by ``urllib.parse`` and by ``yarl`` (aiohttp's parser), which must agree on the
    host: a URL two parsers read differently is refused rather than guessed at."""
    if not url or len(url) > MAX_URL:
        raise ConfigError(f"a webhook URL has 1 to {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in url):
        raise ConfigError("a webhook URL has no spaces, control characters or backslashes")
    shown = url[:80]
    try:
        parts = urlsplit(url)
        port = parts.port  # a bad port raises here
        parsed = yarl.URL(url)
    except ValueError as exc:
        raise ConfigError(f"webhook URL {shown!r} cannot be parsed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ConfigError(f"webhook URL {shown!r}: use https:// (alerts are CJI)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ConfigError(
            f"webhook URL {shown!r} carries user information (user@host): name the host alone; "
            "the receiver authenticates us by the HMAC signature"
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise ConfigError(f"webhook URL {shown!r} has no host")
    if parsed.host is None or parsed.host.lower().strip("[]") != host or parsed.user is not None:
        raise ConfigError(f"webhook URL {shown!r} is read differently by different parsers: refused")
    if port == 0:
        raise ConfigError(f"webhook URL {shown!r}: port 0 is not a port")
    if parts.fragment:
        raise ConfigError(f"webhook URL {shown!r}: drop the #fragment")
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"webhook URL {shown!r}: plain http only to this machine ({', '.join(sorted(LOOPBACK_HOSTS))}); "
            "use https:// (alerts are CJI)"
        )
    if scheme == "https" and not _valid_host(host):
        raise ConfigError(f"webhook URL {shown!r}: {host!r} is not a host name or address")
    return url


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.rstrip(".").split(".")
        return all(re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", label) for label in labels)
    return True


def _check_env_name(name: str) -> str:
    if not ENV_NAME.fullmatch(name):
        raise ConfigError(
            f"secret variable {name[:64]!r}: name an environment variable (A-Z, 0-9, _) of the console, "
            "not the secret itself"
        )
    return name


def _check_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    if not patterns:
        raise ConfigError("name the cameras: --camera PATTERN (shell patterns over camera ids)")
    if len(patterns) > MAX_PATTERNS:
        raise ConfigError(f"at most {MAX_PATTERNS} camera patterns")
    for pattern in patterns:
        if not PATTERN.fullmatch(pattern):
            raise ConfigError(
                f"camera pattern {pattern[:64]!r}: camera id characters and * ? [ ] only, 1-64 long"
            )
    return tuple(dict.fromkeys(patterns))


def scope_refusals(
    directory: Directory, cameras: Mapping[str, str], agency_id: str, patterns: Iterable[str]
) -> list[str]:
    """For each pattern that matches a camera ``agency_id`` may not see (``cameras``: camera id ->
    operating agency), what it matches out of scope (P19). Empty: every camera matched is in scope."""
    problems = []
    for pattern in patterns:
        outside = sorted(
            {
                owner
                for camera_id, owner in cameras.items()
                if fnmatch.fnmatchcase(camera_id, pattern) and not directory.sees_agency(agency_id, owner)
            }
        )
        if outside:
            problems.append(
                f"{pattern!r} matches cameras of {', '.join(outside)}, which do not share with {agency_id}"
            )
    return problems


# -- use cases ---------------------------------------------------------------------------------------


async def load_webhooks(settings: Settings) -> dict[str, Webhook]:
    """The recipients on the webhooks topic now, by agency; unreadable records are left out."""
    out: dict[str, Webhook] = {}
    for key, latest in (await read_latest(settings.kafka, settings.topic("webhooks"))).items():
        try:
            out[key.decode()] = Webhook.from_dict(orjson.loads(latest.value))
        except (InvalidRecord, orjson.JSONDecodeError) as exc:
            log.warning("webhook record %r left out: %s", key[:64], exc)
    return out


async def _camera_owners(settings: Settings) -> dict[str, str]:
    from streams.cameras.registry import CameraStore

    registry = await CameraStore(settings).load()
    return {camera_id: camera.agency for camera_id, camera in registry.cameras.items()}


def _shown_url(url: str) -> str:
    """The URL as the audit trail shows it: without its query (which may carry a receiver's key)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def add_webhook(
    settings: Settings,
    principal: Principal | None,
    agency: str,
    url: str,
    secret_env: str,
    cameras: Sequence[str],
    now: datetime,
) -> Webhook:
    """Set (or replace) ``agency``'s webhook. Needs ``webhook.admin`` (P21); refused, with nothing
    written, for an agency that may not receive ALPR data or patterns reaching cameras it may not
    see (P19), and for a URL alerts may not travel to. Audited with the actor (P15)."""
    by = require(principal, "webhook.admin")
    url = check_url(url)
    _check_env_name(secret_env)
    patterns = _check_patterns(tuple(cameras))
    directory = await DirectoryStore(settings).load()
    refusal = directory.sharing_refusal(agency)
    if refusal is not None:
        raise PolicyViolation("P19", f"refused: {refusal}; nothing was written")
    problems = scope_refusals(directory, await _camera_owners(settings), agency, patterns)
    if problems:
        raise PolicyViolation(
            "P19",
            "refused: a recipient receives only the alerts of cameras it may see: "
            + "; ".join(problems)
            + "; name its own cameras (or those of agencies sharing with it); nothing was written",
        )
    previous = (await load_webhooks(settings)).get(agency)
    hook = Webhook(agency, url, secret_env, patterns, added_at=now, added_by=by.name)
    query: dict[str, Any] = {
        "webhook": hook.webhook_id,
        "agency": agency,
        "url": _shown_url(url),
        "cameras": list(patterns),
        "secret_env": secret_env,
    }
    if previous is not None:
        query["replaces"] = previous.webhook_id
    await write_audited(
        settings,
        [(settings.topic("webhooks"), agency.encode(), orjson.dumps(hook.to_dict()))],
        by.audit(now, "webhook_add", query, 1, purpose=ADMIN_PURPOSE),
    )
    return hook


async def remove_webhook(
    settings: Settings, principal: Principal | None, agency: str, now: datetime
) -> Webhook:
    """Stop sending ``agency`` alerts (a tombstone); needs ``webhook.admin`` (P21), audited (P15)."""
    by = require(principal, "webhook.admin")
    hook = (await load_webhooks(settings)).get(agency)
    if hook is None:
        raise NotFound(f"no webhook for agency {agency[:64]!r}: see alpr webhook list")
    await write_audited(
        settings,
        [(settings.topic("webhooks"), agency.encode(), None)],  # type: ignore[list-item]
        by.audit(
            now,
            "webhook_remove",
            {"webhook": hook.webhook_id, "agency": agency, "url": _shown_url(hook.url)},
            1,
            purpose=ADMIN_PURPOSE,
        ),
    )
    return hook


async def list_webhooks(settings: Settings, principal: Principal | None) -> list[Webhook]:
    """The recipients, by agency; needs ``webhook.admin`` (P21). Shows no secret: only its name."""
    require(principal, "webhook.admin")
    hooks = await load_webhooks(settings)
    return [hooks[agency] for agency in sorted(hooks)]


# -- delivery ----------------------------------------------------------------------------------------

Verdict = Literal["deliver", "skip", "stop"]


@dataclass(frozen=True, slots=True)
class Delivered:
    """One record a receiver took (for tests and the log)."""

    webhook_id: str
    agency: str
    alert_id: str
    event_id: str


class WebhookRunner:
    """Delivers every webhook of the topic, each in its own task with its own consumer group.

    It follows the webhooks, agencies and cameras topics: a webhook added starts, one removed or
    replaced stops, and every delivery attempt is checked against the newest directory (P19)."""

    def __init__(
        self,
        settings: Settings,
        board: AlertBoard,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.board = board
        self.env = os.environ if env is None else env
        self.clock = clock or (lambda: datetime.now(UTC))
        self.hooks: dict[str, Webhook] = {}
        self.directory = Directory({}, {})
        self.camera_owner: dict[str, str] = {}
        self.delivered: list[Delivered] = []
        #: per (webhook id, partition): one past the last alert record handled (delivered or skipped)
        self.positions: dict[tuple[str, int], int] = {}
        self.progress = asyncio.Condition()
        self._topics = {
            "webhooks": settings.topic("webhooks"),
            "agencies": settings.topic("agencies"),
            "cameras": settings.topic("cameras"),
        }
        self._follower = TopicFollower(settings.kafka, list(self._topics.values()), self._apply)
        self._changed = asyncio.Event()

    # the followed state

    def _apply(self, tp: TopicPartition, record: Any) -> None:
        if record.key is None:
            return
        key = record.key.decode("utf-8", "replace")
        if tp.topic == self._topics["agencies"]:
            self.directory.agencies.pop(key, None)
            if record.value is not None:
                self.directory.agencies[key] = _agency(orjson.loads(record.value))
        elif tp.topic == self._topics["cameras"]:
            self._apply_camera(record.key, record.value)
        else:
            self.hooks.pop(key, None)
            if record.value is not None:
                try:
                    self.hooks[key] = Webhook.from_dict(orjson.loads(record.value))
                except (InvalidRecord, orjson.JSONDecodeError) as exc:
                    log.error("webhook record %r refused, nothing is sent for it: %s", key[:64], exc)
            self._changed.set()

    def _apply_camera(self, key: bytes, value: bytes | None) -> None:
        from streams.cameras.registry import decode_camera

        name = key.decode("utf-8", "replace")
        self.camera_owner.pop(name, None)
        if value is not None:
            try:
                self.camera_owner[name] = decode_camera(key, value).agency
            except InvalidRecord as exc:  # its alerts go nowhere until the camera is valid again
                log.warning("camera %r unreadable, its alerts are not sent by webhook: %s", name[:64], exc)

    def verdict(self, hook: Webhook, camera_id: str) -> tuple[Verdict, str]:
        """Whether a record of ``camera_id`` goes to ``hook`` now (P19), and why not."""
        current = self.hooks.get(hook.agency)
        if current is None or current.webhook_id != hook.webhook_id:
            return "stop", "the webhook was removed or replaced"
        refusal = self.directory.sharing_refusal(hook.agency)
        if refusal is not None:
            return "skip", refusal
        if not hook.wants(camera_id):
            return "skip", f"camera {camera_id} is not one of the webhook's"
        owner = self.camera_owner.get(camera_id)
        if owner is None:
            return "skip", f"camera {camera_id} is not in the registry: its agency is unknown"
        if not self.directory.sees_agency(hook.agency, owner):
            return (
                "skip",
                f"P19: camera {camera_id} belongs to {owner}, which does not share with {hook.agency}",
            )
        return "deliver", ""

    async def recheck(self, hook: Webhook, camera_id: str) -> tuple[Verdict, str]:
        """:meth:`verdict` after catching up with everything written to the directory so far."""
        try:
            await asyncio.wait_for(self._follower.caught_up(), CATCH_UP_S)
        except TimeoutError as exc:
            raise BrokerError(
                f"the webhooks could not catch up with the directory within {CATCH_UP_S:.0f} s"
            ) from exc
        return self.verdict(hook, camera_id)

    # running

    async def run(self) -> None:
        """Deliver until cancelled."""
        await self._follower.start()
        follow = asyncio.create_task(self._follower.run())
        tasks: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                current = {hook.webhook_id: hook for hook in self.hooks.values()}
                for webhook_id in set(tasks) - set(current):
                    tasks.pop(webhook_id).cancel()
                for webhook_id, hook in current.items():
                    if webhook_id not in tasks:
                        tasks[webhook_id] = asyncio.create_task(self._keep_delivering(hook))
                changed = asyncio.create_task(self._changed.wait())
                await asyncio.wait({follow, changed}, return_when=asyncio.FIRST_COMPLETED)
                if follow.done():
                    changed.cancel()
                    follow.result()  # the follower's error ends the webhooks (the console logs it)
                    raise BrokerError("the webhooks stopped following the directory")
                self._changed.clear()
        finally:
            follow.cancel()
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(follow, *tasks.values(), return_exceptions=True)
            await self._follower.stop()

    async def _keep_delivering(self, hook: Webhook) -> None:
        """One webhook's delivery, started again after a broker or audit failure (nothing is
        committed past a record whose delivery and audit are not both done)."""
        delay = 1.0
        while True:
            try:
                await self._deliver(hook)
                return
            except (KafkaError, AlprError, OSError) as exc:
                log.error(
                    "webhook %s (%s) failed: %s; starting again in %.0f s",
                    hook.agency,
                    hook.webhook_id,
                    exc,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(60.0, delay * 2)

    async def _deliver(self, hook: Webhook) -> None:
        raw = self.env.get(hook.secret_env)
        if not raw:
            log.error(
                "webhook %s: %s is not set in the console's environment: nothing is sent to it",
                hook.agency,
                hook.secret_env,
            )
            return
        secret = raw.encode()
        consumer = AIOKafkaConsumer(
            self.settings.topic("alerts"),
            **self.settings.kafka.options(),
            group_id=group_id(self.settings, hook),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        await consumer.start()
        try:
            async with aiohttp.ClientSession() as session:
                async for record in consumer:
                    if record.value is not None and record.timestamp >= hook.added_ms:
                        if await self._one(session, hook, secret, record.value) == "stop":
                            log.info(
                                "webhook %s (%s) stopped: removed or replaced", hook.agency, hook.webhook_id
                            )
                            return
                    tp = TopicPartition(record.topic, record.partition)
                    await consumer.commit({tp: record.offset + 1})
                    async with self.progress:
                        self.positions[(hook.webhook_id, record.partition)] = record.offset + 1
                        self.progress.notify_all()
        finally:
            await consumer.stop()

    async def _one(
        self, session: aiohttp.ClientSession, hook: Webhook, secret: bytes, value: bytes
    ) -> Verdict:
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            log.warning("webhook %s: an unreadable record on the alerts topic; not sent", hook.agency)
            return "skip"
        if data.get("event") == "AlertImageShown":
            return "skip"  # who of this agency was shown which image is its own record (P15), not news
        subject = await _subject(self.board, data)
        if subject is None:
            log.warning("webhook %s: no alert %s on the board; not sent", hook.agency, data.get("alert_id"))
            return "skip"
        camera, plate = subject
        if not hook.wants(camera):
            return "skip"
        alert_id = str(data.get("alert_id"))
        event_id = str(data.get("event_id") or alert_id)
        body = orjson.dumps({"agency": hook.agency, **data})
        outcome, why = await _post(session, hook, secret, body, event_id, lambda: self.recheck(hook, camera))
        if outcome != "deliver":
            if outcome == "skip":
                log.info("webhook %s: %s not sent: %s", hook.agency, event_id, why)
            return outcome
        # P15: the receiver has it; its access record goes on the audit trail before the record is
        # committed, so a failure here sends it again (and audits it then) rather than skip it.
        await record_access(
            self.settings,
            AccessRecorded(
                self.clock(),
                f"webhook:{hook.agency}",
                "webhook_delivery",
                None,
                DELIVERY_PURPOSE,
                {
                    "webhook": hook.webhook_id,
                    "url": _shown_url(hook.url),
                    "alert_id": alert_id,
                    "event": data.get("event"),
                    "event_id": event_id,
                    "plate": plate,
                    "camera_id": camera,
                },
                1,
                agency=hook.agency,
            ),
        )
        self.delivered.append(Delivered(hook.webhook_id, hook.agency, alert_id, event_id))
        return "deliver"


async def _subject(board: AlertBoard, data: dict[str, Any]) -> tuple[str, str] | None:
    """The camera and the plate read of the alert a record belongs to."""
    if data.get("event") == "AlertRaised":
        return str(data["camera_id"]), str(data.get("plate_read"))
    for _ in range(100):  # the board follows the same topic; give it a moment to catch up
        state = board.states.get(str(data.get("alert_id")))
        if state is not None:
            read = state.raised.read
            return read.camera_id, read.plate
        await asyncio.sleep(0.1)
    return None


async def _post(
    session: aiohttp.ClientSession,
    hook: Webhook,
    secret: bytes,
    body: bytes,
    event_id: str,
    allowed: Callable[[], Awaitable[tuple[Verdict, str]]],
) -> tuple[Verdict, str]:
    """POST until the receiver answers 2xx ("deliver"), checking before every attempt that the
    record may still go there (else the verdict that says why not)."""
    delay = 1.0
    while True:
        verdict = await allowed()
        if verdict[0] != "deliver":
            return verdict
        try:
            async with session.post(
                hook.url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-ALPR-Signature": signature(secret, body),
                    "X-ALPR-Event-Id": event_id,
                },
                timeout=aiohttp.ClientTimeout(total=10),
                allow_redirects=False,  # a redirect could lead anywhere: the URL was checked, not its target
            ) as response:
                if 200 <= response.status < 300:
                    return verdict
                log.warning(
                    "webhook %s answered %d for %s; retrying in %.0f s",
                    hook.agency,
                    response.status,
                    event_id,
                    delay,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "webhook %s failed for %s (%s); retrying in %.0f s", hook.agency, event_id, exc, delay
            )
        await asyncio.sleep(delay)
        delay = min(60.0, delay * 2)


async def run_webhooks(settings: Settings, board: AlertBoard, env: Mapping[str, str] | None = None) -> None:
    """Deliver every eligible recipient's alerts until cancelled (the console runs it, next to the
    task that keeps ``board`` current)."""
    await WebhookRunner(settings, board, env).run()
