"""Fixtures for the keeper (ZooKeeper-compatibility) suite.

Targets: env KEEPER_TARGETS (comma list, default "rill,zookeeper,rill-ensemble";
"rill-ensemble" / "zookeeper-ensemble" = a 3-member ensemble, connect string listing
all three, raw clients and four-letter words on a follower).
Rill binary: env RILL_BIN, default <repo>/target/debug/rill (rill tests skip if missing).
Set KEEPER_KEEP_TMP=1 to keep the servers' temp dirs (config, data, logs).
"""

import faulthandler
import os
import sys
import threading
import uuid

import pytest
from kazoo.client import KazooClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from keeper_server import Ensemble, EnsembleTarget, KeeperServer, RawClient, rill_bin  # noqa: E402

DEFAULT_TEST_TIMEOUT = 120.0

# every KeeperServer started by a fixture, so the watchdog can kill them
_LIVE_SERVERS = []


def targets():
    raw = os.environ.get("KEEPER_TARGETS", "rill,zookeeper,rill-ensemble")
    out = [t.strip() for t in raw.split(",") if t.strip()]
    for t in out:
        if t not in ("rill", "zookeeper", "rill-ensemble", "zookeeper-ensemble"):
            raise pytest.UsageError(f"KEEPER_TARGETS: unknown target {t!r}")
    return out


def pytest_configure(config):
    config.addinivalue_line("markers", "keeper_timeout(seconds): per-test watchdog timeout")


def skip_if_unavailable(kind):
    if kind.startswith("rill") and not os.path.exists(rill_bin()):
        pytest.skip(f"rill binary not found at {rill_bin()} "
                    f"(build it with `cargo build -p rill` or set RILL_BIN)")


# --------------------------------------------------------------------------- watchdog
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A simple per-test watchdog (no pytest-timeout dependency).

    On expiry it dumps all thread stacks and SIGKILLs every keeper server the
    suite started: blocked kazoo/raw calls then fail with connection errors and
    the test fails instead of hanging the run.  Session-scoped servers are
    restarted by their fixture for the next test.
    """
    marker = item.get_closest_marker("keeper_timeout")
    timeout = float(marker.args[0]) if marker else DEFAULT_TEST_TIMEOUT
    fired = threading.Event()

    def fire():
        fired.set()
        sys.stderr.write(f"\n!!! keeper watchdog: {item.nodeid} exceeded {timeout}s; "
                         f"killing servers\n")
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        for srv in list(_LIVE_SERVERS):
            try:
                srv.kill()
            except Exception:
                pass

    timer = threading.Timer(timeout, fire)
    timer.daemon = True
    timer.start()
    try:
        outcome = yield
    finally:
        timer.cancel()
    if fired.is_set() and outcome.excinfo is None:
        outcome.force_exception(TimeoutError(f"test exceeded {timeout}s watchdog"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


def _report_server_log(request, srv):
    if _failed(request):
        sys.stderr.write(f"\n----- {srv.kind} server log tail ({srv.log_path}) -----\n")
        sys.stderr.write(srv.log_tail(80) + "\n")


def pytest_collection_modifyitems(config, items):
    """Ensemble targets run only in modules that declare ``ENSEMBLE_TARGETS = True``
    (their fixtures know how to start an ensemble); elsewhere they are deselected."""
    keep, dropped = [], []
    for item in items:
        kind = getattr(getattr(item, "callspec", None), "params", {}).get("kind", "")
        if kind.endswith("-ensemble") and not getattr(item.module, "ENSEMBLE_TARGETS", False):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


# --------------------------------------------------------------------------- servers
@pytest.fixture(scope="session", params=targets())
def kind(request):
    skip_if_unavailable(request.param)
    return request.param


@pytest.fixture(scope="session")
def _shared_servers():
    servers = {}
    yield servers
    for srv in servers.values():
        srv.cleanup()
        if srv in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(srv)


@pytest.fixture
def server(kind, _shared_servers, request):
    """A server shared by all tests of one kind (tests use unique root paths)."""
    srv = _shared_servers.get(kind)
    if srv is None and kind.endswith("-ensemble"):
        srv = EnsembleTarget(kind.split("-")[0], name="shared")
        _shared_servers[kind] = srv
        _LIVE_SERVERS.extend(srv.ensemble.servers)
        srv.start()
    elif srv is None:
        srv = KeeperServer(kind, name="shared")
        _shared_servers[kind] = srv
        _LIVE_SERVERS.append(srv)
        srv.start()
    elif not srv.running():
        # killed by the watchdog or by a crashing test: restart it, or replace it
        sys.stderr.write(f"shared {kind} server was not running; restarting\n")
        try:
            srv.start()
        except Exception as e:
            sys.stderr.write(f"restart failed ({e}); starting a new shared server\n")
            _LIVE_SERVERS.remove(srv)
            srv = KeeperServer(kind, name="shared")
            _shared_servers[kind] = srv
            _LIVE_SERVERS.append(srv)
            srv.start()
    yield srv
    _report_server_log(request, srv)


@pytest.fixture
def make_server(kind, request):
    """Factory for a private server: make_server(tick_time=..., extra_cfg={...})."""
    made = []

    def factory(tick_time=2000, extra_cfg=None, start=True, name=None):
        if kind.endswith("-ensemble"):
            pytest.skip("needs a private standalone server (ensembles: test_keeper_ensemble.py)")
        srv = KeeperServer(kind, tick_time=tick_time, extra_cfg=extra_cfg,
                           name=name or request.node.name[:40].replace("/", "_"))
        made.append(srv)
        _LIVE_SERVERS.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in made:
        _report_server_log(request, srv)
        srv.cleanup()
        _LIVE_SERVERS.remove(srv)


# --------------------------------------------------------------------------- clients
FAST_RETRY = {"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5,
              "max_jitter": 0.05}


def new_kazoo(hosts, timeout=10.0, start=True, **kw):
    kw.setdefault("connection_retry", dict(FAST_RETRY))
    k = KazooClient(hosts=hosts, timeout=timeout, **kw)
    if start:
        k.start(timeout=15)
    return k


@pytest.fixture
def kazoo_factory(server):
    """kazoo_factory(srv=None, **kw) -> started KazooClient, stopped at teardown."""
    clients = []

    def factory(srv=None, **kw):
        if isinstance(srv or server, EnsembleTarget):
            kw.setdefault("randomize_hosts", False)
        k = new_kazoo((srv or server).hosts, **kw)
        clients.append(k)
        return k

    yield factory
    for k in clients:
        try:
            k.stop()
            k.close()
        except Exception:
            pass


@pytest.fixture
def zk(kazoo_factory):
    return kazoo_factory()


@pytest.fixture
def raw_factory(server):
    """raw_factory(srv=None, **kw) -> RawClient (closeSession at teardown)."""
    clients = []

    def factory(srv=None, **kw):
        srv = srv or server
        c = RawClient(srv.host, srv.port, **kw)
        clients.append(c)
        return c

    yield factory
    for c in clients:
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture
def root(zk):
    """A unique, freshly created root path for this test."""
    path = f"/t-{uuid.uuid4().hex[:12]}"
    zk.create(path)
    yield path
    try:
        if zk.connected:
            zk.delete(path, recursive=True)
    except Exception:
        pass



# =========================================================================== broker suite
# Fixtures for test_broker_*.py: `rill broker` pointed at `rill keeper` or
# Apache ZooKeeper 3.8 (the `kind` parameter, i.e. KEEPER_TARGETS).
from broker_server import BrokerServer, DevServer  # noqa: E402


@pytest.hookimpl(specname="pytest_configure")
def pytest_configure_broker_markers(config):
    config.addinivalue_line(
        "markers", "heavy: a long-running broker test (hundreds of thousands of records, "
                   "crash loops); runs by default and in CI, deselect with -m 'not heavy'")


@pytest.fixture(scope="session")
def _broker_keepers():
    """One ZooKeeper-compatible server per kind for the broker suite (brokers
    use their own chroots on it)."""
    keepers = {}
    yield keepers
    for srv in keepers.values():
        srv.cleanup()
        if srv in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(srv)


def _ensure_broker_keeper(kind, keepers):
    srv = keepers.get(kind)
    if srv is None:
        srv = KeeperServer(kind, name="broker-suite")
        keepers[kind] = srv
        _LIVE_SERVERS.append(srv)
        srv.start()
    elif not srv.running():
        sys.stderr.write(f"broker-suite {kind} keeper was not running; restarting\n")
        srv.start()
    return srv


@pytest.fixture
def broker_keeper(kind, _broker_keepers):
    """The broker suite's shared keeper of this kind (tests must use a chroot)."""
    return _ensure_broker_keeper(kind, _broker_keepers)


@pytest.fixture(scope="session")
def _shared_brokers():
    brokers = {}
    yield brokers
    for b in brokers.values():
        b.cleanup()
        if b in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(b)


@pytest.fixture
def broker(kind, _broker_keepers, _shared_brokers, request):
    """A broker with default settings (auto.create.topics.enable=true), shared
    by the tests of one kind; tests use unique topic names. Its metadata lives
    under the chroot /rill-shared on the broker suite's keeper."""
    keeper = _ensure_broker_keeper(kind, _broker_keepers)
    b = _shared_brokers.get(kind)
    if b is None:
        b = BrokerServer(f"{keeper.hosts}/rill-shared", name=f"shared-{kind}")
        _shared_brokers[kind] = b
        _LIVE_SERVERS.append(b)
        b.start()
    elif not b.running():
        sys.stderr.write(f"shared broker ({kind}) was not running; restarting\n")
        b.start()
    yield b
    _report_server_log(request, b)


@pytest.fixture
def broker_factory(kind, _broker_keepers, request):
    """broker_factory(overrides=None, keeper=None, chroot=<unique>, start=True)
    -> a private BrokerServer; chroot="" means the keeper's root."""
    skip_if_unavailable("rill")
    made = []

    def factory(overrides=None, keeper=None, chroot=None, start=True, **kw):
        keeper = keeper or _ensure_broker_keeper(kind, _broker_keepers)
        if chroot is None:
            chroot = f"/b-{uuid.uuid4().hex[:10]}"
        b = BrokerServer(f"{keeper.hosts}{chroot}", overrides=overrides,
                         name=request.node.name[:40].replace("/", "_"), **kw)
        made.append(b)
        _LIVE_SERVERS.append(b)
        if start:
            b.start()
        return b

    yield factory
    for b in made:
        _report_server_log(request, b)
        b.cleanup()
        _LIVE_SERVERS.remove(b)


@pytest.fixture
def dev_server(request):
    """A started `rill dev` (embedded keeper + broker) on free ports."""
    skip_if_unavailable("rill")
    d = DevServer(name=request.node.name[:40].replace("/", "_"))
    _LIVE_SERVERS.append(d)
    d.start()
    yield d
    _report_server_log(request, d)
    d.cleanup()
    _LIVE_SERVERS.remove(d)


@pytest.fixture(scope="session")
def _cluster_ensembles():
    """One 3-member ensemble per kind for the broker-cluster suites: the
    issue's setting is three brokers on a three-node ensemble.
    RILL_CLUSTER_KEEPER=single puts them on the single broker-suite keeper."""
    ensembles = {}
    yield ensembles
    for ens in ensembles.values():
        ens.cleanup()
        for srv in ens.servers:
            if srv in _LIVE_SERVERS:
                _LIVE_SERVERS.remove(srv)


def _ensure_cluster_keeper(kind, ensembles, keepers):
    if os.environ.get("RILL_CLUSTER_KEEPER", "ensemble") == "single":
        return _ensure_broker_keeper(kind, keepers)
    ens = ensembles.get(kind)
    if ens is None:
        ens = Ensemble(kind, name="broker-cluster")
        ensembles[kind] = ens
        _LIVE_SERVERS.extend(ens.servers)
        ens.start()
    else:
        for srv in ens.servers:
            if not srv.running():
                sys.stderr.write(f"broker-cluster {kind} ensemble member was not running; "
                                 "restarting\n")
                srv.start()
        ens.wait_leader()
    return ens


@pytest.fixture
def broker_cluster(kind, _broker_keepers, _cluster_ensembles, request):
    """broker_cluster(size=3, overrides=None) -> a started BrokerCluster under a
    unique chroot of this kind's 3-member ensemble (all brokers share it)."""
    skip_if_unavailable("rill")
    from broker_server import BrokerCluster
    made = []

    def factory(size=3, overrides=None, **kw):
        keeper = _ensure_cluster_keeper(kind, _cluster_ensembles, _broker_keepers)
        chroot = f"/c-{uuid.uuid4().hex[:10]}"
        c = BrokerCluster(f"{keeper.hosts}{chroot}", size=size, overrides=overrides,
                          name=request.node.name[:30].replace("/", "_"), **kw)
        made.append(c)
        _LIVE_SERVERS.extend(c.brokers)
        c.start()
        return c

    yield factory
    for c in made:
        for b in c.brokers:
            _report_server_log(request, b)
            b.cleanup()
            _LIVE_SERVERS.remove(b)
