//! DeleteRecords (21): moves a partition's log start offset up to the
//! requested offset (-1 = the high watermark) and drops the segments wholly
//! below it; answers the new low watermark. With a single replica the low
//! watermark is the leader's log start, so there is nothing to wait for.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::ResponseError;

use crate::config::TopicLogConfig;
use crate::log::LogError;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (0, 2);

/// `DeleteRecordsRequest.HIGH_WATERMARK`.
const HIGH_WATERMARK: i64 = -1;

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    match delete(b, &name, p.partition_index, p.offset) {
                        Ok(low_watermark) => result.with_low_watermark(low_watermark),
                        Err(code) => result.with_low_watermark(-1).with_error_code(code.code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

fn delete(b: &Broker, topic: &str, partition: i32, offset: i64) -> Result<i64, ResponseError> {
    let Some(info) = b.metadata().topic(topic).cloned() else {
        return Err(ResponseError::UnknownTopicOrPartition);
    };
    if partition < 0 || partition as usize >= info.partitions.len() {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    if info.internal {
        // Kafka: "Cannot delete records of internal topic".
        return Err(ResponseError::InvalidTopicException);
    }
    let Some(part) = b.replicas.get(topic, partition) else {
        return Err(ResponseError::NotLeaderOrFollower);
    };
    let policy = TopicLogConfig::resolve(&b.effective_config(), &info.config)
        .map(|c| c.cleanup_policy)
        .map_err(|_| ResponseError::UnknownServerError)?;
    if !policy.delete {
        // Kafka: "Records of partition ... can not be deleted due to the configured policy".
        return Err(ResponseError::PolicyViolation);
    }
    let high_watermark = part.high_watermark();
    let offset = if offset == HIGH_WATERMARK {
        high_watermark
    } else {
        offset
    };
    if offset < 0 || offset > high_watermark {
        return Err(ResponseError::OffsetOutOfRange);
    }
    part.with_log_mut(|l| l.delete_records_before(offset))
        .map_err(|e| match e {
            LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            other => {
                tracing::warn!("DeleteRecords on {topic}-{partition}: {other}");
                ResponseError::KafkaStorageError
            }
        })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::handlers::topic_name;

    #[test]
    fn encodes_at_every_served_version() {
        let resp =
            DeleteRecordsResponse::default().with_topics(vec![DeleteRecordsTopicResult::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(0)
                        .with_low_watermark(42),
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(1)
                        .with_low_watermark(-1)
                        .with_error_code(ResponseError::OffsetOutOfRange.code()),
                ])]);
        crate::handlers::assert_encodes(&resp, VERSIONS);
    }
}
