"""The one settings object, read from the environment in exactly one place.

Every variable starts with ``ALPR_``; an error names the variable at fault.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.errors import ConfigError
from streams.retention import Profile, load_profile

if TYPE_CHECKING:
    from streams.kafka.connection import Connection

__all__ = ["DEFAULT_OCR_CLASSES", "Settings"]

DEFAULT_OCR_CLASSES = ("0ODQ", "1I", "8B", "5S", "2Z")
DEFAULT_EMBEDDED_PORT = 19092


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from exc
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if not lo < value < hi:
        raise ConfigError(f"{name}={value} must lie between {lo} and {hi}")
    return value


def _path(env: Mapping[str, str], name: str) -> Path | None:
    return Path(env[name]) if env.get(name) else None


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret from ``NAME`` or from the file ``NAME_FILE`` names (a mounted Kubernetes Secret)."""
    value, file = env.get(name) or None, env.get(f"{name}_FILE") or None
    if value and file:
        raise ConfigError(f"{name} and {name}_FILE are both set: give the secret one way")
    if file is None:
        return value
    try:
        return Path(file).read_text(encoding="utf-8").rstrip("\r\n") or None
    except OSError as exc:
        raise ConfigError(f"{name}_FILE={file!r} cannot be read: {exc.strerror}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r}: use true or false")


def _ocr_classes(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("ALPR_OCR_CLASSES")
    if not raw:
        return DEFAULT_OCR_CLASSES
    classes = tuple(c.strip().upper() for c in raw.split(",") if c.strip())
    seen: set[str] = set()
    for cls in classes:
        if len(cls) < 2 or not cls.isalnum():
            raise ConfigError(
                f"ALPR_OCR_CLASSES: class {cls!r} must hold two or more letters or digits, "
                "e.g. ALPR_OCR_CLASSES=0ODQ,1I,8B"
            )
        if seen & set(cls):
            raise ConfigError(f"ALPR_OCR_CLASSES: {cls!r} repeats a character of another class")
        seen |= set(cls)
    return classes


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime configuration. Build it with :meth:`from_env`; tests use :meth:`with_`."""

    broker_url: str | None = None  # None: the embedded broker on embedded_port
    embedded_port: int = DEFAULT_EMBEDDED_PORT
    topic_prefix: str = "alpr."
    partitions: int = 12
    app_id: str = "alpr-matcher"
    state_dir: Path = Path(".alpr")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108
    log_level: str = "info"
    profile: Profile = field(default_factory=lambda: load_profile("san_jose"))
    batch_window_ms: int = 50
    batch_max_reads: int = 500
    ocr_classes: tuple[str, ...] = DEFAULT_OCR_CLASSES
    ocr_max_substitutions: int = 2
    bloom_error_rate: float = 0.001
    max_clock_skew_s: int = 300
    rebalance_timeout_s: int = 3
    replication_factor: int = 1  # of topics the project creates; 3 on a production cluster
    max_removal_share: float = 0.2
    console_host: str = "127.0.0.1"
    console_port: int = 8080
    session_hours: int = 8
    secure_cookies: bool = False
    #: The key that encrypts authenticator secrets on the users topic (P18), kept outside Kafka:
    #: ALPR_DIRECTORY_KEY (base64 of 32 bytes) or, when unset, a 0600 file in the state directory.
    directory_key: str | None = field(default=None, repr=False)
    #: Where ``alpr login`` keeps the CLI's session token (None: session in the state directory).
    session_file: Path | None = None
    #: A service account's token (automation: feed syncs, CAD); never a person's credentials.
    service_token: str | None = field(default=None, repr=False)
    #: Sign-in throttling (P18, CJIS): failures per (user, source) that lock for lockout_minutes.
    signin_max_failures: int = 5
    signin_lockout_minutes: int = 10
    #: A source address with this many failures in lockout_minutes is refused for that long.
    signin_source_limit: int = 20
    #: Idle minutes after which a session locks (CJIS: at most 30).
    session_idle_minutes: int = 30
    retro_hunt_hours: int = 24
    #: P14: the Ed25519 key that signs audit checkpoints, kept outside Kafka (None: a 0600 file
    #: audit-signing.key in the state directory); the published public keys a verifier trusts; how
    #: often the worker signs the audit trail's head (seconds, 0: never).
    audit_signing_key_file: Path | None = None
    audit_public_keys: tuple[str, ...] = ()
    audit_checkpoint_s: int = 3600
    #: The GeoJSON file of sensitive sites (P24); None: not configured, and no fixed camera can be placed.
    sensitive_sites: Path | None = None
    sensitive_site_distance_m: float = 150.0  # P24: how near a site a fixed camera may not face it
    #: Reads only from cameras registered and in service (issue 9); False screens every camera's.
    require_registered_camera: bool = True
    ingest_host: str = "127.0.0.1"  # alpr ingest: the cameras' HTTP endpoint (streams/cameras/ingest.py)
    ingest_port: int = 8082
    ingest_max_bytes: int = 1024 * 1024  # largest request body; larger: 413
    ingest_max_reads: int = 1000  # most reads in one request; more: 413
    ingest_ack_timeout_s: int = 10  # Kafka must acknowledge a request's reads within this, or 503
    #: TLS and SASL of every Kafka client (streams/kafka/connection.py); the password never in repr.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = field(default=None, repr=False)
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    #: How every Kafka client connects (brokers, TLS, SASL): made from the fields above, once.
    kafka: Connection = field(init=False, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        if env.get("ALPR_WEBHOOKS"):
            raise ConfigError(
                "ALPR_WEBHOOKS is no longer read: a signed-in administrator sets webhooks with "
                "'alpr webhook add' (the recipient must be an eligible agency, P19)"
            )
        level = env.get("ALPR_LOG_LEVEL", "info").lower()
        if level not in {"crit", "error", "warn", "info", "debug"}:
            raise ConfigError(f"ALPR_LOG_LEVEL={level!r}: use crit, error, warn, info or debug")
        prefix = env.get("ALPR_TOPIC_PREFIX", "alpr.")
        if prefix and not all(c.isalnum() or c in "._-" for c in prefix):
            raise ConfigError(f"ALPR_TOPIC_PREFIX={prefix!r} may hold only letters, digits, '.', '_', '-'")
        return cls(
            broker_url=env.get("ALPR_BROKER_URL") or None,
            embedded_port=_int(env, "ALPR_EMBEDDED_PORT", DEFAULT_EMBEDDED_PORT, 1),
            topic_prefix=prefix,
            partitions=_int(env, "ALPR_PARTITIONS", 12, 1),
            app_id=env.get("ALPR_APP_ID", "alpr-matcher"),
            state_dir=Path(env.get("ALPR_STATE_DIR", ".alpr")),
            metrics_host=env.get("ALPR_METRICS_HOST", "127.0.0.1"),
            metrics_port=_int(env, "ALPR_METRICS_PORT", 9108, 0),
            log_level=level,
            profile=load_profile(env.get("ALPR_PROFILE", "san_jose")),
            batch_window_ms=_int(env, "ALPR_BATCH_WINDOW_MS", 50, 1),
            batch_max_reads=_int(env, "ALPR_BATCH_MAX_READS", 500, 1),
            ocr_classes=_ocr_classes(env),
            ocr_max_substitutions=_int(env, "ALPR_OCR_MAX_SUBSTITUTIONS", 2, 0),
            bloom_error_rate=_float(env, "ALPR_BLOOM_ERROR_RATE", 0.001, 0.0, 0.5),
            max_clock_skew_s=_int(env, "ALPR_MAX_CLOCK_SKEW_S", 300, 0),
            rebalance_timeout_s=_int(env, "ALPR_REBALANCE_TIMEOUT_S", 3, 1),
            replication_factor=_int(env, "ALPR_REPLICATION_FACTOR", 1, 1),
            max_removal_share=_float(env, "ALPR_SYNC_MAX_REMOVAL_SHARE", 0.2, 0.0, 1.0),
            console_host=env.get("ALPR_CONSOLE_HOST", "127.0.0.1"),
            console_port=_int(env, "ALPR_CONSOLE_PORT", 8080, 0),
            session_hours=_int(env, "ALPR_SESSION_HOURS", 8, 1),
            secure_cookies=_bool(env, "ALPR_SECURE_COOKIES", False),
            directory_key=_secret(env, "ALPR_DIRECTORY_KEY"),
            session_file=_path(env, "ALPR_SESSION_FILE"),
            service_token=_secret(env, "ALPR_SERVICE_TOKEN"),
            signin_max_failures=_int(env, "ALPR_SIGNIN_MAX_FAILURES", 5, 1),
            signin_lockout_minutes=_int(env, "ALPR_SIGNIN_LOCKOUT_MINUTES", 10, 1),
            signin_source_limit=_int(env, "ALPR_SIGNIN_SOURCE_LIMIT", 20, 1),
            session_idle_minutes=_int(env, "ALPR_SESSION_IDLE_MINUTES", 30, 1),
            retro_hunt_hours=_int(env, "ALPR_RETRO_HUNT_HOURS", 24, 1),
            audit_signing_key_file=_path(env, "ALPR_AUDIT_SIGNING_KEY_FILE"),
            audit_public_keys=tuple(
                k.strip() for k in env.get("ALPR_AUDIT_PUBLIC_KEYS", "").split(",") if k.strip()
            ),
            audit_checkpoint_s=_int(env, "ALPR_AUDIT_CHECKPOINT_S", 3600, 0),
            sensitive_sites=_path(env, "ALPR_SENSITIVE_SITES"),
            sensitive_site_distance_m=_float(env, "ALPR_SENSITIVE_SITE_DISTANCE_M", 150.0, 0.0, 10_000.0),
            require_registered_camera=_bool(env, "ALPR_REQUIRE_REGISTERED_CAMERA", True),
            ingest_host=env.get("ALPR_INGEST_HOST", "127.0.0.1"),
            ingest_port=_int(env, "ALPR_INGEST_PORT", 8082, 0),
            ingest_max_bytes=_int(env, "ALPR_INGEST_MAX_BYTES", 1024 * 1024, 1024),
            ingest_max_reads=_int(env, "ALPR_INGEST_MAX_READS", 1000, 1),
            ingest_ack_timeout_s=_int(env, "ALPR_INGEST_ACK_TIMEOUT_S", 10, 1),
            kafka_security_protocol=env.get("ALPR_KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT",
            kafka_sasl_mechanism=env.get("ALPR_KAFKA_SASL_MECHANISM") or None,
            kafka_sasl_username=env.get("ALPR_KAFKA_SASL_USERNAME") or None,
            kafka_sasl_password=_secret(env, "ALPR_KAFKA_SASL_PASSWORD"),
            kafka_ssl_cafile=_path(env, "ALPR_KAFKA_SSL_CAFILE"),
            kafka_ssl_certfile=_path(env, "ALPR_KAFKA_SSL_CERTFILE"),
            kafka_ssl_keyfile=_path(env, "ALPR_KAFKA_SSL_KEYFILE"),
        )

    def __post_init__(self) -> None:
        from streams.kafka.connection import Connection  # streams.kafka imports the settings

        # A bad TLS/SASL setting stops the process here, at start, with the variable named.
        connection = Connection(
            self.bootstrap_servers,
            self.kafka_security_protocol,
            self.kafka_sasl_mechanism,
            self.kafka_sasl_username,
            self.kafka_sasl_password,
            self.kafka_ssl_cafile,
            self.kafka_ssl_certfile,
            self.kafka_ssl_keyfile,
        )
        object.__setattr__(self, "kafka", connection)  # frozen: set once, here
        if self.retro_hunt_hours > self.profile.read_retention_days * 24:
            raise ConfigError(
                f"ALPR_RETRO_HUNT_HOURS={self.retro_hunt_hours} reaches past the "
                f"{self.profile.read_retention_days}-day read retention of profile {self.profile.name}"
            )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def bootstrap_servers(self) -> str:
        """host:port list for aiokafka."""
        if self.broker_url is None:
            return f"127.0.0.1:{self.embedded_port}"
        parts = self.broker_url.replace(";", ",").split(",")
        return ",".join(part.strip().removeprefix("kafka://") for part in parts if part.strip())

    @property
    def faust_broker(self) -> str:
        return ";".join(f"kafka://{hp}" for hp in self.bootstrap_servers.split(","))

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def read_topics(self) -> tuple[str, str]:
        """Where reads are: on time, and late (kept shorter so that none outlives P11)."""
        return self.topic("reads"), self.topic("reads-late")
