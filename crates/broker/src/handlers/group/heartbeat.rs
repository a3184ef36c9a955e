//! Heartbeat (12): keeps a member alive; tells it when to rejoin.

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::{result_code, string};
use crate::server::apis::RequestContext;
use crate::server::{now_ms, Broker};

pub const VERSIONS: (i16, i16) = (0, 4);

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    let group_id = string(&req.group_id);
    let member_id = string(&req.member_id);
    let instance = req.group_instance_id.as_ref().map(|i| i.to_string());
    let result = b.groups.check_coordinator(&group_id).and_then(|()| {
        b.groups.with(&b.replicas, now_ms(), |c, _| {
            let r = c.heartbeat(
                &group_id,
                &member_id,
                instance.as_deref(),
                req.generation_id,
                now_ms(),
            );
            (r, Default::default())
        })
    });
    HeartbeatResponse::default().with_error_code(result_code(&result))
}
