//! Hosted partitions (led and followed), the wait queues of delayed fetches
//! and of acks=all produces, and the follower's fetcher.

pub mod client;
pub mod fetcher;
pub mod partition;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use self::partition::Partition;

type Topics = HashMap<Arc<str>, BTreeMap<i32, Arc<Partition>>>;

/// Every partition this broker hosts, by topic then partition number.
#[derive(Default)]
pub struct ReplicaManager {
    topics: RwLock<Topics>,
    /// The fetch purgatory: delayed fetches wait here and re-check when
    /// anything was appended.
    appended: Notify,
    /// The produce purgatory: acks=all requests wait here for a high
    /// watermark (or leadership) change.
    committed: Notify,
}

impl ReplicaManager {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Topics> {
        self.topics.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Topics> {
        self.topics.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.read()
            .get(topic)
            .and_then(|p| p.get(&partition))
            .cloned()
    }

    /// The hosted partition, or the one `open` makes, inserted under the
    /// lock so that concurrent callers open a partition's log only once.
    pub fn get_or_insert_with<E>(
        &self,
        topic: &str,
        partition: i32,
        open: impl FnOnce() -> Result<Arc<Partition>, E>,
    ) -> Result<Arc<Partition>, E> {
        if let Some(p) = self.get(topic, partition) {
            return Ok(p);
        }
        let mut topics = self.write();
        if let Some(p) = topics.get(topic).and_then(|p| p.get(&partition)) {
            return Ok(p.clone());
        }
        let p = open()?;
        topics
            .entry(p.topic.clone())
            .or_default()
            .insert(partition, p.clone());
        Ok(p)
    }

    pub fn remove(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let mut topics = self.write();
        let parts = topics.get_mut(topic)?;
        let removed = parts.remove(&partition);
        if parts.is_empty() {
            topics.remove(topic);
        }
        removed
    }

    /// The partitions this broker follows from `leader`.
    pub fn following(&self, leader: i32) -> Vec<Arc<Partition>> {
        use self::partition::Role;
        self.all()
            .into_iter()
            .filter(|p| p.role() == Role::Follower { leader })
            .collect()
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.read()
            .values()
            .flat_map(|p| p.values().cloned())
            .collect()
    }

    /// A future that completes at the next append. Create it before checking
    /// for data: `notify_waiters` reaches every future created before it.
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }

    pub fn notify_appended(&self) {
        self.appended.notify_waiters();
    }

    /// A future that completes at the next high watermark or leadership
    /// change; created before checking, like [`Self::appended`].
    pub fn committed(&self) -> tokio::sync::futures::Notified<'_> {
        self.committed.notified()
    }

    pub fn notify_committed(&self) {
        self.committed.notify_waiters();
    }
}
