"""`rill zk` (the zkCli.sh equivalent) against Apache ZooKeeper's own zkCli.sh.

For every server kind in KEEPER_TARGETS ("rill" = `rill keeper`, "zookeeper" =
Apache ZooKeeper 3.8 from Debian):

1. zkCli.sh one-shot commands (create, get, set, ls, delete) print what we
   expect, and so does `rill zk` (same literal expectations for both clients).
2. For a list of commands, `rill zk` prints exactly what zkCli.sh prints for
   the same state: stdout, stderr and exit code, after dropping zkCli's banner
   and logging noise. Read-only commands run both clients on the same nodes;
   commands that change state run each client in its own sibling subtree, and
   the outputs are compared with the subtree prefix (and the zxids / times in
   stat blocks, which necessarily differ) normalised.
3. The interactive shell, driven in a pseudo-terminal: prompt, command output,
   watch notifications, history, completion, quit.

Env: RILL_BIN (default <repo>/target/debug/rill) is both the server (`rill
keeper`) and the client (`rill zk`); ZKCLI overrides the zkCli.sh path.
`rill keeper` gets 10 s to start; if it does not, the rill target is skipped.
"""

import fcntl
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
import uuid
from collections import namedtuple

import pytest
from kazoo.security import make_acl, make_digest_acl

from conftest import new_kazoo
from keeper_server import KeeperServer, ServerStartError, rill_bin

ZKCLI = os.environ.get("ZKCLI", "/usr/share/zookeeper/bin/zkCli.sh")
RILL_START_TIMEOUT = 10.0
STAT_NAMES = ["cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion",
              "aclVersion", "ephemeralOwner", "dataLength", "numChildren"]
JAVA_DATE = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d [A-Z]+ \d{4}$")

Result = namedtuple("Result", "rc out err")


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server(kind):
    """A private server of `kind` for this module (overrides conftest's shared
    one so a `rill keeper` that does not come up in 10 s skips, not errors)."""
    srv = KeeperServer(kind, name="zkcli")
    try:
        srv.start(timeout=RILL_START_TIMEOUT if kind == "rill" else 60.0)
    except ServerStartError as e:
        srv.cleanup()
        if kind == "rill":
            pytest.skip(f"`rill keeper` did not become ready within {RILL_START_TIMEOUT:.0f} s: "
                        f"{str(e).splitlines()[0]}")
        raise
    yield srv
    srv.cleanup()


@pytest.fixture(scope="module")
def kz(server):
    k = new_kazoo(server.hosts)
    yield k
    k.stop()
    k.close()


@pytest.fixture
def base(kz):
    """A fresh unique parent node for one test."""
    path = f"/zkcli-{uuid.uuid4().hex[:10]}"
    kz.create(path)
    return path


@pytest.fixture(scope="module")
def tree(kz):
    """A fixed tree the read-only comparisons look at."""
    r = f"/cmp-{uuid.uuid4().hex[:10]}"
    kz.create(r, b"hello")
    kz.create(f"{r}/a", b"1")
    kz.create(f"{r}/b", b"")
    kz.create(f"{r}/b/c", "deep ünïcode".encode())
    kz.create(f"{r}/acl", b"x", acl=[make_acl("ip", "127.0.0.1", all=True),
                                     make_acl("world", "anyone", read=True)])
    kz.create(f"{r}/secret", b"s", acl=[make_digest_acl("someone", "pw", all=True)])
    return r


def need_zkcli():
    if not (os.access(ZKCLI, os.X_OK) and shutil.which("java")):
        pytest.skip(f"zkCli.sh ({ZKCLI}) or java not available")


def need_rill_client():
    if not os.path.exists(rill_bin()):
        pytest.skip(f"rill binary not found at {rill_bin()} (cargo build -p rill, or set RILL_BIN)")


# --------------------------------------------------------------------------- running clients
def run_rill(server, *args, stdin=None, timeout=30):
    proc = subprocess.run([rill_bin(), "zk", "-server", server.hosts, *args],
                          input=stdin, capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


_NOISE = re.compile(r"^(SLF4J:|log4j:|\d{4}-\d\d-\d\d[ T]\d\d:\d\d)")
_CONNECT_EVENT = {"WATCHER::", "WatchedEvent state:SyncConnected type:None path:null"}


def clean_zkcli_stdout(text):
    """Drops zkCli's `Connecting to ...` banner and the watcher block for the
    initial connection (printed by another thread, so it may come anywhere)."""
    lines = text.split("\n")
    if lines and lines[0].startswith("Connecting to "):
        lines = lines[1:]
    kept = []
    for line in lines:
        if line in _CONNECT_EVENT or _NOISE.match(line):
            if kept and kept[-1] == "" and line in _CONNECT_EVENT:
                kept.pop()  # printMessage() puts a blank line before each
            continue
        kept.append(line)
    return "\n".join(kept)


def clean_zkcli_stderr(text):
    return "".join(line for line in text.splitlines(keepends=True) if not _NOISE.match(line))


def run_zkcli(server, *args, timeout=60):
    proc = subprocess.run([ZKCLI, "-server", server.hosts, *args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return Result(proc.returncode, clean_zkcli_stdout(proc.stdout),
                  clean_zkcli_stderr(proc.stderr))


def runner(server, client):
    if client == "zkcli":
        need_zkcli()
        return lambda *a: run_zkcli(server, *a)
    need_rill_client()
    return lambda *a: run_rill(server, *a)


def normalise_stats(text):
    """Blanks the stat fields two clients cannot share (zxids, times)."""
    text = re.sub(r"(?m)^(cZxid|mZxid|pZxid) = 0x[0-9a-f]+$", r"\1 = 0x?", text)
    return re.sub(r"(?m)^(ctime|mtime) = .*$", r"\1 = ?", text)


def assert_stat_block(lines):
    assert [line.split(" = ")[0] for line in lines] == STAT_NAMES, lines
    for line in lines:
        name, value = line.split(" = ")
        if name.endswith("Zxid") or name == "ephemeralOwner":
            assert re.fullmatch(r"0x[0-9a-f]+", value), line
        elif name.endswith("time"):
            assert JAVA_DATE.match(value), line
        else:
            assert re.fullmatch(r"-?\d+", value), line


# --------------------------------------------------------------------------- 1. basics
@pytest.mark.keeper_timeout(90)
@pytest.mark.parametrize("client", ["zkcli", "rill"])
def test_basic_commands(server, base, client):
    """create / get / set / ls / delete print exactly this, with either client."""
    run = runner(server, client)
    p = f"{base}/{client}"

    assert run("create", p, "hello") == Result(0, "", f"Created {p}\n")
    assert run("get", p) == Result(0, "hello\n", "")
    assert run("set", p, "world") == Result(0, "", "")

    r = run("get", "-s", p)
    assert r.rc == 0 and r.err == ""
    lines = r.out.splitlines()
    assert lines[0] == "world"
    assert_stat_block(lines[1:])
    assert "dataVersion = 1" in lines and "dataLength = 5" in lines

    assert run("create", f"{p}/b")[0] == 0
    assert run("create", f"{p}/a", "x")[0] == 0
    assert run("ls", p) == Result(0, "[a, b]\n", "")
    assert run("create", p) == Result(1, "", f"Node already exists: {p}\n")
    assert run("delete", p) == Result(1, "", f"Node not empty: {p}\n")
    assert run("delete", "-v", "5", f"{p}/a") == Result(1, "", f"version No is not valid : {p}/a\n")
    assert run("delete", f"{p}/a") == Result(0, "", "")
    assert run("ls", p) == Result(0, "[b]\n", "")
    assert run("get", f"{p}/a") == Result(1, "", f"Node does not exist: {p}/a\n")
    assert run("ls") == Result(1, "", "ls [-s] [-w] [-R] path\n")


# --------------------------------------------------------------------------- 2. rill zk == zkCli.sh
READ_ONLY = [
    "ls {r}",
    "ls -s {r}",
    "ls -R {r}",
    "ls -R {r}/secret",
    "ls {r}/nope",
    "ls {r} watch",
    "get {r}",
    "get -s {r}/a",
    "get -s -w {r}/a",
    "get {r}/b",
    "get {r}/b/c",
    "get {r}/secret",
    "stat {r}/b/c",
    "stat -w {r}/a",
    "stat {r}/nope",
    "getAcl {r}/acl",
    "getAcl -s {r}/acl",
    "getAllChildrenNumber {r}",
    "getAllChildrenNumber {r}/nope",
    "getEphemerals {r}",
    "sync {r}",
    "whoami",
    "get",
    "set {r}",
    "ls -x {r}",
    "set -v",
    "get cmp",
    "get {r}//x",
    "get {r}/./a",
    "ls {r}/",
    "create {r}",
    "delete {r}",
    "set -v 42 {r} x",
    "delete -v 42 {r}/a",
    "create {r}/nope/x",
    "create -c -e {r}/x",
    "create -t nope {r}/x",
    "create -t 10 -e {r}/x",
    "create -t 0 {r}/x",
    "setAcl {r}/a",
    "setAcl {r}/a bogus",
    "addauth",
]


@pytest.mark.parametrize("template", READ_ONLY)
def test_same_output_as_zkcli(server, tree, template):
    need_zkcli()
    need_rill_client()
    args = template.format(r=tree).split()
    expected = run_zkcli(server, *args)
    assert run_rill(server, *args) == expected


def test_unknown_command_like_zkcli(server):
    """Same exit code and message; the usage text lists our command set."""
    need_zkcli()
    need_rill_client()
    java = run_zkcli(server, "frobnicate", "/")
    ours = run_rill(server, "frobnicate", "/")
    assert ours.rc == java.rc == 127
    assert ours.err.splitlines()[-1] == java.err.splitlines()[-1] \
        == "Command not found: Command not found frobnicate"
    assert "\tls [-s] [-w] [-R] path" in ours.err


# Each scenario runs under {p} = <base>/zkcli for zkCli.sh and <base>/rill for
# rill zk; outputs are compared with that prefix replaced.
MUTATING = {
    "create": ["create {p}/n hello", "get {p}/n", "ls {p}"],
    "create-sequential": ["create -s {p}/s- x", "create -s {p}/s- y", "ls {p}"],
    "create-ephemeral-sequential": ["create -e -s {p}/e-"],
    "create-container": ["create -c {p}/c", "create {p}/c/child", "ls {p}/c"],
    "create-ttl": ["create -t 60000 {p}/t x", "get {p}/t"],
    "create-acl": ["create {p}/a x world:anyone:r,ip:127.0.0.1:cdrwa", "getAcl {p}/a"],
    "create-bad-acl-entries": ["create {p}/q x world:anyone:cdrwaz,bogus", "getAcl {p}/q"],
    "create-only-bad-acl": ["create {p}/q x bogus", "ls {p}"],
    "create-auth-acl-without-auth": ["create {p}/q x auth::cdrwa"],
    "set": ["create {p}/n a", "set {p}/n b", "get {p}/n", "set -v 1 {p}/n c",
            "set -v 7 {p}/n d", "set -s {p}/n e", "get -s {p}/n"],
    "delete": ["create {p}/n", "delete -v 3 {p}/n", "delete {p}/n 0", "stat {p}/n",
               "delete {p}/n"],
    "deleteall": ["create {p}/d", "create {p}/d/e", "create {p}/d/e/f", "create {p}/d/g",
                  "deleteall {p}/d", "ls {p}", "deleteall {p}/d"],
    "setAcl": ["create {p}/n x", "setAcl {p}/n world:anyone:cdrwa",
               "setAcl -s -v 1 {p}/n world:anyone:rwa", "getAcl -s {p}/n",
               "setAcl -v 9 {p}/n world:anyone:r"],
    "setAcl-recursive": ["create {p}/n", "create {p}/n/m", "setAcl -R {p}/n world:anyone:cdra",
                         "getAcl {p}/n/m", "getAcl {p}/n"],
    "no-permission": ["create {p}/n x world:anyone:r", "set {p}/n y", "delete {p}/n/x",
                      "setAcl {p}/n world:anyone:cdrwa"],
    "quoted-data": ["create {p}/n", "set {p}/n hello world", "get {p}/n"],
}


@pytest.mark.keeper_timeout(120)
@pytest.mark.parametrize("scenario", sorted(MUTATING))
def test_same_changes_as_zkcli(server, kz, base, scenario):
    need_zkcli()
    need_rill_client()
    outputs = {}
    for client, run in (("zkcli", lambda *a: run_zkcli(server, *a)),
                        ("rill", lambda *a: run_rill(server, *a))):
        p = f"{base}/{client}"
        kz.create(p)
        steps = []
        for template in MUTATING[scenario]:
            r = run(*template.format(p=p).split())
            steps.append((template, r.rc, normalise_stats(r.out).replace(p, "{p}"),
                          normalise_stats(r.err).replace(p, "{p}")))
        outputs[client] = steps
    assert outputs["rill"] == outputs["zkcli"]


def test_stat_dates_are_java_dates_in_utc(server, kz, base):
    """ctime/mtime use Java's Date.toString() layout (printed in UTC)."""
    need_rill_client()
    _, stat = kz.get(base)
    expected = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(stat.ctime / 1000))
    r = run_rill(server, "stat", base)
    assert f"ctime = {expected}" in r.out.splitlines()
    assert f"cZxid = {hex(stat.czxid)}" in r.out.splitlines()


def test_one_shot_ephemeral_goes_away_on_exit(server, kz, base):
    """rill zk closes its session on exit (zkCli.sh leaves it to time out)."""
    need_rill_client()
    assert run_rill(server, "create", "-e", f"{base}/e").rc == 0
    assert kz.exists(f"{base}/e") is None


def test_unreachable_server(server):
    need_rill_client()
    proc = subprocess.run([rill_bin(), "zk", "-server", "127.0.0.1:1", "get", "/x"],
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == \
        (1, "", "KeeperErrorCode = ConnectionLoss for /x\n")


def test_piped_stdin_runs_a_script(server, base):
    """Not a terminal: lines are read plainly and no prompt is printed."""
    need_rill_client()
    script = f"create {base}/s 'two words'\nget {base}/s\nls {base}\nquit\n"
    r = run_rill(server, stdin=script)
    assert r.rc == 0
    out = r.out.splitlines()
    assert "two words" in out and "[s]" in out
    assert "[zk:" not in r.out
    assert f"Created {base}/s" in r.err.splitlines()


# --------------------------------------------------------------------------- 3. the shell in a terminal
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\r")


class Terminal:
    """A program on a pseudo-terminal; `expect` waits for text on its screen
    (the output with terminal control sequences removed)."""

    def __init__(self, argv, rows=40, cols=200):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(os.environ, TERM="xterm")
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     env=env, start_new_session=True)
        os.close(slave)
        self.fd = master
        self.raw = b""
        self.pos = 0

    def _pump(self, wait):
        r, _, _ = select.select([self.fd], [], [], wait)
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the program exited and closed the terminal
            return False
        if not data:
            return False
        self.raw += data
        return True

    def text(self):
        return _ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def expect(self, needle, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            at = self.text().find(needle, self.pos)
            if at >= 0:
                self.pos = at + len(needle)
                return
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(min(left, 0.2)) and self.proc.poll() is not None:
                raise AssertionError(f"{needle!r} not on screen; after position {self.pos}:\n"
                                     f"{self.text()[self.pos:]}")

    def type(self, keys):
        os.write(self.fd, keys.encode())

    def line(self, text):
        self.type(text + "\r")

    def wait(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._pump(0.1)
        return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.fd)


@pytest.fixture
def terminal():
    terms = []

    def start(*argv):
        t = Terminal(list(argv))
        terms.append(t)
        return t

    yield start
    for t in terms:
        t.close()


@pytest.mark.keeper_timeout(90)
def test_shell_in_a_terminal(server, base, terminal):
    need_rill_client()
    sh = terminal(rill_bin(), "zk", "-server", server.hosts)

    def prompt(n):
        return f"[zk: {server.hosts}(CONNECTED) {n}] "

    sh.expect(f"Connecting to {server.hosts}")
    sh.expect("WatchedEvent state:SyncConnected type:None path:null")
    sh.expect(prompt(0))

    node = f"{base}/shellnode"
    sh.line(f"create {node} 'hello there'")
    sh.expect(f"Created {node}")
    sh.expect(prompt(1))

    sh.line(f"get -w {node}")
    sh.expect("hello there")
    sh.expect(prompt(2))

    # Changed by someone else: the watch fires and is printed under the prompt.
    assert run_rill(server, "set", node, "changed").rc == 0
    sh.expect("WATCHER::")
    sh.expect(f"WatchedEvent state:SyncConnected type:NodeDataChanged path:{node}")

    sh.line(f"ls {base}")
    sh.expect("[shellnode]")
    sh.expect(prompt(3))

    # Up-arrow recalls the previous line.
    sh.type("\x1b[A\r")
    sh.expect("[shellnode]")
    sh.expect(prompt(4))

    # Tab completes a znode path.
    sh.type(f"get {base}/shelln\t\r")
    sh.expect("changed")
    sh.expect(prompt(5))

    sh.line("addauth digest alice:secret")
    sh.expect(prompt(6))
    sh.line("whoami")
    sh.expect("Auth scheme: User")
    sh.expect("digest: alice")
    sh.expect(prompt(7))

    sh.line(f"stat {base}/nope")
    sh.expect(f"Node does not exist: {base}/nope")
    sh.expect(prompt(8))

    sh.line("history")
    sh.expect(f"0 - create {node} 'hello there'")
    sh.expect("8 - history")
    sh.expect(prompt(9))

    sh.line(f"get {node}")
    sh.expect("changed")
    sh.expect(prompt(10))
    sh.line("quit")
    assert sh.wait() == 0


@pytest.mark.keeper_timeout(60)
def test_shell_close_and_connect(server, terminal):
    need_rill_client()
    sh = terminal(rill_bin(), "zk", "-server", server.hosts)
    sh.expect(f"[zk: {server.hosts}(CONNECTED) 0] ")
    sh.line("close")
    sh.expect("WatchedEvent state:Closed type:None path:null")
    sh.expect(f"[zk: {server.hosts}(CLOSED) 1] ")
    sh.line("ls /")
    sh.expect("Not connected")
    sh.line(f"connect {server.hosts}")
    sh.expect("WatchedEvent state:SyncConnected type:None path:null")
    sh.expect(f"[zk: {server.hosts}(CONNECTED) 3] ")
    sh.line("ls /")
    sh.expect("zookeeper]")
    sh.line("bogus")
    sh.expect("Command not found: Command not found bogus")
    sh.line("quit")
    assert sh.wait() == 127  # like zkCli: quit exits with the last command's code
