//! Fast failover. openraft's followers wait for the election timeout (and
//! refuse other candidates while their leader's lease lasts) before electing.
//! When the leader's process is gone — its peer port refuses connections, as
//! after kill -9 — there is nothing to wait for: each follower that notices
//! starts an election at once (which also ends its lease), and repeats it,
//! the lower ids sooner, until some leader emerges. A follower that is asked for its
//! vote by a candidate that can win it (a longer log, or as long and a lower
//! id) stops campaigning for a while: two followers that both kept
//! campaigning, the one with the shorter log bumping the term faster, could
//! keep each other from winning until openraft's own timeouts (lease plus
//! election timeout, up to 6 s) took over. A leader that merely hangs or is
//! cut off still costs the election timeout.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{NodeId, Raft};

/// Shared by everything that may notice the leader's death.
#[derive(Clone)]
pub struct LeaderWatch {
    raft: Raft,
    my_id: NodeId,
    peers: BTreeMap<NodeId, String>,
    /// The term whose leader was last found dead (one failover per term).
    handled: Arc<Mutex<u64>>,
    /// When a candidate that can win our vote last asked for it.
    deferred: Arc<Mutex<Option<Instant>>>,
}

/// How long a follower stops campaigning after a better candidate asked for its vote.
const DEFER: Duration = Duration::from_millis(600);
/// Between campaigns: this, times one more than the number of lower ids.
const STAGGER_MS: u64 = 150;

impl LeaderWatch {
    pub fn new(raft: Raft, my_id: NodeId, peers: BTreeMap<NodeId, String>) -> Self {
        LeaderWatch {
            raft,
            my_id,
            peers,
            handled: Arc::new(Mutex::new(0)),
            deferred: Arc::new(Mutex::new(None)),
        }
    }

    /// A peer asks for our vote: if it can win it (its log is longer than
    /// ours, or as long and its id lower), leave the campaigning to it.
    pub fn vote_requested(&self, candidate: Option<NodeId>, their_last_index: Option<u64>) {
        let ours = self.raft.metrics().borrow().last_log_index;
        let better = their_last_index > ours
            || (their_last_index == ours && candidate.is_some_and(|c| c < self.my_id));
        if better {
            *self.deferred.lock().expect("failover lock") = Some(Instant::now());
        }
    }

    fn deferring(&self) -> bool {
        self.deferred
            .lock()
            .expect("failover lock")
            .is_some_and(|t| t.elapsed() < DEFER)
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
        // Everyone that noticed campaigns at once: that also ends its lease,
        // which would make it refuse the others' vote requests. Of the
        // candidates, the ones that can lose to another stop (see
        // `vote_requested`); the others retry, the lower ids sooner.
        let _ = self.raft.trigger().elect().await;
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_millis(STAGGER_MS * (rank + 1))).await;
            let current = self.raft.metrics().borrow().current_leader;
            if current.is_some_and(|l| l != leader) {
                return;
            }
            if !self.deferring() {
                let _ = self.raft.trigger().elect().await;
            }
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
