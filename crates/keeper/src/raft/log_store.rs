//! The durable Raft log and vote.
//!
//! # On disk
//! - `<dataLogDir>/raft/log`: records `[crc32c u32][len u32][bincode Record]`,
//!   the CRC covering length and body. Records are entries, "truncate from
//!   index" (a conflicting suffix is dropped), "purged up to log id" (behind a
//!   snapshot) and "committed" hints. Replaying them in order rebuilds the log;
//!   the first torn or corrupt record ends it (the file is cut there). When
//!   enough has been written since, a purge makes the writer thread copy the
//!   records after the purged entries to a new file (temp file, fsync, rename).
//! - `<dataDir>/raft/vote`: `[crc32c u32][bincode Vote]`, replaced atomically.
//!
//! # Durability contract
//! `append` hands the records to a writer thread, which writes every queued
//! command, fdatasyncs once (group commit), and only then calls openraft's
//! `LogFlushed` callbacks. `save_vote` returns after the vote file is synced.
//! Truncate and purge records ride the same queue, so they are ordered with
//! the appends and synced by the next append's flush.
//!
//! # Memory
//! Entries not yet applied here, and the newest [`MEM_BUDGET_BYTES`] of those
//! applied, are kept in memory for openraft's readers (applying, replicating
//! to followers that are close behind). Older entries, until openraft purges
//! them behind a snapshot, are only on disk: a reader that wants them (a
//! follower far behind) replays them from the file. Snapshots come every
//! snapCount transactions, and a log of that many small writes held in
//! memory would weigh more than the data tree of many a server.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{RaftLogId, StorageError, StorageIOError, Vote};
use serde::{Deserialize, Serialize};

use super::{Entry, LogId, NodeId, TypeConfig};

/// Rewrite the log file on purge once this much was appended since the last rewrite.
const COMPACT_AFTER_BYTES: u64 = 64 * 1024 * 1024;
/// Bytes of applied entries kept in memory (see the module docs).
pub const MEM_BUDGET_BYTES: usize = 2 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
enum Record {
    Entry(Entry),
    TruncateFrom(u64),
    PurgedUpTo(LogId),
    Committed(Option<LogId>),
}

fn frame(record: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    bincode::serialize_into(&mut *out, record).expect("serializing to a Vec cannot fail");
    let len = (out.len() - start - 8) as u32;
    out[start + 4..start + 8].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_be_bytes());
}

#[derive(Default)]
struct LogMem {
    /// Every entry after `evicted` (and after `last_purged`).
    entries: BTreeMap<u64, Entry>,
    /// Entries up to this index are on disk only.
    evicted: Option<u64>,
    last_purged: Option<LogId>,
    committed: Option<LogId>,
}

impl LogMem {
    fn replay(&mut self, record: Record) {
        match record {
            Record::Entry(e) => {
                self.entries.insert(e.log_id.index, e);
            }
            Record::TruncateFrom(index) => {
                self.entries.split_off(&index);
            }
            Record::PurgedUpTo(log_id) => self.purge(log_id),
            Record::Committed(c) => self.committed = c,
        }
    }

    fn purge(&mut self, log_id: LogId) {
        self.entries = self.entries.split_off(&(log_id.index + 1));
        self.last_purged = Some(log_id);
    }

    /// Drops from memory the oldest entries up to `upto` beyond the newest
    /// [`MEM_BUDGET_BYTES`] of them; the last entry always stays (it is the log state).
    fn evict(&mut self, upto: u64, budget: usize) {
        let Some(last) = self.entries.keys().next_back().copied() else {
            return;
        };
        let limit = upto.min(last.saturating_sub(1));
        let mut kept = 0;
        let cut = self.entries.range(..=limit).rev().find_map(|(index, e)| {
            kept += super::entry_bytes(e);
            (kept > budget).then_some(*index)
        });
        if let Some(cut) = cut {
            self.entries = self.entries.split_off(&(cut + 1));
            self.evicted = self.evicted.max(Some(cut));
        }
    }
}

/// What the store, its readers, the state machine and the writer thread share.
struct Shared {
    mem: Mutex<LogMem>,
    path: PathBuf,
    /// The highest index whose append is on disk (entries above stay in memory).
    flushed: AtomicU64,
    /// Where in the file each entry's newest record starts (kept by the writer
    /// thread; a reader opens the file while holding it, so they match).
    offsets: Mutex<BTreeMap<u64, u64>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogMem> {
        self.mem.lock().expect("raft log lock")
    }

    /// Entries in `range`, from memory, or replayed from the file for those
    /// no longer in memory.
    fn entries(&self, range: impl RangeBounds<u64>) -> Result<Vec<Entry>, StorageError<NodeId>> {
        let mut next = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(0) => return Ok(Vec::new()),
            Bound::Excluded(i) => i - 1,
            Bound::Unbounded => u64::MAX,
        };
        let mut out = Vec::new();
        while next <= end {
            let evicted = {
                let mem = self.lock();
                match mem.evicted {
                    Some(evicted) if next <= evicted => evicted,
                    _ => {
                        out.extend(mem.entries.range(next..=end).map(|(_, e)| e.clone()));
                        return Ok(out);
                    }
                }
            };
            let upto = evicted.min(end);
            let started = std::time::Instant::now();
            let read = self
                .read_entries(next, upto)
                .map_err(|e| StorageError::from(StorageIOError::read_logs(&e)))?;
            tracing::debug!(
                "read {} entries ({next}..={upto}) back from the raft log file in {:?}",
                read.len(),
                started.elapsed()
            );
            out.extend(read);
            next = upto + 1;
        }
        Ok(out)
    }
}

impl Shared {
    /// Replays the log file for the entries from `from` to `to` (inclusive):
    /// from the record of `from` to that of `to` when their places are known
    /// (a truncated and re-appended entry's newest record comes after its
    /// older ones, and replaying the truncation in between drops those),
    /// otherwise the whole file.
    fn read_entries(&self, from: u64, to: u64) -> std::io::Result<Vec<Entry>> {
        let (file, start, stop) = {
            let offsets = self.offsets.lock().expect("raft log offsets lock");
            let file = File::open(&self.path)?;
            let start = offsets.get(&from).copied();
            let stop = offsets.get(&to).copied().filter(|_| start.is_some());
            (file, start.unwrap_or(0), stop)
        };
        let mut entries = BTreeMap::new();
        for_each_record(file, start, |record, _raw, pos| {
            match record {
                Record::Entry(e) if (from..=to).contains(&e.log_id.index) => {
                    entries.insert(e.log_id.index, e);
                }
                Record::TruncateFrom(index) => {
                    entries.split_off(&index);
                }
                _ => {}
            }
            Ok(stop != Some(pos))
        })?;
        Ok(entries.into_values().collect())
    }
}

/// Keeps `offsets` in step with a record written (or replayed) at `pos`.
fn place(offsets: &mut BTreeMap<u64, u64>, record: &Record, pos: u64) {
    match record {
        Record::Entry(e) => {
            offsets.insert(e.log_id.index, pos);
        }
        Record::TruncateFrom(index) => {
            offsets.split_off(index);
        }
        Record::PurgedUpTo(log_id) => *offsets = offsets.split_off(&(log_id.index + 1)),
        Record::Committed(_) => {}
    }
}

/// Opens the log file for reading (`None` if there is none).
fn open_existing(path: &Path) -> std::io::Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Calls `f` with each whole record of the file from offset `start` on
/// (decoded, its framed bytes, its offset) in order, up to the first torn or
/// corrupt one or until `f` says stop; returns the offset after the last.
fn for_each_record(
    file: File,
    start: u64,
    mut f: impl FnMut(Record, &[u8], u64) -> std::io::Result<bool>,
) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let size = file.metadata()?.len();
    let mut r = BufReader::with_capacity(256 * 1024, file);
    r.seek(SeekFrom::Start(start))?;
    let mut pos = start;
    let mut raw = vec![0u8; 8];
    loop {
        raw.truncate(8);
        if read_full(&mut r, &mut raw)? < 8 {
            return Ok(pos);
        }
        let crc = u32::from_be_bytes(raw[..4].try_into().expect("4 bytes"));
        let len = u32::from_be_bytes(raw[4..8].try_into().expect("4 bytes")) as usize;
        // A torn length could claim more than the file holds.
        if pos + 8 + len as u64 > size {
            return Ok(pos);
        }
        raw.resize(8 + len, 0);
        if read_full(&mut r, &mut raw[8..])? < len || crc32c::crc32c(&raw[4..]) != crc {
            return Ok(pos);
        }
        let Ok(record) = bincode::deserialize::<Record>(&raw[8..]) else {
            return Ok(pos);
        };
        let go_on = f(record, &raw, pos)?;
        pos += raw.len() as u64;
        if !go_on {
            return Ok(pos);
        }
    }
}

/// Reads until `buf` is full or the file ends; returns how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// A view of the log for the rest of the member: the state machine drops
/// what it applied from memory (see the module docs); failover compares logs.
#[derive(Clone)]
pub struct LogView(Arc<Shared>);

impl LogView {
    pub fn applied(&self, index: u64) {
        let flushed = self.0.flushed.load(Ordering::Acquire);
        self.0.lock().evict(index.min(flushed), MEM_BUDGET_BYTES);
    }

    /// The last entry appended (openraft's metrics may lag behind it).
    pub fn last_log_id(&self) -> Option<LogId> {
        let mem = self.0.lock();
        mem.entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(mem.last_purged)
    }
}

enum Done {
    Flushed(LogFlushed<TypeConfig>),
    Nothing,
}

/// Where the entries of an appended buffer are, and what else it changes.
enum Placed {
    /// (index, offset in the buffer) of each entry record.
    Entries(Vec<(u64, u64)>),
    /// Any other record: how it changes the offsets.
    Record(Record),
}

enum WriteCmd {
    Append(Vec<u8>, Placed, Done),
    /// Replace the file with these records, then the records of the current
    /// file after them that hold no entry up to `purged`.
    Compact {
        head: Vec<u8>,
        purged: u64,
    },
}

/// The log storage handed to openraft.
pub struct LogStore {
    shared: Arc<Shared>,
    writer: std::sync::mpsc::Sender<WriteCmd>,
    vote_path: PathBuf,
    vote: Option<Vote<NodeId>>,
    written: u64,
}

/// A reader sharing the store's entries.
#[derive(Clone)]
pub struct LogReader(Arc<Shared>);

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl LogStore {
    /// Opens (or creates) the log under `log_dir` and the vote under `vote_dir`,
    /// replaying what is there.
    pub fn open(log_dir: &Path, vote_dir: &Path, force_sync: bool) -> std::io::Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        std::fs::create_dir_all(vote_dir)?;
        let path = log_dir.join("log");
        let mut mem = LogMem::default();
        let mut offsets = BTreeMap::new();
        let pos = match open_existing(&path)? {
            Some(file) => for_each_record(file, 0, |record, _raw, pos| {
                place(&mut offsets, &record, pos);
                mem.replay(record);
                Ok(true)
            })?,
            None => 0,
        };
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        if pos != size {
            tracing::warn!(
                "raft log {} has a torn or corrupt tail at offset {pos}; truncated there",
                path.display()
            );
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.set_len(pos)?;
        file.sync_all()?;
        let vote_path = vote_dir.join("vote");
        let vote = read_vote(&vote_path)?;
        let flushed = mem.entries.keys().next_back().copied().unwrap_or(0);
        let shared = Arc::new(Shared {
            mem: Mutex::new(mem),
            path,
            flushed: AtomicU64::new(flushed),
            offsets: Mutex::new(offsets),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("keeper-raftlog".into())
            .spawn(move || writer_loop(writer, file, pos, force_sync, rx))?;
        Ok(LogStore {
            shared,
            writer: tx,
            vote_path,
            vote,
            written: pos,
        })
    }

    pub fn view(&self) -> LogView {
        LogView(self.shared.clone())
    }

    fn queue(
        &mut self,
        bytes: Vec<u8>,
        placed: Placed,
        done: Done,
    ) -> Result<(), StorageError<NodeId>> {
        self.written += bytes.len() as u64;
        self.send(WriteCmd::Append(bytes, placed, done))
    }

    /// Queues one record that holds no entry.
    fn queue_record(&mut self, record: Record) -> Result<(), StorageError<NodeId>> {
        let mut bytes = Vec::new();
        frame(&record, &mut bytes);
        self.queue(bytes, Placed::Record(record), Done::Nothing)
    }

    fn send(&self, cmd: WriteCmd) -> Result<(), StorageError<NodeId>> {
        self.writer
            .send(cmd)
            .map_err(|_| StorageIOError::write_logs(&io_error("raft log writer is gone")).into())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogMem> {
        self.shared.lock()
    }
}

fn read_vote(path: &Path) -> std::io::Result<Option<Vote<NodeId>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if bytes.len() < 4
        || crc32c::crc32c(&bytes[4..]) != u32::from_be_bytes(bytes[..4].try_into().expect("4"))
    {
        return Err(io_error(format!("{} is corrupt", path.display())));
    }
    bincode::deserialize(&bytes[4..])
        .map(Some)
        .map_err(io_error)
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn writer_loop(
    shared: Arc<Shared>,
    mut file: File,
    mut pos: u64,
    force_sync: bool,
    rx: std::sync::mpsc::Receiver<WriteCmd>,
) {
    use std::io::{Seek, SeekFrom};
    if let Err(e) = file.seek(SeekFrom::Start(pos)) {
        tracing::error!("raft log: {e}");
        return;
    }
    let path = &shared.path;
    let mut dones = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut result: std::io::Result<()> = Ok(());
        let mut cmd = Some(first);
        let mut last_written = None;
        while let Some(c) = cmd.take() {
            match c {
                WriteCmd::Append(bytes, placed, done) => {
                    if result.is_ok() {
                        result = file.write_all(&bytes);
                        let mut offsets = shared.offsets.lock().expect("raft log offsets lock");
                        match placed {
                            Placed::Entries(entries) => {
                                for (index, at) in entries {
                                    offsets.insert(index, pos + at);
                                    last_written = Some(index);
                                }
                            }
                            Placed::Record(record) => place(&mut offsets, &record, pos),
                        }
                        pos += bytes.len() as u64;
                    }
                    dones.push(done);
                }
                WriteCmd::Compact { head, purged } => {
                    if result.is_ok() {
                        result = compact(&shared, &head, purged).and_then(|size| {
                            pos = size;
                            file = OpenOptions::new().write(true).open(path)?;
                            file.seek(SeekFrom::Start(size)).map(|_| ())
                        });
                    }
                }
            }
            cmd = rx.try_recv().ok();
        }
        if result.is_ok() && force_sync {
            result = file.sync_data();
        }
        match &result {
            Ok(()) => {
                if let Some(last) = last_written {
                    shared.flushed.store(last, Ordering::Release);
                }
            }
            Err(e) => tracing::error!("raft log write to {} failed: {e}", path.display()),
        }
        for done in dones.drain(..) {
            if let Done::Flushed(cb) = done {
                cb.log_io_completed(
                    result
                        .as_ref()
                        .map(|_| ())
                        .map_err(|e| std::io::Error::new(e.kind(), e.to_string())),
                );
            }
        }
    }
}

/// Rewrites the log file as `head` followed by the records of the current
/// file except entries up to `purged` (and older purge and commit hints, which
/// `head` replaces), streaming; returns the new size.
fn compact(shared: &Shared, head: &[u8], purged: u64) -> std::io::Result<u64> {
    let path = &shared.path;
    let tmp = path.with_extension("tmp");
    let out = File::create(&tmp)?;
    let mut w = std::io::BufWriter::with_capacity(256 * 1024, &out);
    w.write_all(head)?;
    let mut size = head.len() as u64;
    let mut offsets = BTreeMap::new();
    if let Some(file) = open_existing(path)? {
        for_each_record(file, 0, |record, raw, _pos| {
            let keep = match &record {
                Record::Entry(e) => e.log_id.index > purged,
                Record::TruncateFrom(_) => true,
                Record::PurgedUpTo(_) | Record::Committed(_) => false,
            };
            if keep {
                place(&mut offsets, &record, size);
                w.write_all(raw)?;
                size += raw.len() as u64;
            }
            Ok(true)
        })?;
    }
    w.flush()?;
    drop(w);
    out.sync_all()?;
    let mut current = shared.offsets.lock().expect("raft log offsets lock");
    std::fs::rename(&tmp, path)?;
    *current = offsets;
    drop(current);
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(size)
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + std::fmt::Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        self.0.entries(range)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + std::fmt::Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        self.shared.entries(range)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let mem = self.lock();
        let last = mem
            .entries
            .values()
            .next_back()
            .map(|e| *e.get_log_id())
            .or(mem.last_purged);
        Ok(LogState {
            last_purged_log_id: mem.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader(self.shared.clone())
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let body = bincode::serialize(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        let mut bytes = crc32c::crc32c(&body).to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        write_atomic(&self.vote_path, &bytes).map_err(|e| StorageIOError::write_vote(&e))?;
        self.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId>,
    ) -> Result<(), StorageError<NodeId>> {
        // A hint for faster restarts; it is synced with the next append.
        self.lock().committed = committed;
        self.queue_record(Record::Committed(committed))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError<NodeId>> {
        Ok(self.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut bytes = Vec::new();
        let mut placed = Vec::new();
        {
            let mut mem = self.lock();
            for e in entries {
                placed.push((e.log_id.index, bytes.len() as u64));
                frame(&Record::Entry(e.clone()), &mut bytes);
                mem.entries.insert(e.log_id.index, e);
            }
        }
        self.queue(bytes, Placed::Entries(placed), Done::Flushed(callback))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        self.lock().entries.split_off(&log_id.index);
        self.queue_record(Record::TruncateFrom(log_id.index))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        let committed = {
            let mut mem = self.lock();
            mem.purge(log_id);
            mem.committed
        };
        if self.written > COMPACT_AFTER_BYTES {
            let mut head = Vec::new();
            frame(&Record::PurgedUpTo(log_id), &mut head);
            frame(&Record::Committed(committed), &mut head);
            self.written = 0;
            return self.send(WriteCmd::Compact {
                head,
                purged: log_id.index,
            });
        }
        self.queue_record(Record::PurgedUpTo(log_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{Batch, Command, Proposal};
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(Batch {
                proposals: vec![Proposal {
                    from: 1,
                    seq: index,
                    command: Command::Barrier,
                }],
                permit: None,
            }),
        }
    }

    #[test]
    fn replay_applies_truncate_and_purge_in_order() {
        let mut mem = LogMem::default();
        for i in 1..=5 {
            mem.replay(Record::Entry(entry(1, i)));
        }
        mem.replay(Record::TruncateFrom(4));
        mem.replay(Record::Entry(entry(2, 4)));
        mem.replay(Record::PurgedUpTo(entry(1, 2).log_id));
        let ids: Vec<(u64, u64)> = mem
            .entries
            .values()
            .map(|e| (e.log_id.leader_id.term, e.log_id.index))
            .collect();
        assert_eq!(ids, vec![(1, 3), (2, 4)]);
        assert_eq!(mem.last_purged.unwrap().index, 2);
    }

    fn ids(entries: &[Entry]) -> Vec<(u64, u64)> {
        entries
            .iter()
            .map(|e| (e.log_id.leader_id.term, e.log_id.index))
            .collect()
    }

    #[test]
    fn evicted_entries_are_read_back_from_the_file_and_survive_compaction() {
        let dir = std::env::temp_dir().join(format!("rill-raftlog-evict-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut bytes = Vec::new();
        for i in 1..=6 {
            frame(&Record::Entry(entry(1, i)), &mut bytes);
        }
        frame(&Record::TruncateFrom(5), &mut bytes);
        frame(&Record::Entry(entry(2, 5)), &mut bytes);
        std::fs::write(dir.join("log"), &bytes).unwrap();

        let store = LogStore::open(&dir, &dir, true).unwrap();
        store.lock().evict(4, 0);
        assert_eq!(store.lock().entries.len(), 1, "only the last entry stays");
        let read = store.shared.entries(2..=5).unwrap();
        assert_eq!(ids(&read), vec![(1, 2), (1, 3), (1, 4), (2, 5)]);
        assert_eq!(store.shared.entries(..).unwrap().len(), 5);

        let mut head = Vec::new();
        frame(&Record::PurgedUpTo(entry(1, 3).log_id), &mut head);
        compact(&store.shared, &head, 3).unwrap();
        drop(store);
        let store = LogStore::open(&dir, &dir, true).unwrap();
        assert_eq!(
            ids(&store.shared.entries(..).unwrap()),
            vec![(1, 4), (2, 5)]
        );
        assert_eq!(store.lock().last_purged.unwrap().index, 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn framed_records_survive_a_reopen_and_a_torn_tail_is_cut() {
        let dir = std::env::temp_dir().join(format!("rill-raftlog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut bytes = Vec::new();
        for i in 1..=3 {
            frame(&Record::Entry(entry(1, i)), &mut bytes);
        }
        bytes.extend_from_slice(&[0, 0, 0, 9, 0, 0]);
        std::fs::write(dir.join("log"), &bytes).unwrap();
        let store = LogStore::open(&dir, &dir, true).unwrap();
        assert_eq!(store.lock().entries.len(), 3);
        drop(store);
        assert_eq!(
            std::fs::metadata(dir.join("log")).unwrap().len() as usize,
            bytes.len() - 6
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
