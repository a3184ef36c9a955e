"""A `rill broker` cluster: three brokers on a three-node ensemble (rill keeper
or Apache ZooKeeper 3.8; RILL_CLUSTER_KEEPER=single for one keeper),
replicated topics, leader failover, ISR changes, controller failover,
consumer groups — driven by kcat and confluent-kafka.
RILL_FAILOVER_RECORDS (default 1,000,000) sizes the kill test.

Failover is bounded by the ZooKeeper session timeout (4 s here): a killed
broker's znodes live that long, then the controller elects new leaders
within its 200 ms poll.
"""

import os
import threading
import time

import pytest

from broker_server import console_round_trip, kcat, unique_topic

pytestmark = pytest.mark.keeper_timeout(600)


def admin(bootstrap):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def create_replicated(cluster, name, partitions=1, rf=3, config=None):
    from confluent_kafka.admin import NewTopic
    a = admin(cluster.bootstrap)
    fs = a.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=rf, config=config or {})],
        operation_timeout=30)
    fs[name].result(30)
    for p in range(partitions):
        cluster.wait_partition(name, lambda s: s["leader"] > 0 and len(s["isr"]) == rf,
                               index=p, what=f"a leader and {rf} in-sync replicas")
    return name


def log_bytes(broker, topic, partition=0):
    d = broker.partition_dir(topic, partition)
    out = b""
    for f in sorted((f for f in os.listdir(d) if f.endswith(".log")), key=lambda f: int(f[:-4])):
        with open(os.path.join(d, f), "rb") as fh:
            out += fh.read()
    return out


def wait_logs_identical(cluster, topic, partition=0, timeout=30.0):
    """Every replica's segment files hold the same bytes (followers store the
    leader's batches as they are)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = {b.broker_id: log_bytes(b, topic, partition) for b in cluster}
        sizes = {k: len(v) for k, v in logs.items()}
        if len(set(logs.values())) == 1:
            return sizes
        assert time.monotonic() < deadline, f"replica logs differ: sizes {sizes}"
        time.sleep(0.2)


def consume_values(bootstrap, topic, partitions=1, timeout=60.0):
    from broker_server import consume_all_confluent
    got = consume_all_confluent(bootstrap, topic, partitions, timeout=timeout)
    return [v for p in sorted(got) for (_, _, v, _) in got[p]]


# --------------------------------------------------------------------------- basics

def test_seed_000_produce_on_broker_1_consume_on_broker_3(broker_cluster):
    """Seed 000: three brokers, default.replication.factor=2, auto-created topic;
    kafka-console-producer on 192.168.1.1, kafka-console-consumer
    --from-beginning on 192.168.1.3 sees every message."""
    c = broker_cluster(overrides={"default.replication.factor": "2"})
    topic = "xiaopalu-" + unique_topic("s")[2:]
    lines = [f"hello {i} 你好" for i in range(200)]
    got, err, code = console_round_trip(c[1].bootstrap, c[3].bootstrap, topic, lines)
    assert got == lines, err
    assert code == 0
    part = c.wait_partition(topic, lambda s: len(s["isr"]) == 2, what="2 in-sync replicas")
    assert len(part["replicas"]) == 2
    # kcat through the third address agrees.
    out = kcat("-C", "-b", c[3].bootstrap, "-t", topic, "-o", "beginning", "-e", "-q")
    assert out.stdout.decode().splitlines() == lines
    md = c.metadata()
    assert sorted(b["node_id"] for b in md["brokers"]) == [1, 2, 3]


def test_rf3_topic_replicates_identically(broker_cluster):
    """An RF=3 topic: acks=all records reach every replica; the followers'
    segment files are byte-identical to the leader's."""
    from confluent_kafka import Producer
    c = broker_cluster()
    topic = create_replicated(c, unique_topic("rf3"), partitions=3)
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(3000):
        p.produce(topic, value=b"v%05d" % i, key=b"k%d" % (i % 7))
    assert p.flush(60) == 0
    for part in range(3):
        sizes = wait_logs_identical(c, topic, part)
        assert all(s > 0 for s in sizes.values()), sizes
    values = consume_values(c.bootstrap, topic, 3)
    assert sorted(values) == sorted(b"v%05d" % i for i in range(3000))


def test_min_insync_replicas_refuses_acks_all_when_isr_is_too_small(broker_cluster):
    """With two of three brokers down, min.insync.replicas=2 refuses acks=all
    (NOT_ENOUGH_REPLICAS) but acks=1 still works."""
    from confluent_kafka import Producer, KafkaError
    c = broker_cluster()
    topic = create_replicated(c, unique_topic("mir"), config={"min.insync.replicas": "2"})
    leader = c.leader(topic)
    others = [b for b in c if b is not leader]
    for b in others:
        b.kill()
    c.wait_partition(topic, lambda s: s["isr"] == [leader.broker_id], timeout=30,
                     what="the ISR shrunk to the leader")
    errors = []
    p = Producer({"bootstrap.servers": leader.bootstrap, "acks": "all", "retries": 0,
                  "message.timeout.ms": 10000})
    p.produce(topic, value=b"x", on_delivery=lambda e, m: errors.append(e))
    p.flush(20)
    assert errors and errors[0] is not None
    assert errors[0].code() == KafkaError.NOT_ENOUGH_REPLICAS, errors[0]
    ok = []
    p1 = Producer({"bootstrap.servers": leader.bootstrap, "acks": 1})
    p1.produce(topic, value=b"y", on_delivery=lambda e, m: ok.append(e))
    p1.flush(20)
    assert ok == [None]


# --------------------------------------------------------------------------- failover

class NumberedProducer:
    """Produces numbered records (acks=all, retries) in a thread and records
    which ones were acknowledged: until stopped, or ``total`` records at about
    ``rate`` records/s."""

    def __init__(self, bootstrap, topic, rate=500, total=None):
        from confluent_kafka import Producer
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                           "retries": 10_000_000, "retry.backoff.ms": 100,
                           "max.in.flight.requests.per.connection": 1,
                           "enable.idempotence": False, "linger.ms": 2,
                           "message.timeout.ms": 300_000,
                           "topic.metadata.refresh.interval.ms": 1000})
        self.topic = topic
        self.acked = []
        self.failed = []
        self.sent = 0
        self.total = total
        self.stop = threading.Event()
        self.rate = rate
        self.t = threading.Thread(target=self._run, daemon=True)

    def _cb(self, err, msg):
        n = int(msg.value())
        (self.failed if err is not None else self.acked).append((n, err))

    def _run(self):
        start = time.monotonic()
        while not self.stop.is_set() and (self.total is None or self.sent < self.total):
            try:
                self.p.produce(self.topic, value=b"%d" % self.sent, on_delivery=self._cb)
                self.sent += 1
            except BufferError:
                self.p.poll(0.05)
            self.p.poll(0)
            ahead = self.sent / self.rate - (time.monotonic() - start)
            if ahead > 0.005:
                time.sleep(ahead)

    def __enter__(self):
        self.t.start()
        return self

    def finish(self, timeout=120):
        if self.total is not None:
            self.t.join(timeout)
        self.stop.set()
        self.t.join()
        remaining = self.p.flush(timeout)
        assert remaining == 0, f"{remaining} records still unacknowledged"

    def __exit__(self, *a):
        if not self.stop.is_set():
            self.stop.set()
            self.t.join()


def wait_new_leader(cluster, topic, old, timeout=60.0):
    t0 = time.monotonic()
    state = cluster.wait_partition(
        topic, lambda s: s["leader"] > 0 and s["leader"] != old.broker_id,
        timeout=timeout, what=f"a leader other than {old.broker_id}")
    return state, time.monotonic() - t0


def check_acked_records(cluster, topic, producer):
    acked = sorted(n for n, _ in producer.acked)
    values = [int(v) for v in consume_values(cluster.bootstrap, topic, 1, timeout=120)]
    present = set(values)
    lost = [n for n in acked if n not in present]
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {lost[:10]}"
    # Order: the first occurrence of each record follows production order.
    first_seen = []
    seen = set()
    for v in values:
        if v not in seen:
            seen.add(v)
            first_seen.append(v)
    assert first_seen == sorted(first_seen), "records out of order"
    duplicates = len(values) - len(present)
    return len(acked), duplicates


FAILOVER_RECORDS = int(os.environ.get("RILL_FAILOVER_RECORDS", "1000000"))


@pytest.mark.heavy
def test_leader_killed_repeatedly_loses_no_acknowledged_record(broker_cluster):
    """The issue's acceptance: RF=3, min.insync.replicas=2, an acks=all
    producer with retries sends 1,000,000 records while the partition leader
    is killed -9 and restarted five times and the controller's broker once:
    every acknowledged record is there, in order; duplicates only from
    retries (reported); the replicas' logs end up identical."""
    c = broker_cluster()
    topic = create_replicated(c, unique_topic("failover"), config={"min.insync.replicas": "2"})
    failovers = []
    kills = ["leader", "leader", "controller", "leader", "leader", "leader"]
    # Spread the records over the kills: about 12 s per kill round.
    rate = max(500, FAILOVER_RECORDS // (12 * len(kills) + 10))
    with NumberedProducer(c.bootstrap, topic, rate=rate, total=FAILOVER_RECORDS) as prod:
        time.sleep(3)
        for what in kills:
            victim = c.controller() if what == "controller" else c.leader(topic)
            led = victim is c.leader(topic)
            victim.kill()
            if led:
                _, took = wait_new_leader(c, topic, victim)
                failovers.append(round(took, 2))
            else:
                c.wait_partition(topic, lambda s: victim.broker_id not in s["isr"],
                                 what="the killed follower out of the ISR")
            time.sleep(1)
            victim.start()
            c.wait_partition(topic, lambda s: len(s["isr"]) == 3, timeout=60,
                             what="the restarted broker back in the ISR")
            time.sleep(1)
        prod.finish(timeout=300)
        assert not prod.failed, prod.failed[:5]
    assert prod.sent == FAILOVER_RECORDS
    n, dups = check_acked_records(c, topic, prod)
    print(f"\n{len(kills)} kills ({kills}); failover times (s): {failovers}; "
          f"{n} acknowledged records of {prod.sent} sent, {dups} duplicates")
    assert n == FAILOVER_RECORDS
    wait_logs_identical(c, topic, timeout=60)


@pytest.mark.heavy
def test_controller_broker_killed_new_controller_creates_topics(broker_cluster):
    """Killing the controller's broker elects a new controller (in a new
    controller epoch); topic creation works; partitions it led fail over."""
    c = broker_cluster()
    topic = create_replicated(c, unique_topic("ctl"), partitions=3)
    old = c.controller()
    old.kill()
    t0 = time.monotonic()
    while True:
        md = c.metadata()
        if md["controller"] not in (-1, old.broker_id):
            break
        assert time.monotonic() - t0 < 30, md
        time.sleep(0.1)
    took = time.monotonic() - t0
    for p in range(3):
        c.wait_partition(topic, lambda s: s["leader"] not in (-1, old.broker_id), index=p,
                         what="a live leader")
    new_topic = create_replicated(c, unique_topic("after"), partitions=2, rf=2)
    kcat("-P", "-b", c.bootstrap, "-t", new_topic, "-X", "acks=all", input=b"a\nb\n")
    print(f"\nnew controller {md['controller']} after {took:.2f}s")
    old.start()
    c.wait_brokers(3)


def test_stopped_follower_leaves_isr_and_rejoins(broker_cluster):
    """A SIGSTOPped follower leaves the ISR within replica.lag.time.max.ms
    (3 s here, plus a poll) while acks=all writes continue; after SIGCONT it
    catches up and rejoins."""
    from confluent_kafka import Producer
    c = broker_cluster()
    topic = create_replicated(c, unique_topic("isr"))
    leader = c.leader(topic)
    follower = next(b for b in c if b is not leader)
    follower.suspend()
    t0 = time.monotonic()
    p = Producer({"bootstrap.servers": leader.bootstrap, "acks": "all"})
    try:
        state = c.wait_partition(topic, lambda s: follower.broker_id not in s["isr"], timeout=20,
                                 what="the stopped follower out of the ISR", skip=(follower,))
        left = time.monotonic() - t0
        for i in range(100):
            p.produce(topic, value=b"%d" % i)
        assert p.flush(30) == 0
    finally:
        follower.resume()
    t1 = time.monotonic()
    c.wait_partition(topic, lambda s: follower.broker_id in s["isr"], timeout=30,
                     what="the follower back in the ISR")
    rejoined = time.monotonic() - t1
    print(f"\nleft the ISR after {left:.2f}s, rejoined {rejoined:.2f}s after SIGCONT")
    assert left < 3.0 + 3.0
    assert len(state["isr"]) == 2
    wait_logs_identical(c, topic)


def test_consumer_group_on_cluster(broker_cluster):
    """A consumer group on the cluster: __consumer_offsets is replicated,
    committed offsets survive the coordinator's broker being killed."""
    from confluent_kafka import Consumer, Producer
    c = broker_cluster()
    topic = create_replicated(c, unique_topic("grp"), partitions=3)
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all"})
    for i in range(300):
        p.produce(topic, value=b"%d" % i)
    assert p.flush(30) == 0
    group = unique_topic("g")

    def consume(n, timeout=60):
        cons = Consumer({"bootstrap.servers": c.bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
        cons.subscribe([topic])
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            for m in cons.consume(100, 0.5):
                if m.error() is None:
                    got.append(int(m.value()))
        cons.commit(asynchronous=False)
        cons.close()
        return got

    first = consume(300)
    assert sorted(first) == list(range(300))
    offsets = c.partition("__consumer_offsets")
    assert len(offsets["replicas"]) == 3
    # kill the coordinator of the group: the leader of its offsets partition
    a = admin(c.bootstrap)
    desc = a.describe_consumer_groups([group])[group].result(30)
    coordinator = c[desc.coordinator.id]
    coordinator.kill()
    for i in range(300, 400):
        p.produce(topic, value=b"%d" % i)
    assert p.flush(60) == 0
    second = consume(100, timeout=90)
    assert sorted(second) == list(range(300, 400)), f"{len(second)} records after failover"


def test_controlled_shutdown_of_leader_no_producer_errors(broker_cluster):
    """SIGTERM with controlled.shutdown.enable=true (the default): the broker
    hands its leaderships to in-sync replicas before leaving; an acks=all
    producer with retries sees no error, every record arrives, and the
    leadership moves well before the ZooKeeper session could expire."""
    c = broker_cluster()
    topic = create_replicated(c, unique_topic("cs"), config={"min.insync.replicas": "2"})
    with NumberedProducer(c.bootstrap, topic) as prod:
        time.sleep(1.5)
        leader = c.leader(topic)
        t0 = time.monotonic()
        leader.stop()
        stopped = time.monotonic() - t0
        state, _ = wait_new_leader(c, topic, leader, timeout=30)
        moved = time.monotonic() - t0
        time.sleep(1.5)
        prod.finish()
        assert not prod.failed, prod.failed[:5]
    n, dups = check_acked_records(c, topic, prod)
    print(f"\nSIGTERM to exit {stopped:.2f}s, new leader {state['leader']} seen after "
          f"{moved:.2f}s; {n} records, {dups} duplicates")
    assert moved < 3.0, f"leadership moved after {moved:.2f}s (session expiry, not handover?)"
    leader.start()
    c.wait_partition(topic, lambda s: len(s["isr"]) == 3, timeout=60, what="back in the ISR")


def test_preferred_leader_election_with_elect_leaders(broker_cluster):
    """After a failover the first assigned replica leads again on
    ElectLeaders (kafka-leader-election.sh --election-type preferred); asking
    again is ELECTION_NOT_NEEDED."""
    from confluent_kafka import ElectionType, TopicPartition, KafkaError
    c = broker_cluster()
    topic = create_replicated(c, unique_topic("ple"))
    part = c.partition(topic)
    preferred = c[part["replicas"][0]]
    assert part["leader"] == preferred.broker_id
    preferred.stop()
    wait_new_leader(c, topic, preferred)
    preferred.start()
    c.wait_partition(topic, lambda s: len(s["isr"]) == 3, timeout=60, what="back in the ISR")
    assert c.partition(topic)["leader"] != preferred.broker_id
    a = admin(c.bootstrap)
    tp = TopicPartition(topic, 0)
    res = a.elect_leaders(ElectionType.PREFERRED, [tp]).result(30)
    assert res[tp] is None, res
    c.wait_partition(topic, lambda s: s["leader"] == preferred.broker_id,
                     what="the preferred replica leading")
    res = a.elect_leaders(ElectionType.PREFERRED, [tp]).result(30)
    assert res[tp] is not None and res[tp].code() == KafkaError.ELECTION_NOT_NEEDED, res


def test_topic_changes_reach_every_broker(broker_cluster):
    """CreatePartitions adds replicated partitions that every broker hosts;
    deleting the topic removes its logs from every broker."""
    from confluent_kafka.admin import NewPartitions
    c = broker_cluster()
    topic = create_replicated(c, unique_topic("chg"), partitions=1)
    a = admin(c.bootstrap)
    a.create_partitions([NewPartitions(topic, 3)])[topic].result(30)
    for p in range(3):
        c.wait_partition(topic, lambda s: len(s["isr"]) == 3, index=p, timeout=30,
                         what="3 in-sync replicas of a new partition")
    for b in c:
        for p in range(3):
            assert os.path.isdir(b.partition_dir(topic, p)), (b.broker_id, p)
    a.delete_topics([topic], operation_timeout=30)[topic].result(30)
    deadline = time.monotonic() + 30
    while any(os.path.isdir(b.partition_dir(topic, p)) for b in c for p in range(3)):
        assert time.monotonic() < deadline, "logs of the deleted topic are still there"
        time.sleep(0.2)


def test_high_watermark_is_checkpointed(broker_cluster):
    """Each log dir's replication-offset-checkpoint (Kafka's name and
    format: version, count, `topic partition offset` lines) holds the high
    watermarks, written every replica.high.watermark.checkpoint.interval.ms;
    a broker starts its partitions from it (bounded by the log), and after
    both brokers of an RF=2 topic are killed -9 and restarted every
    committed record is served."""
    c = broker_cluster(size=2, overrides={"replica.high.watermark.checkpoint.interval.ms": "200"})
    topic = create_replicated(c, unique_topic("hwck"), rf=2)
    lines = [f"r{i}" for i in range(100)]
    kcat("-P", "-b", c.bootstrap, "-t", topic, "-X", "acks=all",
         input=("\n".join(lines) + "\n").encode())
    for b in c:
        ckpt = os.path.join(b.log_dirs, "replication-offset-checkpoint")
        deadline = time.monotonic() + 10
        while True:
            text = open(ckpt).read() if os.path.exists(ckpt) else ""
            if f"{topic} 0 100" in text.splitlines():
                break
            assert time.monotonic() < deadline, (b.broker_id, text)
            time.sleep(0.1)
        rows = text.splitlines()
        assert rows[0] == "0" and int(rows[1]) == len(rows) - 2, text
    for b in c:
        b.kill()
    for b in c:
        b.start()
    c.wait_partition(topic, lambda s: len(s["isr"]) == 2, timeout=60, what="both in the ISR")
    out = kcat("-Q", "-b", c.bootstrap, "-t", f"{topic}:0:-1").stdout.decode()
    assert out.split()[-1] == "100", out
    got = kcat("-C", "-b", c.bootstrap, "-t", topic, "-o", "beginning", "-c", "100", "-e",
               "-q", timeout=30).stdout.decode().splitlines()
    assert got == lines


def test_rack_aware_assignment(broker_cluster):
    """With broker.rack set on every broker, each partition's replicas land on
    distinct racks (Kafka's rack-aware placement)."""
    c = broker_cluster(size=3, overrides={})
    # racks: restart each broker with its own rack (a, b, a)
    racks = {1: "a", 2: "b", 3: "a"}
    for b in c:
        b.props["broker.rack"] = racks[b.broker_id]
        b.restart()
    c.wait_brokers(3)
    # Every broker (whichever one creates the topic) must see the new
    # registrations, racks included, before placement can use them.
    deadline = time.monotonic() + 30
    for b in c:
        while True:
            with b.conn(timeout=5.0) as conn:
                seen = {x["node_id"]: x["rack"]
                        for x in conn.metadata([], allow_auto_create=False, version=4)["brokers"]}
            if seen == racks:
                break
            assert time.monotonic() < deadline, f"broker {b.broker_id} sees racks {seen}"
            time.sleep(0.1)
    topic = create_replicated(c, unique_topic("rack"), partitions=6, rf=2)
    md = c.metadata([topic])
    for p in md["topics"][topic]["partitions"]:
        assert {racks[r] for r in p["replicas"]} == {"a", "b"}, p
