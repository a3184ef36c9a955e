//! LeaveGroup (13): members leave (one before v3, a batch from v3, also by
//! group.instance.id for administrative removal).

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::{opt_string, result_code, string};
use crate::server::apis::RequestContext;
use crate::server::{now_ms, Broker};

pub const VERSIONS: (i16, i16) = (0, 5);

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let group_id = string(&req.group_id);
    let leaving: Vec<(String, Option<String>)> = if ctx.version >= 3 {
        req.members
            .iter()
            .map(|m| (string(&m.member_id), opt_string(&m.group_instance_id)))
            .collect()
    } else {
        vec![(string(&req.member_id), None)]
    };
    if let Err(e) = b.groups.check_coordinator(&group_id) {
        return LeaveGroupResponse::default().with_error_code(e.code());
    }
    let now = now_ms();
    let results = b.groups.with(&b.replicas, now, |c, j| {
        c.leave(&group_id, &leaving, now, j)
    });
    if ctx.version < 3 {
        let code = results.first().map_or(0, result_code);
        return LeaveGroupResponse::default().with_error_code(code);
    }
    LeaveGroupResponse::default().with_members(
        req.members
            .into_iter()
            .zip(results)
            .map(|(m, r)| {
                MemberResponse::default()
                    .with_member_id(m.member_id)
                    .with_group_instance_id(m.group_instance_id)
                    .with_error_code(result_code(&r))
            })
            .collect(),
    )
}
