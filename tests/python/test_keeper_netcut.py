"""A real network cut: a 3-node ensemble in Linux network namespaces, the
leader cut off from both followers with nftables, then healed.

Layout: one namespace per member (its own address 10.X.Y.N, every member on
the standard ports 2181/2888/3888), joined by a bridge in a hub namespace;
the test process reaches every member through a veth into the hub (so the
host's firewall, which may drop bridged traffic, is not in the way). The cut
drops packets between the leader and the two followers in the leader's
namespace, both ways; clients (this process) still reach every member, so
what the cut-off leader does with its clients is observable.

What the cut-off leader does (rill): for up to QUORUM_LOSS_MS (3 s) after it
last heard from a majority it still counts itself leader: writes sent to it
are appended to its log but never commit (no majority acknowledges them), and
it still answers reads from its own state, which may already be older than
the majority's (ZooKeeper has the same window, syncLimit x tickTime).
Afterwards it stops serving: it closes every client connection (their
sessions move to a member of the majority, keeping their ephemerals) and
refuses new sessions; `srvr` says it is not serving. Its unacknowledged
writes are discarded when, after the heal, it follows the new leader.

Skipped unless this process may create network namespaces (root, `ip netns`)
and has `nft`.
"""

import os
import random
import shutil
import subprocess
import threading
import time
import uuid

import pytest
from kazoo.exceptions import ConnectionLoss, NodeExistsError, OperationTimeoutError, \
    SessionExpiredError

import conftest
from conftest import new_kazoo, skip_if_unavailable
from keeper_server import KeeperServer, RawClient
from test_keeper_ensemble import ensemble_targets, retry, wait_until

RETRYABLE = (ConnectionLoss, OperationTimeoutError, SessionExpiredError)


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


def netns_unavailable():
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None or shutil.which("nft") is None:
        return "needs `ip` (iproute2) and `nft` (nftables)"
    probe = f"rkprobe{os.getpid()}"
    p = sh("ip", "netns", "add", probe, check=False)
    if p.returncode != 0:
        return f"`ip netns add` failed: {p.stderr.strip()}"
    sh("ip", "netns", "del", probe, check=False)
    return None


class NetLab:
    """Namespaces for ``size`` members on one bridge, reachable from here."""

    def __init__(self, size):
        tag = f"{os.getpid() % 100000}"
        self.prefix = f"10.{random.randint(100, 250)}.{random.randint(0, 250)}"
        self.hub = f"rkhub{tag}"
        self.names = [f"rk{tag}n{i + 1}" for i in range(size)]
        self.host_if = f"rk{tag}h"
        self.made = []
        try:
            self._build(tag)
        except Exception:
            self.cleanup()
            raise

    def ns_exec(self, ns, *argv, check=True):
        return sh("ip", "netns", "exec", ns, *argv, check=check)

    def _build(self, tag):
        sh("ip", "netns", "add", self.hub)
        self.made.append(self.hub)
        self.ns_exec(self.hub, "ip", "link", "set", "lo", "up")
        self.ns_exec(self.hub, "ip", "link", "add", "br0", "type", "bridge")
        self.ns_exec(self.hub, "ip", "link", "set", "br0", "up")
        for i, ns in enumerate(self.names):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            a, b = f"rk{tag}a{i}", f"rk{tag}b{i}"
            sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            sh("ip", "link", "set", a, "netns", self.hub)
            sh("ip", "link", "set", b, "netns", ns)
            self.ns_exec(self.hub, "ip", "link", "set", a, "master", "br0", "up")
            self.ns_exec(ns, "ip", "link", "set", "lo", "up")
            self.ns_exec(ns, "ip", "addr", "add", f"{self.addr(i)}/24", "dev", b)
            self.ns_exec(ns, "ip", "link", "set", b, "up")
        g = f"rk{tag}g"
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", g)
        sh("ip", "link", "set", g, "netns", self.hub)
        self.ns_exec(self.hub, "ip", "link", "set", g, "master", "br0", "up")
        sh("ip", "addr", "add", f"{self.prefix}.254/24", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")

    def addr(self, i):
        return f"{self.prefix}.{i + 1}"

    def cut(self, i, others):
        """Drops every packet between member i and the members `others`."""
        peers = ", ".join(self.addr(j) for j in others)
        rules = (
            "table inet rillcut {\n"
            f"  chain in {{ type filter hook input priority 0; ip saddr {{ {peers} }} drop; }}\n"
            f"  chain out {{ type filter hook output priority 0; ip daddr {{ {peers} }} drop; }}\n"
            "}\n")
        subprocess.run(["ip", "netns", "exec", self.names[i], "nft", "-f", "-"], input=rules,
                       text=True, check=True, capture_output=True, timeout=30)

    def heal(self, i):
        self.ns_exec(self.names[i], "nft", "delete", "table", "inet", "rillcut")

    def cleanup(self):
        sh("ip", "link", "del", self.host_if, check=False)
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)
        self.made = []


class NsKeeper(KeeperServer):
    """A keeper running inside a network namespace."""

    def __init__(self, kind, ns, addr, name):
        super().__init__(kind, name=name)
        self.ns = ns
        self.host = addr
        self.port = 2181
        self.hosts = f"{addr}:2181"
        self.cfg["clientPort"] = "2181"
        self.cfg["clientPortAddress"] = addr

    def command_line(self):
        return ["ip", "netns", "exec", self.ns] + super().command_line()


@pytest.fixture(scope="module", params=ensemble_targets())
def lab_kind(request):
    why = netns_unavailable()
    if why:
        pytest.skip(f"no network cut possible: {why}")
    skip_if_unavailable(request.param)
    return request.param


@pytest.fixture
def lab(lab_kind, request):
    net = NetLab(3)
    servers = [NsKeeper(lab_kind, ns, net.addr(i), f"cut-{i + 1}")
               for i, ns in enumerate(net.names)]
    lines = {f"server.{i + 1}": f"{net.addr(i)}:2888:3888;{net.addr(i)}:2181"
             for i in range(3)}
    for i, srv in enumerate(servers):
        srv.myid = i + 1
        srv.cfg.update(lines)
        with open(os.path.join(srv.data_dir, "myid"), "w") as f:
            f.write(f"{srv.myid}\n")
    conftest._LIVE_SERVERS.extend(servers)
    try:
        for srv in servers:
            srv.start(wait=False)
        for srv in servers:
            srv.wait_ready(90)
        yield net, servers
    finally:
        if conftest._failed(request):
            import sys
            for s in servers:
                sys.stderr.write(f"\n--- {s.name_for_log()} ---\n{s.log_tail(60)}\n")
        for s in servers:
            s.cleanup()
            conftest._LIVE_SERVERS.remove(s)
        net.cleanup()


def leader_of(servers, exclude=()):
    live = [s for s in servers if s not in exclude]
    modes = {s: s.mode() for s in live}
    leaders = [s for s, m in modes.items() if m == "leader"]
    if len(leaders) == 1 and all(m in ("leader", "follower") for m in modes.values()):
        return leaders[0]
    return None


def srvr_zxid(srv):
    for line in srv.four("srvr").splitlines():
        if line.startswith("Zxid:"):
            return int(line.split(":", 1)[1].strip(), 16)
    return None


def create_once(k, path):
    """A create that may be retried: one whose first try did happen is fine."""
    try:
        k.create(path)
    except NodeExistsError:
        pass


def test_leader_cut_off_from_both_followers(lab):
    net, servers = lab
    old = wait_until(lambda: leader_of(servers), timeout=60, msg="a leader")
    i_old = servers.index(old)
    others = [s for s in servers if s is not old]
    made = []

    def client(hosts, **kw):
        k = new_kazoo(hosts, **kw)
        made.append(k)
        return k

    try:
        # A session on the leader that may move anywhere, with an ephemeral.
        k = client(",".join(s.hosts for s in [old] + others), randomize_hosts=False,
                   timeout=20.0)
        root = f"/cut-{uuid.uuid4().hex[:8]}"
        k.create(root)
        for i in range(20):
            k.create(f"{root}/before{i}")
        k.create(f"{root}/eph", ephemeral=True)
        session = k.client_id
        zxids_seen = [k.last_zxid]
        # A client that can only talk to the leader.
        lone = client(old.hosts, timeout=20.0)
        lone.exists(root)
        zxid_before = {s.myid: srvr_zxid(s) for s in servers}

        t0 = time.monotonic()
        net.cut(i_old, [servers.index(s) for s in others])
        lone_write = lone.create_async(f"{root}/from-cut-off-leader")
        stopped = []

        def watch_old():
            while time.monotonic() - t0 < 60 and not stopped:
                if old.mode() is None:
                    stopped.append(time.monotonic() - t0)
                time.sleep(0.05)
        watcher = threading.Thread(target=watch_old, daemon=True)
        watcher.start()

        # The majority elects a new leader and keeps serving writes.
        majority = client(",".join(s.hosts for s in others))
        deadline = time.monotonic() + 60
        while True:
            try:
                majority.create(f"{root}/after-cut")
                break
            except NodeExistsError:
                break
            except RETRYABLE:
                assert time.monotonic() < deadline, "no write succeeded in the majority"
                time.sleep(0.02)
        first_write = time.monotonic() - t0
        new = wait_until(lambda: leader_of(others), timeout=30, msg="a leader of the majority")
        # The cut-off leader stops serving: no Mode in srvr, its clients are
        # dropped, new sessions are refused, its pending write is never acknowledged.
        watcher.join(60)
        assert stopped, "the cut-off leader kept serving"
        with pytest.raises(Exception):
            lone_write.get(timeout=10)
        with pytest.raises(Exception):
            RawClient(old.host, old.port, timeout_ms=6000)
        print(f"\n{old.kind}: leader myid={old.myid} cut off; first write in the majority after "
              f"{first_write * 1000:.0f} ms (new leader myid={new.myid}); the cut-off leader "
              f"stopped serving after {stopped[0] * 1000:.0f} ms")

        # Its client's session moved to the majority, ephemeral and all.
        for i in range(20):
            retry(lambda i=i: create_once(k, f"{root}/moved{i}"))
            zxids_seen.append(k.last_zxid)
        assert k.client_id == session
        assert retry(lambda: k.exists(f"{root}/eph")) is not None
        assert k.last_zxid >= zxids_seen[0]

        # Heal: the old leader follows the new one and converges.
        net.heal(i_old)
        t1 = time.monotonic()
        wait_until(lambda: old.mode() == "follower", timeout=60, msg="old leader to follow")
        print(f"healed: old leader follows after {(time.monotonic() - t1) * 1000:.0f} ms")
        assert leader_of(servers) is new
        wait_until(lambda: len({srvr_zxid(s) for s in servers}) == 1, timeout=30,
                   msg="same last zxid on every member")
        zxid_after = {s.myid: srvr_zxid(s) for s in servers}
        for myid, z in zxid_before.items():
            assert zxid_after[myid] > z, (zxid_before, zxid_after)
        expected = sorted([f"before{i}" for i in range(20)] + [f"moved{i}" for i in range(20)]
                          + ["after-cut", "eph"])
        for s in servers:
            c = client(s.hosts)
            c.sync(root)
            assert sorted(c.get_children(root)) == expected, s
            assert c.exists(f"{root}/from-cut-off-leader") is None
            # zxids of writes made after the cut are above those made before it.
            assert c.get(f"{root}/moved0")[1].czxid > c.get(f"{root}/before19")[1].czxid
        assert wait_until(lambda: len({s.node_count() for s in servers}) == 1,
                          msg="same znode count everywhere")
        zxids_seen.append(k.last_zxid)
        assert zxids_seen == sorted(zxids_seen), zxids_seen
    finally:
        for c in made:
            try:
                c.stop()
                c.close()
            except Exception:
                pass

