//! One connection to one broker: Kafka framing (a 4-byte size, then the
//! request header and body) over messages built and parsed by the
//! `kafka-protocol` crate, at the versions agreed through ApiVersions.
//! Answers come back in request order (Kafka's contract), so `send_at` and
//! `recv_at` can be pipelined.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::BytesMut;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer we accept: a bad size prefix must not make us allocate gigabytes.
const MAX_RESPONSE_BYTES: usize = 512 * 1024 * 1024;

/// An API the broker does not serve in any version this tool speaks.
#[derive(Debug, thiserror::Error)]
#[error("the broker at {addr} does not support {api:?} {wanted} (it serves {served})")]
pub struct Unsupported {
    pub addr: String,
    pub api: ApiKey,
    pub wanted: String,
    pub served: String,
}

/// `RILL_TRACE_REQUESTS=1` prints every request's API and version to stderr
/// (to see what a tool asks a broker that misbehaves).
fn trace_requests() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("RILL_TRACE_REQUESTS").is_some())
}

pub struct Connection {
    stream: TcpStream,
    addr: String,
    client_id: StrBytes,
    next_correlation: i32,
    /// Correlation ids of the requests sent and not yet answered, oldest first.
    waiting: VecDeque<i32>,
    buf: BytesMut,
    /// api key -> (min, max) as the broker advertised them.
    versions: BTreeMap<i16, (i16, i16)>,
    api_versions: ApiVersionsResponse,
    request_timeout: Duration,
}

impl Connection {
    /// Connects and asks the broker which API versions it serves.
    pub async fn open(
        addr: &str,
        client_id: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let fresh = || Self::connect(addr, client_id, connect_timeout, request_timeout);
        let mut conn = fresh().await?;
        // v3 carries our name; a broker without v3 answers UNSUPPORTED_VERSION in the
        // v0 form, which does not parse as v3: start again at v0 then.
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("rill"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let answer = match conn.call_at(&request, 3).await {
            Ok(answer) if answer.error_code == 0 => answer,
            _ => {
                conn = fresh().await?;
                conn.call_at(&ApiVersionsRequest::default(), 0).await?
            }
        };
        if answer.error_code != 0 {
            bail!(
                "{addr} answered ApiVersions with error {}",
                super::error_name(answer.error_code)
            );
        }
        conn.versions = answer
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        conn.api_versions = answer;
        Ok(conn)
    }

    async fn connect(
        addr: &str,
        client_id: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {connect_timeout:?}"))?
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            addr: addr.to_owned(),
            client_id: StrBytes::from_string(client_id.to_owned()),
            next_correlation: 0,
            waiting: VecDeque::new(),
            buf: BytesMut::new(),
            versions: BTreeMap::new(),
            api_versions: ApiVersionsResponse::default(),
            request_timeout,
        })
    }

    /// The broker's ApiVersions answer, as received.
    pub fn api_versions(&self) -> &ApiVersionsResponse {
        &self.api_versions
    }

    /// Whether the broker lists `api` at all.
    pub fn supports(&self, api: ApiKey) -> bool {
        self.versions.contains_key(&(api as i16))
    }

    /// The highest version both sides speak, at most `cap`.
    pub fn version_for<R: Request>(&self, cap: i16) -> Result<i16, Unsupported> {
        let api = ApiKey::try_from(R::KEY).unwrap_or(ApiKey::ApiVersions);
        let ours = (R::VERSIONS.min, R::VERSIONS.max.min(cap));
        let unsupported = |served: String| Unsupported {
            addr: self.addr.clone(),
            api,
            wanted: format!("v{}-v{}", ours.0, ours.1),
            served,
        };
        let Some(&(min, max)) = self.versions.get(&R::KEY) else {
            return Err(unsupported("no version of it".into()));
        };
        let version = ours.1.min(max);
        if version < ours.0.max(min) {
            return Err(unsupported(format!("v{min}-v{max}")));
        }
        Ok(version)
    }

    /// Sends `request` at the best shared version (at most `cap`) and waits for its answer.
    pub async fn call_capped<R: Request>(
        &mut self,
        request: &R,
        cap: i16,
    ) -> anyhow::Result<R::Response> {
        let version = self.version_for::<R>(cap)?;
        self.call_at(request, version).await
    }

    /// Sends `request` at the best shared version and waits for its answer.
    pub async fn call<R: Request>(&mut self, request: &R) -> anyhow::Result<R::Response> {
        self.call_capped(request, i16::MAX).await
    }

    pub async fn call_at<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> anyhow::Result<R::Response> {
        self.send_at(request, version).await?;
        self.recv_at::<R>(version).await
    }

    /// Writes one request without waiting (for pipelining); answers come back in order.
    pub async fn send_at<R: Request>(&mut self, request: &R, version: i16) -> anyhow::Result<()> {
        self.write_request(request, version).await?;
        self.waiting.push_back(self.next_correlation);
        Ok(())
    }

    /// Writes a request the broker does not answer (Produce with acks=0).
    pub async fn send_unanswered<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> anyhow::Result<()> {
        self.write_request(request, version).await
    }

    async fn write_request<R: Request>(&mut self, request: &R, version: i16) -> anyhow::Result<()> {
        self.next_correlation = self.next_correlation.wrapping_add(1);
        if trace_requests() {
            let api = ApiKey::try_from(R::KEY).map_or(R::KEY.to_string(), |k| format!("{k:?}"));
            eprintln!("[{}] -> {api} v{version}", self.addr);
        }
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.next_correlation)
            .with_client_id(Some(self.client_id.clone()));
        let mut out = BytesMut::with_capacity(64);
        out.extend_from_slice(&[0; 4]);
        header.encode(&mut out, R::header_version(version))?;
        request.encode(&mut out, version)?;
        let len = u32::try_from(out.len() - 4).context("request too large")?;
        out[..4].copy_from_slice(&len.to_be_bytes());
        self.stream
            .write_all(&out)
            .await
            .with_context(|| format!("sending to {}", self.addr))
    }

    /// Reads the next answer, which must be for a request of type `R` sent at `version`.
    pub async fn recv_at<R: Request>(&mut self, version: i16) -> anyhow::Result<R::Response> {
        let deadline = Instant::now() + self.request_timeout;
        let frame_len = loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes(self.buf[..4].try_into()?) as usize;
                if len > MAX_RESPONSE_BYTES {
                    bail!("{} sent a {len}-byte answer; refusing it", self.addr);
                }
                if self.buf.len() >= 4 + len {
                    break len;
                }
            }
            let read =
                tokio::time::timeout_at(deadline.into(), self.stream.read_buf(&mut self.buf))
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "{} did not answer within {:?}",
                            self.addr,
                            self.request_timeout
                        )
                    })?
                    .with_context(|| format!("reading from {}", self.addr))?;
            if read == 0 {
                bail!("{} closed the connection", self.addr);
            }
        };
        let _ = self.buf.split_to(4);
        let mut frame = self.buf.split_to(frame_len).freeze();
        let header = kafka_protocol::messages::ResponseHeader::decode(
            &mut frame,
            <R::Response as HeaderVersion>::header_version(version),
        )?;
        // Answers come in request order: this one must be for the oldest request waiting.
        let expected = self.waiting.pop_front();
        if expected != Some(header.correlation_id) {
            bail!(
                "{} answered correlation id {} where {expected:?} was due",
                self.addr,
                header.correlation_id
            );
        }
        let api = ApiKey::try_from(R::KEY).map_or(R::KEY.to_string(), |k| format!("{k:?}"));
        <R::Response as Decodable>::decode(&mut frame, version)
            .with_context(|| format!("decoding the {api} v{version} answer from {}", self.addr))
    }
}
