"""Admin APIs of the Rill broker, driven by real clients.

CreatePartitions, DescribeConfigs, AlterConfigs, IncrementalAlterConfigs,
DescribeCluster, DeleteRecords, DescribeLogDirs (confluent-kafka's
AdminClient and kafka-python's KafkaAdminClient) and OffsetForLeaderEpoch
(raw wire requests: no admin client exposes it).

One `rill dev` (keeper + broker in one process) on free ports in a temp dir
serves the whole module. Rill binary: env RILL_BIN, default
<repo>/target/debug/rill (tests skip if missing). RILL_KEEP_TMP=1 keeps the
data dir and log.
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclOperation,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)
from kafka.admin import ConfigResource as KConfigResource
from kafka.admin import ConfigResourceType as KConfigResourceType
from kafka.admin import KafkaAdminClient, NewPartitions as KNewPartitions
from kazoo.client import KazooClient

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TIMEOUT = 15


def rill_bin():
    return os.environ.get("RILL_BIN") or os.path.join(REPO_ROOT, "target", "debug", "rill")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RillDev:
    """`rill dev` in a temp dir on free ports."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rill-admin-")
        self.keeper_port = free_port()
        self.broker_port = free_port()
        self.log_path = os.path.join(self.dir, "rill.log")
        self.proc = None

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.broker_port}"

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [rill_bin(), "dev", "--keeper-port", str(self.keeper_port),
             "--broker-port", str(self.broker_port), "--data-dir", os.path.join(self.dir, "data")],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "info"})
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rill dev exited with {self.proc.returncode}:\n{self.log_tail()}")
            if "Rill is running." in self.log_tail(400):
                return
            time.sleep(0.1)
        raise RuntimeError(f"rill dev did not start within 30 s:\n{self.log_tail()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except FileNotFoundError:
            return ""

    def cleanup(self):
        self.stop()
        if not os.environ.get("RILL_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def rill():
    if not os.path.exists(rill_bin()):
        pytest.skip(f"rill binary not found at {rill_bin()} (cargo build -p rill, or set RILL_BIN)")
    srv = RillDev()
    try:
        srv.start()
        yield srv
    finally:
        if srv.proc is not None and srv.proc.poll() not in (None, 0):
            print(srv.log_tail())
        srv.cleanup()


@pytest.fixture(scope="module")
def admin(rill):
    return AdminClient({"bootstrap.servers": rill.bootstrap})


@pytest.fixture
def kadmin(rill):
    client = KafkaAdminClient(bootstrap_servers=rill.bootstrap, request_timeout_ms=10000)
    yield client
    client.close()


@pytest.fixture
def zk(rill):
    client = KazooClient(hosts=f"127.0.0.1:{rill.keeper_port}")
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()


def unique(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(admin, name, partitions=1, config=None):
    fut = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name]
    fut.result(TIMEOUT)
    return name


def kafka_error(fut):
    """The KafkaError a future fails with."""
    with pytest.raises(KafkaException) as info:
        fut.result(TIMEOUT)
    return info.value.args[0]


def produce(rill, topic, n, partition=0):
    p = Producer({"bootstrap.servers": rill.bootstrap, "linger.ms": 0})
    for i in range(n):
        p.produce(topic, f"v{i}".encode(), partition=partition)
        p.flush(TIMEOUT)  # one batch per record
    assert p.flush(TIMEOUT) == 0


def describe_topic_config(admin, topic):
    res = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([res])[res].result(TIMEOUT)


def partition_count(admin, topic):
    md = admin.list_topics(topic, timeout=TIMEOUT)
    return len(md.topics[topic].partitions)


def watermarks(rill, topic, partition=0):
    c = Consumer({"bootstrap.servers": rill.bootstrap, "group.id": unique("g")})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT)
    finally:
        c.close()


# --------------------------------------------------------------------------- DescribeCluster

def test_describe_cluster(rill, admin):
    # librdkafka answers describe_cluster from Metadata, not DescribeCluster
    # (see test_describe_cluster_raw for the API itself).
    desc = admin.describe_cluster().result(TIMEOUT)
    assert desc.cluster_id and len(desc.cluster_id) == 22
    assert desc.controller.id == 1
    assert [(n.id, n.host, n.port) for n in desc.nodes] == [(1, "127.0.0.1", rill.broker_port)]


def test_describe_cluster_kafka_python(rill, kadmin, admin):
    """kafka-python sends DescribeCluster itself (with authorized operations)."""
    desc = kadmin.describe_cluster()
    assert desc["cluster_id"] == admin.describe_cluster().result(TIMEOUT).cluster_id
    assert desc["controller_id"] == 1
    assert [(b["broker_id"], b["host"], b["port"], b["rack"]) for b in desc["brokers"]] == [
        (1, "127.0.0.1", rill.broker_port, None)]
    assert set(desc["authorized_operations"]) == {
        "CREATE", "ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS",
        "IDEMPOTENT_WRITE"}


# --------------------------------------------------------------------------- CreatePartitions

def test_create_partitions_grows_topic(rill, admin, zk):
    topic = create_topic(admin, unique())
    assert admin.create_partitions([NewPartitions(topic, 3)])[topic].result(TIMEOUT) is None
    assert partition_count(admin, topic) == 3
    data, _ = zk.get(f"/brokers/topics/{topic}")
    assert json.loads(data)["partitions"] == {"0": [1], "1": [1], "2": [1]}
    state, _ = zk.get(f"/brokers/topics/{topic}/partitions/2/state")
    assert json.loads(state)["leader"] == 1
    # The new partitions take writes and report their offsets.
    produce(rill, topic, 3, partition=2)
    assert watermarks(rill, topic, 2) == (0, 3)


def test_create_partitions_errors(admin):
    topic = create_topic(admin, unique(), partitions=2)
    err = kafka_error(admin.create_partitions([NewPartitions(topic, 1)])[topic])
    assert err.code() == KafkaError.INVALID_PARTITIONS
    assert err.str() == "Topic currently has 2 partitions, which is higher than the requested 1."
    err = kafka_error(admin.create_partitions([NewPartitions(topic, 2)])[topic])
    assert err.code() == KafkaError.INVALID_PARTITIONS
    assert err.str() == "Topic already has 2 partitions."
    missing = unique("missing")
    err = kafka_error(admin.create_partitions([NewPartitions(missing, 4)])[missing])
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert err.str() == f"The topic '{missing}' does not exist."
    err = kafka_error(admin.create_partitions(
        [NewPartitions(topic, 4, replica_assignment=[[1], [7]])])[topic])
    assert err.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT
    assert err.str() == "Unknown broker(s) in replica assignment: 7."
    err = kafka_error(admin.create_partitions(
        [NewPartitions(topic, 4, replica_assignment=[[1]])])[topic])
    assert err.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT
    assert err.str() == "Increasing the number of partitions by 2 but 1 assignments provided."
    assert partition_count(admin, topic) == 2


def test_create_partitions_validate_only_and_explicit_assignment(admin):
    topic = create_topic(admin, unique())
    admin.create_partitions([NewPartitions(topic, 5)], validate_only=True)[topic].result(TIMEOUT)
    assert partition_count(admin, topic) == 1
    admin.create_partitions(
        [NewPartitions(topic, 3, replica_assignment=[[1], [1]])])[topic].result(TIMEOUT)
    assert partition_count(admin, topic) == 3


def test_create_partitions_kafka_python(kadmin, admin):
    topic = create_topic(admin, unique())
    kadmin.create_partitions({topic: KNewPartitions(total_count=4)})
    assert partition_count(admin, topic) == 4


# --------------------------------------------------------------------------- DescribeConfigs

def test_describe_topic_configs(admin):
    topic = create_topic(admin, unique(), config={"retention.ms": "3600000"})
    configs = describe_topic_config(admin, topic)
    retention = configs["retention.ms"]
    assert retention.value == "3600000"
    assert retention.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not retention.is_read_only and not retention.is_sensitive
    # librdkafka asks for synonyms: the override first, then the broker defaults.
    synonyms = list(retention.synonyms.values())
    assert synonyms[0].name == "retention.ms" and synonyms[0].value == "3600000"
    assert "log.retention.hours" in retention.synonyms
    segment = configs["segment.bytes"]
    assert segment.value == "1073741824"
    assert segment.source in (ConfigSource.DEFAULT_CONFIG.value, ConfigSource.STATIC_BROKER_CONFIG.value)
    assert configs["cleanup.policy"].value == "delete"


def test_describe_configs_errors(admin):
    missing = ConfigResource(ResourceType.TOPIC, unique("missing"))
    assert kafka_error(admin.describe_configs([missing])[missing]).code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    # Other broker ids and BROKER_LOGGER: see test_describe_configs_raw
    # (librdkafka routes those to the named broker id).


def test_describe_broker_configs(admin):
    res = ConfigResource(ResourceType.BROKER, "1")
    configs = admin.describe_configs([res])[res].result(TIMEOUT)
    assert configs["broker.id"].value == "1"
    assert configs["broker.id"].source == ConfigSource.STATIC_BROKER_CONFIG.value
    assert configs["broker.id"].is_read_only
    assert configs["num.partitions"].value == "1"
    assert configs["num.partitions"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["log.retention.hours"].value == "168"


def test_describe_configs_kafka_python(kadmin, admin):
    topic = create_topic(admin, unique(), config={"segment.ms": "60000"})
    # Only the requested keys come back, with synonyms when asked for.
    res = kadmin.describe_configs(
        [KConfigResource(KConfigResourceType.TOPIC, topic, configs={"segment.ms": None, "retention.ms": None})],
        include_synonyms=True, config_filter="all")
    configs = res["topic"][topic]
    assert set(configs) == {"segment.ms", "retention.ms"}
    segment = configs["segment.ms"]
    assert segment["value"] == "60000"
    assert segment["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert segment["config_type"] == "LONG"
    assert segment["synonyms"][0] == {"name": "segment.ms", "value": "60000", "source": "DYNAMIC_TOPIC_CONFIG"}
    assert {"name": "log.roll.hours", "value": "168", "source": "DEFAULT_CONFIG"} in segment["synonyms"]
    assert configs["retention.ms"]["config_source"] == "DEFAULT_CONFIG"
    res = kadmin.describe_configs([KConfigResource(KConfigResourceType.TOPIC, topic)])
    assert list(res["topic"][topic]) == ["segment.ms"]  # only the modified ones
    assert res["topic"][topic]["segment.ms"]["synonyms"] == []


# --------------------------------------------------------------------------- AlterConfigs

def test_alter_configs_replaces_overrides(rill, admin, zk):
    topic = create_topic(admin, unique(), config={"segment.bytes": "1048576"})
    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "120000"})
    admin.alter_configs([res])[res].result(TIMEOUT)
    data, _ = zk.get(f"/config/topics/{topic}")
    assert json.loads(data) == {"version": 1, "config": {"retention.ms": "120000"}}
    changes = sorted(zk.get_children("/config/changes"))
    last, _ = zk.get(f"/config/changes/{changes[-1]}")
    assert json.loads(last) == {"version": 2, "entity_path": f"topics/{topic}"}
    configs = describe_topic_config(admin, topic)
    assert configs["retention.ms"].value == "120000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    # AlterConfigs replaces the whole set: segment.bytes is back to its default.
    assert configs["segment.bytes"].value == "1073741824"
    assert configs["segment.bytes"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value


def test_alter_configs_validation(admin):
    topic = create_topic(admin, unique())
    bad = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "abc"})
    err = kafka_error(admin.alter_configs([bad])[bad])
    assert err.code() == KafkaError.INVALID_CONFIG
    assert err.str() == "Invalid value abc for configuration retention.ms: Not a number of type LONG"
    unknown = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.hours": "1"})
    err = kafka_error(admin.alter_configs([unknown])[unknown])
    assert err.code() == KafkaError.INVALID_CONFIG
    assert err.str() == "Unknown topic config name: retention.hours"
    dry = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "5000"})
    admin.alter_configs([dry], validate_only=True)[dry].result(TIMEOUT)
    assert describe_topic_config(admin, topic)["retention.ms"].value == "604800000"
    missing = ConfigResource(ResourceType.TOPIC, unique("missing"), set_config={"retention.ms": "1"})
    assert kafka_error(admin.alter_configs([missing])[missing]).code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    # Dynamic broker configs: see test_broker_dynamic_configs.py (a
    # read-only key is refused here, leaving the shared broker unchanged).
    broker = ConfigResource(ResourceType.BROKER, "1", set_config={"broker.id": "5"})
    err = kafka_error(admin.alter_configs([broker])[broker])
    assert err.code() == KafkaError.INVALID_REQUEST
    assert err.str() == ("Invalid config value for resource ConfigResource(type=BROKER, name='1'): "
                         "Cannot update these configs dynamically: Set(broker.id)")


def test_alter_configs_kafka_python(kadmin, admin):
    topic = create_topic(admin, unique())
    kadmin.alter_configs([KConfigResource(KConfigResourceType.TOPIC, topic, configs={"max.message.bytes": "2000000"})])
    assert describe_topic_config(admin, topic)["max.message.bytes"].value == "2000000"


def test_altered_config_takes_effect(rill, admin):
    """max.message.bytes lowered by AlterConfigs is enforced on the next produce."""
    topic = create_topic(admin, unique())
    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"max.message.bytes": "200"})
    admin.alter_configs([res])[res].result(TIMEOUT)
    p = Producer({"bootstrap.servers": rill.bootstrap, "compression.type": "none",
                  "message.max.bytes": 100000})
    errors = []
    p.produce(topic, b"x" * 1000, partition=0, on_delivery=lambda e, m: errors.append(e))
    p.flush(TIMEOUT)
    assert errors and errors[0] is not None
    assert errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE


def test_altered_compression_type_takes_effect(rill, admin):
    """compression.type set by IncrementalAlterConfigs re-compresses new batches."""
    topic = create_topic(admin, unique())
    incremental(admin, topic, ("compression.type", "gzip", AlterConfigOpType.SET)).result(TIMEOUT)
    p = Producer({"bootstrap.servers": rill.bootstrap, "compression.type": "none"})
    p.produce(topic, b"x" * 20000, partition=0)
    assert p.flush(TIMEOUT) == 0
    (_, logs), = describe_log_dirs_raw(rill, [(topic, [0])]).items()
    assert 0 < logs[(topic, 0)] < 2000


# --------------------------------------------------------------------------- IncrementalAlterConfigs

def incremental(admin, topic, *entries, validate_only=False):
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry(name, value, incremental_operation=op) for name, value, op in entries])
    return admin.incremental_alter_configs([res], validate_only=validate_only)[res]


def test_incremental_alter_configs(admin):
    topic = create_topic(admin, unique(), config={"segment.ms": "60000"})
    incremental(admin, topic,
                ("retention.ms", "7200000", AlterConfigOpType.SET),
                ("segment.ms", None, AlterConfigOpType.DELETE),
                ("cleanup.policy", "compact", AlterConfigOpType.APPEND)).result(TIMEOUT)
    configs = describe_topic_config(admin, topic)
    assert configs["retention.ms"].value == "7200000"
    assert configs["segment.ms"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "delete,compact"
    incremental(admin, topic, ("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT)).result(TIMEOUT)
    assert describe_topic_config(admin, topic)["cleanup.policy"].value == "compact"
    # validate_only leaves the stored overrides alone.
    incremental(admin, topic, ("retention.ms", "1000", AlterConfigOpType.SET),
                validate_only=True).result(TIMEOUT)
    assert describe_topic_config(admin, topic)["retention.ms"].value == "7200000"


def test_incremental_alter_configs_errors(admin):
    topic = create_topic(admin, unique())
    err = kafka_error(incremental(admin, topic, ("retention.ms", "1", AlterConfigOpType.APPEND)))
    assert err.code() == KafkaError.INVALID_REQUEST
    assert err.str() == "Config value append is not allowed for config key: retention.ms"
    err = kafka_error(incremental(admin, topic, ("cleanup.policy", "tidy", AlterConfigOpType.APPEND)))
    assert err.code() == KafkaError.INVALID_CONFIG
    assert err.str() == "Invalid value tidy for configuration cleanup.policy: String must be one of: compact, delete"
    err = kafka_error(incremental(admin, topic, ("min.insync.replicas", "0", AlterConfigOpType.SET)))
    assert err.code() == KafkaError.INVALID_CONFIG
    assert "min.insync.replicas" in err.str() and "0" in err.str()
    broker = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
        ConfigEntry("log.retention.hours", "1", incremental_operation=AlterConfigOpType.SET)])
    err = kafka_error(admin.incremental_alter_configs([broker])[broker])
    assert err.code() == KafkaError.INVALID_REQUEST
    assert err.str().endswith("Cannot update these configs dynamically: Set(log.retention.hours)")


# --------------------------------------------------------------------------- DeleteRecords

def test_delete_records(rill, admin):
    topic = create_topic(admin, unique())
    produce(rill, topic, 10)
    tp = TopicPartition(topic, 0, 4)
    deleted = admin.delete_records([tp])[tp].result(TIMEOUT)
    assert deleted.low_watermark == 4
    assert watermarks(rill, topic) == (4, 10)
    # Below the log start: nothing to do, the low watermark stays.
    tp = TopicPartition(topic, 0, 2)
    assert admin.delete_records([tp])[tp].result(TIMEOUT).low_watermark == 4
    # -1 (OFFSET_END) means the high watermark.
    tp = TopicPartition(topic, 0, -1)
    assert admin.delete_records([tp])[tp].result(TIMEOUT).low_watermark == 10
    assert watermarks(rill, topic) == (10, 10)


def test_delete_records_errors(rill, admin):
    topic = create_topic(admin, unique())
    produce(rill, topic, 3)
    tp = TopicPartition(topic, 0, 4)
    assert kafka_error(admin.delete_records([tp])[tp]).code() == KafkaError.OFFSET_OUT_OF_RANGE
    compacted = create_topic(admin, unique(), config={"cleanup.policy": "compact"})
    tp = TopicPartition(compacted, 0, 0)
    assert kafka_error(admin.delete_records([tp])[tp]).code() == KafkaError.POLICY_VIOLATION
    assert watermarks(rill, topic) == (0, 3)


def test_delete_records_kafka_python(rill, kadmin, admin):
    from kafka.structs import TopicPartition as KTopicPartition
    topic = create_topic(admin, unique())
    produce(rill, topic, 5)
    res = kadmin.delete_records({KTopicPartition(topic, 0): 3})
    assert res[KTopicPartition(topic, 0)]["low_watermark"] == 3


# --------------------------------------------------------------------------- DescribeLogDirs

def test_describe_log_dirs(rill, kadmin, admin):
    topic = create_topic(admin, unique(), partitions=2)
    produce(rill, topic, 4, partition=1)
    result = kadmin.describe_log_dirs()
    text = json.dumps(result, default=str)
    assert topic in text
    dirs = result[0]["log_dirs"] if isinstance(result, list) else result["log_dirs"]
    assert len(dirs) == 1
    d = dirs[0]
    assert d["error_code"] == 0
    assert d["log_dir"] == os.path.join(rill.dir, "data", "broker")
    parts = {p["partition_index"]: p for t in d["topics"] if t["name"] == topic for p in t["partitions"]}
    assert set(parts) == {0, 1}
    assert parts[0]["partition_size"] == 0
    assert parts[1]["partition_size"] > 0
    assert all(p["offset_lag"] == 0 and p["is_future_key"] is False for p in parts.values())


# --------------------------------------------------------------------------- raw protocol

def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _uvarint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def _compact_str(s):
    b = s.encode()
    return _uvarint(len(b) + 1) + b


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def uvarint(self):
        shift = result = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def string(self, compact):
        n = self.uvarint() - 1 if compact else self.take(">h")
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def nullable_string(self, compact):
        n = self.uvarint() - 1 if compact else self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def array_len(self, compact):
        return self.uvarint() - 1 if compact else self.take(">i")

    def skip_tags(self, compact):
        if compact:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.pos += self.uvarint()


def call(rill, api_key, version, body, flexible):
    header = struct.pack(">hhi", api_key, version, 7) + _str("admin-test")
    if flexible:
        header += b"\x00"
    frame = header + body
    with socket.create_connection(("127.0.0.1", rill.broker_port), timeout=TIMEOUT) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _recv(s, 4))[0]
        r = Reader(_recv(s, size))
    assert r.take(">i") == 7
    r.skip_tags(flexible)
    return r


def _recv(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, "connection closed"
        buf += chunk
    return buf


def offset_for_leader_epoch(rill, version, topic, partitions):
    """partitions: [(partition, current_leader_epoch, leader_epoch)] ->
    [(partition, error_code, leader_epoch, end_offset)]"""
    flexible = version >= 4
    body = struct.pack(">i", -1) if version >= 3 else b""
    if flexible:
        body += _uvarint(2) + _compact_str(topic) + _uvarint(len(partitions) + 1)
        for p in partitions:
            body += struct.pack(">iii", *p) + b"\x00"
        body += b"\x00\x00"
    else:
        body += struct.pack(">i", 1) + _str(topic) + struct.pack(">i", len(partitions))
        for p in partitions:
            body += struct.pack(">iii", *p)
    r = call(rill, 23, version, body, flexible)
    r.take(">i")  # throttle
    out = []
    for _ in range(r.array_len(flexible)):
        assert r.string(flexible) == topic
        for _ in range(r.array_len(flexible)):
            code, partition, epoch, end = r.take(">hiiq")
            r.skip_tags(flexible)
            out.append((partition, code, epoch, end))
        r.skip_tags(flexible)
    return out


@pytest.mark.parametrize("version", [2, 3, 4])
def test_offset_for_leader_epoch(rill, admin, version):
    topic = create_topic(admin, unique(), partitions=2)
    produce(rill, topic, 5)
    got = offset_for_leader_epoch(rill, version, topic, [
        (0, -1, 0),   # the current epoch ends at the log end
        (1, -1, 0),   # empty partition: still the log end
        (0, 0, 3),    # past the latest epoch: undefined
        (0, 1, 0),    # the client knows a newer leader epoch than ours
        (7, -1, 0),   # no such partition
    ])
    assert got == [
        (0, 0, 0, 5),
        (1, 0, 0, 0),
        (0, 0, -1, -1),
        (0, 75, -1, -1),  # UNKNOWN_LEADER_EPOCH
        (7, 3, -1, -1),   # UNKNOWN_TOPIC_OR_PARTITION
    ]
    assert offset_for_leader_epoch(rill, version, unique("missing"), [(0, -1, 0)]) == [(0, 3, -1, -1)]


def describe_cluster_raw(rill, version, authorized_operations, endpoint_type=1):
    body = struct.pack(">?", authorized_operations)
    if version >= 1:
        body += struct.pack(">b", endpoint_type)
    if version >= 2:
        body += struct.pack(">?", False)
    r = call(rill, 60, version, body + b"\x00", True)
    out = {"throttle": r.take(">i"), "error_code": r.take(">h")}
    n = r.uvarint() - 1
    out["error_message"] = None if n < 0 else r.data[r.pos:r.pos + n].decode()
    r.pos += max(n, 0)
    if version >= 1:
        out["endpoint_type"] = r.take(">b")
    out["cluster_id"] = r.string(True)
    out["controller_id"] = r.take(">i")
    out["brokers"] = []
    for _ in range(r.array_len(True)):
        broker_id = r.take(">i")
        host = r.string(True)
        port = r.take(">i")
        rack_len = r.uvarint() - 1
        r.pos += max(rack_len, 0)
        fenced = r.take(">?") if version >= 2 else False
        r.skip_tags(True)
        out["brokers"].append((broker_id, host, port, fenced))
    out["authorized_operations"] = r.take(">i")
    return out


@pytest.mark.parametrize("version", [0, 1, 2])
def test_describe_cluster_raw(rill, admin, version):
    cluster_id = admin.describe_cluster().result(TIMEOUT).cluster_id
    got = describe_cluster_raw(rill, version, authorized_operations=True)
    assert got["error_code"] == 0
    assert got["cluster_id"] == cluster_id
    assert got["controller_id"] == 1
    assert got["brokers"] == [(1, "127.0.0.1", rill.broker_port, False)]
    # No authorizer: every cluster operation (CREATE, ALTER, DESCRIBE,
    # CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE).
    ops = {op.value for op in (AclOperation.CREATE, AclOperation.ALTER, AclOperation.DESCRIBE,
                               AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS,
                               AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE)}
    assert got["authorized_operations"] == sum(1 << op for op in ops)
    assert describe_cluster_raw(rill, version, False)["authorized_operations"] == -2**31
    if version >= 1:
        assert got["endpoint_type"] == 1
        wrong = describe_cluster_raw(rill, version, False, endpoint_type=2)
        assert wrong["error_code"] == 114  # MISMATCHED_ENDPOINT_TYPE


def describe_configs_raw(rill, version, resources, synonyms=False, documentation=False):
    """DescribeConfigs v1-v3 (non-flexible). resources: [(type, name, keys or None)] ->
    [(error_code, error_message, type, name, {config name: entry dict})]"""
    body = struct.pack(">i", len(resources))
    for rtype, name, keys in resources:
        body += struct.pack(">b", rtype) + _str(name)
        if keys is None:
            body += struct.pack(">i", -1)
        else:
            body += struct.pack(">i", len(keys)) + b"".join(_str(k) for k in keys)
    body += struct.pack(">?", synonyms)
    if version >= 3:
        body += struct.pack(">?", documentation)
    r = call(rill, 32, version, body, False)
    r.take(">i")
    out = []
    for _ in range(r.array_len(False)):
        code = r.take(">h")
        message = r.nullable_string(False)
        rtype = r.take(">b")
        name = r.string(False)
        configs = {}
        for _ in range(r.array_len(False)):
            entry = {"name": r.string(False), "value": r.nullable_string(False)}
            entry["read_only"], entry["source"], entry["sensitive"] = r.take(">?b?")
            entry["synonyms"] = []
            for _ in range(r.array_len(False)):
                entry["synonyms"].append((r.string(False), r.nullable_string(False), r.take(">b")))
            if version >= 3:
                entry["type"] = r.take(">b")
                entry["doc"] = r.nullable_string(False)
            configs[entry["name"]] = entry
        out.append((code, message, rtype, name, configs))
    return out


@pytest.mark.parametrize("version", [1, 2, 3])
def test_describe_configs_raw(rill, admin, version):
    topic = create_topic(admin, unique(), config={"retention.ms": "1000"})
    [(code, _, rtype, name, configs)] = describe_configs_raw(
        rill, version, [(2, topic, ["retention.ms", "cleanup.policy"])], synonyms=True, documentation=True)
    assert (code, rtype, name) == (0, 2, topic)
    assert set(configs) == {"retention.ms", "cleanup.policy"}
    retention = configs["retention.ms"]
    assert retention["value"] == "1000" and retention["source"] == 1  # DYNAMIC_TOPIC_CONFIG
    assert retention["synonyms"][0] == ("retention.ms", "1000", 1)
    if version >= 3:
        assert retention["type"] == 5  # LONG
        assert "retain" in retention["doc"]
        assert configs["cleanup.policy"]["type"] == 7  # LIST
    # Without synonyms or documentation; an empty key list means all keys.
    [(_, _, _, _, configs)] = describe_configs_raw(rill, version, [(2, topic, None)])
    assert len(configs) > 20 and configs["retention.ms"]["synonyms"] == []
    [(_, _, _, _, same)] = describe_configs_raw(rill, version, [(2, topic, [])])
    assert same == configs
    if version >= 3:
        assert configs["retention.ms"]["doc"] is None
    results = describe_configs_raw(rill, version, [
        (4, "", None), (4, "2", None), (4, "x", None), (8, "1", None), (32, "g", None),
        (2, "bad/name", None)])
    assert [(r[0], r[1]) for r in results] == [
        (0, None),  # cluster defaults: none are set
        (42, "Unexpected broker id, expected 1 or empty string, but received 2"),
        (42, "Broker id must be an integer, but it is: x"),
        (42, "BROKER_LOGGER resources are not supported: Rill logs through tracing (set RUST_LOG)"),
        (42, "Unsupported resource type: GROUP"),
        (17, results[5][1]),  # INVALID_TOPIC_EXCEPTION
    ]
    assert results[0][4] == {}


def describe_log_dirs_raw(rill, topics):
    """DescribeLogDirs v1 (non-flexible): topics = None or [(topic, [partitions])]."""
    if topics is None:
        body = struct.pack(">i", -1)
    else:
        body = struct.pack(">i", len(topics))
        for name, parts in topics:
            body += _str(name) + struct.pack(">i", len(parts)) + b"".join(struct.pack(">i", p) for p in parts)
    r = call(rill, 35, 1, body, False)
    r.take(">i")
    dirs = {}
    for _ in range(r.array_len(False)):
        r.take(">h")
        d = r.string(False)
        dirs[d] = {}
        for _ in range(r.array_len(False)):
            name = r.string(False)
            for _ in range(r.array_len(False)):
                p, size, lag, future = r.take(">iqq?")
                dirs[d][(name, p)] = size
    return dirs


def test_describe_log_dirs_filter(rill, admin):
    topic = create_topic(admin, unique(), partitions=3)
    produce(rill, topic, 2, partition=2)
    (d, logs), = describe_log_dirs_raw(rill, [(topic, [2, 0])]).items()
    assert set(logs) == {(topic, 0), (topic, 2)}
    assert logs[(topic, 2)] > 0
    everything = describe_log_dirs_raw(rill, None)[d]
    assert {(topic, 0), (topic, 1), (topic, 2)} <= set(everything)


# --------------------------------------------------------------------------- restart

def test_changes_survive_a_restart():
    """Partitions added, config overrides and deleted records are durable."""
    if not os.path.exists(rill_bin()):
        pytest.skip(f"rill binary not found at {rill_bin()}")
    srv = RillDev()
    try:
        srv.start()
        admin = AdminClient({"bootstrap.servers": srv.bootstrap})
        topic = create_topic(admin, unique())
        admin.create_partitions([NewPartitions(topic, 2)])[topic].result(TIMEOUT)
        incremental(admin, topic, ("retention.ms", "86400000", AlterConfigOpType.SET)).result(TIMEOUT)
        produce(srv, topic, 6)
        tp = TopicPartition(topic, 0, 2)
        admin.delete_records([tp])[tp].result(TIMEOUT)
        del admin
        srv.stop()
        srv.start()
        admin = AdminClient({"bootstrap.servers": srv.bootstrap})
        assert partition_count(admin, topic) == 2
        assert describe_topic_config(admin, topic)["retention.ms"].value == "86400000"
        assert watermarks(srv, topic) == (2, 6)
    finally:
        srv.cleanup()
