//! The consumer-group APIs: coordinator lookup, the classic group protocol,
//! committed offsets and group administration. Each handler translates the
//! request for [`crate::group`] and the answer back, by version.

pub mod delete_groups;
pub mod describe_groups;
pub mod find_coordinator;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod sync_group;

use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::server::apis::RequestContext;

/// The error code of an optional error (0 for none).
pub fn code(e: Option<ResponseError>) -> i16 {
    e.map_or(0, |e| e.code())
}

pub fn result_code(r: &Result<(), ResponseError>) -> i16 {
    r.as_ref().err().map_or(0, |e| e.code())
}

pub fn string(s: &StrBytes) -> String {
    s.to_string()
}

pub fn opt_string(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

pub fn opt_str_bytes(s: &Option<String>) -> Option<StrBytes> {
    s.as_deref().map(super::str_bytes)
}

/// The client's host as Kafka reports it (`InetAddress.toString`: "/1.2.3.4").
pub fn client_host(ctx: &RequestContext) -> String {
    format!("/{}", ctx.client.ip())
}

pub fn client_id(ctx: &RequestContext) -> String {
    ctx.header
        .client_id
        .as_ref()
        .map(|c| c.to_string())
        .unwrap_or_default()
}

/// `value` from `since` on, the type's default (absent on the wire) before.
pub fn since<T: Default>(version: i16, since: i16, value: T) -> T {
    if version >= since {
        value
    } else {
        T::default()
    }
}
