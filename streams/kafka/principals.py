"""The project's Kafka principals, one per service, and the ACLs each needs: least privilege.

Kafka enforces who may read and write what (DESIGN "Authority model"): every process connects as a
SCRAM user of its own, and the brokers (``StandardAuthorizer``, ``allow.everyone.if.no.acl.found=
false``) refuse anything its ACLs do not allow. The grants are declared here once, from what each
process's code reads and writes, and rendered as Strimzi ``KafkaUser`` resources or a
``kafka-acls.sh`` script (:mod:`streams.kafka.render`); tests/unit/test_principals.py compares
the declaration with the topics the code names, and tests/integration/test_kafka_tls.py applies it
to a real broker and runs the services under it.

Read data (reads, reads-late, reads-rejected, candidates, evidence-holds) is readable only by the
worker and by the audited tools (console, operator CLI), never by camera ingest or the feed sync
(P11, P15, P21). The users topic holds password hashes and TOTP secrets (P18): only the console and
the operator read it. Nobody but the cluster's super user creates topics or changes their configs:
a topic with the broker's default retention would keep read data past the agency's (P11).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from streams.errors import ConfigError
from streams.kafka.topics import topic_specs
from streams.settings import Settings

__all__ = [
    "CLUSTER",
    "LITERAL",
    "PREFIX",
    "PRINCIPALS",
    "Acl",
    "Principal",
    "acls",
    "all_acls",
    "principal",
]

LITERAL = "literal"
PREFIX = "prefix"
#: The name Kafka gives the one cluster resource (``kafka-acls.sh --cluster``).
CLUSTER = "kafka-cluster"


@dataclass(frozen=True, slots=True)
class Acl:
    """One allow rule: ``operations`` on a resource (``topic``, ``group`` or ``cluster``)."""

    resource: str
    name: str  # the real name, topic prefix and app id applied
    pattern: str  # LITERAL or PREFIX
    operations: tuple[str, ...]  # Kafka's names: Describe, Read, Write, DescribeConfigs


@dataclass(frozen=True, slots=True)
class Principal:
    """A service's Kafka user (``User:<name>``) and what its code reads and writes.

    Topic names are the declared ones (without ``ALPR_TOPIC_PREFIX``). A group is the app id
    (``ALPR_APP_ID``) followed by ``suffix``, matched literally or as a prefix.
    """

    name: str
    runs: str  # which processes connect as it
    reads: tuple[str, ...]
    writes: tuple[str, ...] = ()
    groups: tuple[tuple[str, str], ...] = ()  # (suffix after the app id, LITERAL or PREFIX)
    #: ``alpr topics`` and ``alpr retention check`` compare the brokers' configs with the policy.
    describe_configs: bool = False

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self.reads) | frozenset(self.writes)


PRINCIPALS: tuple[Principal, ...] = (
    Principal(
        "alpr-worker",
        "alpr worker (streams/app.py): screens reads, confirms candidates, raises alerts",
        # audit: the head it signs on a timer; audit-checkpoints: where it writes them (P14)
        reads=(
            "reads",
            "reads-late",
            "candidates",
            "alerts",
            "hotlist",
            "hotlist-sources",
            "cameras",
            "audit",
        ),
        writes=("candidates", "alerts", "reads-rejected", "audit-checkpoints"),
        # faust's consumer group is the app id itself; other groups under it belong to others.
        groups=(("", LITERAL),),
    ),
    Principal(
        "alpr-console",
        "alpr console (streams/console/): dispatch console, CAD API, webhooks; audits every access",
        reads=(
            "reads",
            "reads-late",
            "alerts",
            "hotlist",  # validating an alert re-reads its entry (P7)
            "evidence-holds",
            "audit",
            "audit-checkpoints",  # the latest checkpoint digest on the transparency page (P14)
            "hotlist-sources",
            "cameras",
            "camera-keys",
            "users",
            "agencies",
            "services",
            "signins",
            "webhooks",
        ),
        writes=("alerts", "audit", "cameras", "camera-keys", "signins"),
        groups=(("-webhook-", PREFIX),),  # one group per agency's webhook (console/webhooks.py)
    ),
    Principal(
        "alpr-ingest",
        "alpr ingest (streams/cameras/ingest.py): the HTTP endpoint cameras post reads to",
        reads=("cameras", "camera-keys"),
        writes=("reads", "reads-late"),
    ),
    Principal(
        "alpr-hotlist-sync",
        "alpr hotlist sync (streams/hotlists/): the unattended feed sync (NCIC, SVS)",
        # services: its service account's token is checked there; audit: each sync is recorded
        # (the chain's anchor is read from the topic's tail)
        reads=("hotlist", "hotlist-sources", "services", "audit"),
        writes=("hotlist", "hotlist-changes", "hotlist-sources", "audit"),
    ),
    Principal(
        "alpr-operator",
        "signed-in alpr commands (streams/cli/): replay, holds, retro-hunt, audit, users, cameras, "
        "hot-list review, aggregates and reports, topic and retention checks; each audited",
        reads=(
            "reads",
            "reads-late",
            "reads-rejected",
            "alerts",
            "evidence-holds",
            "audit",
            "audit-checkpoints",
            "hotlist",
            "hotlist-changes",
            "hotlist-pending",
            "hotlist-sources",
            "cameras",
            "camera-keys",
            "users",
            "agencies",
            "services",
            "signins",
            "webhooks",
            "aggregates",
        ),
        writes=(
            "alerts",
            "evidence-holds",
            "audit",
            "audit-checkpoints",
            "hotlist",
            "hotlist-changes",
            "hotlist-pending",
            "hotlist-sources",
            "cameras",
            "camera-keys",
            "users",
            "agencies",
            "services",
            "signins",
            "webhooks",
            "aggregates",
        ),
        groups=(("-retro-hunt", LITERAL),),
        describe_configs=True,
    ),
)


def principal(name: str) -> Principal:
    for p in PRINCIPALS:
        if p.name == name:
            return p
    raise ConfigError(f"no Kafka principal {name!r}: one of {', '.join(p.name for p in PRINCIPALS)}")


def _operations(p: Principal, topic: str) -> tuple[str, ...]:
    ops = ["Describe"]
    if topic in p.reads:
        ops.append("Read")
    if topic in p.writes:
        ops.append("Write")
    if p.describe_configs:
        ops.append("DescribeConfigs")
    return tuple(ops)


def acls(p: Principal, settings: Settings) -> list[Acl]:
    """The principal's ACLs for these settings, topics in declaration order (deterministic)."""
    declared = [s.name for s in topic_specs(settings)]
    unknown = sorted(p.topics - set(declared))
    if unknown:
        raise ConfigError(f"principal {p.name} names undeclared topics: {', '.join(unknown)}")
    out = [
        Acl("topic", settings.topic(name), LITERAL, _operations(p, name))
        for name in declared
        if name in p.topics
    ]
    out += [
        Acl("group", settings.app_id + suffix, pattern, ("Describe", "Read")) for suffix, pattern in p.groups
    ]
    if p.describe_configs:  # broker configs: the retention check interval (alpr retention check)
        out.append(Acl("cluster", CLUSTER, LITERAL, ("DescribeConfigs",)))
    return out


def all_acls(settings: Settings, principals: Iterable[Principal] = PRINCIPALS) -> list[tuple[str, Acl]]:
    """(principal name, ACL) for every declared principal."""
    return [(p.name, acl) for p in principals for acl in acls(p, settings)]
