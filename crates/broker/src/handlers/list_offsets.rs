//! ListOffsets (2): earliest, latest, by timestamp (through the time index)
//! and max timestamp.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use crate::replica::partition::Isolation;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (1, 7);

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    // leader_epoch exists from v4 on; older versions must leave it at -1.
    let with_epoch = |e: i32| if ctx.version >= 4 { e } else { -1 };
    let isolation = Isolation::from_i8(req.isolation_level);
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    let part = match b.leader_partition(&name, p.partition_index) {
                        Ok(part) => part,
                        Err(e) => return resp.with_error_code(e.code()),
                    };
                    let epoch = with_epoch(part.leader_epoch());
                    match p.timestamp {
                        LATEST => {
                            let offset = match isolation {
                                Isolation::ReadCommitted => part.last_stable_offset(),
                                Isolation::ReadUncommitted => part.high_watermark(),
                            };
                            resp.with_offset(offset).with_leader_epoch(epoch)
                        }
                        EARLIEST => resp
                            .with_offset(part.log_start_offset())
                            .with_leader_epoch(epoch),
                        MAX_TIMESTAMP => match part.with_log(|l| l.max_timestamp()) {
                            Some((offset, ts)) => resp
                                .with_offset(offset)
                                .with_timestamp(ts)
                                .with_leader_epoch(epoch),
                            None => resp,
                        },
                        ts if ts < 0 => {
                            resp.with_error_code(ResponseError::UnsupportedVersion.code())
                        }
                        ts => match part.with_log(|l| l.offset_for_timestamp(ts)) {
                            Some((offset, found_ts, e)) => resp
                                .with_offset(offset)
                                .with_timestamp(found_ts)
                                .with_leader_epoch(with_epoch(e)),
                            None => resp,
                        },
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
