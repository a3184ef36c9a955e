//! What this broker knows of the cluster: brokers, topics, partition
//! leadership, topic configs. Loaded from ZooKeeper ([`zk`]) in Kafka's layout
//! ([`znode`]); a plain in-memory view ([`MetadataCache`]) for the handlers.

pub mod zk;
pub mod znode;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A live broker as clients should reach it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerInfo {
    pub id: i32,
    /// The inter-broker listener's endpoint (what replica fetchers dial).
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    /// Every registered endpoint: `(listener name, host, port)`.
    pub endpoints: Vec<(String, String, u16)>,
}

impl BrokerInfo {
    /// From a registration's endpoints; `host`/`port` are those of
    /// `inter_broker_listener` (else the first endpoint). `None` without endpoints.
    pub fn from_endpoints(
        id: i32,
        endpoints: Vec<(String, String, u16)>,
        inter_broker_listener: &str,
        rack: Option<String>,
    ) -> Option<BrokerInfo> {
        let (_, host, port) = endpoints
            .iter()
            .find(|(name, _, _)| name == inter_broker_listener)
            .or(endpoints.first())?
            .clone();
        Some(BrokerInfo {
            id,
            host,
            port,
            rack,
            endpoints,
        })
    }

    /// This broker's endpoint on `listener`, as Kafka answers a request that
    /// arrived on that listener (`None`: the broker lacks it).
    pub fn endpoint(&self, listener: &str) -> Option<(&str, u16)> {
        self.endpoints
            .iter()
            .find(|(name, _, _)| name == listener)
            .map(|(_, host, port)| (host.as_str(), *port))
    }
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
    Ok(leader_slots(n, partitions, start)
        .map(|(first, shift)| {
            let mut replicas = vec![sorted[first]];
            for j in 0..(replication_factor as usize - 1) {
                let step = 1 + (shift + j) % (n - 1).max(1);
                replicas.push(sorted[(first + step) % n]);
            }
            replicas
        })
        .collect())
}

/// Kafka's placement walk over `n` listed brokers: for each partition, the
/// list position of its leader (round-robin from `start`) and the shift that
/// spaces its followers, which grows each time the leaders wrap around.
fn leader_slots(n: usize, partitions: i32, start: usize) -> impl Iterator<Item = (usize, usize)> {
    let start_index = start % n;
    (0..partitions.max(0) as usize).map(move |p| ((p + start_index) % n, start_index + p / n))
}

/// Kafka's rack-aware assignment (`assignReplicasToBrokersRackAware`) when
/// every broker has a `broker.rack`, else [`assign_replicas`]: brokers are
/// listed alternating between racks, leaders go round-robin over that list,
/// and each follower is the next broker (by the same shifting steps) on a
/// rack that holds no replica of the partition yet, while such racks remain.
pub fn assign_replicas_with_racks(
    brokers: &[(i32, Option<String>)],
    partitions: i32,
    replication_factor: i32,
    start: usize,
) -> Result<Vec<Vec<i32>>, String> {
    let ids: Vec<i32> = brokers.iter().map(|(id, _)| *id).collect();
    if brokers.is_empty() || brokers.iter().any(|(_, r)| r.is_none()) {
        return assign_replicas(&ids, partitions, replication_factor, start);
    }
    // Validates the counts with the same messages.
    assign_replicas(&ids, 1, replication_factor, 0)?;
    if partitions <= 0 {
        return Err("Number of partitions must be larger than 0.".into());
    }
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (id, rack) in brokers {
        by_rack
            .entry(rack.as_deref().unwrap_or(""))
            .or_default()
            .push(*id);
    }
    for list in by_rack.values_mut() {
        list.sort_unstable();
    }
    let rack_of: HashMap<i32, &str> = brokers
        .iter()
        .map(|(id, r)| (*id, r.as_deref().unwrap_or("")))
        .collect();
    let mut arranged = Vec::with_capacity(brokers.len());
    for round in 0.. {
        let before = arranged.len();
        arranged.extend(by_rack.values().filter_map(|l| l.get(round).copied()));
        if arranged.len() == before {
            break;
        }
    }
    let n = arranged.len();
    let racks = by_rack.len();
    let mut out = Vec::with_capacity(partitions as usize);
    for (first, shift) in leader_slots(n, partitions, start) {
        let mut replicas = vec![arranged[first]];
        let mut used_racks = vec![rack_of[&arranged[first]]];
        let mut k = 0;
        for _ in 1..replication_factor {
            loop {
                let step = 1 + (shift * racks + k) % (n - 1).max(1);
                let b = arranged[(first + step) % n];
                k += 1;
                let rack = rack_of[&b];
                if (!used_racks.contains(&rack) || used_racks.len() == racks)
                    && (!replicas.contains(&b) || replicas.len() == n)
                {
                    replicas.push(b);
                    if !used_racks.contains(&rack) {
                        used_racks.push(rack);
                    }
                    break;
                }
            }
        }
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rack_aware_assignment_spreads_each_partition_over_racks() {
        let brokers: Vec<(i32, Option<String>)> =
            [(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")]
                .iter()
                .map(|(id, r)| (*id, Some(r.to_string())))
                .collect();
        let rack = |b: i32| brokers.iter().find(|(id, _)| *id == b).unwrap().1.clone();
        for start in 0..6 {
            let a = assign_replicas_with_racks(&brokers, 12, 3, start).unwrap();
            for r in &a {
                let mut racks: Vec<_> = r.iter().map(|b| rack(*b)).collect();
                racks.sort();
                racks.dedup();
                assert_eq!(racks.len(), 3, "{r:?}");
            }
            let mut leaders: Vec<i32> = a.iter().map(|r| r[0]).collect();
            leaders.sort();
            assert_eq!(leaders, vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]);
        }
        // Without racks everywhere: the rack-unaware placement.
        let mixed = vec![(1, Some("a".to_owned())), (2, None), (3, None)];
        assert_eq!(
            assign_replicas_with_racks(&mixed, 3, 2, 0).unwrap(),
            assign_replicas(&[1, 2, 3], 3, 2, 0).unwrap()
        );
        assert!(assign_replicas_with_racks(&brokers, 1, 7, 0).is_err());
    }

    #[test]
    fn broker_endpoints_by_listener() {
        let eps = vec![
            ("EXTERNAL".to_owned(), "pub.example".to_owned(), 9093),
            ("INTERNAL".to_owned(), "broker1".to_owned(), 9092),
        ];
        let b = BrokerInfo::from_endpoints(1, eps.clone(), "INTERNAL", None).unwrap();
        assert_eq!((b.host.as_str(), b.port), ("broker1", 9092));
        assert_eq!(b.endpoint("EXTERNAL"), Some(("pub.example", 9093)));
        assert_eq!(b.endpoint("OTHER"), None);
        let b = BrokerInfo::from_endpoints(1, eps, "REPLICATION", None).unwrap();
        assert_eq!(b.host, "pub.example");
        assert!(BrokerInfo::from_endpoints(1, vec![], "INTERNAL", None).is_none());
    }

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
