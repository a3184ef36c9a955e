//! Jute records of the client protocol (`zookeeper.jute`) and their codecs.

use bytes::{BufMut, Bytes};

use super::codes::op;
use super::jute::{DecodeError, JuteWrite, Reader};

/// Node metadata exactly as the wire `Stat` record carries it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

impl Stat {
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_i64(self.czxid);
        buf.put_i64(self.mzxid);
        buf.put_i64(self.ctime);
        buf.put_i64(self.mtime);
        buf.put_i32(self.version);
        buf.put_i32(self.cversion);
        buf.put_i32(self.aversion);
        buf.put_i64(self.ephemeral_owner);
        buf.put_i32(self.data_length);
        buf.put_i32(self.num_children);
        buf.put_i64(self.pzxid);
    }

    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Stat {
            czxid: r.i64()?,
            mzxid: r.i64()?,
            ctime: r.i64()?,
            mtime: r.i64()?,
            version: r.i32()?,
            cversion: r.i32()?,
            aversion: r.i32()?,
            ephemeral_owner: r.i64()?,
            data_length: r.i32()?,
            num_children: r.i32()?,
            pzxid: r.i64()?,
        })
    }
}

/// An identity: `scheme:id`, e.g. `world:anyone`, `digest:user:hash`, `ip:10.0.0.0/8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Self {
        Id {
            scheme: scheme.to_owned(),
            id: id.to_owned(),
        }
    }
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_string(&self.scheme);
        buf.put_string(&self.id);
    }
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Id {
            scheme: r.string()?,
            id: r.string()?,
        })
    }
}

/// One access-control entry: permission bits granted to an identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_i32(self.perms);
        self.id.encode(buf);
    }
    pub fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Acl {
            perms: r.i32()?,
            id: Id::decode(r)?,
        })
    }
}

pub fn encode_acls(acls: &[Acl], buf: &mut impl BufMut) {
    buf.put_i32(acls.len() as i32);
    for a in acls {
        a.encode(buf);
    }
}

pub fn decode_acls(r: &mut Reader) -> Result<Vec<Acl>, DecodeError> {
    r.vec(Acl::decode)
}

/// The session handshake. `read_only` is `None` when an older client left it out;
/// the response must then leave it out too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn decode(frame: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(frame);
        let protocol_version = r.i32()?;
        let last_zxid_seen = r.i64()?;
        let timeout_ms = r.i32()?;
        let session_id = r.i64()?;
        let passwd = r.buffer()?.to_vec();
        let read_only = if r.remaining() > 0 {
            Some(r.bool()?)
        } else {
            None
        };
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }

    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_i32(self.protocol_version);
        buf.put_i64(self.last_zxid_seen);
        buf.put_i32(self.timeout_ms);
        buf.put_i64(self.session_id);
        buf.put_buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            buf.put_bool_j(ro);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    pub fn encode(&self, buf: &mut impl BufMut) {
        buf.put_i32(self.protocol_version);
        buf.put_i32(self.timeout_ms);
        buf.put_i64(self.session_id);
        buf.put_buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            buf.put_bool_j(ro);
        }
    }
}

/// A create of any flavour (create, create2, createContainer, createTTL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOp {
    pub path: String,
    /// `None` is a null buffer, which ZooKeeper stores and returns as null.
    pub data: Option<Bytes>,
    pub acl: Vec<Acl>,
    pub flags: i32,
    pub ttl: i64,
}

/// One write operation, standalone or inside a multi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// `opcode` says which response shape the client expects.
    Create {
        opcode: i32,
        op: CreateOp,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Option<Bytes>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

/// One read inside a multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOp {
    GetChildren { path: String },
    GetData { path: String },
}

/// The watches a reconnecting client asks the server to re-establish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetWatches {
    pub relative_zxid: i64,
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub persistent_recursive: Vec<String>,
}

/// A decoded client request (after the handshake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Write(WriteOp),
    Multi(Vec<WriteOp>),
    MultiRead(Vec<ReadOp>),
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    GetChildren {
        path: String,
        watch: bool,
        with_stat: bool,
    },
    Sync {
        path: String,
    },
    Ping,
    Reconfig,
    CheckWatches {
        path: String,
        kind: i32,
    },
    RemoveWatches {
        path: String,
        kind: i32,
    },
    Auth {
        scheme: String,
        auth: Vec<u8>,
    },
    SetWatches(SetWatches),
    Sasl,
    GetEphemerals {
        prefix: String,
    },
    GetAllChildrenNumber {
        path: String,
    },
    AddWatch {
        path: String,
        mode: i32,
    },
    WhoAmI,
    CloseSession,
}

/// Why a request frame could not be turned into a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("unknown opcode {0}")]
    UnknownOpcode(i32),
    #[error("malformed request: {0}")]
    Malformed(#[from] DecodeError),
}

impl Request {
    /// Decodes the body of a request whose header carried `opcode`.
    pub fn decode(opcode: i32, body: &[u8]) -> Result<Self, RequestError> {
        let mut r = Reader::new(body);
        let r = &mut r;
        Ok(match opcode {
            op::CREATE
            | op::CREATE2
            | op::CREATE_CONTAINER
            | op::CREATE_TTL
            | op::DELETE
            | op::SET_DATA
            | op::CHECK => Request::Write(decode_write(opcode, r)?),
            op::MULTI => Request::Multi(decode_multi(r, |t, r| Ok(Some(decode_write(t, r)?)))?),
            op::MULTI_READ => Request::MultiRead(decode_multi(r, |t, r| {
                Ok(Some(match t {
                    op::GET_CHILDREN => {
                        let path = r.string()?;
                        r.bool()?;
                        ReadOp::GetChildren { path }
                    }
                    op::GET_DATA => {
                        let path = r.string()?;
                        r.bool()?;
                        ReadOp::GetData { path }
                    }
                    other => {
                        return Err(RequestError::Malformed(DecodeError::UnknownValue {
                            what: "multiRead op",
                            value: other,
                        }))
                    }
                }))
            })?),
            op::EXISTS => Request::Exists {
                path: r.string()?,
                watch: r.bool()?,
            },
            op::GET_DATA => Request::GetData {
                path: r.string()?,
                watch: r.bool()?,
            },
            op::GET_ACL => Request::GetAcl { path: r.string()? },
            op::SET_ACL => Request::SetAcl {
                path: r.string()?,
                acl: decode_acls(r)?,
                version: r.i32()?,
            },
            op::GET_CHILDREN | op::GET_CHILDREN2 => Request::GetChildren {
                path: r.string()?,
                watch: r.bool()?,
                with_stat: opcode == op::GET_CHILDREN2,
            },
            op::SYNC => Request::Sync { path: r.string()? },
            op::PING => Request::Ping,
            op::RECONFIG => Request::Reconfig,
            op::CHECK_WATCHES => Request::CheckWatches {
                path: r.string()?,
                kind: r.i32()?,
            },
            op::REMOVE_WATCHES => Request::RemoveWatches {
                path: r.string()?,
                kind: r.i32()?,
            },
            op::AUTH => {
                let _type = r.i32()?;
                Request::Auth {
                    scheme: r.string()?,
                    auth: r.buffer()?.to_vec(),
                }
            }
            op::SET_WATCHES | op::SET_WATCHES2 => {
                let mut sw = SetWatches {
                    relative_zxid: r.i64()?,
                    data: r.strings()?,
                    exist: r.strings()?,
                    child: r.strings()?,
                    ..Default::default()
                };
                if opcode == op::SET_WATCHES2 {
                    sw.persistent = r.strings()?;
                    sw.persistent_recursive = r.strings()?;
                }
                Request::SetWatches(sw)
            }
            op::SASL => Request::Sasl,
            op::GET_EPHEMERALS => Request::GetEphemerals {
                prefix: r.string()?,
            },
            op::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber { path: r.string()? },
            op::ADD_WATCH => Request::AddWatch {
                path: r.string()?,
                mode: r.i32()?,
            },
            op::WHO_AM_I => Request::WhoAmI,
            op::CLOSE_SESSION => Request::CloseSession,
            other => return Err(RequestError::UnknownOpcode(other)),
        })
    }

    /// True when the request changes replicated state and so goes through the log.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Write(_) | Request::Multi(_) | Request::SetAcl { .. } | Request::CloseSession
        )
    }
}

fn decode_write(opcode: i32, r: &mut Reader) -> Result<WriteOp, DecodeError> {
    Ok(match opcode {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
            let path = r.string()?;
            let data = r.opt_bytes()?;
            let acl = decode_acls(r)?;
            let flags = r.i32()?;
            let ttl = if opcode == op::CREATE_TTL {
                r.i64()?
            } else {
                -1
            };
            WriteOp::Create {
                opcode,
                op: CreateOp {
                    path,
                    data,
                    acl,
                    flags,
                    ttl,
                },
            }
        }
        op::DELETE => WriteOp::Delete {
            path: r.string()?,
            version: r.i32()?,
        },
        op::SET_DATA => WriteOp::SetData {
            path: r.string()?,
            data: r.opt_bytes()?,
            version: r.i32()?,
        },
        op::CHECK => WriteOp::Check {
            path: r.string()?,
            version: r.i32()?,
        },
        other => {
            return Err(DecodeError::UnknownValue {
                what: "write opcode",
                value: other,
            })
        }
    })
}

/// Reads `(MultiHeader, op)*` up to the `done` header.
fn decode_multi<T>(
    r: &mut Reader,
    mut item: impl FnMut(i32, &mut Reader) -> Result<Option<T>, RequestError>,
) -> Result<Vec<T>, RequestError> {
    let mut out = Vec::new();
    loop {
        let kind = r.i32()?;
        let done = r.bool()?;
        let _err = r.i32()?;
        if done {
            return Ok(out);
        }
        match kind {
            op::CREATE
            | op::CREATE2
            | op::CREATE_CONTAINER
            | op::CREATE_TTL
            | op::DELETE
            | op::SET_DATA
            | op::CHECK
            | op::GET_CHILDREN
            | op::GET_DATA => {
                if let Some(v) = item(kind, r)? {
                    out.push(v);
                }
            }
            // ZooKeeper fails the whole frame with MarshallingError here.
            other => {
                return Err(RequestError::Malformed(DecodeError::UnknownValue {
                    what: "multi op",
                    value: other,
                }))
            }
        }
    }
}

/// `ReplyHeader{xid, zxid, err}`.
pub fn encode_reply_header(buf: &mut impl BufMut, xid: i32, zxid: i64, err: i32) {
    buf.put_i32(xid);
    buf.put_i64(zxid);
    buf.put_i32(err);
}

impl WriteOp {
    pub fn encode(&self, buf: &mut impl BufMut) {
        match self {
            WriteOp::Create { opcode, op } => {
                buf.put_string(&op.path);
                buf.put_opt_buffer(op.data.as_deref());
                encode_acls(&op.acl, buf);
                buf.put_i32(op.flags);
                if *opcode == op::CREATE_TTL {
                    buf.put_i64(op.ttl);
                }
            }
            WriteOp::Delete { path, version } | WriteOp::Check { path, version } => {
                buf.put_string(path);
                buf.put_i32(*version);
            }
            WriteOp::SetData {
                path,
                data,
                version,
            } => {
                buf.put_string(path);
                buf.put_opt_buffer(data.as_deref());
                buf.put_i32(*version);
            }
        }
    }

    pub fn opcode(&self) -> i32 {
        match self {
            WriteOp::Create { opcode, .. } => *opcode,
            WriteOp::Delete { .. } => op::DELETE,
            WriteOp::SetData { .. } => op::SET_DATA,
            WriteOp::Check { .. } => op::CHECK,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            WriteOp::Create { op, .. } => &op.path,
            WriteOp::Delete { path, .. }
            | WriteOp::SetData { path, .. }
            | WriteOp::Check { path, .. } => path,
        }
    }

    /// Decodes an op written by [`WriteOp::encode`] (used by the transaction log).
    pub fn decode(opcode: i32, r: &mut Reader) -> Result<Self, DecodeError> {
        decode_write(opcode, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multi_frame(ops: &[WriteOp]) -> Vec<u8> {
        let mut buf = Vec::new();
        for o in ops {
            buf.put_i32(o.opcode());
            buf.put_bool_j(false);
            buf.put_i32(-1);
            o.encode(&mut buf);
        }
        buf.put_i32(-1);
        buf.put_bool_j(true);
        buf.put_i32(-1);
        buf
    }

    #[test]
    fn connect_request_with_and_without_read_only() {
        let mut req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 5,
            timeout_ms: 30000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(true),
        };
        let mut buf = Vec::new();
        req.encode(&mut buf);
        assert_eq!(ConnectRequest::decode(&buf).unwrap(), req);
        req.read_only = None;
        let mut buf = Vec::new();
        req.encode(&mut buf);
        assert_eq!(ConnectRequest::decode(&buf).unwrap(), req);
    }

    #[test]
    fn multi_round_trips() {
        let ops = vec![
            WriteOp::Create {
                opcode: op::CREATE,
                op: CreateOp {
                    path: "/a".into(),
                    data: Some(Bytes::from_static(b"x")),
                    acl: vec![Acl {
                        perms: 31,
                        id: Id::new("world", "anyone"),
                    }],
                    flags: 0,
                    ttl: -1,
                },
            },
            WriteOp::Check {
                path: "/a".into(),
                version: 3,
            },
            WriteOp::Delete {
                path: "/b".into(),
                version: -1,
            },
        ];
        let frame = multi_frame(&ops);
        assert_eq!(
            Request::decode(op::MULTI, &frame).unwrap(),
            Request::Multi(ops)
        );
    }

    #[test]
    fn unknown_and_truncated_requests_are_errors() {
        assert_eq!(
            Request::decode(999, &[]),
            Err(RequestError::UnknownOpcode(999))
        );
        assert!(matches!(
            Request::decode(op::GET_DATA, &[0, 0, 0, 5, b'/']),
            Err(RequestError::Malformed(_))
        ));
    }
}
