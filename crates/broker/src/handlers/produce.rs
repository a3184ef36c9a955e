//! Produce (0): validate and append record batches; acks 0, 1 and all.
//! acks=all needs at least `min.insync.replicas` in the ISR before the append
//! (NOT_ENOUGH_REPLICAS) and waits in the produce purgatory until the high
//! watermark passes the appended records (REQUEST_TIMED_OUT after the
//! request's timeout; NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank
//! below the minimum meanwhile; NOT_LEADER_OR_FOLLOWER when leadership moved).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError;

use super::ApiError;
use crate::log::LogError;
use crate::replica::partition::Partition;
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
    let all = req.acks == -1;
    let mut waiting: Vec<Pending> = Vec::new();
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
                    all,
                )
            };
            match result {
                Ok((info, partition, epoch)) => {
                    if all {
                        waiting.push(Pending {
                            topic: responses.len(),
                            partition: partitions.len(),
                            replica: partition,
                            epoch,
                            required: info.last_offset + 1,
                        });
                    }
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
    if !waiting.is_empty() {
        let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
        for (p, error) in wait_for_isr(b, &waiting, timeout).await {
            let resp = &mut responses[p.topic].partition_responses[p.partition];
            if let Some(e) = error {
                *resp = PartitionProduceResponse::default()
                    .with_index(resp.index)
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1)
                    .with_error_code(e.code())
                    .with_error_message(e.message());
            }
        }
    }
    ProduceResponse::default().with_responses(responses)
}

/// An acks=all append waiting for the ISR: where its answer goes, and the
/// high watermark it needs under the leader epoch it was appended in.
struct Pending {
    topic: usize,
    partition: usize,
    replica: Arc<Partition>,
    epoch: i32,
    required: i64,
}

/// The produce purgatory: waits until every pending append is committed
/// (or fails), re-checking at each high watermark change.
async fn wait_for_isr<'a>(
    b: &Broker,
    waiting: &'a [Pending],
    timeout: Duration,
) -> Vec<(&'a Pending, Option<ApiError>)> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let changed = b.replicas.committed();
        let outcomes: Vec<Option<Result<(), ApiError>>> =
            waiting.iter().map(commit_outcome).collect();
        let expired = tokio::time::Instant::now() >= deadline;
        if expired || outcomes.iter().all(Option::is_some) {
            return waiting
                .iter()
                .zip(outcomes)
                .map(|(p, o)| {
                    let error = match o {
                        Some(r) => r.err(),
                        None => Some(ApiError::new(
                            ResponseError::RequestTimedOut,
                            format!(
                                "the in-sync replicas of {}-{} did not reach offset {} within {} ms",
                                p.replica.topic,
                                p.replica.index,
                                p.required,
                                timeout.as_millis()
                            ),
                        )),
                    };
                    (p, error)
                })
                .collect();
        }
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// `None` while still waiting; otherwise the append's fate.
fn commit_outcome(p: &Pending) -> Option<Result<(), ApiError>> {
    let part = &p.replica;
    if !part.is_leader() || part.leader_epoch() != p.epoch {
        return Some(Err(ApiError::new(
            ResponseError::NotLeaderOrFollower,
            format!(
                "leadership of {}-{} moved before the records were replicated",
                part.topic, part.index
            ),
        )));
    }
    if part.high_watermark() < p.required {
        return None;
    }
    let isr = part.isr_size() as i32;
    let min = part.min_insync_replicas();
    if isr < min {
        return Some(Err(ApiError::new(
            ResponseError::NotEnoughReplicasAfterAppend,
            format!(
                "the ISR of {}-{} shrank to {isr}, below min.insync.replicas={min}, after the append",
                part.topic, part.index
            ),
        )));
    }
    Some(Ok(()))
}

fn append(
    b: &Broker,
    topic: &str,
    index: i32,
    records: &[u8],
    now: i64,
    acks_all: bool,
) -> Result<(crate::log::AppendInfo, Arc<Partition>, i32), ApiError> {
    let partition = b.leader_partition(topic, index)?;
    if acks_all {
        let isr = partition.isr_size() as i32;
        let min = partition.min_insync_replicas();
        if isr < min {
            return Err(ApiError::new(
                ResponseError::NotEnoughReplicas,
                format!(
                    "{topic}-{index} has {isr} in-sync replica(s), fewer than min.insync.replicas={min}"
                ),
            ));
        }
    }
    let epoch = partition.leader_epoch();
    let info = partition.append(records, now).map_err(log_error)?;
    Ok((info, partition, epoch))
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
