//! Topic changes after creation, as the controller (CreatePartitions) or any
//! broker (AlterConfigs) performs them: checks with Kafka's error codes and
//! messages, the ZooKeeper writes in Kafka's layout, then the in-memory view
//! and the local logs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use kafka_protocol::ResponseError;

use super::{zk_api_error, Broker};
use crate::config::{validate_topic_configs, TopicLogConfig};
use crate::handlers::ApiError;
use crate::metadata::assign_replicas;
use crate::metadata::znode::PartitionState;
use crate::metadata::PartitionInfo;

fn err(code: ResponseError, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

fn join<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_known_brokers(assignment: &[Vec<i32>], live: &BTreeSet<i32>) -> Result<(), ApiError> {
    let unknown: BTreeSet<i32> = assignment
        .iter()
        .flatten()
        .copied()
        .filter(|b| !live.contains(b))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(err(
        ResponseError::InvalidReplicaAssignment,
        format!(
            "Unknown broker(s) in replica assignment: {}.",
            join(&unknown)
        ),
    ))
}

/// Checks the replica lists of partitions to add, as Kafka's
/// `AdminZkClient.validateReplicaAssignment`: non-empty, distinct, live,
/// and as many replicas as partition 0 has. `first` is the number of the
/// first new partition.
fn validate_new_assignment(
    first: i32,
    assignment: &[Vec<i32>],
    replication_factor: usize,
    live: &BTreeSet<i32>,
) -> Result<(), ApiError> {
    check_known_brokers(assignment, live)?;
    let bad = |m: String| err(ResponseError::InvalidReplicaAssignment, m);
    let mut wrong_rf = Vec::new();
    for (i, replicas) in assignment.iter().enumerate() {
        let p = first + i as i32;
        if replicas.is_empty() {
            return Err(bad(format!(
                "Cannot have replication factor of 0 for partition id {p}."
            )));
        }
        let distinct: BTreeSet<_> = replicas.iter().collect();
        if distinct.len() != replicas.len() {
            return Err(bad(format!(
                "Duplicate brokers not allowed in replica assignment: {} for partition id {p}.",
                join(replicas)
            )));
        }
        if replicas.len() != replication_factor {
            wrong_rf.push((p, replicas.len()));
        }
    }
    if !wrong_rf.is_empty() {
        return Err(bad(format!(
            "Inconsistent replication factor between partitions, partition 0 has {replication_factor} \
             while partitions [{}] have replication factors [{}], respectively.",
            join(wrong_rf.iter().map(|(p, _)| p)),
            join(wrong_rf.iter().map(|(_, rf)| rf)),
        )));
    }
    Ok(())
}

impl Broker {
    /// The log directories, as configured.
    pub(crate) fn log_dirs(&self) -> Vec<PathBuf> {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .dirs()
            .into_iter()
            .map(PathBuf::from)
            .collect()
    }

    /// CreatePartitions as the controller: grows `topic` to `count`
    /// partitions, with `assignment` (one replica list per new partition) or
    /// Kafka's rack-unaware placement continued from the existing partitions.
    pub async fn create_partitions(
        &self,
        topic: &str,
        count: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let _guard = self.admin.lock().await;
        let Some((mut znode, znode_version)) = self
            .zk
            .topic_with_version(topic)
            .await
            .map_err(zk_api_error)?
        else {
            return Err(err(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{topic}' does not exist."),
            ));
        };
        if self
            .zk
            .topics_marked_for_deletion()
            .await
            .map_err(zk_api_error)?
            .iter()
            .any(|t| t == topic)
        {
            return Err(err(
                ResponseError::InvalidTopicException,
                "The topic is queued for deletion.",
            ));
        }
        if !znode.adding_replicas.is_empty() || !znode.removing_replicas.is_empty() {
            return Err(err(
                ResponseError::ReassignmentInProgress,
                format!("A partition reassignment is in progress for the topic '{topic}'."),
            ));
        }
        let existing = znode.replicas().ok_or_else(|| {
            err(
                ResponseError::UnknownServerError,
                format!("malformed partition numbers in the assignment of topic '{topic}'"),
            )
        })?;
        let old = existing.len() as i32;
        if count < old {
            return Err(err(
                ResponseError::InvalidPartitions,
                format!(
                    "Topic currently has {old} partitions, which is higher than the requested {count}."
                ),
            ));
        }
        if count == old {
            return Err(err(
                ResponseError::InvalidPartitions,
                format!("Topic already has {old} partitions."),
            ));
        }
        let Some(partition0) = existing.get(&0) else {
            return Err(err(
                ResponseError::UnknownServerError,
                format!("Unexpected existing replica assignment for topic '{topic}', partition id 0 is missing."),
            ));
        };
        let rf = partition0.len();
        let live: BTreeSet<i32> = self.metadata().brokers.keys().copied().collect();
        let added = count - old;
        let new_assignment = match assignment {
            Some(explicit) => {
                // Kafka names unknown brokers before a wrong count.
                check_known_brokers(&explicit, &live)?;
                if explicit.len() as i32 != added {
                    return Err(err(
                        ResponseError::InvalidReplicaAssignment,
                        format!(
                            "Increasing the number of partitions by {added} but {} assignments provided.",
                            explicit.len()
                        ),
                    ));
                }
                validate_new_assignment(old, &explicit, rf, &live)?;
                explicit
            }
            None => {
                // Continue Kafka's placement where the topic left off: the
                // start index is the broker holding partition 0's leader.
                let sorted: Vec<i32> = live.iter().copied().collect();
                let start = sorted.iter().position(|b| *b >= partition0[0]).unwrap_or(0);
                let mut all = assign_replicas(&sorted, count, rf as i32, start)
                    .map_err(|m| err(ResponseError::InvalidReplicationFactor, m))?;
                all.split_off(old as usize)
            }
        };
        if validate_only {
            return Ok(());
        }
        for (i, replicas) in new_assignment.iter().enumerate() {
            znode
                .partitions
                .insert((old as usize + i).to_string(), replicas.clone());
        }
        // Conditional: a reassignment started meanwhile must not be overwritten.
        let written = self
            .zk
            .set_topic_assignment_if(topic, &znode, znode_version)
            .await
            .map_err(zk_api_error)?;
        if !written {
            return Err(err(
                ResponseError::ReassignmentInProgress,
                format!("The assignment of topic '{topic}' changed meanwhile (a partition reassignment?); try again."),
            ));
        }
        let controller_epoch = self.zk.controller_epoch().await.map_err(zk_api_error)?;
        let mut added_partitions = Vec::with_capacity(new_assignment.len());
        let mut added_states = Vec::with_capacity(new_assignment.len());
        for (i, replicas) in new_assignment.iter().enumerate() {
            let isr: Vec<i32> = replicas
                .iter()
                .copied()
                .filter(|r| live.contains(r))
                .collect();
            let state = PartitionState {
                controller_epoch,
                leader: isr.first().copied().unwrap_or(-1),
                version: 1,
                leader_epoch: 0,
                isr: isr.clone(),
            };
            self.zk
                .create_partition_state(topic, old + i as i32, &state)
                .await
                .map_err(zk_api_error)?;
            added_states.push(state.clone());
            added_partitions.push(PartitionInfo {
                leader: state.leader,
                leader_epoch: 0,
                replicas: replicas.clone(),
                isr,
            });
        }
        let Some(current) = self.metadata().topic(topic).cloned() else {
            return Err(err(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{topic}' does not exist."),
            ));
        };
        let mut info = (*current).clone();
        info.partitions.extend(added_partitions);
        let config = info.config.clone();
        self.metadata_mut().put_topic(info);
        for (i, (state, replicas)) in added_states.iter().zip(&new_assignment).enumerate() {
            self.apply_state(topic, &config, old + i as i32, replicas, state, 0)
                .map_err(|m| err(ResponseError::KafkaStorageError, m))?;
        }
        tracing::info!("topic {topic}: partitions increased from {old} to {count}");
        Ok(())
    }

    /// The stored config overrides of `topic` (`/config/topics/T`).
    pub async fn topic_config_overrides(
        &self,
        topic: &str,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        self.zk.topic_config(topic).await.map_err(zk_api_error)
    }

    /// Changes a topic's config overrides (AlterConfigs replaces them,
    /// IncrementalAlterConfigs edits them): `update` computes the new set
    /// from the stored one (`/config/topics/T`); it is validated, written
    /// with a `/config/changes` notification, then applied to the in-memory
    /// view and the hosted logs.
    pub async fn update_topic_config(
        &self,
        topic: &str,
        update: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let _guard = self.admin.lock().await;
        let Some(current) = self.metadata().topic(topic).cloned() else {
            return Err(err(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{topic}' does not exist."),
            ));
        };
        let stored = self.zk.topic_config(topic).await.map_err(zk_api_error)?;
        let config = update(&stored)?;
        let invalid =
            |e: crate::config::ConfigError| err(ResponseError::InvalidConfig, e.kafka_message());
        validate_topic_configs(config.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(invalid)?;
        let resolved =
            TopicLogConfig::resolve(&self.effective_config(), &config).map_err(invalid)?;
        if validate_only {
            return Ok(());
        }
        self.zk
            .set_topic_config(topic, &config)
            .await
            .map_err(zk_api_error)?;
        for p in self.replicas.all() {
            if &*p.topic == topic {
                super::dynamic_config::apply_log_settings(&p, &resolved);
            }
        }
        tracing::info!(
            "topic {topic}: config overrides set to {{{}}}",
            config
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut info = (*current).clone();
        info.config = config;
        self.metadata_mut().put_topic(info);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_assignments_are_checked_as_kafka_does() {
        let live: BTreeSet<i32> = [1, 2, 3].into();
        assert!(validate_new_assignment(2, &[vec![1, 2], vec![2, 3]], 2, &live).is_ok());
        let cases: &[(&[Vec<i32>], &str)] = &[
            (
                &[vec![1, 7], vec![9, 2]],
                "Unknown broker(s) in replica assignment: 7, 9.",
            ),
            (
                &[vec![]],
                "Cannot have replication factor of 0 for partition id 2.",
            ),
            (
                &[vec![1, 2], vec![3, 3]],
                "Duplicate brokers not allowed in replica assignment: 3, 3 for partition id 3.",
            ),
            (
                &[vec![1, 2], vec![3], vec![1, 2, 3]],
                "Inconsistent replication factor between partitions, partition 0 has 2 while \
                 partitions [3, 4] have replication factors [1, 3], respectively.",
            ),
        ];
        for (assignment, message) in cases {
            let e = validate_new_assignment(2, assignment, 2, &live).unwrap_err();
            assert_eq!(e.code, ResponseError::InvalidReplicaAssignment);
            assert_eq!(e.message, *message);
        }
    }
}
