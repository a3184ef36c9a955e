//! The durable Raft log and vote.
//!
//! # On disk
//! - `<dataLogDir>/raft/log`: records `[crc32c u32][len u32][bincode Record]`,
//!   the CRC covering length and body. Records are entries, "truncate from
//!   index" (a conflicting suffix is dropped), "purged up to log id" (behind a
//!   snapshot) and "committed" hints. Replaying them in order rebuilds the log;
//!   the first torn or corrupt record ends it (the file is cut there). When
//!   enough has been written since, a purge rewrites the file with what is left
//!   (temp file, fsync, rename).
//! - `<dataDir>/raft/vote`: `[crc32c u32][bincode Vote]`, replaced atomically.
//!
//! # Durability contract
//! `append` hands the records to a writer thread, which writes every queued
//! command, fdatasyncs once (group commit), and only then calls openraft's
//! `LogFlushed` callbacks. `save_vote` returns after the vote file is synced.
//! Truncate and purge records ride the same queue, so they are ordered with
//! the appends and synced by the next append's flush.
//!
//! All entries not yet purged are also kept in memory for readers; openraft
//! purges behind each snapshot, which bounds them.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{RaftLogId, StorageError, StorageIOError, Vote};
use serde::{Deserialize, Serialize};

use super::{Entry, LogId, NodeId, TypeConfig};

/// Rewrite the log file on purge once this much was appended since the last rewrite.
const COMPACT_AFTER_BYTES: u64 = 64 * 1024 * 1024;

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
    entries: BTreeMap<u64, Entry>,
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
}

enum Done {
    Flushed(LogFlushed<TypeConfig>),
    Nothing,
}

enum WriteCmd {
    Append(Vec<u8>, Done),
    /// Replace the whole file with these records.
    Rewrite(Vec<u8>),
}

/// The log storage handed to openraft.
pub struct LogStore {
    mem: Arc<Mutex<LogMem>>,
    writer: std::sync::mpsc::Sender<WriteCmd>,
    vote_path: PathBuf,
    vote: Option<Vote<NodeId>>,
    written: u64,
}

/// A reader sharing the store's in-memory entries.
#[derive(Clone)]
pub struct LogReader {
    mem: Arc<Mutex<LogMem>>,
}

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
        let mut bytes = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut bytes)?;
        }
        let mut pos = 0usize;
        while bytes.len() - pos >= 8 {
            let crc = u32::from_be_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes"));
            let len =
                u32::from_be_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
            let Some(body) = bytes.get(pos + 8..pos + 8 + len) else {
                break;
            };
            if crc32c::crc32c(&bytes[pos + 4..pos + 8 + len]) != crc {
                break;
            }
            match bincode::deserialize::<Record>(body) {
                Ok(r) => mem.replay(r),
                Err(_) => break,
            }
            pos += 8 + len;
        }
        if pos != bytes.len() {
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
        file.set_len(pos as u64)?;
        file.sync_all()?;
        let vote_path = vote_dir.join("vote");
        let vote = read_vote(&vote_path)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let dir = log_dir.to_owned();
        std::thread::Builder::new()
            .name("keeper-raftlog".into())
            .spawn(move || writer_loop(dir, path, file, pos as u64, force_sync, rx))?;
        Ok(LogStore {
            mem: Arc::new(Mutex::new(mem)),
            writer: tx,
            vote_path,
            vote,
            written: pos as u64,
        })
    }

    fn queue(&mut self, bytes: Vec<u8>, done: Done) -> Result<(), StorageError<NodeId>> {
        self.written += bytes.len() as u64;
        self.writer
            .send(WriteCmd::Append(bytes, done))
            .map_err(|_| StorageIOError::write_logs(&io_error("raft log writer is gone")).into())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogMem> {
        self.mem.lock().expect("raft log lock")
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
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
    dir: PathBuf,
    path: PathBuf,
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
    let mut dones = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut result: std::io::Result<()> = Ok(());
        let mut cmd = Some(first);
        while let Some(c) = cmd.take() {
            match c {
                WriteCmd::Append(bytes, done) => {
                    if result.is_ok() {
                        result = file.write_all(&bytes);
                        pos += bytes.len() as u64;
                    }
                    dones.push(done);
                }
                WriteCmd::Rewrite(bytes) => {
                    if result.is_ok() {
                        result = write_atomic(&path, &bytes).and_then(|()| {
                            file = OpenOptions::new().write(true).open(&path)?;
                            pos = bytes.len() as u64;
                            file.seek(SeekFrom::Start(pos)).map(|_| ())
                        });
                    }
                }
            }
            cmd = rx.try_recv().ok();
        }
        if result.is_ok() && force_sync {
            result = file.sync_data();
        }
        if let Err(e) = &result {
            tracing::error!("raft log write to {} failed: {e}", dir.display());
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

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + std::fmt::Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        let mem = self.mem.lock().expect("raft log lock");
        Ok(mem.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + std::fmt::Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        let mem = self.lock();
        Ok(mem.entries.range(range).map(|(_, e)| e.clone()).collect())
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
        LogReader {
            mem: self.mem.clone(),
        }
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
        let mut bytes = Vec::new();
        frame(&Record::Committed(committed), &mut bytes);
        self.queue(bytes, Done::Nothing)
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
        {
            let mut mem = self.lock();
            for e in entries {
                frame(&Record::Entry(e.clone()), &mut bytes);
                mem.entries.insert(e.log_id.index, e);
            }
        }
        self.queue(bytes, Done::Flushed(callback))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        self.lock().entries.split_off(&log_id.index);
        let mut bytes = Vec::new();
        frame(&Record::TruncateFrom(log_id.index), &mut bytes);
        self.queue(bytes, Done::Nothing)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        let mut bytes = Vec::new();
        let rewrite = {
            let mut mem = self.lock();
            mem.purge(log_id);
            frame(&Record::PurgedUpTo(log_id), &mut bytes);
            if self.written > COMPACT_AFTER_BYTES {
                frame(&Record::Committed(mem.committed), &mut bytes);
                for e in mem.entries.values() {
                    frame(&Record::Entry(e.clone()), &mut bytes);
                }
                true
            } else {
                false
            }
        };
        if rewrite {
            self.written = bytes.len() as u64;
            return self.writer.send(WriteCmd::Rewrite(bytes)).map_err(|_| {
                StorageIOError::write_logs(&io_error("raft log writer is gone")).into()
            });
        }
        self.queue(bytes, Done::Nothing)
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
