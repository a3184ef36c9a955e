//! The packed form of a znode: one allocation holding its path, its stat and
//! its data, ordered by path so the tree can keep its znodes in a set.
//!
//! A decoded znode takes ~90 bytes of fields plus a separate allocation for the
//! data and a map entry for the path; most of those bytes are zeros or repeats
//! (mzxid = czxid, mtime = ctime, versions 0, no owner). Packed, a typical
//! znode's fields take ~12–20 bytes, and path, fields and data share one
//! allocation, so a znode costs its path and data plus ~60 bytes (set entry and
//! allocator rounding included; `examples/tree_memory.rs` measures it).
//!
//! # Layout
//! `[path length][path][flags: u8][ACL index][czxid][ctime][more optional fields][data]`.
//! The path length is a LEB128 varint, the numbers after the flags zigzag
//! LEB128 varints. An optional field is present only when its flag is set:
//!
//! | flag | fields | absent |
//! | --- | --- | --- |
//! | `ACL` | ACL index in the tree's [`AclTable`] | index 0 |
//! | `MZXID` | mzxid − czxid | mzxid = czxid |
//! | `PZXID` | pzxid − czxid | pzxid = czxid |
//! | `MTIME` | mtime − ctime | mtime = ctime |
//! | `VERSION` | version | 0 |
//! | `CHILDREN` | cversion, num_children | 0, 0 |
//! | `EXTRA` | aversion, ephemeralOwner | 0, 0 |
//!
//! The data is the rest of the record; `NULL_DATA` tells null data from empty.

use std::borrow::Borrow;
use std::cmp::Ordering;

use super::acls::AclTable;
use super::node::NodeRef;

const NULL_DATA: u8 = 1;
const MZXID: u8 = 1 << 1;
const PZXID: u8 = 1 << 2;
const MTIME: u8 = 1 << 3;
const VERSION: u8 = 1 << 4;
const CHILDREN: u8 = 1 << 5;
const ACL: u8 = 1 << 6;
const EXTRA: u8 = 1 << 7;
/// Marks the fields every record has (no flag bit).
const ALWAYS: u8 = 0;

/// The longest header: a path length, the flags and 11 numbers of up to 10 bytes.
const MAX_HEADER: usize = 10 + 1 + 11 * 10;

/// One znode, packed (see the module docs). Compares, and is looked up, by path.
#[derive(Clone)]
pub(super) struct Record(Box<[u8]>);

impl Record {
    /// Packs `node` stored at `path`, whose ACL list is `acl` in the tree's table.
    pub fn encode(path: &str, node: &NodeRef, acl: u32) -> Record {
        let mut fields = Header::default();
        let mut flags = 0;
        if node.data.is_none() {
            flags |= NULL_DATA;
        }
        let mut optional = |flag: u8, present: bool, values: &[i64]| {
            if present {
                flags |= flag;
                values.iter().for_each(|v| fields.put_signed(*v));
            }
        };
        // First, so that finding it needs no walk over the other fields.
        optional(ACL, acl != 0, &[acl.into()]);
        optional(ALWAYS, true, &[node.czxid, node.ctime]);
        let (mzxid, pzxid, mtime) = (
            node.mzxid.wrapping_sub(node.czxid),
            node.pzxid.wrapping_sub(node.czxid),
            node.mtime.wrapping_sub(node.ctime),
        );
        optional(MZXID, mzxid != 0, &[mzxid]);
        optional(PZXID, pzxid != 0, &[pzxid]);
        optional(MTIME, mtime != 0, &[mtime]);
        optional(VERSION, node.version != 0, &[node.version.into()]);
        optional(
            CHILDREN,
            node.cversion != 0 || node.num_children != 0,
            &[node.cversion.into(), node.num_children.into()],
        );
        optional(
            EXTRA,
            node.aversion != 0 || node.ephemeral_owner != 0,
            &[node.aversion.into(), node.ephemeral_owner],
        );

        let mut head = Header::default();
        head.put(path.len() as u64);
        let data = node.data.unwrap_or_default();
        // Exactly sized: the allocation's size class is the point of packing.
        let mut out = Vec::with_capacity(head.len + path.len() + 1 + fields.len + data.len());
        out.extend_from_slice(head.bytes());
        out.extend_from_slice(path.as_bytes());
        out.push(flags);
        out.extend_from_slice(fields.bytes());
        out.extend_from_slice(data);
        Record(out.into_boxed_slice())
    }

    /// The path, as bytes (the set's key).
    pub fn key(&self) -> &[u8] {
        // Hot: every comparison in a search. Paths under 128 bytes have a
        // one-byte length.
        match self.0[0] {
            len @ 0..0x80 => &self.0[1..1 + len as usize],
            _ => {
                let mut pos = 0;
                let len = get(&self.0, &mut pos) as usize;
                &self.0[pos..pos + len]
            }
        }
    }

    pub fn path(&self) -> &str {
        std::str::from_utf8(self.key()).expect("a record's path was a str")
    }

    /// The index of the node's ACL list in the tree's [`AclTable`].
    pub fn acl_index(&self) -> u32 {
        let mut pos = self.fields_at();
        let flags = self.0[pos];
        pos += 1;
        if flags & ACL != 0 {
            get_signed(&self.0, &mut pos) as u32
        } else {
            0
        }
    }

    /// Where the flags byte is: after the path.
    fn fields_at(&self) -> usize {
        let mut pos = 0;
        let path_len = get(&self.0, &mut pos) as usize;
        pos + path_len
    }

    /// The node's fields, with the ACL list looked up in `acls`.
    pub fn decode<'a>(&'a self, acls: &'a AclTable) -> NodeRef<'a> {
        let buf = &self.0[..];
        let mut pos = self.fields_at();
        let flags = buf[pos];
        pos += 1;
        let mut next = |flag: u8| {
            let present = flag == ALWAYS || flags & flag != 0;
            if present {
                get_signed(buf, &mut pos)
            } else {
                0
            }
        };
        let acl = next(ACL) as u32;
        let czxid = next(ALWAYS);
        let ctime = next(ALWAYS);
        let mzxid = czxid.wrapping_add(next(MZXID));
        let pzxid = czxid.wrapping_add(next(PZXID));
        let mtime = ctime.wrapping_add(next(MTIME));
        let version = next(VERSION) as i32;
        let cversion = next(CHILDREN) as i32;
        let num_children = next(CHILDREN) as u32;
        let aversion = next(EXTRA) as i32;
        let ephemeral_owner = next(EXTRA);
        NodeRef {
            data: (flags & NULL_DATA == 0).then(|| &buf[pos..]),
            acl: acls.get(acl).clone(),
            czxid,
            mzxid,
            ctime,
            mtime,
            version,
            cversion,
            aversion,
            ephemeral_owner,
            pzxid,
            num_children,
        }
    }
}

/// A record's header, built on the stack before the exact-size allocation.
struct Header {
    buf: [u8; MAX_HEADER],
    len: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            buf: [0; MAX_HEADER],
            len: 0,
        }
    }
}

impl Header {
    fn put(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf[self.len] = byte;
                self.len += 1;
                return;
            }
            self.buf[self.len] = byte | 0x80;
            self.len += 1;
        }
    }

    fn put_signed(&mut self, v: i64) {
        self.put(((v << 1) ^ (v >> 63)) as u64);
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Reads a varint at `pos`. Records are built by [`Record::encode`] only, so
/// they are well formed.
fn get(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = buf[*pos];
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

fn get_signed(buf: &[u8], pos: &mut usize) -> i64 {
    let v = get(buf, pos);
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Record {}

impl PartialOrd for Record {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Byte order of the paths, which is `str` order.
impl Ord for Record {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(other.key())
    }
}

impl Borrow<[u8]> for Record {
    fn borrow(&self) -> &[u8] {
        self.key()
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Record").field(&self.path()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codes::{CONTAINER_OWNER, TTL_OWNER_MASK};
    use crate::tree::node::Node;
    use crate::tree::{open_acl, AclList};
    use std::sync::Arc;

    #[test]
    fn fields_survive_packing() {
        let mut acls = AclTable::default();
        let open: AclList = Arc::new(open_acl());
        let other: AclList = Arc::new(vec![]);
        assert_eq!(acls.intern(&open), 0);
        assert_eq!(acls.intern(&other), 1);
        let base = Node {
            data: Some(Box::from(&b"value"[..])),
            acl: open.clone(),
            czxid: 0x1_0000_0005,
            mzxid: 0x1_0000_0005,
            ctime: 1_763_700_000_000,
            mtime: 1_763_700_000_000,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            pzxid: 0x1_0000_0005,
            num_children: 0,
        };
        let variants = [
            base.clone(),
            Node {
                data: None,
                ..base.clone()
            },
            Node {
                data: Some(Box::from(&b""[..])),
                ..base.clone()
            },
            Node {
                acl: other.clone(),
                mzxid: 7,
                pzxid: i64::MAX,
                mtime: -1,
                version: -1,
                cversion: i32::MAX,
                aversion: i32::MIN,
                num_children: u32::MAX,
                ephemeral_owner: CONTAINER_OWNER,
                ..base.clone()
            },
            Node {
                ephemeral_owner: TTL_OWNER_MASK | 1000,
                czxid: i64::MIN,
                ctime: i64::MAX,
                ..base.clone()
            },
            Node {
                ephemeral_owner: 0x100_0000_0000_0001,
                ..base.clone()
            },
        ];
        for node in variants {
            let idx = if Arc::ptr_eq(&node.acl, &open) { 0 } else { 1 };
            let rec = Record::encode("/a/bc", &node.view(), idx);
            assert_eq!(rec.path(), "/a/bc");
            assert_eq!(rec.acl_index(), idx);
            assert_eq!(rec.decode(&acls).to_node(), node);
        }
    }

    #[test]
    fn a_plain_znode_packs_small() {
        let mut acls = AclTable::default();
        let open: AclList = Arc::new(open_acl());
        acls.intern(&open);
        let mut node = Node {
            data: Some(vec![b'x'; 100].into_boxed_slice()),
            czxid: 300_000,
            mzxid: 300_000,
            pzxid: 300_000,
            ctime: 1_763_700_000_000,
            mtime: 1_763_700_000_000,
            ..Node::empty(open)
        };
        let created = Record::encode("/bench/s7/n12499", &node.view(), 0);
        // path length, path, flags, czxid, ctime, data
        assert_eq!(created.0.len(), 1 + 16 + 1 + 3 + 6 + 100);
        node.mzxid += 200_000;
        node.mtime += 5_000;
        node.version = 1;
        let set = Record::encode("/bench/s7/n12499", &node.view(), 0);
        assert_eq!(set.0.len(), created.0.len() + 3 + 2 + 1);
    }

    #[test]
    fn long_paths_keep_their_key() {
        let node = Node::empty(Arc::new(open_acl()));
        let long = format!("/{}", "x".repeat(300));
        let rec = Record::encode(&long, &node.view(), 0);
        assert_eq!(rec.path(), long);
        assert!(Record::encode("/y", &node.view(), 0) > rec);
    }

    #[test]
    fn records_order_by_path_bytes() {
        let node = Node::empty(Arc::new(open_acl()));
        let mut recs: Vec<Record> = ["/b", "/a/b", "/a", "/a-b", "/"]
            .iter()
            .map(|p| Record::encode(p, &node.view(), 0))
            .collect();
        recs.sort();
        let paths: Vec<&str> = recs.iter().map(Record::path).collect();
        assert_eq!(paths, vec!["/", "/a", "/a-b", "/a/b", "/b"]);
    }
}
