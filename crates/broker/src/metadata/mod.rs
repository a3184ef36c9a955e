//! What this broker knows of the cluster: brokers, topics, partition
//! leadership, topic configs. Loaded from ZooKeeper ([`zk`]) in Kafka's layout
//! ([`znode`]); a plain in-memory view ([`MetadataCache`]) for the handlers.

pub mod zk;
pub mod znode;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A live broker as clients should reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub id: uuid::Uuid,
    pub partitions: Vec<PartitionInfo>,
    /// Topic-level config overrides (`/config/topics/T`).
    pub config: BTreeMap<String, String>,
    pub internal: bool,
}

/// The in-memory view handlers answer from.
#[derive(Debug, Default)]
pub struct MetadataCache {
    pub cluster_id: String,
    pub controller: i32,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    topics: BTreeMap<String, Arc<TopicInfo>>,
    by_id: HashMap<uuid::Uuid, String>,
}

impl MetadataCache {
    pub fn new(cluster_id: String) -> Self {
        MetadataCache {
            cluster_id,
            controller: -1,
            ..Default::default()
        }
    }

    pub fn topic(&self, name: &str) -> Option<&Arc<TopicInfo>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &uuid::Uuid) -> Option<&Arc<TopicInfo>> {
        self.by_id.get(id).and_then(|n| self.topics.get(n))
    }

    pub fn topics(&self) -> impl Iterator<Item = &Arc<TopicInfo>> {
        self.topics.values()
    }

    pub fn put_topic(&mut self, topic: TopicInfo) {
        self.by_id.insert(topic.id, topic.name.clone());
        self.topics.insert(topic.name.clone(), Arc::new(topic));
    }

    pub fn remove_topic(&mut self, name: &str) -> Option<Arc<TopicInfo>> {
        let t = self.topics.remove(name)?;
        self.by_id.remove(&t.id);
        Some(t)
    }
}

/// Kafka's topic name rules (`Topic.validate`): 1-249 chars of
/// `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Spreads `partitions` x `replication_factor` replicas over `brokers` the way
/// Kafka's rack-unaware assignment does: a random start, round-robin leaders,
/// followers shifted so replicas of one partition land on distinct brokers.
pub fn assign_replicas(
    brokers: &[i32],
    partitions: i32,
    replication_factor: i32,
    start: usize,
) -> Result<Vec<Vec<i32>>, String> {
    if partitions <= 0 {
        return Err("Number of partitions must be larger than 0.".into());
    }
    if replication_factor <= 0 {
        return Err("Replication factor must be larger than 0.".into());
    }
    if replication_factor as usize > brokers.len() {
        return Err(format!(
            "Replication factor: {replication_factor} larger than available brokers: {}.",
            brokers.len()
        ));
    }
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let start_index = start % n;
    let mut shift = start % n;
    let mut out = Vec::with_capacity(partitions as usize);
    for p in 0..partitions as usize {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start_index) % n;
        let mut replicas = vec![sorted[first]];
        for j in 0..(replication_factor as usize - 1) {
            let step = 1 + (shift + j) % (n - 1).max(1);
            replicas.push(sorted[(first + step) % n]);
        }
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["a", "xiaopalu", "my.topic_1-x", &"a".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "t/x", "ü", &"a".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn assignment_spreads_leaders_and_keeps_replicas_distinct() {
        let a = assign_replicas(&[1, 2, 3], 6, 3, 0).unwrap();
        assert_eq!(a.len(), 6);
        for r in &a {
            let mut s = r.clone();
            s.sort();
            s.dedup();
            assert_eq!(s.len(), 3, "{r:?}");
        }
        let leaders: Vec<i32> = a.iter().map(|r| r[0]).collect();
        assert_eq!(leaders, vec![1, 2, 3, 1, 2, 3]);
        assert!(assign_replicas(&[1], 1, 2, 0).is_err());
        assert_eq!(
            assign_replicas(&[7], 3, 1, 5).unwrap(),
            vec![vec![7], vec![7], vec![7]]
        );
    }
}
