//! The watch registry. Watches belong to a connection of this server (they
//! are not replicated): each server triggers its own clients' watches when it
//! applies a transaction.

use std::collections::{HashMap, HashSet};

use crate::proto::EventType;
use crate::tree::path;

/// Identifies a client connection of this server.
pub type ConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// One-shot, set by getData and exists.
    Data,
    /// One-shot, set by getChildren.
    Child,
    /// addWatch PERSISTENT: every event on the path, not removed when it fires.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE: events on the path and all descendants,
    /// except NodeChildrenChanged.
    PersistentRecursive,
}

const KINDS: [WatchKind; 4] = [
    WatchKind::Data,
    WatchKind::Child,
    WatchKind::Persistent,
    WatchKind::PersistentRecursive,
];

/// Which watches removeWatches/checkWatches address (`WatcherType`). ZooKeeper
/// 3.8 accepts only Children, Data and Any on the wire; Any covers persistent ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherType {
    Children = 1,
    Data = 2,
    Any = 3,
}

impl WatcherType {
    pub fn from_i32(v: i32) -> Option<Self> {
        Some(match v {
            1 => Self::Children,
            2 => Self::Data,
            3 => Self::Any,
            _ => return None,
        })
    }

    fn kinds(self) -> &'static [WatchKind] {
        match self {
            Self::Children => &[WatchKind::Child],
            Self::Data => &[WatchKind::Data],
            Self::Any => &KINDS,
        }
    }
}

#[derive(Debug, Default)]
pub struct WatchRegistry {
    by_kind: HashMap<WatchKind, HashMap<String, HashSet<ConnId>>>,
    by_conn: HashMap<ConnId, HashSet<(WatchKind, String)>>,
}

impl WatchRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, conn: ConnId, kind: WatchKind, p: &str) {
        self.by_kind
            .entry(kind)
            .or_default()
            .entry(p.to_owned())
            .or_default()
            .insert(conn);
        self.by_conn
            .entry(conn)
            .or_default()
            .insert((kind, p.to_owned()));
    }

    pub fn contains(&self, conn: ConnId, p: &str, ty: WatcherType) -> bool {
        ty.kinds().iter().any(|k| {
            self.by_kind
                .get(k)
                .and_then(|m| m.get(p))
                .is_some_and(|s| s.contains(&conn))
        })
    }

    /// Removes the watches of `ty` on `p`; returns the kinds that were removed.
    pub fn remove(&mut self, conn: ConnId, p: &str, ty: WatcherType) -> Vec<WatchKind> {
        let mut removed = Vec::new();
        for &kind in ty.kinds() {
            if self.remove_one(conn, kind, p) {
                removed.push(kind);
            }
        }
        removed
    }

    fn remove_one(&mut self, conn: ConnId, kind: WatchKind, p: &str) -> bool {
        let Some(paths) = self.by_kind.get_mut(&kind) else {
            return false;
        };
        let Some(conns) = paths.get_mut(p) else {
            return false;
        };
        let removed = conns.remove(&conn);
        if conns.is_empty() {
            paths.remove(p);
        }
        if let Some(set) = self.by_conn.get_mut(&conn) {
            set.remove(&(kind, p.to_owned()));
            if set.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        removed
    }

    /// Drops every watch of a closed connection.
    pub fn remove_conn(&mut self, conn: ConnId) {
        if let Some(set) = self.by_conn.remove(&conn) {
            for (kind, p) in set {
                if let Some(paths) = self.by_kind.get_mut(&kind) {
                    if let Some(conns) = paths.get_mut(&p) {
                        conns.remove(&conn);
                        if conns.is_empty() {
                            paths.remove(&p);
                        }
                    }
                }
            }
        }
    }

    /// The connections to notify of `event` on `p`, each once. One-shot
    /// watches that fire are removed.
    pub fn trigger(&mut self, event: EventType, p: &str) -> Vec<ConnId> {
        let mut out: Vec<ConnId> = Vec::new();
        let one_shot: &[WatchKind] = match event {
            EventType::NodeCreated | EventType::NodeDataChanged => &[WatchKind::Data],
            EventType::NodeDeleted => &[WatchKind::Data, WatchKind::Child],
            EventType::NodeChildrenChanged => &[WatchKind::Child],
            _ => &[],
        };
        for &kind in one_shot {
            if let Some(conns) = self.by_kind.get_mut(&kind).and_then(|m| m.remove(p)) {
                for c in conns {
                    if let Some(set) = self.by_conn.get_mut(&c) {
                        set.remove(&(kind, p.to_owned()));
                    }
                    out.push(c);
                }
            }
        }
        if let Some(conns) = self
            .by_kind
            .get(&WatchKind::Persistent)
            .and_then(|m| m.get(p))
        {
            out.extend(conns.iter().copied());
        }
        if event != EventType::NodeChildrenChanged {
            if let Some(rec) = self
                .by_kind
                .get(&WatchKind::PersistentRecursive)
                .filter(|m| !m.is_empty())
            {
                for at in std::iter::once(p).chain(path::ancestors(p)) {
                    if let Some(conns) = rec.get(at) {
                        out.extend(conns.iter().copied());
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Total watches, as `zk_watch_count` counts them.
    pub fn count(&self) -> usize {
        self.by_conn.values().map(HashSet::len).sum()
    }

    pub fn path_count(&self) -> usize {
        let paths: HashSet<&String> = self.by_kind.values().flat_map(|m| m.keys()).collect();
        paths.len()
    }

    pub fn conn_count(&self) -> usize {
        self.by_conn.len()
    }

    /// Watched paths of one connection (for `wchc`-style listings).
    pub fn paths_of(&self, conn: ConnId) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_conn
            .get(&conn)
            .map(|s| s.iter().map(|(_, p)| p.clone()).collect())
            .unwrap_or_default();
        v.sort();
        v.dedup();
        v
    }

    /// Every (connection, watched path) pair, sorted, for `wchc`/`wchp`.
    pub fn pairs(&self) -> Vec<(ConnId, String)> {
        let mut v: Vec<(ConnId, String)> = self
            .by_conn
            .iter()
            .flat_map(|(c, set)| set.iter().map(move |(_, p)| (*c, p.clone())))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn count_of(&self, conn: ConnId) -> usize {
        self.by_conn.get(&conn).map_or(0, HashSet::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_watches_fire_once() {
        let mut w = WatchRegistry::new();
        w.add(1, WatchKind::Data, "/a");
        w.add(2, WatchKind::Child, "/a");
        assert_eq!(w.trigger(EventType::NodeDataChanged, "/a"), vec![1]);
        assert!(w.trigger(EventType::NodeDataChanged, "/a").is_empty());
        assert_eq!(w.trigger(EventType::NodeDeleted, "/a"), vec![2]);
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn persistent_and_recursive() {
        let mut w = WatchRegistry::new();
        w.add(1, WatchKind::Persistent, "/a");
        w.add(2, WatchKind::PersistentRecursive, "/a");
        assert_eq!(w.trigger(EventType::NodeChildrenChanged, "/a"), vec![1]);
        assert_eq!(w.trigger(EventType::NodeCreated, "/a/b/c"), vec![2]);
        assert_eq!(w.trigger(EventType::NodeDataChanged, "/a"), vec![1, 2]);
        assert_eq!(w.count(), 2);
        assert_eq!(
            w.remove(2, "/a", WatcherType::Any),
            vec![WatchKind::PersistentRecursive]
        );
        w.remove_conn(1);
        assert_eq!(w.count(), 0);
        assert!(w.trigger(EventType::NodeDataChanged, "/a").is_empty());
    }

    #[test]
    fn same_connection_is_notified_once() {
        let mut w = WatchRegistry::new();
        w.add(1, WatchKind::Data, "/a");
        w.add(1, WatchKind::Child, "/a");
        w.add(1, WatchKind::Persistent, "/a");
        assert_eq!(w.trigger(EventType::NodeDeleted, "/a"), vec![1]);
    }
}
