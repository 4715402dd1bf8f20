"""The embedded broker: its ports, start-up failures and a restart's topics, with the real Apache Kafka."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from streams.errors import BrokerError
from streams.kafka import broker as broker_module
from streams.kafka.broker import EmbeddedBroker, free_port, kafka_jars
from streams.settings import Settings

pytestmark = pytest.mark.integration


def bound(port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_free_port_gives_a_run_of_free_ports_outside_what_is_excluded() -> None:
    base = free_port(3)
    for port in range(base, base + 3):
        bound(port).close()  # each of the run can be bound
    assert not set(range(base, base + 3)) & {free_port(exclude=range(base, base + 3)) for _ in range(50)}


def test_free_port_skips_a_run_with_one_port_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    base = free_port(4)
    monkeypatch.setattr(broker_module, "_FREE_PORTS", range(base, base + 2))
    with bound(base + 1):
        # base's run of 2 needs base + 1, taken; base + 1 is taken itself
        with pytest.raises(BrokerError, match="no run of 2 free port"):
            free_port(2)
        assert free_port(1) == base


def test_a_clusters_controller_ports_never_take_a_client_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client ports are not bound until the nodes start, so a port check alone would hand one
    out as a controller port; two nodes then bind one port and one exits (a CI failure)."""
    base = free_port(6)
    monkeypatch.setattr(broker_module, "_FREE_PORTS", range(base, base + 6))
    cluster = EmbeddedBroker(tmp_path, base, nodes=3)
    nodes = cluster._prepare(kafka_jars())
    assert sorted(n.controller_port for n in nodes) == [base + 3, base + 4, base + 5]
    assert [n.port for n in nodes] == [base, base + 1, base + 2]


def test_a_node_that_cannot_start_is_reported_with_the_reason_from_its_log(tmp_path: Path) -> None:
    port = free_port()
    controller = free_port(exclude={port})
    node = EmbeddedBroker(tmp_path, port)
    node.folder.mkdir(parents=True)
    (node.folder / "controller-ports").write_text(f"{controller}\n")
    with bound(controller), pytest.raises(BrokerError) as refused:
        node.start(timeout=60)
    message = str(refused.value)
    assert "exited while starting" in message
    assert f"failed to bind to 127.0.0.1:{controller}: Address already in use" in message
    assert str(node.node(1).log_file) in message
    assert node.pid() is None


async def test_after_a_restart_the_topics_are_served_before_anyone_is_told_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`alpr run` on a broker it just restarted: create_topics(serving=True) waits until every
    partition of every topic, none created, is served by its leader, so the clients right after it
    (the directory's reader first) are not told NOT_LEADER (the demo printed aiokafka's ERROR lines
    for it after a restart)."""
    import logging

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.kafka import topics
    from tests.conftest import make_env, settings_of, wait_for

    waited: list[list[str]] = []
    wait_for_leaders = topics._wait_for_leaders

    async def recorded(settings: Settings, names: list[str], timeout_ms: int = 60_000) -> None:
        waited.append(list(names))
        await wait_for_leaders(settings, names, timeout_ms)

    monkeypatch.setattr(topics, "_wait_for_leaders", recorded)
    node = EmbeddedBroker(tmp_path / "broker", free_port())
    node.start()
    try:
        settings = settings_of(make_env(node, tmp_path))
        created = await topics.create_topics(settings)
        assert created and waited == [created]
        node.node(1).signal(signal.SIGKILL)  # as a demo's broker may end: its logs are recovered
        wait_for(lambda: node.pid() is None and not _listening(node.port), 30, "the killed broker gone")
        node.start()
        assert await topics.create_topics(settings) == [] and len(waited) == 1  # nothing to wait for
        assert await topics.create_topics(settings, serving=True) == []
        assert sorted(waited[1]) == sorted(created)
        errors: list[logging.LogRecord] = []
        handler = logging.Handler(logging.ERROR)
        handler.emit = errors.append  # type: ignore[method-assign]
        fetcher_log = logging.getLogger("aiokafka.consumer.fetcher")
        fetcher_log.addHandler(handler)
        consumer = AIOKafkaConsumer(**settings.kafka.options())
        await consumer.start()
        try:
            metadata = await consumer._client.fetch_all_metadata()  # noqa: SLF001
            partitions = [
                TopicPartition(name, p) for name in created for p in metadata.partitions_for_topic(name) or ()
            ]
            assert len(partitions) >= len(created)
            await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
            fetcher_log.removeHandler(handler)
        assert not errors, [e.getMessage() for e in errors[:3]]
    finally:
        node.stop()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
