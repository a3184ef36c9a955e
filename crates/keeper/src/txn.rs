//! Transactions: a write request resolved on the leader into a record that
//! applies deterministically (its time, zxid and session are fixed, and it
//! carries the identities its ACL checks need), plus their log encoding.
//!
//! Validation happens when a transaction is applied, against the tree as it is
//! then; a failed write is still a logged transaction (as in ZooKeeper, it takes
//! a zxid), so every replica reaches the same outcome.

use bytes::BufMut;

use crate::proto::{decode_acls, encode_acls, Acl, DecodeError, Id, JuteWrite, Reader, WriteOp};

/// Everything needed to apply one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub zxid: i64,
    /// Wall-clock milliseconds stamped when the request was resolved.
    pub time: i64,
    pub session: i64,
    pub kind: TxnKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnKind {
    CreateSession {
        timeout_ms: i32,
        passwd: [u8; 16],
    },
    CloseSession,
    /// A single create/delete/setData/check. `auth` is the session's identities.
    Write {
        auth: Vec<Id>,
        op: WriteOp,
    },
    Multi {
        auth: Vec<Id>,
        ops: Vec<WriteOp>,
    },
    SetAcl {
        auth: Vec<Id>,
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// Reaper: delete `path` if it is still an empty used container or an expired TTL node.
    Reap {
        path: String,
    },
}

const KIND_CREATE_SESSION: i32 = 1;
const KIND_CLOSE_SESSION: i32 = 2;
const KIND_WRITE: i32 = 3;
const KIND_MULTI: i32 = 4;
const KIND_SET_ACL: i32 = 5;
const KIND_REAP: i32 = 6;

fn encode_ids(ids: &[Id], buf: &mut impl BufMut) {
    buf.put_i32(ids.len() as i32);
    for id in ids {
        id.encode(buf);
    }
}

impl Txn {
    /// Log encoding: `zxid time session kind fields...` in jute primitives.
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_i64(self.zxid);
        buf.put_i64(self.time);
        buf.put_i64(self.session);
        match &self.kind {
            TxnKind::CreateSession { timeout_ms, passwd } => {
                buf.put_i32(KIND_CREATE_SESSION);
                buf.put_i32(*timeout_ms);
                buf.put_buffer(passwd);
            }
            TxnKind::CloseSession => buf.put_i32(KIND_CLOSE_SESSION),
            TxnKind::Write { auth, op } => {
                buf.put_i32(KIND_WRITE);
                encode_ids(auth, buf);
                buf.put_i32(op.opcode());
                op.encode(buf);
            }
            TxnKind::Multi { auth, ops } => {
                buf.put_i32(KIND_MULTI);
                encode_ids(auth, buf);
                buf.put_i32(ops.len() as i32);
                for op in ops {
                    buf.put_i32(op.opcode());
                    op.encode(buf);
                }
            }
            TxnKind::SetAcl {
                auth,
                path,
                acl,
                version,
            } => {
                buf.put_i32(KIND_SET_ACL);
                encode_ids(auth, buf);
                buf.put_string(path);
                encode_acls(acl, buf);
                buf.put_i32(*version);
            }
            TxnKind::Reap { path } => {
                buf.put_i32(KIND_REAP);
                buf.put_string(path);
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let r = &mut Reader::new(bytes);
        let zxid = r.i64()?;
        let time = r.i64()?;
        let session = r.i64()?;
        let kind = match r.i32()? {
            KIND_CREATE_SESSION => {
                let timeout_ms = r.i32()?;
                let raw = r.buffer()?;
                let passwd: [u8; 16] = raw
                    .try_into()
                    .map_err(|_| DecodeError::BadLength(raw.len() as i32))?;
                TxnKind::CreateSession { timeout_ms, passwd }
            }
            KIND_CLOSE_SESSION => TxnKind::CloseSession,
            KIND_WRITE => {
                let auth = r.vec(Id::decode)?;
                let opcode = r.i32()?;
                TxnKind::Write {
                    auth,
                    op: WriteOp::decode(opcode, r)?,
                }
            }
            KIND_MULTI => {
                let auth = r.vec(Id::decode)?;
                let ops = r.vec(|r| {
                    let opcode = r.i32()?;
                    WriteOp::decode(opcode, r)
                })?;
                TxnKind::Multi { auth, ops }
            }
            KIND_SET_ACL => TxnKind::SetAcl {
                auth: r.vec(Id::decode)?,
                path: r.string()?,
                acl: decode_acls(r)?,
                version: r.i32()?,
            },
            KIND_REAP => TxnKind::Reap { path: r.string()? },
            other => {
                return Err(DecodeError::UnknownValue {
                    what: "transaction kind",
                    value: other,
                })
            }
        };
        Ok(Txn {
            zxid,
            time,
            session,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{op, CreateOp};
    use bytes::Bytes;

    #[test]
    fn every_kind_round_trips() {
        let auth = vec![Id::new("ip", "127.0.0.1")];
        let create = WriteOp::Create {
            opcode: op::CREATE_TTL,
            op: CreateOp {
                path: "/t".into(),
                data: Some(Bytes::from_static(b"d")),
                acl: crate::tree::open_acl(),
                flags: 5,
                ttl: 100,
            },
        };
        let kinds = vec![
            TxnKind::CreateSession {
                timeout_ms: 4000,
                passwd: [7; 16],
            },
            TxnKind::CloseSession,
            TxnKind::Write {
                auth: auth.clone(),
                op: create.clone(),
            },
            TxnKind::Multi {
                auth: auth.clone(),
                ops: vec![
                    create,
                    WriteOp::Delete {
                        path: "/x".into(),
                        version: 2,
                    },
                ],
            },
            TxnKind::SetAcl {
                auth,
                path: "/a".into(),
                acl: crate::tree::open_acl(),
                version: -1,
            },
            TxnKind::Reap { path: "/c".into() },
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            let txn = Txn {
                zxid: i as i64 + 1,
                time: 1_700_000_000_000,
                session: 0x100,
                kind,
            };
            let mut buf = Vec::new();
            txn.encode(&mut buf);
            assert_eq!(Txn::decode(&buf).unwrap(), txn);
            assert!(Txn::decode(&buf[..buf.len() - 1]).is_err());
        }
    }
}
