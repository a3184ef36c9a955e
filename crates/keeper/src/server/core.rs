//! The request pipeline: one task owns the state, resolves writes into
//! transactions, hands them to the log writer in batches (group commit), and
//! applies them once durable; reads are answered from the applied state.
//!
//! Per-connection order: a read waits behind that connection's earlier writes
//! (ZooKeeper's FIFO client order), and everything after a waiting read waits
//! too. Watch events are queued to their connections while a transaction is
//! applied, before any reply that reflects it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes};
use tokio::sync::{mpsc, oneshot};

use super::frame;
use super::reads::{put_error_result, put_multi_end, ReadCtx};
use super::stats::{ConnStats, ServerStats};
use crate::acl;
use crate::config::KeeperConfig;
use crate::persist;
use crate::proto::codes::xid;
use crate::proto::{
    op, ConnectRequest, ConnectResponse, ErrorCode, EventType, JuteWrite, Request, SetWatches,
};
use crate::raft::network::FrontendMsg;
use crate::raft::state_machine::ToCore;
use crate::raft::{self, Command, LogId, Membership, Mode, NodeId, Proposal, Role};
use crate::session::{negotiate_timeout, SessionIdGen, SessionTracker};
use crate::state::{KeeperState, OpResult};
use crate::tree::path;
use crate::txn::{Txn, TxnKind};
use crate::watch::{ConnId, WatchKind, WatchRegistry, WatcherType};

/// What a connection's writer task is told to do.
#[derive(Debug)]
pub enum Out {
    Frame(Bytes),
    /// Flush what is queued, then close.
    Close,
}

pub type OutTx = mpsc::UnboundedSender<Out>;

/// Messages into the core.
pub enum CoreMsg {
    Connect {
        conn: ConnId,
        addr: SocketAddr,
        req: ConnectRequest,
        out: OutTx,
    },
    /// A request, or the error its frame decoded to (answered in order too).
    Request {
        conn: ConnId,
        xid: i32,
        opcode: i32,
        req: Result<Request, ErrorCode>,
        received: Instant,
    },
    Closed {
        conn: ConnId,
    },
    FourLetter {
        word: String,
        reply: oneshot::Sender<String>,
    },
    /// From the Raft state machine (ensemble mode).
    Raft(ToCore),
    /// This server's part in the ensemble changed.
    Role(Role),
    /// Leader: sessions that showed activity at a follower.
    Touch(Vec<i64>),
    /// Proposals that could not be handed to a leader.
    ProposalsFailed(Vec<u64>),
    /// The read index for these `sync`s (`None`: no leader confirmed one).
    ReadIndex {
        seqs: Vec<u64>,
        index: Option<u64>,
    },
}

/// Commands to the log writer thread.
pub enum LogCmd {
    Append(Vec<u8>),
    Roll(i64),
}

/// The writer thread's answer for one `Append`.
pub type LogDone = Result<(), String>;

/// Who waits for a transaction's outcome.
enum Origin {
    None,
    Connect {
        conn: ConnId,
        timeout_ms: i32,
        read_only: Option<bool>,
    },
    Request {
        conn: ConnId,
        xid: i32,
        opcode: i32,
        received: Instant,
    },
    /// A `sync` waiting for its read index (ensemble mode).
    Sync {
        conn: ConnId,
        xid: i32,
        path: String,
    },
}

impl Origin {
    fn conn(&self) -> Option<ConnId> {
        match self {
            Origin::None => None,
            Origin::Connect { conn, .. }
            | Origin::Request { conn, .. }
            | Origin::Sync { conn, .. } => Some(*conn),
        }
    }
}

/// Ensemble mode: writes become Raft proposals; this tracks who waits for them.
struct Ensemble {
    my_id: NodeId,
    frontend: mpsc::UnboundedSender<FrontendMsg>,
    /// `sync`s asking for a read index (see [`raft::network::read_index`]).
    read_index: mpsc::UnboundedSender<u64>,
    next_seq: u64,
    pending: HashMap<u64, Origin>,
    /// `sync`s with their read index, waiting until it is applied here.
    syncs: Vec<(u64, Origin)>,
    role: Role,
    applied: Option<LogId>,
    membership: Membership,
    /// Follower: sessions active here since the last report to the leader.
    touched: HashSet<i64>,
    /// Since when no leader is known (after one was), and the first proposal
    /// made since then: older ones may have gone to the lost leader.
    looking: Option<(Instant, u64)>,
}

struct Pending {
    txn: Txn,
    origin: Origin,
}

struct Conn {
    out: OutTx,
    addr: SocketAddr,
    session: i64,
    auth: Vec<crate::proto::Id>,
    /// Writes sent to the log and not yet applied (the handshake counts as one).
    inflight: usize,
    /// A `sync` is waiting: everything after it waits too, writes included
    /// (a write is not ordered behind it by the log, as earlier writes are).
    syncing: bool,
    blocked: VecDeque<(i32, i32, Result<Request, ErrorCode>, Instant)>,
    stats: ConnStats,
}

pub struct Core {
    pub(crate) cfg: KeeperConfig,
    pub(crate) state: KeeperState,
    pub(crate) watches: WatchRegistry,
    tracker: SessionTracker,
    idgen: SessionIdGen,
    conns: HashMap<ConnId, Conn>,
    session_conn: HashMap<i64, ConnId>,
    closing: HashSet<i64>,
    reaping: HashSet<String>,
    next_zxid: i64,
    batch: Vec<Pending>,
    batch_bytes: Vec<u8>,
    inflight_batch: Option<Vec<Pending>>,
    /// Standalone: the log writer thread. `None` in ensemble mode.
    log_tx: Option<std::sync::mpsc::Sender<LogCmd>>,
    ensemble: Option<Ensemble>,
    since_snapshot: u64,
    started: Instant,
    pub(crate) stats: ServerStats,
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Core {
    pub fn new(
        cfg: KeeperConfig,
        state: KeeperState,
        log_tx: Option<std::sync::mpsc::Sender<LogCmd>>,
    ) -> Self {
        let started = Instant::now();
        let mut tracker = SessionTracker::new();
        // Sessions survive a restart until they time out, as in ZooKeeper.
        for (id, s) in &state.sessions {
            tracker.add(*id, s.timeout_ms, 0);
        }
        let server_id = cfg.my_id.unwrap_or(0) as u8;
        Core {
            next_zxid: state.last_zxid + 1,
            idgen: SessionIdGen::new(server_id, wall_ms()),
            cfg,
            state,
            watches: WatchRegistry::new(),
            tracker,
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            closing: HashSet::new(),
            reaping: HashSet::new(),
            batch: Vec::new(),
            batch_bytes: Vec::new(),
            inflight_batch: None,
            log_tx,
            ensemble: None,
            since_snapshot: 0,
            started,
            stats: ServerStats::default(),
        }
    }

    /// Switches to ensemble mode: writes are proposed through `frontend`.
    pub fn with_ensemble(
        mut self,
        my_id: NodeId,
        frontend: mpsc::UnboundedSender<FrontendMsg>,
        read_index: mpsc::UnboundedSender<u64>,
        applied: Option<LogId>,
        membership: Membership,
    ) -> Self {
        self.ensemble = Some(Ensemble {
            my_id,
            frontend,
            read_index,
            next_seq: 1,
            pending: HashMap::new(),
            syncs: Vec::new(),
            role: Role::default(),
            applied,
            membership,
            touched: HashSet::new(),
            looking: None,
        });
        self
    }

    /// The ensemble role, `None` when standalone.
    pub(crate) fn role(&self) -> Option<Role> {
        self.ensemble.as_ref().map(|e| e.role)
    }

    fn is_leader_or_standalone(&self) -> bool {
        self.ensemble
            .as_ref()
            .is_none_or(|e| e.role.mode == Mode::Leader)
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect {
                conn,
                addr,
                req,
                out,
            } => self.on_connect(conn, addr, req, out),
            CoreMsg::Request {
                conn,
                xid,
                opcode,
                req,
                received,
            } => self.on_request(conn, xid, opcode, req, received),
            CoreMsg::Closed { conn } => self.on_closed(conn),
            CoreMsg::FourLetter { word, reply } => {
                let _ = reply.send(super::super::four_letter::answer(self, &word));
            }
            CoreMsg::Raft(msg) => self.on_raft(msg),
            CoreMsg::Role(role) => self.on_role(role),
            CoreMsg::Touch(sessions) => {
                if self.is_leader_or_standalone() {
                    let now = self.now();
                    for s in sessions {
                        self.tracker.touch(s, now);
                    }
                }
            }
            CoreMsg::ReadIndex { seqs, index } => self.on_read_index(seqs, index),
            CoreMsg::ProposalsFailed(seqs) => {
                for seq in seqs {
                    let origin = self.ensemble.as_mut().and_then(|e| e.pending.remove(&seq));
                    if let Some(conn) = origin.as_ref().and_then(Origin::conn) {
                        self.close_conn(conn);
                    }
                }
            }
        }
    }

    // ---- connections and sessions ----

    fn on_connect(&mut self, conn: ConnId, addr: SocketAddr, req: ConnectRequest, out: OutTx) {
        self.stats.packets_received += 1;
        let mut c = Conn {
            out,
            addr,
            session: 0,
            auth: vec![crate::proto::Id::new("ip", &addr.ip().to_string())],
            inflight: 1,
            syncing: false,
            blocked: VecDeque::new(),
            stats: ConnStats::new(wall_ms()),
        };
        if self.ensemble.as_ref().is_some_and(|e| !e.role.serving()) {
            tracing::info!("refusing session request from {addr}: this server is not in a quorum");
            let _ = c.out.send(Out::Close);
            return;
        }
        if req.last_zxid_seen > self.state.last_zxid {
            tracing::info!(
                "refusing session request from {addr}: it has seen zxid {:#x}, our last zxid is {:#x}; client must try another server",
                req.last_zxid_seen,
                self.state.last_zxid
            );
            let _ = c.out.send(Out::Close);
            return;
        }
        let timeout_ms = negotiate_timeout(
            req.timeout_ms,
            self.cfg.min_session_timeout_ms as i32,
            self.cfg.max_session_timeout_ms as i32,
        );
        let read_only = req.read_only.map(|_| false);
        if req.session_id == 0 {
            self.conns.insert(conn, c);
            let session = self.idgen.next_id();
            let mut passwd = [0u8; 16];
            rand::Rng::fill(&mut rand::thread_rng(), &mut passwd);
            self.propose(
                session,
                TxnKind::CreateSession { timeout_ms, passwd },
                Origin::Connect {
                    conn,
                    timeout_ms,
                    read_only,
                },
            );
            return;
        }
        // As ZooKeeper does, a reconnect closes the session's current
        // connection before the password is even checked.
        if let Some(old) = self.session_conn.remove(&req.session_id) {
            if let Some(old_conn) = self.conns.get_mut(&old) {
                tracing::info!("closing stale connection of session {:#x}", req.session_id);
                old_conn.session = 0;
                let _ = old_conn.out.send(Out::Close);
            }
        }
        let valid = self
            .state
            .sessions
            .get(&req.session_id)
            .is_some_and(|s| s.passwd[..] == req.passwd[..])
            && !self.closing.contains(&req.session_id);
        if !valid {
            tracing::info!(
                "invalid session {:#x} from {addr}: expired or wrong password",
                req.session_id
            );
            let resp = ConnectResponse {
                protocol_version: 0,
                timeout_ms: 0,
                session_id: 0,
                passwd: vec![0; 16],
                read_only,
            };
            let _ = c.out.send(Out::Frame(frame::build(40, |b| resp.encode(b))));
            let _ = c.out.send(Out::Close);
            return;
        }
        let session = req.session_id;
        if let Some(e) = &mut self.ensemble {
            e.touched.insert(session);
        }
        self.session_conn.insert(session, conn);
        self.tracker.add(session, timeout_ms, self.now());
        c.session = session;
        c.inflight = 0;
        let passwd = self.state.sessions[&session].passwd.to_vec();
        self.conns.insert(conn, c);
        self.send_connect_response(conn, session, timeout_ms, passwd, read_only);
    }

    fn send_connect_response(
        &mut self,
        conn: ConnId,
        session: i64,
        timeout_ms: i32,
        passwd: Vec<u8>,
        read_only: Option<bool>,
    ) {
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms,
            session_id: session,
            passwd,
            read_only,
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.timeout_ms = timeout_ms;
            c.stats.session = session;
        }
        self.send(conn, frame::build(40, |b| resp.encode(b)));
    }

    fn on_closed(&mut self, conn: ConnId) {
        self.watches.remove_conn(conn);
        if let Some(c) = self.conns.remove(&conn) {
            if c.session != 0 && self.session_conn.get(&c.session) == Some(&conn) {
                self.session_conn.remove(&c.session);
            }
        }
    }

    /// Queues expiry of sessions whose deadline passed, and reaping of empty
    /// containers and expired TTL nodes. Called periodically.
    pub fn tick(&mut self) {
        if let Some(e) = &mut self.ensemble {
            let leaderless_too_long = e.looking.is_some_and(|(since, _)| {
                since.elapsed() > std::time::Duration::from_millis(raft::node::QUORUM_LOSS_MS)
            });
            if leaderless_too_long {
                tracing::info!("no leader for a while: disconnecting clients");
                e.looking = None;
                e.pending.clear();
                e.syncs.clear();
                self.close_all_conns();
                return;
            }
            if e.role.mode != Mode::Leader {
                // Only the leader expires sessions; tell it which are alive here.
                if !e.touched.is_empty() {
                    let touched: Vec<i64> = e.touched.drain().collect();
                    let _ = e.frontend.send(FrontendMsg::Touch(touched));
                }
                return;
            }
            e.touched.clear();
        }
        let now = self.now();
        for session in self.tracker.expired(now) {
            if self.closing.insert(session) {
                tracing::info!("expiring session {session:#x}");
                self.propose(session, TxnKind::CloseSession, Origin::None);
            }
        }
    }

    pub fn reap(&mut self) {
        if !self.is_leader_or_standalone() {
            return;
        }
        let now = wall_ms();
        let candidates: Vec<String> = self
            .state
            .tree
            .containers()
            .chain(self.state.tree.ttl_nodes())
            .filter(|p| self.state.reapable(p, now))
            .map(str::to_owned)
            .collect();
        for p in candidates {
            if self.reaping.insert(p.clone()) {
                self.propose(0, TxnKind::Reap { path: p }, Origin::None);
            }
        }
    }

    // ---- requests ----

    fn on_request(
        &mut self,
        conn: ConnId,
        xid: i32,
        opcode: i32,
        req: Result<Request, ErrorCode>,
        received: Instant,
    ) {
        self.stats.packets_received += 1;
        let now = self.now();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stats.received += 1;
        if c.session != 0 {
            self.tracker.touch(c.session, now);
            if let Some(e) = &mut self.ensemble {
                e.touched.insert(c.session);
            }
        }
        if c.syncing || !c.blocked.is_empty() || (c.inflight > 0 && !is_write(&req)) {
            c.blocked.push_back((xid, opcode, req, received));
            return;
        }
        self.dispatch(conn, xid, opcode, req, received);
    }

    fn dispatch(
        &mut self,
        conn: ConnId,
        xid: i32,
        opcode: i32,
        req: Result<Request, ErrorCode>,
        received: Instant,
    ) {
        let req = match req {
            Ok(req) => req,
            Err(code) => {
                // Unknown opcodes get Unimplemented (zxid -1) and the connection
                // is closed, as ZooKeeper's UnimplementedRequestProcessor does.
                if code == ErrorCode::Unimplemented {
                    self.send(conn, frame::reply(xid, -1, code.code(), &[]));
                    self.close_conn(conn);
                } else {
                    let zxid = self.state.last_zxid;
                    self.send(conn, frame::reply(xid, zxid, code.code(), &[]));
                }
                return;
            }
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let session = c.session;
        let auth = c.auth.clone();
        let kind = match req {
            Request::Write(op) => TxnKind::Write { auth, op },
            Request::Multi(ops) => TxnKind::Multi { auth, ops },
            Request::SetAcl { path, acl, version } => TxnKind::SetAcl {
                auth,
                path,
                acl,
                version,
            },
            Request::CloseSession => {
                self.closing.insert(session);
                TxnKind::CloseSession
            }
            Request::Sync { path } if self.ensemble.is_some() => {
                c.syncing = true;
                self.sync(Origin::Sync { conn, xid, path });
                return;
            }
            read => {
                self.read(conn, xid, opcode, read);
                return;
            }
        };
        c.inflight += 1;
        self.propose(
            session,
            kind,
            Origin::Request {
                conn,
                xid,
                opcode,
                received,
            },
        );
    }

    fn read(&mut self, conn: ConnId, xid: i32, opcode: i32, req: Request) {
        let zxid = self.state.last_zxid;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stats.last_op = opcode;
        let mut ctx = ReadCtx {
            state: &self.state,
            watches: &mut self.watches,
            conn,
            session: c.session,
            auth: &c.auth,
        };
        let (reply_xid, result) = match req {
            Request::Ping => (xid::PING, Ok(Vec::new())),
            Request::Exists { path, watch } => (xid, ctx.exists(&path, watch)),
            Request::GetData { path, watch } => (xid, ctx.get_data(&path, watch)),
            Request::GetChildren {
                path,
                watch,
                with_stat,
            } => (xid, ctx.get_children(&path, watch, with_stat)),
            Request::GetAcl { path } => (xid, ctx.get_acl(&path)),
            Request::GetAllChildrenNumber { path } => (xid, ctx.all_children_number(&path)),
            Request::GetEphemerals { prefix } => (xid, ctx.ephemerals(&prefix)),
            Request::WhoAmI => (xid, ctx.who_am_i()),
            Request::MultiRead(ops) => (xid, ctx.multi_read(&ops)),
            Request::Sync { path } => {
                let mut body = Vec::new();
                body.put_string(&path);
                (xid, Ok(body))
            }
            Request::Reconfig => (xid, Err(ErrorCode::ReconfigDisabled)),
            Request::Sasl => (xid, Err(ErrorCode::AuthFailed)),
            Request::CheckWatches { path, kind } => {
                (xid, self.check_watches(conn, &path, kind, false))
            }
            Request::RemoveWatches { path, kind } => {
                (xid, self.check_watches(conn, &path, kind, true))
            }
            Request::AddWatch { path, mode } => (xid, self.add_watch(conn, &path, mode)),
            Request::Auth { scheme, auth } => {
                self.authenticate(conn, xid, &scheme, &auth);
                return;
            }
            Request::SetWatches(sw) => {
                self.set_watches(conn, &sw);
                (xid::SET_WATCHES, Ok(Vec::new()))
            }
            Request::Write(_)
            | Request::Multi(_)
            | Request::SetAcl { .. }
            | Request::CloseSession => {
                unreachable!("writes are dispatched to the log")
            }
        };
        let (err, body) = match result {
            Ok(body) => (0, body),
            Err(code) => (code.code(), Vec::new()),
        };
        self.send(conn, frame::reply(reply_xid, zxid, err, &body));
    }

    fn check_watches(
        &mut self,
        conn: ConnId,
        p: &str,
        kind: i32,
        remove: bool,
    ) -> Result<Vec<u8>, ErrorCode> {
        path::validate(p, false).map_err(|_| ErrorCode::BadArguments)?;
        let ty = WatcherType::from_i32(kind).ok_or(ErrorCode::MarshallingError)?;
        let found = if remove {
            !self.watches.remove(conn, p, ty).is_empty()
        } else {
            self.watches.contains(conn, p, ty)
        };
        if found {
            Ok(Vec::new())
        } else {
            Err(ErrorCode::NoWatcher)
        }
    }

    fn add_watch(&mut self, conn: ConnId, p: &str, mode: i32) -> Result<Vec<u8>, ErrorCode> {
        path::validate(p, false).map_err(|_| ErrorCode::BadArguments)?;
        let kind = match mode {
            0 => WatchKind::Persistent,
            1 => WatchKind::PersistentRecursive,
            _ => return Err(ErrorCode::MarshallingError),
        };
        self.watches.add(conn, kind, p);
        // ZooKeeper answers addWatch with an ErrorResponse(0).
        Ok(0i32.to_be_bytes().to_vec())
    }

    fn authenticate(&mut self, conn: ConnId, xid: i32, scheme: &str, auth: &[u8]) {
        let result = acl::authenticate(scheme, auth, self.cfg.super_digest.as_deref());
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match result {
            Ok(ids) => {
                for id in ids {
                    if !c.auth.contains(&id) {
                        c.auth.push(id);
                    }
                }
                self.send(conn, frame::reply(xid, 0, 0, &[]));
            }
            Err(code) => {
                tracing::info!(
                    "authentication failed for scheme '{scheme}' from {}",
                    c.addr
                );
                self.send(conn, frame::reply(xid, 0, code.code(), &[]));
                self.close_conn(conn);
            }
        }
    }

    /// Re-establishes a reconnecting client's watches, firing at once those
    /// whose condition changed after `relative_zxid`.
    fn set_watches(&mut self, conn: ConnId, sw: &SetWatches) {
        let rel = sw.relative_zxid;
        let mut fire = Vec::new();
        for p in &sw.data {
            match self.state.tree.get(p) {
                None => fire.push((EventType::NodeDeleted, p)),
                Some(n) if n.mzxid > rel => fire.push((EventType::NodeDataChanged, p)),
                Some(_) => self.watches.add(conn, WatchKind::Data, p),
            }
        }
        for p in &sw.exist {
            match self.state.tree.get(p) {
                Some(_) => fire.push((EventType::NodeCreated, p)),
                None => self.watches.add(conn, WatchKind::Data, p),
            }
        }
        for p in &sw.child {
            match self.state.tree.get(p) {
                None => fire.push((EventType::NodeDeleted, p)),
                Some(n) if n.pzxid > rel => fire.push((EventType::NodeChildrenChanged, p)),
                Some(_) => self.watches.add(conn, WatchKind::Child, p),
            }
        }
        for p in &sw.persistent {
            self.watches.add(conn, WatchKind::Persistent, p);
        }
        for p in &sw.persistent_recursive {
            self.watches.add(conn, WatchKind::PersistentRecursive, p);
        }
        for (event, p) in fire {
            self.send(conn, frame::watch_event(event, p));
        }
    }

    // ---- the write path ----

    fn propose(&mut self, session: i64, kind: TxnKind, origin: Origin) {
        if self.ensemble.is_some() {
            // The zxid comes from the log id when the entry is applied.
            let txn = Txn {
                zxid: 0,
                time: wall_ms(),
                session,
                kind,
            };
            let mut body = Vec::new();
            txn.encode(&mut body);
            self.submit(Command::Txn(body), origin);
            return;
        }
        let txn = Txn {
            zxid: self.next_zxid,
            time: wall_ms(),
            session,
            kind,
        };
        self.next_zxid += 1;
        persist::log::frame(&txn, &mut self.batch_bytes);
        self.batch.push(Pending { txn, origin });
    }

    /// Ensemble mode: hands a command to the frontend, remembering who waits.
    fn submit(&mut self, command: Command, origin: Origin) {
        let Some(e) = &mut self.ensemble else {
            return;
        };
        let seq = e.next_seq;
        e.next_seq += 1;
        e.pending.insert(seq, origin);
        let proposal = Proposal {
            from: e.my_id,
            seq,
            command,
        };
        let _ = e.frontend.send(FrontendMsg::Propose(proposal));
    }

    fn on_raft(&mut self, msg: ToCore) {
        match msg {
            ToCore::Applied(entries) => {
                for entry in entries {
                    self.apply_entry(entry);
                }
                self.answer_syncs();
            }
            ToCore::Snapshot { id, path, reply } => {
                let Some(e) = &self.ensemble else { return };
                let meta = raft::state_machine::snapshot_meta(e.applied, e.membership.clone(), id);
                let written = raft::state_machine::write_unsynced(&path, &meta, &self.state);
                let _ = reply.send(written.map(|pending| (meta, pending)));
            }
            ToCore::Install { state, meta } => {
                self.state = *state;
                if let Some(e) = &mut self.ensemble {
                    e.applied = meta.last_log_id;
                    e.membership = meta.last_membership;
                }
                self.restart_session_clocks();
                // Watches may have missed changes: clients reconnect and re-set them.
                self.close_all_conns();
            }
        }
    }

    /// Applies one committed Raft entry; answers the clients whose writes it holds.
    fn apply_entry(&mut self, entry: raft::Entry) {
        let Some(e) = &mut self.ensemble else { return };
        e.applied = Some(entry.log_id);
        let batch = match entry.payload {
            openraft::EntryPayload::Normal(batch) => batch,
            openraft::EntryPayload::Membership(m) => {
                e.membership = Membership::new(Some(entry.log_id), m);
                self.advance_zxid(raft::zxid_of(&entry.log_id, 0));
                return;
            }
            openraft::EntryPayload::Blank => {
                self.advance_zxid(raft::zxid_of(&entry.log_id, 0));
                return;
            }
        };
        // Snapshots follow snapCount transactions, as in ZooKeeper (an entry
        // holds a batch of them); openraft then purges the log behind them.
        self.since_snapshot += batch.proposals.len() as u64;
        if self.since_snapshot >= self.cfg.snap_count {
            self.since_snapshot = 0;
            let _ = e.frontend.send(FrontendMsg::Snapshot);
        }
        for (position, proposal) in batch.proposals.into_iter().enumerate() {
            let zxid = raft::zxid_of(&entry.log_id, position);
            self.apply_proposal(proposal, zxid, &entry.log_id);
        }
    }

    fn advance_zxid(&mut self, zxid: i64) {
        self.state.last_zxid = self.state.last_zxid.max(zxid);
    }

    fn apply_proposal(&mut self, proposal: Proposal, zxid: i64, log_id: &LogId) {
        let Proposal { from, seq, command } = proposal;
        let origin = match &mut self.ensemble {
            Some(e) if from == e.my_id => e.pending.remove(&seq).unwrap_or(Origin::None),
            _ => Origin::None,
        };
        match command {
            Command::Txn(bytes) => match Txn::decode(&bytes) {
                Ok(mut txn) => {
                    txn.zxid = zxid;
                    self.apply(Pending { txn, origin });
                }
                Err(err) => {
                    // Same bytes everywhere, so every replica skips it alike.
                    tracing::error!("skipping undecodable write in entry {log_id}: {err}");
                    self.advance_zxid(zxid);
                    if let Some(conn) = origin.conn() {
                        self.close_conn(conn);
                    }
                }
            },
            Command::Barrier => self.advance_zxid(zxid),
        }
    }

    // ---- sync: linearizable read points (ensemble mode) ----

    /// Asks for a read index; the `sync` is answered once it is applied.
    fn sync(&mut self, origin: Origin) {
        let Some(e) = &mut self.ensemble else { return };
        let seq = e.next_seq;
        e.next_seq += 1;
        e.pending.insert(seq, origin);
        let _ = e.read_index.send(seq);
    }

    fn on_read_index(&mut self, seqs: Vec<u64>, index: Option<u64>) {
        let Some(e) = &mut self.ensemble else { return };
        let origins: Vec<Origin> = seqs.iter().filter_map(|s| e.pending.remove(s)).collect();
        let Some(index) = index else {
            // No leader confirmed a read point: the outcome is ConnectionLoss.
            for conn in origins.iter().filter_map(Origin::conn) {
                self.close_conn(conn);
            }
            return;
        };
        e.syncs.extend(origins.into_iter().map(|o| (index, o)));
        self.answer_syncs();
    }

    /// Answers the `sync`s whose read index this server has applied.
    fn answer_syncs(&mut self) {
        let Some(e) = &mut self.ensemble else { return };
        if e.syncs.is_empty() {
            return;
        }
        let applied = e.applied.map_or(0, |l| l.index);
        let (ready, waiting): (Vec<_>, Vec<_>) =
            e.syncs.drain(..).partition(|(index, _)| *index <= applied);
        e.syncs = waiting;
        let zxid = self.state.last_zxid;
        for (_, origin) in ready {
            let Origin::Sync { conn, xid, path } = origin else {
                continue;
            };
            let mut body = Vec::new();
            body.put_string(&path);
            self.send(conn, frame::reply(xid, zxid, 0, &body));
            if let Some(c) = self.conns.get_mut(&conn) {
                c.syncing = false;
            }
            self.drain_blocked(conn);
        }
    }

    /// The ensemble role changed. While a new leader is elected, connections
    /// stay and new writes wait for it (the frontend holds them); once it is
    /// there, clients whose writes went to the old leader are disconnected:
    /// their outcome is unknown (ZooKeeper's ConnectionLoss). A leader that
    /// lost its majority, or a member without a leader for long (see
    /// [`Self::tick`]), disconnects all clients so they move to the majority.
    fn on_role(&mut self, role: Role) {
        let Some(e) = &mut self.ensemble else { return };
        let old = e.role;
        e.role = role;
        if (old.mode, old.leader, old.term) == (role.mode, role.leader, role.term) {
            return;
        }
        tracing::info!(
            "ensemble: now {} (leader {:?}, term {})",
            role.mode.name(),
            role.leader,
            role.term
        );
        self.closing.clear();
        self.reaping.clear();
        e.touched.clear();
        if role.mode == Mode::Looking {
            if old.mode == Mode::Leader {
                e.pending.clear();
                e.syncs.clear();
                self.close_all_conns();
            } else if e.looking.is_none() {
                e.looking = Some((Instant::now(), e.next_seq));
            }
            return;
        }
        let cut = match e.looking.take() {
            Some((_, first_held)) if old.mode == Mode::Looking => first_held,
            _ => e.next_seq,
        };
        let stale: Vec<ConnId> = e
            .pending
            .iter()
            .filter(|(seq, _)| **seq < cut)
            .filter_map(|(_, origin)| origin.conn())
            .collect();
        e.pending.retain(|seq, _| *seq >= cut);
        for conn in stale {
            self.close_conn(conn);
        }
        if role.mode == Mode::Leader {
            self.restart_session_clocks();
        }
    }

    /// Every known session gets a full timeout from now (a new leader does not
    /// know when followers last heard from their clients).
    fn restart_session_clocks(&mut self) {
        let now = self.now();
        self.tracker = SessionTracker::new();
        for (id, s) in &self.state.sessions {
            self.tracker.add(*id, s.timeout_ms, now);
        }
    }

    fn close_all_conns(&mut self) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close_conn(conn);
        }
    }

    /// Hands the collected batch to the log writer if it is idle.
    pub fn flush(&mut self) {
        if self.inflight_batch.is_some() || self.batch.is_empty() {
            return;
        }
        let Some(log_tx) = &self.log_tx else { return };
        let bytes = std::mem::take(&mut self.batch_bytes);
        self.inflight_batch = Some(std::mem::take(&mut self.batch));
        if log_tx.send(LogCmd::Append(bytes)).is_err() {
            tracing::error!("transaction log writer is gone");
        }
    }

    pub fn outstanding(&self) -> usize {
        self.batch.len() + self.inflight_batch.as_ref().map_or(0, Vec::len)
    }

    /// The log writer made the in-flight batch durable: apply it and answer.
    pub fn on_log_done(&mut self, done: LogDone) {
        if let Err(e) = done {
            // Without a durable log we must not answer writes: stop serving.
            tracing::error!("transaction log write failed: {e}; shutting down");
            std::process::exit(2);
        }
        let Some(batch) = self.inflight_batch.take() else {
            return;
        };
        let count = batch.len() as u64;
        for pending in batch {
            self.apply(pending);
        }
        self.since_snapshot += count;
        if self.since_snapshot >= self.cfg.snap_count {
            self.start_snapshot();
        }
        self.flush();
    }

    fn apply(&mut self, pending: Pending) {
        let txn = pending.txn;
        let applied = self.state.apply(&txn);
        for (event, p) in &applied.events {
            let conns = self.watches.trigger(*event, p);
            if !conns.is_empty() {
                let f = frame::watch_event(*event, p);
                for c in conns {
                    self.send(c, f.clone());
                }
            }
        }
        match &txn.kind {
            TxnKind::CreateSession { timeout_ms, passwd } => {
                self.tracker.add(txn.session, *timeout_ms, self.now());
                if let Origin::Connect {
                    conn,
                    timeout_ms,
                    read_only,
                } = pending.origin
                {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.session = txn.session;
                        c.inflight = 0;
                        self.session_conn.insert(txn.session, conn);
                        self.send_connect_response(
                            conn,
                            txn.session,
                            timeout_ms,
                            passwd.to_vec(),
                            read_only,
                        );
                        self.drain_blocked(conn);
                    }
                }
                return;
            }
            TxnKind::CloseSession => {
                self.tracker.remove(txn.session);
                self.closing.remove(&txn.session);
                if let Some(conn) = self.session_conn.remove(&txn.session) {
                    if !matches!(pending.origin, Origin::Request { conn: c, .. } if c == conn) {
                        self.close_conn(conn);
                    }
                }
            }
            TxnKind::Reap { path } => {
                self.reaping.remove(path);
            }
            _ => {}
        }
        let Origin::Request {
            conn,
            xid,
            opcode,
            received,
        } = pending.origin
        else {
            return;
        };
        let (err, body) = encode_outcome(opcode, applied.outcome);
        self.stats.record_latency(received.elapsed());
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.last_op = opcode;
            c.stats.last_zxid = txn.zxid;
            c.stats.record_latency(received.elapsed());
        }
        self.send(conn, frame::reply(xid, txn.zxid, err, &body));
        if opcode == op::CLOSE_SESSION {
            self.close_conn(conn);
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.inflight = c.inflight.saturating_sub(1);
        }
        self.drain_blocked(conn);
    }

    /// Runs the requests that waited behind a connection's writes.
    fn drain_blocked(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let Some(front) = c.blocked.front() else {
                return;
            };
            if c.syncing || (c.inflight > 0 && !is_write(&front.2)) {
                return;
            }
            let (xid, opcode, req, received) = c.blocked.pop_front().expect("front exists");
            self.dispatch(conn, xid, opcode, req, received);
        }
    }

    /// Snapshots a clone of the state in the background and rolls the log, so
    /// older logs can be purged behind it.
    fn start_snapshot(&mut self) {
        self.since_snapshot = 0;
        let Some(log_tx) = &self.log_tx else { return };
        let _ = log_tx.send(LogCmd::Roll(self.state.last_zxid + 1));
        // Serialized here, between transactions (no copy of the tree is kept);
        // the fsync and rename happen off this task.
        let pending = persist::version_dir(&self.cfg.data_dir)
            .and_then(|d| persist::snapshot::write_unsynced(&d, &self.state));
        match pending {
            Ok(pending) => {
                tokio::task::spawn_blocking(move || match pending.commit() {
                    Ok(path) => tracing::info!("wrote snapshot {}", path.display()),
                    Err(e) => tracing::error!("snapshot failed: {e}"),
                });
            }
            Err(e) => tracing::error!("snapshot failed: {e}"),
        }
    }

    // ---- output ----

    fn send(&mut self, conn: ConnId, f: Bytes) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.sent += 1;
            self.stats.packets_sent += 1;
            let _ = c.out.send(Out::Frame(f));
        }
    }

    fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.out.send(Out::Close);
        }
    }

    // ---- views for four-letter words ----

    pub(crate) fn connections(&self) -> impl Iterator<Item = (&SocketAddr, &ConnStats, usize)> {
        self.conns
            .values()
            .map(|c| (&c.addr, &c.stats, c.blocked.len() + c.inflight))
    }

    /// The session a connection serves (0 before the handshake completes).
    pub(crate) fn session_of(&self, conn: ConnId) -> i64 {
        self.conns.get(&conn).map_or(0, |c| c.session)
    }

    pub(crate) fn conn_count(&self) -> usize {
        self.conns.len()
    }

    pub(crate) fn session_count(&self) -> usize {
        self.tracker.len()
    }

    pub(crate) fn reset_stats(&mut self) {
        self.stats = ServerStats::default();
        for c in self.conns.values_mut() {
            c.stats.reset();
        }
    }
}

fn is_write(req: &Result<Request, ErrorCode>) -> bool {
    req.as_ref().is_ok_and(Request::is_write)
}

/// Encodes a write's outcome as the client expects it for `opcode`.
fn encode_outcome(
    opcode: i32,
    outcome: Option<Result<Vec<OpResult>, ErrorCode>>,
) -> (i32, Vec<u8>) {
    let results = match outcome {
        None => return (0, Vec::new()),
        Some(Err(code)) => return (code.code(), Vec::new()),
        Some(Ok(results)) => results,
    };
    let mut body = Vec::new();
    if opcode == op::MULTI {
        for r in &results {
            encode_multi_result(r, &mut body);
        }
        put_multi_end(&mut body);
        return (0, body);
    }
    match results.first() {
        Some(OpResult::Created { path, stat, opcode }) => {
            body.put_string(path);
            if *opcode != op::CREATE {
                stat.encode(&mut body);
            }
        }
        Some(OpResult::DataSet { stat }) | Some(OpResult::AclSet { stat }) => {
            stat.encode(&mut body)
        }
        Some(OpResult::Error(code)) => return (*code, Vec::new()),
        _ => {}
    }
    (0, body)
}

fn encode_multi_result(r: &OpResult, body: &mut Vec<u8>) {
    let header = |body: &mut Vec<u8>, kind: i32| {
        body.put_i32(kind);
        body.put_bool_j(false);
        body.put_i32(0);
    };
    match r {
        OpResult::Created { path, stat, opcode } => {
            // Inside a multi ZooKeeper answers create and create2 alike with
            // the path only; container and TTL creates carry the stat.
            let with_stat = matches!(*opcode, op::CREATE_CONTAINER | op::CREATE_TTL);
            header(body, if with_stat { op::CREATE2 } else { op::CREATE });
            body.put_string(path);
            if with_stat {
                stat.encode(body);
            }
        }
        OpResult::Deleted => header(body, op::DELETE),
        OpResult::Checked => header(body, op::CHECK),
        OpResult::DataSet { stat } | OpResult::AclSet { stat } => {
            header(body, op::SET_DATA);
            stat.encode(body);
        }
        OpResult::Error(code) => put_error_result(body, *code),
    }
}

#[cfg(test)]
mod ensemble_tests {
    //! The core's side of failover, driven by messages as the Raft edges send them.
    use super::*;
    use crate::proto::{CreateOp, WriteOp};
    use crate::raft::{Batch, Entry};
    use openraft::{CommittedLeaderId, EntryPayload};

    struct Harness {
        core: Core,
        frontend: mpsc::UnboundedReceiver<FrontendMsg>,
        reads: mpsc::UnboundedReceiver<u64>,
        out: mpsc::UnboundedReceiver<Out>,
        index: u64,
    }

    fn role(mode: Mode, leader: Option<NodeId>, term: u64) -> Role {
        Role {
            mode,
            leader,
            term,
            ..Role::default()
        }
    }

    impl Harness {
        /// Member 1, following member 2, with one client session on connection 7.
        fn new() -> Self {
            let (tx, frontend) = mpsc::unbounded_channel();
            let cfg = KeeperConfig::with_data_dir(std::env::temp_dir());
            let (read_index, reads) = mpsc::unbounded_channel();
            let core = Core::new(cfg, KeeperState::new(), None).with_ensemble(
                1,
                tx,
                read_index,
                None,
                Membership::default(),
            );
            let (out_tx, out) = mpsc::unbounded_channel();
            let mut h = Harness {
                core,
                frontend,
                reads,
                out,
                index: 0,
            };
            h.core
                .handle(CoreMsg::Role(role(Mode::Follower, Some(2), 1)));
            h.core.handle(CoreMsg::Connect {
                conn: 7,
                addr: "127.0.0.1:1".parse().unwrap(),
                req: ConnectRequest {
                    protocol_version: 0,
                    last_zxid_seen: 0,
                    timeout_ms: 10_000,
                    session_id: 0,
                    passwd: vec![0; 16],
                    read_only: None,
                },
                out: out_tx,
            });
            let create_session = h.proposal();
            h.commit(vec![create_session]);
            assert!(
                matches!(h.out.try_recv(), Ok(Out::Frame(_))),
                "connect response"
            );
            h
        }

        fn proposal(&mut self) -> Proposal {
            match self.frontend.try_recv() {
                Ok(FrontendMsg::Propose(p)) => p,
                _ => panic!("expected a proposal"),
            }
        }

        fn commit(&mut self, proposals: Vec<Proposal>) {
            self.index += 1;
            let entry = Entry {
                log_id: LogId::new(CommittedLeaderId::new(1, 2), self.index),
                payload: EntryPayload::Normal(Batch {
                    proposals,
                    permit: None,
                }),
            };
            self.core
                .handle(CoreMsg::Raft(ToCore::Applied(vec![entry])));
        }

        fn sync(&mut self, xid: i32) {
            self.core.handle(CoreMsg::Request {
                conn: 7,
                xid,
                opcode: op::SYNC,
                req: Ok(Request::Sync { path: "/".into() }),
                received: Instant::now(),
            });
        }

        fn create(&mut self, xid: i32, path: &str) {
            let op = WriteOp::Create {
                opcode: op::CREATE,
                op: CreateOp {
                    path: path.into(),
                    data: None,
                    acl: crate::tree::open_acl(),
                    flags: 0,
                    ttl: -1,
                },
            };
            self.core.handle(CoreMsg::Request {
                conn: 7,
                xid,
                opcode: op::CREATE,
                req: Ok(Request::Write(op)),
                received: Instant::now(),
            });
        }
    }

    #[test]
    fn writes_made_during_an_election_wait_for_the_new_leader() {
        let mut h = Harness::new();
        h.core.handle(CoreMsg::Role(role(Mode::Looking, None, 2)));
        h.create(1, "/held");
        let held = h.proposal();
        h.core
            .handle(CoreMsg::Role(role(Mode::Follower, Some(3), 2)));
        assert!(h.out.try_recv().is_err(), "the client keeps its connection");
        h.commit(vec![held]);
        assert!(
            matches!(h.out.try_recv(), Ok(Out::Frame(_))),
            "the write is answered"
        );
        assert!(h.core.state.tree.get("/held").is_some());
    }

    #[test]
    fn writes_sent_to_a_lost_leader_disconnect_their_client() {
        let mut h = Harness::new();
        h.create(1, "/maybe-lost");
        let _sent_to_old_leader = h.proposal();
        h.core.handle(CoreMsg::Role(role(Mode::Looking, None, 2)));
        assert!(h.out.try_recv().is_err(), "nothing happens while electing");
        h.core
            .handle(CoreMsg::Role(role(Mode::Follower, Some(3), 2)));
        assert!(
            matches!(h.out.try_recv(), Ok(Out::Close)),
            "outcome unknown: ConnectionLoss"
        );
    }

    fn reply_xid(out: Result<Out, mpsc::error::TryRecvError>) -> i32 {
        match out {
            Ok(Out::Frame(f)) => i32::from_be_bytes(f[4..8].try_into().unwrap()),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn sync_answers_once_its_read_index_is_applied_and_holds_later_requests() {
        let mut h = Harness::new();
        h.sync(1);
        let seq = h.reads.try_recv().expect("a read index is asked for");
        h.create(2, "/after-sync");
        assert!(
            h.frontend.try_recv().is_err(),
            "the write waits behind the sync"
        );
        h.core.handle(CoreMsg::ReadIndex {
            seqs: vec![seq],
            index: Some(h.index + 1),
        });
        assert!(
            h.out.try_recv().is_err(),
            "the read index is not applied yet"
        );
        h.commit(Vec::new());
        assert_eq!(reply_xid(h.out.try_recv()), 1, "sync answered");
        let write = h.proposal();
        h.commit(vec![write]);
        assert_eq!(reply_xid(h.out.try_recv()), 2, "then the write, in order");
    }

    #[test]
    fn sync_without_a_read_index_loses_the_connection() {
        let mut h = Harness::new();
        h.sync(1);
        let seq = h.reads.try_recv().unwrap();
        h.core.handle(CoreMsg::ReadIndex {
            seqs: vec![seq],
            index: None,
        });
        assert!(matches!(h.out.try_recv(), Ok(Out::Close)));
    }

    #[test]
    fn zxids_and_replies_follow_the_log_position() {
        let mut h = Harness::new();
        h.create(1, "/a");
        h.create(2, "/b");
        let (a, b) = (h.proposal(), h.proposal());
        h.commit(vec![a, b]);
        let a = h.core.state.tree.get("/a").unwrap().czxid;
        let b = h.core.state.tree.get("/b").unwrap().czxid;
        assert_eq!(
            a,
            crate::raft::zxid_of(&LogId::new(CommittedLeaderId::new(1, 2), 2), 0)
        );
        assert_eq!(b, a + 1);
    }
}
