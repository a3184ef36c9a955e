//! The group coordinator: Kafka's classic group protocol (JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup) and committed offsets, as a state
//! machine with the clock passed in and no I/O.
//!
//! Requests that must wait (a JoinGroup until the rebalance completes, a
//! follower's SyncGroup until the leader's assignment) answer
//! [`Answer::Wait`]; their answers come later as [`Completions`], keyed by
//! group and member, from whichever call completed them. Writes to
//! `__consumer_offsets` go through a [`Journal`]; committed offsets change
//! only by [`GroupCoordinator::replay`] of the written records, the same path
//! that rebuilds them when a partition is loaded.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::classic::{Group, GroupState, InitialDelay, Member};
use super::records::{OffsetValue, OffsetsRecord};

/// Kafka's timeout for a new member's first JoinGroup (5 minutes).
const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 300_000;

type Error = ResponseError;

/// Where records for `__consumer_offsets` are appended (durably) before they
/// take effect. The error is what the client is answered.
pub trait Journal {
    fn append(&mut self, group: &str, records: &[OffsetsRecord]) -> Result<(), Error>;
}

#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: i32,
    pub max_group_size: i32,
    pub max_metadata_bytes: usize,
    pub offsets_retention_ms: i64,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_group_size: i32::MAX,
            max_metadata_bytes: 4096,
            offsets_retention_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

/// Whether a request is answered now or later (through [`Completions`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<T> {
    Now(T),
    /// Answered later, through [`Completions`], under this member id (a new
    /// member's id is only known once the coordinator gave it one).
    Wait(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinResult {
    pub error: Option<Error>,
    pub member_id: String,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    /// Every member with its metadata: for the leader only.
    pub members: Vec<JoinMember>,
}

impl JoinResult {
    pub fn error(member_id: &str, error: Error) -> Self {
        JoinResult {
            error: Some(error),
            member_id: member_id.to_owned(),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncResult {
    pub error: Option<Error>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: Error) -> Self {
        SyncResult {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// Answers to earlier requests that waited, by (group, member id).
#[derive(Debug, Default)]
pub struct Completions {
    pub joins: Vec<((String, String), JoinResult)>,
    pub syncs: Vec<((String, String), SyncResult)>,
}

impl Completions {
    fn join(&mut self, group: &str, member: &str, r: JoinResult) {
        self.joins.push(((group.to_owned(), member.to_owned()), r));
    }
    fn sync(&mut self, group: &str, member: &str, r: SyncResult) {
        self.syncs.push(((group.to_owned(), member.to_owned()), r));
    }
}

#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new member first gets its id with MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
}

#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// Who commits: a group member (generation ≥ 0) or a standalone consumer (-1).
#[derive(Debug, Clone)]
pub struct Committer {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
}

#[derive(Debug, Clone)]
pub struct OffsetCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub expire_timestamp: Option<i64>,
}

/// What DescribeGroups shows of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberSummary>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberSummary {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Default)]
pub struct GroupCoordinator {
    pub config: CoordinatorConfig,
    groups: HashMap<String, Group>,
}

impl GroupCoordinator {
    pub fn new(config: CoordinatorConfig) -> Self {
        GroupCoordinator {
            config,
            groups: HashMap::new(),
        }
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Forgets the groups whose partition this broker no longer leads.
    pub fn unload(&mut self, mut owned_elsewhere: impl FnMut(&str) -> bool) {
        self.groups.retain(|id, _| !owned_elsewhere(id));
    }

    // ----- records -------------------------------------------------------

    /// Applies one record of `__consumer_offsets`: the only way committed
    /// offsets change, live and at load. `loading` also restores group
    /// metadata (live, the group's in-memory state is already current).
    pub fn replay(&mut self, record: OffsetsRecord, now: i64, loading: bool) {
        match record {
            OffsetsRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => match value {
                Some(v) => {
                    self.groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now))
                        .offsets
                        .insert((topic, partition), v);
                }
                None => {
                    if let Some(g) = self.groups.get_mut(&group) {
                        g.offsets.remove(&(topic, partition));
                    }
                }
            },
            OffsetsRecord::Group { group, value } if loading => match value {
                Some(v) => self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group, now))
                    .restore(v, now),
                None => {
                    if let Some(g) = self.groups.get_mut(&group) {
                        if g.offsets.is_empty() {
                            self.groups.remove(&group);
                        } else {
                            let offsets = std::mem::take(&mut g.offsets);
                            *g = Group::new(&group, now);
                            g.offsets = offsets;
                        }
                    }
                }
            },
            OffsetsRecord::Group { .. } => {}
        }
    }

    /// Writes records, then replays them; the error is the journal's.
    fn write(
        &mut self,
        journal: &mut dyn Journal,
        group: &str,
        records: Vec<OffsetsRecord>,
        now: i64,
    ) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        journal.append(group, &records)?;
        for r in records {
            self.replay(r, now, false);
        }
        Ok(())
    }

    // ----- JoinGroup -----------------------------------------------------

    pub fn join(
        &mut self,
        req: JoinRequest,
        now: i64,
        journal: &mut dyn Journal,
    ) -> (Answer<JoinResult>, Completions) {
        let mut done = Completions::default();
        let answer = self.join_inner(req, now, journal, &mut done);
        (answer, done)
    }

    fn join_inner(
        &mut self,
        req: JoinRequest,
        now: i64,
        journal: &mut dyn Journal,
        done: &mut Completions,
    ) -> Answer<JoinResult> {
        let fail = |e| Answer::Now(JoinResult::error(&req.member_id, e));
        if req.group_id.is_empty() {
            return fail(Error::InvalidGroupId);
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return fail(Error::InvalidSessionTimeout);
        }
        let new_member = req.member_id.is_empty();
        if !new_member && !self.groups.contains_key(&req.group_id) {
            return fail(Error::UnknownMemberId);
        }
        let config = self.config.clone();
        let group = self
            .groups
            .entry(req.group_id.clone())
            .or_insert_with(|| Group::new(&req.group_id, now));
        let accepts = group.is(GroupState::Empty)
            || group.members.contains_key(&req.member_id)
            || group.pending_members.contains_key(&req.member_id)
            || group.members.len() < config.max_group_size as usize;
        if !accepts {
            return fail(Error::GroupMaxSizeReached);
        }
        if !group.supports(&req.protocol_type, &req.protocols) {
            return fail(Error::InconsistentGroupProtocol);
        }
        let answer = if new_member {
            join_new_member(group, req, now, &config, journal, done)
        } else {
            join_known_member(group, req, now, &config, done)
        };
        try_complete_join(group, now, journal, done);
        answer
    }

    // ----- SyncGroup -----------------------------------------------------

    pub fn sync(
        &mut self,
        req: SyncRequest,
        now: i64,
        journal: &mut dyn Journal,
    ) -> (Answer<SyncResult>, Completions) {
        let mut done = Completions::default();
        let fail = |e| (Answer::Now(SyncResult::error(e)), Completions::default());
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return fail(Error::UnknownMemberId);
        };
        if group.is_fenced(req.instance_id.as_deref(), &req.member_id) {
            return fail(Error::FencedInstanceId);
        }
        if !group.members.contains_key(&req.member_id) {
            return fail(Error::UnknownMemberId);
        }
        if req.generation != group.generation {
            return fail(Error::IllegalGeneration);
        }
        if req
            .protocol_type
            .as_ref()
            .is_some_and(|t| group.protocol_type.as_ref() != Some(t))
            || req
                .protocol_name
                .as_ref()
                .is_some_and(|n| group.protocol.as_ref() != Some(n))
        {
            return fail(Error::InconsistentGroupProtocol);
        }
        let answer = match group.state {
            GroupState::Empty => return fail(Error::UnknownMemberId),
            GroupState::PreparingRebalance => return fail(Error::RebalanceInProgress),
            GroupState::Stable => {
                group.pending_sync.remove(&req.member_id);
                let member = group.members.get_mut(&req.member_id).expect("checked");
                member.heartbeat_deadline = now + i64::from(member.session_timeout_ms);
                Answer::Now(SyncResult {
                    error: None,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol.clone(),
                    assignment: member.assignment.clone(),
                })
            }
            GroupState::CompletingRebalance => {
                group.pending_sync.remove(&req.member_id);
                let member = group.members.get_mut(&req.member_id).expect("checked");
                member.awaiting_sync = true;
                member.heartbeat_deadline = now + i64::from(member.session_timeout_ms);
                if group.is_leader(&req.member_id) {
                    let mut assignments: HashMap<String, Bytes> =
                        req.assignments.into_iter().collect();
                    let previous: Vec<(String, Bytes)> = group
                        .members
                        .values_mut()
                        .map(|m| {
                            let a = assignments.remove(&m.id).unwrap_or_default();
                            (m.id.clone(), std::mem::replace(&mut m.assignment, a))
                        })
                        .collect();
                    let record = group.metadata_record();
                    match journal.append(&group.id, &[record]) {
                        Ok(()) => {
                            let protocol_type = group.protocol_type.clone();
                            let protocol_name = group.protocol.clone();
                            for m in group.members.values_mut().filter(|m| m.awaiting_sync) {
                                m.awaiting_sync = false;
                                done.sync(
                                    &group.id,
                                    &m.id,
                                    SyncResult {
                                        error: None,
                                        protocol_type: protocol_type.clone(),
                                        protocol_name: protocol_name.clone(),
                                        assignment: m.assignment.clone(),
                                    },
                                );
                            }
                            group.transition(GroupState::Stable, now);
                        }
                        Err(e) => {
                            for (id, a) in previous {
                                if let Some(m) = group.members.get_mut(&id) {
                                    m.assignment = a;
                                }
                            }
                            for m in group.members.values_mut().filter(|m| m.awaiting_sync) {
                                m.awaiting_sync = false;
                                done.sync(&group.id, &m.id, SyncResult::error(e));
                            }
                            prepare_rebalance(group, now, &self.config, &mut done);
                        }
                    }
                }
                Answer::Wait(req.member_id.clone())
            }
        };
        // The leader's own answer is among the completions: hand it back directly.
        if let Answer::Wait(_) = answer {
            if let Some(i) = done
                .syncs
                .iter()
                .position(|((g, m), _)| *g == req.group_id && *m == req.member_id)
            {
                let (_, r) = done.syncs.remove(i);
                return (Answer::Now(r), done);
            }
        }
        (answer, done)
    }

    // ----- Heartbeat -----------------------------------------------------

    pub fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), Error> {
        let group = self
            .groups
            .get_mut(group_id)
            .ok_or(Error::UnknownMemberId)?;
        if group.is_fenced(instance_id, member_id) {
            return Err(Error::FencedInstanceId);
        }
        if !group.members.contains_key(member_id) {
            return Err(Error::UnknownMemberId);
        }
        if generation != group.generation {
            return Err(Error::IllegalGeneration);
        }
        if group.is(GroupState::Empty) {
            return Err(Error::UnknownMemberId);
        }
        let member = group.members.get_mut(member_id).expect("checked");
        member.heartbeat_deadline = now + i64::from(member.session_timeout_ms);
        if group.is(GroupState::PreparingRebalance) {
            return Err(Error::RebalanceInProgress);
        }
        Ok(())
    }

    // ----- LeaveGroup ----------------------------------------------------

    /// Removes members (by member id, or by instance id for administrative
    /// removal). The outer error is the group's; inner ones are per member.
    pub fn leave(
        &mut self,
        group_id: &str,
        leaving: &[(String, Option<String>)],
        now: i64,
        journal: &mut dyn Journal,
    ) -> (Vec<Result<(), Error>>, Completions) {
        let mut done = Completions::default();
        let Some(group) = self.groups.get_mut(group_id) else {
            return (
                leaving
                    .iter()
                    .map(|_| Err(Error::UnknownMemberId))
                    .collect(),
                done,
            );
        };
        let results = leaving
            .iter()
            .map(|(member_id, instance_id)| {
                if !member_id.is_empty() && group.is_fenced(instance_id.as_deref(), member_id) {
                    return Err(Error::FencedInstanceId);
                }
                if group.pending_members.remove(member_id).is_some() {
                    return Ok(());
                }
                let target = instance_id
                    .as_ref()
                    .and_then(|i| group.static_members.get(i).cloned())
                    .unwrap_or_else(|| member_id.clone());
                if !group.members.contains_key(&target) {
                    return Err(Error::UnknownMemberId);
                }
                remove_member_and_rebalance(group, &target, now, &self.config, &mut done);
                Ok(())
            })
            .collect();
        try_complete_join(group, now, journal, &mut done);
        (results, done)
    }

    // ----- offsets -------------------------------------------------------

    /// OffsetCommit: validates the committer, then writes and replays the
    /// commits. Per-partition results, in request order.
    pub fn commit_offsets(
        &mut self,
        group_id: &str,
        who: &Committer,
        commits: Vec<OffsetCommit>,
        now: i64,
        journal: &mut dyn Journal,
    ) -> Vec<Result<(), Error>> {
        let all = |e: Error| commits.iter().map(|_| Err(e)).collect::<Vec<_>>();
        if group_id.is_empty() {
            return all(Error::InvalidGroupId);
        }
        match self.groups.get_mut(group_id) {
            None if who.generation >= 0 => return all(Error::IllegalGeneration),
            None => {
                self.groups
                    .insert(group_id.to_owned(), Group::new(group_id, now));
            }
            Some(group) => {
                let simple = who.generation < 0 && group.is(GroupState::Empty);
                if !simple {
                    if group.is_fenced(who.instance_id.as_deref(), &who.member_id) {
                        return all(Error::FencedInstanceId);
                    }
                    if group.is(GroupState::CompletingRebalance) {
                        return all(Error::RebalanceInProgress);
                    }
                    let Some(member) = group.members.get_mut(&who.member_id) else {
                        return all(Error::UnknownMemberId);
                    };
                    if who.generation != group.generation {
                        return all(Error::IllegalGeneration);
                    }
                    member.heartbeat_deadline = now + i64::from(member.session_timeout_ms);
                }
            }
        }
        let max = self.config.max_metadata_bytes;
        let mut results = Vec::with_capacity(commits.len());
        let mut records = Vec::new();
        for c in commits {
            let metadata = c.metadata.unwrap_or_default();
            if metadata.len() > max {
                results.push(Err(Error::OffsetMetadataTooLarge));
                continue;
            }
            results.push(Ok(()));
            records.push(OffsetsRecord::Offset {
                group: group_id.to_owned(),
                topic: c.topic,
                partition: c.partition,
                value: Some(OffsetValue {
                    offset: c.offset,
                    leader_epoch: c.leader_epoch,
                    metadata,
                    commit_timestamp: now,
                    expire_timestamp: c.expire_timestamp,
                }),
            });
        }
        if let Err(e) = self.write(journal, group_id, records, now) {
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(e);
            }
        }
        results
    }

    /// The committed offset of one partition, if any.
    pub fn committed(&self, group_id: &str, topic: &str, partition: i32) -> Option<&OffsetValue> {
        self.groups
            .get(group_id)?
            .offsets
            .get(&(topic.to_owned(), partition))
    }

    /// Every committed offset of a group, by topic then partition.
    pub fn all_committed(&self, group_id: &str) -> BTreeMap<(String, i32), OffsetValue> {
        self.groups
            .get(group_id)
            .map(|g| g.offsets.clone())
            .unwrap_or_default()
    }

    /// OffsetDelete: drops committed offsets of topics the group does not
    /// consume. Outer error for the group, inner per partition.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
        now: i64,
        journal: &mut dyn Journal,
    ) -> Result<Vec<Result<(), Error>>, Error> {
        let group = self.groups.get(group_id).ok_or(Error::GroupIdNotFound)?;
        let consuming = !group.is(GroupState::Empty);
        if consuming && group.protocol_type.as_deref() != Some(super::classic::CONSUMER_PROTOCOL) {
            return Err(Error::NonEmptyGroup);
        }
        let mut records = Vec::new();
        let mut results: Vec<Result<(), Error>> = partitions
            .iter()
            .map(|(topic, partition)| {
                if consuming && group.is_subscribed_to(topic) {
                    return Err(Error::GroupSubscribedToTopic);
                }
                if group.offsets.contains_key(&(topic.clone(), *partition)) {
                    records.push(offset_tombstone(group_id, topic, *partition));
                }
                Ok(())
            })
            .collect();
        if let Err(e) = self.write(journal, group_id, records, now) {
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(e);
            }
        }
        Ok(results)
    }

    // ----- admin ---------------------------------------------------------

    pub fn list(&self) -> Vec<(String, String, &'static str)> {
        let mut out: Vec<_> = self
            .groups
            .values()
            .map(|g| {
                (
                    g.id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state.name(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// DescribeGroups: unknown groups read as Dead, as in Kafka.
    pub fn describe(&self, group_id: &str) -> GroupSummary {
        let Some(g) = self.groups.get(group_id) else {
            return GroupSummary {
                state: "Dead",
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let stable = g.is(GroupState::Stable);
        let protocol = if stable {
            g.protocol.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let mut members: Vec<&Member> = g.members.values().collect();
        members.sort_by_key(|m| m.join_seq);
        GroupSummary {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            members: members
                .into_iter()
                .map(|m| MemberSummary {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
            protocol,
        }
    }

    /// DeleteGroups: only empty groups; their offsets and metadata get tombstones.
    pub fn delete_group(
        &mut self,
        group_id: &str,
        now: i64,
        journal: &mut dyn Journal,
    ) -> Result<(), Error> {
        let group = self.groups.get(group_id).ok_or(Error::GroupIdNotFound)?;
        if !group.is(GroupState::Empty) {
            return Err(Error::NonEmptyGroup);
        }
        let mut records: Vec<OffsetsRecord> = group
            .offsets
            .keys()
            .map(|(t, p)| offset_tombstone(group_id, t, *p))
            .collect();
        records.push(OffsetsRecord::Group {
            group: group_id.to_owned(),
            value: None,
        });
        self.write(journal, group_id, records, now)?;
        self.groups.remove(group_id);
        Ok(())
    }

    // ----- time ----------------------------------------------------------

    /// Runs the timers: expired heartbeats and pending members, the initial
    /// rebalance delay, rebalance and sync timeouts.
    pub fn tick(&mut self, now: i64, journal: &mut dyn Journal) -> Completions {
        let mut done = Completions::default();
        let config = self.config.clone();
        for group in self.groups.values_mut() {
            group.pending_members.retain(|_, deadline| *deadline > now);
            let expired: Vec<String> = group
                .members
                .values()
                .filter(|m| m.heartbeat_expired(now))
                .map(|m| m.id.clone())
                .collect();
            for id in expired {
                remove_member_and_rebalance(group, &id, now, &config, &mut done);
            }
            if let Some(delay) = group.initial_delay {
                if now >= delay.deadline {
                    if delay.new_member_added && delay.remaining_ms > 0 {
                        let next =
                            i64::from(config.initial_rebalance_delay_ms).min(delay.remaining_ms);
                        group.initial_delay = Some(InitialDelay {
                            deadline: now + next,
                            remaining_ms: (delay.remaining_ms - next).max(0),
                            new_member_added: false,
                        });
                    } else {
                        group.initial_delay = None;
                        complete_join(group, now, journal, &mut done);
                    }
                }
            } else if group.is(GroupState::PreparingRebalance) && now >= group.rebalance_deadline {
                complete_join(group, now, journal, &mut done);
            }
            try_complete_join(group, now, journal, &mut done);
            if let Some(deadline) = group.sync_deadline {
                if now >= deadline {
                    group.sync_deadline = None;
                    let late: Vec<String> = group.pending_sync.iter().cloned().collect();
                    if !late.is_empty()
                        && matches!(
                            group.state,
                            GroupState::CompletingRebalance | GroupState::Stable
                        )
                    {
                        for id in late {
                            remove_member(group, &id, &mut done);
                        }
                        maybe_prepare_rebalance(group, now, &config, &mut done);
                    }
                }
            }
        }
        done
    }

    /// Expires committed offsets past `offsets.retention.minutes` as Kafka
    /// does (KIP-211), and removes groups left with nothing.
    pub fn expire_offsets(&mut self, now: i64, journal: &mut dyn Journal) {
        let retention = self.config.offsets_retention_ms;
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in ids {
            let group = &self.groups[&id];
            let base = |v: &OffsetValue| -> Option<i64> {
                match (&group.protocol_type, group.state) {
                    (Some(_), GroupState::Empty) => Some(group.state_timestamp),
                    (Some(t), GroupState::Stable) if t == super::classic::CONSUMER_PROTOCOL => {
                        Some(v.commit_timestamp)
                    }
                    (None, _) => Some(v.commit_timestamp),
                    _ => None,
                }
            };
            let subscribed = if group.is(GroupState::Stable) {
                group.subscribed_topics().unwrap_or_default()
            } else {
                Default::default()
            };
            let mut records: Vec<OffsetsRecord> = group
                .offsets
                .iter()
                .filter(|((topic, _), v)| {
                    !subscribed.contains(topic)
                        && match v.expire_timestamp {
                            Some(expire) => now >= expire,
                            None => base(v).is_some_and(|b| now - b >= retention),
                        }
                })
                .map(|((t, p), _)| offset_tombstone(&id, t, *p))
                .collect();
            let emptied = group.is(GroupState::Empty) && group.offsets.len() == records.len();
            if emptied {
                records.push(OffsetsRecord::Group {
                    group: id.clone(),
                    value: None,
                });
            }
            if self.write(journal, &id, records, now).is_ok() && emptied {
                self.groups.remove(&id);
            }
        }
    }
}

fn offset_tombstone(group: &str, topic: &str, partition: i32) -> OffsetsRecord {
    OffsetsRecord::Offset {
        group: group.to_owned(),
        topic: topic.to_owned(),
        partition,
        value: None,
    }
}

fn new_member_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

fn join_new_member(
    group: &mut Group,
    req: JoinRequest,
    now: i64,
    config: &CoordinatorConfig,
    journal: &mut dyn Journal,
    done: &mut Completions,
) -> Answer<JoinResult> {
    let member_id = new_member_id(req.instance_id.as_deref().unwrap_or(&req.client_id));
    match &req.instance_id {
        Some(instance) => match group.static_members.get(instance).cloned() {
            Some(old) => {
                replace_static_member(group, req, &old, member_id, now, config, journal, done)
            }
            None => add_member_and_rebalance(group, req, member_id, now, config, done),
        },
        None if req.require_known_member_id => {
            group
                .pending_members
                .insert(member_id.clone(), now + i64::from(req.session_timeout_ms));
            Answer::Now(JoinResult::error(&member_id, Error::MemberIdRequired))
        }
        None => add_member_and_rebalance(group, req, member_id, now, config, done),
    }
}

fn join_known_member(
    group: &mut Group,
    req: JoinRequest,
    now: i64,
    config: &CoordinatorConfig,
    done: &mut Completions,
) -> Answer<JoinResult> {
    let member_id = req.member_id.clone();
    if group.pending_members.contains_key(&member_id) {
        return add_member_and_rebalance(group, req, member_id, now, config, done);
    }
    if group.is_fenced(req.instance_id.as_deref(), &member_id) {
        return Answer::Now(JoinResult::error(&member_id, Error::FencedInstanceId));
    }
    let unknown_instance = req
        .instance_id
        .as_ref()
        .is_some_and(|i| !group.static_members.contains_key(i));
    if !group.members.contains_key(&member_id) || unknown_instance {
        return Answer::Now(JoinResult::error(&member_id, Error::UnknownMemberId));
    }
    let same = group.members[&member_id].same_protocols(&req.protocols);
    match group.state {
        GroupState::PreparingRebalance => {
            update_member_and_rebalance(group, req, now, config, done)
        }
        GroupState::CompletingRebalance if same => {
            Answer::Now(current_generation(group, &member_id))
        }
        GroupState::Stable if same && !group.is_leader(&member_id) => {
            Answer::Now(current_generation(group, &member_id))
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            update_member_and_rebalance(group, req, now, config, done)
        }
        GroupState::Empty => Answer::Now(JoinResult::error(&member_id, Error::UnknownMemberId)),
    }
}

/// The current generation as a join answer (members for the leader only).
fn current_generation(group: &Group, member_id: &str) -> JoinResult {
    JoinResult {
        error: None,
        member_id: member_id.to_owned(),
        generation: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol.clone(),
        leader: group.leader.clone().unwrap_or_default(),
        skip_assignment: false,
        members: if group.is_leader(member_id) {
            member_list(group)
        } else {
            Vec::new()
        },
    }
}

fn member_list(group: &Group) -> Vec<JoinMember> {
    let protocol = group.protocol.clone().unwrap_or_default();
    let mut members: Vec<&Member> = group.members.values().collect();
    members.sort_by_key(|m| m.join_seq);
    members
        .into_iter()
        .map(|m| JoinMember {
            member_id: m.id.clone(),
            instance_id: m.instance_id.clone(),
            metadata: m.metadata_for(&protocol),
        })
        .collect()
}

fn add_member_and_rebalance(
    group: &mut Group,
    req: JoinRequest,
    member_id: String,
    now: i64,
    config: &CoordinatorConfig,
    done: &mut Completions,
) -> Answer<JoinResult> {
    if group.is(GroupState::PreparingRebalance) && group.generation == 0 {
        if let Some(d) = &mut group.initial_delay {
            d.new_member_added = true;
        }
    }
    group.add_member(Member {
        id: member_id.clone(),
        instance_id: req.instance_id,
        client_id: req.client_id,
        client_host: req.client_host,
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        session_timeout_ms: req.session_timeout_ms,
        protocol_type: req.protocol_type,
        protocols: req.protocols,
        assignment: Bytes::new(),
        awaiting_join: true,
        awaiting_sync: false,
        heartbeat_deadline: now + NEW_MEMBER_JOIN_TIMEOUT_MS,
        join_seq: 0,
    });
    maybe_prepare_rebalance(group, now, config, done);
    Answer::Wait(member_id)
}

fn update_member_and_rebalance(
    group: &mut Group,
    req: JoinRequest,
    now: i64,
    config: &CoordinatorConfig,
    done: &mut Completions,
) -> Answer<JoinResult> {
    let member = group.members.get_mut(&req.member_id).expect("checked");
    member.protocols = req.protocols;
    member.rebalance_timeout_ms = req.rebalance_timeout_ms;
    member.session_timeout_ms = req.session_timeout_ms;
    member.awaiting_join = true;
    maybe_prepare_rebalance(group, now, config, done);
    Answer::Wait(req.member_id)
}

/// A static member came back with a new member id (KIP-345): it takes the
/// old member's place; a stable group keeps its assignment without a rebalance.
#[allow(clippy::too_many_arguments)]
fn replace_static_member(
    group: &mut Group,
    req: JoinRequest,
    old_id: &str,
    new_id: String,
    now: i64,
    config: &CoordinatorConfig,
    journal: &mut dyn Journal,
    done: &mut Completions,
) -> Answer<JoinResult> {
    let Some(mut member) = group.members.remove(old_id) else {
        return Answer::Now(JoinResult::error(&req.member_id, Error::UnknownMemberId));
    };
    fail_waiting(&group.id, &member, Error::FencedInstanceId, done);
    let old = member.clone();
    member.id = new_id.clone();
    member.protocols = req.protocols;
    member.rebalance_timeout_ms = req.rebalance_timeout_ms;
    member.session_timeout_ms = req.session_timeout_ms;
    member.client_id = req.client_id;
    member.client_host = req.client_host;
    member.awaiting_join = true;
    member.awaiting_sync = false;
    member.heartbeat_deadline = now + i64::from(member.session_timeout_ms);
    let was_leader = group.is_leader(old_id);
    let was_pending_sync = group.pending_sync.remove(old_id);
    let restore = |group: &mut Group, mut old: Member| {
        group.members.remove(&new_id);
        old.awaiting_join = false;
        old.awaiting_sync = false;
        group.members.insert(old.id.clone(), old);
        if let Some(i) = &req.instance_id {
            group.static_members.insert(i.clone(), old_id.to_owned());
        }
        if was_leader {
            group.leader = Some(old_id.to_owned());
        }
        if was_pending_sync {
            group.pending_sync.insert(old_id.to_owned());
        }
    };
    if let Some(i) = &req.instance_id {
        group.static_members.insert(i.clone(), new_id.clone());
    }
    if was_leader {
        group.leader = Some(new_id.clone());
    }
    if was_pending_sync {
        group.pending_sync.insert(new_id.clone());
    }
    group.members.insert(new_id.clone(), member);
    match group.state {
        GroupState::Stable => {
            if group.protocol == group.select_protocol() {
                let record = group.metadata_record();
                if let Err(e) = journal.append(&group.id, &[record]) {
                    restore(group, old);
                    return Answer::Now(JoinResult::error(&new_id, e));
                }
                let member = group.members.get_mut(&new_id).expect("inserted");
                member.awaiting_join = false;
                let is_leader = group.is_leader(&new_id);
                Answer::Now(JoinResult {
                    skip_assignment: is_leader,
                    members: if is_leader {
                        member_list(group)
                    } else {
                        Vec::new()
                    },
                    ..current_generation(group, &new_id)
                })
            } else {
                maybe_prepare_rebalance(group, now, config, done);
                Answer::Wait(new_id)
            }
        }
        GroupState::CompletingRebalance => {
            prepare_rebalance(group, now, config, done);
            Answer::Wait(new_id)
        }
        GroupState::PreparingRebalance | GroupState::Empty => Answer::Wait(new_id),
    }
}

fn maybe_prepare_rebalance(
    group: &mut Group,
    now: i64,
    config: &CoordinatorConfig,
    done: &mut Completions,
) {
    if matches!(
        group.state,
        GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
    ) {
        prepare_rebalance(group, now, config, done);
    }
}

fn prepare_rebalance(
    group: &mut Group,
    now: i64,
    config: &CoordinatorConfig,
    done: &mut Completions,
) {
    if group.is(GroupState::CompletingRebalance) {
        for m in group.members.values_mut() {
            m.assignment = Bytes::new();
            if m.awaiting_sync {
                m.awaiting_sync = false;
                done.sync(
                    &group.id,
                    &m.id,
                    SyncResult::error(Error::RebalanceInProgress),
                );
            }
        }
    }
    group.pending_sync.clear();
    group.sync_deadline = None;
    let timeout = group.rebalance_timeout_ms();
    let delay = i64::from(config.initial_rebalance_delay_ms);
    group.initial_delay = (group.is(GroupState::Empty) && delay > 0).then(|| {
        let first = delay.min(timeout);
        InitialDelay {
            deadline: now + first,
            remaining_ms: (timeout - first).max(0),
            new_member_added: false,
        }
    });
    group.rebalance_deadline = now + timeout;
    group.transition(GroupState::PreparingRebalance, now);
}

fn try_complete_join(
    group: &mut Group,
    now: i64,
    journal: &mut dyn Journal,
    done: &mut Completions,
) {
    if group.is(GroupState::PreparingRebalance)
        && group.initial_delay.is_none()
        && group.all_members_joined()
    {
        complete_join(group, now, journal, done);
    }
}

/// Ends the join phase: members that did not rejoin are dropped (static ones
/// keep their place), then the next generation starts.
fn complete_join(group: &mut Group, now: i64, journal: &mut dyn Journal, done: &mut Completions) {
    let gone: Vec<String> = group
        .members
        .values()
        .filter(|m| !m.awaiting_join && m.instance_id.is_none())
        .map(|m| m.id.clone())
        .collect();
    for id in gone {
        remove_member(group, &id, done);
    }
    if let Some(leader) = group.leader.clone() {
        if !group.members[&leader].awaiting_join {
            match group.earliest_member(|m| m.awaiting_join) {
                Some(joined) => group.leader = Some(joined),
                None => {
                    // Only absent static members: wait for them or their session expiry.
                    group.rebalance_deadline = now + group.rebalance_timeout_ms();
                    return;
                }
            }
        }
    }
    group.generation += 1;
    group.pending_sync.clear();
    if group.members.is_empty() {
        group.protocol = None;
        group.transition(GroupState::Empty, now);
        // Best effort, as in Kafka: the empty generation is informational.
        let _ = journal.append(&group.id, &[group.metadata_record()]);
        return;
    }
    group.protocol = group.select_protocol();
    group.transition(GroupState::CompletingRebalance, now);
    let members = member_list(group);
    let ids: Vec<String> = group.members.keys().cloned().collect();
    for id in ids {
        let result = JoinResult {
            members: if group.is_leader(&id) {
                members.clone()
            } else {
                Vec::new()
            },
            ..current_generation(group, &id)
        };
        let m = group.members.get_mut(&id).expect("listed");
        m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
        if m.awaiting_join {
            m.awaiting_join = false;
            done.join(&group.id, &id, result);
        }
        group.pending_sync.insert(id);
    }
    group.sync_deadline = Some(now + group.rebalance_timeout_ms());
}

/// Drops a member, answering its waiting requests with UNKNOWN_MEMBER_ID.
fn remove_member(group: &mut Group, member_id: &str, done: &mut Completions) {
    if let Some(m) = group.remove_member(member_id) {
        fail_waiting(&group.id, &m, Error::UnknownMemberId, done);
    }
}

/// Answers whatever requests of `member` are waiting with `error`.
fn fail_waiting(group_id: &str, member: &Member, error: Error, done: &mut Completions) {
    if member.awaiting_join {
        done.join(group_id, &member.id, JoinResult::error(&member.id, error));
    }
    if member.awaiting_sync {
        done.sync(group_id, &member.id, SyncResult::error(error));
    }
}

fn remove_member_and_rebalance(
    group: &mut Group,
    member_id: &str,
    now: i64,
    config: &CoordinatorConfig,
    done: &mut Completions,
) {
    remove_member(group, member_id, done);
    maybe_prepare_rebalance_after_leave(group, now, config, done);
}

fn maybe_prepare_rebalance_after_leave(
    group: &mut Group,
    now: i64,
    config: &CoordinatorConfig,
    done: &mut Completions,
) {
    if matches!(
        group.state,
        GroupState::Stable | GroupState::CompletingRebalance
    ) {
        prepare_rebalance(group, now, config, done);
    }
}
