//! Fetch (1): whole batches straight from the segment files, with long
//! polling (min_bytes / max_wait_ms). Fetch sessions (KIP-227) are answered
//! honestly with session id 0: every fetch is a full fetch.
//!
//! Consumers read up to the high watermark. A follower (`replica_id` >= 0)
//! reads up to the log end; its fetch offset is its log end, which moves the
//! high watermark and the ISR (see `replica::partition`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use kafka_protocol::ResponseError;

use super::produce::log_error;
use crate::replica::partition::Isolation;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (4, 12);

pub async fn handle(b: &Arc<Broker>, _ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
    let isolation = Isolation::from_i8(req.isolation_level);
    let replica = (req.replica_id.0 >= 0).then_some(req.replica_id.0);
    if let Some(replica) = replica {
        record_follower_fetches(b, &req, replica);
    }
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    loop {
        // Register for wake-ups before reading, so an append in between is not missed.
        let appended = b.replicas.appended();
        let (resp, bytes, error) = read_all(b, &req, isolation, replica.is_some());
        if bytes >= req.min_bytes.max(0) as usize
            || error
            || tokio::time::Instant::now() >= deadline
        {
            return resp;
        }
        tokio::select! {
            _ = appended => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// A follower's fetch offsets are its log ends: the leader's view of it.
fn record_follower_fetches(b: &Broker, req: &FetchRequest, replica: i32) {
    let now = crate::now_ms();
    let mut moved = false;
    for t in &req.topics {
        for p in &t.partitions {
            if let Some(part) = b.replicas.get(t.topic.0.as_str(), p.partition) {
                if p.current_leader_epoch == part.leader_epoch() {
                    moved |= part.record_follower_fetch(replica, p.fetch_offset, now);
                }
            }
        }
    }
    if moved {
        b.replicas.notify_committed();
    }
}

/// KIP-320: a fetcher's view of the leader epoch must match ours.
fn check_epoch(requested: i32, ours: i32) -> Result<(), ResponseError> {
    if requested >= 0 && requested < ours {
        Err(ResponseError::FencedLeaderEpoch)
    } else if requested > ours {
        Err(ResponseError::UnknownLeaderEpoch)
    } else {
        Ok(())
    }
}

/// One pass over the requested partitions: the response, the bytes it
/// carries, and whether any partition had an error (answered at once).
fn read_all(
    b: &Broker,
    req: &FetchRequest,
    isolation: Isolation,
    from_replica: bool,
) -> (FetchResponse, usize, bool) {
    let mut budget = if req.max_bytes > 0 {
        req.max_bytes as usize
    } else {
        usize::MAX
    };
    let mut total = 0usize;
    let mut any_error = false;
    let mut first = true;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let name = t.topic.0.to_string();
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let mut data = PartitionData::default()
                .with_partition_index(p.partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_preferred_read_replica(BrokerId(-1))
                .with_aborted_transactions(
                    matches!(isolation, Isolation::ReadCommitted).then(Vec::new),
                )
                .with_records(Some(Bytes::new()));
            match b.leader_partition(&name, p.partition) {
                Err(e) => {
                    any_error = true;
                    data = data.with_error_code(e.code());
                }
                Ok(part)
                    if from_replica
                        && check_epoch(p.current_leader_epoch, part.leader_epoch()).is_err() =>
                {
                    any_error = true;
                    let e = check_epoch(p.current_leader_epoch, part.leader_epoch()).err();
                    data = data.with_error_code(e.map_or(0, |e| e.code()));
                }
                Ok(part) => {
                    let max = (p.partition_max_bytes.max(0) as usize).min(budget);
                    data = data
                        .with_high_watermark(part.high_watermark())
                        .with_last_stable_offset(part.last_stable_offset())
                        .with_log_start_offset(part.log_start_offset());
                    // Kafka returns at least one whole batch in the first partition
                    // with data, even if it exceeds the limits, so consumers progress.
                    let read = if from_replica {
                        part.read_to_log_end(p.fetch_offset, max, first)
                    } else {
                        part.read(p.fetch_offset, max, isolation, first)
                    };
                    match read {
                        Ok(info) => {
                            let n = info.records.len();
                            if n > 0 {
                                first = false;
                            }
                            total += n;
                            budget = budget.saturating_sub(n);
                            data = data.with_records(Some(info.records));
                        }
                        Err(e) => {
                            any_error = true;
                            data = data.with_error_code(log_error(e).code());
                        }
                    }
                }
            }
            partitions.push(data);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions),
        );
    }
    (
        FetchResponse::default()
            .with_session_id(0)
            .with_responses(topics),
        total,
        any_error,
    )
}
