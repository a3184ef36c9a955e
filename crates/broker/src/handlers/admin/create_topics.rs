//! CreateTopics (19): validate name, partitions, replication, assignment and
//! configs; `validate_only` checks without creating.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::ResponseError;

use crate::handlers::ApiError;
use crate::server::apis::RequestContext;
use crate::server::{Broker, NewTopic};

pub const VERSIONS: (i16, i16) = (2, 7);

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let assignment = (!t.assignments.is_empty()).then(|| {
            let mut a: Vec<_> = t
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|id| id.0).collect::<Vec<i32>>(),
                    )
                })
                .collect();
            a.sort_by_key(|(p, _)| *p);
            a
        });
        let config: BTreeMap<String, String> = t
            .configs
            .iter()
            .filter_map(|c| {
                c.value
                    .as_ref()
                    .map(|v| (c.name.to_string(), v.to_string()))
            })
            .collect();
        let new = NewTopic {
            name: name.clone(),
            partitions: (t.num_partitions != -1).then_some(t.num_partitions),
            replication_factor: (t.replication_factor != -1).then_some(t.replication_factor as i32),
            assignment,
            config,
            validate_only: req.validate_only,
        };
        let mut result = CreatableTopicResult::default()
            .with_name(t.name)
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        let outcome = if !b.is_controller() {
            Err(ApiError::new(
                ResponseError::NotController,
                "this broker is not the controller",
            ))
        } else {
            b.create_topic(new).await
        };
        match outcome {
            Ok(info) => {
                result = result
                    .with_topic_id(info.id)
                    .with_num_partitions(info.partitions.len() as i32)
                    .with_replication_factor(
                        info.partitions
                            .first()
                            .map_or(0, |p| p.replicas.len() as i16),
                    );
            }
            Err(e) => {
                result = result
                    .with_error_code(e.code())
                    .with_error_message(e.message());
            }
        }
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}
