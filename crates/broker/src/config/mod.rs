//! Broker configuration: Kafka's server.properties keys and topic configs,
//! resolved the way Kafka resolves them, so an existing `server.properties`
//! (and `--override k=v` flags) start a Rill broker unchanged.
//!
//! # Layout
//! - [`value`]: Kafka's `ConfigDef` vocabulary — types, validators, one
//!   key's definition, parsing a raw string.
//! - [`broker_keys`]: the broker key table (types, defaults, validators,
//!   whether Rill honors each), retired keys, synonym chains.
//! - [`broker`]: [`BrokerConfig`], built from layers (file, overrides,
//!   dynamic configs) with Kafka's cross-key rules; DescribeConfigs for brokers.
//! - [`topic`]: topic configs — validation with Kafka's INVALID_CONFIG text,
//!   effective values and synonyms, [`TopicLogConfig`].
//! - [`dynamic`]: which keys a dynamic broker config may set.
//! - [`env`]: `KAFKA_*` environment variables (the Kafka images' convention).
//! - [`listener`], [`zk`]: `listeners` endpoints and `zookeeper.connect`.
//! - [`describe`]: DescribeConfigs sources, entries, synonyms.
//!
//! Everything here is pure except [`load`], which reads the file.

pub mod broker;
pub mod broker_keys;
pub mod describe;
pub mod dynamic;
pub mod env;
pub mod error;
pub mod listener;
pub mod topic;
pub mod value;
pub mod zk;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use broker::{BrokerConfig, Layers, LoadedConfig, LogDefaults, Setting};
pub use broker_keys::{broker_key, BROKER_KEYS};
pub use describe::{ConfigEntry, ConfigSource, ConfigSynonym};
pub use env::{broker_env, BrokerEnv, EnvSetting};
pub use error::{ConfigError, Origin};
pub use listener::{Listener, SecurityProtocol};
pub use topic::{
    describe_topic, topic_key, topic_key_honored, validate_topic_config, validate_topic_configs,
    CleanupPolicy, CompressionType, TimestampType, TopicConfigKey, TopicLogConfig, TOPIC_KEYS,
};
pub use value::{ConfigKey, ConfigType, Importance, Problem, Validator, Value};
pub use zk::{ZkConnect, ZkServer};

/// Splits one `--override` argument at its first `=` (values may contain `=`).
pub fn parse_override(arg: &str) -> Result<(String, String), ConfigError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(ConfigError::BadOverride(arg.to_owned())),
    }
}

/// Reads `path` and builds the broker config, applying `overrides`
/// (`key=value` strings, in order, later wins).
pub fn load(path: &Path, overrides: &[impl AsRef<str>]) -> Result<LoadedConfig, ConfigError> {
    load_with_env(path, &[], overrides)
}

/// [`load`] with environment settings ([`broker_env`]) applied after the
/// file and before the overrides.
pub fn load_with_env(
    path: &Path,
    env: &[EnvSetting],
    overrides: &[impl AsRef<str>],
) -> Result<LoadedConfig, ConfigError> {
    let pairs = overrides
        .iter()
        .map(|o| parse_override(o.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    BrokerConfig::from_text_and_env(&text, env, &pairs)
}
