//! Produce (0): validate and append record batches; acks 0, 1 and all.
//! With one replica, acks=all is satisfied as soon as the leader has appended;
//! replication will make it wait in a purgatory for the ISR.

use std::sync::Arc;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError;

use super::ApiError;
use crate::log::LogError;
use crate::server::apis::RequestContext;
use crate::server::Broker;

/// Kafka 2.8–3.x advertise Produce v0–v9, and librdkafka before 2.12 turns
/// gzip, snappy and lz4 on only when the range includes v0. Versions 0–2 carry
/// the old message formats (magic 0/1), which are not stored here: a request at
/// those versions gets a clear error and its connection is closed.
pub const VERSIONS: (i16, i16) = (0, 9);

/// The first version that carries record batches (magic 2).
pub const FIRST_BATCH_VERSION: i16 = 3;

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: ProduceRequest,
) -> ProduceResponse {
    let acks_valid = matches!(req.acks, -1..=1);
    let now = crate::now_ms();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for pd in topic.partition_data {
            let mut resp = PartitionProduceResponse::default()
                .with_index(pd.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let result = if !acks_valid {
                Err(ApiError::new(
                    ResponseError::InvalidRequiredAcks,
                    format!("acks must be -1, 0 or 1, got {}", req.acks),
                ))
            } else {
                append(
                    b,
                    &name,
                    pd.index,
                    pd.records.as_deref().unwrap_or(&[]),
                    now,
                )
            };
            match result {
                Ok(info) => {
                    resp = resp
                        .with_base_offset(info.base_offset)
                        .with_log_append_time_ms(info.log_append_time)
                        .with_log_start_offset(info.log_start_offset);
                }
                Err(e) => {
                    resp = resp
                        .with_error_code(e.code())
                        .with_error_message(e.message());
                }
            }
            partitions.push(resp);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    b.replicas.notify_appended();
    ProduceResponse::default().with_responses(responses)
}

fn append(
    b: &Broker,
    topic: &str,
    index: i32,
    records: &[u8],
    now: i64,
) -> Result<crate::log::AppendInfo, ApiError> {
    let partition = b.leader_partition(topic, index)?;
    partition.append(records, now).map_err(log_error)
}

/// Maps a log error to the code Apache Kafka returns for it.
pub fn log_error(e: LogError) -> ApiError {
    let code = match &e {
        LogError::UnsupportedMagic { .. } => ResponseError::UnsupportedForMessageFormat,
        LogError::CorruptRecord { .. } => ResponseError::CorruptMessage,
        LogError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        LogError::InvalidRecord { .. } => ResponseError::InvalidRecord,
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        _ => ResponseError::KafkaStorageError,
    };
    ApiError::new(code, e.to_string())
}
