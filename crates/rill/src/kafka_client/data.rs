//! Produce, fetch and list offsets, each sent to the partition's leader.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest, ProduceRequest};
use kafka_protocol::records::Record;

use super::{check, topic_name, KafkaClient};

/// `ListOffsets` timestamps with a special meaning.
pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;

/// A topic and partition, sorted as Kafka's tools print them.
pub type TopicPartition = (String, i32);

/// `isolation.level` as the wire encodes it.
pub fn isolation_level(name: &str) -> anyhow::Result<i8> {
    match name {
        "read_uncommitted" => Ok(0),
        "read_committed" => Ok(1),
        other => {
            anyhow::bail!("isolation level '{other}' is not read_uncommitted or read_committed")
        }
    }
}

/// Partitions grouped by their leader (from the client's current metadata).
async fn by_leader<T: Clone>(
    client: &mut KafkaClient,
    items: &[(TopicPartition, T)],
) -> anyhow::Result<BTreeMap<i32, Vec<(TopicPartition, T)>>> {
    let cluster = client.cluster().await?;
    let mut out: BTreeMap<i32, Vec<(TopicPartition, T)>> = BTreeMap::new();
    for (tp, v) in items {
        let leader = cluster.leader(&tp.0, tp.1)?;
        out.entry(leader).or_default().push((tp.clone(), v.clone()));
    }
    Ok(out)
}

/// The offset for `timestamp` (or `LATEST` / `EARLIEST`) of each partition.
/// With `LATEST`, `read_committed` answers the last stable offset.
pub async fn list_offsets(
    client: &mut KafkaClient,
    partitions: &[TopicPartition],
    timestamp: i64,
    isolation: i8,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let items: Vec<(TopicPartition, ())> = partitions.iter().map(|tp| (tp.clone(), ())).collect();
    let mut out = BTreeMap::new();
    for (leader, group) in by_leader(client, &items).await? {
        let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
        for ((topic, partition), ()) in &group {
            topics.entry(topic).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(*partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(timestamp),
            );
        }
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let answer = client
            .broker(leader)
            .await?
            .call_capped(&request, 7)
            .await?;
        for t in &answer.topics {
            for p in &t.partitions {
                let what = format!("listing offsets of {}-{}", t.name.0, p.partition_index);
                check(p.error_code, None, &what)?;
                out.insert((t.name.0.to_string(), p.partition_index), p.offset);
            }
        }
    }
    Ok(out)
}

/// Kafka's `delivery.timeout.ms` default: how long a batch may be retried.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// Errors after which the Java producer refreshes metadata and retries (its
/// `RetriableException`s): the leader moved or does not know the topic yet
/// (a topic just created elsewhere), too few in-sync replicas, timeouts.
const RETRIABLE: &[i16] = &[3, 5, 6, 7, 13, 19, 20, 56, 74, 75];

/// Sends one batch to a partition's leader; returns the offset of its first
/// record. Like Kafka's producer, retriable errors and lost connections are
/// retried with fresh metadata (backing off from `retry.backoff.ms`, 100 ms)
/// for up to the delivery timeout.
pub async fn produce(
    client: &mut KafkaClient,
    topic: &str,
    partition: i32,
    batch: Bytes,
    acks: i16,
    timeout_ms: i32,
) -> anyhow::Result<i64> {
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    let mut backoff = Duration::from_millis(100);
    loop {
        let leader = client.cluster().await?.leader(topic, partition)?;
        let error =
            match produce_once(client, leader, topic, partition, &batch, acks, timeout_ms).await {
                Ok(offset) => return Ok(offset),
                Err(ProduceError::Answered(code, e)) if RETRIABLE.contains(&code) => e,
                Err(ProduceError::Answered(_, e)) => return Err(e),
                Err(ProduceError::Connection(e)) => {
                    client.disconnect(leader);
                    e
                }
            };
        if Instant::now() + backoff >= deadline {
            return Err(error.context(format!(
                "gave up after retrying for {} s",
                DELIVERY_TIMEOUT.as_secs()
            )));
        }
        tracing::debug!("{error:#}; retrying in {backoff:?}");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
        // Fresh routing; the bootstrap broker may be the one that went away.
        let topics = [topic.to_string()];
        if let Err(e) = client.metadata(Some(&topics), false).await {
            tracing::debug!("refreshing metadata: {e:#}");
        }
    }
}

enum ProduceError {
    /// The leader answered with this error code.
    Answered(i16, anyhow::Error),
    /// No answer: the connection failed.
    Connection(anyhow::Error),
}

async fn produce_once(
    client: &mut KafkaClient,
    leader: i32,
    topic: &str,
    partition: i32,
    batch: &Bytes,
    acks: i16,
    timeout_ms: i32,
) -> Result<i64, ProduceError> {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch.clone()))])]);
    let conn = client
        .broker(leader)
        .await
        .map_err(ProduceError::Connection)?;
    let version = conn
        .version_for::<ProduceRequest>(9)
        .map_err(|e| ProduceError::Answered(-1, e.into()))?;
    if acks == 0 {
        conn.send_unanswered(&request, version)
            .await
            .map_err(ProduceError::Connection)?;
        return Ok(-1);
    }
    let answer = conn
        .call_at(&request, version)
        .await
        .map_err(ProduceError::Connection)?;
    let p = answer
        .responses
        .first()
        .and_then(|t| t.partition_responses.first())
        .ok_or_else(|| {
            ProduceError::Answered(-1, anyhow::anyhow!("the produce answer names no partition"))
        })?;
    check(
        p.error_code,
        p.error_message.as_ref(),
        &format!("producing to {topic}-{partition}"),
    )
    .map_err(|e| ProduceError::Answered(p.error_code, e))?;
    Ok(p.base_offset)
}

/// What one partition gave back to a fetch.
#[derive(Debug)]
pub struct Fetched {
    pub topic: String,
    pub partition: i32,
    pub error_code: i16,
    pub records: Vec<Record>,
}

/// Fetches from one leader the given partitions at the given offsets.
pub async fn fetch(
    client: &mut KafkaClient,
    leader: i32,
    positions: &[(TopicPartition, i64)],
    max_wait_ms: i32,
    isolation: i8,
) -> anyhow::Result<Vec<Fetched>> {
    let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for ((topic, partition), offset) in positions {
        topics.entry(topic).or_default().push(
            FetchPartition::default()
                .with_partition(*partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(*offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(1024 * 1024),
        );
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(50 * 1024 * 1024)
        .with_isolation_level(isolation)
        .with_session_epoch(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    FetchTopic::default()
                        .with_topic(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    // v12: the last version that names topics (v13 uses topic ids).
    let answer = client
        .broker(leader)
        .await?
        .call_capped(&request, 12)
        .await?;
    check(answer.error_code, None, "fetch")?;
    let mut out = Vec::new();
    for t in answer.responses {
        for p in t.partitions {
            let records = match &p.records {
                Some(data) if p.error_code == 0 => {
                    super::records::decode(data).with_context(|| {
                        format!("decoding records of {}-{}", t.topic.0, p.partition_index)
                    })?
                }
                _ => Vec::new(),
            };
            out.push(Fetched {
                topic: t.topic.0.to_string(),
                partition: p.partition_index,
                error_code: p.error_code,
                records,
            });
        }
    }
    Ok(out)
}
