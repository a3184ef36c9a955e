//! Consumer-group calls: coordinator lookup, listing and describing groups,
//! committed offsets, and the classic membership protocol (join, sync,
//! heartbeat, leave) that `console-consumer --group` uses.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, ConsumerProtocolSubscription, DeleteGroupsRequest,
    DescribeGroupsRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest,
    LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest, OffsetDeleteRequest,
    OffsetFetchRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use kafka_protocol::ResponseError;

use super::cluster::Node;
use super::data::TopicPartition;
use super::{check, error_name, str_bytes, topic_name, Connection, KafkaClient};

/// The APIs the group tools (list, describe, reset, delete) need.
pub const ADMIN_APIS: &[ApiKey] = &[
    ApiKey::FindCoordinator,
    ApiKey::ListGroups,
    ApiKey::DescribeGroups,
    ApiKey::OffsetFetch,
    ApiKey::OffsetCommit,
    ApiKey::DeleteGroups,
];

/// The APIs a group member (`console-consumer --group`) needs.
pub const MEMBER_APIS: &[ApiKey] = &[
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetFetch,
    ApiKey::OffsetCommit,
];

/// Err naming the APIs of `apis` that the broker does not list.
pub fn require_apis(client: &KafkaClient, apis: &[ApiKey]) -> anyhow::Result<()> {
    let missing: Vec<String> = apis
        .iter()
        .filter(|api| !client.supports(**api))
        .map(|api| format!("{api:?}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the broker at {} does not serve consumer groups yet (missing APIs: {})",
            client.config().bootstrap.join(","),
            missing.join(", ")
        );
    }
    Ok(())
}

fn group_id(s: &str) -> GroupId {
    GroupId(str_bytes(s))
}

impl KafkaClient {
    /// The coordinator of `group` (retried while the coordinator is loading).
    pub async fn coordinator_node(&mut self, group: &str) -> anyhow::Result<Node> {
        let request = FindCoordinatorRequest::default()
            .with_key(str_bytes(group))
            .with_key_type(0);
        let mut tries = 0;
        loop {
            // Versions are capped at what librdkafka sends: every broker serves those.
            let answer = self.any().call_capped(&request, 2).await?;
            let code = answer.error_code;
            let retriable = ResponseError::try_from_code(code).is_some_and(|e| e.is_retriable());
            if code == 0 {
                return Ok(Node {
                    id: answer.node_id.0,
                    host: answer.host.to_string(),
                    port: answer.port,
                    rack: None,
                });
            }
            tries += 1;
            if !retriable || tries > 50 {
                check(
                    code,
                    answer.error_message.as_ref(),
                    &format!("finding the coordinator of group '{group}'"),
                )?;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The connection to the coordinator of `group`.
    pub async fn coordinator(&mut self, group: &str) -> anyhow::Result<&mut Connection> {
        let node = self.coordinator_node(group).await?;
        self.broker(node.id).await
    }
}

/// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR:
/// the coordinator is starting or moved; asking again shortly succeeds.
fn coordinator_busy(code: i16) -> bool {
    matches!(code, 14..=16)
}

/// Sends `request` to the coordinator of `group`, again (for up to ~10 s)
/// while `codes` of the answer say the coordinator is busy.
async fn coordinator_call<R: Request>(
    client: &mut KafkaClient,
    group: &str,
    request: &R,
    cap: i16,
    codes: impl Fn(&R::Response) -> Vec<i16>,
) -> anyhow::Result<R::Response> {
    let mut tries = 0;
    loop {
        let answer = client
            .coordinator(group)
            .await?
            .call_capped(request, cap)
            .await?;
        tries += 1;
        if tries < 50 && codes(&answer).into_iter().any(coordinator_busy) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        return Ok(answer);
    }
}

/// One row of ListGroups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
}

/// Every group of every broker (each broker lists the groups it coordinates).
pub async fn list_groups(client: &mut KafkaClient) -> anyhow::Result<Vec<ListedGroup>> {
    let ids: Vec<i32> = client.cluster().await?.brokers.keys().copied().collect();
    let mut out = Vec::new();
    for id in ids {
        let answer = client
            .broker(id)
            .await?
            .call_capped(&ListGroupsRequest::default(), 4)
            .await?;
        check(
            answer.error_code,
            None,
            &format!("listing the groups of broker {id}"),
        )?;
        out.extend(answer.groups.iter().map(|g| ListedGroup {
            group_id: g.group_id.0.to_string(),
            protocol_type: g.protocol_type.to_string(),
            state: g.group_state.to_string(),
        }));
    }
    out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    Ok(out)
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<TopicPartition>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub error_code: i16,
    pub state: String,
    pub protocol_type: String,
    /// The assignor chosen (`range`, `roundrobin`, ...).
    pub protocol: String,
    pub members: Vec<Member>,
    pub coordinator: Option<Node>,
}

/// Partitions in a consumer-protocol assignment (version-prefixed bytes).
pub fn decode_assignment(data: &[u8]) -> anyhow::Result<Vec<TopicPartition>> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let mut buf = Bytes::copy_from_slice(data);
    let version = buf.try_get_i16().context("assignment too short")?;
    let version = version.min(3);
    let a = ConsumerProtocolAssignment::decode(&mut buf, version)?;
    let mut out: Vec<TopicPartition> = a
        .assigned_partitions
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
        .collect();
    out.sort();
    Ok(out)
}

/// Version-prefixed consumer-protocol assignment bytes.
pub fn encode_assignment(partitions: &[TopicPartition]) -> anyhow::Result<Bytes> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic.entry(t).or_default().push(*p);
    }
    let a = ConsumerProtocolAssignment::default().with_assigned_partitions(
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                AssignedPartitions::default()
                    .with_topic(topic_name(t))
                    .with_partitions(ps)
            })
            .collect(),
    );
    let mut out = BytesMut::new();
    out.put_i16(0);
    a.encode(&mut out, 0)?;
    Ok(out.freeze())
}

/// Topics in a version-prefixed consumer-protocol subscription.
pub fn decode_subscription(data: &[u8]) -> anyhow::Result<Vec<String>> {
    let mut buf = Bytes::copy_from_slice(data);
    let version = buf.try_get_i16().context("subscription too short")?.min(3);
    let s = ConsumerProtocolSubscription::decode(&mut buf, version)?;
    Ok(s.topics.iter().map(|t| t.to_string()).collect())
}

pub fn encode_subscription(topics: &[String]) -> anyhow::Result<Bytes> {
    let s = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| str_bytes(t)).collect());
    let mut out = BytesMut::new();
    out.put_i16(0);
    s.encode(&mut out, 0)?;
    Ok(out.freeze())
}

pub async fn describe_group(
    client: &mut KafkaClient,
    group: &str,
) -> anyhow::Result<GroupDescription> {
    let request = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
    let answer = coordinator_call(client, group, &request, 5, |a| {
        a.groups.iter().map(|g| g.error_code).collect()
    })
    .await?;
    let node = client.coordinator_node(group).await?;
    let g = answer
        .groups
        .into_iter()
        .next()
        .context("the DescribeGroups answer names no group")?;
    let consumer = g.protocol_type.as_str() == "consumer" || g.protocol_type.is_empty();
    let mut members = Vec::new();
    for m in &g.members {
        let assignment = if consumer {
            decode_assignment(&m.member_assignment).unwrap_or_default()
        } else {
            Vec::new()
        };
        members.push(Member {
            member_id: m.member_id.to_string(),
            group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
            client_id: m.client_id.to_string(),
            host: m.client_host.to_string(),
            assignment,
        });
    }
    Ok(GroupDescription {
        group_id: g.group_id.0.to_string(),
        error_code: g.error_code,
        state: g.group_state.to_string(),
        protocol_type: g.protocol_type.to_string(),
        protocol: g.protocol_data.to_string(),
        members,
        coordinator: Some(node),
    })
}

/// The committed offsets of `partitions` (of every partition the group has
/// one for when `None`); partitions without one are left out.
pub async fn fetch_offsets(
    client: &mut KafkaClient,
    group: &str,
    partitions: Option<&[TopicPartition]>,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let topics = partitions.map(|list| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in list {
            by_topic.entry(t).or_default().push(*p);
        }
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                OffsetFetchRequestTopic::default()
                    .with_name(topic_name(t))
                    .with_partition_indexes(ps)
            })
            .collect()
    });
    let request = OffsetFetchRequest::default()
        .with_group_id(group_id(group))
        .with_topics(topics);
    // v7: the last version with one group per request.
    let answer = coordinator_call(client, group, &request, 7, |a| {
        let mut codes = vec![a.error_code];
        codes.extend(
            a.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        );
        codes
    })
    .await?;
    check(
        answer.error_code,
        None,
        &format!("fetching the offsets of group '{group}'"),
    )?;
    let mut out = BTreeMap::new();
    for t in &answer.topics {
        for p in &t.partitions {
            check(
                p.error_code,
                None,
                &format!(
                    "offset of group '{group}' for {}-{}",
                    t.name.0, p.partition_index
                ),
            )?;
            if p.committed_offset >= 0 {
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
    }
    Ok(out)
}

/// Commits offsets; `generation` -1 and an empty member id commit as an admin
/// (only accepted while the group has no members).
pub async fn commit_offsets(
    client: &mut KafkaClient,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> anyhow::Result<()> {
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for ((t, p), o) in offsets {
        by_topic.entry(t).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*p)
                .with_committed_offset(*o)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(StrBytes::default())),
        );
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(str_bytes(member_id))
        .with_retention_time_ms(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let answer = coordinator_call(client, group, &request, 7, |a| {
        a.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    })
    .await?;
    for t in &answer.topics {
        for p in &t.partitions {
            check(
                p.error_code,
                None,
                &format!(
                    "committing group '{group}' offset for {}-{}",
                    t.name.0, p.partition_index
                ),
            )?;
        }
    }
    Ok(())
}

/// Deletes groups; returns each group's error code (0 = deleted).
pub async fn delete_groups(
    client: &mut KafkaClient,
    groups: &[String],
) -> anyhow::Result<Vec<(String, i16)>> {
    let mut out = Vec::new();
    for group in groups {
        let request = DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)]);
        let answer = coordinator_call(client, group, &request, 2, |a| {
            a.results.iter().map(|r| r.error_code).collect()
        })
        .await?;
        out.extend(
            answer
                .results
                .iter()
                .map(|r| (r.group_id.0.to_string(), r.error_code)),
        );
    }
    Ok(out)
}

/// Deletes a group's committed offsets; returns the top-level error code and
/// each partition's.
pub async fn delete_offsets(
    client: &mut KafkaClient,
    group: &str,
    partitions: &[TopicPartition],
) -> anyhow::Result<(i16, Vec<(TopicPartition, i16)>)> {
    let mut by_topic: BTreeMap<&str, Vec<OffsetDeleteRequestPartition>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic
            .entry(t)
            .or_default()
            .push(OffsetDeleteRequestPartition::default().with_partition_index(*p));
    }
    let request = OffsetDeleteRequest::default()
        .with_group_id(group_id(group))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let answer =
        coordinator_call(client, group, &request, i16::MAX, |a| vec![a.error_code]).await?;
    let mut results = Vec::new();
    for t in &answer.topics {
        for p in &t.partitions {
            results.push(((t.name.0.to_string(), p.partition_index), p.error_code));
        }
    }
    results.sort();
    Ok((answer.error_code, results))
}

/// A member of a classic consumer group, as `console-consumer --group` is.
pub struct Membership {
    pub group: String,
    pub member_id: String,
    pub generation: i32,
    pub assignment: Vec<TopicPartition>,
    session_timeout_ms: i32,
}

impl Membership {
    /// Joins `group` subscribed to `topics`; when chosen leader, assigns every
    /// partition of the members' topics by range. Returns once synced.
    pub async fn join(
        client: &mut KafkaClient,
        group: &str,
        topics: &[String],
        session_timeout_ms: i32,
    ) -> anyhow::Result<Self> {
        let mut member = Membership {
            group: group.to_owned(),
            member_id: String::new(),
            generation: -1,
            assignment: Vec::new(),
            session_timeout_ms,
        };
        member.rejoin(client, topics).await?;
        Ok(member)
    }

    pub async fn rejoin(
        &mut self,
        client: &mut KafkaClient,
        topics: &[String],
    ) -> anyhow::Result<()> {
        let metadata = encode_subscription(topics)?;
        for _ in 0..20 {
            let join = JoinGroupRequest::default()
                .with_group_id(group_id(&self.group))
                .with_session_timeout_ms(self.session_timeout_ms)
                .with_rebalance_timeout_ms(60_000)
                .with_member_id(str_bytes(&self.member_id))
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(metadata.clone())]);
            let answer = client
                .coordinator(&self.group)
                .await?
                .call_capped(&join, 5)
                .await?;
            match ResponseError::try_from_code(answer.error_code) {
                None => {}
                // KIP-394: the first join only hands out the member id.
                Some(ResponseError::MemberIdRequired) => {
                    self.member_id = answer.member_id.to_string();
                    continue;
                }
                Some(ResponseError::UnknownMemberId) => {
                    self.member_id.clear();
                    continue;
                }
                Some(e) if e.is_retriable() || e == ResponseError::RebalanceInProgress => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                Some(_) => check(
                    answer.error_code,
                    None,
                    &format!("joining group '{}'", self.group),
                )?,
            }
            self.member_id = answer.member_id.to_string();
            self.generation = answer.generation_id;
            let assignments = if answer.leader == answer.member_id {
                let mut subscriptions = Vec::new();
                for m in &answer.members {
                    subscriptions
                        .push((m.member_id.to_string(), decode_subscription(&m.metadata)?));
                }
                let wanted: Vec<String> = {
                    let mut all: Vec<String> =
                        subscriptions.iter().flat_map(|(_, t)| t.clone()).collect();
                    all.sort();
                    all.dedup();
                    all
                };
                let cluster = client.metadata(Some(&wanted), false).await?;
                let partitions: BTreeMap<String, i32> = wanted
                    .iter()
                    .filter_map(|t| {
                        cluster
                            .topics
                            .get(t)
                            .map(|m| (t.clone(), m.partitions.len() as i32))
                    })
                    .collect();
                range_assign(&subscriptions, &partitions)
                    .into_iter()
                    .map(|(member, tps)| {
                        Ok(SyncGroupRequestAssignment::default()
                            .with_member_id(str_bytes(&member))
                            .with_assignment(encode_assignment(&tps)?))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?
            } else {
                Vec::new()
            };
            let sync = SyncGroupRequest::default()
                .with_group_id(group_id(&self.group))
                .with_generation_id(self.generation)
                .with_member_id(str_bytes(&self.member_id))
                .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
                .with_protocol_name(Some(StrBytes::from_static_str("range")))
                .with_assignments(assignments);
            let synced = client
                .coordinator(&self.group)
                .await?
                .call_capped(&sync, 3)
                .await?;
            if synced.error_code == ResponseError::RebalanceInProgress.code() {
                continue;
            }
            check(
                synced.error_code,
                None,
                &format!("syncing group '{}'", self.group),
            )?;
            self.assignment = decode_assignment(&synced.assignment)?;
            return Ok(());
        }
        bail!(
            "group '{}' kept rebalancing; gave up joining after 20 tries",
            self.group
        )
    }

    /// Ok(false) when the group is rebalancing and the member must rejoin.
    pub async fn heartbeat(&mut self, client: &mut KafkaClient) -> anyhow::Result<bool> {
        let request = HeartbeatRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation)
            .with_member_id(str_bytes(&self.member_id));
        let answer = client
            .coordinator(&self.group)
            .await?
            .call_capped(&request, 3)
            .await?;
        match ResponseError::try_from_code(answer.error_code) {
            None => Ok(true),
            Some(ResponseError::RebalanceInProgress)
            | Some(ResponseError::IllegalGeneration)
            | Some(ResponseError::UnknownMemberId) => Ok(false),
            Some(_) => bail!(
                "heartbeat to group '{}': {}",
                self.group,
                error_name(answer.error_code)
            ),
        }
    }

    pub async fn leave(&self, client: &mut KafkaClient) -> anyhow::Result<()> {
        let request = LeaveGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_member_id(str_bytes(&self.member_id))
            .with_members(vec![
                MemberIdentity::default().with_member_id(str_bytes(&self.member_id))
            ]);
        let conn = client.coordinator(&self.group).await?;
        let version = conn.version_for::<LeaveGroupRequest>(1)?;
        let request = if version >= 3 {
            request.with_member_id(StrBytes::default())
        } else {
            request.with_members(Vec::new())
        };
        let answer = conn.call_at(&request, version).await?;
        check(
            answer.error_code,
            None,
            &format!("leaving group '{}'", self.group),
        )
    }
}

/// Kafka's range assignor: per topic, members subscribed to it (sorted by id)
/// get consecutive ranges, the first ones one extra partition each.
pub fn range_assign(
    subscriptions: &[(String, Vec<String>)],
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut out: BTreeMap<String, Vec<TopicPartition>> = subscriptions
        .iter()
        .map(|(m, _)| (m.clone(), Vec::new()))
        .collect();
    for (topic, count) in partitions {
        let mut members: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(m, _)| m)
            .collect();
        members.sort();
        if members.is_empty() {
            continue;
        }
        let n = members.len() as i32;
        let (per, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, m) in members.iter().enumerate() {
            let take = per + i32::from((i as i32) < extra);
            let list = out.get_mut(*m).expect("every member has an entry");
            list.extend((next..next + take).map(|p| (topic.clone(), p)));
            next += take;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_assignor_matches_kafka() {
        let subs = vec![
            ("b".to_string(), vec!["t".to_string()]),
            ("a".to_string(), vec!["t".to_string(), "u".to_string()]),
        ];
        let parts = BTreeMap::from([("t".to_string(), 5), ("u".to_string(), 1)]);
        let got = range_assign(&subs, &parts);
        let t = |p| ("t".to_string(), p);
        assert_eq!(got["a"], vec![t(0), t(1), t(2), ("u".to_string(), 0)]);
        assert_eq!(got["b"], vec![t(3), t(4)]);
    }

    #[test]
    fn assignments_round_trip() {
        let tps = vec![
            ("t".to_string(), 0),
            ("t".to_string(), 2),
            ("x".to_string(), 1),
        ];
        let bytes = encode_assignment(&tps).unwrap();
        assert_eq!(decode_assignment(&bytes).unwrap(), tps);
        assert!(decode_assignment(&[]).unwrap().is_empty());
        let sub = encode_subscription(&["a".into(), "b".into()]).unwrap();
        assert_eq!(decode_subscription(&sub).unwrap(), vec!["a", "b"]);
    }
}
