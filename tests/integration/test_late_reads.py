"""Late reads on the real path (issue 14, P11), profile retention_test on the session broker: a
read's record is stamped with its capture time and goes by its lateness to ``reads`` (up to 20 s
late) or ``reads-late`` (up to 60 s); a later one is refused, never stored. A real worker screens
both topics and stamps what it writes with the source's timestamp; the ingest tells the camera
which reads came too late.

The reads-late topic keeps its records 21 s from their timestamp (topics.py), so a read 40 s late
is deleted at the broker's next retention check; the session broker checks every 5 minutes and
each test reads what it checks within a second or two of the write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.codec import entry_to_dict
from streams.errors import InvalidRecord
from streams.hotlists.service import HotlistStore
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.reads.producer import ReadProducer
from streams.settings import Settings
from tests.conftest import AlprProcess, make_env, settings_of, wait_for
from tests.factories import make_entry, read_dict
from tests.integration.kafka_helpers import alerts_for, metric, read_topic, refused_reads, wait_for_records
from tests.integration.test_ingest import Site, a_read, post

pytestmark = pytest.mark.integration

LISTED = "6LTE404"
READ_TOPICS = ("reads", "reads-late", "reads-rejected", "candidates")


class Late:
    """Topics of profile retention_test, a listed plate, a running worker and ingest."""

    def __init__(self, broker: EmbeddedBroker, root: Path) -> None:
        self.env = make_env(
            broker,
            root,
            ALPR_PROFILE="retention_test",
            ALPR_MAX_CLOCK_SKEW_S="2",
            ALPR_PARTITIONS="2",
            ALPR_INGEST_PORT=str(free_port()),
        )
        self.settings: Settings = settings_of(self.env)
        self.site = Site(self.env, root)  # creates every topic, an administrator, the ingest
        self.worker: AlprProcess | None = None
        try:
            feed = root / "feed.ndjson"
            # The feed is as of an hour ago (P4 is judged as of each read: reads captured before
            # an undated feed's sync would meet no refresh at all).
            entry = make_entry(
                entry_id="V-LATE-1", plate=LISTED, synced_at=datetime.now(UTC) - timedelta(hours=1)
            )
            feed.write_bytes(orjson.dumps(entry_to_dict(entry)))
            asyncio.run(self._sync(feed))
            self.worker = AlprProcess(self.env, root / "worker.log")
            probe = read_dict(read_id="probe", plate=LISTED, captured_at=_ago(0))
            asyncio.run(self.send([probe]))
            # The worker screens (group joined, hot list loaded) before a test's clock starts.
            asyncio.run(self.alerts({"probe"}))
        except BaseException:
            self.stop()
            raise

    async def _sync(self, feed: Path) -> None:
        async with HotlistStore(self.settings) as store:
            await store.sync("ndjson", feed, None, datetime.now(UTC))

    async def send(self, reads: list[dict[str, Any]]) -> list[asyncio.Future[None]]:
        """Through the project's producer with the profile's timing; the futures, all done."""
        async with ReadProducer.for_settings(self.settings) as producer:
            waiters = [await producer.send(r) for r in reads]
            await producer.flush()
        await asyncio.gather(*waiters, return_exceptions=True)
        return waiters

    async def alerts(self, ids: set[str]) -> list[dict[str, Any]]:
        return await wait_for_records(
            self.settings.kafka,
            self.settings.topic("alerts"),
            lambda v: {a["read_id"] for a in alerts_for(v, ids)} == ids,
            timeout=60,
        )

    async def records(self, name: str) -> dict[str, Any]:
        """read_id -> the record holding it (its Kafka timestamp), for read batches and the
        worker's records (a candidate's read, a rejected record's payload)."""
        out: dict[str, Any] = {}
        for record in await read_topic(self.settings.kafka, self.settings.topic(name)):
            value = orjson.loads(record.value)
            if "reads" in value:
                reads = value["reads"]
            elif "read" in value:
                reads = [value["read"]]
            else:
                reads = [orjson.loads(r["payload"]) for r in refused_reads([value])]
            for read in reads:
                out[read.get("read_id")] = record
        return out

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.site.stop()


def _ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def _ms(read: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(read["captured_at"]).timestamp() * 1000)


@pytest.fixture(scope="module")
def late(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Late]:
    running = Late(broker, tmp_path_factory.mktemp("late"))
    yield running
    running.stop()
    for process in (running.site.process, running.worker):
        assert process is not None and LISTED not in process.log(), "no plate in a log (info level)"


async def test_reads_go_by_lateness_stamped_with_capture_and_the_worker_screens_both(late: Late) -> None:
    """10 s late: on reads, stamped with its capture time; 40 s late: on reads-late, stamped so;
    80 s late: refused (too_late), on no topic. The worker raises the alerts of both listed reads,
    and its candidates and rejected records carry the source's timestamp (P11)."""
    at10 = _ago(10)  # one capture time: a batch is stamped with its earliest
    r10 = read_dict(read_id="r10", plate=LISTED, captured_at=at10)
    r40 = read_dict(read_id="r40", plate=LISTED, captured_at=_ago(40))
    r80 = read_dict(read_id="r80", plate=LISTED, captured_at=_ago(80))
    bad10 = read_dict(read_id="bad10", confidence=3, captured_at=at10, camera_id="cam-00002")
    w10, w40, w80, _ = await late.send([r10, r40, r80, bad10])
    on_time, on_late = await late.records("reads"), await late.records("reads-late")
    assert w10.exception() is None and w40.exception() is None
    refused = w80.exception()
    assert isinstance(refused, InvalidRecord) and refused.code == "too_late"
    assert "not stored (P11)" in str(refused)
    assert "r10" in on_time and "r10" not in on_late and "r40" in on_late and "r40" not in on_time
    assert (on_time["r10"].timestamp, on_time["r10"].timestamp_type) == (_ms(r10), 0)  # CreateTime
    # reads-late: stamped when sent (its sent-ms header), as it keeps a record a day from arrival
    assert on_late["r40"].timestamp == int(dict(on_late["r40"].headers)["sent-ms"])

    await late.alerts({"r10", "r40"})
    candidates = await late.records("candidates")
    # a candidate carries its read's arrival (sent-ms), not the capture time nor its own send time
    assert candidates["r10"].timestamp == int(dict(on_time["r10"].headers)["sent-ms"])
    rejected = await wait_for_records(
        late.settings.kafka, late.settings.topic("reads-rejected"), lambda v: len(v) >= 1
    )
    assert [r["reason_code"] for r in refused_reads(rejected)] == ["schema"]
    assert (await late.records("reads-rejected"))["bad10"].timestamp == _ms(bad10)
    for name in READ_TOPICS:
        assert "r80" not in await late.records(name), name


async def test_a_late_reads_rejection_is_counted_not_stored(late: Late) -> None:
    """The rejected topic takes records up to 20 s old: a bad read 40 s late is counted by the
    worker (alpr_not_stored_total) and never written there (P11)."""
    bad40 = read_dict(read_id="bad40", confidence=3, captured_at=_ago(40))
    listed = read_dict(read_id="after-bad40", plate=LISTED, captured_at=_ago(40))
    await late.send([bad40, listed])
    await late.alerts({"after-bad40"})  # the same record: screened
    wait_for(
        lambda: (metric(late.env, "alpr_not_stored_total", '{record="rejected"}') or 0) >= 1,
        30,
        "the worker to count the late rejection",
    )
    assert "bad40" not in await late.records("reads-rejected")


def test_the_ingest_reports_a_read_too_late_to_keep_and_stores_the_rest(late: Late) -> None:
    """A 202 that names the read refused as too late (index, reason); the others are stored, the
    on-time one on reads and the late one on reads-late, the refused one nowhere (P11)."""
    key = late.site.camera("cam-late")
    body = [a_read(captured_at=_ago(5)), a_read(captured_at=_ago(80)), a_read(captured_at=_ago(40))]
    answer = post(late.env, key, body)
    on_time = asyncio.run(late.records("reads"))
    on_late = asyncio.run(late.records("reads-late"))
    assert answer.status == 202, answer.body
    assert (answer.body["accepted"], answer.body["refused"]) == (2, 1)
    [refused] = answer.body["reads"]
    assert refused["index"] == 1
    assert "a read that arrives more than 60 s after its capture" in refused["reason"]
    assert "not stored (P11)" in refused["reason"]
    fresh, gone, slow = (r["read_id"] for r in body)
    assert fresh in on_time and slow in on_late
    assert on_late[slow].timestamp == int(dict(on_late[slow].headers)["sent-ms"])
    assert gone not in on_time and gone not in on_late
