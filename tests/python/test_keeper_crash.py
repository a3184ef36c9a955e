"""Crash test: every acknowledged create survives a kill -9.

A kazoo client streams TOTAL creates with up to IN_FLIGHT outstanding
(create_async) and records which ones were acknowledged.  Once KILL_AFTER are
acknowledged the server is SIGKILLed mid-stream; it is restarted on the same
dataDir/dataLogDir and every acknowledged node must exist with its data.
"""

import random
import sys
import threading
import time

import pytest

from conftest import new_kazoo

# This suite also runs against 3-member ensembles (KEEPER_TARGETS rill-ensemble, zookeeper-ensemble).
ENSEMBLE_TARGETS = True

TOTAL = 10_000
IN_FLIGHT = 200
KILL_AFTER = 3_000


@pytest.mark.keeper_timeout(300)
def test_acknowledged_creates_survive_kill9(make_server):
    srv = make_server()
    k = new_kazoo(srv.hosts)
    k.create("/crash")

    acked = set()
    failed = []
    lock = threading.Lock()
    slots = threading.Semaphore(IN_FLIGHT)
    enough = threading.Event()

    def on_done(path, ar):
        try:
            ar.get_nowait()
            with lock:
                acked.add(path)
                if len(acked) >= KILL_AFTER:
                    enough.set()
        except Exception as e:  # ConnectionLoss etc. after the kill
            with lock:
                failed.append((path, type(e).__name__))
        finally:
            slots.release()

    sent = 0
    killed_at = None
    t0 = time.monotonic()
    for i in range(TOTAL):
        if enough.is_set():
            # kill -9 with up to IN_FLIGHT creates outstanding, then stop
            # sending (kazoo would queue further requests until it reconnects)
            rss = srv.rss_kib()
            srv.kill()
            killed_at = i
            sys.stderr.write(f"killed after {len(acked)} acks, {i} sent, rss {rss} KiB\n")
            break
        if not slots.acquire(timeout=30):
            pytest.fail(f"no create completed for 30s ({len(acked)} acked)")
        path = f"/crash/n{i:05d}"
        ar = k.create_async(path, f"data-{i}".encode())
        ar.rawlink(lambda ar, path=path: on_done(path, ar))
        sent += 1
    if killed_at is None:
        srv.kill()
        pytest.fail(f"only {len(acked)} creates acknowledged out of {TOTAL}; "
                    f"the kill never happened")
    # wait for every outstanding request to complete (with an error after the kill)
    for _ in range(IN_FLIGHT):
        assert slots.acquire(timeout=60), "outstanding requests never completed"
    elapsed = time.monotonic() - t0
    k.stop()
    k.close()

    with lock:
        acked_snapshot = set(acked)
    assert len(acked_snapshot) >= KILL_AFTER
    sys.stderr.write(f"{sent} sent, {len(acked_snapshot)} acked, {len(failed)} failed "
                     f"in {elapsed:.1f}s\n")

    srv.start()
    k = new_kazoo(srv.hosts)
    try:
        present = set(f"/crash/{c}" for c in k.get_children("/crash"))
        missing = sorted(acked_snapshot - present)
        assert not missing, f"{len(missing)} acknowledged creates lost, e.g. {missing[:5]}"
        # unacknowledged creates may or may not have made it, but nothing
        # that was never sent may appear
        assert all(int(p.rsplit("n", 1)[1]) < sent for p in present)
        st = k.exists("/crash")
        assert st.numChildren == len(present)
        for p in random.sample(sorted(acked_snapshot), 200):
            assert k.get(p)[0] == f"data-{int(p.rsplit('n', 1)[1])}".encode()
        # the server keeps accepting writes after recovery
        k.create("/crash/after")
    finally:
        k.stop()
        k.close()
