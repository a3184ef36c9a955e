//! The coordinator at work inside the broker: `__consumer_offsets` as its
//! journal, the requests that wait for a rebalance, its timers, and loading
//! a partition's groups when this broker becomes its leader.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::records::{Compression, RecordBatchDecoder};
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use super::coordinator::{
    Answer, Completions, CoordinatorConfig, GroupCoordinator, JoinRequest, JoinResult, Journal,
    SyncRequest, SyncResult,
};
use super::records::OffsetsRecord;
use super::{partition_for, OFFSETS_TOPIC};
use crate::log::new_batch::{self, NewRecord};
use crate::replica::partition::Partition;
use crate::replica::ReplicaManager;

type Key = (String, String);

/// The coordinator and the requests waiting on it, behind one lock: every
/// change and every record append happens in one order.
pub struct GroupRuntime {
    partitions: i32,
    inner: Mutex<Inner>,
}

struct Inner {
    coordinator: GroupCoordinator,
    joins: HashMap<Key, oneshot::Sender<JoinResult>>,
    syncs: HashMap<Key, oneshot::Sender<SyncResult>>,
    /// Partitions of `__consumer_offsets` whose groups are loaded here.
    loaded: BTreeSet<i32>,
}

impl Inner {
    fn deliver(&mut self, done: Completions) {
        for (key, r) in done.joins {
            if let Some(tx) = self.joins.remove(&key) {
                let _ = tx.send(r);
            }
        }
        for (key, r) in done.syncs {
            if let Some(tx) = self.syncs.remove(&key) {
                let _ = tx.send(r);
            }
        }
    }
}

/// Appends to the group's `__consumer_offsets` partition on this broker.
pub struct OffsetsJournal<'a> {
    pub replicas: &'a ReplicaManager,
    pub partitions: i32,
    pub now: i64,
}

impl Journal for OffsetsJournal<'_> {
    fn append(&mut self, group: &str, records: &[OffsetsRecord]) -> Result<(), ResponseError> {
        let index = partition_for(group, self.partitions);
        let partition = self
            .replicas
            .get(OFFSETS_TOPIC, index)
            .filter(|p| p.is_leader())
            .ok_or(ResponseError::NotCoordinator)?;
        let batch = encode_batch(records, self.now).map_err(|e| {
            tracing::error!("encoding {OFFSETS_TOPIC} records: {e}");
            ResponseError::UnknownServerError
        })?;
        partition.append(&batch, self.now).map_err(|e| {
            tracing::warn!("appending to {OFFSETS_TOPIC}-{index}: {e}");
            ResponseError::CoordinatorNotAvailable
        })?;
        self.replicas.notify_appended();
        Ok(())
    }
}

/// The records as one uncompressed batch, as Kafka's coordinator writes them.
fn encode_batch(records: &[OffsetsRecord], now: i64) -> anyhow::Result<bytes::Bytes> {
    let records: Vec<NewRecord> = records
        .iter()
        .map(|r| {
            let (key, value) = r.encode();
            NewRecord {
                key: Some(key),
                value,
                headers: Vec::new(),
                timestamp: now,
            }
        })
        .collect();
    new_batch::encode_batch(&records, Compression::None)
}

/// Every `__consumer_offsets` record of a partition's log, in order.
/// Records that are not ours to read are skipped with a warning.
fn read_records(partition: &Partition) -> Vec<OffsetsRecord> {
    let mut out = Vec::new();
    let mut offset = partition.log_start_offset();
    let end = partition.log_end_offset();
    while offset < end {
        let read = match partition.read_to_log_end(offset, 1 << 20, true) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(
                    "loading {}-{} at offset {offset}: {e}",
                    partition.topic,
                    partition.index
                );
                break;
            }
        };
        if read.records.is_empty() || read.next_offset <= offset {
            break;
        }
        offset = read.next_offset;
        let mut bytes = read.records;
        let sets = match RecordBatchDecoder::decode_all(&mut bytes) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("decoding {}-{}: {e}", partition.topic, partition.index);
                continue;
            }
        };
        for record in sets.into_iter().flat_map(|s| s.records) {
            if record.control {
                continue;
            }
            match OffsetsRecord::decode(record.key.as_deref(), record.value.as_deref()) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(
                    "skipping record at offset {} of {}-{}: {e}",
                    record.offset,
                    partition.topic,
                    partition.index
                ),
            }
        }
    }
    out
}

impl GroupRuntime {
    pub fn new(config: CoordinatorConfig, partitions: i32) -> Self {
        GroupRuntime {
            partitions: partitions.max(1),
            inner: Mutex::new(Inner {
                coordinator: GroupCoordinator::new(config),
                joins: HashMap::new(),
                syncs: HashMap::new(),
                loaded: BTreeSet::new(),
            }),
        }
    }

    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn journal<'a>(&self, replicas: &'a ReplicaManager, now: i64) -> OffsetsJournal<'a> {
        OffsetsJournal {
            replicas,
            partitions: self.partitions,
            now,
        }
    }

    /// Rebuilds the groups of one `__consumer_offsets` partition from its log
    /// (at start-up, or on becoming its leader).
    pub fn load_partition(&self, partition: &Partition, now: i64) {
        let records = read_records(partition);
        let count = records.len();
        let mut inner = self.lock();
        for r in records {
            if partition_for(r.group(), self.partitions) == partition.index {
                inner.coordinator.replay(r, now, true);
            }
        }
        inner.loaded.insert(partition.index);
        tracing::info!(
            "loaded {count} records of {OFFSETS_TOPIC}-{} into the group coordinator",
            partition.index
        );
    }

    /// Drops the groups of a partition this broker no longer leads.
    pub fn unload_partition(&self, index: i32) {
        let mut inner = self.lock();
        inner.loaded.remove(&index);
        let n = self.partitions;
        inner
            .coordinator
            .unload(|group| partition_for(group, n) == index);
    }

    /// Whether this broker coordinates the group: NOT_COORDINATOR otherwise.
    pub fn check_coordinator(&self, group: &str) -> Result<(), ResponseError> {
        let index = partition_for(group, self.partitions);
        if self.lock().loaded.contains(&index) {
            Ok(())
        } else {
            Err(ResponseError::NotCoordinator)
        }
    }

    /// Runs `f` on the coordinator with a journal, then delivers whatever
    /// answers it completed to the requests that wait for them.
    pub fn with<R>(
        &self,
        replicas: &ReplicaManager,
        now: i64,
        f: impl FnOnce(&mut GroupCoordinator, &mut dyn Journal) -> (R, Completions),
    ) -> R {
        let mut journal = self.journal(replicas, now);
        let mut inner = self.lock();
        let (r, done) = f(&mut inner.coordinator, &mut journal);
        inner.deliver(done);
        r
    }

    /// Reads the coordinator's state.
    pub fn read<R>(&self, f: impl FnOnce(&GroupCoordinator) -> R) -> R {
        f(&self.lock().coordinator)
    }

    pub async fn join(&self, replicas: &ReplicaManager, req: JoinRequest, now: i64) -> JoinResult {
        let member_id = req.member_id.clone();
        let group_id = req.group_id.clone();
        let wait = Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64);
        let rx = {
            let mut journal = self.journal(replicas, now);
            let mut inner = self.lock();
            let (answer, mut done) = inner.coordinator.join(req, now, &mut journal);
            match answer {
                Answer::Now(r) => {
                    inner.deliver(done);
                    return r;
                }
                Answer::Wait(member) => {
                    let key = (group_id, member);
                    // This very request may have completed the rebalance.
                    if let Some(i) = done.joins.iter().position(|(k, _)| *k == key) {
                        let (_, r) = done.joins.remove(i);
                        inner.deliver(done);
                        return r;
                    }
                    inner.deliver(done);
                    let (tx, rx) = oneshot::channel();
                    inner.joins.insert(key, tx);
                    rx
                }
            }
        };
        wait_for(rx, wait, || {
            JoinResult::error(&member_id, ResponseError::RebalanceInProgress)
        })
        .await
    }

    pub async fn sync(&self, replicas: &ReplicaManager, req: SyncRequest, now: i64) -> SyncResult {
        let key = (req.group_id.clone(), req.member_id.clone());
        let wait = self.read(|c| {
            c.group(&req.group_id)
                .map(|g| g.rebalance_timeout_ms())
                .unwrap_or(0)
        });
        let rx = {
            let mut journal = self.journal(replicas, now);
            let mut inner = self.lock();
            let (answer, done) = inner.coordinator.sync(req, now, &mut journal);
            inner.deliver(done);
            match answer {
                Answer::Now(r) => return r,
                Answer::Wait(_) => {
                    let (tx, rx) = oneshot::channel();
                    inner.syncs.insert(key, tx);
                    rx
                }
            }
        };
        wait_for(rx, Duration::from_millis(wait.max(0) as u64), || {
            SyncResult::error(ResponseError::RebalanceInProgress)
        })
        .await
    }

    /// Runs the coordinator's timers.
    pub fn tick(&self, replicas: &ReplicaManager, now: i64) {
        self.with(replicas, now, |c, j| ((), c.tick(now, j)));
    }

    pub fn expire_offsets(&self, replicas: &ReplicaManager, now: i64) {
        self.with(replicas, now, |c, j| {
            c.expire_offsets(now, j);
            ((), Completions::default())
        });
    }
}

/// Waits for a completion; a request superseded or left waiting past its
/// deadline (plus slack) is told to rejoin.
async fn wait_for<T>(rx: oneshot::Receiver<T>, wait: Duration, fallback: impl FnOnce() -> T) -> T {
    match tokio::time::timeout(wait + Duration::from_secs(5), rx).await {
        Ok(Ok(r)) => r,
        _ => fallback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::records::OffsetValue;

    #[test]
    fn records_go_out_as_one_batch_without_sequence() {
        let records: Vec<OffsetsRecord> = (0..3)
            .map(|p| OffsetsRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: p,
                value: Some(OffsetValue {
                    offset: 1,
                    leader_epoch: -1,
                    metadata: String::new(),
                    commit_timestamp: 5,
                    expire_timestamp: None,
                }),
            })
            .collect();
        let mut bytes = encode_batch(&records, 5).unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        assert_eq!(sets.len(), 1);
        let decoded: Vec<OffsetsRecord> = sets[0]
            .records
            .iter()
            .map(|r| OffsetsRecord::decode(r.key.as_deref(), r.value.as_deref()).unwrap())
            .collect();
        assert_eq!(decoded, records);
        assert_eq!(sets[0].records[0].offset, 0);
        assert_eq!(sets[0].records[0].sequence, -1);
    }
}
