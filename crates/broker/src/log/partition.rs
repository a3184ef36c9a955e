//! One partition's log: an ordered list of segments, the last of which is
//! active (appended to), plus the log start offset and leader epoch cache.
//!
//! Validation happens before anything is written, so a produce request is
//! appended entirely or not at all. Offsets are assigned by rewriting each
//! batch's `baseOffset` (and `partitionLeaderEpoch`): neither is covered by
//! the CRC, so the bytes are otherwise stored as received, compressed or
//! not, and no per-record work is done. Only LogAppendTime touches a
//! CRC-covered field, and then the CRC is recomputed.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Weak};

use bytes::{Bytes, BytesMut};

use super::batch::{self, BatchHeader};
use super::checkpoint::{
    self, LeaderEpochCache, LEADER_EPOCH_FILE, LOG_START_FILE, RECOVERY_POINT_FILE,
};
use super::index::fits_relative;
use super::segment::{parse_base_offset, BatchInfo, Segment, SegmentRead, SegmentSync};
use super::{AppendInfo, LogConfig, LogError, ReadInfo, TimestampType};

/// Segments never exceed this, whatever `segment_bytes` says: index
/// positions are 32-bit (Kafka's `log.segment.bytes` is an int as well).
const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;

/// The log of one partition. See the [module docs](super) for the on-disk
/// layout and the durability contract.
#[derive(Debug)]
pub struct PartitionLog {
    dir: Arc<Path>,
    config: LogConfig,
    /// Sorted by base offset, never empty; the last one is active.
    segments: Vec<Segment>,
    log_start_offset: i64,
    log_end_offset: i64,
    epochs: LeaderEpochCache,
    unflushed_messages: u64,
    last_flush_ms: Option<i64>,
    /// Segment files created since the last fsync of the directory.
    dir_dirty: bool,
    /// The recovery point on disk: every segment below it is fsynced.
    /// `None` for a log written before recovery points existed, whose
    /// rolled segments were all fsynced when rolled.
    recovery_point: Option<i64>,
    /// The last rolled segment's fsync, running off the append path.
    pending_sync: Option<PendingSync>,
    /// Reused buffers for appends.
    scratch: Vec<u8>,
    infos: Vec<BatchInfo>,
    /// Held while this log is open; the [`super::LogManager`] watches it.
    lease: Arc<()>,
}

impl PartitionLog {
    /// Opens the log in `dir`, creating the directory if missing.
    ///
    /// After a clean shutdown this reads no segment data beyond the batches
    /// after the active segment's last index entry, and opens no file that
    /// it keeps: handles are opened on first read or append. Otherwise the
    /// active segment is recovered: every batch is validated, the segment is
    /// truncated at the first torn or invalid one, and its indexes rebuilt.
    pub fn open(dir: &Path, config: LogConfig, clean_shutdown: bool) -> Result<Self, LogError> {
        let created = !dir.exists();
        fs::create_dir_all(dir)
            .map_err(|e| LogError::io(format!("creating {}", dir.display()), e))?;
        let dir: Arc<Path> = Arc::from(dir);
        let DirListing {
            segments: bases,
            log_start: log_start_ckpt,
            recovery_point,
        } = scan_dir(&dir)?;
        let mut log = PartitionLog {
            dir: dir.clone(),
            config,
            segments: Vec::with_capacity(bases.len().max(1)),
            log_start_offset: 0,
            log_end_offset: 0,
            epochs: LeaderEpochCache::default(),
            unflushed_messages: 0,
            last_flush_ms: None,
            dir_dirty: created,
            recovery_point,
            pending_sync: None,
            scratch: Vec::new(),
            infos: Vec::new(),
            lease: Arc::new(()),
        };
        if bases.is_empty() {
            let base = log_start_ckpt.unwrap_or(0).max(0);
            log.segments.push(Segment::create(dir.clone(), base)?);
            log.dir_dirty = true;
        } else {
            log.segments.extend(
                bases
                    .into_iter()
                    .map(|(base, size)| Segment::existing(dir.clone(), base, size)),
            );
        }

        let interval = log.config.index_interval_bytes;
        let mut recovered_epochs = Vec::new();
        if !clean_shutdown {
            recovered_epochs = log.recover_rolled_segments()?;
        }
        let active = log.active_mut();
        let tail = if clean_shutdown {
            active.scan_tail()?
        } else {
            None
        };
        log.log_end_offset = match tail {
            Some(next) => next,
            None => {
                if clean_shutdown {
                    tracing::warn!(
                        "{}: the active segment does not end cleanly despite a clean shutdown; recovering it",
                        dir.display()
                    );
                }
                let r = log.active_mut().recover(interval)?;
                if r.truncated_bytes > 0 {
                    tracing::info!(
                        "{}: recovery truncated {} bytes",
                        dir.display(),
                        r.truncated_bytes
                    );
                }
                recovered_epochs.extend(r.epochs);
                r.next_offset
            }
        };

        let first_base = log.segments[0].base_offset();
        log.log_start_offset = log_start_ckpt.unwrap_or(first_base).max(first_base);
        log.epochs = match LeaderEpochCache::load(&dir) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(
                    "{}: ignoring unreadable {LEADER_EPOCH_FILE}: {e}",
                    dir.display()
                );
                LeaderEpochCache::default()
            }
        };
        let mut epochs_changed = false;
        for (epoch, offset) in recovered_epochs {
            if log.epochs.latest_epoch().is_none_or(|l| l < epoch) {
                epochs_changed |= log.epochs.assign(epoch, offset);
            }
        }
        if log.log_start_offset > log.log_end_offset {
            // Everything left is below the log start (deleted records and a
            // torn tail): start over at the log start.
            let start = log.log_start_offset;
            log.truncate_fully_and_start_at(start)?;
        }
        epochs_changed |= log.epochs.truncate_from_end(log.log_end_offset);
        epochs_changed |= log.epochs.truncate_from_start(log.log_start_offset);
        if epochs_changed {
            log.store_epochs()?;
        }
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Applies new settings (a topic config change); they take effect on
    /// the next append, roll or retention check.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(Segment::base_offset).collect()
    }

    pub fn leader_epochs(&self) -> &LeaderEpochCache {
        &self.epochs
    }

    pub(crate) fn lease(&self) -> Weak<()> {
        Arc::downgrade(&self.lease)
    }

    fn active(&self) -> &Segment {
        // `segments` is never empty (see `open`).
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Appends a produce request's record set as the leader: validates every
    /// batch (framing, magic 2, size against `max_message_bytes`, CRC,
    /// counts, client rules) before writing anything, assigns offsets from
    /// the log end, stamps `leader_epoch`, applies LogAppendTime.
    pub fn append_as_leader(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.append_leader(records, leader_epoch, now_ms, true)
    }

    /// Like [`Self::append_as_leader`], for the broker's own coordinators
    /// (Kafka's `AppendOrigin.Coordinator`): the client-only rules are
    /// skipped, so control batches (transaction markers) are accepted.
    pub fn append_as_coordinator(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.append_leader(records, leader_epoch, now_ms, false)
    }

    fn append_leader(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        from_client: bool,
    ) -> Result<AppendInfo, LogError> {
        let max = self.config.max_message_bytes;
        let mut infos = std::mem::take(&mut self.infos);
        infos.clear();
        let mut record_count = 0u64;
        let mut span = 0i64;
        for item in batch::batches(records) {
            let (start, header) = item?;
            if header.size() > max as usize {
                self.infos = infos;
                return Err(LogError::MessageTooLarge {
                    size: header.size(),
                    max,
                });
            }
            let checked = records
                .get(start..start + header.size())
                .ok_or_else(|| LogError::CorruptRecord {
                    reason: "batch extends past the record set".into(),
                })
                .and_then(batch::validate)
                .and_then(|h| match from_client {
                    true => batch::check_client_batch(&h).map(|()| h),
                    false => Ok(h),
                });
            let header = match checked {
                Ok(h) => h,
                Err(e) => {
                    self.infos = infos;
                    return Err(e);
                }
            };
            record_count += header.records_count as u64;
            span += i64::from(header.last_offset_delta) + 1;
            infos.push(BatchInfo {
                rel_pos: start,
                header,
            });
        }
        if infos.is_empty() {
            self.infos = infos;
            return Ok(self.empty_append());
        }
        let base_offset = self.log_end_offset;
        let last_offset = match base_offset.checked_add(span - 1) {
            Some(last) if span - 1 <= i64::from(i32::MAX) => last,
            _ => {
                self.infos = infos;
                return Err(LogError::InvalidRecord {
                    reason: format!("a single append may not span {span} offsets"),
                });
            }
        };

        // Assign offsets and timestamps in a copy: the request stays as is
        // until everything is known to be fine.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(records);
        let log_append = self.config.timestamp_type == TimestampType::LogAppendTime;
        let mut next = base_offset;
        let mut max_ts = -1i64;
        let mut offset_of_max_ts = -1i64;
        for info in infos.iter_mut() {
            let end = info.rel_pos + info.header.size();
            if let Some(b) = scratch.get_mut(info.rel_pos..end) {
                batch::set_base_offset(b, next);
                batch::set_partition_leader_epoch(b, leader_epoch);
                if log_append {
                    batch::set_timestamp(b, TimestampType::LogAppendTime, now_ms);
                    info.header.max_timestamp = now_ms;
                } else if info.header.timestamp_type() == TimestampType::LogAppendTime {
                    batch::set_timestamp(b, TimestampType::CreateTime, info.header.max_timestamp);
                }
            }
            info.header.base_offset = next;
            info.header.partition_leader_epoch = leader_epoch;
            if info.header.max_timestamp > max_ts {
                max_ts = info.header.max_timestamp;
                offset_of_max_ts = if log_append {
                    base_offset
                } else {
                    info.header.last_offset()
                };
            }
            next = info.header.next_offset();
        }

        let result = self.write(
            &scratch,
            &infos,
            base_offset,
            last_offset,
            Some(now_ms),
            |epochs| leader_epoch >= 0 && epochs.assign(leader_epoch, base_offset),
        );
        let batch_count = infos.len();
        self.scratch = scratch;
        self.infos = infos;
        result?;
        self.after_append(record_count, Some(now_ms))?;
        Ok(AppendInfo {
            base_offset,
            last_offset,
            max_timestamp: max_ts,
            offset_of_max_timestamp: offset_of_max_ts,
            log_append_time: if log_append { now_ms } else { -1 },
            log_start_offset: self.log_start_offset,
            record_count,
            batch_count,
            size_bytes: records.len(),
        })
    }

    /// Appends batches replicated from the leader as they are: offsets and
    /// epochs kept, CRCs validated, offsets required to start at or after
    /// the log end and to increase.
    pub fn append_as_follower(&mut self, records: &[u8]) -> Result<AppendInfo, LogError> {
        let mut infos = std::mem::take(&mut self.infos);
        infos.clear();
        let result = self.validate_follower(records, &mut infos);
        let result = result.and_then(|record_count| {
            let (Some(first), Some(last)) = (infos.first(), infos.last()) else {
                return Ok(None);
            };
            let (base_offset, last_offset) = (first.header.base_offset, last.header.last_offset());
            let new_epochs: Vec<(i32, i64)> = infos
                .iter()
                .map(|i| (i.header.partition_leader_epoch, i.header.base_offset))
                .collect();
            self.write(records, &infos, base_offset, last_offset, None, |epochs| {
                let mut changed = false;
                for &(epoch, offset) in &new_epochs {
                    if epoch >= 0 && epochs.latest_epoch().is_none_or(|l| l < epoch) {
                        changed |= epochs.assign(epoch, offset);
                    }
                }
                changed
            })?;
            let (max_ts, offset_of_max_ts) = infos.iter().fold((-1, -1), |(ts, off), i| {
                if i.header.max_timestamp > ts {
                    (i.header.max_timestamp, i.header.last_offset())
                } else {
                    (ts, off)
                }
            });
            Ok(Some((
                record_count,
                base_offset,
                last_offset,
                max_ts,
                offset_of_max_ts,
                infos.len(),
            )))
        });
        self.infos = infos;
        let Some((
            record_count,
            base_offset,
            last_offset,
            max_timestamp,
            offset_of_max_timestamp,
            batch_count,
        )) = result?
        else {
            return Ok(self.empty_append());
        };
        self.after_append(record_count, None)?;
        Ok(AppendInfo {
            base_offset,
            last_offset,
            max_timestamp,
            offset_of_max_timestamp,
            log_append_time: -1,
            log_start_offset: self.log_start_offset,
            record_count,
            batch_count,
            size_bytes: records.len(),
        })
    }

    fn validate_follower(
        &self,
        records: &[u8],
        infos: &mut Vec<BatchInfo>,
    ) -> Result<u64, LogError> {
        let mut expected = self.log_end_offset;
        let mut record_count = 0u64;
        for item in batch::batches(records) {
            let (start, header) = item?;
            let header: BatchHeader = records
                .get(start..start + header.size())
                .ok_or_else(|| LogError::CorruptRecord {
                    reason: "batch extends past the record set".into(),
                })
                .and_then(batch::validate)?;
            if header.base_offset < expected {
                return Err(LogError::UnexpectedAppendOffset {
                    first_offset: header.base_offset,
                    log_end_offset: expected,
                });
            }
            expected = header.next_offset();
            record_count += header.records_count as u64;
            infos.push(BatchInfo {
                rel_pos: start,
                header,
            });
        }
        Ok(record_count)
    }

    /// Rolls if needed, records new leader epochs (persisting them first),
    /// then writes `data` to the active segment.
    fn write(
        &mut self,
        data: &[u8],
        infos: &[BatchInfo],
        first_offset: i64,
        last_offset: i64,
        now_ms: Option<i64>,
        assign_epochs: impl FnOnce(&mut LeaderEpochCache) -> bool,
    ) -> Result<(), LogError> {
        self.roll_if_needed(data.len() as u64, first_offset, last_offset, now_ms)?;
        if assign_epochs(&mut self.epochs) {
            self.store_epochs()?;
        }
        let interval = self.config.index_interval_bytes;
        let now = now_ms.unwrap_or_else(wall_clock_ms);
        self.active_mut().append(data, infos, interval, now)?;
        self.log_end_offset = last_offset.saturating_add(1);
        Ok(())
    }

    fn empty_append(&self) -> AppendInfo {
        AppendInfo {
            base_offset: -1,
            last_offset: -1,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            log_append_time: -1,
            log_start_offset: self.log_start_offset,
            record_count: 0,
            batch_count: 0,
            size_bytes: 0,
        }
    }

    /// Kafka's `shouldRoll`: the active segment is non-empty and the append
    /// would overflow its size, it is older than `segment_ms`, or the new
    /// offsets cannot be stored relative to its base.
    fn roll_if_needed(
        &mut self,
        bytes: u64,
        first_offset: i64,
        last_offset: i64,
        now_ms: Option<i64>,
    ) -> Result<(), LogError> {
        let limit = self.config.segment_bytes.clamp(1, MAX_SEGMENT_BYTES);
        let segment_ms = self.config.segment_ms;
        let active = self.active_mut();
        if active.size() == 0 {
            if first_offset != active.base_offset()
                && !fits_relative(active.base_offset(), last_offset)
            {
                // An empty segment far below a replicated batch: replace it.
                let last = self.segments.len() - 1;
                self.replace_segments(last, first_offset)?;
            }
            return Ok(());
        }
        let too_big = active.size().saturating_add(bytes) > limit;
        let too_old = match (segment_ms, now_ms) {
            (Some(ms), Some(now)) => now.saturating_sub(active.roll_start_ms(now)) > ms as i64,
            _ => false,
        };
        if too_big || too_old || !fits_relative(active.base_offset(), last_offset) {
            self.roll(first_offset)?;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at `base_offset`. The
    /// sealed segment is fsynced on another thread, as Kafka's roll does
    /// (fsyncing a 1 GiB segment inline stalled every producer of the
    /// partition for hundreds of milliseconds); the recovery point moves
    /// past it once that is done, so recovery after a crash rescans it if
    /// the sync did not finish. At most one sync is outstanding.
    fn roll(&mut self, base_offset: i64) -> Result<(), LogError> {
        self.finish_pending_sync()?;
        let sealed_base = self.active().base_offset();
        if self.recovery_point != Some(sealed_base) {
            // Everything below the outgoing segment is fsynced; say so before
            // it becomes a rolled segment that recovery would otherwise skip.
            self.store_recovery_point(sealed_base)?;
        }
        let sync = self.active_mut().seal_unsynced()?;
        let segment = Segment::create(self.dir.clone(), base_offset)?;
        tracing::debug!(
            "{}: rolled a new segment at offset {base_offset}",
            self.dir.display()
        );
        self.segments.push(segment);
        self.dir_dirty = true;
        let dir = self.dir.clone();
        let handle = std::thread::Builder::new()
            .name("segment-sync".into())
            .spawn(move || sync_rolled_segment(&dir, &sync, base_offset))
            .map_err(|e| LogError::io("starting a segment sync thread", e))?;
        self.pending_sync = Some(PendingSync {
            handle,
            recovery_point: base_offset,
        });
        Ok(())
    }

    /// Waits for the last rolled segment's fsync; its failure is this
    /// log's failure (Kafka takes the log directory offline).
    fn finish_pending_sync(&mut self) -> Result<(), LogError> {
        let Some(pending) = self.pending_sync.take() else {
            return Ok(());
        };
        match pending.handle.join() {
            Ok(Ok(())) => {
                self.recovery_point = Some(pending.recovery_point);
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(LogError::io(
                format!("syncing a rolled segment in {}", self.dir.display()),
                std::io::Error::other("the sync thread panicked"),
            )),
        }
    }

    fn store_recovery_point(&mut self, offset: i64) -> Result<(), LogError> {
        checkpoint::store_offset(&self.dir, RECOVERY_POINT_FILE, offset).map_err(|e| {
            LogError::io(
                format!("writing {RECOVERY_POINT_FILE} in {}", self.dir.display()),
                e,
            )
        })?;
        self.recovery_point = Some(offset);
        Ok(())
    }

    /// After truncation the recovery point may lie beyond segments that
    /// will be rewritten: bring it back to the active segment.
    fn lower_recovery_point(&mut self) -> Result<(), LogError> {
        let active = self.active().base_offset();
        match self.recovery_point {
            Some(rp) if rp > active => self.store_recovery_point(active),
            _ => Ok(()),
        }
    }

    /// Unclean shutdown: validates the rolled segments at or above the
    /// recovery point (their fsync may not have finished), fsyncs them, and
    /// drops every segment after the first torn one. Returns the leader
    /// epochs found. The active segment is recovered by the caller.
    fn recover_rolled_segments(&mut self) -> Result<Vec<(i32, i64)>, LogError> {
        let Some(rp) = self.recovery_point else {
            return Ok(Vec::new());
        };
        let last = self.segments.len() - 1;
        let first = self
            .segments
            .iter()
            .rposition(|s| s.base_offset() <= rp)
            .unwrap_or(0);
        let interval = self.config.index_interval_bytes;
        let mut epochs = Vec::new();
        for i in first..last {
            let next_base = self.segments[i + 1].base_offset();
            let r = self.segments[i].recover(interval)?;
            epochs.extend(r.epochs);
            if r.next_offset != next_base {
                tracing::warn!(
                    "{}: rolled segment {} ends at offset {} short of the next segment's base {next_base} ({} bytes truncated); dropping the segments after it",
                    self.dir.display(),
                    self.segments[i].base_offset(),
                    r.next_offset,
                    r.truncated_bytes
                );
                for seg in self.segments.drain(i + 1..) {
                    seg.delete()?;
                }
                self.dir_dirty = true;
                break;
            }
            self.segments[i].seal_unsynced()?.run()?;
        }
        let active = self.active().base_offset();
        if active > rp {
            self.store_recovery_point(active)?;
        }
        Ok(epochs)
    }

    /// Time-based roll check, for a periodic task (appends check it too).
    pub fn maybe_roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        let Some(ms) = self.config.segment_ms else {
            return Ok(());
        };
        let active = self.active_mut();
        if active.size() > 0 && now_ms.saturating_sub(active.roll_start_ms(now_ms)) > ms as i64 {
            let leo = self.log_end_offset;
            self.roll(leo)?;
        }
        Ok(())
    }

    fn after_append(&mut self, records: u64, now_ms: Option<i64>) -> Result<(), LogError> {
        self.unflushed_messages += records;
        if self.last_flush_ms.is_none() {
            self.last_flush_ms = now_ms;
        }
        let by_count = self
            .config
            .flush_interval_messages
            .is_some_and(|n| self.unflushed_messages >= n);
        if by_count {
            return self.flush_at(now_ms);
        }
        if let Some(now) = now_ms {
            self.maybe_flush(now)?;
        }
        Ok(())
    }

    /// Flushes when `flush_interval_ms` has passed since the last flush;
    /// returns whether it did. For a periodic task.
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<bool, LogError> {
        let due = match (self.config.flush_interval_ms, self.last_flush_ms) {
            (Some(ms), Some(last)) => {
                self.unflushed_messages > 0 && now_ms.saturating_sub(last) >= ms as i64
            }
            _ => false,
        };
        if due {
            self.flush_at(Some(now_ms))?;
        }
        Ok(due)
    }

    /// fsyncs the active segment's data and indexes (older segments were
    /// fsynced when rolled) and any new directory entries.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.flush_at(None)
    }

    fn flush_at(&mut self, now_ms: Option<i64>) -> Result<(), LogError> {
        self.finish_pending_sync()?;
        self.active_mut().flush()?;
        if self.dir_dirty {
            let sync = |d: &Path| {
                checkpoint::sync_dir(d)
                    .map_err(|e| LogError::io(format!("syncing {}", d.display()), e))
            };
            sync(&self.dir)?;
            self.dir_dirty = false;
        }
        self.unflushed_messages = 0;
        self.last_flush_ms = now_ms.or(self.last_flush_ms);
        Ok(())
    }

    /// Reads whole batches starting with the batch that holds `start_offset`,
    /// up to `max_bytes` and excluding batches that end at or after
    /// `max_offset` (the high watermark for consumers, the log end for
    /// followers). If `min_one_batch` and the first batch alone exceeds
    /// `max_bytes`, it is returned whole (Kafka's rule, so consumers always
    /// progress). The data is `pread` from the segment files, one read per
    /// segment touched; it continues into the next segment when budget is
    /// left (only then is the data copied once, to join the parts).
    pub fn read(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<ReadInfo, LogError> {
        if start_offset < self.log_start_offset || start_offset > self.log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                requested: start_offset,
                start: self.log_start_offset,
                end: self.log_end_offset,
            });
        }
        let mut info = ReadInfo {
            records: Bytes::new(),
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
            first_batch_offset: -1,
            next_offset: start_offset,
        };
        if start_offset == self.log_end_offset || start_offset >= max_offset {
            return Ok(info);
        }
        let interval = self.config.index_interval_bytes;
        let mut parts: Vec<Bytes> = Vec::new();
        let mut budget = max_bytes;
        let mut target = start_offset;
        let mut i = self.segment_index(start_offset);
        while let Some(segment) = self.segments.get(i) {
            match segment.read(
                target,
                budget,
                max_offset,
                min_one_batch && parts.is_empty(),
                interval,
            )? {
                SegmentRead::NotHere => i += 1,
                SegmentRead::Stop => break,
                SegmentRead::Data {
                    bytes,
                    first_offset,
                    next_offset,
                    reached_end,
                } => {
                    if parts.is_empty() {
                        info.first_batch_offset = first_offset;
                    }
                    budget = budget.saturating_sub(bytes.len());
                    info.next_offset = next_offset;
                    parts.push(bytes);
                    if !reached_end || budget == 0 {
                        break;
                    }
                    target = next_offset;
                    i += 1;
                }
            }
        }
        info.records = match parts.len() {
            0 => Bytes::new(),
            1 => parts.pop().unwrap_or_default(),
            _ => {
                let mut joined = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
                for p in &parts {
                    joined.extend_from_slice(p);
                }
                joined.freeze()
            }
        };
        Ok(info)
    }

    /// Index of the segment that would hold `offset`.
    fn segment_index(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1)
    }

    /// ListOffsets by timestamp: the first record at or after the log start
    /// whose timestamp is >= `ts`, as (offset, timestamp, leader epoch of
    /// its batch). Segments are skipped by their largest timestamp, then the
    /// time and offset indexes narrow the scan. Uncompressed batches are
    /// searched record by record; a compressed CreateTime batch is never
    /// decompressed, so it answers with its first offset (or the log start)
    /// and its `maxTimestamp`. `ts` is taken literally: the handler maps
    /// the special values (-1 latest, -2 earliest, -3 max timestamp).
    /// `None` when no record qualifies (or on I/O errors, which are logged).
    pub fn offset_for_timestamp(&self, ts: i64) -> Option<(i64, i64, i32)> {
        let interval = self.config.index_interval_bytes;
        let result = (|| {
            for (i, seg) in self.segments.iter().enumerate() {
                let below_start = self
                    .segments
                    .get(i + 1)
                    .is_some_and(|next| next.base_offset() <= self.log_start_offset);
                if below_start || seg.largest_timestamp(interval)?.timestamp < ts {
                    continue;
                }
                if let Some(found) = seg.find_by_timestamp(ts, self.log_start_offset, interval)? {
                    return Ok::<_, LogError>(Some(found));
                }
            }
            Ok(None)
        })();
        result.unwrap_or_else(|e| {
            tracing::warn!("{}: offset for timestamp {ts}: {e}", self.dir.display());
            None
        })
    }

    /// ListOffsets MAX_TIMESTAMP: the largest timestamp in the log and the
    /// offset of its record (the exact record in uncompressed CreateTime
    /// batches, the batch's first offset for LogAppendTime, the batch's last
    /// offset for compressed ones). `None` for an empty log.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let interval = self.config.index_interval_bytes;
        let result = (|| {
            let mut best: Option<(usize, super::index::TimestampOffset)> = None;
            for (i, seg) in self.segments.iter().enumerate() {
                let m = seg.largest_timestamp(interval)?;
                if m.timestamp >= 0 && best.is_none_or(|(_, b)| b.timestamp < m.timestamp) {
                    best = Some((i, m));
                }
            }
            match best {
                Some((i, m)) => self.segments[i].exact_max_timestamp(m, interval).map(Some),
                None => Ok(None),
            }
        })();
        result.unwrap_or_else(|e: LogError| {
            tracing::warn!("{}: max timestamp: {e}", self.dir.display());
            None
        })
    }

    /// DeleteRecords: raises the log start offset to `offset` (persisted)
    /// and deletes the segments wholly below it. Returns the new log start.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        if offset > self.log_end_offset || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start: self.log_start_offset,
                end: self.log_end_offset,
            });
        }
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        checkpoint::store_log_start(&self.dir, offset).map_err(|e| {
            LogError::io(
                format!("writing {LOG_START_FILE} in {}", self.dir.display()),
                e,
            )
        })?;
        self.log_start_offset = offset;
        self.delete_below_log_start()?;
        if self.epochs.truncate_from_start(offset) {
            self.store_epochs()?;
        }
        Ok(self.log_start_offset)
    }

    fn delete_below_log_start(&mut self) -> Result<usize, LogError> {
        let mut deleted = 0;
        while self.segments.len() > 1 && self.segments[1].base_offset() <= self.log_start_offset {
            self.delete_oldest()?;
            deleted += 1;
        }
        Ok(deleted)
    }

    fn delete_oldest(&mut self) -> Result<(), LogError> {
        let seg = self.segments.remove(0);
        tracing::info!(
            "{}: deleting segment {} ({} bytes)",
            self.dir.display(),
            seg.base_offset(),
            seg.size()
        );
        seg.delete()
    }

    /// Deletes whole sealed segments (never the active one): those below the
    /// log start, those whose largest timestamp (file mtime if they have no
    /// timestamps) is older than `retention_ms`, and the oldest ones while
    /// the log exceeds `retention_bytes`. Returns how many were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let interval = self.config.index_interval_bytes;
        let mut deleted = self.delete_below_log_start()?;
        if let Some(ms) = self.config.retention_ms.filter(|ms| *ms >= 0) {
            while self.segments.len() > 1 {
                let seg = &self.segments[0];
                let ts = seg.largest_timestamp(interval)?.timestamp;
                let ts = if ts >= 0 { ts } else { seg.last_modified_ms() };
                if now_ms.saturating_sub(ts) <= ms {
                    break;
                }
                self.delete_oldest()?;
                deleted += 1;
            }
        }
        if let Some(limit) = self.config.retention_bytes.filter(|b| *b >= 0) {
            let mut excess = self.size_bytes() as i64 - limit;
            while self.segments.len() > 1 && excess >= self.segments[0].size() as i64 {
                excess -= self.segments[0].size() as i64;
                self.delete_oldest()?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            let first_base = self.segments[0].base_offset();
            if first_base > self.log_start_offset {
                self.log_start_offset = first_base;
                if self.epochs.truncate_from_start(first_base) {
                    self.store_epochs()?;
                }
            }
        }
        Ok(deleted)
    }

    /// Replication truncation: removes every batch whose last offset is >=
    /// `offset` (a batch holding `offset` goes entirely; followers truncate
    /// at batch boundaries). A no-op at or past the log end.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        if offset >= self.log_end_offset {
            return Ok(());
        }
        self.finish_pending_sync()?;
        if offset < self.segments[0].base_offset() {
            return self.truncate_fully_and_start_at(offset);
        }
        let interval = self.config.index_interval_bytes;
        while self.segments.len() > 1 && self.active().base_offset() >= offset {
            if let Some(seg) = self.segments.pop() {
                seg.delete()?;
            }
        }
        let next = self.active_mut().truncate_to(offset, interval)?;
        self.log_end_offset = next.unwrap_or_else(|| self.active().base_offset());
        self.lower_recovery_point()?;
        if self.log_start_offset > self.log_end_offset {
            self.log_start_offset = self.log_end_offset;
            checkpoint::store_log_start(&self.dir, self.log_start_offset).map_err(|e| {
                LogError::io(
                    format!("writing {LOG_START_FILE} in {}", self.dir.display()),
                    e,
                )
            })?;
        }
        if self.epochs.truncate_from_end(self.log_end_offset) {
            self.store_epochs()?;
        }
        Ok(())
    }

    /// Deletes every segment and starts an empty log at `offset` (a follower
    /// too far behind the leader's log start).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        let offset = offset.max(0);
        self.replace_segments(0, offset)?;
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        checkpoint::store_log_start(&self.dir, offset).map_err(|e| {
            LogError::io(
                format!("writing {LOG_START_FILE} in {}", self.dir.display()),
                e,
            )
        })?;
        if self.epochs.clear() {
            self.store_epochs()?;
        }
        Ok(())
    }

    /// Deletes the segments from index `from` on and appends a new empty one
    /// at `base_offset`. Whatever fails, the list is left non-empty.
    fn replace_segments(&mut self, from: usize, base_offset: i64) -> Result<(), LogError> {
        self.finish_pending_sync()?;
        let old: Vec<Segment> = self.segments.drain(from..).collect();
        let mut result = Ok(());
        for seg in old {
            if let Err(e) = seg.delete() {
                result = result.and(Err(e));
            }
        }
        let created = Segment::create(self.dir.clone(), base_offset);
        self.dir_dirty = true;
        match created {
            Ok(seg) => {
                self.segments.push(seg);
                result = result.and(self.lower_recovery_point());
            }
            Err(e) => {
                // A placeholder without a file: appends fail until the
                // directory is usable again; nothing panics.
                self.segments
                    .push(Segment::existing(self.dir.clone(), base_offset, 0));
                result = result.and(Err(e));
            }
        }
        result
    }

    /// OffsetForLeaderEpoch: the largest epoch <= `epoch` and its end
    /// offset; `(-1, -1)` when unknown.
    pub fn leader_epoch_end_offset(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end_offset)
    }

    /// The latest leader epoch written to this log, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    fn store_epochs(&self) -> Result<(), LogError> {
        self.epochs.store(&self.dir).map_err(|e| {
            LogError::io(
                format!("writing {LEADER_EPOCH_FILE} in {}", self.dir.display()),
                e,
            )
        })
    }

    /// Flushes everything and closes the files. The active segment gets its
    /// final time index entry, as a rolled segment does, so a clean start
    /// needs no scan to know its largest timestamp.
    pub fn close(mut self) -> Result<(), LogError> {
        self.finish_pending_sync()?;
        self.active_mut().seal()?;
        self.flush()
    }

    #[cfg(test)]
    pub(crate) fn open_handles(&self) -> usize {
        self.segments.iter().filter(|s| s.is_open()).count()
    }
}

/// What a partition directory holds.
struct DirListing {
    /// (base offset, size) of each `.log`, sorted.
    segments: Vec<(i64, u64)>,
    /// The persisted log start offset, if any.
    log_start: Option<i64>,
    /// The persisted recovery point, if any.
    recovery_point: Option<i64>,
}

/// Lists a partition directory. Removes leftovers of interrupted
/// operations: index files without a `.log`, `.deleted`/`.cleaned`/`.swap`
/// files and temporary checkpoint files.
fn scan_dir(dir: &Path) -> Result<DirListing, LogError> {
    let io = |e| LogError::io(format!("listing {}", dir.display()), e);
    let mut bases = Vec::new();
    let mut index_files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let leftover = [".deleted", ".cleaned", ".swap"]
            .iter()
            .any(|s| name.ends_with(s))
            || name == format!("{LEADER_EPOCH_FILE}.tmp")
            || name == format!("{LOG_START_FILE}.tmp")
            || name == format!("{RECOVERY_POINT_FILE}.tmp");
        if leftover {
            let _ = fs::remove_file(entry.path());
        } else if let Some(base) = name.strip_suffix(".log").and_then(parse_base_offset) {
            let size = entry.metadata().map_err(io)?.len();
            bases.push((base, size));
        } else if let Some(base) = name
            .strip_suffix(".index")
            .or_else(|| name.strip_suffix(".timeindex"))
            .and_then(parse_base_offset)
        {
            index_files.push((base, entry.path()));
        }
    }
    bases.sort_unstable();
    for (base, path) in index_files {
        if bases.binary_search_by_key(&base, |b| b.0).is_err() {
            let _ = fs::remove_file(path);
        }
    }
    let log_start = match checkpoint::load_log_start(dir) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(
                "{}: ignoring unreadable {LOG_START_FILE}: {e}",
                dir.display()
            );
            None
        }
    };
    let recovery_point = match checkpoint::load_offset(dir, RECOVERY_POINT_FILE) {
        Ok(v) => v,
        Err(e) => {
            // Unknown: recover every segment rather than trust none.
            tracing::warn!(
                "{}: unreadable {RECOVERY_POINT_FILE} ({e}); recovering every segment",
                dir.display()
            );
            Some(0)
        }
    };
    Ok(DirListing {
        segments: bases,
        log_start,
        recovery_point,
    })
}

/// A rolled segment's fsync running on its own thread, and the recovery
/// point it establishes.
#[derive(Debug)]
struct PendingSync {
    handle: std::thread::JoinHandle<Result<(), LogError>>,
    recovery_point: i64,
}

/// fsyncs a rolled segment and the directory (the new segment's entry),
/// then moves the recovery point to the new segment.
fn sync_rolled_segment(dir: &Path, sync: &SegmentSync, new_base: i64) -> Result<(), LogError> {
    sync.run()?;
    checkpoint::sync_dir(dir).map_err(|e| LogError::io(format!("syncing {}", dir.display()), e))?;
    checkpoint::store_offset(dir, RECOVERY_POINT_FILE, new_base).map_err(|e| {
        LogError::io(
            format!("writing {RECOVERY_POINT_FILE} in {}", dir.display()),
            e,
        )
    })
}

impl Drop for PartitionLog {
    /// A log is dropped before its directory is renamed for deletion: no
    /// sync thread may still write into it then.
    fn drop(&mut self) {
        if let Some(pending) = self.pending_sync.take() {
            let _ = pending.handle.join();
        }
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
