"""P12: the arithmetic of an evidence hold's periodic review - when a case must be renewed by, and
which cases of a hold end when it was not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.access.principal import Principal
from streams.retention.holds import Lapse, _notice, lapsed_cases, review_due

PLACED = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
DAYS = 90


def case(number: str = "SJ-26-004512", **extra: str) -> dict[str, str]:
    return {
        "case_number": number,
        "reason": "robbery 211 PC",
        "held_by": "kim",
        "held_at": PLACED.isoformat(),
        **extra,
    }


def test_a_hold_is_due_for_review_at_its_stored_date_p12() -> None:
    due = PLACED + timedelta(days=DAYS)
    assert review_due(case(review_due=due.isoformat()), DAYS) == due
    renewed = PLACED + timedelta(days=80 + DAYS)  # renewed on day 80: due 90 days after that
    assert review_due(case(review_due=renewed.isoformat()), DAYS) == renewed


def test_a_hold_placed_before_reviews_is_due_review_days_after_it_was_placed_p12() -> None:
    assert review_due(case(), DAYS) == PLACED + timedelta(days=DAYS)
    assert review_due(case(), 30) == PLACED + timedelta(days=30)  # the profile's setting counts


def test_only_the_cases_past_their_review_date_lapse_p12() -> None:
    old = case("SJ-26-000001")  # placed before reviews: due on day 90
    renewed = case("SJ-26-000002", review_due=(PLACED + timedelta(days=150)).isoformat())
    cases = (old, renewed)
    assert lapsed_cases(cases, PLACED + timedelta(days=DAYS) - timedelta(seconds=1), DAYS) == []
    assert lapsed_cases(cases, PLACED + timedelta(days=DAYS), DAYS) == [old]  # due at: ends
    assert lapsed_cases(cases, PLACED + timedelta(days=151), DAYS) == [old, renewed]


def test_the_notice_names_the_case_who_placed_it_and_that_review_lapsed_p12_p15() -> None:
    sweeper = Principal("retention-1", "retention-1", "SJPD", "retention", kind="service")
    lapse = Lapse("r-1", "SJ-26-004512", "kim", PLACED, PLACED + timedelta(days=DAYS), gone=True)
    now = PLACED + timedelta(days=DAYS, hours=1)
    record = _notice(sweeper, now, lapse, case(crime_type="PC 211 robbery")).to_dict()
    assert record["action"] == "hold_lapsed" and record["user"] == "retention-1"
    assert record["case_number"] == "SJ-26-004512" and record["crime_type"] == "PC 211 robbery"
    assert record["query"]["held_by"] == "kim" and record["query"]["read_id"] == "r-1"
    assert "P12 review lapsed" in record["reason"] and "placed by kim on 2026-09-01" in record["reason"]
    assert "due for review on 2026-11-30" in record["reason"]
    assert record["reason"].endswith("the copy is deleted (P11)")  # the last case: the copy is deleted
