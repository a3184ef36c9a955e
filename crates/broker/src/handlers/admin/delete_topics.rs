//! DeleteTopics (20): by name (or id in v6); refused when
//! delete.topic.enable=false.

use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use kafka_protocol::ResponseError;

use crate::handlers::{topic_name, ApiError};
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (1, 6);

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let mut targets: Vec<(Option<String>, uuid::Uuid)> = req
        .topic_names
        .iter()
        .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
        .collect();
    targets.extend(
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id)),
    );
    let mut results = Vec::with_capacity(targets.len());
    for (name, id) in targets {
        let name = name.or_else(|| b.metadata().topic_by_id(&id).map(|t| t.name.clone()));
        let mut result = DeletableTopicResult::default().with_topic_id(id);
        let outcome = match &name {
            None => Err(ApiError::new(
                ResponseError::UnknownTopicId,
                format!("unknown topic id {id}"),
            )),
            Some(_) if !b.is_controller() => Err(ApiError::new(
                ResponseError::NotController,
                "this broker is not the controller",
            )),
            Some(_) if !b.config.delete_topic_enable => Err(ApiError::new(
                ResponseError::TopicDeletionDisabled,
                "topic deletion is disabled (delete.topic.enable=false)",
            )),
            Some(n) => b.delete_topic(n).await,
        };
        if let Some(n) = &name {
            result = result.with_name(Some(topic_name(n)));
            if let Some(t) = b.metadata().topic(n) {
                result = result.with_topic_id(t.id);
            }
        }
        if let Err(e) = outcome {
            result = result
                .with_error_code(e.code())
                .with_error_message(e.message());
        }
        results.push(result);
    }
    DeleteTopicsResponse::default().with_responses(results)
}
