//! One classic-protocol group: its members, generation, chosen protocol and
//! committed offsets, with the pure helpers the coordinator builds on.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

use super::records::{GroupValue, MemberValue, OffsetValue, OffsetsRecord};

/// The protocol type of Kafka consumers (the one whose metadata we can read).
pub const CONSUMER_PROTOCOL: &str = "consumer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    /// The name Kafka reports in ListGroups and DescribeGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// A JoinGroup of this member waits for the rebalance to complete.
    pub awaiting_join: bool,
    /// A SyncGroup of this member waits for the leader's assignment.
    pub awaiting_sync: bool,
    /// The member is removed if no heartbeat arrives before this time.
    pub heartbeat_deadline: i64,
    /// Join order, for choosing a leader as Kafka does (the earliest).
    pub join_seq: u64,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Members waiting in a request are not expired by missing heartbeats.
    pub fn heartbeat_expired(&self, now: i64) -> bool {
        !self.awaiting_join && !self.awaiting_sync && now >= self.heartbeat_deadline
    }
}

/// The initial rebalance delay (group.initial.rebalance.delay.ms): a new
/// group waits for more members before its first generation.
#[derive(Debug, Clone, Copy)]
pub struct InitialDelay {
    pub deadline: i64,
    pub remaining_ms: i64,
    pub new_member_added: bool,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    /// When the group entered its state (GroupMetadataValue's currentStateTimestamp).
    pub state_timestamp: i64,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// group.instance.id → member id (KIP-345).
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED (KIP-394), with their expiry.
    pub pending_members: HashMap<String, i64>,
    /// Members that received the join response but have not sent SyncGroup.
    pub pending_sync: BTreeSet<String>,
    pub sync_deadline: Option<i64>,
    pub rebalance_deadline: i64,
    pub initial_delay: Option<InitialDelay>,
    pub offsets: BTreeMap<(String, i32), OffsetValue>,
    next_join_seq: u64,
}

impl Group {
    pub fn new(id: &str, now: i64) -> Self {
        Group {
            id: id.to_owned(),
            state: GroupState::Empty,
            state_timestamp: now,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            pending_sync: BTreeSet::new(),
            sync_deadline: None,
            rebalance_deadline: 0,
            initial_delay: None,
            offsets: BTreeMap::new(),
            next_join_seq: 0,
        }
    }

    pub fn transition(&mut self, state: GroupState, now: i64) {
        self.state = state;
        self.state_timestamp = now;
    }

    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// Kafka's `isStaticMemberFenced`: the instance id belongs to another member id.
    pub fn is_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        instance_id
            .and_then(|i| self.static_members.get(i))
            .is_some_and(|current| current != member_id)
    }

    pub fn add_member(&mut self, mut member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        self.pending_members.remove(&member.id);
        member.join_seq = self.next_join_seq;
        self.next_join_seq += 1;
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member.id.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        self.members.insert(member.id.clone(), member);
    }

    /// Removes a member; a departing leader is replaced by the earliest member.
    pub fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if let Some(instance) = &member.instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        self.pending_sync.remove(member_id);
        if self.is_leader(member_id) {
            self.leader = self.earliest_member(|_| true);
        }
        Some(member)
    }

    pub fn earliest_member(&self, pick: impl Fn(&Member) -> bool) -> Option<String> {
        self.members
            .values()
            .filter(|m| pick(m))
            .min_by_key(|m| m.join_seq)
            .map(|m| m.id.clone())
    }

    /// Protocols every member supports, in the earliest member's order.
    pub fn candidate_protocols(&self) -> Vec<String> {
        let Some(first) = self.members.values().min_by_key(|m| m.join_seq) else {
            return Vec::new();
        };
        first
            .protocols
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
            .collect()
    }

    /// Kafka's `supportsProtocols`: a new group takes any non-empty offer;
    /// otherwise the type must match and one protocol must be common to all.
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && self
                .candidate_protocols()
                .iter()
                .any(|c| protocols.iter().any(|(n, _)| n == c))
    }

    /// The protocol with the most first-choice votes among the candidates.
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes = vec![0usize; candidates.len()];
        for m in self.members.values() {
            if let Some(i) = m
                .protocols
                .iter()
                .find_map(|(n, _)| candidates.iter().position(|c| c == n))
            {
                votes[i] += 1;
            }
        }
        let best = votes.iter().copied().max()?;
        candidates
            .into_iter()
            .zip(votes)
            .find(|(_, v)| *v == best)
            .map(|(c, _)| c)
    }

    pub fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join)
    }

    /// The longest rebalance timeout of the members (how long a rebalance may take).
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Topics the members subscribe to, when every member is a Kafka
    /// consumer whose subscription we can read; `None` means unknown.
    pub fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL) {
            return None;
        }
        let protocol = self.protocol.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            topics.extend(
                decode_subscription(&m.metadata_for(protocol))?
                    .topics
                    .iter()
                    .map(|t| t.to_string()),
            );
        }
        Some(topics)
    }

    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.subscribed_topics().is_none_or(|t| t.contains(topic))
    }

    /// The group's metadata record (GroupMetadataValue), as Kafka writes it
    /// after a generation completes or the group empties.
    pub fn metadata_record(&self) -> OffsetsRecord {
        let protocol = self.protocol.clone().unwrap_or_default();
        OffsetsRecord::Group {
            group: self.id.clone(),
            value: Some(GroupValue {
                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                generation: self.generation,
                protocol: self.protocol.clone(),
                leader: self.leader.clone(),
                current_state_timestamp: self.state_timestamp,
                members: self
                    .members
                    .values()
                    .map(|m| MemberValue {
                        member_id: m.id.clone(),
                        group_instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        session_timeout_ms: m.session_timeout_ms,
                        subscription: m.metadata_for(&protocol),
                        assignment: m.assignment.clone(),
                    })
                    .collect(),
            }),
        }
    }

    /// Restores the group from its stored metadata (at load): members come
    /// back with a fresh session, as in Kafka, and must heartbeat in time.
    pub fn restore(&mut self, v: GroupValue, now: i64) {
        self.protocol_type = (!v.protocol_type.is_empty()).then_some(v.protocol_type);
        self.generation = v.generation;
        self.protocol = v.protocol;
        self.leader = v.leader;
        self.members.clear();
        self.static_members.clear();
        self.pending_members.clear();
        self.pending_sync.clear();
        self.sync_deadline = None;
        self.initial_delay = None;
        let protocol = self.protocol.clone().unwrap_or_default();
        for m in v.members {
            self.add_member(Member {
                id: m.member_id,
                instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                awaiting_join: false,
                awaiting_sync: false,
                heartbeat_deadline: now + i64::from(m.session_timeout_ms),
                join_seq: 0,
            });
        }
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        self.state_timestamp = if v.current_state_timestamp >= 0 {
            v.current_state_timestamp
        } else {
            now
        };
    }
}

/// Decodes a consumer's JoinGroup metadata (version-prefixed ConsumerProtocolSubscription).
pub fn decode_subscription(metadata: &Bytes) -> Option<ConsumerProtocolSubscription> {
    let mut buf = metadata.clone();
    if buf.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = bytes::Buf::get_i16(&mut buf);
    ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3)).ok()
}
