"""Consumer groups on `rill broker` with real clients: confluent-kafka
(librdkafka) group consumers with eager and cooperative-sticky assignment,
static membership, kafka-python's group consumer, `kcat -G`, committed offsets
across a broker restart, the admin group APIs, and `__consumer_offsets`
decoded here independently with Kafka's record schema.

Runs once per ZooKeeper kind in KEEPER_TARGETS, like the other broker suites.
"""

import struct
import threading
import time
import uuid

import pytest
from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException,
                             Producer, TopicPartition)

from broker_server import (KafkaConn, admin_client, create_topic, kcat, plain_consumer,
                           unique_topic)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kafka")

SESSION_MS = 6000


def unique_group(prefix="g"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def produce(bootstrap, topic, n, start=0, partitions=None):
    """n keyed records "k<i>"/"v<i>" (acks=all), spread by key or round robin."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "enable.idempotence": False})
    errors = []
    for i in range(start, start + n):
        kw = {"partition": i % partitions} if partitions else {}
        p.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                  on_delivery=lambda err, _m: err and errors.append(err), **kw)
        p.poll(0)
    assert p.flush(30) == 0
    assert not errors, errors[:3]


class Member:
    """A confluent-kafka group consumer that records its rebalance callbacks
    and commits every record synchronously before polling again."""

    def __init__(self, bootstrap, group, topic, name, **conf):
        self.name = name
        self.assigned = set()
        self.events = []  # ("assign"|"revoke"|"lost", [partitions])
        self.records = []  # (partition, offset, value)
        c = {"bootstrap.servers": bootstrap, "group.id": group,
             "auto.offset.reset": "earliest", "enable.auto.commit": False,
             "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 500,
             "client.id": name}
        c.update(conf)
        self.cooperative = c.get("partition.assignment.strategy") == "cooperative-sticky"
        self.consumer = Consumer(c)
        self.consumer.subscribe([topic], on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)

    def _on_assign(self, consumer, partitions):
        ps = sorted(p.partition for p in partitions)
        self.events.append(("assign", ps))
        if self.cooperative:
            self.assigned |= set(ps)
            consumer.incremental_assign(partitions)
        else:
            self.assigned = set(ps)
            consumer.assign(partitions)

    def _on_revoke(self, consumer, partitions):
        ps = sorted(p.partition for p in partitions)
        self.events.append(("revoke", ps))
        if self.cooperative:
            self.assigned -= set(ps)
            consumer.incremental_unassign(partitions)
        else:
            self.assigned = set()
            consumer.unassign()

    def _on_lost(self, consumer, partitions):
        self.events.append(("lost", sorted(p.partition for p in partitions)))
        self._on_revoke(consumer, partitions)

    def poll(self, timeout=0.05):
        m = self.consumer.poll(timeout)
        if m is None:
            return
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                raise AssertionError(f"{self.name}: {m.error()}")
            return
        self.records.append((m.partition(), m.offset(), m.value()))
        self.consumer.commit(message=m, asynchronous=False)

    def close(self):
        self.consumer.close()


def poll_until(members, cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            m.poll()
        if cond():
            return time.monotonic()
    state = {m.name: sorted(m.assigned) for m in members}
    raise AssertionError(f"timed out waiting for {what}: assignments {state}")


def balanced(members, partitions):
    owned = [p for m in members for p in m.assigned]
    per = partitions // len(members)
    return (sorted(owned) == list(range(partitions))
            and all(len(m.assigned) == per for m in members))


# =========================================================================== classic protocol
def test_three_consumers_share_six_partitions_and_rebalance_exactly_once(broker):
    topic = create_topic(broker.bootstrap, unique_topic("grp"), partitions=6)
    group = unique_group()
    produce(broker.bootstrap, topic, 600, partitions=6)
    members = [Member(broker.bootstrap, group, topic, f"c{i}") for i in range(3)]
    try:
        poll_until(members, lambda: balanced(members, 6), 60, "3 members x 2 partitions")
        poll_until(members, lambda: sum(len(m.records) for m in members) >= 300, 60,
                   "half the records")
        leaving = members.pop()
        left_at = time.monotonic()
        leaving.close()
        took = poll_until(members, lambda: balanced(members, 6), SESSION_MS / 1000 + 10,
                          "the two remaining members to own all 6 partitions") - left_at
        assert took < SESSION_MS / 1000, f"rebalance after a leave took {took:.1f}s"
        produce(broker.bootstrap, topic, 600, start=600, partitions=6)
        members.append(Member(broker.bootstrap, group, topic, "c3"))
        poll_until(members, lambda: balanced(members, 6), 60, "the newcomer's rebalance")
        everyone = members + [leaving]
        poll_until(members, lambda: sum(len(m.records) for m in everyone) >= 1200, 60,
                   "every record")
        time.sleep(1)
        for m in members:
            m.poll(0.2)
        seen = [(p, o) for m in everyone for p, o, _ in m.records]
        assert len(seen) == len(set(seen)), "a record was consumed twice"
        assert len(seen) == 1200
        values = sorted(int(v[1:]) for m in everyone for _, _, v in m.records)
        assert values == list(range(1200))
    finally:
        for m in members:
            m.close()


CHILD_CONSUMER = """
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
              "session.timeout.ms": %d, "heartbeat.interval.ms": 500,
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe([sys.argv[3]], on_assign=lambda c, ps: print("assigned", len(ps), flush=True))
while True:
    c.poll(0.1)
""" % SESSION_MS


def test_a_killed_member_is_expired_after_its_session_timeout(broker):
    import signal
    import subprocess
    import sys
    topic = create_topic(broker.bootstrap, unique_topic("kill"), partitions=4)
    group = unique_group()
    child = subprocess.Popen([sys.executable, "-c", CHILD_CONSUMER, broker.bootstrap, group,
                              topic], stdout=subprocess.PIPE, text=True)
    a = Member(broker.bootstrap, group, topic, "survivor")
    try:
        poll_until([a], lambda: len(a.assigned) == 2, 60, "two members with 2 partitions each")
        child.send_signal(signal.SIGKILL)  # no LeaveGroup: only the session timeout tells
        child.wait(10)
        killed_at = time.monotonic()
        took = poll_until([a], lambda: a.assigned == set(range(4)), SESSION_MS / 1000 + 20,
                          "the survivor to take over every partition") - killed_at
        # Expiry at session.timeout.ms, then one rebalance round.
        assert SESSION_MS / 1000 - 1 < took < SESSION_MS / 1000 + 10, f"took {took:.1f}s"
    finally:
        if child.poll() is None:
            child.kill()
        a.close()


def test_cooperative_sticky_rebalances_incrementally(broker):
    topic = create_topic(broker.bootstrap, unique_topic("coop"), partitions=6)
    group = unique_group()
    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    a = Member(broker.bootstrap, group, topic, "a", **conf)
    members = [a]
    try:
        poll_until(members, lambda: a.assigned == set(range(6)), 60, "a owns everything")
        before = len(a.events)
        b = Member(broker.bootstrap, group, topic, "b", **conf)
        members.append(b)
        poll_until(members, lambda: balanced(members, 6), 60, "a and b with 3 each")
        revoked = [ps for kind, ps in a.events[before:] if kind == "revoke"]
        assert revoked, "a gave partitions away through a revoke"
        assert all(len(ps) == 3 for ps in revoked), \
            f"cooperative revocation takes only what moves, not everything: {a.events}"
        assert not [e for e in a.events if e[0] == "lost"]
    finally:
        for m in members:
            m.close()


def test_static_member_restart_within_session_timeout_does_not_rebalance(broker):
    topic = create_topic(broker.bootstrap, unique_topic("static"), partitions=4)
    group = unique_group()
    conf = {"session.timeout.ms": 30000}
    a = Member(broker.bootstrap, group, topic, "a", **{"group.instance.id": "a", **conf})
    b = Member(broker.bootstrap, group, topic, "b", **{"group.instance.id": "b", **conf})
    members = [a, b]
    try:
        poll_until(members, lambda: balanced(members, 4), 60, "2 static members x 2")
        a_parts, b_events = set(a.assigned), len(b.events)
        desc = describe(broker, group)
        assert {m.group_instance_id for m in desc.members} == {"a", "b"}
        old_ids = {m.member_id for m in desc.members}
        # A static member's close() sends no LeaveGroup: the coordinator keeps its place.
        a.close()
        members = [b]
        a2 = Member(broker.bootstrap, group, topic, "a2", **{"group.instance.id": "a", **conf})
        members = [a2, b]
        poll_until(members, lambda: a2.assigned == a_parts, 30, "a's partitions back")
        for _ in range(40):
            for m in members:
                m.poll()
        assert b.events[b_events:] == [], f"b saw a rebalance: {b.events[b_events:]}"
        desc = describe(broker, group)
        assert desc.state.name == "STABLE"
        new_ids = {m.member_id for m in desc.members}
        assert len(new_ids) == 2 and len(new_ids & old_ids) == 1, "a got a new member id"
    finally:
        for m in members:
            m.close()


def test_kafka_python_group_consumer_and_kcat_balanced_consumer(broker):
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition as KTP
    topic = create_topic(broker.bootstrap, unique_topic("kp"), partitions=3)
    produce(broker.bootstrap, topic, 90, partitions=3)
    group = unique_group("kp")
    kc = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                       auto_offset_reset="earliest", enable_auto_commit=False,
                       session_timeout_ms=SESSION_MS, heartbeat_interval_ms=1000)
    try:
        got = []
        deadline = time.monotonic() + 60
        while len(got) < 90 and time.monotonic() < deadline:
            for tp, msgs in kc.poll(timeout_ms=500).items():
                got += [(tp.partition, m.offset) for m in msgs]
        assert len(got) == 90 and len(set(got)) == 90
        kc.commit()
        assert {kc.committed(KTP(topic, p)) for p in range(3)} == {30}
        # Commit metadata round-trips (OffsetCommit -> OffsetFetch).
        kc.commit({KTP(topic, 0): OffsetAndMetadata(29, "checkpoint-7", -1)})
    finally:
        kc.close()
    offsets = committed(broker, group, topic, 3)
    assert offsets == {0: 29, 1: 30, 2: 30}
    c = plain_consumer(broker.bootstrap, **{"group.id": group})
    try:
        (tp,) = c.committed([TopicPartition(topic, 0)], timeout=10)
        assert (tp.offset, tp.metadata) == (29, "checkpoint-7")
    finally:
        c.close()

    # kcat's balanced consumer (-G) reads everything once and commits.
    kgroup = unique_group("kcat")
    out = kcat("-b", broker.bootstrap, "-G", kgroup, topic, "-o", "beginning", "-e", "-q",
               "-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100",
               timeout=60).stdout.decode().split()
    assert sorted(out) == sorted(f"v{i}" for i in range(90))
    assert committed(broker, kgroup, topic, 3) == {0: 30, 1: 30, 2: 30}


# =========================================================================== offsets
def committed(broker, group, topic, partitions):
    c = plain_consumer(broker.bootstrap, **{"group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def test_committed_offsets_survive_a_broker_restart(broker_factory):
    b = broker_factory(overrides={"group.initial.rebalance.delay.ms": 0})
    topic = create_topic(b.bootstrap, unique_topic("restart"), partitions=2)
    produce(b.bootstrap, topic, 40, partitions=2)
    group = unique_group()
    m = Member(b.bootstrap, group, topic, "m")
    try:
        poll_until([m], lambda: len(m.records) >= 40, 60, "every record")
    finally:
        m.close()
    assert committed(b, group, topic, 2) == {0: 20, 1: 20}
    b.restart(hard=True)
    assert committed(b, group, topic, 2) == {0: 20, 1: 20}, "offsets rebuilt from the log"
    produce(b.bootstrap, topic, 10, start=40, partitions=2)
    m = Member(b.bootstrap, group, topic, "m2")
    try:
        poll_until([m], lambda: len(m.records) >= 10, 60, "the new records")
        time.sleep(0.5)
        m.poll(0.5)
        assert sorted(v for _, _, v in m.records) == sorted(f"v{i}".encode()
                                                              for i in range(40, 50))
    finally:
        m.close()


def java_hash(s):
    h = 0
    for unit in struct.unpack(f">{len(s.encode('utf-16-be')) // 2}H", s.encode("utf-16-be")):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group, partitions=50):
    h = java_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes(self):
        n = self.take(">i")
        b = self.data[self.pos:self.pos + max(n, 0)]
        self.pos += max(n, 0)
        return b


def decode_offsets_record(key, value):
    """Kafka's OffsetCommitKey/Value and GroupMetadataKey/Value (non-flexible versions)."""
    k = Reader(key)
    kv = k.take(">h")
    if kv in (0, 1):
        rec = {"type": "offset", "group": k.string(), "topic": k.string(),
               "partition": k.take(">i")}
        if value is not None:
            v = Reader(value)
            ver = v.take(">h")
            rec["offset"] = v.take(">q")
            rec["leader_epoch"] = v.take(">i") if ver >= 3 else -1
            rec["metadata"] = v.string()
            rec["commit_timestamp"] = v.take(">q")
        return rec
    assert kv == 2, f"unknown key version {kv}"
    rec = {"type": "group", "group": k.string()}
    if value is not None:
        v = Reader(value)
        ver = v.take(">h")
        rec["protocol_type"] = v.string()
        rec["generation"] = v.take(">i")
        rec["protocol"] = v.string()
        rec["leader"] = v.string()
        if ver >= 2:
            rec["state_timestamp"] = v.take(">q")
        members = []
        for _ in range(v.take(">i")):
            m = {"member_id": v.string()}
            if ver >= 3:
                m["instance_id"] = v.string()
            m["client_id"] = v.string()
            m["client_host"] = v.string()
            if ver >= 1:
                m["rebalance_timeout"] = v.take(">i")
            m["session_timeout"] = v.take(">i")
            m["subscription"] = v.bytes()
            m["assignment"] = v.bytes()
            members.append(m)
        rec["members"] = members
    return rec


def test_consumer_offsets_topic_holds_kafkas_records(broker):
    topic = create_topic(broker.bootstrap, unique_topic("co"), partitions=1)
    produce(broker.bootstrap, topic, 5)
    group = unique_group("decode")
    m = Member(broker.bootstrap, group, topic, "decoder-client")
    try:
        poll_until([m], lambda: len(m.records) >= 5, 60, "5 records")
    finally:
        m.close()
    part = offsets_partition(group)
    c = plain_consumer(broker.bootstrap, **{"enable.partition.eof": True})
    records = []
    try:
        c.assign([TopicPartition("__consumer_offsets", part, 0)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise AssertionError(msg.error())
            records.append(decode_offsets_record(msg.key(), msg.value()))
    finally:
        c.close()
    mine = [r for r in records if r["group"] == group]
    commits = [r for r in mine if r["type"] == "offset" and "offset" in r]
    assert commits and commits[-1]["topic"] == topic and commits[-1]["offset"] == 5
    assert all(r["partition"] == 0 for r in commits)
    groups = [r for r in mine if r["type"] == "group" and "members" in r]
    stable = [g for g in groups if g["members"]]
    assert stable and stable[0]["protocol_type"] == "consumer"
    assert stable[0]["members"][0]["client_id"] == "decoder-client"
    assert stable[0]["members"][0]["client_host"] == "/127.0.0.1"
    # The group left: the last metadata record is the empty generation.
    assert groups[-1]["members"] == [] and groups[-1]["generation"] > stable[-1]["generation"]


# =========================================================================== admin
def describe(broker, group):
    a = admin_client(broker.bootstrap)
    return a.describe_consumer_groups([group])[group].result(10)


def test_admin_lists_describes_alters_and_deletes_groups(broker):
    topic = create_topic(broker.bootstrap, unique_topic("adm"), partitions=2)
    produce(broker.bootstrap, topic, 10, partitions=2)
    group = unique_group("adm")
    m = Member(broker.bootstrap, group, topic, "adm-client")
    a = admin_client(broker.bootstrap)
    try:
        poll_until([m], lambda: len(m.records) >= 10, 60, "10 records")
        listed = a.list_consumer_groups().result(10)
        assert group in {g.group_id for g in listed.valid}
        d = describe(broker, group)
        assert d.state.name == "STABLE" and d.partition_assignor == "range"
        (member,) = d.members
        assert member.client_id == "adm-client" and member.host == "/127.0.0.1"
        assert sorted(tp.partition for tp in member.assignment.topic_partitions) == [0, 1]
        with pytest.raises(KafkaException) as e:
            a.delete_consumer_groups([group])[group].result(10)
        assert e.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    finally:
        m.close()
    offsets = a.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)])[group].result(10)
    assert sorted((tp.partition, tp.offset) for tp in offsets.topic_partitions) == [(0, 5), (1, 5)]
    a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(
        group, [TopicPartition(topic, 0, 1)])])[group].result(10)
    assert committed(broker, group, topic, 2) == {0: 1, 1: 5}
    assert describe(broker, group).state.name == "EMPTY"
    a.delete_consumer_groups([group])[group].result(10)
    assert describe(broker, group).state.name == "DEAD"
    assert committed(broker, group, topic, 2) == {0: -1001, 1: -1001}


def test_kafka_python_admin_sees_groups_and_offsets(broker):
    from types import SimpleNamespace
    from kafka import KafkaAdminClient
    from kafka import TopicPartition as KTP
    from kafka.errors import GroupSubscribedToTopicError
    topic = create_topic(broker.bootstrap, unique_topic("kpadm"), partitions=1)
    produce(broker.bootstrap, topic, 3)
    group = unique_group("kpadm")
    m = Member(broker.bootstrap, group, topic, "kp-admin", **{"group.instance.id": "inst"})
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        poll_until([m], lambda: len(m.records) >= 3, 60, "3 records")
        listed = {g["group_id"]: g for g in admin.list_groups(states_filter=["Stable"])}
        assert listed[group]["protocol_type"] == "consumer"
        d = admin.describe_groups([group])[group]
        assert d["group_state"] == "Stable" and d["protocol_data"] == "range"
        (member,) = d["members"]
        assert member["group_instance_id"] == "inst"
        assert member["member_metadata"]["topics"] == [topic]
        assert member["member_assignment"]["assigned_partitions"] == \
            [{"topic": topic, "partitions": [0]}]
        offsets = admin.list_group_offsets({group: None})[group]
        assert [(tp.partition, om.offset) for tp, om in offsets.items()] == [(0, 3)]
        # The group still consumes the topic: its offsets may not be deleted.
        res = admin.delete_group_offsets(group, [KTP(topic, 0)])
        assert res[KTP(topic, 0)] is GroupSubscribedToTopicError
        # Administrative removal of the static member by its instance id (LeaveGroup v3+).
        admin.remove_group_members(group, [SimpleNamespace(
            member_id=None, group_instance_id="inst", reason="test")])
        deadline = time.monotonic() + 10
        while admin.describe_groups([group])[group]["group_state"] != "Empty":
            assert time.monotonic() < deadline, "the group did not become empty"
            time.sleep(0.2)
        res = admin.delete_group_offsets(group, [KTP(topic, 0)])
        assert res[KTP(topic, 0)].errno == 0, res
        assert admin.list_group_offsets({group: None})[group] == {}
    finally:
        admin.close()
        m.close()


# =========================================================================== wire-level errors
def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def test_group_requests_with_bad_input_get_kafkas_errors(broker):
    with KafkaConn("127.0.0.1", broker.port) as c:
        # FindCoordinator v1 for a transactional id: a clear error, no crash.
        r = c.call(10, 1, kstr("txn") + b"\x01")
        r.i32()  # throttle
        assert r.i16() == 15  # COORDINATOR_NOT_AVAILABLE
        assert "transactions" in r.string()
        group = unique_group("raw")
        # FindCoordinator v0 for a group: this broker.
        r = c.call(10, 0, kstr(group))
        assert (r.i16(), r.i32()) == (0, broker.broker_id)
        # Heartbeat v0 for an unknown member.
        r = c.call(12, 0, kstr(group) + struct.pack(">i", 1) + kstr("nobody"))
        assert r.i16() == 25  # UNKNOWN_MEMBER_ID
        # JoinGroup v0 with a session timeout below group.min.session.timeout.ms.
        body = (kstr(group) + struct.pack(">i", 10) + kstr("") + kstr("consumer")
                + struct.pack(">i", 1) + kstr("range") + struct.pack(">i", 0))
        r = c.call(11, 0, body)
        assert r.i16() == 26  # INVALID_SESSION_TIMEOUT
        # SyncGroup v0 for a group that does not exist.
        r = c.call(14, 0, kstr(group) + struct.pack(">i", 3) + kstr("m") + struct.pack(">i", 0))
        assert r.i16() == 25
        # OffsetCommit v2 by a "member" of a group that does not exist, nothing to commit.
        body = (kstr(group) + struct.pack(">i", 5) + kstr("m") + struct.pack(">q", -1)
                + struct.pack(">i", 0))
        r = c.call(8, 2, body)
        assert r.i32() == 0  # an empty topic list, answered
        # A truncated JoinGroup: an error for this connection, nothing else.
        c.send(11, 5, b"\x00\x05ab")
    with KafkaConn("127.0.0.1", broker.port) as c:
        err, apis = c.api_versions()
        assert err == 0
        for key in (8, 9, 10, 11, 12, 13, 14, 15, 16, 42, 47):
            assert key in apis, f"api {key} not advertised"
