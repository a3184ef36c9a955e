//! Server-to-server traffic on the peer port: a small framed protocol over
//! TCP, `[u32 length][bincode message]`.
//!
//! Raft RPCs are request/response on connections opened by the caller (one per
//! openraft replication stream). Writes forwarded by a follower and its session
//! touches are one-way messages on a connection of their own, so the leader
//! proposes them in the order the follower sent them (per-session FIFO).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use super::failover::LeaderWatch;
use super::{Batch, NodeId, Proposal, Raft, TypeConfig, MAX_BATCH, MAX_BATCHES_IN_FLIGHT};
use crate::server::core::CoreMsg;

/// Largest frame accepted (snapshot chunks are at most openraft's chunk size).
const MAX_FRAME: u32 = 256 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long writes wait for a new leader before their clients are disconnected.
const HOLD_WRITES: Duration = Duration::from_millis(super::node::QUORUM_LOSS_MS);
/// Bytes of entries sent in one AppendEntries. openraft bounds a request by
/// entry count only and gives it one heartbeat interval to complete (follower
/// fsync included), so a batch of large znodes is sent in parts.
const APPEND_BUDGET_BYTES: usize = 2 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
pub enum PeerRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// One-way: writes to propose, in order.
    Forward(Vec<Proposal>),
    /// One-way: sessions that showed activity at the sender.
    Touch(Vec<i64>),
    /// A follower's `sync`: the leader confirms its lead with a quorum and
    /// answers the log index a linearizable read must wait for.
    ReadIndex,
}

#[derive(Serialize, Deserialize)]
pub enum PeerResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// The read index, or why the leader could not confirm it.
    ReadIndex(Result<u64, String>),
}

async fn write_frame<T: Serialize>(stream: &mut TcpStream, msg: &T) -> std::io::Result<()> {
    let body = bincode::serialize(msg).map_err(std::io::Error::other)?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    stream.write_all(&buf).await
}

/// `None` on a clean end of stream.
async fn read_frame<T: DeserializeOwned>(stream: &mut TcpStream) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("peer frame of {len} bytes is too large"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    stream.read_exact(&mut body).await?;
    bincode::deserialize(&body)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

pub(crate) async fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

// ---- client side: openraft's network ----

/// Opens [`PeerClient`]s for openraft. Addresses come from this server's
/// zoo.cfg (a member may list itself as 0.0.0.0, so the membership's own
/// copy of an address is only a fallback).
pub struct Network {
    pub peers: BTreeMap<NodeId, String>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: self
                .peers
                .get(&target)
                .cloned()
                .unwrap_or_else(|| node.addr.clone()),
            stream: None,
        }
    }
}

/// A request/response connection to one peer, reopened after any error.
pub struct PeerClient {
    target: NodeId,
    addr: String,
    stream: Option<TcpStream>,
}

enum CallError {
    Unreachable(std::io::Error),
    Network(std::io::Error),
}

impl CallError {
    fn into_rpc<E: std::error::Error>(self) -> RPCError<NodeId, BasicNode, E> {
        match self {
            CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
        }
    }
}

impl PeerClient {
    async fn call(
        &mut self,
        req: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, CallError> {
        if self.stream.is_none() {
            self.stream = Some(connect(&self.addr).await.map_err(CallError::Unreachable)?);
        }
        let stream = self.stream.as_mut().expect("connected above");
        let result = tokio::time::timeout(timeout, async {
            write_frame(stream, &req).await?;
            read_frame::<PeerResponse>(stream).await?.ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "peer closed the connection",
                )
            })
        })
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "rpc timed out",
            ))
        });
        if result.is_err() {
            self.stream = None;
        }
        result.map_err(CallError::Network)
    }

    fn unexpected<E: std::error::Error>(&self) -> RPCError<NodeId, BasicNode, E> {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, "mismatched peer response");
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let mut rpc = rpc;
        let mut partial = None;
        let mut total = 0;
        if let Some(cut) = rpc.entries.iter().position(|e| {
            total += super::entry_bytes(e);
            total > APPEND_BUDGET_BYTES
        }) {
            rpc.entries.truncate(cut.max(1));
            partial = rpc.entries.last().map(|e| e.log_id);
        }
        match self
            .call(PeerRequest::AppendEntries(rpc), option.hard_ttl())
            .await
        {
            Ok(PeerResponse::AppendEntries(r)) => match r {
                Ok(AppendEntriesResponse::Success) if partial.is_some() => {
                    Ok(AppendEntriesResponse::PartialSuccess(partial))
                }
                r => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            },
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(e.into_rpc()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self
            .call(PeerRequest::InstallSnapshot(rpc), option.hard_ttl())
            .await
        {
            Ok(PeerResponse::InstallSnapshot(r)) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(e.into_rpc()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(PeerRequest::Vote(rpc), option.hard_ttl()).await {
            Ok(PeerResponse::Vote(r)) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(e.into_rpc()),
        }
    }

    /// Retries to an unreachable member: 100 ms, doubling up to 1 s.
    fn backoff(&self) -> openraft::network::Backoff {
        let delays = (0..4)
            .map(|i| Duration::from_millis(100 << i))
            .chain(std::iter::repeat(Duration::from_secs(1)));
        openraft::network::Backoff::new(delays)
    }
}

// ---- server side ----

/// Accepts peer connections and serves them until the listener fails.
pub async fn serve(
    listener: TcpListener,
    raft: Raft,
    core: mpsc::Sender<CoreMsg>,
    watch: LeaderWatch,
    frontend: mpsc::UnboundedSender<FrontendMsg>,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("peer accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (raft, core) = (raft.clone(), core.clone());
        let watch = watch.clone();
        let frontend = frontend.clone();
        tokio::spawn(async move {
            let mut from_leader = None;
            let served = serve_peer(stream, &raft, core, &frontend, &mut from_leader, &watch).await;
            if let Err(e) = served {
                tracing::debug!("peer connection {addr} closed: {e}");
            }
            // A leader's replication connection ended: is the leader gone?
            // (openraft opens a connection for each leadership check of a
            // read index; those carry one AppendEntries and end by design.)
            if let Some((leader, _)) = from_leader.filter(|(_, requests)| *requests > 1) {
                watch.suspect(leader);
            }
        });
    }
}

async fn serve_peer(
    mut stream: TcpStream,
    raft: &Raft,
    core: mpsc::Sender<CoreMsg>,
    frontend: &mpsc::UnboundedSender<FrontendMsg>,
    from_leader: &mut Option<(NodeId, u32)>,
    watch: &LeaderWatch,
) -> std::io::Result<()> {
    while let Some(req) = read_frame::<PeerRequest>(&mut stream).await? {
        let resp = match req {
            PeerRequest::AppendEntries(r) => {
                let leader = r.vote.leader_id().voted_for().unwrap_or_default();
                let seen = from_leader.map_or(0, |(_, n)| n);
                *from_leader = Some((leader, seen.saturating_add(1)));
                PeerResponse::AppendEntries(raft.append_entries(r).await)
            }
            PeerRequest::Vote(r) => {
                // openraft refuses votes while the leader's lease lasts; if a
                // peer asks because our leader died, find out and elect now.
                let candidate = r.vote.leader_id().voted_for();
                let leader = raft.metrics().borrow().current_leader;
                if let Some(leader) = leader.filter(|l| Some(*l) != candidate) {
                    watch.suspect(leader);
                }
                watch.vote_requested(candidate, r.last_log_id);
                PeerResponse::Vote(raft.vote(r).await)
            }
            PeerRequest::InstallSnapshot(r) => {
                PeerResponse::InstallSnapshot(raft.install_snapshot(r).await)
            }
            PeerRequest::Forward(proposals) => {
                // Batched with this server's own writes; the outcome reaches
                // the proposer when it applies the entry.
                for p in proposals {
                    let _ = frontend.send(FrontendMsg::Propose(p));
                }
                continue;
            }
            PeerRequest::Touch(sessions) => {
                let _ = core.send(CoreMsg::Touch(sessions)).await;
                continue;
            }
            PeerRequest::ReadIndex => PeerResponse::ReadIndex(local_read_index(raft).await),
        };
        write_frame(&mut stream, &resp).await?;
    }
    Ok(())
}

// ---- linearizable reads: `sync` ----

/// The index of the log entry a linearizable read must wait for, asked of
/// openraft on the leader: it confirms the lead with a quorum of heartbeats
/// (so no newer leader can have committed anything) and answers the highest
/// committed index (or its own term's first entry, if that is not committed yet).
async fn local_read_index(raft: &Raft) -> Result<u64, String> {
    match raft.get_read_log_id().await {
        Ok((read, _applied)) => Ok(read.map_or(0, |l| l.index)),
        Err(e) => Err(e.to_string()),
    }
}

/// How long a read index may take (a heartbeat round trip, or an election
/// when no leader is known) before the `sync`s waiting for it fail.
const READ_INDEX_TIMEOUT: Duration = Duration::from_millis(super::node::QUORUM_LOSS_MS);

/// Serves the core's `sync`s: every request waiting when a read index is
/// asked for shares it (they all arrived before it was asked). Asks openraft
/// when this server leads, otherwise the leader over a request/response
/// connection of its own. The core answers each `sync` once it has applied
/// the entry at that index, so the read after it sees every write committed
/// before the `sync` began (ZooKeeper's sync guarantee, made linearizable).
pub async fn read_index(
    my_id: NodeId,
    raft: Raft,
    peers: BTreeMap<NodeId, String>,
    mut rx: mpsc::UnboundedReceiver<u64>,
    core: mpsc::Sender<CoreMsg>,
) {
    let mut link: Option<PeerClient> = None;
    let mut seqs = Vec::new();
    loop {
        if rx.recv_many(&mut seqs, 4096).await == 0 {
            return;
        }
        let started = Instant::now();
        let index = loop {
            let leader = raft.metrics().borrow().current_leader;
            let asked = match leader {
                Some(l) if l == my_id => Some(local_read_index(&raft).await),
                Some(l) => Some(remote_read_index(&mut link, l, &peers).await),
                None => None,
            };
            match asked {
                Some(Ok(index)) => break Some(index),
                Some(Err(e)) => tracing::debug!("read index: {e}"),
                None => {}
            }
            // No leader, or it changed under us: try the next one for a while.
            if started.elapsed() > READ_INDEX_TIMEOUT {
                break None;
            }
            let mut metrics = raft.metrics();
            let _ = tokio::time::timeout(Duration::from_millis(50), metrics.changed()).await;
        };
        let msg = CoreMsg::ReadIndex {
            seqs: std::mem::take(&mut seqs),
            index,
        };
        if core.send(msg).await.is_err() {
            return;
        }
    }
}

async fn remote_read_index(
    link: &mut Option<PeerClient>,
    leader: NodeId,
    peers: &BTreeMap<NodeId, String>,
) -> Result<u64, String> {
    if link.as_ref().is_none_or(|c| c.target != leader) {
        let addr = peers
            .get(&leader)
            .ok_or_else(|| format!("no address for leader {leader}"))?;
        *link = Some(PeerClient {
            target: leader,
            addr: addr.clone(),
            stream: None,
        });
    }
    let client = link.as_mut().expect("set above");
    match client
        .call(PeerRequest::ReadIndex, READ_INDEX_TIMEOUT)
        .await
    {
        Ok(PeerResponse::ReadIndex(r)) => r,
        Ok(_) => Err("mismatched peer response".into()),
        Err(CallError::Unreachable(e) | CallError::Network(e)) => {
            Err(format!("leader {leader}: {e}"))
        }
    }
}

// ---- the write frontend: proposals go to the leader ----

/// What the core hands the frontend.
pub enum FrontendMsg {
    Propose(Proposal),
    Touch(Vec<i64>),
    /// snapCount transactions were applied since the last snapshot.
    Snapshot,
}

/// Proposes writes: when this server leads, its own and those its followers
/// forward, batched into entries (see [`super::Batch`]); otherwise its own,
/// over one ordered connection to the leader. Own proposals that cannot be
/// delivered are reported back so their clients are disconnected (outcome
/// unknown, as ZooKeeper's ConnectionLoss).
pub async fn frontend(
    my_id: NodeId,
    raft: Raft,
    peers: BTreeMap<NodeId, String>,
    mut rx: mpsc::UnboundedReceiver<FrontendMsg>,
    core: mpsc::Sender<CoreMsg>,
    watch: LeaderWatch,
) {
    let mut metrics = raft.metrics();
    let in_flight = Arc::new(Semaphore::new(MAX_BATCHES_IN_FLIGHT));
    let mut leaderless_since: Option<Instant> = None;
    let mut link: Option<(NodeId, TcpStream)> = None;
    let mut msgs = Vec::new();
    let mut proposals: Vec<Proposal> = Vec::new();
    let mut touches = Vec::new();
    loop {
        if proposals.is_empty() && touches.is_empty() {
            if rx.recv_many(&mut msgs, 4096).await == 0 {
                return;
            }
        } else {
            // More may have arrived while a permit was awaited.
            while let Ok(m) = rx.try_recv() {
                msgs.push(m);
            }
        }
        for m in msgs.drain(..) {
            match m {
                FrontendMsg::Propose(p) => proposals.push(p),
                FrontendMsg::Touch(t) => touches.extend(t),
                FrontendMsg::Snapshot => {
                    let _ = raft.trigger().snapshot().await;
                }
            }
        }
        let leader = metrics.borrow().current_leader;
        if leader.is_some() {
            leaderless_since = None;
        }
        let failed: Vec<u64> = match leader {
            Some(l) if l == my_id => {
                if !touches.is_empty() {
                    let _ = core
                        .send(CoreMsg::Touch(std::mem::take(&mut touches)))
                        .await;
                }
                if proposals.is_empty() {
                    continue;
                }
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    // Let the queue grow into a bigger batch while entries are in flight.
                    tokio::select! {
                        p = in_flight.clone().acquire_owned() => drop(p),
                        m = rx.recv() => if let Some(m) = m { msgs.push(m) },
                    }
                    continue;
                };
                let take = proposals.len().min(MAX_BATCH);
                let batch: Vec<Proposal> = proposals.drain(..take).collect();
                let mine: Vec<u64> = batch
                    .iter()
                    .filter(|p| p.from == my_id)
                    .map(|p| p.seq)
                    .collect();
                let entry = Batch {
                    proposals: batch,
                    permit: Some(Arc::new(permit)),
                };
                if raft.client_write_ff(entry).await.is_err() {
                    mine
                } else {
                    Vec::new()
                }
            }
            Some(l) => {
                // Only our own writes go on: a forwarded write that reached us
                // after we lost the lead is dropped (its server disconnects
                // its client when it sees the new leader).
                proposals.retain(|p| p.from == my_id);
                let touched = std::mem::take(&mut touches);
                match send_to_leader(&mut link, l, &peers, &proposals, touched).await {
                    Handover::Delivered => {
                        proposals.clear();
                        Vec::new()
                    }
                    Handover::Unknown => {
                        watch.suspect(l);
                        proposals.drain(..).map(|p| p.seq).collect()
                    }
                    Handover::Unreachable => {
                        // The leader is probably gone: hold the writes for the next one.
                        watch.suspect(l);
                        if hold(&mut leaderless_since, &mut metrics, &mut rx, &mut msgs).await {
                            continue;
                        }
                        proposals.drain(..).map(|p| p.seq).collect()
                    }
                }
            }
            None => {
                if hold(&mut leaderless_since, &mut metrics, &mut rx, &mut msgs).await {
                    continue;
                }
                touches.clear();
                proposals
                    .drain(..)
                    .filter(|p| p.from == my_id)
                    .map(|p| p.seq)
                    .collect()
            }
        };
        if !failed.is_empty() {
            let _ = core.send(CoreMsg::ProposalsFailed(failed)).await;
        }
    }
}

/// How a hand-over to the leader went.
enum Handover {
    Delivered,
    /// Nothing was sent (no connection): the proposals can wait for a leader.
    Unreachable,
    /// A write failed part-way: the proposals' outcome is unknown.
    Unknown,
}

/// While an election is under way (up to [`HOLD_WRITES`]), waits a little for
/// a leader (or for more messages, into `msgs`) and returns true: the caller
/// keeps its writes for the next leader. Afterwards returns false.
async fn hold(
    since: &mut Option<Instant>,
    metrics: &mut tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, BasicNode>>,
    rx: &mut mpsc::UnboundedReceiver<FrontendMsg>,
    msgs: &mut Vec<FrontendMsg>,
) -> bool {
    let since = *since.get_or_insert_with(Instant::now);
    if since.elapsed() > HOLD_WRITES {
        return false;
    }
    tokio::select! {
        _ = metrics.changed() => {}
        m = rx.recv() => msgs.extend(m),
        _ = tokio::time::sleep(Duration::from_millis(20)) => {}
    }
    true
}

async fn send_to_leader(
    link: &mut Option<(NodeId, TcpStream)>,
    leader: NodeId,
    peers: &BTreeMap<NodeId, String>,
    proposals: &[Proposal],
    touches: Vec<i64>,
) -> Handover {
    if link.as_ref().is_some_and(|(id, _)| *id != leader) {
        *link = None;
    }
    if link.is_none() {
        let Some(addr) = peers.get(&leader) else {
            return Handover::Unreachable;
        };
        match connect(addr).await {
            Ok(s) => *link = Some((leader, s)),
            Err(e) => {
                tracing::warn!("cannot reach leader {leader} at {addr}: {e}");
                return Handover::Unreachable;
            }
        }
    }
    let stream = &mut link.as_mut().expect("connected above").1;
    let mut ok = true;
    if !proposals.is_empty() {
        ok = write_frame(stream, &PeerRequest::Forward(proposals.to_vec()))
            .await
            .is_ok();
    }
    if ok && !touches.is_empty() {
        ok = write_frame(stream, &PeerRequest::Touch(touches))
            .await
            .is_ok();
    }
    if !ok {
        *link = None;
        return Handover::Unknown;
    }
    Handover::Delivered
}
