"""Helpers for the broker (Kafka-compatibility) suite.

* ``BrokerServer``: start / stop (SIGTERM) / kill -9 / restart ``rill broker``
  with a generated server.properties (free loopback port, its own log.dirs),
  pointed at a ZooKeeper ensemble (``rill keeper`` or Apache ZooKeeper 3.8,
  see ``keeper_server.KeeperServer``), optionally under a chroot.
* ``DevServer``: ``rill dev`` (embedded keeper + broker).
* ``KafkaConn``: a tiny Kafka wire-protocol client (non-flexible request
  versions only) for readiness checks and for misbehaving on purpose
  (garbage frames, oversized size prefixes, unknown API keys, ...).
* client helpers: ``kcat``, confluent-kafka admin shortcuts, unique topic names.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

from keeper_server import free_port, rill_bin

HOST = "127.0.0.1"
KCAT = shutil.which("kcat") or "/usr/bin/kcat"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"

# Kafka error codes used by the tests
NONE = 0
OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
LEADER_NOT_AVAILABLE = 5
CORRUPT_MESSAGE = 2
MESSAGE_TOO_LARGE = 10
INVALID_REQUIRED_ACKS = 21
INVALID_RECORD = 87
INVALID_TOPIC_EXCEPTION = 17
UNSUPPORTED_VERSION = 35
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38

# API keys
PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
API_VERSIONS = 18
CREATE_TOPICS, DELETE_TOPICS = 19, 20
DESCRIBE_CONFIGS, ALTER_CONFIGS = 32, 33


class ServerStartError(RuntimeError):
    pass


def unique_topic(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# =========================================================================
# Raw Kafka wire protocol (non-flexible versions only)
# =========================================================================

def kstring(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(b)) + b


class KReader:
    def __init__(self, data, off=0):
        self.d, self.o = data, off

    def _unpack(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def i8(self):
        return self._unpack(">b")

    def i16(self):
        return self._unpack(">h")

    def i32(self):
        return self._unpack(">i")

    def i64(self):
        return self._unpack(">q")

    def bool(self):
        return self.i8() != 0

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        v = self.d[self.o:self.o + n].decode()
        self.o += n
        return v

    def array(self, item):
        n = self.i32()
        if n < 0:
            return None
        return [item(self) for _ in range(n)]

    def remaining(self):
        return len(self.d) - self.o


class ConnectionClosed(Exception):
    pass


class KafkaConn:
    """One TCP connection speaking Kafka request header v1 / response header v0."""

    def __init__(self, host, port, timeout=10.0, client_id="rill-tests-raw"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client_id = client_id
        self.correlation = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def frame(self, api_key, version, body, correlation_id=None):
        if correlation_id is None:
            self.correlation += 1
            correlation_id = self.correlation
        payload = struct.pack(">hhi", api_key, version, correlation_id) \
            + kstring(self.client_id) + body
        return struct.pack(">i", len(payload)) + payload, correlation_id

    def send(self, api_key, version, body=b""):
        data, cid = self.frame(api_key, version, body)
        self.sock.sendall(data)
        return cid

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            d = self.sock.recv(n - len(buf))
            if not d:
                raise ConnectionClosed(f"connection closed by broker after {len(buf)}/{n} bytes")
            buf += d
        return bytes(buf)

    def recv(self):
        """Returns (correlation_id, KReader over the body)."""
        (n,) = struct.unpack(">i", self._recv_exact(4))
        body = self._recv_exact(n)
        r = KReader(body)
        return r.i32(), r

    def call(self, api_key, version, body=b""):
        cid = self.send(api_key, version, body)
        got, r = self.recv()
        assert got == cid, f"correlation id {got} != {cid}"
        return r

    def is_closed_by_peer(self, timeout=5.0):
        """True when the broker closes the connection (EOF/RST) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True

    # ------------------------------------------------------------ requests
    def api_versions(self, version=0):
        """ApiVersions v0..v2: returns (error_code, {api_key: (min, max)})."""
        r = self.call(API_VERSIONS, version)
        err = r.i16()
        apis = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
        return err, {k: (lo, hi) for k, lo, hi in apis or []}

    def metadata(self, topics=None, allow_auto_create=True, version=4):
        """Metadata v1 or v4. topics None = all. Returns a dict."""
        assert version in (1, 4)
        if topics is None:
            body = struct.pack(">i", -1)
        else:
            body = struct.pack(">i", len(topics)) + b"".join(kstring(t) for t in topics)
        if version >= 4:
            body += struct.pack(">b", 1 if allow_auto_create else 0)
        r = self.call(METADATA, version, body)
        if version >= 3:
            r.i32()  # throttle_time_ms
        brokers = r.array(lambda r: {"node_id": r.i32(), "host": r.string(),
                                     "port": r.i32(), "rack": r.string()})
        cluster_id = r.string() if version >= 2 else None
        controller = r.i32()

        def partition(r):
            return {"error": r.i16(), "index": r.i32(), "leader": r.i32(),
                    "replicas": r.array(KReader.i32), "isr": r.array(KReader.i32)}

        def topic(r):
            return {"error": r.i16(), "name": r.string(), "internal": r.bool(),
                    "partitions": r.array(partition)}

        topics_out = r.array(topic)
        return {"brokers": brokers, "cluster_id": cluster_id, "controller": controller,
                "topics": {t["name"]: t for t in topics_out}}


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(n):
    """Kafka's zig-zag varint."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        if z < 0x80:
            out.append(z)
            return bytes(out)
        out.append((z & 0x7F) | 0x80)
        z >>= 7


def record_batch(records, base_offset=0, timestamp=None, attributes=0, bad_crc=False):
    """A v2 record batch (uncompressed) of [(key, value)]."""
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    body = bytearray()
    for i, (k, v) in enumerate(records):
        r = bytearray(b"\x00") + varint(0) + varint(i)
        for f in (k, v):
            r += varint(-1) if f is None else varint(len(f)) + f
        r += varint(0)  # no headers
        body += varint(len(r)) + r
    after_crc = struct.pack(">hiqqqhii", attributes, len(records) - 1, ts, ts, -1, -1, -1,
                            len(records)) + bytes(body)
    crc = crc32c(after_crc) ^ (1 if bad_crc else 0)
    rest = struct.pack(">ibI", -1, 2, crc) + after_crc
    return struct.pack(">qi", base_offset, len(rest)) + rest


def produce_v3(conn, topic, partition, batch, acks=-1, timeout_ms=10000):
    """Produce v3 of one batch; returns (error_code, base_offset) (None for acks=0)."""
    body = kstring(None) + struct.pack(">hi", acks, timeout_ms) + struct.pack(">i", 1) + \
        kstring(topic) + struct.pack(">i", 1) + struct.pack(">i", partition) + \
        struct.pack(">i", len(batch)) + batch
    if acks == 0:
        conn.send(PRODUCE, 3, body)
        return None
    r = conn.call(PRODUCE, 3, body)
    (resp,) = r.array(lambda r: (r.string(), r.array(
        lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    (part,) = resp[1]
    return part[1], part[2]


# =========================================================================
# Servers
# =========================================================================

def _keep_tmp():
    return os.environ.get("KEEPER_KEEP_TMP") == "1"


class _Process:
    """Common process handling: log capture, stop, kill, log tail."""

    kind = "process"

    def _spawn(self, argv):
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"===== start #{self.starts + 1}: {argv}\n".encode())
        self._log_file.flush()
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, cwd=self.root, env=env,
                                     start_new_session=True)
        self.starts += 1

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        finally:
            if self._log_file:
                self._log_file.close()
                self._log_file = None

    def stop(self, timeout=20.0):
        """Clean shutdown (SIGTERM); SIGKILL after timeout. Returns the exit code."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self._wait_exit(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.kind} did not exit within {timeout}s of SIGTERM")

    def kill(self):
        """kill -9."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        try:
            self._wait_exit(20)
        except subprocess.TimeoutExpired:
            pass

    def suspend(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def cleanup(self):
        if self.running():
            try:
                self.resume()
            except OSError:
                pass
        self.kill()
        if not _keep_tmp():
            shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _wait_kafka_ready(self, port, broker_id, timeout):
        """Ready = a Metadata request lists this broker (registered in ZooKeeper)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(f"process exited with {self.proc.returncode}")
            try:
                with KafkaConn(HOST, port, timeout=2.0) as c:
                    md = c.metadata(version=1)
                    if any(b["node_id"] == broker_id for b in md["brokers"]):
                        return md
                    last = f"metadata without broker {broker_id}: {md['brokers']}"
            except (OSError, ConnectionClosed, struct.error) as e:
                last = e
            time.sleep(0.1)
        raise ServerStartError(f"not ready after {timeout}s (last: {last!r})")


class BrokerServer(_Process):
    """``rill broker --config server.properties`` on a free loopback port."""

    kind = "broker"

    def __init__(self, zk_connect, name=None, overrides=None, broker_id=1,
                 session_timeout_ms=6000):
        self.root = tempfile.mkdtemp(prefix=f"broker-{name or 'srv'}-")
        self.log_dirs = os.path.join(self.root, "kafka-logs")
        self.cfg_path = os.path.join(self.root, "server.properties")
        self.log_path = os.path.join(self.root, "broker.log")
        self.port = free_port()
        self.host = HOST
        self.broker_id = broker_id
        self.props = {
            "broker.id": str(broker_id),
            "listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "log.dirs": self.log_dirs,
            "zookeeper.connect": zk_connect,
            "offsets.topic.replication.factor": "1",
            "num.partitions": "1",
            "zookeeper.session.timeout.ms": str(session_timeout_ms),
        }
        for k, v in (overrides or {}).items():
            if v is None:
                self.props.pop(k, None)
            else:
                self.props[k] = str(v)
        self.proc = None
        self._log_file = None
        self.starts = 0

    @property
    def bootstrap(self):
        return f"{HOST}:{self.port}"

    @property
    def zk_connect(self):
        return self.props["zookeeper.connect"]

    @property
    def chroot(self):
        c = self.zk_connect
        return c[c.index("/"):] if "/" in c else ""

    def write_config(self):
        with open(self.cfg_path, "w") as f:
            for k, v in self.props.items():
                f.write(f"{k}={v}\n")

    def command_line(self):
        return [rill_bin(), "broker", "--config", self.cfg_path]

    def start(self, timeout=60.0):
        assert not self.running(), "already running"
        if not os.path.exists(rill_bin()):
            raise ServerStartError(f"rill binary {rill_bin()} does not exist")
        self.write_config()
        self._spawn(self.command_line())
        try:
            self._wait_kafka_ready(self.port, self.broker_id, timeout)
        except Exception as e:
            tail = self.log_tail()
            self.kill()
            raise ServerStartError(
                f"rill broker did not become ready on {self.bootstrap}: {e}\n"
                f"--- log tail ({self.log_path}) ---\n{tail}")
        return self

    def restart(self, hard=False, timeout=60.0):
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start(timeout)

    def conn(self, timeout=10.0):
        return KafkaConn(HOST, self.port, timeout=timeout)

    def partition_dir(self, topic, partition):
        return os.path.join(self.log_dirs, f"{topic}-{partition}")

    def __repr__(self):
        return f"<BrokerServer {self.bootstrap} zk={self.zk_connect} pid={self.pid}>"


class DevServer(_Process):
    """``rill dev``: keeper + broker in one process."""

    kind = "dev"

    def __init__(self, name=None):
        self.root = tempfile.mkdtemp(prefix=f"rill-dev-{name or 'srv'}-")
        self.data_dir = os.path.join(self.root, "data")
        self.log_path = os.path.join(self.root, "dev.log")
        self.keeper_port = free_port()
        self.port = free_port()
        while self.port == self.keeper_port:
            self.port = free_port()
        self.host = HOST
        self.proc = None
        self._log_file = None
        self.starts = 0

    @property
    def bootstrap(self):
        return f"{HOST}:{self.port}"

    @property
    def zk_hosts(self):
        return f"{HOST}:{self.keeper_port}"

    def command_line(self):
        return [rill_bin(), "dev", "--keeper-port", str(self.keeper_port),
                "--broker-port", str(self.port), "--data-dir", self.data_dir]

    def start(self, timeout=60.0):
        assert not self.running(), "already running"
        self._spawn(self.command_line())
        try:
            self._wait_kafka_ready(self.port, 1, timeout)
        except Exception as e:
            tail = self.log_tail()
            self.kill()
            raise ServerStartError(f"rill dev did not become ready: {e}\n"
                                   f"--- log tail ({self.log_path}) ---\n{tail}")
        return self


# =========================================================================
# Client helpers
# =========================================================================

def kcat(*args, input=None, timeout=120.0, check=True):
    """Runs kcat; returns CompletedProcess (stdout/stderr as bytes)."""
    p = subprocess.run([KCAT, *args], input=input, capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"kcat {' '.join(args)} exited {p.returncode}\n"
                             f"stderr: {p.stderr.decode(errors='replace')[-3000:]}")
    return p


def console_round_trip(produce_via, consume_via, topic, lines, timeout=30.0):
    """Seed 000's two commands, exactly: `kafka-console-producer.sh
    --broker-list P --topic T` fed ``lines``, then `kafka-console-consumer.sh
    --bootstrap-server C --topic T --from-beginning` until it has printed as
    many lines (then Ctrl-C). Returns (lines read, consumer stderr, exit code)."""
    from keeper_server import REPO_ROOT
    bin_dir = os.path.join(REPO_ROOT, "bin")
    env = dict(os.environ, RILL_BIN=rill_bin())
    p = subprocess.run([os.path.join(bin_dir, "kafka-console-producer.sh"), "--broker-list",
                        produce_via, "--topic", topic], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, f"console producer exited {p.returncode}: {p.stderr[-2000:]}"
    consumer = subprocess.Popen(
        [os.path.join(bin_dir, "kafka-console-consumer.sh"), "--bootstrap-server", consume_via,
         "--topic", topic, "--from-beginning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    got = []
    try:
        deadline = time.monotonic() + timeout
        while len(got) < len(lines) and time.monotonic() < deadline:
            line = consumer.stdout.readline()
            if not line:
                break
            got.append(line.rstrip("\n"))
    finally:
        consumer.send_signal(signal.SIGINT)
        out, err = consumer.communicate(timeout=20)
    assert out == "", out
    return got, err, consumer.returncode


def admin_client(bootstrap, **conf):
    from confluent_kafka.admin import AdminClient
    c = {"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000}
    c.update(conf)
    return AdminClient(c)


def create_topic(bootstrap, name, partitions=1, config=None, timeout=30.0):
    """Creates a topic with confluent-kafka's AdminClient and waits until every
    partition has a leader in Metadata."""
    from confluent_kafka.admin import NewTopic
    a = admin_client(bootstrap)
    fs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                   config=config or {})], operation_timeout=timeout)
    fs[name].result(timeout)
    wait_topic(bootstrap, name, partitions, timeout)
    return name


def wait_topic(bootstrap, name, partitions, timeout=30.0):
    a = admin_client(bootstrap)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        md = a.list_topics(topic=name, timeout=10)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions and \
                all(p.leader >= 0 and p.error is None for p in t.partitions.values()):
            return t
        last = t
        time.sleep(0.1)
    raise AssertionError(f"topic {name} not ready with {partitions} partitions: {last}")


def plain_consumer(bootstrap, **conf):
    """A confluent-kafka Consumer for assign() use. librdkafka needs a group.id;
    with auto-commit off it commits nothing to that group."""
    from confluent_kafka import Consumer
    c = {"bootstrap.servers": bootstrap, "group.id": "rill-tests-unused",
         "enable.auto.commit": False, "enable.auto.offset.store": False}
    c.update(conf)
    return Consumer(c)


def consume_all_confluent(bootstrap, topic, partitions, expected=None, timeout=120.0,
                          extra_conf=None):
    """Reads every record of ``topic`` from offset 0 with assign() (no group
    coordination) until each partition reaches its high watermark.

    Returns {partition: [(offset, key, value, timestamp), ...]}.
    """
    from confluent_kafka import TopicPartition, KafkaError
    conf = {"auto.offset.reset": "error", "fetch.max.bytes": 50 * 1024 * 1024,
            "enable.partition.eof": True}
    conf.update(extra_conf or {})
    c = plain_consumer(bootstrap, **conf)
    try:
        highs = {}
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            highs[p] = hi
        out = {p: [] for p in range(partitions)}
        todo = {p for p in range(partitions) if highs[p] > 0}
        c.assign([TopicPartition(topic, p, 0) for p in todo])
        deadline = time.monotonic() + timeout
        while todo:
            if time.monotonic() > deadline:
                got = {p: len(v) for p, v in out.items()}
                raise AssertionError(f"consume timed out: got {got}, highs {highs}")
            for m in c.consume(10000, 0.5):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if m.offset() >= highs[m.partition()]:
                            todo.discard(m.partition())
                        continue
                    raise AssertionError(f"consume error: {err}")
                p = m.partition()
                out[p].append((m.offset(), m.key(), m.value(), m.timestamp()[1]))
                if m.offset() + 1 >= highs[p]:
                    todo.discard(p)
        return out
    finally:
        c.close()


class BrokerCluster:
    """``size`` brokers (ids 1..size) sharing one ZooKeeper chroot: a Kafka
    cluster on loopback. ``overrides`` apply to every broker."""

    def __init__(self, zk_connect, size=3, overrides=None, name=None,
                 session_timeout_ms=4000):
        base = {"offsets.topic.replication.factor": str(min(3, size)),
                "offsets.topic.num.partitions": "6",
                "default.replication.factor": str(min(3, size)),
                "replica.lag.time.max.ms": "3000",
                "replica.fetch.wait.max.ms": "200"}
        base.update(overrides or {})
        self.brokers = [BrokerServer(zk_connect, name=f"{name or 'cluster'}-{i}", overrides=base,
                                     broker_id=i, session_timeout_ms=session_timeout_ms)
                        for i in range(1, size + 1)]

    def start(self):
        for b in self.brokers:
            b.start()
        self.wait_brokers(len(self.brokers))
        return self

    def __iter__(self):
        return iter(self.brokers)

    def __getitem__(self, broker_id):
        return self.brokers[broker_id - 1]

    @property
    def bootstrap(self):
        return ",".join(b.bootstrap for b in self.brokers)

    def running(self):
        return [b for b in self.brokers if b.running()]

    def metadata(self, topics=None):
        """Metadata (v1) from the first running broker that answers."""
        last = None
        for b in self.running():
            try:
                with b.conn(timeout=5.0) as c:
                    return c.metadata(topics, allow_auto_create=False, version=4)
            except (OSError, ConnectionClosed, struct.error) as e:
                last = e
        raise AssertionError(f"no broker answers Metadata: {last!r}")

    def wait_brokers(self, n, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            md = self.metadata()
            if len(md["brokers"]) == n:
                return md
            assert time.monotonic() < deadline, f"{len(md['brokers'])} brokers, not {n}: {md}"
            time.sleep(0.1)

    def partition(self, topic, index=0, via=None):
        """The partition's metadata entry (leader, replicas, isr) as a broker sees it."""
        if via is None:
            md = self.metadata([topic])
        else:
            with via.conn(timeout=5.0) as c:
                md = c.metadata([topic], allow_auto_create=False, version=4)
        t = md["topics"].get(topic)
        assert t is not None and t["error"] == 0, f"topic {topic}: {t}"
        found = [p for p in t["partitions"] if p["index"] == index]
        assert found, f"{topic} has no partition {index} yet: {t}"
        return found[0]

    def wait_partition(self, topic, cond, index=0, timeout=30.0, what="condition", skip=()):
        """Waits until every running broker (but ``skip``) reports a partition
        state meeting ``cond``."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                states = [self.partition(topic, index, via=b) for b in self.running()
                          if b not in skip]
                if states and all(cond(s) for s in states):
                    return states[0]
                last = states
            except (AssertionError, OSError, ConnectionClosed, struct.error) as e:
                last = e
            time.sleep(0.1)
        raise AssertionError(f"{topic}-{index}: {what} not reached in {timeout}s; last {last}")

    def leader(self, topic, index=0):
        return self[self.partition(topic, index)["leader"]]

    def controller(self):
        return self[self.metadata()["controller"]]

    def cleanup(self):
        for b in self.brokers:
            b.cleanup()
