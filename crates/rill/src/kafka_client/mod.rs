//! A small Kafka client for the command-line tools: bootstrap, cluster
//! metadata, and connections to a partition's leader, the controller or a
//! group's coordinator. Every message is built and parsed by the
//! `kafka-protocol` crate; record batches by `kafka_protocol::records`.
//!
//! # Layout
//! - `conn`: one connection (framing, version negotiation, pipelining).
//! - `cluster`: the metadata answer as plain data (brokers, topics, partitions).
//! - `data`: produce, fetch and list offsets, routed to partition leaders.
//! - `admin`: topic, partition and config administration (sent to the controller).
//! - `group`: consumer-group calls (coordinator lookup, offsets, membership).
//! - `records`: record batches in and out.

pub mod admin;
pub mod cluster;
pub mod conn;
pub mod data;
pub mod group;
pub mod records;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

pub use cluster::{Cluster, PartitionMeta, TopicMeta};
pub use conn::Connection;

/// How to reach the cluster.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `host:port` addresses, tried in order until one answers.
    pub bootstrap: Vec<String>,
    pub client_id: String,
    /// How long to keep trying the bootstrap servers before giving up.
    pub connect_timeout: Duration,
    /// How long one request may wait for its answer.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// From a `--bootstrap-server` value (`host:port[,host:port...]`).
    pub fn new(bootstrap: &str, client_id: &str) -> anyhow::Result<Self> {
        let servers = parse_bootstrap(bootstrap)?;
        Ok(ClientConfig {
            bootstrap: servers,
            client_id: client_id.to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        })
    }
}

/// Splits and checks `host:port[,host:port...]`.
pub fn parse_bootstrap(list: &str) -> anyhow::Result<Vec<String>> {
    let servers: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if servers.is_empty() {
        bail!("the bootstrap server list is empty: give host:port, e.g. --bootstrap-server 127.0.0.1:9092");
    }
    for s in &servers {
        let port = s.rsplit_once(':').map(|(_, p)| p);
        if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
            bail!("bootstrap server '{s}' is not host:port (e.g. 127.0.0.1:9092)");
        }
    }
    Ok(servers)
}

/// Kafka's upper-case name for an error code (`UNKNOWN_TOPIC_OR_PARTITION`).
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".into(),
        Some(ResponseError::Unknown(c)) => format!("UNKNOWN_ERROR_CODE_{c}"),
        Some(e) => {
            let camel = format!("{e:?}");
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, ch) in camel.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(ch.to_ascii_uppercase());
            }
            out
        }
    }
}

/// `Err` naming the error (and the broker's message, if any) when `code` is not 0.
pub fn check(code: i16, message: Option<&StrBytes>, what: &str) -> anyhow::Result<()> {
    if code == 0 {
        return Ok(());
    }
    match message.map(|m| m.as_str()).filter(|m| !m.is_empty()) {
        Some(m) => bail!("{what}: {} ({m})", error_name(code)),
        None => bail!("{what}: {}", error_name(code)),
    }
}

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

pub fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

/// A bootstrapped client: one connection per broker, opened on first use.
pub struct KafkaClient {
    config: ClientConfig,
    bootstrap: Connection,
    brokers: HashMap<i32, Connection>,
    cluster: Option<Cluster>,
}

impl KafkaClient {
    /// Tries the bootstrap servers in turn, retrying until `connect_timeout`.
    pub async fn connect(config: ClientConfig) -> anyhow::Result<Self> {
        let start = Instant::now();
        let deadline = start + config.connect_timeout;
        let mut last_error = None;
        let mut backoff = Duration::from_millis(100);
        loop {
            for addr in &config.bootstrap {
                let left = deadline.saturating_duration_since(Instant::now());
                let attempt = Connection::open(
                    addr,
                    &config.client_id,
                    left.max(Duration::from_millis(100)),
                    config.request_timeout.min(left.max(Duration::from_secs(1))),
                )
                .await;
                match attempt {
                    Ok(bootstrap) => {
                        return Ok(KafkaClient {
                            config,
                            bootstrap,
                            brokers: HashMap::new(),
                            cluster: None,
                        })
                    }
                    Err(e) => last_error = Some(format!("{addr}: {e:#}")),
                }
            }
            if Instant::now() + backoff >= deadline {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
        bail!(
            "could not reach the bootstrap server {} (tried for {:.1} s; last error: {}). \
             Check that a broker is running there and that --bootstrap-server names its host:port",
            config.bootstrap.join(","),
            start.elapsed().as_secs_f64(),
            last_error.unwrap_or_else(|| "none".into())
        )
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The connection to the bootstrap broker (for calls any broker answers).
    pub fn any(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// Fresh metadata for `topics` (all topics when `None`); remembered for routing.
    pub async fn metadata(
        &mut self,
        topics: Option<&[String]>,
        allow_auto_create: bool,
    ) -> anyhow::Result<&Cluster> {
        let request = MetadataRequest::default()
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(allow_auto_create);
        // v12: topic ids, and flexible encodings.
        let answer = self.bootstrap.call_capped(&request, 12).await?;
        self.cluster = Some(Cluster::from_response(&answer));
        Ok(self.cluster.as_ref().expect("just set"))
    }

    /// Metadata for `topics` once each exists with a leader for every
    /// partition: a topic created a moment ago (or auto-created by this very
    /// request) reaches every broker of a cluster within a few polls. Gives
    /// up after 10 s, naming what is still missing.
    pub async fn metadata_with_leaders(
        &mut self,
        topics: &[String],
        allow_auto_create: bool,
    ) -> anyhow::Result<&Cluster> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let cluster = self.metadata(Some(topics), allow_auto_create).await?;
            let missing = topics.iter().find_map(|t| match cluster.topic(t) {
                Ok(m) if !m.partitions.is_empty() && m.partitions.iter().all(|p| p.leader >= 0) => {
                    None
                }
                Ok(_) => Some(format!("topic '{t}': some partitions have no leader yet")),
                Err(e) => Some(format!("{e:#}")),
            });
            match missing {
                None => return Ok(self.cluster.as_ref().expect("just set")),
                Some(why) if Instant::now() >= deadline => bail!("{why} (after waiting 10 s)"),
                Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The last metadata fetched (fetches all topics if none yet).
    pub async fn cluster(&mut self) -> anyhow::Result<&Cluster> {
        if self.cluster.is_none() {
            self.metadata(None, false).await?;
        }
        Ok(self.cluster.as_ref().expect("just set"))
    }

    /// The connection to broker `id`, opened on first use.
    pub async fn broker(&mut self, id: i32) -> anyhow::Result<&mut Connection> {
        if !self.brokers.contains_key(&id) {
            let addr = {
                let cluster = self.cluster().await?;
                match cluster.brokers.get(&id) {
                    Some(node) => node.address(),
                    None => bail!(
                        "broker {id} is not in the cluster metadata (live brokers: {:?})",
                        cluster.brokers.keys().collect::<Vec<_>>()
                    ),
                }
            };
            let conn = Connection::open(
                &addr,
                &self.config.client_id,
                self.config.connect_timeout,
                self.config.request_timeout,
            )
            .await
            .with_context(|| format!("connecting to broker {id} at {addr}"))?;
            self.brokers.insert(id, conn);
        }
        Ok(self.brokers.get_mut(&id).expect("just inserted"))
    }

    /// Forgets the connection to broker `id` (after it failed); the next
    /// call opens a new one.
    pub fn disconnect(&mut self, id: i32) {
        self.brokers.remove(&id);
    }

    /// The connection to the controller the metadata names (admin calls go there).
    pub async fn controller(&mut self) -> anyhow::Result<&mut Connection> {
        let id = self.cluster().await?.controller_id;
        if id < 0 {
            return Ok(&mut self.bootstrap);
        }
        self.broker(id).await
    }

    /// Whether the bootstrap broker lists `api` (used to skip what it does not serve).
    pub fn supports(&self, api: ApiKey) -> bool {
        self.bootstrap.supports(api)
    }
}
