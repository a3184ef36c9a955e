//! The replicated state machine: data tree + session table + last zxid.
//! [`KeeperState::apply`] is the only way it changes; it reads no clock, so
//! replaying the same transactions always yields the same state.

use std::collections::HashMap;

use std::sync::Arc;

use crate::acl;
use crate::proto::codes::{perms, CreateMode, CONTAINER_OWNER, MAX_TTL, TTL_OWNER_MASK};
use crate::proto::{op, Acl, CreateOp, ErrorCode, EventType, Id, Stat, WriteOp};
use crate::tree::{self, path, AclList, DataTree, Undo};
use crate::txn::{Txn, TxnKind};

/// A session as the ensemble knows it (expiry deadlines are kept elsewhere:
/// they depend on the clock and are not replicated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEntry {
    pub timeout_ms: i32,
    pub passwd: [u8; 16],
}

/// Result of one write op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// `opcode` decides the answer's shape (path only, or path and stat).
    Created {
        path: String,
        stat: Stat,
        opcode: i32,
    },
    Deleted,
    DataSet {
        stat: Stat,
    },
    Checked,
    AclSet {
        stat: Stat,
    },
    /// Inside a failed multi: 0 for ops before the failure, the error, then
    /// RuntimeInconsistency.
    Error(i32),
}

/// What applying a transaction produced: the answer and the watch triggers.
#[derive(Debug, Default)]
pub struct Applied {
    /// `None` for session transactions; for multi, one result per op.
    pub outcome: Option<Result<Vec<OpResult>, ErrorCode>>,
    pub events: Vec<(EventType, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct KeeperState {
    pub tree: DataTree,
    pub sessions: HashMap<i64, SessionEntry>,
    pub last_zxid: i64,
}

impl KeeperState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&mut self, txn: &Txn) -> Applied {
        self.last_zxid = self.last_zxid.max(txn.zxid);
        let mut events = Vec::new();
        let outcome = match &txn.kind {
            TxnKind::CreateSession { timeout_ms, passwd } => {
                self.sessions.insert(
                    txn.session,
                    SessionEntry {
                        timeout_ms: *timeout_ms,
                        passwd: *passwd,
                    },
                );
                None
            }
            TxnKind::CloseSession => {
                let paths: Vec<String> = self
                    .tree
                    .ephemerals_of(txn.session)
                    .map(str::to_owned)
                    .collect();
                for p in paths {
                    self.tree.delete(&p, txn.zxid);
                    push_delete_events(&mut events, &p);
                }
                self.sessions.remove(&txn.session);
                Some(Ok(Vec::new()))
            }
            TxnKind::Write { auth, op } => {
                let mut undos = Vec::new();
                Some(
                    self.apply_op(txn, auth, op, &mut undos, &mut events)
                        .map(|r| vec![r]),
                )
            }
            TxnKind::Multi { auth, ops } => Some(Ok(self.apply_multi(txn, auth, ops, &mut events))),
            TxnKind::SetAcl {
                auth,
                path,
                acl,
                version,
            } => Some(
                self.set_acl(txn, auth, path, acl, *version)
                    .map(|stat| vec![OpResult::AclSet { stat }]),
            ),
            TxnKind::Reap { path } => {
                if self.reapable(path, txn.time) {
                    self.tree.delete(path, txn.zxid);
                    push_delete_events(&mut events, path);
                }
                Some(Ok(Vec::new()))
            }
        };
        Applied { outcome, events }
    }

    /// True if `p` is an empty container that once had children, or an empty TTL
    /// node not modified for longer than its TTL at time `now`.
    pub fn reapable(&self, p: &str, now: i64) -> bool {
        let Some(node) = self.tree.get(p) else {
            return false;
        };
        if node.num_children != 0 {
            return false;
        }
        if node.is_container() {
            return node.cversion > 0;
        }
        node.ttl().is_some_and(|ttl| now - node.mtime > ttl)
    }

    fn apply_multi(
        &mut self,
        txn: &Txn,
        auth: &[Id],
        ops: &[WriteOp],
        events: &mut Vec<(EventType, String)>,
    ) -> Vec<OpResult> {
        let mut undos = Vec::new();
        let mut local_events = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match self.apply_op(txn, auth, op, &mut undos, &mut local_events) {
                Ok(r) => results.push(r),
                Err(code) => {
                    self.tree.rollback(undos);
                    let mut failed = vec![OpResult::Error(ErrorCode::Ok.code()); i];
                    failed.push(OpResult::Error(code.code()));
                    failed.resize(
                        ops.len(),
                        OpResult::Error(ErrorCode::RuntimeInconsistency.code()),
                    );
                    return failed;
                }
            }
        }
        events.append(&mut local_events);
        results
    }

    fn apply_op(
        &mut self,
        txn: &Txn,
        auth: &[Id],
        op: &WriteOp,
        undos: &mut Vec<Undo>,
        events: &mut Vec<(EventType, String)>,
    ) -> Result<OpResult, ErrorCode> {
        match op {
            WriteOp::Create { opcode, op } => {
                let created = self.create(txn, auth, *opcode, op, undos)?;
                events.push((EventType::NodeCreated, created.clone()));
                events.push((
                    EventType::NodeChildrenChanged,
                    path::split(&created).0.to_owned(),
                ));
                let stat = self
                    .tree
                    .get(&created)
                    .map(|n| n.stat())
                    .unwrap_or_default();
                Ok(OpResult::Created {
                    path: created,
                    stat,
                    opcode: *opcode,
                })
            }
            WriteOp::Delete { path: p, version } => {
                // Like ZooKeeper, delete only checks the path's shape enough to
                // find a parent; a malformed path is then simply not found.
                let parent = parent_of(p)?;
                if p == "/" {
                    return Err(ErrorCode::BadArguments);
                }
                let parent = self.tree.get(parent).ok_or(ErrorCode::NoNode)?;
                acl::check(&parent.acl, perms::DELETE, auth)?;
                let node = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
                check_version(*version, node.version)?;
                if node.num_children != 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                undos.push(self.tree.delete(p, txn.zxid));
                push_delete_events(events, p);
                Ok(OpResult::Deleted)
            }
            WriteOp::SetData {
                path: p,
                data,
                version,
            } => {
                valid_path(p)?;
                let node = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
                acl::check(&node.acl, perms::WRITE, auth)?;
                check_version(*version, node.version)?;
                let (stat, undo) = self.tree.modify(p, |n| {
                    // An exact-size copy: the request's buffer may be shared.
                    n.data = data.as_deref().map(Box::from);
                    n.mzxid = txn.zxid;
                    n.mtime = txn.time;
                    n.version = n.version.wrapping_add(1);
                });
                undos.push(undo);
                events.push((EventType::NodeDataChanged, p.clone()));
                Ok(OpResult::DataSet { stat })
            }
            WriteOp::Check { path: p, version } => {
                valid_path(p)?;
                let node = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
                acl::check(&node.acl, perms::READ, auth)?;
                check_version(*version, node.version)?;
                Ok(OpResult::Checked)
            }
        }
    }

    /// Creates a node following ZooKeeper's order of checks; returns the final path.
    fn create(
        &mut self,
        txn: &Txn,
        auth: &[Id],
        opcode: i32,
        req: &CreateOp,
        undos: &mut Vec<Undo>,
    ) -> Result<String, ErrorCode> {
        let mode = CreateMode::from_flags(req.flags).ok_or(ErrorCode::BadArguments)?;
        if (opcode == op::CREATE_TTL) != mode.is_ttl() {
            return Err(ErrorCode::BadArguments);
        }
        if mode.is_ttl() && !(1..=MAX_TTL).contains(&req.ttl) {
            return Err(ErrorCode::BadArguments);
        }
        if (opcode == op::CREATE_CONTAINER) != (mode == CreateMode::Container) {
            return Err(ErrorCode::BadArguments);
        }
        // ZooKeeper's order: find the parent by the last '/', fix up the ACL,
        // look the parent up, check CREATE, then validate the final path.
        let parent_path = parent_of(&req.path)?.to_owned();
        if req.path == "/" {
            return Err(ErrorCode::BadArguments);
        }
        let acl = acl::fixup(&req.acl, auth)?;
        let parent = self.tree.get(&parent_path).ok_or(ErrorCode::NoNode)?;
        acl::check(&parent.acl, perms::CREATE, auth)?;
        let mut final_path = req.path.clone();
        if mode.is_sequential() {
            final_path.push_str(&format!("{:010}", parent.cversion));
        }
        path::validate(&final_path, false).map_err(|_| ErrorCode::BadArguments)?;
        if self.tree.get(&final_path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if parent.ephemeral_session().is_some() {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let owner = match mode {
            CreateMode::Ephemeral | CreateMode::EphemeralSequential => txn.session,
            CreateMode::Container => CONTAINER_OWNER,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl => {
                TTL_OWNER_MASK | req.ttl
            }
            _ => 0,
        };
        let acl = self.share_acl(&parent_path, acl);
        let data = req.data.as_deref().map(Box::from);
        let node = tree::new_node(data, acl, owner, txn.zxid, txn.time);
        undos.push(self.tree.create(&final_path, node, txn.zxid));
        Ok(final_path)
    }

    /// Reuses the parent's ACL allocation when equal (the common case).
    fn share_acl(&self, parent_path: &str, acl: Vec<Acl>) -> AclList {
        match self.tree.get(parent_path) {
            Some(parent) if *parent.acl == *acl => parent.acl.clone(),
            _ => Arc::new(acl),
        }
    }

    fn set_acl(
        &mut self,
        txn: &Txn,
        auth: &[Id],
        p: &str,
        acl: &[Acl],
        version: i32,
    ) -> Result<Stat, ErrorCode> {
        valid_path(p)?;
        let fixed = acl::fixup(acl, auth)?;
        let node = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
        acl::check(&node.acl, perms::ADMIN, auth)?;
        check_version(version, node.aversion)?;
        let _ = txn;
        let (stat, _) = self.tree.modify(p, |n| {
            n.acl = Arc::new(fixed);
            n.aversion = n.aversion.wrapping_add(1);
        });
        Ok(stat)
    }
}

/// The parent path as ZooKeeper derives it before validating: everything
/// before the last '/' ("" meaning the root). No '/' or a NUL is BadArguments.
fn parent_of(p: &str) -> Result<&str, ErrorCode> {
    let slash = p.rfind('/').ok_or(ErrorCode::BadArguments)?;
    if p.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    Ok(if slash == 0 { "/" } else { &p[..slash] })
}

fn valid_path(p: &str) -> Result<(), ErrorCode> {
    path::validate(p, false).map_err(|_| ErrorCode::BadArguments)
}

fn check_version(expected: i32, current: i32) -> Result<(), ErrorCode> {
    if expected == -1 || expected == current {
        Ok(())
    } else {
        Err(ErrorCode::BadVersion)
    }
}

fn push_delete_events(events: &mut Vec<(EventType, String)>, p: &str) {
    events.push((EventType::NodeDeleted, p.to_owned()));
    events.push((EventType::NodeChildrenChanged, path::split(p).0.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn create(p: &str, flags: i32) -> WriteOp {
        WriteOp::Create {
            opcode: if flags == 4 {
                op::CREATE_CONTAINER
            } else {
                op::CREATE2
            },
            op: CreateOp {
                path: p.into(),
                data: Some(Bytes::from_static(b"data")),
                acl: tree::open_acl(),
                flags,
                ttl: -1,
            },
        }
    }

    struct Harness {
        state: KeeperState,
        zxid: i64,
    }

    impl Harness {
        fn new() -> Self {
            Harness {
                state: KeeperState::new(),
                zxid: 0,
            }
        }
        fn run(&mut self, session: i64, kind: TxnKind) -> Applied {
            self.zxid += 1;
            self.state.apply(&Txn {
                zxid: self.zxid,
                time: 1000 + self.zxid,
                session,
                kind,
            })
        }
        fn write(&mut self, op: WriteOp) -> Result<Vec<OpResult>, ErrorCode> {
            self.run(1, TxnKind::Write { auth: vec![], op })
                .outcome
                .unwrap()
        }
    }

    #[test]
    fn create_stats_and_events() {
        let mut h = Harness::new();
        let applied = h.run(
            1,
            TxnKind::Write {
                auth: vec![],
                op: create("/a", 0),
            },
        );
        let Ok(results) = applied.outcome.unwrap() else {
            panic!()
        };
        let OpResult::Created { path, stat, .. } = &results[0] else {
            panic!()
        };
        assert_eq!(path, "/a");
        assert_eq!(
            (stat.czxid, stat.mzxid, stat.pzxid, stat.ctime),
            (1, 1, 1, 1001)
        );
        assert_eq!(stat.data_length, 4);
        assert_eq!(
            applied.events,
            vec![
                (EventType::NodeCreated, "/a".into()),
                (EventType::NodeChildrenChanged, "/".into())
            ]
        );
        assert_eq!(h.write(create("/a", 0)), Err(ErrorCode::NodeExists));
        assert_eq!(h.write(create("/x/y", 0)), Err(ErrorCode::NoNode));
        assert_eq!(h.write(create("/a/", 0)), Err(ErrorCode::BadArguments));
        assert_eq!(h.write(create("/a//b", 0)), Err(ErrorCode::NoNode));
    }

    #[test]
    fn sequential_suffix_uses_parent_cversion() {
        let mut h = Harness::new();
        h.write(create("/q", 0)).unwrap();
        h.write(create("/q/x", 0)).unwrap();
        h.write(create("/q/y", 0)).unwrap();
        h.write(WriteOp::Delete {
            path: "/q/x".into(),
            version: -1,
        })
        .unwrap();
        // Deletes do not advance the sequence (ZooKeeper counts creates).
        let r = h.write(create("/q/s-", 2)).unwrap();
        assert!(matches!(&r[0], OpResult::Created { path, .. } if path == "/q/s-0000000002"));
        assert_eq!(h.state.tree.get("/q").unwrap().stat().cversion, 4);
    }

    #[test]
    fn failed_multi_changes_nothing_and_reports_like_zookeeper() {
        let mut h = Harness::new();
        h.write(create("/m", 0)).unwrap();
        let applied = h.run(
            1,
            TxnKind::Multi {
                auth: vec![],
                ops: vec![
                    create("/m/a", 0),
                    WriteOp::SetData {
                        path: "/m".into(),
                        data: None,
                        version: 7,
                    },
                    create("/m/b", 0),
                ],
            },
        );
        assert!(applied.events.is_empty());
        assert_eq!(
            applied.outcome.unwrap().unwrap(),
            vec![
                OpResult::Error(0),
                OpResult::Error(-103),
                OpResult::Error(-2)
            ]
        );
        assert!(h.state.tree.get("/m/a").is_none());
        assert_eq!(h.state.tree.get("/m").unwrap().cversion, 0);
    }

    #[test]
    fn close_session_removes_ephemerals() {
        let mut h = Harness::new();
        h.run(
            9,
            TxnKind::CreateSession {
                timeout_ms: 4000,
                passwd: [0; 16],
            },
        );
        h.run(
            9,
            TxnKind::Write {
                auth: vec![],
                op: create("/e", 1),
            },
        );
        assert_eq!(
            h.write(create("/e/child", 0)),
            Err(ErrorCode::NoChildrenForEphemerals)
        );
        let applied = h.run(9, TxnKind::CloseSession);
        assert!(h.state.tree.get("/e").is_none());
        assert!(h.state.sessions.is_empty());
        assert_eq!(applied.events[0], (EventType::NodeDeleted, "/e".into()));
    }

    #[test]
    fn containers_are_reaped_only_after_use() {
        let mut h = Harness::new();
        h.write(create("/c", 4)).unwrap();
        assert!(!h.state.reapable("/c", i64::MAX));
        h.write(create("/c/x", 0)).unwrap();
        assert!(!h.state.reapable("/c", i64::MAX));
        h.write(WriteOp::Delete {
            path: "/c/x".into(),
            version: -1,
        })
        .unwrap();
        assert!(h.state.reapable("/c", 0));
        h.run(0, TxnKind::Reap { path: "/c".into() });
        assert!(h.state.tree.get("/c").is_none());
    }
}
