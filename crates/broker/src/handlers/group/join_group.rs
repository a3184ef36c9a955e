//! JoinGroup (11): joins a classic group; answered when the rebalance completes.

use std::sync::Arc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{client_host, client_id, code, opt_str_bytes, opt_string, since, string};
use crate::group::coordinator::{JoinRequest, JoinResult};
use crate::handlers::str_bytes;
use crate::server::apis::RequestContext;
use crate::server::{now_ms, Broker};

pub const VERSIONS: (i16, i16) = (0, 9);

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let group_id = string(&req.group_id);
    let result = match b.groups.check_coordinator(&group_id) {
        Err(e) => JoinResult::error(&string(&req.member_id), e),
        Ok(()) => {
            let join = JoinRequest {
                group_id,
                member_id: string(&req.member_id),
                instance_id: opt_string(&req.group_instance_id),
                client_id: client_id(ctx),
                client_host: client_host(ctx),
                session_timeout_ms: req.session_timeout_ms,
                // v0 has no rebalance timeout: the session timeout served for both.
                rebalance_timeout_ms: if ctx.version >= 1 {
                    req.rebalance_timeout_ms
                } else {
                    req.session_timeout_ms
                },
                protocol_type: string(&req.protocol_type),
                protocols: req
                    .protocols
                    .iter()
                    .map(|p| (string(&p.name), p.metadata.clone()))
                    .collect(),
                require_known_member_id: ctx.version >= 4,
            };
            b.groups.join(&b.replicas, join, now_ms()).await
        }
    };
    response(ctx.version, result)
}

fn response(version: i16, r: JoinResult) -> JoinGroupResponse {
    // Before v9 a static leader that must not reassign is simply not sent the members.
    let members = if r.skip_assignment && version < 9 {
        Vec::new()
    } else {
        r.members
    };
    JoinGroupResponse::default()
        .with_error_code(code(r.error))
        .with_generation_id(r.generation)
        .with_protocol_type(since(version, 7, opt_str_bytes(&r.protocol_type)))
        .with_protocol_name(if version >= 7 {
            opt_str_bytes(&r.protocol_name)
        } else {
            Some(str_bytes(r.protocol_name.as_deref().unwrap_or("")))
        })
        .with_leader(str_bytes(&r.leader))
        .with_skip_assignment(since(version, 9, r.skip_assignment))
        .with_member_id(str_bytes(&r.member_id))
        .with_members(
            members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_group_instance_id(since(version, 5, opt_str_bytes(&m.instance_id)))
                        .with_metadata(m.metadata)
                })
                .collect(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::coordinator::JoinMember;

    #[test]
    fn answers_encode_at_every_version() {
        for v in VERSIONS.0..=VERSIONS.1 {
            let r = JoinResult {
                error: None,
                member_id: "m".into(),
                generation: 1,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                leader: "m".into(),
                skip_assignment: true,
                members: vec![JoinMember {
                    member_id: "m".into(),
                    instance_id: Some("i".into()),
                    metadata: Default::default(),
                }],
            };
            crate::handlers::assert_encodes(&response(v, r), (v, v));
        }
    }
}
