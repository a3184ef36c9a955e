//! DescribeGroups (15): state, protocol and members with their metadata and
//! assignment (those two only in a stable group, as Kafka).

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::{opt_str_bytes, since, string};
use crate::handlers::str_bytes;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (0, 5);

/// authorized_operations when the client did not ask for them.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let v = ctx.version;
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
            let name = string(&id);
            let described = DescribedGroup::default()
                .with_group_id(id)
                .with_authorized_operations(OPERATIONS_NOT_REQUESTED);
            if let Err(e) = b.groups.check_coordinator(&name) {
                return described.with_error_code(e.code());
            }
            let s = b.groups.read(|c| c.describe(&name));
            described
                .with_group_state(str_bytes(s.state))
                .with_protocol_type(str_bytes(&s.protocol_type))
                .with_protocol_data(str_bytes(&s.protocol))
                .with_members(
                    s.members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(str_bytes(&m.member_id))
                                .with_group_instance_id(since(v, 4, opt_str_bytes(&m.instance_id)))
                                .with_client_id(str_bytes(&m.client_id))
                                .with_client_host(str_bytes(&m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
