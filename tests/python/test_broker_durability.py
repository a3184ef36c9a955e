"""Durability of `rill broker` logs across crashes, with real clients.

* kill -9 the broker while a confluent-kafka producer (acks=all) is writing;
  restart; every acknowledged record is readable at the offset its delivery
  report gave, offsets run contiguously from 0, and nothing follows the last
  valid batch (log end offset = number of records present). Several crash
  rounds on the same log, with default and with tiny segments.
* A torn tail (garbage, zeros, half a batch, a batch whose CRC no longer
  matches) written into the active segment after a kill -9 is cut off at
  restart, and producing goes on at the right offset.
* A clean SIGTERM restart keeps everything and does not wait for the old
  ZooKeeper session.

Runs once per ZooKeeper ensemble kind in KEEPER_TARGETS ("rill,zookeeper").
"""

import logging
import os
import random
import struct
import threading
import time

import pytest
from confluent_kafka import Producer, TopicPartition

from broker_server import consume_all_confluent, create_topic, plain_consumer, unique_topic

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kafka")

# A short session timeout: a restart after kill -9 waits for the old
# /brokers/ids/1 ephemeral to expire (4000 ms = ZooKeeper's minimum at tickTime 2000).
SESSION_TIMEOUT_MS = 4000


# =========================================================================== helpers
def segment_files(broker, topic, partition):
    d = broker.partition_dir(topic, partition)
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".log"))


def walk_batches(path):
    """[(file position, base offset, last offset, length)] of the v2 batches in a
    segment; asserts the file holds whole batches only."""
    with open(path, "rb") as f:
        data = f.read()
    out, pos = [], 0
    while pos < len(data):
        assert pos + 61 <= len(data), f"{path}: {len(data) - pos} stray bytes at {pos}"
        base, length = struct.unpack_from(">qi", data, pos)
        assert data[pos + 16] == 2, f"{path}@{pos}: magic {data[pos + 16]}"
        assert pos + 12 + length <= len(data), f"{path}@{pos}: batch runs past the end"
        (delta,) = struct.unpack_from(">i", data, pos + 23)
        out.append((pos, base, base + delta, 12 + length))
        pos += 12 + length
    return out


def check_on_disk(broker, topic, partition, expected_end):
    """Batches across segments are contiguous from 0 and end at expected_end."""
    nxt = 0
    for path in segment_files(broker, topic, partition):
        file_base = int(os.path.basename(path)[:-4])
        for _, base, last, _ in walk_batches(path):
            assert base >= file_base, f"{path}: batch {base} below the file's base offset"
            assert base == nxt, f"{topic}-{partition}: batch at {base}, expected {nxt} ({path})"
            nxt = last + 1
    assert nxt == expected_end, \
        f"{topic}-{partition}: batches on disk end at {nxt}, log end offset {expected_end}"


def watermarks(bootstrap, topic, partitions):
    c = plain_consumer(bootstrap)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
                for p in range(partitions)}
    finally:
        c.close()


def verify_log(broker, topic, partitions, acked):
    """Every acked (partition, offset) -> value is there; offsets contiguous
    from 0; log end = records present; the files hold exactly those batches.
    Returns {partition: log end offset}."""
    got = consume_all_confluent(broker.bootstrap, topic, partitions, timeout=180,
                                extra_conf={"check.crcs": True})
    marks = watermarks(broker.bootstrap, topic, partitions)
    ends = {}
    for p in range(partitions):
        recs = got[p]
        n = len(recs)
        assert [r[0] for r in recs] == list(range(n)), \
            f"{topic}-{p}: offsets not contiguous from 0"
        assert marks[p] == (0, n), f"{topic}-{p}: watermarks {marks[p]} but {n} records present"
        check_on_disk(broker, topic, p, n)
        ends[p] = n
    lost = []
    for (p, off), value in acked.items():
        if off >= ends[p] or got[p][off][2] != value:
            lost.append((p, off, value, got[p][off][2] if off < ends[p] else None))
    assert not lost, (f"{len(lost)} acknowledged records lost or changed, e.g. {lost[:5]}; "
                      f"log ends {ends}")
    return ends


def produce_until_killed(broker, topic, acked, round_no, kill_after, keep_after_kill=0.5):
    """Produces (acks=all) until kill_after seconds after the first ack, kills
    the broker with SIGKILL from another thread, keeps producing a little,
    then lets every outstanding record fail. Returns (#acked, #failed)."""
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                  "enable.idempotence": False, "linger.ms": 5,
                  "batch.num.messages": 2000, "batch.size": 1_000_000,
                  "message.timeout.ms": 4000, "retry.backoff.ms": 100,
                  "queue.buffering.max.messages": 200_000,
                  "socket.timeout.ms": 3000, "reconnect.backoff.max.ms": 500},
                 # connection-refused noise while the broker is down goes to logging
                 logger=logging.getLogger("rdkafka.crash-producer"))
    stats = {"ok": 0, "failed": 0, "conflicts": []}
    first_ack = threading.Event()

    def on_delivery(err, msg):
        if err is not None:
            stats["failed"] += 1
            return
        key = (msg.partition(), msg.offset())
        old = acked.get(key)
        if old is not None and old != msg.value():
            stats["conflicts"].append((key, old, msg.value()))
        acked[key] = msg.value()
        stats["ok"] += 1
        first_ack.set()

    killed = threading.Event()

    def killer():
        if first_ack.wait(30):
            time.sleep(kill_after)
        broker.kill()
        killed.set()

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    pad = b"x" * 150
    seq = 0
    stop_at = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if killed.is_set() and stop_at is None:
            stop_at = time.monotonic() + keep_after_kill
        if stop_at is not None and time.monotonic() > stop_at:
            break
        value = b"r%d-%d-" % (round_no, seq) + pad
        try:
            p.produce(topic, key=b"k%d" % (seq % 1000), value=value, on_delivery=on_delivery)
            seq += 1
        except BufferError:
            p.poll(0.01)
            continue
        if seq % 1000 == 0:
            p.poll(0)
    t.join(30)
    assert killed.is_set(), "the broker was not killed"
    p.flush(30)
    assert len(p) == 0, f"{len(p)} records still queued in the producer"
    assert not stats["conflicts"], \
        f"two different records acknowledged at one offset: {stats['conflicts'][:3]}"
    return stats["ok"], stats["failed"]


# =========================================================================== tests
@pytest.mark.heavy
@pytest.mark.keeper_timeout(600)
@pytest.mark.parametrize("segment_bytes", [None, 1 << 20], ids=["default-segments",
                                                                "1MiB-segments"])
def test_kill9_during_acks_all_production(broker_factory, segment_bytes):
    overrides = {}
    if segment_bytes:
        overrides["log.segment.bytes"] = str(segment_bytes)
    b = broker_factory(overrides=overrides, session_timeout_ms=SESSION_TIMEOUT_MS)
    P = 4
    topic = create_topic(b.bootstrap, unique_topic("crash"), partitions=P)
    acked = {}
    rng = random.Random(7)
    total_failed = 0
    ends = {p: 0 for p in range(P)}
    for round_no in range(3):
        ok, failed = produce_until_killed(b, topic, acked, round_no,
                                          kill_after=rng.uniform(0.3, 1.5))
        total_failed += failed
        assert ok > 0, f"round {round_no}: nothing acknowledged before the kill"
        t0 = time.monotonic()
        b.start(timeout=SESSION_TIMEOUT_MS / 1000 + 30)
        restart_s = time.monotonic() - t0
        new_ends = verify_log(b, topic, P, acked)
        assert all(new_ends[p] >= ends[p] for p in range(P)), (ends, new_ends)
        ends = new_ends
        print(f"round {round_no}: {ok} acked, {failed} failed, restart {restart_s:.1f}s, "
              f"log ends {ends}")
    if segment_bytes:
        assert any(len(segment_files(b, topic, p)) > 1 for p in range(P)), \
            "expected several segments"
    # the log goes on where it ended
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
    res = []
    for part in range(P):
        p.produce(topic, b"after", partition=part, on_delivery=lambda e, m: res.append((e, m)))
    assert p.flush(30) == 0
    assert sorted((m.partition(), m.offset()) for e, m in res if e is None) == \
        sorted(ends.items())


def _fill(b, topic, n):
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5,
                  "enable.idempotence": False})
    acked = {}

    def cb(err, msg):
        assert err is None, err
        acked[(msg.partition(), msg.offset())] = msg.value()

    for i in range(n):
        p.produce(topic, b"v%d" % i, partition=0, on_delivery=cb)
        if i % 97 == 0:
            p.flush(30)  # several batches
    assert p.flush(30) == 0
    return acked


@pytest.mark.parametrize("damage", ["garbage", "zeros", "half_batch", "bad_crc",
                                    "length_past_end"])
def test_torn_tail_is_truncated_at_restart(broker_factory, damage):
    b = broker_factory(session_timeout_ms=SESSION_TIMEOUT_MS)
    topic = create_topic(b.bootstrap, unique_topic("torn"), partitions=1)
    acked = _fill(b, topic, 1000)
    b.kill()
    (path,) = segment_files(b, topic, 0)
    batches = walk_batches(path)
    assert batches[-1][2] == 999
    with open(path, "rb") as f:
        data = f.read()
    expected_end = 1000
    if damage == "garbage":
        tail = bytes(random.Random(1).randrange(256) for _ in range(5000))
    elif damage == "zeros":
        tail = b"\x00" * 4096
    elif damage == "half_batch":
        # a copy of the first batch, renumbered to follow on, cut in the middle
        pos, base, last, length = batches[0]
        copy = bytearray(data[pos:pos + length])
        struct.pack_into(">q", copy, 0, 1000)
        tail = bytes(copy[:length // 2])
    elif damage == "length_past_end":
        pos, base, last, length = batches[0]
        copy = bytearray(data[pos:pos + 61])
        struct.pack_into(">q", copy, 0, 1000)
        tail = bytes(copy)  # a header whose batch length runs past the end of the file
    else:  # bad_crc: flip the last byte of the last batch
        pos, base, last, length = batches[-1]
        expected_end = base
        tail = b""
        with open(path, "r+b") as f:
            f.seek(pos + length - 1)
            f.write(bytes([data[pos + length - 1] ^ 0xFF]))
        acked = {k: v for k, v in acked.items() if k[1] < base}
    with open(path, "ab") as f:
        f.write(tail)

    b.start(timeout=SESSION_TIMEOUT_MS / 1000 + 30)
    ends = verify_log(b, topic, 1, acked)
    assert ends == {0: expected_end}
    # producing goes on right after the last valid batch
    more = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
    res = []
    more.produce(topic, b"next", partition=0, on_delivery=lambda e, m: res.append((e, m)))
    assert more.flush(30) == 0
    assert res[0][0] is None and res[0][1].offset() == expected_end
    acked[(0, expected_end)] = b"next"
    verify_log(b, topic, 1, acked)


def test_clean_restart_keeps_everything_and_is_fast(broker_factory):
    b = broker_factory(session_timeout_ms=30000)  # a kill -9 restart would wait 30 s
    P = 3
    topic = create_topic(b.bootstrap, unique_topic("clean"), partitions=P,
                         config={"segment.bytes": str(256 * 1024)})
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5,
                  "enable.idempotence": False})
    acked = {}

    def cb(err, msg):
        assert err is None, err
        acked[(msg.partition(), msg.offset())] = msg.value()

    for i in range(30_000):
        while True:
            try:
                p.produce(topic, key=b"k%d" % i, value=b"value-%d-" % i + b"y" * 50,
                          on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(60) == 0
    before = verify_log(b, topic, P, acked)
    assert b.stop() == 0, "rill broker did not exit 0 on SIGTERM"
    t0 = time.monotonic()
    b.start()
    assert time.monotonic() - t0 < 10, "clean restart waited (for the old ZooKeeper session?)"
    assert verify_log(b, topic, P, acked) == before
    assert any(len(segment_files(b, topic, q)) > 1 for q in range(P))


# =========================================================================== ZooKeeper trouble
def _wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _znode_exists(hosts, path):
    from kazoo.client import KazooClient
    k = KazooClient(hosts=hosts, timeout=10.0)
    k.start(timeout=15)
    try:
        return k.exists(path) is not None
    finally:
        k.stop()
        k.close()


def test_broker_survives_keeper_restart(make_server, broker_factory):
    """The ensemble restarts (clean stop, same data): the broker reconnects
    within its session, keeps serving produce/fetch meanwhile, and ZooKeeper
    writes (topic creation) work again afterwards."""
    zk_srv = make_server()
    b = broker_factory(keeper=zk_srv, chroot="/kafka", session_timeout_ms=10000)
    topic = create_topic(b.bootstrap, unique_topic("zkr"), partitions=1)
    acked = _fill(b, topic, 200)
    zk_srv.stop()
    # produce and fetch do not need ZooKeeper
    acked.update({(0, 200 + i): v for i, v in enumerate(_fill(b, topic, 50).values())})
    zk_srv.start()
    assert _znode_exists(zk_srv.hosts, "/kafka/brokers/ids/1")
    _wait(lambda: _try_create(b), 30, "topic creation after the keeper came back")
    verify_log(b, topic, 1, acked)
    assert _znode_exists(zk_srv.hosts, "/kafka/brokers/ids/1")


def _try_create(b):
    try:
        create_topic(b.bootstrap, unique_topic("after-zk"), partitions=1, timeout=5)
        return True
    except Exception:
        return False


def test_broker_reregisters_after_session_expiry(broker_factory, broker_keeper):
    """A broker paused (SIGSTOP) past its ZooKeeper session timeout loses its
    session and /brokers/ids/1 with it; once it runs again it opens a new
    session, registers again, and serves (as Kafka's broker does)."""
    b = broker_factory(session_timeout_ms=SESSION_TIMEOUT_MS)
    topic = create_topic(b.bootstrap, unique_topic("expire"), partitions=1)
    acked = _fill(b, topic, 100)
    path = f"{b.chroot}/brokers/ids/1"
    assert _znode_exists(broker_keeper.hosts, path)
    b.suspend()
    try:
        _wait(lambda: not _znode_exists(broker_keeper.hosts, path),
              SESSION_TIMEOUT_MS / 1000 * 3 + 10, "the paused broker's session to expire")
    finally:
        b.resume()
    _wait(lambda: _znode_exists(broker_keeper.hosts, path), 30,
          "the broker to register again after its session expired")
    _wait(lambda: _try_create(b), 30, "topic creation after re-registration")
    acked.update({(0, 100 + i): v for i, v in enumerate(_fill(b, topic, 10).values())})
    verify_log(b, topic, 1, acked)
    assert b.running()


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_many_partitions_survive_restart(broker_factory, how):
    """300 partitions in 3 topics: all come back, with their records, after a
    clean or a kill -9 restart; topics deleted before the restart stay deleted."""
    b = broker_factory(session_timeout_ms=SESSION_TIMEOUT_MS)
    topics = [create_topic(b.bootstrap, unique_topic(f"many{i}"), partitions=100)
              for i in range(3)]
    gone = create_topic(b.bootstrap, unique_topic("gone"), partitions=4)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 20,
                  "enable.idempotence": False})
    acked = {t: {} for t in topics}

    def cb(err, msg):
        assert err is None, err
        acked[msg.topic()][(msg.partition(), msg.offset())] = msg.value()

    for t in topics:
        for part in range(100):
            for i in range(5):
                p.produce(t, b"%s-%d-%d" % (t.encode(), part, i), partition=part,
                          on_delivery=cb)
    assert p.flush(60) == 0
    from broker_server import admin_client
    admin = admin_client(b.bootstrap)
    admin.delete_topics([gone])[gone].result(30)
    _wait(lambda: not os.path.exists(b.partition_dir(gone, 0)), 30, "the deleted topic's logs")

    if how == "sigterm":
        assert b.stop() == 0
    else:
        b.kill()
    b.start(timeout=SESSION_TIMEOUT_MS / 1000 + 30)
    for t in topics:
        ends = verify_log(b, t, 100, acked[t])
        assert set(ends.values()) == {5}
    admin = admin_client(b.bootstrap)
    md = admin.list_topics(timeout=10)
    assert gone not in md.topics
    assert all(len(md.topics[t].partitions) == 100 for t in topics)
    assert not any(d.startswith(gone) for d in os.listdir(b.log_dirs))


def test_a_second_broker_on_the_same_log_dir_is_refused(broker_factory):
    """Kafka's `.lock` in each log dir: two brokers on one directory would corrupt it."""
    import subprocess
    from broker_server import free_port, rill_bin
    b = broker_factory()
    cfg = os.path.join(b.root, "second.properties")
    props = dict(b.props, **{"broker.id": "77",
                             "listeners": f"PLAINTEXT://127.0.0.1:{free_port()}"})
    with open(cfg, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in props.items())
    p = subprocess.run([rill_bin(), "broker", "--config", cfg], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode != 0
    assert "Failed to acquire lock on file .lock" in p.stderr + p.stdout
    assert b.running(), "the first broker keeps running"
