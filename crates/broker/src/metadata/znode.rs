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
    fn cluster_id_is_22_chars() {
        assert_eq!(new_cluster_id().len(), 22);
    }
}
