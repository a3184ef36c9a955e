//! The broker process: start-up (logs, ZooKeeper registration, metadata),
//! the listener, background work, and the topic operations the controller
//! performs (topic creation and deletion).

pub mod apis;
mod cluster;
pub mod connection;
mod dynamic_config;
mod groups;
mod topics;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use kafka_protocol::ResponseError;
use tokio::net::TcpListener;

use crate::config::{validate_topic_configs, BrokerConfig, Listener, TopicLogConfig};
use crate::group::coordinator::CoordinatorConfig;
use crate::group::runtime::GroupRuntime;
use crate::handlers::ApiError;
use crate::log::{LogConfig, LogManager};
use crate::metadata::zk::{ControllerFence, ZkError, ZkStore};
use crate::metadata::znode::{BrokerRegistration, PartitionState, TopicAssignment};
use crate::metadata::{
    assign_replicas_with_racks, validate_topic_name, BrokerInfo, MetadataCache, PartitionInfo,
    TopicInfo,
};
use crate::replica::partition::Partition;
use crate::replica::ReplicaManager;

/// What this broker keeps while it is the controller.
#[derive(Debug, Default)]
pub struct ControllerState {
    /// The controller epoch won and `/controller_epoch`'s version (the write fence).
    fence: Option<ControllerFence>,
    /// Broker epochs (registration czxids) seen in the last round.
    known_brokers: BTreeMap<i32, i64>,
}

/// Where this broker listens and what it registers, resolved from the
/// config's `listeners` and `advertised.listeners` (a wildcard host is
/// advertised as the machine's name, port 0 as the port actually bound).
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The first listener's bound address (what a local client dials).
    pub listen: SocketAddr,
    /// Every listener by name with its bound address, in `listeners` order.
    pub bound: Vec<(String, SocketAddr)>,
    /// What `/brokers/ids/N` lists, in `advertised.listeners` order.
    pub advertised: Vec<Listener>,
}

/// A bound listener socket and the listener name its connections arrive on.
pub struct BoundListener {
    pub name: Arc<str>,
    pub socket: TcpListener,
}

impl Endpoints {
    /// Resolves every listener's bind address (no binding yet).
    pub fn bind_addresses(config: &BrokerConfig) -> Result<Vec<(String, SocketAddr)>, String> {
        if config.listeners.is_empty() {
            return Err("no listeners configured (listeners=PLAINTEXT://host:port)".to_owned());
        }
        config
            .listeners
            .iter()
            .map(|l| {
                use std::net::ToSocketAddrs;
                let bind = l.bind_address();
                bind.to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .map(|addr| (l.name.clone(), addr))
                    .ok_or_else(|| format!("cannot resolve listener {l} address '{bind}'"))
            })
            .collect()
    }

    /// The endpoints once every listener is bound (`bound` holds the real ports).
    pub fn resolve(config: &BrokerConfig, bound: Vec<(String, SocketAddr)>) -> Endpoints {
        let port_of = |name: &str| bound.iter().find(|(n, _)| n == name).map(|(_, a)| a.port());
        Endpoints {
            listen: bound[0].1,
            advertised: config.advertised_endpoints(&hostname(), port_of),
            bound,
        }
    }
}

fn joined<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The machine's host name, advertised for wildcard listeners (as Kafka does).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The codec a topic's `compression.type` stores batches in (`None` = as produced).
pub fn codec_of(c: crate::config::CompressionType) -> Option<kafka_protocol::records::Compression> {
    use crate::config::CompressionType as C;
    use kafka_protocol::records::Compression;
    match c {
        C::Producer => None,
        C::Uncompressed => Some(Compression::None),
        C::Gzip => Some(Compression::Gzip),
        C::Snappy => Some(Compression::Snappy),
        C::Lz4 => Some(Compression::Lz4),
        C::Zstd => Some(Compression::Zstd),
    }
}

/// A topic's log settings in the log module's terms.
pub fn log_config(t: &TopicLogConfig) -> LogConfig {
    let positive = |v: i64| (0..i64::MAX).contains(&v).then_some(v as u64);
    LogConfig {
        segment_bytes: t.segment_bytes.max(1) as u64,
        segment_ms: positive(t.segment_ms),
        retention_ms: (t.retention_ms >= 0).then_some(t.retention_ms),
        retention_bytes: (t.retention_bytes >= 0).then_some(t.retention_bytes),
        index_interval_bytes: t.index_interval_bytes.max(0) as u32,
        flush_interval_messages: positive(t.flush_messages),
        flush_interval_ms: positive(t.flush_ms),
        timestamp_type: match t.message_timestamp_type {
            crate::config::TimestampType::CreateTime => crate::log::TimestampType::CreateTime,
            crate::config::TimestampType::LogAppendTime => crate::log::TimestampType::LogAppendTime,
        },
        max_message_bytes: t.max_message_bytes.max(0) as u32,
    }
}

/// A topic to create, as CreateTopics or auto-creation asks for it.
#[derive(Debug, Clone, Default)]
pub struct NewTopic {
    pub name: String,
    pub partitions: Option<i32>,
    pub replication_factor: Option<i32>,
    /// Explicit replica assignment, by partition number.
    pub assignment: Option<Vec<(i32, Vec<i32>)>>,
    pub config: BTreeMap<String, String>,
    pub validate_only: bool,
}

impl NewTopic {
    pub fn with_defaults(name: &str) -> Self {
        NewTopic {
            name: name.to_owned(),
            ..Default::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Zk(#[from] ZkError),
    #[error("{0}")]
    Config(String),
    #[error("log directories: {0}")]
    Log(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

pub struct Broker {
    /// The static config (server.properties, environment, overrides).
    pub config: BrokerConfig,
    /// With the dynamic layers (`/config/brokers`) over it; see
    /// [`Broker::effective_config`].
    effective: RwLock<Arc<BrokerConfig>>,
    /// The dynamic layers last read from ZooKeeper.
    dynamic_seen: Mutex<dynamic_config::DynamicLayers>,
    pub endpoints: Endpoints,
    metadata: RwLock<MetadataCache>,
    pub replicas: ReplicaManager,
    /// The group coordinator for the `__consumer_offsets` partitions led here.
    pub groups: GroupRuntime,
    logs: Mutex<LogManager>,
    zk: ZkStore,
    /// Serializes topic creation and deletion (controller work).
    admin: tokio::sync::Mutex<()>,
    controller: Mutex<ControllerState>,
    /// Replica fetcher tasks, by leader broker id.
    fetchers: Mutex<HashMap<i32, tokio::task::JoinHandle<()>>>,
    /// Rounds of [`Broker::cluster_round`] so far.
    cluster_rounds: std::sync::atomic::AtomicU64,
    /// Asks for a cluster round before the next poll: a client addressed
    /// this broker as the leader of a partition it holds as a follower, so a
    /// leadership change (controlled shutdown, election) is probably waiting
    /// in ZooKeeper for this broker to read it.
    poll_now: tokio::sync::Notify,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn zk_api_error(e: ZkError) -> ApiError {
    ApiError::new(ResponseError::UnknownServerError, e.to_string())
}

impl Broker {
    /// Opens the logs, registers in ZooKeeper, loads the cluster's topics and binds.
    pub async fn start(
        config: BrokerConfig,
    ) -> Result<(Arc<Broker>, Vec<BoundListener>), StartError> {
        let addresses = Endpoints::bind_addresses(&config).map_err(StartError::Config)?;
        let defaults = log_config(&config.topic_defaults());
        let logs = LogManager::open_with(
            &config.log_dirs,
            defaults,
            config.num_recovery_threads_per_data_dir.max(1) as usize,
        )
        .map_err(|e| StartError::Log(e.to_string()))?;
        let session = Duration::from_millis(config.zookeeper_session_timeout_ms.max(1) as u64);
        let connection =
            Duration::from_millis(config.zookeeper_connection_timeout_ms.max(1) as u64);
        let zk = ZkStore::connect(&config.zookeeper.to_string(), session, connection).await?;
        zk.ensure_top_level_paths().await?;
        let cluster_id = zk.cluster_id().await?;
        let mut listeners = Vec::with_capacity(addresses.len());
        let mut bound = Vec::with_capacity(addresses.len());
        for (name, addr) in addresses {
            let socket = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { addr, source })?;
            bound.push((name.clone(), socket.local_addr().unwrap_or(addr)));
            listeners.push(BoundListener {
                name: name.into(),
                socket,
            });
        }
        let endpoints = Endpoints::resolve(&config, bound);
        let broker = Arc::new(Broker {
            metadata: RwLock::new(MetadataCache::new(cluster_id)),
            replicas: ReplicaManager::default(),
            groups: GroupRuntime::new(
                coordinator_config(&config),
                config.offsets_topic_num_partitions,
            ),
            logs: Mutex::new(logs),
            zk,
            admin: tokio::sync::Mutex::new(()),
            controller: Mutex::new(ControllerState::default()),
            fetchers: Mutex::new(HashMap::new()),
            cluster_rounds: std::sync::atomic::AtomicU64::new(0),
            poll_now: tokio::sync::Notify::new(),
            effective: RwLock::new(Arc::new(config.clone())),
            dynamic_seen: Mutex::default(),
            config,
            endpoints,
        });
        // Dynamic configs first, so logs open with the cluster's defaults.
        broker.follow_dynamic_configs().await?;
        broker.register().await?;
        broker.load_topics().await?;
        tracing::info!(
            "broker {} started: listening on {}, advertised as {} (inter-broker listener {}), cluster id {}, controller {}",
            broker.config.broker_id,
            joined(broker.endpoints.bound.iter().map(|(n, a)| format!("{n}://{a}"))),
            joined(&broker.endpoints.advertised),
            broker.config.inter_broker_listener_name,
            broker.metadata().cluster_id,
            broker.metadata().controller
        );
        Ok((broker, listeners))
    }

    pub fn metadata(&self) -> std::sync::RwLockReadGuard<'_, MetadataCache> {
        self.metadata.read().unwrap_or_else(|e| e.into_inner())
    }

    fn metadata_mut(&self) -> std::sync::RwLockWriteGuard<'_, MetadataCache> {
        self.metadata.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The partition if this broker leads it, else the error Kafka answers:
    /// NOT_LEADER_OR_FOLLOWER for a partition that exists elsewhere,
    /// UNKNOWN_TOPIC_OR_PARTITION otherwise.
    pub fn leader_partition(&self, topic: &str, index: i32) -> Result<Arc<Partition>, ApiError> {
        match self.replicas.get(topic, index) {
            Some(p) if p.is_leader() => return Ok(p),
            Some(_) => self.poll_now.notify_one(),
            None => {}
        }
        let exists = self
            .metadata()
            .topic(topic)
            .is_some_and(|t| (0..t.partitions.len() as i32).contains(&index));
        Err(if exists {
            ApiError::new(
                ResponseError::NotLeaderOrFollower,
                format!("this broker does not lead {topic}-{index}"),
            )
        } else {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("unknown topic-partition {topic}-{index}"),
            )
        })
    }

    pub fn is_controller(&self) -> bool {
        self.metadata().controller == self.config.broker_id
    }

    /// `/brokers/ids/N`, controller election, and the live broker list.
    async fn register(&self) -> Result<(), ZkError> {
        let endpoints: Vec<(String, String, u16)> = self
            .endpoints
            .advertised
            .iter()
            .map(|a| (a.name.clone(), a.host.clone(), a.port))
            .collect();
        let reg = BrokerRegistration::new(&endpoints, self.config.broker_rack.clone(), now_ms());
        let id = self.config.broker_id;
        // After a crash the previous registration lives until its session
        // expires; wait for that rather than failing, as an operator would.
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(self.config.zookeeper_session_timeout_ms.max(0) as u64)
            + Duration::from_secs(5);
        let mut warned = false;
        loop {
            match self.zk.register_broker(id, &reg).await {
                Ok(_) => break,
                Err(ZkError::BrokerIdTaken(_)) if tokio::time::Instant::now() < deadline => {
                    if !warned {
                        tracing::warn!(
                            "/brokers/ids/{id} is still held by an earlier session (a previous run of this broker?); waiting for it to expire"
                        );
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        }
        self.lock_controller_reset();
        self.follow_controller().await?;
        self.refresh_brokers().await.map(|_| ())
    }

    fn lock_controller_reset(&self) {
        *self.controller.lock().unwrap_or_else(|e| e.into_inner()) = ControllerState::default();
    }

    /// Reads the live brokers into the cache; returns their broker epochs.
    async fn refresh_brokers(&self) -> Result<BTreeMap<i32, i64>, ZkError> {
        let brokers = self.zk.brokers().await?;
        let epochs = brokers.iter().map(|(id, (_, e))| (*id, *e)).collect();
        let mut meta = self.metadata_mut();
        let inter_broker = &self.config.inter_broker_listener_name;
        meta.brokers = brokers
            .into_iter()
            .filter_map(|(id, (reg, _))| {
                Some((
                    id,
                    BrokerInfo::from_endpoints(id, reg.parsed_endpoints(), inter_broker, reg.rack)?,
                ))
            })
            .collect();
        Ok(epochs)
    }

    /// Reads every topic from ZooKeeper and opens the local replicas.
    async fn load_topics(&self) -> Result<(), StartError> {
        for name in self.zk.topic_names().await? {
            self.load_topic(&name).await?;
        }
        Ok(())
    }

    /// Reads one topic (assignment, partition states, config) into the cache
    /// and opens the replicas this broker leads; writes missing partition
    /// states when this broker is the controller.
    async fn load_topic(&self, name: &str) -> Result<(), StartError> {
        let Some(assignment) = self.zk.topic(name).await? else {
            return Ok(());
        };
        let config = self.zk.topic_config(name).await?;
        let Some(replicas) = assignment.replicas() else {
            tracing::warn!("topic {name}: malformed partition keys in its assignment; skipped");
            return Ok(());
        };
        let id = assignment.id().unwrap_or_else(uuid::Uuid::new_v4);
        let mut partitions = Vec::with_capacity(replicas.len());
        let mut states = Vec::with_capacity(replicas.len());
        for (p, reps) in &replicas {
            let (state, version) = match self.zk.partition_state(name, *p).await? {
                Some(s) => s,
                None => {
                    let state = self.initial_state(reps).await?;
                    if self.is_controller() {
                        self.zk.create_partition_state(name, *p, &state).await?;
                    }
                    (state, 0)
                }
            };
            states.push((*p, reps.clone(), state.clone(), version));
            partitions.push(PartitionInfo {
                leader: state.leader,
                leader_epoch: state.leader_epoch,
                replicas: reps.clone(),
                isr: state.isr.clone(),
            });
        }
        let info = TopicInfo {
            internal: name.starts_with("__"),
            name: name.to_owned(),
            id,
            partitions,
            config,
        };
        let config = info.config.clone();
        self.metadata_mut().put_topic(info);
        for (p, reps, state, version) in states {
            self.apply_state(name, &config, p, &reps, &state, version)
                .map_err(StartError::Log)?;
        }
        Ok(())
    }

    /// As controller, carries out `/admin/delete_topics/T` markers (or, with
    /// delete.topic.enable=false, removes them with a warning).
    async fn carry_out_deletions(&self) -> Result<(), ZkError> {
        for name in self.zk.topics_marked_for_deletion().await? {
            if !self.config.delete_topic_enable {
                tracing::warn!(
                    "ignoring the deletion request for topic {name}: delete.topic.enable=false; removing its marker"
                );
                self.zk.unmark_topic_for_deletion(&name).await?;
            } else if self.metadata().topic(&name).is_some() {
                if let Err(e) = self.delete_topic(&name).await {
                    tracing::warn!(
                        "deleting topic {name} as requested in ZooKeeper: {}",
                        e.message
                    );
                }
            } else {
                self.zk.remove_topic(&name).await?;
            }
        }
        Ok(())
    }

    async fn initial_state(&self, replicas: &[i32]) -> Result<PartitionState, ZkError> {
        let live = self.metadata().brokers.keys().copied().collect::<Vec<_>>();
        let isr: Vec<i32> = replicas
            .iter()
            .copied()
            .filter(|r| live.contains(r))
            .collect();
        Ok(PartitionState {
            controller_epoch: self.zk.controller_epoch().await?,
            leader: isr.first().copied().unwrap_or(-1),
            version: 1,
            leader_epoch: 0,
            isr,
        })
    }

    /// Creates a topic as the controller: checks, ZooKeeper znodes, local logs.
    pub async fn create_topic(&self, t: NewTopic) -> Result<Arc<TopicInfo>, ApiError> {
        let _guard = self.admin.lock().await;
        validate_topic_name(&t.name)
            .map_err(|m| ApiError::new(ResponseError::InvalidTopicException, m))?;
        if self.metadata().topic(&t.name).is_some() {
            return Err(ApiError::new(
                ResponseError::TopicAlreadyExists,
                format!("Topic '{}' already exists.", t.name),
            ));
        }
        validate_topic_configs(t.config.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| ApiError::new(ResponseError::InvalidConfig, e.to_string()))?;
        let live: Vec<i32> = self.metadata().brokers.keys().copied().collect();
        let assignment = match &t.assignment {
            Some(explicit) => {
                if t.partitions.is_some() || t.replication_factor.is_some() {
                    return Err(ApiError::new(
                        ResponseError::InvalidRequest,
                        "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
                    ));
                }
                validate_assignment(explicit, &live)?
            }
            None => {
                let partitions = t.partitions.unwrap_or(self.config.num_partitions);
                let rf = t
                    .replication_factor
                    .unwrap_or(self.config.default_replication_factor);
                if partitions <= 0 {
                    return Err(ApiError::new(
                        ResponseError::InvalidPartitions,
                        "Number of partitions must be larger than 0.",
                    ));
                }
                if rf <= 0 {
                    return Err(ApiError::new(
                        ResponseError::InvalidReplicationFactor,
                        "Replication factor must be larger than 0.",
                    ));
                }
                let start = rand::random::<usize>() % live.len().max(1);
                let racks: Vec<(i32, Option<String>)> = self
                    .metadata()
                    .brokers
                    .values()
                    .map(|b| (b.id, b.rack.clone()))
                    .collect();
                assign_replicas_with_racks(&racks, partitions, rf, start)
                    .map_err(|m| ApiError::new(ResponseError::InvalidReplicationFactor, m))?
            }
        };
        let id = uuid::Uuid::new_v4();
        let controller_epoch = self.zk.controller_epoch().await.map_err(zk_api_error)?;
        let partitions: Vec<PartitionInfo> = assignment
            .iter()
            .map(|replicas| {
                let isr: Vec<i32> = replicas
                    .iter()
                    .copied()
                    .filter(|r| live.contains(r))
                    .collect();
                PartitionInfo {
                    leader: isr.first().copied().unwrap_or(-1),
                    leader_epoch: 0,
                    replicas: replicas.clone(),
                    isr,
                }
            })
            .collect();
        let info = TopicInfo {
            internal: t.name.starts_with("__"),
            name: t.name.clone(),
            id,
            partitions,
            config: t.config.clone(),
        };
        if t.validate_only {
            return Ok(Arc::new(info));
        }
        let created = self
            .zk
            .create_topic(&t.name, &TopicAssignment::new(&assignment, id), &t.config)
            .await
            .map_err(zk_api_error)?;
        if !created {
            return Err(ApiError::new(
                ResponseError::TopicAlreadyExists,
                format!("Topic '{}' already exists.", t.name),
            ));
        }
        let mut states = Vec::with_capacity(info.partitions.len());
        for (i, p) in info.partitions.iter().enumerate() {
            let state = PartitionState {
                controller_epoch,
                leader: p.leader,
                version: 1,
                leader_epoch: p.leader_epoch,
                isr: p.isr.clone(),
            };
            self.zk
                .create_partition_state(&t.name, i as i32, &state)
                .await
                .map_err(zk_api_error)?;
            states.push(state);
        }
        self.metadata_mut().put_topic(info.clone());
        for (i, (p, state)) in info.partitions.iter().zip(&states).enumerate() {
            self.apply_state(&t.name, &info.config, i as i32, &p.replicas, state, 0)
                .map_err(|m| ApiError::new(ResponseError::KafkaStorageError, m))?;
        }
        tracing::info!(
            "created topic {} with {} partitions (replication factor {})",
            t.name,
            info.partitions.len(),
            info.partitions.first().map_or(0, |p| p.replicas.len())
        );
        Ok(Arc::new(info))
    }

    /// Deletes a topic: marks it in `/admin/delete_topics`, drops the local
    /// logs, then removes its znodes (the controller's steps in Kafka).
    pub async fn delete_topic(&self, name: &str) -> Result<(), ApiError> {
        let _guard = self.admin.lock().await;
        if self.metadata().topic(name).is_none() {
            return Err(ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                "This server does not host this topic-partition.",
            ));
        }
        self.zk
            .mark_topic_for_deletion(name)
            .await
            .map_err(zk_api_error)?;
        self.drop_local_topic(name);
        self.zk.remove_topic(name).await.map_err(zk_api_error)?;
        tracing::info!("deleted topic {name}");
        Ok(())
    }

    /// Forgets a deleted topic: the cache entry, the hosted replicas, their logs.
    fn drop_local_topic(&self, name: &str) {
        self.metadata_mut().remove_topic(name);
        for p in self.replicas.all() {
            if &*p.topic == name {
                self.drop_local_partition(name, p.index);
            }
        }
    }

    /// Serves clients until `shutdown` completes, then closes the logs cleanly.
    pub async fn run(
        self: Arc<Self>,
        listeners: Vec<BoundListener>,
        shutdown: impl Future<Output = ()>,
    ) {
        let accept: Vec<_> = listeners
            .into_iter()
            .map(|l| tokio::spawn(self.clone().accept(l)))
            .collect();
        let housekeeping = tokio::spawn(self.clone().housekeeping());
        let group_timers = tokio::spawn(self.clone().group_timers());
        shutdown.await;
        housekeeping.abort();
        if self.config.controlled_shutdown_enable {
            self.resign().await;
        }
        for a in &accept {
            a.abort();
        }
        group_timers.abort();
        self.stop_fetchers();
        for p in self.replicas.all() {
            p.with_log_mut(|l| {
                if let Err(e) = l.flush() {
                    tracing::warn!("flushing {}-{}: {e}", p.topic, p.index);
                }
            });
        }
        write_checkpoints(self.high_watermark_checkpoints());
        if let Err(e) = self
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .shutdown()
        {
            tracing::warn!("closing logs: {e}");
        }
        self.zk.deregister(self.config.broker_id).await;
        tracing::info!("broker {} stopped", self.config.broker_id);
    }

    /// Accepts one listener's connections; each request learns the listener
    /// it arrived on (Metadata answers with that listener's endpoints).
    async fn accept(self: Arc<Self>, listener: BoundListener) {
        loop {
            match listener.socket.accept().await {
                Ok((stream, addr)) => {
                    tokio::spawn(connection::serve(
                        self.clone(),
                        stream,
                        addr,
                        listener.name.clone(),
                    ));
                }
                Err(e) => {
                    tracing::warn!("accept on listener {} failed: {e}", listener.name);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// After session loss: a new session, `/brokers/ids/N` again (as Kafka's
    /// broker re-registers), the controller election, a fresh broker list.
    async fn recover_session(&self) {
        let mut delay = Duration::from_millis(200);
        loop {
            let attempt = async {
                self.zk.reconnect().await?;
                self.register().await
            };
            match attempt.await {
                Ok(()) => {
                    tracing::info!(
                        "registered again as broker {} in ZooKeeper",
                        self.config.broker_id
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(
                        "re-registering in ZooKeeper failed: {e}; retrying in {delay:?}"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// The group coordinator's clock: heartbeat and rebalance deadlines
    /// (checked every 100 ms) and offset expiry.
    async fn group_timers(self: Arc<Self>) {
        let mut deadlines = tokio::time::interval(Duration::from_millis(100));
        let check = self.config.offsets_retention_check_interval_ms.max(1) as u64;
        let mut expiry = tokio::time::interval(Duration::from_millis(check));
        loop {
            tokio::select! {
                _ = deadlines.tick() => self.groups.tick(&self.replicas, now_ms()),
                _ = expiry.tick() => self.groups.expire_offsets(&self.replicas, now_ms()),
            }
        }
    }

    /// Retention, time-based rolls, session recovery, and keeping the broker list current.
    async fn housekeeping(self: Arc<Self>) {
        let check =
            Duration::from_millis(self.config.log.retention_check_interval_ms.max(1) as u64);
        let mut retention = tokio::time::interval(check);
        let mut cluster = tokio::time::interval(cluster::CLUSTER_POLL);
        cluster.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let isr_every = (self.config.replica_lag_time_max_ms / 4).clamp(50, 1000) as u64;
        let mut isr = tokio::time::interval(Duration::from_millis(isr_every));
        let rebalance_every = self
            .config
            .leader_imbalance_check_interval_seconds
            .clamp(1, 86_400) as u64;
        let mut rebalance = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(rebalance_every),
            Duration::from_secs(rebalance_every),
        );
        let mut dynamic = tokio::time::interval(dynamic_config::DYNAMIC_CONFIG_POLL);
        dynamic.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut hw_checkpoint = tokio::time::interval(Duration::from_millis(
            self.config
                .replica_high_watermark_checkpoint_interval_ms
                .clamp(100, 86_400_000) as u64,
        ));
        hw_checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut session = self.zk.client().state_watcher();
        let mut last_round = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = dynamic.tick() => {
                    if let Err(e) = self.follow_dynamic_configs().await {
                        tracing::warn!("reading dynamic broker configs: {e}");
                    }
                }
                state = session.changed() => {
                    if state.is_terminated() {
                        tracing::warn!("ZooKeeper session ended ({state:?}); opening a new session and registering again");
                        self.recover_session().await;
                        session = self.zk.client().state_watcher();
                    }
                }
                _ = retention.tick() => {
                    let now = now_ms();
                    for p in self.replicas.all() {
                        p.with_log_mut(|l| {
                            if let Err(e) = l.maybe_roll(now).and_then(|_| l.enforce_retention(now)) {
                                tracing::warn!("retention of {}-{}: {e}", p.topic, p.index);
                            }
                        });
                    }
                }
                _ = cluster.tick() => {
                    last_round = tokio::time::Instant::now();
                    if let Err(e) = self.cluster_round().await {
                        tracing::warn!("following the cluster state in ZooKeeper: {e}");
                    }
                }
                _ = self.poll_now.notified() => {
                    // At most one extra round per 50 ms, however many
                    // misaddressed requests arrive.
                    if last_round.elapsed() >= Duration::from_millis(50) {
                        last_round = tokio::time::Instant::now();
                        if let Err(e) = self.cluster_round().await {
                            tracing::warn!("following the cluster state in ZooKeeper: {e}");
                        }
                    }
                }
                _ = isr.tick() => self.update_isrs().await,
                _ = hw_checkpoint.tick() => {
                    let files = self.high_watermark_checkpoints();
                    let _ = tokio::task::spawn_blocking(move || write_checkpoints(files)).await;
                }
                _ = rebalance.tick() => self.rebalance_leaders().await,
            }
        }
    }
}

impl Broker {
    /// Every hosted partition's high watermark, as the contents of each log
    /// directory's `replication-offset-checkpoint`.
    fn high_watermark_checkpoints(&self) -> Vec<(std::path::PathBuf, String)> {
        let hws: Vec<(crate::log::TopicPartition, i64)> = self
            .replicas
            .all()
            .iter()
            .map(|p| {
                (
                    crate::log::TopicPartition::new(&*p.topic, p.index),
                    p.high_watermark(),
                )
            })
            .collect();
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .high_watermark_checkpoints(&hws)
    }
}

/// Writes `replication-offset-checkpoint` files (atomically: a crash leaves
/// the previous one); a failure is warned about, the next round retries.
fn write_checkpoints(files: Vec<(std::path::PathBuf, String)>) {
    for (dir, text) in files {
        let name = crate::log::checkpoint::HIGH_WATERMARK_FILE;
        if let Err(e) = crate::log::checkpoint::write_atomically(&dir, name, text.as_bytes()) {
            tracing::warn!("writing {}: {e}", dir.join(name).display());
        }
    }
}

/// The group coordinator's settings from the broker's.
fn coordinator_config(c: &BrokerConfig) -> CoordinatorConfig {
    CoordinatorConfig {
        min_session_timeout_ms: c.group_min_session_timeout_ms,
        max_session_timeout_ms: c.group_max_session_timeout_ms,
        initial_rebalance_delay_ms: c.group_initial_rebalance_delay_ms,
        max_group_size: c.group_max_size,
        max_metadata_bytes: c.offset_metadata_max_bytes.max(0) as usize,
        offsets_retention_ms: i64::from(c.offsets_retention_minutes) * 60_000,
    }
}

/// Checks an explicit assignment: partitions 0..n, non-empty, distinct, live brokers.
fn validate_assignment(
    explicit: &[(i32, Vec<i32>)],
    live: &[i32],
) -> Result<Vec<Vec<i32>>, ApiError> {
    let bad = |m: String| ApiError::new(ResponseError::InvalidReplicaAssignment, m);
    let mut out = Vec::with_capacity(explicit.len());
    for (i, (p, replicas)) in explicit.iter().enumerate() {
        if *p != i as i32 {
            return Err(bad(
                "partitions should be a consecutive 0-based integer sequence".into(),
            ));
        }
        if replicas.is_empty() {
            return Err(bad(format!("replica list for partition {p} is empty")));
        }
        let mut distinct = replicas.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != replicas.len() {
            return Err(bad(format!(
                "duplicate brokers in the replica list of partition {p}"
            )));
        }
        if let Some(missing) = replicas.iter().find(|r| !live.contains(r)) {
            return Err(bad(format!(
                "broker {missing} in the assignment of partition {p} is not alive"
            )));
        }
        out.push(replicas.clone());
    }
    if let Some(first) = out.first() {
        if out.iter().any(|r| r.len() != first.len()) {
            return Err(bad(
                "all partitions must have the same number of replicas".into()
            ));
        }
    }
    Ok(out)
}
