//! Cluster metadata in ZooKeeper, in Kafka's own znode layout, through the
//! `zookeeper-client` crate. Works against Apache ZooKeeper and `rill keeper`.

use std::collections::BTreeMap;
use std::time::Duration;

use zookeeper_client as zk;

use super::znode::{self, paths};

const PERSISTENT: zk::CreateOptions<'static> =
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
const EPHEMERAL: zk::CreateOptions<'static> =
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
const SEQUENTIAL: zk::CreateOptions<'static> =
    zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());

#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    #[error("ZooKeeper {op} {path}: {source}")]
    Zk {
        op: &'static str,
        path: String,
        #[source]
        source: zk::Error,
    },
    #[error("cannot connect to ZooKeeper at {connect} within {timeout_ms} ms: {source}")]
    Connect {
        connect: String,
        timeout_ms: u64,
        #[source]
        source: zk::Error,
    },
    #[error("malformed JSON in znode {path}: {reason}")]
    Json { path: String, reason: String },
    #[error("broker id {0} is already registered in ZooKeeper (/brokers/ids/{0}): another broker uses this broker.id")]
    BrokerIdTaken(i32),
}

fn zk_err<'a>(op: &'static str, path: &'a str) -> impl FnOnce(zk::Error) -> ZkError + 'a {
    move |source| ZkError::Zk {
        op,
        path: path.to_owned(),
        source,
    }
}

fn parse<T: serde::de::DeserializeOwned>(path: &str, data: &[u8]) -> Result<T, ZkError> {
    serde_json::from_slice(data).map_err(|e| ZkError::Json {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("znode records serialize")
}

/// The controller epoch this broker won, with `/controller_epoch`'s znode
/// version: writes checked against it fail once another controller is elected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerFence {
    pub epoch: i32,
    pub version: i32,
}

/// The outcome of a conditional partition state write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateWrite {
    /// Written; the znode's new version.
    Written(i32),
    /// The state znode changed meanwhile: re-read it.
    Conflict,
    /// Another controller was elected meanwhile.
    Fenced,
}

/// A session with the ensemble plus Kafka's layout operations. After the
/// session expires, [`ZkStore::reconnect`] replaces it with a new one.
pub struct ZkStore {
    connect: String,
    session_timeout: Duration,
    connection_timeout: Duration,
    current: std::sync::RwLock<zk::Client>,
}

impl ZkStore {
    /// Connects to `host:port,...[/chroot]`, creating the chroot if missing (as Kafka does).
    pub async fn connect(
        connect: &str,
        session_timeout: Duration,
        connection_timeout: Duration,
    ) -> Result<Self, ZkError> {
        let client = Self::open(connect, session_timeout, connection_timeout).await?;
        Ok(ZkStore {
            connect: connect.to_owned(),
            session_timeout,
            connection_timeout,
            current: std::sync::RwLock::new(client),
        })
    }

    async fn open(
        connect: &str,
        session_timeout: Duration,
        connection_timeout: Duration,
    ) -> Result<zk::Client, ZkError> {
        let (hosts, chroot) = match connect.find('/') {
            Some(i) => (&connect[..i], Some(&connect[i..])),
            None => (connect, None),
        };
        let connector = || {
            zk::Client::connector()
                .with_session_timeout(session_timeout)
                .with_connection_timeout(connection_timeout)
        };
        let connect_err = |source| ZkError::Connect {
            connect: connect.to_owned(),
            timeout_ms: connection_timeout.as_millis() as u64,
            source,
        };
        if let Some(chroot) = chroot.filter(|c| *c != "/") {
            let root = connector().connect(hosts).await.map_err(connect_err)?;
            match root.mkdir(chroot, &PERSISTENT).await {
                Ok(()) | Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(zk_err("create", chroot)(e)),
            }
        }
        connector().connect(connect).await.map_err(connect_err)
    }

    /// Opens a new session in place of an expired one.
    pub async fn reconnect(&self) -> Result<(), ZkError> {
        let client =
            Self::open(&self.connect, self.session_timeout, self.connection_timeout).await?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = client;
        Ok(())
    }

    /// The current session's client (a cheap handle).
    pub fn client(&self) -> zk::Client {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Creates Kafka's persistent top-level paths.
    pub async fn ensure_top_level_paths(&self) -> Result<(), ZkError> {
        for p in paths::TOP_LEVEL {
            self.mkdir(p).await?;
        }
        Ok(())
    }

    async fn mkdir(&self, path: &str) -> Result<(), ZkError> {
        match self.client().mkdir(path, &PERSISTENT).await {
            Ok(()) | Err(zk::Error::NodeExists) => Ok(()),
            Err(e) => Err(zk_err("create", path)(e)),
        }
    }

    async fn get(&self, path: &str) -> Result<Option<(Vec<u8>, zk::Stat)>, ZkError> {
        match self.client().get_data(path).await {
            Ok(v) => Ok(Some(v)),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(zk_err("get", path)(e)),
        }
    }

    async fn children(&self, path: &str) -> Result<Vec<String>, ZkError> {
        match self.client().list_children(path).await {
            Ok(v) => Ok(v),
            Err(zk::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(zk_err("ls", path)(e)),
        }
    }

    async fn create(
        &self,
        path: &str,
        data: &[u8],
        opts: &zk::CreateOptions<'_>,
    ) -> Result<bool, ZkError> {
        match self.client().create(path, data, opts).await {
            Ok(_) => Ok(true),
            Err(zk::Error::NodeExists) => Ok(false),
            Err(e) => Err(zk_err("create", path)(e)),
        }
    }

    async fn delete_recursive(&self, path: &str) -> Result<(), ZkError> {
        for child in self.children(path).await? {
            Box::pin(self.delete_recursive(&format!("{path}/{child}"))).await?;
        }
        match self.client().delete(path, None).await {
            Ok(()) | Err(zk::Error::NoNode) => Ok(()),
            Err(e) => Err(zk_err("delete", path)(e)),
        }
    }

    /// The cluster id from `/cluster/id`, created on first start.
    pub async fn cluster_id(&self) -> Result<String, ZkError> {
        loop {
            if let Some((data, _)) = self.get(paths::CLUSTER_ID).await? {
                let id: znode::ClusterId = parse(paths::CLUSTER_ID, &data)?;
                return Ok(id.id);
            }
            self.mkdir("/cluster").await?;
            let id = znode::ClusterId {
                version: "1".into(),
                id: znode::new_cluster_id(),
            };
            self.create(paths::CLUSTER_ID, &json(&id), &PERSISTENT)
                .await?;
        }
    }

    /// Registers this broker as the ephemeral `/brokers/ids/N`; returns the
    /// broker epoch (the znode's czxid), as Kafka does.
    pub async fn register_broker(
        &self,
        id: i32,
        reg: &znode::BrokerRegistration,
    ) -> Result<i64, ZkError> {
        let path = paths::broker(id);
        match self.client().create(&path, &json(reg), &EPHEMERAL).await {
            Ok((stat, _)) => Ok(stat.czxid),
            Err(zk::Error::NodeExists) => match self.client().check_stat(&path).await {
                // Ours already (a retried create after a reconnect).
                Ok(Some(stat)) if stat.ephemeral_owner == self.session_id() => Ok(stat.czxid),
                Ok(None) => Box::pin(self.register_broker(id, reg)).await,
                _ => Err(ZkError::BrokerIdTaken(id)),
            },
            Err(e) => Err(zk_err("create", &path)(e)),
        }
    }

    fn session_id(&self) -> i64 {
        self.client().session_id().0
    }

    /// Removes this session's own ephemerals (`/brokers/ids/N`, `/controller`)
    /// at a clean shutdown, so a restart need not wait for the session to expire.
    pub async fn deregister(&self, id: i32) {
        let work = async {
            for path in [paths::broker(id), paths::CONTROLLER.to_owned()] {
                if let Ok(Some(stat)) = self.client().check_stat(&path).await {
                    if stat.ephemeral_owner == self.session_id() {
                        let _ = self.client().delete(&path, None).await;
                    }
                }
            }
        };
        // An unreachable ensemble must not hold up shutdown: the session
        // then expires on its own and takes the ephemerals with it.
        if tokio::time::timeout(std::time::Duration::from_secs(2), work)
            .await
            .is_err()
        {
            tracing::warn!(
                "ZooKeeper did not answer at shutdown; /brokers/ids/{id} goes when the session expires"
            );
        }
    }

    /// Live brokers: registration and broker epoch (the znode's czxid, which
    /// changes when a broker registers again after a restart).
    pub async fn brokers(
        &self,
    ) -> Result<BTreeMap<i32, (znode::BrokerRegistration, i64)>, ZkError> {
        let ids: Vec<i32> = self
            .children(paths::BROKER_IDS)
            .await?
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
        let paths: Vec<String> = ids.iter().map(|id| paths::broker(*id)).collect();
        let reads = futures::future::join_all(paths.iter().map(|p| self.get(p))).await;
        let mut out = BTreeMap::new();
        for ((id, path), read) in ids.into_iter().zip(&paths).zip(reads) {
            if let Some((data, stat)) = read? {
                out.insert(id, (parse(path, &data)?, stat.czxid));
            }
        }
        Ok(out)
    }

    /// The controller's broker id from `/controller`, if one is elected.
    pub async fn controller(&self) -> Result<Option<i32>, ZkError> {
        match self.get(paths::CONTROLLER).await? {
            Some((data, _)) => Ok(Some(
                parse::<znode::ControllerRegistration>(paths::CONTROLLER, &data)?.brokerid,
            )),
            None => Ok(None),
        }
    }

    /// `/controller_epoch`'s value and znode version (the controller's fence).
    pub async fn controller_epoch_fence(&self) -> Result<Option<ControllerFence>, ZkError> {
        Ok(self
            .get(paths::CONTROLLER_EPOCH)
            .await?
            .and_then(|(d, stat)| {
                let epoch = String::from_utf8_lossy(&d).trim().parse().ok()?;
                Some(ControllerFence {
                    epoch,
                    version: stat.version,
                })
            }))
    }

    /// Several partition states at once (`None` where missing).
    pub async fn partition_states(
        &self,
        keys: &[(String, i32)],
    ) -> Result<Vec<Option<(znode::PartitionState, i32)>>, ZkError> {
        futures::future::join_all(keys.iter().map(|(t, p)| self.partition_state(t, *p)))
            .await
            .into_iter()
            .collect()
    }

    /// Replaces a partition state if its znode is still at `expected_version`
    /// and, with a `fence`, if `/controller_epoch` is still at the fence's
    /// version (one ZooKeeper multi, as Kafka's controller writes).
    pub async fn write_partition_state(
        &self,
        topic: &str,
        partition: i32,
        state: &znode::PartitionState,
        expected_version: i32,
        fence: Option<ControllerFence>,
    ) -> Result<StateWrite, ZkError> {
        let path = paths::partition_state(topic, partition);
        self.conditional_sets(&[(path, json(state), expected_version)], fence)
            .await
    }

    /// The last step of a reassignment, as one multi fenced by the
    /// controller epoch: the partition state (new leader, ISR shrunk to the
    /// target) and the topic's assignment (the target, no adding/removing),
    /// each only if unchanged since read. `Written` carries the state's
    /// new version.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_reassignment(
        &self,
        topic: &str,
        partition: i32,
        state: &znode::PartitionState,
        state_version: i32,
        assignment: &znode::TopicAssignment,
        topic_version: i32,
        fence: ControllerFence,
    ) -> Result<StateWrite, ZkError> {
        let sets = [
            (
                paths::partition_state(topic, partition),
                json(state),
                state_version,
            ),
            (paths::topic(topic), json(assignment), topic_version),
        ];
        self.conditional_sets(&sets, Some(fence)).await
    }

    /// Sets each `(path, data, expected version)` in one multi, after a
    /// check of the controller fence if given. `Written` carries the first
    /// znode's new version.
    async fn conditional_sets(
        &self,
        sets: &[(String, Vec<u8>, i32)],
        fence: Option<ControllerFence>,
    ) -> Result<StateWrite, ZkError> {
        let path = sets.first().map(|(p, _, _)| p.as_str()).unwrap_or("");
        let client = self.client();
        let mut multi = client.new_multi_writer();
        let mut built = match fence {
            Some(f) => multi.add_check_version(paths::CONTROLLER_EPOCH, f.version),
            None => Ok(()),
        };
        for (p, data, version) in sets {
            built = built.and_then(|()| multi.add_set_data(p, data, Some(*version)));
        }
        built.map_err(zk_err("multi", path))?;
        match multi.commit().await {
            Ok(results) => Ok(StateWrite::Written(
                results
                    .iter()
                    .find_map(|r| match r {
                        zk::MultiWriteResult::SetData { stat } => Some(stat.version),
                        _ => None,
                    })
                    .unwrap_or(sets.first().map_or(0, |s| s.2 + 1)),
            )),
            Err(zk::MultiWriteError::OperationFailed { index, source }) => match source {
                zk::Error::BadVersion if index == 0 && fence.is_some() => Ok(StateWrite::Fenced),
                zk::Error::BadVersion | zk::Error::NoNode => Ok(StateWrite::Conflict),
                e => Err(zk_err("multi", path)(e)),
            },
            Err(e) => Err(zk_err("multi", path)(e.into())),
        }
    }

    /// Becomes controller if nobody is; returns the controller's broker id.
    pub async fn elect_controller(&self, id: i32, now_ms: i64) -> Result<i32, ZkError> {
        let reg = znode::ControllerRegistration {
            version: 1,
            brokerid: id,
            timestamp: now_ms.to_string(),
        };
        if self
            .create(paths::CONTROLLER, &json(&reg), &EPHEMERAL)
            .await?
        {
            let epoch = match self.get(paths::CONTROLLER_EPOCH).await? {
                Some((data, _)) => {
                    String::from_utf8_lossy(&data)
                        .trim()
                        .parse::<i32>()
                        .unwrap_or(0)
                        + 1
                }
                None => 1,
            };
            let data = epoch.to_string();
            if !self
                .create(paths::CONTROLLER_EPOCH, data.as_bytes(), &PERSISTENT)
                .await?
            {
                self.client()
                    .set_data(paths::CONTROLLER_EPOCH, data.as_bytes(), None)
                    .await
                    .map_err(zk_err("set", paths::CONTROLLER_EPOCH))?;
            }
            return Ok(id);
        }
        match self.get(paths::CONTROLLER).await? {
            Some((data, _)) => {
                Ok(parse::<znode::ControllerRegistration>(paths::CONTROLLER, &data)?.brokerid)
            }
            None => Ok(-1),
        }
    }

    pub async fn controller_epoch(&self) -> Result<i32, ZkError> {
        Ok(self
            .get(paths::CONTROLLER_EPOCH)
            .await?
            .and_then(|(d, _)| String::from_utf8_lossy(&d).trim().parse().ok())
            .unwrap_or(0))
    }

    pub async fn topic_names(&self) -> Result<Vec<String>, ZkError> {
        self.children(paths::BROKER_TOPICS).await
    }

    pub async fn topic(&self, name: &str) -> Result<Option<znode::TopicAssignment>, ZkError> {
        Ok(self.topic_with_version(name).await?.map(|(a, _)| a))
    }

    /// The topic's assignment with its znode version (for conditional writes).
    pub async fn topic_with_version(
        &self,
        name: &str,
    ) -> Result<Option<(znode::TopicAssignment, i32)>, ZkError> {
        let path = paths::topic(name);
        match self.get(&path).await? {
            Some((data, stat)) => Ok(Some((parse(&path, &data)?, stat.version))),
            None => Ok(None),
        }
    }

    /// Several topics' assignments at once (`None` where missing).
    pub async fn topics_with_versions(
        &self,
        names: &[String],
    ) -> Result<Vec<Option<(znode::TopicAssignment, i32)>>, ZkError> {
        futures::future::join_all(names.iter().map(|n| self.topic_with_version(n)))
            .await
            .into_iter()
            .collect()
    }

    /// Replaces a topic's assignment (a reassignment, CreatePartitions) if
    /// its znode is still at `expected_version`; `false` if it changed (or
    /// vanished) meanwhile.
    pub async fn set_topic_assignment_if(
        &self,
        name: &str,
        assignment: &znode::TopicAssignment,
        expected_version: i32,
    ) -> Result<bool, ZkError> {
        let path = paths::topic(name);
        match self
            .client()
            .set_data(&path, &json(assignment), Some(expected_version))
            .await
        {
            Ok(_) => Ok(true),
            Err(zk::Error::BadVersion | zk::Error::NoNode) => Ok(false),
            Err(e) => Err(zk_err("set", &path)(e)),
        }
    }

    /// `/admin/reassign_partitions` (Kafka 2.x tools) and its version, if present.
    pub async fn legacy_reassignment(
        &self,
    ) -> Result<Option<(znode::LegacyReassignment, i32)>, ZkError> {
        let path = paths::REASSIGN_PARTITIONS;
        match self.get(path).await? {
            Some((data, stat)) => Ok(Some((parse(path, &data)?, stat.version))),
            None => Ok(None),
        }
    }

    /// Rewrites `/admin/reassign_partitions` with the partitions still to
    /// finish, or deletes it when none are left (conditionally on `version`).
    pub async fn update_legacy_reassignment(
        &self,
        remaining: &znode::LegacyReassignment,
        version: i32,
    ) -> Result<(), ZkError> {
        let path = paths::REASSIGN_PARTITIONS;
        let result = if remaining.partitions.is_empty() {
            self.client().delete(path, Some(version)).await
        } else {
            self.client()
                .set_data(path, &json(remaining), Some(version))
                .await
                .map(|_| ())
        };
        match result {
            Ok(()) | Err(zk::Error::BadVersion | zk::Error::NoNode) => Ok(()),
            Err(e) => Err(zk_err("set", path)(e)),
        }
    }

    pub async fn partition_state(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Option<(znode::PartitionState, i32)>, ZkError> {
        let path = paths::partition_state(topic, partition);
        match self.get(&path).await? {
            Some((data, stat)) => Ok(Some((parse(&path, &data)?, stat.version))),
            None => Ok(None),
        }
    }

    pub async fn topic_config(&self, name: &str) -> Result<BTreeMap<String, String>, ZkError> {
        self.entity_config("topics", name).await
    }

    /// `/config/brokers/<entity>`: a broker id or `<default>`.
    pub async fn broker_config(&self, entity: &str) -> Result<BTreeMap<String, String>, ZkError> {
        self.entity_config("brokers", entity).await
    }

    /// `/config/<kind>/<name>` (empty when absent).
    async fn entity_config(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<BTreeMap<String, String>, ZkError> {
        let path = format!("/config/{kind}/{name}");
        match self.get(&path).await? {
            Some((data, _)) => Ok(parse::<znode::EntityConfig>(&path, &data)?.config),
            None => Ok(BTreeMap::new()),
        }
    }

    /// Writes a topic as Kafka's admin client does: its config, then its
    /// assignment. `false` if the topic already exists.
    pub async fn create_topic(
        &self,
        name: &str,
        assignment: &znode::TopicAssignment,
        config: &BTreeMap<String, String>,
    ) -> Result<bool, ZkError> {
        if self.get(&paths::topic(name)).await?.is_some() {
            return Ok(false);
        }
        let cfg_path = paths::topic_config(name);
        let cfg = json(&znode::EntityConfig::new(config.clone()));
        if !self.create(&cfg_path, &cfg, &PERSISTENT).await? {
            self.client()
                .set_data(&cfg_path, &cfg, None)
                .await
                .map_err(zk_err("set", &cfg_path))?;
        }
        self.create(&paths::topic(name), &json(assignment), &PERSISTENT)
            .await
    }

    /// Writes the leader/ISR state of a new partition.
    pub async fn create_partition_state(
        &self,
        topic: &str,
        partition: i32,
        state: &znode::PartitionState,
    ) -> Result<(), ZkError> {
        self.mkdir(&paths::partition(topic, partition)).await?;
        let path = paths::partition_state(topic, partition);
        if !self.create(&path, &json(state), &PERSISTENT).await? {
            self.client()
                .set_data(&path, &json(state), None)
                .await
                .map_err(zk_err("set", &path))?;
        }
        Ok(())
    }

    /// Stores topic config overrides and posts a change notification.
    pub async fn set_topic_config(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), ZkError> {
        self.set_entity_config("topics", name, config).await
    }

    /// Stores dynamic broker configs (`entity`: a broker id or `<default>`)
    /// and posts a change notification, as `kafka-configs.sh` does.
    pub async fn set_broker_config(
        &self,
        entity: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), ZkError> {
        self.set_entity_config("brokers", entity, config).await
    }

    /// Writes `/config/<kind>/<name>`, then `/config/changes/config_change_N`
    /// naming `<kind>/<name>` (Kafka's change notification, version 2).
    async fn set_entity_config(
        &self,
        kind: &str,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), ZkError> {
        let path = format!("/config/{kind}/{name}");
        let data = json(&znode::EntityConfig::new(config.clone()));
        if !self.create(&path, &data, &PERSISTENT).await? {
            self.client()
                .set_data(&path, &data, None)
                .await
                .map_err(zk_err("set", &path))?;
        }
        let change = znode::ConfigChange {
            version: 2,
            entity_path: format!("{kind}/{name}"),
        };
        let change_path = format!("{}/config_change_", paths::CONFIG_CHANGES);
        self.create(&change_path, &json(&change), &SEQUENTIAL)
            .await?;
        Ok(())
    }

    pub async fn mark_topic_for_deletion(&self, name: &str) -> Result<(), ZkError> {
        self.create(&paths::delete_topic(name), b"", &PERSISTENT)
            .await
            .map(|_| ())
    }

    pub async fn unmark_topic_for_deletion(&self, name: &str) -> Result<(), ZkError> {
        self.delete_recursive(&paths::delete_topic(name)).await
    }

    pub async fn topics_marked_for_deletion(&self) -> Result<Vec<String>, ZkError> {
        self.children(paths::DELETE_TOPICS).await
    }

    /// Removes every znode of a deleted topic (the controller's last step).
    pub async fn remove_topic(&self, name: &str) -> Result<(), ZkError> {
        self.delete_recursive(&paths::topic(name)).await?;
        self.delete_recursive(&paths::topic_config(name)).await?;
        self.delete_recursive(&paths::delete_topic(name)).await
    }
}
