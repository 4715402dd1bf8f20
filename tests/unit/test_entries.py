"""Entries refused at load: P1 sources, P2 department fields, P5 immigration, P6 partial plates."""

import msgspec
import pytest

from streams.errors import EntryRefused
from streams.hotlists.model import Person, check_entry
from tests.factories import local_entry, make_entry, make_index, make_read


def refused(entry) -> EntryRefused:
    with pytest.raises(EntryRefused) as info:
        check_entry(entry)
    return info.value


def test_complete_local_entry_is_accepted() -> None:
    check_entry(local_entry())


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({"entered_by": None}, "entered_by"),
        ({"entered_by": Person("A", "", "Patrol")}, "entered_by.badge"),
        ({"entered_by": Person("A", "1", None)}, "entered_by.assignment"),
        ({"case_number": None}, "case_number"),
        ({"case_number": "  "}, "case_number"),
        ({"reason": ""}, "reason"),
        ({"approved_by": None}, "approved_by"),
        ({"approved_by": Person("Sgt. B", "9", rank="sergeant")}, "lieutenant or above"),
    ],
)
def test_local_entry_without_p2_fields_is_refused(overrides, missing) -> None:
    error = refused(local_entry(**overrides))
    assert error.rule == "P2"
    assert missing in str(error)


@pytest.mark.parametrize(
    "overrides",
    [
        {"list_type": "immigration_violator"},
        {"list_type": "other", "reason": "ICE detainer request"},
        {"list_type": "bolo", "reason": "Immigration status check"},
    ],
)
def test_immigration_entries_are_never_loaded_p5(overrides) -> None:
    entry = make_entry(**overrides)
    assert refused(entry).rule == "P5"
    index = make_index()
    with pytest.raises(EntryRefused):
        index.upsert(entry)
    assert len(index) == 0
    assert index.get(entry.key) is None


def test_p5_refusal_applies_to_local_entries_too() -> None:
    assert refused(local_entry(list_type="immigration_violator")).rule == "P5"


@pytest.mark.parametrize("pattern", ["7*A", "??1", "*", "AB*"])
def test_partial_with_fewer_than_three_known_characters_is_refused_p6(pattern) -> None:
    assert refused(local_entry(plate=pattern)).rule == "P6"


def test_unknown_source_and_list_type_are_refused_p1() -> None:
    assert refused(make_entry(source="vendor-x")).rule == "P1"
    assert refused(make_entry(list_type="parking_scofflaw")).rule == "P1"


def test_refused_update_does_not_leave_the_old_version_matching() -> None:
    from streams.codec import dumps, entry_to_dict
    from streams.hotlists.records import apply_hotlist_record

    entry = make_entry(entry_id="V1", plate="7ABC123")
    index = make_index(entry)
    bad = make_entry(entry_id="V1", plate="7ABC123", list_type="immigration_violator")
    applied = apply_hotlist_record(index, bad.key.encode(), dumps(entry_to_dict(bad)))
    assert applied.outcome == "refused"
    assert "P5" in (applied.reason or "")
    from streams.matching.matcher import match

    assert match(index, make_read(plate="7ABC123")) == []


def test_tombstone_removes() -> None:
    from streams.hotlists.records import apply_hotlist_record

    entry = make_entry()
    index = make_index(entry)
    assert apply_hotlist_record(index, entry.key.encode(), None).outcome == "removed"
    assert len(index) == 0


def test_approving_ranks_are_the_directorys_p2() -> None:
    """The ranks a department entry's approval needs are the ranks the directory gives (P2)."""

    from streams.access.directory import APPROVING_RANKS as DIRECTORY_RANKS
    from streams.hotlists.model import APPROVING_RANKS, approving_rank

    assert APPROVING_RANKS == DIRECTORY_RANKS
    assert approving_rank("Deputy_Chief") and approving_rank("deputy chief") and approving_rank("LIEUTENANT")
    assert not approving_rank("sergeant") and not approving_rank(None) and not approving_rank("")
    deputy = msgspec.structs.replace(
        local_entry(), approved_by=Person("Dep. Chief A", "12", rank="deputy chief")
    )
    check_entry(deputy)


# -- the use cases check the principal first (P21), before any data is read -------------------------


def _principal(role: str, rank: str | None = None):
    from streams.access.principal import Principal

    return Principal(f"u-{role}", f"User {role}", "SJPD", role, badge="1", rank=rank, assignment="Patrol")


@pytest.mark.parametrize(
    ("call", "who", "refusal"),
    [
        ("propose", None, "NotSignedIn"),
        ("propose", "dispatcher", "hotlist.propose"),
        ("approve", None, "NotSignedIn"),
        ("approve", "officer", "hotlist.approve"),
        ("remove", "dispatcher", "hotlist.propose"),
        ("import", "auditor", "hotlist.propose"),
        ("sync", "officer", "hotlist.sync"),
        ("sync", "lieutenant", "hotlist.sync"),
        ("sources", "auditor", "hotlist.sources"),
    ],
)
def test_use_cases_refuse_before_touching_kafka(call: str, who: str | None, refusal: str) -> None:
    """Settings point at a broker nobody runs: a use case that read or wrote anything before its
    permission check would fail with a broker error instead of the refusal."""
    import asyncio
    from datetime import UTC, datetime
    from pathlib import Path

    from streams.errors import AccessDenied, NotSignedIn
    from streams.hotlists import usecases
    from streams.settings import Settings

    settings = Settings(broker_url="kafka://127.0.0.1:9", topic_prefix="unit.")
    principal = None if who is None else _principal(who)
    now = datetime.now(UTC)
    draft = _draft()
    calls = {
        "propose": lambda: usecases.propose(principal, settings, draft, "unit", now),
        "approve": lambda: usecases.approve(principal, settings, "local:X", now),
        "remove": lambda: usecases.remove(principal, settings, "local:X", now, designee_of=None, reason="x"),
        "import": lambda: usecases.import_entries(principal, settings, "flock", Path("x.csv"), now),
        "sync": lambda: usecases.sync(principal, settings, "ncic", Path("x.txt"), None, now),
        "sources": lambda: usecases.sources(principal, settings),
    }
    with pytest.raises(AccessDenied) as info:
        asyncio.run(calls[call]())
    if refusal == "NotSignedIn":
        assert isinstance(info.value, NotSignedIn)
    else:
        assert "P21" in str(info.value) and refusal in str(info.value)


def _draft():
    """A department entry as a front end proposes it: no entering member, no approval."""

    return msgspec.structs.replace(local_entry(), entered_by=None, approved_by=None)


def test_a_draft_naming_its_own_entering_member_is_refused_p2() -> None:
    """The entering member is whoever is signed in: a draft that names one is refused, unread."""
    import asyncio
    from datetime import UTC, datetime

    from streams.errors import InvalidRecord
    from streams.hotlists import usecases
    from streams.settings import Settings

    settings = Settings(broker_url="kafka://127.0.0.1:9", topic_prefix="unit.")
    typed = local_entry()  # carries entered_by and approved_by
    with pytest.raises(InvalidRecord, match="entered_by"):
        asyncio.run(usecases.propose(_principal("officer"), settings, typed, "unit", datetime.now(UTC)))
    assert usecases.member(_principal("lieutenant", "lieutenant")) == Person(
        "User lieutenant", "1", "Patrol", "lieutenant"
    )


# -- P2 values and P6 crimes, judged by the agency's profile -------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"case_number": "-"}, "not a case or incident number"),
        ({"case_number": "N/A"}, "not a case or incident number"),
        ({"case_number": "8ABC123"}, "licence plate"),
        ({"reason": "."}, "names no presumed crime"),
        ({"reason": "keep"}, "names no presumed crime"),
        ({"entered_by": Person("Officer A", "4417", "xyz")}, "names no unit"),
    ],
)
def test_department_entry_fields_must_mean_something_p2(overrides, words) -> None:
    error = refused(local_entry(**overrides))
    assert error.rule == "P2" and words in str(error)
    with pytest.raises(EntryRefused):  # pending entries too: junk is refused, not "incomplete"
        check_entry(local_entry(approved_by=None, **overrides), require_p2=False)


def test_the_case_number_formats_are_the_profiles_p2() -> None:
    from streams.retention.policy import load_profile

    entry = local_entry(case_number="OPD-26-004512")
    check_entry(entry)  # the generic formats (the matcher's defaults) take it
    with pytest.raises(EntryRefused, match="SJ-26-004512, a 9-digit number or a 7-digit number"):
        check_entry(entry, profile=load_profile("san_jose"))
    check_entry(local_entry(case_number="260045120"), profile=load_profile("san_jose"))


def test_partial_plates_only_for_major_crimes_p6() -> None:
    error = refused(local_entry(plate="*A*B*C*", reason="littering 374.4 PC"))
    assert error.rule == "P6" and "homicide" in str(error) and "robbery" in str(error)
    check_entry(local_entry(plate="*A*B*C*", reason="PC 187 homicide: partial plate from a witness"))
    check_entry(local_entry(plate="7ABC123", reason="littering 374.4 PC"))  # a full plate: P6 is not asked


def test_p6_major_crimes_come_from_the_profile() -> None:
    import dataclasses

    from streams.retention.policy import load_profile

    narrow = dataclasses.replace(load_profile("san_jose"), partial_plate_crimes=("homicide",))
    robbery = local_entry(plate="7GH?25X", reason="PC 211 robbery suspect vehicle")
    check_entry(robbery)
    with pytest.raises(EntryRefused, match=r"major crime.*homicide"):
        check_entry(robbery, profile=narrow)
