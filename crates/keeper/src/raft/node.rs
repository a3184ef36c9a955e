//! Starting one ensemble member: recover the snapshot and log, start openraft,
//! the peer listener, the write frontend and the role watcher.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, Config, ServerState, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::failover::LeaderWatch;
use super::log_store::LogStore;
use super::network::{self, FrontendMsg, Network};
use super::state_machine::{self, StateMachine};
use super::{Mode, NodeId, Raft, Role};
use crate::config::KeeperConfig;
use crate::server::core::{Core, CoreMsg};
use crate::state::KeeperState;

/// Raft heartbeat. openraft also uses it as the deadline of every
/// AppendEntries (follower fsync included), so it must not be too short.
pub const HEARTBEAT_MS: u64 = 300;
/// Followers elect a new leader after 5-10 missed beats; at once when the
/// leader's process is gone (see `failover`).
pub const ELECTION_TIMEOUT_MIN_MS: u64 = 1500;
pub const ELECTION_TIMEOUT_MAX_MS: u64 = 3000;
/// A leader that heard from no majority for this long stops serving clients.
pub const QUORUM_LOSS_MS: u64 = ELECTION_TIMEOUT_MAX_MS;

#[derive(Debug, thiserror::Error)]
pub enum EnsembleError {
    #[error("ensemble mode needs this server's id: write it to {0}/myid")]
    NoMyId(String),
    #[error("myid {0} has no server.{0} line")]
    UnknownId(u64),
    #[error("cannot resolve peer address {0}")]
    BadAddress(String),
    #[error("raft storage: {0}")]
    Storage(std::io::Error),
    #[error("cannot listen for peers on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("raft: {0}")]
    Raft(String),
}

/// A started member: its core (state recovered) and the Raft handle.
pub struct Started {
    pub core: Core,
    pub raft: Raft,
}

fn raft_config(cfg: &KeeperConfig) -> Result<Config, EnsembleError> {
    let snap_every = cfg.snap_count.max(10);
    Config {
        cluster_name: "rill-keeper".into(),
        heartbeat_interval: HEARTBEAT_MS,
        election_timeout_min: ELECTION_TIMEOUT_MIN_MS,
        election_timeout_max: ELECTION_TIMEOUT_MAX_MS,
        // The core asks for a snapshot every snapCount transactions; this is a backstop.
        snapshot_policy: SnapshotPolicy::LogsSinceLast(snap_every),
        // Entries kept behind a snapshot for followers that lag a little (each holds a batch).
        max_in_snapshot_log_to_keep: (snap_every / 100).clamp(10, 100),
        // Entries hold batches (up to 256 writes): keep a replication request
        // (and the copies openraft reads for it) to about a megabyte.
        max_payload_entries: 16,
        ..Default::default()
    }
    .validate()
    .map_err(|e| EnsembleError::Raft(e.to_string()))
}

pub async fn start(
    cfg: &KeeperConfig,
    core_tx: mpsc::Sender<CoreMsg>,
) -> Result<Started, EnsembleError> {
    let my_id = cfg
        .my_id
        .ok_or_else(|| EnsembleError::NoMyId(cfg.data_dir.display().to_string()))?;
    let me = cfg
        .servers
        .iter()
        .find(|s| s.id == my_id)
        .ok_or(EnsembleError::UnknownId(my_id))?;
    let peers: BTreeMap<NodeId, String> = cfg
        .servers
        .iter()
        .filter(|s| !s.observer)
        .map(|s| (s.id, format!("{}:{}", s.host, s.peer_port)))
        .collect();

    let snap_dir = cfg.data_dir.join("raft");
    let loaded = state_machine::load(&snap_dir).map_err(EnsembleError::Storage)?;
    let (meta, state) = match loaded {
        Some((meta, state)) => (Some(meta), state),
        None => (None, KeeperState::new()),
    };
    tracing::info!(
        "ensemble member {my_id}: recovered {} znodes and {} sessions from the raft snapshot (last log id {:?})",
        state.tree.node_count(),
        state.sessions.len(),
        meta.as_ref().and_then(|m| m.last_log_id)
    );
    let log_store = LogStore::open(&cfg.data_log_dir.join("raft"), &snap_dir, cfg.force_sync)
        .map_err(EnsembleError::Storage)?;
    let sm = StateMachine::new(&snap_dir, core_tx.clone(), meta.as_ref(), log_store.view())
        .map_err(EnsembleError::Storage)?;

    let listen = format!("{}:{}", me.host, me.peer_port);
    let addr: SocketAddr = tokio::net::lookup_host(&listen)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| EnsembleError::BadAddress(listen.clone()))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| EnsembleError::Bind {
            addr: listen.clone(),
            source,
        })?;

    let log_view = log_store.view();
    let config = Arc::new(raft_config(cfg)?);
    let raft = Raft::new(
        my_id,
        config,
        Network {
            peers: peers.clone(),
        },
        log_store,
        sm,
    )
    .await
    .map_err(|e| EnsembleError::Raft(e.to_string()))?;

    let watch = LeaderWatch::new(raft.clone(), my_id, peers.clone(), log_view);
    let (frontend_tx, frontend_rx) = mpsc::unbounded_channel::<FrontendMsg>();
    tokio::spawn(network::serve(
        listener,
        raft.clone(),
        core_tx.clone(),
        watch.clone(),
        frontend_tx.clone(),
    ));
    tokio::spawn(network::frontend(
        my_id,
        raft.clone(),
        peers.clone(),
        frontend_rx,
        core_tx.clone(),
        watch,
    ));
    let (read_index_tx, read_index_rx) = mpsc::unbounded_channel::<u64>();
    tokio::spawn(network::read_index(
        my_id,
        raft.clone(),
        peers.clone(),
        read_index_rx,
        core_tx.clone(),
    ));
    tokio::spawn(watch_role(my_id, raft.clone(), core_tx));

    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| EnsembleError::Raft(e.to_string()))?;
    if !initialized {
        // Every member starts the same initial membership; openraft accepts this
        // on each pristine node (the entries are identical).
        let members: BTreeMap<NodeId, BasicNode> = peers
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr)))
            .collect();
        if let Err(e) = raft.initialize(members).await {
            tracing::info!("raft initialize: {e}");
        }
    }

    let applied = meta.as_ref().and_then(|m| m.last_log_id);
    let membership = meta.map(|m| m.last_membership).unwrap_or_default();
    let core = Core::new(cfg.clone(), state, None).with_ensemble(
        my_id,
        frontend_tx,
        read_index_tx,
        applied,
        membership,
    );
    Ok(Started { core, raft })
}

/// The role the core should act on, from openraft's metrics.
fn role_of(m: &openraft::RaftMetrics<NodeId, BasicNode>, my_id: NodeId) -> Role {
    let leading = m.state == ServerState::Leader
        && m.millis_since_quorum_ack
            .is_some_and(|ms| ms <= QUORUM_LOSS_MS);
    let mode = if leading {
        Mode::Leader
    } else if m.state == ServerState::Follower && m.current_leader.is_some_and(|l| l != my_id) {
        Mode::Follower
    } else {
        Mode::Looking
    };
    let (followers, synced) = if mode == Mode::Leader {
        let voters = m
            .membership_config
            .voter_ids()
            .filter(|id| *id != my_id)
            .count();
        let applied = m.last_applied.map(|l| l.index);
        let synced = m.replication.as_ref().map_or(0, |r| {
            r.iter()
                .filter(|(id, matched)| **id != my_id && matched.map(|l| l.index) >= applied)
                .count()
        });
        (voters, synced)
    } else {
        (0, 0)
    };
    Role {
        mode,
        leader: if mode == Mode::Looking {
            None
        } else {
            m.current_leader
        },
        term: m.current_term,
        followers,
        synced_followers: synced,
    }
}

/// Tells the core whenever its role changes; ticks too, since a leader that
/// stops hearing from its followers produces no new metrics.
async fn watch_role(my_id: NodeId, raft: Raft, core: mpsc::Sender<CoreMsg>) {
    let mut metrics = raft.metrics();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last: Option<Role> = None;
    loop {
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
        }
        let role = role_of(&metrics.borrow(), my_id);
        if last != Some(role) {
            last = Some(role);
            if core.send(CoreMsg::Role(role)).await.is_err() {
                return;
            }
        }
    }
}
