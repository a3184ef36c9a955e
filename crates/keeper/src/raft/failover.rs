//! Fast failover. openraft's followers wait for the election timeout (and
//! refuse other candidates while their leader's lease lasts) before electing.
//! When the leader's process is gone — its peer port refuses connections, as
//! after kill -9 — there is nothing to wait for: each follower that notices
//! starts an election at once (which also ends its lease), and repeats it,
//! the lower ids sooner, until some leader emerges. A leader that merely
//! hangs or is cut off still costs the election timeout.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{NodeId, Raft};

/// Shared by everything that may notice the leader's death.
#[derive(Clone)]
pub struct LeaderWatch {
    raft: Raft,
    my_id: NodeId,
    peers: BTreeMap<NodeId, String>,
    /// The term whose leader was last found dead (one failover per term).
    handled: Arc<Mutex<u64>>,
}

impl LeaderWatch {
    pub fn new(raft: Raft, my_id: NodeId, peers: BTreeMap<NodeId, String>) -> Self {
        LeaderWatch {
            raft,
            my_id,
            peers,
            handled: Arc::new(Mutex::new(0)),
        }
    }

    /// Something suggests `leader` is gone (its connection closed, a write
    /// could not reach it, a peer asks for votes): check, and elect if so.
    pub fn suspect(&self, leader: NodeId) {
        let watch = self.clone();
        tokio::spawn(async move { watch.check(leader).await });
    }

    async fn check(self, leader: NodeId) {
        let term = {
            let m = self.raft.metrics();
            let m = m.borrow();
            if m.current_leader != Some(leader) || leader == self.my_id {
                return;
            }
            m.current_term
        };
        if *self.handled.lock().expect("failover lock") >= term {
            return;
        }
        let Some(addr) = self.peers.get(&leader) else {
            return;
        };
        if !refuses_connections(addr).await {
            return;
        }
        {
            let mut handled = self.handled.lock().expect("failover lock");
            if *handled >= term {
                return;
            }
            *handled = term;
        }
        tracing::info!("leader {leader} is gone (its peer port refuses connections); electing now");
        let rank = self
            .peers
            .keys()
            .filter(|id| **id != leader && **id < self.my_id)
            .count() as u64;
        let _ = self.raft.trigger().elect().await;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(150 * (rank + 1))).await;
            if self.raft.metrics().borrow().current_leader.is_some() {
                return;
            }
            let _ = self.raft.trigger().elect().await;
        }
    }
}

/// True if `addr` refuses connections. A process being killed may close its
/// connections before its listening socket, so an accepted probe is retried
/// for a little while before the peer counts as alive.
async fn refuses_connections(addr: &str) -> bool {
    for _ in 0..6 {
        match super::network::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return true,
            Err(_) => return false,
            Ok(_) => tokio::time::sleep(Duration::from_millis(40)).await,
        }
    }
    false
}
