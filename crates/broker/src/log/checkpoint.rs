//! Small per-partition checkpoint files: the leader epoch cache and the log
//! start offset. Both are Kafka-style text files, replaced atomically.
//!
//! # On disk
//! - `leader-epoch-checkpoint` (Kafka's format): a version line `0`, a count
//!   line, then one `<epoch> <startOffset>` line per epoch, oldest first.
//! - `log-start-offset-checkpoint` (Rill's; Kafka keeps one such file per log
//!   dir instead): version `0`, count `1`, then the offset. Only needed when
//!   DeleteRecords raised the log start above the first segment's base.
//!
//! Durability: each write goes to `<name>.tmp`, is fsynced, renamed over the
//! file, and the directory is fsynced, so a crash leaves the old or the new
//! contents, never a mix.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// File name of the leader epoch cache.
pub const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";
/// File name of the persisted log start offset.
pub const LOG_START_FILE: &str = "log-start-offset-checkpoint";
/// File name of the recovery point: every segment below it is fsynced, so
/// recovery after an unclean shutdown starts there (Kafka's
/// `recovery-point-offset-checkpoint`, kept per partition like the others).
pub const RECOVERY_POINT_FILE: &str = "recovery-point-checkpoint";

/// Epoch value meaning "none" in OffsetForLeaderEpoch.
pub const UNDEFINED_EPOCH: i32 = -1;
/// Offset value meaning "none" in OffsetForLeaderEpoch.
pub const UNDEFINED_OFFSET: i64 = -1;

/// One leader epoch and the first offset written in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// The leader epochs of a partition's log, in order: the in-memory view of
/// `leader-epoch-checkpoint` (Kafka's `LeaderEpochFileCache`). Both epochs
/// and start offsets strictly increase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`. Like Kafka, an entry
    /// that is not newer than the last one replaces every entry it conflicts
    /// with (a larger or equal epoch, or a larger or equal start offset).
    /// Returns whether anything changed (and so must be persisted).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        if let Some(last) = self.entries.last() {
            if last.epoch == epoch && start_offset >= last.start_offset {
                return false;
            }
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// OffsetForLeaderEpoch: the largest epoch <= `requested` and the offset
    /// where it ended (the next epoch's start, or the log end for the latest
    /// epoch). `(-1, -1)` when `requested` is past the latest epoch or
    /// undefined.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            Some(floor) => (floor.epoch, higher.start_offset),
            None => (requested, higher.start_offset),
        }
    }

    /// Forgets epochs starting at or after `end_offset` (log truncation).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        self.entries.len() != before
    }

    /// Moves the start of the log to `start_offset`: epochs that began before
    /// it collapse into the latest of them, now starting at `start_offset`.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let below = self
            .entries
            .partition_point(|e| e.start_offset <= start_offset);
        let Some(i) = below.checked_sub(1) else {
            return false;
        };
        let first = EpochEntry {
            epoch: self.entries[i].epoch,
            start_offset,
        };
        if i == 0 && self.entries[0] == first {
            return false;
        }
        self.entries.drain(..=i);
        self.entries.insert(0, first);
        true
    }

    pub fn clear(&mut self) -> bool {
        let changed = !self.entries.is_empty();
        self.entries.clear();
        changed
    }

    pub fn encode(&self) -> String {
        let mut out = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            out.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        out
    }

    pub fn decode(text: &str) -> Result<Self, String> {
        let lines = decode_checkpoint(text, 2)?;
        let mut cache = LeaderEpochCache::default();
        for fields in lines {
            let epoch: i32 = parse(fields[0])?;
            let start_offset: i64 = parse(fields[1])?;
            if let Some(last) = cache.entries.last() {
                if epoch <= last.epoch || start_offset < last.start_offset {
                    return Err(format!("epoch entries out of order at epoch {epoch}"));
                }
            }
            cache.entries.push(EpochEntry {
                epoch,
                start_offset,
            });
        }
        Ok(cache)
    }

    /// Loads the cache from `dir`; a missing file is an empty cache.
    pub fn load(dir: &Path) -> io::Result<Self> {
        match fs::read_to_string(dir.join(LEADER_EPOCH_FILE)) {
            Ok(text) => LeaderEpochCache::decode(&text)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(LeaderEpochCache::default()),
            Err(e) => Err(e),
        }
    }

    pub fn store(&self, dir: &Path) -> io::Result<()> {
        write_atomically(dir, LEADER_EPOCH_FILE, self.encode().as_bytes())
    }
}

/// Encodes a one-offset checkpoint file (log start, recovery point).
pub fn encode_offset(offset: i64) -> String {
    format!("0\n1\n{offset}\n")
}

pub fn decode_offset(text: &str) -> Result<i64, String> {
    let lines = decode_checkpoint(text, 1)?;
    match lines.as_slice() {
        [fields] => parse(fields[0]),
        _ => Err(format!("expected one entry, found {}", lines.len())),
    }
}

/// Reads the one-offset checkpoint `name` in `dir`, if any.
pub fn load_offset(dir: &Path, name: &str) -> io::Result<Option<i64>> {
    match fs::read_to_string(dir.join(name)) {
        Ok(text) => decode_offset(&text)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn store_offset(dir: &Path, name: &str, offset: i64) -> io::Result<()> {
    write_atomically(dir, name, encode_offset(offset).as_bytes())
}

/// File name of a log directory's high watermarks (Kafka's name and format:
/// version 0, a count, then `topic partition offset` lines).
pub const HIGH_WATERMARK_FILE: &str = "replication-offset-checkpoint";

/// Encodes a per-directory checkpoint of partition offsets.
pub fn encode_partition_offsets(entries: &[(String, i32, i64)]) -> String {
    let mut out = format!("0\n{}\n", entries.len());
    for (topic, partition, offset) in entries {
        out.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    out
}

pub fn decode_partition_offsets(text: &str) -> Result<Vec<(String, i32, i64)>, String> {
    decode_checkpoint(text, 3)?
        .into_iter()
        .map(|f| Ok((f[0].to_owned(), parse(f[1])?, parse(f[2])?)))
        .collect()
}

/// Reads the persisted log start offset of `dir`, if any.
pub fn load_log_start(dir: &Path) -> io::Result<Option<i64>> {
    load_offset(dir, LOG_START_FILE)
}

pub fn store_log_start(dir: &Path, offset: i64) -> io::Result<()> {
    store_offset(dir, LOG_START_FILE, offset)
}

/// Splits a Kafka checkpoint file (version 0, count, entries) into the
/// whitespace-separated fields of each entry line.
fn decode_checkpoint(text: &str, fields: usize) -> Result<Vec<Vec<&str>>, String> {
    let mut lines = text.lines();
    let version = lines.next().ok_or("empty checkpoint file")?;
    if version.trim() != "0" {
        return Err(format!("unsupported checkpoint version {version:?}"));
    }
    let count: usize = parse(lines.next().ok_or("missing entry count")?)?;
    let mut out = Vec::with_capacity(count.min(1024));
    for line in lines.by_ref().take(count) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() != fields {
            return Err(format!("malformed checkpoint line {line:?}"));
        }
        out.push(parts);
    }
    if out.len() != count {
        return Err(format!("expected {count} entries, found {}", out.len()));
    }
    if lines.any(|l| !l.trim().is_empty()) {
        return Err("trailing lines in checkpoint file".to_string());
    }
    Ok(out)
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("malformed number {s:?}"))
}

/// Replaces `dir/name` with `contents` via a fsynced temporary file and a
/// rename, then fsyncs `dir`.
pub fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// fsyncs a directory so that created, renamed or removed entries persist.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::default();
        for &(e, o) in entries {
            assert!(c.assign(e, o));
        }
        c
    }

    #[test]
    fn end_offset_for_table() {
        let c = cache(&[(1, 0), (3, 100), (5, 250)]);
        let leo = 400;
        let cases = [
            (-1, (-1, -1)),
            (0, (0, 0)),
            (1, (1, 100)),
            (2, (1, 100)),
            (3, (3, 250)),
            (4, (3, 250)),
            (5, (5, 400)),
            (6, (-1, -1)),
        ];
        for (requested, expect) in cases {
            assert_eq!(
                c.end_offset_for(requested, leo),
                expect,
                "epoch {requested}"
            );
        }
        assert_eq!(LeaderEpochCache::default().end_offset_for(0, 10), (-1, -1));
    }

    #[test]
    fn assign_keeps_order() {
        let mut c = cache(&[(1, 0), (2, 10)]);
        assert!(!c.assign(2, 20), "same epoch, later offset: no change");
        assert!(!c.assign(-1, 30), "undefined epoch ignored");
        assert!(c.assign(4, 30));
        // A lower epoch at a later offset wipes the conflicting entries.
        assert!(c.assign(3, 40));
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 1,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 2,
                    start_offset: 10
                },
                EpochEntry {
                    epoch: 3,
                    start_offset: 40
                },
            ]
        );
    }

    #[test]
    fn truncation() {
        let mut c = cache(&[(1, 0), (2, 10), (3, 20)]);
        assert!(c.truncate_from_end(15));
        assert_eq!(c.latest_epoch(), Some(2));
        assert!(!c.truncate_from_end(15));
        let mut c = cache(&[(1, 0), (2, 10), (3, 20)]);
        assert!(c.truncate_from_start(12));
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 2,
                    start_offset: 12
                },
                EpochEntry {
                    epoch: 3,
                    start_offset: 20
                },
            ]
        );
        assert!(!c.truncate_from_start(12));
        assert!(!c.truncate_from_start(5), "before the first entry");
    }

    #[test]
    fn file_formats() {
        let c = cache(&[(0, 0), (7, 1234)]);
        let text = c.encode();
        assert_eq!(text, "0\n2\n0 0\n7 1234\n");
        assert_eq!(LeaderEpochCache::decode(&text).unwrap(), c);
        for bad in [
            "",
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n1\n0\n",
            "0\n1\nx 1\n",
            "0\n2\n5 0\n4 1\n",
            "0\n1\n1 1\n2 2\n",
        ] {
            assert!(LeaderEpochCache::decode(bad).is_err(), "{bad:?}");
        }
        assert_eq!(decode_offset(&encode_offset(42)).unwrap(), 42);
        assert!(decode_offset("0\n0\n").is_err());
    }

    #[test]
    fn partition_offsets_round_trip() {
        let entries = vec![("t-a".to_string(), 0, 42), ("t.b".to_string(), 7, 0)];
        let text = encode_partition_offsets(&entries);
        assert_eq!(text, "0\n2\nt-a 0 42\nt.b 7 0\n");
        assert_eq!(decode_partition_offsets(&text).unwrap(), entries);
        assert_eq!(decode_partition_offsets("0\n0\n").unwrap(), vec![]);
        assert!(decode_partition_offsets("0\n1\nt 0\n").is_err());
        assert!(decode_partition_offsets("0\n1\nt x 5\n").is_err());
    }

    #[test]
    fn atomic_write_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        store_log_start(dir.path(), 77).unwrap();
        assert_eq!(load_log_start(dir.path()).unwrap(), Some(77));
        assert!(!dir.path().join("log-start-offset-checkpoint.tmp").exists());
        let c = cache(&[(3, 5)]);
        c.store(dir.path()).unwrap();
        assert_eq!(LeaderEpochCache::load(dir.path()).unwrap(), c);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            LeaderEpochCache::load(empty.path()).unwrap(),
            LeaderEpochCache::default()
        );
        assert_eq!(load_log_start(empty.path()).unwrap(), None);
    }
}
