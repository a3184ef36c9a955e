//! Dynamic broker configs at runtime: stored where Kafka stores them
//! (`/config/brokers/<id>` and `/config/brokers/<default>`, with a
//! `/config/changes` notification), read at start-up and followed by every
//! broker (polled), and applied live to the topic defaults of every hosted
//! log. Which keys are accepted is [`crate::config::dynamic`]'s business.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;

use super::{codec_of, log_config, zk_api_error, Broker};
use crate::config::dynamic::{check_dynamic_keys, DEFAULT_ENTITY};
use crate::config::{BrokerConfig, ConfigError, TopicLogConfig};
use crate::handlers::ApiError;
use crate::metadata::zk::ZkError;
use crate::replica::partition::Partition;

/// How often every broker rereads its dynamic configs.
pub const DYNAMIC_CONFIG_POLL: Duration = Duration::from_secs(1);

/// The raw dynamic layers: cluster default, then this broker's.
pub type DynamicLayers = (BTreeMap<String, String>, BTreeMap<String, String>);

/// Applies a topic's resolved log settings to one hosted partition.
pub fn apply_log_settings(p: &Partition, resolved: &TopicLogConfig) {
    let settings = log_config(resolved);
    p.with_log_mut(|l| l.set_config(settings));
    p.set_compression(codec_of(resolved.compression_type));
    p.set_min_insync_replicas(resolved.min_insync_replicas);
}

impl Broker {
    /// The config with the dynamic layers over the static one: what topic
    /// defaults and DescribeConfigs use.
    pub fn effective_config(&self) -> Arc<BrokerConfig> {
        self.effective
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Rereads `/config/brokers/<default>` and `/config/brokers/<id>`; a
    /// change is installed (or, if it does not build, warned about once).
    pub(super) async fn follow_dynamic_configs(&self) -> Result<(), ZkError> {
        let layers = (
            self.zk.broker_config(DEFAULT_ENTITY).await?,
            self.zk
                .broker_config(&self.config.broker_id.to_string())
                .await?,
        );
        {
            let mut seen = self.dynamic_seen.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == layers {
                return Ok(());
            }
            seen.clone_from(&layers);
        }
        if let Err(e) = self.install_dynamic(layers) {
            tracing::warn!("dynamic broker configs in ZooKeeper not applied: {e}");
        }
        Ok(())
    }

    /// Builds the effective config from `layers` and, when it changed,
    /// pushes the new topic defaults to every hosted log.
    fn install_dynamic(&self, layers: DynamicLayers) -> Result<(), ConfigError> {
        let current = self.effective_config();
        if current.layers().dynamic_default == layers.0
            && current.layers().dynamic_broker == layers.1
        {
            return Ok(());
        }
        let describe = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let summary = format!(
            "cluster default {{{}}}, broker {} {{{}}}",
            describe(&layers.0),
            self.config.broker_id,
            describe(&layers.1)
        );
        let loaded = self.config.with_dynamic(layers.0, layers.1)?;
        *self.effective.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded.config);
        tracing::info!("dynamic broker configs applied: {summary}");
        self.reapply_topic_configs();
        Ok(())
    }

    /// Resolves every hosted partition's log settings again (topic
    /// overrides over the effective broker defaults) and applies them.
    fn reapply_topic_configs(&self) {
        let config = self.effective_config();
        for p in self.replicas.all() {
            let overrides = self
                .metadata()
                .topic(&p.topic)
                .map(|t| t.config.clone())
                .unwrap_or_default();
            match TopicLogConfig::resolve(&config, &overrides) {
                Ok(resolved) => apply_log_settings(&p, &resolved),
                Err(e) => tracing::warn!("{}-{}: {e}", p.topic, p.index),
            }
        }
    }

    /// Changes this broker's dynamic configs (`per_broker`) or the cluster
    /// default: `update` computes the new set from the stored one; it is
    /// checked as Kafka's `ZkAdminManager` does (INVALID_REQUEST naming the
    /// resource), stored with a change notification, and applied here at
    /// once (other brokers pick a new default up within a poll).
    pub async fn update_broker_config(
        &self,
        per_broker: bool,
        update: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let (entity, name) = if per_broker {
            let id = self.config.broker_id.to_string();
            (id.clone(), id)
        } else {
            (DEFAULT_ENTITY.to_owned(), String::new())
        };
        let invalid = |e: ConfigError| {
            ApiError::new(
                ResponseError::InvalidRequest,
                format!(
                    "Invalid config value for resource ConfigResource(type=BROKER, name='{name}'): {}",
                    e.kafka_message()
                ),
            )
        };
        let _guard = self.admin.lock().await;
        let stored = self.zk.broker_config(&entity).await.map_err(zk_api_error)?;
        let configs = update(&stored)?;
        check_dynamic_keys(&configs, per_broker).map_err(invalid)?;
        let current = self.effective_config();
        let layers = if per_broker {
            (current.layers().dynamic_default.clone(), configs.clone())
        } else {
            (configs.clone(), current.layers().dynamic_broker.clone())
        };
        // Values and cross-key rules, as this broker would run with them.
        self.config
            .with_dynamic(layers.0.clone(), layers.1.clone())
            .map_err(invalid)?;
        if validate_only {
            return Ok(());
        }
        self.zk
            .set_broker_config(&entity, &configs)
            .await
            .map_err(zk_api_error)?;
        *self.dynamic_seen.lock().unwrap_or_else(|e| e.into_inner()) = layers.clone();
        self.install_dynamic(layers).map_err(invalid)
    }
}
