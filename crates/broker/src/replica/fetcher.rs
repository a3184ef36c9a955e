//! The follower side of replication: one fetcher task per leader broker
//! (Kafka's `ReplicaFetcherThread`) pulls every partition this broker
//! follows from that leader with Fetch (`replica_id` = this broker), appends
//! the batches as they are (offsets and leader epochs kept) and keeps the
//! leader's high watermark. After a leader change a partition first
//! truncates to the leader's epoch boundary (OffsetForLeaderEpoch, KIP-101
//! and KIP-279), so a follower's log never diverges from its leader's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest};
use kafka_protocol::ResponseError;

use super::client::{BrokerClient, ClientError};
use super::partition::{Partition, Role};
use crate::handlers::topic_name;
use crate::server::Broker;

const FETCH_VERSION: i16 = 12;

/// A partition's role and leader epoch when its fetch was sent.
type Asked = (Role, i32);
const EPOCH_VERSION: i16 = 4;

/// Fetches from `leader` until this broker follows nothing there any more.
pub async fn run(b: Arc<Broker>, leader: i32) {
    let me = b.config.broker_id;
    let backoff = Duration::from_millis(b.config.replica_fetch_backoff_ms.clamp(10, 5000) as u64);
    let socket_timeout = Duration::from_millis(b.config.replica_socket_timeout_ms.max(1000) as u64);
    let mut client: Option<BrokerClient> = None;
    loop {
        let partitions = b.replicas.following(leader);
        if partitions.is_empty() {
            return;
        }
        let Some(c) = client.as_mut() else {
            let Some(addr) = b.broker_address(leader) else {
                tokio::time::sleep(backoff).await;
                continue;
            };
            match BrokerClient::connect(&addr, &format!("replica-fetcher-{me}"), socket_timeout)
                .await
            {
                Ok(c) => client = Some(c),
                Err(e) => {
                    tracing::debug!("replica fetcher for broker {leader}: {e}");
                    tokio::time::sleep(backoff).await;
                }
            }
            continue;
        };
        match fetch_round(&b, c, &partitions).await {
            Ok(Round::Progress) => {}
            Ok(Round::Idle) => tokio::time::sleep(backoff).await,
            // The leader has not read its new leadership from ZooKeeper yet
            // (it polls, and our request made it look now): ask again soon
            // rather than after replica.fetch.backoff.ms, or acks=all
            // producers wait that long after every leader change.
            Ok(Round::LeaderCatchingUp) => tokio::time::sleep(backoff.min(LEADER_CATCH_UP)).await,
            Err(e) => {
                tracing::info!("replica fetcher for broker {leader}: {e}; reconnecting");
                client = None;
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// How a fetch round went.
enum Round {
    /// Something was fetched (or can be at once).
    Progress,
    /// Nothing could be fetched (errors, or nothing to ask for): back off.
    Idle,
    /// The leader does not know it leads yet.
    LeaderCatchingUp,
}

/// Errors of a leader that has not read its leadership (or our epoch) yet.
fn leader_catching_up(code: i16) -> bool {
    matches!(
        ResponseError::try_from_code(code),
        Some(
            ResponseError::NotLeaderOrFollower
                | ResponseError::FencedLeaderEpoch
                | ResponseError::UnknownLeaderEpoch
        )
    )
}

/// The pause before asking a leader that does not know it leads yet again.
const LEADER_CATCH_UP: Duration = Duration::from_millis(20);

/// One truncation step (when needed) and one Fetch.
async fn fetch_round(
    b: &Arc<Broker>,
    c: &mut BrokerClient,
    partitions: &[Arc<Partition>],
) -> Result<Round, ClientError> {
    let truncating: Vec<&Arc<Partition>> =
        partitions.iter().filter(|p| p.take_truncation()).collect();
    let mut catching_up = false;
    if !truncating.is_empty() {
        catching_up = truncate_to_leader(b, c, &truncating).await?;
    }
    let ready: Vec<&Arc<Partition>> = partitions
        .iter()
        .filter(|p| !p.needs_truncation())
        .collect();
    if ready.is_empty() {
        return Ok(if catching_up {
            Round::LeaderCatchingUp
        } else {
            Round::Idle
        });
    }
    // What each partition's fetch was for: a response that arrives after a
    // leadership change must not be appended.
    let asked: Vec<Asked> = ready.iter().map(|p| (p.role(), p.leader_epoch())).collect();
    let req = fetch_request(b, &ready);
    let wait = Duration::from_millis(b.config.replica_fetch_wait_max_ms.max(0) as u64);
    let resp = c.call(&req, FETCH_VERSION, wait).await?;
    if resp.error_code != 0 {
        tracing::debug!("fetch answered with error {}", resp.error_code);
        return Ok(Round::Idle);
    }
    let by_key: HashMap<(&str, i32), (&Arc<Partition>, Asked)> = ready
        .iter()
        .zip(asked)
        .map(|(p, a)| ((&*p.topic, p.index), (*p, a)))
        .collect();
    let mut progress = false;
    for t in &resp.responses {
        for pd in &t.partitions {
            let Some((p, asked)) = by_key.get(&(t.topic.0.as_str(), pd.partition_index)) else {
                continue;
            };
            if (p.role(), p.leader_epoch()) != *asked {
                continue;
            }
            match ResponseError::try_from_code(pd.error_code) {
                None => {
                    progress = true;
                    if let Some(records) = pd.records.as_ref().filter(|r| !r.is_empty()) {
                        if let Err(e) = p.append_as_follower(records) {
                            tracing::warn!(
                                "appending replicated batches to {}-{}: {e}; truncating again",
                                p.topic,
                                p.index
                            );
                            p.request_truncation();
                            progress = false;
                        }
                    }
                    p.set_follower_high_watermark(pd.high_watermark);
                }
                Some(ResponseError::OffsetOutOfRange) => {
                    let log_end = p.log_end_offset();
                    if pd.log_start_offset > log_end {
                        tracing::info!(
                            "{}-{}: the leader's log starts at {} past ours ({log_end}); starting over there",
                            p.topic,
                            p.index,
                            pd.log_start_offset
                        );
                        if let Err(e) =
                            p.with_log_mut(|l| l.truncate_fully_and_start_at(pd.log_start_offset))
                        {
                            tracing::warn!("{}-{}: {e}", p.topic, p.index);
                        }
                    } else {
                        p.request_truncation();
                    }
                }
                Some(_) if leader_catching_up(pd.error_code) => {
                    // Leadership moved or the leader has not caught up with
                    // the state yet: the state sync will tell.
                    tracing::debug!("fetching {}-{}: error {}", p.topic, p.index, pd.error_code);
                    catching_up = true;
                }
                Some(e) => tracing::debug!("fetching {}-{}: {e:?}", p.topic, p.index),
            }
        }
    }
    Ok(if progress {
        Round::Progress
    } else if catching_up {
        Round::LeaderCatchingUp
    } else {
        Round::Idle
    })
}

fn fetch_request(b: &Broker, partitions: &[&Arc<Partition>]) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for p in partitions {
        let fp = FetchPartition::default()
            .with_partition(p.index)
            .with_current_leader_epoch(p.leader_epoch())
            .with_fetch_offset(p.log_end_offset())
            .with_log_start_offset(p.log_start_offset())
            .with_last_fetched_epoch(p.with_log(|l| l.latest_epoch()).unwrap_or(-1))
            .with_partition_max_bytes(b.config.replica_fetch_max_bytes.max(1));
        match topics.iter_mut().find(|t| t.topic.0.as_str() == &*p.topic) {
            Some(t) => t.partitions.push(fp),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(topic_name(&p.topic))
                    .with_partitions(vec![fp]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(b.config.broker_id))
        .with_max_wait_ms(b.config.replica_fetch_wait_max_ms.max(0))
        .with_min_bytes(b.config.replica_fetch_min_bytes.max(1))
        .with_max_bytes(b.config.replica_fetch_response_max_bytes.max(1))
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// Truncates each partition to where its log and the leader's agree: the
/// end of the latest epoch both have (the smaller of the leader's end offset
/// for our latest epoch and our own end offset for the epoch it answers).
/// Returns whether the leader answered that it does not lead yet (it has
/// not read its leadership from ZooKeeper): those partitions try again soon.
async fn truncate_to_leader(
    b: &Broker,
    c: &mut BrokerClient,
    partitions: &[&Arc<Partition>],
) -> Result<bool, ClientError> {
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    let mut asked = Vec::new();
    for p in partitions {
        let Some(epoch) = p.with_log(|l| l.latest_epoch()) else {
            // An empty log (or one without epochs) has nothing to reconcile
            // beyond its high watermark.
            let hw = p.high_watermark();
            if let Err(e) = p.with_log_mut(|l| l.truncate_to(hw.max(l.log_start_offset()))) {
                tracing::warn!("truncating {}-{}: {e}", p.topic, p.index);
            }
            continue;
        };
        asked.push((*p, (p.role(), p.leader_epoch())));
        let op = OffsetForLeaderPartition::default()
            .with_partition(p.index)
            .with_current_leader_epoch(p.leader_epoch())
            .with_leader_epoch(epoch);
        match topics.iter_mut().find(|t| t.topic.0.as_str() == &*p.topic) {
            Some(t) => t.partitions.push(op),
            None => topics.push(
                OffsetForLeaderTopic::default()
                    .with_topic(topic_name(&p.topic))
                    .with_partitions(vec![op]),
            ),
        }
    }
    if asked.is_empty() {
        return Ok(false);
    }
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(b.config.broker_id))
        .with_topics(topics);
    let resp = match c.call(&req, EPOCH_VERSION, Duration::ZERO).await {
        Ok(r) => r,
        Err(e) => {
            for (p, _) in &asked {
                p.request_truncation();
            }
            return Err(e);
        }
    };
    let mut catching_up = false;
    for t in &resp.topics {
        for r in &t.partitions {
            let Some((p, then)) = asked
                .iter()
                .find(|(p, _)| &*p.topic == t.topic.0.as_str() && p.index == r.partition)
            else {
                continue;
            };
            if (p.role(), p.leader_epoch()) != *then {
                // Leadership moved meanwhile: the new role decides.
                continue;
            }
            if r.error_code != 0 {
                tracing::debug!(
                    "OffsetForLeaderEpoch of {}-{}: error {}",
                    p.topic,
                    p.index,
                    r.error_code
                );
                catching_up |= leader_catching_up(r.error_code);
                p.request_truncation();
                continue;
            }
            let target = if r.leader_epoch < 0 {
                p.high_watermark()
            } else {
                let (_, ours) = p.with_log(|l| l.leader_epoch_end_offset(r.leader_epoch));
                r.end_offset.min(ours)
            };
            let before = p.log_end_offset();
            match p.with_log_mut(|l| l.truncate_to(target)) {
                Ok(()) if p.log_end_offset() < before => tracing::info!(
                    "{}-{}: truncated from {before} to {} (leader epoch {} ends at {})",
                    p.topic,
                    p.index,
                    p.log_end_offset(),
                    r.leader_epoch,
                    r.end_offset
                ),
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!("truncating {}-{}: {e}", p.topic, p.index);
                    p.request_truncation();
                }
            }
        }
    }
    Ok(catching_up)
}
