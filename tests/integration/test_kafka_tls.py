"""Every Kafka client of the project over TLS, through the real processes (issue 8, "Security").

The embedded broker speaks plaintext only, so these tests put a TLS terminator of their own in
front of a broker of their own that advertises the terminator's port: a client that does not use
TLS, or does not trust the CA, reaches nothing. What goes through: the topic admin client, the
hot-list sync (writer), the worker (faust's consumer and producer, and the hot-list and alerts
followers), the read producer and the readers of the alerts topic.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import trustme

from streams.codec import entry_to_dict
from streams.kafka.broker import EmbeddedBroker, free_port
from tests.conftest import AlprProcess, alpr, make_env, settings_of
from tests.factories import make_entry, read_dict
from tests.integration.kafka_helpers import alerts_for, send_reads, wait_for_records

pytestmark = pytest.mark.integration


class TlsTerminator:
    """Accepts TLS on ``port`` and relays the bytes to the broker's plaintext port."""

    def __init__(self, context: ssl.SSLContext, port: int, upstream: int) -> None:
        self.context, self.port, self.upstream = context, port, upstream
        self.sessions = 0  # TLS handshakes completed
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        await asyncio.gather(self._relay(reader, up_writer), self._relay(up_reader, writer))

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.context)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    def __enter__(self) -> TlsTerminator:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory) -> Iterator[tuple[Path, int, trustme.CA, TlsTerminator]]:
    """A broker reachable only through TLS on the returned port, with the CA that signed its cert."""
    root = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    tls_port = free_port()
    broker = EmbeddedBroker(root / "broker", free_port(), advertised_port=tls_port)
    broker.start()
    try:
        with TlsTerminator(server, tls_port, broker.port) as terminator:
            yield root, tls_port, ca, terminator
    finally:
        broker.stop()


def tls_env(root: Path, port: int, ca: trustme.CA, name: str) -> dict[str, str]:
    cafile = root / f"{name}-ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    # make_env wants a broker for its URL; the TLS port replaces it.
    env = make_env(EmbeddedBroker(root, port), root)
    env.update(ALPR_KAFKA_SECURITY_PROTOCOL="SSL", ALPR_KAFKA_SSL_CAFILE=str(cafile))
    return env


def test_hot_list_worker_reads_and_alerts_all_go_over_tls(tls_cluster) -> None:
    """With ALPR_KAFKA_SECURITY_PROTOCOL=SSL and the cluster's CA, the whole path works through
    a TLS-only listener: topics created, a feed synced, a listed plate's read raises its alert."""
    root, port, ca, terminator = tls_cluster
    env = tls_env(root, port, ca, "good")
    settings = settings_of(env)
    feed = root / "feed.ndjson"
    feed.write_bytes(
        orjson.dumps(entry_to_dict(make_entry(entry_id="V-TLS-1", plate="6TLS001", synced_at=None)))
    )
    assert alpr(env, "topics", "--create").returncode == 0
    synced = alpr(env, "hotlist", "sync", "--format", "ndjson", "--from", str(feed), "--source", "ncic")
    assert synced.returncode == 0, synced.stderr
    before = terminator.sessions
    worker = AlprProcess(env, root / "worker.log")
    try:
        captured = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
        asyncio.run(send_reads(settings, [read_dict(read_id="tls-1", plate="6TLS001", captured_at=captured)]))
        values = asyncio.run(
            wait_for_records(
                settings.kafka, settings.topic("alerts"), lambda v: alerts_for(v, {"tls-1"}), timeout=90
            )
        )
    finally:
        worker.stop()
    (alert,) = alerts_for(values, {"tls-1"})
    assert alert["entry_id"] == "V-TLS-1"
    assert terminator.sessions > before  # the worker and the readers came through TLS


def test_a_client_that_does_not_trust_the_cluster_ca_is_refused_clearly(tls_cluster) -> None:
    """A CA that did not sign the brokers' certificate: the command fails, says it cannot reach
    Kafka, and nothing is created; the same command over plaintext reaches nothing either."""
    root, port, _ca, _terminator = tls_cluster
    env = tls_env(root, port, trustme.CA(), "other")
    refused = alpr(env, "topics", "--create", timeout=120)
    assert refused.returncode != 0
    assert "Kafka" in refused.stderr and "certificate" in refused.stderr.lower(), refused.stderr
    env.pop("ALPR_KAFKA_SSL_CAFILE")
    env["ALPR_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
    plain = alpr(env, "topics", "--create", timeout=120)
    assert plain.returncode != 0, plain.stdout
