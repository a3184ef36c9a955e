//! One segment: a `.log` file of batches plus its `.index` and `.timeindex`.
//!
//! The segment owns all file I/O of the log. It opens its file handle
//! lazily (a broker with 10,000 idle partitions holds no descriptors for
//! them), loads its indexes on first use (rebuilding them from the `.log`
//! when a file is missing or fails its sanity checks), and reads with
//! `pread` into a [`Bytes`] that is handed to the network as is.
//!
//! # On disk
//! `<20-digit base offset>.log` holds v2 batches back to back, exactly as
//! appended; the base offset is a lower bound of the offsets inside. The
//! index formats are documented in [`super::index`]. The `.log` is only ever
//! appended to, except by recovery and replication truncation.
//!
//! # Durability
//! Appends are `pwrite`s. [`Segment::flush`] fsyncs the `.log` and writes and
//! fsyncs the index entries not yet on disk; [`Segment::seal`] does the same
//! when the segment stops being the active one, after adding the final
//! time index entry (its largest timestamp) as Kafka does.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::UNIX_EPOCH;

use bytes::{Bytes, BytesMut};

use super::batch::{self, BatchHeader, HEADER_SIZE};
use super::index::{
    fits_relative, OffsetIndex, TimeIndex, TimestampOffset, OFFSET_ENTRY_SIZE, TIME_ENTRY_SIZE,
};
use super::{LogError, TimestampType};

/// Bytes read at a time while validating a whole segment.
const RECOVERY_CHUNK: usize = 1 << 20;
/// Bytes read at a time while walking batch headers.
const HEADER_CHUNK: usize = 64 << 10;
/// Upper bound of one speculative read for a fetch.
const MAX_READ_AHEAD: usize = 64 << 20;

pub(crate) fn log_file_name(base_offset: i64) -> String {
    format!("{base_offset:020}.log")
}

/// Parses the base offset out of a segment file stem (`00000000000000001234`).
pub(crate) fn parse_base_offset(stem: &str) -> Option<i64> {
    if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// A batch being appended: where it sits in the appended bytes, and its
/// (already patched) header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchInfo {
    pub rel_pos: usize,
    pub header: BatchHeader,
}

/// The in-memory indexes of a segment and what is already on disk.
#[derive(Debug)]
pub(crate) struct Indexes {
    pub offset: OffsetIndex,
    pub time: TimeIndex,
    /// Largest batch timestamp and the last offset of its batch
    /// (timestamp -1 when none).
    pub max_ts: TimestampOffset,
    bytes_since_entry: u64,
    persisted_offset: usize,
    persisted_time: usize,
    /// The files must be rewritten from scratch (rebuilt or truncated).
    rewrite: bool,
    /// The files exist (an empty segment needs none until it has data).
    files_exist: bool,
}

impl Indexes {
    /// Indexes of a segment without data, whose files need not exist yet.
    fn fresh(base_offset: i64) -> Self {
        Indexes {
            rewrite: false,
            ..Indexes::rebuilt(base_offset)
        }
    }

    /// Indexes being rebuilt: the files are replaced on the next write.
    fn rebuilt(base_offset: i64) -> Self {
        Indexes {
            offset: OffsetIndex::new(base_offset),
            time: TimeIndex::new(base_offset),
            max_ts: TimestampOffset {
                timestamp: -1,
                offset: base_offset,
            },
            bytes_since_entry: 0,
            persisted_offset: 0,
            persisted_time: 0,
            rewrite: true,
            files_exist: false,
        }
    }

    /// Accounts for one batch at `position`: Kafka's rule is an index entry
    /// (pointing at this batch) once more than `interval` bytes were
    /// appended since the last one.
    fn on_batch(&mut self, position: u64, header: &BatchHeader, interval: u32) {
        let last_offset = header.last_offset();
        if header.max_timestamp > self.max_ts.timestamp {
            self.max_ts = TimestampOffset {
                timestamp: header.max_timestamp,
                offset: last_offset,
            };
        }
        if self.bytes_since_entry > u64::from(interval) {
            self.offset.append(last_offset, position);
            self.time
                .maybe_append(self.max_ts.timestamp, self.max_ts.offset);
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += header.size() as u64;
    }

    /// The final time index entry of a segment: its largest timestamp.
    fn add_final_time_entry(&mut self) {
        self.time
            .maybe_append(self.max_ts.timestamp, self.max_ts.offset);
    }
}

/// Outcome of a full validation scan of the active segment.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub next_offset: i64,
    pub truncated_bytes: u64,
    /// (epoch, first offset) of each increase of the partition leader epoch.
    pub epochs: Vec<(i32, i64)>,
}

/// What a segment contributes to a read.
#[derive(Debug)]
pub(crate) enum SegmentRead {
    /// No batch here reaches the target offset: try the next segment.
    NotHere,
    /// The next batch is excluded (by `max_offset` or the byte budget).
    Stop,
    Data {
        bytes: Bytes,
        first_offset: i64,
        next_offset: i64,
        /// The read stopped at the end of the segment's data, so the next
        /// segment may continue it.
        reached_end: bool,
    },
}

/// One segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    dir: Arc<Path>,
    base_offset: i64,
    /// Valid bytes in the `.log`.
    size: u64,
    file: OnceLock<File>,
    indexes: OnceLock<Indexes>,
    /// The largest timestamp, when known without loading the indexes (from
    /// the time index's last entry or the clean-start scan).
    max_ts_hint: OnceLock<TimestampOffset>,
    /// Start of the time-based roll clock: the time of the first append, or
    /// for a segment found on disk, its first batch's timestamp.
    roll_start_ms: Option<i64>,
}

impl Segment {
    /// Creates an empty segment file (replacing stale index files).
    pub fn create(dir: Arc<Path>, base_offset: i64) -> Result<Segment, LogError> {
        let seg = Segment::existing(dir, base_offset, 0);
        let path = seg.log_path();
        File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| LogError::io(format!("creating {}", path.display()), e))?;
        for p in [seg.index_path(), seg.time_index_path()] {
            remove_if_exists(&p)?;
        }
        let _ = seg.indexes.set(Indexes::fresh(base_offset));
        Ok(seg)
    }

    /// A segment found on disk; nothing is opened or read.
    pub fn existing(dir: Arc<Path>, base_offset: i64, size: u64) -> Segment {
        Segment {
            dir,
            base_offset,
            size,
            file: OnceLock::new(),
            indexes: OnceLock::new(),
            max_ts_hint: OnceLock::new(),
            roll_start_ms: None,
        }
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(log_file_name(self.base_offset))
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir.join(format!("{:020}.index", self.base_offset))
    }

    pub fn time_index_path(&self) -> PathBuf {
        self.dir.join(format!("{:020}.timeindex", self.base_offset))
    }

    fn io_err(&self, what: &str, e: io::Error) -> LogError {
        LogError::io(format!("{what} {}", self.log_path().display()), e)
    }

    /// The `.log` handle, opened on first use.
    fn file(&self) -> Result<&File, LogError> {
        if let Some(f) = self.file.get() {
            return Ok(f);
        }
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.log_path())
            .map_err(|e| self.io_err("opening", e))?;
        Ok(self.file.get_or_init(|| f))
    }

    /// Whether this segment currently holds a file descriptor.
    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        self.file.get().is_some()
    }

    /// The indexes, loaded (or rebuilt) on first use.
    pub fn indexes(&self, interval: u32) -> Result<&Indexes, LogError> {
        if let Some(ix) = self.indexes.get() {
            return Ok(ix);
        }
        if self.size == 0 {
            return Ok(self
                .indexes
                .get_or_init(|| Indexes::fresh(self.base_offset)));
        }
        let ix = match self.read_index_files() {
            Ok(ix) => ix,
            Err(reason) => {
                tracing::warn!(
                    "rebuilding indexes of {}: {reason}",
                    self.log_path().display()
                );
                self.rebuild_indexes(interval, false)?.0
            }
        };
        Ok(self.indexes.get_or_init(|| ix))
    }

    fn indexes_mut(&mut self, interval: u32) -> Result<&mut Indexes, LogError> {
        self.indexes(interval)?;
        self.indexes
            .get_mut()
            .ok_or_else(|| LogError::io("loading indexes", io::Error::other("index not loaded")))
    }

    fn read_index_files(&self) -> Result<Indexes, String> {
        let offset_bytes =
            fs::read(self.index_path()).map_err(|e| format!("reading the offset index: {e}"))?;
        let time_bytes =
            fs::read(self.time_index_path()).map_err(|e| format!("reading the time index: {e}"))?;
        let offset = OffsetIndex::decode(self.base_offset, &offset_bytes, self.size)?;
        let time = TimeIndex::decode(self.base_offset, &time_bytes)?;
        let mut max_ts = time.last().unwrap_or(TimestampOffset {
            timestamp: -1,
            offset: self.base_offset,
        });
        if let Some(hint) = self.max_ts_hint.get() {
            if hint.timestamp > max_ts.timestamp {
                max_ts = *hint;
            }
        }
        Ok(Indexes {
            bytes_since_entry: self.size - offset.last().map_or(0, |e| u64::from(e.position)),
            persisted_offset: offset.len(),
            persisted_time: time.len(),
            offset,
            time,
            max_ts,
            rewrite: false,
            files_exist: true,
        })
    }

    /// Rebuilds both indexes by walking the batch headers of the `.log`
    /// (no CRC checks: this segment already passed them when written or
    /// recovered) and writes them out. Also returns the offset after the
    /// last batch, if any.
    fn rebuild_indexes(
        &self,
        interval: u32,
        sync: bool,
    ) -> Result<(Indexes, Option<i64>), LogError> {
        let mut ix = Indexes::rebuilt(self.base_offset);
        let mut next_offset = None;
        if self.size > 0 {
            let file = self.file()?;
            let mut reader = Reader::new(file, self.size);
            let mut pos = 0;
            loop {
                match reader
                    .header(pos, HEADER_CHUNK)
                    .map_err(|e| self.io_err("reading", e))?
                {
                    Step::End => break,
                    Step::Bad(reason) => {
                        tracing::warn!(
                            "{}: unreadable batch at position {pos} while indexing: {reason}",
                            self.log_path().display()
                        );
                        break;
                    }
                    Step::Batch(h) => {
                        ix.on_batch(pos, &h, interval);
                        next_offset = Some(h.next_offset());
                        pos += h.size() as u64;
                    }
                }
            }
        }
        ix.add_final_time_entry();
        if let Err(e) = write_index_files(self, &mut ix, sync) {
            // The in-memory indexes serve; the files are rebuilt next time.
            tracing::warn!("writing rebuilt indexes: {e}");
        }
        Ok((ix, next_offset))
    }

    /// Validates the whole segment batch by batch (header, CRC, increasing
    /// offsets), truncates it at the first batch that fails, and rebuilds
    /// both indexes. Kafka's `LogSegment.recover`.
    pub fn recover(&mut self, interval: u32) -> Result<Recovered, LogError> {
        // A private handle: recovery of many partitions must not leave
        // descriptors behind.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.log_path())
            .map_err(|e| self.io_err("opening", e))?;
        let end = file
            .metadata()
            .map_err(|e| self.io_err("inspecting", e))?
            .len();
        if end == 0 {
            self.size = 0;
            self.indexes = OnceLock::from(Indexes::fresh(self.base_offset));
            return Ok(Recovered {
                next_offset: self.base_offset,
                truncated_bytes: 0,
                epochs: Vec::new(),
            });
        }
        let mut ix = Indexes::rebuilt(self.base_offset);
        let mut epochs: Vec<(i32, i64)> = Vec::new();
        let mut next_offset = self.base_offset;
        let mut pos = 0u64;
        let mut reader = Reader::new(&file, end);
        let mut problem = None;
        loop {
            let h = match reader
                .header(pos, RECOVERY_CHUNK)
                .map_err(|e| self.io_err("reading", e))?
            {
                Step::End => break,
                Step::Bad(reason) => {
                    problem = Some(reason);
                    break;
                }
                Step::Batch(h) => h,
            };
            let bytes = reader
                .get(pos, h.size(), RECOVERY_CHUNK)
                .map_err(|e| self.io_err("reading", e))?;
            if let Err(e) = bytes.map_or(
                Err(LogError::CorruptRecord {
                    reason: "torn batch".into(),
                }),
                batch::validate,
            ) {
                problem = Some(e.to_string());
                break;
            }
            if h.base_offset < next_offset || !fits_relative(self.base_offset, h.last_offset()) {
                problem = Some(format!(
                    "batch at offset {} does not follow offset {}",
                    h.base_offset,
                    next_offset - 1
                ));
                break;
            }
            let latest = epochs.last().map(|e| e.0);
            if h.partition_leader_epoch >= 0 && latest.is_none_or(|l| l < h.partition_leader_epoch)
            {
                epochs.push((h.partition_leader_epoch, h.base_offset));
            }
            ix.on_batch(pos, &h, interval);
            next_offset = h.next_offset();
            pos += h.size() as u64;
        }
        let truncated_bytes = end - pos;
        if truncated_bytes > 0 {
            tracing::warn!(
                "recovery of {}: truncating {truncated_bytes} bytes at position {pos}: {}",
                self.log_path().display(),
                problem.as_deref().unwrap_or("trailing bytes")
            );
            file.set_len(pos)
                .map_err(|e| self.io_err("truncating", e))?;
            file.sync_all().map_err(|e| self.io_err("syncing", e))?;
        }
        drop(file);
        self.size = pos;
        ix.add_final_time_entry();
        write_index_files(self, &mut ix, true)?;
        self.indexes = OnceLock::from(ix);
        self.max_ts_hint = OnceLock::new();
        Ok(Recovered {
            next_offset,
            truncated_bytes,
            epochs,
        })
    }

    /// After a clean shutdown: finds the next offset by walking only the
    /// batches after the last offset index entry, and learns the largest
    /// timestamp on the way. `None` when the tail does not parse (the caller
    /// then recovers the segment).
    pub fn scan_tail(&mut self) -> Result<Option<i64>, LogError> {
        if self.size == 0 {
            return Ok(Some(self.base_offset));
        }
        let (start, expect_last) = match last_offset_entry(&self.index_path(), self.base_offset) {
            Ok(Some(e)) if u64::from(e.position) < self.size => {
                (u64::from(e.position), Some(e.offset))
            }
            Ok(Some(_)) | Err(_) => return Ok(None),
            Ok(None) => (0, None),
        };
        let file = File::open(self.log_path()).map_err(|e| self.io_err("opening", e))?;
        let mut reader = Reader::new(&file, self.size);
        let mut pos = start;
        let mut next_offset = None;
        let mut max_ts =
            last_time_entry(&self.time_index_path(), self.base_offset).unwrap_or(TimestampOffset {
                timestamp: -1,
                offset: self.base_offset,
            });
        loop {
            match reader
                .header(pos, HEADER_CHUNK)
                .map_err(|e| self.io_err("reading", e))?
            {
                Step::End => break,
                Step::Bad(_) => return Ok(None),
                Step::Batch(h) => {
                    if pos == start && expect_last.is_some_and(|o| o != h.last_offset()) {
                        return Ok(None);
                    }
                    if next_offset.is_some_and(|n| h.base_offset < n) {
                        return Ok(None);
                    }
                    if h.max_timestamp > max_ts.timestamp {
                        max_ts = TimestampOffset {
                            timestamp: h.max_timestamp,
                            offset: h.last_offset(),
                        };
                    }
                    next_offset = Some(h.next_offset());
                    pos += h.size() as u64;
                }
            }
        }
        let _ = self.max_ts_hint.set(max_ts);
        Ok(next_offset)
    }

    /// Appends `data` (whole batches, offsets assigned) and indexes it.
    pub fn append(
        &mut self,
        data: &[u8],
        batches: &[BatchInfo],
        interval: u32,
        now_ms: i64,
    ) -> Result<(), LogError> {
        if data.is_empty() {
            return Ok(());
        }
        self.indexes_mut(interval)?;
        let file = self.file()?;
        if let Err(e) = file.write_all_at(data, self.size) {
            // Leave no partial batch behind for readers or recovery.
            let _ = file.set_len(self.size);
            return Err(self.io_err("appending to", e));
        }
        let start = self.size;
        if start == 0 {
            self.roll_start_ms = Some(now_ms);
        }
        if let Some(ix) = self.indexes.get_mut() {
            for b in batches {
                ix.on_batch(start + b.rel_pos as u64, &b.header, interval);
            }
        }
        self.size += data.len() as u64;
        Ok(())
    }

    /// Start of the time-based roll clock; reads the first batch header of a
    /// segment found on disk once.
    pub fn roll_start_ms(&mut self, now_ms: i64) -> i64 {
        if let Some(t) = self.roll_start_ms {
            return t;
        }
        // A private handle: idle partitions must not keep descriptors.
        let first = File::open(self.log_path())
            .ok()
            .and_then(|f| Reader::new(&f, self.size).header(0, HEADER_SIZE).ok())
            .and_then(|s| match s {
                Step::Batch(h) if h.max_timestamp >= 0 => Some(h.max_timestamp.min(now_ms)),
                _ => None,
            });
        let t = first.unwrap_or(now_ms);
        self.roll_start_ms = Some(t);
        t
    }

    /// fsyncs the `.log` and writes (and fsyncs) new index entries.
    pub fn flush(&mut self) -> Result<(), LogError> {
        if let Some(f) = self.file.get() {
            f.sync_data().map_err(|e| self.io_err("syncing", e))?;
        }
        if let Some(mut ix) = self.indexes.take() {
            let r = write_index_files(self, &mut ix, true);
            self.indexes = OnceLock::from(ix);
            r?;
        }
        Ok(())
    }

    /// Makes this segment read-only history: final time index entry, all
    /// data and indexes fsynced, the file handle closed (reopened lazily
    /// when read).
    pub fn seal(&mut self) -> Result<(), LogError> {
        if let Some(ix) = self.indexes.get_mut() {
            ix.add_final_time_entry();
        }
        self.flush()?;
        self.file = OnceLock::new();
        Ok(())
    }

    /// [`Segment::seal`] without waiting for the disk: the final time index
    /// entry and the index files are written (page cache) and the handle is
    /// closed; the returned [`SegmentSync`] makes it durable, off the
    /// append path.
    pub fn seal_unsynced(&mut self) -> Result<SegmentSync, LogError> {
        if let Some(mut ix) = self.indexes.take() {
            ix.add_final_time_entry();
            let r = write_index_files(self, &mut ix, false);
            self.indexes = OnceLock::from(ix);
            r?;
        }
        self.file = OnceLock::new();
        Ok(SegmentSync {
            files: vec![self.log_path(), self.index_path(), self.time_index_path()],
        })
    }

    /// Reads whole batches starting with the one holding `target`.
    pub fn read(
        &self,
        target: i64,
        budget: usize,
        max_offset: i64,
        min_one: bool,
        interval: u32,
    ) -> Result<SegmentRead, LogError> {
        if self.size == 0 {
            return Ok(SegmentRead::NotHere);
        }
        let start = self.indexes(interval)?.offset.lookup(target);
        let file = self.file()?;
        let mut reader = Reader::new(file, self.size);
        let read_ahead = budget
            .saturating_add(2 * interval as usize + HEADER_SIZE)
            .min(MAX_READ_AHEAD);
        let Some((first_pos, first)) =
            self.seek(&mut reader, u64::from(start.position), target, read_ahead)?
        else {
            return Ok(SegmentRead::NotHere);
        };
        let mut end = first_pos;
        let mut next_offset = first.base_offset;
        let mut reached_end = false;
        let mut header = first;
        loop {
            if header.last_offset() >= max_offset {
                break;
            }
            let taken = (end - first_pos) as usize;
            if taken.saturating_add(header.size()) > budget {
                if end == first_pos && min_one {
                    end += header.size() as u64;
                    next_offset = header.next_offset();
                }
                break;
            }
            end += header.size() as u64;
            next_offset = header.next_offset();
            match reader
                .header(end, HEADER_CHUNK)
                .map_err(|e| self.io_err("reading", e))?
            {
                Step::End => {
                    reached_end = true;
                    break;
                }
                Step::Bad(reason) => {
                    tracing::warn!(
                        "{}: unreadable batch at position {end}: {reason}",
                        self.log_path().display()
                    );
                    break;
                }
                Step::Batch(h) => header = h,
            }
        }
        if end == first_pos {
            return Ok(SegmentRead::Stop);
        }
        let bytes = reader
            .take(first_pos, end)
            .map_err(|e| self.io_err("reading", e))?;
        Ok(SegmentRead::Data {
            bytes,
            first_offset: first.base_offset,
            next_offset,
            reached_end,
        })
    }

    /// Walks batch headers from `pos` to the first batch whose last offset
    /// is >= `target`.
    fn seek(
        &self,
        reader: &mut Reader<'_>,
        mut pos: u64,
        target: i64,
        read_ahead: usize,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        loop {
            match reader
                .header(pos, read_ahead)
                .map_err(|e| self.io_err("reading", e))?
            {
                Step::End => return Ok(None),
                Step::Bad(reason) => {
                    return Err(LogError::CorruptRecord {
                        reason: format!(
                            "{} at position {pos}: {reason}",
                            self.log_path().display()
                        ),
                    })
                }
                Step::Batch(h) if h.last_offset() >= target => return Ok(Some((pos, h))),
                Step::Batch(h) => pos += h.size() as u64,
            }
        }
    }

    /// The largest timestamp in this segment and the last offset of its
    /// batch, cheaply: loaded indexes, else the time index's last entry,
    /// else (missing or empty time index) the rebuilt indexes.
    pub fn largest_timestamp(&self, interval: u32) -> Result<TimestampOffset, LogError> {
        if let Some(ix) = self.indexes.get() {
            return Ok(ix.max_ts);
        }
        if let Some(h) = self.max_ts_hint.get() {
            return Ok(*h);
        }
        if let Some(t) = last_time_entry(&self.time_index_path(), self.base_offset) {
            return Ok(*self.max_ts_hint.get_or_init(|| t));
        }
        Ok(self.indexes(interval)?.max_ts)
    }

    /// Modification time of the `.log` in ms, the retention fallback for
    /// segments without timestamps.
    pub fn last_modified_ms(&self) -> i64 {
        fs::metadata(self.log_path())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64)
    }

    /// ListOffsets by timestamp within this segment: the first record at or
    /// after `start_offset` whose timestamp is >= `ts`, as (offset,
    /// timestamp, leader epoch). Records of uncompressed batches are decoded
    /// for the exact answer; a compressed CreateTime batch answers with its
    /// first offset and `maxTimestamp` (it is never decompressed).
    pub fn find_by_timestamp(
        &self,
        ts: i64,
        start_offset: i64,
        interval: u32,
    ) -> Result<Option<(i64, i64, i32)>, LogError> {
        if self.size == 0 {
            return Ok(None);
        }
        let ix = self.indexes(interval)?;
        let from = ix
            .time
            .lookup(ts)
            .map_or(self.base_offset, |e| e.offset)
            .max(start_offset);
        let mut pos = u64::from(ix.offset.lookup(from).position);
        let file = self.file()?;
        let mut reader = Reader::new(file, self.size);
        loop {
            let h = match reader
                .header(pos, HEADER_CHUNK)
                .map_err(|e| self.io_err("reading", e))?
            {
                Step::End | Step::Bad(_) => return Ok(None),
                Step::Batch(h) => h,
            };
            if h.last_offset() >= start_offset && h.max_timestamp >= ts {
                let epoch = h.partition_leader_epoch;
                if h.is_compressed() || h.timestamp_type() == TimestampType::LogAppendTime {
                    return Ok(Some((
                        h.base_offset.max(start_offset),
                        h.max_timestamp,
                        epoch,
                    )));
                }
                let bytes = reader
                    .get(pos, h.size(), h.size())
                    .map_err(|e| self.io_err("reading", e))?
                    .unwrap_or(&[]);
                for r in batch::records(bytes, &h)? {
                    let r = r?;
                    if r.offset >= start_offset && r.timestamp >= ts {
                        return Ok(Some((r.offset, r.timestamp, epoch)));
                    }
                }
            }
            pos += h.size() as u64;
        }
    }

    /// ListOffsets MAX_TIMESTAMP within this segment: the exact record for
    /// uncompressed batches, the batch's last offset otherwise.
    pub fn exact_max_timestamp(
        &self,
        max: TimestampOffset,
        interval: u32,
    ) -> Result<(i64, i64), LogError> {
        let shallow = (max.offset, max.timestamp);
        let ix = self.indexes(interval)?;
        let pos = u64::from(ix.offset.lookup(max.offset).position);
        let mut reader = Reader::new(self.file()?, self.size);
        let Some((pos, h)) = self.seek(&mut reader, pos, max.offset, HEADER_CHUNK)? else {
            return Ok(shallow);
        };
        if h.is_compressed() || h.timestamp_type() == TimestampType::LogAppendTime {
            return Ok(if h.timestamp_type() == TimestampType::LogAppendTime {
                (h.base_offset, h.max_timestamp)
            } else {
                shallow
            });
        }
        let bytes = reader
            .get(pos, h.size(), h.size())
            .map_err(|e| self.io_err("reading", e))?
            .unwrap_or(&[]);
        for r in batch::records(bytes, &h)? {
            let r = r?;
            if r.timestamp == max.timestamp {
                return Ok((r.offset, r.timestamp));
            }
        }
        Ok(shallow)
    }

    /// Removes every batch whose last offset is >= `offset` (the batch
    /// holding `offset` goes entirely), then rebuilds the indexes. Returns
    /// the next offset after the remaining data, if any remains.
    pub fn truncate_to(&mut self, offset: i64, interval: u32) -> Result<Option<i64>, LogError> {
        let start = self.indexes(interval)?.offset.lookup(offset);
        let cut = {
            let mut reader = Reader::new(self.file()?, self.size);
            self.seek(&mut reader, u64::from(start.position), offset, HEADER_CHUNK)?
                .map_or(self.size, |(pos, _)| pos)
        };
        if cut < self.size {
            let file = self.file()?;
            file.set_len(cut)
                .map_err(|e| self.io_err("truncating", e))?;
            file.sync_all().map_err(|e| self.io_err("syncing", e))?;
            self.size = cut;
        }
        self.max_ts_hint = OnceLock::new();
        if self.size == 0 {
            self.roll_start_ms = None;
        }
        let (ix, next) = self.rebuild_indexes(interval, true)?;
        self.indexes = OnceLock::from(ix);
        Ok(next)
    }

    /// Deletes the segment's files: the `.log` first, so that a crash in
    /// between leaves only orphan index files, which loading removes.
    pub fn delete(self) -> Result<(), LogError> {
        let log = self.log_path();
        drop(self.file);
        remove_if_exists(&log)?;
        remove_if_exists(&self.dir.join(format!("{:020}.index", self.base_offset)))?;
        remove_if_exists(&self.dir.join(format!("{:020}.timeindex", self.base_offset)))?;
        Ok(())
    }
}

/// The files of a sealed segment still to be fsynced.
#[derive(Debug)]
pub struct SegmentSync {
    files: Vec<PathBuf>,
}

impl SegmentSync {
    /// fsyncs each file; one deleted meanwhile (retention, truncation, topic
    /// deletion) needs no sync.
    pub fn run(&self) -> Result<(), LogError> {
        for path in &self.files {
            match File::open(path) {
                Ok(f) => f
                    .sync_data()
                    .map_err(|e| LogError::io(format!("syncing {}", path.display()), e))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(format!("opening {}", path.display()), e)),
            }
        }
        Ok(())
    }
}

/// Writes the index entries that are not on disk yet (or both files whole
/// when they must be rewritten), fsyncing them when `sync`.
fn write_index_files(seg: &Segment, ix: &mut Indexes, sync: bool) -> Result<(), LogError> {
    if ix.rewrite {
        ix.persisted_offset = 0;
        ix.persisted_time = 0;
    }
    let create = !ix.files_exist && seg.size > 0;
    let mut buf = Vec::new();
    if ix.rewrite || create || ix.persisted_offset < ix.offset.len() {
        ix.offset.encode_from(ix.persisted_offset, &mut buf);
        write_tail(
            &seg.index_path(),
            &buf,
            (ix.persisted_offset * OFFSET_ENTRY_SIZE) as u64,
            ix.offset.size_bytes() as u64,
            sync,
        )?;
        ix.persisted_offset = ix.offset.len();
    }
    if ix.rewrite || create || ix.persisted_time < ix.time.len() {
        buf.clear();
        ix.time.encode_from(ix.persisted_time, &mut buf);
        write_tail(
            &seg.time_index_path(),
            &buf,
            (ix.persisted_time * TIME_ENTRY_SIZE) as u64,
            ix.time.size_bytes() as u64,
            sync,
        )?;
        ix.persisted_time = ix.time.len();
    }
    if ix.rewrite || create {
        ix.files_exist = true;
    }
    ix.rewrite = false;
    Ok(())
}

fn write_tail(path: &Path, bytes: &[u8], at: u64, total: u64, sync: bool) -> Result<(), LogError> {
    let err = |e| LogError::io(format!("writing {}", path.display()), e);
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(err)?;
    f.write_all_at(bytes, at).map_err(err)?;
    f.set_len(total).map_err(err)?;
    if sync {
        f.sync_data().map_err(err)?;
    }
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io(format!("removing {}", path.display()), e)),
    }
}

/// The last entry of an `.index` file without reading the rest. `Ok(None)`
/// for a missing or empty file, `Err` for one with a partial entry.
fn last_offset_entry(
    path: &Path,
    base_offset: i64,
) -> Result<Option<super::index::OffsetPosition>, ()> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(_) => return Ok(None),
    };
    let len = f.metadata().map_err(|_| ())?.len();
    if len == 0 {
        return Ok(None);
    }
    if !len.is_multiple_of(OFFSET_ENTRY_SIZE as u64) {
        return Err(());
    }
    let mut buf = [0u8; OFFSET_ENTRY_SIZE];
    f.read_exact_at(&mut buf, len - OFFSET_ENTRY_SIZE as u64)
        .map_err(|_| ())?;
    let ix = OffsetIndex::decode(base_offset, &buf, u64::MAX).map_err(|_| ())?;
    Ok(ix.last())
}

/// The last entry of a `.timeindex` file, if it has a well-formed one.
fn last_time_entry(path: &Path, base_offset: i64) -> Option<TimestampOffset> {
    let f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len == 0 || !len.is_multiple_of(TIME_ENTRY_SIZE as u64) {
        return None;
    }
    let mut buf = [0u8; TIME_ENTRY_SIZE];
    f.read_exact_at(&mut buf, len - TIME_ENTRY_SIZE as u64)
        .ok()?;
    TimeIndex::decode_entry(base_offset, &buf)
}

/// One step of a header walk.
enum Step {
    End,
    Batch(BatchHeader),
    Bad(String),
}

/// A window over `[0, end)` of a segment file: batches are located by
/// walking headers inside one `pread` buffer, and a read's result is sliced
/// out of that same buffer when it fits, so a fetch costs one `pread`.
struct Reader<'a> {
    file: &'a File,
    end: u64,
    start: u64,
    buf: BytesMut,
}

impl<'a> Reader<'a> {
    fn new(file: &'a File, end: u64) -> Self {
        Reader {
            file,
            end,
            start: 0,
            buf: BytesMut::new(),
        }
    }

    /// Bytes `[pos, pos + len)`, reading at least `read_ahead` bytes when
    /// they are not buffered; `None` when they extend past the end.
    fn get(&mut self, pos: u64, len: usize, read_ahead: usize) -> io::Result<Option<&[u8]>> {
        let Some(stop) = pos.checked_add(len as u64) else {
            return Ok(None);
        };
        if stop > self.end {
            return Ok(None);
        }
        if pos < self.start || stop > self.start + self.buf.len() as u64 {
            let n = (read_ahead.max(len) as u64).min(self.end - pos) as usize;
            let mut buf = BytesMut::zeroed(n);
            self.file.read_exact_at(&mut buf, pos)?;
            self.buf = buf;
            self.start = pos;
        }
        let from = (pos - self.start) as usize;
        Ok(self.buf.get(from..from + len))
    }

    fn header(&mut self, pos: u64, read_ahead: usize) -> io::Result<Step> {
        if pos >= self.end {
            return Ok(Step::End);
        }
        let end = self.end;
        let Some(bytes) = self.get(pos, HEADER_SIZE, read_ahead)? else {
            return Ok(Step::Bad(format!(
                "truncated batch header ({} bytes)",
                end - pos
            )));
        };
        Ok(match BatchHeader::peek(bytes) {
            Ok(Some(h)) if pos + h.size() as u64 <= end => Step::Batch(h),
            Ok(Some(h)) => Step::Bad(format!(
                "batch of {} bytes extends past the end ({} bytes left)",
                h.size(),
                end - pos
            )),
            Ok(None) => Step::Bad("truncated batch header".to_string()),
            Err(e) => Step::Bad(e.to_string()),
        })
    }

    /// `[from, to)` as `Bytes`: a slice of the buffer when it holds them,
    /// else one exact `pread`.
    fn take(self, from: u64, to: u64) -> io::Result<Bytes> {
        let len = (to - from) as usize;
        if from >= self.start && to <= self.start + self.buf.len() as u64 {
            let a = (from - self.start) as usize;
            return Ok(self.buf.freeze().slice(a..a + len));
        }
        let mut buf = BytesMut::zeroed(len);
        self.file.read_exact_at(&mut buf, from)?;
        Ok(buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(log_file_name(0), "00000000000000000000.log");
        assert_eq!(log_file_name(1234), "00000000000000001234.log");
        assert_eq!(parse_base_offset("00000000000000001234"), Some(1234));
        for bad in ["", "12a", "-1", "+1", "99999999999999999999999"] {
            assert_eq!(parse_base_offset(bad), None, "{bad}");
        }
    }
}
