"""Kafka's and ZooKeeper's command-line tools, as the seeds call them.

Every command runs through the scripts in bin/ (kafka-topics.sh, ...), which
run `rill <tool>` (RILL_BIN is set to the binary under test), against a
`rill dev` on loopback; results are checked with independent clients
(confluent-kafka, kcat, kafka-python's partitioner) where that makes sense.

Consumer groups: against the rill broker these tests skip, naming the reason,
while it does not list the group APIs (FindCoordinator, JoinGroup, ...); they
run once it does. Meanwhile the same tools are checked against two independent
implementations of the protocol: librdkafka's mock cluster (a real TCP broker
with group membership, for `console-consumer --group`) and a scripted broker
built on kafka-python's message classes (fake_group_broker.py, for
`kafka-consumer-groups.sh`, whose --describe output must equal the golden file).
"""

import os
import re
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from broker_server import (BrokerServer, DevServer, HOST, ServerStartError, admin_client,
                           console_round_trip, consume_all_confluent, kcat, unique_topic,
                           wait_topic)
from conftest import skip_if_unavailable
from keeper_server import REPO_ROOT, free_port, rill_bin

BIN = os.path.join(REPO_ROOT, "bin")
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
GROUP_API_KEYS = {10: "FindCoordinator", 11: "JoinGroup", 14: "SyncGroup", 12: "Heartbeat",
                  8: "OffsetCommit", 9: "OffsetFetch", 16: "ListGroups", 15: "DescribeGroups",
                  42: "DeleteGroups"}


def env():
    e = dict(os.environ)
    e["RILL_BIN"] = rill_bin()
    return e


def run(script, *args, input=None, timeout=60, check=None):
    """Runs bin/<script> with args; returns CompletedProcess (text)."""
    p = subprocess.run([os.path.join(BIN, script), *args], input=input, capture_output=True,
                       text=True, timeout=timeout, env=env())
    if check is True:
        assert p.returncode == 0, f"{script} {' '.join(args)} exited {p.returncode}\n" \
                                  f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}"
    return p


def ok(script, *args, **kw):
    return run(script, *args, check=True, **kw)


@pytest.fixture(scope="module")
def dev():
    skip_if_unavailable("rill")
    d = DevServer(name="cli")
    d.start()
    yield d
    if not d.running():
        import sys
        sys.stderr.write(f"\n----- rill dev exited early; log tail ({d.log_path}) -----\n"
                         f"{d.log_tail(80)}\n")
    d.cleanup()


@pytest.fixture
def bootstrap(dev):
    return dev.bootstrap


def missing_group_apis(bootstrap):
    from broker_server import KafkaConn
    host, port = bootstrap.rsplit(":", 1)
    with KafkaConn(host, int(port)) as c:
        _, apis = c.api_versions()
    return [name for key, name in GROUP_API_KEYS.items() if key not in apis]


@pytest.fixture
def groups_supported(bootstrap):
    missing = missing_group_apis(bootstrap)
    if missing:
        pytest.skip("the broker does not list the consumer-group APIs yet "
                    f"({', '.join(missing)}); these tests run once it does")


# ---------------------------------------------------------------------------- seed 000
def test_seed000_console_producer_then_consumer_from_beginning(bootstrap):
    """`./kafka-console-producer.sh --broker-list B --topic xiaopalu` then
    `./kafka-console-consumer.sh --bootstrap-server B --topic xiaopalu --from-beginning`
    (the seed's exact command lines; one broker plays both addresses here,
    test_broker_cluster.py runs them through brokers 1 and 3)."""
    topic = unique_topic("xiaopalu")
    lines = [f"message {i} 你好" for i in range(50)]
    got, err, code = console_round_trip(bootstrap, bootstrap, topic, lines)
    # One partition (num.partitions=1 in rill dev): order is preserved.
    assert got == lines
    assert f"Processed a total of {len(lines)} messages" in err
    assert code == 0
    # An independent client sees the same records.
    records = consume_all_confluent(bootstrap, topic, 1)
    assert [v.decode() for (_, _, v, _) in records[0]] == lines


def test_console_consumer_reads_what_kcat_produced_and_vice_versa(bootstrap):
    topic = unique_topic("cross")
    kcat("-b", bootstrap, "-t", topic, "-P", "-K", ":", input=b"k1:from-kcat\n")
    ok("kafka-console-producer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
       "--property", "parse.key=true", "--property", "key.separator=:", "--sync",
       input="k2:from-rill\n")
    p = ok("kafka-console-consumer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
           "--from-beginning", "--max-messages", "2", "--property", "print.key=true",
           "--property", "print.offset=true", "--property", "print.partition=true")
    assert p.stdout.splitlines() == ["Partition:0\tOffset:0\tk1\tfrom-kcat",
                                     "Partition:0\tOffset:1\tk2\tfrom-rill"]
    assert "Processed a total of 2 messages" in p.stderr
    out = kcat("-b", bootstrap, "-t", topic, "-C", "-o", "beginning", "-c", "2", "-e",
               "-f", "%k=%s\n").stdout.decode()
    assert out.splitlines() == ["k1=from-kcat", "k2=from-rill"]


def test_console_producer_sends_what_it_read_when_interrupted(bootstrap):
    """Ctrl-C while lines wait for their batch: they are sent before exiting."""
    topic = unique_topic("sigint")
    ok("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", topic)
    wait_topic(bootstrap, topic, 1)
    prod = subprocess.Popen([os.path.join(BIN, "kafka-console-producer.sh"), "--bootstrap-server",
                             bootstrap, "--topic", topic, "--timeout", "60000"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env())
    prod.stdin.write("one\ntwo\n")
    prod.stdin.flush()
    time.sleep(1.5)
    prod.send_signal(signal.SIGINT)
    out, err = prod.communicate(timeout=30)
    assert prod.returncode == 0, err
    assert out == ""  # no '>' prompts when stdin is not a terminal
    records = consume_all_confluent(bootstrap, topic, 1)
    assert [v for (_, _, v, _) in records[0]] == [b"one", b"two"]


def test_console_producer_acks_zero_and_producer_property(bootstrap):
    """acks=0 requests get no answer: the records still arrive, and later
    requests on the connection are not confused by the missing answers."""
    topic = unique_topic("acks0")
    ok("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", topic)
    wait_topic(bootstrap, topic, 1)
    ok("kafka-console-producer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
       "--request-required-acks", "0", "--batch-size", "2", input="a\nb\nc\nd\ne\n")
    ok("kafka-console-producer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
       "--producer-property", "acks=1", "--producer-property", "compression.type=lz4",
       input="f\n")
    p = ok("kafka-console-consumer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
           "--from-beginning", "--max-messages", "6")
    assert p.stdout.split() == ["a", "b", "c", "d", "e", "f"]


def test_keyed_records_land_where_the_java_partitioner_puts_them(bootstrap):
    from kafka.partitioner.default import murmur2
    topic = unique_topic("keys")
    ok("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
       "--partitions", "4", "--replication-factor", "1")
    wait_topic(bootstrap, topic, 4)
    keys = [f"user-{i}" for i in range(40)]
    ok("kafka-console-producer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
       "--property", "parse.key=true", "--property", "key.separator=|",
       input="".join(f"{k}|v-{k}\n" for k in keys))
    records = consume_all_confluent(bootstrap, topic, 4)
    for p, recs in records.items():
        for (_, k, v, _) in recs:
            assert (murmur2(k) & 0x7fffffff) % 4 == p, k
            assert v == b"v-" + k
    assert sum(len(r) for r in records.values()) == len(keys)


def test_console_consumer_partition_offset_and_formatting(bootstrap):
    topic = unique_topic("fmt")
    ok("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
       "--partitions", "2", "--replication-factor", "1")
    wait_topic(bootstrap, topic, 2)
    kcat("-b", bootstrap, "-t", topic, "-P", "-p", "1", input=b"a\nb\nc\nd\n")
    p = ok("kafka-console-consumer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
           "--partition", "1", "--offset", "2", "--max-messages", "2",
           "--property", "print.timestamp=true", "--property", "print.offset=true",
           "--property", "key.separator= | ")
    lines = p.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"CreateTime:\d{13} \| Offset:2 \| c", lines[0]), lines[0]
    assert re.fullmatch(r"CreateTime:\d{13} \| Offset:3 \| d", lines[1]), lines[1]
    # --timeout-ms ends a consumer that has nothing (more) to read, exit code 0 like Kafka.
    start = time.monotonic()
    p = ok("kafka-console-consumer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
           "--partition", "0", "--offset", "earliest", "--timeout-ms", "1000")
    assert p.stdout == "" and time.monotonic() - start < 15
    assert "Processed a total of 0 messages" in p.stderr
    # Bad flags say what is wrong and exit non-zero.
    p = run("kafka-console-consumer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
            "--offset", "5")
    assert p.returncode != 0 and "--offset needs --partition" in p.stderr


def test_console_consumer_include_regex_and_headers(bootstrap):
    prefix = f"inc{uuid.uuid4().hex[:6]}"
    for name in ("a", "b"):
        kcat("-b", bootstrap, "-t", f"{prefix}-{name}", "-P", "-H", "h1=x", input=f"{name}\n".encode())
    kcat("-b", bootstrap, "-t", f"other{prefix}", "-P", input=b"no\n")
    p = ok("kafka-console-consumer.sh", "--bootstrap-server", bootstrap, "--include", f"{prefix}-.*",
           "--from-beginning", "--max-messages", "2", "--property", "print.headers=true")
    assert sorted(p.stdout.splitlines()) == ["h1:x\ta", "h1:x\tb"]


# ---------------------------------------------------------------------------- seed 001
def test_seed001_topic_commands_and_describe_golden(bootstrap):
    topic = unique_topic("ops")
    p = ok("kafka-topics.sh", "--create", "--bootstrap-server", bootstrap, "--replication-factor",
           "1", "--partitions", "3", "--topic", topic, "--config", "retention.ms=86400000")
    assert p.stdout.strip() == f"Created topic {topic}."
    wait_topic(bootstrap, topic, 3)
    listed = ok("kafka-topics.sh", "--list", "--bootstrap-server", bootstrap).stdout.splitlines()
    assert topic in listed and listed == sorted(listed)
    out = ok("kafka-topics.sh", "--describe", "--bootstrap-server", bootstrap, "--topic", topic).stdout
    topic_id = re.search(r"TopicId: (\S+)", out).group(1)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", topic_id)
    with open(os.path.join(GOLDEN, "topics_describe.txt")) as f:
        expected = f.read().replace("{topic}", topic).replace("{topic_id}", topic_id)
    assert out == expected
    # Nothing is under-replicated or unavailable on a healthy single broker.
    for flag in ("--under-replicated-partitions", "--unavailable-partitions"):
        assert ok("kafka-topics.sh", "--describe", "--bootstrap-server", bootstrap, "--topic",
                  topic, flag).stdout == ""
    # Creating it again fails with Kafka's message, unless --if-not-exists.
    p = run("kafka-topics.sh", "--create", "--bootstrap-server", bootstrap, "--topic", topic)
    assert p.returncode == 1 and f"Topic '{topic}' already exists." in p.stderr
    ok("kafka-topics.sh", "--create", "--bootstrap-server", bootstrap, "--topic", topic,
       "--if-not-exists")
    # Alter: more partitions, seen by an independent client.
    ok("kafka-topics.sh", "--alter", "--bootstrap-server", bootstrap, "--topic", topic,
       "--partitions", "5")
    wait_topic(bootstrap, topic, 5)
    # Delete, then it is gone for confluent-kafka too.
    ok("kafka-topics.sh", "--delete", "--bootstrap-server", bootstrap, "--topic", topic)
    deadline = time.monotonic() + 30
    while topic in admin_client(bootstrap).list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, "topic still listed 30 s after --delete"
        time.sleep(0.2)
    p = run("kafka-topics.sh", "--describe", "--bootstrap-server", bootstrap, "--topic", topic)
    assert p.returncode == 1 and f"Topic '{topic}' does not exist as expected" in p.stderr


def test_topics_replica_assignment_and_usage_errors(bootstrap):
    topic = unique_topic("assign")
    ok("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
       "--replica-assignment", "1,1")
    t = wait_topic(bootstrap, topic, 2)
    assert all(list(p.replicas) == [1] for p in t.partitions.values())
    p = run("kafka-topics.sh", "--bootstrap-server", bootstrap, "--list", "--describe")
    assert p.returncode != 0 and "exactly one action" in p.stderr
    p = run("kafka-topics.sh", "--zookeeper", "127.0.0.1:2181", "--list")
    assert p.returncode != 0 and "--bootstrap-server" in p.stderr


def test_unreachable_bootstrap_names_address_and_time():
    port = free_port()
    start = time.monotonic()
    p = run("kafka-topics.sh", "--bootstrap-server", f"127.0.0.1:{port}", "--list", timeout=60)
    assert p.returncode != 0
    assert f"127.0.0.1:{port}" in p.stderr and re.search(r"tried for \d+\.\d s", p.stderr), p.stderr
    assert time.monotonic() - start < 30


# ---------------------------------------------------------------------------- seed 003
def test_seed003_broker_api_versions(bootstrap):
    p = ok("kafka-broker-api-versions.sh", f"--bootstrap-server={bootstrap}")
    lines = p.stdout.splitlines()
    assert lines[0] == f"{bootstrap} (id: 1 rack: null) -> ("
    assert lines[-1] == ")"
    assert re.fullmatch(r"\tApiVersions\(18\): 0 to \d+ \[usable: \d+\],", 
                        next(l for l in lines if "ApiVersions(18)" in l))
    assert any(re.fullmatch(r"\tProduce\(0\): \d+ to \d+ \[usable: \d+\],", l) for l in lines)
    # The liveness probe's use: the exit code says whether the broker answers.
    p = run("kafka-broker-api-versions.sh", f"--bootstrap-server=127.0.0.1:{free_port()}")
    assert p.returncode != 0


# ---------------------------------------------------------------------------- servers
def test_zkserver_sh_start_status_stop_with_seed_style_zoo_cfg():
    skip_if_unavailable("rill")
    with tempfile.TemporaryDirectory(prefix="zkserver-") as root:
        os.makedirs(os.path.join(root, "conf"))
        port = free_port()
        # Comments after values, as seed 000 writes them.
        with open(os.path.join(root, "conf", "zoo.cfg"), "w") as f:
            f.write(f"tickTime=2000 \ninitLimit=10\nsyncLimit=5\n"
                    f"dataDir={root}/data   #zookeeper myid\n"
                    f"clientPort={port}   #port\nmaxSessionTimeout=300000\n"
                    f"4lw.commands.whitelist=*\n")
        zk = lambda *a: subprocess.run([os.path.join(BIN, "zkServer.sh"), *a], cwd=root,
                                       capture_output=True, text=True, timeout=60, env=env())
        try:
            p = zk("start", "conf/zoo.cfg")
            assert p.returncode == 0 and "STARTED" in p.stdout, p
            assert "Using config: conf/zoo.cfg" in p.stderr
            assert os.path.exists(os.path.join(root, "data", "zookeeper_server.pid"))
            deadline = time.monotonic() + 20
            while True:
                p = zk("status", "conf/zoo.cfg")
                if p.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert p.returncode == 0 and "Mode: standalone" in p.stdout, p
            # zkCli.sh one-shot against it.
            p = ok("zkCli.sh", "-server", f"{HOST}:{port}", "ls", "/")
            assert "[zookeeper]" in p.stdout
        finally:
            p = zk("stop", "conf/zoo.cfg")
        assert p.returncode == 0 and "STOPPED" in p.stdout, p
        p = zk("status", "conf/zoo.cfg")
        assert p.returncode != 0 and "Mode:" not in p.stdout
        # Seed 000's supervisor line: `zkServer.sh start-foreground`, no argument: the
        # config is zoo.cfg in $ZOOCFGDIR (here set; by default <repo>/conf).
        e = env()
        e["ZOOCFGDIR"] = os.path.join(root, "conf")
        fg = subprocess.Popen([os.path.join(BIN, "zkServer.sh"), "start-foreground"], cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)
        try:
            deadline = time.monotonic() + 20
            while True:
                p = subprocess.run([os.path.join(BIN, "zkServer.sh"), "status"], cwd=root,
                                   capture_output=True, text=True, timeout=30, env=e)
                if p.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert p.returncode == 0 and "Mode: standalone" in p.stdout, p
            assert f"Using config: {root}/conf/zoo.cfg" in p.stderr
        finally:
            fg.send_signal(signal.SIGTERM)
            assert fg.wait(20) == 0


SEED003_OVERRIDES = os.path.join(REPO_ROOT, "crates", "broker", "src", "config", "testdata",
                                 "seed003_overrides.txt")


def test_seed003_kafka_server_start_with_overrides_then_api_versions_probe(dev):
    """Seed 003's container command: `kafka-server-start.sh server.properties
    --override k=v ...` with the seed's ~90 overrides (its addresses replaced by
    loopback ones; ZooKeeper is the dev server's keeper, in a chroot), probed with
    `kafka-broker-api-versions.sh --bootstrap-server=...`, then stopped with
    kafka-server-stop.sh."""
    root = tempfile.mkdtemp(prefix="kss-")
    port = free_port()
    cfg = os.path.join(root, "server.properties")
    with open(cfg, "w") as f:
        f.write("broker.id=1\n")
    local = {"broker.id": "7", "listeners": f"PLAINTEXT://{HOST}:{port}",
             "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
             "zookeeper.connect": f"{dev.zk_hosts}/kss-{uuid.uuid4().hex[:8]}",
             "log.dir": os.path.join(root, "logs")}
    overrides = []
    with open(SEED003_OVERRIDES) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key:
                overrides += ["--override", f"{key}={local.get(key, value)}"]
    assert len(overrides) > 150
    log_path = os.path.join(root, "broker.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([os.path.join(BIN, "kafka-server-start.sh"), cfg, *overrides],
                            stdout=log, stderr=subprocess.STDOUT, env=env())
    try:
        p = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            p = run("kafka-broker-api-versions.sh", f"--bootstrap-server={HOST}:{port}")
            if p.returncode == 0:
                break
            time.sleep(0.3)
        assert proc.poll() is None, open(log_path, errors="replace").read()[-3000:]
        assert p.returncode == 0 and "(id: 7 rack: null)" in p.stdout, p
        # Stop only this broker (its config path is unique to this test).
        ok("kafka-server-stop.sh", cfg)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        import shutil
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------- configs
def test_configs_alter_and_describe(bootstrap):
    topic = unique_topic("cfg")
    ok("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", topic)
    wait_topic(bootstrap, topic, 1)
    p = ok("kafka-configs.sh", "--bootstrap-server", bootstrap, "--alter", "--entity-type",
           "topics", "--entity-name", topic, "--add-config",
           "retention.ms=3600000,cleanup.policy=[compact,delete]")
    assert p.stdout.strip() == f"Completed updating config for topic {topic}."
    out = ok("kafka-configs.sh", "--bootstrap-server", bootstrap, "--describe", "--entity-type",
             "topics", "--entity-name", topic).stdout
    assert out.startswith(f"Dynamic configs for topic {topic} are:\n")
    assert "  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000" in out
    assert "  cleanup.policy=compact,delete sensitive=false" in out
    # An independent client agrees.
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource("topic", topic)
    admin = admin_client(bootstrap)  # kept alive until the result is in
    cfg = admin.describe_configs([res])[res].result(10)
    assert cfg["retention.ms"].value == "3600000"
    ok("kafka-configs.sh", "--bootstrap-server", bootstrap, "--alter", "--topic", topic,
       "--delete-config", "retention.ms")
    out = ok("kafka-configs.sh", "--bootstrap-server", bootstrap, "--describe", "--topic", topic).stdout
    assert "retention.ms=" not in out
    p = run("kafka-configs.sh", "--bootstrap-server", bootstrap, "--alter", "--topic",
            unique_topic("nope"), "--add-config", "retention.ms=1")
    assert p.returncode != 0 and "does not exist" in p.stderr


# ---------------------------------------------------------------------------- perf
def test_producer_and_consumer_perf_test_lines(bootstrap):
    topic = unique_topic("perf")
    p = ok("kafka-producer-perf-test.sh", "--topic", topic, "--num-records", "20000",
           "--record-size", "100", "--throughput", "-1", "--producer-props",
           f"bootstrap.servers={bootstrap}", "acks=1", timeout=120)
    assert re.search(r"^20000 records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, "
                     r"[\d.]+ ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99.9th\.$",
                     p.stdout, re.M), p.stdout
    # acks=0: nothing is answered, nothing waits for an answer.
    p = ok("kafka-producer-perf-test.sh", "--topic", topic, "--num-records", "5000",
           "--record-size", "100", "--throughput", "-1", "--producer-props",
           f"bootstrap.servers={bootstrap}", "acks=0", timeout=120)
    assert p.stdout.splitlines()[-1].startswith("5000 records sent, ")
    group = unique_topic("perf-group")
    p = ok("kafka-consumer-perf-test.sh", "--bootstrap-server", bootstrap, "--topic", topic,
           "--messages", "20000", "--group", group, timeout=120)
    header, line = p.stdout.splitlines()
    assert header == ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, "
                      "nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
    cols = line.split(", ")
    assert len(cols) == 10 and cols[4] == "20000"
    assert cols[2] == "1.9073"  # 20000 * 100 bytes in MiB
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}", cols[0])
    # It consumed as a member of the group and committed where it stopped,
    # so a second run has nothing left to read before its timeout.
    d = ok("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--describe",
           "--group", group)
    assert re.search(rf"^{group}\s+{topic}\s+0\s+20000\s+25000\s+5000\s", d.stdout, re.M), d.stdout
    p = ok("kafka-consumer-perf-test.sh", "--bootstrap-server", bootstrap, "--topic", topic,
           "--messages", "5000", "--group", group, timeout=120)
    assert p.stdout.splitlines()[-1].split(", ")[4] == "5000"


# ---------------------------------------------------------------------------- help
@pytest.mark.parametrize("script", ["kafka-topics.sh", "kafka-console-producer.sh",
                                    "kafka-console-consumer.sh", "kafka-consumer-groups.sh",
                                    "kafka-configs.sh", "kafka-broker-api-versions.sh",
                                    "kafka-consumer-perf-test.sh", "kafka-producer-perf-test.sh",
                                    "kafka-dump-log.sh", "kafka-leader-election.sh",
                                    "kafka-reassign-partitions.sh"])
def test_every_tool_has_help_with_an_example(script):
    skip_if_unavailable("rill")
    p = ok(script, "--help")
    assert re.search(r"Examples?:", p.stdout), p.stdout


def test_bin_scripts_find_the_binary_without_rill_bin(tmp_path):
    """Without RILL_BIN the scripts use <repo>/target/{release,debug}/rill or PATH."""
    skip_if_unavailable("rill")
    e = dict(os.environ)
    e.pop("RILL_BIN", None)
    e["PATH"] = f"{os.path.dirname(rill_bin())}:{e.get('PATH', '')}"
    p = subprocess.run([os.path.join(BIN, "kafka-topics.sh"), "--help"], capture_output=True,
                       text=True, env=e, timeout=30)
    assert p.returncode == 0 and "--bootstrap-server" in p.stdout


# ---------------------------------------------------------------------------- groups
def test_consumer_groups_without_group_support_say_so(bootstrap):
    if not missing_group_apis(bootstrap):
        pytest.skip("the broker serves the group APIs; covered by the group tests")
    p = run("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--list")
    assert p.returncode != 0 and "does not serve consumer groups yet" in p.stderr


def _consume_in_group(bootstrap, topic, group, n):
    return ok("kafka-console-consumer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
              "--group", group, "--from-beginning", "--max-messages", str(n), timeout=90)


def test_console_consumer_group_commits_and_describe_golden_columns(bootstrap, groups_supported):
    topic = unique_topic("grp")
    group = f"g-{uuid.uuid4().hex[:8]}"
    ok("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
       "--partitions", "2")
    wait_topic(bootstrap, topic, 2)
    kcat("-b", bootstrap, "-t", topic, "-P", "-p", "0", input=b"a\nb\nc\n")
    kcat("-b", bootstrap, "-t", topic, "-P", "-p", "1", input=b"d\ne\n")
    p = _consume_in_group(bootstrap, topic, group, 5)
    assert sorted(p.stdout.split()) == ["a", "b", "c", "d", "e"]
    assert group in ok("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--list").stdout.split()
    kcat("-b", bootstrap, "-t", topic, "-P", "-p", "0", input=b"f\n")
    p = ok("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--describe", "--group", group)
    lines = p.stdout.splitlines()
    assert lines[0] == ""
    assert lines[1].split() == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET",
                                "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]
    rows = sorted(l.split() for l in lines[2:])
    assert rows == [[group, topic, "0", "3", "4", "1", "-", "-", "-"],
                    [group, topic, "1", "2", "2", "0", "-", "-", "-"]]
    # Column starts line up with the header, as in Kafka's fixed-width layout.
    starts = [m.start() for m in re.finditer(r"\S+", lines[1])]
    for l in lines[2:]:
        assert [m.start() for m in re.finditer(r"\S+", l)] == starts
    # Reset to earliest (dry run, then execute), then delete.
    p = ok("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--reset-offsets",
           "--group", group, "--topic", topic, "--to-earliest", "--dry-run")
    assert [l.split() for l in p.stdout.splitlines()[2:]] == [[group, topic, "0", "0"], [group, topic, "1", "0"]]
    ok("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--reset-offsets",
       "--group", group, "--all-topics", "--to-offset", "1", "--execute")
    p = _consume_in_group(bootstrap, topic, group, 4)
    assert sorted(p.stdout.split()) == ["b", "c", "e", "f"]
    p = ok("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--delete", "--group", group)
    assert f"Deletion of requested consumer groups ('{group}') was successful." in p.stdout


def test_consumer_groups_members_and_state(bootstrap, groups_supported):
    topic = unique_topic("mem")
    group = f"g-{uuid.uuid4().hex[:8]}"
    ok("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", topic)
    wait_topic(bootstrap, topic, 1)
    consumer = subprocess.Popen([os.path.join(BIN, "kafka-console-consumer.sh"), "--bootstrap-server",
                                 bootstrap, "--topic", topic, "--group", group],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    try:
        deadline = time.monotonic() + 30
        while True:
            # Until the consumer has joined, the group does not exist (exit 1).
            p = run("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--describe",
                    "--group", group, "--state")
            if "Stable" in p.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        lines = p.stdout.splitlines()
        assert lines[1].split() == ["GROUP", "COORDINATOR", "(ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]
        assert lines[2].split()[0] == group and lines[2].split()[-2:] == ["Stable", "1"]
        p = ok("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--describe",
               "--group", group, "--members", "--verbose")
        lines = p.stdout.splitlines()
        assert lines[1].split() == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"]
        assert lines[2].split()[-2:] == ["1", f"{topic}(0)"]
        p = run("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--delete", "--group", group)
        assert p.returncode != 0 and "NON_EMPTY_GROUP" in p.stdout
    finally:
        consumer.send_signal(signal.SIGINT)
        consumer.wait(30)


# ---------------------------------------------------------------------------- log tools
def test_dump_log_reads_the_brokers_segment(dev, bootstrap):
    topic = unique_topic("dump")
    kcat("-b", bootstrap, "-t", topic, "-P", "-K", ":", input=b"k1:hello\nk2:world\n")
    segment = os.path.join(dev.data_dir, "broker", f"{topic}-0", "00000000000000000000.log")
    deadline = time.monotonic() + 10
    while not (os.path.exists(segment) and os.path.getsize(segment) > 0):
        assert time.monotonic() < deadline, f"no segment at {segment}"
        time.sleep(0.1)
    out = ok("kafka-dump-log.sh", "--files", segment, "--print-data-log").stdout
    lines = out.splitlines()
    assert lines[0] == f"Dumping {segment}"
    assert lines[1] == "Log starting offset: 0"
    batches = [l for l in lines if l.startswith("baseOffset:")]
    assert batches and all("isvalid: true" in b and "magic: 2" in b for b in batches)
    records = [l for l in lines if l.startswith("| offset:")]
    assert [re.search(r"key: (\S+) payload: (\S+)$", r).groups() for r in records] == \
        [("k1", "hello"), ("k2", "world")]
    # --compression-codec without a value is gzip, as in Kafka; the stored batch says so.
    ok("kafka-console-producer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
       "--compression-codec", input="zipped\n")
    out = ok("kafka-dump-log.sh", "--files", segment, "--print-data-log").stdout
    assert "compresscodec: gzip" in out and out.rstrip().endswith("payload: zipped")
    # Without --print-data-log: batches only.
    out = ok("kafka-dump-log.sh", "--files", segment).stdout
    assert "payload:" not in out and "baseOffset: 0" in out
    p = run("kafka-dump-log.sh", "--files", segment + ".missing")
    assert p.returncode != 0 and "reading" in p.stderr


def test_leader_election_and_reassignment(dev, bootstrap, tmp_path):
    topic = unique_topic("move")
    ok("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
       "--partitions", "2")
    wait_topic(bootstrap, topic, 2)
    topics_json = tmp_path / "topics.json"
    topics_json.write_text(f'{{"version":1,"topics":[{{"topic":"{topic}"}}]}}')
    p = ok("kafka-reassign-partitions.sh", "--bootstrap-server", bootstrap, "--generate",
           "--topics-to-move-json-file", str(topics_json), "--broker-list", "1")
    lines = p.stdout.splitlines()
    assert lines[0] == "Current partition replica assignment"
    import json
    current = json.loads(lines[1])
    assert current["version"] == 1
    assert sorted((x["topic"], x["partition"], x["replicas"]) for x in current["partitions"]) == \
        [(topic, 0, [1]), (topic, 1, [1])]
    assert lines[3] == "Proposed partition reassignment configuration"
    plan = tmp_path / "plan.json"
    plan.write_text(lines[4])
    parts = f"{topic}-0,{topic}-1"
    p = ok("kafka-reassign-partitions.sh", "--bootstrap-server", bootstrap, "--execute",
           "--reassignment-json-file", str(plan))
    out = p.stdout.splitlines()
    assert out[0] == "Current partition replica assignment" and json.loads(out[2]) == current
    assert out[4:] == ["Save this to use as the --reassignment-json-file option during rollback",
                       f"Successfully started partition reassignments for {parts}"], p.stdout
    p = ok("kafka-reassign-partitions.sh", "--bootstrap-server", bootstrap, "--verify",
           "--reassignment-json-file", str(plan))
    assert p.stdout.splitlines() == ["Status of partition reassignment:",
                                     f"Reassignment of partition {topic}-0 is completed.",
                                     f"Reassignment of partition {topic}-1 is completed."]
    p = ok("kafka-reassign-partitions.sh", "--bootstrap-server", bootstrap, "--list")
    assert p.stdout == "No partition reassignments found.\n"
    p = ok("kafka-reassign-partitions.sh", "--bootstrap-server", bootstrap, "--cancel",
           "--reassignment-json-file", str(plan))
    assert p.stdout.splitlines() == ["None of the specified partition reassignments are active.",
                                     "None of the specified partition moves are active."]
    # Kafka's checks before anything is sent, and its errors from the broker.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [1, 1]}]}))
    p = run("kafka-reassign-partitions.sh", "--bootstrap-server", bootstrap, "--execute",
            "--reassignment-json-file", str(bad))
    assert p.returncode != 0 and "Partition replica lists may not contain duplicate entries: " \
        f"{topic}-0 contains multiple entries for 1" in p.stderr, p
    bad.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 5, "replicas": [1]}]}))
    p = run("kafka-reassign-partitions.sh", "--bootstrap-server", bootstrap, "--execute",
            "--reassignment-json-file", str(bad))
    assert p.returncode == 1 and p.stdout.splitlines()[-2:] == [
        "Error reassigning partition(s):", f"{topic}-5: The partition does not exist."], p
    p = run("kafka-reassign-partitions.sh", "--bootstrap-server", bootstrap, "--verify")
    assert p.returncode != 0 and "[reassignment-json-file]" in p.stderr
    p = run("kafka-reassign-partitions.sh", "--bootstrap-server", bootstrap, "--list", "--verify")
    assert p.returncode != 0 and "exactly one action" in p.stderr
    ok("kafka-leader-election.sh", "--bootstrap-server", bootstrap, "--election-type",
       "PREFERRED", "--all-topic-partitions")
    p = ok("kafka-leader-election.sh", "--bootstrap-server", bootstrap, "--election-type",
           "preferred", "--topic", topic, "--partition", "1")
    assert p.stdout == f"Valid replica already elected for partitions {topic}-1\n"
    p = run("kafka-leader-election.sh", "--bootstrap-server", bootstrap, "--election-type",
            "preferred", "--topic", topic, "--partition", "9")
    assert p.returncode == 1 and p.stdout.startswith(
        f"Error completing leader election (PREFERRED) for partition: {topic}-9: "
        "org.apache.kafka.common.errors.UnknownTopicOrPartitionException"), p
    assert "1 replica(s) could not be elected" in p.stderr


# ---------------------------------------------------------------------------- groups (mock)
def test_console_consumer_group_against_librdkafka_mock_cluster():
    """`console-consumer --group` speaks the classic group protocol (FindCoordinator,
    JoinGroup, SyncGroup, Heartbeat, OffsetFetch/Commit, LeaveGroup) to an
    independent implementation: librdkafka's mock cluster, a real TCP broker
    inside this test process. A second member resumes at the committed offsets,
    which confluent-kafka reads back."""
    skip_if_unavailable("rill")
    from confluent_kafka import Consumer, Producer, TopicPartition
    mock = Producer({"test.mock.num.brokers": 1, "log_level": 0})
    broker = next(iter(mock.list_topics(timeout=10).brokers.values()))
    bs = f"{broker.host}:{broker.port}"
    topic, group = "mock-topic", "mock-group"
    ok("kafka-console-producer.sh", "--bootstrap-server", bs, "--topic", topic,
       input="".join(f"m{i}\n" for i in range(6)))
    first = ok("kafka-console-consumer.sh", "--bootstrap-server", bs, "--topic", topic,
               "--group", group, "--from-beginning", "--max-messages", "4",
               "--property", "print.offset=true", timeout=90).stdout.splitlines()
    assert [l.split("\t")[1] for l in first] == ["m0", "m1", "m2", "m3"]
    second = ok("kafka-console-consumer.sh", "--bootstrap-server", bs, "--topic", topic,
                "--group", group, "--timeout-ms", "3000", timeout=90).stdout.splitlines()
    assert second == ["m4", "m5"]
    parts = mock.list_topics(topic, timeout=10).topics[topic].partitions
    c = Consumer({"bootstrap.servers": bs, "group.id": group, "enable.auto.commit": False})
    try:
        committed = c.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        # Every assigned partition's position is committed (like the Java consumer's
        # auto-commit): 6 where the records went, 0 for the empty ones.
        assert sorted(tp.offset for tp in committed) == [0] * (len(parts) - 1) + [6]
    finally:
        c.close()


# ---------------------------------------------------------------------------- groups (scripted broker)
CONSUMER_ID = "console-consumer-3f1c2a9e-8d5b-4c61-a0f4-2b7e9d1c6a55"


@pytest.fixture
def fake_groups():
    """A scripted broker (fake_group_broker.py, kafka-python's encodings) holding
    the state the golden file describes: group billing (Stable, one member with
    orders-0 and orders-1, offsets orders-0=3 and payments-eu-0=10) and group
    idle (Empty, orders-0=1); log ends orders=[5, 4], payments-eu=[10]."""
    skip_if_unavailable("rill")
    from fake_group_broker import FakeGroupBroker, Group
    member = {"member_id": CONSUMER_ID, "client_id": "console-consumer",
              "client_host": "/127.0.0.1", "assignment": [("orders", 0), ("orders", 1)]}
    fake = FakeGroupBroker({"orders": [5, 4], "payments-eu": [10]}, {
        "billing": Group("Stable", members=[member],
                         offsets={("orders", 0): 3, ("payments-eu", 0): 10}),
        "idle": Group("Empty", offsets={("orders", 0): 1, ("orders", 1): 4})})
    yield fake
    fake.close()


def test_consumer_groups_describe_matches_golden_file(fake_groups):
    p = ok("kafka-consumer-groups.sh", "--bootstrap-server", fake_groups.bootstrap, "--describe",
           "--group", "billing")
    with open(os.path.join(GOLDEN, "consumer_groups_describe.txt")) as f:
        assert p.stdout == f.read()
    # The versions a Kafka 3.x broker would be asked for.
    assert (15, 5) in fake_groups.requests and (9, 7) in fake_groups.requests


def test_consumer_groups_list_members_state(fake_groups):
    bs = fake_groups.bootstrap
    assert ok("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--list").stdout.split() == \
        ["billing", "idle"]
    lines = ok("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--list", "--state").stdout.splitlines()
    assert [l.split() for l in lines] == [["GROUP", "STATE"], ["billing", "Stable"], ["idle", "Empty"]]
    lines = ok("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--describe", "--group", "billing",
               "--members", "--verbose").stdout.splitlines()
    assert lines[0] == ""
    assert lines[1].split() == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"]
    assert lines[2].split() == ["billing", CONSUMER_ID, "/127.0.0.1", "console-consumer", "2", "orders(0,1)"]
    lines = ok("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--describe", "--group", "billing",
               "--state").stdout.splitlines()
    assert lines[1] == "GROUP           COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                #MEMBERS"
    assert lines[2].split() == ["billing", f"127.0.0.1:{fake_groups.port}", "(1)", "range", "Stable", "1"]
    # An empty group: Kafka's remark on stderr, then its offsets without members.
    p = ok("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--describe", "--group", "idle")
    assert "Consumer group 'idle' has no active members." in p.stderr
    assert [l.split()[:6] for l in p.stdout.splitlines()[2:]] == [
        ["idle", "orders", "0", "1", "5", "4"], ["idle", "orders", "1", "4", "4", "0"]]
    p = run("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--describe", "--group", "nope")
    assert p.returncode != 0 and "Error: Consumer group 'nope' does not exist." in p.stdout


def test_consumer_groups_reset_delete_and_delete_offsets(fake_groups):
    bs = fake_groups.bootstrap
    # Only an inactive group can be reset.
    p = run("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--reset-offsets", "--group",
            "billing", "--all-topics", "--to-earliest", "--execute")
    assert p.returncode != 0
    assert "Assignments can only be reset if the group 'billing' is inactive, but the current state is Stable." in p.stdout
    p = ok("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--reset-offsets", "--group", "idle",
           "--topic", "orders", "--shift-by", "-2", "--dry-run")
    assert [l.split() for l in p.stdout.splitlines()[1:]] == [
        ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], ["idle", "orders", "0", "0"], ["idle", "orders", "1", "2"]]
    assert fake_groups.groups["idle"].offsets == {("orders", 0): 1, ("orders", 1): 4}
    ok("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--reset-offsets", "--group", "idle",
       "--topic", "orders:1", "--to-offset", "99", "--execute")
    assert fake_groups.groups["idle"].offsets == {("orders", 0): 1, ("orders", 1): 4}  # clamped to the end
    ok("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--reset-offsets", "--group", "idle",
       "--all-topics", "--to-earliest", "--execute")
    assert fake_groups.groups["idle"].offsets == {("orders", 0): 0, ("orders", 1): 0}
    # Offsets of a topic the members consume cannot be deleted; others can.
    p = run("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--delete-offsets", "--group",
            "billing", "--topic", "orders")
    assert p.returncode != 0 and "Error: GROUP_SUBSCRIBED_TO_TOPIC" in p.stdout
    p = ok("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--delete-offsets", "--group",
           "billing", "--topic", "payments-eu")
    assert p.stdout.splitlines()[0] == "Request succeeded for deleting offsets from group billing."
    assert p.stdout.splitlines()[2].split() == ["TOPIC", "PARTITION", "STATUS"]
    assert p.stdout.splitlines()[3].split() == ["payments-eu", "0", "Successful"]
    assert ("payments-eu", 0) not in fake_groups.groups["billing"].offsets
    # A group with members cannot be deleted; an empty one can.
    p = run("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--delete", "--group", "billing")
    assert p.returncode != 0 and "* Group 'billing' could not be deleted due to: NON_EMPTY_GROUP" in p.stdout
    p = ok("kafka-consumer-groups.sh", "--bootstrap-server", bs, "--delete", "--group", "idle")
    assert p.stdout.strip() == "Deletion of requested consumer groups ('idle') was successful."
    assert "idle" not in fake_groups.groups


def test_interrupted_group_consumer_commits_and_leaves(bootstrap, groups_supported):
    """Ctrl-C on `console-consumer --group`: the positions are committed and the
    member leaves at once (the group is Empty, not waiting for a session timeout)."""
    topic = unique_topic("leave")
    group = f"g-{uuid.uuid4().hex[:8]}"
    ok("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", topic)
    wait_topic(bootstrap, topic, 1)
    kcat("-b", bootstrap, "-t", topic, "-P", input=b"1\n2\n3\n")
    consumer = subprocess.Popen([os.path.join(BIN, "kafka-console-consumer.sh"), "--bootstrap-server",
                                 bootstrap, "--topic", topic, "--group", group, "--from-beginning"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    try:
        got = [consumer.stdout.readline().strip() for _ in range(3)]
        assert got == ["1", "2", "3"]
    finally:
        consumer.send_signal(signal.SIGINT)
        _, err = consumer.communicate(timeout=30)
    assert consumer.returncode == 0 and "Processed a total of 3 messages" in err
    p = ok("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap, "--describe", "--group", group)
    assert "has no active members" in p.stderr
    assert p.stdout.splitlines()[2].split() == [group, topic, "0", "3", "3", "0", "-", "-", "-"]
