"""Partition reassignment on a three-broker `rill broker` cluster, with rill
keeper and Apache ZooKeeper 3.8 as the ensemble: a partition moves from
brokers {1,2} to {2,3} with its data intact while a producer writes
(kafka-reassign-partitions.sh --execute / --verify / --list), reassignments
are cancelled (--cancel), bad requests get Kafka's errors (kafka-python's
admin client), and kafka-leader-election.sh moves leaders back to the
preferred replica.
"""

import json
import os
import time

import pytest

from test_broker_cluster import NumberedProducer, admin, consume_values, log_bytes
from test_cli import run

pytestmark = pytest.mark.keeper_timeout(300)


def create_assigned(cluster, name, assignment):
    """A topic with an explicit replica assignment, every replica in sync."""
    from confluent_kafka.admin import NewTopic
    a = admin(cluster.bootstrap)
    fs = a.create_topics(
        [NewTopic(name, num_partitions=len(assignment), replica_assignment=assignment)],
        operation_timeout=30)
    fs[name].result(30)
    for p, replicas in enumerate(assignment):
        cluster.wait_partition(name, lambda s, r=replicas: sorted(s["isr"]) == sorted(r),
                               index=p, what=f"ISR {replicas}")
    return name


def python_admin(cluster):
    from kafka.admin import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=30000)


def ongoing(cluster):
    a = python_admin(cluster)
    try:
        return a.list_partition_reassignments()
    finally:
        a.close()


def tool(script, *args):
    p = run(script, *args, timeout=60)
    assert p.returncode == 0, f"{script} {args}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def wait_moved(cluster, topic, replicas, index=0, timeout=60.0):
    """Every running broker reports `replicas` as the assignment and ISR."""
    return cluster.wait_partition(
        topic, lambda s: s["replicas"] == replicas and sorted(s["isr"]) == sorted(replicas)
        and s["leader"] in replicas, index=index, timeout=timeout,
        what=f"replicas and ISR {replicas}")


def wait_gone(path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} is still there"
        time.sleep(0.2)


def test_move_1_2_to_2_3_with_data_and_a_running_producer(broker_cluster, tmp_path):
    """20,000 acks=all records, then a partition moves from brokers {1,2} to
    {2,3} with kafka-reassign-partitions.sh --execute while a producer keeps
    writing: every record is readable in order from the new leader, nothing
    acknowledged is lost, broker 1's copy is deleted, and the replicas'
    segment files on brokers 2 and 3 are byte-identical."""
    from confluent_kafka import Producer
    c = broker_cluster()
    topic = create_assigned(c, "move", [[1, 2]])
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "linger.ms": 5})
    before = [b"pre-%05d" % i for i in range(20000)]
    for v in before:
        p.produce(topic, value=v)
    assert p.flush(60) == 0
    assert c.partition(topic)["leader"] == 1

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [2, 3]}]}))
    with NumberedProducer(c.bootstrap, topic) as prod:
        time.sleep(1)
        out = tool("kafka-reassign-partitions.sh", "--bootstrap-server", c.bootstrap,
                   "--execute", "--reassignment-json-file", str(plan))
        lines = out.splitlines()
        assert lines[0] == "Current partition replica assignment", out
        assert json.loads(lines[2])["partitions"] == [
            {"topic": topic, "partition": 0, "replicas": [1, 2], "log_dirs": ["any", "any"]}]
        assert lines[4] == "Save this to use as the --reassignment-json-file option during rollback"
        assert lines[5] == f"Successfully started partition reassignment for {topic}-0"
        t0 = time.monotonic()
        state = wait_moved(c, topic, [2, 3])
        took = time.monotonic() - t0
        time.sleep(1)
        prod.finish()
        assert not prod.failed, prod.failed[:5]
    assert state["leader"] == 2
    assert ongoing(c) == {}
    out = tool("kafka-reassign-partitions.sh", "--bootstrap-server", c.bootstrap,
               "--verify", "--reassignment-json-file", str(plan))
    assert out.splitlines()[:2] == ["Status of partition reassignment:",
                                    f"Reassignment of partition {topic}-0 is completed."], out
    out = tool("kafka-reassign-partitions.sh", "--bootstrap-server", c.bootstrap, "--list")
    assert out.strip() == "No partition reassignments found."

    values = consume_values(c[2].bootstrap, topic, 1, timeout=120)
    assert values[:20000] == before
    during = [int(v) for v in values[20000:]]
    acked = sorted(n for n, _ in prod.acked)
    assert len(acked) > 100
    missing = set(acked) - set(during)
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:10]}"
    first_seen = list(dict.fromkeys(during))
    assert first_seen == sorted(first_seen), "records out of order"

    wait_gone(c[1].partition_dir(topic, 0))
    deadline = time.monotonic() + 30
    while log_bytes(c[2], topic) != log_bytes(c[3], topic):
        assert time.monotonic() < deadline, "the replicas' logs on brokers 2 and 3 differ"
        time.sleep(0.2)
    print(f"\nmoved in {took:.2f}s; {len(acked)} records acknowledged during the move, "
          f"{len(during) - len(set(during))} duplicates")


def test_cancel_bad_requests_election_and_moves_away_from_a_stopped_broker(broker_cluster, tmp_path):
    """Kafka's errors for bad reassignments (kafka-python's admin client);
    after a reorder the preferred leader is elected with
    kafka-leader-election.sh; a reassignment whose new replica cannot catch
    up (its broker stopped, then killed) is listed, refused a second
    --execute, cancelled with --cancel, and the partition is back on its
    original brokers; the broker returns without a copy. A move away from a
    stopped broker: it deletes its copy when it comes back. Kafka 2.x's
    /admin/reassign_partitions znode."""
    from kafka import TopicPartition
    from kafka.errors import for_code
    c = broker_cluster()
    # The broker to stop must not be the controller, which the tools ask.
    controller = c.metadata()["controller"]
    victim = max(b for b in (1, 2, 3) if b != controller)
    x, y = sorted(b for b in (1, 2, 3) if b != victim)
    topic = create_assigned(c, "moves", [[1, 2], [x, y]])
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    a = python_admin(c)
    try:
        res = a.alter_partition_reassignments({
            tp0: [2, 2], tp1: [1, 9],
            TopicPartition(topic, 7): [1, 2],
            TopicPartition("no-such-topic", 0): [1, 2],
        })
        assert res == {tp0: for_code(39), tp1: for_code(39),
                       TopicPartition(topic, 7): for_code(3),
                       TopicPartition("no-such-topic", 0): for_code(3)}, res
        assert a.alter_partition_reassignments({tp0: None}) == {tp0: for_code(85)}
        assert a.list_partition_reassignments() == {}
        # Reorder partition 0 to [2, 1]: it completes at once and leader 1
        # stays, so the preferred replica (2) does not lead until elected.
        assert a.alter_partition_reassignments({tp0: [2, 1]}) == {tp0: None}
    finally:
        a.close()
    c.wait_partition(topic, lambda s: s["replicas"] == [2, 1], what="replicas [2, 1]")
    assert c.partition(topic)["leader"] == 1
    boot = c.bootstrap
    out = tool("kafka-leader-election.sh", "--bootstrap-server", boot,
               "--election-type", "preferred", "--topic", topic, "--partition", "0")
    assert out.strip() == \
        f"Successfully completed leader election (PREFERRED) for partitions {topic}-0"
    c.wait_partition(topic, lambda s: s["leader"] == 2, what="the preferred leader")
    election = tmp_path / "election.json"
    election.write_text(json.dumps({"partitions": [{"topic": topic, "partition": 0},
                                                   {"topic": topic, "partition": 1}]}))
    out = tool("kafka-leader-election.sh", "--bootstrap-server", boot,
               "--election-type", "PREFERRED", "--path-to-json-file", str(election))
    assert out.strip() == f"Valid replica already elected for partitions {topic}-0, {topic}-1"
    out = tool("kafka-leader-election.sh", "--bootstrap-server", boot,
               "--election-type", "preferred", "--all-topic-partitions")
    assert "Error" not in out
    out = tool("kafka-leader-election.sh", "--bootstrap-server", boot,
               "--election-type", "unclean", "--topic", topic, "--partition", "0")
    assert out.strip() == f"Valid replica already elected for partitions {topic}-0"
    p = run("kafka-leader-election.sh", "--bootstrap-server", boot,
            "--election-type", "preferred", "--topic", topic)
    assert p.returncode != 0 and "[partition]" in p.stderr, p

    # A move that cannot finish: its new broker is stopped (still
    # registered) when it starts, then killed.
    boot = ",".join(c[b].bootstrap for b in (x, y))
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 1, "replicas": [x, victim]}]}))
    c[victim].suspend()
    tool("kafka-reassign-partitions.sh", "--bootstrap-server", boot,
         "--execute", "--reassignment-json-file", str(plan))
    c[victim].kill()
    c.wait_partition(topic, lambda s: s["replicas"] == [x, victim, y], index=1,
                     what="the full replica set during the move")
    out = tool("kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--list")
    assert out.splitlines() == [
        "Current partition reassignments:",
        f"{topic}-1: replicas: {x},{victim},{y}. adding: {victim}. removing: {y}."], out
    out = tool("kafka-reassign-partitions.sh", "--bootstrap-server", boot,
               "--verify", "--reassignment-json-file", str(plan))
    assert f"Reassignment of partition {topic}-1 is still in progress." in out, out
    p = run("kafka-reassign-partitions.sh", "--bootstrap-server", boot,
            "--execute", "--reassignment-json-file", str(plan))
    assert p.returncode == 1 and "Cannot execute because there is an existing partition " \
        "assignment." in p.stdout, p
    out = tool("kafka-reassign-partitions.sh", "--bootstrap-server", boot,
               "--cancel", "--reassignment-json-file", str(plan))
    assert out.splitlines()[0] == \
        f"Successfully cancelled partition reassignment for: {topic}-1", out
    wait_moved(c, topic, [x, y], index=1)
    out = tool("kafka-reassign-partitions.sh", "--bootstrap-server", boot,
               "--cancel", "--reassignment-json-file", str(plan))
    assert out.splitlines()[0] == "None of the specified partition reassignments are active."
    out = tool("kafka-reassign-partitions.sh", "--bootstrap-server", boot,
               "--verify", "--reassignment-json-file", str(plan))
    assert f"There is no active reassignment of partition {topic}-1, but replica set is " \
        f"{x},{y} rather than {x},{victim}." in out, out
    # The stopped broker comes back and keeps no copy of the partition.
    c[victim].start()
    c.wait_brokers(3)
    wait_moved(c, topic, [x, y], index=1)
    wait_gone(c[victim].partition_dir(topic, 1))
    # A move away from a broker that is down: it deletes its copy when back.
    stopped = y if y != controller else x
    keep = x if stopped == y else y
    assert os.path.isdir(c[stopped].partition_dir(topic, 1))
    c[stopped].stop()
    c.wait_brokers(2)
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 1, "replicas": [keep, victim]}]}))
    boot = ",".join(c[b].bootstrap for b in (keep, victim))
    tool("kafka-reassign-partitions.sh", "--bootstrap-server", boot,
         "--execute", "--reassignment-json-file", str(plan))
    wait_moved(c, topic, [keep, victim], index=1)
    c[stopped].start()
    c.wait_brokers(3)
    wait_gone(c[stopped].partition_dir(topic, 1))
    assert c.partition(topic, 1, via=c[stopped])["replicas"] == [keep, victim]

    # Kafka 2.x tools wrote /admin/reassign_partitions instead: the
    # controller carries it out and removes the znode when done.
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=c[1].zk_connect, timeout=10)
    zk.start(timeout=10)
    try:
        zk.create("/admin/reassign_partitions", json.dumps({"version": 1, "partitions": [
            {"topic": topic, "partition": 0, "replicas": [1, 3]}]}).encode())
        wait_moved(c, topic, [1, 3])
        deadline = time.monotonic() + 30
        while zk.exists("/admin/reassign_partitions"):
            assert time.monotonic() < deadline, "/admin/reassign_partitions is still there"
            time.sleep(0.2)
        assigned = json.loads(zk.get(f"/brokers/topics/{topic}")[0])
        assert assigned["partitions"]["0"] == [1, 3] and assigned["adding_replicas"] == {} \
            and assigned["removing_replicas"] == {}, assigned
    finally:
        zk.stop()
        zk.close()
