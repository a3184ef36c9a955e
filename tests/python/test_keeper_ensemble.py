"""Ensembles: three keeper processes on loopback forming one replicated service.

Targets: env KEEPER_ENSEMBLE_TARGETS (comma list, default "rill"; "zookeeper"
runs the same tests against a 3-node Apache ZooKeeper 3.8 to check the tests).

Covers seed 002's scenario (kill -9 the leader, a follower takes over, the old
leader comes back as a follower and catches up), no acknowledged write lost
across leader kills, sessions and ephemerals moving between servers, a
stopped follower, snapshot install for a lagging member, and a
linearizability check of a register workload under leader kills.
"""

import os
import random
import subprocess
import threading
import time
import uuid

import pytest
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.protocol.states import KazooState

import conftest
from conftest import new_kazoo, skip_if_unavailable
from keeper_server import Ensemble, RawClient, rill_bin

RETRYABLE = (ConnectionLoss, OperationTimeoutError)


def ensemble_targets():
    raw = os.environ.get("KEEPER_ENSEMBLE_TARGETS", "rill")
    return [t.strip() for t in raw.split(",") if t.strip()]


def wait_until(pred, timeout=20.0, interval=0.05, msg="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {msg}")


@pytest.fixture(scope="module", params=ensemble_targets())
def ens_kind(request):
    skip_if_unavailable(request.param)
    return request.param


@pytest.fixture
def make_ensemble(ens_kind, request):
    made = []

    def factory(size=3, extra_cfg=None, start=True, own_host_any=False):
        ens = Ensemble(ens_kind, size=size, extra_cfg=extra_cfg,
                       name=request.node.name[:30].replace("/", "_"),
                       own_host_any=own_host_any)
        made.append(ens)
        conftest._LIVE_SERVERS.extend(ens.servers)
        if start:
            ens.start()
        return ens

    yield factory
    for ens in made:
        if conftest._failed(request):
            import sys
            sys.stderr.write("\n" + ens.log_tails(60) + "\n")
        ens.cleanup()
        for s in ens.servers:
            conftest._LIVE_SERVERS.remove(s)


@pytest.fixture
def ensemble(make_ensemble):
    return make_ensemble()


@pytest.fixture
def clients():
    made = []

    def factory(hosts, **kw):
        k = new_kazoo(hosts, **kw)
        made.append(k)
        return k

    yield factory
    for k in made:
        try:
            k.stop()
            k.close()
        except Exception:
            pass


def retry(fn, timeout=30.0):
    """Calls fn until it does not raise a connection error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except RETRYABLE:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def count_on(srv, path, clients):
    k = clients(srv.hosts)
    k.sync(path)
    return len(k.get_children(path))


# ============================================================================ forming
def test_ensemble_elects_one_leader_and_reports_modes(ensemble):
    leader = ensemble.wait_leader()
    modes = sorted(ensemble.modes().values())
    assert modes == ["follower", "follower", "leader"]
    mntr = dict(line.split("\t", 1) for line in leader.four("mntr").splitlines() if "\t" in line)
    assert mntr["zk_server_state"] == "leader"
    assert mntr["zk_learners"] == "2"  # ZooKeeper 3.8's leader line (3.4 said zk_followers)
    if ensemble.kind == "rill":
        assert mntr["zk_followers"] == "2"
    assert int(mntr["zk_synced_followers"]) >= 1
    for f in ensemble.followers():
        fm = dict(line.split("\t", 1) for line in f.four("mntr").splitlines() if "\t" in line)
        assert fm["zk_server_state"] == "follower"
        assert "zk_learners" not in fm
    if ensemble.kind == "rill":
        for srv in ensemble:
            out = subprocess.run([rill_bin(), "keeper", "status", "--config", srv.cfg_path],
                                 capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            assert out.stdout.strip() == f"Mode: {srv.mode()}"
        out = subprocess.run([rill_bin(), "keeper", "ensemble", "--config", leader.cfg_path],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        rows = [line.split("\t") for line in out.stdout.strip().splitlines()]
        assert [r[0] for r in rows] == ["server.1", "server.2", "server.3"]
        assert sorted(r[2] for r in rows) == ["follower", "follower", "leader"]
        print("\n" + out.stdout)


def test_seed_002_config_with_own_entry_on_any_address(make_ensemble, clients):
    """Seed 002 lists each member's own server.N as 0.0.0.0 (bind everywhere)."""
    ens = make_ensemble(own_host_any=True)
    assert "server.1=0.0.0.0:" in open(ens[0].cfg_path).read()
    old = ens.wait_leader()
    k = clients(ens.hosts)
    k.create("/any", b"1")
    old.kill()
    retry(lambda: k.set("/any", b"2"))
    ens.wait_leader(exclude=(old,))
    old.start()
    wait_until(lambda: old.mode() == "follower", msg="old leader to follow")
    late = clients(old.hosts)
    late.sync("/any")
    assert late.get("/any")[0] == b"2"


def test_writes_through_any_member_are_seen_everywhere(ensemble, clients):
    root = f"/w-{uuid.uuid4().hex[:8]}"
    per_node = [clients(srv.hosts) for srv in ensemble]
    per_node[0].create(root)
    zxids = []
    for i, k in enumerate(per_node):
        for j in range(20):
            path = k.create(f"{root}/n-", str(i).encode(), sequence=True)
            zxids.append(k.exists(path).czxid)
    assert zxids == sorted(zxids) and len(set(zxids)) == len(zxids)
    # reads are local; after sync every member has every write
    for k in per_node:
        k.sync(root)
        assert len(k.get_children(root)) == 60
    # a client's own write is visible to its next read on a follower at once
    for k in per_node:
        k.set(root, b"x" + str(id(k)).encode())
        assert k.get(root)[0] == b"x" + str(id(k)).encode()


def test_sessions_belong_to_the_ensemble(ensemble, clients):
    ids = set()
    for srv in ensemble:
        k = clients(srv.hosts)
        sid = k.client_id[0]
        ids.add(sid)
        if ensemble.kind == "rill":
            assert (sid >> 56) & 0xFF == srv.myid  # myid in the high byte
    assert len(ids) == 3


def test_sync_makes_the_next_read_linearizable(ensemble, clients):
    """A write acknowledged through one server is seen through any other
    after `sync` there: leader to follower, follower to follower, follower
    to leader."""
    leader = ensemble.wait_leader()
    f1, f2 = ensemble.followers()[:2]
    path = f"/s-{uuid.uuid4().hex[:8]}"
    clients(leader.hosts).create(path, b"0")
    i = 0
    for a, b in ((leader, f1), (f1, f2), (f2, leader)):
        writer = clients(a.hosts)
        reader = clients(b.hosts)
        for _ in range(15):
            i += 1
            writer.set(path, str(i).encode())
            reader.sync(path)
            assert reader.get(path)[0] == str(i).encode(), (a, b)


def test_sync_is_answered_in_order_with_pipelined_requests(ensemble, clients):
    """sync, write, sync, read sent without waiting: the replies come back in
    request order (a client checks xids) and the read sees the write."""
    follower = ensemble.followers()[0]
    k = clients(follower.hosts)
    root = f"/so-{uuid.uuid4().hex[:8]}"
    k.create(root)
    pending = []
    for i in range(50):
        pending.append(k.sync_async(root))
        pending.append(k.create_async(f"{root}/n{i}"))
        pending.append(k.sync_async(root))
        pending.append(k.get_children_async(root))
    for i in range(50):
        pending[4 * i].get(timeout=30)
        pending[4 * i + 1].get(timeout=30)
        pending[4 * i + 2].get(timeout=30)
        assert len(pending[4 * i + 3].get(timeout=30)) >= i + 1


# ============================================================================ failover
def first_write_after(k, path, t0, timeout=60.0):
    """Retries a create until it succeeds; returns seconds since t0."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            k.create(path, b"after-kill")
            return time.monotonic() - t0
        except NodeExistsError:
            return time.monotonic() - t0
        except RETRYABLE + (SessionExpiredError,):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def test_seed_002_leader_kill_failover_and_rejoin(ensemble, clients):
    k = clients(ensemble.hosts)
    root = f"/f-{uuid.uuid4().hex[:8]}"
    k.create(root)
    for i in range(200):
        k.create(f"{root}/a{i}")
    old = ensemble.wait_leader()
    t0 = time.monotonic()
    old.kill()
    took = first_write_after(k, f"{root}/after", t0)
    new = ensemble.wait_leader(exclude=(old,))
    assert new is not old
    print(f"\n{ensemble.kind}: kill -9 leader myid={old.myid} -> first successful write "
          f"after {took * 1000:.0f} ms; new leader myid={new.myid}")
    for i in range(100):
        k.create(f"{root}/b{i}")
    old.start()
    assert wait_until(lambda: old.mode() == "follower", msg="old leader to follow") 
    assert ensemble.leader() is new
    counts = wait_until(
        lambda: (lambda c: c if len(set(c)) == 1 else None)(
            [s.node_count() for s in ensemble]),
        msg="same znode count on every member")
    print(f"znode count on every member after rejoin: {counts[0]}")
    assert count_on(old, root, clients) == 301


def test_no_acknowledged_create_lost_across_leader_kills(ensemble, clients):
    root = f"/q-{uuid.uuid4().hex[:8]}"
    k = clients(ensemble.hosts)
    k.create(root)
    acked = []
    stop = threading.Event()
    errors = []

    def writer():
        w = new_kazoo(ensemble.hosts)
        try:
            while not stop.is_set():
                try:
                    acked.append(w.create(f"{root}/s-", sequence=True))
                except RETRYABLE:
                    time.sleep(0.01)
                except Exception as e:  # anything else fails the test
                    errors.append(repr(e))
                    return
        finally:
            w.stop()
            w.close()

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    failovers = []
    try:
        for _ in range(5):
            time.sleep(1.0)
            leader = ensemble.wait_leader()
            before = len(acked)
            t0 = time.monotonic()
            leader.kill()
            wait_until(lambda: len(acked) > before + 5, timeout=60, msg="writes to resume")
            failovers.append(time.monotonic() - t0)
            leader.start()
            ensemble.wait_leader()
        time.sleep(1.0)
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    assert len(acked) > 100
    for srv in ensemble:
        present = set(count_children(srv, root, clients))
        missing = [p for p in acked if p.rsplit("/", 1)[1] not in present]
        assert not missing, f"{srv} lost {len(missing)} acknowledged creates: {missing[:5]}"
    print(f"\n{len(acked)} acknowledged creates, all on every member; "
          f"writes resumed {', '.join(f'{x * 1000:.0f}' for x in failovers)} ms after each kill")


def count_children(srv, path, clients):
    k = clients(srv.hosts)
    k.sync(path)
    return k.get_children(path)


def test_ephemeral_survives_its_server_and_goes_with_its_session(ensemble, clients):
    first = ensemble.servers[0]
    others = [s for s in ensemble if s is not first]
    # kazoo starts on `first` and moves to another member by itself
    hosts = ",".join([first.hosts] + [s.hosts for s in others])
    k = clients(hosts, randomize_hosts=False, timeout=6.0)
    assert k._connection._socket.getpeername()[1] == first.port
    path = f"/e-{uuid.uuid4().hex[:8]}"
    k.create(path, ephemeral=True)
    sid = k.client_id[0]
    states = []
    k.add_listener(states.append)
    # a raw client on `first` too: it can vanish without closing its session
    raw = RawClient(first.host, first.port, timeout_ms=6000)
    raw.create(path + "-raw", flags=1)
    raw_session, raw_passwd, raw_zxid = raw.session_id, raw.passwd, raw.last_zxid
    raw.close_socket()
    first.kill()
    wait_until(lambda: k.connected and k._connection._socket is not None
               and k._connection._socket.getpeername()[1] != first.port,
               msg="kazoo to reconnect elsewhere")
    assert k.client_id[0] == sid
    assert KazooState.LOST not in states
    watcher = clients(others[0].hosts)
    assert watcher.exists(path) is not None
    # the raw client reconnects to another member with its session
    raw = RawClient(others[1].host, others[1].port, timeout_ms=6000, session_id=raw_session,
                    passwd=raw_passwd, last_zxid=raw_zxid)
    assert raw.session_id == raw_session
    assert raw.exists(path + "-raw") is not None
    # ... and then goes away without closing: the session must expire
    raw.close_socket()
    t0 = time.monotonic()
    wait_until(lambda: (watcher.sync(path), watcher.exists(path + "-raw"))[1] is None,
               timeout=40, msg="ephemeral to disappear with its session")
    gone = time.monotonic() - t0
    print(f"\nephemeral gone {gone:.1f}s after its client vanished (session timeout 6s)")
    assert gone > 2.0  # not removed before the session expired
    assert watcher.exists(path) is not None  # kazoo's session is alive
    first.start()
    wait_until(lambda: first.mode() == "follower", msg="killed server to rejoin")
    late = clients(first.hosts)
    late.sync(path)
    assert late.exists(path + "-raw") is None
    assert late.exists(path) is not None


def test_stopped_follower_does_not_stop_the_ensemble(ensemble, clients):
    leader = ensemble.wait_leader()
    follower = ensemble.followers()[0]
    other = [s for s in ensemble if s not in (leader, follower)][0]
    k = clients(f"{leader.hosts},{other.hosts}")
    root = f"/p-{uuid.uuid4().hex[:8]}"
    k.create(root)
    follower.suspend()
    try:
        t0 = time.monotonic()
        for i in range(100):
            k.create(f"{root}/n{i}")
        took = time.monotonic() - t0
        assert ensemble.leader() is leader
        print(f"\n100 creates with a SIGSTOPped follower in {took * 1000:.0f} ms")
    finally:
        follower.resume()
    wait_until(lambda: follower.mode() == "follower", msg="follower to come back")
    assert count_on(follower, root, clients) == 100


def test_leader_without_a_majority_stops_serving(ensemble, clients):
    """Both followers stopped (SIGSTOP): the leader hears from no majority, so it
    must stop serving — disconnect its clients and refuse writes — instead of
    answering from a minority (the cut-off-leader case of a partition)."""
    leader = ensemble.wait_leader()
    followers = ensemble.followers()
    k = clients(leader.hosts, timeout=30.0)
    root = f"/m-{uuid.uuid4().hex[:8]}"
    k.create(root)
    for f in followers:
        f.suspend()
    try:
        t0 = time.monotonic()
        wait_until(lambda: leader.mode() is None, timeout=30, msg="leader to stop serving")
        print(f"\nleader stopped serving {time.monotonic() - t0:.1f}s after losing its majority")
        wait_until(lambda: not k.connected, timeout=10, msg="leader to drop its clients")
        with pytest.raises(Exception):  # a new session is refused
            RawClient(leader.host, leader.port, timeout_ms=6000)
    finally:
        for f in followers:
            f.resume()
    ensemble.wait_leader()
    retry(lambda: k.create(f"{root}/majority"))
    assert retry(lambda: k.exists(f"{root}/majority")) is not None


def test_status_fails_on_a_member_without_a_quorum(ensemble):
    """Two of three members stopped: the survivor answers `srvr` without a
    Mode line, so `rill keeper status` and bin/zkServer.sh status exit
    non-zero with zkServer.sh's message (health checks rely on it)."""
    survivor = ensemble.followers()[0]
    for s in ensemble:
        if s is not survivor:
            s.stop()
    wait_until(lambda: survivor.mode() is None, timeout=30, msg="survivor to stop serving")
    if ensemble.kind != "rill":
        return
    zk_server = os.path.join(os.path.dirname(__file__), "..", "..", "bin", "zkServer.sh")
    env = dict(os.environ, RILL_BIN=rill_bin())
    for argv in ([rill_bin(), "keeper", "status", "--config", survivor.cfg_path],
                 [zk_server, "status", survivor.cfg_path]):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
        assert p.returncode != 0, (argv, p)
        assert "Error contacting service. It is probably not running." in p.stdout, p
        assert "Mode:" not in p.stdout
        assert "not serving requests" in p.stderr, p.stderr


def test_stopped_leader_is_replaced_and_rejoins_as_follower(ensemble, clients):
    """A hung leader (SIGSTOP: connections stay open, nothing answers) is
    replaced after the election timeout; once resumed it steps down and
    follows, and a write made meanwhile is seen through it."""
    old = ensemble.wait_leader()
    others = [s for s in ensemble if s is not old]
    k = clients(",".join(s.hosts for s in others))
    root = f"/h-{uuid.uuid4().hex[:8]}"
    k.create(root)
    old.suspend()
    try:
        t0 = time.monotonic()
        new = wait_until(lambda: next((s for s in others if s.mode() == "leader"), None),
                         timeout=30, msg="a new leader among the other two")
        retry(lambda: k.create(f"{root}/during"))
        print(f"\nhung leader replaced by myid={new.myid}; write after "
              f"{(time.monotonic() - t0) * 1000:.0f} ms")
    finally:
        old.resume()
    wait_until(lambda: old.mode() == "follower", msg="old leader to step down and follow")
    assert ensemble.wait_leader() is new
    late = clients(old.hosts)
    late.sync(root)
    assert late.get_children(root) == ["during"]


def test_lagging_member_catches_up_by_snapshot(make_ensemble, clients):
    ens = make_ensemble(extra_cfg={"snapCount": "200"})
    leader = ens.wait_leader()
    lagging = ens.followers()[0]
    lagging.stop()
    k = clients(",".join(s.hosts for s in ens if s is not lagging))
    root = f"/l-{uuid.uuid4().hex[:8]}"
    k.create(root)
    for i in range(1500):
        k.create(f"{root}/n{i}", b"v")
    lagging.start()
    wait_until(lambda: lagging.mode() == "follower", msg="lagging member to follow")
    wait_until(lambda: len({s.node_count() for s in ens}) == 1, msg="same znode count")
    assert count_on(lagging, root, clients) == 1500
    if ens.kind == "rill":
        assert "installing raft snapshot" in lagging.log_text()
        assert "raft snapshot" in leader.log_text()


# ============================================================================ linearizability
def check_register_history(history, initial):
    """Porcupine-style check (Wing & Gong search with memoization) of a single
    register with read, write and compare-and-set (setData with a version).

    history: list of ops (call, ret, kind, arg, result) with times; ops whose
    outcome is unknown (connection lost) have ret=inf and may or may not take
    effect.  The state is (value, version).  Returns None if linearizable,
    else a description.
    """
    ops = sorted(history, key=lambda o: o["call"])
    n = len(ops)
    seen = set()
    sys_limit = 200000

    def step(state, op):
        value, version = state
        kind = op["kind"]
        if kind == "read":
            if op["result"] is None:  # unknown read: no constraint
                return state
            return state if op["result"] == (value, version) else None
        if kind == "write":
            new = (op["arg"], version + 1)
            if op["result"] is None or op["result"] == version + 1:
                return new
            return None
        if kind == "cas":
            expect, newval = op["arg"]
            if op["result"] == "ok":
                return (newval, version + 1) if version == expect else None
            if op["result"] == "bad":
                return state if version != expect else None
            # unknown: may or may not have applied
            return ("either", (newval, version + 1) if version == expect else state)
        raise ValueError(kind)

    # iterative DFS over (linearized set, state)
    stack = [(frozenset(), initial)]
    visits = 0
    while stack:
        done, state = stack.pop()
        if len(done) == n:
            return None
        key = (done, state)
        if key in seen:
            continue
        seen.add(key)
        visits += 1
        if visits > sys_limit:
            return "search limit reached"
        # candidates: not done, and called before every pending op's return
        pending = [i for i in range(n) if i not in done]
        min_ret = min(ops[i]["ret"] for i in pending)
        for i in pending:
            op = ops[i]
            if op["call"] > min_ret:
                break
            r = step(state, op)
            if r is None:
                continue
            if isinstance(r, tuple) and r and r[0] == "either":
                stack.append((done | {i}, state))
                stack.append((done | {i}, r[1]))
            else:
                stack.append((done | {i}, r))
        # unknown-outcome ops that never took effect may be dropped entirely
        for i in pending:
            if ops[i]["ret"] == float("inf") and ops[i]["kind"] != "read":
                stack.append((done | {i}, state))
    return f"no linearization for {n} operations"


def test_checker_finds_a_stale_read():
    inf = float("inf")
    ok = [
        {"call": 0, "ret": 1, "kind": "write", "arg": 1, "result": 1},
        {"call": 2, "ret": 3, "kind": "read", "arg": None, "result": (1, 1)},
        {"call": 4, "ret": inf, "kind": "cas", "arg": (1, 5), "result": None},
        {"call": 6, "ret": 7, "kind": "read", "arg": None, "result": (5, 2)},
    ]
    assert check_register_history(ok, (0, 0)) is None
    stale = ok[:2] + [{"call": 4, "ret": 5, "kind": "read", "arg": None, "result": (0, 0)}]
    assert check_register_history(stale, (0, 0)) is not None
    lost = ok[:1] + [{"call": 2, "ret": 3, "kind": "cas", "arg": (0, 9), "result": "ok"}]
    assert check_register_history(lost, (0, 0)) is not None


def run_register_workload(ens, path, seconds, kill_at):
    """Three clients (one per member connect order) do reads, writes and CAS on
    one znode while the leader is killed once; returns the history."""
    history = []
    lock = threading.Lock()
    stop = threading.Event()
    inf = float("inf")

    def client(idx):
        hosts = ",".join(s.hosts for s in ens.servers[idx:] + ens.servers[:idx])
        k = new_kazoo(hosts, randomize_hosts=False, timeout=8.0)
        rnd = random.Random(idx * 7919 + int(time.time()))
        try:
            while not stop.is_set():
                kind = rnd.choice(["read", "read", "write", "cas"])
                op = {"kind": kind, "call": time.monotonic(), "arg": None, "result": None}
                try:
                    if kind == "read":
                        k.sync(path)
                        data, st = k.get(path)
                        op["result"] = (int(data), st.version)
                    elif kind == "write":
                        v = rnd.randrange(1000)
                        op["arg"] = v
                        op["result"] = k.set(path, str(v).encode()).version
                    else:
                        _, st = k.get(path)
                        v = rnd.randrange(1000)
                        op["arg"] = (st.version, v)
                        try:
                            k.set(path, str(v).encode(), version=st.version)
                            op["result"] = "ok"
                        except BadVersionError:
                            op["result"] = "bad"
                    op["ret"] = time.monotonic()
                except RETRYABLE + (SessionExpiredError,):
                    op["ret"] = inf
                    op["result"] = None
                    time.sleep(0.05)
                if kind == "read" and op["result"] is None:
                    continue  # failed reads say nothing
                if kind == "cas" and op["arg"] is None:
                    continue  # its read failed: the compare-and-set was never sent
                with lock:
                    history.append(op)
        finally:
            k.stop()
            k.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(kill_at)
    victim = ens.leader()
    if victim is not None:
        victim.kill()
    time.sleep(seconds - kill_at)
    stop.set()
    for t in threads:
        t.join(30)
    if victim is not None:
        victim.start()
        ens.wait_leader()
    return history


@pytest.mark.keeper_timeout(900)
def test_register_linearizable_under_leader_kills(ensemble, clients):
    runs = int(os.environ.get("KEEPER_LINEARIZABILITY_RUNS", "20"))
    k = clients(ensemble.hosts)
    violations = []
    total_ops = 0
    for run in range(runs):
        path = f"/r-{run}-{uuid.uuid4().hex[:6]}"
        retry(lambda: k.create(path, b"0"))
        history = run_register_workload(ensemble, path, seconds=3.0, kill_at=1.0)
        total_ops += len(history)
        verdict = check_register_history(history, (0, 0))
        if verdict is not None:
            violations.append((run, verdict, len(history)))
    print(f"\nlinearizability: {runs} runs, {total_ops} operations, "
          f"{len(violations)} violations")
    assert not violations, violations
