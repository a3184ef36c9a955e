//! Durable state: the transaction log and snapshots, and recovery from them.
//!
//! # On disk
//! Both live under `version-2/` like ZooKeeper's files (the formats are ours):
//! - `<dataLogDir>/version-2/log.<first zxid, hex>`: header `RLOG`, u32 version,
//!   i64 first zxid; then records `[crc32c u32][len u32][txn]`, where the CRC
//!   covers the length and the encoded [`crate::txn::Txn`]. Files are extended
//!   in 64 MiB steps, so a zero length marks the end of the written part.
//! - `<dataDir>/version-2/snapshot.<zxid, hex>`: see [`snapshot`].
//!
//! # Durability contract
//! A write is answered only after its record is written and, with
//! `forceSync=yes`, `fdatasync`ed. On start-up the newest valid snapshot is
//! loaded and every later record replayed; the first torn or corrupt record of
//! the newest log ends the log: the file is truncated there and a warning says so.

pub mod log;
pub mod snapshot;

use std::path::{Path, PathBuf};

use crate::state::KeeperState;
use crate::txn::Txn;

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path} is in use by another keeper (its {LOCK_FILE} is locked); stop that process or give this one another dataDir/dataLogDir")]
    Locked { path: PathBuf },
}

/// The lock file in each data directory.
pub const LOCK_FILE: &str = ".lock";

/// Locks a data directory for this process: two keepers writing the same
/// log and snapshots would corrupt them. The lock lasts as long as the file.
pub fn lock_dir(dir: &Path) -> Result<std::fs::File, PersistError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(PersistError::Locked {
            path: dir.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&path)(e)),
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PersistError + '_ {
    move |source| PersistError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The `version-2` directory below a data dir, created if missing.
pub fn version_dir(base: &Path) -> Result<PathBuf, PersistError> {
    let dir = base.join("version-2");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    Ok(dir)
}

/// Files in `dir` named `<prefix>.<hex zxid>`, sorted by zxid.
pub fn list_by_zxid(dir: &Path, prefix: &str) -> Result<Vec<(i64, PathBuf)>, PersistError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(hex) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        if let Ok(zxid) = i64::from_str_radix(hex, 16) {
            out.push((zxid, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// What start-up recovered.
pub struct Recovered {
    pub state: KeeperState,
    /// Transactions replayed from the log after the snapshot.
    pub replayed: usize,
    pub warnings: Vec<String>,
}

/// Loads the newest valid snapshot and replays the logs after it.
pub fn recover(data_dir: &Path, data_log_dir: &Path) -> Result<Recovered, PersistError> {
    let snap_dir = version_dir(data_dir)?;
    let log_dir = version_dir(data_log_dir)?;
    let mut warnings = Vec::new();
    let mut state = KeeperState::new();
    for (_, path) in list_by_zxid(&snap_dir, "snapshot")?.into_iter().rev() {
        match snapshot::read(&path) {
            Ok(s) => {
                state = s;
                break;
            }
            Err(e) => warnings.push(format!("skipping unreadable snapshot: {e}")),
        }
    }
    let logs = list_by_zxid(&log_dir, "log")?;
    let mut replayed = 0;
    let last = logs.len().saturating_sub(1);
    for (i, (_, path)) in logs.iter().enumerate() {
        let outcome = log::read_records(path, |txn: Txn| {
            if txn.zxid > state.last_zxid {
                state.apply(&txn);
                replayed += 1;
            }
        })?;
        if let Some(bad) = outcome.corrupt_at {
            if i != last {
                return Err(PersistError::Corrupt {
                    path: path.clone(),
                    reason: format!(
                        "invalid record at offset {bad} ({}) and later log files exist; refusing to start with a gap",
                        outcome.reason
                    ),
                });
            }
            log::truncate(path, bad)?;
            warnings.push(format!(
                "transaction log {} has a torn or corrupt tail at offset {bad} ({}); truncated there",
                path.display(),
                outcome.reason
            ));
        }
    }
    Ok(Recovered {
        state,
        replayed,
        warnings,
    })
}

/// Deletes all but the newest `retain` snapshots and the logs only they need.
pub fn purge(data_dir: &Path, data_log_dir: &Path, retain: usize) -> Result<usize, PersistError> {
    let snaps = list_by_zxid(&version_dir(data_dir)?, "snapshot")?;
    if snaps.len() <= retain {
        return Ok(0);
    }
    let cut = snaps.len() - retain;
    let oldest_kept = snaps[cut].0;
    let mut removed = 0;
    for (_, path) in &snaps[..cut] {
        std::fs::remove_file(path).map_err(io_err(path))?;
        removed += 1;
    }
    let logs = list_by_zxid(&version_dir(data_log_dir)?, "log")?;
    for pair in logs.windows(2) {
        // Every zxid in pair[0] is below the next file's first zxid.
        if pair[1].0 <= oldest_kept + 1 {
            std::fs::remove_file(&pair[0].1).map_err(io_err(&pair[0].1))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_serves_one_keeper_at_a_time() {
        let base = std::env::temp_dir().join(format!("rill-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let held = lock_dir(&base).unwrap();
        let err = lock_dir(&base).unwrap_err();
        assert!(matches!(err, PersistError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("in use by another keeper"));
        drop(held);
        lock_dir(&base).expect("free again once the holder is gone");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn purge_keeps_the_newest_snapshots_and_the_logs_they_need() {
        let base = std::env::temp_dir().join(format!("rill-purge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = version_dir(&base).unwrap();
        for z in [0x10, 0x20, 0x30, 0x40, 0x50] {
            std::fs::write(dir.join(format!("snapshot.{z:x}")), b"s").unwrap();
        }
        for z in [0x1, 0x11, 0x21, 0x29, 0x31, 0x41, 0x51] {
            std::fs::write(dir.join(format!("log.{z:x}")), b"l").unwrap();
        }
        purge(&base, &base, 3).unwrap();
        let left = |prefix: &str| -> Vec<i64> {
            list_by_zxid(&dir, prefix)
                .unwrap()
                .into_iter()
                .map(|(z, _)| z)
                .collect()
        };
        assert_eq!(left("snapshot"), vec![0x30, 0x40, 0x50]);
        // log.29 holds zxids up to 0x30 (the oldest kept snapshot): everything
        // before it is covered; log.29 itself is not needed either, log.31 on is.
        assert_eq!(left("log"), vec![0x31, 0x41, 0x51]);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
