"""SASL/SCRAM over TLS and ACLs on a real Apache Kafka broker, through the project's own clients.

One broker for the module with a ``SASL_SSL`` listener (certificates from ``trustme``, given to
Kafka as PEM files), SCRAM-SHA-512 users created when its storage is formatted (the super user and
one per service principal of streams/kafka/principals.py), ``StandardAuthorizer`` and
``allow.everyone.if.no.acl.found=false``. The ACLs are the rendered ``kafka-acls.sh`` script, run
with a stand-in ``kafka-acls.sh`` that records its arguments, which the test then creates on the
broker (CreateAcls) as the super user. Every client is configured the way a deployment configures
it: ALPR_KAFKA_* variables, a password file, the cluster CA.

What it shows: a hot list synced, a read sent and an alert raised, each service as its own
principal; a principal is refused what its ACLs do not grant (P11, P18, P21: read data only to the
worker and the audited tools, the users topic only to the console and the operator); a client
without the CA, with a wrong password or without TLS reaches nothing.

The controller listener is authenticated (SASL PLAIN on 127.0.0.1) so that no anonymous client is
a super user. The plaintext listener on the EmbeddedBroker's port exists only because its readiness
check speaks plaintext: anonymous there, with no ACL, it sees and may touch no topic.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import trustme
from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import TopicAuthorizationFailedError
from aiokafka.protocol.admin import CreateAclsRequest
from aiokafka.protocol.metadata import MetadataRequest
from cryptography.hazmat.primitives import serialization

from streams.codec import entry_to_dict
from streams.errors import BrokerError
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.connection import Connection
from streams.kafka.log import TopicWriter, read_topic
from streams.kafka.principals import PRINCIPALS, principal
from streams.kafka.render import render
from tests.conftest import ROOT, AlprProcess, alpr, make_env, settings_of, wait_for
from tests.factories import make_entry, read_dict
from tests.integration.kafka_helpers import alerts_for, feed_env, send_reads, wait_for_records

pytestmark = pytest.mark.integration

ADMIN = "alpr-admin"  # the super user: creates topics and ACLs
CONTROLLER = "controller"  # the nodes' own identity on the controller listener
#: Kafka's protocol codes (org.apache.kafka.common.acl / resource).
OPERATIONS = {"Read": 3, "Write": 4, "Create": 5, "Describe": 8, "DescribeConfigs": 10, "AlterConfigs": 11}
RESOURCES = {"--topic": 2, "--group": 3, "--cluster": 4}
PATTERNS = {"literal": 3, "prefixed": 4}
ALLOW = 3
TOPIC_AUTHORIZATION_FAILED = 29


def broker_config(
    sasl_port: int, keystore: Path, truststore: Path, passwords: dict[str, str]
) -> dict[str, str]:
    """The broker settings under test (deploy/kafka/README.md "Security" shows them)."""
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    controller = passwords[CONTROLLER]
    return {
        "listeners": f"INTERNAL://127.0.0.1:{{port}},SASL_SSL://127.0.0.1:{sasl_port},"
        "CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"INTERNAL://127.0.0.1:{{port}},SASL_SSL://127.0.0.1:{sasl_port}",
        "listener.security.protocol.map": "INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            f'{scram} required username="{ADMIN}" password="{passwords[ADMIN]}";'
        ),
        # SCRAM users live in the metadata log, which a controller cannot read before it is up.
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": (
            f'{plain} required username="{CONTROLLER}" password="{controller}" '
            f'user_{CONTROLLER}="{controller}";'
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(truststore),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN};User:{CONTROLLER}",
        "allow.everyone.if.no.acl.found": "false",
    }


@dataclass(frozen=True)
class SecureCluster:
    root: Path
    broker: EmbeddedBroker
    sasl_port: int
    ca_file: Path
    passwords: dict[str, str]
    base: dict[str, str]  # the settings every service shares: topic prefix, app id, state dir

    def env(self, user: str, *, password: str | None = None, ca_file: Path | None = None) -> dict[str, str]:
        """A process environment connecting as ``user`` over SASL_SSL, the way a deployment does."""
        secret = self.root / f"{user}-{secrets.token_hex(4)}.password"
        secret.write_text(password if password is not None else self.passwords[user])
        secret.chmod(0o600)
        return {
            **self.base,
            "ALPR_BROKER_URL": f"kafka://127.0.0.1:{self.sasl_port}",
            "ALPR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ALPR_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "ALPR_KAFKA_SASL_USERNAME": user,
            "ALPR_KAFKA_SASL_PASSWORD_FILE": str(secret),
            "ALPR_KAFKA_SSL_CAFILE": str(ca_file or self.ca_file),
        }

    def kafka(self, user: str) -> Connection:
        return settings_of(self.env(user)).kafka


def write_pem_files(root: Path) -> tuple[Path, Path]:
    """The broker's key and certificate chain in one PEM file (the key as PKCS#8, which Kafka's
    PEM keystore reads), and the CA that signed it."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keystore, truststore = root / "broker.pem", root / "ca.pem"
    keystore.write_bytes(key + b"".join(pem.bytes() for pem in cert.cert_chain_pems))
    keystore.chmod(0o600)
    ca.cert_pem.write_to_path(str(truststore))
    return keystore, truststore


def rendered_acls(cluster: SecureCluster) -> list[list[str]]:
    """Run the rendered kafka-acls script with a stand-in kafka-acls.sh; each call's arguments."""
    script = cluster.root / "create-acls.sh"
    script.write_text(render(settings_of(cluster.base), "kafka-acls"))
    bin_dir = cluster.root / "kafka" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    stand_in = bin_dir / "kafka-acls.sh"
    stand_in.write_text(
        '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >> "$ACL_LOG"\necho -- >> "$ACL_LOG"\n'
    )
    stand_in.chmod(0o755)
    log = cluster.root / "acl-calls.txt"
    log.unlink(missing_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_HOME": str(bin_dir.parent),
        "BOOTSTRAP": "x:1",
        "ACL_LOG": str(log),
    }
    subprocess.run(["/bin/sh", str(script)], env=env, check=True, timeout=30)  # noqa: S603
    calls, call = [], []
    for line in log.read_text().splitlines():
        if line == "--":
            calls.append(call)
            call = []
        else:
            call.append(line)
    return calls


def acl_request(args: list[str]) -> list[CreateAclsRequest]:
    """The CreateAcls requests (one per operation) for one ``kafka-acls.sh --add ...`` call."""
    assert args[:3] == ["--bootstrap-server", "x:1", "--add"], args
    user, operations, pattern, resource, name = "", [], "literal", "", "kafka-cluster"
    rest = iter(args[3:])
    for flag in rest:
        if flag == "--allow-principal":
            user = next(rest)
        elif flag == "--operation":
            operations.append(next(rest))
        elif flag == "--resource-pattern-type":
            pattern = next(rest)
        elif flag in ("--topic", "--group"):
            resource, name = flag, next(rest)
        elif flag == "--cluster":
            resource = flag
        else:
            raise AssertionError(f"unexpected kafka-acls.sh argument {flag!r} in {args}")
    return [
        CreateAclsRequest(RESOURCES[resource], name, PATTERNS[pattern], user, "*", OPERATIONS[op], ALLOW)
        for op in operations
    ]


async def create_acls(kafka: Connection, requests: list[CreateAclsRequest]) -> None:
    admin = AIOKafkaAdminClient(**kafka.options())
    await admin.start()
    try:
        for request in requests:
            response = await admin._send_request(request)  # noqa: SLF001 - aiokafka has no create_acls
            errors = [e for e in response.creation_responses if e[0] != 0]
            assert not errors, errors
    finally:
        await admin.close()


async def visible_topics(kafka: Connection) -> set[str]:
    """The topics a Metadata request shows this client (only those it may Describe)."""
    client = AIOKafkaClient(**kafka.options())
    await client.bootstrap()
    try:
        return set((await client.fetch_all_metadata()).topics())
    finally:
        await client.close()


@pytest.fixture(scope="module")
def secure_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    root = tmp_path_factory.mktemp("sasl")
    keystore, truststore = write_pem_files(root)
    users = [ADMIN, *(p.name for p in PRINCIPALS)]
    passwords = {name: secrets.token_urlsafe(18) for name in [*users, CONTROLLER]}
    scram = [a for u in users for a in ("--add-scram", f"SCRAM-SHA-512=[name={u},password={passwords[u]}]")]
    sasl_port = free_port()
    broker = EmbeddedBroker(
        root / "broker",
        free_port(),
        config=broker_config(sasl_port, keystore, truststore, passwords),
        format_args=tuple(scram),
    )
    tag = secrets.token_hex(5)
    base = {
        k: v
        for k, v in make_env(broker, root).items()
        if k not in ("ALPR_BROKER_URL", "ALPR_TOPIC_PREFIX", "ALPR_APP_ID")
    }
    base.update(ALPR_TOPIC_PREFIX=f"s{tag}.", ALPR_APP_ID=f"alpr-sasl-{tag}")
    cluster = SecureCluster(root, broker, sasl_port, truststore, passwords, base)
    broker.start()
    try:
        created = alpr(cluster.env(ADMIN), "topics", "--create")
        assert created.returncode == 0, created.stderr
        requests = [r for call in rendered_acls(cluster) for r in acl_request(call)]
        asyncio.run(create_acls(cluster.kafka(ADMIN), requests))
        # The operator's ACLs come last in the script: once its topics show, every ACL applies.
        operator = principal("alpr-operator")
        wait_for(
            lambda: len(asyncio.run(visible_topics(cluster.kafka(operator.name)))) == len(operator.topics),
            30,
            "the ACLs to apply",
        )
        yield cluster
    finally:
        broker.stop()


def test_each_service_works_over_sasl_ssl_as_its_own_principal(secure_cluster: SecureCluster) -> None:
    """The feed sync, the worker, the read producer and an alert reader, each connecting with
    SASL_SSL as its own SCRAM user under the declared ACLs: a listed plate's read raises its alert."""
    cluster = secure_cluster
    feed = cluster.root / "feed.ndjson"
    feed.write_bytes(
        orjson.dumps(entry_to_dict(make_entry(entry_id="V-SASL-1", plate="6SSL001", synced_at=None)))
    )
    # the feed sync acts as a feed-sync service account (P18), created by the cluster's admin
    token = feed_env(cluster.env(ADMIN))["ALPR_SERVICE_TOKEN"]
    synced = alpr(
        {**cluster.env("alpr-hotlist-sync"), "ALPR_SERVICE_TOKEN": token},
        "hotlist",
        "sync",
        "--format",
        "ndjson",
        "--from",
        str(feed),
        "--source",
        "ncic",
    )
    assert synced.returncode == 0, synced.stderr
    worker = AlprProcess(cluster.env("alpr-worker"), cluster.root / "worker.log")
    try:
        captured = datetime.now(UTC).isoformat()  # after the sync: P4 is judged as of the capture
        ingest = settings_of(cluster.env("alpr-ingest"))
        asyncio.run(send_reads(ingest, [read_dict(read_id="sasl-1", plate="6SSL001", captured_at=captured)]))
        console = settings_of(cluster.env("alpr-console"))
        try:
            values = asyncio.run(
                wait_for_records(
                    console.kafka, console.topic("alerts"), lambda v: alerts_for(v, {"sasl-1"}), timeout=90
                )
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nworker log:\n{worker.log()[-4000:]}") from None
    finally:
        worker.stop()
    (alert,) = alerts_for(values, {"sasl-1"})
    assert alert["entry_id"] == "V-SASL-1"
    log = worker.log()
    assert "AuthorizationFailed" not in log and "not authorized" not in log, log[-4000:]


def refused(coro: Any) -> None:
    """The coroutine fails with Kafka's authorization error (maybe wrapped in ours)."""
    with pytest.raises((TopicAuthorizationFailedError, BrokerError)) as info:
        asyncio.run(coro)
    error = info.value
    cause = error.__cause__ if isinstance(error, BrokerError) else error
    assert isinstance(cause, TopicAuthorizationFailedError), repr(error)


async def metadata_error(kafka: Connection, topic: str) -> int:
    """The error code a Metadata request naming ``topic`` gets (29: TOPIC_AUTHORIZATION_FAILED)."""
    client = AIOKafkaClient(**kafka.options())
    await client.bootstrap()
    try:
        response = await client.send(client.get_random_node(), MetadataRequest([topic], False))
        [(code, name, *_rest)] = response.topics
        assert name == topic
        return int(code)
    finally:
        await client.close()


def hidden(kafka: Connection, topic: str) -> None:
    """A topic the principal may not even Describe: Kafka answers a request naming it with an
    authorization error, and the project's readers cannot find it."""
    assert asyncio.run(metadata_error(kafka, topic)) == TOPIC_AUTHORIZATION_FAILED
    with pytest.raises(BrokerError, match="does not exist"):
        asyncio.run(read_topic(kafka, topic, lambda _tp, _r: None))


async def write(kafka: Connection, topic: str) -> None:
    writer = TopicWriter(kafka)
    await writer.start()
    try:
        await writer.write(topic, b"k", b"{}", partition=0)
        await writer.flush()
    finally:
        await writer.stop()


def test_a_principal_is_refused_what_its_acls_do_not_grant(secure_cluster: SecureCluster) -> None:
    """P21 least privilege, enforced by Kafka: the worker may not read the users topic (password
    hashes, TOTP secrets: P18); camera ingest may write reads but neither read them back (P11) nor
    write alerts; the feed sync may not read reads."""
    cluster = secure_cluster
    topic = settings_of(cluster.base).topic
    worker, ingest = cluster.kafka("alpr-worker"), cluster.kafka("alpr-ingest")
    assert asyncio.run(metadata_error(worker, topic("reads"))) == 0
    hidden(worker, topic("users"))
    asyncio.run(write(ingest, topic("reads")))  # allowed: there is a record to read now
    refused(read_topic(ingest, topic("reads"), lambda _tp, _r: None))
    refused(write(ingest, topic("alerts")))
    hidden(cluster.kafka("alpr-hotlist-sync"), topic("reads"))
    # What a principal may not Describe does not exist for it.
    assert asyncio.run(visible_topics(ingest)) == {topic(t) for t in principal("alpr-ingest").topics}


def test_no_ca_a_wrong_password_or_plaintext_reach_nothing(secure_cluster: SecureCluster) -> None:
    """A client that does not trust the cluster CA fails with a certificate error; a wrong password
    fails authentication; a plaintext client of the SASL_SSL port gets no answer, and an anonymous
    one on the broker's plaintext port sees and may read no topic."""
    cluster = secure_cluster
    other_ca = cluster.root / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    plain = {
        k: v
        for k, v in cluster.env("alpr-operator").items()
        if not k.startswith(("ALPR_KAFKA_SASL", "ALPR_KAFKA_SSL"))
    }
    plain["ALPR_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
    cases = {
        "no CA": cluster.env("alpr-operator", ca_file=other_ca),
        "wrong password": cluster.env("alpr-operator", password=secrets.token_urlsafe(18)),
        "plaintext": plain,
        "right": cluster.env("alpr-operator"),
    }
    results = dict(zip(cases, _run_all([(env, ("topics",)) for env in cases.values()]), strict=True))
    assert results["right"].returncode == 0, results["right"].stderr
    assert results["no CA"].returncode != 0
    assert "certificate" in results["no CA"].stderr.lower(), results["no CA"].stderr
    assert results["wrong password"].returncode != 0
    assert "authentication" in results["wrong password"].stderr.lower(), results["wrong password"].stderr
    assert results["plaintext"].returncode != 0, results["plaintext"].stdout
    anonymous = Connection(cluster.broker.bootstrap)
    assert asyncio.run(visible_topics(anonymous)) == set()
    hidden(anonymous, settings_of(cluster.base).topic("reads"))


def _run_all(
    commands: list[tuple[dict[str, str], tuple[str, ...]]],
) -> list[subprocess.CompletedProcess[str]]:
    """Run ``alpr`` commands at the same time (each waits on Kafka's timeouts when refused)."""
    procs = [
        subprocess.Popen(  # noqa: S603 - our own entry point
            [sys.executable, "-m", "streams.cli", *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env, args in commands
    ]
    out = []
    for proc, (_env, args) in zip(procs, commands, strict=True):
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        out.append(subprocess.CompletedProcess(args, proc.returncode, stdout, stderr))
    return out
