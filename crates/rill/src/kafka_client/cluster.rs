//! The Metadata answer as plain data, sorted for printing.

use std::collections::BTreeMap;

use base64::Engine;
use kafka_protocol::messages::MetadataResponse;
use kafka_protocol::ResponseError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl Node {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionMeta {
    pub index: i32,
    pub error_code: i16,
    /// -1 when the partition has no leader.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicMeta {
    pub name: String,
    pub error_code: i16,
    /// Kafka's text form of the topic id (URL-safe base64), or None for the zero id.
    pub id: Option<String>,
    pub internal: bool,
    /// Sorted by partition index.
    pub partitions: Vec<PartitionMeta>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cluster {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, Node>,
    pub topics: BTreeMap<String, TopicMeta>,
}

/// Kafka prints a `Uuid` as unpadded URL-safe base64 of its 16 bytes.
pub fn uuid_text(id: &uuid::Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

impl Cluster {
    pub fn from_response(answer: &MetadataResponse) -> Self {
        let brokers = answer
            .brokers
            .iter()
            .map(|b| {
                let node = Node {
                    id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                };
                (node.id, node)
            })
            .collect();
        let topics = answer
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.to_string();
                let mut partitions: Vec<PartitionMeta> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionMeta {
                        index: p.partition_index,
                        error_code: p.error_code,
                        leader: p.leader_id.0,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                        isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                        offline: p.offline_replicas.iter().map(|b| b.0).collect(),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.index);
                let id = (!t.topic_id.is_nil()).then(|| uuid_text(&t.topic_id));
                Some((
                    name.clone(),
                    TopicMeta {
                        name,
                        error_code: t.error_code,
                        id,
                        internal: t.is_internal,
                        partitions,
                    },
                ))
            })
            .collect();
        Cluster {
            cluster_id: answer.cluster_id.as_ref().map(|c| c.to_string()),
            controller_id: answer.controller_id.0,
            brokers,
            topics,
        }
    }

    /// The topic, or an error saying it does not exist (or what the broker said).
    pub fn topic(&self, name: &str) -> anyhow::Result<&TopicMeta> {
        match self.topics.get(name) {
            Some(t) if t.error_code == 0 => Ok(t),
            Some(t) if t.error_code == ResponseError::UnknownTopicOrPartition.code() => {
                anyhow::bail!("topic '{name}' does not exist")
            }
            Some(t) => super::check(t.error_code, None, &format!("topic '{name}'")).map(|_| t),
            None => anyhow::bail!("topic '{name}' does not exist"),
        }
    }

    /// The leader of a partition, or an error naming the partition.
    pub fn leader(&self, topic: &str, partition: i32) -> anyhow::Result<i32> {
        let t = self.topic(topic)?;
        let p = t
            .partitions
            .iter()
            .find(|p| p.index == partition)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "topic '{topic}' has no partition {partition} (it has {})",
                    t.partitions.len()
                )
            })?;
        if p.leader < 0 {
            anyhow::bail!("partition {topic}-{partition} has no leader right now");
        }
        Ok(p.leader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_print_as_kafka_does() {
        // Kafka: Uuid(0x0123456789abcdef, 0x0123456789abcdef).toString()
        let id = uuid::Uuid::from_u128(0x0123456789abcdef0123456789abcdef);
        assert_eq!(uuid_text(&id), "ASNFZ4mrze8BI0VniavN7w");
    }
}
