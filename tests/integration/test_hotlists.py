"""Hot-list sync, department entries and imports through the CLI, on the real broker (P1-P6).

Every command acts as the principal of a sign-in (P18, P21): a person's session (``alpr login``)
or a feed-sync service account (ALPR_SERVICE_TOKEN). Who entered and who approved an entry come
from the directory, never from an option (P2). Refused calls change nothing.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from streams.access.principal import Principal
from streams.errors import NotSignedIn
from streams.hotlists.feeder import keep_in_sync
from streams.hotlists.service import HotlistStore
from tests.conftest import ROOT, alpr, env_kind, settings_of
from tests.integration.kafka_helpers import (
    HOME,
    SignInUser,
    TopicRecord,
    add_user,
    admin_principal,
    alpr_as,
    ensure_home,
    read_topic,
    restore_topics,
    snapshot_topics,
    topics_are_empty,
)
from tests.unit.test_schemas import validator

pytestmark = pytest.mark.integration

FEEDS = ROOT / "samples" / "feeds"
NCIC_ROWS = [line for line in (FEEDS / "ncic_lpr_extract.txt").read_text().splitlines()[2:-1]]

#: The people of a test: key -> (role, display name, badge, rank, assignment), as the directory has them.
PEOPLE: dict[str, tuple[str, str, str, str | None, str | None]] = {
    "reyes": ("officer", "Officer Dana Reyes", "4417", None, "Southern Division patrol"),
    "kim": ("officer", "Officer Kim Tran", "5555", None, "Homicide"),
    "hale": ("lieutenant", "Lt. Sam Hale", "2210", "lieutenant", "Southern Division"),
    "cruz": ("lieutenant", "Lt. Ana Cruz", "2230", "lieutenant", "Central Division"),
    "acting": ("lieutenant", "Sgt. Bo Lee", "3001", "sergeant", "Central Division"),
    "lee": ("dispatcher", "Disp. Pat Lee", "7001", None, "Communications"),
    "admin": ("administrator", "Adm. Jo Park", "9001", None, "Technology"),
}


@dataclass
class Cast:
    """Signed-in people (their tokens and CLI environments) and a feed-sync service account."""

    env: dict[str, str]
    users: dict[str, SignInUser]
    tokens: dict[str, str]
    service_token: str
    suffix: str

    def as_(self, key: str) -> dict[str, str]:
        """The environment of ``key``'s CLI session."""
        return {**self.env, "ALPR_SESSION_FILE": str(Path(self.env["ALPR_STATE_DIR"]) / f"session-{key}")}

    @property
    def nobody(self) -> dict[str, str]:
        """No session file and no service token: not signed in."""
        return {**self.env, "ALPR_SESSION_FILE": str(Path(self.env["ALPR_STATE_DIR"]) / "no-session")}

    @property
    def feed(self) -> dict[str, str]:
        return {**self.env, "ALPR_SERVICE_TOKEN": self.service_token}

    def name(self, key: str) -> str:
        return self.users[key].name


#: The topics a cast writes: a test's own must be empty for a copy (an audit chain anchored on an
#: empty topic is only valid on one).
_CAST_TOPICS = ("users", "services", "agencies", "signins", "audit", "audit-checkpoints")


@dataclass(frozen=True)
class _Template:
    """A cast made once on a prefix and a state directory of its own, and what it wrote there."""

    cast: Cast
    records: list[TopicRecord]
    state: tempfile.TemporaryDirectory[str]
    made: float  # time.monotonic()


#: (the kind of environment, channel) -> the template of this test process (conftest.env_kind)
_TEMPLATES: dict[tuple[frozenset[tuple[str, str]], str], _Template] = {}


def cast(env: dict[str, str], channel: str = "cli") -> Cast:
    """Everyone in PEOPLE added to the directory (trained, P21) and signed in with a password and
    a fresh code, each session saved as ``alpr login`` saves it (0600); and a feed-sync account.

    Signing seven people in takes seconds (each directory change reads the directory again), so
    it happens once per test process and channel, on a template prefix, and each test's fresh
    topics get a copy: the same records in the same partitions (directory, sign-in state, audit
    chain) and the same state files (directory key, session files). Tests share no topic: each
    one's writes go to its own. The template is renewed well before its sessions' idle lock
    (P18). On topics that hold records already, the cast is made there directly."""
    settings = settings_of(env)
    key = (env_kind(env), channel)
    template = _TEMPLATES.get(key)
    max_age = settings.session_idle_minutes * 60 / 3
    if template is None or time.monotonic() - template.made > max_age:
        template = _TEMPLATES[key] = _make_template(env, channel)
    if not asyncio.run(topics_are_empty(settings, _CAST_TOPICS)):
        return _sign_in_cast(env, channel)
    asyncio.run(restore_topics(settings, template.records))
    shutil.copytree(template.state.name, env["ALPR_STATE_DIR"], dirs_exist_ok=True)
    made = template.cast
    return Cast(env, dict(made.users), dict(made.tokens), made.service_token, made.suffix)


def _make_template(env: dict[str, str], channel: str) -> _Template:
    from streams.kafka.topics import create_topics

    state = tempfile.TemporaryDirectory(prefix="alpr-cast-")
    prefix = f"cast{uuid.uuid4().hex[:8]}."
    template_env = {**env, "ALPR_TOPIC_PREFIX": prefix, "ALPR_STATE_DIR": state.name}
    settings = settings_of(template_env)
    asyncio.run(create_topics(settings))
    made = _sign_in_cast(template_env, channel)
    records = asyncio.run(snapshot_topics(settings))
    assert {r.topic for r in records} <= set(_CAST_TOPICS), {r.topic for r in records}
    return _Template(made, records, state, time.monotonic())


def _sign_in_cast(env: dict[str, str], channel: str) -> Cast:
    """The cast made on ``env``'s own topics (see :func:`cast`)."""
    from streams.access.authn import Authenticator
    from streams.access.directory import DirectoryStore
    from streams.cli.common import save_session

    settings = settings_of(env)
    suffix = uuid.uuid4().hex[:6]  # a code signs in once: new names need no wait for a fresh one
    result = Cast(env, {}, {}, "", suffix)

    async def setup() -> None:
        await ensure_home(settings)
        store = DirectoryStore(settings)
        now = datetime.now(UTC)
        for key, (role, display, badge, rank, assignment) in PEOPLE.items():
            name = f"{key}-{suffix}"
            password = f"correct-horse-battery-{uuid.uuid4().hex[:8]}"
            user, secret = await store.add_user(
                name,
                password,
                display=display,
                badge=badge,
                agency=HOME,
                role=role,
                by=admin_principal(),
                now=now,
                rank=rank,
                assignment=assignment,
            )
            await store.record_training(name, "ALPR user training", "2026-10-01", admin_principal(), now)
            result.users[key] = SignInUser(name, password, secret, user.display, user.badge)
        result.service_token = await store.add_service(
            f"feed-{suffix}", "feed-sync", HOME, admin_principal(), now
        )
        async with Authenticator(settings) as auth:
            await auth.caught_up()
            for key, user in result.users.items():
                signed = await auth.sign_in(
                    user.name,
                    user.password,
                    user.fresh_code(),
                    source="test",
                    channel=channel,
                    now=datetime.now(UTC),
                )
                result.tokens[key] = signed.token
                save_session(settings_of(result.as_(key)), signed.token, user.name, signed.expires_at)

    asyncio.run(setup())
    return result


def ncic_extract(
    path: Path, rows: list[str], generated: datetime | None = None, part: tuple[int, int] | None = None
) -> Path:
    """An NCIC extract file; ``part=(n, N)``: part n of an extract in N files."""
    generated = generated or datetime.now(UTC)
    header = f"HDR|NCIC-LPR|1|{generated.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    if part is not None:
        header += f"|{part[0]}/{part[1]}"
    columns = (FEEDS / "ncic_lpr_extract.txt").read_text().splitlines()[1]
    path.write_text("\n".join([header, columns, *rows, f"TRL|{len(rows)}"]) + "\n")
    return path


@pytest.fixture()
def env(topics_env):
    return topics_env


@pytest.fixture()
def people(env) -> Cast:
    return cast(env)


def sync_ncic(people: Cast, path: Path, *extra: str, env: dict[str, str] | None = None):
    return alpr(env or people.feed, "hotlist", "sync", "--format", "ncic", "--from", str(path), *extra)


def topic_values(env, name: str) -> list[dict]:
    settings = settings_of(env)
    records = asyncio.run(read_topic(settings.kafka, settings.topic(name)))
    return [orjson.loads(r.value) if r.value is not None else {"tombstone": r.key.decode()} for r in records]


def entry_events(env) -> list[tuple[str, str]]:
    return [(v["event"], v["entry_key"]) for v in topic_values(env, "hotlist-changes") if "entry_key" in v]


def current_keys(env) -> set[str]:
    settings = settings_of(env)
    records = asyncio.run(read_topic(settings.kafka, settings.topic("hotlist")))
    state: dict[str, bool] = {}
    for r in records:
        state[r.key.decode()] = r.value is not None
    return {k for k, alive in state.items() if alive}


def pending_keys(env) -> set[str]:
    state: dict[str, bool] = {}
    for value in topic_values(env, "hotlist-pending"):
        if "tombstone" in value:
            state[value["tombstone"]] = False
        else:
            state[f"local:{value['entry']['entry_id']}"] = True
    return {k for k, alive in state.items() if alive}


def validate_pending(value: dict) -> None:
    """The pending record against its schema, which names the entering member's directory user
    (``entered_by_user``, P2: the approver must be someone else)."""
    assert isinstance(value["entered_by_user"], str) and 0 < len(value["entered_by_user"]) <= 64
    validator("hotlist_pending").validate(value)


def audits(env, action: str) -> list[dict]:
    """The action's audit records in the order they were made (the topic is keyed by user, so
    two users' records come back from different partitions in no fixed order)."""
    return sorted((v for v in topic_values(env, "audit") if v.get("action") == action), key=lambda v: v["at"])


def test_sync_needs_a_feed_sync_account_or_an_administrator(env, people, tmp_path) -> None:
    """Unauthenticated and wrong-role syncs are refused and change nothing (P21); an
    administrator's sync is audited with their name (P15)."""
    path = ncic_extract(tmp_path / "a.txt", NCIC_ROWS)
    nobody = sync_ncic(people, path, env=people.nobody)
    assert nobody.returncode == 2 and "sign in" in nobody.stderr
    officer = sync_ncic(people, path, env=people.as_("reyes"))
    assert officer.returncode == 2 and "P21" in officer.stderr and "hotlist.sync" in officer.stderr
    bad_token = sync_ncic(people, path, env={**people.env, "ALPR_SERVICE_TOKEN": "alpr-svc-forged"})
    assert bad_token.returncode == 2
    assert current_keys(env) == set() and entry_events(env) == []
    assert topic_values(env, "hotlist-sources") == []
    unsigned = alpr(people.nobody, "hotlist", "sources")
    assert unsigned.returncode == 2 and "sign in" in unsigned.stderr

    admin = sync_ncic(people, path, env=people.as_("admin"))
    assert admin.returncode == 0, admin.stderr
    assert len(current_keys(env)) == 4
    [record] = audits(env, "hotlist_sync")
    assert record["user"] == people.name("admin") and record["badge"] == "9001" and record["agency"] == HOME
    assert record["query"]["counts"]["added"] == 4 and record["decision"] == "allowed"


def test_sync_is_a_diff_and_resync_emits_nothing(env, people, tmp_path) -> None:
    first = sync_ncic(people, ncic_extract(tmp_path / "a.txt", NCIC_ROWS))
    assert first.returncode == 0, first.stderr
    assert "synced ncic" in first.stdout and "4 added" in first.stdout and "1 dropped (P5)" in first.stdout
    assert "Immigration Violator" in first.stderr
    assert current_keys(env) == {"ncic:V123456789", "ncic:V223456780", "ncic:W300000111", "ncic:M400000222"}
    before = entry_events(env)
    assert len(before) == 4

    again = sync_ncic(people, ncic_extract(tmp_path / "b.txt", NCIC_ROWS))
    assert again.returncode == 0 and "0 added, 0 updated, 0 removed, 4 unchanged" in again.stdout
    assert len(entry_events(env)) == 4  # nothing new in the history

    changed = [r.replace("|Felony warrant", "|Felony warrant (updated)") for r in NCIC_ROWS[:4]]
    changed.append("L|L600000444|CA0431000|6NEW600|CA|2027|PC|||||||SJ-26-009999|")
    third = sync_ncic(people, ncic_extract(tmp_path / "c.txt", changed))
    assert "1 added, 1 updated, 0 removed" in third.stdout, third.stdout + third.stderr
    after = entry_events(env)
    assert len(after) == 6 and set(after) - set(before) == {
        ("HotlistEntryUpdated", "ncic:W300000111"),
        ("HotlistEntryAdded", "ncic:L600000444"),
    }

    for value in topic_values(env, "hotlist-changes"):
        validator("hotlist_change").validate(value)
    for value in topic_values(env, "hotlist-sources"):
        validator("hotlist_source").validate(value)
    sources = alpr(people.as_("lee"), "hotlist", "sources")
    assert sources.returncode == 0
    line = next(line for line in sources.stdout.splitlines() if line.startswith("ncic"))
    assert line.split()[1] == "5" and "fresh" in line
    assert "checksum sha256:" in sources.stdout


def test_removal_guard_and_force(env, people, tmp_path) -> None:
    assert sync_ncic(people, ncic_extract(tmp_path / "a.txt", NCIC_ROWS)).returncode == 0
    smaller = ncic_extract(tmp_path / "b.txt", NCIC_ROWS[:2])  # removes 2 of 4
    refused = sync_ncic(people, smaller)
    assert refused.returncode == 2
    assert "would remove 2 of 4 ncic entries" in refused.stderr and "--force" in refused.stderr
    assert len(current_keys(env)) == 4  # nothing changed
    status = alpr(people.as_("lee"), "hotlist", "sources").stdout
    assert "too_many_removals" in status
    forced = sync_ncic(people, smaller, "--force")
    assert forced.returncode == 0 and "2 removed" in forced.stdout
    assert current_keys(env) == {"ncic:V123456789", "ncic:V223456780"}


def test_truncated_and_older_extracts_change_nothing(env, people, tmp_path) -> None:
    assert sync_ncic(people, ncic_extract(tmp_path / "a.txt", NCIC_ROWS)).returncode == 0
    truncated = tmp_path / "t.txt"
    truncated.write_text(
        "\n".join(ncic_extract(tmp_path / "full.txt", NCIC_ROWS[:1]).read_text().splitlines()[:-1])
    )
    result = sync_ncic(people, truncated)
    assert result.returncode == 2 and "truncated" in result.stderr
    older = ncic_extract(tmp_path / "old.txt", NCIC_ROWS[:1], generated=datetime.now(UTC) - timedelta(days=2))
    result = sync_ncic(people, older)
    assert result.returncode == 2 and "older than the ncic extract already loaded" in result.stderr
    assert len(current_keys(env)) == 4
    refusals = [v for v in topic_values(env, "hotlist-changes") if v.get("event") == "HotlistSyncRefused"]
    assert [r["reason_code"] for r in refusals] == ["truncated", "older"]


def test_svs_lists_sync_as_their_own_sources(env, people) -> None:
    for name in ("svs_slr.csv", "svs_sfr.csv"):
        result = alpr(people.feed, "hotlist", "sync", "--format", "svs", "--from", str(FEEDS / name))
        assert result.returncode == 0, result.stderr
    assert current_keys(env) == {"slr:SLR-2026-000981", "sfr:SFR-2026-004410"}
    mismatch = alpr(
        people.feed,
        "hotlist",
        "sync",
        "--format",
        "svs",
        "--source",
        "svs",
        "--from",
        str(FEEDS / "svs_slr.csv"),
    )
    assert mismatch.returncode == 2 and "holds list SLR" in mismatch.stderr


def add_entry(
    people: Cast,
    who: str,
    entry_id: str = "BOLO-T1",
    *extra: str,
    reason: str = "PC 211 robbery suspect vehicle",
):
    """`alpr hotlist add` signed in as ``who``: no --entered-by, --badge or --assignment (P2)."""
    args = [
        "--plate",
        "8BOL042",
        "--state",
        "CA",
        "--reason",
        reason,
        "--entry-id",
        entry_id,
        "--expires",
        "7d",
    ]
    return alpr(people.as_(who) if who else people.nobody, "hotlist", "add", *args, *extra)


def approve(people: Cast, who: str, key: str = "local:BOLO-T1"):
    return alpr(people.as_(who) if who else people.nobody, "hotlist", "approve", key)


def test_department_entry_needs_a_lieutenants_approval_p2(env, people) -> None:
    # refused proposals change nothing: not signed in, and a dispatcher (P21)
    nobody = add_entry(people, "", "BOLO-X", "--case", "SJ-26-005120")
    assert nobody.returncode == 2 and "sign in" in nobody.stderr
    dispatcher = add_entry(people, "lee", "BOLO-X", "--case", "SJ-26-005120")
    assert (
        dispatcher.returncode == 2 and "P21" in dispatcher.stderr and "hotlist.propose" in dispatcher.stderr
    )
    assert pending_keys(env) == set() and entry_events(env) == []

    added = add_entry(people, "reyes", "BOLO-T1", "--case", "SJ-26-005120")
    assert added.returncode == 0, added.stderr
    assert "local:BOLO-T1 pending" in added.stdout and "still missing: approved_by" in added.stdout
    assert "alpr hotlist approve local:BOLO-T1" in added.stdout and "--by" not in added.stdout
    assert current_keys(env) == set()  # not active yet
    [record] = [v for v in topic_values(env, "hotlist-pending") if "entry" in v]
    assert record["entry"]["entered_by"] == {  # from the directory, never typed (P2)
        "name": "Officer Dana Reyes",
        "badge": "4417",
        "assignment": "Southern Division patrol",
        "rank": None,
    }
    assert record["entered_by_user"] == people.name("reyes")
    validate_pending(record)

    assert "local:BOLO-T1" in alpr(people.as_("kim"), "hotlist", "pending").stdout
    unsigned = alpr(people.nobody, "hotlist", "pending")
    assert unsigned.returncode == 2 and "8BOL042" not in unsigned.stdout
    dispatcher = alpr(people.as_("lee"), "hotlist", "pending")
    assert dispatcher.returncode == 2 and "8BOL042" not in dispatcher.stdout
    pending_reads = audits(env, "hotlist_pending")  # P15: who saw which plates, and how many
    assert [(a["user"], a["decision"], a["result_count"]) for a in pending_reads] == [
        (people.name("kim"), "allowed", 1)
    ]

    # refused approvals change nothing: not signed in, an officer (P21), a sergeant holding the
    # lieutenant role (rank from the directory, P2), and the option that named an approver is gone
    assert approve(people, "").returncode == 2
    officer = approve(people, "kim")
    assert officer.returncode == 2 and "hotlist.approve" in officer.stderr
    sergeant = approve(people, "acting")
    assert sergeant.returncode == 2 and "lieutenant or above" in sergeant.stderr
    typed = alpr(
        people.as_("kim"), "hotlist", "approve", "local:BOLO-T1", "--by", "Lt. Hale", "--rank", "chief"
    )
    assert typed.returncode == 2 and "unrecognized arguments" in typed.stderr
    assert current_keys(env) == set() and pending_keys(env) == {"local:BOLO-T1"}

    approved = approve(people, "hale")
    assert approved.returncode == 0, approved.stderr
    assert "approved by Lt. Sam Hale (badge 2210, lieutenant)" in approved.stdout
    assert current_keys(env) == {"local:BOLO-T1"} and pending_keys(env) == set()
    assert "0 pending" in alpr(people.as_("kim"), "hotlist", "pending").stdout
    [entry] = [v for v in topic_values(env, "hotlist") if "entry_id" in v]
    assert entry["approved_by"] == {
        "name": "Lt. Sam Hale",
        "badge": "2210",
        "assignment": "Southern Division",
        "rank": "lieutenant",
    }
    assert entry["expires_at"] is not None
    approvals = audits(env, "hotlist_approve")
    assert [a["decision"] for a in approvals] == ["refused", "allowed"]  # the sergeant's, then Hale's
    done = approvals[1]
    assert (done["user"], done["badge"], done["agency"]) == (people.name("hale"), "2210", HOME)
    assert done["query"]["approver_rank"] == "lieutenant"
    assert (
        done["query"]["entered_by_user"] == people.name("reyes")
        and done["query"]["entered_by_badge"] == "4417"
    )
    assert done["case_number"] == "SJ-26-005120"

    other = alpr(people.as_("kim"), "hotlist", "remove", "local:BOLO-T1", "--reason", "done")
    assert other.returncode == 2 and "only the entering member" in other.stderr
    dispatcher = alpr(
        people.as_("lee"), "hotlist", "remove", "local:BOLO-T1", "--designee-of", "4417", "--reason", "x"
    )
    assert dispatcher.returncode == 2 and "P21" in dispatcher.stderr
    assert current_keys(env) == {"local:BOLO-T1"}
    designee = alpr(
        people.as_("kim"),
        "hotlist",
        "remove",
        "local:BOLO-T1",
        "--designee-of",
        "4417",
        "--reason",
        "vehicle located",
    )
    assert designee.returncode == 0, designee.stderr
    assert current_keys(env) == set()
    for name, schema in (("hotlist-changes", "hotlist_change"), ("hotlist", "hotlist_entry")):
        for value in topic_values(env, name):
            if "tombstone" not in value:
                validator(schema).validate(value)
    events = [v for v in topic_values(env, "hotlist-changes") if v.get("entry_key") == "local:BOLO-T1"]
    assert [e["event"] for e in events] == [
        "HotlistEntryProposed",
        "HotlistEntryApproved",
        "HotlistEntryRemoved",
    ]
    assert events[0]["by"]["badge"] == "4417" and events[1]["by"]["badge"] == "2210"
    assert events[2]["by"]["badge"] == "5555" and events[2]["designee_of"] == "4417"
    [removal] = audits(env, "hotlist_remove")
    assert removal["user"] == people.name("kim") and removal["query"]["designee_of"] == "4417"


def test_a_lieutenant_cannot_approve_their_own_entry_p2(env, people) -> None:
    """Compared by directory user name: the entering lieutenant is refused, another approves."""
    added = add_entry(people, "cruz", "BOLO-T2", "--case", "SJ-26-005121")
    assert added.returncode == 0, added.stderr
    own = approve(people, "cruz", "local:BOLO-T2")
    assert own.returncode == 2 and "own entry" in own.stderr and "(P2)" in own.stderr
    assert current_keys(env) == set() and pending_keys(env) == {"local:BOLO-T2"}
    [refused] = audits(env, "hotlist_approve")
    assert refused["decision"] == "refused" and refused["user"] == people.name("cruz")
    assert approve(people, "hale", "local:BOLO-T2").returncode == 0
    assert current_keys(env) == {"local:BOLO-T2"}


def test_incomplete_entry_cannot_be_approved(env, people) -> None:
    assert add_entry(people, "reyes").returncode == 0  # no case number
    result = approve(people, "hale")
    assert result.returncode == 2 and "case_number" in result.stderr and "(P2)" in result.stderr
    assert current_keys(env) == set()


def test_immigration_purpose_is_refused_for_department_entries_p5(env, people) -> None:
    result = add_entry(people, "reyes", "BOLO-T1", "--case", "SJ-26-0001", reason="Immigration status check")
    assert result.returncode == 2 and "(P5)" in result.stderr
    assert "0 pending" in alpr(people.as_("reyes"), "hotlist", "pending").stdout


def test_flock_import_is_pending_and_reports_outcomes(env, people, tmp_path) -> None:
    """P2: an import makes pending entries only; a row whose reason names no presumed crime
    ("Person of interest") is refused, a row without a case number waits incomplete."""
    args = ["hotlist", "import", "--format", "flock", str(FEEDS / "flock_export.csv")]
    assert alpr(people.nobody, *args).returncode == 2
    assert alpr(people.as_("lee"), *args).returncode == 2
    assert pending_keys(env) == set()
    result = alpr(people.as_("reyes"), *args)
    assert result.returncode == 0, result.stderr
    assert "1 dropped p5" in result.stdout and "1 errors" in result.stdout
    assert "1 pending approval" in result.stdout and "1 pending incomplete" in result.stdout
    assert "1 refused" in result.stdout and not any("2QRS345" in key for key in pending_keys(env))
    assert "Person of interest (Flock hot list" in result.stderr
    assert "names no presumed crime" in result.stderr
    assert "nothing was activated" in result.stdout
    assert current_keys(env) == set()
    log = tmp_path / "flock_changelog.csv"
    log.write_text(
        "Date,Action,Hotlist Name,License,State,Reason,Case,Expiry\n"
        "2026-11-21T14:02:00-08:00,Removed,Stolen Vehicles - local,6ABC777,CA,,,\n"
    )
    changelog = alpr(people.as_("reyes"), "hotlist", "import", "--format", "flock", str(log))
    assert changelog.returncode == 0 and "1 removed" in changelog.stdout, changelog.stdout
    pending = alpr(people.as_("reyes"), "hotlist", "pending").stdout
    assert "6ABC777" not in pending and "8BOL042" in pending and "1 pending" in pending
    for value in topic_values(env, "hotlist-pending"):
        if "tombstone" not in value:
            validate_pending(value)
            assert value["entry"]["entered_by"]["badge"] == "4417"
            assert value["entered_by_user"] == people.name("reyes")
    imports = audits(env, "hotlist_import")
    assert [a["user"] for a in imports] == [people.name("reyes")] * 2


def test_keep_in_sync_retries_then_syncs_and_flags_staleness(env, people, tmp_path) -> None:
    """The feed is missing at first (retry with backoff), arrives (synced at the next try), then goes
    stale: one HotlistSourceStale per stale period, not one per round."""
    settings = settings_of(env)
    feed_sync = Principal(f"feed-{people.suffix}", f"feed-{people.suffix}", HOME, "feed-sync", "service")
    path = tmp_path / "feed" / "extract.txt"
    sleeps: list[float] = []
    start = datetime.now(UTC).replace(microsecond=0)
    clock = {"now": start}

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            path.parent.mkdir()
            ncic_extract(path, NCIC_ROWS, generated=start)
        if len(sleeps) == 4:
            clock["now"] += timedelta(hours=25)  # no newer extract for a day

    asyncio.run(
        keep_in_sync(
            settings,
            "ncic",
            path,
            None,
            timedelta(hours=12),
            actor=lambda now: feed_sync,
            clock=lambda: clock["now"],
            sleep=sleep,
            rounds=6,
        )
    )
    assert sleeps[:3] == [1.0, 2.0, 12 * 3600.0]  # backoff while missing, then the interval

    async def status() -> dict:
        async with HotlistStore(settings) as store:
            return (await store.source_status())["ncic"]

    assert asyncio.run(status())["entry_count"] == 4
    stale = [v for v in topic_values(env, "hotlist-changes") if v.get("event") == "HotlistSourceStale"]
    assert [v["fresh_as_of"] for v in stale] == [None, start.isoformat()]  # never synced; then a day old
    synced = audits(env, "hotlist_sync")
    assert [a["user"] for a in synced if a["decision"] == "allowed"] == [feed_sync.name] * 4  # P15
    assert [a["decision"] for a in synced].count("refused") == 2  # the two rounds without the file


def test_keep_in_sync_stops_when_its_account_is_refused(env, people, tmp_path) -> None:
    """A disabled service account (its principal no longer resolves) stops the loop: no sync."""

    def disabled(now: datetime) -> Principal:
        raise NotSignedIn("unknown or disabled service token")

    path = ncic_extract(tmp_path / "extract.txt", NCIC_ROWS)
    with pytest.raises(NotSignedIn):
        asyncio.run(
            keep_in_sync(
                settings_of(env),
                "ncic",
                path,
                None,
                timedelta(hours=1),
                actor=disabled,
                clock=lambda: datetime.now(UTC),
                rounds=1,
            )
        )
    assert current_keys(env) == set()


def test_unattended_sync_runs_only_as_a_service_account(env, people, tmp_path) -> None:
    """`hotlist sync --every` with a person's session (even an administrator's) is refused: an
    unattended loop runs as a feed-sync service account (ALPR_SERVICE_TOKEN), never as a person."""
    path = ncic_extract(tmp_path / "a.txt", NCIC_ROWS)
    result = alpr(
        people.as_("admin"), "hotlist", "sync", "--format", "ncic", "--from", str(path), "--every", "1h"
    )
    assert result.returncode == 2 and "service account" in result.stderr
    assert current_keys(env) == set()


def test_the_cast_copied_onto_a_tests_topics_is_whole_and_its_trail_verifies(env, people) -> None:
    """The cast is made once and copied onto each test's fresh topics (see :func:`cast`): the copy
    is the whole directory and sign-in state (every session works through the CLI, P18), with
    every sign-in on the audit trail (P15), whose hash chains ``alpr audit verify`` finds intact
    (P14). A copy that lost, reordered or moved a record fails here."""
    auditor = asyncio.run(add_user(settings_of(env), f"audit-{people.suffix}", "auditor", badge="AUD-1"))
    verified = alpr_as(env, auditor, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    signed_in = [a["user"] for a in audits(env, "sign_in") if a["decision"] == "allowed"]
    assert sorted(signed_in) == sorted([people.name(key) for key in PEOPLE] + [auditor.name])
    for key in PEOPLE:
        pending = alpr(people.as_(key), "hotlist", "pending")
        assert "sign in" not in pending.stderr, (key, pending.stderr)
    assert alpr(people.feed, "hotlist", "sources").returncode == 0
