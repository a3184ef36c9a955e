//! The API table: which Kafka APIs this broker answers, at which versions,
//! and by which handler. The ApiVersions answer and the dispatch are both
//! generated from this one list, so they cannot disagree.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader, ResponseKind};
use kafka_protocol::protocol::Decodable;

use super::Broker;
use crate::handlers;

pub type Reply = ResponseKind;

/// What a handler knows about the request besides its body.
pub struct RequestContext {
    pub header: RequestHeader,
    pub api: ApiKey,
    pub version: i16,
    pub client: SocketAddr,
    /// The listener the request arrived on (`INTERNAL`, `PLAINTEXT`, ...):
    /// Metadata and friends answer with that listener's endpoints.
    pub listener: Arc<str>,
}

fn decode<T: Decodable>(body: &mut Bytes, version: i16) -> Result<T, String> {
    T::decode(body, version).map_err(|e| e.to_string())
}

macro_rules! api_table {
    ($($variant:ident => $module:path),* $(,)?) => {
        /// The version range served for `api`, if it is served at all.
        pub fn supported(api: ApiKey) -> Option<(i16, i16)> {
            match api {
                ApiKey::Produce => Some(handlers::produce::VERSIONS),
                $(ApiKey::$variant => Some({ use $module as m; m::VERSIONS }),)*
                _ => None,
            }
        }

        /// Every served API with its versions, for ApiVersions.
        pub fn all() -> Vec<(ApiKey, (i16, i16))> {
            vec![
                (ApiKey::Produce, handlers::produce::VERSIONS),
                $((ApiKey::$variant, { use $module as m; m::VERSIONS }),)*
            ]
        }

        /// Decodes the body and runs the handler; `None` means no response is sent.
        pub async fn dispatch(broker: &Arc<Broker>, ctx: &RequestContext, mut body: Bytes) -> Result<Option<Reply>, String> {
            match ctx.api {
                ApiKey::Produce => {
                    if ctx.version < handlers::produce::FIRST_BATCH_VERSION {
                        return Err("message format v0/v1 (Produce v0-v2) is not supported; \
                                    only record batches (magic 2, Produce v3+, Kafka 0.11+ clients)"
                            .to_owned());
                    }
                    let req: kafka_protocol::messages::ProduceRequest = decode(&mut body, ctx.version)?;
                    // acks=0: the producer expects no answer at all.
                    let silent = req.acks == 0;
                    let resp = handlers::produce::handle(broker, ctx, req).await;
                    Ok((!silent).then_some(ResponseKind::Produce(resp)))
                }
                $(ApiKey::$variant => {
                    use $module as m;
                    let req = decode(&mut body, ctx.version)?;
                    Ok(Some(ResponseKind::$variant(m::handle(broker, ctx, req).await)))
                })*
                other => Err(format!("{other:?} is not served")),
            }
        }
    };
}

api_table! {
    ApiVersions => handlers::api_versions,
    Metadata => handlers::metadata,
    Fetch => handlers::fetch,
    ListOffsets => handlers::list_offsets,
    CreateTopics => handlers::admin::create_topics,
    DeleteTopics => handlers::admin::delete_topics,
    DeleteRecords => handlers::admin::delete_records,
    OffsetForLeaderEpoch => handlers::offset_for_leader_epoch,
    DescribeConfigs => handlers::admin::describe_configs,
    AlterConfigs => handlers::admin::alter_configs,
    DescribeLogDirs => handlers::admin::describe_log_dirs,
    CreatePartitions => handlers::admin::create_partitions,
    IncrementalAlterConfigs => handlers::admin::incremental_alter_configs,
    DescribeCluster => handlers::admin::describe_cluster,
    ElectLeaders => handlers::admin::elect_leaders,
    AlterPartitionReassignments => handlers::admin::alter_partition_reassignments,
    ListPartitionReassignments => handlers::admin::list_partition_reassignments,
    FindCoordinator => handlers::group::find_coordinator,
    JoinGroup => handlers::group::join_group,
    SyncGroup => handlers::group::sync_group,
    Heartbeat => handlers::group::heartbeat,
    LeaveGroup => handlers::group::leave_group,
    OffsetCommit => handlers::group::offset_commit,
    OffsetFetch => handlers::group::offset_fetch,
    ListGroups => handlers::group::list_groups,
    DescribeGroups => handlers::group::describe_groups,
    DeleteGroups => handlers::group::delete_groups,
    OffsetDelete => handlers::group::offset_delete,
}

/// The v0 answer to an ApiVersions request of a version we do not know.
pub fn unsupported_api_versions() -> Reply {
    ResponseKind::ApiVersions(api_versions_response().with_error_code(35))
}

/// Our ApiVersions answer (error 0).
pub fn api_versions_response() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        all()
            .into_iter()
            .map(|(key, (min, max))| {
                ApiVersion::default()
                    .with_api_key(key as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect(),
    )
}
