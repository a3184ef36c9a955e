//! ElectLeaders (43): preferred leader election (kafka-leader-election.sh
//! `--election-type preferred`, `AdminClient.electLeaders`), and unclean
//! election for partitions without a live leader. Null partitions = every
//! partition (only those whose leader changes are reported, as Kafka does).

use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use kafka_protocol::ResponseError;

use crate::handlers::{str_bytes, topic_name};
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (0, 2);

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let unclean = ctx.version >= 1 && req.election_type == 1;
    let all = req.topic_partitions.is_none();
    let partitions: Vec<(String, i32)> = match req.topic_partitions {
        Some(tps) => tps
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
            .collect(),
        None => b
            .metadata()
            .topics()
            .flat_map(|t| {
                (0..t.partitions.len() as i32)
                    .map(|i| (t.name.clone(), i))
                    .collect::<Vec<_>>()
            })
            .collect(),
    };
    let results = b.elect_leaders(unclean, &partitions).await;
    let mut out: Vec<ReplicaElectionResult> = Vec::new();
    for ((topic, index), r) in partitions.into_iter().zip(results) {
        let result = match r {
            Ok(()) => PartitionResult::default().with_partition_id(index),
            Err(e) if all && e.code == ResponseError::ElectionNotNeeded => continue,
            Err(e) => PartitionResult::default()
                .with_partition_id(index)
                .with_error_code(e.code())
                .with_error_message(Some(str_bytes(&e.message))),
        };
        match out.iter_mut().find(|t| t.topic.0.as_str() == topic) {
            Some(t) => t.partition_result.push(result),
            None => out.push(
                ReplicaElectionResult::default()
                    .with_topic(topic_name(&topic))
                    .with_partition_result(vec![result]),
            ),
        }
    }
    ElectLeadersResponse::default().with_replica_election_results(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_encode_at_every_version() {
        let resp = ElectLeadersResponse::default().with_replica_election_results(vec![
            ReplicaElectionResult::default()
                .with_topic(topic_name("t"))
                .with_partition_result(vec![PartitionResult::default()
                    .with_partition_id(0)
                    .with_error_code(84)
                    .with_error_message(Some(str_bytes("not needed")))]),
        ]);
        crate::handlers::assert_encodes(&resp, VERSIONS);
    }
}
