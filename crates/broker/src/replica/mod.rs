//! Hosted partitions and the wait queue of delayed fetches.

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

    pub fn insert(&self, partition: Arc<Partition>) {
        self.write()
            .entry(partition.topic.clone())
            .or_default()
            .insert(partition.index, partition);
    }

    pub fn remove_topic(&self, topic: &str) -> Vec<Arc<Partition>> {
        self.write()
            .remove(topic)
            .map(|p| p.into_values().collect())
            .unwrap_or_default()
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
}
