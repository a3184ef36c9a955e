"""ZooKeeper wire-compatibility tests, run against every target in KEEPER_TARGETS.

The same assertions run against Apache ZooKeeper 3.8 ("zookeeper") and
`rill keeper` ("rill").  Where ZooKeeper behaves surprisingly the test asserts
what ZooKeeper does (that is the point of the suite) and says so in a comment.

Most tests share one server per kind (each test works under its own /t-<uuid>
root); restart / expiry / config tests start a private server.
"""

import os
import queue
import socket
import struct
import time
import uuid

import pytest
from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    ConnectionLoss,
    InvalidACLError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    ReconfigDisabledError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import EventType, KazooState, KeeperState, ZnodeStat
from kazoo.security import (
    ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_acl,
    make_digest_acl,
)

from conftest import new_kazoo
from keeper_server import (
    ERR,
    EV,
    OP,
    PING_XID,
    SET_WATCHES_XID,
    ConnectionClosed,
    Reader,
    Writer,
    free_port,
    multi_body,
    parse_multi_response,
)

# This suite also runs against 3-member ensembles (KEEPER_TARGETS rill-ensemble, zookeeper-ensemble).
ENSEMBLE_TARGETS = True

MAX_PACKET = 0xFFFFF  # default jute.maxbuffer


# ============================================================================ helpers
def wait_until(pred, timeout=10.0, interval=0.05, msg="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {msg}")


class KRequest:
    """A custom request sent through kazoo's own connection (client._call)."""

    def __init__(self, type, body=b"", decode=None):
        self.type = type
        self.body = body
        self.decode = decode or (lambda r: None)

    def serialize(self):
        return self.body

    def deserialize(self, buf, offset):
        return self.decode(Reader(bytes(buf), offset))

    def __repr__(self):
        return f"KRequest(type={self.type})"


def kcall(client, type, body=b"", decode=None, timeout=10):
    ar = client.handler.async_result()
    client._call(KRequest(type, body, decode), ar)
    return ar.get(timeout=timeout)


def whoami_decode(r):
    n = r.int()
    return [(r.string(), r.string()) for _ in range(n)]


class Events:
    """Collects kazoo watch callbacks."""

    def __init__(self):
        self.q = queue.Queue()

    def __call__(self, ev):
        self.q.put(ev)

    def get(self, timeout=10.0):
        return self.q.get(timeout=timeout)

    def none(self, wait=0.5):
        try:
            ev = self.q.get(timeout=wait)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected watch event {ev}")


def collect_events(raw, n, timeout=10.0):
    out = []
    for _ in range(n):
        ev = raw.next_event(timeout)
        out.append((ev.type, ev.path))
    return out


def expected_mode(server):
    """'standalone', or 'follower' for an ensemble target (its 4lw go to a follower)."""
    return getattr(server, "mode_name", None) or "standalone"


def parse_kv_lines(text, sep):
    out = {}
    for line in text.splitlines():
        if sep in line:
            k, v = line.split(sep, 1)
            out[k.strip()] = v.strip()
    return out


# ============================================================================ handshake
def test_connect_basic(zk):
    assert zk.connected
    assert zk.state == KazooState.CONNECTED
    assert zk.client_state == KeeperState.CONNECTED
    session_id, passwd = zk.client_id
    assert session_id != 0
    assert len(passwd) == 16
    assert zk.exists("/") is not None


def test_connect_read_only_capable(server, kazoo_factory):
    k = kazoo_factory(read_only=True)
    assert k.connected
    # a read-write server answers readOnly=false: kazoo reports plain CONNECTED
    assert k.client_state == KeeperState.CONNECTED
    p = f"/t-ro-{uuid.uuid4().hex[:8]}"
    k.create(p, b"x")
    assert k.get(p)[0] == b"x"
    k.delete(p)


def test_handshake_raw_fields(server, raw_factory):
    c = raw_factory(read_only=True)
    assert c.protocol_version == 0
    assert c.read_only is False
    assert len(c.passwd) == 16
    # ConnectResponse: int proto, int timeout, long session, buffer(16) passwd, bool readOnly
    assert c.connect_response_len == 4 + 4 + 8 + 4 + 16 + 1
    # An old client that omits the readOnly byte gets an answer without it.
    old = raw_factory(send_read_only=False)
    assert old.connect_response_len == 4 + 4 + 8 + 4 + 16
    assert old.read_only is None
    assert old.exists("/") is not None
    assert old.session_id != c.session_id


def test_session_timeout_negotiation(server, raw_factory):
    assert server.tick_time == 2000
    assert raw_factory(timeout_ms=1000).timeout_ms == 4000        # 2 * tickTime
    assert raw_factory(timeout_ms=10_000_000).timeout_ms == 40000  # 20 * tickTime
    assert raw_factory(timeout_ms=10000).timeout_ms == 10000


def test_session_timeout_configured_bounds(make_server, raw_factory):
    srv = make_server(extra_cfg={"minSessionTimeout": 3000, "maxSessionTimeout": 6000})
    assert raw_factory(srv, timeout_ms=1000).timeout_ms == 3000
    assert raw_factory(srv, timeout_ms=100000).timeout_ms == 6000
    assert raw_factory(srv, timeout_ms=5000).timeout_ms == 5000
    conf = parse_kv_lines(srv.four("conf"), "=")
    assert conf["minSessionTimeout"] == "3000"
    assert conf["maxSessionTimeout"] == "6000"


# ============================================================================ opcodes
def test_create_variants(zk, kazoo_factory, root):
    assert zk.create(root + "/p", b"data") == root + "/p"
    with pytest.raises(NodeExistsError):
        zk.create(root + "/p")
    with pytest.raises(NoNodeError):
        zk.create(root + "/missing/child")

    e = zk.create(root + "/e", ephemeral=True)
    assert zk.exists(e).ephemeralOwner == zk.client_id[0]
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(root + "/e/child")

    s1 = zk.create(root + "/p/seq-", sequence=True)
    s2 = zk.create(root + "/p/seq-", sequence=True)
    assert s1 == root + "/p/seq-0000000000"
    assert s2 == root + "/p/seq-0000000001"
    es = zk.create(root + "/p/eseq-", ephemeral=True, sequence=True)
    assert es == root + "/p/eseq-0000000002"
    assert zk.exists(es).ephemeralOwner == zk.client_id[0]

    deep = zk.create(root + "/a/b/c", b"v", makepath=True)
    assert deep == root + "/a/b/c"
    assert zk.get(deep)[0] == b"v"
    assert zk.exists(root + "/a/b").numChildren == 1

    # ephemerals are visible to other sessions but owned by the creator
    other = kazoo_factory()
    assert other.exists(e).ephemeralOwner == zk.client_id[0]


def test_create2_include_data(zk, root):
    path, st = zk.create(root + "/c2", b"hello", include_data=True)
    assert path == root + "/c2"
    assert isinstance(st, ZnodeStat)
    assert st == zk.exists(path)
    assert st.dataLength == 5 and st.version == 0 and st.numChildren == 0
    assert st.czxid == st.mzxid == st.pzxid == zk.last_zxid
    # create2 with sequence returns the real name
    spath, sst = zk.create(root + "/s-", b"", sequence=True, include_data=True)
    assert spath == root + "/s-0000000001"
    assert sst == zk.exists(spath)


def test_delete(zk, root):
    p = root + "/d"
    zk.create(p, b"x")
    zk.set(p, b"y")  # version 1
    with pytest.raises(BadVersionError):
        zk.delete(p, version=0)
    zk.create(p + "/child")
    with pytest.raises(NotEmptyError):
        zk.delete(p)
    zk.delete(p + "/child", version=0)
    zk.delete(p, version=1)
    assert zk.exists(p) is None
    with pytest.raises(NoNodeError):
        zk.delete(p)
    with pytest.raises(NoNodeError):
        zk.delete(p, version=5)


def test_exists_get_set(zk, root):
    p = root + "/x"
    assert zk.exists(p) is None
    zk.create(p, b"one")
    data, st = zk.get(p)
    assert data == b"one" and st.version == 0 and st.dataLength == 3
    assert zk.exists(p) == st

    st1 = zk.set(p, b"two!", version=0)
    assert st1.version == 1 and st1.dataLength == 4
    assert st1.mzxid > st.mzxid and st1.czxid == st.czxid
    with pytest.raises(BadVersionError):
        zk.set(p, b"three", version=0)
    st2 = zk.set(p, b"")  # -1 = any version
    assert st2.version == 2 and st2.dataLength == 0
    assert zk.get(p) == (b"", st2)
    with pytest.raises(NoNodeError):
        zk.get(root + "/nope")
    with pytest.raises(NoNodeError):
        zk.set(root + "/nope", b"x")
    # null data (buffer length -1) round-trips as null; empty stays empty
    zk.create(p + "/n", None)
    data, st = zk.get(p + "/n")
    assert data is None and st.dataLength == 0
    zk.set(p + "/n", b"")
    assert zk.get(p + "/n")[0] == b""
    zk.set(p + "/n", None)
    assert zk.get(p + "/n")[0] is None


def test_get_set_acls(zk, root):
    p = root + "/acl"
    zk.create(p)
    acls, st = zk.get_acls(p)
    assert acls == OPEN_ACL_UNSAFE
    assert st == zk.exists(p)
    st1 = zk.set_acls(p, READ_ACL_UNSAFE + [make_acl("world", "anyone", admin=True)], version=0)
    assert st1.aversion == 1 and st1.version == 0 and st1.mzxid == st.mzxid
    with pytest.raises(BadVersionError):
        zk.set_acls(p, OPEN_ACL_UNSAFE, version=0)
    acls, st2 = zk.get_acls(p)
    assert sorted((a.perms, a.id.scheme, a.id.id) for a in acls) == [
        (Permissions.READ, "world", "anyone"), (Permissions.ADMIN, "world", "anyone")]
    assert st2.aversion == 1
    with pytest.raises(NoNodeError):
        zk.get_acls(root + "/nope")
    with pytest.raises(NoNodeError):
        zk.set_acls(root + "/nope", OPEN_ACL_UNSAFE)


def test_get_children(zk, root):
    for n in ("b", "a", "c"):
        zk.create(f"{root}/{n}")
    assert sorted(zk.get_children(root)) == ["a", "b", "c"]
    children, st = zk.get_children(root, include_data=True)
    assert sorted(children) == ["a", "b", "c"]
    assert st.numChildren == 3 and st.cversion == 3
    assert st == zk.exists(root)
    assert zk.get_children(root + "/a") == []
    with pytest.raises(NoNodeError):
        zk.get_children(root + "/nope")


def test_sync(zk, root):
    assert zk.sync(root) == root
    # sync of a missing path still succeeds (it is a no-op barrier)
    assert zk.sync(root + "/nope") == root + "/nope"


def test_transaction_success(zk, root):
    p = root + "/m"
    zk.create(p, b"v0")
    t = zk.transaction()
    t.check(p, 0)
    t.create(p + "/a", b"x")
    t.set_data(p + "/a", b"y")
    t.create(p + "/b")
    t.delete(p + "/b")
    t.create(p + "/s-", sequence=True)
    res = t.commit()
    assert res[0] is True
    assert res[1] == p + "/a"
    assert isinstance(res[2], ZnodeStat) and res[2].version == 1
    assert res[3] == p + "/b"
    assert res[4] is True
    # the sequential suffix counts the child creates earlier in the same multi
    # (a, b; the delete of b does not count: see test_sequential_suffix...)
    assert res[5] == p + "/s-0000000002"
    assert zk.get(p + "/a")[0] == b"y"
    # every op of a multi shares one zxid
    assert zk.exists(p + "/a").czxid == zk.exists(p + "/s-0000000002").czxid == \
        zk.exists(p + "/a").mzxid
    assert zk.transaction().commit() == []


def test_transaction_failure_results(zk, root):
    p = root + "/m"
    zk.create(p, b"v0")
    before = zk.get_children(p, include_data=True)

    # ops before the failing one: RolledBackError (err 0), the failing op its
    # own error, the ops after it RuntimeInconsistency.
    t = zk.transaction()
    t.create(p + "/a")
    t.set_data(p, b"new", version=5)
    t.create(p + "/b")
    t.delete(root + "/nonexistent")
    res = t.commit()
    assert [type(r) for r in res] == [RolledBackError, BadVersionError,
                                      RuntimeInconsistency, RuntimeInconsistency]

    t = zk.transaction()
    t.check(p, 0)
    t.create(p + "/a")
    t.create(p + "/a")
    res = t.commit()
    assert [type(r) for r in res] == [RolledBackError, RolledBackError, NodeExistsError]

    t = zk.transaction()
    t.create(p + "/x/y")
    t.create(p + "/a")
    res = t.commit()
    assert [type(r) for r in res] == [NoNodeError, RuntimeInconsistency]

    t = zk.transaction()
    t.check(p, 7)
    assert [type(r) for r in t.commit()] == [BadVersionError]

    # nothing was applied
    assert zk.get_children(p, include_data=True) == before
    assert zk.get(p)[0] == b"v0"


def test_multi_wire_format(server, raw_factory, zk, root):
    c = raw_factory()
    p = root + "/mw"
    c.create(p)
    # failure: reply header err is 0 (!), every result is an ErrorResult (type -1)
    rep = c.call(OP.MULTI, multi_body([
        (OP.CREATE, c.create_body(p + "/z")),
        (OP.CHECK, Writer().string(p).int(99).bytes()),
        (OP.DELETE, Writer().string(p).int(-1).bytes()),
    ]))
    assert rep.err == 0
    assert parse_multi_response(rep.reader()) == [
        (OP.ERROR, 0, None), (OP.ERROR, ERR.BAD_VERSION, None),
        (OP.ERROR, ERR.RUNTIME_INCONSISTENCY, None)]
    assert zk.exists(p + "/z") is None

    # empty multi: only the terminating header
    rep = c.call(OP.MULTI, multi_body([]))
    assert rep.err == 0
    assert rep.body == struct.pack(">i?i", -1, True, -1)

    # success: result types.  ZooKeeper 3.8 answers a create2 op inside a
    # multi with a plain create result (type 1, path only), while
    # createContainer / createTTL ops get a create2 result (type 15, path+stat).
    rep = c.call(OP.MULTI, multi_body([
        (OP.CREATE2, c.create_body(p + "/c2", b"ab")),
        (OP.CREATE_CONTAINER, c.create_body(p + "/cc", flags=4)),
        (OP.CREATE_TTL, c.create_body(p + "/tt", flags=5, ttl=60000)),
        (OP.SET_DATA, Writer().string(p + "/c2").buffer(b"abc").int(0).bytes()),
        (OP.CHECK, Writer().string(p + "/c2").int(1).bytes()),
        (OP.DELETE, Writer().string(p + "/c2").int(1).bytes()),
    ]))
    assert rep.err == 0
    res = parse_multi_response(rep.reader())
    assert [(t, e) for t, e, _ in res] == [(OP.CREATE, 0), (OP.CREATE2, 0), (OP.CREATE2, 0),
                                          (OP.SET_DATA, 0), (OP.CHECK, 0), (OP.DELETE, 0)]
    assert res[0][2] == p + "/c2"
    assert res[1][2][0] == p + "/cc"
    assert res[2][2][0] == p + "/tt"
    assert res[3][2].version == 1 and res[3][2].dataLength == 3
    zx = res[1][2][1].czxid
    assert res[2][2][1].czxid == zx and res[3][2].mzxid == zx == rep.zxid

    # a read op inside a write multi: MarshallingError in the reply header
    rep = c.call(OP.MULTI, multi_body([(OP.GET_DATA, c.path_body(p, False))]))
    assert rep.err == ERR.MARSHALLING
    # a bad path inside a multi: header ok, ErrorResult BadArguments
    rep = c.call(OP.MULTI, multi_body([(OP.CREATE, c.create_body(p + "/"))]))
    assert rep.err == 0
    assert parse_multi_response(rep.reader()) == [(OP.ERROR, ERR.BAD_ARGUMENTS, None)]
    assert c.exists(p) is not None  # connection still fine


def test_multi_read(server, raw_factory, root):
    c = raw_factory()
    p = root + "/mr"
    c.create(p, b"data")
    c.create(p + "/k1")
    c.create(p + "/k2")
    rep = c.call(OP.MULTI_READ, multi_body([
        (OP.GET_DATA, c.path_body(p, False)),
        (OP.GET_CHILDREN, c.path_body(p, False)),
        (OP.GET_DATA, c.path_body(p + "/nope", False)),
        (OP.GET_CHILDREN, c.path_body(p + "/nope", False)),
        (OP.GET_DATA, c.path_body(p + "/k1", False)),
    ]))
    assert rep.err == 0
    res = parse_multi_response(rep.reader())
    assert [(t, e) for t, e, _ in res] == [
        (OP.GET_DATA, 0), (OP.GET_CHILDREN, 0), (OP.ERROR, ERR.NO_NODE),
        (OP.ERROR, ERR.NO_NODE), (OP.GET_DATA, 0)]  # no rollback semantics for reads
    data, st = res[0][2]
    assert data == b"data" and st.numChildren == 2
    assert sorted(res[1][2]) == ["k1", "k2"]
    assert res[4][2][0] == b""
    # a write op inside multiRead: MarshallingError
    rep = c.call(OP.MULTI_READ, multi_body([(OP.CREATE, c.create_body(p + "/w"))]))
    assert rep.err == ERR.MARSHALLING
    assert c.exists(p + "/w") is None


def test_reconfig_disabled(zk):
    # standalone without reconfigEnabled: ReconfigDisabled (-123)
    with pytest.raises(ReconfigDisabledError):
        zk.reconfig(joining="server.100=127.0.0.1:2889:3888:observer;0.0.0.0:2181",
                    leaving=None, new_members=None)
    assert zk.exists("/") is not None


def test_check_and_remove_watches(server, raw_factory, root):
    c = raw_factory()
    other = raw_factory()
    p = root + "/w"
    c.create(p)

    def check(path, t):
        return c.call(OP.CHECK_WATCHES, Writer().string(path).int(t).bytes()).err

    def remove(path, t):
        return c.call(OP.REMOVE_WATCHES, Writer().string(path).int(t).bytes()).err

    # WatcherType: Children 1, Data 2, Any 3
    for t in (1, 2, 3):
        assert check(p, t) == ERR.NO_WATCHER
        assert remove(p, t) == ERR.NO_WATCHER

    c.get(p, watch=True)
    assert check(p, 2) == 0
    assert check(p, 3) == 0
    assert check(p, 1) == ERR.NO_WATCHER
    assert remove(p, 2) == 0
    assert check(p, 2) == ERR.NO_WATCHER
    other.set(p, b"changed")
    # the server does not send a DataWatchRemoved event (the Java client
    # synthesizes it locally) and the removed watch does not fire
    assert c.no_event(0.5) is None

    c.children(p, watch=True)
    assert check(p, 1) == 0
    assert remove(p, 3) == 0
    other.create(p + "/kid")
    assert c.no_event(0.5) is None

    # an exists() watch on a missing node is a data watch too
    c.exists(p + "/missing", watch=True)
    assert check(p + "/missing", 2) == 0
    assert remove(p + "/missing", 2) == 0

    # persistent watches are removed with type Any; types 4/5 are rejected
    c.add_watch(p, 0)
    assert remove(p, 4) == ERR.MARSHALLING
    assert remove(p, 3) == 0
    other.set(p, b"again")
    assert c.no_event(0.5) is None


def test_add_watch_persistent(server, raw_factory, root):
    a = raw_factory()
    b = raw_factory()
    p = root + "/p"
    b.create(p)
    b.create(p + "/c")
    rep = a.call(OP.ADD_WATCH, Writer().string(p).int(0).bytes())
    assert rep.err == 0
    # the addWatch reply carries an ErrorResponse body (int err = 0)
    assert rep.body == b"\x00\x00\x00\x00"
    b.set(p, b"1")
    b.create(p + "/d")
    b.set(p + "/d", b"x")       # no event: not a recursive watch
    b.create(p + "/d/e")        # no event
    b.delete(p + "/d/e")        # no event
    b.delete(p + "/d")
    b.set(p, b"2")
    b.delete(p + "/c")
    b.delete(p)
    b.create(p)
    b.create(p + "/q")
    assert collect_events(a, 8) == [
        (EV.DATA_CHANGED, p), (EV.CHILDREN_CHANGED, p), (EV.CHILDREN_CHANGED, p),
        (EV.DATA_CHANGED, p), (EV.CHILDREN_CHANGED, p), (EV.DELETED, p),
        (EV.CREATED, p), (EV.CHILDREN_CHANGED, p)]
    assert a.no_event(0.5) is None
    # addWatch on a path that does not exist is fine
    assert a.call(OP.ADD_WATCH, Writer().string(p + "/x/y").int(0).bytes()).err == 0
    # unknown mode
    assert a.call(OP.ADD_WATCH, Writer().string(p).int(2).bytes()).err == ERR.MARSHALLING


def test_add_watch_persistent_recursive(server, raw_factory, root):
    a = raw_factory()
    b = raw_factory()
    p = root + "/r"
    b.create(p)
    a.add_watch(p, 1)
    b.set(p, b"1")
    b.create(p + "/d")
    b.set(p + "/d", b"x")
    b.create(p + "/d/e")
    b.set(p + "/d/e", b"y")
    b.delete(p + "/d/e")
    b.delete(p + "/d")
    b.delete(p)
    b.create(p)
    b.create(p + "x")           # sibling with a common string prefix: not under p
    b.set(p + "x", b"z")
    # recursive watches never get NodeChildrenChanged
    assert collect_events(a, 9) == [
        (EV.DATA_CHANGED, p), (EV.CREATED, p + "/d"), (EV.DATA_CHANGED, p + "/d"),
        (EV.CREATED, p + "/d/e"), (EV.DATA_CHANGED, p + "/d/e"), (EV.DELETED, p + "/d/e"),
        (EV.DELETED, p + "/d"), (EV.DELETED, p), (EV.CREATED, p)]
    assert a.no_event(0.5) is None
    # removing with type Any stops it
    assert a.call(OP.REMOVE_WATCHES, Writer().string(p).int(3).bytes()).err == 0
    b.create(p + "/after")
    assert a.no_event(0.5) is None


def test_container_reaped(server, raw_factory, zk, root):
    c = raw_factory()
    used = root + "/cont"
    unused = root + "/cont-unused"
    path, st = c.create2(used, b"c", flags=4, op=OP.CREATE_CONTAINER)
    assert path == used
    # ZooKeeper stores 0x8000000000000000 as the owner but reports 0 to clients
    assert st.ephemeralOwner == 0
    assert zk.exists(used).ephemeralOwner == 0
    c.create2(unused, flags=4, op=OP.CREATE_CONTAINER)
    c.create(used + "/kid")
    ev = Events()
    zk.exists(used, watch=ev)
    time.sleep(1.5)  # a container with children is never reaped
    assert zk.exists(used) is not None
    c.delete(used + "/kid")
    wait_until(lambda: zk.exists(used) is None, timeout=15, msg="container reaped")
    e = ev.get(5)
    assert (e.type, e.path) == (EventType.DELETED, used)
    # a container that never had a child is not reaped (maxNeverUsedIntervalMs=0)
    assert zk.exists(unused) is not None
    # the createContainer reply is a Create2Response
    rep = c.call(OP.CREATE_CONTAINER, c.create_body(root + "/c3", flags=4))
    r = rep.reader()
    assert rep.err == 0 and r.string() == root + "/c3"
    assert r.stat().czxid == rep.zxid


def test_ttl_nodes(server, raw_factory, zk, root):
    c = raw_factory()
    p = root + "/ttl"
    path, st = c.create2(p, b"t", flags=5, op=OP.CREATE_TTL, ttl=500)
    assert path == p and st.ephemeralOwner == 0  # TTL owner bits are not exposed
    spath, _ = c.create2(root + "/ttlseq-", flags=6, op=OP.CREATE_TTL, ttl=600000)
    assert spath == root + "/ttlseq-0000000001"
    held = root + "/ttl-held"
    c.create2(held, flags=5, op=OP.CREATE_TTL, ttl=200)
    c.create(held + "/kid")
    ev = Events()
    zk.exists(p, watch=ev)
    wait_until(lambda: zk.exists(p) is None, timeout=15, msg="TTL node reaped")
    e = ev.get(5)
    assert (e.type, e.path) == (EventType.DELETED, p)
    # not expired yet / has children: kept
    assert zk.exists(spath) is not None
    assert zk.exists(held) is not None
    c.delete(held + "/kid")
    wait_until(lambda: zk.exists(held) is None, timeout=15, msg="TTL node reaped after child")

    # invalid TTL requests: BadArguments
    for flags, ttl in ((5, 0), (5, -1), (5, 1 << 41), (0, 1000), (1, 1000), (4, 1000)):
        rep = c.call(OP.CREATE_TTL, c.create_body(root + "/bad", flags=flags, ttl=ttl))
        assert rep.err == ERR.BAD_ARGUMENTS, (flags, ttl)
    # TTL flags are only accepted through createTTL (21)
    rep = c.call(OP.CREATE2, c.create_body(root + "/bad", flags=5))
    assert rep.err == ERR.BAD_ARGUMENTS
    rep = c.call(OP.CREATE2, c.create_body(root + "/bad", flags=7))
    assert rep.err == ERR.BAD_ARGUMENTS
    assert zk.exists(root + "/bad") is None


def test_get_ephemerals(zk, kazoo_factory, root):
    zk.create(root + "/e1", ephemeral=True)
    zk.create(root + "/e10", ephemeral=True)
    zk.create(root + "/x/e", ephemeral=True, makepath=True)
    zk.create(root + "/persistent")

    def geteph(client, prefix):
        return sorted(kcall(client, OP.GET_EPHEMERALS, Writer().string(prefix).bytes(),
                            lambda r: r.strings()))

    assert geteph(zk, root) == [root + "/e1", root + "/e10", root + "/x/e"]
    # a plain string prefix, not a path prefix
    assert geteph(zk, root + "/e1") == [root + "/e1", root + "/e10"]
    assert geteph(zk, root + "/nope") == []
    assert set(geteph(zk, "/")) >= {root + "/e1", root + "/e10", root + "/x/e"}
    other = kazoo_factory()
    assert geteph(other, root) == []


def test_get_all_children_number(zk, root):
    for p in ("/a", "/a/b", "/a/b/c", "/d"):
        zk.create(root + p)

    def count(path):
        return kcall(zk, OP.GET_ALL_CHILDREN_NUMBER, Writer().string(path).bytes(),
                     lambda r: r.int())

    assert count(root) == 4
    assert count(root + "/a") == 2
    assert count(root + "/d") == 0
    with pytest.raises(NoNodeError):
        count(root + "/nope")


def test_who_am_i(kazoo_factory):
    k = kazoo_factory()

    def whoami(client):
        return kcall(client, OP.WHO_AM_I, b"", whoami_decode)

    # an unauthenticated session is identified by its ip
    assert whoami(k) == [("ip", "127.0.0.1")]
    k.add_auth("digest", "alice:pw")
    # ZooKeeper's order of these entries is not insertion order; compare as sets
    assert sorted(whoami(k)) == [("digest", "alice"), ("ip", "127.0.0.1")]
    s = kazoo_factory()
    s.add_auth("digest", "super:secret")
    # the super user gets both a ("super", "") and a ("digest", "super") identity
    assert sorted(whoami(s)) == [("digest", "super"), ("ip", "127.0.0.1"), ("super", "")]


def test_close_session_removes_ephemerals(server, kazoo_factory, root):
    a = kazoo_factory()
    b = kazoo_factory()
    e1 = a.create(root + "/eph", ephemeral=True)
    e2 = a.create(root + "/eseq-", ephemeral=True, sequence=True)
    ev = Events()
    assert b.exists(e1, watch=ev) is not None
    a.stop()
    # closeSession is synchronous: the ephemerals are gone when stop() returns
    assert b.exists(e1) is None
    assert b.exists(e2) is None
    e = ev.get(5)
    assert (e.type, e.path) == (EventType.DELETED, e1)


def test_close_session_raw(server, raw_factory, root):
    c = raw_factory()
    c.create(root + "/e", flags=1)
    rep = c.call(OP.CLOSE_SESSION)
    assert rep.err == 0
    assert c.wait_closed(5), "server must close the connection after closeSession"
    other = raw_factory()
    assert other.exists(root + "/e") is None
    # the closed session cannot be resumed: timeOut 0 answer, then close
    again = raw_factory(session_id=c.session_id, passwd=c.passwd)
    assert again.timeout_ms == 0
    assert again.wait_closed(5)


def test_ping(server, raw_factory):
    c = raw_factory()
    path = f"/t-ping-{uuid.uuid4().hex[:8]}"
    create = c.call(OP.CREATE, c.create_body(path, flags=1))
    assert create.err == 0 and create.zxid > 0
    rep = c.ping()
    assert rep.xid == PING_XID and rep.err == 0 and rep.body == b""
    # the ping reply carries the server's last processed zxid
    assert rep.zxid >= create.zxid


def test_reconnect_keeps_session(zk, kazoo_factory, root):
    states = []
    zk.add_listener(lambda s: states.append(s))
    sid = zk.client_id[0]
    e = zk.create(root + "/eph", ephemeral=True)
    zk._connection._socket.shutdown(socket.SHUT_RDWR)
    wait_until(lambda: KazooState.SUSPENDED in states and zk.connected, timeout=15,
               msg="kazoo reconnected")
    assert zk.client_id[0] == sid
    other = kazoo_factory()
    assert other.exists(e).ephemeralOwner == sid
    assert zk.exists(e) is not None
    assert KazooState.LOST not in states


def test_reconnect_raw_wrong_password(server, raw_factory, root):
    c = raw_factory()
    c.create(root + "/eph", flags=1)
    bad = raw_factory(session_id=c.session_id, passwd=b"x" * 16)
    # rejected like an expired session: zero timeout/session/password, then close
    assert (bad.timeout_ms, bad.session_id, bad.passwd) == (0, 0, b"\0" * 16)
    assert bad.wait_closed(5)
    # ZooKeeper quirk: the session's current connection is closed as soon as a
    # reconnect for that session id arrives, before the password is checked.
    # The session itself is untouched.
    assert c.wait_closed(5)
    good = raw_factory(session_id=c.session_id, passwd=c.passwd, last_zxid=c.last_zxid)
    assert good.session_id == c.session_id and good.timeout_ms == c.timeout_ms
    assert good.exists(root + "/eph").ephemeralOwner == c.session_id


def test_set_watches_on_reconnect(server, raw_factory, root):
    a = raw_factory()
    b = raw_factory()
    x, y, z, w, v, pp = (root + n for n in ("/x", "/y", "/z", "/w", "/v", "/pp"))
    for n in (x, z, w, v, pp):
        a.create(n)
    a.get(x, watch=True)
    a.exists(y, watch=True)
    a.children(z, watch=True)
    a.get(w, watch=True)
    a.get(v, watch=True)
    zxid = a.last_zxid
    a.close_socket()  # connection lost, session alive

    b.set(x, b"changed")
    b.create(y)
    b.create(z + "/kid")
    b.delete(v)

    a2 = raw_factory(session_id=a.session_id, passwd=a.passwd, last_zxid=zxid)
    assert a2.session_id == a.session_id
    # SetWatches (101) with the last zxid the client saw: watches whose node
    # changed meanwhile fire at once, the others are re-armed
    rep = a2.set_watches(zxid, data=[x, w, v], exist=[y], child=[z])
    assert rep.xid == SET_WATCHES_XID and rep.err == 0
    got = set(collect_events(a2, 4))
    assert got == {(EV.DATA_CHANGED, x), (EV.CREATED, y), (EV.CHILDREN_CHANGED, z),
                   (EV.DELETED, v)}
    assert a2.no_event(0.5) is None  # w did not change
    # SetWatches2 (105) also carries persistent / persistent-recursive watches
    rep = a2.set_watches(a2.last_zxid, persistent=[pp], recursive=[])
    assert rep.xid == SET_WATCHES_XID and rep.err == 0
    b.set(w, b"later")
    assert collect_events(a2, 1) == [(EV.DATA_CHANGED, w)]
    b.set(pp, b"p1")
    b.set(pp, b"p2")
    assert collect_events(a2, 2) == [(EV.DATA_CHANGED, pp), (EV.DATA_CHANGED, pp)]


def test_one_shot_watches(zk, kazoo_factory, root):
    other = kazoo_factory()
    p = root + "/w"
    zk.create(p)

    data_ev = Events()
    zk.get(p, watch=data_ev)
    other.set(p, b"1")
    e = data_ev.get()
    assert (e.type, e.path, e.state) == (EventType.CHANGED, p, KeeperState.CONNECTED)
    other.set(p, b"2")
    data_ev.none(0.5)  # one-shot

    exists_ev = Events()
    assert zk.exists(p + "/new", watch=exists_ev) is None
    other.create(p + "/new")
    e = exists_ev.get()
    assert (e.type, e.path) == (EventType.CREATED, p + "/new")

    child_ev = Events()
    zk.get_children(p, watch=child_ev)
    other.set(p + "/new", b"x")  # child data change: no child event
    other.create(p + "/new2")
    e = child_ev.get()
    assert (e.type, e.path) == (EventType.CHILD, p)
    other.create(p + "/new3")
    child_ev.none(0.5)

    del_data, del_child, del_exists = Events(), Events(), Events()
    zk.get(p + "/new", watch=del_data)
    zk.get_children(p + "/new", watch=del_child)
    zk.exists(p + "/new2", watch=del_exists)
    other.delete(p + "/new")
    other.delete(p + "/new2")
    assert (lambda e: (e.type, e.path))(del_data.get()) == (EventType.DELETED, p + "/new")
    assert (lambda e: (e.type, e.path))(del_child.get()) == (EventType.DELETED, p + "/new")
    assert (lambda e: (e.type, e.path))(del_exists.get()) == (EventType.DELETED, p + "/new2")


def test_watch_event_wire_fields(server, raw_factory, root):
    a = raw_factory()
    b = raw_factory()
    p = root + "/wf"
    a.create(p)
    a.get(p, watch=True)
    st = b.set(p, b"x")
    ev = a.next_event()
    assert (ev.type, ev.state, ev.path) == (EV.DATA_CHANGED, 3, p)  # state SyncConnected
    # notifications carry ReplyHeader(xid=-1, zxid=-1, err=0), not the change's zxid
    assert ev.zxid == -1 and st.mzxid > 0


def test_ordering_own_write(server, raw_factory, root):
    """The watch event for a change precedes the reply of the request that made it."""
    a = raw_factory()
    p = root + "/o"
    a.create(p)
    a.get(p, watch=True)
    a.children(p, watch=True)
    xid = a.send(OP.SET_DATA, Writer().string(p).buffer(b"v").int(-1).bytes())
    a.wait_reply(xid)
    xid2 = a.send(OP.CREATE, a.create_body(p + "/c"))
    a.wait_reply(xid2)
    kinds = [(k, (f.type, f.path) if k == "event" else f.xid) for k, f in a.frames
             if k == "event" or f.xid in (xid, xid2)]
    assert kinds == [("event", (EV.DATA_CHANGED, p)), ("reply", xid),
                     ("event", (EV.CHILDREN_CHANGED, p)), ("reply", xid2)]


def test_ordering_other_client(server, raw_factory, root):
    """A client never sees a change it watches before the watch event."""
    a = raw_factory()
    b = raw_factory()
    p = root + "/o2"
    a.create(p, b"old")
    for i in range(20):
        b.get(p, watch=True)
        a.set(p, f"v{i}".encode())
        # immediately read through b: its reply reflects the change, so the
        # event must be delivered before it
        xid = b.send(OP.GET_DATA, b.path_body(p, False))
        rep = b.wait_reply(xid)
        assert rep.reader().buffer() == f"v{i}".encode()
        idx_reply = next(n for n, (k, f) in enumerate(b.frames)
                         if k == "reply" and f is rep)
        ev_idx = [n for n, (k, f) in enumerate(b.frames) if k == "event"]
        assert len(ev_idx) == i + 1 and ev_idx[-1] < idx_reply, b.frames[-4:]


# ============================================================================ ACLs
def test_acl_world_read_only(zk, kazoo_factory, root):
    p = root + "/ro"
    zk.create(p, b"v", acl=READ_ACL_UNSAFE)
    assert zk.get(p)[0] == b"v"
    with pytest.raises(NoAuthError):
        zk.set(p, b"w")
    with pytest.raises(NoAuthError):
        zk.create(p + "/c")
    with pytest.raises(NoAuthError):
        zk.set_acls(p, OPEN_ACL_UNSAFE)
    assert zk.get_acls(p)[0] == READ_ACL_UNSAFE
    zk.delete(p)  # DELETE is checked on the parent


def test_acl_permission_matrix(zk, root):
    def node(name, perms):
        p = f"{root}/{name}"
        zk.create(p, b"d", acl=[ACL(perms, Id("world", "anyone"))])
        return p

    none = node("none", 0)
    assert zk.exists(none) is not None          # exists is never ACL-checked
    for f in (lambda: zk.get(none), lambda: zk.get_children(none),
              lambda: zk.get_acls(none), lambda: zk.create(none + "/c"),
              lambda: zk.set(none, b"x"), lambda: zk.set_acls(none, OPEN_ACL_UNSAFE)):
        with pytest.raises(NoAuthError):
            f()
    # getACL needs READ or ADMIN
    admin = node("admin", Permissions.ADMIN)
    assert zk.get_acls(admin)[0][0].perms == Permissions.ADMIN
    with pytest.raises(NoAuthError):
        zk.get(admin)
    write = node("write", Permissions.WRITE)
    with pytest.raises(NoAuthError):
        zk.get_acls(write)
    zk.set(write, b"ok")
    read = node("read", Permissions.READ)
    assert zk.get_acls(read)[0][0].perms == Permissions.READ
    # setACL needs ADMIN
    rwcd = node("rwcd", Permissions.READ | Permissions.WRITE | Permissions.CREATE |
                Permissions.DELETE)
    with pytest.raises(NoAuthError):
        zk.set_acls(rwcd, OPEN_ACL_UNSAFE)
    st = zk.set_acls(admin, OPEN_ACL_UNSAFE)
    assert st.aversion == 1
    # CREATE on the parent is needed for create, DELETE on the parent for delete
    nodel = node("nodel", Permissions.ALL & ~Permissions.DELETE)
    zk.create(nodel + "/kid")
    with pytest.raises(NoAuthError):
        zk.delete(nodel + "/kid")
    # perms beyond ALL are stored as given
    big = node("big", 255)
    assert zk.get_acls(big)[0][0].perms == 255


def test_acl_digest_and_auth(zk, kazoo_factory, root):
    alice = kazoo_factory()
    alice.add_auth("digest", "alice:pw")
    p = root + "/digest"
    alice.create(p, b"secret", acl=[make_digest_acl("alice", "pw", all=True)])
    acls, _ = alice.get_acls(p)
    assert [(a.perms, a.id.scheme) for a in acls] == [(Permissions.ALL, "digest")]
    assert acls[0].id.id.startswith("alice:")
    assert alice.get(p)[0] == b"secret"
    with pytest.raises(NoAuthError):
        zk.get(p)
    bob = kazoo_factory()
    bob.add_auth("digest", "bob:pw")
    with pytest.raises(NoAuthError):
        bob.get(p)
    wrongpw = kazoo_factory()
    wrongpw.add_auth("digest", "alice:nope")  # a wrong password is not an auth failure
    with pytest.raises(NoAuthError):
        wrongpw.get(p)

    # "auth" scheme: expands to every digest identity of the session
    multi = kazoo_factory()
    multi.add_auth("digest", "alice:pw")
    multi.add_auth("digest", "bob:pw")
    q = root + "/auth"
    multi.create(q, b"a", acl=[make_acl("auth", "", all=True)])
    acls, _ = multi.get_acls(q)
    assert sorted((a.perms, a.id.scheme, a.id.id.split(":")[0]) for a in acls) == [
        (Permissions.ALL, "digest", "alice"), (Permissions.ALL, "digest", "bob")]
    assert alice.get(q)[0] == b"a"
    assert bob.get(q)[0] == b"a"
    with pytest.raises(NoAuthError):
        zk.get(q)
    # "auth" without any authenticated identity is an InvalidACL
    with pytest.raises(InvalidACLError):
        zk.create(root + "/auth2", acl=[make_acl("auth", "", all=True)])


def test_acl_ip(zk, root):
    p = root + "/ip"
    zk.create(p, b"x", acl=[make_acl("ip", "127.0.0.1", all=True)])
    assert zk.get(p)[0] == b"x"
    q = root + "/ip-cidr"
    zk.create(q, b"y", acl=[make_acl("ip", "127.0.0.0/8", all=True)])
    assert zk.get(q)[0] == b"y"
    r = root + "/ip-other"
    zk.create(r, b"z", acl=[make_acl("ip", "10.1.2.3", all=True)])
    with pytest.raises(NoAuthError):
        zk.get(r)
    with pytest.raises(NoAuthError):
        zk.set(r, b"w")


def test_acl_super_digest(zk, kazoo_factory, root):
    owner = kazoo_factory()
    owner.add_auth("digest", "owner:pw")
    p = root + "/locked"
    owner.create(p, b"private", acl=[make_digest_acl("owner", "pw", all=True)])
    owner.create(p + "/kid", b"", acl=[make_digest_acl("owner", "pw", read=True)])
    with pytest.raises(NoAuthError):
        zk.get(p)
    su = kazoo_factory()
    su.add_auth("digest", "super:secret")
    assert su.get(p)[0] == b"private"
    su.set(p, b"overwritten")
    assert su.get_acls(p)[0][0].id.id.startswith("owner:")
    su.delete(p + "/kid")
    su.set_acls(p, OPEN_ACL_UNSAFE)
    assert zk.get(p)[0] == b"overwritten"
    # a wrong super password is just another digest identity
    nosu = kazoo_factory()
    nosu.add_auth("digest", "super:wrong")
    owner.create(root + "/l2", b"", acl=[make_digest_acl("owner", "pw", all=True)])
    with pytest.raises(NoAuthError):
        nosu.get(root + "/l2")


def test_invalid_acls(zk, raw_factory, root):
    p = root + "/inv"
    zk.create(p)
    bad = [
        [ACL(31, Id("foo", "bar"))],          # unknown scheme
        [ACL(31, Id("digest", "bob"))],       # digest id without ':'
        [ACL(31, Id("ip", "notanip"))],
        [ACL(31, Id("ip", "127.0.0.1/33"))],
        [ACL(31, Id("world", "someone"))],    # world only has "anyone"
        [ACL(31, Id("super", ""))],
    ]
    for acl in bad:
        with pytest.raises(InvalidACLError):
            zk.create(p + "/x", acl=acl)
        with pytest.raises(InvalidACLError):
            zk.set_acls(p, acl)
    with pytest.raises(InvalidACLError):
        zk.set_acls(p, [])
    # kazoo replaces an empty create ACL with its default; send it raw
    c = raw_factory()
    rep = c.call(OP.CREATE, c.create_body(p + "/empty", acl=[]))
    assert rep.err == ERR.INVALID_ACL
    assert zk.exists(p + "/x") is None


def test_auth_failures(server, raw_factory, kazoo_factory):
    # unknown auth scheme: AuthFailed (-115) on xid -4, then the server closes
    c = raw_factory()
    rep = c.auth("foo", "bar")
    assert (rep.xid, rep.err) == (-4, ERR.AUTH_FAILED)
    assert c.wait_closed(5)
    k = kazoo_factory()
    with pytest.raises(AuthFailedError):
        k.add_auth("foo", "bar")
    # a digest credential without ':' is accepted (and matches nothing)
    c2 = raw_factory()
    rep = c2.auth("digest", "nocolon")
    assert rep.err == 0
    assert c2.exists("/") is not None


# ============================================================================ stat & sequence
def test_stat_semantics(zk, root):
    p = root + "/s"
    path, st = zk.create(p, b"abc", include_data=True)
    zc = zk.last_zxid
    assert st.czxid == st.mzxid == st.pzxid == zc
    assert (st.version, st.cversion, st.aversion) == (0, 0, 0)
    assert (st.ephemeralOwner, st.dataLength, st.numChildren) == (0, 3, 0)
    assert st.ctime == st.mtime
    assert abs(st.ctime / 1000.0 - time.time()) < 60

    st_set = zk.set(p, b"hello")
    assert st_set.mzxid == zk.last_zxid > zc
    assert (st_set.czxid, st_set.pzxid, st_set.version, st_set.cversion) == (zc, zc, 1, 0)
    assert st_set.mtime >= st_set.ctime and st_set.ctime == st.ctime
    assert st_set.dataLength == 5

    zk.create(p + "/c1")
    zc1 = zk.last_zxid
    st_c = zk.exists(p)
    assert (st_c.cversion, st_c.numChildren, st_c.pzxid) == (1, 1, zc1)
    assert (st_c.mzxid, st_c.version, st_c.mtime) == (st_set.mzxid, 1, st_set.mtime)

    zk.set(p + "/c1", b"child data")  # does not touch the parent
    assert zk.exists(p) == st_c

    zk.delete(p + "/c1")
    zd = zk.last_zxid
    st_d = zk.exists(p)
    # cversion as seen by clients counts creates and deletes
    assert (st_d.cversion, st_d.numChildren, st_d.pzxid) == (2, 0, zd)

    st_acl = zk.set_acls(p, OPEN_ACL_UNSAFE)
    assert (st_acl.aversion, st_acl.version, st_acl.cversion) == (1, 1, 2)
    assert st_acl.mzxid == st_set.mzxid and st_acl.pzxid == zd

    _, est = zk.create(root + "/e", b"", ephemeral=True, include_data=True)
    assert est.ephemeralOwner == zk.client_id[0]
    assert zk.get(p)[1] == zk.exists(p) == zk.get_children(p, include_data=True)[1]


def seq_counter(stat):
    """ZooKeeper persists cversion as the number of child *creates*; the Stat a
    client sees has cversion = 2 * persisted - numChildren (creates + deletes).
    The sequential suffix is the persisted value, i.e. (cversion + numChildren) / 2."""
    assert (stat.cversion + stat.numChildren) % 2 == 0
    return (stat.cversion + stat.numChildren) // 2


def test_sequential_suffix_from_cversion(zk, root):
    q = root + "/q"
    zk.create(q)
    for n in ("a", "b", "c"):
        zk.create(f"{q}/{n}")
    zk.delete(q + "/a")
    st = zk.exists(q)
    # client-visible cversion counts creates and deletes ...
    assert (st.cversion, st.numChildren) == (4, 2)
    # ... but the sequence number only counts creates (ZooKeeper 3.8 observed:
    # suffix 3 here, not 4)
    assert seq_counter(st) == 3
    zk.set(q, b"data change does not bump cversion")
    assert zk.create(q + "/s-", sequence=True) == q + "/s-0000000003"
    assert zk.create(q + "/e-", ephemeral=True, sequence=True) == q + "/e-0000000004"
    # a path ending in "/" yields a bare number
    assert zk.create(q + "/", sequence=True) == q + "/0000000005"
    zk.set_acls(q, OPEN_ACL_UNSAFE)  # aversion does not matter either
    zk.delete(q + "/b")
    zk.delete(q + "/c")
    zk.delete(q + "/0000000005")
    st = zk.exists(q)
    assert (st.cversion, st.numChildren) == (10, 2)
    assert zk.create(q + "/s-", sequence=True) == q + "/s-0000000006"
    st = zk.exists(q)
    assert (st.cversion, st.numChildren, seq_counter(st)) == (11, 3, 7)
    # the stat returned by a create in a multi uses the same counter
    t = zk.transaction()
    t.delete(q + "/s-0000000003")
    t.create(q + "/m-", sequence=True)
    assert t.commit()[1] == q + "/m-0000000007"


# ============================================================================ limits & bad input
def test_max_packet_size_boundary(server, raw_factory, zk, root):
    p = root + "/big"
    zk.create(p, b"")
    c = raw_factory()
    overhead = 8 + (4 + len(p)) + 4 + 4  # header + path + data length + version
    ok_body = Writer().string(p).buffer(b"a" * (MAX_PACKET - overhead)).int(-1).bytes()
    assert 8 + len(ok_body) == MAX_PACKET
    st = c.ok(OP.SET_DATA, ok_body).stat()
    assert st.dataLength == MAX_PACKET - overhead
    data, _ = c.get(p)
    assert len(data) == MAX_PACKET - overhead

    big_body = Writer().string(p).buffer(b"b" * (MAX_PACKET - overhead + 1)).int(-1).bytes()
    xid = c.send(OP.SET_DATA, big_body)
    with pytest.raises(ConnectionClosed):
        c.wait_reply(xid, timeout=10)
    # only that connection is dropped; the session survives; nothing was written
    assert zk.get(p)[1].version == 1
    again = raw_factory(session_id=c.session_id, passwd=c.passwd)
    assert again.session_id == c.session_id and again.timeout_ms > 0


def test_oversize_write_kazoo(zk, kazoo_factory, root):
    other = kazoo_factory()
    sid = zk.client_id[0]
    p = root + "/huge"
    with pytest.raises(ConnectionLoss):
        zk.create(p, b"x" * (2 * 1024 * 1024))
    assert other.exists(p) is None
    assert other.create(root + "/fine", b"y") == root + "/fine"
    # kazoo reconnects with the same session
    wait_until(lambda: zk.connected, timeout=15, msg="kazoo reconnect")
    assert zk.client_id[0] == sid
    assert zk.exists(p) is None


def test_jute_maxbuffer_config(make_server):
    srv = make_server(extra_cfg={"jute.maxbuffer": 4096})
    k = new_kazoo(srv.hosts)
    try:
        k.create("/small", b"s" * 3000)
        with pytest.raises(ConnectionLoss):
            k.create("/large", b"l" * 5000)
        wait_until(lambda: k.connected, timeout=15, msg="kazoo reconnect")
        assert k.exists("/large") is None
        assert k.get("/small")[0] == b"s" * 3000
    finally:
        k.stop()
        k.close()


def test_invalid_paths(server, raw_factory, root):
    c = raw_factory()
    a = root + "/a"
    c.create(a)

    def create(path):
        return c.call(OP.CREATE, c.create_body(path)).err

    # the parent is looked up before the path is validated, so a bad path
    # whose "parent" does not exist is NoNode
    assert create(root + "//b") == ERR.NO_NODE
    assert create(a + "/./b") == ERR.NO_NODE
    for bad in (a + "/", a + "/.", a + "/..", "relative", "", a + "/b\x00c", a + "/\x01",
                "//"):
        assert create(bad) == ERR.BAD_ARGUMENTS, repr(bad)
    # setData validates the path
    for bad in (root + "//a", a + "/", a + "/."):
        rep = c.call(OP.SET_DATA, Writer().string(bad).buffer(b"x").int(-1).bytes())
        assert rep.err == ERR.BAD_ARGUMENTS, repr(bad)
    # reads and delete do not validate: the path simply does not exist
    for bad in (root + "//a", a + "/", a + "/."):
        assert c.call(OP.GET_DATA, c.path_body(bad, False)).err == ERR.NO_NODE
        assert c.call(OP.EXISTS, c.path_body(bad, False)).err == ERR.NO_NODE
        assert c.call(OP.DELETE, Writer().string(bad).int(-1).bytes()).err == ERR.NO_NODE
    # odd but valid names
    assert create(a + "/zookeeper") == 0
    assert create(a + "/\u00e9t\u00e9") == 0
    assert c.exists(a).numChildren == 2


def test_unknown_opcode(server, raw_factory, root):
    c = raw_factory()
    c.create(root + "/eph", flags=1)
    rep = c.call(999, b"whatever")
    # ZooKeeper answers Unimplemented (-6) with zxid -1 ...
    assert rep.err == ERR.UNIMPLEMENTED and rep.zxid == -1 and rep.body == b""
    # ... and then closes the connection (the session survives)
    assert c.wait_closed(5)
    again = raw_factory(session_id=c.session_id, passwd=c.passwd)
    assert again.session_id == c.session_id
    assert again.exists(root + "/eph").ephemeralOwner == c.session_id


def test_truncated_request_body(server, raw_factory, root):
    c = raw_factory()
    # a request whose body is too short: MarshallingError, connection stays open
    for op, body in ((OP.GET_DATA, Writer().string(root).bytes()),
                     (OP.CREATE, Writer().string(root + "/t").bytes()),
                     (OP.SET_DATA, Writer().string(root).bytes()),
                     (OP.GET_DATA, struct.pack(">i", 100000) + b"/x")):
        rep = c.call(op, body)
        assert rep.err == ERR.MARSHALLING, op
    assert c.exists(root) is not None
    assert c.exists(root + "/t") is None


@pytest.mark.parametrize("payload", [
    b"\xff\xff\xff\xff",               # negative length
    b"\x00\x00\x00\x00",               # empty frame
    b"\x00\x00\x00\x03abc",            # shorter than a request header
    b"\x7f\x00\x00\x00",               # huge length
], ids=["negative", "empty", "short", "huge"])
def test_malformed_frame_after_handshake(server, raw_factory, zk, payload):
    c = raw_factory()
    c.sock.sendall(payload)
    assert c.wait_closed(5), "server must close a connection sending a malformed frame"
    assert zk.exists("/") is not None
    assert raw_factory().exists("/") is not None


@pytest.mark.parametrize("payload", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x00\x00\x00\x05hello",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xf0garbage",
], ids=["http", "short-connect", "empty", "negative"])
def test_malformed_handshake(server, zk, payload):
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(payload)
        s.settimeout(5)
        data = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
        except (ConnectionResetError, socket.timeout) as e:
            assert not isinstance(e, socket.timeout), "server did not close the connection"
    assert data == b""
    assert zk.exists("/") is not None


# ============================================================================ sessions
def test_session_expiry_and_ping(make_server):
    srv = make_server(tick_time=500)  # minSessionTimeout = 1000 ms
    from keeper_server import RawClient
    watcher = new_kazoo(srv.hosts)
    pinger = new_kazoo(srv.hosts, timeout=1.0)
    states = []
    victim = new_kazoo(srv.hosts, timeout=1.0)
    victim.add_listener(lambda s: states.append(s))
    try:
        raw = RawClient(srv.host, srv.port, timeout_ms=1000)
        assert raw.timeout_ms == 1000
        raw.create("/raw-eph", flags=1)
        pinger.create("/pinger-eph", ephemeral=True)
        victim.create("/victim-eph", ephemeral=True)
        ev_raw, ev_victim = Events(), Events()
        assert watcher.exists("/raw-eph", watch=ev_raw) is not None
        assert watcher.exists("/victim-eph", watch=ev_victim) is not None
        sid = pinger.client_id[0]
        victim_sid = victim.client_id[0]

        # the raw client never pings: its session expires, the ephemeral goes,
        # the watcher gets NodeDeleted and the server closes the connection
        e = ev_raw.get(15)
        assert (e.type, e.path) == (EventType.DELETED, "/raw-eph")
        assert raw.wait_closed(5)
        again = RawClient(srv.host, srv.port, session_id=raw.session_id, passwd=raw.passwd)
        assert (again.timeout_ms, again.session_id) == (0, 0)
        assert again.wait_closed(5)

        # kazoo: cut the connection and keep it away longer than the timeout
        victim.set_hosts(f"127.0.0.1:{free_port()}")
        victim._connection._socket.shutdown(socket.SHUT_RDWR)
        e = ev_victim.get(15)
        assert (e.type, e.path) == (EventType.DELETED, "/victim-eph")
        victim.set_hosts(srv.hosts)
        # on reconnect the server answers timeOut=0: kazoo reports the session
        # as expired (LOST) and then starts a brand new session
        wait_until(lambda: KazooState.LOST in states, timeout=15, msg="kazoo LOST")
        wait_until(lambda: victim.connected and victim.client_id[0] != victim_sid,
                   timeout=15, msg="kazoo new session")
        assert victim.exists("/victim-eph") is None

        # meanwhile the pinging kazoo client (idle, > timeout/2 between requests)
        # kept its session
        time.sleep(1.0)
        assert pinger.client_id[0] == sid
        assert watcher.exists("/pinger-eph").ephemeralOwner == sid
    finally:
        for k in (watcher, pinger, victim):
            k.stop()
            k.close()


def test_idle_session_kept_alive_by_pings(server, kazoo_factory, root):
    k = kazoo_factory(timeout=4.0)  # negotiated 4000 (minimum at tickTime 2000)
    other = kazoo_factory()
    sid = k.client_id[0]
    e = k.create(root + "/idle", ephemeral=True)
    time.sleep(5.0)  # longer than the timeout; kazoo pings every ~timeout/3
    assert k.client_id[0] == sid
    assert other.exists(e).ephemeralOwner == sid


# ============================================================================ four-letter words
def test_4lw_ruok_isro(server):
    assert server.four("ruok") == "imok"
    assert server.four("isro") == "rw"
    # an unknown word is read as a frame length: the connection just closes
    assert server.four("xyzw") == ""


def test_4lw_srvr(server, zk, root):
    out = server.four("srvr")
    lines = out.splitlines()
    prefixes = ["Zookeeper version:", "Latency min/avg/max:", "Received:", "Sent:",
                "Connections:", "Outstanding:", "Zxid: 0x", f"Mode: {expected_mode(server)}", "Node count:"]
    for pre in prefixes:
        assert any(l.startswith(pre) for l in lines), (pre, out)
    kv = parse_kv_lines(out, ":")
    lat = kv["Latency min/avg/max"].split("/")
    assert len(lat) == 3 and all(float(x) >= 0 for x in lat)
    before = int(kv["Node count"])
    for n in ("a", "b", "c"):
        zk.create(f"{root}/{n}")
    after = int(parse_kv_lines(server.four("srvr"), ":")["Node count"])
    assert after == before + 3
    zxid = int(parse_kv_lines(server.four("srvr"), ":")["Zxid"], 16)
    assert zxid >= zk.last_zxid


def test_4lw_stat_cons(server, zk):
    sid = zk.client_id[0]
    port = zk._connection._socket.getsockname()[1]
    stat = server.four("stat")
    assert stat.startswith("Zookeeper version:")
    assert "Clients:\n" in stat
    assert f" /127.0.0.1:{port}[" in stat
    assert f"Mode: {expected_mode(server)}" in stat and "Node count:" in stat
    cons = server.four("cons")
    line = next(l for l in cons.splitlines() if f"/127.0.0.1:{port}[" in l)
    assert f"sid={hex(sid)}" in line
    assert "queued=" in line and "recved=" in line and "sent=" in line


def test_4lw_mntr(server, zk, kazoo_factory, root):
    def mntr():
        out = server.four("mntr")
        kv = {}
        for line in out.splitlines():
            k, v = line.split("\t", 1)
            kv[k] = v
        return kv

    m = mntr()
    for key in ("zk_version", "zk_avg_latency", "zk_max_latency", "zk_min_latency",
                "zk_packets_received", "zk_packets_sent", "zk_num_alive_connections",
                "zk_outstanding_requests", "zk_server_state", "zk_znode_count",
                "zk_watch_count", "zk_ephemerals_count", "zk_approximate_data_size"):
        assert key in m, key
    assert m["zk_server_state"] == expected_mode(server)
    k2 = kazoo_factory()
    zk.create(root + "/e1", ephemeral=True)
    zk.create(root + "/e2", ephemeral=True)
    zk.exists(root + "/w1", watch=lambda e: None)
    m2 = mntr()
    assert int(m2["zk_znode_count"]) == int(m["zk_znode_count"]) + 2
    assert int(m2["zk_ephemerals_count"]) == int(m["zk_ephemerals_count"]) + 2
    assert int(m2["zk_watch_count"]) >= int(m["zk_watch_count"]) + 1
    assert int(m2["zk_num_alive_connections"]) >= 2
    assert k2.connected


def test_4lw_conf_envi_dirs(server):
    conf = parse_kv_lines(server.four("conf"), "=")
    assert conf["clientPort"] == str(server.port)
    # ZooKeeper reports the version-2 subdirectories
    assert conf["dataDir"] == os.path.join(server.data_dir, "version-2")
    assert conf["dataLogDir"] == os.path.join(server.data_log_dir, "version-2")
    assert conf["tickTime"] == "2000"
    assert conf["maxClientCnxns"] == "0"
    assert conf["minSessionTimeout"] == "4000"
    assert conf["maxSessionTimeout"] == "40000"
    assert conf["serverId"] == str(getattr(server, "myid", 0))
    envi = server.four("envi")
    assert envi.splitlines()[0] == "Environment:"
    kv = parse_kv_lines(envi, "=")
    assert "zookeeper.version" in kv and "host.name" in kv and "os.name" in kv
    dirs = server.four("dirs")
    kv = parse_kv_lines(dirs, ":")
    assert set(kv) == {"datadir_size", "logdir_size"}
    assert all(int(v) >= 0 for v in kv.values())


def test_4lw_watches(server, raw_factory, root):
    c = raw_factory()
    p = root + "/watched"
    c.create(p)
    c.get(p, watch=True)
    c.children(p, watch=True)
    sid = hex(c.session_id)
    wchs = server.four("wchs")
    assert "connections watching" in wchs and "paths" in wchs
    assert "Total watches:" in wchs
    wchc = server.four("wchc")
    lines = wchc.splitlines()
    i = lines.index(sid)
    assert f"\t{p}" in lines[i + 1:]
    wchp = server.four("wchp")
    lines = wchp.splitlines()
    i = lines.index(p)
    assert lines[i + 1] == f"\t{sid}"


def test_4lw_whitelist_and_fresh_server(make_server):
    srv = make_server(extra_cfg={"4lw.commands.whitelist": "srvr"})
    assert srv.four("ruok") == "ruok is not executed because it is not in the whitelist.\n"
    assert srv.four("stat") == "stat is not executed because it is not in the whitelist.\n"
    srvr = parse_kv_lines(srv.four("srvr"), ":")
    assert srvr["Mode"] == "standalone"
    assert srvr["Zxid"] == "0x0"
    # ZooKeeper's node count on an empty tree is 5: "/", "/zookeeper",
    # "/zookeeper/quota", "/zookeeper/config" plus the root under its "" alias
    assert srvr["Node count"] == "5"
    k = new_kazoo(srv.hosts)
    try:
        assert k.get_children("/") == ["zookeeper"]
        assert sorted(k.get_children("/zookeeper")) == ["config", "quota"]
        root = k.exists("/")
        assert (root.czxid, root.mzxid, root.pzxid, root.ctime, root.version,
                root.cversion, root.aversion, root.ephemeralOwner, root.dataLength,
                root.numChildren) == (0, 0, 0, 0, 0, -1, 0, 0, 0, 1)
        k.create("/first")
        root = k.exists("/")
        assert (root.cversion, root.numChildren, root.pzxid) == (0, 2, k.last_zxid)
    finally:
        k.stop()
        k.close()


# ============================================================================ durability
def _snapshot_tree(k, path):
    out = {}

    def walk(p):
        data, st = k.get(p)
        acls, _ = k.get_acls(p)
        children = sorted(k.get_children(p))
        out[p] = (data, tuple(st), tuple((a.perms, a.id.scheme, a.id.id) for a in acls),
                  children)
        for ch in children:
            walk(f"{p}/{ch}")

    walk(path)
    return out


@pytest.mark.parametrize("hard", [False, True], ids=["stop", "kill9"])
def test_restart_restores_state(make_server, hard):
    srv = make_server()
    k = new_kazoo(srv.hosts)
    try:
        k.create("/d", b"root")
        k.create("/d/a", b"a0")
        k.set("/d/a", b"a1")
        k.set("/d/a", b"a2")
        k.create("/d/b", b"b", acl=READ_ACL_UNSAFE + [make_acl("world", "anyone", admin=True)])
        k.set_acls("/d/b", OPEN_ACL_UNSAFE)
        k.create("/d/gone")
        k.delete("/d/gone")
        for _ in range(3):
            k.create("/d/seq-", b"s", sequence=True)
        k.create("/d/big", os.urandom(200_000))
        t = k.transaction()
        t.create("/d/m1", b"m")
        t.create("/d/m1/m2", b"mm")
        t.set_data("/d", b"root2")
        t.commit()
        k2 = new_kazoo(srv.hosts)
        k2.create("/d/closed-eph", ephemeral=True)
        k2.stop()
        k2.close()
        k.create("/d/c", makepath=True)
        k.delete("/d/c")
        before = _snapshot_tree(k, "/d")
        last = k.last_zxid
        assert "/d/closed-eph" not in before
        k.stop()
        k.close()

        srv.restart(hard=hard)

        k = new_kazoo(srv.hosts)
        after = _snapshot_tree(k, "/d")
        assert after == before
        k.create("/d/new")
        assert k.exists("/d/new").czxid > last
        # the sequence counter carries on from the restored cversion
        expected = seq_counter(k.exists("/d"))
        seq = k.create("/d/seq-", sequence=True)
        assert seq == "/d/seq-%010d" % expected
    finally:
        k.stop()
        k.close()


@pytest.mark.parametrize("hard", [False, True], ids=["stop", "kill9"])
def test_session_survives_restart(make_server, hard):
    srv = make_server()
    states = []
    k = new_kazoo(srv.hosts, timeout=20.0)
    k.add_listener(lambda s: states.append(s))
    try:
        sid = k.client_id[0]
        e = k.create("/eph", b"alive", ephemeral=True)
        srv.restart(hard=hard)
        wait_until(lambda: KazooState.SUSPENDED in states and k.connected, timeout=30,
                   msg="kazoo reconnected after server restart")
        assert KazooState.LOST not in states
        assert k.client_id[0] == sid
        st = k.exists(e)
        assert st is not None and st.ephemeralOwner == sid
        assert k.get(e)[0] == b"alive"
    finally:
        k.stop()
        k.close()


def test_autopurge(kind, make_server):
    """autopurge keeps snapRetainCount snapshots and the logs they need, and
    the data survives a restart afterwards.  ZooKeeper purges at most hourly,
    so this runs against rill only, with its `autopurge.purgeIntervalMs` knob."""
    if kind != "rill":
        pytest.skip("ZooKeeper's autopurge.purgeInterval is in hours")
    srv = make_server(extra_cfg={"snapCount": "20", "autopurge.snapRetainCount": "3",
                                 "autopurge.purgeIntervalMs": "300"})
    k = new_kazoo(srv.hosts)
    try:
        for i in range(200):
            k.create(f"/ap{i:03d}", b"x")
    finally:
        k.stop()
        k.close()
    snaps = lambda: [f for f in os.listdir(os.path.join(srv.data_dir, "version-2"))
                     if f.startswith("snapshot.")]
    wait_until(lambda: 0 < len(snaps()) <= 3, timeout=15, msg="autopurge kept 3 snapshots")
    srv.restart()
    k = new_kazoo(srv.hosts)
    try:
        assert len([c for c in k.get_children("/") if c.startswith("ap")]) == 200
    finally:
        k.stop()
        k.close()


# ============================================================================ rill-only
def _parse_txn_log(path):
    """Walk a txn log; return (header_len, [(start, end)...]) of its records.

    ZooKeeper ('ZKLG'): FileHeader(int magic, int version, long dbid), then
    records long crc, int len, <len bytes>, byte 0x42.
    rill ('RLOG'): header magic, u32 version, i64 first zxid, then records
    u32 crc32c, u32 len, <len bytes>.  Either may end in zero preallocation.
    """
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    assert magic in (b"ZKLG", b"RLOG"), f"{path}: unknown txn log format {magic!r}"
    off = 16
    records = []
    if magic == b"ZKLG":
        while off + 12 <= len(data):
            crc, n = struct.unpack_from(">qi", data, off)
            if n <= 0 or off + 12 + n + 1 > len(data):
                break
            if data[off + 12 + n] != 0x42:
                break
            records.append((off, off + 12 + n + 1))
            off += 12 + n + 1
    else:
        while off + 8 <= len(data):
            crc, n = struct.unpack_from(">II", data, off)
            if n == 0 or off + 8 + n > len(data):
                break
            records.append((off, off + 8 + n))
            off += 8 + n
    return 16, records


def _newest_log(srv):
    d = os.path.join(srv.data_log_dir, "version-2")
    logs = [f for f in os.listdir(d) if f.startswith("log.")]
    assert logs, f"no txn logs in {d}"
    return os.path.join(d, max(logs, key=lambda f: int(f.split(".", 1)[1], 16)))


@pytest.mark.parametrize("damage", ["garbage", "truncate"])
def test_torn_log_tail(kind, make_server, damage):
    """A torn / garbage tail on the newest txn log (as left by a crash mid-write).

    ZooKeeper 3.8 also recovers from both (a partial record at EOF ends the
    log), so the data assertions run for both kinds; the "truncat..." log line
    is rill-only.
    """
    srv = make_server()
    k = new_kazoo(srv.hosts)
    n = 50
    for i in range(n):
        k.create(f"/torn{i:03d}", f"v{i}".encode())
    srv.kill()  # the session is still open: the last record is the last create
    k.stop()
    k.close()
    log = _newest_log(srv)
    _, records = _parse_txn_log(log)
    assert records, "no records found in the newest log"
    end = records[-1][1]
    expect_missing = set()
    if damage == "garbage":
        with open(log, "r+b") as f:
            f.seek(end)
            # a record header claiming 200 bytes with a bogus crc, cut short
            # (same bytes for both formats: a partial record either way)
            f.write(struct.pack(">qi", 0x1234567, 200) + os.urandom(37))
            f.truncate(end + 12 + 37)
    else:
        with open(log, "r+b") as f:
            f.truncate(end - 3)  # tear the last record (the create of the last node)
        expect_missing.add(f"/torn{n - 1:03d}")
    srv.start()
    k = new_kazoo(srv.hosts)
    try:
        for i in range(n):
            p = f"/torn{i:03d}"
            if p in expect_missing:
                assert k.exists(p) is None
            else:
                assert k.get(p)[0] == f"v{i}".encode(), p
        if kind == "rill":  # rill-only: the server says it truncated the log
            restart_log = srv.log_text().split("===== start #2", 1)[1]
            assert "truncat" in restart_log.lower(), \
                "expected a log line about truncating the log"
        # the server keeps working and the repaired log replays again
        k.create("/after", b"ok")
        k.stop()
        k.close()
        srv.restart()
        k = new_kazoo(srv.hosts)
        assert k.get("/after")[0] == b"ok"
        assert k.exists("/torn000") is not None
    finally:
        k.stop()
        k.close()
