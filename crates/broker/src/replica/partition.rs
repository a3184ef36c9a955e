//! One partition as this broker hosts it: its log, its role (leader or
//! follower, with the leader epoch), and as leader the replication state
//! Kafka's `Partition` keeps: each follower's log end and when it last
//! caught up, the ISR (as last written to ZooKeeper, with the znode version)
//! and the high watermark = the smallest log end over the ISR. The state is
//! driven by method calls with the clock passed in; ZooKeeper writes and the
//! fetcher's network I/O live in `server::cluster` and `replica::fetcher`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use kafka_protocol::records::Compression;

use crate::log::{AppendInfo, LogError, PartitionLog, ReadInfo};

/// Kafka's `isolation_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
}

impl Isolation {
    pub fn from_i8(v: i8) -> Self {
        if v == 1 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    }
}

/// What this broker does for the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    /// Replicating from `leader` (-1: no leader is known; nothing to fetch).
    Follower {
        leader: i32,
    },
}

/// A follower as its leader sees it (Kafka's `Replica` state).
#[derive(Debug, Clone, Copy)]
struct FollowerState {
    /// The offset it fetched from last = its log end; -1 before its first fetch.
    log_end: i64,
    /// When its log end last reached the leader's (ms); ISR shrink uses it.
    last_caught_up_ms: i64,
}

/// Replication state, behind one lock.
#[derive(Debug)]
struct ReplicaState {
    role: Role,
    /// The topic's replica assignment.
    assigned: Vec<i32>,
    /// The in-sync replicas as last stored in ZooKeeper, and that znode's version.
    isr: Vec<i32>,
    state_version: i32,
    /// The controller epoch written in the state znode (kept on ISR writes).
    controller_epoch: i32,
    followers: BTreeMap<i32, FollowerState>,
    high_watermark: i64,
    /// A follower must truncate to the leader's epoch boundary before fetching.
    needs_truncation: bool,
}

/// The partition's state as stored in its ZooKeeper znode, as the cluster
/// code hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderAndIsr {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub controller_epoch: i32,
    /// The znode's version (for conditional ISR writes).
    pub version: i32,
}

/// An ISR change the leader wants written to ZooKeeper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    pub isr: Vec<i32>,
    pub leader_epoch: i32,
    pub controller_epoch: i32,
    pub expected_version: i32,
}

pub struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    /// This broker's id.
    local: i32,
    log: RwLock<PartitionLog>,
    leader_epoch: AtomicI32,
    /// The topic's `compression.type` as a codec id; `PRODUCER` keeps batches as sent.
    compression: AtomicU8,
    /// The topic's `min.insync.replicas`.
    min_insync: AtomicI32,
    state: Mutex<ReplicaState>,
}

const PRODUCER: u8 = u8::MAX;

impl Partition {
    /// A partition hosted by broker `local`, without a role yet (a follower of nobody).
    pub fn hosted(topic: Arc<str>, index: i32, log: PartitionLog, local: i32) -> Self {
        Partition {
            topic,
            index,
            local,
            log: RwLock::new(log),
            leader_epoch: AtomicI32::new(-1),
            compression: AtomicU8::new(PRODUCER),
            min_insync: AtomicI32::new(1),
            state: Mutex::new(ReplicaState {
                role: Role::Follower { leader: -1 },
                assigned: Vec::new(),
                isr: Vec::new(),
                state_version: -1,
                controller_epoch: 0,
                followers: BTreeMap::new(),
                high_watermark: 0,
                needs_truncation: false,
            }),
        }
    }

    /// Starts from the high watermark checkpointed before the last stop
    /// (Kafka's `replication-offset-checkpoint`), within the log's bounds:
    /// a restarted leader serves what was committed at once instead of
    /// waiting for every follower's first fetch.
    pub fn restore_high_watermark(&self, hw: i64) {
        let (start, end) = self.with_log(|l| (l.log_start_offset(), l.log_end_offset()));
        self.lock().high_watermark = hw.clamp(start, end);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReplicaState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_min_insync_replicas(&self, n: i32) {
        self.min_insync.store(n.max(1), Ordering::Relaxed);
    }

    pub fn min_insync_replicas(&self) -> i32 {
        self.min_insync.load(Ordering::Relaxed)
    }

    pub fn role(&self) -> Role {
        self.lock().role
    }

    pub fn is_leader(&self) -> bool {
        self.role() == Role::Leader
    }

    pub fn isr(&self) -> Vec<i32> {
        self.lock().isr.clone()
    }

    /// How many replicas are in sync (the produce path's min.insync check,
    /// without copying the list).
    pub fn isr_size(&self) -> usize {
        self.lock().isr.len()
    }

    /// Takes the leadership described by `state` (whose leader is this broker):
    /// every other assigned replica starts with an unknown log end and as
    /// caught up now, so one that never fetches leaves the ISR after the lag time.
    pub fn become_leader(&self, state: &LeaderAndIsr, assigned: &[i32], now_ms: i64) {
        let log_end = self.log_end_offset();
        let log_start = self.log_start_offset();
        let mut st = self.lock();
        st.role = Role::Leader;
        st.assigned = assigned.to_vec();
        st.isr = state.isr.clone();
        st.state_version = state.version;
        st.controller_epoch = state.controller_epoch;
        st.needs_truncation = false;
        st.followers = assigned
            .iter()
            .filter(|r| **r != self.local)
            .map(|r| {
                (
                    *r,
                    FollowerState {
                        log_end: -1,
                        last_caught_up_ms: now_ms,
                    },
                )
            })
            .collect();
        st.high_watermark = st.high_watermark.clamp(log_start, log_end);
        self.leader_epoch
            .store(state.leader_epoch, Ordering::Relaxed);
        self.advance_high_watermark(&mut st, log_end);
    }

    /// Follows `state.leader` (-1: nobody yet); truncation to the leader's
    /// epoch boundary comes first.
    pub fn become_follower(&self, state: &LeaderAndIsr, assigned: &[i32]) {
        let mut st = self.lock();
        st.role = Role::Follower {
            leader: state.leader,
        };
        st.assigned = assigned.to_vec();
        st.isr = state.isr.clone();
        st.state_version = state.version;
        st.controller_epoch = state.controller_epoch;
        st.followers.clear();
        st.needs_truncation = true;
        self.leader_epoch
            .store(state.leader_epoch, Ordering::Relaxed);
    }

    /// The replica set changed (a reassignment started or ended): as leader,
    /// joining replicas are tracked from now (unknown log end, caught up
    /// now) and departing ones are forgotten, so they leave the ISR at the
    /// next ISR check and only assigned replicas may join it.
    pub fn set_assigned(&self, assigned: &[i32], now_ms: i64) {
        let mut st = self.lock();
        if st.assigned == assigned {
            return;
        }
        st.assigned = assigned.to_vec();
        if st.role == Role::Leader {
            st.followers.retain(|r, _| assigned.contains(r));
            for r in assigned.iter().filter(|r| **r != self.local) {
                st.followers.entry(*r).or_insert(FollowerState {
                    log_end: -1,
                    last_caught_up_ms: now_ms,
                });
            }
        }
    }

    /// The replica set this broker last applied.
    pub fn assigned(&self) -> Vec<i32> {
        self.lock().assigned.clone()
    }

    /// This broker no longer hosts the partition (reassigned away or
    /// deleted): it neither leads nor follows, so acks=all produces waiting
    /// for replication here answer NOT_LEADER_OR_FOLLOWER.
    pub fn stop(&self) {
        let mut st = self.lock();
        st.role = Role::Follower { leader: -1 };
        st.followers.clear();
    }

    /// A newer version of the state znode with the same leader and epoch (an
    /// ISR change by the controller or by this leader).
    pub fn update_isr(&self, isr: &[i32], version: i32, controller_epoch: i32) {
        let log_end = self.log_end_offset();
        let mut st = self.lock();
        if version <= st.state_version {
            return;
        }
        // A follower taken out of the ISR (by the controller, or by itself at
        // a controlled shutdown) joins again only after a new fetch.
        let removed: Vec<i32> = st
            .isr
            .iter()
            .copied()
            .filter(|r| !isr.contains(r))
            .collect();
        for r in removed {
            if let Some(f) = st.followers.get_mut(&r) {
                f.log_end = -1;
            }
        }
        st.isr = isr.to_vec();
        st.state_version = version;
        st.controller_epoch = controller_epoch;
        if st.role == Role::Leader {
            self.advance_high_watermark(&mut st, log_end);
        }
    }

    /// The znode version this broker last applied.
    pub fn state_version(&self) -> i32 {
        self.lock().state_version
    }

    /// High watermark = the smallest log end over the ISR (a follower not yet
    /// heard from holds it back); it never moves backwards while leading.
    fn advance_high_watermark(&self, st: &mut ReplicaState, leader_log_end: i64) -> bool {
        let mut hw = leader_log_end;
        for r in &st.isr {
            if *r == self.local {
                continue;
            }
            match st.followers.get(r) {
                Some(f) if f.log_end >= 0 => hw = hw.min(f.log_end),
                _ => return false,
            }
        }
        if hw > st.high_watermark {
            st.high_watermark = hw;
            true
        } else {
            false
        }
    }

    /// A follower's fetch at `fetch_offset` (its log end), as leader. Returns
    /// whether the high watermark moved.
    pub fn record_follower_fetch(&self, replica: i32, fetch_offset: i64, now_ms: i64) -> bool {
        let log_end = self.log_end_offset();
        let mut st = self.lock();
        if st.role != Role::Leader {
            return false;
        }
        let Some(f) = st.followers.get_mut(&replica) else {
            return false;
        };
        f.log_end = fetch_offset;
        if fetch_offset >= log_end {
            f.last_caught_up_ms = now_ms;
        }
        self.advance_high_watermark(&mut st, log_end)
    }

    /// The ISR this leader should store: followers that have not caught up
    /// within `lag_ms` leave it; assigned followers that reached the high
    /// watermark join it. `None` when nothing changes.
    pub fn isr_change(&self, now_ms: i64, lag_ms: i64) -> Option<IsrChange> {
        let st = self.lock();
        if st.role != Role::Leader {
            return None;
        }
        let mut isr: Vec<i32> = st
            .isr
            .iter()
            .copied()
            .filter(|r| {
                *r == self.local
                    || st
                        .followers
                        .get(r)
                        .is_some_and(|f| now_ms - f.last_caught_up_ms <= lag_ms)
            })
            .collect();
        if !isr.contains(&self.local) {
            isr.insert(0, self.local);
        }
        for (r, f) in &st.followers {
            if !isr.contains(r)
                && st.assigned.contains(r)
                && f.log_end >= st.high_watermark
                && now_ms - f.last_caught_up_ms <= lag_ms
            {
                isr.push(*r);
            }
        }
        (isr != st.isr).then(|| IsrChange {
            isr,
            leader_epoch: self.leader_epoch(),
            controller_epoch: st.controller_epoch,
            expected_version: st.state_version,
        })
    }

    /// Whether a follower must truncate before fetching; clears the flag.
    pub fn take_truncation(&self) -> bool {
        std::mem::take(&mut self.lock().needs_truncation)
    }

    pub fn needs_truncation(&self) -> bool {
        self.lock().needs_truncation
    }

    /// Asks for truncation again (the leader could not answer).
    pub fn request_truncation(&self) {
        self.lock().needs_truncation = true;
    }

    /// As follower: the leader's high watermark, capped at the local log end.
    pub fn set_follower_high_watermark(&self, hw: i64) {
        let log_end = self.log_end_offset();
        let mut st = self.lock();
        if matches!(st.role, Role::Follower { .. }) {
            st.high_watermark = hw.min(log_end);
        }
    }

    /// Appends replicated batches as a follower.
    pub fn append_as_follower(&self, records: &[u8]) -> Result<AppendInfo, LogError> {
        self.write_log().append_as_follower(records)
    }

    /// Sets the topic's `compression.type` (`None` = `producer`).
    pub fn set_compression(&self, codec: Option<Compression>) {
        self.compression
            .store(codec.map_or(PRODUCER, |c| c as u8), Ordering::Relaxed);
    }

    /// The codec batches are stored in, unless the producer's is kept.
    pub fn compression(&self) -> Option<Compression> {
        Some(match self.compression.load(Ordering::Relaxed) {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Relaxed)
    }

    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Relaxed);
    }

    fn read_log(&self) -> std::sync::RwLockReadGuard<'_, PartitionLog> {
        self.log.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_log(&self) -> std::sync::RwLockWriteGuard<'_, PartitionLog> {
        self.log.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a produce request's records as leader, re-compressed first if
    /// the topic's compression.type asks for another codec.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let converted = match self.compression() {
            Some(codec) => crate::log::convert::recompress(records, codec)?,
            None => None,
        };
        let records = converted.as_deref().unwrap_or(records);
        let epoch = self.leader_epoch();
        let info = self.write_log().append_as_leader(records, epoch, now_ms)?;
        self.after_leader_append();
        Ok(info)
    }

    /// Appends the broker's own records (group coordinator) as leader.
    pub fn append_as_coordinator(
        &self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let epoch = self.leader_epoch();
        let info = self
            .write_log()
            .append_as_coordinator(records, epoch, now_ms)?;
        self.after_leader_append();
        Ok(info)
    }

    /// With the ISR down to this broker alone, an append commits at once.
    fn after_leader_append(&self) {
        let log_end = self.log_end_offset();
        let mut st = self.lock();
        if st.role == Role::Leader {
            self.advance_high_watermark(&mut st, log_end);
        }
    }

    /// Everything below it is on every in-sync replica (committed).
    pub fn high_watermark(&self) -> i64 {
        self.lock().high_watermark
    }

    /// Without transactions the last stable offset is the high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.high_watermark()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.read_log().log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.read_log().log_end_offset()
    }

    /// Reads whole batches for a consumer, up to the high watermark
    /// (last stable offset for read_committed).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
        min_one: bool,
    ) -> Result<ReadInfo, LogError> {
        let upper = match isolation {
            Isolation::ReadUncommitted | Isolation::ReadCommitted => self.high_watermark(),
        };
        self.read_log().read(offset, max_bytes, upper, min_one)
    }

    /// Reads whole batches up to the log end (replica fetches, loading groups).
    pub fn read_to_log_end(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadInfo, LogError> {
        let log = self.read_log();
        log.read(offset, max_bytes, log.log_end_offset(), min_one)
    }

    pub fn with_log<T>(&self, f: impl FnOnce(&PartitionLog) -> T) -> T {
        f(&self.read_log())
    }

    pub fn with_log_mut<T>(&self, f: impl FnOnce(&mut PartitionLog) -> T) -> T {
        f(&mut self.write_log())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::testing::TestBatch;
    use crate::log::LogConfig;

    fn leader_of(dir: &std::path::Path, isr: &[i32]) -> Partition {
        let log = PartitionLog::open(dir, LogConfig::default(), false).unwrap();
        let p = Partition::hosted(Arc::from("t"), 0, log, 1);
        let state = LeaderAndIsr {
            leader: 1,
            leader_epoch: 3,
            isr: isr.to_vec(),
            controller_epoch: 1,
            version: 0,
        };
        p.become_leader(&state, &[1, 2, 3], 1_000);
        p
    }

    #[test]
    fn high_watermark_is_the_smallest_log_end_over_the_isr() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader_of(dir.path(), &[1, 2, 3]);
        p.append(&TestBatch::records(10).encode(), 1_000).unwrap();
        // Followers not heard from yet hold the high watermark back.
        assert_eq!(p.high_watermark(), 0);
        assert!(!p.record_follower_fetch(2, 10, 1_100));
        assert_eq!(p.high_watermark(), 0);
        assert!(p.record_follower_fetch(3, 4, 1_100));
        assert_eq!(p.high_watermark(), 4);
        assert!(p.record_follower_fetch(3, 10, 1_200));
        assert_eq!(p.high_watermark(), 10);
        // Consumers read up to it, followers to the log end.
        p.append(&TestBatch::records(5).encode(), 1_300).unwrap();
        assert_eq!(p.log_end_offset(), 15);
        assert_eq!(p.high_watermark(), 10);
        assert_eq!(
            p.read(10, 1 << 20, Isolation::ReadUncommitted, true)
                .unwrap()
                .records
                .len(),
            0
        );
        assert!(!p
            .read_to_log_end(10, 1 << 20, true)
            .unwrap()
            .records
            .is_empty());
    }

    #[test]
    fn lagging_followers_leave_the_isr_and_caught_up_ones_join() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader_of(dir.path(), &[1, 2, 3]);
        p.append(&TestBatch::records(10).encode(), 1_000).unwrap();
        p.record_follower_fetch(2, 10, 1_000);
        p.record_follower_fetch(3, 2, 1_000);
        assert_eq!(p.isr_change(1_500, 1_000), None);
        p.record_follower_fetch(2, 10, 2_000);
        // Follower 3 has not caught up for longer than the lag time.
        let change = p.isr_change(2_100, 1_000).unwrap();
        assert_eq!(change.isr, vec![1, 2]);
        assert_eq!(change.expected_version, 0);
        assert_eq!(change.leader_epoch, 3);
        p.update_isr(&change.isr, 1, 1);
        // Without 3 the high watermark moves to follower 2's log end.
        assert_eq!(p.high_watermark(), 10);
        // 3 catches up and joins again.
        p.record_follower_fetch(3, 10, 2_200);
        assert_eq!(p.isr_change(2_300, 1_000).unwrap().isr, vec![1, 2, 3]);
        // An older znode version is ignored.
        p.update_isr(&[1], 0, 1);
        assert_eq!(p.isr(), vec![1, 2]);
    }

    #[test]
    fn a_follower_removed_from_the_isr_rejoins_only_after_fetching_again() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader_of(dir.path(), &[1, 2, 3]);
        p.append(&TestBatch::records(10).encode(), 1_000).unwrap();
        p.record_follower_fetch(2, 10, 1_000);
        p.record_follower_fetch(3, 10, 1_000);
        assert_eq!(p.high_watermark(), 10);
        // The controller (or 3 itself, shutting down) takes 3 out.
        p.update_isr(&[1, 2], 1, 1);
        assert_eq!(p.isr_change(1_100, 1_000), None);
        p.record_follower_fetch(3, 10, 1_200);
        assert_eq!(p.isr_change(1_300, 1_000).unwrap().isr, vec![1, 2, 3]);
    }

    #[test]
    fn a_joining_replica_enters_the_isr_once_caught_up_and_a_departing_one_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader_of(dir.path(), &[1, 2]);
        p.set_assigned(&[1, 2], 1_000);
        p.append(&TestBatch::records(10).encode(), 1_000).unwrap();
        p.record_follower_fetch(2, 10, 1_000);
        assert_eq!(p.high_watermark(), 10);
        // Reassignment {1,2} -> {2,3}: RS = [2, 3, 1]; 3 starts tracked.
        p.set_assigned(&[2, 3, 1], 1_100);
        assert_eq!(p.isr_change(1_200, 1_000), None);
        p.record_follower_fetch(3, 10, 1_300);
        assert_eq!(p.isr_change(1_400, 1_000).unwrap().isr, vec![1, 2, 3]);
        // Done: RS = [2, 3]. This broker (1) is no longer assigned; a
        // departing follower would leave the ISR.
        p.update_isr(&[1, 2, 3], 1, 1);
        p.set_assigned(&[1, 3], 1_500);
        assert_eq!(p.isr_change(1_600, 1_000).unwrap().isr, vec![1, 3]);
        p.stop();
        assert!(!p.is_leader());
        assert_eq!(p.isr_change(1_700, 1_000), None);
    }

    #[test]
    fn a_follower_is_not_a_leader_and_truncates_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader_of(dir.path(), &[1]);
        p.append(&TestBatch::records(3).encode(), 1_000).unwrap();
        assert_eq!(p.high_watermark(), 3);
        let state = LeaderAndIsr {
            leader: 2,
            leader_epoch: 4,
            isr: vec![2],
            controller_epoch: 1,
            version: 1,
        };
        p.become_follower(&state, &[1, 2]);
        assert!(!p.is_leader());
        assert_eq!(p.role(), Role::Follower { leader: 2 });
        assert!(p.take_truncation());
        assert!(!p.take_truncation());
        assert!(!p.record_follower_fetch(1, 3, 1_100));
    }
}
