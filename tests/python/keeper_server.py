"""Helpers for the keeper compatibility suite.

* ``KeeperServer``: start / stop / kill -9 / restart a ZooKeeper-compatible
  server ("rill" = ``rill keeper --config zoo.cfg``, "zookeeper" = Apache
  ZooKeeper 3.8 from the Debian package) on a free loopback port with its own
  dataDir and dataLogDir.
* ``Ensemble``: several ``KeeperServer`` processes of one kind forming an
  ensemble (server.N lines + myid), with helpers to find the leader.
* ``four_letter``: send a four-letter word and read the answer until close.
* ``RawClient``: a tiny jute client speaking the wire protocol directly, for
  opcodes kazoo does not expose (addWatch, removeWatches, whoAmI, TTL, ...)
  and for misbehaving on purpose (stop pinging, garbage frames, ...).
"""

import base64
import hashlib
import os
import queue
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

SUPER_USER = "super"
SUPER_PASSWORD = "secret"


def digest(user, password):
    """ZooKeeper's DigestAuthenticationProvider digest: user:base64(sha1(user:pw))."""
    raw = hashlib.sha1(f"{user}:{password}".encode()).digest()
    return f"{user}:{base64.b64encode(raw).decode()}"


def rill_bin():
    return os.environ.get("RILL_BIN") or os.path.join(REPO_ROOT, "target", "debug", "rill")


ZK_JARS = [
    "/usr/share/java/zookeeper.jar",  # its manifest Class-Path pulls in the rest
    "/usr/share/java/zookeeper-jute.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
]

# zoo.cfg keys ZooKeeper only honours as JVM system properties (keys it does not
# know are mapped to "zookeeper.<key>", which is wrong for these).
ZK_SYSTEM_PROPERTY_KEYS = ("znode.container.checkIntervalMs", "jute.maxbuffer",
                           "znode.container.maxPerMinute")

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.Target=System.out
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
"""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four_letter(host, port, word, timeout=5.0):
    """Send a four-letter word, return the whole answer (str) read until EOF."""
    if isinstance(word, str):
        word = word.encode()
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(word)
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            chunks.append(d)
    return b"".join(chunks).decode("utf-8", "replace")


class ServerStartError(RuntimeError):
    pass


class KeeperServer:
    """One keeper process of kind "rill" or "zookeeper"."""

    def __init__(self, kind, tick_time=2000, extra_cfg=None, name=None):
        assert kind in ("rill", "zookeeper"), kind
        self.kind = kind
        self.root = tempfile.mkdtemp(prefix=f"keeper-{kind}-{name or 'srv'}-")
        self.data_dir = os.path.join(self.root, "data")
        self.data_log_dir = os.path.join(self.root, "datalog")
        os.makedirs(self.data_dir)
        os.makedirs(self.data_log_dir)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.hosts = f"{self.host}:{self.port}"
        self.cfg_path = os.path.join(self.root, "zoo.cfg")
        self.log_path = os.path.join(self.root, "server.log")
        self.cfg = {
            "tickTime": str(tick_time),
            "initLimit": "10",
            "syncLimit": "5",
            "dataDir": self.data_dir,
            "dataLogDir": self.data_log_dir,
            "clientPort": str(self.port),
            "clientPortAddress": "127.0.0.1",
            "maxClientCnxns": "0",
            "4lw.commands.whitelist": "*",
            "extendedTypesEnabled": "true",
            "znode.container.checkIntervalMs": "1000",
            "DigestAuthenticationProvider.superDigest": digest(SUPER_USER, SUPER_PASSWORD),
            "admin.enableServer": "false",
        }
        for k, v in (extra_cfg or {}).items():
            if v is None:
                self.cfg.pop(k, None)
            else:
                self.cfg[k] = str(v)
        self.proc = None
        self._log_file = None
        self.starts = 0

    # ------------------------------------------------------------------ config
    @property
    def tick_time(self):
        return int(self.cfg["tickTime"])

    def write_config(self):
        with open(self.cfg_path, "w") as f:
            for k, v in self.cfg.items():
                f.write(f"{k}={v}\n")
        if self.kind == "zookeeper":
            conf_dir = os.path.join(self.root, "conf")
            os.makedirs(conf_dir, exist_ok=True)
            with open(os.path.join(conf_dir, "log4j.properties"), "w") as f:
                f.write(LOG4J_PROPERTIES)

    def command_line(self):
        if self.kind == "rill":
            return [rill_bin(), "keeper", "--config", self.cfg_path]
        java = shutil.which("java") or "/usr/bin/java"
        cp = ":".join([os.path.join(self.root, "conf")] + ZK_JARS)
        props = [
            f"-Dzookeeper.log.dir={self.root}",
            "-Dzookeeper.root.logger=INFO,CONSOLE",
            "-Dlog4j.configuration=file:" + os.path.join(self.root, "conf", "log4j.properties"),
            "-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
        ]
        for k in ZK_SYSTEM_PROPERTY_KEYS:
            if k in self.cfg:
                props.append(f"-D{k}={self.cfg[k]}")
        return [java] + props + ["-cp", cp,
                                 "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                                 self.cfg_path]

    # --------------------------------------------------------------- lifecycle
    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=60.0, wait=True):
        assert not self.running(), "already running"
        if self.kind == "rill" and not os.path.exists(rill_bin()):
            raise ServerStartError(f"rill binary {rill_bin()} does not exist")
        self.write_config()
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"===== start #{self.starts + 1}: {self.command_line()}\n".encode())
        self._log_file.flush()
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     cwd=self.root, env=env, start_new_session=True)
        self.starts += 1
        if not wait:
            return self
        try:
            self.wait_ready(timeout)
        except Exception:
            tail = self.log_tail()
            self.kill()
            raise ServerStartError(
                f"{self.kind} keeper did not become ready on {self.hosts}\n"
                f"--- log tail ({self.log_path}) ---\n{tail}")
        return self

    def _ready_words(self):
        wl = self.cfg.get("4lw.commands.whitelist", "srvr")
        words = [w.strip() for w in wl.split(",")]
        if "*" in words:
            return ["ruok", "srvr"]
        return [w for w in ("ruok", "srvr") if w in words]

    def wait_ready(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        words = self._ready_words()
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(f"process exited with {self.proc.returncode}")
            try:
                ok = True
                for w in words:
                    ans = four_letter(self.host, self.port, w, timeout=2.0)
                    last = ans
                    if w == "ruok" and ans != "imok":
                        ok = False
                    if w == "srvr" and "Mode:" not in ans:
                        ok = False
                if not words:
                    socket.create_connection((self.host, self.port), timeout=1).close()
                if ok:
                    return
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise ServerStartError(f"not ready after {timeout}s (last: {last!r})")

    def _wait_exit(self, timeout):
        try:
            self.proc.wait(timeout)
        finally:
            if self._log_file:
                self._log_file.close()
                self._log_file = None

    def stop(self, timeout=20.0):
        """Graceful stop (SIGTERM, SIGKILL after timeout)."""
        if not self.running():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self._wait_exit(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        """kill -9 the server process."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        try:
            self._wait_exit(20)
        except subprocess.TimeoutExpired:
            pass

    def suspend(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self, hard=False):
        (self.kill if hard else self.stop)()
        self.start()

    def cleanup(self):
        self.kill()
        if os.environ.get("KEEPER_KEEP_TMP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    # ----------------------------------------------------------------- helpers
    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def four(self, word, timeout=5.0):
        return four_letter(self.host, self.port, word, timeout)

    def raw(self, **kw):
        c = RawClient(self.host, self.port, **kw)
        return c

    def name_for_log(self):
        return f"{self.kind} myid={getattr(self, 'myid', '-')} {self.hosts} ({self.log_path})"

    def mode(self):
        """'leader', 'follower', 'standalone', or None (not serving / not running)."""
        try:
            ans = self.four("srvr", timeout=2.0)
        except OSError:
            return None
        for line in ans.splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def node_count(self):
        for line in self.four("srvr").splitlines():
            if line.startswith("Node count:"):
                return int(line.split(":", 1)[1])
        raise AssertionError("srvr has no Node count line")

    def __repr__(self):
        return f"<KeeperServer {self.kind} {self.hosts} pid={self.pid}>"


class EnsembleTarget:
    """A 3-member ensemble that looks like one server to the compatibility
    suite: ``hosts`` lists every member, while ``host``/``port`` (raw clients,
    four-letter words) point at a follower, so requests take the forwarding path."""

    def __init__(self, kind, name="shared"):
        self.ensemble = Ensemble(kind, name=name)
        self.kind = kind
        self.mode_name = None
        self._member = self.ensemble.servers[0]

    def start(self, timeout=90.0):
        if not self.ensemble.running():
            self.ensemble.start(timeout)
        else:
            for s in self.ensemble.servers:
                if not s.running():
                    s.start()
        self.ensemble.wait_leader(timeout)
        self._member = self.ensemble.followers()[0]
        self.mode_name = "follower"
        return self

    def running(self):
        return all(s.running() for s in self.ensemble.servers)

    def cleanup(self):
        self.ensemble.cleanup()

    def log_tail(self, lines=60):
        return self.ensemble.log_tails(lines)

    @property
    def log_path(self):
        return self._member.log_path

    @property
    def hosts(self):
        """Every member, the follower first (clients use it while it is up)."""
        rest = [s.hosts for s in self.ensemble.servers if s is not self._member]
        return ",".join([self._member.hosts] + rest)

    def __getattr__(self, name):
        # host, port, data_dir, four(), raw(), ... of the follower
        return getattr(self._member, name)


class Ensemble:
    """``size`` servers of one kind on loopback forming an ensemble.

    Each member gets ``server.N=127.0.0.1:<peerPort>:<electionPort>;127.0.0.1:<clientPort>``
    lines for all members and its ``myid`` file.  ``hosts`` lists every client
    port (a connect string for kazoo).
    """

    def __init__(self, kind, size=3, tick_time=2000, extra_cfg=None, name="ens",
                 own_host_any=False):
        """own_host_any: each member lists itself as 0.0.0.0 (as seed 002's zoo.cfg does)."""
        self.kind = kind
        self.servers = [KeeperServer(kind, tick_time=tick_time, extra_cfg=extra_cfg,
                                     name=f"{name}-{i + 1}") for i in range(size)]
        lines = {}
        for i, srv in enumerate(self.servers):
            srv.myid = i + 1
            lines[f"server.{i + 1}"] = (f"127.0.0.1:{free_port()}:{free_port()}"
                                        f";127.0.0.1:{srv.port}")
        for srv in self.servers:
            srv.cfg.update(lines)
            if own_host_any:
                key = f"server.{srv.myid}"
                srv.cfg[key] = srv.cfg[key].replace("127.0.0.1:", "0.0.0.0:", 1)
            with open(os.path.join(srv.data_dir, "myid"), "w") as f:
                f.write(f"{srv.myid}\n")
        self.hosts = ",".join(srv.hosts for srv in self.servers)

    def __iter__(self):
        return iter(self.servers)

    def __getitem__(self, i):
        return self.servers[i]

    def start(self, timeout=90.0):
        for srv in self.servers:
            srv.start(wait=False)
        for srv in self.servers:
            srv.wait_ready(timeout)
        self.wait_leader(timeout)
        return self

    def running(self):
        return [s for s in self.servers if s.running()]

    def modes(self):
        return {s.myid: (s.mode() if s.running() else None) for s in self.servers}

    def leader(self):
        for srv in self.servers:
            if srv.running() and srv.mode() == "leader":
                return srv
        return None

    def wait_leader(self, timeout=30.0, exclude=()):
        """The leader once one is elected and every other running member follows it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [s for s in self.servers if s.running() and s not in exclude]
            modes = {s: s.mode() for s in live}
            leaders = [s for s, m in modes.items() if m == "leader"]
            if len(leaders) == 1 and all(m in ("leader", "follower") for m in modes.values()):
                return leaders[0]
            time.sleep(0.05)
        raise AssertionError(f"no leader after {timeout}s: {self.modes()}")

    def followers(self):
        return [s for s in self.servers if s.running() and s.mode() == "follower"]

    def stop(self):
        for srv in self.servers:
            srv.stop()

    def cleanup(self):
        for srv in self.servers:
            srv.cleanup()

    def log_tails(self, lines=40):
        return "\n".join(f"--- {s.name_for_log()} ---\n{s.log_tail(lines)}" for s in self.servers)

    def __repr__(self):
        return f"<Ensemble {self.kind} {self.hosts}>"


# =========================================================================
# Raw jute client
# =========================================================================

class OP:
    NOTIFICATION = 0
    CREATE = 1
    DELETE = 2
    EXISTS = 3
    GET_DATA = 4
    SET_DATA = 5
    GET_ACL = 6
    SET_ACL = 7
    GET_CHILDREN = 8
    SYNC = 9
    PING = 11
    GET_CHILDREN2 = 12
    CHECK = 13
    MULTI = 14
    CREATE2 = 15
    RECONFIG = 16
    CHECK_WATCHES = 17
    REMOVE_WATCHES = 18
    CREATE_CONTAINER = 19
    DELETE_CONTAINER = 20
    CREATE_TTL = 21
    MULTI_READ = 22
    AUTH = 100
    SET_WATCHES = 101
    SASL = 102
    GET_EPHEMERALS = 103
    GET_ALL_CHILDREN_NUMBER = 104
    SET_WATCHES2 = 105
    ADD_WATCH = 106
    WHO_AM_I = 107
    CREATE_SESSION = -10
    CLOSE_SESSION = -11
    ERROR = -1


class ERR:
    OK = 0
    SYSTEM = -1
    RUNTIME_INCONSISTENCY = -2
    MARSHALLING = -5
    UNIMPLEMENTED = -6
    BAD_ARGUMENTS = -8
    NO_NODE = -101
    NO_AUTH = -102
    BAD_VERSION = -103
    NO_CHILDREN_FOR_EPHEMERALS = -108
    NODE_EXISTS = -110
    NOT_EMPTY = -111
    SESSION_EXPIRED = -112
    INVALID_ACL = -114
    AUTH_FAILED = -115
    NO_WATCHER = -121
    RECONFIG_DISABLED = -123


class EV:
    NONE = -1
    CREATED = 1
    DELETED = 2
    DATA_CHANGED = 3
    CHILDREN_CHANGED = 4
    DATA_WATCH_REMOVED = 5
    CHILD_WATCH_REMOVED = 6
    PERSISTENT_WATCH_REMOVED = 7


WATCH_XID = -1
PING_XID = -2
AUTH_XID = -4
SET_WATCHES_XID = -8

OPEN_ACL = [(31, "world", "anyone")]


class Writer:
    def __init__(self):
        self.b = bytearray()

    def int(self, v):
        self.b += struct.pack(">i", v)
        return self

    def long(self, v):
        self.b += struct.pack(">q", v)
        return self

    def bool(self, v):
        self.b += b"\x01" if v else b"\x00"
        return self

    def buffer(self, v):
        if v is None:
            return self.int(-1)
        self.int(len(v))
        self.b += v
        return self

    def string(self, v):
        return self.buffer(None if v is None else v.encode())

    def strings(self, vs):
        if vs is None:
            return self.int(-1)
        self.int(len(vs))
        for v in vs:
            self.string(v)
        return self

    def acls(self, acls):
        self.int(len(acls))
        for perms, scheme, ident in acls:
            self.int(perms).string(scheme).string(ident)
        return self

    def bytes(self):
        return bytes(self.b)


class Reader:
    def __init__(self, data, off=0):
        self.d = data
        self.o = off

    def int(self):
        v = struct.unpack_from(">i", self.d, self.o)[0]
        self.o += 4
        return v

    def long(self):
        v = struct.unpack_from(">q", self.d, self.o)[0]
        self.o += 8
        return v

    def bool(self):
        v = self.d[self.o] != 0
        self.o += 1
        return v

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        v = self.d[self.o:self.o + n]
        self.o += n
        return bytes(v)

    def string(self):
        v = self.buffer()
        return None if v is None else v.decode()

    def strings(self):
        n = self.int()
        if n < 0:
            return None
        return [self.string() for _ in range(n)]

    def acls(self):
        n = self.int()
        return [(self.int(), self.string(), self.string()) for _ in range(n)]

    def stat(self):
        return Stat(*(self.long(), self.long(), self.long(), self.long(),
                      self.int(), self.int(), self.int(), self.long(),
                      self.int(), self.int(), self.long()))

    def remaining(self):
        return len(self.d) - self.o


class Stat:
    FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
              "ephemeralOwner", "dataLength", "numChildren", "pzxid")

    def __init__(self, *vals):
        for k, v in zip(self.FIELDS, vals):
            setattr(self, k, v)

    def __repr__(self):
        return "Stat(" + ", ".join(f"{k}={getattr(self, k)}" for k in self.FIELDS) + ")"


class Reply:
    def __init__(self, xid, zxid, err, body):
        self.xid, self.zxid, self.err, self.body = xid, zxid, err, body

    def reader(self):
        return Reader(self.body)

    def __repr__(self):
        return f"Reply(xid={self.xid}, zxid={self.zxid:#x}, err={self.err}, {len(self.body)}B)"


class WatchEvent:
    def __init__(self, type, state, path, zxid):
        self.type, self.state, self.path, self.zxid = type, state, path, zxid

    def __repr__(self):
        return f"WatchEvent(type={self.type}, state={self.state}, path={self.path!r})"

    def __eq__(self, other):
        return (self.type, self.path) == other

    def __hash__(self):
        return hash((self.type, self.path))


class ConnectionClosed(Exception):
    pass


class KeeperError(Exception):
    def __init__(self, err, reply=None):
        super().__init__(f"server error {err}")
        self.err = err
        self.reply = reply


class RawClient:
    """Minimal single-connection ZooKeeper client speaking jute directly.

    A reader thread collects frames; every received frame (watch event or
    reply) is appended to ``self.frames`` in arrival order, which lets tests
    check ordering guarantees.  Pings are sent only when ``ping()`` is called
    (or by ``start_pinger()``), so a session can be left to expire on purpose.
    """

    def __init__(self, host, port, timeout_ms=10000, session_id=0, passwd=b"\0" * 16,
                 last_zxid=0, read_only=False, send_read_only=True, connect=True):
        self.host, self.port = host, port
        self.sock = None
        self.xid = 0
        self.frames = []          # ("event", WatchEvent) / ("reply", Reply) in order
        self.events = queue.Queue()
        self.replies = {}
        self.cond = threading.Condition()
        self.closed = False
        self.last_zxid = last_zxid
        self._pinger = None
        self._pinger_stop = threading.Event()
        if connect:
            self.connect(timeout_ms, session_id, passwd, last_zxid, read_only, send_read_only)

    # ----------------------------------------------------------- transport
    def open_socket(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_frame(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            d = self.sock.recv(n - len(buf))
            if not d:
                raise ConnectionClosed("connection closed by server")
            buf += d
        return bytes(buf)

    def recv_frame(self):
        (n,) = struct.unpack(">i", self._recv_exact(4))
        return self._recv_exact(n)

    def connect(self, timeout_ms=10000, session_id=0, passwd=b"\0" * 16, last_zxid=0,
                read_only=False, send_read_only=True):
        self.open_socket()
        w = Writer().int(0).long(last_zxid).int(timeout_ms).long(session_id).buffer(passwd)
        if send_read_only:
            w.bool(read_only)
        self.send_frame(w.bytes())
        self.sock.settimeout(15)
        try:
            body = self.recv_frame()
        except ConnectionClosed:
            raise ConnectionClosed(
                f"connection closed by server during handshake (session_id={session_id:#x})")
        r = Reader(body)
        self.protocol_version = r.int()
        self.timeout_ms = r.int()
        self.session_id = r.long()
        self.passwd = r.buffer()
        self.read_only = r.bool() if r.remaining() >= 1 else None
        self.connect_response_len = len(body)
        self.sock.settimeout(None)
        self.closed = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        return self

    def _read_loop(self):
        try:
            while True:
                frame = self.recv_frame()
                r = Reader(frame)
                xid, zxid, err = r.int(), r.long(), r.int()
                if zxid > 0:
                    self.last_zxid = max(self.last_zxid, zxid)
                with self.cond:
                    if xid == WATCH_XID:
                        ev = WatchEvent(r.int(), r.int(), r.string(), zxid)
                        self.frames.append(("event", ev))
                        self.events.put(ev)
                    else:
                        rep = Reply(xid, zxid, err, frame[r.o:])
                        self.frames.append(("reply", rep))
                        self.replies[xid] = rep
                    self.cond.notify_all()
        except (ConnectionClosed, OSError, struct.error):
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def next_xid(self):
        self.xid += 1
        return self.xid

    def send(self, op, body=b"", xid=None):
        if xid is None:
            xid = self.next_xid()
        self.send_frame(struct.pack(">ii", xid, op) + body)
        return xid

    def wait_reply(self, xid, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while xid not in self.replies:
                if self.closed:
                    raise ConnectionClosed(f"connection closed while waiting for xid {xid}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no reply for xid {xid}")
                self.cond.wait(left)
            return self.replies.pop(xid)

    def call(self, op, body=b"", timeout=10.0, xid=None):
        """Send a request and return the Reply (err not checked)."""
        if xid is not None:
            with self.cond:  # special xids (ping, auth, setWatches) repeat
                self.replies.pop(xid, None)
        xid = self.send(op, body, xid)
        return self.wait_reply(xid, timeout)

    def ok(self, op, body=b"", timeout=10.0):
        rep = self.call(op, body, timeout)
        if rep.err != 0:
            raise KeeperError(rep.err, rep)
        return rep.reader()

    def wait_closed(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def next_event(self, timeout=10.0):
        return self.events.get(timeout=timeout)

    def no_event(self, wait=0.5):
        try:
            ev = self.events.get(timeout=wait)
        except queue.Empty:
            return None
        return ev

    # ------------------------------------------------------------ sessions
    def ping(self, timeout=10.0):
        return self.call(OP.PING, xid=PING_XID, timeout=timeout)

    def start_pinger(self, interval=None):
        interval = interval or max(0.1, self.timeout_ms / 3000.0)
        self._pinger_stop.clear()

        def loop():
            while not self._pinger_stop.wait(interval):
                try:
                    self.send(OP.PING, xid=PING_XID)
                except OSError:
                    return
        self._pinger = threading.Thread(target=loop, daemon=True)
        self._pinger.start()

    def stop_pinger(self):
        self._pinger_stop.set()

    def close_socket(self):
        """Drop the TCP connection without closing the session."""
        self.stop_pinger()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.wait_closed(5)

    def close(self):
        """closeSession, then drop the socket."""
        self.stop_pinger()
        if not self.closed:
            try:
                self.call(OP.CLOSE_SESSION, timeout=5)
            except Exception:
                pass
        self.close_socket()

    def auth(self, scheme, credential):
        if isinstance(credential, str):
            credential = credential.encode()
        return self.call(OP.AUTH, Writer().int(0).string(scheme).buffer(credential).bytes(),
                         xid=AUTH_XID)

    # ------------------------------------------------------------- request bodies
    @staticmethod
    def create_body(path, data=b"", acl=OPEN_ACL, flags=0, ttl=None):
        w = Writer().string(path).buffer(data).acls(acl).int(flags)
        if ttl is not None:
            w.long(ttl)
        return w.bytes()

    @staticmethod
    def path_body(path, watch=None):
        w = Writer().string(path)
        if watch is not None:
            w.bool(watch)
        return w.bytes()

    # convenience wrappers (raise KeeperError on err != 0)
    def create(self, path, data=b"", acl=OPEN_ACL, flags=0):
        return self.ok(OP.CREATE, self.create_body(path, data, acl, flags)).string()

    def create2(self, path, data=b"", acl=OPEN_ACL, flags=0, op=OP.CREATE2, ttl=None):
        r = self.ok(op, self.create_body(path, data, acl, flags, ttl))
        return r.string(), r.stat()

    def delete(self, path, version=-1):
        self.ok(OP.DELETE, Writer().string(path).int(version).bytes())

    def exists(self, path, watch=False):
        rep = self.call(OP.EXISTS, self.path_body(path, watch))
        if rep.err == ERR.NO_NODE:
            return None
        if rep.err:
            raise KeeperError(rep.err, rep)
        return rep.reader().stat()

    def get(self, path, watch=False):
        r = self.ok(OP.GET_DATA, self.path_body(path, watch))
        return r.buffer(), r.stat()

    def set(self, path, data, version=-1):
        return self.ok(OP.SET_DATA, Writer().string(path).buffer(data).int(version).bytes()).stat()

    def children(self, path, watch=False):
        r = self.ok(OP.GET_CHILDREN2, self.path_body(path, watch))
        return r.strings(), r.stat()

    def add_watch(self, path, mode):
        self.ok(OP.ADD_WATCH, Writer().string(path).int(mode).bytes())

    def set_watches(self, relative_zxid, data=(), exist=(), child=(), persistent=None,
                    recursive=None):
        w = Writer().long(relative_zxid).strings(list(data)).strings(list(exist)) \
            .strings(list(child))
        op = OP.SET_WATCHES
        if persistent is not None or recursive is not None:
            op = OP.SET_WATCHES2
            w.strings(list(persistent or ())).strings(list(recursive or ()))
        return self.call(op, w.bytes(), xid=SET_WATCHES_XID)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        try:
            self.close()
        except Exception:
            pass


def multi_body(ops):
    """ops: list of (type, body_bytes); returns a MultiRequest body."""
    w = Writer()
    for t, body in ops:
        w.int(t).bool(False).int(-1)
        w.b += body
    w.int(-1).bool(True).int(-1)
    return w.bytes()


def parse_multi_response(reader, decoders=None):
    """Returns list of (type, err, payload) until the done header."""
    out = []
    while True:
        t, done, err = reader.int(), reader.bool(), reader.int()
        if done:
            break
        if t == OP.ERROR:
            out.append((t, reader.int(), None))
        elif t in (OP.CREATE,):
            out.append((t, err, reader.string()))
        elif t in (OP.CREATE2, OP.CREATE_CONTAINER, OP.CREATE_TTL):
            out.append((t, err, (reader.string(), reader.stat())))
        elif t == OP.SET_DATA:
            out.append((t, err, reader.stat()))
        elif t in (OP.DELETE, OP.CHECK):
            out.append((t, err, None))
        elif t == OP.GET_DATA:
            out.append((t, err, (reader.buffer(), reader.stat())))
        elif t == OP.GET_CHILDREN:
            out.append((t, err, reader.strings()))
        else:
            raise ValueError(f"unknown multi result type {t}")
    return out
