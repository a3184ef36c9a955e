//! DescribeCluster (60): cluster id, controller and live brokers (their
//! endpoints on the request's listener), answered by a broker endpoint
//! (`endpoint_type` BROKER, v1+).

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::ResponseError;

use crate::handlers::str_bytes;
use crate::server::apis::RequestContext;
use crate::server::Broker;

pub const VERSIONS: (i16, i16) = (0, 2);

/// `EndpointType` ids.
const BROKER_ENDPOINT: i8 = 1;
const CONTROLLER_ENDPOINT: i8 = 2;

/// The cluster operations Kafka grants when no authorizer is configured
/// (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
/// IDEMPOTENT_WRITE), as a bit field by `AclOperation` code.
const CLUSTER_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub async fn handle(
    b: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    if req.endpoint_type != BROKER_ENDPOINT {
        let (code, message) = if req.endpoint_type == CONTROLLER_ENDPOINT {
            (
                ResponseError::MismatchedEndpointType,
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER".to_owned(),
            )
        } else {
            (
                ResponseError::UnsupportedEndpointType,
                format!("Unsupported endpoint type {}", req.endpoint_type),
            )
        };
        // v0 requests cannot carry another endpoint type, so this is v1+.
        return DescribeClusterResponse::default()
            .with_error_code(code.code())
            .with_error_message(Some(str_bytes(&message)));
    }
    let meta = b.metadata();
    // The endpoints of the listener the request arrived on, as Metadata.
    let brokers: Vec<DescribeClusterBroker> = meta
        .brokers
        .values()
        .filter_map(|br| {
            let (host, port) = br.endpoint(&ctx.listener)?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(br.id))
                    .with_host(str_bytes(host))
                    .with_port(i32::from(port))
                    .with_rack(br.rack.as_deref().map(str_bytes)),
            )
        })
        .collect();
    // As Kafka: a controller we cannot describe is reported as unknown.
    let controller = if brokers.iter().any(|br| br.broker_id.0 == meta.controller) {
        meta.controller
    } else {
        -1
    };
    let mut resp = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(&meta.cluster_id))
        .with_controller_id(BrokerId(controller))
        .with_brokers(brokers);
    if req.include_cluster_authorized_operations {
        resp = resp.with_cluster_authorized_operations(CLUSTER_OPERATIONS);
    }
    if ctx.version >= 1 {
        resp = resp.with_endpoint_type(BROKER_ENDPOINT);
    }
    resp
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn encodes_at_every_served_version() {
        assert_eq!(CLUSTER_OPERATIONS, 8096);
        let resp = DescribeClusterResponse::default()
            .with_cluster_id(str_bytes("abc"))
            .with_controller_id(BrokerId(1))
            .with_cluster_authorized_operations(CLUSTER_OPERATIONS)
            .with_endpoint_type(BROKER_ENDPOINT)
            .with_brokers(vec![DescribeClusterBroker::default()
                .with_broker_id(BrokerId(1))
                .with_host(str_bytes("localhost"))
                .with_port(9092)
                .with_rack(Some(str_bytes("r1")))]);
        crate::handlers::assert_encodes(&resp, VERSIONS);
    }
}
