//! openraft's state machine: a relay to the core task, which owns the
//! [`crate::state::KeeperState`] and applies entries in log order (it also
//! answers clients and fires watches, so the state has a single owner).
//!
//! # On disk
//! `<dataDir>/raft/snapshot`: `[u32 meta length][bincode SnapshotMeta][state
//! in the snapshot format of crate::persist::snapshot][crc32c u32 of all
//! before]`, replaced atomically. It is the state after applying every entry
//! up to `meta.last_log_id`.

use std::io::Cursor;
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
    /// Serialize the state as it is now (with the last applied log id and membership).
    Snapshot(oneshot::Sender<(Vec<u8>, Option<LogId>, Membership)>),
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
}

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

fn store(path: &Path, meta: &SnapshotMeta, data: &[u8]) -> std::io::Result<()> {
    let meta_bytes = bincode::serialize(meta).map_err(std::io::Error::other)?;
    let mut bytes = Vec::with_capacity(8 + meta_bytes.len() + data.len());
    bytes.extend_from_slice(&(meta_bytes.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&meta_bytes);
    bytes.extend_from_slice(data);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_be_bytes());
    super::log_store::write_atomic(path, &bytes)
}

impl StateMachine {
    /// `loaded` is the snapshot the core's state was restored from.
    pub fn new(
        dir: &Path,
        core: mpsc::Sender<CoreMsg>,
        loaded: Option<&SnapshotMeta>,
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
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let (tx, rx) = oneshot::channel();
        let gone =
            || StorageIOError::read_state_machine(&std::io::Error::other("keeper core stopped"));
        self.core
            .send(CoreMsg::Raft(ToCore::Snapshot(tx)))
            .await
            .map_err(|_| gone())?;
        let (data, last, membership) = rx.await.map_err(|_| gone())?;
        let snapshot_id = match last {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, self.id),
            None => format!("none-{}", self.id),
        };
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: membership,
            snapshot_id,
        };
        let path = self.path.clone();
        let (meta, data) =
            tokio::task::spawn_blocking(move || store(&path, &meta, &data).map(|()| (meta, data)))
                .await
                .map_err(|e| {
                    StorageIOError::write_snapshot(None, &std::io::Error::other(e.to_string()))
                })?
                .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        tracing::info!(
            "raft snapshot {} written ({} bytes)",
            meta.snapshot_id,
            data.len()
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
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
        self.tell(ToCore::Applied(entries)).await?;
        Ok(vec![(); n])
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshots_built += 1;
        SnapshotBuilder {
            core: self.core.clone(),
            path: self.path.clone(),
            id: self.snapshots_built,
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
        store(&self.path, meta, &data)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
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
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageIOError::read_snapshot(None, &e).into()),
        };
        let (meta, data) = split(&bytes)
            .map_err(|e| StorageIOError::read_snapshot(None, &std::io::Error::other(e)))?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data.to_vec())),
        }))
    }
}
