//! openraft's state machine: a relay to the core task, which owns the
//! [`crate::state::KeeperState`] and applies entries in log order (it also
//! answers clients and fires watches, so the state has a single owner).
//!
//! # On disk
//! `<dataDir>/raft/snapshot`: `[u32 meta length][bincode SnapshotMeta][state
//! in the snapshot format of crate::persist::snapshot][crc32c u32 of all
//! before]`, replaced atomically. It is the state after applying every entry
//! up to `meta.last_log_id`.
//!
//! # Memory
//! A snapshot is streamed from the tree into its file (no buffer of the whole
//! state, which would briefly double a member's memory); openraft only keeps
//! the metadata of a snapshot it had built. The bytes are read back when a
//! follower needs them, and a received snapshot is stored without a copy.

use std::fs::File;
use std::io::{BufWriter, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::{EntryPayload, StorageError, StorageIOError};
use tokio::sync::{mpsc, oneshot};

use super::{Entry, LogId, Membership, NodeId, SnapshotMeta, TypeConfig};
use crate::server::core::CoreMsg;
use crate::state::KeeperState;

/// What the state machine tells the core.
pub enum ToCore {
    /// Committed entries, in order.
    Applied(Vec<Entry>),
    /// Write the state as it is now (at its last applied log id) to a
    /// snapshot file with [`write_unsynced`], between two entries.
    Snapshot {
        id: u64,
        path: PathBuf,
        reply: oneshot::Sender<std::io::Result<(SnapshotMeta, PendingSnapshot)>>,
    },
    /// Replace the state with a snapshot received from the leader.
    Install {
        state: Box<KeeperState>,
        meta: SnapshotMeta,
    },
}

#[derive(Default)]
struct Applied {
    last: Option<LogId>,
    membership: Membership,
}

/// The state machine handed to openraft.
pub struct StateMachine {
    core: mpsc::Sender<CoreMsg>,
    applied: Arc<Mutex<Applied>>,
    path: PathBuf,
    snapshots_built: u64,
    /// The last log id of the snapshot file on disk.
    on_disk: OnDisk,
    /// Drops applied entries from the log's memory.
    log: super::log_store::LogView,
}

/// Built and received snapshots may finish in any order: the newer stays.
type OnDisk = Arc<Mutex<Option<LogId>>>;

/// The newest snapshot on disk: its metadata and the state it holds.
pub fn load(dir: &Path) -> std::io::Result<Option<(SnapshotMeta, KeeperState)>> {
    let path = dir.join("snapshot");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |why: String| std::io::Error::other(format!("{}: {why}", path.display()));
    let (meta, data) = split(&bytes).map_err(bad)?;
    let state = crate::persist::snapshot::decode(data).map_err(bad)?;
    Ok(Some((meta, state)))
}

fn split(bytes: &[u8]) -> Result<(SnapshotMeta, &[u8]), String> {
    if bytes.len() < 8 {
        return Err("too short".into());
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().expect("4 bytes")) {
        return Err("checksum mismatch".into());
    }
    let meta_len = u32::from_be_bytes(body[..4].try_into().expect("4 bytes")) as usize;
    let meta_bytes = body.get(4..4 + meta_len).ok_or("metadata truncated")?;
    let meta = bincode::deserialize(meta_bytes).map_err(|e| e.to_string())?;
    Ok((meta, &body[4 + meta_len..]))
}

/// The metadata of a snapshot of the state at `last`.
pub fn snapshot_meta(last: Option<LogId>, membership: Membership, id: u64) -> SnapshotMeta {
    let snapshot_id = match last {
        Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, id),
        None => format!("none-{id}"),
    };
    SnapshotMeta {
        last_log_id: last,
        last_membership: membership,
        snapshot_id,
    }
}

/// A snapshot file written but not yet durable; [`PendingSnapshot::commit`]
/// syncs it and moves it into place.
pub struct PendingSnapshot {
    tmp: PathBuf,
    path: PathBuf,
    file: File,
    last: Option<LogId>,
}

impl PendingSnapshot {
    /// Makes the file durable and the current snapshot unless a newer one
    /// got there first. Returns its size.
    fn commit(self, on_disk: &OnDisk) -> std::io::Result<u64> {
        self.file.sync_all()?;
        let size = self.file.metadata()?.len();
        let mut current = on_disk.lock().expect("snapshot lock");
        if *current > self.last {
            std::fs::remove_file(&self.tmp)?;
            return Ok(size);
        }
        std::fs::rename(&self.tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        *current = self.last;
        Ok(size)
    }
}

/// Writes a snapshot file (to a temp name next to `path`) with `write_body`
/// streaming the state after the metadata.
fn write_with(
    path: &Path,
    tmp_ext: &str,
    meta: &SnapshotMeta,
    write_body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<PendingSnapshot> {
    let tmp = path.with_extension(tmp_ext);
    let file = File::create(&tmp)?;
    let mut w =
        crate::persist::snapshot::CrcWriter::new(BufWriter::with_capacity(256 * 1024, &file));
    let meta_bytes = bincode::serialize(meta).map_err(std::io::Error::other)?;
    w.write_all(&(meta_bytes.len() as u32).to_be_bytes())?;
    w.write_all(&meta_bytes)?;
    write_body(&mut w)?;
    w.finish()?;
    Ok(PendingSnapshot {
        tmp,
        path: path.to_owned(),
        file,
        last: meta.last_log_id,
    })
}

/// Streams `state` into a snapshot file for `meta` (the core calls this
/// between entries, so the file holds exactly the state at `meta.last_log_id`).
pub fn write_unsynced(
    path: &Path,
    meta: &SnapshotMeta,
    state: &KeeperState,
) -> std::io::Result<PendingSnapshot> {
    write_with(path, "build", meta, |w| {
        crate::persist::snapshot::encode_into(state, w)
    })
}

impl StateMachine {
    /// `loaded` is the snapshot the core's state was restored from.
    pub fn new(
        dir: &Path,
        core: mpsc::Sender<CoreMsg>,
        loaded: Option<&SnapshotMeta>,
        log: super::log_store::LogView,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let applied = Applied {
            last: loaded.and_then(|m| m.last_log_id),
            membership: loaded
                .map(|m| m.last_membership.clone())
                .unwrap_or_default(),
        };
        Ok(StateMachine {
            core,
            applied: Arc::new(Mutex::new(applied)),
            path: dir.join("snapshot"),
            snapshots_built: 0,
            on_disk: Arc::new(Mutex::new(loaded.and_then(|m| m.last_log_id))),
            log,
        })
    }

    async fn tell(&self, msg: ToCore) -> Result<(), StorageError<NodeId>> {
        self.core.send(CoreMsg::Raft(msg)).await.map_err(|_| {
            StorageIOError::write_state_machine(&std::io::Error::other("keeper core stopped"))
                .into()
        })
    }
}

/// Builds a snapshot from the core's state.
pub struct SnapshotBuilder {
    core: mpsc::Sender<CoreMsg>,
    path: PathBuf,
    id: u64,
    on_disk: OnDisk,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let (reply, rx) = oneshot::channel();
        let gone =
            || StorageIOError::read_state_machine(&std::io::Error::other("keeper core stopped"));
        let msg = ToCore::Snapshot {
            id: self.id,
            path: self.path.clone(),
            reply,
        };
        self.core
            .send(CoreMsg::Raft(msg))
            .await
            .map_err(|_| gone())?;
        let (meta, pending) = rx
            .await
            .map_err(|_| gone())?
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let on_disk = self.on_disk.clone();
        let size = tokio::task::spawn_blocking(move || pending.commit(&on_disk))
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &std::io::Error::other(e)))?
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!("raft snapshot {} written ({size} bytes)", meta.snapshot_id);
        // openraft keeps only the metadata of a snapshot it built; a
        // follower that needs the bytes gets them from `get_current_snapshot`.
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(Vec::new())),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError<NodeId>> {
        let a = self.applied.lock().expect("applied lock");
        Ok((a.last, a.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let n = entries.len();
        {
            let mut a = self.applied.lock().expect("applied lock");
            for e in &entries {
                a.last = Some(e.log_id);
                if let EntryPayload::Membership(m) = &e.payload {
                    a.membership = Membership::new(Some(e.log_id), m.clone());
                }
            }
        }
        let last = entries.last().map(|e| e.log_id.index);
        self.tell(ToCore::Applied(entries)).await?;
        if let Some(last) = last {
            self.log.applied(last);
        }
        Ok(vec![(); n])
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshots_built += 1;
        SnapshotBuilder {
            core: self.core.clone(),
            path: self.path.clone(),
            id: self.snapshots_built,
            on_disk: self.on_disk.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let state = crate::persist::snapshot::decode(&data).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), &std::io::Error::other(e))
        })?;
        write_with(&self.path, "install", meta, |w| w.write_all(&data))
            .and_then(|pending| pending.commit(&self.on_disk))
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        drop(data);
        {
            let mut a = self.applied.lock().expect("applied lock");
            a.last = meta.last_log_id;
            a.membership = meta.last_membership.clone();
        }
        tracing::info!(
            "installing raft snapshot {} from the leader",
            meta.snapshot_id
        );
        self.tell(ToCore::Install {
            state: Box::new(state),
            meta: meta.clone(),
        })
        .await
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let mut bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageIOError::read_snapshot(None, &e).into()),
        };
        let (meta, data) = split(&bytes)
            .map_err(|e| StorageIOError::read_snapshot(None, &std::io::Error::other(e)))?;
        // The state's bytes, moved to the front of the buffer rather than copied.
        let range = data.as_ptr() as usize - bytes.as_ptr() as usize;
        let range = range..range + data.len();
        bytes.truncate(range.end);
        bytes.drain(..range.start);
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
