//! DescribeConfigs (32): a topic's effective configs (overrides over broker
//! defaults) or this broker's configs (resource name = its id, or empty for
//! the cluster-wide dynamic defaults), with sources, synonyms, types and
//! documentation as Kafka's `ZkAdminManager.describeConfigs` reports them.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::ResponseError;

use crate::config::{describe_topic, ConfigEntry};
use crate::handlers::{str_bytes, ApiError};
use crate::metadata::validate_topic_name;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (1, 4);

/// `ConfigResource.Type` ids.
pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;
pub const BROKER_LOGGER: i8 = 8;

/// `ConfigResource.Type`'s name, as Kafka's error messages print it.
pub fn resource_type_name(id: i8) -> &'static str {
    match id {
        TOPIC => "TOPIC",
        BROKER => "BROKER",
        BROKER_LOGGER => "BROKER_LOGGER",
        16 => "CLIENT_METRICS",
        32 => "GROUP",
        _ => "UNKNOWN",
    }
}

/// A BROKER or BROKER_LOGGER resource name: `None` if empty (the cluster
/// default), else the broker id it must parse as.
pub fn parse_broker_id(name: &str) -> Result<Option<i32>, ApiError> {
    if name.is_empty() {
        return Ok(None);
    }
    name.parse().map(Some).map_err(|_| {
        ApiError::new(
            ResponseError::InvalidRequest,
            format!("Broker id must be an integer, but it is: {name}"),
        )
    })
}

/// What the request asks to see of each entry.
#[derive(Debug, Clone, Copy)]
struct Shape {
    synonyms: bool,
    documentation: bool,
    /// `config_type` and `documentation` exist from v3 on.
    v3: bool,
}

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let shape = Shape {
        synonyms: req.include_synonyms,
        documentation: req.include_documentation && ctx.version >= 3,
        v3: ctx.version >= 3,
    };
    let mut results = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let name = r.resource_name.to_string();
        let result = DescribeConfigsResult::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone())
            .with_error_message(None);
        let result = match describe(b, r.resource_type, &name).await {
            Ok(entries) => {
                // As Kafka's ConfigHelper: null and empty both mean every key.
                let keys: Option<Vec<String>> = r
                    .configuration_keys
                    .filter(|k| !k.is_empty())
                    .map(|k| k.iter().map(|s| s.to_string()).collect());
                result.with_configs(
                    entries
                        .into_iter()
                        .filter(|e| keys.as_ref().is_none_or(|k| k.contains(&e.name)))
                        .map(|e| entry(e, shape))
                        .collect(),
                )
            }
            Err(e) => result
                .with_error_code(e.code())
                .with_error_message((!e.message.is_empty()).then(|| str_bytes(&e.message))),
        };
        results.push(result);
    }
    DescribeConfigsResponse::default().with_results(results)
}

async fn describe(b: &Broker, resource_type: i8, name: &str) -> Result<Vec<ConfigEntry>, ApiError> {
    match resource_type {
        TOPIC => {
            validate_topic_name(name)
                .map_err(|m| ApiError::new(ResponseError::InvalidTopicException, m))?;
            if b.metadata().topic(name).is_none() {
                // Kafka sets the code only, no message.
                return Err(ApiError::new(ResponseError::UnknownTopicOrPartition, ""));
            }
            let overrides = b.topic_config_overrides(name).await?;
            Ok(describe_topic(&b.effective_config(), &overrides))
        }
        BROKER => match parse_broker_id(name)? {
            None => Ok(b.effective_config().describe_cluster_defaults()),
            Some(id) if id == b.config.broker_id => Ok(b.effective_config().describe()),
            Some(_) => Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!(
                    "Unexpected broker id, expected {} or empty string, but received {name}",
                    b.config.broker_id
                ),
            )),
        },
        BROKER_LOGGER => Err(broker_logger_unsupported(b, name)),
        other => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("Unsupported resource type: {}", resource_type_name(other)),
        )),
    }
}

/// BROKER_LOGGER resources: Kafka's checks on the name, then an honest
/// refusal (Rill has no log4j loggers to list or change).
pub fn broker_logger_unsupported(b: &Broker, name: &str) -> ApiError {
    let invalid = |m: String| ApiError::new(ResponseError::InvalidRequest, m);
    match parse_broker_id(name) {
        Err(e) => e,
        Ok(None) => invalid("Broker id must not be empty".into()),
        Ok(Some(id)) if id != b.config.broker_id => invalid(format!(
            "Unexpected broker id, expected {} but received {name}",
            b.config.broker_id
        )),
        Ok(Some(_)) => invalid(
            "BROKER_LOGGER resources are not supported: Rill logs through tracing (set RUST_LOG)"
                .into(),
        ),
    }
}

fn entry(e: ConfigEntry, shape: Shape) -> DescribeConfigsResourceResult {
    let mut out = DescribeConfigsResourceResult::default()
        .with_value(e.value.as_deref().map(str_bytes))
        .with_read_only(e.read_only)
        .with_config_source(e.source.id())
        .with_is_sensitive(e.is_sensitive);
    if shape.synonyms {
        out = out.with_synonyms(
            e.synonyms
                .iter()
                .map(|s| {
                    DescribeConfigsSynonym::default()
                        .with_name(str_bytes(&s.name))
                        .with_value(s.value.as_deref().map(str_bytes))
                        .with_source(s.source.id())
                })
                .collect(),
        );
    }
    if shape.v3 {
        out = out.with_config_type(e.config_type_id());
    }
    // Null unless asked for (the schema's default is an empty string).
    out = out.with_documentation(
        e.documentation
            .filter(|_| shape.documentation)
            .map(str_bytes),
    );
    out.with_name(str_bytes(&e.name))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kafka_protocol::protocol::Encodable;

    use super::*;
    use crate::config::BrokerConfig;

    #[test]
    fn encodes_at_every_served_version() {
        let config = BrokerConfig::from_text(
            "broker.id=1\nzookeeper.connect=localhost:2181\nlog.retention.hours=24\n",
            &[],
        )
        .unwrap()
        .config;
        let overrides = BTreeMap::from([("retention.ms".to_owned(), "1000".to_owned())]);
        for v in VERSIONS.0..=VERSIONS.1 {
            for synonyms in [false, true] {
                let shape = Shape {
                    synonyms,
                    documentation: v >= 3,
                    v3: v >= 3,
                };
                let topic: Vec<_> = describe_topic(&config, &overrides)
                    .into_iter()
                    .map(|e| entry(e, shape))
                    .collect();
                let broker: Vec<_> = config
                    .describe()
                    .into_iter()
                    .map(|e| entry(e, shape))
                    .collect();
                let retention = topic
                    .iter()
                    .find(|e| e.name.as_str() == "retention.ms")
                    .unwrap();
                assert_eq!(retention.value.as_deref(), Some("1000"));
                assert_eq!(retention.synonyms.is_empty(), !synonyms);
                let resp = DescribeConfigsResponse::default().with_results(vec![
                    DescribeConfigsResult::default()
                        .with_resource_type(TOPIC)
                        .with_resource_name(str_bytes("t"))
                        .with_configs(topic),
                    DescribeConfigsResult::default()
                        .with_resource_type(BROKER)
                        .with_resource_name(str_bytes("1"))
                        .with_configs(broker),
                    DescribeConfigsResult::default()
                        .with_resource_type(TOPIC)
                        .with_resource_name(str_bytes("missing"))
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                ]);
                let mut buf = bytes::BytesMut::new();
                resp.encode(&mut buf, v)
                    .unwrap_or_else(|e| panic!("v{v}: {e}"));
            }
        }
    }
}
