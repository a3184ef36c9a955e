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
//! # Batches
//! openraft 0.9 appends (and fsyncs) each client write as it comes, so the
//! leader proposes [`Batch`]es: everything queued while earlier batches are in
//! flight becomes one entry (at most [`MAX_BATCH`] proposals, at most
//! [`MAX_BATCHES_IN_FLIGHT`] entries not yet applied). Group commit, as in
//! standalone mode.
//!
//! # zxid mapping
//! `zxid = term << 40 | index << 8 | position`: the Raft term in the high 24
//! bits (as ZooKeeper's epoch), then the log index (32 bits), then the
//! proposal's position in its batch (8 bits). Committed entries are ordered the
//! same way by index and by (term, index), so zxids seen by clients only grow;
//! 2^32 entries (of up to 256 writes each) is where the index bits would
//! overflow, far beyond any server's life, so no restart is ever forced.
//!
//! # On disk
//! - `<dataLogDir>/raft/log`: the Raft log (see [`log_store`]).
//! - `<dataDir>/raft/vote`: the last vote (see [`log_store`]).
//! - `<dataDir>/raft/snapshot`: the newest snapshot (see [`state_machine`]).
//!
//! # sync
//! `sync` is a linearizable read point, not a log entry: the leader confirms
//! its lead with a quorum (openraft's `get_read_log_id`, the first half of
//! `ensure_linearizable`) and names the committed index; the server that got
//! the `sync` (the leader itself, or a follower that asked it on the peer
//! port) answers once it has applied that index, in order with the client's
//! other requests (see [`network::read_index`]).
//!
//! # Quorum loss
//! A leader that heard from no majority for [`node::QUORUM_LOSS_MS`] stops
//! serving: it disconnects its clients and refuses new sessions, so they move
//! to a member of the majority (with their sessions and ephemerals). Until
//! then, writes sent to it wait and are never acknowledged (no majority
//! stores them; the new leader's log replaces them), while reads are still
//! answered from its own state, which may be older than the majority's (as
//! in ZooKeeper, whose leader waits syncLimit ticks); `sync` fails, having
//! no quorum to confirm a read index. A follower whose leader is gone keeps its
//! clients while a new leader is elected (their writes wait for it) and
//! disconnects them if none appears within the same time. There is no
//! read-only mode (`isro` answers `rw`; a member without quorum refuses sessions).
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
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub type NodeId = u64;

/// What a log entry asks the keepers to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A resolved transaction, encoded with [`crate::txn::Txn::encode`] (its zxid field is 0).
    Txn(Vec<u8>),
    /// Changes nothing. Earlier versions proposed it for `sync`; `sync` now
    /// uses a read index (see [`network::read_index`]). Kept so that logs
    /// holding one still decode.
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

/// Most proposals in one entry (the position takes 8 bits of the zxid).
pub const MAX_BATCH: usize = 256;
/// Entries the leader keeps proposed but not yet applied.
pub const MAX_BATCHES_IN_FLIGHT: usize = 4;

/// One log entry's payload.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Batch {
    pub proposals: Vec<Proposal>,
    /// Leader only, never logged: held until the entry is applied (or dropped
    /// by openraft), bounding the batches in flight.
    #[serde(skip)]
    pub permit: Option<Arc<tokio::sync::OwnedSemaphorePermit>>,
}

impl PartialEq for Batch {
    fn eq(&self, other: &Self) -> bool {
        self.proposals == other.proposals
    }
}

impl Eq for Batch {}

openraft::declare_raft_types!(
    /// The keeper's Raft types.
    pub TypeConfig:
        D = Batch,
        R = (),
        Responder = InFlight,
);

/// openraft's per-write answer is not needed (the proposer learns the outcome
/// when it applies the entry, and a leader change disconnects its clients);
/// the responder only carries the in-flight permit until the entry is applied.
pub struct InFlight(#[allow(dead_code)] Option<Arc<tokio::sync::OwnedSemaphorePermit>>);

impl openraft::raft::responder::Responder<TypeConfig> for InFlight {
    type Receiver = ();

    fn from_app_data(mut d: Batch) -> (Batch, Self, ()) {
        let permit = d.permit.take();
        (d, InFlight(permit), ())
    }

    fn send(self, _result: openraft::raft::ClientWriteResult<TypeConfig>) {}
}

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Membership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;

/// Roughly the bytes an entry holds (to bound requests and memory by size).
pub fn entry_bytes(e: &Entry) -> usize {
    match &e.payload {
        openraft::EntryPayload::Normal(batch) => batch
            .proposals
            .iter()
            .map(|p| match &p.command {
                Command::Txn(b) => b.len() + 48,
                Command::Barrier => 48,
            })
            .sum(),
        _ => 64,
    }
}

/// The zxid of the proposal at `position` in the entry at `log_id` (see the module docs).
pub fn zxid_of(log_id: &LogId, position: usize) -> i64 {
    let index = log_id.index & 0xffff_ffff;
    ((log_id.leader_id.term << 40) | (index << 8) | (position as u64 & 0xff)) as i64
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
    fn zxids_grow_with_term_index_and_position() {
        assert_eq!(zxid_of(&log_id(1, 5), 3), (1 << 40) | (5 << 8) | 3);
        assert!(zxid_of(&log_id(2, 1), 0) > zxid_of(&log_id(1, 900), 255));
        assert!(zxid_of(&log_id(2, 901), 0) > zxid_of(&log_id(2, 900), 255));
        assert!(zxid_of(&log_id(2, 900), 1) > zxid_of(&log_id(2, 900), 0));
    }
}
