//! IncrementalAlterConfigs (44): SET, DELETE, APPEND and SUBTRACT (the last
//! two on list-typed keys) applied to a topic's stored overrides or to a
//! broker's (or the cluster default's) dynamic configs, then validated as
//! AlterConfigs does. BROKER_LOGGER resources are refused with
//! INVALID_REQUEST saying why.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::ResponseError;

use super::alter_configs::{
    broker_entity, duplicate_resources, shape_error, unsupported_resource_type,
};
use super::describe_configs::{broker_logger_unsupported, BROKER, BROKER_LOGGER, TOPIC};
use crate::config::value::split_list;
use crate::config::{broker_key, topic_key, ConfigKey, ConfigType};
use crate::handlers::ApiError;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (0, 1);

/// `AlterConfigOp.OpType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Set,
    Delete,
    Append,
    Subtract,
}

impl Op {
    pub fn from_id(id: i8) -> Option<Op> {
        match id {
            0 => Some(Op::Set),
            1 => Some(Op::Delete),
            2 => Some(Op::Append),
            3 => Some(Op::Subtract),
            _ => None,
        }
    }
}

/// One requested change: key, operation, value (`None` only for DELETE).
pub type Change = (String, Op, Option<String>);

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let duplicates = duplicate_resources(
        req.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let mut responses = Vec::with_capacity(req.resources.len());
    for (r, duplicate) in req.resources.into_iter().zip(duplicates) {
        let name = r.resource_name.to_string();
        let outcome = match shape_error(
            duplicate,
            r.configs.iter().map(|c| {
                (
                    c.name.as_str(),
                    c.value.is_none() && c.config_operation != 1,
                )
            }),
        ) {
            Some(e) => Err(e),
            None => {
                let changes: Result<Vec<Change>, ApiError> = r
                    .configs
                    .iter()
                    .map(|c| {
                        let op = Op::from_id(c.config_operation).ok_or_else(|| {
                            ApiError::new(
                                ResponseError::InvalidRequest,
                                format!("Unknown config operation type {}", c.config_operation),
                            )
                        })?;
                        Ok((
                            c.name.to_string(),
                            op,
                            c.value.as_ref().map(|v| v.to_string()),
                        ))
                    })
                    .collect();
                match (changes, r.resource_type) {
                    (Err(e), _) => Err(e),
                    (Ok(changes), TOPIC) => {
                        b.update_topic_config(
                            &name,
                            |stored| apply_changes(stored, &changes, topic_config_key),
                            req.validate_only,
                        )
                        .await
                    }
                    (Ok(changes), BROKER) => match broker_entity(b, &name) {
                        Ok(per_broker) => {
                            b.update_broker_config(
                                per_broker,
                                |stored| apply_changes(stored, &changes, broker_key),
                                req.validate_only,
                            )
                            .await
                        }
                        Err(e) => Err(e),
                    },
                    (Ok(_), BROKER_LOGGER) => Err(broker_logger_unsupported(b, &name)),
                    (Ok(_), other) => Err(unsupported_resource_type(other)),
                }
            }
        };
        let mut resp = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name)
            .with_error_message(None);
        if let Err(e) = outcome {
            resp = resp
                .with_error_code(e.code())
                .with_error_message(e.message());
        }
        responses.push(resp);
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn topic_config_key(name: &str) -> Option<&'static ConfigKey> {
    topic_key(name).map(|k| &k.key)
}

/// Kafka's `prepareIncrementalConfigs` over a topic's stored overrides or a
/// broker entity's dynamic configs (`key` finds a name's definition).
/// APPEND and SUBTRACT start from the stored value, else the key's
/// default; APPEND skips items already present.
pub fn apply_changes(
    stored: &BTreeMap<String, String>,
    changes: &[Change],
    key: impl Fn(&str) -> Option<&'static ConfigKey>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = stored.clone();
    for (name, op, value) in changes {
        let value = value.as_deref().unwrap_or_default();
        match op {
            Op::Set => {
                out.insert(name.clone(), value.to_owned());
            }
            Op::Delete => {
                out.remove(name);
            }
            Op::Append | Op::Subtract => {
                // Kafka's message, whatever the resource type.
                let key = key(name).ok_or_else(|| {
                    ApiError::new(
                        ResponseError::InvalidConfig,
                        format!("Unknown topic config name: {name}"),
                    )
                })?;
                let verb = if *op == Op::Append {
                    "append"
                } else {
                    "subtract"
                };
                if key.ty != ConfigType::List {
                    return Err(ApiError::new(
                        ResponseError::InvalidRequest,
                        format!("Config value {verb} is not allowed for config key: {name}"),
                    ));
                }
                let old = out
                    .get(name)
                    .map(String::as_str)
                    .or(key.default)
                    .unwrap_or_default();
                let mut items = split_list(old);
                let given = split_list(value);
                if *op == Op::Append {
                    for item in given {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    }
                } else {
                    items.retain(|i| !given.contains(i));
                }
                out.insert(name.clone(), items.join(","));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::handlers::str_bytes;

    fn change(name: &str, op: Op, value: Option<&str>) -> Change {
        (name.to_owned(), op, value.map(str::to_owned))
    }

    #[test]
    fn operations() {
        let stored = BTreeMap::from([
            ("retention.ms".to_owned(), "1000".to_owned()),
            ("segment.ms".to_owned(), "5000".to_owned()),
        ]);
        let out = apply_changes(
            &stored,
            &[
                change("retention.ms", Op::Set, Some("2000")),
                change("segment.ms", Op::Delete, None),
                change("cleanup.policy", Op::Append, Some("compact,delete")),
                change(
                    "leader.replication.throttled.replicas",
                    Op::Append,
                    Some("0:1"),
                ),
            ],
            topic_config_key,
        )
        .unwrap();
        assert_eq!(
            out,
            BTreeMap::from([
                ("retention.ms".to_owned(), "2000".to_owned()),
                // The default "delete" is kept and not repeated.
                ("cleanup.policy".to_owned(), "delete,compact".to_owned()),
                (
                    "leader.replication.throttled.replicas".to_owned(),
                    "0:1".to_owned()
                ),
            ])
        );
        let out = apply_changes(
            &out,
            &[change("cleanup.policy", Op::Subtract, Some("delete"))],
            topic_config_key,
        )
        .unwrap();
        assert_eq!(out["cleanup.policy"], "compact");
        let e = apply_changes(
            &out,
            &[change("retention.ms", Op::Append, Some("1"))],
            topic_config_key,
        )
        .unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidRequest);
        assert_eq!(
            e.message,
            "Config value append is not allowed for config key: retention.ms"
        );
        let e = apply_changes(
            &out,
            &[change("nope", Op::Subtract, Some("1"))],
            topic_config_key,
        )
        .unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidConfig);
        assert_eq!(Op::from_id(4), None);
        // Broker keys: the cluster default of log.cleanup.policy is "delete".
        let out = apply_changes(
            &BTreeMap::new(),
            &[change("log.cleanup.policy", Op::Append, Some("compact"))],
            broker_key,
        )
        .unwrap();
        assert_eq!(out["log.cleanup.policy"], "delete,compact");
    }

    #[test]
    fn encodes_at_every_served_version() {
        let resp = IncrementalAlterConfigsResponse::default().with_responses(vec![
            AlterConfigsResourceResponse::default()
                .with_resource_type(TOPIC)
                .with_resource_name(str_bytes("t")),
            AlterConfigsResourceResponse::default()
                .with_resource_type(TOPIC)
                .with_resource_name(str_bytes("u"))
                .with_error_code(ResponseError::InvalidConfig.code())
                .with_error_message(Some(str_bytes(
                    "Invalid value abc for configuration retention.ms: Not a number of type LONG",
                ))),
        ]);
        crate::handlers::assert_encodes(&resp, VERSIONS);
    }
}
