//! OffsetFetch (9): committed offsets of one group (v1-v7) or many (v8+),
//! for the partitions asked or, with no topics given, all of them.

use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::ResponseError;

use super::string;
use crate::handlers::{str_bytes, topic_name};
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (1, 9);

/// One partition's answer: (partition, offset, leader epoch, metadata, error).
type Fetched = (i32, i64, i32, String, i16);

/// The committed offsets of `wanted` (topic → partitions; `None` = all).
fn fetch(
    b: &Broker,
    group: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Vec<(String, Vec<Fetched>)>, ResponseError> {
    b.groups.check_coordinator(group)?;
    Ok(b.groups.read(|c| match wanted {
        Some(topics) => topics
            .into_iter()
            .map(|(topic, partitions)| {
                let rows = partitions
                    .into_iter()
                    .map(|p| match c.committed(group, &topic, p) {
                        Some(v) => (p, v.offset, v.leader_epoch, v.metadata.clone(), 0),
                        None => (p, -1, -1, String::new(), 0),
                    })
                    .collect();
                (topic, rows)
            })
            .collect(),
        None => {
            let mut out: Vec<(String, Vec<Fetched>)> = Vec::new();
            for ((topic, p), v) in c.all_committed(group) {
                let row = (p, v.offset, v.leader_epoch, v.metadata, 0);
                match out.last_mut() {
                    Some((t, rows)) if *t == topic => rows.push(row),
                    _ => out.push((topic, vec![row])),
                }
            }
            out
        }
    }))
}

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let v = ctx.version;
    let epoch = |e: i32| if v >= 5 { e } else { -1 };
    if v >= 8 {
        let groups = req
            .groups
            .iter()
            .map(|g| {
                let id = string(&g.group_id);
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let group = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                match fetch(b, &id, wanted) {
                    Err(e) => group.with_error_code(e.code()),
                    Ok(topics) => group.with_topics(
                        topics
                            .into_iter()
                            .map(|(t, rows)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(topic_name(&t))
                                    .with_partitions(
                                        rows.into_iter()
                                            .map(|(p, o, e, m, err)| {
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(o)
                                                    .with_committed_leader_epoch(e)
                                                    .with_metadata(Some(str_bytes(&m)))
                                                    .with_error_code(err)
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let group = string(&req.group_id);
    let wanted = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect::<Vec<_>>()
    });
    let (topics, error) = match fetch(b, &group, wanted.clone()) {
        Ok(t) => (t, 0),
        // Before v2 there is no top-level error: each partition carries it.
        Err(e) => (
            wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| {
                    let rows = ps
                        .into_iter()
                        .map(|p| (p, -1, -1, String::new(), e.code()))
                        .collect();
                    (t, rows)
                })
                .collect(),
            e.code(),
        ),
    };
    OffsetFetchResponse::default()
        .with_error_code(if v >= 2 { error } else { 0 })
        .with_topics(
            topics
                .into_iter()
                .map(|(t, rows)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(topic_name(&t))
                        .with_partitions(
                            rows.into_iter()
                                .map(|(p, o, e, m, err)| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(o)
                                        .with_committed_leader_epoch(epoch(e))
                                        .with_metadata(Some(str_bytes(&m)))
                                        .with_error_code(err)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}
