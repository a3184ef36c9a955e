//! Fast failover. openraft's followers wait for the election timeout (and
//! refuse other candidates while their leader's lease lasts) before electing.
//! When the leader's process is gone — its peer port refuses connections, as
//! after kill -9 — there is nothing to wait for: each follower that notices
//! starts an election at once (which also ends its lease), and repeats it,
//! the lower ids sooner, until some leader emerges. Two rules keep the
//! campaigns from blocking each other (which left the election to openraft's
//! lease plus election timeout, 4.5-6 s and more):
//! - a follower that voted for another candidate gives it a moment to take
//!   over (a campaign of its own would depose the new leader);
//! - a follower asked for its vote by a candidate that can win it (a longer
//!   log, or as long and a lower id) stops campaigning for a while.
//!
//! A leader that merely hangs or is cut off still costs the election timeout.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::log_store::LogView;
use super::{LogId, NodeId, Raft};

/// Shared by everything that may notice the leader's death.
#[derive(Clone)]
pub struct LeaderWatch {
    raft: Raft,
    my_id: NodeId,
    peers: BTreeMap<NodeId, String>,
    log: LogView,
    /// The term whose leader was last found dead (one failover per term).
    handled: Arc<Mutex<u64>>,
    /// When a candidate that can win our vote last asked for it.
    deferred: Arc<Mutex<Option<Instant>>>,
}

/// How long a follower stops campaigning after a better candidate asked for its vote.
const DEFER: Duration = Duration::from_millis(600);
/// How long a candidate we voted for gets to establish its lead.
const GRANTED_PATIENCE: Duration = Duration::from_millis(1000);
/// Between campaigns: this, times one more than the number of lower ids.
const STAGGER_MS: u64 = 75;

impl LeaderWatch {
    pub fn new(raft: Raft, my_id: NodeId, peers: BTreeMap<NodeId, String>, log: LogView) -> Self {
        LeaderWatch {
            raft,
            my_id,
            peers,
            log,
            handled: Arc::new(Mutex::new(0)),
            deferred: Arc::new(Mutex::new(None)),
        }
    }

    /// A peer asks for our vote: if it can win it (its log is longer than
    /// ours, or as long and its id lower), leave the campaigning to it.
    pub fn vote_requested(&self, candidate: Option<NodeId>, their_last: Option<LogId>) {
        let ours = self.log.last_log_id();
        let better =
            their_last > ours || (their_last == ours && candidate.is_some_and(|c| c < self.my_id));
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
        let mut granted: Option<(openraft::Vote<NodeId>, Instant)> = None;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(STAGGER_MS * (rank + 1))).await;
            let (current, vote) = {
                let m = self.raft.metrics();
                let m = m.borrow();
                (m.current_leader, m.vote)
            };
            if current.is_some_and(|l| l != leader) {
                return;
            }
            // Our vote went to another candidate: it has a majority (itself
            // and us) and needs a moment to say so; a campaign of ours now
            // would depose it before it could.
            if vote.leader_id().voted_for() != Some(self.my_id) {
                let since = match granted {
                    Some((v, since)) if v == vote => since,
                    _ => granted.insert((vote, Instant::now())).1,
                };
                if since.elapsed() < GRANTED_PATIENCE {
                    continue;
                }
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
