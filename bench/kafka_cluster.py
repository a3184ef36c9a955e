"""The body of bench/kafka-cluster.sh (which builds what it needs first).

Reuses the test suite's process helpers (tests/python): KeeperServer starts
`rill keeper`, BrokerCluster three `rill broker`s under one chroot."""

import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))

from broker_server import BrokerCluster  # noqa: E402
from keeper_server import KeeperServer  # noqa: E402

PERF = os.path.join(ROOT, "target", "bench-kafka", "librdkafka", "examples", "rdkafka_performance")
RILL = os.environ["RILL_BIN"]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
SESSION_TIMEOUT_MS = 6000


def create(bootstrap, name, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": bootstrap})
    fs = a.create_topics([NewTopic(name, partitions, 3, config={"min.insync.replicas": "2"})])
    fs[name].result(30)


def rdkafka_produce(bootstrap, topic):
    out = subprocess.run(
        [PERF, "-P", "-t", topic, "-b", bootstrap, "-s", "100", "-c", str(N), "-a", "-1",
         "-X", "linger.ms=5", "-X", "batch.size=1000000",
         "-X", "queue.buffering.max.messages=1000000", "-X", "enable.idempotence=false", "-q"],
        capture_output=True, text=True, timeout=600).stdout + ""
    m = re.findall(r"^% \d+ messages.* in (\d+)ms: (\d+) msgs/s and ([\d.]+) MB/s", out, re.M)
    ms, rate, mbs = m[-1]
    return int(rate), float(mbs)


def rill_perf(bootstrap, topic, records, throughput):
    out = subprocess.run(
        [RILL, "producer-perf-test", "--topic", topic, "--num-records", str(records),
         "--record-size", "100", "--throughput", str(throughput), "--producer-props",
         f"bootstrap.servers={bootstrap}", "acks=all", "batch.size=65536"],
        capture_output=True, text=True, timeout=600).stdout.strip().splitlines()[-1]
    m = re.match(r"\d+ records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg "
                 r"latency, [\d.]+ ms max latency, (\d+) ms 50th, \d+ ms 95th, (\d+) ms 99th, "
                 r"(\d+) ms 99.9th", out)
    rate, mbs, avg, p50, p99, p999 = m.groups()
    return float(rate), float(mbs), float(avg), int(p50), int(p99), int(p999)


class AckClock:
    """An acks=all producer sending a record every 5 ms; remembers when each
    acknowledgement arrived."""

    def __init__(self, bootstrap, topic):
        from confluent_kafka import Producer
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                           "retries": 10_000_000, "retry.backoff.ms": 50,
                           "enable.idempotence": False,
                           "topic.metadata.refresh.interval.ms": 1000,
                           "message.timeout.ms": 120_000})
        self.topic = topic
        self.acks = []
        self.errors = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _cb(self, err, _msg):
        if err is None:
            self.acks.append(time.monotonic())
        else:
            self.errors += 1

    def _run(self):
        while not self.stop.is_set():
            self.p.produce(self.topic, b"x", on_delivery=self._cb)
            self.p.poll(0.005)
        self.p.flush(60)

    def longest_pause_after(self, t0, window=30.0):
        """The longest gap between acknowledgements from t0 on: for a kill,
        the time to the first acks=all produce that succeeds afterwards."""
        times = [t0] + [t for t in self.acks if t0 < t < t0 + window]
        return max(b - a for a, b in zip(times, times[1:]))

    def close(self):
        self.stop.set()
        self.t.join()


def failovers(cluster, topic, clock, how, rounds=3):
    took = []
    for _ in range(rounds):
        victim = cluster.leader(topic)
        time.sleep(1)
        t0 = time.monotonic()
        if how == "kill":
            victim.kill()
        else:
            victim.stop()
        cluster.wait_partition(topic, lambda s: s["leader"] > 0 and s["leader"] != victim.broker_id,
                               timeout=60, what="a new leader")
        # Acknowledgements from the new leader (an answer already on its way
        # when the old one died can still arrive just after t0).
        seen = time.monotonic()
        deadline = seen + 60
        while not any(t > seen for t in clock.acks) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)
        took.append(clock.longest_pause_after(t0, window=time.monotonic() - t0))
        victim.start()
        cluster.wait_partition(topic, lambda s: len(s["isr"]) == 3, timeout=60,
                               what="the restarted broker back in the ISR")
        # Give the leadership back (preferred leader) so each round kills a leader.
        time.sleep(1)
    return took


def peak_rss_mib(broker):
    with open(f"/proc/{broker.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    keeper = KeeperServer("rill", name="bench-cluster-keeper")
    keeper.start()
    cluster = BrokerCluster(f"{keeper.hosts}/bench", size=3, name="bench",
                            overrides={"min.insync.replicas": "2"},
                            session_timeout_ms=SESSION_TIMEOUT_MS)
    try:
        cluster.start()
        bs = cluster.bootstrap
        for name, parts in (("p1", 1), ("p8", 8), ("perf", 1), ("lat", 1), ("fail", 1)):
            create(bs, name, parts)
        print(f"3 brokers, RF=3, min.insync.replicas=2, acks=all, 100-byte records, {N} per run")
        print(f"{'run':44} {'records/s':>12} {'MB/s':>9}")
        for name, parts in (("p1", 1), ("p8", 8)):
            rate, mbs = rdkafka_produce(bs, name)
            print(f"{'rdkafka_performance, ' + str(parts) + ' partition(s)':44} {rate:>12} {mbs:>9.2f}")
        rate, mbs, *_ = rill_perf(bs, "perf", N, -1)
        print(f"{'rill perf, 1 partition':44} {rate:>12.0f} {mbs:>9.2f}")
        half = int(rate / 2)
        r = rill_perf(bs, "lat", half * 10, half)
        print()
        print(f"{'latency at half of peak (rill perf, 10 s)':44} {'rate/s':>9} {'avg ms':>7} "
              f"{'p50':>4} {'p99':>4} {'p99.9':>6}")
        print(f"{'':44} {r[0]:>9.0f} {r[2]:>7.2f} {r[3]:>4} {r[4]:>4} {r[5]:>6}")
        rss = ", ".join(f"{peak_rss_mib(b):.1f} MiB" for b in cluster)
        clock = AckClock(bs, "fail")
        time.sleep(2)
        kills = failovers(cluster, "fail", clock, "kill")
        stops = failovers(cluster, "fail", clock, "stop")
        clock.close()
        print()
        print("failover: longest pause in acks=all acknowledgements after the leader's broker is")
        print(f"  killed -9 (zookeeper.session.timeout.ms={SESSION_TIMEOUT_MS}): "
              + ", ".join(f"{t:.2f} s" for t in kills))
        print("  stopped with SIGTERM (controlled shutdown): "
              + ", ".join(f"{t:.2f} s" for t in stops))
        print(f"  producer errors: {clock.errors}")
        print()
        print(f"brokers' peak RSS (before the failovers): {rss}")
    finally:
        cluster.cleanup()
        keeper.cleanup()


if __name__ == "__main__":
    main()
