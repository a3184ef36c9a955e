//! The data tree: znodes, their stats, and the indexes ZooKeeper keeps beside
//! them (ephemerals by session, containers, TTL nodes). Pure state: it is changed
//! only by the transaction applier ([`crate::txn`]) and reads no clock.
//!
//! Memory matters (a keeper should be a small process): all znodes live in one
//! set ordered by path, so a node's children are a range of that set and no
//! node keeps a set of child names; each znode is one packed allocation of its
//! path, stat and data ([`record`]), and ACL lists are stored once per distinct
//! list ([`acls`]). Reads decode a node into a [`NodeRef`]; changes re-pack it.

mod acls;
mod node;
pub mod path;
mod record;

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

pub use node::{AclList, Data, Node, NodeRef};

use self::acls::AclTable;
use self::node::{owner_session, ttl_of};
use self::record::Record;
use crate::proto::codes::CONTAINER_OWNER;
use crate::proto::{Acl, ErrorCode, Id, Stat};

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
    /// Ordered by path, so `/a`'s children are the records after `/a/`
    /// (skipping each child's own subtree).
    nodes: BTreeSet<Record>,
    acls: AclTable,
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
    fn empty() -> Self {
        DataTree {
            nodes: BTreeSet::new(),
            acls: AclTable::default(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
        }
    }

    /// A fresh tree with ZooKeeper's system nodes `/zookeeper`, `/zookeeper/quota`
    /// and `/zookeeper/config`.
    pub fn new() -> Self {
        let open: AclList = Arc::new(open_acl());
        let read_only: AclList = Arc::new(vec![Acl {
            perms: crate::proto::codes::perms::READ,
            id: Id::new("world", "anyone"),
        }]);
        let system = [
            ("/", &open, 1),
            ("/zookeeper", &open, 2),
            ("/zookeeper/quota", &open, 0),
            ("/zookeeper/config", &read_only, 0),
        ];
        let mut tree = DataTree::empty();
        for (p, acl, num_children) in system {
            let node = Node {
                num_children,
                ..Node::empty(acl.clone())
            };
            tree.insert(p, &node);
        }
        tree
    }

    pub fn get(&self, path: &str) -> Option<NodeRef<'_>> {
        self.nodes
            .get(path.as_bytes())
            .map(|r| r.decode(&self.acls))
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
    pub fn iter(&self) -> impl Iterator<Item = (&str, NodeRef<'_>)> {
        self.nodes.iter().map(|r| (r.path(), r.decode(&self.acls)))
    }

    /// The records in path order, from `from` on.
    fn records_from<'a>(&'a self, from: Bound<&[u8]>) -> impl Iterator<Item = &'a Record> + 'a {
        self.nodes.range::<[u8], _>((from, Bound::Unbounded))
    }

    /// Number of descendants of `path` (`getAllChildrenNumber`): the keys
    /// that start with `path/`.
    pub fn descendant_count(&self, path: &str) -> usize {
        let prefix = child_prefix(path);
        self.records_from(Bound::Included(prefix.as_bytes()))
            .take_while(|r| r.key().starts_with(prefix.as_bytes()))
            .count()
    }

    /// The names of `path`'s children, in order. A child's key sorts before
    /// its own subtree, which is skipped in one jump (to `child` + '0', the
    /// character after '/').
    pub fn children<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = child_prefix(path);
        let mut skip_to: Option<String> = Some(prefix.clone());
        let mut after: Option<&'a [u8]> = None;
        std::iter::from_fn(move || loop {
            let from = match (&skip_to, after) {
                (Some(key), _) => Bound::Included(key.as_bytes()),
                (None, Some(key)) => Bound::Excluded(key),
                (None, None) => return None,
            };
            let record = self.records_from(from).next()?;
            let key = record.path();
            let rest = key.strip_prefix(prefix.as_str())?;
            skip_to = None;
            after = Some(record.key());
            match rest.find('/') {
                None if !rest.is_empty() => return Some(rest),
                None => {}
                Some(i) => skip_to = Some(format!("{prefix}{}0", &rest[..i])),
            }
        })
    }

    /// Inserts a node whose parent exists and which does not exist yet; the
    /// caller has checked both (and ACLs). Updates the parent's cversion/pzxid.
    pub fn create(&mut self, p: &str, node: Node, zxid: i64) -> Undo {
        let (parent_path, _) = path::split(p);
        let (parent_cversion, parent_pzxid) = self
            .update_parent(parent_path, |parent| {
                parent.num_children += 1;
                parent.cversion += 1;
                parent.pzxid = zxid;
            })
            .expect("caller checked parent");
        self.insert(p, &node);
        Undo::Created {
            path: p.to_owned(),
            parent_cversion,
            parent_pzxid,
        }
    }

    /// Removes a childless node; the caller has checked it exists and is empty.
    /// As in ZooKeeper, a delete moves the parent's pzxid forward but leaves its
    /// stored cversion (a count of creates) alone.
    pub fn delete(&mut self, p: &str, zxid: i64) -> Undo {
        let node = self.remove(p).expect("caller checked node");
        let (parent_cversion, parent_pzxid) = self
            .update_parent(path::split(p).0, |parent| {
                parent.num_children -= 1;
                parent.pzxid = parent.pzxid.max(zxid);
            })
            .expect("parent of a node exists");
        Undo::Deleted {
            path: p.to_owned(),
            node,
            parent_cversion,
            parent_pzxid,
        }
    }

    /// Changes a node through `f`, returning its new stat and the undo.
    pub fn modify(&mut self, p: &str, f: impl FnOnce(&mut Node)) -> (Stat, Undo) {
        let before = self.get(p).expect("caller checked node").to_node();
        let mut node = before.clone();
        f(&mut node);
        self.data_size = self.data_size + node.data_len() - before.data_len();
        let stat = node.stat();
        self.replace(p, &node.view());
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
                    self.remove(&p);
                    self.update_parent(path::split(&p).0, |parent| {
                        parent.num_children -= 1;
                        parent.cversion = parent_cversion;
                        parent.pzxid = parent_pzxid;
                    });
                }
                Undo::Deleted {
                    path: p,
                    node,
                    parent_cversion,
                    parent_pzxid,
                } => {
                    self.update_parent(path::split(&p).0, |parent| {
                        parent.num_children += 1;
                        parent.cversion = parent_cversion;
                        parent.pzxid = parent_pzxid;
                    });
                    self.insert(&p, &node);
                }
                Undo::Replaced { path: p, node } => {
                    if let Some(cur) = self.get(&p) {
                        self.data_size = self.data_size + node.data_len() - cur.data_len();
                        self.replace(&p, &node.view());
                    }
                }
            }
        }
    }

    /// Adds a new node with its indexes and size.
    fn insert(&mut self, p: &str, node: &Node) {
        self.index(p, node.ephemeral_owner);
        self.data_size += counted_size(p, node.data_len());
        self.put(p, &node.view());
    }

    /// Takes a node out with its indexes and size, if it exists.
    fn remove(&mut self, p: &str) -> Option<Node> {
        let record = self.nodes.take(p.as_bytes())?;
        let node = record.decode(&self.acls).to_node();
        self.acls.release(record.acl_index());
        self.unindex(p, node.ephemeral_owner);
        self.data_size -= counted_size(p, node.data_len());
        Some(node)
    }

    /// Stores a node that is not in the tree yet (no index or size upkeep).
    fn put(&mut self, p: &str, node: &NodeRef) {
        let acl = self.acls.intern(&node.acl);
        self.nodes.insert(Record::encode(p, node, acl));
    }

    /// Re-packs an existing node with new fields (no index or size upkeep:
    /// its owner never changes).
    fn replace(&mut self, p: &str, node: &NodeRef) {
        let acl = self.acls.intern(&node.acl);
        if let Some(old) = self.nodes.replace(Record::encode(p, node, acl)) {
            self.acls.release(old.acl_index());
        }
    }

    /// Changes the counters a parent keeps for its children, if it exists, and
    /// returns its cversion and pzxid from before (what an undo restores).
    fn update_parent(&mut self, p: &str, f: impl FnOnce(&mut NodeRef)) -> Option<(i32, i64)> {
        let record = self.nodes.get(p.as_bytes())?;
        let mut parent = record.decode(&self.acls);
        let before = (parent.cversion, parent.pzxid);
        f(&mut parent);
        let updated = Record::encode(p, &parent, record.acl_index());
        self.nodes.replace(updated);
        Some(before)
    }

    fn index(&mut self, p: &str, owner: i64) {
        if let Some(session) = owner_session(owner) {
            self.ephemerals.entry(session).or_default().insert(p.into());
        } else if owner == CONTAINER_OWNER {
            self.containers.insert(p.into());
        } else if ttl_of(owner).is_some() {
            self.ttls.insert(p.into());
        }
    }

    fn unindex(&mut self, p: &str, owner: i64) {
        if let Some(session) = owner_session(owner) {
            if let Some(set) = self.ephemerals.get_mut(&session) {
                set.remove(p);
                if set.is_empty() {
                    self.ephemerals.remove(&session);
                }
            }
        } else if owner == CONTAINER_OWNER {
            self.containers.remove(p);
        } else if ttl_of(owner).is_some() {
            self.ttls.remove(p);
        }
    }

    /// Rebuilds a tree from snapshot entries (see [`TreeBuilder`]).
    pub fn from_nodes(nodes: Vec<(String, Node)>) -> Result<Self, ErrorCode> {
        let mut builder = TreeBuilder::default();
        for (p, node) in nodes {
            builder.add(&p, node);
        }
        builder.finish()
    }
}

/// Rebuilds a tree from snapshot entries one at a time, so loading a snapshot
/// needs no second copy of every node. Parents may come after their children,
/// a repeated path keeps its last entry, and the child counts are recomputed.
#[derive(Debug)]
pub struct TreeBuilder {
    tree: DataTree,
}

impl Default for TreeBuilder {
    fn default() -> Self {
        TreeBuilder {
            tree: DataTree::empty(),
        }
    }
}

impl TreeBuilder {
    pub fn add(&mut self, p: &str, node: Node) {
        self.tree.remove(p);
        self.tree.insert(
            p,
            &Node {
                num_children: 0,
                ..node
            },
        );
    }

    /// The tree, or `DataInconsistency` if the root or a node's parent is missing.
    pub fn finish(mut self) -> Result<DataTree, ErrorCode> {
        let tree = &mut self.tree;
        let mut num_children: HashMap<&str, u32> = HashMap::new();
        for record in tree.nodes.iter().filter(|r| r.key() != b"/") {
            *num_children
                .entry(path::split(record.path()).0)
                .or_default() += 1;
        }
        let num_children: Vec<(String, u32)> = num_children
            .into_iter()
            .map(|(p, n)| (p.to_owned(), n))
            .collect();
        if tree.get("/").is_none() {
            return Err(ErrorCode::DataInconsistency);
        }
        for (p, n) in num_children {
            if tree.get(&p).is_none() {
                return Err(ErrorCode::DataInconsistency);
            }
            tree.update_parent(&p, |parent| parent.num_children = n);
        }
        Ok(self.tree)
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

/// What a node adds to `zk_approximate_data_size`: its path and data, as in
/// ZooKeeper, whose root's path is empty.
fn counted_size(p: &str, data_len: usize) -> usize {
    if p == "/" {
        data_len
    } else {
        p.len() + data_len
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
    use crate::proto::codes::TTL_OWNER_MASK;

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

    #[test]
    fn builder_recounts_children_and_rejects_orphans() {
        let mut tree = DataTree::new();
        for (z, p) in ["/a", "/a/b", "/a/c", "/a/b/d"].iter().enumerate() {
            add(&mut tree, p, 0, z as i64 + 1);
        }
        let mut entries: Vec<(String, Node)> = tree
            .iter()
            .map(|(p, n)| (p.to_owned(), n.to_node()))
            .collect();
        entries.reverse();
        let mut stale = entries[0].1.clone();
        stale.version = 7;
        entries.insert(0, (entries[0].0.clone(), stale));
        let rebuilt = DataTree::from_nodes(entries.clone()).unwrap();
        let dump = |t: &DataTree| -> Vec<(String, Stat)> {
            t.iter().map(|(p, n)| (p.to_owned(), n.stat())).collect()
        };
        assert_eq!(dump(&rebuilt), dump(&tree));
        assert_eq!(
            rebuilt.approximate_data_size(),
            tree.approximate_data_size()
        );
        entries.retain(|(p, _)| p != "/a");
        assert!(DataTree::from_nodes(entries).is_err());
    }
}
