//! The data tree: znodes, their stats, and the indexes ZooKeeper keeps beside
//! them (ephemerals by session, containers, TTL nodes). Pure state: it is changed
//! only by the transaction applier ([`crate::txn`]) and reads no clock.
//!
//! Memory matters (a keeper should be a small process): all znodes live in one
//! map ordered by path, so a node's children are a range of that map and no
//! node keeps a set of child names; short paths are stored inline; each node is
//! one allocation plus its data.

pub mod path;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use compact_str::CompactString;

use crate::proto::codes::{CONTAINER_OWNER, TTL_OWNER_MASK};
use crate::proto::{Acl, ErrorCode, Id, Stat};

/// ACLs are shared between nodes: most trees use a handful of distinct lists.
/// A thin pointer (`Arc<Vec>`, not `Arc<[_]>`) keeps a node in a smaller
/// allocation class.
pub type AclList = Arc<Vec<Acl>>;

/// A znode's data; `None` when created or set with null data (returned as null).
pub type Data = Option<Box<[u8]>>;

/// One znode. `dataLength` is derived, never stored.
#[derive(Debug, Clone)]
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
    /// Kept by [`DataTree`] as children come and go.
    pub num_children: u32,
}

impl Node {
    fn empty(acl: AclList) -> Self {
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

    pub fn data_len(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len())
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

fn owner_session(owner: i64) -> Option<i64> {
    (owner != 0 && owner != CONTAINER_OWNER && ttl_of(owner).is_none()).then_some(owner)
}

fn ttl_of(owner: i64) -> Option<i64> {
    (owner != CONTAINER_OWNER && owner & TTL_OWNER_MASK == TTL_OWNER_MASK)
        .then_some(owner & !TTL_OWNER_MASK)
}

/// The world-readable ACL `open_acl_unsafe`.
pub fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: crate::proto::codes::perms::ALL,
        id: Id::new("world", "anyone"),
    }]
}

/// What a node looked like before a change, so a failed multi can be rolled back.
#[derive(Debug)]
pub enum Undo {
    Created {
        path: String,
        parent_cversion: i32,
        parent_pzxid: i64,
    },
    Deleted {
        path: String,
        node: Node,
        parent_cversion: i32,
        parent_pzxid: i64,
    },
    Replaced {
        path: String,
        node: Node,
    },
}

/// All znodes, keyed by full path.
#[derive(Debug, Clone)]
pub struct DataTree {
    /// Ordered by path, so `/a`'s children are the keys after `/a/` (skipping
    /// each child's own subtree). Boxed nodes keep the map's entries small.
    nodes: BTreeMap<CompactString, Box<Node>>,
    ephemerals: HashMap<i64, BTreeSet<Box<str>>>,
    containers: BTreeSet<Box<str>>,
    ttls: BTreeSet<Box<str>>,
    data_size: usize,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// A fresh tree with ZooKeeper's system nodes `/zookeeper`, `/zookeeper/quota`
    /// and `/zookeeper/config`.
    pub fn new() -> Self {
        let open: AclList = Arc::new(open_acl());
        let mut tree = DataTree {
            nodes: BTreeMap::new(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
        };
        tree.nodes
            .insert("/".into(), Box::new(Node::empty(open.clone())));
        tree.insert_system("/zookeeper", open.clone());
        tree.insert_system("/zookeeper/quota", open);
        let read_only: AclList = Arc::new(vec![Acl {
            perms: crate::proto::codes::perms::READ,
            id: Id::new("world", "anyone"),
        }]);
        tree.insert_system("/zookeeper/config", read_only);
        tree
    }

    fn insert_system(&mut self, p: &str, acl: AclList) {
        let (parent, _) = path::split(p);
        if let Some(parent) = self.nodes.get_mut(parent) {
            parent.num_children += 1;
        }
        self.data_size += p.len();
        self.nodes.insert(p.into(), Box::new(Node::empty(acl)));
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path).map(|n| &**n)
    }

    /// Number of znodes stored.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of znodes as ZooKeeper reports it (its root is indexed twice).
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// Approximate bytes of paths and data, as `zk_approximate_data_size`.
    pub fn approximate_data_size(&self) -> usize {
        self.data_size
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    pub fn ephemerals_of(&self, session: i64) -> impl Iterator<Item = &str> {
        self.ephemerals
            .get(&session)
            .into_iter()
            .flat_map(|s| s.iter().map(|p| &**p))
    }

    pub fn ephemerals_by_session(&self) -> impl Iterator<Item = (i64, &BTreeSet<Box<str>>)> {
        self.ephemerals.iter().map(|(s, p)| (*s, p))
    }

    pub fn containers(&self) -> impl Iterator<Item = &str> {
        self.containers.iter().map(|p| &**p)
    }

    pub fn ttl_nodes(&self) -> impl Iterator<Item = &str> {
        self.ttls.iter().map(|p| &**p)
    }

    /// Every path, for snapshots and the `dump` of tests.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (&**p, &**n))
    }

    /// Number of descendants of `path` (`getAllChildrenNumber`): the keys
    /// that start with `path/`.
    pub fn descendant_count(&self, path: &str) -> usize {
        let prefix = child_prefix(path);
        self.nodes
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix.as_str()))
            .count()
    }

    /// The names of `path`'s children, in order. A child's key sorts before
    /// its own subtree, which is skipped in one jump (to `child` + '0', the
    /// character after '/').
    pub fn children<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = child_prefix(path);
        let mut from: Bound<String> = Bound::Included(prefix.clone());
        std::iter::from_fn(move || loop {
            let bounds = (from.as_ref().map(String::as_str), Bound::Unbounded);
            let (key, _) = self.nodes.range::<str, _>(bounds).next()?;
            let rest = key.strip_prefix(prefix.as_str())?;
            match rest.find('/') {
                None if !rest.is_empty() => {
                    from = Bound::Excluded(key.to_string());
                    return Some(&key[prefix.len()..]);
                }
                None => from = Bound::Excluded(key.to_string()),
                Some(i) => from = Bound::Included(format!("{prefix}{}0", &rest[..i])),
            }
        })
    }

    /// Inserts a node whose parent exists and which does not exist yet; the
    /// caller has checked both (and ACLs). Updates the parent's cversion/pzxid.
    pub fn create(&mut self, p: &str, node: Node, zxid: i64) -> Undo {
        let (parent_path, _) = path::split(p);
        let parent = self
            .nodes
            .get_mut(parent_path)
            .expect("caller checked parent");
        let undo = Undo::Created {
            path: p.to_owned(),
            parent_cversion: parent.cversion,
            parent_pzxid: parent.pzxid,
        };
        parent.num_children += 1;
        parent.cversion += 1;
        parent.pzxid = zxid;
        self.index(p, &node);
        self.data_size += p.len() + node.data_len();
        self.nodes.insert(p.into(), Box::new(node));
        undo
    }

    /// Removes a childless node; the caller has checked it exists and is empty.
    /// As in ZooKeeper, a delete moves the parent's pzxid forward but leaves its
    /// stored cversion (a count of creates) alone.
    pub fn delete(&mut self, p: &str, zxid: i64) -> Undo {
        let node = *self.nodes.remove(p).expect("caller checked node");
        self.unindex(p, &node);
        self.data_size -= p.len() + node.data_len();
        let (parent_path, _) = path::split(p);
        let parent = self
            .nodes
            .get_mut(parent_path)
            .expect("parent of a node exists");
        let undo = Undo::Deleted {
            path: p.to_owned(),
            node,
            parent_cversion: parent.cversion,
            parent_pzxid: parent.pzxid,
        };
        parent.num_children -= 1;
        parent.pzxid = parent.pzxid.max(zxid);
        undo
    }

    /// Changes a node in place through `f`, returning its new stat and the undo.
    pub fn modify(&mut self, p: &str, f: impl FnOnce(&mut Node)) -> (Stat, Undo) {
        let node = self.nodes.get_mut(p).expect("caller checked node");
        let before = (**node).clone();
        f(node);
        self.data_size = self.data_size + node.data_len() - before.data_len();
        let stat = node.stat();
        (
            stat,
            Undo::Replaced {
                path: p.to_owned(),
                node: before,
            },
        )
    }

    /// Reverts changes in reverse order (a failed multi).
    pub fn rollback(&mut self, undos: Vec<Undo>) {
        for undo in undos.into_iter().rev() {
            match undo {
                Undo::Created {
                    path: p,
                    parent_cversion,
                    parent_pzxid,
                } => {
                    if let Some(node) = self.nodes.remove(p.as_str()) {
                        self.unindex(&p, &node);
                        self.data_size -= p.len() + node.data_len();
                    }
                    let (parent_path, _) = path::split(&p);
                    if let Some(parent) = self.nodes.get_mut(parent_path) {
                        parent.num_children -= 1;
                        parent.cversion = parent_cversion;
                        parent.pzxid = parent_pzxid;
                    }
                }
                Undo::Deleted {
                    path: p,
                    node,
                    parent_cversion,
                    parent_pzxid,
                } => {
                    let (parent_path, _) = path::split(&p);
                    if let Some(parent) = self.nodes.get_mut(parent_path) {
                        parent.num_children += 1;
                        parent.cversion = parent_cversion;
                        parent.pzxid = parent_pzxid;
                    }
                    self.index(&p, &node);
                    self.data_size += p.len() + node.data_len();
                    self.nodes.insert(p.into(), Box::new(node));
                }
                Undo::Replaced { path: p, node } => {
                    if let Some(cur) = self.nodes.get_mut(p.as_str()) {
                        self.data_size = self.data_size + node.data_len() - cur.data_len();
                        **cur = node;
                    }
                }
            }
        }
    }

    fn index(&mut self, p: &str, node: &Node) {
        if let Some(session) = node.ephemeral_session() {
            self.ephemerals.entry(session).or_default().insert(p.into());
        } else if node.is_container() {
            self.containers.insert(p.into());
        } else if node.ttl().is_some() {
            self.ttls.insert(p.into());
        }
    }

    fn unindex(&mut self, p: &str, node: &Node) {
        if let Some(session) = node.ephemeral_session() {
            if let Some(set) = self.ephemerals.get_mut(&session) {
                set.remove(p);
                if set.is_empty() {
                    self.ephemerals.remove(&session);
                }
            }
        } else if node.is_container() {
            self.containers.remove(p);
        } else if node.ttl().is_some() {
            self.ttls.remove(p);
        }
    }

    /// Rebuilds a tree from snapshot entries (parents may come after children).
    pub fn from_nodes(nodes: Vec<(String, Node)>) -> Result<Self, ErrorCode> {
        let mut tree = DataTree {
            nodes: BTreeMap::new(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
        };
        for (p, mut node) in nodes {
            node.num_children = 0;
            tree.index(&p, &node);
            tree.data_size += p.len() + node.data_len();
            tree.nodes.insert(p.into(), Box::new(node));
        }
        let paths: Vec<CompactString> = tree
            .nodes
            .keys()
            .filter(|p| p.as_str() != "/")
            .cloned()
            .collect();
        for p in paths {
            match tree.nodes.get_mut(path::split(&p).0) {
                Some(parent) => parent.num_children += 1,
                None => return Err(ErrorCode::DataInconsistency),
            }
        }
        if !tree.nodes.contains_key("/") {
            return Err(ErrorCode::DataInconsistency);
        }
        Ok(tree)
    }
}

/// Builds a new node as a create transaction describes it.
pub fn new_node(data: Data, acl: AclList, owner: i64, zxid: i64, time: i64) -> Node {
    Node {
        data,
        acl,
        czxid: zxid,
        mzxid: zxid,
        ctime: time,
        mtime: time,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: owner,
        pzxid: zxid,
        num_children: 0,
    }
}

/// `path/`, or `/` for the root: what every child's path starts with.
fn child_prefix(path: &str) -> String {
    if path == "/" {
        "/".to_owned()
    } else {
        format!("{path}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(tree: &mut DataTree, p: &str, owner: i64, zxid: i64) -> Undo {
        let node = new_node(
            Some(Box::from(&b"v"[..])),
            Arc::new(open_acl()),
            owner,
            zxid,
            1000,
        );
        tree.create(p, node, zxid)
    }

    #[test]
    fn fresh_tree_has_system_nodes() {
        let tree = DataTree::new();
        assert!(tree.get("/zookeeper/config").is_some());
        assert_eq!(tree.get("/").unwrap().stat().num_children, 1);
        assert_eq!(tree.node_count(), 5);
    }

    #[test]
    fn create_and_delete_maintain_parent_and_indexes() {
        let mut tree = DataTree::new();
        add(&mut tree, "/a", 0, 1);
        add(&mut tree, "/a/e", 42, 2);
        let a = tree.get("/a").unwrap().stat();
        assert_eq!((a.cversion, a.pzxid, a.num_children), (1, 2, 1));
        assert_eq!(tree.ephemerals_of(42).collect::<Vec<_>>(), vec!["/a/e"]);
        tree.delete("/a/e", 3);
        let a = tree.get("/a").unwrap().stat();
        assert_eq!((a.cversion, a.pzxid, a.num_children), (2, 3, 0));
        assert_eq!(tree.get("/a").unwrap().cversion, 1);
        assert_eq!(tree.ephemeral_count(), 0);
    }

    #[test]
    fn rollback_restores_everything() {
        let mut tree = DataTree::new();
        add(&mut tree, "/a", 0, 1);
        let before: Vec<_> = {
            let mut v: Vec<_> = tree.iter().map(|(p, n)| (p.to_owned(), n.stat())).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let size = tree.approximate_data_size();
        let mut undos = vec![add(&mut tree, "/a/b", CONTAINER_OWNER, 2)];
        undos.push(
            tree.modify("/a", |n| n.data = Some(Box::from(&b"longer"[..])))
                .1,
        );
        undos.push(tree.delete("/a/b", 3));
        tree.rollback(undos);
        let mut after: Vec<_> = tree.iter().map(|(p, n)| (p.to_owned(), n.stat())).collect();
        after.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(before, after);
        assert_eq!(size, tree.approximate_data_size());
        assert_eq!(tree.containers().count(), 0);
    }

    #[test]
    fn owner_kinds_are_told_apart() {
        assert_eq!(owner_session(5), Some(5));
        assert_eq!(owner_session(CONTAINER_OWNER), None);
        assert_eq!(ttl_of(TTL_OWNER_MASK | 1000), Some(1000));
        assert_eq!(owner_session(TTL_OWNER_MASK | 1000), None);
    }

    #[test]
    fn children_are_listed_in_order_skipping_subtrees() {
        let mut tree = DataTree::new();
        for (z, p) in [
            "/a", "/a/b", "/a/b/x", "/a/b/x/y", "/a/b-c", "/a/b.d", "/a/c", "/a/c/z", "/ab",
        ]
        .iter()
        .enumerate()
        {
            add(&mut tree, p, 0, z as i64 + 1);
        }
        assert_eq!(
            tree.children("/a").collect::<Vec<_>>(),
            vec!["b", "b-c", "b.d", "c"]
        );
        assert_eq!(
            tree.children("/").collect::<Vec<_>>(),
            vec!["a", "ab", "zookeeper"]
        );
        assert_eq!(tree.children("/a/b/x/y").count(), 0);
        assert_eq!(tree.get("/a").unwrap().stat().num_children, 4);
        assert_eq!(tree.descendant_count("/a"), 7);
        assert_eq!(tree.descendant_count("/ab"), 0);
    }
}
