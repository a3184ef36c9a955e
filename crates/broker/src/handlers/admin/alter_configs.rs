//! AlterConfigs (33): replaces a topic's whole set of config overrides
//! after validating it (INVALID_CONFIG naming the key and value), or a
//! broker's (resource name = its id) or the cluster default's (empty name)
//! dynamic configs (INVALID_REQUEST naming the resource, as Kafka);
//! `validate_only` checks without writing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::ResponseError;

use super::describe_configs::{parse_broker_id, resource_type_name, BROKER, TOPIC};
use crate::handlers::ApiError;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (0, 2);

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let duplicates = duplicate_resources(
        req.resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let mut responses = Vec::with_capacity(req.resources.len());
    for (r, duplicate) in req.resources.into_iter().zip(duplicates) {
        let name = r.resource_name.to_string();
        let configs: Vec<(String, Option<String>)> = r
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let outcome = match shape_error(
            duplicate,
            configs.iter().map(|(k, v)| (k.as_str(), v.is_none())),
        ) {
            Some(e) => Err(e),
            None => match r.resource_type {
                TOPIC => {
                    let config: BTreeMap<String, String> = configs
                        .into_iter()
                        .filter_map(|(k, v)| Some((k, v?)))
                        .collect();
                    b.update_topic_config(&name, |_| Ok(config), req.validate_only)
                        .await
                }
                BROKER => match broker_entity(b, &name) {
                    Ok(per_broker) => {
                        let config: BTreeMap<String, String> = configs
                            .into_iter()
                            .filter_map(|(k, v)| Some((k, v?)))
                            .collect();
                        b.update_broker_config(per_broker, |_| Ok(config), req.validate_only)
                            .await
                    }
                    Err(e) => Err(e),
                },
                other => Err(unsupported_resource_type(other)),
            },
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
    AlterConfigsResponse::default().with_responses(responses)
}

/// Which resources appear more than once (by type and name), in order.
pub fn duplicate_resources<'a>(
    resources: impl Iterator<Item = (i8, &'a str)> + Clone,
) -> Vec<bool> {
    let mut count: HashMap<(i8, &str), usize> = HashMap::new();
    for r in resources.clone() {
        *count.entry(r).or_default() += 1;
    }
    resources.map(|r| count[&r] > 1).collect()
}

/// Kafka's `ConfigAdminManager.preprocess` checks on one resource: named
/// twice in the request, a key named twice, a value missing where the
/// operation needs one (`configs` yields the name and whether that is so).
pub fn shape_error<'a>(
    duplicate: bool,
    configs: impl Iterator<Item = (&'a str, bool)> + Clone,
) -> Option<ApiError> {
    let invalid = |m: String| Some(ApiError::new(ResponseError::InvalidRequest, m));
    if duplicate {
        return invalid("Each resource must appear at most once.".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    if configs.clone().any(|(name, _)| !seen.insert(name)) {
        return invalid("Error due to duplicate config keys".into());
    }
    let nulls: Vec<&str> = configs
        .filter(|(_, missing)| *missing)
        .map(|(name, _)| name)
        .collect();
    if !nulls.is_empty() {
        return invalid(format!(
            "Null value not supported for : {}",
            nulls.join(", ")
        ));
    }
    None
}

/// Both AlterConfigs flavours refuse resources other than topics and brokers
/// with the same message as Kafka.
pub fn unsupported_resource_type(resource_type: i8) -> ApiError {
    ApiError::new(
        ResponseError::InvalidRequest,
        format!(
            "AlterConfigs is only supported for topics and brokers, but resource type is {}",
            resource_type_name(resource_type)
        ),
    )
}

/// A BROKER resource name, checked as Kafka's `ZkAdminManager.getBrokerId`:
/// `true` for this broker's id, `false` for the cluster default (empty).
pub fn broker_entity(b: &Broker, name: &str) -> Result<bool, ApiError> {
    match parse_broker_id(name)? {
        None => Ok(false),
        Some(id) if id == b.config.broker_id => Ok(true),
        Some(_) => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {}, but received {name}",
                b.config.broker_id
            ),
        )),
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::handlers::str_bytes;

    #[test]
    fn preprocess_checks() {
        assert_eq!(
            duplicate_resources([(2, "a"), (4, "a"), (2, "a")].into_iter()),
            vec![true, false, true]
        );
        let e = shape_error(true, [].into_iter()).unwrap();
        assert_eq!(e.message, "Each resource must appear at most once.");
        let e = shape_error(false, [("a", false), ("a", false)].into_iter()).unwrap();
        assert_eq!(e.message, "Error due to duplicate config keys");
        let e = shape_error(false, [("a", true), ("b", false), ("c", true)].into_iter()).unwrap();
        assert_eq!(e.code, ResponseError::InvalidRequest);
        assert_eq!(e.message, "Null value not supported for : a, c");
        assert!(shape_error(false, [("a", false)].into_iter()).is_none());
    }

    #[test]
    fn encodes_at_every_served_version() {
        let resp = AlterConfigsResponse::default().with_responses(vec![
            AlterConfigsResourceResponse::default()
                .with_resource_type(TOPIC)
                .with_resource_name(str_bytes("t")),
            AlterConfigsResourceResponse::default()
                .with_resource_type(BROKER)
                .with_resource_name(str_bytes("1"))
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(str_bytes(
                    "Invalid config value for resource ConfigResource(type=BROKER, name='1'): Cannot update these configs dynamically: Set(broker.id)",
                ))),
        ]);
        crate::handlers::assert_encodes(&resp, VERSIONS);
    }
}
