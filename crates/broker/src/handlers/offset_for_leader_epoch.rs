//! OffsetForLeaderEpoch (23): the largest leader epoch at or below the
//! requested one and the offset where it ended, from the leader epoch
//! cache, so consumers and followers can detect log truncation (KIP-101,
//! KIP-320). Only the leader answers.

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::ResponseError;

use crate::log::PartitionLog;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (2, 4);

const UNDEFINED_EPOCH: i32 = -1;
const UNDEFINED_OFFSET: i64 = -1;

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.topic.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let resp = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(UNDEFINED_EPOCH)
                        .with_end_offset(UNDEFINED_OFFSET);
                    let part = match b.leader_partition(&name, p.partition) {
                        Ok(part) => part,
                        Err(e) => return resp.with_error_code(e.code()),
                    };
                    let current = part.leader_epoch();
                    // KIP-320: the client's view of the leader epoch must match ours.
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch < current {
                        return resp.with_error_code(ResponseError::FencedLeaderEpoch.code());
                    }
                    if p.current_leader_epoch > current {
                        return resp.with_error_code(ResponseError::UnknownLeaderEpoch.code());
                    }
                    let (epoch, offset) =
                        part.with_log(|l| end_offset_for(l, current, p.leader_epoch));
                    resp.with_leader_epoch(epoch).with_end_offset(offset)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

/// The log's answer, as if the current leader epoch were already in its
/// cache: Kafka records a new leader's epoch at the log end when it takes
/// over, while the log records an epoch with its first batch.
fn end_offset_for(log: &PartitionLog, current: i32, requested: i32) -> (i32, i64) {
    resolve(
        log.latest_epoch(),
        current,
        requested,
        log.log_end_offset(),
        || log.leader_epoch_end_offset(requested),
        || {
            log.leader_epochs()
                .entries()
                .iter()
                .rev()
                .find(|e| e.epoch <= requested)
                .map(|e| e.epoch)
        },
    )
}

/// [`end_offset_for`] over its inputs: `cached` is the cache's own answer,
/// `floor` the largest cached epoch at or below `requested`.
fn resolve(
    latest: Option<i32>,
    current: i32,
    requested: i32,
    log_end_offset: i64,
    cached: impl FnOnce() -> (i32, i64),
    floor: impl FnOnce() -> Option<i32>,
) -> (i32, i64) {
    if requested == UNDEFINED_EPOCH {
        return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
    }
    if latest.is_some_and(|l| l >= current) {
        return cached();
    }
    // The current epoch, not yet cached, starts at the log end.
    if requested == current {
        return (current, log_end_offset);
    }
    if requested > current {
        return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
    }
    match cached() {
        (UNDEFINED_EPOCH, UNDEFINED_OFFSET) => (floor().unwrap_or(requested), log_end_offset),
        found => found,
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::handlers::topic_name;

    #[test]
    fn uncached_current_epoch_ends_at_the_log_end() {
        let none = || (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        // Empty cache, leader epoch 3, log end 10.
        assert_eq!(resolve(None, 3, 3, 10, none, || None), (3, 10));
        assert_eq!(resolve(None, 3, 1, 10, none, || None), (1, 10));
        assert_eq!(resolve(None, 3, 4, 10, none, || None), (-1, -1));
        assert_eq!(resolve(None, 3, -1, 10, none, || None), (-1, -1));
        // Cache holds epoch 1 from offset 0; epoch 2 ended nowhere.
        assert_eq!(resolve(Some(1), 3, 2, 10, none, || Some(1)), (1, 10));
        assert_eq!(resolve(Some(1), 3, 0, 10, || (0, 0), || None), (0, 0));
        // Cache up to date: its answer stands.
        assert_eq!(resolve(Some(3), 3, 2, 10, || (1, 7), || Some(1)), (1, 7));
    }

    #[test]
    fn encodes_at_every_served_version() {
        let resp = OffsetForLeaderEpochResponse::default().with_topics(vec![
            OffsetForLeaderTopicResult::default()
                .with_topic(topic_name("t"))
                .with_partitions(vec![
                    EpochEndOffset::default()
                        .with_partition(0)
                        .with_leader_epoch(2)
                        .with_end_offset(100),
                    EpochEndOffset::default()
                        .with_partition(1)
                        .with_error_code(ResponseError::NotLeaderOrFollower.code()),
                ]),
        ]);
        crate::handlers::assert_encodes(&resp, VERSIONS);
    }
}
