//! Measures the data tree's memory per znode under keeper-bench's load:
//! `cargo run --release -p keeper --example tree_memory [bench nodes]`.
//!
//! Like the benchmark: 8 sessions' parents under `/warm` and `/bench`, 30 000
//! warm-up nodes, then the measured nodes (default 100 000) as
//! `/bench/s<session>/n<i>`, each created with a 100-byte value and then set
//! to another 100-byte value; times advance ~1 ms per 100 transactions.
use bytes::Bytes;
use keeper::proto::{op, CreateOp, WriteOp};
use keeper::state::KeeperState;
use keeper::txn::{Txn, TxnKind};

const SESSIONS: usize = 8;
const WARM_NODES: usize = 30_000;
const VALUE: usize = 100;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Load {
    state: KeeperState,
    zxid: i64,
}

impl Load {
    fn apply(&mut self, op: WriteOp) {
        self.zxid += 1;
        let applied = self.state.apply(&Txn {
            zxid: self.zxid,
            time: 1_763_700_000_000 + self.zxid / 100,
            session: 1,
            kind: TxnKind::Write { auth: vec![], op },
        });
        assert!(matches!(applied.outcome, Some(Ok(_))), "{applied:?}");
    }

    fn create(&mut self, path: String, value: usize) {
        self.apply(WriteOp::Create {
            opcode: op::CREATE2,
            op: CreateOp {
                path,
                data: Some(Bytes::from(vec![b'x'; value])),
                acl: keeper::tree::open_acl(),
                flags: 0,
                ttl: -1,
            },
        });
    }

    fn set(&mut self, path: String, value: usize) {
        self.apply(WriteOp::SetData {
            path,
            data: Some(Bytes::from(vec![b'y'; value])),
            version: -1,
        });
    }

    /// `count` nodes under `root`, created then set, session by session in turn.
    fn phase(&mut self, root: &str, count: usize) {
        let path = |i: usize| format!("{root}/s{}/n{}", i % SESSIONS, i / SESSIONS);
        (0..count).for_each(|i| self.create(path(i), VALUE));
        (0..count).for_each(|i| self.set(path(i), VALUE));
    }
}

fn main() {
    let bench_nodes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mut load = Load {
        state: KeeperState::new(),
        zxid: 0,
    };
    let before = rss_kib();
    for root in ["/warm", "/bench"] {
        load.create(root.into(), 0);
        for s in 0..SESSIONS {
            load.create(format!("{root}/s{s}"), 0);
        }
    }
    load.phase("/warm", WARM_NODES);
    load.phase("/bench", bench_nodes);
    let used = rss_kib() - before;
    let n = WARM_NODES + bench_nodes;
    println!(
        "{n} znodes (created, then set; {VALUE}-byte values, 14-16-byte paths): \
         {used} KiB, {:.0} bytes per znode",
        used as f64 * 1024.0 / n as f64
    );
}
