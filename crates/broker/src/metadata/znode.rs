//! Kafka's znode JSON formats (ZooKeeper-mode Kafka 2.8–3.x, `ZkData.scala`),
//! so tools that read Kafka's layout read ours. Pure encode/decode.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Paths of Kafka's layout, relative to the chroot.
pub mod paths {
    pub const BROKER_IDS: &str = "/brokers/ids";
    pub const BROKER_TOPICS: &str = "/brokers/topics";
    pub const BROKER_SEQID: &str = "/brokers/seqid";
    pub const CONTROLLER: &str = "/controller";
    pub const CONTROLLER_EPOCH: &str = "/controller_epoch";
    pub const CLUSTER_ID: &str = "/cluster/id";
    pub const CONFIG_TOPICS: &str = "/config/topics";
    pub const CONFIG_BROKERS: &str = "/config/brokers";
    pub const CONFIG_CHANGES: &str = "/config/changes";
    pub const DELETE_TOPICS: &str = "/admin/delete_topics";
    /// Kafka 2.x tools (`kafka-reassign-partitions.sh --zookeeper`) wrote
    /// reassignments here; the controller still honours it.
    pub const REASSIGN_PARTITIONS: &str = "/admin/reassign_partitions";

    /// Persistent paths Kafka creates at start-up (`KafkaZkClient.createTopLevelPaths`).
    pub const TOP_LEVEL: &[&str] = &[
        "/consumers",
        "/admin/delete_topics",
        "/brokers/ids",
        "/brokers/topics",
        "/brokers/seqid",
        "/config/changes",
        "/config/clients",
        "/config/brokers",
        "/config/topics",
        "/config/users",
        "/config/ips",
        "/isr_change_notification",
        "/latest_producer_id_block",
        "/log_dir_event_notification",
    ];

    pub fn broker(id: i32) -> String {
        format!("{BROKER_IDS}/{id}")
    }
    pub fn topic(name: &str) -> String {
        format!("{BROKER_TOPICS}/{name}")
    }
    pub fn partitions(topic: &str) -> String {
        format!("{BROKER_TOPICS}/{topic}/partitions")
    }
    pub fn partition(topic: &str, partition: i32) -> String {
        format!("{BROKER_TOPICS}/{topic}/partitions/{partition}")
    }
    pub fn partition_state(topic: &str, partition: i32) -> String {
        format!("{BROKER_TOPICS}/{topic}/partitions/{partition}/state")
    }
    pub fn topic_config(name: &str) -> String {
        format!("{CONFIG_TOPICS}/{name}")
    }
    pub fn delete_topic(name: &str) -> String {
        format!("{DELETE_TOPICS}/{name}")
    }
}

/// `/brokers/ids/N` (version 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub version: i32,
    pub host: String,
    pub port: i32,
    pub jmx_port: i32,
    /// Milliseconds since the epoch, as a string (Kafka writes it that way).
    pub timestamp: String,
    pub endpoints: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rack: Option<String>,
    #[serde(default)]
    pub listener_security_protocol_map: BTreeMap<String, String>,
    #[serde(default)]
    pub features: BTreeMap<String, serde_json::Value>,
}

impl BrokerRegistration {
    pub fn new(endpoints: &[(String, String, u16)], rack: Option<String>, now_ms: i64) -> Self {
        let (host, port) = endpoints
            .first()
            .map(|(_, h, p)| (h.clone(), *p as i32))
            .unwrap_or_default();
        BrokerRegistration {
            version: 5,
            host,
            port,
            jmx_port: -1,
            timestamp: now_ms.to_string(),
            endpoints: endpoints
                .iter()
                .map(|(name, h, p)| format!("{name}://{h}:{p}"))
                .collect(),
            rack,
            listener_security_protocol_map: endpoints
                .iter()
                .map(|(name, _, _)| (name.clone(), "PLAINTEXT".to_owned()))
                .collect(),
            features: BTreeMap::new(),
        }
    }

    /// `(listener name, host, port)` of each endpoint.
    pub fn parsed_endpoints(&self) -> Vec<(String, String, u16)> {
        self.endpoints
            .iter()
            .filter_map(|e| {
                let (name, rest) = e.split_once("://")?;
                let (host, port) = rest.rsplit_once(':')?;
                Some((name.to_owned(), host.to_owned(), port.parse().ok()?))
            })
            .collect()
    }
}

/// `/brokers/topics/T`: the replica assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicAssignment {
    pub version: i32,
    /// Partition number (as a string key) to replica broker ids.
    pub partitions: BTreeMap<String, Vec<i32>>,
    #[serde(default)]
    pub adding_replicas: BTreeMap<String, Vec<i32>>,
    #[serde(default)]
    pub removing_replicas: BTreeMap<String, Vec<i32>>,
    /// Base64 (URL-safe, unpadded) of the 16-byte topic id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub topic_id: Option<String>,
}

impl TopicAssignment {
    pub fn new(assignment: &[Vec<i32>], topic_id: uuid::Uuid) -> Self {
        TopicAssignment {
            version: 3,
            partitions: assignment
                .iter()
                .enumerate()
                .map(|(p, r)| (p.to_string(), r.clone()))
                .collect(),
            adding_replicas: BTreeMap::new(),
            removing_replicas: BTreeMap::new(),
            topic_id: Some(encode_uuid(topic_id)),
        }
    }

    /// Replicas by partition number, ordered; `None` if a key is not a number.
    pub fn replicas(&self) -> Option<BTreeMap<i32, Vec<i32>>> {
        self.partitions
            .iter()
            .map(|(k, v)| Some((k.parse().ok()?, v.clone())))
            .collect()
    }

    pub fn id(&self) -> Option<uuid::Uuid> {
        self.topic_id.as_deref().and_then(decode_uuid)
    }

    /// Partition `p`'s full assignment: replicas, adding and removing.
    pub fn assignment(&self, p: i32) -> Option<ReplicaAssignment> {
        let key = p.to_string();
        Some(ReplicaAssignment {
            replicas: self.partitions.get(&key)?.clone(),
            adding: self.adding_replicas.get(&key).cloned().unwrap_or_default(),
            removing: self
                .removing_replicas
                .get(&key)
                .cloned()
                .unwrap_or_default(),
        })
    }

    /// Stores partition `p`'s assignment; empty adding/removing lists are
    /// left out, as Kafka writes them.
    pub fn set_assignment(&mut self, p: i32, a: &ReplicaAssignment) {
        let key = p.to_string();
        self.partitions.insert(key.clone(), a.replicas.clone());
        for (map, list) in [
            (&mut self.adding_replicas, &a.adding),
            (&mut self.removing_replicas, &a.removing),
        ] {
            if list.is_empty() {
                map.remove(&key);
            } else {
                map.insert(key.clone(), list.clone());
            }
        }
    }

    /// The partitions being reassigned, with their assignments.
    pub fn reassigning(&self) -> Vec<(i32, ReplicaAssignment)> {
        let mut keys: Vec<i32> = self
            .adding_replicas
            .keys()
            .chain(self.removing_replicas.keys())
            .filter_map(|k| k.parse().ok())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter_map(|p| Some((p, self.assignment(p)?)))
            .filter(|(_, a)| a.is_reassigning())
            .collect()
    }
}

/// One partition's assignment as the topic znode stores it (Kafka's
/// `ReplicaAssignment`): during a reassignment `replicas` is the full set
/// RS = target + original, `adding` = target - original, `removing` =
/// original - target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaAssignment {
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

impl ReplicaAssignment {
    /// A settled assignment (no reassignment).
    pub fn settled(replicas: Vec<i32>) -> Self {
        ReplicaAssignment {
            replicas,
            ..Default::default()
        }
    }

    pub fn is_reassigning(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }

    /// The replicas before the reassignment (RS - adding).
    pub fn origin(&self) -> Vec<i32> {
        without(&self.replicas, &self.adding)
    }

    /// The replicas after it (RS - removing).
    pub fn target(&self) -> Vec<i32> {
        without(&self.replicas, &self.removing)
    }

    /// A reassignment from this assignment's origin to `target`: RS lists
    /// the target first (its order is the new preference), then the
    /// original replicas that leave.
    pub fn reassign_to(&self, target: &[i32]) -> Self {
        let origin = self.origin();
        let mut replicas = target.to_vec();
        replicas.extend(origin.iter().filter(|r| !target.contains(r)));
        ReplicaAssignment {
            adding: without(target, &origin),
            removing: without(&origin, target),
            replicas,
        }
    }
}

fn without(list: &[i32], remove: &[i32]) -> Vec<i32> {
    list.iter()
        .copied()
        .filter(|r| !remove.contains(r))
        .collect()
}

/// `/admin/reassign_partitions`, as Kafka 2.x tools wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyReassignment {
    pub version: i32,
    pub partitions: Vec<LegacyPartitionTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyPartitionTarget {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
}

/// `/brokers/topics/T/partitions/P/state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub controller_epoch: i32,
    pub leader: i32,
    pub version: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
}

/// `/config/topics/T` and `/config/brokers/N`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityConfig {
    pub version: i32,
    pub config: BTreeMap<String, String>,
}

impl EntityConfig {
    pub fn new(config: BTreeMap<String, String>) -> Self {
        EntityConfig { version: 1, config }
    }
}

/// `/cluster/id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterId {
    pub version: String,
    pub id: String,
}

/// `/controller`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerRegistration {
    pub version: i32,
    pub brokerid: i32,
    pub timestamp: String,
}

/// `/config/changes/config_change_NNNN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChange {
    pub version: i32,
    pub entity_path: String,
}

pub fn encode_uuid(id: uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn decode_uuid(s: &str) -> Option<uuid::Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
    uuid::Uuid::from_slice(&bytes).ok()
}

/// A new random cluster id as Kafka makes them (22-char URL-safe base64).
pub fn new_cluster_id() -> String {
    encode_uuid(uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_registration_matches_kafka_shape() {
        let reg = BrokerRegistration::new(
            &[("PLAINTEXT".into(), "h1".into(), 9092)],
            None,
            1700000000000,
        );
        let json = serde_json::to_value(&reg).unwrap();
        assert_eq!(json["version"], 5);
        assert_eq!(json["host"], "h1");
        assert_eq!(json["port"], 9092);
        assert_eq!(json["jmx_port"], -1);
        assert_eq!(json["timestamp"], "1700000000000");
        assert_eq!(json["endpoints"][0], "PLAINTEXT://h1:9092");
        assert_eq!(
            json["listener_security_protocol_map"]["PLAINTEXT"],
            "PLAINTEXT"
        );
        assert!(json.get("rack").is_none());
        let kafka = r#"{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://k1:9093"],"jmx_port":-1,"port":9093,"host":"k1","version":5,"timestamp":"1"}"#;
        let parsed: BrokerRegistration = serde_json::from_str(kafka).unwrap();
        assert_eq!(
            parsed.parsed_endpoints(),
            vec![("PLAINTEXT".into(), "k1".into(), 9093)]
        );
    }

    #[test]
    fn topic_assignment_round_trips_and_reads_kafka_json() {
        let id = uuid::Uuid::new_v4();
        let t = TopicAssignment::new(&[vec![1, 2], vec![2, 1]], id);
        let json = serde_json::to_string(&t).unwrap();
        let back: TopicAssignment = serde_json::from_str(&json).unwrap();
        assert_eq!(back.id(), Some(id));
        assert_eq!(back.replicas().unwrap()[&1], vec![2, 1]);
        let kafka = r#"{"partitions":{"0":[1]},"topic_id":"Q2jOTPyqS6GU0ewTKUCvHw","adding_replicas":{},"removing_replicas":{},"version":3}"#;
        let parsed: TopicAssignment = serde_json::from_str(kafka).unwrap();
        assert_eq!(encode_uuid(parsed.id().unwrap()), "Q2jOTPyqS6GU0ewTKUCvHw");
    }

    #[test]
    fn reassignment_fields_follow_kafkas_layout() {
        let id = uuid::Uuid::new_v4();
        let mut t = TopicAssignment::new(&[vec![1, 2], vec![2, 3]], id);
        let moving = t.assignment(0).unwrap().reassign_to(&[2, 3]);
        assert_eq!(moving.replicas, vec![2, 3, 1]);
        assert_eq!(
            (moving.adding.clone(), moving.removing.clone()),
            (vec![3], vec![1])
        );
        assert_eq!((moving.origin(), moving.target()), (vec![2, 1], vec![2, 3]));
        t.set_assignment(0, &moving);
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["partitions"]["0"], serde_json::json!([2, 3, 1]));
        assert_eq!(json["adding_replicas"]["0"], serde_json::json!([3]));
        assert_eq!(json["removing_replicas"]["0"], serde_json::json!([1]));
        assert_eq!(t.reassigning(), vec![(0, moving.clone())]);
        // A new target replaces the old one, counted from the origin.
        let again = moving.reassign_to(&[1, 3]);
        assert_eq!(
            (again.replicas, again.adding, again.removing),
            (vec![1, 3, 2], vec![3], vec![2])
        );
        t.set_assignment(0, &ReplicaAssignment::settled(vec![2, 3]));
        assert!(t.adding_replicas.is_empty() && t.removing_replicas.is_empty());
        assert!(t.reassigning().is_empty());
        let legacy: LegacyReassignment = serde_json::from_str(
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3]}]}"#,
        )
        .unwrap();
        assert_eq!(legacy.partitions[0].replicas, vec![2, 3]);
    }

    #[test]
    fn cluster_id_is_22_chars() {
        assert_eq!(new_cluster_id().len(), 22);
    }
}
