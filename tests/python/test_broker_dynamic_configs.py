"""Dynamic broker configs, as `kafka-configs.sh --alter --entity-type brokers`
sets them: stored in /config/brokers/<id> and /config/brokers/<default> with
a /config/changes notification, described with the sources
DYNAMIC_BROKER_CONFIG / DYNAMIC_DEFAULT_BROKER_CONFIG, applied live to the
logs of topics without their own override, followed by the other brokers;
read-only keys refused with Kafka's error. Driven by `rill configs` and
confluent-kafka against a 2-broker cluster (rill keeper only).
"""

import json
import os
import subprocess
import time

import pytest
from kazoo.client import KazooClient

from broker_server import unique_topic
from keeper_server import rill_bin

pytestmark = [pytest.mark.keeper_timeout(300),
              pytest.mark.parametrize("kind", ["rill"], indirect=True)]

DYNAMIC_BROKER_CONFIG = 2
DYNAMIC_DEFAULT_BROKER_CONFIG = 3
STATIC_BROKER_CONFIG = 4


@pytest.fixture
def cluster(broker_cluster):
    # Retention is checked every 300 ms so a lowered log.retention.ms shows quickly.
    return broker_cluster(size=2, overrides={"log.retention.check.interval.ms": "300",
                                             "log.retention.hours": "168"})


def configs_cli(cluster, *args, check=True):
    p = subprocess.run([rill_bin(), "configs", "--bootstrap-server", cluster.bootstrap, *args],
                       capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, f"rill configs {args}: {p.stderr}"
    return p


def describe_broker(bootstrap, broker_id):
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
    res = ConfigResource(ResourceType.BROKER, str(broker_id))
    a = AdminClient({"bootstrap.servers": bootstrap})
    return a.describe_configs([res])[res].result(20)


def wait(what, predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def zk_json(cluster, path):
    hosts, chroot = cluster[1].zk_connect.split("/", 1)
    zk = KazooClient(hosts=hosts)
    zk.start(timeout=10)
    try:
        data, _ = zk.get(f"/{chroot}{path}")
        changes = sorted(zk.get_children(f"/{chroot}/config/changes"))
        last, _ = zk.get(f"/{chroot}/config/changes/{changes[-1]}")
        return json.loads(data), json.loads(last)
    finally:
        zk.stop()
        zk.close()


def segment_files(broker, topic):
    d = broker.partition_dir(topic, 0)
    return sorted(f for f in os.listdir(d) if f.endswith(".log")) if os.path.isdir(d) else []


def test_cluster_default_and_per_broker_configs(cluster):
    from confluent_kafka import Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    b1, b2 = cluster[1], cluster[2]
    topic = unique_topic("dyn")
    a = AdminClient({"bootstrap.servers": cluster.bootstrap})
    a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=2)])[topic].result(30)
    wait("the topic in sync", lambda: len(cluster.partition(topic)["isr"]) == 2)

    # The cluster default, set with the CLI, lands where Kafka keeps it.
    out = configs_cli(cluster, "--alter", "--entity-type", "brokers", "--entity-default",
                      "--add-config", "log.segment.bytes=2048,log.retention.ms=600000")
    assert out.stdout.strip() == "Completed updating default config for brokers in the cluster."
    stored, change = zk_json(cluster, "/config/brokers/<default>")
    assert stored == {"version": 1, "config": {"log.segment.bytes": "2048",
                                               "log.retention.ms": "600000"}}
    assert change == {"version": 2, "entity_path": "brokers/<default>"}
    out = configs_cli(cluster, "--describe", "--entity-type", "brokers", "--entity-default")
    assert out.stdout.splitlines()[0] == "Default configs for brokers in the cluster are:"
    assert "  log.segment.bytes=2048 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:" \
           "log.segment.bytes=2048}" in out.stdout

    # Every broker follows it, with Kafka's source.
    for b in (b1, b2):
        wait(f"broker {b.broker_id} to apply the default", lambda b=b: describe_broker(
            cluster.bootstrap, b.broker_id)["log.segment.bytes"].value == "2048")
        entry = describe_broker(cluster.bootstrap, b.broker_id)["log.retention.ms"]
        assert (entry.value, entry.source) == ("600000", DYNAMIC_DEFAULT_BROKER_CONFIG)

    # Applied live to the existing topic (no override of its own): new
    # 2 KB segments on the leader and the follower.
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "linger.ms": 0,
                  "batch.size": 1000})
    for i in range(60):
        p.produce(topic, value=b"x" * 500, partition=0)
        p.flush(30)
    for b in (b1, b2):
        wait(f"small segments on broker {b.broker_id}", lambda b=b: len(segment_files(b, topic)) > 5)

    # A per-broker value beats the default on that broker only.
    out = configs_cli(cluster, "--alter", "--entity-type", "brokers", "--entity-name", "1",
                      "--add-config", "log.retention.ms=1000")
    assert out.stdout.strip() == "Completed updating config for broker 1."
    stored, change = zk_json(cluster, "/config/brokers/1")
    assert stored["config"] == {"log.retention.ms": "1000"}
    assert change["entity_path"] == "brokers/1"
    entry = describe_broker(cluster.bootstrap, 1)["log.retention.ms"]
    assert (entry.value, entry.source) == ("1000", DYNAMIC_BROKER_CONFIG)
    out = configs_cli(cluster, "--describe", "--entity-type", "brokers", "--entity-name", "1")
    assert out.stdout.splitlines()[0] == "Dynamic configs for broker 1 are:"
    assert "  log.retention.ms=1000 sensitive=false synonyms={" \
           "DYNAMIC_BROKER_CONFIG:log.retention.ms=1000, " \
           "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=600000, " \
           "STATIC_BROKER_CONFIG:log.retention.hours=168, " \
           "DEFAULT_CONFIG:log.retention.hours=168}" in out.stdout, out.stdout
    time.sleep(1.5)
    assert describe_broker(cluster.bootstrap, 2)["log.retention.ms"].value == "600000"

    # ... and is applied live: broker 1's retention pass drops the old
    # segments it holds (its first segment moves up).
    def first_segment(b):
        files = segment_files(b, topic)
        return int(files[0][:-4]) if files else None
    wait("broker 1 to delete expired segments", lambda: (first_segment(b1) or 0) > 0)
    leader = cluster.partition(topic)["leader"]
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "x"})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()
    assert high == 60 and (low > 0) == (leader == 1)

    # --delete-config goes back to the layer below.
    configs_cli(cluster, "--alter", "--entity-type", "brokers", "--entity-name", "1",
                "--delete-config", "log.retention.ms")
    entry = describe_broker(cluster.bootstrap, 1)["log.retention.ms"]
    assert (entry.value, entry.source) == ("600000", DYNAMIC_DEFAULT_BROKER_CONFIG)
    configs_cli(cluster, "--alter", "--entity-type", "brokers", "--entity-default",
                "--delete-config", "log.retention.ms,log.segment.bytes")
    entry = describe_broker(cluster.bootstrap, 1)["log.retention.hours"]
    assert (entry.value, entry.source) == ("168", STATIC_BROKER_CONFIG)


def test_refusals_and_confluent_kafka(cluster):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                       ConfigResource, ResourceType)
    cases = [
        (["--entity-name", "1", "--add-config", "broker.id=5"],
         "Invalid config value for resource ConfigResource(type=BROKER, name='1'): "
         "Cannot update these configs dynamically: Set(broker.id)"),
        (["--entity-default", "--add-config", "log.retention.hours=1"],
         "Cannot update these configs dynamically: Set(log.retention.hours)"),
        (["--entity-default", "--add-config", "advertised.listeners=PLAINTEXT://h:1"],
         "Cannot update these configs at default cluster level, broker id must be specified: "
         "Set(advertised.listeners)"),
        (["--entity-name", "1", "--add-config", "num.io.threads=4"],
         "Rill does not apply these configs at runtime yet"),
        (["--entity-name", "1", "--add-config", "log.retention.msx=4"],
         "Unknown broker configs: Set(log.retention.msx)"),
        (["--entity-name", "1", "--add-config", "log.retention.ms=soon"],
         "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"),
    ]
    for args, message in cases:
        out = configs_cli(cluster, "--alter", "--entity-type", "brokers", *args, check=False)
        assert out.returncode != 0 and message in out.stderr, (args, out.stderr)
    # Nothing was stored.
    assert describe_broker(cluster.bootstrap, 1)["log.retention.ms"].source != \
        DYNAMIC_BROKER_CONFIG

    # confluent-kafka's IncrementalAlterConfigs, sent to broker 2 itself.
    a = AdminClient({"bootstrap.servers": cluster.bootstrap})
    res = ConfigResource(ResourceType.BROKER, "2", incremental_configs=[
        ConfigEntry("log.retention.bytes", "1000000",
                    incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("log.cleanup.policy", "compact",
                    incremental_operation=AlterConfigOpType.APPEND)])
    a.incremental_alter_configs([res])[res].result(20)
    configs = describe_broker(cluster.bootstrap, 2)
    assert (configs["log.retention.bytes"].value, configs["log.retention.bytes"].source) == \
        ("1000000", DYNAMIC_BROKER_CONFIG)
    assert configs["log.cleanup.policy"].value == "delete,compact"
    # validate_only stores nothing; a read-only key is Kafka's INVALID_REQUEST.
    dry = ConfigResource(ResourceType.BROKER, "2", incremental_configs=[
        ConfigEntry("log.retention.bytes", "5", incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([dry], validate_only=True)[dry].result(20)
    assert describe_broker(cluster.bootstrap, 2)["log.retention.bytes"].value == "1000000"
    bad = ConfigResource(ResourceType.BROKER, "2", incremental_configs=[
        ConfigEntry("log.dirs", "/x", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as e:
        a.incremental_alter_configs([bad])[bad].result(20)
    assert e.value.args[0].code() == 42  # INVALID_REQUEST
    assert "Set(log.dirs)" in e.value.args[0].str()
