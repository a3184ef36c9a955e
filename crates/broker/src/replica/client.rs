//! A minimal Kafka client for broker-to-broker requests (the follower's
//! Fetch and OffsetForLeaderEpoch): one request at a time on one connection,
//! header versions taken from the message definitions.

use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("encoding the request: {0}")]
    Encode(String),
    #[error("malformed response: {0}")]
    Decode(String),
    #[error("response frame of {0} bytes is too large")]
    TooLarge(usize),
}

/// Responses larger than this are refused (a broken peer, not a big batch).
const MAX_RESPONSE: usize = 512 << 20;

pub struct BrokerClient {
    stream: TcpStream,
    client_id: StrBytes,
    correlation: i32,
    timeout: Duration,
}

impl BrokerClient {
    pub async fn connect(
        addr: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let connect_err = |source| ClientError::Connect {
            addr: addr.to_owned(),
            source,
        };
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| connect_err(std::io::ErrorKind::TimedOut.into()))?
            .map_err(connect_err)?;
        let _ = stream.set_nodelay(true);
        Ok(BrokerClient {
            stream,
            client_id: StrBytes::from_string(client_id.to_owned()),
            correlation: 0,
            timeout,
        })
    }

    /// Sends `req` at `version` and waits (at most the socket timeout plus
    /// `extra`, e.g. a fetch's max wait) for its response.
    pub async fn call<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        extra: Duration,
    ) -> Result<R::Response, ClientError> {
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(self.client_id.clone()));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, R::header_version(version))
            .map_err(|e| ClientError::Encode(e.to_string()))?;
        req.encode(&mut buf, version)
            .map_err(|e| ClientError::Encode(e.to_string()))?;
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        let wait = self.timeout + extra;
        let exchange = async {
            self.stream.write_all(&buf).await?;
            let size = self.stream.read_i32().await?;
            let size = usize::try_from(size)
                .map_err(|_| ClientError::Decode(format!("frame size {size}")))?;
            if size > MAX_RESPONSE {
                return Err(ClientError::TooLarge(size));
            }
            let mut body = vec![0u8; size];
            self.stream.read_exact(&mut body).await?;
            Ok::<_, ClientError>(body)
        };
        let body = tokio::time::timeout(wait, exchange)
            .await
            .map_err(|_| ClientError::Timeout(wait))??;
        let mut body = bytes::Bytes::from(body);
        let header_version = <R::Response as HeaderVersion>::header_version(version);
        let header = kafka_protocol::messages::ResponseHeader::decode(&mut body, header_version)
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        if header.correlation_id != self.correlation {
            return Err(ClientError::Decode(format!(
                "correlation id {} for request {}",
                header.correlation_id, self.correlation
            )));
        }
        let resp = R::Response::decode(&mut body, version)
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let _ = body.remaining();
        Ok(resp)
    }
}
