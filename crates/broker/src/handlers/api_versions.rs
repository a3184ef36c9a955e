//! ApiVersions (18): every connection starts here.

use std::sync::Arc;

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::server::apis::{api_versions_response, RequestContext};
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (0, 3);

pub async fn handle(
    _b: &Arc<Broker>,
    _ctx: &RequestContext,
    _req: ApiVersionsRequest,
) -> ApiVersionsResponse {
    api_versions_response()
}
