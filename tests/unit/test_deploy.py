"""The deployment files in deploy/kafka/ say what the code says.

Topic definitions there are generated from the one declaration (streams/kafka/topics.py) and
must not drift from it; the compose file, the Kubernetes manifests and the broker settings must
keep the durability (replication factor 3, min.insync.replicas 2) and the retention arithmetic
(P11) the declaration relies on. No Docker engine or compose plugin runs here, so the compose
file is checked as YAML plus structural checks (``docker compose config`` where one exists).
"""

from __future__ import annotations

import os
import re
import shutil
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import ConfigError
from streams.kafka.render import (
    FORMATS,
    MIN_INSYNC_REPLICAS,
    REPLICATION_FACTOR,
    STRIMZI_API_VERSION,
    render,
    resource_name,
)
from streams.kafka.topics import READ_DATA, topic_specs
from streams.retention.policy import BROKER_RETENTION_CHECK_MS, load_profile
from streams.settings import Settings
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy" / "kafka"
#: Each committed generated file, by the format that renders it.
GENERATED = {
    "strimzi": DEPLOY / "k8s" / "topics.yaml",
    "kafka-configs": DEPLOY / "create-topics.sh",
    "strimzi-users": DEPLOY / "k8s" / "kafka-user.yaml",
    "kafka-acls": DEPLOY / "create-acls.sh",
}
#: The committed files are rendered for the default settings (the San José profile).
SETTINGS = Settings.from_env({})
#: A container serves /metrics on every interface so that Prometheus can reach it.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
RFC1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def clean_env() -> dict[str, str]:
    """This process's environment without any ALPR_* setting: what the committed files assume."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ALPR_")}


def render_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "topics", "render", *args],
        env=clean_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def properties(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def strimzi_topics(text: str) -> dict[str, dict[str, Any]]:
    """KafkaTopic documents by real topic name (spec.topicName, else metadata.name)."""
    out: dict[str, dict[str, Any]] = {}
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        name = doc["spec"].get("topicName", doc["metadata"]["name"])
        assert name not in out, f"topic {name} declared twice"
        out[name] = doc
    return out


@pytest.mark.parametrize("fmt", sorted(GENERATED))
def test_committed_topic_files_match_the_declaration(fmt: str) -> None:
    """Drift: the committed topics file is exactly what `alpr topics render` prints today, so a
    changed retention, partition count or topic in streams/kafka/topics.py cannot ship without
    its deployment file."""
    path = GENERATED[fmt]
    expected = render(SETTINGS, fmt)
    actual = path.read_text(encoding="utf-8") if path.exists() else ""
    assert actual == expected, (
        f"{path.relative_to(ROOT)} has drifted from the topic declaration; regenerate it with "
        f"`alpr topics render --format {fmt} > {path.relative_to(ROOT)}` (no ALPR_* variables set)"
    )
    first_lines = actual.splitlines()[:2]
    assert any(f"alpr topics render --format {fmt}" in line for line in first_lines)
    assert any("do not edit by hand" in line for line in first_lines)


def test_strimzi_topics_are_replicated_and_keep_the_read_retention_p11() -> None:
    """The Strimzi file parses as YAML; every declared topic appears once as a kafka.strimzi.io/v1
    KafkaTopic with 3 replicas, min.insync.replicas 2 and the declared configs; and a read-data
    record is gone within the profile's read retention (retention.ms + segment.ms + the broker's
    5-minute check interval)."""
    docs = strimzi_topics(GENERATED["strimzi"].read_text(encoding="utf-8"))
    specs = {SETTINGS.topic(s.name): s for s in topic_specs(SETTINGS)}
    assert set(docs) == set(specs)
    for name, doc in docs.items():
        spec = specs[name]
        assert doc["apiVersion"] == STRIMZI_API_VERSION == "kafka.strimzi.io/v1"
        assert doc["kind"] == "KafkaTopic"
        assert doc["metadata"]["labels"] == {"strimzi.io/cluster": "alpr"}
        assert RFC1123_SUBDOMAIN.fullmatch(doc["metadata"]["name"]), doc["metadata"]["name"]
        assert doc["spec"]["replicas"] == REPLICATION_FACTOR == 3
        assert doc["spec"]["partitions"] == spec.partitions
        config = doc["spec"]["config"]
        assert config["min.insync.replicas"] == str(MIN_INSYNC_REPLICAS) == "2"
        assert {k: v for k, v in config.items() if k != "min.insync.replicas"} == spec.configs()
        assert all(isinstance(v, str) for v in config.values()), name
    read_data = [name for name, spec in specs.items() if spec.data_class == READ_DATA]
    assert {SETTINGS.topic(n) for n in ("reads", "reads-rejected", "candidates")} <= set(read_data)
    for name in read_data:
        config = docs[name]["spec"]["config"]
        assert config["cleanup.policy"] == "delete", name
        worst = int(config["retention.ms"]) + int(config["segment.ms"]) + 300_000
        assert worst <= SETTINGS.profile.read_retention_ms, name


def test_other_profiles_and_invalid_resource_names_render() -> None:
    """Rendering follows the profile (Hayward keeps hits forever: alerts retention -1) and a topic
    name that is no valid Kubernetes name gets a valid, distinct metadata.name with the real name
    in spec.topicName; an unknown format or a bad cluster name is refused with the choices."""
    hayward = SETTINGS.with_(profile=load_profile("hayward"), topic_prefix="Dev_X.", partitions=5)
    docs = strimzi_topics(render(hayward, "strimzi"))
    alerts = docs["Dev_X.alerts"]
    assert alerts["spec"]["config"]["retention.ms"] == "-1"
    assert alerts["spec"]["partitions"] == 5
    assert alerts["metadata"]["name"] != "Dev_X.alerts"
    names = [d["metadata"]["name"] for d in docs.values()]
    assert len(set(names)) == len(names)
    assert all(RFC1123_SUBDOMAIN.fullmatch(n) and len(n) <= 253 for n in names)
    assert resource_name("alpr.reads") == "alpr.reads"
    assert resource_name("A_b") != resource_name("a-b")
    script = render(hayward, "kafka-configs")
    assert "--topic Dev_X.alerts --partitions 5 --replication-factor 3" in script
    with pytest.raises(ConfigError, match="strimzi, kafka-configs, strimzi-users, kafka-acls"):
        render(SETTINGS, "helm")
    for fmt in ("strimzi", "strimzi-users"):
        with pytest.raises(ConfigError, match="cluster"):
            render(SETTINGS, fmt, cluster="Not_A_Name")
    assert FORMATS == ("strimzi", "kafka-configs", "strimzi-users", "kafka-acls")


@given(st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=249))
def test_every_kafka_topic_name_gets_a_valid_kubernetes_name(topic: str) -> None:
    """Any legal Kafka topic name maps to a valid RFC 1123 resource name, itself when it is one."""
    name = resource_name(topic)
    assert len(name) <= 253 and RFC1123_SUBDOMAIN.fullmatch(name), (topic, name)
    if RFC1123_SUBDOMAIN.fullmatch(topic):
        assert name == topic


def test_create_topics_script_is_valid_sh_with_one_create_per_topic() -> None:
    """The kafka-configs script is POSIX sh (sh -n), stops at the first error (set -eu), and has one
    idempotent kafka-topics.sh --create line per declared topic with replication factor 3."""
    path = GENERATED["kafka-configs"]
    text = path.read_text(encoding="utf-8")
    assert "\nset -eu\n" in text
    subprocess.run(["sh", "-n", str(path)], check=True)
    creates = [line for line in text.splitlines() if line.startswith("kafka-topics.sh ")]
    assert len(creates) == len(topic_specs(SETTINGS))
    for spec, line in zip(topic_specs(SETTINGS), creates, strict=True):
        assert '--bootstrap-server "$BOOTSTRAP"' in line
        assert f"--create --if-not-exists --topic {SETTINGS.topic(spec.name)} " in line
        assert f"--partitions {spec.partitions} --replication-factor 3 " in line
        assert "--config min.insync.replicas=2" in line


def test_broker_settings_agree_with_the_retention_arithmetic() -> None:
    """server.properties and every compose broker use the check interval the retention arithmetic
    assumes (5 minutes), refuse auto-created topics, and default to replication 3 / min ISR 2."""
    props = properties(DEPLOY / "server.properties")
    assert int(props["log.retention.check.interval.ms"]) == BROKER_RETENTION_CHECK_MS == 300_000
    assert props["auto.create.topics.enable"] == "false"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    for name, env in kafka_services().items():
        assert env["KAFKA_LOG_RETENTION_CHECK_INTERVAL_MS"] == props["log.retention.check.interval.ms"], name
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", name


def as_compose_runs_it(value: object) -> str:
    """A compose environment value as a container gets it without a .env file: ``${VAR:-default}``
    becomes its default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def kafka_services() -> dict[str, dict[str, str]]:
    """The environment of each Apache Kafka service (merge keys resolved), all values as strings."""
    return {
        name: {k: as_compose_runs_it(v) for k, v in svc["environment"].items()}
        for name, svc in compose()["services"].items()
        if str(svc.get("image", "")).startswith("apache/kafka:") and "KAFKA_NODE_ID" in svc["environment"]
    }


def test_compose_file_describes_a_three_node_kraft_cluster_with_workers_and_prometheus() -> None:
    """docker-compose.yml parses and holds 3 apache/kafka KRaft nodes with distinct ids (one quorum,
    one cluster id, replication 3, min ISR 2), a one-shot topics job running create-topics.sh
    before the workers, workers with their own state volume and /metrics port, and Prometheus
    scraping every worker; no password or key is written in it."""
    data = compose()
    services = data["services"]
    kafka = kafka_services()
    assert len(kafka) == 3
    ids = {env["KAFKA_NODE_ID"] for env in kafka.values()}
    assert len(ids) == 3
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in kafka.values()}
    assert len(voters) == 1
    assert {v.split("@")[0] for v in voters.pop().split(",")} == ids
    assert len({env["CLUSTER_ID"] for env in kafka.values()}) == 1
    for name, env in kafka.items():
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}, name
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3", name
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2", name
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", name
        assert f"://{name}:" in env["KAFKA_ADVERTISED_LISTENERS"], name
        assert any(v.endswith(":/var/lib/kafka/data") for v in services[name]["volumes"]), name

    topics = services["topics"]
    assert topics["command"] == ["sh", "/opt/alpr/create-topics.sh"]
    assert any(v.startswith("./create-topics.sh:") for v in topics["volumes"])
    assert {k: v["condition"] for k, v in topics["depends_on"].items()} == dict.fromkeys(
        kafka, "service_healthy"
    )
    assert all(b.split(":")[0] in kafka for b in topics["environment"]["BOOTSTRAP"].split(","))

    workers = {n: s for n, s in services.items() if s.get("command") == ["alpr", "worker"]}
    assert len(workers) >= 2
    volumes: set[str] = set()
    for name, svc in workers.items():
        env = {k: as_compose_runs_it(v) for k, v in svc["environment"].items()}
        assert svc["build"]["dockerfile"] == "deploy/kafka/Dockerfile"
        assert svc["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert Settings.from_env(env).bootstrap_servers.split(",") == [f"{k}:9092" for k in kafka]
        state = [v for v in svc["volumes"] if v.endswith(":" + env["ALPR_STATE_DIR"])]
        assert len(state) == 1, name
        volumes.add(state[0].split(":")[0])
        assert env["ALPR_METRICS_HOST"] == ALL_INTERFACES
        assert any(p.endswith(":" + env["ALPR_METRICS_PORT"]) for p in svc["ports"]), name
    assert len(volumes) == len(workers), "each worker needs its own state volume"
    assert volumes <= set(data["volumes"])

    prometheus = services["prometheus"]
    assert any(v.startswith("./prometheus.yml:") for v in prometheus["volumes"])
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert {f"{n}:9108" for n in workers} <= targets

    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    # a secret's value is only ever interpolated from the git-ignored .env, never written here
    assert not re.search(r"(?im)^\s*[\w-]*(password|secret|sasl_jaas|keystore)\w*\s*[:=]\s*(?!\$\{)\S", text)
    assert "${ALPR_KAFKA_SASL_PASSWORD:-}" in text
    assert "*.env" in (DEPLOY / ".gitignore").read_text(encoding="utf-8")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DEPLOY / ".env")], cwd=DEPLOY, check=False)
    assert ignored.returncode == 0, "deploy/kafka/.env must be ignored by git"


def compose_command() -> list[str]:
    """`docker compose` where the v2 plugin exists, else Debian's docker-compose (make test installs it)."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    assert legacy, "neither `docker compose` nor docker-compose: `make test` installs Debian's docker-compose"
    return [legacy]


def test_compose_file_validates_with_docker_compose() -> None:
    """`docker compose config -q` (Compose's own schema and interpolation check) accepts the file,
    and rejects a broken copy of it: the check is real."""
    compose_file = DEPLOY / "docker-compose.yml"
    result = subprocess.run(
        [*compose_command(), "-f", str(compose_file), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    broken = DEPLOY / "docker-compose.broken-copy.yml"  # beside it: relative paths resolve the same
    try:
        broken.write_text(
            compose_file.read_text(encoding="utf-8").replace(
                "    restart: unless-stopped", "    restart: [1, 2]", 1
            ),
            encoding="utf-8",
        )
        refused = subprocess.run(
            [*compose_command(), "-f", str(broken), "config", "-q"],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        broken.unlink()
    assert refused.returncode != 0 and "restart" in refused.stderr + refused.stdout


def worker_manifests() -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    docs = load_all(DEPLOY / "k8s" / "worker-statefulset.yaml")
    [statefulset] = [d for d in docs if d["kind"] == "StatefulSet"]
    [service] = [d for d in docs if d["kind"] == "Service"]
    [config] = [d for d in load_all(DEPLOY / "k8s" / "worker-config.yaml") if d["kind"] == "ConfigMap"]
    return statefulset, service, config["data"]


def with_stand_in_secrets(config: dict[str, str]) -> dict[str, str]:
    """The ConfigMap's settings with the password file (mounted in the pod only) replaced."""
    env = {k: v for k, v in config.items() if k != "ALPR_KAFKA_SASL_PASSWORD_FILE"}
    return env | {"ALPR_KAFKA_SASL_PASSWORD": "stand-in"} if len(env) < len(config) else env


def test_worker_statefulset_mounts_its_state_dir_and_takes_settings_by_reference() -> None:
    """The StatefulSet parses; its 3 workers mount a per-pod volume claim at ALPR_STATE_DIR, read
    their settings from the ConfigMap and the Secret by reference (no literal values), expose and
    probe /metrics on ALPR_METRICS_PORT, and request memory for a 1 M-entry hot list; the
    headless Service selects its pods."""
    statefulset, service, config = worker_manifests()
    spec = statefulset["spec"]
    assert spec["replicas"] == 3
    assert spec["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    [container] = spec["template"]["spec"]["containers"]
    assert container["command"] == ["alpr", "worker"]
    assert "env" not in container
    refs = {next(iter(ref)): ref[next(iter(ref))]["name"] for ref in container["envFrom"]}
    assert refs == {"configMapRef": "alpr-worker-config"}
    claims = {c["metadata"]["name"] for c in spec["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts.get(config["ALPR_STATE_DIR"]) in claims
    [port] = [p for p in container["ports"] if p["name"] == "metrics"]
    assert str(port["containerPort"]) == config["ALPR_METRICS_PORT"]
    assert config["ALPR_METRICS_HOST"] == ALL_INTERFACES
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == "/metrics" and probe["port"] == "metrics"
    resources = container["resources"]
    assert resources["requests"]["memory"] == "1Gi" and resources["limits"]["memory"] == "2Gi"


def test_workers_run_with_the_settings_the_topics_were_rendered_for() -> None:
    """The compose workers and the Kubernetes ConfigMap select the same topic prefix, partition
    count and profile as the committed topic files, so the workers' retention checks and partition
    routing match the topics the cluster really has."""
    _statefulset, _service, config = worker_manifests()
    envs = [with_stand_in_secrets(config)] + [
        {k: as_compose_runs_it(v) for k, v in s["environment"].items()}
        for s in compose()["services"].values()
        if s.get("command") == ["alpr", "worker"]
    ]
    for env in envs:
        settings = Settings.from_env(env)
        assert topic_specs(settings) == topic_specs(SETTINGS)
        assert settings.topic_prefix == SETTINGS.topic_prefix
        assert settings.profile == SETTINGS.profile


def test_alpr_topics_render_prints_the_committed_file_and_refuses_unknown_formats() -> None:
    """`alpr topics render --format strimzi`, run as a real process with no ALPR_* settings, prints
    the committed k8s/topics.yaml byte for byte; an unknown format exits non-zero naming the
    formats it accepts."""
    result = render_cli("--format", "strimzi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == GENERATED["strimzi"].read_text(encoding="utf-8")
    bad = render_cli("--format", "helm")
    assert bad.returncode != 0
    assert "invalid choice: 'helm'" in bad.stderr
    assert all(fmt in bad.stderr for fmt in FORMATS)


def test_kubernetes_workers_connect_with_sasl_ssl_from_strimzi_secrets() -> None:
    """The ConfigMap selects SASL_SSL with SCRAM as the KafkaUser of kafka-user.yaml, and the CA
    and password files it names are mounted from the Secrets Strimzi creates (no secret in the
    repository); the settings parse as the worker would read them."""
    statefulset, _service, config = worker_manifests()
    settings = Settings.from_env(with_stand_in_secrets(config))
    assert settings.kafka.security_protocol == "SASL_SSL"
    assert settings.kafka.sasl_mechanism == "SCRAM-SHA-512"
    user = kafka_user(config["ALPR_KAFKA_SASL_USERNAME"])
    assert user["kind"] == "KafkaUser" and user["apiVersion"] == "kafka.strimzi.io/v1"
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    pod = statefulset["spec"]["template"]["spec"]
    [container] = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    secrets = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    for variable, secret_name in (
        ("ALPR_KAFKA_SSL_CAFILE", "alpr-cluster-ca-cert"),
        ("ALPR_KAFKA_SASL_PASSWORD_FILE", user["metadata"]["name"]),
    ):
        path = config[variable]
        [volume] = [name for name, secret in secrets.items() if secret["secretName"] == secret_name]
        assert path.startswith(mounts[volume] + "/")
        assert path.rsplit("/", 1)[1] in {i["path"] for i in secrets[volume]["items"]}


def kafka_user(name: str) -> dict[str, Any]:
    """The KafkaUser of that name in k8s/kafka-user.yaml (one document per principal)."""
    [user] = [d for d in load_all(DEPLOY / "k8s" / "kafka-user.yaml") if d["metadata"]["name"] == name]
    return user


def test_the_workers_kafka_user_may_touch_exactly_the_worker_topics() -> None:
    """The KafkaUser's ACLs name every topic the worker reads or writes (the topics it creates
    when missing, and reads-late) with the ConfigMap's prefix, its consumer group (the app id,
    literally: the console's webhook groups share the prefix), and nothing else (P21, README
    "Security"); it may not create or reconfigure topics (P11)."""
    from streams.app import WORKER_TOPICS

    _statefulset, _service, config = worker_manifests()
    acls = kafka_user(config["ALPR_KAFKA_SASL_USERNAME"])["spec"]["authorization"]["acls"]
    topics = {a["resource"]["name"] for a in acls if a["resource"]["type"] == "topic"}
    # reads-late: the worker screens late reads too (issue 14); set() | ... holds before and after
    # WORKER_TOPICS names it.
    assert topics == {config["ALPR_TOPIC_PREFIX"] + t for t in {*WORKER_TOPICS, "reads-late"}}
    groups = [a["resource"] for a in acls if a["resource"]["type"] == "group"]
    assert groups == [{"type": "group", "name": config["ALPR_APP_ID"], "patternType": "literal"}]
    assert {a["resource"]["type"] for a in acls} == {"topic", "group"}
    writes = {a["resource"]["name"] for a in acls if "Write" in a["operations"]}
    # audit-checkpoints: the audit trail's head, signed on a timer (P14)
    expected = ("candidates", "alerts", "reads-rejected", "audit-checkpoints")
    assert writes == {config["ALPR_TOPIC_PREFIX"] + t for t in expected}
    assert all(set(a["operations"]) <= {"Describe", "Read", "Write"} for a in acls)
