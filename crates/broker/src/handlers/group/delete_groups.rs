//! DeleteGroups (42): removes empty groups and their committed offsets.

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::{result_code, string};
use crate::server::apis::RequestContext;
use crate::server::{now_ms, Broker};

pub const VERSIONS: (i16, i16) = (0, 2);

pub async fn handle(
    b: &Arc<Broker>,
    _ctx: &RequestContext,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let now = now_ms();
    let results = req
        .groups_names
        .into_iter()
        .map(|id| {
            let name = string(&id);
            let r = b.groups.check_coordinator(&name).and_then(|()| {
                b.groups.with(&b.replicas, now, |c, j| {
                    (c.delete_group(&name, now, j), Default::default())
                })
            });
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(result_code(&r))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
