"""Outgoing webhooks for CAD systems: each agency may receive its alerts' lifecycle (off by default).

``ALPR_WEBHOOKS`` names a TOML file::

    [[webhook]]
    agency = "SJPD"
    url = "https://cad.sjpd.example/alpr/events"
    secret_env = "ALPR_WEBHOOK_SECRET_SJPD"   # the HMAC key comes from the environment, not the file
    cameras = ["sj-*"]                        # the agency's cameras (shell patterns over camera ids)

Each record of the alerts topic whose alert was read by one of the agency's cameras is POSTed as
JSON, in topic order, with ``X-ALPR-Signature: sha256=<hex HMAC of the body>`` and
``X-ALPR-Event-Id``. Delivery is at least once: a consumer group per agency commits only after the
receiver answered 2xx, and a failure is retried (1 s doubling to 60 s) without skipping ahead, so
a receiver must de-duplicate by event id.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import hmac
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer

from streams.alerts.desk import AlertBoard
from streams.errors import ConfigError
from streams.settings import Settings

__all__ = ["Webhook", "deliver_forever", "load_webhooks", "signature"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Webhook:
    agency: str
    url: str
    secret: bytes
    cameras: tuple[str, ...]

    def wants(self, camera_id: str) -> bool:
        return any(fnmatch.fnmatchcase(camera_id, pattern) for pattern in self.cameras)


def load_webhooks(path: Path, env: Mapping[str, str] | None = None) -> list[Webhook]:
    env = os.environ if env is None else env
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"ALPR_WEBHOOKS={path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"ALPR_WEBHOOKS={path}: not valid TOML: {exc}") from exc
    hooks = []
    for number, item in enumerate(data.get("webhook", []), start=1):
        missing = [k for k in ("agency", "url", "secret_env", "cameras") if not item.get(k)]
        if missing:
            raise ConfigError(f"ALPR_WEBHOOKS={path}: webhook {number} lacks {', '.join(missing)}")
        if not str(item["url"]).startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ConfigError(f"ALPR_WEBHOOKS={path}: webhook {number} must use https:// (alerts are CJI)")
        secret = env.get(item["secret_env"])
        if not secret:
            raise ConfigError(f"{item['secret_env']} (the secret of webhook {number} in {path}) is not set")
        hooks.append(Webhook(item["agency"], item["url"], secret.encode(), tuple(item["cameras"])))
    return hooks


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


async def _camera_of(board: AlertBoard, data: dict[str, Any]) -> str | None:
    if data.get("event") == "AlertRaised":
        return str(data["camera_id"])
    for _ in range(100):  # the board follows the same topic; give it a moment to catch up
        state = board.states.get(str(data.get("alert_id")))
        if state is not None:
            return state.raised.read.camera_id
        await asyncio.sleep(0.1)
    return None


async def _post(session: aiohttp.ClientSession, hook: Webhook, body: bytes, event_id: str) -> None:
    delay = 1.0
    while True:
        try:
            async with session.post(
                hook.url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-ALPR-Signature": signature(hook.secret, body),
                    "X-ALPR-Event-Id": event_id,
                },
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response:
                if 200 <= response.status < 300:
                    return
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


async def deliver_forever(settings: Settings, hook: Webhook, board: AlertBoard) -> None:
    """Deliver the agency's alert records, committing each after its receiver took it."""
    consumer = AIOKafkaConsumer(
        settings.topic("alerts"),
        **settings.kafka.options(),
        group_id=f"{settings.app_id}-webhook-{hook.agency}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        async with aiohttp.ClientSession() as session:
            async for record in consumer:
                if record.value is not None:
                    data = orjson.loads(record.value)
                    camera = await _camera_of(board, data)
                    if camera is None:
                        log.warning(
                            "webhook %s: no alert %s on the board; skipped", hook.agency, data.get("alert_id")
                        )
                    elif hook.wants(camera):
                        body = orjson.dumps({"agency": hook.agency, **data})
                        await _post(session, hook, body, str(data.get("event_id") or data.get("alert_id")))
                await consumer.commit()
    finally:
        await consumer.stop()
