"""The ingest's check of a request's reads (streams/cameras/ingest.py ``check_reads``): the codec's own
schema check and the worker's capture-time rules (P11), each bad read named by its index and reason,
so that a request is stored whole or not at all."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from streams.cameras.ingest import ReadSink, check_reads
from streams.errors import InvalidRecord
from streams.settings import Settings
from tests.factories import NOW, read_dict

SKEW = timedelta(minutes=5)
RETENTION = timedelta(days=30)


def check(reads: list[object]) -> list[tuple[int, str]]:
    return check_reads(reads, NOW, SKEW, RETENTION)


def test_good_reads_pass_and_keep_their_capture_time_forms() -> None:
    reads = [
        read_dict(captured_at="2026-11-23T11:59:58.250Z"),
        read_dict(captured_at="2026-11-23T03:59:59-08:00", plate_state=None),
        read_dict(captured_at=(NOW - timedelta(days=29)).isoformat()),
    ]
    assert check(reads) == []


def test_each_bad_read_is_named_by_index_with_the_schema_reason() -> None:
    reads = [
        read_dict(),
        read_dict(plate="X" * 17),
        read_dict(confidence=1.5),
        "not a read",
        {k: v for k, v in read_dict().items() if k != "captured_at"},
        read_dict(captured_at="yesterday"),
        read_dict(speed_mph=40),
        read_dict(),
    ]
    refused = dict(check(reads))
    assert sorted(refused) == [1, 2, 3, 4, 5, 6]
    assert "plate" in refused[1] and "16" in refused[1]
    assert "confidence" in refused[2]
    assert "must be object" in refused[3]
    assert "captured_at" in refused[4]
    assert refused[5] == "read: data.captured_at must be date-time"
    assert "speed_mph" in refused[6]


def test_capture_times_the_worker_would_refuse_are_refused_here() -> None:
    """P11: a read older than the retention is not stored; a camera clock far ahead is refused."""
    reads = [
        read_dict(captured_at=(NOW - RETENTION - timedelta(minutes=1)).isoformat()),
        read_dict(),
        read_dict(captured_at=(NOW + SKEW + timedelta(seconds=5)).isoformat()),
        read_dict(captured_at=(NOW + SKEW - timedelta(seconds=5)).isoformat()),
    ]
    refused = check(reads)
    assert [i for i, _ in refused] == [0, 2]
    assert "older than the read retention (30 days); the read was not kept (P11)" in refused[0][1]
    assert "ahead of the server clock; check the camera's clock" in refused[1][1]


class TooLateForOne:
    """A read producer that refuses the read ``too_late`` at once and acknowledges the others."""

    def __init__(self, too_late: str) -> None:
        self.too_late = too_late
        self.sent: list[str] = []

    async def send(self, read: dict[str, object]) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if read["read_id"] == self.too_late:
            done.set_exception(InvalidRecord("too_late", "captured_at ... is 80 s old; not stored (P11)"))
        else:
            self.sent.append(str(read["read_id"]))
            done.set_result(None)
        return done


async def test_a_read_too_late_to_keep_is_reported_and_the_rest_of_the_request_stored() -> None:
    """P11: the producer refuses a read that arrives too late to be kept; the ingest reports it by
    index and reason (not a 503: resending cannot help) and stores the others."""
    sink = ReadSink(Settings())
    fake = TooLateForOne("r-1")
    sink._producer = fake  # type: ignore[assignment]  # noqa: SLF001
    refused = await sink.write([read_dict(read_id=f"r-{i}") for i in range(3)])
    assert refused == [(1, "captured_at ... is 80 s old; not stored (P11)")]
    assert fake.sent == ["r-0", "r-2"] and sink.ready  # the producer is kept
