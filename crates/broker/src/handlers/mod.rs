//! One module per Kafka API, grouped by family. Each declares the versions
//! it serves (`VERSIONS`) and a `handle` function; `server::apis` builds the
//! dispatch table and the ApiVersions answer from them.

pub mod admin;
pub mod api_versions;
pub mod fetch;
pub mod group;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod produce;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

pub fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

/// An error code with the message Kafka would put beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ResponseError,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
    pub fn code(&self) -> i16 {
        self.code.code()
    }
    pub fn message(&self) -> Option<StrBytes> {
        Some(str_bytes(&self.message))
    }
}

/// Test helper: `resp` must encode at every version in `versions` (the crate
/// refuses fields that a version lacks, so handlers must set them by version).
#[cfg(test)]
pub fn assert_encodes<R: kafka_protocol::protocol::Encodable>(resp: &R, versions: (i16, i16)) {
    for v in versions.0..=versions.1 {
        let mut buf = bytes::BytesMut::new();
        resp.encode(&mut buf, v)
            .unwrap_or_else(|e| panic!("v{v}: {e}"));
    }
}
