//! ListGroups (16): the groups this broker coordinates, optionally by state (v4+).

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::since;
use crate::handlers::str_bytes;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (0, 4);

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let states: Vec<String> = req
        .states_filter
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let groups = b.groups.read(|c| c.list());
    ListGroupsResponse::default().with_groups(
        groups
            .into_iter()
            .filter(|(_, _, state)| {
                states.is_empty() || states.contains(&state.to_ascii_lowercase())
            })
            .map(|(id, protocol_type, state)| {
                ListedGroup::default()
                    .with_group_id(GroupId(str_bytes(&id)))
                    .with_protocol_type(str_bytes(&protocol_type))
                    .with_group_state(since(ctx.version, 4, str_bytes(state)))
            })
            .collect(),
    )
}
