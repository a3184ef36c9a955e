//! Partition reassignment decisions (Kafka's `KafkaController`
//! `onPartitionReassignment` in ZooKeeper mode), pure: which assignment a
//! request leads to, and when and how a reassignment completes. The topic
//! znode carries the progress (see [`ReplicaAssignment`]); `server::cluster`
//! reads and writes it.

use std::collections::BTreeSet;

use crate::metadata::znode::{PartitionState, ReplicaAssignment};

/// Why a reassignment request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReassignRefused {
    /// INVALID_REPLICA_ASSIGNMENT, with Kafka's message.
    Invalid(String),
    /// A cancellation (null replicas) of a partition not being reassigned:
    /// NO_REASSIGNMENT_IN_PROGRESS.
    NotInProgress,
}

/// Kafka's `validateReplicas`: a non-empty list of distinct, non-negative
/// broker ids, whose new members are alive.
pub fn validate_target(
    current: &ReplicaAssignment,
    target: &[i32],
    live: &BTreeSet<i32>,
) -> Result<(), ReassignRefused> {
    let invalid = |m: String| Err(ReassignRefused::Invalid(m));
    if target.is_empty() {
        return invalid("Empty replica list specified in partition reassignment.".into());
    }
    let distinct: BTreeSet<i32> = target.iter().copied().collect();
    if distinct.len() != target.len() {
        return invalid(format!(
            "Duplicate replica ids in partition reassignment replica list: {target:?}"
        ));
    }
    if target.iter().any(|b| *b < 0) {
        return invalid(format!("Invalid broker id in replica list: {target:?}"));
    }
    let adding = current.reassign_to(target).adding;
    if !adding.iter().all(|b| live.contains(b)) {
        return invalid(format!(
            "Replica assignment has brokers that are not alive. Replica list: {adding:?}, live broker list: {:?}",
            live.iter().collect::<Vec<_>>()
        ));
    }
    Ok(())
}

/// The assignment a request leads to (Kafka's `maybeBuildReassignment`):
/// `Some(target)` reassigns (replacing any reassignment in progress, counted
/// from the original replicas); `None` cancels, i.e. settles back on the
/// original replicas at once (the added ones leave the replica set).
pub fn plan(
    current: &ReplicaAssignment,
    target: Option<&[i32]>,
    live: &BTreeSet<i32>,
) -> Result<ReplicaAssignment, ReassignRefused> {
    match target {
        Some(target) => {
            validate_target(current, target, live)?;
            Ok(current.reassign_to(target))
        }
        None if current.is_reassigning() => Ok(current.reassign_to(&current.origin())),
        None => Err(ReassignRefused::NotInProgress),
    }
}

/// The end of a reassignment: the partition state to write with the target
/// as the assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub state: PartitionState,
    pub replicas: Vec<i32>,
}

/// Kafka's phase B, once every target replica is in the ISR: the leader
/// stays if it is a live target replica, else the first live in-sync target
/// replica leads (new leader epoch); the ISR shrinks to the target. `None`
/// while the target has not caught up (or no target replica can lead).
pub fn complete(
    state: &PartitionState,
    assignment: &ReplicaAssignment,
    live: &BTreeSet<i32>,
    controller_epoch: i32,
) -> Option<Completion> {
    if !assignment.is_reassigning() {
        return None;
    }
    let target = assignment.target();
    if !target.iter().all(|r| state.isr.contains(r)) {
        return None;
    }
    let keep = target.contains(&state.leader) && live.contains(&state.leader);
    let leader = if keep {
        state.leader
    } else {
        *target.iter().find(|r| live.contains(r))?
    };
    Some(Completion {
        state: PartitionState {
            controller_epoch,
            leader,
            version: 1,
            leader_epoch: state.leader_epoch + i32::from(!keep),
            isr: state
                .isr
                .iter()
                .copied()
                .filter(|r| target.contains(r))
                .collect(),
        },
        replicas: target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::tests::state;

    fn live(ids: &[i32]) -> BTreeSet<i32> {
        ids.iter().copied().collect()
    }

    #[test]
    fn requests_are_checked_as_kafka_does() {
        let now = ReplicaAssignment::settled(vec![1, 2]);
        let all = live(&[1, 2, 3]);
        let moved = plan(&now, Some(&[2, 3][..]), &all).unwrap();
        assert_eq!(
            (
                moved.replicas.clone(),
                moved.adding.clone(),
                moved.removing.clone()
            ),
            (vec![2, 3, 1], vec![3], vec![1])
        );
        let invalid = |target: &[i32], live: &BTreeSet<i32>| match plan(&now, Some(target), live) {
            Err(ReassignRefused::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            invalid(&[], &all),
            "Empty replica list specified in partition reassignment."
        );
        assert!(invalid(&[2, 2], &all).starts_with("Duplicate replica ids"));
        assert!(invalid(&[-1, 2], &all).starts_with("Invalid broker id"));
        // Only brokers that join must be alive: 1 may stay while down.
        assert!(invalid(&[1, 4], &all).contains("not alive. Replica list: [4]"));
        assert!(plan(&now, Some(&[1, 3][..]), &live(&[3])).is_ok());
        // Cancelling: back to the origin; nothing to cancel is an error.
        assert_eq!(plan(&now, None, &all), Err(ReassignRefused::NotInProgress));
        // The original replicas again, settled: 3 simply leaves the set.
        let back = plan(&moved, None, &all).unwrap();
        assert_eq!(back, ReplicaAssignment::settled(vec![2, 1]));
    }

    #[test]
    fn completes_once_the_target_is_in_sync() {
        let all = live(&[1, 2, 3]);
        let moving = ReplicaAssignment::settled(vec![1, 2]).reassign_to(&[2, 3]);
        // 3 is still catching up.
        assert_eq!(complete(&state(1, 4, &[1, 2]), &moving, &all, 9), None);
        // In sync: the leader 1 leaves, 2 leads in a new epoch, ISR = target.
        let done = complete(&state(1, 4, &[1, 2, 3]), &moving, &all, 9).unwrap();
        assert_eq!(done.replicas, vec![2, 3]);
        assert_eq!(
            (done.state.leader, done.state.leader_epoch, done.state.isr),
            (2, 5, vec![2, 3])
        );
        assert_eq!(done.state.controller_epoch, 9);
        // A leader that stays keeps its epoch.
        let done = complete(&state(2, 4, &[2, 1, 3]), &moving, &all, 9).unwrap();
        assert_eq!(
            (done.state.leader, done.state.leader_epoch, done.state.isr),
            (2, 4, vec![2, 3])
        );
        // A dead target replica does not lead.
        let done = complete(&state(1, 4, &[1, 2, 3]), &moving, &live(&[1, 3]), 9).unwrap();
        assert_eq!(done.state.leader, 3);
        // Nothing in progress (e.g. cancelled): nothing to complete.
        let settled = ReplicaAssignment::settled(vec![1, 2]);
        assert_eq!(complete(&state(1, 4, &[1, 2]), &settled, &all, 9), None);
    }
}
