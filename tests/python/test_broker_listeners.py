"""Several listeners per broker, Kafka's INTERNAL/EXTERNAL split as docker
and Kubernetes deployments use it:

    listeners=INTERNAL://127.0.0.1:p,EXTERNAL://127.0.0.1:q
    advertised.listeners=INTERNAL://127.0.0.1:p,EXTERNAL://localhost:q
    listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT
    inter.broker.listener.name=INTERNAL

Every listener is bound, /brokers/ids/N lists every endpoint in Kafka's
format, Metadata / FindCoordinator / DescribeCluster answer with the
endpoints of the listener the request came in on (a broker without it is
left out), followers replicate over INTERNAL, and confluent-kafka works
through either listener. The advertised EXTERNAL host is `localhost` so the
two listeners' answers differ.

Runs against the rill keeper only: listeners do not depend on the keeper.
"""

import json
import struct
import subprocess
import uuid

import pytest
from kazoo.client import KazooClient

from conftest import _report_server_log
from broker_server import (BrokerServer, KafkaConn, consume_all_confluent, kstring,
                           unique_topic)
from keeper_server import free_port, rill_bin

pytestmark = [pytest.mark.keeper_timeout(300),
              pytest.mark.parametrize("kind", ["rill"], indirect=True)]

FIND_COORDINATOR = 10
LEADER_NOT_AVAILABLE = 5


def listener_broker(zk_connect, broker_id, name, external=True):
    """A broker with INTERNAL (and EXTERNAL) listeners; `port` is INTERNAL's."""
    b = BrokerServer(zk_connect, name=f"{name}-{broker_id}", broker_id=broker_id,
                     session_timeout_ms=4000,
                     overrides={"offsets.topic.replication.factor": "2",
                                "offsets.topic.num.partitions": "2",
                                "default.replication.factor": "2",
                                "replica.lag.time.max.ms": "3000",
                                "replica.fetch.wait.max.ms": "200"})
    internal = f"INTERNAL://127.0.0.1:{b.port}"
    b.external_port = free_port() if external else None
    listeners = [internal] + ([f"EXTERNAL://127.0.0.1:{b.external_port}"] if external else [])
    advertised = [internal] + ([f"EXTERNAL://localhost:{b.external_port}"] if external else [])
    b.props.update({
        "listeners": ",".join(listeners),
        "advertised.listeners": ",".join(advertised),
        "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
    })
    return b


@pytest.fixture
def two_listener_cluster(broker_keeper, request):
    chroot = f"/l-{uuid.uuid4().hex[:10]}"
    zk_connect = f"{broker_keeper.hosts}{chroot}"
    made = []

    def start(broker_id, external=True):
        b = listener_broker(zk_connect, broker_id, request.node.name[:30], external)
        made.append(b)
        b.start()
        return b

    brokers = [start(1), start(2)]
    for b in brokers:
        wait(f"broker {b.broker_id} to see both", lambda b=b: len(metadata_brokers(b.port)[1]) == 2)
    yield brokers, start, broker_keeper.hosts, chroot
    for b in made:
        _report_server_log(request, b)
        b.cleanup()


def metadata_brokers(port, topics=None):
    with KafkaConn("127.0.0.1", port) as c:
        md = c.metadata(topics, allow_auto_create=False, version=4)
    return md, sorted((b["node_id"], b["host"], b["port"]) for b in md["brokers"])


def find_coordinator(port, group):
    """FindCoordinator v0: (error, node_id, host, port)."""
    with KafkaConn("127.0.0.1", port) as c:
        r = c.call(FIND_COORDINATOR, 0, kstring(group))
        return r.i16(), r.i32(), r.string(), r.i32()


def wait(what, predicate, timeout=30.0):
    import time
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def test_registration_and_answers_per_listener(two_listener_cluster):
    (b1, b2), start, zk_hosts, chroot = two_listener_cluster

    # /brokers/ids/N: every endpoint, the protocol map, host/port of the
    # first PLAINTEXT endpoint (Kafka's BrokerInfo, version 5).
    zk = KazooClient(hosts=zk_hosts)
    zk.start(timeout=10)
    try:
        data, _ = zk.get(f"{chroot}/brokers/ids/1")
    finally:
        zk.stop()
        zk.close()
    reg = json.loads(data)
    assert reg["version"] == 5
    assert reg["endpoints"] == [f"INTERNAL://127.0.0.1:{b1.port}",
                                f"EXTERNAL://localhost:{b1.external_port}"]
    assert reg["listener_security_protocol_map"] == {"INTERNAL": "PLAINTEXT",
                                                     "EXTERNAL": "PLAINTEXT"}
    assert (reg["host"], reg["port"]) == ("127.0.0.1", b1.port)

    # Metadata answers with the endpoints of the listener it arrived on.
    _, internal = metadata_brokers(b1.port)
    assert internal == [(1, "127.0.0.1", b1.port), (2, "127.0.0.1", b2.port)]
    _, external = metadata_brokers(b2.external_port)
    assert external == [(1, "localhost", b1.external_port), (2, "localhost", b2.external_port)]

    # FindCoordinator too (creating __consumer_offsets, replicated over INTERNAL).
    err, node, host, port = wait("a group coordinator",
                                 lambda: (r := find_coordinator(b1.external_port, "g1"))[0] == 0
                                 and r)
    assert (host, port) == ("localhost", [b1, b2][node - 1].external_port)
    err, node2, host, port = find_coordinator(b1.port, "g1")
    assert (err, node2, host, port) == (0, node, "127.0.0.1", [b1, b2][node - 1].port)

    # DescribeCluster (confluent-kafka's admin client) through each listener.
    from confluent_kafka.admin import AdminClient
    for bootstrap, expected in ((f"127.0.0.1:{b1.port}", internal),
                                (f"localhost:{b2.external_port}", external)):
        a = AdminClient({"bootstrap.servers": bootstrap})
        desc = a.describe_cluster(request_timeout=10).result(10)
        assert sorted((n.id, n.host, n.port) for n in desc.nodes) == expected
        assert desc.controller is not None

    # A third broker with INTERNAL only: listed on INTERNAL, left out on
    # EXTERNAL; a partition it leads is LEADER_NOT_AVAILABLE there (v4;
    # LISTENER_NOT_FOUND from v6 on).
    b3 = start(3, external=False)
    wait("broker 3 on INTERNAL", lambda: len(metadata_brokers(b1.port)[1]) == 3)
    assert [b[0] for b in metadata_brokers(b1.external_port)[1]] == [1, 2]
    topic = unique_topic("only3")
    out = subprocess.run([rill_bin(), "topics", "--bootstrap-server", f"127.0.0.1:{b3.port}",
                          "--create", "--topic", topic, "--replica-assignment", "3"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    md = wait("the topic on broker 1", lambda: (m := metadata_brokers(b1.external_port,
                                                                      [topic])[0])
              ["topics"].get(topic) and m)
    part = md["topics"][topic]["partitions"][0]
    assert (part["leader"], part["error"]) == (3, LEADER_NOT_AVAILABLE)
    md, _ = metadata_brokers(b1.port, [topic])
    assert md["topics"][topic]["partitions"][0]["error"] == 0
    # librdkafka asks with a recent Metadata version: LISTENER_NOT_FOUND.
    from confluent_kafka import KafkaError
    a = AdminClient({"bootstrap.servers": f"localhost:{b1.external_port}"})
    part = a.list_topics(topic=topic, timeout=10).topics[topic].partitions[0]
    assert part.leader == 3 and part.error.code() == KafkaError.LISTENER_NOT_FOUND, part


def test_clients_through_each_listener(two_listener_cluster):
    """confluent-kafka produces and consumes through EXTERNAL (advertised as
    localhost) and INTERNAL; the followers replicate over INTERNAL."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    (b1, b2), _start, _zk, _chroot = two_listener_cluster
    external = f"localhost:{b1.external_port},localhost:{b2.external_port}"
    internal = f"127.0.0.1:{b1.port},127.0.0.1:{b2.port}"
    topic = unique_topic("split")
    a = AdminClient({"bootstrap.servers": external})
    fs = a.create_topics([NewTopic(topic, num_partitions=2, replication_factor=2)],
                         operation_timeout=30)
    fs[topic].result(30)

    def in_sync():
        md, _ = metadata_brokers(b1.port, [topic])
        parts = md["topics"][topic]["partitions"]
        return len(parts) == 2 and all(p["leader"] > 0 and len(p["isr"]) == 2 for p in parts)
    wait("both partitions led with 2 in-sync replicas", in_sync)

    sent = []
    for n, bootstrap in enumerate((external, internal)):
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                      "message.timeout.ms": 30000})
        errors = []
        for i in range(100):
            value = f"{n}-{i}".encode()
            sent.append(value)
            p.produce(topic, value=value, partition=i % 2,
                      on_delivery=lambda err, _m: err and errors.append(err))
        assert p.flush(60) == 0 and not errors, errors
    for bootstrap in (external, internal):
        got = consume_all_confluent(bootstrap, topic, 2)
        assert sorted(v for recs in got.values() for (_o, _k, v, _t) in recs) == sorted(sent)

    # The followers' copies are complete: replication used INTERNAL.
    def replicated():
        md, _ = metadata_brokers(b2.port, [topic])
        return all(len(p["isr"]) == 2 for p in md["topics"][topic]["partitions"])
    wait("followers in sync after the writes", replicated)
    for b in (b1, b2):
        assert "INTERNAL" in b.log_text() and "inter-broker listener INTERNAL" in b.log_text()


@pytest.mark.parametrize("props, message", [
    ({"listeners": "PLAINTEXT://127.0.0.1:{p},SSL://127.0.0.1:{q}"},
     "listener SSL://127.0.0.1:{q} maps to SSL (SSL:SSL in listener.security.protocol.map)"),
    ({"listeners": "INTERNAL://127.0.0.1:{p},EXTERNAL://127.0.0.1:{q}",
      "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL",
      "inter.broker.listener.name": "INTERNAL"},
     "EXTERNAL:SASL_SSL"),
    ({"listeners": "INTERNAL://127.0.0.1:{p},EXTERNAL://127.0.0.1:{q}",
      "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT"},
     "inter.broker.listener.name must be a listener name defined in advertised.listeners"),
])
def test_listener_config_errors(tmp_path, kind, props, message):
    """SSL/SASL listeners and a missing inter-broker listener stop the broker
    with a message naming them, before it touches ZooKeeper."""
    p, q = free_port(), free_port()
    cfg = tmp_path / "server.properties"
    lines = {"broker.id": "1", "zookeeper.connect": "127.0.0.1:1", "log.dirs": str(tmp_path / "l")}
    lines.update({k: v.format(p=p, q=q) for k, v in props.items()})
    cfg.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    out = subprocess.run([rill_bin(), "broker", "--config", str(cfg)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode != 0
    assert message.format(p=p, q=q) in out.stderr, out.stderr
