//! Where a group's coordinator is: the leader of the group's partition of
//! `__consumer_offsets`, which is created on first use as Kafka does.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::ResponseError;

use super::{Broker, NewTopic};
use crate::group::{partition_for, OFFSETS_TOPIC};
use crate::handlers::ApiError;
use crate::metadata::BrokerInfo;

impl Broker {
    /// The broker coordinating `group`, creating `__consumer_offsets` first if needed.
    pub async fn find_group_coordinator(&self, group: &str) -> Result<BrokerInfo, ApiError> {
        self.ensure_offsets_topic().await?;
        let index = partition_for(group, self.groups.partitions());
        let meta = self.metadata();
        let leader = meta
            .topic(OFFSETS_TOPIC)
            .and_then(|t| t.partitions.get(index as usize))
            .map(|p| p.leader)
            .unwrap_or(-1);
        meta.brokers.get(&leader).cloned().ok_or_else(|| {
            ApiError::new(
                ResponseError::CoordinatorNotAvailable,
                format!("{OFFSETS_TOPIC}-{index} has no live leader"),
            )
        })
    }

    /// Waits until the ISR has everything in the group's `__consumer_offsets`
    /// partition up to its current log end (offset commits, group metadata),
    /// as Kafka's coordinator appends with acks=all
    /// (`offsets.commit.timeout.ms`): NOT_COORDINATOR if the leadership moves
    /// meanwhile, REQUEST_TIMED_OUT after the timeout.
    pub async fn await_offsets_replicated(&self, group: &str) -> Result<(), ResponseError> {
        let index = partition_for(group, self.groups.partitions());
        let p = self
            .replicas
            .get(OFFSETS_TOPIC, index)
            .filter(|p| p.is_leader())
            .ok_or(ResponseError::NotCoordinator)?;
        let (target, epoch) = (p.log_end_offset(), p.leader_epoch());
        let timeout = Duration::from_millis(self.config.offsets_commit_timeout_ms.max(1) as u64);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.replicas.committed();
            if !p.is_leader() || p.leader_epoch() != epoch {
                return Err(ResponseError::NotCoordinator);
            }
            if p.high_watermark() >= target {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ResponseError::RequestTimedOut);
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    async fn ensure_offsets_topic(&self) -> Result<(), ApiError> {
        if self.metadata().topic(OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        let c = &self.config;
        let topic = NewTopic {
            name: OFFSETS_TOPIC.to_owned(),
            partitions: Some(c.offsets_topic_num_partitions),
            replication_factor: Some(i32::from(c.offsets_topic_replication_factor)),
            assignment: None,
            config: BTreeMap::from([
                ("cleanup.policy".to_owned(), "compact".to_owned()),
                ("compression.type".to_owned(), "producer".to_owned()),
                (
                    "segment.bytes".to_owned(),
                    c.offsets_topic_segment_bytes.to_string(),
                ),
            ]),
            validate_only: false,
        };
        match self.create_topic(topic).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == ResponseError::TopicAlreadyExists => Ok(()),
            Err(e) => {
                tracing::warn!(
                    "cannot create {OFFSETS_TOPIC} (offsets.topic.num.partitions={}, offsets.topic.replication.factor={}, {} live broker(s)): {}; consumer groups are unavailable until it can be created",
                    c.offsets_topic_num_partitions,
                    c.offsets_topic_replication_factor,
                    self.metadata().brokers.len(),
                    e.message
                );
                Err(ApiError::new(
                    ResponseError::CoordinatorNotAvailable,
                    format!("cannot create {OFFSETS_TOPIC}: {}", e.message),
                ))
            }
        }
    }
}
