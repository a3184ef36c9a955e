//! Read requests, answered from the applied state. Each returns the encoded
//! response body or an error code, and registers watches as ZooKeeper does
//! (exists sets a watch even on a missing node; getData/getChildren only on
//! nodes the caller may read).

use bytes::BufMut;

use crate::acl;
use crate::proto::codes::perms;
use crate::proto::{encode_acls, ErrorCode, Id, JuteWrite, ReadOp};
use crate::state::KeeperState;
use crate::watch::{ConnId, WatchKind, WatchRegistry};

/// The context a read runs in.
pub struct ReadCtx<'a> {
    pub state: &'a KeeperState,
    pub watches: &'a mut WatchRegistry,
    pub conn: ConnId,
    pub session: i64,
    pub auth: &'a [Id],
}

type ReadResult = Result<Vec<u8>, ErrorCode>;

// Reads do not validate paths, as in ZooKeeper: a malformed path simply does
// not exist (NoNode). Only exists rejects a NUL character.

impl ReadCtx<'_> {
    pub fn exists(&mut self, p: &str, watch: bool) -> ReadResult {
        if p.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        if watch {
            self.watches.add(self.conn, WatchKind::Data, p);
        }
        let node = self.state.tree.get(p).ok_or(ErrorCode::NoNode)?;
        let mut out = Vec::with_capacity(68);
        node.stat().encode(&mut out);
        Ok(out)
    }

    pub fn get_data(&mut self, p: &str, watch: bool) -> ReadResult {
        let node = self.state.tree.get(p).ok_or(ErrorCode::NoNode)?;
        acl::check(&node.acl, perms::READ, self.auth)?;
        if watch {
            self.watches.add(self.conn, WatchKind::Data, p);
        }
        let mut out = Vec::with_capacity(72 + node.data_len());
        out.put_opt_buffer(node.data);
        node.stat().encode(&mut out);
        Ok(out)
    }

    pub fn get_children(&mut self, p: &str, watch: bool, with_stat: bool) -> ReadResult {
        let node = self.state.tree.get(p).ok_or(ErrorCode::NoNode)?;
        acl::check(&node.acl, perms::READ, self.auth)?;
        if watch {
            self.watches.add(self.conn, WatchKind::Child, p);
        }
        let mut out = Vec::with_capacity(8 + node.num_children as usize * 16);
        out.put_i32(node.num_children as i32);
        for c in self.state.tree.children(p) {
            out.put_string(c);
        }
        if with_stat {
            node.stat().encode(&mut out);
        }
        Ok(out)
    }

    pub fn get_acl(&mut self, p: &str) -> ReadResult {
        let node = self.state.tree.get(p).ok_or(ErrorCode::NoNode)?;
        acl::check(&node.acl, perms::READ | perms::ADMIN, self.auth)?;
        let mut out = Vec::new();
        if acl::allows(&node.acl, perms::ADMIN, self.auth) {
            encode_acls(&node.acl, &mut out);
        } else {
            encode_acls(&acl::masked_for_reader(&node.acl), &mut out);
        }
        node.stat().encode(&mut out);
        Ok(out)
    }

    pub fn all_children_number(&mut self, p: &str) -> ReadResult {
        let node = self.state.tree.get(p).ok_or(ErrorCode::NoNode)?;
        acl::check(&node.acl, perms::READ, self.auth)?;
        Ok((self.state.tree.descendant_count(p) as i32)
            .to_be_bytes()
            .to_vec())
    }

    pub fn ephemerals(&mut self, prefix: &str) -> ReadResult {
        let all = prefix.trim().is_empty() || prefix.trim() == "/";
        let list: Vec<&str> = self
            .state
            .tree
            .ephemerals_of(self.session)
            .filter(|p| all || p.starts_with(prefix))
            .collect();
        let mut out = Vec::new();
        out.put_strings(&list);
        Ok(out)
    }

    pub fn who_am_i(&mut self) -> ReadResult {
        let mut out = Vec::new();
        out.put_i32(self.auth.len() as i32);
        for id in self.auth {
            out.put_string(&id.scheme);
            out.put_string(acl::user_name(id));
        }
        Ok(out)
    }

    /// multiRead: each op answers on its own; failures become error results.
    pub fn multi_read(&mut self, ops: &[ReadOp]) -> ReadResult {
        use crate::proto::op;
        let mut out = Vec::new();
        for read in ops {
            let (kind, result) = match read {
                ReadOp::GetChildren { path } => {
                    (op::GET_CHILDREN, self.get_children(path, false, false))
                }
                ReadOp::GetData { path } => (op::GET_DATA, self.get_data(path, false)),
            };
            match result {
                Ok(body) => {
                    out.put_i32(kind);
                    out.put_bool_j(false);
                    out.put_i32(0);
                    out.put_slice(&body);
                }
                Err(code) => put_error_result(&mut out, code.code()),
            }
        }
        put_multi_end(&mut out);
        Ok(out)
    }
}

pub fn put_error_result(out: &mut Vec<u8>, code: i32) {
    out.put_i32(crate::proto::op::ERROR);
    out.put_bool_j(false);
    out.put_i32(code);
    out.put_i32(code);
}

pub fn put_multi_end(out: &mut Vec<u8>) {
    out.put_i32(-1);
    out.put_bool_j(true);
    out.put_i32(-1);
}
