"""The embedded broker: Apache Kafka 4 in KRaft mode on 127.0.0.1, one node or three.

``make run``, ``alpr broker start`` and the tests run the real Apache Kafka broker, from jars that
:func:`kafka_jars` fetches once from Maven Central with Maven (``kafka-broker.pom.xml`` pins the
version) into a cache folder. Each node is a combined broker and controller with its own log
directory under the state directory, so data, retention and compaction are Kafka's own and
survive a restart. Three nodes on one machine (replication factor 3, ``min.insync.replicas`` 2)
serve the fault tests; production runs a cluster of its own (deploy/kafka/).

Ready means answering a real Metadata request that lists every node of the cluster.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from streams.errors import BrokerError

__all__ = [
    "KAFKA_VERSION",
    "EmbeddedBroker",
    "Node",
    "free_port",
    "java_binary",
    "kafka_jars",
    "listed_brokers",
    "metadata_brokers",
    "wait_until_ready",
]

#: The Apache Kafka release the project runs; kafka-broker.pom.xml pins the same one.
KAFKA_VERSION = "4.1.1"
POM = Path(__file__).with_name("kafka-broker.pom.xml")
#: The broker's heap (ALPR_BROKER_HEAP): bounded, so that two test brokers and a worker fit a CI box.
DEFAULT_HEAP = "512m"
#: How often the broker deletes expired segments. Kafka's default is 5 minutes; the topic
#: declaration counts it in every read topic's worst-case record age (streams.retention.policy).
RETENTION_CHECK_MS = 5 * 60 * 1000

_LOG4J = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d{{ISO8601}}] %p %m (%c{{1}})%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.clients.name = org.apache.kafka.clients
logger.clients.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


#: Ports handed out by :func:`free_port`: below Linux's ephemeral range (32768-60999), so that no
#: outgoing connection of another process takes the port between the check and the bind (a
#: broker then failed to start with "Address already in use" in a busy test run).
_FREE_PORTS = range(20_000, 32_000)  # room for a cluster's port + 1, + 2


def free_port(count: int = 1, exclude: Collection[int] = ()) -> int:
    """A port on 127.0.0.1 that nothing listens on now, outside the ephemeral range, whose next
    ``count - 1`` ports are free too (a cluster's nodes take port..port+count-1), none of them in
    ``exclude`` (ports chosen but not bound yet)."""
    chooser = random.SystemRandom()
    for _ in range(200):
        base = chooser.choice(_FREE_PORTS)
        run = range(base, base + count)
        if any(port in exclude for port in run):
            continue
        for port in run:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    break
        else:
            return base
    raise BrokerError(
        f"no run of {count} free port(s) in {_FREE_PORTS.start}-{_FREE_PORTS.stop - 1} on 127.0.0.1"
    )


def _cache_dir() -> Path:
    configured = os.environ.get("ALPR_KAFKA_JARS")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "alpr" / f"kafka_2.13-{KAFKA_VERSION}"


def kafka_jars() -> Path:
    """The folder of the broker's jars, fetched with Maven the first time (about 45 MB)."""
    folder = _cache_dir()
    if (folder / ".complete").is_file():
        return folder
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            "the embedded Kafka broker is fetched with Maven, which is not installed "
            "(Debian: apt-get install maven; or set ALPR_BROKER_URL to use an existing Kafka)"
        )
    staging = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    result = subprocess.run(  # noqa: S603 - Maven with fixed arguments
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BrokerError(f"Maven could not fetch Apache Kafka {KAFKA_VERSION}:\n{tail}")
    (staging / ".complete").write_text(f"kafka_2.13 {KAFKA_VERSION}\n")
    try:
        staging.rename(folder)
    except OSError:  # another process finished first: use its copy
        shutil.rmtree(staging, ignore_errors=True)
        if not (folder / ".complete").is_file():
            raise
    return folder


def java_binary() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise BrokerError(
            "the embedded Kafka broker needs Java 17 or newer (Debian: openjdk-17-jre-headless)"
        )
    return java


async def metadata_brokers(bootstrap: str, timeout: float = 5.0) -> set[int]:
    """Node ids a Metadata request to ``bootstrap`` lists (empty when nothing answers)."""
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import KafkaError

    # The client logs an error for every node that refuses a connection: expected while starting.
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
        return {b.nodeId for b in metadata.brokers()}
    except (TimeoutError, OSError, KafkaError):
        return set()
    finally:
        await client.close()
        client_log.setLevel(level)


def listed_brokers(bootstrap: str, timeout: float = 5.0) -> set[int]:
    """:func:`metadata_brokers` for synchronous callers, also when called inside a running event
    loop (the load tools start a broker from async code): then it runs on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(metadata_brokers(bootstrap, timeout))
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, metadata_brokers(bootstrap, timeout)).result()


def wait_until_ready(bootstrap: str, nodes: int, timeout: float = 60.0, pids: tuple[int, ...] = ()) -> None:
    """Wait until a Metadata request lists ``nodes`` brokers; fail early if a process exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _listening(bootstrap) and len(listed_brokers(bootstrap, 2.0)) >= nodes:
            return
        dead = [pid for pid in pids if not _alive(pid)]
        if dead:
            raise BrokerError(f"broker process {dead[0]} exited while starting")
        time.sleep(0.1)
    raise BrokerError(f"Kafka at {bootstrap} did not list {nodes} broker(s) within {timeout:.0f} s")


def _listening(bootstrap: str) -> bool:
    """True when some address of ``bootstrap`` accepts a connection (before a Metadata request,
    whose client logs every refused connection)."""
    for address in bootstrap.split(","):
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                return True
        except OSError:
            continue
    return False


#: A Java exception with its message, as a log's stack trace starts: the cause a person can act on.
_EXCEPTION = re.compile(r"^(?:Caused by: )?[\w.$]+(?:Exception|Error): \S")


def _failure_in(log: Path, since: int = 0) -> str:
    """Why a broker that failed to start failed, from its log after byte ``since``: the first Java
    exception's message (the root of what followed), else the first FATAL or ERROR line; one line,
    at most 300 characters; empty when the log names nothing."""
    try:
        with log.open("rb") as file:
            file.seek(since)
            lines = file.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    found = next((line for line in lines if _EXCEPTION.match(line)), None)
    if found is None:
        found = next((line for line in lines if " FATAL " in line or " ERROR " in line), "")
    text = " ".join(found.split())
    return text if len(text) <= 300 else f"{text[:297]}..."


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and has exited
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie that is not ours still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


@dataclass(frozen=True)
class Node:
    """One broker+controller process of an :class:`EmbeddedBroker`."""

    node_id: int
    port: int  # clients
    controller_port: int
    folder: Path  # config, data, pid and log

    @property
    def pid_file(self) -> Path:
        return self.folder / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.folder / "broker.log"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def signal(self, signum: int) -> None:
        """Send a signal to the node's process (the fault tests: SIGKILL, SIGSTOP, SIGCONT)."""
        pid = self.pid()
        if pid is None:
            raise BrokerError(f"broker node {self.node_id} is not running")
        os.kill(pid, signum)


@dataclass(frozen=True)
class EmbeddedBroker:
    """Apache Kafka on 127.0.0.1: ``nodes`` processes on ports ``port``, ``port + 1``, ...

    Everything lives in ``state_dir/kafka-<port>/``: each node's ``server.properties``, data,
    pid file and log. Starting again reuses the data (a restart keeps every record).
    ``config`` adds or overrides broker settings (the security tests: listeners, SASL, ACLs;
    ``{port}`` and ``{controller_port}`` in a value become the node's ports);
    ``format_args`` are added to the storage format (``--add-scram`` users).
    """

    state_dir: Path
    port: int
    nodes: int = 1
    heap: str = DEFAULT_HEAP
    retention_check_ms: int = RETENTION_CHECK_MS
    config: Mapping[str, str] = field(default_factory=dict)
    format_args: tuple[str, ...] = ()
    #: The address clients are told to use (the listener named PLAINTEXT unless ``config`` changes
    #: the listeners).
    host: str = "127.0.0.1"

    @property
    def folder(self) -> Path:
        return self.state_dir / f"kafka-{self.port}"

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{self.host}:{node.port}" for node in self.node_list())

    @property
    def log_file(self) -> Path:
        return self.node_list()[0].log_file

    def node_list(self) -> list[Node]:
        ports_file = self.folder / "controller-ports"
        if ports_file.is_file():
            controller_ports = [int(p) for p in ports_file.read_text().split()]
        else:
            controller_ports = [0] * self.nodes
        return [
            Node(i + 1, self.port + i, controller_ports[i], self.folder / f"node-{i + 1}")
            for i in range(self.nodes)
        ]

    def node(self, node_id: int) -> Node:
        return self.node_list()[node_id - 1]

    def pid(self) -> int | None:
        """The first node's pid (None: not running)."""
        return self.node_list()[0].pid()

    def status(self) -> str:
        nodes = self.node_list()
        running = [n for n in nodes if n.pid() is not None]
        if not running:
            return f"embedded Kafka on {self.bootstrap}: not running"
        listed = listed_brokers(self.bootstrap, 3.0) if _listening(self.bootstrap) else set()
        state = f"{len(listed)} of {len(nodes)} node(s) answering Metadata"
        pids = ", ".join(str(n.pid()) for n in running)
        return f"embedded Kafka {KAFKA_VERSION} on {self.bootstrap}: running (pid {pids}), {state}"

    def _properties(self, node: Node, voters: str) -> str:
        replicas = min(3, self.nodes)
        isr = 2 if self.nodes >= 3 else 1
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{self.host}:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(node.data_dir),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "default.replication.factor": str(replicas),
            "min.insync.replicas": str(isr),
            "offsets.topic.replication.factor": str(replicas),
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": str(isr),
            "transaction.state.log.num.partitions": "12",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.check.interval.ms": str(self.retention_check_ms),
            # no flush of our own: replication and the page cache are Kafka's durability
            "unclean.leader.election.enable": "false",
            "log.cleaner.backoff.ms": str(min(15_000, self.retention_check_ms)),
            "log.initial.task.delay.ms": "1000",
            "file.delete.delay.ms": str(min(60_000, self.retention_check_ms)),
        }
        props.update(self.config)
        props = {
            k: v.replace("{port}", str(node.port)).replace("{controller_port}", str(node.controller_port))
            for k, v in props.items()
        }
        return "".join(f"{key}={value}\n" for key, value in props.items())

    def _prepare(self, jars: Path) -> list[Node]:
        """Write each node's config and format its storage, the first time."""
        self.folder.mkdir(parents=True, exist_ok=True)
        ports_file = self.folder / "controller-ports"
        if not ports_file.is_file():
            # Distinct from each other and from the client ports, which are not bound yet: a
            # controller port equal to another node's client port made one node exit at start.
            clients = range(self.port, self.port + self.nodes)
            chosen: list[int] = []
            for _ in range(self.nodes):
                chosen.append(free_port(exclude={*clients, *chosen}))
            ports_file.write_text(" ".join(map(str, chosen)) + "\n")
        nodes = self.node_list()
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
        cluster_file = self.folder / "cluster-id"
        if not cluster_file.is_file():
            cluster_file.write_text(uuid.uuid4().hex + "\n")
        cluster_id = _cluster_id(cluster_file.read_text().strip())
        for node in nodes:
            node.folder.mkdir(parents=True, exist_ok=True)
            config = node.folder / "server.properties"
            config.write_text(self._properties(node, voters))
            (node.folder / "log4j2.properties").write_text(_LOG4J.format(log=node.log_file))
            if (node.data_dir / "meta.properties").is_file():
                continue
            result = subprocess.run(  # noqa: S603 - our java, fixed arguments
                [
                    java_binary(),
                    "-Xmx256m",
                    "-cp",
                    f"{jars}/*",
                    f"-Dlog4j2.configurationFile={node.folder / 'log4j2.properties'}",
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={cluster_id}",  # an id may start with "-"
                    "-c",
                    str(config),
                    "--ignore-formatted",
                    *self.format_args,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise BrokerError(
                    f"formatting Kafka storage failed: {(result.stdout + result.stderr).strip()}"
                )
        return nodes

    def _launch(self, node: Node, jars: Path) -> int:
        with node.log_file.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - our java, fixed arguments
                [
                    java_binary(),
                    f"-Xmx{self.heap}",
                    f"-Xms{self.heap}",
                    "-XX:+UseG1GC",
                    "-XX:MaxGCPauseMillis=20",
                    "-XX:+ExitOnOutOfMemoryError",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={node.folder / 'log4j2.properties'}",
                    "-cp",
                    f"{jars}/*",
                    "kafka.Kafka",
                    str(node.folder / "server.properties"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        node.pid_file.write_text(f"{proc.pid}\n")
        return proc.pid

    def start(self, timeout: float = 90.0) -> int:
        """Start every node that is not running; return the first node's pid once all answer."""
        jars = kafka_jars()
        if self.pid() is None and _listening(f"127.0.0.1:{self.port}"):
            raise BrokerError(
                f"port {self.port} is already in use by another process; choose another port with "
                "ALPR_EMBEDDED_PORT or point ALPR_BROKER_URL at it"
            )
        nodes = self._prepare(jars)
        logged = {node.node_id: _size(node.log_file) for node in nodes}
        pids = tuple(node.pid() or self._launch(node, jars) for node in nodes)
        try:
            wait_until_ready(self.bootstrap, self.nodes, timeout, pids)
        except BrokerError as exc:
            # the first dead node's log says why (read before stop() makes the others log more)
            node = next((n for n, pid in zip(nodes, pids, strict=True) if not _alive(pid)), nodes[0])
            reason = _failure_in(node.log_file, logged[node.node_id])
            self.stop()
            raise BrokerError(f"{exc}{f': {reason}' if reason else ''}; see {node.log_file}") from None
        return pids[0]

    def start_node(self, node_id: int, timeout: float = 90.0) -> int:
        """Start one stopped node again (the fault tests) and wait until the cluster lists it."""
        node = self.node(node_id)
        pid = node.pid() or self._launch(node, kafka_jars())
        wait_until_ready(self.bootstrap, self.nodes, timeout, (pid,))
        return pid

    def stop(self, timeout: float | None = None) -> bool:
        """Stop every node (SIGTERM: a controlled shutdown; SIGKILL after ``timeout``). Nodes of a
        cluster stopping together lose their controller quorum and would wait out their shutdown
        timeouts, so a cluster is given 10 s (Kafka recovers its logs at the next start)."""
        if timeout is None:
            timeout = 30.0 if self.nodes == 1 else 10.0
        pids = []
        for node in self.node_list():
            pid = node.pid()
            node.pid_file.unlink(missing_ok=True)
            if pid is not None:
                os.kill(pid, signal.SIGCONT)  # a node a test froze must be able to shut down
                os.kill(pid, signal.SIGTERM)
                pids.append(pid)
        deadline = time.monotonic() + timeout
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        return bool(pids)


def _cluster_id(seed: str) -> str:
    """A KRaft cluster id (a base64url-encoded UUID of 22 characters) made from ``seed``."""
    import base64

    raw = uuid.UUID(hex=(seed + "0" * 32)[:32]).bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
