//! AlterPartitionReassignments (45, KIP-455): moves partition replicas to
//! new brokers (kafka-reassign-partitions.sh --execute, `Admin.
//! alterPartitionReassignments`); null replicas cancel a reassignment in
//! progress. Any broker carries it out through ZooKeeper (see
//! `crate::controller`): the request only records the target in the topic
//! znode; the new replicas catch up and the controller completes the move.

use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};

use crate::server::apis::RequestContext;
use crate::server::Broker;

/// v1 (KIP-860, `allow_replication_factor_change`) is not served.
pub const VERSIONS: (i16, i16) = (0, 0);

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let requests: Vec<(String, i32, Option<Vec<i32>>)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    p.replicas
                        .as_ref()
                        .map(|r| r.iter().map(|id| id.0).collect()),
                )
            })
        })
        .collect();
    let mut results = b.alter_reassignments(&requests).await.into_iter();
    let responses = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let result = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match results.next() {
                        Some(Err(e)) => result
                            .with_error_code(e.code())
                            .with_error_message(e.message()),
                        _ => result,
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::{str_bytes, topic_name};

    #[test]
    fn answers_encode_at_every_version() {
        let resp = AlterPartitionReassignmentsResponse::default().with_responses(vec![
            ReassignableTopicResponse::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![ReassignablePartitionResponse::default()
                    .with_partition_index(0)
                    .with_error_code(85)
                    .with_error_message(Some(str_bytes("none in progress")))]),
        ]);
        crate::handlers::assert_encodes(&resp, VERSIONS);
    }
}
