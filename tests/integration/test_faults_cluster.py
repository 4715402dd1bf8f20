"""Faults of a three-broker Kafka cluster under load, with real worker processes (issue 14).

The cluster is Apache Kafka in KRaft mode, three combined broker+controller nodes; every topic has
replication factor 3 and min.insync.replicas 2, and reads are sent with acks=all, so one broker
lost must cost time, never a read. Each test streams generated camera traffic in real time (its
ground truth known, loadtest.generator), breaks the cluster in the middle of it, and checks what
test_faults_worker checks (see Load there):

- every read sent is acknowledged, and the worker group has committed the ends of the reads and
  candidates topics (no read lost);
- every (read, entry) the traffic must raise is on the alerts topic exactly once, and nothing
  else is; no alert id is raised twice and no sighting added twice (P9).

Each test also prints how long producers and the alert stream stalled (run with ``-s``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

import orjson
import pytest

from loadtest.generator import HotlistFixture, Traffic, TrafficShape
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.matching.normalize import OcrClasses
from streams.reads.producer import ReadProducer
from tests.conftest import make_env, settings_of, wait_for
from tests.integration.kafka_helpers import (
    group_coordinator,
    metric,
    partition_states,
    read_topic,
)
from tests.integration.test_faults_worker import Load

pytestmark = pytest.mark.integration

RATE = 250.0  # reads/s, sent in real time at their capture offsets
NODES = 3
#: Topics whose every partition must be served again (a leader among the survivors) and, after
#: the node is back, fully replicated again.
SERVED = ("reads", "candidates", "alerts")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """Three Kafka nodes on ports base..base+2, for this module only (the faults stall it)."""
    embedded = EmbeddedBroker(tmp_path_factory.mktemp("cluster"), free_port(NODES), nodes=NODES)
    started = time.monotonic()
    embedded.start()
    print(f"\n[cluster] {NODES}-node cold start: {time.monotonic() - started:.1f} s")
    try:
        yield embedded
    finally:
        # Its data is thrown away: SIGKILL, as a controlled shutdown of all three nodes at once waits
        # out stop()'s timeout (the last nodes cannot reach a controller quorum).
        for node in embedded.node_list():
            if node.pid() is not None:
                node.signal(signal.SIGKILL)
        embedded.stop()


class ClusterLoad(Load):
    """Load (test_faults_worker) on the cluster: replicated topics, reads with their offsets."""

    def __init__(self, cluster: EmbeddedBroker, root: Path, seconds: float, seed: int) -> None:
        self.cluster = cluster
        self.env = make_env(cluster, root, ALPR_LOG_LEVEL="info", ALPR_REPLICATION_FACTOR=str(NODES))
        self.root = root
        self.settings = settings_of(self.env)
        self.fixture = HotlistFixture(exact_entries=2_000, partial_entries=5, seed=seed)
        ocr = OcrClasses.of(self.settings.ocr_classes)
        shape = TrafficShape(cameras=200, rate=RATE, hit_rate=0.02, seed=seed)
        self.traffic = Traffic(shape, self.fixture, ocr, self.settings.ocr_max_substitutions)
        timed = list(self.traffic.reads(datetime.now(UTC), seconds))
        self.offsets = [offset for offset, _ in timed]
        self.reads = [read for _, read in timed]
        self.spoil()
        self.workers = []

    async def prepare(self) -> None:
        await super().prepare()
        for name in SERVED:
            states = await partition_states(self.settings.kafka, self.settings.topic(name))
            assert states, name
            assert all(len(s.replicas) == NODES for s in states.values()), f"{name}: {states}"

    def states(self, name: str, without: int | None = None) -> dict[int, Any]:
        """Partitions of a topic as the nodes other than ``without`` see them."""
        nodes = [n for n in self.cluster.node_list() if n.node_id != without]
        bootstrap = ",".join(f"127.0.0.1:{n.port}" for n in nodes)
        return asyncio.run(partition_states(self.settings.kafka, self.settings.topic(name), bootstrap))

    def busiest_leader(self, name: str) -> int:
        """The node leading the most partitions of a topic."""
        leaders = Counter(s.leader for s in self.states(name).values())
        return leaders.most_common(1)[0][0]

    def served_without(self, node_id: int) -> bool:
        """Every partition of the worker's topics led by a node other than ``node_id``."""
        seen = [self.states(name, node_id) for name in SERVED]
        return all(states and all(s.leader not in (-1, node_id) for s in states.values()) for states in seen)

    def in_sync(self, node_id: int) -> bool:
        """The node is back in the in-sync replicas of every partition of the worker's topics."""
        seen = [self.states(name) for name in SERVED]
        return all(states and all(node_id in s.isr for s in states.values()) for states in seen)


class PacedSender:
    """Sends a load's reads through the project's ReadProducer (acks=all) at their capture offsets,
    in a thread of its own, while the test breaks things. Keeps, per read, when it was due, and
    when Kafka acknowledged it."""

    def __init__(self, run: ClusterLoad) -> None:
        self.run = run
        self.due: list[float] = []  # wall-clock seconds
        self.acked_at: list[float | None] = [None] * len(run.reads)
        self.errors: list[str] = []
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="paced-sender", daemon=True)

    def __enter__(self) -> PacedSender:
        start = time.time() + 0.2
        self.due = [start + offset for offset in self.run.offsets]
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is not None:  # the test failed: stop sending, do not wait for the rest
            self._stop.set()
            self._thread.join(10)

    @property
    def acked(self) -> int:
        return sum(1 for t in self.acked_at if t is not None)

    def acked_since(self, since: float) -> int:
        return sum(1 for t in self.acked_at if t is not None and t >= since)

    def finished(self) -> None:
        """Wait for the last acknowledgement; every read must have been acknowledged."""
        self._thread.join(max(0.0, self.due[-1] - time.time()) + 120)
        assert not self._thread.is_alive(), f"reads not acknowledged: {len(self.due) - self.acked} left"
        assert self.failure is None, repr(self.failure)
        assert self.errors == [], self.errors[:5]
        assert self.acked == len(self.due)

    def _main(self) -> None:
        try:
            asyncio.run(self._send())
        except BaseException as exc:  # noqa: BLE001 - reported by finished()
            self.failure = exc

    async def _send(self) -> None:
        async with ReadProducer.for_settings(self.run.settings) as producer:
            waiters = []
            for i, read in enumerate(self.run.reads):
                if self._stop.is_set():
                    break
                delay = self.due[i] - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                waiter = await producer.send(read)
                waiter.add_done_callback(lambda fut, i=i: self._done(i, fut))
                waiters.append(waiter)
            await producer.flush()
        await asyncio.gather(*waiters, return_exceptions=True)

    def _done(self, i: int, fut: asyncio.Future[None]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self.errors.append(f"read {i}: {fut.exception() if not fut.cancelled() else 'cancelled'}")
        else:
            self.acked_at[i] = time.time()


def stalls(run: ClusterLoad, sender: PacedSender, fault_at: float) -> str:
    """How long reads waited for Kafka's acknowledgement and for their alerts, before and after the
    fault: the alert's record time (the worker's send) minus the read's due time."""
    ack = [(due, acked - due) for due, acked in zip(sender.due, sender.acked_at, strict=True) if acked]
    due_of = {read["read_id"]: due for read, due in zip(run.reads, sender.due, strict=True)}
    alert_at: dict[str, float] = {}
    for record in asyncio.run(read_topic(run.settings.kafka, run.alerts)):
        value = orjson.loads(record.value)
        if value.get("read_id") in due_of:
            alert_at.setdefault(value["read_id"], record.timestamp / 1000)
    alerts = sorted((due_of[r], t - due_of[r]) for r, t in alert_at.items())
    times = sorted(t for t in alert_at.values())
    gap = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)

    def split(pairs: list[tuple[float, float]]) -> str:
        before = [lag for due, lag in pairs if due < fault_at] or [0.0]
        after = [lag for due, lag in pairs if due >= fault_at] or [0.0]
        return f"median {median(before):.2f} s before the fault, max {max(after):.1f} s after it"

    return f"acks: {split(ack)}; alerts ({len(alerts)}): {split(alerts)}; longest gap {gap:.1f} s"


@pytest.fixture()
def load(cluster: EmbeddedBroker, tmp_path: Path) -> Iterator[Callable[[float, int], ClusterLoad]]:
    made: list[ClusterLoad] = []

    def make(seconds: float, seed: int) -> ClusterLoad:
        made.append(ClusterLoad(cluster, tmp_path, seconds, seed))
        return made[-1]

    yield make
    for one in made:
        one.stop()
    # The next test starts with the whole cluster, whatever this one left behind.
    for node in cluster.node_list():
        if node.pid() is not None:
            node.signal(signal.SIGCONT)
        else:
            cluster.start_node(node.node_id)


def settle_and_check(run: ClusterLoad, sender: PacedSender, fault_at: float, what: str) -> None:
    sender.finished()
    run.check(*asyncio.run(run.settled(timeout=180)))
    print(f"\n[{what}] {len(run.reads)} reads; {stalls(run, sender, fault_at)}")


def test_the_leader_of_the_reads_killed_mid_load_then_restarted_loses_and_duplicates_nothing(load) -> None:
    """SIGKILL the broker leading the most reads partitions: the controller fences it (after the
    broker session timeout), the survivors take over its partitions from the in-sync replicas,
    the producer and the worker retry on the new leaders; the node restarts, catches up, rejoins
    the in-sync replicas."""
    run = load(24.0, 31)
    asyncio.run(run.prepare())
    worker = run.worker("worker")
    with PacedSender(run) as sender:
        wait_for(lambda: sender.acked >= len(run.reads) // 4, 60, "a quarter of the reads acknowledged")
        victim = run.busiest_leader("reads")
        run.cluster.node(victim).signal(signal.SIGKILL)
        fault_at = time.time()
        wait_for(lambda: run.served_without(victim), 60, f"leaders other than node {victim}")
        wait_for(lambda: sender.acked_since(fault_at) >= 500, 60, "reads acknowledged after the kill")
        run.cluster.start_node(victim)
        wait_for(lambda: run.in_sync(victim), 90, f"node {victim} back in sync")
    settle_and_check(run, sender, fault_at, f"SIGKILL node {victim}, the reads' leader")
    assert worker.proc.poll() is None, worker.log()[-3000:]


def test_a_broker_frozen_for_30_s_mid_load_loses_and_duplicates_nothing(load) -> None:
    """SIGSTOP the broker coordinating the worker's group for 30 s: connections to it hang (no
    refusal), the controller fences it, the coordinator and the leaders move; after SIGCONT it
    finds itself fenced, truncates to the new leaders and catches up."""
    run = load(45.0, 32)
    asyncio.run(run.prepare())
    worker = run.worker("worker")
    with PacedSender(run) as sender:
        wait_for(lambda: sender.acked >= len(run.reads) // 6, 60, "a sixth of the reads acknowledged")
        victim = asyncio.run(group_coordinator(run.settings.kafka, run.settings.app_id))
        node = run.cluster.node(victim)
        node.signal(signal.SIGSTOP)
        fault_at = time.time()
        try:
            wait_for(lambda: run.served_without(victim), 60, f"leaders other than node {victim}")
            wait_for(lambda: time.time() - fault_at >= 30, 40, "30 s of freeze")
            assert worker.proc.poll() is None, "the worker must ride out a frozen broker"
        finally:
            node.signal(signal.SIGCONT)
        wait_for(lambda: run.in_sync(victim), 90, f"node {victim} back in sync")
    settle_and_check(run, sender, fault_at, f"SIGSTOP node {victim}, the group coordinator, 30 s")
    assert worker.proc.poll() is None, worker.log()[-3000:]


def test_a_broker_and_a_worker_killed_at_once_lose_and_duplicate_nothing(load) -> None:
    """SIGKILL the group coordinator's broker and one of two workers at the same moment: the
    survivor's rebalance needs a coordinator that has just died; it must take the dead worker's
    partitions once the coordinator has moved, and raise nothing the dead one had raised. The dead
    worker is restarted after the broker and rejoins."""
    run = load(24.0, 33)
    asyncio.run(run.prepare())
    victim_worker = run.worker("worker-a")
    survivor = run.worker("worker-b")
    with PacedSender(run) as sender:
        wait_for(lambda: sender.acked >= len(run.reads) // 4, 60, "a quarter of the reads acknowledged")
        wait_for(lambda: (metric(victim_worker.env, "alpr_reads_total") or 0) > 0, 60, "both screening")
        victim = asyncio.run(group_coordinator(run.settings.kafka, run.settings.app_id))
        run.cluster.node(victim).signal(signal.SIGKILL)
        os.kill(victim_worker.proc.pid, signal.SIGKILL)
        fault_at = time.time()
        victim_worker.proc.wait(10)
        before = metric(survivor.env, "alpr_reads_total") or 0
        wait_for(lambda: run.served_without(victim), 60, f"leaders other than node {victim}")
        wait_for(
            lambda: (metric(survivor.env, "alpr_reads_total") or 0) > before + 500,
            90,
            "the surviving worker screening on",
        )
        run.cluster.start_node(victim)
        run.worker("worker-a-again")
        wait_for(lambda: run.in_sync(victim), 90, f"node {victim} back in sync")
    settle_and_check(run, sender, fault_at, f"SIGKILL node {victim} (coordinator) and a worker")
    assert survivor.proc.poll() is None, survivor.log()[-3000:]
