//! The controller's decisions, as pure functions over partition states; the
//! ZooKeeper I/O that feeds and applies them is in `server::cluster`.
//!
//! # Design (Kafka's ZooKeeper mode, with ZooKeeper as the only channel)
//!
//! * **Election.** Every broker polls `/controller` (every 200 ms) and, when
//!   it is missing, tries to create it as an ephemeral znode. The winner
//!   increments `/controller_epoch` and remembers that znode's version: all
//!   its partition state writes are a ZooKeeper multi that first checks that
//!   version, so a deposed controller (e.g. one that was paused past its
//!   session) cannot overwrite the new one's decisions.
//! * **Broker failure.** The controller polls `/brokers/ids` (every 200 ms),
//!   with each registration's czxid as the broker epoch: a broker whose
//!   znode vanished, or came back with a new czxid (restarted between two
//!   polls), has failed. For every partition whose leader failed, a new
//!   leader is chosen from the live ISR, in assignment order ([`reelect`]);
//!   only with `unclean.leader.election.enable=true` may a live replica
//!   outside the ISR lead (data loss accepted). Failed brokers leave every
//!   ISR; the leader epoch is bumped whenever the leader changes. The ISR
//!   never becomes empty: with no live member left it keeps the last one and
//!   the partition is offline (leader -1) until that broker returns.
//! * **How brokers learn leadership.** Not by LeaderAndIsr/UpdateMetadata
//!   RPCs but from ZooKeeper itself: every broker re-reads the state znodes
//!   (`/brokers/topics/T/partitions/P/state`) every 200 ms and applies any
//!   newer one (a state with an older leader epoch than known is ignored).
//!   One channel means nothing can be lost between the controller and a
//!   broker, at the price of read load on the ensemble (one read per
//!   partition per broker per poll) and up to one poll interval of latency.
//!   Failure cases: a broker partitioned from ZooKeeper but not from clients
//!   keeps acting on its last known state until its session expires; as a
//!   leader it can then only take acks=1 writes (acks=all needs its
//!   followers, who follow the new leader), which is Kafka's behaviour too.
//!   A broker that restarts between two polls of a *newly elected*
//!   controller is not seen as bounced; it resumes the leadership the
//!   znode still gives it, which is safe because a kill keeps its log.
//! * **ISR changes** are made by the leader (followers that have not caught
//!   up within `replica.lag.time.max.ms` leave, followers that reach the
//!   high watermark join), written to the state znode conditionally on its
//!   version; on a conflict the leader re-reads the znode and retries.

use std::collections::BTreeSet;

use crate::metadata::znode::PartitionState;

/// Brokers as the controller sees them in one round.
pub struct LiveBrokers<'a> {
    /// Registered now.
    pub live: &'a BTreeSet<i32>,
    /// Registered now, but with a new broker epoch since the last round:
    /// they restarted, so their leaderships and ISR memberships ended.
    pub bounced: &'a BTreeSet<i32>,
}

/// The partition's next state after broker failures, or `None` if it stays.
///
/// The leader is kept while it is alive and was not bounced; otherwise the
/// first replica (in assignment order) that is alive and in the ISR leads,
/// preferring brokers that did not just restart; with `unclean`, any live
/// replica as a last resort. Failed brokers leave the ISR, which keeps its
/// last member when nobody is left.
pub fn reelect(
    state: &PartitionState,
    replicas: &[i32],
    brokers: &LiveBrokers<'_>,
    unclean: bool,
    controller_epoch: i32,
) -> Option<PartitionState> {
    let healthy = |b: &i32| brokers.live.contains(b) && !brokers.bounced.contains(b);
    let mut isr: Vec<i32> = state.isr.iter().copied().filter(healthy).collect();
    let leader_ok = state.leader >= 0 && healthy(&state.leader) && isr.contains(&state.leader);
    let leader = if leader_ok {
        state.leader
    } else {
        let in_isr = |b: &&i32| state.isr.contains(b);
        let choice = replicas
            .iter()
            .filter(in_isr)
            .find(|b| healthy(b))
            .or_else(|| {
                replicas
                    .iter()
                    .filter(in_isr)
                    .find(|b| brokers.live.contains(b))
            })
            .or_else(|| {
                unclean
                    .then(|| replicas.iter().find(|b| brokers.live.contains(b)))
                    .flatten()
            });
        match choice {
            Some(b) => {
                if !isr.contains(b) {
                    isr.push(*b);
                }
                *b
            }
            None => -1,
        }
    };
    if isr.is_empty() {
        // Kafka keeps the last in-sync replica so that it can lead again.
        isr = state
            .isr
            .iter()
            .copied()
            .filter(|b| *b == state.leader)
            .collect();
        if isr.is_empty() {
            isr = state.isr.clone();
        }
    }
    // A leader elected again after a restart starts a new epoch too.
    let new_leadership = leader != state.leader || (!leader_ok && leader >= 0);
    if !new_leadership && isr == state.isr {
        return None;
    }
    let leader_epoch = state.leader_epoch + i32::from(new_leadership);
    Some(PartitionState {
        controller_epoch,
        leader,
        version: 1,
        leader_epoch,
        isr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(leader: i32, epoch: i32, isr: &[i32]) -> PartitionState {
        PartitionState {
            controller_epoch: 1,
            leader,
            version: 1,
            leader_epoch: epoch,
            isr: isr.to_vec(),
        }
    }

    fn run(
        s: &PartitionState,
        live: &[i32],
        bounced: &[i32],
        unclean: bool,
    ) -> Option<(i32, i32, Vec<i32>)> {
        let live: BTreeSet<i32> = live.iter().copied().collect();
        let bounced: BTreeSet<i32> = bounced.iter().copied().collect();
        let brokers = LiveBrokers {
            live: &live,
            bounced: &bounced,
        };
        reelect(s, &[1, 2, 3], &brokers, unclean, 7).map(|n| {
            assert_eq!(n.controller_epoch, 7);
            (n.leader, n.leader_epoch, n.isr)
        })
    }

    #[test]
    fn elections_follow_kafka_rules() {
        let s = state(1, 4, &[1, 2, 3]);
        // Everyone alive: nothing to do.
        assert_eq!(run(&s, &[1, 2, 3], &[], false), None);
        // The leader died: the next live ISR member leads, epoch bumped.
        assert_eq!(run(&s, &[2, 3], &[], false), Some((2, 5, vec![2, 3])));
        // A follower died: it leaves the ISR, the leader and epoch stay.
        assert_eq!(run(&s, &[1, 2], &[], false), Some((1, 4, vec![1, 2])));
        // The leader restarted between two rounds: it loses the leadership.
        assert_eq!(run(&s, &[1, 2, 3], &[1], false), Some((2, 5, vec![2, 3])));
        // Everybody but a restarted ISR member is gone: it leads again.
        let only = state(1, 4, &[1]);
        assert_eq!(run(&only, &[1], &[1], false), Some((1, 5, vec![1])));
        // The last ISR member died: offline, the ISR keeps it.
        assert_eq!(run(&only, &[2, 3], &[], false), Some((-1, 5, vec![1])));
        // ... unless unclean election is allowed.
        assert_eq!(run(&only, &[2, 3], &[], true), Some((2, 5, vec![2])));
        // Offline partition whose ISR member came back.
        let offline = state(-1, 5, &[1]);
        assert_eq!(run(&offline, &[1, 2, 3], &[], false), Some((1, 6, vec![1])));
        assert_eq!(run(&offline, &[2, 3], &[], false), None);
    }
}
