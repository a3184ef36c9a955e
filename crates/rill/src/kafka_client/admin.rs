//! Topic, partition and config administration, sent to the controller.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};

use super::{check, str_bytes, topic_name, KafkaClient};

/// `ConfigResource.Type` codes.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// `DescribeConfigs` config sources (`ConfigEntry.ConfigSource`).
pub const SOURCE_DEFAULT: i8 = 5;

const TIMEOUT_MS: i32 = 30_000;

/// What `--create` asks for.
#[derive(Clone, Debug, Default)]
pub struct NewTopic {
    pub name: String,
    /// -1: the broker's num.partitions.
    pub partitions: i32,
    /// -1: the broker's default.replication.factor.
    pub replication_factor: i16,
    /// partition -> brokers; when set, partitions and replication factor are -1.
    pub assignment: BTreeMap<i32, Vec<i32>>,
    pub configs: Vec<(String, String)>,
}

pub async fn create_topic(client: &mut KafkaClient, topic: &NewTopic) -> anyhow::Result<()> {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(TIMEOUT_MS)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(&topic.name))
            .with_num_partitions(topic.partitions)
            .with_replication_factor(topic.replication_factor)
            .with_assignments(
                topic
                    .assignment
                    .iter()
                    .map(|(p, brokers)| {
                        CreatableReplicaAssignment::default()
                            .with_partition_index(*p)
                            .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
                    })
                    .collect(),
            )
            .with_configs(
                topic
                    .configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(str_bytes(k))
                            .with_value(Some(str_bytes(v)))
                    })
                    .collect(),
            )]);
    let answer = client.controller().await?.call_capped(&request, 7).await?;
    for t in &answer.topics {
        check(
            t.error_code,
            t.error_message.as_ref(),
            &format!("creating topic '{}'", topic.name),
        )?;
    }
    Ok(())
}

/// Deletes topics by name; the first failure is returned.
pub async fn delete_topics(client: &mut KafkaClient, names: &[String]) -> anyhow::Result<()> {
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(TIMEOUT_MS)
        .with_topic_names(names.iter().map(|n| topic_name(n)).collect());
    // v5: the last version that takes plain names.
    let answer = client.controller().await?.call_capped(&request, 5).await?;
    for t in &answer.responses {
        let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
        check(
            t.error_code,
            t.error_message.as_ref(),
            &format!("deleting topic '{name}'"),
        )?;
    }
    Ok(())
}

/// Raises a topic's partition count to `count` (new replicas placed by the broker
/// unless `assignment` lists them, one entry per new partition).
pub async fn create_partitions(
    client: &mut KafkaClient,
    topic: &str,
    count: i32,
    assignment: Option<Vec<Vec<i32>>>,
) -> anyhow::Result<()> {
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(TIMEOUT_MS)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(topic))
            .with_count(count)
            .with_assignments(assignment.map(|a| {
                a.into_iter()
                    .map(|brokers| {
                        CreatePartitionsAssignment::default()
                            .with_broker_ids(brokers.into_iter().map(BrokerId).collect())
                    })
                    .collect()
            }))]);
    let answer = client.controller().await?.call_capped(&request, 3).await?;
    for r in &answer.results {
        check(
            r.error_code,
            r.error_message.as_ref(),
            &format!("adding partitions to '{topic}'"),
        )?;
    }
    Ok(())
}

/// One config entry as `DescribeConfigs` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub read_only: bool,
    pub sensitive: bool,
    /// (name, value, source) of each synonym, most specific first.
    pub synonyms: Vec<(String, Option<String>, i8)>,
}

impl ConfigEntry {
    pub fn is_default(&self) -> bool {
        self.source == SOURCE_DEFAULT
    }
}

/// `ConfigEntry.ConfigSource` names, as kafka-configs.sh prints them.
pub fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// The configs of one resource (`RESOURCE_TOPIC` or `RESOURCE_BROKER`).
pub async fn describe_configs(
    client: &mut KafkaClient,
    resource_type: i8,
    name: &str,
    synonyms: bool,
) -> anyhow::Result<Vec<ConfigEntry>> {
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(synonyms)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(str_bytes(name))
            .with_configuration_keys(None)]);
    // A broker's own configs are answered by that broker; topics by anyone.
    let conn = match (resource_type, name.parse::<i32>()) {
        (RESOURCE_BROKER, Ok(id)) => client.broker(id).await?,
        _ => client.any(),
    };
    let answer = conn.call_capped(&request, 4).await?;
    let mut out = Vec::new();
    for r in &answer.results {
        check(
            r.error_code,
            r.error_message.as_ref(),
            &format!("describing the configs of '{name}'"),
        )?;
        for c in &r.configs {
            out.push(ConfigEntry {
                name: c.name.to_string(),
                value: c.value.as_ref().map(|v| v.to_string()),
                source: c.config_source,
                read_only: c.read_only,
                sensitive: c.is_sensitive,
                synonyms: c
                    .synonyms
                    .iter()
                    .map(|s| {
                        (
                            s.name.to_string(),
                            s.value.as_ref().map(|v| v.to_string()),
                            s.source,
                        )
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// A config change for `IncrementalAlterConfigs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigOp {
    Set(String, String),
    Delete(String),
}

pub async fn alter_configs(
    client: &mut KafkaClient,
    resource_type: i8,
    name: &str,
    ops: &[ConfigOp],
) -> anyhow::Result<()> {
    let configs = ops
        .iter()
        .map(|op| match op {
            ConfigOp::Set(k, v) => AlterableConfig::default()
                .with_name(str_bytes(k))
                .with_config_operation(0)
                .with_value(Some(str_bytes(v))),
            ConfigOp::Delete(k) => AlterableConfig::default()
                .with_name(str_bytes(k))
                .with_config_operation(1)
                .with_value(None),
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(str_bytes(name))
            .with_configs(configs),
    ]);
    let conn = match (resource_type, name.parse::<i32>()) {
        (RESOURCE_BROKER, Ok(id)) => client.broker(id).await?,
        _ => client.controller().await?,
    };
    let answer = conn.call_capped(&request, 1).await?;
    for r in &answer.responses {
        check(
            r.error_code,
            r.error_message.as_ref(),
            &format!("altering the configs of '{name}'"),
        )?;
    }
    Ok(())
}
