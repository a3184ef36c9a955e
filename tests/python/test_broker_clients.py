"""`rill broker` with real Kafka clients: kcat, confluent-kafka (librdkafka)
and kafka-python, plus raw sockets for bad input and kazoo / zkCli.sh for the
metadata it keeps in ZooKeeper.

Every test that uses a broker runs once per ZooKeeper ensemble kind in
KEEPER_TARGETS (default "rill,zookeeper"): zookeeper.connect points at
`rill keeper` or at Apache ZooKeeper 3.8, and the same assertions must hold.
Consumers use assign() here; consumer groups are tested in test_broker_groups.py.

Env: RILL_BIN (default <repo>/target/debug/rill), KEEPER_TARGETS,
KEEPER_KEEP_TMP=1 keeps the servers' temp dirs (configs, data, logs).
Heavy tests carry @pytest.mark.heavy (deselect with -m "not heavy").
"""

import base64
import json
import os
import random
import shutil
import struct
import subprocess
import time
import uuid

import pytest
from confluent_kafka import (KafkaError, KafkaException, Producer,
                             TopicCollection, TopicPartition)
from confluent_kafka.admin import (ConfigResource, ConfigSource, NewTopic, OffsetSpec,
                                   ResourceType)
from kazoo.client import KazooClient

from broker_server import (API_VERSIONS, INVALID_TOPIC_EXCEPTION, LEADER_NOT_AVAILABLE,
                           METADATA, NONE, UNKNOWN_TOPIC_OR_PARTITION, UNSUPPORTED_VERSION,
                           ZKCLI, admin_client, consume_all_confluent, create_topic, kcat,
                           kstring, plain_consumer, unique_topic, wait_topic)

# kafka-python 3 loads its protocol schemas with a deprecated importlib API
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kafka")

CODECS = ["gzip", "snappy", "lz4", "zstd"]
# attributes & 0x07 of a v2 record batch
CODEC_ID = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


# =========================================================================== helpers
def confluent_producer(bootstrap, **conf):
    c = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
         "enable.idempotence": False, "message.timeout.ms": 30000}
    c.update(conf)
    return Producer(c)


def produce_confluent(bootstrap, topic, records, partition=None, **conf):
    """Produces [(key, value[, timestamp])]; returns [(partition, offset)] in
    record order; raises on any delivery error."""
    p = confluent_producer(bootstrap, **conf)
    results = [None] * len(records)
    errors = []

    def cb(i):
        def done(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                results[i] = (msg.partition(), msg.offset())
        return done

    for i, rec in enumerate(records):
        kw = {}
        if len(rec) > 2 and rec[2] is not None:
            kw["timestamp"] = rec[2]
        if partition is not None:
            kw["partition"] = partition
        while True:
            try:
                p.produce(topic, key=rec[0], value=rec[1], on_delivery=cb(i), **kw)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    assert left == 0, f"{left} records not delivered within 60 s"
    assert not errors, f"delivery errors: {errors[:5]}"
    return results


def kafka_python_consume_all(bootstrap, topic, partitions, timeout=120.0):
    """kafka-python, group_id=None + assign + seek_to_beginning, up to the end offsets.
    Returns {partition: [(offset, key, value)]}."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", max_partition_fetch_bytes=8 << 20,
                      fetch_max_bytes=50 << 20, request_timeout_ms=30000)
    try:
        tps = [KTP(topic, p) for p in range(partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        ends = c.end_offsets(tps)
        out = {p: [] for p in range(partitions)}
        todo = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + timeout
        while todo:
            assert time.monotonic() < deadline, \
                f"kafka-python consume timed out: {({p: len(v) for p, v in out.items()})}, {ends}"
            batch = c.poll(timeout_ms=500, max_records=50000)
            for tp, msgs in batch.items():
                for m in msgs:
                    out[tp.partition].append((m.offset, m.key, m.value))
                    if m.offset + 1 >= ends[tp]:
                        todo.discard(tp)
        return out
    finally:
        c.close()


def kafka_python_producer(bootstrap, **kw):
    from kafka import KafkaProducer
    conf = dict(bootstrap_servers=bootstrap, acks="all", linger_ms=10,
                request_timeout_ms=30000, retries=0, enable_idempotence=False)
    conf.update(kw)
    return KafkaProducer(**conf)


def need_kafka_python_codec(codec):
    import kafka.codec as kc
    have = {"gzip": kc.has_gzip, "snappy": kc.has_snappy, "lz4": kc.has_lz4,
            "zstd": kc.has_zstd}[codec]()
    if not have:
        pytest.skip(f"kafka-python cannot use {codec}: install python-snappy, lz4 and "
                    f"zstandard (tests/python/requirements.txt)")


def batch_codecs(broker, topic, partition=0):
    """The compression codec (attributes & 7) of every record batch in the
    partition's first segment, in file order."""
    path = os.path.join(broker.partition_dir(topic, partition), f"{0:020d}.log")
    with open(path, "rb") as f:
        data = f.read()
    codecs, pos = [], 0
    while pos + 23 <= len(data):
        (length,) = struct.unpack_from(">i", data, pos + 8)
        assert data[pos + 16] == 2, f"{path}@{pos}: magic {data[pos + 16]}"
        codecs.append(struct.unpack_from(">h", data, pos + 21)[0] & 0x07)
        pos += 12 + length
    assert pos == len(data), f"{path}: {len(data) - pos} bytes after the last batch"
    return codecs


def kazoo(hosts):
    k = KazooClient(hosts=hosts, timeout=10.0,
                    connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5})
    k.start(timeout=15)
    return k


def zk_json(k, path):
    data, stat = k.get(path)
    return json.loads(data.decode()), stat


def error_code(exc):
    """KafkaError code out of a confluent-kafka exception."""
    err = exc.args[0] if exc.args else None
    return err.code() if isinstance(err, KafkaError) else None


# =========================================================================== kcat
def test_kcat_metadata(broker):
    topic = create_topic(broker.bootstrap, unique_topic("kl"), partitions=3)
    out = kcat("-b", broker.bootstrap, "-L", "-J").stdout
    md = json.loads(out)
    assert [b["id"] for b in md["brokers"]] == [1], md["brokers"]
    assert md["brokers"][0]["name"] == broker.bootstrap
    t = [t for t in md["topics"] if t["topic"] == topic]
    assert t, f"{topic} missing from kcat -L: {[t['topic'] for t in md['topics']]}"
    parts = sorted(t[0]["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1, 2]
    for p in parts:
        assert p["leader"] == 1
        assert [r["id"] for r in p["replicas"]] == [1]
        assert [r["id"] for r in p["isrs"]] == [1]
    # plain text form, as an operator reads it
    text = kcat("-b", broker.bootstrap, "-L", "-t", topic).stdout.decode()
    assert "1 brokers:" in text and f"broker 1 at {broker.bootstrap}" in text
    assert f'topic "{topic}" with 3 partitions:' in text


@pytest.mark.heavy
@pytest.mark.keeper_timeout(300)
def test_kcat_produce_consume_100k_lines_byte_identical(broker, tmp_path):
    topic = create_topic(broker.bootstrap, unique_topic("kc"), partitions=1)
    rng = random.Random(1234)
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,.;:!?-_/\\\"'{}é漢"
    pool = "".join(rng.choice(alphabet) for _ in range(20_000))
    lines = []
    for i in range(100_000):
        n = rng.choice([1, 5, 20, 80, 300, 1500])
        start = rng.randrange(len(pool) - n)
        lines.append(f"{i:06d}|" + pool[start:start + n])
    src = tmp_path / "in.txt"
    src.write_bytes(("\n".join(lines) + "\n").encode())
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-l", str(src),
         "-X", "linger.ms=20", timeout=240)
    # the high watermark reaches 100,000 once kcat has flushed
    hw = kcat("-b", broker.bootstrap, "-Q", "-t", f"{topic}:0:-1").stdout.decode()
    assert f"{topic} [0] offset 100000" in hw, hw
    dst = tmp_path / "out.txt"
    with open(dst, "wb") as f:
        p = subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", topic, "-e",
                            "-o", "beginning", "-q"], stdout=f, stderr=subprocess.PIPE,
                           timeout=240)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    a, b = src.read_bytes(), dst.read_bytes()
    if a != b:
        got = b.decode(errors="replace").split("\n")
        first = next((i for i, (x, y) in enumerate(zip(lines, got)) if x != y), None)
        pytest.fail(f"consumed bytes differ: {len(a)} produced vs {len(b)} consumed, "
                    f"{len(got) - 1} lines; first differing line {first}")
    # offsets and keys as kcat formats them
    tail = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "-3", "-e", "-q",
                "-f", "%p:%o:%s\n").stdout.decode().splitlines()
    assert tail == [f"0:{o}:{lines[o]}" for o in (99997, 99998, 99999)]


def test_kcat_query_offsets_for_times(broker):
    topic = create_topic(broker.bootstrap, unique_topic("kq"), partitions=2)
    base = 1_700_000_000_000
    recs = [(b"k%d" % i, b"v%d" % i, base + i * 1000) for i in range(100)]
    # one request, so one batch: lookups must land inside batches
    produce_confluent(broker.bootstrap, topic, recs, partition=0, **{"linger.ms": 200})

    def q(spec):
        out = kcat("-b", broker.bootstrap, "-Q", "-t", spec).stdout.decode().strip()
        return out

    assert q(f"{topic}:0:{base}") == f"{topic} [0] offset 0"
    assert q(f"{topic}:0:{base + 50500}") == f"{topic} [0] offset 51"
    assert q(f"{topic}:0:{base + 50000}") == f"{topic} [0] offset 50"
    assert q(f"{topic}:0:{base + 99000}") == f"{topic} [0] offset 99"
    assert q(f"{topic}:0:{base - 10**9}") == f"{topic} [0] offset 0"
    # after every timestamp: no such offset (-1)
    assert q(f"{topic}:0:{base + 100000}") == f"{topic} [0] offset -1"
    # -1 = latest, -2 = earliest
    assert q(f"{topic}:0:-1") == f"{topic} [0] offset 100"
    assert q(f"{topic}:0:-2") == f"{topic} [0] offset 0"
    # an empty partition
    assert q(f"{topic}:1:-1") == f"{topic} [1] offset 0"
    assert q(f"{topic}:1:{base}") == f"{topic} [1] offset -1"
    # kcat consumes from a timestamp too (-o s@ts)
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", f"s@{base + 97000}",
               "-e", "-q", "-f", "%o %s\n").stdout.decode().splitlines()
    assert out == ["97 v97", "98 v98", "99 v99"]



# Debian's kcat links librdkafka 2.0, which (like every librdkafka <= 2.11) keeps
# gzip/snappy/lz4 only if the broker's Produce range includes v0
# (rdkafka_msgset_writer.c: compr_req[codec].ApiVersion = 0 for them, 7 for zstd).
@pytest.mark.parametrize("codec", ["gzip", "snappy",
                                   "lz4",
                                   "zstd"])
def test_kcat_compressed_produce(broker, codec):
    """kcat -z CODEC: the batches arrive (and stay) compressed; kcat reads them back."""
    topic = create_topic(broker.bootstrap, unique_topic(f"kz-{codec}"), partitions=1)
    lines = b"".join(b"%d some repetitive text, some repetitive text\n" % i
                     for i in range(2000))
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-z", codec,
         "-X", "linger.ms=50", input=lines)
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-e", "-q").stdout
    assert out == lines
    codecs = batch_codecs(broker, topic)
    assert codecs and set(codecs) == {CODEC_ID[codec]}, codecs


# =========================================================================== admin
def test_confluent_admin_create_describe_delete(broker):
    a = admin_client(broker.bootstrap)
    topic = unique_topic("adm")
    fs = a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1,
                                   config={"retention.ms": "7200000",
                                           "segment.bytes": "1048576"})],
                         operation_timeout=30)
    assert fs[topic].result(30) is None
    wait_topic(broker.bootstrap, topic, 3)

    md = a.list_topics(timeout=10)
    assert topic in md.topics
    assert md.cluster_id and md.controller_id == 1
    assert list(md.brokers) == [1]

    desc = a.describe_topics(TopicCollection([topic]))[topic].result(30)
    assert desc.name == topic
    assert not desc.is_internal
    assert desc.topic_id is not None and str(desc.topic_id) != "AAAAAAAAAAAAAAAAAAAAAA"
    assert [p.id for p in desc.partitions] == [0, 1, 2]
    for p in desc.partitions:
        assert p.leader.id == 1
        assert [r.id for r in p.replicas] == [1]
        assert [r.id for r in p.isr] == [1]
    cluster = a.describe_cluster().result(30)
    assert cluster.cluster_id == md.cluster_id
    assert [n.id for n in cluster.nodes] == [1]
    assert cluster.controller.id == 1

    # validate_only creates nothing
    vtopic = unique_topic("adm-validate")
    fs = a.create_topics([NewTopic(vtopic, 2, 1)], validate_only=True)
    assert fs[vtopic].result(30) is None
    md = a.list_topics(timeout=10)
    assert vtopic not in md.topics

    # errors
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    assert error_code(e.value) == KafkaError.TOPIC_ALREADY_EXISTS
    other = unique_topic("adm-rf")
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(other, 1, 3)])[other].result(30)
    assert error_code(e.value) == KafkaError.INVALID_REPLICATION_FACTOR
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(other, 1, 1, config={"no.such.config": "1"})])[other] \
            .result(30)
    assert error_code(e.value) in (KafkaError.INVALID_CONFIG, KafkaError.INVALID_REQUEST)
    with pytest.raises(KafkaException) as e:
        a.create_topics([NewTopic(other, 1, 1, config={"retention.ms": "soon"})])[other] \
            .result(30)
    assert error_code(e.value) == KafkaError.INVALID_CONFIG
    assert other not in a.list_topics(timeout=10).topics

    # default partition count (num_partitions=-1 -> num.partitions=1)
    dtopic = unique_topic("adm-default")
    a.create_topics([NewTopic(dtopic)])[dtopic].result(30)
    wait_topic(broker.bootstrap, dtopic, 1)

    # delete
    fs = a.delete_topics([topic, dtopic], operation_timeout=30)
    for f in fs.values():
        assert f.result(30) is None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        md = a.list_topics(timeout=10)
        if topic not in md.topics and dtopic not in md.topics:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"deleted topics still listed: {sorted(md.topics)}")
    with pytest.raises(KafkaException) as e:
        a.delete_topics([topic])[topic].result(30)
    assert error_code(e.value) == KafkaError.UNKNOWN_TOPIC_OR_PART
    # the name can be used again, and the new topic starts empty
    create_topic(broker.bootstrap, topic, partitions=1)
    c = plain_consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 0)
    finally:
        c.close()


def test_kafka_python_admin_create_describe_delete(broker):
    from kafka import KafkaAdminClient
    from kafka.errors import (InvalidReplicationAssignmentError, InvalidReplicationFactorError,
                              TopicAlreadyExistsError, UnknownTopicOrPartitionError)
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    try:
        topic = unique_topic("kpadm")
        a.create_topics({topic: {"num_partitions": 4, "replication_factor": 1,
                                 "configs": {"retention.bytes": "1000000"}}},
                        wait_for_metadata=True)
        assert topic in a.list_topics()
        (desc,) = a.describe_topics([topic])
        assert desc["error_code"] == 0
        assert desc["name"] == topic
        parts = sorted(desc["partitions"], key=lambda p: p["partition_index"])
        assert [p["partition_index"] for p in parts] == [0, 1, 2, 3]
        assert all(p["leader_id"] == 1 and p["replica_nodes"] == [1] and p["isr_nodes"] == [1]
                   for p in parts), parts
        cluster = a.describe_cluster()
        assert cluster["controller_id"] == 1
        assert [b["broker_id"] for b in cluster["brokers"]] == [1]

        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
        bad = unique_topic("kpadm-rf")
        with pytest.raises(InvalidReplicationFactorError):
            a.create_topics({bad: {"num_partitions": 1, "replication_factor": 2}})

        # an explicit replica assignment; one naming an unknown broker is refused
        # (confluent-kafka's NewTopic cannot send one: it always adds a partition count)
        assigned = unique_topic("kpadm-assign")
        a.create_topics({assigned: {"assignments": {0: [1], 1: [1], 2: [1]}}})
        wait_topic(broker.bootstrap, assigned, 3)
        with pytest.raises(InvalidReplicationAssignmentError):
            a.create_topics({bad: {"assignments": {0: [2]}}})
        with pytest.raises(InvalidReplicationAssignmentError):
            a.create_topics({bad: {"assignments": {0: [1], 2: [1]}}})  # a gap

        a.delete_topics([topic])
        deadline = time.monotonic() + 30
        while topic in a.list_topics():
            assert time.monotonic() < deadline, "deleted topic still listed"
            time.sleep(0.2)
        with pytest.raises(UnknownTopicOrPartitionError):
            a.delete_topics([topic])
    finally:
        a.close()


# ---------------------------------------------------------------- configs
def test_confluent_describe_alter_configs(broker, broker_keeper):
    a = admin_client(broker.bootstrap)
    topic = create_topic(broker.bootstrap, unique_topic("cfg"), partitions=1,
                         config={"retention.ms": "3600000"})
    res = ConfigResource(ResourceType.TOPIC, topic)
    entries = a.describe_configs([res])[res].result(30)
    assert entries["retention.ms"].value == "3600000"
    assert entries["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not entries["retention.ms"].is_default
    assert entries["cleanup.policy"].value == "delete"
    assert entries["cleanup.policy"].is_default
    assert "segment.bytes" in entries and "max.message.bytes" in entries

    # alter_configs replaces the topic's whole override set
    alter = ConfigResource(ResourceType.TOPIC, topic,
                           set_config={"retention.ms": "60000", "segment.ms": "600000"})
    a.alter_configs([alter])[alter].result(30)
    entries = a.describe_configs([res])[res].result(30)
    assert entries["retention.ms"].value == "60000"
    assert entries["segment.ms"].value == "600000"
    # in ZooKeeper as Kafka keeps it: the override set plus a change notification
    k = kazoo(broker_keeper.hosts)
    try:
        root = broker.chroot
        cfg, _ = zk_json(k, f"{root}/config/topics/{topic}")
        assert cfg == {"version": 1, "config": {"retention.ms": "60000", "segment.ms": "600000"}}
        notes = [zk_json(k, f"{root}/config/changes/{n}")[0]
                 for n in k.get_children(f"{root}/config/changes")
                 if n.startswith("config_change_")]
        assert {"version": 2, "entity_path": f"topics/{topic}"} in notes, notes
    finally:
        k.stop()
        k.close()

    bres = ConfigResource(ResourceType.BROKER, "1")
    bentries = a.describe_configs([bres])[bres].result(30)
    assert bentries["broker.id"].value == "1"
    assert bentries["num.partitions"].value == "1"
    assert bentries["zookeeper.session.timeout.ms"].value == "6000"

    with pytest.raises(KafkaException):
        bad = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "soon"})
        a.alter_configs([bad])[bad].result(30)
    missing = ConfigResource(ResourceType.TOPIC, unique_topic("cfg-missing"))
    with pytest.raises(KafkaException) as e:
        a.describe_configs([missing])[missing].result(30)
    assert error_code(e.value) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_kafka_python_describe_alter_configs(broker):
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource as KCR, ConfigResourceType
    topic = create_topic(broker.bootstrap, unique_topic("kpcfg"), partitions=1,
                         config={"retention.ms": "3600000"})
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    try:
        got = a.describe_configs([KCR(ConfigResourceType.TOPIC, topic)], config_filter="all")
        cfg = got["topic"][topic]
        assert cfg["retention.ms"]["value"] == "3600000"
        assert cfg["cleanup.policy"]["value"] == "delete"
        a.alter_configs([KCR(ConfigResourceType.TOPIC, topic,
                             configs={"retention.ms": "120000"})])
        got = a.describe_configs([KCR(ConfigResourceType.TOPIC, topic)], config_filter="all")
        assert got["topic"][topic]["retention.ms"]["value"] == "120000"
    finally:
        a.close()


# =========================================================================== produce / consume
@pytest.mark.heavy
@pytest.mark.keeper_timeout(600)
def test_confluent_million_keyed_records_acks_all(broker):
    """1,000,000 keyed records, acks=all, 8 partitions: every record read back
    exactly once, at the offset its delivery report gave, in production order
    per partition; a key always lands on one partition."""
    N, P, KEYS = 1_000_000, 8, 50_000
    topic = create_topic(broker.bootstrap, unique_topic("m1"), partitions=P)
    p = confluent_producer(broker.bootstrap, **{
        "acks": "all", "linger.ms": 20, "batch.num.messages": 10000,
        "batch.size": 1_000_000, "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 1_048_576, "message.timeout.ms": 120000})
    delivered = [None] * N
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
            return
        i = int(msg.value()[1:])
        delivered[i] = (msg.partition(), msg.offset())

    t0 = time.monotonic()
    for i in range(N):
        key = b"k%d" % (i % KEYS)
        value = b"v%d" % i
        while True:
            try:
                p.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        if i % 20000 == 0:
            p.poll(0)
    assert p.flush(300) == 0, "records left undelivered"
    produce_s = time.monotonic() - t0
    assert not errors, f"{len(errors)} delivery errors, first {errors[:3]}"
    assert all(d is not None for d in delivered)

    t0 = time.monotonic()
    got = consume_all_confluent(broker.bootstrap, topic, P, timeout=300)
    consume_s = time.monotonic() - t0
    print(f"produce {produce_s:.1f}s, consume {consume_s:.1f}s")

    total = sum(len(v) for v in got.values())
    assert total == N, f"consumed {total} records, produced {N}"
    key_partition = {}
    expected_per_partition = {q: [] for q in range(P)}
    for i, (part, off) in enumerate(delivered):
        expected_per_partition[part].append((off, i))
    for part, recs in got.items():
        assert [r[0] for r in recs] == list(range(len(recs))), \
            f"partition {part}: offsets not contiguous from 0"
        exp = sorted(expected_per_partition[part])
        assert [o for o, _ in exp] == list(range(len(exp))), \
            f"partition {part}: delivery-report offsets not contiguous"
        values = [int(r[2][1:]) for r in recs]
        assert values == [i for _, i in exp], \
            f"partition {part}: record at some offset differs from its delivery report"
        assert all(a < b for a, b in zip(values, values[1:])), \
            f"partition {part}: not in production order"
        for off, key, value, _ in recs:
            i = int(value[1:])
            assert key == b"k%d" % (i % KEYS)
            assert key_partition.setdefault(key, part) == part, f"key {key} on two partitions"
    consumed = {(r[1], r[2]) for recs in got.values() for r in recs}
    assert len(consumed) == N
    assert consumed == {(b"k%d" % (i % KEYS), b"v%d" % i) for i in range(N)}


@pytest.mark.heavy
@pytest.mark.keeper_timeout(600)
def test_kafka_python_100k_keyed_records_acks_all(broker):
    N, P, KEYS = 100_000, 8, 5_000
    topic = create_topic(broker.bootstrap, unique_topic("kp100k"), partitions=P)
    prod = kafka_python_producer(broker.bootstrap, acks="all", linger_ms=20,
                                 batch_size=512 * 1024, max_in_flight_requests_per_connection=1)
    delivered = [None] * N
    errors = []
    for i in range(N):
        fut = prod.send(topic, key=b"k%d" % (i % KEYS), value=b"v%d" % i)

        def ok(md, i=i):
            delivered[i] = (md.partition, md.offset)
        fut.add_callback(ok)
        fut.add_errback(errors.append)
    prod.flush(timeout=300)
    prod.close()
    assert not errors, errors[:3]
    assert all(d is not None for d in delivered)

    got = kafka_python_consume_all(broker.bootstrap, topic, P, timeout=300)
    assert sum(len(v) for v in got.values()) == N
    by_pos = {d: i for i, d in enumerate(delivered)}
    key_partition = {}
    for part, recs in got.items():
        assert [r[0] for r in recs] == list(range(len(recs)))
        values = [int(r[2][1:]) for r in recs]
        assert all(a < b for a, b in zip(values, values[1:])), f"partition {part} out of order"
        for off, key, value in recs:
            i = int(value[1:])
            assert by_pos[(part, off)] == i
            assert key == b"k%d" % (i % KEYS)
            assert key_partition.setdefault(key, part) == part
    assert {(r[1], r[2]) for recs in got.values() for r in recs} == \
        {(b"k%d" % (i % KEYS), b"v%d" % i) for i in range(N)}


# ---------------------------------------------------------------- compression
def _payloads(n, codec):
    rng = random.Random(codec)
    words = ["alpha", "beta", "gamma", "delta", "kafka", "rill", "zookeeper", "log"]
    return [(b"key-%d" % (i % 97),
             (f"{codec}-{i}-" + " ".join(rng.choice(words) for _ in range(rng.randint(1, 60))))
             .encode()) for i in range(n)]


@pytest.mark.parametrize("client,codec", [
    ("confluent", "gzip"), ("confluent", "snappy"),
    ("confluent", "lz4"),
    ("confluent", "zstd"),
    ("kafka-python", "gzip"), ("kafka-python", "snappy"), ("kafka-python", "lz4"),
    ("kafka-python", "zstd"),
])
def test_compression_round_trip(broker, client, codec):
    """Produce compressed with one client; read back with confluent-kafka,
    kafka-python and kcat; the broker keeps the producer's codec on disk."""
    N = 3000
    topic = create_topic(broker.bootstrap, unique_topic(f"z-{codec}"), partitions=1)
    recs = _payloads(N, codec)
    if client == "confluent":
        offs = produce_confluent(broker.bootstrap, topic, recs, partition=0,
                                 **{"compression.type": codec, "linger.ms": 50})
        assert [o for _, o in offs] == list(range(N))
    else:
        need_kafka_python_codec(codec)
        prod = kafka_python_producer(broker.bootstrap, compression_type=codec, linger_ms=50)
        futs = [prod.send(topic, key=k, value=v, partition=0) for k, v in recs]
        prod.flush(60)
        assert [f.get(30).offset for f in futs] == list(range(N))
        prod.close()

    # librdkafka sends a batch uncompressed when compressing does not shrink it
    codecs = batch_codecs(broker, topic)
    assert CODEC_ID[codec] in codecs and set(codecs) <= {0, CODEC_ID[codec]}, codecs

    got = consume_all_confluent(broker.bootstrap, topic, 1)[0]
    assert [(o, k, v) for o, k, v, _ in got] == [(i, k, v) for i, (k, v) in enumerate(recs)]
    need_kafka_python_codec(codec)
    got = kafka_python_consume_all(broker.bootstrap, topic, 1)[0]
    assert got == [(i, k, v) for i, (k, v) in enumerate(recs)]
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-e", "-q", "-o", "beginning",
               "-f", "%o|%k|%s\n").stdout.decode().split("\n")[:-1]
    assert out == [f"{i}|{k.decode()}|{v.decode()}" for i, (k, v) in enumerate(recs)]
    # starting inside a compressed batch: the client skips the batch's earlier records
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "1501", "-c", "3",
               "-q", "-f", "%o|%s\n").stdout.decode().split("\n")[:-1]
    assert out == [f"{i}|{recs[i][1].decode()}" for i in (1501, 1502, 1503)]


@pytest.mark.parametrize("target", ["gzip", "snappy", "lz4", "zstd", "uncompressed",
                                    "producer"])
def test_topic_compression_type(broker, target):
    """A topic's compression.type re-compresses what producers send (here
    zstd from librdkafka, and uncompressed from kafka-python); "producer"
    keeps the producer's codec. Every client reads the records back."""
    topic = create_topic(broker.bootstrap, unique_topic(f"tc-{target}"), partitions=1,
                         config={"compression.type": target})
    recs = _payloads(2000, target)
    produce_confluent(broker.bootstrap, topic, recs[:1000], partition=0,
                      **{"compression.type": "zstd", "linger.ms": 50})
    prod = kafka_python_producer(broker.bootstrap, compression_type=None, linger_ms=50)
    futs = [prod.send(topic, key=k, value=v, partition=0) for k, v in recs[1000:]]
    prod.flush(60)
    assert [f.get(30).offset for f in futs] == list(range(1000, 2000))
    prod.close()

    codecs = batch_codecs(broker, topic)
    if target == "producer":
        assert set(codecs) == {CODEC_ID["zstd"], CODEC_ID["none"]}, codecs
    elif target == "uncompressed":
        assert set(codecs) == {0}, codecs
    else:
        assert set(codecs) == {CODEC_ID[target]}, codecs
    expected = [(i, k, v) for i, (k, v) in enumerate(recs)]
    got = consume_all_confluent(broker.bootstrap, topic, 1)[0]
    assert [(o, k, v) for o, k, v, _ in got] == expected
    need_kafka_python_codec("lz4" if target == "lz4" else "zstd")
    assert kafka_python_consume_all(broker.bootstrap, topic, 1)[0] == expected
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-e", "-q", "-o", "beginning",
               "-f", "%o|%s\n").stdout.decode().split("\n")[:-1]
    assert out == [f"{i}|{v.decode()}" for i, (_, v) in enumerate(recs)]


# ---------------------------------------------------------------- acks 0 / 1
@pytest.mark.parametrize("acks", [0, 1])
@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_produce_acks(broker, client, acks):
    N = 5000
    topic = create_topic(broker.bootstrap, unique_topic(f"acks{acks}"), partitions=1)
    recs = [(b"k%d" % i, b"value-%d" % i) for i in range(N)]
    if client == "confluent":
        offs = produce_confluent(broker.bootstrap, topic, recs, partition=0,
                                 **{"acks": str(acks), "linger.ms": 5})
        if acks == 1:
            assert [o for _, o in offs] == list(range(N))
        # (acks=0: no answer, librdkafka's delivery offsets mean nothing)
    else:
        prod = kafka_python_producer(broker.bootstrap, acks=acks, linger_ms=5)
        futs = [prod.send(topic, key=k, value=v, partition=0) for k, v in recs]
        prod.flush(60)
        mds = [f.get(30) for f in futs]
        prod.close()
        if acks == 1:
            assert [m.offset for m in mds] == list(range(N))
        # (acks=0: kafka-python makes up offsets from the batch; nothing to check)
    # acks=0 is fire-and-forget: wait for the high watermark before reading
    c = plain_consumer(broker.bootstrap)
    try:
        deadline = time.monotonic() + 30
        while c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1] < N:
            assert time.monotonic() < deadline, "high watermark never reached N"
            time.sleep(0.1)
    finally:
        c.close()
    got = consume_all_confluent(broker.bootstrap, topic, 1)[0]
    assert [(o, k, v) for o, k, v, _ in got] == [(i, k, v) for i, (k, v) in enumerate(recs)]


# ---------------------------------------------------------------- record fields, fetch
def test_headers_null_key_null_value_and_timestamps(broker):
    topic = create_topic(broker.bootstrap, unique_topic("fields"), partitions=1)
    ts = 1_650_000_000_123
    p = confluent_producer(broker.bootstrap)
    p.produce(topic, key=None, value=b"no-key", partition=0, timestamp=ts)
    p.produce(topic, key=b"tombstone", value=None, partition=0, timestamp=ts + 1)
    p.produce(topic, key=b"", value=b"", partition=0, timestamp=ts + 2)
    p.produce(topic, key=b"h", value=b"with-headers", partition=0, timestamp=ts + 3,
              headers=[("a", b"1"), ("b", None), ("a", b"dup"), ("empty", b"")])
    assert p.flush(30) == 0

    c = plain_consumer(broker.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        msgs = []
        deadline = time.monotonic() + 30
        while len(msgs) < 4 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                msgs.append(m)
    finally:
        c.close()
    assert [(m.offset(), m.key(), m.value()) for m in msgs] == \
        [(0, None, b"no-key"), (1, b"tombstone", None), (2, b"", b""),
         (3, b"h", b"with-headers")]
    from confluent_kafka import TIMESTAMP_CREATE_TIME
    assert [m.timestamp() for m in msgs] == [(TIMESTAMP_CREATE_TIME, ts + i) for i in range(4)]
    assert msgs[0].headers() is None
    assert msgs[3].headers() == [("a", b"1"), ("b", None), ("a", b"dup"), ("empty", b"")]

    # kafka-python sees the same
    got = kafka_python_consume_all(broker.bootstrap, topic, 1)[0]
    assert got == [(0, None, b"no-key"), (1, b"tombstone", None), (2, b"", b""),
                   (3, b"h", b"with-headers")]
    # kcat prints headers
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "3", "-e", "-q",
               "-f", "%h|%s\n").stdout.decode()
    assert out == "a=1,b=NULL,a=dup,empty=|with-headers\n", out


def test_log_append_time_topic(broker):
    topic = create_topic(broker.bootstrap, unique_topic("lat"), partitions=1,
                         config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    produce_confluent(broker.bootstrap, topic, [(None, b"a", 1000), (None, b"b", 2000)],
                      partition=0)
    after = int(time.time() * 1000)
    got = consume_all_confluent(broker.bootstrap, topic, 1)[0]
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME  # noqa: F401
    stamps = [r[3] for r in got]
    assert all(before - 1000 <= t <= after + 1000 for t in stamps), (before, stamps, after)
    c = plain_consumer(broker.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        m = None
        deadline = time.monotonic() + 20
        while m is None and time.monotonic() < deadline:
            m = c.poll(0.5)
        assert m is not None and m.timestamp()[0] == TIMESTAMP_LOG_APPEND_TIME, \
            m and m.timestamp()
    finally:
        c.close()


def test_record_larger_than_fetch_limits_is_still_returned(broker):
    """KIP-74: the first batch is returned even when it exceeds fetch.max.bytes
    and max.partition.fetch.bytes, so consumers never get stuck."""
    topic = create_topic(broker.bootstrap, unique_topic("bigfetch"), partitions=1)
    big = os.urandom(600_000)
    produce_confluent(broker.bootstrap, topic, [(None, b"small"), (None, big), (None, b"end")],
                      partition=0, **{"compression.type": "none", "linger.ms": 0})
    got = consume_all_confluent(broker.bootstrap, topic, 1, extra_conf={
        "fetch.max.bytes": 1024, "max.partition.fetch.bytes": 1024,
        "message.max.bytes": 1000, "receive.message.max.bytes": 2_000_000})[0]
    assert [v for _, _, v, _ in got] == [b"small", big, b"end"]
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                       enable_auto_commit=False, fetch_max_bytes=1024,
                       max_partition_fetch_bytes=1024)
    try:
        kc.assign([KTP(topic, 0)])
        kc.seek(KTP(topic, 0), 0)
        values = []
        deadline = time.monotonic() + 30
        while len(values) < 3 and time.monotonic() < deadline:
            for msgs in kc.poll(timeout_ms=500).values():
                values.extend(m.value for m in msgs)
        assert values == [b"small", big, b"end"]
    finally:
        kc.close()


def test_fetch_long_poll_wakes_on_append(broker):
    """A consumer waiting at the log end (fetch.wait.max.ms=10 s) gets a new
    record right after it is appended, not when the wait expires."""
    topic = create_topic(broker.bootstrap, unique_topic("wake"), partitions=1)
    c = plain_consumer(broker.bootstrap, **{"fetch.wait.max.ms": 10000})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        assert c.poll(2.0) is None  # the fetch is now parked at the log end
        p = confluent_producer(broker.bootstrap, **{"linger.ms": 0})
        latencies = []
        for i in range(3):
            t0 = time.monotonic()
            p.produce(topic, b"wake-%d" % i, partition=0)
            assert p.flush(10) == 0
            m = None
            while m is None and time.monotonic() - t0 < 15:
                m = c.poll(0.1)
            assert m is not None and not m.error() and m.value() == b"wake-%d" % i
            latencies.append(time.monotonic() - t0)
            time.sleep(1.0)
        assert max(latencies) < 3.0, f"fetch did not wake on append: {latencies}"
    finally:
        c.close()


def test_concurrent_producers_same_partitions(broker):
    """Four producers (two librdkafka, two kafka-python) write to the same
    partitions at once: every acknowledged offset is unique and holds its record."""
    import threading
    P, N = 2, 20_000
    topic = create_topic(broker.bootstrap, unique_topic("conc"), partitions=P)
    acked = {}
    lock = threading.Lock()
    problems = []

    def record(part, off, value):
        with lock:
            if (part, off) in acked:
                problems.append(("two acks for one offset", part, off))
            acked[(part, off)] = value

    def confluent_worker(w):
        p = confluent_producer(broker.bootstrap, **{"linger.ms": 2})
        for i in range(N):
            v = b"c%d-%d" % (w, i)

            def cb(err, msg, v=v):
                if err:
                    problems.append(err)
                else:
                    record(msg.partition(), msg.offset(), v)
            while True:
                try:
                    p.produce(topic, value=v, partition=i % P, on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
        if p.flush(60):
            problems.append("confluent flush left records")

    def kafka_python_worker(w):
        prod = kafka_python_producer(broker.bootstrap, linger_ms=2)
        futs = [(b"p%d-%d" % (w, i), prod.send(topic, value=b"p%d-%d" % (w, i),
                                                partition=i % P)) for i in range(N // 4)]
        prod.flush(60)
        for v, f in futs:
            md = f.get(30)
            record(md.partition, md.offset, v)
        prod.close()

    threads = [threading.Thread(target=confluent_worker, args=(w,)) for w in range(2)] + \
        [threading.Thread(target=kafka_python_worker, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not problems, problems[:5]
    total = 2 * N + 2 * (N // 4)
    assert len(acked) == total
    got = consume_all_confluent(broker.bootstrap, topic, P)
    assert sum(len(v) for v in got.values()) == total
    for part, recs in got.items():
        assert [r[0] for r in recs] == list(range(len(recs)))
        for off, _, v, _ in recs:
            assert acked[(part, off)] == v


# ---------------------------------------------------------------- raw Produce
def test_raw_produce_validation(broker):
    """Produce v3 by hand: the broker rejects a batch whose CRC does not match,
    a client-set base offset, bad acks and unknown partitions, and keeps the
    connection (these are per-partition errors, not protocol errors)."""
    from broker_server import (CORRUPT_MESSAGE, INVALID_RECORD, INVALID_REQUIRED_ACKS,
                               produce_v3, record_batch)
    topic = create_topic(broker.bootstrap, unique_topic("raw"), partitions=1)
    with broker.conn() as c:
        ok = record_batch([(b"k0", b"v0"), (None, b"v1"), (b"k2", None)])
        assert produce_v3(c, topic, 0, ok) == (NONE, 0)
        # as Kafka's UnifiedLog.analyzeAndValidateRecords: a client's batch starts at 0
        assert produce_v3(c, topic, 0, record_batch([(None, b"x")], base_offset=777)) == \
            (INVALID_RECORD, -1)
        assert produce_v3(c, topic, 0, record_batch([(None, b"v3")])) == (NONE, 3)
        err, _ = produce_v3(c, topic, 0, record_batch([(None, b"bad")], bad_crc=True))
        assert err == CORRUPT_MESSAGE
        err, _ = produce_v3(c, topic, 0, ok, acks=2)
        assert err == INVALID_REQUIRED_ACKS
        err, _ = produce_v3(c, topic, 5, ok)
        assert err == UNKNOWN_TOPIC_OR_PARTITION
        # producing never auto-creates
        missing = unique_topic("raw-missing")
        err, _ = produce_v3(c, missing, 0, ok)
        assert err == UNKNOWN_TOPIC_OR_PARTITION
        assert missing not in c.metadata(allow_auto_create=False)["topics"]
        # acks=0: no answer, but the next request on the connection is answered
        assert produce_v3(c, topic, 0, record_batch([(None, b"v4")]), acks=0) is None
        assert produce_v3(c, topic, 0, record_batch([(None, b"v5")])) == (NONE, 5)
    got = consume_all_confluent(broker.bootstrap, topic, 1)[0]
    assert [(o, k, v) for o, k, v, _ in got] == [
        (0, b"k0", b"v0"), (1, None, b"v1"), (2, b"k2", None), (3, None, b"v3"),
        (4, None, b"v4"), (5, None, b"v5")]


# ---------------------------------------------------------------- retention
def oldest_segment(broker, topic, partition=0):
    d = broker.partition_dir(topic, partition)
    return min(int(f[:-4]) for f in os.listdir(d) if f.endswith(".log"))


def test_retention_deletes_old_segments(broker_factory):
    """retention.bytes and retention.ms delete whole closed segments; the log
    start offset moves up; consumers and ListOffsets follow it; reading below
    it is OFFSET_OUT_OF_RANGE."""
    b = broker_factory(overrides={"log.retention.check.interval.ms": "300",
                                  "log.segment.delete.delay.ms": "0"})
    by_size = create_topic(b.bootstrap, unique_topic("ret-bytes"), partitions=1,
                           config={"segment.bytes": "20000", "retention.bytes": "50000"})
    by_time = create_topic(b.bootstrap, unique_topic("ret-ms"), partitions=1,
                           config={"segment.bytes": "20000", "retention.ms": "1000"})
    old = int(time.time() * 1000) - 3_600_000  # an hour ago: past retention.ms at once
    value = b"r" * 400
    for topic in (by_size, by_time):
        produce_confluent(b.bootstrap, topic, [(None, value + b"%d" % i, old + i)
                                               for i in range(500)],
                          partition=0, **{"linger.ms": 0, "batch.num.messages": 10})
    tp = {t: TopicPartition(t, 0) for t in (by_size, by_time)}
    c = plain_consumer(b.bootstrap)
    try:
        deadline = time.monotonic() + 30
        while True:
            marks = {t: c.get_watermark_offsets(tp[t], timeout=10, cached=False)
                     for t in tp}
            # A retention pass may have run while the records were still
            # arriving: wait until passes (every 300 ms) change nothing more.
            if all(lo > 0 and lo == oldest_segment(b, t) for t, (lo, _) in marks.items()):
                time.sleep(1.0)
                again = {t: c.get_watermark_offsets(tp[t], timeout=10, cached=False)
                         for t in tp}
                if again == marks:
                    break
            assert time.monotonic() < deadline, f"no segment deleted: {marks}"
            time.sleep(0.3)
    finally:
        c.close()
    size_files = [f for f in os.listdir(b.partition_dir(by_size, 0)) if f.endswith(".log")]
    on_disk = sum(os.path.getsize(os.path.join(b.partition_dir(by_size, 0), f))
                  for f in size_files)
    assert on_disk <= 50_000 + 20_000, f"{on_disk} bytes left with retention.bytes=50000"
    for topic, (lo, hi) in marks.items():
        assert hi == 500
        # log start = the base offset of the oldest remaining segment
        bases = sorted(int(f[:-4]) for f in os.listdir(b.partition_dir(topic, 0))
                       if f.endswith(".log"))
        assert bases[0] == lo, (topic, bases, lo)
        a = admin_client(b.bootstrap)
        spec = {TopicPartition(topic, 0): OffsetSpec.earliest()}
        assert a.list_offsets(spec)[TopicPartition(topic, 0)].result(30).offset == lo
        got = consume_all_confluent(b.bootstrap, topic, 1,
                                    extra_conf={"auto.offset.reset": "earliest"})[0]
        # consume_all_confluent starts at 0: below the log start, so the reset
        # policy (earliest) moves it to the log start
        assert [r[0] for r in got] == list(range(lo, 500))
        assert got[0][2] == value + b"%d" % lo
    # the active segment stays even when everything in it is past retention.ms
    assert marks[by_time][0] < 500


# ---------------------------------------------------------------- message.max.bytes
def test_oversized_record_rejected_and_broker_keeps_serving(broker_factory):
    b = broker_factory(overrides={"message.max.bytes": "20000"})
    topic = create_topic(b.bootstrap, unique_topic("big"), partitions=1)
    big = os.urandom(100_000)  # incompressible

    p = confluent_producer(b.bootstrap, **{"message.max.bytes": 10_000_000,
                                           "compression.type": "none", "retries": 0,
                                           "message.timeout.ms": 20000})
    results = []
    p.produce(topic, value=big, partition=0, on_delivery=lambda e, m: results.append(e))
    assert p.flush(30) == 0
    assert len(results) == 1 and results[0] is not None, results
    assert results[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, results[0]
    # same producer (same connection) goes on working
    results.clear()
    p.produce(topic, value=b"small", partition=0, on_delivery=lambda e, m: results.append((e, m)))
    assert p.flush(30) == 0
    assert results[0][0] is None and results[0][1].offset() == 0, results

    # kafka-python: the broker's MESSAGE_TOO_LARGE surfaces as MessageSizeTooLargeError
    from kafka.errors import MessageSizeTooLargeError
    prod = kafka_python_producer(b.bootstrap, max_request_size=10_000_000, retries=0)
    fut = prod.send(topic, value=big, partition=0)
    with pytest.raises(MessageSizeTooLargeError):
        fut.get(30)
    assert prod.send(topic, value=b"small2", partition=0).get(30).offset == 1
    prod.close()

    # a record just under the limit is accepted (batch overhead ~ 100 bytes)
    ok = os.urandom(19_000)
    assert produce_confluent(b.bootstrap, topic, [(None, ok)], partition=0,
                             **{"compression.type": "none"}) == [(0, 2)]
    got = consume_all_confluent(b.bootstrap, topic, 1)[0]
    assert [(o, v) for o, _, v, _ in got] == [(0, b"small"), (1, b"small2"), (2, ok)]
    assert "1 brokers:" in kcat("-b", b.bootstrap, "-L").stdout.decode()


def test_topic_max_message_bytes_override(broker):
    """max.message.bytes on a topic overrides the broker's message.max.bytes."""
    small = create_topic(broker.bootstrap, unique_topic("tmmb"), partitions=1,
                         config={"max.message.bytes": "5000"})
    other = create_topic(broker.bootstrap, unique_topic("tmmb-other"), partitions=1)
    rec = os.urandom(20_000)
    p = confluent_producer(broker.bootstrap, **{"compression.type": "none", "retries": 0})
    res = []
    p.produce(small, rec, partition=0, on_delivery=lambda e, m: res.append(("small", e)))
    p.flush(30)
    p.produce(other, rec, partition=0, on_delivery=lambda e, m: res.append(("other", e)))
    p.flush(30)
    assert res[0][1] is not None and res[0][1].code() == KafkaError.MSG_SIZE_TOO_LARGE, res
    assert res[1] == ("other", None), res


# =========================================================================== metadata
def test_metadata_auto_creates_topic_when_enabled(broker):
    # raw Metadata v4, allow_auto_topic_creation=false: not created
    name = unique_topic("auto-no")
    with broker.conn() as c:
        md = c.metadata([name], allow_auto_create=False)
        assert md["topics"][name]["error"] == UNKNOWN_TOPIC_OR_PARTITION
        assert name not in c.metadata()["topics"]

        # allow_auto_topic_creation=true: created with num.partitions (1)
        name = unique_topic("auto-raw")
        md = c.metadata([name], allow_auto_create=True)
        assert md["topics"][name]["error"] in (NONE, LEADER_NOT_AVAILABLE)
        deadline = time.monotonic() + 30
        while True:
            t = c.metadata([name], allow_auto_create=False)["topics"][name]
            if t["error"] == NONE and t["partitions"] and t["partitions"][0]["leader"] == 1:
                break
            assert time.monotonic() < deadline, t
            time.sleep(0.1)
        assert len(t["partitions"]) == 1

    # clients auto-create when producing to a new topic
    name = unique_topic("auto-kcat")
    kcat("-b", broker.bootstrap, "-P", "-t", name, input=b"one\ntwo\n")
    out = kcat("-b", broker.bootstrap, "-C", "-t", name, "-e", "-q").stdout
    assert out == b"one\ntwo\n"

    name = unique_topic("auto-kp")
    prod = kafka_python_producer(broker.bootstrap, max_block_ms=30000)
    assert prod.send(name, b"hello").get(30).offset == 0
    prod.close()
    got = consume_all_confluent(broker.bootstrap, name, 1)[0]
    assert [v for _, _, v, _ in got] == [b"hello"]


def test_concurrent_auto_create_and_create_topics(broker):
    """Eight connections auto-create one topic at once, and eight clients
    CreateTopics another at once: one topic each, one creator wins, the rest
    see it (or TOPIC_ALREADY_EXISTS), nobody gets another error."""
    import threading
    name = unique_topic("race-auto")
    results, errors = [], []
    barrier = threading.Barrier(8)

    def auto():
        try:
            with broker.conn() as c:
                barrier.wait(10)
                results.append(c.metadata([name], allow_auto_create=True)["topics"][name])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=auto) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(r["error"] in (NONE, LEADER_NOT_AVAILABLE) for r in results), results
    wait_topic(broker.bootstrap, name, 1)

    name = unique_topic("race-create")
    outcomes = []
    barrier = threading.Barrier(8)

    def create():
        a = admin_client(broker.bootstrap)
        barrier.wait(10)
        try:
            a.create_topics([NewTopic(name, 3, 1)])[name].result(30)
            outcomes.append("created")
        except KafkaException as e:
            outcomes.append(error_code(e))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes, key=str) == \
        sorted(["created"] + [KafkaError.TOPIC_ALREADY_EXISTS] * 7, key=str), outcomes
    wait_topic(broker.bootstrap, name, 3)


def test_metadata_unknown_topic_when_auto_create_disabled(broker_factory):
    b = broker_factory(overrides={"auto.create.topics.enable": "false"})
    name = unique_topic("noauto")
    with b.conn() as c:
        for version in (1, 4):
            md = c.metadata([name], version=version)
            assert md["topics"][name]["error"] == UNKNOWN_TOPIC_OR_PARTITION, version
    a = admin_client(b.bootstrap)
    t = a.list_topics(topic=name, timeout=10).topics[name]
    assert t.error is not None and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART

    p = confluent_producer(b.bootstrap, **{"message.timeout.ms": 5000,
                                           "topic.metadata.propagation.max.ms": 1000})
    errs = []
    p.produce(name, b"x", on_delivery=lambda e, m: errs.append(e))
    p.flush(30)
    assert errs and errs[0] is not None
    assert errs[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC,
                              KafkaError._MSG_TIMED_OUT), errs[0]
    err = kcat("-b", b.bootstrap, "-L", "-t", name).stdout.decode()
    assert "Unknown topic or partition" in err, err
    assert name not in a.list_topics(timeout=10).topics
    # explicit creation still works
    create_topic(b.bootstrap, name, partitions=2)


INVALID_NAMES = ["bad name", "a/b", "semi;colon", "ünïcode", ".", "..", "x" * 250,
                 "tab\tname", ""]


def test_invalid_topic_names_rejected(broker):
    with broker.conn() as c:
        md = c.metadata(INVALID_NAMES, allow_auto_create=True)
        for name in INVALID_NAMES:
            assert md["topics"][name]["error"] == INVALID_TOPIC_EXCEPTION, \
                (name, md["topics"][name])
        listed = c.metadata()["topics"]
        assert not set(INVALID_NAMES) & set(listed)

    a = admin_client(broker.bootstrap)
    for name in ["bad name", "a/b", ".", "..", "x" * 250, "ünïcode"]:
        with pytest.raises(KafkaException) as e:
            a.create_topics([NewTopic(name, 1, 1)])[name].result(30)
        assert error_code(e.value) == KafkaError.TOPIC_EXCEPTION, (name, e.value)

    from kafka import KafkaAdminClient
    from kafka.errors import InvalidTopicError
    ka = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        with pytest.raises(InvalidTopicError):
            ka.create_topics({"has space": {"num_partitions": 1, "replication_factor": 1}})
    finally:
        ka.close()

    # the longest legal name (249) and every legal character
    for name in ["y" * 249, f"Legal.name_with-{uuid.uuid4().hex[:6]}"]:
        create_topic(broker.bootstrap, name, partitions=1)


# =========================================================================== ListOffsets
def test_list_offsets_earliest_latest_and_for_times(broker):
    topic = create_topic(broker.bootstrap, unique_topic("lo"), partitions=2)
    base = 1_600_000_000_000
    recs = [(None, b"v%d" % i, base + 10 * i) for i in range(100)]
    produce_confluent(broker.bootstrap, topic, recs[:60], partition=0, **{"linger.ms": 100})
    produce_confluent(broker.bootstrap, topic, recs[60:], partition=0, **{"linger.ms": 100})
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    # confluent-kafka Consumer
    c = plain_consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(tp0, timeout=10, cached=False) == (0, 100)
        assert c.get_watermark_offsets(tp1, timeout=10, cached=False) == (0, 0)
        res = c.offsets_for_times([TopicPartition(topic, 0, base + 555),
                                   TopicPartition(topic, 1, base)], timeout=10)
        assert [(r.partition, r.offset) for r in res] == [(0, 56), (1, -1)]
        res = c.offsets_for_times([TopicPartition(topic, 0, base + 600)], timeout=10)
        assert res[0].offset == 60  # first record of the second batch
        res = c.offsets_for_times([TopicPartition(topic, 0, base + 2000)], timeout=10)
        assert res[0].offset == -1
        with pytest.raises(KafkaException) as e:
            c.get_watermark_offsets(TopicPartition(topic, 7), timeout=10, cached=False)
        assert error_code(e.value) in (KafkaError.UNKNOWN_TOPIC_OR_PART,
                                       KafkaError._UNKNOWN_PARTITION), e.value
    finally:
        c.close()

    # confluent-kafka AdminClient.list_offsets (ListOffsets v7 for max_timestamp)
    a = admin_client(broker.bootstrap)
    specs = {TopicPartition(topic, 0): OffsetSpec.earliest()}
    assert a.list_offsets(specs)[TopicPartition(topic, 0)].result(30).offset == 0
    specs = {TopicPartition(topic, 0): OffsetSpec.latest()}
    assert a.list_offsets(specs)[TopicPartition(topic, 0)].result(30).offset == 100
    specs = {TopicPartition(topic, 0): OffsetSpec.for_timestamp(base + 333)}
    r = a.list_offsets(specs)[TopicPartition(topic, 0)].result(30)
    assert (r.offset, r.timestamp) == (34, base + 340)
    specs = {TopicPartition(topic, 0): OffsetSpec.max_timestamp()}
    r = a.list_offsets(specs)[TopicPartition(topic, 0)].result(30)
    assert (r.offset, r.timestamp) == (99, base + 990)

    # timestamps out of order inside one batch: max_timestamp names the exact
    # record (KAFKA-16310), a time lookup the first record at or after the time
    shuffled = create_topic(broker.bootstrap, unique_topic("lo-shuffled"), partitions=1)
    produce_confluent(broker.bootstrap, shuffled,
                      [(None, b"a", base + 5), (None, b"b", base + 100), (None, b"c", base + 7),
                       (None, b"d", base + 8)], partition=0, **{"linger.ms": 100})
    stp = TopicPartition(shuffled, 0)
    r = a.list_offsets({stp: OffsetSpec.max_timestamp()})[stp].result(30)
    assert (r.offset, r.timestamp) == (1, base + 100)
    r = a.list_offsets({stp: OffsetSpec.for_timestamp(base + 6)})[stp].result(30)
    assert (r.offset, r.timestamp) == (1, base + 100)
    r = a.list_offsets({stp: OffsetSpec.for_timestamp(base + 101)})[stp].result(30)
    assert r.offset == -1

    # kafka-python
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                       enable_auto_commit=False)
    try:
        k0, k1 = KTP(topic, 0), KTP(topic, 1)
        assert kc.beginning_offsets([k0, k1]) == {k0: 0, k1: 0}
        assert kc.end_offsets([k0, k1]) == {k0: 100, k1: 0}
        r = kc.offsets_for_times({k0: base + 555, k1: base})
        assert r[k0].offset == 56 and r[k0].timestamp == base + 560
        assert r[k1] is None
        assert kc.offsets_for_times({k0: base + 5000})[k0] is None
    finally:
        kc.close()

    # Fetch from an out-of-range offset: OFFSET_OUT_OF_RANGE
    c = plain_consumer(broker.bootstrap, **{"auto.offset.reset": "error"})
    try:
        c.assign([TopicPartition(topic, 0, 500)])
        deadline = time.monotonic() + 20
        err = None
        while err is None and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error():
                err = m.error()
        assert err is not None and err.code() in (KafkaError._AUTO_OFFSET_RESET,
                                                  KafkaError.OFFSET_OUT_OF_RANGE), err
    finally:
        c.close()


# =========================================================================== bad input
def _healthy(broker, bystander, producer, topic):
    """The broker still serves: an older connection, a new one, and a client."""
    err, apis = bystander.api_versions()
    assert err == 0 and METADATA in apis
    with broker.conn() as c:
        assert [b["node_id"] for b in c.metadata(version=1)["brokers"]] == [1]
    done = []
    producer.produce(topic, b"still-alive", partition=0, on_delivery=lambda e, m: done.append(e))
    assert producer.flush(20) == 0 and done == [None], done


BAD_FRAMES = {
    # HTTP on the Kafka port: "GET " as a size is ~1.2 GB > socket.request.max.bytes
    "http": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "size_0x7fffffff": struct.pack(">i", 0x7FFFFFFF),
    "negative_size": struct.pack(">i", -5) + b"\x00" * 8,
    "frame_shorter_than_header": struct.pack(">i", 2) + b"\x00\x12",
    "unknown_api_key": None,        # built below: api key 9999
    "unsupported_version": None,    # Metadata v999
    "truncated_body": None,         # Metadata v4 claiming 5 topics, carrying none
    "random_bytes": None,
}


def _bad_frame(name, conn):
    if BAD_FRAMES[name] is not None:
        return BAD_FRAMES[name]
    if name == "unknown_api_key":
        return conn.frame(9999, 0, b"")[0]
    if name == "unsupported_version":
        return conn.frame(METADATA, 999, struct.pack(">i", -1))[0]
    if name == "truncated_body":
        return conn.frame(METADATA, 4, struct.pack(">i", 5))[0]
    if name == "random_bytes":
        rng = random.Random(42)
        body = bytes(rng.randrange(256) for _ in range(300))
        # a plausible size, an API key that does not exist (0x7f..), then noise
        return struct.pack(">i", len(body) + 2) + b"\x7f\xf3" + body
    raise KeyError(name)


@pytest.mark.parametrize("case", list(BAD_FRAMES))
def test_bad_input_closes_only_that_connection(broker, case):
    topic = create_topic(broker.bootstrap, unique_topic("bad"), partitions=1)
    producer = confluent_producer(broker.bootstrap)
    producer.produce(topic, b"before", partition=0)
    assert producer.flush(20) == 0
    with broker.conn() as bystander, broker.conn() as victim:
        assert bystander.api_versions()[0] == 0
        victim.send_raw(_bad_frame(case, victim))
        assert victim.is_closed_by_peer(10), f"{case}: the broker kept the connection open"
        _healthy(broker, bystander, producer, topic)
    assert broker.running()


def test_half_frame_then_disconnect(broker):
    topic = create_topic(broker.bootstrap, unique_topic("half"), partitions=1)
    producer = confluent_producer(broker.bootstrap)
    with broker.conn() as bystander:
        for _ in range(20):
            with broker.conn() as c:
                data, _ = c.frame(METADATA, 1, struct.pack(">i", -1))
                c.send_raw(data[: len(data) // 2])
        _healthy(broker, bystander, producer, topic)


def test_api_versions_unknown_version_answers_v0(broker):
    """KIP-511: an ApiVersions version the broker does not know is answered in
    v0 with UNSUPPORTED_VERSION and the supported ranges; the connection stays."""
    with broker.conn() as c:
        c.send(API_VERSIONS, 99)
        _, r = c.recv()
        assert r.i16() == UNSUPPORTED_VERSION
        apis = {k: (lo, hi) for k, lo, hi in r.array(lambda r: (r.i16(), r.i16(), r.i16()))}
        assert apis[API_VERSIONS][0] == 0 and apis[API_VERSIONS][1] >= 3
        err, apis = c.api_versions(0)
        assert err == 0 and METADATA in apis
        err, apis2 = c.api_versions(2)
        assert err == 0 and apis2 == apis


def test_request_over_socket_request_max_bytes_closes(broker_factory):
    limit = 64 * 1024
    b = broker_factory(overrides={"socket.request.max.bytes": str(limit)})
    topic = create_topic(b.bootstrap, unique_topic("maxreq"), partitions=1)
    producer = confluent_producer(b.bootstrap)
    with b.conn() as bystander:
        # just under the limit: a Metadata request naming ~1,200 (unknown) topics
        names = [f"n{i:050d}" for i in range(1200)]
        body = struct.pack(">i", len(names)) + b"".join(kstring(n) for n in names) + b"\x00"
        with b.conn() as c:
            data, _ = c.frame(METADATA, 4, body)
            assert len(data) - 4 < limit
            c.send_raw(data)
            _, r = c.recv()
            assert r.remaining() > len(names) * 50
        # over the limit: the size prefix alone closes the connection
        with b.conn() as c:
            data, _ = c.frame(METADATA, 4, struct.pack(">i", 0) + b"\x00" + b"\x00" * limit)
            assert len(data) - 4 > limit
            c.send_raw(data[:4])
            assert c.is_closed_by_peer(10), "connection not closed after an oversized size"
        with b.conn() as c:
            try:
                c.send_raw(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert c.is_closed_by_peer(10)
        _healthy(b, bystander, producer, topic)


# =========================================================================== ZooKeeper layout
def _check_layout(b, k, prefix, topic, topic_id_b64, cluster_id):
    reg, stat = zk_json(k, f"{prefix}/brokers/ids/1")
    assert stat.ephemeralOwner != 0, "broker registration must be ephemeral"
    assert reg["version"] == 5
    assert reg["host"] == "127.0.0.1" and reg["port"] == b.port
    assert reg["endpoints"] == [f"PLAINTEXT://127.0.0.1:{b.port}"]
    assert reg["listener_security_protocol_map"] == {"PLAINTEXT": "PLAINTEXT"}
    assert reg["jmx_port"] == -1
    assert isinstance(reg["timestamp"], str) and abs(int(reg["timestamp"]) / 1000 - time.time()) < 600
    assert k.get_children(f"{prefix}/brokers/ids") == ["1"]

    ctl, cstat = zk_json(k, f"{prefix}/controller")
    assert ctl["brokerid"] == 1 and ctl["version"] == 1 and cstat.ephemeralOwner != 0
    epoch = int(k.get(f"{prefix}/controller_epoch")[0].decode())
    assert epoch >= 1

    cid, _ = zk_json(k, f"{prefix}/cluster/id")
    assert cid["version"] == "1" and cid["id"] == cluster_id and len(cid["id"]) == 22

    t, _ = zk_json(k, f"{prefix}/brokers/topics/{topic}")
    assert t["version"] in (2, 3)
    assert t["partitions"] == {"0": [1], "1": [1]}
    assert t.get("adding_replicas", {}) == {} and t.get("removing_replicas", {}) == {}
    assert t["topic_id"] == topic_id_b64
    assert len(base64.urlsafe_b64decode(t["topic_id"] + "==")) == 16
    assert sorted(k.get_children(f"{prefix}/brokers/topics/{topic}/partitions")) == ["0", "1"]
    for p in ("0", "1"):
        st, _ = zk_json(k, f"{prefix}/brokers/topics/{topic}/partitions/{p}/state")
        assert st["version"] == 1
        assert st["leader"] == 1 and st["isr"] == [1]
        assert st["leader_epoch"] >= 0 and st["controller_epoch"] >= 1

    cfg, _ = zk_json(k, f"{prefix}/config/topics/{topic}")
    assert cfg == {"version": 1, "config": {"retention.ms": "86400000"}}


def _zkcli_ls(hosts, path):
    if not (os.access(ZKCLI, os.X_OK) and shutil.which("java")):
        pytest.skip(f"zkCli.sh ({ZKCLI}) or java not available")
    p = subprocess.run([ZKCLI, "-server", hosts, "ls", path], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = [line for line in p.stdout.splitlines() if line.startswith("[")]
    return p.returncode, lines


@pytest.mark.parametrize("chroot", ["", "/kafka"])
def test_zookeeper_layout(make_server, broker_factory, chroot):
    zk_srv = make_server()
    b = broker_factory(keeper=zk_srv, chroot=chroot)
    topic = unique_topic("layout")
    create_topic(b.bootstrap, topic, partitions=2, config={"retention.ms": "86400000"})
    a = admin_client(b.bootstrap)
    desc = a.describe_topics(TopicCollection([topic]))[topic].result(30)
    md = a.list_topics(timeout=10)

    k = kazoo(zk_srv.hosts)
    try:
        # the topic id znode holds Kafka's base64 (url-safe, unpadded) of the uuid
        tid = base64.urlsafe_b64encode(
            uuid.UUID(str(_uuid_of(desc.topic_id))).bytes).decode().rstrip("=")
        _check_layout(b, k, chroot, topic, tid, md.cluster_id)
        if chroot:
            # nothing outside the chroot
            assert not k.exists("/brokers") and not k.exists("/cluster")
            assert not k.exists("/controller") and not k.exists("/config")

        rc, lines = _zkcli_ls(zk_srv.hosts, f"{chroot}/brokers/ids")
        assert rc == 0 and lines[-1:] == ["[1]"], lines

        # delete the topic: its znodes go, as does the deletion marker
        a.delete_topics([topic])[topic].result(30)
        deadline = time.monotonic() + 30
        while k.exists(f"{chroot}/brokers/topics/{topic}") or \
                k.exists(f"{chroot}/admin/delete_topics/{topic}") or \
                k.exists(f"{chroot}/config/topics/{topic}"):
            assert time.monotonic() < deadline, "topic znodes left after delete"
            time.sleep(0.2)

        # a clean shutdown deregisters at once; a restart registers again
        b.stop()
        assert not k.exists(f"{chroot}/brokers/ids/1")
        t0 = time.monotonic()
        b.start()
        assert time.monotonic() - t0 < 5, "clean restart waited for an old session"
        reg, _ = zk_json(k, f"{chroot}/brokers/ids/1")
        assert reg["port"] == b.port
        cid, _ = zk_json(k, f"{chroot}/cluster/id")
        assert cid["id"] == md.cluster_id, "cluster id changed across a restart"
    finally:
        k.stop()
        k.close()


def _uuid_of(topic_id):
    """confluent-kafka's Uuid -> uuid.UUID (its str() is Kafka's base64 form)."""
    s = str(topic_id)
    raw = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    return uuid.UUID(bytes=raw)


# =========================================================================== rill dev
def test_rill_dev_serves(dev_server):
    d = dev_server
    text = kcat("-b", d.bootstrap, "-L").stdout.decode()
    assert "1 brokers:" in text and f"broker 1 at {d.bootstrap}" in text
    kcat("-b", d.bootstrap, "-P", "-t", "dev-topic", input=b"a\nb\nc\n")
    assert kcat("-b", d.bootstrap, "-C", "-t", "dev-topic", "-e", "-q").stdout == b"a\nb\nc\n"
    k = kazoo(d.zk_hosts)
    try:
        assert k.get_children("/brokers/ids") == ["1"]
        assert k.exists("/brokers/topics/dev-topic")
    finally:
        k.stop()
        k.close()


@pytest.mark.parametrize("version", [1, 9])
def test_huge_array_count_does_not_crash_the_broker(broker, version):
    """Regression (found by fuzz/kafka_request): a Metadata request whose topic
    array claims 2^31-1 elements made the decoder reserve tens of GiB and abort
    the process. Now it is a malformed request: that connection closes, the
    broker keeps serving.  v1 uses an int32 count, v9 (flexible) a varint."""
    topic = create_topic(broker.bootstrap, unique_topic("huge"), partitions=1)
    producer = confluent_producer(broker.bootstrap)
    if version >= 9:
        # compact array: unsigned varint count+1 = 2^31, then nothing
        body = bytes([0x80, 0x80, 0x80, 0x80, 0x08])
    else:
        body = struct.pack(">i", 0x7FFFFFFF)
    with broker.conn() as bystander, broker.conn() as victim:
        data, _ = victim.frame(METADATA, version, body)
        if version >= 9:
            # flexible request header v2: client id, then an empty tagged-field section
            data = data[:-len(body)] + b"\x00" + body
            data = struct.pack(">i", len(data) - 4) + data[4:]
        victim.send_raw(data)
        assert victim.is_closed_by_peer(10)
        _healthy(broker, bystander, producer, topic)
    assert broker.running()


@pytest.mark.parametrize("acks", ["1", "all"])
def test_producer_perf_test_tool(broker, acks):
    """`rill producer-perf-test` prints kafka-producer-perf-test's final line and
    every record it reports lands in the topic."""
    import re
    from keeper_server import rill_bin
    topic = create_topic(broker.bootstrap, unique_topic("perf"), partitions=2)
    out = subprocess.run(
        [rill_bin(), "producer-perf-test", "--topic", topic, "--num-records", "20000",
         "--record-size", "100", "--throughput", "-1", "--producer-props",
         f"bootstrap.servers={broker.bootstrap}", f"acks={acks}", "batch.size=16384"],
        capture_output=True, timeout=120, check=True).stdout.decode()
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"20000 records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, "
        r"[\d.]+ ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.", last), last
    c = plain_consumer(broker.bootstrap)
    try:
        total = sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                    for p in (0, 1))
    finally:
        c.close()
    assert total == 20000


def test_topics_written_directly_to_zookeeper(make_server, broker_factory):
    """Tools that write Kafka's layout directly (kafka-topics.sh --zookeeper,
    older admin scripts) are followed: a topic created under /brokers/topics
    becomes available, and a /admin/delete_topics/T marker deletes it."""
    zk_srv = make_server()
    b = broker_factory(keeper=zk_srv, chroot="")
    topic = unique_topic("zkmade")
    k = kazoo(zk_srv.hosts)
    try:
        k.create(f"/config/topics/{topic}", json.dumps({"version": 1, "config": {}}).encode(),
                 makepath=True)
        k.create(f"/brokers/topics/{topic}", json.dumps(
            {"version": 2, "partitions": {"0": [1], "1": [1]},
             "adding_replicas": {}, "removing_replicas": {}}).encode(), makepath=True)
        wait_topic(b.bootstrap, topic, 2, timeout=20)
        producer = confluent_producer(b.bootstrap)
        producer.produce(topic, b"hello", partition=1)
        assert producer.flush(20) == 0
        state = json.loads(k.get(f"/brokers/topics/{topic}/partitions/1/state")[0])
        assert state["leader"] == 1 and state["isr"] == [1]

        k.create(f"/admin/delete_topics/{topic}", b"", makepath=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (k.exists(f"/brokers/topics/{topic}")
                                               or k.exists(f"/admin/delete_topics/{topic}")):
            time.sleep(0.2)
        assert k.exists(f"/brokers/topics/{topic}") is None
        assert k.exists(f"/admin/delete_topics/{topic}") is None
        assert topic not in admin_client(b.bootstrap).list_topics(timeout=10).topics
    finally:
        k.stop()
        k.close()
