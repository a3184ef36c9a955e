//! Snapshots of the replicated state.
//!
//! Format: `RSNP` u32 version, i64 last zxid, sessions `(i64 id, i32 timeout,
//! buffer passwd)*`, nodes `(path, data, acl vector, czxid, mzxid, ctime,
//! mtime, version, cversion, aversion, ephemeralOwner, pzxid)*` (counts as i32
//! first), then a crc32c of everything before it. Written to a temp file,
//! fsynced, then renamed, so a snapshot file is either whole or absent.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::BufMut;

use super::{io_err, log::sync_dir, PersistError};
use crate::proto::{decode_acls, encode_acls, DecodeError, JuteWrite, Reader};
use crate::state::{KeeperState, SessionEntry};
use crate::tree::{Node, TreeBuilder};

const MAGIC: &[u8; 4] = b"RSNP";
const VERSION: u32 = 1;

/// Encodes `state` in the snapshot format (used by tests and tools; the
/// server streams with [`write_unsynced`] instead of building this buffer).
pub fn encode(state: &KeeperState) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(state, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// A writer that keeps a running CRC-32C of what passes through it.
pub(crate) struct CrcWriter<W> {
    inner: W,
    crc: u32,
}

impl<W: Write> CrcWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        CrcWriter { inner, crc: 0 }
    }

    /// Writes the CRC of everything written so far (not itself covered) and flushes.
    pub(crate) fn finish(mut self) -> std::io::Result<W> {
        self.inner.write_all(&self.crc.to_be_bytes())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Streams `state` into `w` record by record, so a snapshot needs neither a
/// copy of the tree nor a buffer of the whole file.
pub(crate) fn encode_into(state: &KeeperState, w: impl Write) -> std::io::Result<()> {
    let mut w = CrcWriter::new(w);
    let mut rec: Vec<u8> = Vec::with_capacity(256);
    rec.put_slice(MAGIC);
    rec.put_u32(VERSION);
    rec.put_i64(state.last_zxid);
    rec.put_i32(state.sessions.len() as i32);
    for (id, s) in &state.sessions {
        rec.put_i64(*id);
        rec.put_i32(s.timeout_ms);
        rec.put_buffer(&s.passwd);
    }
    rec.put_i32(state.tree.len() as i32);
    w.write_all(&rec)?;
    for (path, n) in state.tree.iter() {
        rec.clear();
        rec.put_string(path);
        rec.put_opt_buffer(n.data);
        encode_acls(&n.acl, &mut rec);
        for v in [n.czxid, n.mzxid, n.ctime, n.mtime] {
            rec.put_i64(v);
        }
        for v in [n.version, n.cversion, n.aversion] {
            rec.put_i32(v);
        }
        rec.put_i64(n.ephemeral_owner);
        rec.put_i64(n.pzxid);
        w.write_all(&rec)?;
    }
    w.finish().map(drop)
}

pub fn decode(bytes: &[u8]) -> Result<KeeperState, String> {
    if bytes.len() < 20 || &bytes[..4] != MAGIC {
        return Err("bad header".into());
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err("checksum mismatch".into());
    }
    let r = &mut Reader::new(&body[4..]);
    let mut inner = || -> Result<KeeperState, DecodeError> {
        let version = r.i32()?;
        if version != VERSION as i32 {
            return Err(DecodeError::UnknownValue {
                what: "snapshot version",
                value: version,
            });
        }
        let last_zxid = r.i64()?;
        let mut state = KeeperState {
            last_zxid,
            ..KeeperState::default()
        };
        for _ in 0..r.i32()?.max(0) {
            let id = r.i64()?;
            let timeout_ms = r.i32()?;
            let raw = r.buffer()?;
            let passwd: [u8; 16] = raw
                .try_into()
                .map_err(|_| DecodeError::BadLength(raw.len() as i32))?;
            state
                .sessions
                .insert(id, SessionEntry { timeout_ms, passwd });
        }
        let count = r.i32()?.max(0) as usize;
        let mut nodes = TreeBuilder::default();
        for _ in 0..count {
            let path = r.string()?;
            let data = r.opt_bytes()?.map(|b| Box::from(&b[..]));
            let acl = decode_acls(r)?;
            nodes.add(
                &path,
                Node {
                    data,
                    acl: Arc::new(acl),
                    czxid: r.i64()?,
                    mzxid: r.i64()?,
                    ctime: r.i64()?,
                    mtime: r.i64()?,
                    version: r.i32()?,
                    cversion: r.i32()?,
                    aversion: r.i32()?,
                    ephemeral_owner: r.i64()?,
                    pzxid: r.i64()?,
                    num_children: 0,
                },
            );
        }
        state.tree = nodes.finish().map_err(|_| DecodeError::UnknownValue {
            what: "tree shape (a node without parent)",
            value: 0,
        })?;
        Ok(state)
    };
    inner().map_err(|e| e.to_string())
}

/// A snapshot written to a temp file but not yet durable: [`Self::commit`]
/// fsyncs and renames it (on a background thread), so the file is whole or absent.
pub struct PendingSnapshot {
    dir: PathBuf,
    tmp: PathBuf,
    path: PathBuf,
    file: File,
}

/// Writes the state to a temp file now (a short, synchronous pass over the
/// tree, so it reflects exactly `state.last_zxid`).
pub fn write_unsynced(dir: &Path, state: &KeeperState) -> Result<PendingSnapshot, PersistError> {
    let path = dir.join(format!("snapshot.{:x}", state.last_zxid));
    let tmp = dir.join(format!(".snapshot.{:x}.tmp", state.last_zxid));
    let file = File::create(&tmp).map_err(io_err(&tmp))?;
    let mut w = std::io::BufWriter::with_capacity(256 * 1024, &file);
    encode_into(state, &mut w).map_err(io_err(&tmp))?;
    drop(w);
    Ok(PendingSnapshot {
        dir: dir.to_owned(),
        tmp,
        path,
        file,
    })
}

impl PendingSnapshot {
    pub fn commit(self) -> Result<PathBuf, PersistError> {
        self.file.sync_all().map_err(io_err(&self.tmp))?;
        std::fs::rename(&self.tmp, &self.path).map_err(io_err(&self.path))?;
        sync_dir(&self.dir)?;
        Ok(self.path)
    }
}

/// Writes `snapshot.<zxid>` durably into `dir`.
pub fn write(dir: &Path, state: &KeeperState) -> Result<PathBuf, PersistError> {
    write_unsynced(dir, state)?.commit()
}

pub fn read(path: &Path) -> Result<KeeperState, PersistError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_err(path))?;
    decode(&bytes).map_err(|reason| PersistError::Corrupt {
        path: path.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{op, CreateOp, WriteOp};
    use crate::txn::{Txn, TxnKind};
    use bytes::Bytes;

    #[test]
    fn round_trips_state() {
        let mut state = KeeperState::new();
        state.apply(&Txn {
            zxid: 1,
            time: 5,
            session: 7,
            kind: TxnKind::CreateSession {
                timeout_ms: 4000,
                passwd: [1; 16],
            },
        });
        for (z, p, flags) in [(2, "/a", 0), (3, "/a/b", 1), (4, "/c", 4)] {
            state.apply(&Txn {
                zxid: z,
                time: 5,
                session: 7,
                kind: TxnKind::Write {
                    auth: vec![],
                    op: WriteOp::Create {
                        opcode: if flags == 4 {
                            op::CREATE_CONTAINER
                        } else {
                            op::CREATE
                        },
                        op: CreateOp {
                            path: p.into(),
                            data: Some(Bytes::from_static(b"xyz")),
                            acl: crate::tree::open_acl(),
                            flags,
                            ttl: -1,
                        },
                    },
                },
            });
        }
        let bytes = encode(&state);
        let back = decode(&bytes).unwrap();
        assert_eq!(back.last_zxid, 4);
        assert_eq!(back.sessions, state.sessions);
        for (p, n) in state.tree.iter() {
            assert_eq!(back.tree.get(p).unwrap().stat(), n.stat(), "{p}");
        }
        assert_eq!(back.tree.ephemerals_of(7).collect::<Vec<_>>(), vec!["/a/b"]);
        assert_eq!(back.tree.containers().count(), 1);
        let mut bad = bytes.clone();
        bad[30] ^= 1;
        assert!(decode(&bad).is_err());
    }
}
