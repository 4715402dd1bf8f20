"""The one settings object, read from the environment in exactly one place.

Every variable starts with ``ALPR_``; an error names the variable at fault.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

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


#: Hosts a tile server may be reached over plain http on (a test's or a workstation's own); any
#: other must be https: the page's requests say where officers look (issue 18, item 2).
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_TILE_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|::1")


def _map_tiles(env: Mapping[str, str]) -> str | None:
    """ALPR_MAP_TILES, the agency's XYZ tile URL template, checked at start: its origin goes into
    the console's Content-Security-Policy (img-src), so it must be exactly one clean origin."""
    raw = env.get("ALPR_MAP_TILES", "").strip()
    if not raw:
        return None
    example = "e.g. ALPR_MAP_TILES=https://gis.example.gov/tiles/{z}/{x}/{y}.png"
    if any(c.isspace() or not c.isprintable() or c in "\"'<>`;,\\" for c in raw):
        raise ConfigError(
            f"ALPR_MAP_TILES={raw!r} holds a space, quote, comma, semicolon or control character: "
            f"give a plain URL template, {example}"
        )
    parts = urlsplit(raw)
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or (parts.scheme == "http" and host not in _LOCAL_HOSTS):
        raise ConfigError(
            f"ALPR_MAP_TILES={raw!r}: tiles are fetched over https (plain http only from localhost "
            f"or 127.0.0.1, for tests), {example}"
        )
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        raise ConfigError(f"ALPR_MAP_TILES={raw!r}: the port is not a number from 0 to 65535") from exc
    if parts.username is not None or parts.password is not None or not _TILE_HOST.fullmatch(host):
        raise ConfigError(
            f"ALPR_MAP_TILES={raw!r}: give a host name without user or password (every console "
            f"would see them), {example}"
        )
    rest = raw
    for placeholder in ("{z}", "{x}", "{y}"):
        if placeholder not in rest:
            raise ConfigError(f"ALPR_MAP_TILES={raw!r} has no {placeholder}: {example}")
        rest = rest.replace(placeholder, "")
    if "{" in rest or "}" in rest:
        raise ConfigError(f"ALPR_MAP_TILES={raw!r}: only {{z}}, {{x}} and {{y}} are filled in, {example}")
    return raw


def _map_attribution(env: Mapping[str, str]) -> str:
    text = env.get("ALPR_MAP_ATTRIBUTION", "").strip()
    if text and not env.get("ALPR_MAP_TILES", "").strip():
        raise ConfigError("ALPR_MAP_ATTRIBUTION is set but ALPR_MAP_TILES is not: set both, or neither")
    if len(text) > 300 or not text.isprintable():
        raise ConfigError("ALPR_MAP_ATTRIBUTION: one line of at most 300 printable characters")
    return text


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


def _images(env: Mapping[str, str]) -> str:
    kind = (env.get("ALPR_IMAGES") or "local").strip().lower()
    if kind not in {"local", "s3"}:
        raise ConfigError(f"ALPR_IMAGES={kind!r}: use local (files in the state directory) or s3")
    if kind == "s3" and not env.get("ALPR_IMAGES_S3_BUCKET"):
        raise ConfigError("ALPR_IMAGES=s3 needs ALPR_IMAGES_S3_BUCKET (the bucket the images go to)")
    return kind


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
    #: How often a worker writes its hot-list snapshot while entries change (streams/matching/snapshot.py).
    hotlist_snapshot_every_s: float = 300.0
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
    #: A claim on an alert ("being worked by") without a step for this long is stale: another
    #: person may take it without the take-over warning (streams/alerts/lifecycle.py).
    claim_stale_minutes: int = 15
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
    ingest_max_bytes: int = 8 * 1024 * 1024  # largest request body (room for a few images); larger: 413
    ingest_max_reads: int = 1000  # most reads in one request; more: 413
    ingest_ack_timeout_s: int = 10  # Kafka must acknowledge a request's reads within this, or 503
    #: Where a read's images are kept (streams/images/store.py): "local" (files under the state
    #: directory) or "s3" (any S3-compatible object store; credentials from the standard AWS chain).
    images: str = "local"
    images_s3_bucket: str | None = None
    images_s3_endpoint: str | None = None  # for a non-AWS store (MinIO, Ceph...)
    images_s3_region: str | None = None
    images_s3_prefix: str = "alpr-images"
    image_max_plate_bytes: int = 512 * 1024  # a plate crop; larger: the read is refused
    image_max_overview_bytes: int = 4 * 1024 * 1024  # an overview image; larger: the read is refused
    #: TLS and SASL of every Kafka client (streams/kafka/connection.py); the password never in repr.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = field(default=None, repr=False)
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    #: The agency's map tiles (its GIS server), an XYZ URL template; None: the map draws its markers
    #: on a plain background, and no page asks any tile server anything (issue 18, item 2).
    map_tiles: str | None = None
    map_attribution: str = ""  # the tile server's credit line, shown as text under the map
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
            hotlist_snapshot_every_s=_float(env, "ALPR_HOTLIST_SNAPSHOT_S", 300.0, 0.0, 86400.0),
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
            claim_stale_minutes=_int(env, "ALPR_CLAIM_STALE_MINUTES", 15, 1),
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
            ingest_max_bytes=_int(env, "ALPR_INGEST_MAX_BYTES", 8 * 1024 * 1024, 1024),
            ingest_max_reads=_int(env, "ALPR_INGEST_MAX_READS", 1000, 1),
            ingest_ack_timeout_s=_int(env, "ALPR_INGEST_ACK_TIMEOUT_S", 10, 1),
            images=_images(env),
            images_s3_bucket=env.get("ALPR_IMAGES_S3_BUCKET") or None,
            images_s3_endpoint=env.get("ALPR_IMAGES_S3_ENDPOINT") or None,
            images_s3_region=env.get("ALPR_IMAGES_S3_REGION") or None,
            images_s3_prefix=env.get("ALPR_IMAGES_S3_PREFIX") or "alpr-images",
            image_max_plate_bytes=_int(env, "ALPR_IMAGE_MAX_PLATE_BYTES", 512 * 1024, 1024),
            image_max_overview_bytes=_int(env, "ALPR_IMAGE_MAX_OVERVIEW_BYTES", 4 * 1024 * 1024, 1024),
            kafka_security_protocol=env.get("ALPR_KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT",
            kafka_sasl_mechanism=env.get("ALPR_KAFKA_SASL_MECHANISM") or None,
            kafka_sasl_username=env.get("ALPR_KAFKA_SASL_USERNAME") or None,
            kafka_sasl_password=_secret(env, "ALPR_KAFKA_SASL_PASSWORD"),
            kafka_ssl_cafile=_path(env, "ALPR_KAFKA_SSL_CAFILE"),
            kafka_ssl_certfile=_path(env, "ALPR_KAFKA_SSL_CERTFILE"),
            kafka_ssl_keyfile=_path(env, "ALPR_KAFKA_SSL_KEYFILE"),
            map_tiles=_map_tiles(env),
            map_attribution=_map_attribution(env),
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
