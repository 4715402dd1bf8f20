"""The Kafka principals (streams/kafka/principals.py) grant each service what its code uses, no more.

The code names topics as ``settings.topic("alerts")`` (or a helper ending in ``topic``); these tests
read those names from each service's modules and compare them with the declaration, so a topic a
service starts to use without a grant fails here, not in production with an authorization error,
and a grant the code no longer needs fails too (P21). tests/integration/test_kafka_tls.py runs
the services under these ACLs on a real broker.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from streams.errors import ConfigError
from streams.kafka.principals import CLUSTER, LITERAL, PREFIX, PRINCIPALS, Principal, acls, principal
from streams.kafka.render import render
from streams.kafka.topics import READ_DATA, topic_specs
from streams.settings import Settings
from tests.conftest import ROOT

SETTINGS = Settings.from_env({})
STREAMS = ROOT / "streams"
#: Modules that declare or render every topic rather than use one.
DECLARING = {"streams.kafka.topics", "streams.kafka.render", "streams.kafka.principals"}
#: Processes that connect as their own principal, not as the operator running `alpr`.
SERVICES = {"streams.app", "streams.console.server", "streams.cameras.ingest", "streams.dev"}


def _path(module: str) -> Path:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"


@cache
def _tree(module: str) -> ast.Module:
    return ast.parse(_path(module).read_text(encoding="utf-8"))


@cache
def _constants(module: str) -> dict[str, str]:
    """The module's top-level string constants (ON_TIME = "reads")."""
    return {
        target.id: node.value.value
        for node in _tree(module).body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


@cache
def _settings_properties() -> dict[str, frozenset[str]]:
    """Settings properties that name topics (``read_topics``: reads and reads-late)."""
    out: dict[str, frozenset[str]] = {}
    for node in ast.walk(_tree("streams.settings")):
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list
        ):
            named = _topic_calls(node, {})
            if named:
                out[node.name] = frozenset(named)
    return out


def _topic_calls(tree: ast.AST, constants: dict[str, str]) -> set[str]:
    """Topic names in ``<anything>topic("name")`` calls (or a constant holding the name)."""
    topics: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if not name.endswith("topic"):
                continue
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                topics.add(arg.value)
            elif isinstance(arg, ast.Name) and arg.id in constants:
                topics.add(constants[arg.id])
    return topics


@cache
def _parsed(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(topics the module names, streams modules it imports, at any depth of the file)."""
    tree = _tree(module)
    constants = dict(_constants(module))
    imports: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("streams"):
            imports.add(node.module)
            for alias in node.names:  # a topic name imported as a constant (ON_TIME = "reads")
                if _path(node.module).exists() and alias.name in _constants(node.module):
                    constants[alias.asname or alias.name] = _constants(node.module)[alias.name]
    topics = _topic_calls(tree, constants)
    properties = _settings_properties() if module != "streams.settings" else {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in properties:
            topics |= properties[node.attr]
    return frozenset(topics), frozenset(imports)


def named_topics(*modules: str) -> set[str]:
    return {t for m in modules for t in _parsed(m)[0]}


def imported_closure(root: str, stop: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = [root]
    while todo:
        module = todo.pop()
        if module in seen or module in stop or not _path(module).exists():
            continue
        seen.add(module)
        todo += _parsed(module)[1]
    return seen


def assert_matches_code(p: Principal, used: set[str]) -> None:
    declared = {t.name for t in topic_specs(SETTINGS)}
    assert used <= declared, f"the code names undeclared topics {used - declared}"
    assert used <= p.topics, f"{p.name} lacks grants its code needs: {sorted(used - p.topics)}"
    assert p.topics <= used, f"{p.name} has grants no code uses: {sorted(p.topics - used)}"


def test_the_worker_and_the_ingest_are_granted_exactly_the_topics_their_code_names() -> None:
    """The worker's grants are the topics streams/app.py (its tasks) and streams/screening.py (its
    screen and confirm loop) name, which it creates when missing; the ingest's those of
    streams/cameras/ingest.py and the read producer it writes with."""
    from streams.app import WORKER_TOPICS
    from streams.cameras.ingest import INGEST_TOPICS

    worker, ingest = principal("alpr-worker"), principal("alpr-ingest")
    assert_matches_code(worker, named_topics("streams.app", "streams.screening"))
    assert set(WORKER_TOPICS) <= worker.topics
    assert_matches_code(ingest, named_topics("streams.cameras.ingest", "streams.reads.producer"))
    assert set(INGEST_TOPICS) <= ingest.topics


def test_the_console_is_granted_exactly_the_topics_its_code_names() -> None:
    """Everything the console runs: its pages and API, sign-in and the sign-in state, the alert
    desk and its use cases, camera administration, the transparency page, webhooks, the justified
    search and the audit trail; and the current hot-list entry, which validating an alert re-reads
    (streams/alerts/desk.py: HotlistStore.entry, the hot list only)."""
    console = [f"streams.console.{p.stem}" for p in (STREAMS / "console").glob("*.py")]
    used = named_topics(
        *console,
        "streams.alerts.desk",
        "streams.alerts.usecases",
        "streams.access.authn",
        "streams.access.signins",
        "streams.access.directory",
        "streams.access.audit",
        "streams.access.search",
        "streams.cameras.registry",
        "streams.cameras.keys",
        "streams.replay.replay",
        "streams.kafka.timeseek",  # the search's scan of both read topics by capture time
    ) | {"hotlist"}
    assert_matches_code(principal("alpr-console"), used)


def test_the_operator_is_granted_the_topics_of_every_command_it_runs() -> None:
    """The operator runs the `alpr` commands other than the services: every module streams/cli.py
    reaches, except the worker, console, ingest and the demo, which connect as themselves."""
    modules = imported_closure("streams.cli", DECLARING | SERVICES)
    assert_matches_code(principal("alpr-operator"), named_topics(*modules))


def test_the_feed_sync_is_granted_only_hot_list_topics() -> None:
    """The feed sync writes the hot list, its history and the sources' status through the hot-list
    use case, which checks its service account on the services topic (token hashes only, never the
    users topic's password hashes, P18) and audits each sync (its real run under these ACLs:
    test_kafka_tls.py)."""
    sync = principal("alpr-hotlist-sync")
    assert sync.topics <= named_topics(
        "streams.hotlists.service",
        "streams.hotlists.usecases",
        "streams.access.authn",
        "streams.access.audit",
    )
    assert sync.topics == {"hotlist", "hotlist-changes", "hotlist-sources", "services", "audit"}
    assert set(sync.writes) == {"hotlist", "hotlist-changes", "hotlist-sources", "audit"}


def test_read_data_and_users_are_readable_only_by_the_worker_and_audited_tools_p11_p21() -> None:
    """Read data (and evidence-holds, which copies reads) is read only by the worker and the audited
    console and operator; camera ingest and the feed sync read none of it. The users topic (password
    hashes, TOTP secrets: P18) is read only by the console and the operator. No principal may create
    topics or change their configs (a default retention would keep reads past P11)."""
    read_data = {s.name for s in topic_specs(SETTINGS) if s.data_class == READ_DATA} | {"evidence-holds"}
    readers = {t: {p.name for p in PRINCIPALS if t in p.reads} for t in read_data | {"users"}}
    for topic in read_data:
        assert readers[topic] <= {"alpr-worker", "alpr-console", "alpr-operator"}, topic
    assert readers["users"] == {"alpr-console", "alpr-operator"}
    assert not set(principal("alpr-ingest").reads) & read_data
    for p in PRINCIPALS:
        for acl in acls(p, SETTINGS):
            assert not {"Create", "Alter", "AlterConfigs", "Delete", "All"} & set(acl.operations), (
                p.name,
                acl,
            )
            assert acl.resource != "topic" or acl.pattern == LITERAL, (p.name, acl)
            assert "*" not in acl.name, (p.name, acl)


def test_acls_follow_the_topic_prefix_and_the_app_id() -> None:
    """Names are rendered for the settings: topics with ALPR_TOPIC_PREFIX, groups under ALPR_APP_ID
    (the worker's literally; the console's webhook groups by prefix); only the operator may read
    configs (alpr topics, alpr retention check)."""
    other = SETTINGS.with_(topic_prefix="dev.", app_id="matcher-2")
    worker = acls(principal("alpr-worker"), other)
    assert {a.name for a in worker if a.resource == "topic"} == {
        f"dev.{t}" for t in principal("alpr-worker").topics
    }
    assert [(a.name, a.pattern) for a in worker if a.resource == "group"] == [("matcher-2", LITERAL)]
    console = [a for a in acls(principal("alpr-console"), other) if a.resource == "group"]
    assert [(a.name, a.pattern) for a in console] == [("matcher-2-webhook-", PREFIX)]
    configs = {p.name for p in PRINCIPALS if any("DescribeConfigs" in a.operations for a in acls(p, other))}
    assert configs == {"alpr-operator"}
    assert ("cluster", CLUSTER) in {(a.resource, a.name) for a in acls(principal("alpr-operator"), other)}
    with pytest.raises(ConfigError, match="no Kafka principal 'alpr-nobody'"):
        principal("alpr-nobody")
    with pytest.raises(ConfigError, match="undeclared topics: plates"):
        acls(Principal("x", "test", reads=("plates",)), SETTINGS)


def test_strimzi_users_carry_exactly_the_declared_acls() -> None:
    """Each KafkaUser of the committed k8s/kafka-user.yaml is SCRAM-SHA-512 with simple
    authorization and exactly the ACLs of its principal."""
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy/kafka/k8s/kafka-user.yaml").read_text()) if d]
    assert [d["metadata"]["name"] for d in docs] == [p.name for p in PRINCIPALS]
    for doc, p in zip(docs, PRINCIPALS, strict=True):
        assert doc["kind"] == "KafkaUser" and doc["metadata"]["labels"] == {"strimzi.io/cluster": "alpr"}
        assert doc["spec"]["authentication"] == {"type": "scram-sha-512"}
        rendered = [
            (
                a["resource"]["type"],
                a["resource"].get("name", CLUSTER),
                a["resource"].get("patternType", LITERAL),
            )
            + (tuple(a["operations"]),)
            for a in doc["spec"]["authorization"]["acls"]
        ]
        assert rendered == [(a.resource, a.name, a.pattern, a.operations) for a in acls(p, SETTINGS)]


def test_the_acl_script_is_valid_sh_with_one_add_per_acl() -> None:
    """create-acls.sh is POSIX sh, stops at the first error, and adds each declared ACL once with
    the principal, the operations and the resource; `alpr topics render --format kafka-acls`, run
    as a real process, prints it byte for byte."""
    path = ROOT / "deploy" / "kafka" / "create-acls.sh"
    text = path.read_text(encoding="utf-8")
    assert "\nset -eu\n" in text
    subprocess.run(["sh", "-n", str(path)], check=True)  # noqa: S603, S607
    adds = [line.split() for line in text.splitlines() if line.startswith("add_acl ")]
    expected = [(p.name, a) for p in PRINCIPALS for a in acls(p, SETTINGS)]
    assert len(adds) == len(expected)
    for words, (name, acl) in zip(adds, expected, strict=True):
        assert words[1:3] == ["--allow-principal", f"User:{name}"]
        assert [words[i + 1] for i, w in enumerate(words) if w == "--operation"] == list(acl.operations)
        if acl.resource == "cluster":
            assert words[-1] == "--cluster"
        else:
            assert words[-2:] == [f"--{acl.resource}", acl.name]
            assert ("prefixed" if acl.pattern == PREFIX else "literal") in words
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_")}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "streams.cli", "topics", "render", "--format", "kafka-acls"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == render(SETTINGS, "kafka-acls") == text


def test_the_readme_table_lists_each_principal_with_its_grants() -> None:
    """deploy/kafka/README.md "Security" names every principal; the services' rows list exactly
    their declared reads and writes (the operator's row summarises, checked against the set)."""
    readme = (ROOT / "deploy" / "kafka" / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Security") : readme.index("## Upgrading")]
    rows = {
        cells[0].strip("` "): cells
        for line in section.splitlines()
        if line.startswith("| `alpr-")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    assert list(rows) == [p.name for p in PRINCIPALS]
    for p in PRINCIPALS:
        reads, writes = rows[p.name][2], rows[p.name][3]
        if p.name == "alpr-operator":
            everything = {s.name for s in topic_specs(SETTINGS)}
            assert reads == "every topic except candidates" and set(p.reads) == everything - {"candidates"}
            continue
        assert reads.split(", ") == list(p.reads), p.name
        assert writes.split(", ") == list(p.writes), p.name
