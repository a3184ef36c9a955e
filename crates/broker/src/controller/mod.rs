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
//!   partition and one per topic, per broker per poll) and up to one poll
//!   interval of latency.
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
//! * **Controlled shutdown, ElectLeaders, rebalancing.** A broker stopping
//!   with `controlled.shutdown.enable` hands its leaderships to live ISR
//!   members and leaves every ISR itself; ElectLeaders (preferred or
//!   unclean) is carried out by the broker that receives it; the controller
//!   runs preferred elections every `leader.imbalance.check.interval.seconds`
//!   when `auto.leader.rebalance.enable`. All are conditional writes of the
//!   state znode (plus the fence on the controller), so they cannot undo a
//!   concurrent controller decision. Kafka routes these through the
//!   controller with RPCs (ControlledShutdown, LeaderAndIsr), which the
//!   protocol crate no longer carries (Kafka 4 removed ZooKeeper mode).
//!
//! * **Partition reassignment** ([`reassign`], Kafka's
//!   `onPartitionReassignment`). AlterPartitionReassignments is carried out
//!   by the broker that receives it, like ElectLeaders: it only writes the
//!   topic znode (conditionally on its version) in Kafka's layout, the full
//!   replica set RS = target + original in `partitions`, plus
//!   `adding_replicas` and `removing_replicas`; a cancellation writes the
//!   original replicas back. Every broker re-reads the topic znodes each
//!   poll: a broker newly in RS opens the log and follows the leader; the
//!   leader tracks it and lets it into the ISR once caught up. The
//!   controller completes the move when every target replica is in the ISR:
//!   one fenced multi writes the state (a target replica leads if the
//!   leader is leaving, new leader epoch; ISR shrunk to the target) and the
//!   topic znode (target only), each conditional on the version read.
//!   Brokers no longer in RS stop and delete their partition directory.
//!   Progress lives only in ZooKeeper, so a new controller resumes it.
//!   Kafka 2.x's `/admin/reassign_partitions` znode is honoured too (read
//!   every fifth poll, emptied as its partitions finish). Kafka routes the
//!   API to the controller and bumps the leader epoch when a move starts;
//!   here the leader learns RS from the znode within a poll instead.
//!
//! A broker that a client addresses as the leader of a partition it still
//! follows reads ZooKeeper at once rather than at its next poll (a new
//! leader is usually asked before it has polled), and a follower whose
//! leader does not know it leads yet asks again after 20 ms.
//!
//! Known limits: topics created by another broker are seen within a poll;
//! group metadata written outside SyncGroup (e.g. a group becoming empty)
//! does not wait for the ISR as commits and SyncGroup do; high watermarks
//! are checkpointed per log dir (`replication-offset-checkpoint`, every
//! `replica.high.watermark.checkpoint.interval.ms` and on shutdown) and a
//! partition starts from its checkpoint, but a new leader's high watermark
//! moves past that only as its followers fetch; reassignment has no throttles
//! (`*.replication.throttled.*`) and no log-directory moves; a broker that
//! was down when a topic was deleted keeps that topic's directories (it
//! was not told), while one that was down when a partition was moved away
//! from it drops the partition's directory as soon as it is back.

pub mod reassign;

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

/// Why an election asked for (ElectLeaders, leader rebalancing) does not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionRefused {
    /// The wanted leader leads already (ELECTION_NOT_NEEDED).
    NotNeeded,
    /// The preferred replica is down or out of the ISR (PREFERRED_LEADER_NOT_AVAILABLE).
    PreferredNotAvailable,
    /// No live replica may lead (ELIGIBLE_LEADERS_NOT_AVAILABLE).
    NoEligibleLeader,
}

/// Preferred leader election: the first assigned replica leads again if it
/// is alive and in the ISR.
pub fn elect_preferred(
    state: &PartitionState,
    replicas: &[i32],
    live: &BTreeSet<i32>,
    controller_epoch: i32,
) -> Result<PartitionState, ElectionRefused> {
    let Some(&preferred) = replicas.first() else {
        return Err(ElectionRefused::NoEligibleLeader);
    };
    if state.leader == preferred {
        return Err(ElectionRefused::NotNeeded);
    }
    if !live.contains(&preferred) || !state.isr.contains(&preferred) {
        return Err(ElectionRefused::PreferredNotAvailable);
    }
    Ok(PartitionState {
        controller_epoch,
        leader: preferred,
        version: 1,
        leader_epoch: state.leader_epoch + 1,
        isr: state.isr.clone(),
    })
}

/// Unclean election on request (ElectLeaders type 1): only for a partition
/// without a live leader; any live replica may then lead.
pub fn elect_unclean(
    state: &PartitionState,
    replicas: &[i32],
    live: &BTreeSet<i32>,
    controller_epoch: i32,
) -> Result<PartitionState, ElectionRefused> {
    if state.leader >= 0 && live.contains(&state.leader) {
        return Err(ElectionRefused::NotNeeded);
    }
    let none = BTreeSet::new();
    let brokers = LiveBrokers {
        live,
        bounced: &none,
    };
    match reelect(state, replicas, &brokers, true, controller_epoch) {
        Some(next) if next.leader >= 0 => Ok(next),
        _ => Err(ElectionRefused::NoEligibleLeader),
    }
}

/// Partitions to hand back to their preferred leader, per broker, when more
/// than `max_percent` of the partitions a broker prefers are led elsewhere
/// (`auto.leader.rebalance.enable`, `leader.imbalance.per.broker.percentage`).
/// Each item is an index into `partitions` = (replicas, leader).
pub fn imbalanced(partitions: &[(&[i32], i32)], max_percent: i32) -> Vec<usize> {
    let mut by_preferred: std::collections::BTreeMap<i32, (usize, Vec<usize>)> = Default::default();
    for (i, (replicas, leader)) in partitions.iter().enumerate() {
        let Some(&preferred) = replicas.first() else {
            continue;
        };
        let entry = by_preferred.entry(preferred).or_default();
        entry.0 += 1;
        if *leader != preferred {
            entry.1.push(i);
        }
    }
    by_preferred
        .into_values()
        .filter(|(total, off)| off.len() * 100 > *total * max_percent.max(0) as usize)
        .flat_map(|(_, off)| off)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn state(leader: i32, epoch: i32, isr: &[i32]) -> PartitionState {
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
    fn preferred_and_unclean_elections_on_request() {
        let live: BTreeSet<i32> = [1, 2, 3].into();
        let s = state(2, 4, &[1, 2, 3]);
        let next = elect_preferred(&s, &[1, 2, 3], &live, 9).unwrap();
        assert_eq!(
            (next.leader, next.leader_epoch, next.isr),
            (1, 5, vec![1, 2, 3])
        );
        assert_eq!(
            elect_preferred(&state(1, 4, &[1, 2]), &[1, 2, 3], &live, 9),
            Err(ElectionRefused::NotNeeded)
        );
        assert_eq!(
            elect_preferred(&state(2, 4, &[2, 3]), &[1, 2, 3], &live, 9),
            Err(ElectionRefused::PreferredNotAvailable)
        );
        let offline = state(-1, 4, &[1]);
        let two: BTreeSet<i32> = [2].into();
        assert_eq!(
            elect_unclean(&offline, &[1, 2, 3], &two, 9).unwrap().leader,
            2
        );
        assert_eq!(
            elect_unclean(&s, &[1, 2, 3], &live, 9),
            Err(ElectionRefused::NotNeeded)
        );
        let nobody = BTreeSet::new();
        assert_eq!(
            elect_unclean(&offline, &[1, 2, 3], &nobody, 9),
            Err(ElectionRefused::NoEligibleLeader)
        );
    }

    #[test]
    fn imbalance_counts_per_preferred_broker() {
        let (a, b, c) = (vec![1, 2], vec![1, 3], vec![2, 1]);
        let parts: Vec<(&[i32], i32)> = vec![(&a, 2), (&b, 1), (&c, 2)];
        // Broker 1 prefers 2 partitions and leads 1: 50% off.
        assert_eq!(imbalanced(&parts, 10), vec![0]);
        assert_eq!(imbalanced(&parts, 50), Vec::<usize>::new());
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
