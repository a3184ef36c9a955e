//! One client connection. Kafka's model: requests on a connection are
//! handled one at a time and answered in order; a frame that cannot be
//! parsed closes only this connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::apis::{self, Reply};
use super::Broker;

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("request size {size} is larger than socket.request.max.bytes ({max})")]
    TooLarge { size: usize, max: usize },
    #[error("invalid request size {0}")]
    BadSize(i32),
    #[error("cannot parse request header: {0}")]
    Header(String),
    #[error("unsupported API key {0}")]
    UnknownApi(i16),
    #[error("{api:?} v{version} is not supported (supported: v{min}-v{max})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("cannot parse {api:?} v{version} request: {reason}")]
    Body {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Serves one connection accepted on the listener named `listener`.
pub async fn serve(broker: Arc<Broker>, stream: TcpStream, addr: SocketAddr, listener: Arc<str>) {
    let _ = stream.set_nodelay(true);
    match run(&broker, stream, addr, &listener).await {
        Ok(()) => tracing::debug!("client {addr} disconnected"),
        Err(ConnError::Io(e)) => tracing::debug!("client {addr}: {e}"),
        Err(e) => tracing::warn!("closing connection from {addr}: {e}"),
    }
}

async fn run(
    broker: &Arc<Broker>,
    mut stream: TcpStream,
    addr: SocketAddr,
    listener: &Arc<str>,
) -> Result<(), ConnError> {
    let max = broker.config.socket_request_max_bytes.max(0) as usize;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut out = BytesMut::with_capacity(64 * 1024);
    loop {
        // Check, then parse: wait for a whole frame.
        while buf.len() < 4 {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if size < 0 {
            return Err(ConnError::BadSize(size));
        }
        let size = size as usize;
        if size > max {
            return Err(ConnError::TooLarge { size, max });
        }
        buf.reserve(size + 4);
        while buf.len() < 4 + size {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        buf.advance(4);
        let frame = buf.split_to(size).freeze();
        let reply = handle_frame(broker, frame, addr, listener).await?;
        if let Some((header_version, correlation_id, api_version, body)) = reply {
            out.clear();
            out.put_u32(0);
            ResponseHeader::default()
                .with_correlation_id(correlation_id)
                .encode(&mut out, header_version)
                .map_err(|e| ConnError::Header(e.to_string()))?;
            body.encode(&mut out, api_version)
                .map_err(|e| ConnError::Header(format!("encoding response: {e}")))?;
            let len = (out.len() - 4) as u32;
            out[..4].copy_from_slice(&len.to_be_bytes());
            stream.write_all(&out).await?;
            if out.capacity() > 8 << 20 {
                out = BytesMut::with_capacity(64 * 1024);
            }
        }
    }
}

/// Decodes one request and runs its handler; `None` when no answer is due (acks=0).
async fn handle_frame(
    broker: &Arc<Broker>,
    mut frame: Bytes,
    addr: SocketAddr,
    listener: &Arc<str>,
) -> Result<Option<(i16, i32, i16, Reply)>, ConnError> {
    if frame.len() < 4 {
        return Err(ConnError::Header(
            "frame shorter than the API key and version".into(),
        ));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api = ApiKey::try_from(key).map_err(|_| ConnError::UnknownApi(key))?;
    let Some(range) = apis::supported(api) else {
        return Err(ConnError::UnknownApi(key));
    };
    if api == ApiKey::ApiVersions && !(range.0..=range.1).contains(&version) {
        // KIP-511: answer an unknown ApiVersions version in v0 with
        // UNSUPPORTED_VERSION and our ranges, so the client can retry.
        let correlation_id = if frame.len() >= 8 {
            i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]])
        } else {
            0
        };
        return Ok(Some((
            0,
            correlation_id,
            0,
            apis::unsupported_api_versions(),
        )));
    }
    if !(range.0..=range.1).contains(&version) {
        return Err(ConnError::UnsupportedVersion {
            api,
            version,
            min: range.0,
            max: range.1,
        });
    }
    let header = RequestHeader::decode(&mut frame, api.request_header_version(version))
        .map_err(|e| ConnError::Header(e.to_string()))?;
    let ctx = apis::RequestContext {
        header,
        api,
        version,
        client: addr,
        listener: listener.clone(),
    };
    let reply = apis::dispatch(broker, &ctx, frame)
        .await
        .map_err(|reason| ConnError::Body {
            api,
            version,
            reason,
        })?;
    Ok(reply.map(|r| {
        (
            api.response_header_version(version),
            ctx.header.correlation_id,
            version,
            r,
        )
    }))
}
