"""``alpr`` commands as a user runs them, against real processes."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import orjson
import pytest

from streams.kafka.broker import KAFKA_VERSION, free_port
from streams.kafka.log import TopicWriter, read_latest
from streams.settings import Settings
from tests.conftest import ROOT, alpr
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_broker_start_status_stop_and_a_restart_keeps_the_records(env_factory, tmp_path) -> None:
    """`alpr broker` runs Apache Kafka with its log under ALPR_STATE_DIR: a record written before a
    stop is there after the next start (an event-sourced system's state survives a restart)."""
    port = free_port()
    env = env_factory(ALPR_STATE_DIR=str(tmp_path / "state"))
    del env["ALPR_BROKER_URL"]
    env["ALPR_EMBEDDED_PORT"] = str(port)
    node = tmp_path / "state" / f"kafka-{port}" / "node-1"
    stopped = alpr(env, "broker", "status")
    assert stopped.returncode == 3 and "not running" in stopped.stdout
    try:
        started = alpr(env, "broker", "start")
        assert started.returncode == 0, started.stderr
        assert f"127.0.0.1:{port}" in started.stdout and "ready in" in started.stdout
        assert (node / "broker.pid").exists() and (node / "data" / "meta.properties").exists()
        status = alpr(env, "broker", "status")
        assert status.returncode == 0 and "1 of 1 node(s) answering Metadata" in status.stdout
        assert f"Kafka {KAFKA_VERSION}" in status.stdout
        again = alpr(env, "broker", "start")  # idempotent: the same broker
        assert again.returncode == 0 and pid_of(started.stdout) == pid_of(again.stdout)
        created = alpr(env, "topics", "--create")
        assert created.returncode == 0, created.stderr
        settings = Settings.from_env(env)
        asyncio.run(write_one(settings, b"kept across a restart"))
        assert alpr(env, "broker", "stop").returncode == 0
        assert not listening(port)
        restarted = alpr(env, "broker", "start")
        assert restarted.returncode == 0, restarted.stderr
        assert pid_of(restarted.stdout) != pid_of(started.stdout)
        assert asyncio.run(values(settings)) == [b"kept across a restart"]
    finally:
        stop = alpr(env, "broker", "stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert not listening(port)
    assert not (node / "broker.pid").exists()


def test_broker_start_brokers_3_runs_a_replicated_cluster(env_factory, tmp_path) -> None:
    """`alpr broker start --brokers 3`: three KRaft nodes on PORT..PORT+2 (the fault tests' cluster)."""
    port = free_port(3)
    env = env_factory(ALPR_STATE_DIR=str(tmp_path / "state"), ALPR_EMBEDDED_PORT=str(port))
    del env["ALPR_BROKER_URL"]
    try:
        started = alpr(env, "broker", "start", "--brokers", "3")
        assert started.returncode == 0, started.stderr
        bootstrap = ",".join(f"127.0.0.1:{port + i}" for i in range(3))
        assert bootstrap in started.stdout and "ALPR_REPLICATION_FACTOR=3" in started.stdout
        status = alpr(env, "broker", "status", "--brokers", "3")
        assert "3 of 3 node(s) answering Metadata" in status.stdout
    finally:
        stop = alpr(env, "broker", "stop", "--brokers", "3")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert not any(listening(port + i) for i in range(3))


def pid_of(stdout: str) -> str:
    return stdout.split("(pid ")[1].split(",")[0]


async def write_one(settings: Settings, value: bytes) -> None:
    writer = TopicWriter(settings.kafka)
    await writer.start()
    try:
        await writer.write(settings.topic("cameras"), b"cam-restart", value)
        await writer.flush()
    finally:
        await writer.stop()


async def values(settings: Settings) -> list[bytes]:
    latest = await read_latest(settings.kafka, settings.topic("cameras"))
    return [latest[b"cam-restart"].value]


def test_broker_start_with_broker_url_starts_nothing(env_factory) -> None:
    result = alpr(env_factory(), "broker", "start")
    assert result.returncode == 0 and "no embedded broker started" in result.stdout


def test_topics_show_configs_as_the_broker_reports_them(env_factory) -> None:
    env = env_factory()
    missing = alpr(env, "topics")
    assert missing.returncode == 0 and "MISSING" in missing.stdout
    result = alpr(env, "topics", "--create")
    assert result.returncode == 0, result.stderr
    prefix = env["ALPR_TOPIC_PREFIX"]
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith(prefix)}
    # 30 d less 1 day of lateness, 5 min of clock skew, 1 h segments and the 5 min check (P11)
    assert lines[f"{prefix}reads"][1:5] == ["12", "delete", "2501400000", "3600000"]
    assert lines[f"{prefix}hotlist"][2] == "compact"
    assert lines[f"{prefix}audit"][3] == str(731 * 24 * 3600 * 1000)


def test_match_reports_refused_entries_and_rejected_reads(env_factory, tmp_path) -> None:
    out = tmp_path / "alerts.ndjson"
    result = alpr(
        env_factory(),
        "match",
        "--hotlist",
        str(ROOT / "samples" / "hotlist.ndjson"),
        "--reads",
        str(ROOT / "samples" / "reads.ndjson"),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "3 refused" in result.stderr and "3 rejected" in result.stderr
    assert "reads.ndjson:9: rejected (undecodable)" in result.stderr
    assert len(out.read_text().splitlines()) == 9


def test_retention_roll_appends_a_no_op_tombstone_to_every_compacted_partition(topics_env) -> None:
    """`alpr retention roll` (P11, P12): one tombstone of the roll key per compacted partition, so a
    quiet partition's segment rolls and the cleaner can compact it; the state read back is unchanged."""
    from streams.kafka.topics import topic_specs
    from streams.retention.roll import ROLL_KEY

    settings = Settings.from_env(topics_env)
    asyncio.run(write_one(settings, b"unchanged"))
    result = alpr(topics_env, "retention", "roll")
    assert result.returncode == 0, result.stderr
    compacted = [s for s in topic_specs(settings) if "compact" in s.cleanup_policy]
    assert f"on {sum(s.partitions for s in compacted)} partitions" in result.stdout
    records = asyncio.run(read_topic(settings.kafka, settings.topic("cameras")))
    assert [(r.key, r.value) for r in records][-1] == (ROLL_KEY, None)
    assert asyncio.run(values(settings)) == [b"unchanged"]


# -- signing in (issue 15: P18, P21) ----------------------------------------------------------------


def _directory_state(settings: Settings) -> list[tuple[str, list[tuple[bytes, bytes]]]]:
    """Every record of the topics a refused command must leave alone (read back from Kafka),
    sorted: the partitions of a topic are read in no fixed order."""
    topics = ("users", "agencies", "cameras", "camera-keys", "audit")
    return [
        (
            name,
            sorted(
                (r.key or b"", r.value or b"")
                for r in asyncio.run(read_topic(settings.kafka, settings.topic(name)))
            ),
        )
        for name in topics
    ]


def _refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


ATTEMPTS = (
    (
        "user",
        "add",
        "mallory",
        "--role",
        "administrator",
        "--agency",
        "SJPD",
        "--display",
        "M",
        "--badge",
        "0",
    ),
    ("agency", "add", "EVIL", "--name", "Evil PD", "--type", "municipal_police", "--agreement", "signed"),
    (
        "camera",
        "add",
        "--id",
        "cam-x",
        "--name",
        "X",
        "--agency",
        "SJPD",
        "--kind",
        "mobile",
        "--lat",
        "37.3",
        "--lon",
        "-121.9",
    ),  # fmt: skip
    ("audit", "sample", "--n", "5"),
    ("audit", "report", "--from", "now-1d"),
)


def test_unauthenticated_and_wrong_role_commands_are_refused_and_change_nothing(topics_env) -> None:
    """P18, P21: without a session (no file) every one of these exits 2 saying to sign in; as an
    officer it exits 2 naming the role and the action; and the directory, the registry and the audit
    trail read back the same afterwards (the refusal comes before anything is read or written)."""
    from tests.integration.kafka_helpers import add_user, alpr_as

    settings = Settings.from_env(topics_env)
    officer = asyncio.run(add_user(settings, "olu", "officer", badge="O-7"))
    auditor = asyncio.run(add_user(settings, "ray", "auditor", badge="X-3"))
    alpr_as(topics_env, officer, "whoami")  # signs in once (its audit record is written now)
    env = {**topics_env, "ALPR_NEW_PASSWORD": "a-long-enough-password", "ALPR_PASSWORD": "x" * 12}
    nobody = {**env, "ALPR_SESSION_FILE": str(Path(env["ALPR_STATE_DIR"]) / "no-session-here")}
    before = _directory_state(settings)
    for attempt in ATTEMPTS:
        _refused(alpr(nobody, *attempt), "sign in first")
        action = "camera.admin" if attempt[0] == "camera" else "directory.admin"
        action = "audit.read" if attempt[0] == "audit" else action
        _refused(alpr_as(env, officer, *attempt), f"P21: the officer role may not {action}")
    after = dict(_directory_state(settings))
    # nothing changed but the audit trail, which gained exactly the officer's refusals (P15)
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in dict(before).items() if k != "audit"
    }
    old_audit = set(dict(before)["audit"])
    refusals = [orjson.loads(v) for k, v in after["audit"] if (k, v) not in old_audit]
    assert [(r["user"], r["decision"]) for r in refusals] == [("olu", "refused")] * len(ATTEMPTS)
    assert not Path(nobody["ALPR_SESSION_FILE"]).exists()

    sample = alpr_as(env, auditor, "audit", "sample", "--n", "5")  # the role that may
    assert sample.returncode == 0, sample.stderr
    audited = [orjson.loads(v) for _k, v in dict(_directory_state(settings))["audit"] if v]
    assert [(a["user"], a["badge"]) for a in audited if a["action"] == "audit_sample"] == [("ray", "X-3")]


def test_bootstrap_works_once_then_the_administrator_signs_in(topics_env) -> None:
    """The first administrator exists only by bootstrap on an empty directory; a second bootstrap
    is refused and writes nothing; the administrator then signs in and adds a user as themself."""
    from datetime import UTC, datetime

    from streams.access.totp import code_at

    settings = Settings.from_env(topics_env)
    env = {**topics_env, "ALPR_PASSWORD": "first-admin-password-1"}
    args = ("bootstrap", "--agency-id", "SJPD", "--agency-name", "San José PD", "--admin", "ada",
            "--display", "Ada Admin", "--badge", "A-1", "--course", "ALPR user training")  # fmt: skip
    first = alpr(env, *args)
    assert first.returncode == 0, first.stderr
    secret = first.stdout.split("(shown once, enrol it now): ")[1].split()[0]
    assert "otpauth://totp/" in first.stdout
    before = _directory_state(settings)
    again = alpr({**env, "ALPR_PASSWORD": "mallory-password-1"}, *args[:6], "mallory", *args[7:])
    _refused(again, "the directory has users already")
    assert _directory_state(settings) == before

    login = alpr({**env, "ALPR_TOTP_CODE": code_at(secret, datetime.now(UTC))}, "login", "--user", "ada")
    assert login.returncode == 0, login.stderr
    assert "signed in as ada (administrator, SJPD, badge A-1)" in login.stdout
    added = alpr(
        {**env, "ALPR_NEW_PASSWORD": "analyst-password-7"},
        *(
            "user",
            "add",
            "kim",
            "--role",
            "analyst",
            "--agency",
            "SJPD",
            "--display",
            "Kim",
            "--badge",
            "A-7",
        ),
    )
    assert added.returncode == 0, added.stderr
    records = [orjson.loads(v) for _k, v in dict(_directory_state(settings))["audit"] if v]
    assert [(r["user"], r["query"]["user"]) for r in records if r["action"] == "user_add"][-1] == (
        "ada",
        "kim",
    )


def test_the_actor_is_never_typed(topics_env) -> None:
    """Issue 15: `--by` and `--user` on commands are gone: argparse refuses them (exit 2)."""
    by = alpr(topics_env, "user", "disable", "ada", "--by", "nobody-at-all")
    assert by.returncode == 2 and "unrecognized arguments: --by nobody-at-all" in by.stderr
    user = alpr(topics_env, "camera", "retire", "cam-1", "--user", "ada")
    assert user.returncode == 2 and "unrecognized arguments: --user ada" in user.stderr


def test_a_code_used_by_one_login_process_is_refused_by_another(topics_env) -> None:
    """P18: the code's use is claimed on the signins topic, so a second process cannot reuse it."""
    from tests.integration.kafka_helpers import add_user

    kim = asyncio.run(add_user(Settings.from_env(topics_env), "kim", "analyst", badge="A-7"))
    code = kim.fresh_code()
    state = Path(topics_env["ALPR_STATE_DIR"])
    first_env = {**topics_env, "ALPR_PASSWORD": kim.password, "ALPR_TOTP_CODE": code}
    first = alpr({**first_env, "ALPR_SESSION_FILE": str(state / "one")}, "login", "--user", "kim")
    assert first.returncode == 0, first.stderr
    second = alpr({**first_env, "ALPR_SESSION_FILE": str(state / "two")}, "login", "--user", "kim")
    _refused(second, "used already")
    assert (state / "one").exists() and not (state / "two").exists()


def test_a_disabled_users_saved_session_stops_working(topics_env) -> None:
    from tests.integration.kafka_helpers import add_user, alpr_as

    settings = Settings.from_env(topics_env)
    ada = asyncio.run(add_user(settings, "ada", "administrator", badge="A-1"))
    kim = asyncio.run(add_user(settings, "kim", "analyst", badge="A-7"))
    assert alpr_as(topics_env, kim, "whoami").returncode == 0
    disabled = alpr_as(topics_env, ada, "user", "disable", "kim")
    assert disabled.returncode == 0, disabled.stderr
    _refused(alpr_as(topics_env, kim, "camera", "list"), "ended")  # revoked on the signins topic


def test_the_session_file_is_owner_only_and_a_readable_one_is_refused(topics_env) -> None:
    """P18: 0600 in a 0700 directory from creation; opened to others, it is refused (exit 2);
    after logout the file is gone and a copy of its token no longer works."""
    import shutil
    import stat

    from tests.integration.kafka_helpers import add_user, login, session_env

    kim = asyncio.run(add_user(Settings.from_env(topics_env), "kim", "analyst", badge="A-7"))
    env = login(topics_env, kim)
    path = Path(session_env(topics_env, kim)["ALPR_SESSION_FILE"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    who = alpr(env, "whoami")
    assert who.returncode == 0 and "signed in as kim (analyst, SJPD, badge A-7)" in who.stdout
    copy = path.with_name("copied")
    shutil.copy(path, copy)
    copy.chmod(0o600)
    path.chmod(0o644)
    _refused(alpr(env, "whoami"), "open to others")
    path.chmod(0o600)
    out = alpr(env, "logout")
    assert out.returncode == 0, out.stderr
    assert not path.exists()
    _refused(alpr({**env, "ALPR_SESSION_FILE": str(copy)}, "whoami"), "sign in first")


def test_roles_prints_the_permission_table(topics_env) -> None:
    from streams.access.permissions import roles_table

    result = alpr(topics_env, "roles")
    assert result.returncode == 0 and result.stdout.strip() == roles_table()


def test_simulate_registers_cameras_only_for_a_signed_in_administrator(topics_env) -> None:
    """`alpr simulate` registers its cameras (P21: camera.admin): nobody signed in and an officer
    are refused before a camera is registered or a read is sent."""
    from tests.integration.kafka_helpers import add_user, alpr_as

    settings = Settings.from_env(topics_env)
    officer = asyncio.run(add_user(settings, "olu", "officer", badge="O-7"))
    args = ("simulate", "--cameras", "3", "--rate", "5", "--duration", "1")
    nobody = {**topics_env, "ALPR_SESSION_FILE": str(Path(topics_env["ALPR_STATE_DIR"]) / "none")}
    _refused(alpr(nobody, *args), "sign in first")
    _refused(alpr_as(topics_env, officer, *args), "P21: the officer role may not camera.admin")
    for topic in ("cameras", "reads"):
        assert asyncio.run(read_topic(settings.kafka, settings.topic(topic))) == [], topic
