//! SyncGroup (14): the leader hands out the assignment; every member gets its own.

use std::sync::Arc;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::{code, opt_str_bytes, opt_string, since, string};
use crate::group::coordinator::{SyncRequest, SyncResult};
use crate::server::apis::RequestContext;
use crate::server::{now_ms, Broker};

pub const VERSIONS: (i16, i16) = (0, 5);

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let group_id = string(&req.group_id);
    let result = match b.groups.check_coordinator(&group_id) {
        Err(e) => SyncResult::error(e),
        Ok(()) => {
            let sync = SyncRequest {
                group_id,
                member_id: string(&req.member_id),
                instance_id: opt_string(&req.group_instance_id),
                generation: req.generation_id,
                protocol_type: opt_string(&req.protocol_type),
                protocol_name: opt_string(&req.protocol_name),
                assignments: req
                    .assignments
                    .iter()
                    .map(|a| (string(&a.member_id), a.assignment.clone()))
                    .collect(),
            };
            let group = sync.group_id.clone();
            let r = b.groups.sync(&b.replicas, sync, now_ms()).await;
            // The assignment was written to `__consumer_offsets` when the
            // leader synced; as Kafka's storeGroup (acks=all), members get it
            // only once the ISR has it, so a coordinator failover cannot
            // forget a generation its members already run.
            match r.error {
                None => match b.await_offsets_replicated(&group).await {
                    Ok(()) => r,
                    Err(e) => SyncResult::error(e),
                },
                Some(_) => r,
            }
        }
    };
    response(ctx.version, result)
}

fn response(version: i16, r: SyncResult) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_error_code(code(r.error))
        .with_protocol_type(since(version, 5, opt_str_bytes(&r.protocol_type)))
        .with_protocol_name(since(version, 5, opt_str_bytes(&r.protocol_name)))
        .with_assignment(r.assignment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_encode_at_every_version() {
        for v in VERSIONS.0..=VERSIONS.1 {
            let r = SyncResult {
                error: None,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignment: Default::default(),
            };
            crate::handlers::assert_encodes(&response(v, r), (v, v));
        }
    }
}
