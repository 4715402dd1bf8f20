"""How every Kafka client of the project connects: the brokers, TLS and SASL (issue 8).

One :class:`Connection`, built from the settings (``Settings.kafka``), is what every client
constructor takes, the faust app included: no reader, writer or admin client can be made without
the security the deployment configured, and a mistake in that configuration stops the process at
start with the variable named, not at the first connection.

Plate reads are criminal-justice information: on a real cluster use ``SASL_SSL`` (or ``SSL`` with
client certificates). The settings refuse what would send a password in clear (SASL ``PLAIN``
without TLS) and settings that are given but would be ignored (a CA file without TLS, a user
without SASL), which are almost always a deployment mistake.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.errors import ConfigError

__all__ = ["MECHANISMS", "PROTOCOLS", "Connection"]

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
#: What both aiokafka and faust support with a user name and password.
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class Connection:
    bootstrap_servers: str  # host:port,host:port
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None  # None with TLS: the system's trusted CAs
    ssl_certfile: Path | None = None  # client certificate (mutual TLS); may hold the key too
    ssl_keyfile: Path | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError("Kafka connection settings: " + "; ".join(problems))

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def problems(self) -> list[str]:
        """Everything wrong, each naming the variable to change; empty when usable."""
        found: list[str] = []
        if self.security_protocol not in PROTOCOLS:
            found.append(
                f"ALPR_KAFKA_SECURITY_PROTOCOL={self.security_protocol!r}: use one of {', '.join(PROTOCOLS)}"
            )
            return found
        if self.sasl:
            if self.sasl_mechanism not in MECHANISMS:
                found.append(
                    f"ALPR_KAFKA_SASL_MECHANISM={self.sasl_mechanism!r}: {self.security_protocol} "
                    f"needs one of {', '.join(MECHANISMS)}"
                )
            if not self.sasl_username:
                found.append(f"ALPR_KAFKA_SASL_USERNAME: {self.security_protocol} needs the user name")
            if not self.sasl_password:
                found.append(
                    f"ALPR_KAFKA_SASL_PASSWORD (or ALPR_KAFKA_SASL_PASSWORD_FILE): "
                    f"{self.security_protocol} needs the password"
                )
            if self.security_protocol == "SASL_PLAINTEXT" and self.sasl_mechanism == "PLAIN":
                found.append(
                    "SASL PLAIN without TLS sends the password in clear: use ALPR_KAFKA_SECURITY_PROTOCOL="
                    "SASL_SSL (or a SCRAM mechanism)"
                )
        else:
            given = [
                name
                for name, value in (
                    ("ALPR_KAFKA_SASL_MECHANISM", self.sasl_mechanism),
                    ("ALPR_KAFKA_SASL_USERNAME", self.sasl_username),
                    ("ALPR_KAFKA_SASL_PASSWORD", self.sasl_password),
                )
                if value
            ]
            if given:
                found.append(
                    f"{', '.join(given)} set but ALPR_KAFKA_SECURITY_PROTOCOL={self.security_protocol} "
                    "does not use SASL: use SASL_SSL, or remove them"
                )
        if not self.tls:
            given = [
                name
                for name, value in (
                    ("ALPR_KAFKA_SSL_CAFILE", self.ssl_cafile),
                    ("ALPR_KAFKA_SSL_CERTFILE", self.ssl_certfile),
                    ("ALPR_KAFKA_SSL_KEYFILE", self.ssl_keyfile),
                )
                if value
            ]
            if given:
                found.append(
                    f"{', '.join(given)} set but ALPR_KAFKA_SECURITY_PROTOCOL={self.security_protocol} "
                    "does not use TLS: use SSL or SASL_SSL, or remove them"
                )
        elif self.ssl_keyfile and not self.ssl_certfile:
            found.append("ALPR_KAFKA_SSL_KEYFILE without ALPR_KAFKA_SSL_CERTFILE: give the certificate")
        return found

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (server certificate and host name verified), or None without TLS."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH, cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
            if self.ssl_certfile:
                context.load_cert_chain(
                    str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None
                )
        except (OSError, ssl.SSLError) as exc:
            files = ", ".join(str(p) for p in (self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile) if p)
            raise ConfigError(f"Kafka TLS files ({files}) cannot be used: {exc}") from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def options(self) -> dict[str, Any]:
        """Keyword arguments for every aiokafka client (consumer, producer, admin)."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password
        return options

    def faust_credentials(self) -> Any:
        """faust's ``broker_credentials`` for the same connection (None: plaintext)."""
        import faust

        if self.sasl:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                ssl_context=self.ssl_context(),
                mechanism=self.sasl_mechanism,
            )
        if self.tls:
            return faust.SSLCredentials(self.ssl_context())
        return None
