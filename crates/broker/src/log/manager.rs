//! All partition logs of a broker across its `log.dirs`.
//!
//! At start-up every `<topic>-<partition>` directory is opened (in
//! parallel, `num.recovery.threads.per.data.dir` threads per directory),
//! cleanly or with recovery depending on each directory's clean-shutdown
//! marker. The broker then takes the logs it hosts with
//! [`LogManager::open_or_create`], which hands the [`PartitionLog`] over:
//! the manager keeps only its location and a lease that tells whether it is
//! still open.
//!
//! # On disk
//! `<log.dir>/.kafka_cleanshutdown` (empty, Kafka's name) exists only while
//! the broker is stopped after a clean shutdown: it is removed once the logs
//! are loaded and written (and fsynced) by [`LogManager::shutdown`]. A log
//! being deleted is first renamed to `<topic>-<partition>.<uuid>-delete`
//! (atomic, so a crash never leaves a half-deleted log that looks live);
//! leftovers of that form are removed at start-up.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Weak;

use super::checkpoint::{self, sync_dir, HIGH_WATERMARK_FILE};
use super::{LogConfig, LogError, PartitionLog};

/// Kafka's clean-shutdown marker file, one per log directory.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

const DELETE_SUFFIX: &str = "-delete";

/// A topic name and partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// The partition's directory name, `<topic>-<partition>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
}

/// Parses a partition directory name `<topic>-<partition>` (topics may
/// contain `-`). Names of logs being deleted, future or stray logs do not
/// parse.
pub fn parse_partition_dir(name: &str) -> Option<TopicPartition> {
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !valid_topic(topic) {
        return None;
    }
    let partition = partition.parse().ok()?;
    Some(TopicPartition::new(topic, partition))
}

/// Whether `topic` is safe as a path component (the full Kafka topic rules
/// are the handlers' business).
fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic != "."
        && topic != ".."
        && topic.len() <= 249
        && !topic.bytes().any(|b| b == b'/' || b == b'\\' || b == 0)
}

#[derive(Debug)]
struct LogDir {
    path: PathBuf,
    partitions: usize,
    /// The directory's `.lock`, held until shutdown (as Kafka's).
    lock: Option<fs::File>,
}

/// Kafka's lock file in every log directory.
const LOCK_FILE: &str = ".lock";

/// Takes the directory's lock: a second broker on the same directory would
/// corrupt the logs, so it is refused with Kafka's message.
fn lock_dir(path: &Path) -> Result<fs::File, LogError> {
    let lock_path = path.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| LogError::io(format!("opening {}", lock_path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(LogError::InvalidLogDir {
            path: path.to_path_buf(),
            reason: format!(
                "Failed to acquire lock on file {LOCK_FILE} in {}. A Kafka instance in another process or thread is using this directory.",
                path.display()
            ),
        }),
        Err(fs::TryLockError::Error(e)) => {
            Err(LogError::io(format!("locking {}", lock_path.display()), e))
        }
    }
}

/// Owns the broker's log directories: loads every partition log at
/// start-up, hands logs out, creates and deletes partition directories, and
/// keeps the clean-shutdown markers (see [`CLEAN_SHUTDOWN_FILE`]).
#[derive(Debug)]
pub struct LogManager {
    dirs: Vec<LogDir>,
    default_config: LogConfig,
    /// Every partition with a directory: which log dir holds it.
    locations: HashMap<TopicPartition, usize>,
    /// Logs opened at start-up and not yet handed out.
    loaded: HashMap<TopicPartition, PartitionLog>,
    /// Logs handed out: alive while their [`PartitionLog`] is.
    leases: HashMap<TopicPartition, Weak<()>>,
    /// High watermarks read from the directories' checkpoints at start-up,
    /// until the broker takes them with its logs.
    high_watermarks: HashMap<TopicPartition, i64>,
}

impl LogManager {
    /// Opens every partition log under `dirs` with one recovery thread per
    /// directory.
    pub fn open(dirs: &[PathBuf], default_config: LogConfig) -> Result<Self, LogError> {
        Self::open_with(dirs, default_config, 1)
    }

    /// Opens every partition log under `dirs`, recovering those of
    /// directories without a clean-shutdown marker with
    /// `recovery_threads_per_dir` threads each, then removes the markers.
    pub fn open_with(
        dirs: &[PathBuf],
        default_config: LogConfig,
        recovery_threads_per_dir: usize,
    ) -> Result<Self, LogError> {
        if dirs.is_empty() {
            return Err(LogError::InvalidLogDir {
                path: PathBuf::new(),
                reason: "no log directories configured".into(),
            });
        }
        let mut manager = LogManager {
            dirs: Vec::with_capacity(dirs.len()),
            default_config,
            locations: HashMap::new(),
            loaded: HashMap::new(),
            leases: HashMap::new(),
            high_watermarks: HashMap::new(),
        };
        for (d, path) in dirs.iter().enumerate() {
            if manager.dirs.iter().any(|l| l.path == *path) {
                return Err(LogError::InvalidLogDir {
                    path: path.clone(),
                    reason: "listed twice in log.dirs".into(),
                });
            }
            fs::create_dir_all(path)
                .map_err(|e| LogError::io(format!("creating {}", path.display()), e))?;
            let lock = lock_dir(path)?;
            let clean = path.join(CLEAN_SHUTDOWN_FILE).exists();
            let found = discover(path)?;
            tracing::info!(
                "loading {} logs from {} ({})",
                found.len(),
                path.display(),
                if clean {
                    "clean shutdown"
                } else {
                    "recovering"
                }
            );
            let opened = open_all(
                path,
                &found,
                &manager.default_config,
                clean,
                recovery_threads_per_dir.max(1),
            )?;
            manager.high_watermarks.extend(load_high_watermarks(path));
            for (tp, log) in opened {
                if let Some(other) = manager.locations.insert(tp.clone(), d) {
                    return Err(LogError::InvalidLogDir {
                        path: path.join(tp.dir_name()),
                        reason: format!("duplicate of the log in {}", dirs[other].display()),
                    });
                }
                manager.loaded.insert(tp, log);
            }
            manager.dirs.push(LogDir {
                path: path.clone(),
                partitions: found.len(),
                lock: Some(lock),
            });
        }
        // Only now that every log is loaded: a crash from here on must
        // trigger recovery at the next start.
        for dir in &manager.dirs {
            let marker = dir.path.join(CLEAN_SHUTDOWN_FILE);
            if marker.exists() {
                fs::remove_file(&marker)
                    .map_err(|e| LogError::io(format!("removing {}", marker.display()), e))?;
                sync_dir(&dir.path)
                    .map_err(|e| LogError::io(format!("syncing {}", dir.path.display()), e))?;
            }
        }
        Ok(manager)
    }

    /// The high watermark checkpointed for a partition before the last
    /// stop, once (the broker takes it when it hosts the partition).
    pub fn take_high_watermark(&mut self, topic: &str, partition: i32) -> Option<i64> {
        self.high_watermarks
            .remove(&TopicPartition::new(topic, partition))
    }

    /// The `replication-offset-checkpoint` file of every log directory for
    /// these high watermarks (partitions without a directory here are left
    /// out; a directory without partitions gets an empty checkpoint).
    pub fn high_watermark_checkpoints(
        &self,
        high_watermarks: &[(TopicPartition, i64)],
    ) -> Vec<(PathBuf, String)> {
        let mut by_dir: Vec<Vec<(String, i32, i64)>> = vec![Vec::new(); self.dirs.len()];
        for (tp, hw) in high_watermarks {
            if let Some(&d) = self.locations.get(tp) {
                by_dir[d].push((tp.topic.clone(), tp.partition, *hw));
            }
        }
        self.dirs
            .iter()
            .zip(by_dir)
            .map(|(dir, mut entries)| {
                entries.sort();
                (
                    dir.path.clone(),
                    checkpoint::encode_partition_offsets(&entries),
                )
            })
            .collect()
    }

    /// The log directories.
    pub fn dirs(&self) -> Vec<&Path> {
        self.dirs.iter().map(|d| d.path.as_path()).collect()
    }

    pub fn default_config(&self) -> &LogConfig {
        &self.default_config
    }

    /// Every partition that has a log directory, sorted.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let mut all: Vec<_> = self.locations.keys().cloned().collect();
        all.sort();
        all
    }

    /// Whether `topic`-`partition` has a log here.
    pub fn contains(&self, topic: &str, partition: i32) -> bool {
        self.locations
            .contains_key(&TopicPartition::new(topic, partition))
    }

    /// Hands out the log of `topic`-`partition` with `config`: the one loaded
    /// at start-up, or reopened (cleanly) if it was handed out before and
    /// since dropped, or a new one in the log dir holding the fewest
    /// partitions. Fails with [`LogError::InUse`] while a previous
    /// [`PartitionLog`] for it is still alive.
    pub fn open_or_create(
        &mut self,
        topic: &str,
        partition: i32,
        config: LogConfig,
    ) -> Result<PartitionLog, LogError> {
        let tp = TopicPartition::new(topic, partition);
        if !valid_topic(topic) || partition < 0 {
            return Err(LogError::InvalidLogDir {
                path: PathBuf::from(tp.dir_name()),
                reason: "not a valid topic-partition name".into(),
            });
        }
        if self.leases.get(&tp).is_some_and(|w| w.strong_count() > 0) {
            return Err(LogError::InUse {
                topic: tp.topic,
                partition,
            });
        }
        let log = if let Some(mut log) = self.loaded.remove(&tp) {
            log.set_config(config);
            log
        } else if let Some(&d) = self.locations.get(&tp) {
            PartitionLog::open(&self.dirs[d].path.join(tp.dir_name()), config, true)?
        } else {
            let d = (0..self.dirs.len())
                .min_by_key(|&i| self.dirs[i].partitions)
                .unwrap_or(0);
            let parent = &self.dirs[d].path;
            let log = PartitionLog::open(&parent.join(tp.dir_name()), config, true)?;
            // The new directory's entry in the log dir must survive a crash.
            sync_dir(parent)
                .map_err(|e| LogError::io(format!("syncing {}", parent.display()), e))?;
            self.dirs[d].partitions += 1;
            self.locations.insert(tp.clone(), d);
            log
        };
        self.leases.insert(tp, log.lease());
        Ok(log)
    }

    /// Deletes the log of `topic`-`partition`: renames its directory to
    /// `<topic>-<partition>.<uuid>-delete`, then removes it. The caller drops
    /// its [`PartitionLog`] first. Returns whether there was a log.
    pub fn delete(&mut self, topic: &str, partition: i32) -> Result<bool, LogError> {
        let tp = TopicPartition::new(topic, partition);
        let Some(d) = self.locations.remove(&tp) else {
            return Ok(false);
        };
        self.loaded.remove(&tp);
        self.leases.remove(&tp);
        let dir = &mut self.dirs[d];
        dir.partitions = dir.partitions.saturating_sub(1);
        let from = dir.path.join(tp.dir_name());
        let to = dir.path.join(format!(
            "{}.{}{DELETE_SUFFIX}",
            tp.dir_name(),
            uuid::Uuid::new_v4().simple()
        ));
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(LogError::io(format!("renaming {}", from.display()), e)),
        }
        sync_dir(&dir.path)
            .map_err(|e| LogError::io(format!("syncing {}", dir.path.display()), e))?;
        fs::remove_dir_all(&to)
            .map_err(|e| LogError::io(format!("removing {}", to.display()), e))?;
        tracing::info!("deleted log {}", tp.dir_name());
        Ok(true)
    }

    /// Clean shutdown: closes the logs still held here and writes each
    /// directory's clean-shutdown marker. Logs handed out must have been
    /// closed or flushed, with no appends after, before this is called.
    pub fn shutdown(&mut self) -> Result<(), LogError> {
        let mut first_error = None;
        for (tp, log) in self.loaded.drain() {
            if let Err(e) = log.close() {
                tracing::warn!("closing {}: {e}", tp.dir_name());
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            // A log that did not close cleanly must be recovered next time.
            return Err(e);
        }
        for dir in &self.dirs {
            let marker = dir.path.join(CLEAN_SHUTDOWN_FILE);
            let write = || -> std::io::Result<()> {
                fs::File::create(&marker)?.sync_all()?;
                sync_dir(&dir.path)
            };
            write().map_err(|e| LogError::io(format!("writing {}", marker.display()), e))?;
        }
        for dir in &mut self.dirs {
            dir.lock = None;
        }
        Ok(())
    }
}

/// A log directory's checkpointed high watermarks; an unreadable file is
/// warned about and ignored (high watermarks then start at the log start,
/// as with no checkpoint, and move on with the followers' fetches).
fn load_high_watermarks(dir: &Path) -> Vec<(TopicPartition, i64)> {
    let path = dir.join(HIGH_WATERMARK_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            return Vec::new();
        }
    };
    match checkpoint::decode_partition_offsets(&text) {
        Ok(entries) => entries
            .into_iter()
            .map(|(t, p, o)| (TopicPartition::new(t, p), o))
            .collect(),
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            Vec::new()
        }
    }
}

/// The partition directories under a log dir; removes logs left half-deleted.
fn discover(path: &Path) -> Result<Vec<TopicPartition>, LogError> {
    let io = |e| LogError::io(format!("listing {}", path.display()), e);
    let mut found = Vec::new();
    for entry in fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.file_type().map_err(io)?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(DELETE_SUFFIX) && name.contains('.') {
            if let Err(e) = fs::remove_dir_all(entry.path()) {
                tracing::warn!("removing {}: {e}", entry.path().display());
            }
            continue;
        }
        if let Some(tp) = parse_partition_dir(name) {
            found.push(tp);
        }
    }
    found.sort();
    Ok(found)
}

/// Opens the logs of one directory on `threads` threads.
fn open_all(
    path: &Path,
    found: &[TopicPartition],
    config: &LogConfig,
    clean: bool,
    threads: usize,
) -> Result<Vec<(TopicPartition, PartitionLog)>, LogError> {
    let open_one = |tp: &TopicPartition| {
        PartitionLog::open(&path.join(tp.dir_name()), config.clone(), clean)
            .map(|log| (tp.clone(), log))
    };
    if threads <= 1 || found.len() <= 1 {
        return found.iter().map(open_one).collect();
    }
    let chunk = found.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = found
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(open_one).collect::<Result<Vec<_>, _>>()))
            .collect();
        let mut all = Vec::with_capacity(found.len());
        for h in handles {
            match h.join() {
                Ok(r) => all.extend(r?),
                Err(_) => {
                    return Err(LogError::io(
                        format!("loading logs in {}", path.display()),
                        std::io::Error::other("a recovery thread panicked"),
                    ))
                }
            }
        }
        Ok(all)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dir_names() {
        let cases: &[(&str, Option<(&str, i32)>)] = &[
            ("foo-0", Some(("foo", 0))),
            ("my-topic-12", Some(("my-topic", 12))),
            ("__consumer_offsets-49", Some(("__consumer_offsets", 49))),
            ("a.b_c-3", Some(("a.b_c", 3))),
            ("foo", None),
            ("foo-", None),
            ("-3", None),
            ("foo--1", Some(("foo-", 1))),
            ("foo-x", None),
            ("foo-0.0123456789abcdef0123456789abcdef-delete", None),
            ("foo-0.abc-future", None),
            ("foo-99999999999", None),
        ];
        for (name, expect) in cases {
            let got = parse_partition_dir(name);
            let expect = expect.map(|(t, p)| TopicPartition::new(t, p));
            assert_eq!(got, expect, "{name}");
        }
        assert_eq!(TopicPartition::new("my-topic", 7).dir_name(), "my-topic-7");
    }
}
