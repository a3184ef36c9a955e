//! ListPartitionReassignments (46, KIP-455): the partitions being
//! reassigned, with their full replica set and the replicas being added and
//! removed (kafka-reassign-partitions.sh --list and --verify). Null topics =
//! every topic; partitions not being reassigned are left out, as Kafka does.
//! Any broker answers, from the topic znodes.

use std::sync::Arc;

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use crate::handlers::topic_name;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (0, 0);

fn ids(list: &[i32]) -> Vec<BrokerId> {
    list.iter().map(|b| BrokerId(*b)).collect()
}

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    match b.list_reassignments(wanted.as_deref()).await {
        Ok(found) => ListPartitionReassignmentsResponse::default().with_topics(
            found
                .into_iter()
                .map(|(topic, partitions)| {
                    OngoingTopicReassignment::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(index, a)| {
                                    OngoingPartitionReassignment::default()
                                        .with_partition_index(index)
                                        .with_replicas(ids(&a.replicas))
                                        .with_adding_replicas(ids(&a.adding))
                                        .with_removing_replicas(ids(&a.removing))
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
        Err(e) => ListPartitionReassignmentsResponse::default()
            .with_error_code(e.code())
            .with_error_message(e.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_encode_at_every_version() {
        let resp = ListPartitionReassignmentsResponse::default().with_topics(vec![
            OngoingTopicReassignment::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![OngoingPartitionReassignment::default()
                    .with_partition_index(0)
                    .with_replicas(ids(&[2, 3, 1]))
                    .with_adding_replicas(ids(&[3]))
                    .with_removing_replicas(ids(&[1]))]),
        ]);
        crate::handlers::assert_encodes(&resp, VERSIONS);
    }
}
