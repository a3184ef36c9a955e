//! Measures the data tree's memory per znode:
//! `cargo run --release -p keeper --example tree_memory [nodes]`.
use bytes::Bytes;
use keeper::proto::{op, CreateOp, WriteOp};
use keeper::state::KeeperState;
use keeper::txn::{Txn, TxnKind};

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

fn create(state: &mut KeeperState, zxid: i64, path: String, value: usize) {
    state.apply(&Txn {
        zxid,
        time: 1,
        session: 1,
        kind: TxnKind::Write {
            auth: vec![],
            op: WriteOp::Create {
                opcode: op::CREATE2,
                op: CreateOp {
                    path,
                    data: Some(Bytes::from(vec![b'x'; value])),
                    acl: keeper::tree::open_acl(),
                    flags: 0,
                    ttl: -1,
                },
            },
        },
    });
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(130_000);
    let mut state = KeeperState::new();
    let before = rss_kib();
    let mut zxid = 0;
    let mut next = || {
        zxid += 1;
        zxid
    };
    create(&mut state, next(), "/bench".into(), 0);
    for s in 0..8 {
        create(&mut state, next(), format!("/bench/s{s}"), 0);
    }
    for i in 0..n {
        create(
            &mut state,
            next(),
            format!("/bench/s{}/n{}", i % 8, i / 8),
            100,
        );
    }
    let after = rss_kib();
    println!(
        "{n} znodes: {} KiB, {:.0} bytes per znode (100-byte values, ~17-byte paths)",
        after - before,
        (after - before) as f64 * 1024.0 / n as f64
    );
}
