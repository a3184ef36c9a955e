"""Deployment as the seeds do it (deploy/): the rill image and its compose
files (seed 002), the Kubernetes manifests (seed 003) and the supervisor
programs (seed 000), each driven with real clients.

* Docker: the image is built by deploy/docker/build-image.sh from the rill
  binary the other suites test (RILL_BIN; RILL_IMAGE_BINARY overrides, e.g. a
  release build). Skipped with the reason when `docker info` or docker-compose
  fails. The 3-keeper + 3-broker scenario is skipped, with the keepers' own
  words, when the keepers do not form an ensemble (a build without Raft).
* Kubernetes: every manifest is checked offline against the Kubernetes
  OpenAPI schemas (kubernetes-validate from PyPI); the kustomize base is
  rendered with `kubectl kustomize` when kubectl is installed.
* supervisor: supervisord (Debian's package) runs a keeper and a broker from
  the shipped .ini files with their paths rewritten into a temp dir.
"""

import configparser
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from broker_server import (consume_all_confluent, create_topic, kcat, wait_topic)
from keeper_server import REPO_ROOT, free_port, rill_bin

DEPLOY = os.path.join(REPO_ROOT, "deploy")
BUILD_IMAGE = os.path.join(DEPLOY, "docker", "build-image.sh")
DEV_COMPOSE = os.path.join(DEPLOY, "compose", "dev", "docker-compose.yml")
CLUSTER_COMPOSE = os.path.join(DEPLOY, "compose", "cluster", "docker-compose.yml")
TEST_IMAGE = "rill:deploy-test"


def run(cmd, timeout=120, check=True, env=None, input=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                       input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}\n"
                             f"stdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-3000:]}")
    return p


def wait_for(what, predicate, timeout, interval=0.5):
    """Polls predicate() until it returns a truthy value; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as e:  # noqa: BLE001 - the last failure is reported
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def produce(bootstrap, topic, records, partition=None):
    """Produces (key, value) records with acks=all and waits for every ack."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "message.timeout.ms": 30000, "socket.timeout.ms": 10000})
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    for key, value in records:
        kw = {} if partition is None else {"partition": partition}
        p.produce(topic, value=value, key=key, on_delivery=on_delivery, **kw)
    left = p.flush(60)
    assert left == 0 and not errors, f"produce to {topic}: {left} unacked, errors {errors[:3]}"


def values(consumed):
    return sorted(v for recs in consumed.values() for (_o, _k, v, _t) in recs)


# =========================================================================
# Configuration by environment variables (no Docker needed)
# =========================================================================

def spawn(argv, env, log):
    return subprocess.Popen(argv, env=dict(os.environ, **env), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_keeper_and_broker_configured_by_environment(tmp_path):
    """The images' conventions, with no config file at all: ZOO_* for the
    keeper (official zookeeper image), KAFKA_* for the broker (Kafka images:
    KAFKA_LOG_DIRS is log.dirs), file < environment < --override."""
    from broker_server import KafkaConn
    if not os.path.exists(rill_bin()):
        pytest.skip(f"rill binary not found at {rill_bin()}")
    zk_port, kafka_port = free_port(), free_port()
    keeper_env = {"ZOO_DATA_DIR": str(tmp_path / "keeper"), "ZOO_PORT": str(zk_port),
                  "ZOO_CFG_EXTRA": "maxSessionTimeout=9000 noSuchKey=1"}
    broker_env = {"KAFKA_BROKER_ID": "7",
                  "KAFKA_ZOOKEEPER_CONNECT": f"127.0.0.1:{zk_port}/env-test",
                  "KAFKA_LISTENERS": f"PLAINTEXT://127.0.0.1:{kafka_port}",
                  "KAFKA_LOG_DIRS": str(tmp_path / "kafka-logs"),
                  "KAFKA_NUM_PARTITIONS": "3",
                  "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
                  "KAFKA_NO_SUCH_KEY": "x",
                  "KAFKA_HEAP_OPTS": "-Xmx1G"}
    keeper_log, broker_log = tmp_path / "keeper.log", tmp_path / "broker.log"
    with open(keeper_log, "wb") as kl, open(broker_log, "wb") as bl:
        keeper = spawn([rill_bin(), "keeper"], keeper_env, kl)
        broker = None
        try:
            # Until it serves, status says zkServer.sh's "Error contacting
            # service. ..." and exits 1.
            status = wait_for("the keeper", lambda: (lambda out: out if out.startswith("Mode:")
                                                     else None)(run(
                [rill_bin(), "keeper", "status"], check=False,
                env=dict(os.environ, **keeper_env)).stdout.strip()), 30)
            assert status == "Mode: standalone"
            broker = spawn([rill_bin(), "broker", "--override", "num.partitions=2"],
                           broker_env, bl)

            def registered():
                with KafkaConn("127.0.0.1", kafka_port, timeout=2) as conn:
                    return [b["node_id"] for b in conn.metadata(version=1)["brokers"]] == [7]
            wait_for("broker 7 registered", registered, 60)
            # --override (2) beats the environment (3), which beats the defaults (1).
            topic = f"env-{uuid.uuid4().hex[:8]}"
            produce(f"127.0.0.1:{kafka_port}", topic, [(None, b"auto-created")])
            wait_topic(f"127.0.0.1:{kafka_port}", topic, 2)
            assert os.path.isdir(tmp_path / "kafka-logs" / f"{topic}-1")
        finally:
            if broker is not None:
                stop(broker)
            stop(keeper)
    log = broker_log.read_text()
    assert "environment variable KAFKA_NO_SUCH_KEY: unknown configuration 'no.such.key'; " \
           "ignored" in log, log[-3000:]
    assert "KAFKA_HEAP_OPTS is a setting of the Kafka images' JVM start scripts" in log
    assert "environment variable ZOO_CFG_EXTRA: unknown key 'noSuchKey' ignored" in \
        keeper_log.read_text()


@pytest.mark.parametrize("argv, env, message", [
    (["broker"], {"KAFKA_BROKER_ID": "two", "KAFKA_ZOOKEEPER_CONNECT": "127.0.0.1:1"},
     "environment variable KAFKA_BROKER_ID: invalid value 'two' for broker.id"),
    (["broker"], {"KAFKA_BROKER_ID": "1", "KAFKA_CFG_BROKER_ID": "2"},
     "environment variables KAFKA_BROKER_ID and KAFKA_CFG_BROKER_ID both set broker.id"),
    (["keeper"], {"ZOO_DATA_DIR": "/tmp/x", "ZOO_TICK_TIME": "soon"},
     "environment variable ZOO_TICK_TIME: invalid value 'soon' for key 'tickTime'"),
    (["keeper"], {"ZOO_MY_ID": "two"}, "environment variable ZOO_MY_ID: invalid value 'two'"),
    (["keeper"], {"ZOO_DATA_DIR": "/tmp/x", "ZOO_MY_ID": "4",
                  "ZOO_SERVERS": "server.1=a:2888:3888 server.2=b:2888:3888"},
     "myid 4 (given) has no server.4 line"),
])
def test_environment_errors_name_the_variable(argv, env, message):
    if not os.path.exists(rill_bin()):
        pytest.skip(f"rill binary not found at {rill_bin()}")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "ZOO_"))}
    p = subprocess.run([rill_bin(), *argv], env=dict(clean, **env), capture_output=True,
                       text=True, timeout=30)
    assert p.returncode != 0 and message in p.stderr, p.stderr


# =========================================================================
# Docker
# =========================================================================

def docker_unavailable_reason():
    if shutil.which("docker") is None:
        return "docker is not installed"
    p = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return f"`docker info` failed (no Docker engine): {p.stderr.strip()[-300:]}"
    if shutil.which("docker-compose") is None:
        return "docker-compose is not installed (Debian package docker-compose)"
    return None


@pytest.fixture(scope="module")
def image():
    """The rill image, built from the binary the other suites test."""
    reason = docker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    binary = os.environ.get("RILL_IMAGE_BINARY") or rill_bin()
    if not os.path.exists(binary):
        pytest.skip(f"rill binary not found at {binary} (cargo build -p rill, or set RILL_BIN)")
    started = time.monotonic()
    run([BUILD_IMAGE, "--binary", binary, "--tag", TEST_IMAGE], timeout=600)
    print(f"image {TEST_IMAGE} built in {time.monotonic() - started:.1f}s")
    return TEST_IMAGE


class Compose:
    """One docker-compose project (unique name, free host ports), always
    brought down with its volumes."""

    def __init__(self, file, image, ports):
        self.file = file
        self.project = f"rilltest{uuid.uuid4().hex[:8]}"
        self.env = dict(os.environ, RILL_IMAGE=image, **{k: str(v) for k, v in ports.items()})
        self.ports = ports

    def __call__(self, *args, timeout=300, check=True):
        return run(["docker-compose", "-p", self.project, "-f", self.file, *args],
                   timeout=timeout, check=check, env=self.env)

    def container(self, service):
        cid = self("ps", "-q", service).stdout.strip()
        assert cid, f"no container for service {service}"
        return cid

    def health(self, service):
        return run(["docker", "inspect", "-f", "{{.State.Health.Status}}",
                    self.container(service)]).stdout.strip()

    def wait_healthy(self, *services, timeout=90):
        for s in services:
            wait_for(f"{s} to be healthy", lambda s=s: self.health(s) == "healthy", timeout)

    def exec(self, service, *cmd, check=False, timeout=30):
        return run(["docker", "exec", self.container(service), *cmd], check=check,
                   timeout=timeout)

    def logs(self, *services, tail=40):
        return self("logs", "--no-color", "--tail", str(tail), *services, check=False).stdout

    def down(self):
        self("down", "-v", "--remove-orphans", "-t", "5", check=False)


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture
def compose(image, request):
    """compose(file, ports) -> Compose; logs are printed when the test fails,
    and every project is removed at teardown."""
    made = []

    def factory(file, ports):
        c = Compose(file, image, ports)
        made.append(c)
        return c

    yield factory
    for c in made:
        if _failed(request):
            print(f"----- {c.project} logs -----\n{c.logs()}")
        c.down()


@pytest.mark.keeper_timeout(300)
def test_dev_compose_produce_consume_restart(compose):
    c = compose(DEV_COMPOSE, {"RILL_ZK_PORT": free_port(), "RILL_KAFKA_PORT": free_port()})
    c("up", "-d")
    c.wait_healthy("keeper", "broker")
    bootstrap = f"127.0.0.1:{c.ports['RILL_KAFKA_PORT']}"

    # The broker advertises the published address, so clients outside Docker
    # follow its metadata.
    md = json.loads(kcat("-b", bootstrap, "-L", "-J").stdout)
    assert [(b["id"], b["name"]) for b in md["brokers"]] == [(1, bootstrap)]

    topic = f"deploy-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, partitions=2)
    records = [(f"k{i}".encode(), f"v{i:04}".encode()) for i in range(200)]
    produce(bootstrap, topic, records)
    kcat("-b", bootstrap, "-t", topic, "-P", "-p", "0", input=b"from-kcat\n")
    expected = sorted([v for _k, v in records] + [b"from-kcat"])
    assert values(consume_all_confluent(bootstrap, topic, 2)) == expected

    # Configured by environment variables alone (no file in the command lines).
    out = run([rill_bin(), "configs", "--bootstrap-server", bootstrap, "--describe",
               "--broker", "1", "--all"]).stdout
    assert "  log.dirs=/data sensitive=false synonyms={STATIC_BROKER_CONFIG:log.dirs=/data}" \
        in out, out
    assert "unknown configuration" not in c.logs("broker", tail=200)

    # Containers on the compose network use the INTERNAL listener's name.
    out = c.exec("broker", "rill", "topics", "--bootstrap-server", "broker:19092", "--list")
    assert topic in out.stdout.split(), out.stdout + out.stderr

    # The keeper is reachable on its published port and holds the broker's registration.
    zk_port = c.ports["RILL_ZK_PORT"]
    out = run([rill_bin(), "zk", "-server", f"127.0.0.1:{zk_port}", "ls", "/brokers/ids"])
    assert out.stdout.strip().splitlines()[-1] == "[1]"

    # Both containers restarted: the data is in the volumes.
    c("restart", "-t", "10", "keeper", "broker")
    c.wait_healthy("keeper", "broker")
    wait_topic(bootstrap, topic, 2, timeout=60)
    assert values(consume_all_confluent(bootstrap, topic, 2)) == expected


# ------------------------------------------------------------------ 3 keepers + 3 brokers
KEEPERS = ("keeper1", "keeper2", "keeper3")
BROKERS = ("broker1", "broker2", "broker3")


def keeper_modes(c, services=KEEPERS):
    """{service: 'leader'|'follower'|'standalone'|None} from `rill keeper
    status` inside each container (seed 002's `zkServer.sh status`)."""
    modes = {}
    for s in services:
        p = c.exec(s, "rill", "keeper", "status", "--config", "/conf/zoo.cfg")
        m = re.search(r"^Mode: (\w+)", p.stdout, re.M)
        modes[s] = m.group(1) if m else None
    return modes


def one_leader(c, services=KEEPERS):
    """The leader's service name once `services` are one leader + followers."""
    modes = keeper_modes(c, services)
    leaders = [s for s, m in modes.items() if m == "leader"]
    if len(leaders) == 1 and all(m == "follower" for s, m in modes.items() if s != leaders[0]):
        return leaders[0]
    return None


def cluster_metadata(bootstrap):
    """kcat -L -J: {'brokers': [...], 'controllerid': N, ...} ({} when no broker answers)."""
    return json.loads(kcat("-b", bootstrap, "-L", "-J", check=False).stdout or "{}")


def broker_ids(bootstrap):
    return sorted(b["id"] for b in cluster_metadata(bootstrap).get("brokers", []))


NO_ENSEMBLE = "ensemble mode is not available"


def wait_for_leader_or_skip(c, timeout=60):
    """Waits for one leader; skips (with the keeper's own words) when this
    build refuses server.N lines."""
    def leader_or_refusal():
        logs = c.logs(*KEEPERS, tail=3)
        refusal = next((line for line in logs.splitlines() if NO_ENSEMBLE in line), None)
        if refusal:
            pytest.skip("the three keepers cannot form an ensemble in this rill build "
                        f"(no Raft yet): {refusal.split('|', 1)[-1].strip()}")
        return one_leader(c)
    return wait_for("the keepers to elect a leader", leader_or_refusal, timeout)


@pytest.fixture(scope="module")
def cluster(image):
    """The 3-keeper + 3-broker compose, started once for the module (a skip
    for a build without ensembles is decided once too)."""
    ports = {f"RILL_ZK_PORT_{i}": free_port() for i in (1, 2, 3)}
    ports.update({f"RILL_KAFKA_PORT_{i}": free_port() for i in (1, 2, 3)})
    c = Compose(CLUSTER_COMPOSE, image, ports)
    c.bootstrap = ",".join(f"127.0.0.1:{ports[f'RILL_KAFKA_PORT_{i}']}" for i in (1, 2, 3))
    try:
        c("up", "-d", *KEEPERS)
        wait_for_leader_or_skip(c)
        yield c
    finally:
        c.down()


@pytest.fixture
def healthy_cluster(cluster, request):
    """The module's cluster with every container up, one keeper leading and
    the three brokers registered (whatever the previous test left)."""
    c = cluster
    c("up", "-d")
    wait_for_leader_or_skip(c)
    c.wait_healthy(*BROKERS)
    wait_for("all three brokers in metadata", lambda: broker_ids(c.bootstrap) == [1, 2, 3], 60)
    yield c
    if _failed(request):
        print(f"----- {c.project} logs -----\n{c.logs()}")


def partitions_of(bootstrap, topic):
    """{partition: (leader, replicas, isr)} as the cluster reports it."""
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic=topic, timeout=10)
    t = md.topics[topic]
    assert t.error is None, t.error
    return {p.id: (p.leader, sorted(p.replicas), sorted(p.isrs)) for p in t.partitions.values()}


def fresh_topic(bootstrap, partitions, rf=3, live=(1, 2, 3)):
    """A topic replicated `rf` times, led and fully in sync on the `live`
    brokers, with 90 records produced (acks=all) and read back."""
    from confluent_kafka.admin import AdminClient, NewTopic
    topic = f"deploy-{uuid.uuid4().hex[:8]}"
    a = AdminClient({"bootstrap.servers": bootstrap})
    fs = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=rf)],
                         operation_timeout=60)
    fs[topic].result(60)
    wait_for(f"{topic}: every partition led, {rf} replicas in sync", lambda: all(
        leader in live and len(replicas) == rf and isr == replicas
        for leader, replicas, isr in partitions_of(bootstrap, topic).values()), 60)
    records = [(f"k{i}".encode(), f"{topic}-{i:04}".encode()) for i in range(90)]
    for p in range(partitions):
        produce(bootstrap, topic, records[p::partitions], partition=p)
    assert values(consume_all_confluent(bootstrap, topic, partitions)) == \
        sorted(v for _k, v in records)
    return topic, sorted(v for _k, v in records)


@pytest.mark.keeper_timeout(600)
def test_cluster_replicated_through_both_listeners(healthy_cluster):
    """One keeper leads, two follow; a topic replicated 3 times is written
    and read through the published EXTERNAL ports, and read inside the
    compose network through the INTERNAL listener (service names)."""
    c = healthy_cluster
    modes = keeper_modes(c)
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
    topic, expected = fresh_topic(c.bootstrap, 3)
    assert all(len(isr) == 3 for _l, _r, isr in partitions_of(c.bootstrap, topic).values())
    # Metadata through EXTERNAL names the published ports ...
    md = cluster_metadata(c.bootstrap)
    assert sorted((b["id"], b["name"]) for b in md["brokers"]) == [
        (i, f"127.0.0.1:{c.ports[f'RILL_KAFKA_PORT_{i}']}") for i in (1, 2, 3)]
    # ... and a client on the compose network follows the INTERNAL names.
    out = c.exec("broker1", "rill", "console-consumer", "--bootstrap-server", "broker2:19092",
                 "--topic", topic, "--from-beginning", "--max-messages", "90",
                 "--timeout-ms", "30000", timeout=60)
    assert sorted(out.stdout.encode().splitlines()) == expected, out.stderr[-2000:]
    out = c.exec("broker3", "rill", "topics", "--bootstrap-server", "broker1:19092",
                 "--describe", "--topic", topic)
    assert out.returncode == 0 and "ReplicationFactor: 3" in out.stdout, out.stdout + out.stderr


@pytest.mark.keeper_timeout(600)
def test_cluster_keeper_leader_killed_and_restarted(healthy_cluster):
    """Seed 002: kill the leader's container, the two others elect a new
    leader and the brokers go on (topic creation needs the ensemble); start
    it again and it rejoins as a follower."""
    c = healthy_cluster
    topic, expected = fresh_topic(c.bootstrap, 3)
    leader = one_leader(c)
    c("kill", leader)
    rest = tuple(s for s in KEEPERS if s != leader)
    new_leader = wait_for("a new leader among the two others", lambda: one_leader(c, rest), 60)
    assert new_leader != leader
    fresh_topic(c.bootstrap, 3)
    assert values(consume_all_confluent(c.bootstrap, topic, 3)) == expected

    c("start", leader)
    wait_for(f"{leader} to rejoin as a follower",
             lambda: one_leader(c) == new_leader and keeper_modes(c, (leader,))[leader] ==
             "follower", 60)
    fresh_topic(c.bootstrap, 3)


@pytest.mark.keeper_timeout(600)
def test_cluster_broker_stopped_and_restarted(healthy_cluster):
    """A broker container stopped (not the controller, see the next test):
    the leaderships it held move to the other two, every acknowledged record
    is still there and new writes (acks=all, min.insync.replicas=2) go on;
    started again, it re-registers and is back in every ISR."""
    c = healthy_cluster
    topic, expected = fresh_topic(c.bootstrap, 3)
    controller = cluster_metadata(c.bootstrap)["controllerid"]
    victim = max(set(range(1, 4)) - {controller})
    assert any(leader == victim for leader, _r, _i in partitions_of(c.bootstrap, topic).values())
    c("stop", "-t", "10", f"broker{victim}")
    survivors = sorted(set(range(1, 4)) - {victim})
    wait_for(f"broker {victim} to leave the metadata",
             lambda: broker_ids(c.bootstrap) == survivors, 60)
    wait_for("leaders moved to the survivors", lambda: all(
        leader in survivors and victim not in isr
        for leader, _r, isr in partitions_of(c.bootstrap, topic).values()), 60)
    assert values(consume_all_confluent(c.bootstrap, topic, 3)) == expected
    more = [(None, f"after-{i}".encode()) for i in range(30)]
    produce(c.bootstrap, topic, more)
    expected = sorted(expected + [v for _k, v in more])
    fresh_topic(c.bootstrap, 2, rf=2, live=survivors)

    c("start", f"broker{victim}")
    c.wait_healthy(f"broker{victim}")
    wait_for(f"broker {victim} back in the metadata",
             lambda: broker_ids(c.bootstrap) == [1, 2, 3], 60)
    wait_for(f"broker {victim} back in every ISR", lambda: all(
        len(isr) == 3 for _l, _r, isr in partitions_of(c.bootstrap, topic).values()), 60)
    assert values(consume_all_confluent(c.bootstrap, topic, 3)) == expected


@pytest.mark.keeper_timeout(600)
def test_cluster_controller_broker_stopped(healthy_cluster):
    """The controller's container stopped: another broker becomes controller
    and topics can still be created."""
    c = healthy_cluster
    controller = cluster_metadata(c.bootstrap)["controllerid"]
    c("stop", "-t", "10", f"broker{controller}")
    try:
        wait_for("another controller", lambda: cluster_metadata(c.bootstrap).get(
            "controllerid") in set(range(1, 4)) - {controller}, 30)
        fresh_topic(c.bootstrap, 2, rf=2, live=sorted(set(range(1, 4)) - {controller}))
    finally:
        c("start", f"broker{controller}")


@pytest.mark.keeper_timeout(600)
def test_cluster_keeper_leader_partitioned(healthy_cluster):
    """`docker network disconnect` cuts the leader off: the majority elects
    another leader and the cluster goes on; reconnected, the old leader
    follows the new one."""
    c = healthy_cluster
    leader = one_leader(c)
    network = f"{c.project}_default"
    run(["docker", "network", "disconnect", network, c.container(leader)])
    try:
        rest = tuple(s for s in KEEPERS if s != leader)
        new_leader = wait_for("a leader in the majority", lambda: one_leader(c, rest), 60)
        # A broker whose ZooKeeper session was on the cut-off keeper stalls
        # until its client gives up on that connection (2/3 of the session
        # timeout) and moves to another member: retried, bounded.
        wait_for("a topic created and written with the old leader cut off",
                 lambda: fresh_topic(c.bootstrap, 3), 90, interval=1)
    finally:
        run(["docker", "network", "connect", "--alias", leader, network, c.container(leader)])
    wait_for(f"{leader} to follow {new_leader} again",
             lambda: keeper_modes(c, (leader,))[leader] == "follower" and
             one_leader(c) is not None, 60)
    fresh_topic(c.bootstrap, 3)


@pytest.mark.keeper_timeout(600)
def test_cluster_broker_partitioned(healthy_cluster):
    """`docker network disconnect` cuts a broker (not the controller) off:
    once its ZooKeeper session expires (zookeeper.session.timeout.ms, 18 s by
    default) the controller moves its leaderships to the other two and drops
    it from every ISR; acks=all writes go on through the survivors and
    nothing acknowledged is lost. Reconnected, it registers again and is
    back in every ISR."""
    c = healthy_cluster
    topic, expected = fresh_topic(c.bootstrap, 3)
    controller = cluster_metadata(c.bootstrap)["controllerid"]
    victim = max(set(range(1, 4)) - {controller})
    survivors = sorted(set(range(1, 4)) - {victim})
    via = ",".join(f"127.0.0.1:{c.ports[f'RILL_KAFKA_PORT_{i}']}" for i in survivors)
    network = f"{c.project}_default"
    service = f"broker{victim}"
    run(["docker", "network", "disconnect", network, c.container(service)])
    try:
        wait_for(f"broker {victim} out of the metadata",
                 lambda: broker_ids(via) == survivors, 90)
        wait_for("leaders on the survivors, the cut-off broker out of every ISR", lambda: all(
            leader in survivors and victim not in isr
            for leader, _r, isr in partitions_of(via, topic).values()), 60)
        more = [(None, f"cut-{i}".encode()) for i in range(30)]
        produce(via, topic, more)
        expected = sorted(expected + [v for _k, v in more])
        assert values(consume_all_confluent(via, topic, 3)) == expected
    finally:
        run(["docker", "network", "connect", "--alias", service, network, c.container(service)])
    wait_for(f"broker {victim} registered again", lambda: broker_ids(via) == [1, 2, 3], 90)
    wait_for(f"broker {victim} back in every ISR", lambda: all(
        len(isr) == 3 for _l, _r, isr in partitions_of(via, topic).values()), 90)
    assert values(consume_all_confluent(via, topic, 3)) == expected


# =========================================================================
# Kubernetes (seed 003): offline checks of deploy/k8s
# =========================================================================

K8S = os.path.join(DEPLOY, "k8s")
K8S_VERSION = "1.30.0"   # the oldest Kubernetes these manifests are written for


def k8s_documents(*paths):
    import yaml
    docs = []
    for path in paths:
        with open(path) as f:
            docs += [(path, d) for d in yaml.safe_load_all(f) if d]
    return docs


def k8s_manifest_files():
    return sorted(p for p in glob.glob(os.path.join(K8S, "**", "*.yaml"), recursive=True)
                  if os.path.basename(p) != "kustomization.yaml")


def validate_k8s(docs):
    kv = pytest.importorskip("kubernetes_validate",
                             reason="kubernetes-validate is not installed "
                                    "(scripts/install-test-deps.sh installs it)")
    for path, doc in docs:
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
        except kv.ValidationError as e:
            raise AssertionError(f"{path}: {doc['kind']}/{doc['metadata']['name']}: "
                                 f"{e.message} at {'/'.join(map(str, e.path))}") from None


def test_k8s_manifests_match_the_kubernetes_schemas():
    docs = k8s_documents(*k8s_manifest_files())
    kinds = sorted({d["kind"] for _p, d in docs})
    assert kinds == ["ConfigMap", "Namespace", "PodDisruptionBudget", "Service", "StatefulSet"]
    validate_k8s(docs)
    # The check can fail: a misspelt field is refused in strict mode.
    sts = next(d for _p, d in docs if d["kind"] == "StatefulSet")
    broken = json.loads(json.dumps(sts))
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    with pytest.raises(AssertionError, match="replica"):
        validate_k8s([("mutated", broken)])


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for _p, d in docs if d["kind"] == kind}


def pod_command(sts, env):
    """Runs a StatefulSet container's `sh -c` line with dash, `rill` replaced
    by echo, and returns what rill would have been started with."""
    cmd = sts["spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd[:2] == ["/bin/sh", "-c"], cmd
    script = cmd[2].replace("exec rill ", "exec echo rill ")
    return run(["dash", "-c", script], env=dict(os.environ, **env)).stdout.split()


def test_k8s_statefulsets_hang_together(tmp_path):
    """What the schemas cannot tell: names that must agree across objects, and
    the pods' command lines as dash runs them."""
    docs = k8s_documents(os.path.join(K8S, "base", "keeper.yaml"),
                         os.path.join(K8S, "base", "broker.yaml"))
    services, sets = by_kind(docs, "Service"), by_kind(docs, "StatefulSet")
    configs, budgets = by_kind(docs, "ConfigMap"), by_kind(docs, "PodDisruptionBudget")
    for name, sts in sets.items():
        spec = sts["spec"]
        headless = services[spec["serviceName"]]["spec"]
        assert headless["clusterIP"] == "None", name
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        assert any(b["spec"]["selector"]["matchLabels"].items() <= labels.items()
                   for b in budgets.values()), f"{name}: no PodDisruptionBudget"
        assert all(b["spec"].get("maxUnavailable") == 1 for b in budgets.values())
        pod = spec["template"]["spec"]
        assert pod["affinity"]["podAntiAffinity"], name
        for c in pod["containers"]:
            assert c.get("readinessProbe") and c.get("livenessProbe"), f"{name}/{c['name']}"
        for v in pod["volumes"]:
            if "configMap" in v:
                assert v["configMap"]["name"] in configs, v

    # Keepers: zoo.cfg names every member by its stable DNS name, myid = ordinal + 1.
    keeper = sets["rill-keeper"]
    zoo = configs["rill-keeper-config"]["data"]["zoo.cfg"]
    servers = dict(re.findall(r"^server\.(\d+)=(\S+)$", zoo, re.M))
    hs = keeper["spec"]["serviceName"]
    assert servers == {str(i + 1): f"rill-keeper-{i}.{hs}:2888:3888"
                       for i in range(keeper["spec"]["replicas"])}
    assert services[hs].get("spec", {}).get("publishNotReadyAddresses") is True
    data = tmp_path / "data"
    data.mkdir()
    keeper_line = json.loads(json.dumps(keeper))
    c = keeper_line["spec"]["template"]["spec"]["containers"][0]
    c["command"][2] = c["command"][2].replace("/data", str(data))
    assert pod_command(keeper_line, {"HOSTNAME": "rill-keeper-2"}) == \
        ["rill", "keeper", "--config", "/conf/zoo.cfg"]
    assert (data / "myid").read_text() == "3\n"

    # Brokers: broker.id = ordinal; each advertises its node and its NodePort,
    # and that NodePort's service selects exactly that pod.
    broker = sets["rill-broker"]
    for i in range(broker["spec"]["replicas"]):
        argv = pod_command(broker, {"HOSTNAME": f"rill-broker-{i}", "NODE_IP": "10.1.2.3"})
        assert argv[:4] == ["rill", "broker", "--config", "/conf/server.properties"]
        assert f"broker.id={i}" in argv
        port = 30127 + i
        assert (f"advertised.listeners=INTERNAL://rill-broker-{i}.{broker['spec']['serviceName']}"
                f":19092,EXTERNAL://10.1.2.3:{port}") in argv
        svc = services[f"rill-broker-{i}"]["spec"]
        assert svc["type"] == "NodePort" and svc["ports"][0]["nodePort"] == port
        assert svc["selector"] == {"statefulset.kubernetes.io/pod-name": f"rill-broker-{i}"}
    props = configs["rill-broker-config"]["data"]["server.properties"]
    # Both listeners are bound, and the headless service and the pod expose INTERNAL.
    assert re.search(r"^listeners=INTERNAL://0\.0\.0\.0:19092,EXTERNAL://0\.0\.0\.0:9092$",
                     props, re.M)
    assert re.search(r"^inter\.broker\.listener\.name=INTERNAL$", props, re.M)
    hs = services[broker["spec"]["serviceName"]]["spec"]
    assert {p["port"] for p in hs["ports"]} == {19092, 9092}
    ports = broker["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert {p["containerPort"] for p in ports} == {19092, 9092}
    connect = re.search(r"^zookeeper\.connect=(\S+)$", props, re.M).group(1)
    assert connect.split(",") == [f"{s.split(':')[0]}:2181" for s in
                                  (servers[str(i + 1)] for i in range(3))]


@pytest.mark.parametrize("answer, healthy", [
    ("Mode: leader", True), ("Mode: follower", True), ("Mode: standalone", True),
    ("Mode: looking", False), (None, False)])
def test_keeper_probes_want_a_quorum(answer, healthy):
    """The keeper readiness probe (Kubernetes) and health check (cluster
    compose), run by dash with `rill keeper status` answering as a member
    with or without a quorum would (None: the keeper does not answer)."""
    import yaml
    keeper = by_kind(k8s_documents(os.path.join(K8S, "base", "keeper.yaml")),
                     "StatefulSet")["rill-keeper"]
    readiness = keeper["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    with open(CLUSTER_COMPOSE) as f:
        health = yaml.safe_load(f)["x-keeper"]["healthcheck"]["test"]
    assert health[:2] == ["CMD", "/bin/sh"]
    fake = (f'rill() {{ echo "{answer}"; }}; ' if answer else
            'rill() { echo "Error contacting service." >&2; return 1; }; ')
    for argv in (readiness["exec"]["command"], [a.replace("$$", "$") for a in health[1:]]):
        assert argv[:2] == ["/bin/sh", "-c"]
        p = subprocess.run(["dash", "-c", fake + argv[2]], capture_output=True)
        assert (p.returncode == 0) == healthy, (argv, answer)


def test_k8s_kustomize_base_and_overlay_render():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the kustomize build needs it; the plain "
                    "manifests are checked by the other tests)")
    import yaml
    base = yaml.safe_load_all(run([kubectl, "kustomize", os.path.join(K8S, "base")]).stdout)
    base = [("base", d) for d in base]
    plain = k8s_documents(os.path.join(K8S, "base", "keeper.yaml"),
                          os.path.join(K8S, "base", "broker.yaml"))
    key = lambda docs: sorted((d["kind"], d["metadata"]["name"]) for _p, d in docs)  # noqa: E731
    assert key(base) == key(plain)
    overlay = [("single-node", d) for d in yaml.safe_load_all(
        run([kubectl, "kustomize", os.path.join(K8S, "overlays", "single-node")]).stdout)]
    validate_k8s(overlay)
    for _p, d in overlay:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == "rill", d["metadata"]
        if d["kind"] == "StatefulSet":
            anti = d["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
            assert list(anti) == ["preferredDuringSchedulingIgnoredDuringExecution"]


# =========================================================================
# supervisor and systemd (seed 000)
# =========================================================================

def install_tree(tmp_path, zk_port, kafka_port):
    """deploy/config, deploy/supervisor and deploy/systemd as a package would
    install them, with every absolute path moved under tmp_path, the process
    user set to ours and the ports set to free ones. Returns the rewrite."""
    import getpass
    paths = {"/usr/local/bin/rill": rill_bin(), "/etc/rill": str(tmp_path / "etc"),
             "/var/lib/rill": str(tmp_path / "lib"), "/var/log/rill": str(tmp_path / "log")}
    for d in ("etc", "lib", "log", "supervisord.d", "systemd"):
        (tmp_path / d).mkdir()

    def rewrite(text):
        for old, new in paths.items():
            text = text.replace(old, new)
        text = re.sub(r"(?m)^user=rill$", f"user={getpass.getuser()}", text)
        text = re.sub(r"(?m)^clientPort=2181$", f"clientPort={zk_port}", text)
        text = text.replace("127.0.0.1:2181", f"127.0.0.1:{zk_port}")
        return text.replace(":9092", f":{kafka_port}")

    for src, dest in (("config", "etc"), ("supervisor", "supervisord.d"), ("systemd", "systemd")):
        for path in glob.glob(os.path.join(DEPLOY, src, "*")):
            with open(path) as f:
                (tmp_path / dest / os.path.basename(path)).write_text(rewrite(f.read()))
    return rewrite


class Supervisord:
    """supervisord in the foreground (-n) with the test's own socket, so only
    this process and its programs are touched."""

    def __init__(self, tmp_path):
        self.conf = tmp_path / "supervisord.conf"
        sock = tmp_path / "supervisor.sock"
        self.log = tmp_path / "log" / "supervisord.log"
        self.conf.write_text(f"""\
[unix_http_server]
file={sock}

[supervisord]
logfile={self.log}
pidfile={tmp_path / 'supervisord.pid'}
childlogdir={tmp_path / 'log'}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}

[include]
files = {tmp_path / 'supervisord.d' / '*.ini'}
""")
        self.proc = subprocess.Popen(["supervisord", "-n", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ctl(self, *args, check=False):
        return run(["supervisorctl", "-c", str(self.conf), *args], check=check, timeout=60)

    def states(self):
        out = self.ctl("status").stdout
        return dict(re.findall(r"^(\S+)\s+(\w+)", out, re.M))

    def pid(self, program):
        return int(self.ctl("pid", program, check=True).stdout.strip())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.mark.keeper_timeout(240)
def test_supervisor_runs_keeper_and_broker(tmp_path):
    if shutil.which("supervisord") is None:
        pytest.skip("supervisord is not installed (Debian package supervisor; "
                    "scripts/install-test-deps.sh installs it)")
    if not os.path.exists(rill_bin()):
        pytest.skip(f"rill binary not found at {rill_bin()}")
    zk_port, kafka_port = free_port(), free_port()
    install_tree(tmp_path, zk_port, kafka_port)
    sup = Supervisord(tmp_path)
    try:
        programs = ("rill-broker", "rill-keeper")
        # RUNNING only after startsecs=5 seconds up, as the seed's `supervisorctl status`.
        wait_for("both programs RUNNING", lambda: all(
            sup.states().get(p) == "RUNNING" for p in programs), 60)
        status = run([rill_bin(), "keeper", "status", "--config", str(tmp_path / "etc" /
                                                                      "zoo.cfg")])
        assert status.stdout.strip() == "Mode: standalone"

        # Seed 000's check: produce on one side, consume --from-beginning on the other.
        bootstrap = f"127.0.0.1:{kafka_port}"
        topic = "xiaopalu"
        records = [(None, f"line {i}".encode()) for i in range(100)]
        produce(bootstrap, topic, records)
        wait_topic(bootstrap, topic, 48)   # num.partitions=48 in seed 000's file
        expected = sorted(v for _k, v in records)
        assert values(consume_all_confluent(bootstrap, topic, 48)) == expected

        # autorestart=true: a killed broker comes back, with its data.
        old = sup.pid("rill-broker")
        os.kill(old, signal.SIGKILL)
        wait_for("the broker restarted by supervisord", lambda: sup.states().get(
            "rill-broker") == "RUNNING" and sup.pid("rill-broker") not in (0, old), 60)
        # (It serves again once its previous session's registration expires,
        # zookeeper.session.timeout.ms = 18 s, as a Kafka broker does.)
        wait_for("the restarted broker serving", lambda: wait_topic(bootstrap, topic, 48, 5), 60)
        assert values(consume_all_confluent(bootstrap, topic, 48)) == expected

        # Shutting supervisord down (a reboot, `systemctl stop supervisor`)
        # stops the programs in reverse priority: the broker first, with TERM
        # (stopsignal), cleanly and quickly.
        started = time.monotonic()
        sup.stop()
        assert time.monotonic() - started < 15
        log = sup.log.read_text()
        stops = [log.find(f"stopped: {p} (exit status 0)") for p in programs]
        assert -1 < stops[0] < stops[1], log[-2000:]
        keeper_log = (tmp_path / "log" / "keeper_supervisor.log").read_text()
        assert "serving ZooKeeper clients" in keeper_log
    finally:
        sup.stop()


def test_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    if not os.path.exists(rill_bin()):
        pytest.skip(f"rill binary not found at {rill_bin()}")
    install_tree(tmp_path, 2181, 9092)
    units = sorted(glob.glob(str(tmp_path / "systemd" / "*.service")))
    assert [os.path.basename(u) for u in units] == ["rill-broker.service", "rill-keeper.service"]
    p = run([analyze, "verify", *units], check=False)
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr
    # The check can fail: a misspelt key is reported.
    bad = tmp_path / "systemd" / "rill-bad.service"
    bad.write_text(open(units[0]).read().replace("KillSignal=", "KilSignal="))
    assert "Unknown key" in run([analyze, "verify", str(bad)], check=False).stderr
    # Both run what the supervisor programs run.
    for unit in units:
        name = os.path.basename(unit)[:-len(".service")]
        exec_start = re.search(r"^ExecStart=(.*)$", open(unit).read(), re.M).group(1)
        ini = configparser.ConfigParser(interpolation=None)
        ini.read(tmp_path / "supervisord.d" / f"{name}.ini")
        assert ini[f"program:{name}"]["command"] == exec_start
