"""``alpr aggregate`` and ``alpr report annual`` as real processes on Apache Kafka: the daily
counts are exact however often they are computed, and they survive the expiry of the reads (P11),
so the annual report (P26) still has them. The aggregates topic is judged by ``alpr retention
check`` as counts, not read data, and must outlive the report's year."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.access.audit import AccessRecorded, record_access
from streams.alerts.lifecycle import Actor, AlertRejected
from streams.alerts.model import AlertRaised, alert_id_for
from streams.codec import alert_to_dict, dumps, event_to_dict
from streams.kafka.log import read_latest
from streams.kafka.topics import existing_partitions, topic_specs
from streams.settings import Settings
from tests.conftest import alpr, settings_of
from tests.factories import make_entry, make_read, read_dict
from tests.integration.kafka_helpers import read_topic, service_env

pytestmark = pytest.mark.integration


def two_closed_days() -> tuple[date, date]:
    """Two days of one year, closed and well within the 30-day read retention."""
    first = datetime.now(UTC).date() - timedelta(days=5)
    if (first + timedelta(days=1)).year != first.year:
        first -= timedelta(days=2)
    return first, first + timedelta(days=1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


async def produce_at(settings: Settings, topic: str, records: list[tuple[bytes, bytes, datetime]]) -> None:
    """Records stamped with the given times, as cameras uploading on time then would have stamped
    them. The broker refuses records older than a topic's lateness bound (P11), which is what
    makes back-dating impossible in production; here it is lifted while the test writes its past
    days, and the declared configs are put back afterwards."""
    declared = {s.name: s for s in topic_specs(settings)}[topic.removeprefix(settings.topic_prefix)]
    await set_configs(settings, topic, {"message.timestamp.before.max.ms": str(2**62)})
    await configs_applied(settings, topic, {"message.timestamp.before.max.ms": str(2**62)})
    producer = AIOKafkaProducer(**settings.kafka.options())
    await producer.start()
    try:
        for key, value, when in records:
            await (await producer.send(topic, value, key=key, timestamp_ms=int(when.timestamp() * 1000)))
    finally:
        await producer.stop()
        await set_configs(settings, topic, declared.configs())


async def set_configs(settings: Settings, topic: str, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(**settings.kafka.options())
    await admin.start()
    try:
        current = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        dynamic = {e[0]: e[1] for r in current for res in r.resources for e in res[4] if e[3] == 1}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {**dynamic, **configs})])
    finally:
        await admin.close()


async def configs_applied(
    settings: Settings, topic: str, configs: dict[str, str], timeout_s: float = 30.0
) -> None:
    """Wait until the broker serves ``configs`` for the topic: a config change is committed by the
    controller before the broker applies it, and a record sent in between is judged by the old one."""
    admin = AIOKafkaAdminClient(**settings.kafka.options())
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            current = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            values = {e[0]: e[1] for r in current for res in r.resources for e in res[4]}
            if all(values.get(k) == v for k, v in configs.items()):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{topic}: the broker still serves {values} after {timeout_s} s")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


def batch(*reads: dict[str, Any]) -> bytes:
    return dumps({"reads": list(reads)})


def alert(read_id: str, camera: str, kind: str, captured: datetime) -> AlertRaised:
    entry = make_entry()
    read = make_read(read_id=read_id, camera_id=camera, captured_at=captured, plate="7ABC123")
    return AlertRaised(alert_id_for(read_id, entry.key), captured, read, entry, kind, False)


async def seed(settings: Settings, d1: date, d2: date) -> None:
    """Day 1: cam-A 5 reads (its batch delivered twice), cam-B 3 reads and one that breaks the
    schema; day 2: cam-A 2 reads. Two hits on day 1, one rejected as a misread; one search."""

    def read(read_id: str, camera: str, when: datetime) -> dict[str, Any]:
        return read_dict(read_id=read_id, camera_id=camera, captured_at=when.isoformat(), plate="7ABC123")

    a = batch(*(read(f"a{i}", "cam-A", at(d1, 10, i)) for i in range(5)))
    b = batch(
        *(read(f"b{i}", "cam-B", at(d1, 23, 50 + i)) for i in range(3)),
        {**read("bx", "cam-B", at(d1, 23, 55)), "confidence": 9},
    )
    c = batch(read("c0", "cam-A", at(d2, 1)), read("c1", "cam-A", at(d2, 2)))
    reads = settings.topic("reads")
    await produce_at(
        settings,
        reads,
        [
            (b"cam-A", a, at(d1, 10, 5)),
            (b"cam-A", a, at(d1, 10, 6)),  # redelivered
            (b"cam-B", b, at(d1, 23, 59)),
            (b"cam-A", c, at(d2, 2, 1)),
        ],
    )
    exact, ocr = (
        alert("a0", "cam-A", "exact", at(d1, 10)),
        alert("b0", "cam-B", "ocr_equivalent", at(d1, 23, 50)),
    )
    misread = AlertRejected("e1", ocr.alert_id, at(d1, 23, 58), Actor("anna", "D-17"), "", "misread")
    now = datetime.now(UTC)
    await produce_at(
        settings,
        settings.topic("alerts"),
        [
            (exact.alert_id.encode(), dumps(alert_to_dict(exact)), now),
            (ocr.alert_id.encode(), dumps(alert_to_dict(ocr)), now),
            (exact.alert_id.encode(), dumps(alert_to_dict(exact)), now),  # redelivered
            (ocr.alert_id.encode(), dumps(event_to_dict(misread)), now),
        ],
    )
    search = AccessRecorded(
        at(d1, 15), "ivan", "search", "SJ-26-004512", "Stolen vehicle 7ABC123", {"plate": "7ABC123"}, 6
    )
    await record_access(settings, search)


def latest(settings: Settings) -> dict[str, dict[str, Any]]:
    found = asyncio.run(read_latest(settings.kafka, settings.topic("aggregates")))
    return {k.decode(): orjson.loads(v.value) for k, v in found.items()}


def counts_only(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: {f: v for f, v in r.items() if f != "computed_at"} for k, r in records.items()}


async def expire_reads(settings: Settings) -> None:
    """What the read retention does (P11), at once: every record of the reads and rejected reads
    topics deleted (Kafka's DeleteRecords up to each partition's end)."""
    admin = AIOKafkaAdminClient(**settings.kafka.options())
    consumer = AIOKafkaConsumer(**settings.kafka.options())
    await admin.start()
    await consumer.start()
    try:
        for topic in (*settings.read_topics, settings.topic("reads-rejected")):
            tps = [TopicPartition(topic, p) for p in await existing_partitions(consumer._client, topic)]
            ends = await consumer.end_offsets(tps)
            await admin.delete_records({tp: RecordsToDelete(ends[tp]) for tp in tps if ends[tp]})
    finally:
        await consumer.stop()
        await admin.close()


def rows(path: Path) -> dict[str, list[str]]:
    with path.open() as handle:
        return {row[0]: row for row in csv.reader(handle)}


def test_aggregates_are_exact_on_rerun_and_survive_the_expiry_of_reads(topics_env, tmp_path) -> None:
    """P26 over P11: the counts of two days are computed from the reads, alerts and audit topics,
    re-running gives the same counts, and after the reads are gone the annual report still shows
    them; nothing on the aggregates topic holds a plate."""
    env, settings = topics_env, settings_of(topics_env)
    d1, d2 = two_closed_days()
    asyncio.run(seed(settings, d1, d2))

    first = alpr(service_env(env, "reporting"), "aggregate")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"aggregated {d1}: 8 reads from 2 cameras, 0 rejected, 2 hits" in first.stdout
    assert f"aggregated {d2}: 2 reads from 1 cameras, 0 rejected, 0 hits" in first.stdout
    records = latest(settings)
    assert records[f"camera_day|{d1}|cam-A"]["reads"] == 5
    assert records[f"camera_day|{d1}|cam-B"]["hits"] == {"exact": 0, "ocr_equivalent": 1, "partial": 0}
    assert records[f"outcomes_day|{d1}|"]["by_match_kind"] == {
        "ocr_equivalent": {"confirmed": 0, "rejected": {"misread": 1}}
    }
    assert records[f"accesses_day|{d1}|"]["by_purpose"] == {
        "stolen vehicle #": {"allowed": 1, "refused": 0, "results": 6}
    }
    raw = asyncio.run(read_topic(settings.kafka, settings.topic("aggregates")))
    assert raw and all(b"7ABC123" not in (r.value or b"") + (r.key or b"") for r in raw)  # no plates

    again = alpr(service_env(env, "reporting"), "aggregate")  # the daily run: nothing new is closed
    assert again.returncode == 0 and "aggregated already" in again.stdout, again.stdout + again.stderr
    rerun = alpr(
        service_env(env, "reporting"), "aggregate", "--day", d1.isoformat()
    )  # recomputed: the same counts, not doubled
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"aggregated {d1}: 8 reads from 2 cameras, 0 rejected, 2 hits" in rerun.stdout
    assert counts_only(latest(settings)) == counts_only(records)

    asyncio.run(expire_reads(settings))
    assert asyncio.run(read_topic(settings.kafka, settings.topic("reads"))) == []
    # the next daily run, with the reads gone, changes nothing
    after = alpr(service_env(env, "reporting"), "aggregate")
    assert after.returncode == 0 and "aggregated already" in after.stdout, after.stdout + after.stderr
    out = tmp_path / "report"
    report = alpr(
        service_env(env, "reporting"), "report", "annual", "--year", str(d1.year), "--out", str(out)
    )

    assert report.returncode == 0, report.stdout + report.stderr
    done = sorted(
        line.split()[1].rstrip(":") for line in first.stdout.splitlines() if line.startswith("aggregated")
    )
    in_year = [d for d in done if d.startswith(str(d1.year))]  # every closed day within the retention
    assert f"Period covered: {in_year[0]} to {in_year[-1]}, counts for {len(in_year)} of the" in report.stdout
    assert "THE DATA DOES NOT COVER THE WHOLE YEAR" in report.stdout
    reads = rows(out / "reads_by_camera.csv")
    assert (reads["cam-A"][3], reads["cam-B"][3]) == ("7", "3")
    hits = rows(out / "hits_by_camera.csv")
    assert hits["cam-A"][2:5] == ["1", "1", "0"] and hits["cam-B"][2:5] == ["1", "0", "1"]
    accuracy = rows(out / "accuracy.csv")
    assert accuracy["OCR-equivalent"][1:6] == ["1", "0", "1", "1", "100.0%"]
    assert accuracy["all"][1:6] == ["2", "0", "1", "1", "50.0%"]
    assert rows(out / "accesses_by_purpose.csv")["stolen vehicle #"][1:] == ["1", "0", "6"]
    page = (out / "report.html").read_text()
    assert "THE DATA DOES NOT COVER THE WHOLE YEAR" in page and "7ABC123" not in page
    assert {"report.md", "reads_by_month.png", "accuracy.png"} <= {p.name for p in out.iterdir()}


def test_a_day_whose_reads_have_expired_is_not_recomputed(topics_env) -> None:
    """P11: re-counting a day whose reads have begun to expire would replace its counts with smaller
    ones; it is refused (exit 2) and the aggregates stay as they are."""
    old = datetime.now(UTC).date() - timedelta(days=40)
    result = alpr(service_env(topics_env, "reporting"), "aggregate", "--day", old.isoformat())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "begun to expire" in result.stderr and "kept, not replaced" in result.stderr
    assert latest(settings_of(topics_env)) == {}


def test_retention_check_judges_the_aggregates_as_counts_that_must_outlive_the_year(topics_env) -> None:
    """The aggregates hold no plates: not read data, so the 30-day rule (P11) does not apply to them;
    they must be kept long enough for the annual report (P26), which the check does not flag."""
    settings = settings_of(topics_env)
    result = alpr(topics_env, "retention", "check")
    [line] = [x for x in result.stdout.splitlines() if x.startswith(settings.topic("aggregates") + " ")]
    assert "aggregates" in line and "compact,delete" in line and line.endswith("OK"), line
    assert result.returncode == 0, result.stdout + result.stderr
