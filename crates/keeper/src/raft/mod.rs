//! Ensembles: the keeper replicated with Raft (openraft).
//!
//! Every write — znode changes, session create, close and expiry, reaping —
//! becomes a [`Proposal`] in the Raft log. The proposing server resolves the
//! request into a [`crate::txn::Txn`] (time, session, identities) as in
//! standalone mode; the zxid is filled in from the entry's log id when it is
//! applied, so every replica applies the same transaction with the same zxid.
//!
//! # Ports
//! `server.N=host:peerPort:electionPort`: Raft RPCs (append entries, votes,
//! snapshot chunks) and the keeper's own server-to-server messages (writes a
//! follower forwards to the leader, session touches) all travel on `peerPort`.
//! Raft elects its leader with the same RPCs, so `electionPort` is not used
//! (it is accepted so that ZooKeeper's zoo.cfg works unchanged).
//!
//! # zxid mapping
//! `zxid = term << 40 | index`: the Raft term in the high 24 bits (as
//! ZooKeeper's epoch), the log index in the low 40 bits. Committed entries are
//! ordered the same way by index and by (term, index), so zxids seen by clients
//! only grow; 2^40 entries (a trillion) is the point where the low bits would
//! overflow, far beyond any server's life, so no restart is ever forced.
//!
//! # On disk
//! - `<dataLogDir>/raft/log`: the Raft log (see [`log_store`]).
//! - `<dataDir>/raft/vote`: the last vote (see [`log_store`]).
//! - `<dataDir>/raft/snapshot`: the newest snapshot (see [`state_machine`]).
//!
//! # Durability
//! Log entries are fdatasync'ed before openraft is told they are flushed (the
//! append callback), and the vote is fsync'ed before `save_vote` returns, so a
//! write is acknowledged only once a majority holds it on disk.

pub mod failover;
// openraft's error types are large and are what its traits return.
#[allow(clippy::result_large_err)]
pub mod log_store;
#[allow(clippy::result_large_err)]
pub mod network;
pub mod node;
#[allow(clippy::result_large_err)]
pub mod state_machine;

use std::io::Cursor;

use serde::{Deserialize, Serialize};

pub type NodeId = u64;

/// What a log entry asks the keepers to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A resolved transaction, encoded with [`crate::txn::Txn::encode`] (its zxid field is 0).
    Txn(Vec<u8>),
    /// Changes nothing; `sync` waits for it so the next read sees every write
    /// committed before the sync (ZooKeeper sends sync through the leader too).
    Barrier,
}

/// One entry's payload: the command and who proposed it, so that the proposing
/// server can answer its client when the entry is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub from: NodeId,
    pub seq: u64,
    pub command: Command,
}

openraft::declare_raft_types!(
    /// The keeper's Raft types.
    pub TypeConfig:
        D = Proposal,
        R = (),
        Responder = NoReply,
);

/// openraft's per-write answer is not needed: the proposer learns the outcome
/// when it applies the entry (and a leader change disconnects its clients).
pub struct NoReply;

impl openraft::raft::responder::Responder<TypeConfig> for NoReply {
    type Receiver = ();

    fn from_app_data(d: Proposal) -> (Proposal, Self, ()) {
        (d, NoReply, ())
    }

    fn send(self, _result: openraft::raft::ClientWriteResult<TypeConfig>) {}
}

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Membership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;

/// Bits of the zxid that hold the log index.
pub const ZXID_INDEX_BITS: u32 = 40;

/// The zxid of the entry at `log_id` (see the module docs).
pub fn zxid_of(log_id: &LogId) -> i64 {
    let index = log_id.index & ((1u64 << ZXID_INDEX_BITS) - 1);
    ((log_id.leader_id.term << ZXID_INDEX_BITS) | index) as i64
}

/// The server's part in the ensemble, as four-letter words report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    Leader,
    Follower,
    /// No leader known, or a leader that lost its majority: not serving.
    #[default]
    Looking,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Looking => "looking",
        }
    }
}

/// What the core needs to know about the ensemble (from openraft's metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Role {
    pub mode: Mode,
    pub leader: Option<NodeId>,
    pub term: u64,
    /// Leader only: voters other than itself, and those caught up with its log.
    pub followers: usize,
    pub synced_followers: usize,
}

impl Role {
    pub fn serving(&self) -> bool {
        self.mode != Mode::Looking
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    #[test]
    fn zxids_grow_with_term_and_index() {
        assert_eq!(zxid_of(&log_id(1, 5)), (1 << 40) | 5);
        assert!(zxid_of(&log_id(2, 1)) > zxid_of(&log_id(1, 900)));
        assert!(zxid_of(&log_id(2, 901)) > zxid_of(&log_id(2, 900)));
    }
}
