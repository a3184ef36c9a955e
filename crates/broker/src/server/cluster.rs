//! The broker's part in the cluster, all through ZooKeeper (see the design
//! notes in [`crate::controller`]): following partition state znodes
//! (leadership, ISR) into the hosted replicas and the metadata cache,
//! running for controller and acting as one, writing the ISR changes this
//! broker makes as leader, and keeping one replica fetcher per leader.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;

use super::{codec_of, log_config, now_ms, Broker};
use crate::config::TopicLogConfig;
use crate::controller::reassign::{self, ReassignRefused};
use crate::controller::{
    elect_preferred, elect_unclean, imbalanced, reelect, ElectionRefused, LiveBrokers,
};
use crate::group::OFFSETS_TOPIC;
use crate::handlers::ApiError;
use crate::metadata::zk::{StateWrite, ZkError};
use crate::metadata::znode::{
    LegacyReassignment, PartitionState, ReplicaAssignment, TopicAssignment,
};
use crate::metadata::PartitionInfo;
use crate::replica::partition::{LeaderAndIsr, Partition, Role};

/// How often brokers poll `/controller`, `/brokers/ids` and the partition states.
pub const CLUSTER_POLL: Duration = Duration::from_millis(200);

impl Broker {
    /// One round of cluster work: controller election, the controller's
    /// failure handling, then following the partition states.
    pub(super) async fn cluster_round(self: &Arc<Self>) -> Result<(), ZkError> {
        let epochs = self.refresh_brokers().await?;
        self.follow_controller().await?;
        if self.is_controller() {
            self.handle_broker_changes(&epochs).await?;
        } else {
            self.lock_controller().known_brokers.clear();
        }
        let assignments = self.sync_topics().await?;
        self.sync_partition_states().await?;
        if self.is_controller() {
            self.advance_reassignments(&assignments).await?;
        }
        self.ensure_fetchers();
        Ok(())
    }

    fn lock_controller(&self) -> std::sync::MutexGuard<'_, super::ControllerState> {
        self.controller.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads `/controller`; runs for election when it is empty.
    pub(super) async fn follow_controller(&self) -> Result<(), ZkError> {
        let me = self.config.broker_id;
        let current = match self.zk.controller().await? {
            Some(id) => id,
            None => self.zk.elect_controller(me, now_ms()).await?,
        };
        let was = std::mem::replace(&mut self.metadata_mut().controller, current);
        if current == me && self.lock_controller().fence.is_none() {
            let fence = self.zk.controller_epoch_fence().await?;
            tracing::info!(
                "broker {me} is the controller (controller epoch {})",
                fence.map_or(-1, |f| f.epoch)
            );
            self.lock_controller().fence = fence;
        } else if current != me {
            if was == me {
                tracing::info!("broker {me} is no longer the controller (now {current})");
            }
            self.lock_controller().fence = None;
        }
        Ok(())
    }

    /// As controller: new leaders for the partitions led by brokers that
    /// failed (vanished or re-registered since the last round), failed
    /// brokers out of every ISR, offline partitions back online.
    async fn handle_broker_changes(&self, epochs: &BTreeMap<i32, i64>) -> Result<(), ZkError> {
        let Some(fence) = self.lock_controller().fence else {
            return Ok(());
        };
        let live: BTreeSet<i32> = epochs.keys().copied().collect();
        let bounced: BTreeSet<i32> = {
            let mut c = self.lock_controller();
            let bounced = epochs
                .iter()
                .filter(|(id, e)| c.known_brokers.get(id).is_some_and(|k| k != *e))
                .map(|(id, _)| *id)
                .collect();
            c.known_brokers = epochs.clone();
            bounced
        };
        let unclean_default = self.config.unclean_leader_election_enable;
        let healthy = |b: &i32| live.contains(b) && !bounced.contains(b);
        // Partitions whose cached state mentions a failed broker, or that are offline.
        let suspects: Vec<(String, i32, Vec<i32>, bool)> = self
            .metadata()
            .topics()
            .flat_map(|t| {
                let unclean = t
                    .config
                    .get("unclean.leader.election.enable")
                    .map_or(unclean_default, |v| v == "true");
                t.partitions
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| !healthy(&p.leader) || !p.isr.iter().all(healthy))
                    .map(move |(i, p)| (t.name.clone(), i as i32, p.replicas.clone(), unclean))
                    .collect::<Vec<_>>()
            })
            .collect();
        if suspects.is_empty() {
            return Ok(());
        }
        let keys: Vec<(String, i32)> = suspects
            .iter()
            .map(|(t, i, _, _)| (t.clone(), *i))
            .collect();
        let states = self.zk.partition_states(&keys).await?;
        let brokers = LiveBrokers {
            live: &live,
            bounced: &bounced,
        };
        for ((topic, index, replicas, unclean), state) in suspects.into_iter().zip(states) {
            let Some((state, version)) = state else {
                continue;
            };
            let Some(next) = reelect(&state, &replicas, &brokers, unclean, fence.epoch) else {
                continue;
            };
            match self
                .zk
                .write_partition_state(&topic, index, &next, version, Some(fence))
                .await?
            {
                StateWrite::Written(_) => tracing::info!(
                    "controller: {topic}-{index} leader {} -> {} (epoch {}), ISR {:?} -> {:?}",
                    state.leader,
                    next.leader,
                    next.leader_epoch,
                    state.isr,
                    next.isr
                ),
                StateWrite::Conflict => {
                    tracing::debug!("controller: {topic}-{index} changed meanwhile; next round")
                }
                StateWrite::Fenced => {
                    tracing::warn!("controller: another controller was elected; stepping down");
                    self.lock_controller().fence = None;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Loads topics created in ZooKeeper, drops topics deleted there and
    /// follows assignment changes; returns every topic's assignment as read
    /// (with its znode version) for the controller's reassignment work.
    async fn sync_topics(&self) -> Result<Vec<(String, TopicAssignment, i32)>, ZkError> {
        let names: BTreeSet<String> = self.zk.topic_names().await?.into_iter().collect();
        for name in &names {
            if self.metadata().topic(name).is_none() {
                let _guard = self.admin.lock().await;
                if self.metadata().topic(name).is_none() {
                    if let Err(e) = self.load_topic(name).await {
                        tracing::warn!("loading topic {name}: {e}");
                    }
                }
            }
        }
        let gone: Vec<String> = self
            .metadata()
            .topics()
            .filter(|t| !names.contains(&t.name))
            .map(|t| t.name.clone())
            .collect();
        for name in gone {
            let _guard = self.admin.lock().await;
            if self.zk.topic(&name).await?.is_none() {
                tracing::info!("topic {name} was deleted; removing its local replicas");
                self.drop_local_topic(&name);
            }
        }
        if self.is_controller() {
            self.carry_out_deletions().await?;
        }
        // Every topic's assignment, each round: partitions added by another
        // broker (CreatePartitions) and replica sets changed by a
        // reassignment.
        let known: Vec<(String, usize)> = self
            .metadata()
            .topics()
            .map(|t| (t.name.clone(), t.partitions.len()))
            .collect();
        let names: Vec<String> = known.iter().map(|(n, _)| n.clone()).collect();
        let reads = self.zk.topics_with_versions(&names).await?;
        let mut assignments = Vec::with_capacity(reads.len());
        for ((name, count), read) in known.into_iter().zip(reads) {
            let Some((assignment, version)) = read else {
                continue;
            };
            let Some(replicas) = assignment.replicas() else {
                continue;
            };
            if replicas.len() > count {
                let _guard = self.admin.lock().await;
                tracing::info!("topic {name} has new partitions; loading them");
                if let Err(e) = self.load_topic(&name).await {
                    tracing::warn!("loading topic {name}: {e}");
                }
            } else {
                self.update_cached_replicas(&name, &replicas);
            }
            assignments.push((name, assignment, version));
        }
        self.drop_stray_logs();
        Ok(assignments)
    }

    /// Deletes local logs of partitions whose replica set does not name
    /// this broker: moved away while it was down (a running broker drops
    /// them when it sees the new assignment).
    fn drop_stray_logs(&self) {
        let me = self.config.broker_id;
        let on_disk = self
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .partitions();
        for tp in on_disk {
            if self.replicas.get(&tp.topic, tp.partition).is_some() {
                continue;
            }
            let stray = self.metadata().topic(&tp.topic).is_some_and(|t| {
                t.partitions
                    .get(tp.partition as usize)
                    .is_some_and(|p| !p.replicas.is_empty() && !p.replicas.contains(&me))
            });
            if stray {
                self.delete_local_log(
                    &tp.topic,
                    tp.partition,
                    "not a replica here any more (moved while this broker was away)",
                );
            }
        }
    }

    /// Deletes a partition's local log directory; `why` goes to the log line.
    fn delete_local_log(&self, topic: &str, index: i32, why: &str) {
        let deleted = self
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .delete(topic, index);
        match deleted {
            Ok(true) => tracing::info!("{topic}-{index}: {why}; its log is deleted"),
            Ok(false) => {}
            Err(e) => tracing::warn!("deleting the log of {topic}-{index}: {e}"),
        }
    }

    /// Takes replica sets changed in ZooKeeper into the metadata cache; the
    /// partition state sync then applies them to the hosted replicas.
    fn update_cached_replicas(&self, topic: &str, replicas: &BTreeMap<i32, Vec<i32>>) {
        let mut meta = self.metadata_mut();
        let Some(current) = meta.topic(topic).cloned() else {
            return;
        };
        let changed = current
            .partitions
            .iter()
            .enumerate()
            .any(|(i, p)| replicas.get(&(i as i32)).is_some_and(|r| *r != p.replicas));
        if !changed {
            return;
        }
        let mut info = (*current).clone();
        for (i, p) in info.partitions.iter_mut().enumerate() {
            if let Some(r) = replicas.get(&(i as i32)) {
                if *r != p.replicas {
                    tracing::info!("{topic}-{i}: replicas {:?} -> {r:?}", p.replicas);
                    p.replicas = r.clone();
                }
            }
        }
        meta.put_topic(info);
    }

    /// Re-reads every partition state and applies the changed ones.
    async fn sync_partition_states(self: &Arc<Self>) -> Result<(), ZkError> {
        let topics: Vec<_> = self.metadata().topics().cloned().collect();
        let keys: Vec<(String, i32)> = topics
            .iter()
            .flat_map(|t| (0..t.partitions.len() as i32).map(|i| (t.name.clone(), i)))
            .collect();
        let states = self.zk.partition_states(&keys).await?;
        for ((topic, index), state) in keys.into_iter().zip(states) {
            let Some((state, version)) = state else {
                continue;
            };
            let Some(info) = topics.iter().find(|t| t.name == topic) else {
                continue;
            };
            let cached = &info.partitions[index as usize];
            let hosted = self.replicas.get(&topic, index);
            let assigned = cached.replicas.contains(&self.config.broker_id);
            let changed = cached.leader != state.leader
                || cached.leader_epoch != state.leader_epoch
                || cached.isr != state.isr
                || hosted.is_some() != assigned
                || hosted.as_ref().is_some_and(|p| {
                    p.state_version() < version || p.assigned() != cached.replicas
                });
            if changed {
                if let Err(e) = self.apply_state(
                    &topic,
                    &info.config,
                    index,
                    &cached.replicas,
                    &state,
                    version,
                ) {
                    tracing::warn!("{topic}-{index}: {e}");
                }
            }
        }
        Ok(())
    }

    /// Applies one partition state znode: the metadata cache, and when this
    /// broker is a replica, the hosted partition's role (opening its log on
    /// first sight); a hosted partition whose replica set no longer names
    /// this broker (reassigned away) is dropped with its log. States with an
    /// older leader epoch than known are ignored.
    pub(super) fn apply_state(
        &self,
        topic: &str,
        config: &BTreeMap<String, String>,
        index: i32,
        replicas: &[i32],
        state: &PartitionState,
        version: i32,
    ) -> Result<(), String> {
        let me = self.config.broker_id;
        if replicas.contains(&me) {
            let p = match self.replicas.get(topic, index) {
                Some(p) => p,
                None => {
                    let p = self.host_partition(topic, config, index)?;
                    // A state read before a concurrent deletion must not
                    // bring the log back: the deletion forgets the topic
                    // before dropping its replicas, so checking after the
                    // insert catches it either way.
                    if self.metadata().topic(topic).is_none() {
                        self.drop_local_partition(topic, index);
                        return Ok(());
                    }
                    p
                }
            };
            self.apply_role(&p, replicas, state, version);
        } else if !replicas.is_empty() {
            self.drop_local_partition(topic, index);
        }
        self.update_cached_partition(topic, index, replicas, state);
        Ok(())
    }

    /// Stops hosting a partition this broker is no longer a replica of and
    /// deletes its log directory (Kafka's StopReplica with delete=true).
    pub(super) fn drop_local_partition(&self, topic: &str, index: i32) {
        let Some(p) = self.replicas.remove(topic, index) else {
            return;
        };
        p.stop();
        if topic == OFFSETS_TOPIC {
            self.groups.unload_partition(index);
        }
        self.replicas.notify_committed();
        self.replicas.notify_appended();
        self.delete_local_log(topic, index, "this broker is no longer a replica");
    }

    fn apply_role(
        &self,
        p: &Arc<Partition>,
        replicas: &[i32],
        state: &PartitionState,
        version: i32,
    ) {
        let me = self.config.broker_id;
        if state.leader_epoch < p.leader_epoch() {
            return;
        }
        let lai = LeaderAndIsr {
            leader: state.leader,
            leader_epoch: state.leader_epoch,
            isr: state.isr.clone(),
            controller_epoch: state.controller_epoch,
            version,
        };
        let role = p.role();
        let newer_epoch = state.leader_epoch > p.leader_epoch();
        let offsets = &*p.topic == OFFSETS_TOPIC;
        if state.leader == me {
            if role != Role::Leader || newer_epoch {
                p.become_leader(&lai, replicas, now_ms());
                tracing::info!(
                    "{}-{}: leading at epoch {} (ISR {:?}, log end {})",
                    p.topic,
                    p.index,
                    state.leader_epoch,
                    state.isr,
                    p.log_end_offset()
                );
                if offsets {
                    self.groups.load_partition(p, now_ms());
                }
            } else {
                p.update_isr(&state.isr, version, state.controller_epoch);
            }
        } else {
            let follow = Role::Follower {
                leader: state.leader,
            };
            if role != follow || newer_epoch {
                p.become_follower(&lai, replicas);
                tracing::info!(
                    "{}-{}: following broker {} at epoch {}",
                    p.topic,
                    p.index,
                    state.leader,
                    state.leader_epoch
                );
                if offsets && role == Role::Leader {
                    self.groups.unload_partition(p.index);
                }
            } else {
                p.update_isr(&state.isr, version, state.controller_epoch);
            }
        }
        p.set_assigned(replicas, now_ms());
        self.replicas.notify_committed();
    }

    fn update_cached_partition(
        &self,
        topic: &str,
        index: i32,
        replicas: &[i32],
        state: &PartitionState,
    ) {
        let mut meta = self.metadata_mut();
        let Some(current) = meta.topic(topic).cloned() else {
            return;
        };
        let mut info = (*current).clone();
        let entry = PartitionInfo {
            leader: state.leader,
            leader_epoch: state.leader_epoch,
            replicas: replicas.to_vec(),
            isr: state.isr.clone(),
        };
        match info.partitions.get_mut(index as usize) {
            Some(p) => *p = entry,
            None => return,
        }
        meta.put_topic(info);
    }

    /// Opens (or creates) the local log of a partition this broker
    /// replicates, once: concurrent callers (a topic's creation and the
    /// state sync) get the same hosted partition.
    pub(super) fn host_partition(
        &self,
        topic: &str,
        config: &BTreeMap<String, String>,
        index: i32,
    ) -> Result<Arc<Partition>, String> {
        self.replicas.get_or_insert_with(topic, index, || {
            let resolved = TopicLogConfig::resolve(&self.effective_config(), config)
                .map_err(|e| e.to_string())?;
            let (log, checkpointed_hw) = {
                let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
                let log = logs
                    .open_or_create(topic, index, log_config(&resolved))
                    .map_err(|e| format!("opening log {topic}-{index}: {e}"))?;
                (log, logs.take_high_watermark(topic, index))
            };
            let partition = Arc::new(Partition::hosted(
                Arc::from(topic),
                index,
                log,
                self.config.broker_id,
            ));
            if let Some(hw) = checkpointed_hw {
                partition.restore_high_watermark(hw);
            }
            partition.set_compression(codec_of(resolved.compression_type));
            partition.set_min_insync_replicas(resolved.min_insync_replicas);
            Ok(partition)
        })
    }

    /// As leader: stores ISR changes (lagging followers out, caught-up
    /// followers in) in the state znodes, conditionally on their version.
    pub(super) async fn update_isrs(&self) {
        let lag = self.config.replica_lag_time_max_ms.max(1);
        let me = self.config.broker_id;
        for p in self.replicas.all() {
            let Some(change) = p.isr_change(now_ms(), lag) else {
                continue;
            };
            let state = PartitionState {
                controller_epoch: change.controller_epoch,
                leader: me,
                version: 1,
                leader_epoch: change.leader_epoch,
                isr: change.isr.clone(),
            };
            let before = p.isr();
            match self
                .zk
                .write_partition_state(&p.topic, p.index, &state, change.expected_version, None)
                .await
            {
                Ok(StateWrite::Written(version)) => {
                    tracing::info!(
                        "{}-{}: ISR {:?} -> {:?}",
                        p.topic,
                        p.index,
                        before,
                        change.isr
                    );
                    p.update_isr(&change.isr, version, change.controller_epoch);
                    let replicas = self
                        .cached_assignment(&p.topic, p.index)
                        .map(|(_, replicas)| replicas)
                        .unwrap_or_default();
                    self.update_cached_partition(&p.topic, p.index, &replicas, &state);
                    self.replicas.notify_committed();
                }
                Ok(_) => {
                    // Someone else (the controller) wrote first: take theirs.
                    if let Ok(Some((state, version))) =
                        self.zk.partition_state(&p.topic, p.index).await
                    {
                        let Some((config, replicas)) = self.cached_assignment(&p.topic, p.index)
                        else {
                            continue;
                        };
                        let _ = self
                            .apply_state(&p.topic, &config, p.index, &replicas, &state, version);
                    }
                }
                Err(e) => tracing::warn!("writing the ISR of {}-{}: {e}", p.topic, p.index),
            }
        }
    }

    /// A partition's topic config and replica assignment from the metadata
    /// cache (empty replicas for an index the cache does not know yet);
    /// `None` once the topic is gone.
    fn cached_assignment(
        &self,
        topic: &str,
        index: i32,
    ) -> Option<(BTreeMap<String, String>, Vec<i32>)> {
        let meta = self.metadata();
        let t = meta.topic(topic)?;
        let replicas = t
            .partitions
            .get(index as usize)
            .map(|i| i.replicas.clone())
            .unwrap_or_default();
        Some((t.config.clone(), replicas))
    }

    /// `host:port` of a live broker.
    pub fn broker_address(&self, id: i32) -> Option<String> {
        self.metadata()
            .brokers
            .get(&id)
            .map(|b| format!("{}:{}", b.host, b.port))
    }

    /// One fetcher task per broker this broker follows partitions from.
    fn ensure_fetchers(self: &Arc<Self>) {
        let me = self.config.broker_id;
        let leaders: BTreeSet<i32> = self
            .replicas
            .all()
            .iter()
            .filter_map(|p| match p.role() {
                Role::Follower { leader } if leader >= 0 && leader != me => Some(leader),
                _ => None,
            })
            .collect();
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|e| e.into_inner());
        fetchers.retain(|_, h| !h.is_finished());
        for leader in leaders {
            fetchers.entry(leader).or_insert_with(|| {
                tracing::info!("starting a replica fetcher for broker {leader}");
                tokio::spawn(crate::replica::fetcher::run(self.clone(), leader))
            });
        }
    }

    /// Controlled shutdown (`controlled.shutdown.enable`): before leaving,
    /// this broker stops fetching and hands each leadership to the next
    /// live in-sync replica and leaves every ISR, by conditional writes of
    /// the state znodes (retried on conflicts), so clients move to the new
    /// leaders at once instead of waiting for the session to expire.
    /// Kafka asks the controller with ControlledShutdown (API 7); that API
    /// is ZooKeeper-mode only and absent from the protocol crate, and the
    /// conditional write gives the same safety: the new leader is in the
    /// ISR, and a concurrent controller decision wins the version race.
    /// Partitions with no other live in-sync replica stay led here.
    pub(super) async fn resign(&self) {
        let me = self.config.broker_id;
        self.stop_fetchers();
        let live: BTreeSet<i32> = self
            .metadata()
            .brokers
            .keys()
            .copied()
            .filter(|b| *b != me)
            .collect();
        if live.is_empty() {
            return;
        }
        let none = BTreeSet::new();
        let brokers = LiveBrokers {
            live: &live,
            bounced: &none,
        };
        let retries = self.config.controlled_shutdown_max_retries.max(1);
        let backoff = Duration::from_millis(
            self.config
                .controlled_shutdown_retry_backoff_ms
                .clamp(10, 5000) as u64,
        );
        let mut remaining: Vec<Arc<Partition>> = self.replicas.all();
        for attempt in 0..retries {
            let mut left = Vec::new();
            for p in remaining {
                let Some((config, replicas)) = self.cached_assignment(&p.topic, p.index) else {
                    continue;
                };
                let Ok(Some((state, version))) = self.zk.partition_state(&p.topic, p.index).await
                else {
                    left.push(p);
                    continue;
                };
                let Some(next) =
                    reelect(&state, &replicas, &brokers, false, state.controller_epoch)
                else {
                    continue;
                };
                if next.leader < 0 {
                    continue;
                }
                match self
                    .zk
                    .write_partition_state(&p.topic, p.index, &next, version, None)
                    .await
                {
                    Ok(StateWrite::Written(v)) => {
                        if state.leader == me {
                            tracing::info!(
                                "controlled shutdown: {}-{} handed to broker {} (epoch {})",
                                p.topic,
                                p.index,
                                next.leader,
                                next.leader_epoch
                            );
                        }
                        let _ = self.apply_state(&p.topic, &config, p.index, &replicas, &next, v);
                    }
                    _ => left.push(p),
                }
            }
            if left.is_empty() {
                return;
            }
            tracing::info!(
                "controlled shutdown: {} partition(s) still to move (attempt {})",
                left.len(),
                attempt + 1
            );
            remaining = left;
            tokio::time::sleep(backoff).await;
        }
        tracing::warn!(
            "controlled shutdown: giving up on {} partition(s)",
            remaining.len()
        );
    }

    /// ElectLeaders and leader rebalancing: preferred (or, on request,
    /// unclean) elections, written with the controller's fence on the
    /// controller and conditionally on the znode version everywhere, then
    /// applied here at once (the other brokers follow within a poll).
    pub async fn elect_leaders(
        &self,
        unclean: bool,
        partitions: &[(String, i32)],
    ) -> Vec<Result<(), ApiError>> {
        let mut out = Vec::with_capacity(partitions.len());
        for (topic, index) in partitions {
            out.push(self.elect_leader(unclean, topic, *index).await);
        }
        out
    }

    async fn elect_leader(&self, unclean: bool, topic: &str, index: i32) -> Result<(), ApiError> {
        let unknown = || {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("unknown topic-partition {topic}-{index}"),
            )
        };
        let (config, replicas) = {
            let meta = self.metadata();
            let t = meta.topic(topic).ok_or_else(unknown)?;
            let p = t.partitions.get(index as usize).ok_or_else(unknown)?;
            (t.config.clone(), p.replicas.clone())
        };
        let live: BTreeSet<i32> = self.metadata().brokers.keys().copied().collect();
        for _ in 0..3 {
            let (state, version) = self
                .zk
                .partition_state(topic, index)
                .await
                .map_err(super::zk_api_error)?
                .ok_or_else(unknown)?;
            let fence = self.lock_controller().fence;
            let controller_epoch = fence.map_or(state.controller_epoch, |f| f.epoch);
            let elected = if unclean {
                elect_unclean(&state, &replicas, &live, controller_epoch)
            } else {
                elect_preferred(&state, &replicas, &live, controller_epoch)
            };
            let next = elected.map_err(|e| refused(e, topic, index))?;
            match self
                .zk
                .write_partition_state(topic, index, &next, version, fence)
                .await
                .map_err(super::zk_api_error)?
            {
                StateWrite::Written(v) => {
                    tracing::info!(
                        "{} election: {topic}-{index} leader {} -> {} (epoch {})",
                        if unclean { "unclean" } else { "preferred" },
                        state.leader,
                        next.leader,
                        next.leader_epoch
                    );
                    self.apply_state(topic, &config, index, &replicas, &next, v)
                        .map_err(|m| ApiError::new(ResponseError::KafkaStorageError, m))?;
                    return Ok(());
                }
                StateWrite::Fenced => self.lock_controller().fence = None,
                StateWrite::Conflict => {}
            }
        }
        Err(ApiError::new(
            ResponseError::RequestTimedOut,
            format!("{topic}-{index} kept changing during the election; try again"),
        ))
    }

    /// As controller with `auto.leader.rebalance.enable`: preferred
    /// elections for brokers whose imbalance exceeds
    /// `leader.imbalance.per.broker.percentage`.
    pub(super) async fn rebalance_leaders(&self) {
        if !self.is_controller() || !self.config.auto_leader_rebalance_enable {
            return;
        }
        let all: Vec<(String, i32, Vec<i32>, i32)> = self
            .metadata()
            .topics()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (t.name.clone(), i as i32, p.replicas.clone(), p.leader))
                    .collect::<Vec<_>>()
            })
            .collect();
        let view: Vec<(&[i32], i32)> = all.iter().map(|(_, _, r, l)| (r.as_slice(), *l)).collect();
        let picks: Vec<(String, i32)> =
            imbalanced(&view, self.config.leader_imbalance_per_broker_percentage)
                .into_iter()
                .map(|i| (all[i].0.clone(), all[i].1))
                .collect();
        if picks.is_empty() {
            return;
        }
        tracing::info!(
            "leader rebalance: {} partition(s) away from their preferred leader",
            picks.len()
        );
        for ((topic, index), r) in picks.iter().zip(self.elect_leaders(false, &picks).await) {
            if let Err(e) = r {
                tracing::debug!("leader rebalance of {topic}-{index}: {}", e.message);
            }
        }
    }

    /// As controller: completes the reassignments whose target replicas are
    /// all in the ISR (`assignments` as read this round). Each completion is
    /// one fenced multi of the state and the topic znode, both conditional
    /// on the versions read; the brokers follow within a poll (the new
    /// leader leads, removed replicas drop their logs). Every fifth round
    /// also follows `/admin/reassign_partitions`.
    async fn advance_reassignments(
        &self,
        assignments: &[(String, TopicAssignment, i32)],
    ) -> Result<(), ZkError> {
        let Some(fence) = self.lock_controller().fence else {
            return Ok(());
        };
        let round = self
            .cluster_rounds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if round.is_multiple_of(5) {
            self.follow_legacy_reassignments(assignments).await?;
        }
        let live: BTreeSet<i32> = self.metadata().brokers.keys().copied().collect();
        for (topic, assignment, version) in assignments {
            let mut znode = assignment.clone();
            let mut version = *version;
            for (index, moving) in assignment.reassigning() {
                let Some((state, state_version)) = self.zk.partition_state(topic, index).await?
                else {
                    continue;
                };
                let Some(done) = reassign::complete(&state, &moving, &live, fence.epoch) else {
                    continue;
                };
                znode.set_assignment(index, &ReplicaAssignment::settled(done.replicas.clone()));
                let write = self
                    .zk
                    .complete_reassignment(
                        topic,
                        index,
                        &done.state,
                        state_version,
                        &znode,
                        version,
                        fence,
                    )
                    .await?;
                match write {
                    StateWrite::Written(_) => {
                        version += 1;
                        tracing::info!(
                            "controller: reassignment of {topic}-{index} done: replicas {:?} -> {:?}, leader {} -> {} (epoch {}), ISR {:?}",
                            moving.replicas,
                            done.replicas,
                            state.leader,
                            done.state.leader,
                            done.state.leader_epoch,
                            done.state.isr
                        );
                    }
                    StateWrite::Conflict => {
                        tracing::debug!("controller: {topic} changed meanwhile; next round");
                        break;
                    }
                    StateWrite::Fenced => {
                        tracing::warn!("controller: another controller was elected; stepping down");
                        self.lock_controller().fence = None;
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Kafka 2.x tools started reassignments by writing
    /// `/admin/reassign_partitions`: its partitions are started like
    /// AlterPartitionReassignments requests, and taken out of the znode once
    /// done (or refused); the znode goes when empty, as Kafka's controller does.
    async fn follow_legacy_reassignments(
        &self,
        assignments: &[(String, TopicAssignment, i32)],
    ) -> Result<(), ZkError> {
        let Some((legacy, version)) = self.zk.legacy_reassignment().await? else {
            return Ok(());
        };
        let current = |topic: &str, index: i32| {
            assignments
                .iter()
                .find(|(t, _, _)| t == topic)
                .and_then(|(_, a, _)| a.assignment(index))
        };
        let mut remaining = Vec::new();
        let mut start = Vec::new();
        for p in &legacy.partitions {
            match current(&p.topic, p.partition) {
                Some(a) if !a.is_reassigning() && a.replicas == p.replicas => {}
                Some(a) if a.is_reassigning() && a.target() == p.replicas => {
                    remaining.push(p.clone())
                }
                _ => {
                    start.push((p.topic.clone(), p.partition, Some(p.replicas.clone())));
                    remaining.push(p.clone());
                }
            }
        }
        for ((topic, index, _), r) in start.iter().zip(self.alter_reassignments(&start).await) {
            if let Err(e) = r {
                tracing::warn!(
                    "/admin/reassign_partitions: reassigning {topic}-{index} refused: {}",
                    e.message
                );
                remaining.retain(|p| !(p.topic == *topic && p.partition == *index));
            }
        }
        if remaining != legacy.partitions {
            let rest = LegacyReassignment {
                version: legacy.version,
                partitions: remaining,
            };
            self.zk.update_legacy_reassignment(&rest, version).await?;
        }
        Ok(())
    }

    /// AlterPartitionReassignments, carried out by whichever broker receives
    /// it: each topic's new assignment (RS, adding, removing, as Kafka's
    /// controller stores it) is written to its znode conditionally on the
    /// version read, retried on conflicts. The controller and the replicas
    /// take it from there. `None` replicas cancel.
    pub async fn alter_reassignments(
        &self,
        requests: &[(String, i32, Option<Vec<i32>>)],
    ) -> Vec<Result<(), ApiError>> {
        let mut out: Vec<Option<Result<(), ApiError>>> = vec![None; requests.len()];
        let deleting = match self.zk.topics_marked_for_deletion().await {
            Ok(d) => d,
            Err(e) => {
                let e = super::zk_api_error(e);
                return requests.iter().map(|_| Err(e.clone())).collect();
            }
        };
        let mut by_topic: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, (topic, _, _)) in requests.iter().enumerate() {
            by_topic.entry(topic.as_str()).or_default().push(i);
        }
        for (topic, positions) in by_topic {
            let parts: Vec<(i32, Option<&[i32]>)> = positions
                .iter()
                .map(|&i| (requests[i].1, requests[i].2.as_deref()))
                .collect();
            let deleted = deleting.iter().any(|t| t == topic);
            let results = self.alter_topic_reassignments(topic, &parts, deleted).await;
            for (i, r) in positions.into_iter().zip(results) {
                out[i] = Some(r);
            }
        }
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(ApiError::new(
                        ResponseError::UnknownServerError,
                        "not processed",
                    ))
                })
            })
            .collect()
    }

    async fn alter_topic_reassignments(
        &self,
        topic: &str,
        parts: &[(i32, Option<&[i32]>)],
        being_deleted: bool,
    ) -> Vec<Result<(), ApiError>> {
        let all = |e: ApiError| parts.iter().map(|_| Err(e.clone())).collect::<Vec<_>>();
        for _ in 0..5 {
            let live: BTreeSet<i32> = self.metadata().brokers.keys().copied().collect();
            let read = match self.zk.topic_with_version(topic).await {
                Ok(r) => r,
                Err(e) => return all(super::zk_api_error(e)),
            };
            let mut next = read.as_ref().map(|(a, _)| a.clone());
            let mut results = Vec::with_capacity(parts.len());
            let mut started = Vec::new();
            for &(index, target) in parts {
                let current = next
                    .as_ref()
                    .and_then(|a| a.assignment(index))
                    .unwrap_or_default();
                let planned = reassign::plan(&current, target, &live).map_err(|e| match e {
                    ReassignRefused::Invalid(m) => {
                        ApiError::new(ResponseError::InvalidReplicaAssignment, m)
                    }
                    ReassignRefused::NotInProgress => ApiError::new(
                        ResponseError::NoReassignmentInProgress,
                        format!("No partition reassignment is in progress for {topic}-{index}."),
                    ),
                });
                let result = planned.and_then(|planned| match next.as_mut() {
                    Some(z) if !being_deleted && z.assignment(index).is_some() => {
                        z.set_assignment(index, &planned);
                        started.push((index, current, planned));
                        Ok(())
                    }
                    _ => Err(ApiError::new(
                        ResponseError::UnknownTopicOrPartition,
                        "The partition does not exist.",
                    )),
                });
                results.push(result);
            }
            let (Some((old, version)), Some(next)) = (read, next) else {
                return results;
            };
            if next == old {
                return results;
            }
            match self.zk.set_topic_assignment_if(topic, &next, version).await {
                Ok(true) => {
                    for (index, from, to) in started {
                        tracing::info!(
                            "reassignment of {topic}-{index}: replicas {:?} -> {:?} (adding {:?}, removing {:?})",
                            from.replicas,
                            to.replicas,
                            to.adding,
                            to.removing
                        );
                    }
                    return results;
                }
                Ok(false) => continue,
                Err(e) => return all(super::zk_api_error(e)),
            }
        }
        all(ApiError::new(
            ResponseError::RequestTimedOut,
            format!("the assignment of topic {topic} kept changing; try again"),
        ))
    }

    /// ListPartitionReassignments: the partitions being reassigned, read
    /// from the topic znodes (so any broker answers the current state).
    /// `wanted` = topics with partition numbers; `None` = all topics.
    pub async fn list_reassignments(
        &self,
        wanted: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<(String, Vec<(i32, ReplicaAssignment)>)>, ApiError> {
        let names: Vec<String> = match wanted {
            Some(w) => w.iter().map(|(t, _)| t.clone()).collect(),
            None => self.zk.topic_names().await.map_err(super::zk_api_error)?,
        };
        let reads = self
            .zk
            .topics_with_versions(&names)
            .await
            .map_err(super::zk_api_error)?;
        let mut out: Vec<(String, Vec<(i32, ReplicaAssignment)>)> = Vec::new();
        for (i, (name, read)) in names.iter().zip(reads).enumerate() {
            let Some((assignment, _)) = read else {
                continue;
            };
            let moving: Vec<(i32, ReplicaAssignment)> = assignment
                .reassigning()
                .into_iter()
                .filter(|(p, _)| wanted.is_none_or(|w| w[i].1.contains(p)))
                .collect();
            if moving.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(t, _)| t == name) {
                Some((_, list)) => {
                    for m in moving {
                        if !list.iter().any(|(p, _)| *p == m.0) {
                            list.push(m);
                        }
                    }
                }
                None => out.push((name.clone(), moving)),
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Stops every replica fetcher (shutdown).
    pub(super) fn stop_fetchers(&self) {
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|e| e.into_inner());
        for (_, h) in fetchers.drain() {
            h.abort();
        }
    }
}

fn refused(e: ElectionRefused, topic: &str, index: i32) -> ApiError {
    match e {
        ElectionRefused::NotNeeded => ApiError::new(
            ResponseError::ElectionNotNeeded,
            format!("Leader election not needed for topic partition {topic}-{index}"),
        ),
        ElectionRefused::PreferredNotAvailable => ApiError::new(
            ResponseError::PreferredLeaderNotAvailable,
            format!("Failed to elect leader for partition {topic}-{index} under strategy PreferredReplicaPartitionLeaderElectionStrategy"),
        ),
        ElectionRefused::NoEligibleLeader => ApiError::new(
            ResponseError::EligibleLeadersNotAvailable,
            format!("Failed to elect leader for partition {topic}-{index}: no eligible replica is alive"),
        ),
    }
}
