//! CreatePartitions (37): grows topics, with explicit replica lists for the
//! new partitions or Kafka's placement; `validate_only` checks without
//! changing anything. Served by the controller only, as in ZooKeeper-mode Kafka.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::ResponseError;

use crate::handlers::ApiError;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (0, 3);

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.0.to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(req.topics.len());
    let mut reported_duplicates = Vec::new();
    for t in req.topics {
        let name = t.name.0.to_string();
        let outcome = if !b.is_controller() {
            Err(ApiError::new(
                ResponseError::NotController,
                "this broker is not the controller",
            ))
        } else if seen[&name] > 1 {
            // Kafka answers once per duplicated name.
            if reported_duplicates.contains(&name) {
                continue;
            }
            reported_duplicates.push(name.clone());
            Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Duplicate topic in request.",
            ))
        } else {
            let assignment = t.assignments.map(|a| {
                a.into_iter()
                    .map(|a| a.broker_ids.into_iter().map(|id| id.0).collect())
                    .collect()
            });
            b.create_partitions(&name, t.count, assignment, req.validate_only)
                .await
        };
        let mut result = CreatePartitionsTopicResult::default().with_name(t.name);
        if let Err(e) = outcome {
            result = result
                .with_error_code(e.code())
                .with_error_message(e.message());
        }
        results.push(result);
    }
    CreatePartitionsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::handlers::topic_name;

    #[test]
    fn encodes_at_every_served_version() {
        let resp = CreatePartitionsResponse::default().with_results(vec![
            CreatePartitionsTopicResult::default().with_name(topic_name("a")),
            CreatePartitionsTopicResult::default()
                .with_name(topic_name("b"))
                .with_error_code(ResponseError::InvalidPartitions.code())
                .with_error_message(Some(crate::handlers::str_bytes(
                    "Topic already has 3 partitions.",
                ))),
        ]);
        crate::handlers::assert_encodes(&resp, VERSIONS);
    }
}
