//! OffsetCommit (8): group members (by generation) or standalone consumers
//! (generation -1) commit offsets, written to `__consumer_offsets`.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::ResponseError;

use super::{opt_string, result_code, string};
use crate::group::coordinator::{Committer, OffsetCommit};
use crate::server::apis::RequestContext;
use crate::server::{now_ms, Broker};

pub const VERSIONS: (i16, i16) = (2, 9);

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group_id = string(&req.group_id);
    let now = now_ms();
    // v2-v4 let the client choose a retention; -1 means the broker's.
    let expire = (ctx.version <= 4 && req.retention_time_ms >= 0)
        .then(|| now.saturating_add(req.retention_time_ms));
    // Partitions of unknown topics are refused one by one; the rest are committed together.
    let mut results: Vec<Vec<Result<(), ResponseError>>> = Vec::new();
    let mut commits = Vec::new();
    {
        let meta = b.metadata();
        for t in &req.topics {
            let topic = t.name.0.to_string();
            let count = meta.topic(&topic).map_or(0, |t| t.partitions.len() as i32);
            results.push(
                t.partitions
                    .iter()
                    .map(|p| {
                        if !(0..count).contains(&p.partition_index) {
                            return Err(ResponseError::UnknownTopicOrPartition);
                        }
                        commits.push(OffsetCommit {
                            topic: topic.clone(),
                            partition: p.partition_index,
                            offset: p.committed_offset,
                            leader_epoch: if ctx.version >= 6 {
                                p.committed_leader_epoch
                            } else {
                                -1
                            },
                            metadata: opt_string(&p.committed_metadata),
                            expire_timestamp: expire,
                        });
                        Ok(())
                    })
                    .collect(),
            );
        }
    }
    let committed = match b.groups.check_coordinator(&group_id) {
        Err(e) => vec![Err(e); commits.len()],
        Ok(()) => {
            let who = Committer {
                member_id: string(&req.member_id),
                instance_id: opt_string(&req.group_instance_id),
                generation: req.generation_id_or_member_epoch,
            };
            let done = b.groups.with(&b.replicas, now, |c, j| {
                (
                    c.commit_offsets(&group_id, &who, commits, now, j),
                    Default::default(),
                )
            });
            if done.iter().any(|r| r.is_ok()) {
                // Acknowledged once replicated, as Kafka's acks=all commit.
                if let Err(e) = b.await_offsets_replicated(&group_id).await {
                    done.into_iter().map(|r| r.and(Err(e))).collect()
                } else {
                    done
                }
            } else {
                done
            }
        }
    };
    let mut committed = committed.into_iter();
    let topics = req
        .topics
        .into_iter()
        .zip(results)
        .map(|(t, rs)| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(
                    t.partitions
                        .iter()
                        .zip(rs)
                        .map(|(p, r)| {
                            let r = match r {
                                Ok(()) => committed.next().unwrap_or(Ok(())),
                                err => err,
                            };
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(result_code(&r))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
