//! OffsetDelete (47): drops a group's committed offsets for topics it does
//! not consume (GROUP_SUBSCRIBED_TO_TOPIC otherwise).

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::{result_code, string};
use crate::server::apis::RequestContext;
use crate::server::{now_ms, Broker};

pub const VERSIONS: (i16, i16) = (0, 0);

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let group = string(&req.group_id);
    let partitions: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index))
        })
        .collect();
    let now = now_ms();
    let outcome = b.groups.check_coordinator(&group).and_then(|()| {
        b.groups.with(&b.replicas, now, |c, j| {
            (
                c.delete_offsets(&group, &partitions, now, j),
                Default::default(),
            )
        })
    });
    let results = match outcome {
        Ok(r) => r,
        Err(e) => return OffsetDeleteResponse::default().with_error_code(e.code()),
    };
    let mut results = results.into_iter();
    OffsetDeleteResponse::default().with_topics(
        req.topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let r = results.next().unwrap_or(Ok(()));
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(result_code(&r))
                    })
                    .collect();
                OffsetDeleteResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect(),
    )
}
