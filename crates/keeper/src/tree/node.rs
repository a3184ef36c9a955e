//! A znode's fields, owned ([`Node`], for building and changing nodes) or
//! borrowed from the tree's packed storage ([`NodeRef`], what reads see).

use std::sync::Arc;

use crate::proto::codes::{CONTAINER_OWNER, TTL_OWNER_MASK};
use crate::proto::{Acl, Stat};

/// ACLs are shared between nodes: most trees use a handful of distinct lists,
/// and the tree keeps each distinct list once.
pub type AclList = Arc<Vec<Acl>>;

/// A znode's data; `None` when created or set with null data (returned as null).
pub type Data = Option<Box<[u8]>>;

/// One znode, owned: what a create inserts, what a change edits, what an undo
/// restores. `dataLength` is derived, never stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub data: Data,
    pub acl: AclList,
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// Number of child creates, as ZooKeeper persists it; the sequential
    /// suffix comes from here. Clients see `2 * cversion - numChildren`.
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: i64,
    /// Kept by [`super::DataTree`] as children come and go.
    pub num_children: u32,
}

/// One znode as stored in the tree, decoded: the same fields as [`Node`], with
/// the data borrowed from the tree and its shared ACL list.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRef<'a> {
    pub data: Option<&'a [u8]>,
    pub acl: AclList,
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: i64,
    pub num_children: u32,
}

impl Node {
    pub(super) fn empty(acl: AclList) -> Self {
        Node {
            data: None,
            acl,
            czxid: 0,
            mzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            pzxid: 0,
            num_children: 0,
        }
    }

    pub fn view(&self) -> NodeRef<'_> {
        NodeRef {
            data: self.data.as_deref(),
            acl: self.acl.clone(),
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.ephemeral_owner,
            pzxid: self.pzxid,
            num_children: self.num_children,
        }
    }

    pub fn data_len(&self) -> usize {
        self.view().data_len()
    }

    pub fn stat(&self) -> Stat {
        self.view().stat()
    }

    pub fn ephemeral_session(&self) -> Option<i64> {
        owner_session(self.ephemeral_owner)
    }

    pub fn is_container(&self) -> bool {
        self.ephemeral_owner == CONTAINER_OWNER
    }

    pub fn ttl(&self) -> Option<i64> {
        ttl_of(self.ephemeral_owner)
    }
}

impl NodeRef<'_> {
    pub fn to_node(&self) -> Node {
        Node {
            data: self.data.map(Box::from),
            acl: self.acl.clone(),
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.ephemeral_owner,
            pzxid: self.pzxid,
            num_children: self.num_children,
        }
    }

    pub fn data_len(&self) -> usize {
        self.data.map_or(0, <[u8]>::len)
    }

    pub fn stat(&self) -> Stat {
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self
                .cversion
                .wrapping_mul(2)
                .wrapping_sub(self.num_children as i32),
            aversion: self.aversion,
            // Clients see the owning session only; container and TTL markers read as 0.
            ephemeral_owner: self.ephemeral_session().unwrap_or(0),
            data_length: self.data_len() as i32,
            num_children: self.num_children as i32,
            pzxid: self.pzxid,
        }
    }

    /// The owning session of an ephemeral node (not containers or TTL nodes).
    pub fn ephemeral_session(&self) -> Option<i64> {
        owner_session(self.ephemeral_owner)
    }

    pub fn is_container(&self) -> bool {
        self.ephemeral_owner == CONTAINER_OWNER
    }

    /// The TTL in ms, for TTL nodes.
    pub fn ttl(&self) -> Option<i64> {
        ttl_of(self.ephemeral_owner)
    }
}

pub(super) fn owner_session(owner: i64) -> Option<i64> {
    (owner != 0 && owner != CONTAINER_OWNER && ttl_of(owner).is_none()).then_some(owner)
}

pub(super) fn ttl_of(owner: i64) -> Option<i64> {
    (owner != CONTAINER_OWNER && owner & TTL_OWNER_MASK == TTL_OWNER_MASK)
        .then_some(owner & !TTL_OWNER_MASK)
}
