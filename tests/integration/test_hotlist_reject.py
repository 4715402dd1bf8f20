"""``alpr hotlist reject``: a lieutenant's other answer to a pending department entry (P2), through
the CLI on the real broker.

Only a signed-in lieutenant or above who did not enter it may reject an entry, and only with a note
an auditor can check; each refusal changes nothing (the entry stays pending, no event, no allowed
audit record). A rejection removes the pending record as a withdrawal does (``HotlistEntryRemoved``,
``reason_code`` "rejected", the lieutenant as ``by``) and is audited ``hotlist_reject`` with the note.
"""

from __future__ import annotations

import pytest

from tests.conftest import alpr
from tests.integration.test_hotlists import (
    Cast,
    add_entry,
    approve,
    audits,
    cast,
    current_keys,
    entry_events,
    pending_keys,
    topic_values,
)
from tests.unit.test_schemas import validator

pytestmark = pytest.mark.integration


@pytest.fixture()
def env(topics_env):
    return topics_env


@pytest.fixture()
def people(env) -> Cast:
    """The people of test_hotlists (PEOPLE), signed in."""
    return cast(env)


NOTE = "duplicate of an earlier entry for the same vehicle, case SJ-26-005130"


def reject(people: Cast, who: str, key: str, note: str = NOTE):
    return alpr(people.as_(who) if who else people.nobody, "hotlist", "reject", key, "--note", note)


def test_only_another_lieutenant_rejects_a_pending_entry_with_a_note_p2(env, people) -> None:
    """Not signed in, a dispatcher, an officer, a sergeant in the lieutenant role, the entering
    lieutenant, and a lieutenant with an empty or vague note are refused; nothing changes. Then
    another lieutenant rejects it: no longer pending, never active, recorded with the note."""
    for entry_id, who in (("BOLO-R1", "reyes"), ("BOLO-R2", "cruz")):
        added = add_entry(people, who, entry_id, "--case", "SJ-26-005130")
        assert added.returncode == 0, added.stderr
    entry, own = "local:BOLO-R1", "local:BOLO-R2"

    nobody = reject(people, "", entry)
    assert nobody.returncode == 2 and "sign in" in nobody.stderr
    for who in ("lee", "kim"):  # P21: neither role may approve or reject
        refused = reject(people, who, entry)
        assert refused.returncode == 2 and "hotlist.approve" in refused.stderr, refused.stderr
    sergeant = reject(people, "acting", entry)
    assert sergeant.returncode == 2 and "cannot reject: a lieutenant or above must" in sergeant.stderr
    mine = reject(people, "cruz", own)
    assert mine.returncode == 2 and "cannot reject their own entry" in mine.stderr and "(P2)" in mine.stderr
    for note in ("", "test", "n/a"):
        vague = reject(people, "hale", entry, note)
        assert vague.returncode == 2 and "rejection note" in vague.stderr and "P2" in vague.stderr, note
    assert pending_keys(env) == {entry, own} and current_keys(env) == set()
    assert [e for e in entry_events(env) if e[0] == "HotlistEntryRemoved"] == []
    refusals = audits(env, "hotlist_reject")
    assert refusals and {a["decision"] for a in refusals} == {"refused"}
    assert {a["user"] for a in refusals} == {people.name(k) for k in ("acting", "cruz", "hale")}

    done = reject(people, "hale", entry)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"{entry} (plate 8BOL042) rejected by Lt. Sam Hale (badge 2210, lieutenant): "
        "no longer pending, never active"
    )
    assert pending_keys(env) == {own} and current_keys(env) == set()
    [removed] = [v for v in topic_values(env, "hotlist-changes") if v.get("event") == "HotlistEntryRemoved"]
    validator("hotlist_change").validate(removed)
    assert (removed["entry_key"], removed["reason_code"], removed["reason"]) == (entry, "rejected", NOTE)
    assert removed["by"]["name"] == "Lt. Sam Hale" and removed["by"]["badge"] == "2210"
    [allowed] = [a for a in audits(env, "hotlist_reject") if a["decision"] == "allowed"]
    assert allowed["user"] == people.name("hale") and allowed["reason"] == NOTE
    assert allowed["query"]["note"] == NOTE and allowed["query"]["entered_by_badge"] == "4417"
    assert allowed["case_number"] == "SJ-26-005130"

    again = reject(people, "hale", entry)  # rejected already: nothing is pending under that key
    assert again.returncode == 2 and "no pending entry" in again.stderr
    late = approve(people, "hale", entry)
    assert late.returncode == 2 and "no pending entry" in late.stderr
    assert current_keys(env) == set()
