//! FindCoordinator (10): the broker coordinating a group (creating
//! `__consumer_offsets` on first use), one key or many (v4+), with its
//! endpoint on the listener the request arrived on.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::handlers::{str_bytes, ApiError};
use crate::metadata::BrokerInfo;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (0, 4);

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

/// The coordinator's endpoint on `listener` (Kafka: COORDINATOR_NOT_AVAILABLE
/// when the coordinator lacks the listener the request came in on).
async fn lookup(
    b: &Broker,
    key: &str,
    key_type: i8,
    listener: &str,
) -> Result<(i32, String, u16), ApiError> {
    let on_listener = |node: BrokerInfo| match node.endpoint(listener) {
        Some((host, port)) => Ok((node.id, host.to_owned(), port)),
        None => Err(ApiError::new(
            ResponseError::CoordinatorNotAvailable,
            format!(
                "the coordinator, broker {}, has no listener {listener}",
                node.id
            ),
        )),
    };
    match key_type {
        GROUP => b.find_group_coordinator(key).await.and_then(on_listener),
        TRANSACTION => Err(ApiError::new(
            ResponseError::CoordinatorNotAvailable,
            "transactions are not supported by this broker yet",
        )),
        other => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("unknown coordinator key type {other}"),
        )),
    }
}

fn coordinator(key: StrBytes, found: Result<(i32, String, u16), ApiError>) -> Coordinator {
    let c = Coordinator::default().with_key(key);
    match found {
        Ok((id, host, port)) => c
            .with_node_id(id.into())
            .with_host(str_bytes(&host))
            .with_port(i32::from(port)),
        Err(e) => c
            .with_node_id((-1).into())
            .with_port(-1)
            .with_error_code(e.code())
            .with_error_message(e.message()),
    }
}

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let keys = if ctx.version >= 4 {
        req.coordinator_keys
    } else {
        vec![req.key]
    };
    let mut coordinators = Vec::with_capacity(keys.len());
    for key in keys {
        let found = lookup(b, &key, req.key_type, &ctx.listener).await;
        coordinators.push(coordinator(key, found));
    }
    if ctx.version >= 4 {
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = coordinators.pop().unwrap_or_default();
    FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_error_message(if ctx.version >= 1 {
            c.error_message
        } else {
            None
        })
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_encode_at_every_version() {
        let failed = || {
            coordinator(
                str_bytes("g"),
                Err(ApiError::new(ResponseError::CoordinatorNotAvailable, "x")),
            )
        };
        let c = failed();
        crate::handlers::assert_encodes(
            &FindCoordinatorResponse::default()
                .with_error_code(c.error_code)
                .with_node_id(c.node_id)
                .with_port(c.port),
            (0, 3),
        );
        crate::handlers::assert_encodes(
            &FindCoordinatorResponse::default().with_coordinators(vec![failed()]),
            (4, 4),
        );
    }
}
