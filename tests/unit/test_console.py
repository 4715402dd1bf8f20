"""The console's pure parts: what an alert shows (P4, P7, P10), queue order, agency scope (P19),
the audit of views (P15) and the live queue's filter."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import msgspec

from streams.access.directory import Agency, Directory
from streams.access.principal import Principal
from streams.alerts.lifecycle import Actor, AlertStatusValidated, AlertVisuallyVerified, evolve
from streams.alerts.model import raise_alert
from streams.alerts.usecases import AUDIT_CHUNK, audit_shown, in_scope, owners
from streams.console.server import LiveQueue
from streams.console.views import BANNER, alert_detail, alert_summary, queue_key
from streams.matching.matcher import match
from tests.factories import NOW, local_entry, make_entry, make_index, make_read

DAY = timedelta(hours=24)
LEE = Actor("Dispatcher Lee", "D-101")


def state_for(plate_read: str = "7ABC123", read_state: str = "CA", **entry):
    listed = make_entry(**{"plate": "7ABC123", **entry})
    read = make_read(plate=plate_read, plate_state=read_state, captured_at=NOW)
    [found] = match(make_index(listed), read)
    return evolve(None, raise_alert(read, found, NOW))


def test_the_alert_view_says_the_match_plainly_with_the_p7_banner() -> None:
    state = state_for("7A8C123", "NV")
    detail = alert_detail(state, NOW, NOW - timedelta(hours=1), DAY)
    assert detail["banner"] == BANNER == "An alert alone is not grounds for a stop (P7)"
    assert detail["match_notes"][0].startswith("OCR-equivalent match")
    assert "State mismatch: read NV, listed CA" in detail["match_notes"]
    assert not any("Stale" in note for note in detail["match_notes"])
    assert detail["occupant_reminder"] is None
    assert detail["actions"] == ["verify", "reject"]
    assert detail["entry"]["case_number"] == "SJ-26-000001" and detail["read"]["plate"] == "7A8C123"


def test_a_source_stale_since_the_alert_is_flagged_p4() -> None:
    state = state_for()
    stale = alert_summary(state, NOW, NOW - timedelta(hours=25), DAY)["match_notes"]
    never = alert_summary(state, NOW, None, DAY)["match_notes"]
    assert any(note.startswith("Stale source: ncic last refreshed") for note in stale)
    assert any("never refreshed" in note for note in never)


def test_a_department_entry_is_never_flagged_stale_p4_applies_to_shared_data_only() -> None:
    listed = local_entry(plate="7ABC123")
    [found] = match(make_index(listed), make_read(plate="7ABC123", captured_at=NOW))
    state = evolve(None, raise_alert(make_read(plate="7ABC123", captured_at=NOW), found, NOW))
    assert not any("Stale" in note for note in alert_summary(state, NOW, None, DAY)["match_notes"])


def test_a_late_read_is_flagged_historical_with_its_age() -> None:
    state = state_for()
    late = dataclasses.replace(
        state, raised=dataclasses.replace(state.raised, captured_age_s=3 * 3600 + 12 * 60)
    )
    notes = alert_summary(late, NOW, NOW, DAY)["match_notes"]
    assert "Historical read: captured 3 h 12 min before it arrived; do not follow on this alert" in notes


def test_wanted_person_entries_remind_to_match_the_occupant_p10() -> None:
    detail = alert_detail(state_for(list_type="wanted_person"), NOW, NOW, DAY)
    assert "match the occupant" in detail["occupant_reminder"]
    assert detail["urgency"] == 0


def test_the_confirmation_clock_and_overdue() -> None:
    state = state_for()
    state = evolve(state, AlertVisuallyVerified("e1", state.alert_id, NOW, LEE))
    state = evolve(state, AlertStatusValidated("e2", state.alert_id, NOW, LEE, priority="urgent"))
    assert alert_summary(state, NOW + timedelta(minutes=4), NOW, DAY)["seconds_left"] == 360
    late = alert_summary(state, NOW + timedelta(minutes=11), NOW, DAY)
    assert late["overdue"] and late["seconds_left"] == -60


def test_the_queue_puts_overdue_then_nearest_deadline_then_person_entries_then_newest_first() -> None:
    def row(name, overdue=False, left=None, urgency=2, minutes=0):
        raised = (NOW + timedelta(minutes=minutes)).isoformat()
        return {"n": name, "overdue": overdue, "seconds_left": left, "urgency": urgency, "raised_at": raised}

    rows = [
        row("old stolen"),
        row("new stolen", minutes=5),
        row("wanted", urgency=0),
        row("due soon", left=120),
        row("due later", left=3000),
        row("overdue", overdue=True, left=-5),
    ]
    order = [r["n"] for r in sorted(rows, key=queue_key)]
    assert order == ["overdue", "due soon", "due later", "wanted", "new stolen", "old stolen"]


SJPD = Agency("SJPD", "San José Police Department", "municipal_police", "CA", "home")
OAK = Agency("OAK", "Oakland Police Department", "municipal_police", "CA", "signed")
CAMERAS = {"sj-1": "SJPD", "oak-1": "OAK"}


def principal(agency: str = "SJPD", role: str = "dispatcher") -> Principal:
    return Principal(f"u-{agency.lower()}", "U", agency, role, badge="B-1")


def directory(*agencies: Agency) -> Directory:
    return Directory({}, {a.agency_id: a for a in agencies or (SJPD, OAK)})


def at_camera(camera: str, **entry):
    """An alert read by this camera; ``entry`` changes the matched entry after matching (a local
    entry's P2 fields are not the subject here)."""
    read = make_read(plate="7ABC123", camera_id=camera, captured_at=NOW)
    [found] = match(make_index(make_entry(plate="7ABC123")), read)
    raised = raise_alert(read, found, NOW)
    return evolve(None, dataclasses.replace(raised, entry=msgspec.structs.replace(raised.entry, **entry)))


def test_an_alert_belongs_to_its_cameras_agency_and_to_the_entering_agency_of_a_local_entry_p19() -> None:
    sj, oak = at_camera("sj-1"), at_camera("oak-1")
    assert owners(sj.raised, CAMERAS) == {"SJPD"}
    assert owners(at_camera("nobody-knows").raised, CAMERAS) == frozenset()
    local = at_camera("sj-1", source="local", ori="OAK")
    assert owners(local.raised, CAMERAS) == {"SJPD", "OAK"}
    ncic = at_camera("sj-1", ori="OAK")  # an NCIC entry's ORI is who confirms, not an owner
    assert owners(ncic.raised, CAMERAS) == {"SJPD"}
    dirs = directory()
    assert in_scope(principal("OAK"), oak, dirs, CAMERAS) and not in_scope(
        principal("OAK"), sj, dirs, CAMERAS
    )
    assert in_scope(principal("OAK"), local, dirs, CAMERAS)
    assert not in_scope(principal("SJPD"), oak, dirs, CAMERAS)


def test_sharing_under_an_agreement_opens_the_owners_alerts_to_the_eligible_viewer_only_p19() -> None:
    sj = at_camera("sj-1")
    sharing = directory(dataclasses.replace(SJPD, shares_with=("OAK",)), OAK)
    assert in_scope(principal("OAK"), sj, sharing, CAMERAS)
    no_agreement = directory(
        dataclasses.replace(SJPD, shares_with=("OAK",)), dataclasses.replace(OAK, agreement="none")
    )
    assert not in_scope(principal("OAK"), sj, no_agreement, CAMERAS)


def test_external_users_see_no_alerts_even_of_their_own_agency() -> None:
    oak = at_camera("oak-1")
    assert not in_scope(principal("OAK", "external"), oak, directory(), CAMERAS)


def test_each_view_is_audited_with_every_alert_and_plate_shown_in_chunks_p15() -> None:
    states = [at_camera("sj-1", entry_id=f"V{i:09d}") for i in range(AUDIT_CHUNK + 3)]
    records = audit_shown(principal(), NOW, "alert_list", states, which="open")
    assert [r.result_count for r in records] == [AUDIT_CHUNK, 3]
    assert sum((r.query["alerts"] for r in records), []) == [s.alert_id for s in states]
    assert records[0].query["plates"][0] == "7ABC123" and records[0].user == "u-sjpd"
    assert records[0].agency == "SJPD" and records[0].badge == "B-1" and records[0].query["which"] == "open"
    [empty] = audit_shown(principal(), NOW, "alert_list", [])
    assert empty.result_count == 0 and empty.query["alerts"] == []  # the view itself is an access


async def test_the_live_queue_sends_each_client_only_what_its_principal_may_see() -> None:
    dirs = directory()
    live = LiveQueue(lambda p, s: in_scope(p, s, dirs, CAMERAS))
    async with live.client(principal("SJPD")) as sj, live.client(principal("OAK")) as oak:
        for state in (at_camera("sj-1"), at_camera("oak-1")):
            live.on_change(None, state.raised, state)
        assert [s.raised.read.camera_id for s in drain(sj.queue)] == ["sj-1"]
        assert [s.raised.read.camera_id for s in drain(oak.queue)] == ["oak-1"]
    assert not live.clients


def drain(queue) -> list:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out
