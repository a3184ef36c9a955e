//! [`BrokerConfig`]: the typed broker configuration, built from layers of raw
//! settings (properties file, `--override` flags, dynamic configs) the way
//! Kafka's `KafkaConfig` resolves them, keeping every layer for DescribeConfigs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use props::Property;

use super::broker_keys::{
    broker_key, broker_synonyms, millis_per_unit, retired_key, BROKER_KEYS, CLIENT_KEYS,
};
use super::describe::{broker_layer_synonyms, ConfigEntry, ConfigSource, ConfigSynonym};
use super::dynamic::scala_set;
use super::env::EnvSetting;
use super::error::{ConfigError, Origin};
use super::listener::{
    check_distinct, parse_listeners, parse_protocol_map, Listener, SecurityProtocol,
};
use super::topic::{CleanupPolicy, CompressionType, TimestampType, TopicLogConfig};
use super::value::{ConfigKey, Problem, Value};
use super::zk::ZkConnect;

/// A static setting and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub origin: Origin,
}

/// The raw settings a [`BrokerConfig`] was resolved from, by precedence
/// (lowest first): Kafka's defaults, `statics`, `dynamic_default`, `dynamic_broker`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layers {
    /// server.properties then `--override` flags, later wins.
    pub statics: BTreeMap<String, Setting>,
    /// Cluster-wide dynamic defaults (`/config/brokers/<default>`).
    pub dynamic_default: BTreeMap<String, String>,
    /// This broker's dynamic configs (`/config/brokers/<id>`).
    pub dynamic_broker: BTreeMap<String, String>,
}

impl Layers {
    /// The raw value of `key` from the highest layer that sets it.
    pub fn raw(&self, key: &str) -> Option<(&str, ConfigSource)> {
        if let Some(v) = self.dynamic_broker.get(key) {
            return Some((v, ConfigSource::DynamicBrokerConfig));
        }
        if let Some(v) = self.dynamic_default.get(key) {
            return Some((v, ConfigSource::DynamicDefaultBrokerConfig));
        }
        self.statics
            .get(key)
            .map(|s| (s.value.as_str(), ConfigSource::StaticBrokerConfig))
    }

    fn is_set(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    fn origin(&self, key: &str) -> Option<Origin> {
        match self.raw(key) {
            Some((_, ConfigSource::StaticBrokerConfig)) => {
                self.statics.get(key).map(|s| s.origin.clone())
            }
            Some(_) => Some(Origin::Dynamic),
            None => None,
        }
    }
}

/// A built config plus what the operator should hear about at start-up.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: BrokerConfig,
    /// Unknown keys, trailing comments, settings Rill bends (compaction, 0.0.0.0, ...).
    pub warnings: Vec<String>,
    /// Keys that were set, that Kafka knows, but that Rill does not act on yet.
    pub not_used: Vec<String>,
}

/// Log defaults for topics without overrides, plus the broker-wide log settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDefaults {
    pub segment_bytes: i32,
    /// `log.roll.ms`, else `log.roll.hours` × 3600000.
    pub roll_ms: i64,
    pub roll_jitter_ms: i64,
    /// `log.retention.ms` > `.minutes` > `.hours`; -1 = unlimited.
    pub retention_ms: i64,
    /// Negative = unlimited.
    pub retention_bytes: i64,
    pub retention_check_interval_ms: i64,
    pub flush_interval_messages: i64,
    /// `log.flush.interval.ms`, else `log.flush.scheduler.interval.ms`.
    pub flush_interval_ms: i64,
    pub flush_scheduler_interval_ms: i64,
    pub index_interval_bytes: i32,
    pub index_size_max_bytes: i32,
    pub segment_delete_delay_ms: i64,
    pub message_timestamp_type: TimestampType,
    pub message_timestamp_difference_max_ms: i64,
}

/// The broker's typed configuration. Kafka's names, types and defaults;
/// `-1` and negative values keep Kafka's meaning where Kafka gives one.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id` when non-negative, else `broker.id`; -1 = generate one at
    /// registration (from `/brokers/seqid`, above `reserved.broker.max.id`).
    pub broker_id: i32,
    pub broker_id_generation_enable: bool,
    pub reserved_broker_max_id: i32,
    pub broker_rack: Option<String>,
    /// What to bind. A host may be empty or a wildcard.
    pub listeners: Vec<Listener>,
    /// What to publish, as configured (defaults to `listeners`); see
    /// [`BrokerConfig::advertised_endpoints`] for the resolved form.
    pub advertised_listeners: Vec<Listener>,
    pub inter_broker_listener_name: String,
    /// `log.dirs`, else `log.dir`.
    pub log_dirs: Vec<PathBuf>,
    pub zookeeper: ZkConnect,
    pub zookeeper_session_timeout_ms: i32,
    /// Defaults to the session timeout.
    pub zookeeper_connection_timeout_ms: i32,
    pub num_partitions: i32,
    pub default_replication_factor: i32,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub message_max_bytes: i32,
    pub socket_request_max_bytes: i32,
    pub fetch_max_bytes: i32,
    pub log: LogDefaults,
    pub num_recovery_threads_per_data_dir: i32,
    pub compression_type: CompressionType,
    /// Compaction is not implemented: a `compact` policy only warns.
    pub cleanup_policy: CleanupPolicy,
    pub min_insync_replicas: i32,
    pub unclean_leader_election_enable: bool,
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_replication_factor: i16,
    pub offsets_topic_segment_bytes: i32,
    pub offsets_commit_timeout_ms: i32,
    pub offsets_retention_minutes: i32,
    pub offsets_retention_check_interval_ms: i64,
    pub offset_metadata_max_bytes: i32,
    pub group_initial_rebalance_delay_ms: i32,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub group_max_size: i32,
    pub replica_lag_time_max_ms: i64,
    pub replica_socket_timeout_ms: i32,
    pub replica_fetch_max_bytes: i32,
    pub replica_fetch_min_bytes: i32,
    pub replica_fetch_wait_max_ms: i32,
    pub replica_fetch_backoff_ms: i32,
    pub replica_fetch_response_max_bytes: i32,
    pub replica_high_watermark_checkpoint_interval_ms: i64,
    pub controlled_shutdown_enable: bool,
    pub controlled_shutdown_max_retries: i32,
    pub controlled_shutdown_retry_backoff_ms: i64,
    pub auto_leader_rebalance_enable: bool,
    pub leader_imbalance_per_broker_percentage: i32,
    pub leader_imbalance_check_interval_seconds: i64,
    pub transaction_state_log_num_partitions: i32,
    pub transaction_state_log_replication_factor: i16,
    pub transaction_state_log_min_isr: i32,
    pub transaction_state_log_segment_bytes: i32,
    pub transactional_id_expiration_ms: i32,
    pub transaction_max_timeout_ms: i32,
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: i32,
    pub transaction_remove_expired_transaction_cleanup_interval_ms: i32,
    pub producer_id_expiration_ms: i32,
    layers: Layers,
    values: BTreeMap<&'static str, Effective>,
}

#[derive(Debug, Clone, PartialEq)]
struct Effective {
    value: Option<Value>,
    source: ConfigSource,
}

impl BrokerConfig {
    /// Builds from parsed properties and `--override` pairs (applied in order).
    pub fn from_properties(
        props: &[Property],
        overrides: &[(String, String)],
    ) -> Result<LoadedConfig, ConfigError> {
        Self::from_sources(props, &[], overrides)
    }

    /// Builds from the static sources in precedence order (later wins):
    /// properties, environment variables, `--override` pairs.
    pub fn from_sources(
        props: &[Property],
        env: &[EnvSetting],
        overrides: &[(String, String)],
    ) -> Result<LoadedConfig, ConfigError> {
        let mut layers = Layers::default();
        for p in props {
            layers.statics.insert(
                p.key.clone(),
                Setting {
                    value: p.value.clone(),
                    origin: Origin::Line(p.line),
                },
            );
        }
        for e in env {
            layers.statics.insert(
                e.key.clone(),
                Setting {
                    value: e.value.clone(),
                    origin: Origin::Env(e.var.clone()),
                },
            );
        }
        for (k, v) in overrides {
            layers.statics.insert(
                k.clone(),
                Setting {
                    value: v.clone(),
                    origin: Origin::Override,
                },
            );
        }
        build(layers)
    }

    /// Parses server.properties text, then applies `overrides`. The
    /// properties parser's warnings (trailing comments, odd lines) come first.
    pub fn from_text(
        text: &str,
        overrides: &[(String, String)],
    ) -> Result<LoadedConfig, ConfigError> {
        Self::from_text_and_env(text, &[], overrides)
    }

    /// [`Self::from_text`] with environment settings between the file and the overrides.
    pub fn from_text_and_env(
        text: &str,
        env: &[EnvSetting],
        overrides: &[(String, String)],
    ) -> Result<LoadedConfig, ConfigError> {
        let (props, parse_warnings) = props::parse_properties(text);
        let mut loaded = Self::from_sources(&props, env, overrides)?;
        loaded.warnings.splice(0..0, parse_warnings);
        Ok(loaded)
    }

    /// Rebuilds with dynamic configs (cluster default and per-broker), as read
    /// from `/config/brokers`. Only keys Kafka updates dynamically are accepted.
    pub fn with_dynamic(
        &self,
        dynamic_default: BTreeMap<String, String>,
        dynamic_broker: BTreeMap<String, String>,
    ) -> Result<LoadedConfig, ConfigError> {
        let mut layers = self.layers.clone();
        layers.dynamic_default = dynamic_default;
        layers.dynamic_broker = dynamic_broker;
        build(layers)
    }

    /// The raw layers this config was built from.
    pub fn layers(&self) -> &Layers {
        &self.layers
    }

    /// The effective parsed value of a Kafka broker key (`None`: unset with
    /// a null default, or not a broker key).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key).and_then(|e| e.value.as_ref())
    }

    /// The effective value as DescribeConfigs prints it (passwords included).
    pub fn value_string(&self, key: &str) -> Option<String> {
        self.get(key).map(Value::to_kafka_string)
    }

    /// Where the effective value of `key` came from.
    pub fn source(&self, key: &str) -> ConfigSource {
        self.values
            .get(key)
            .map_or(ConfigSource::Unknown, |e| e.source)
    }

    /// Every broker key with its effective value string, sorted by name.
    pub fn effective_values(&self) -> impl Iterator<Item = (&'static str, Option<String>)> + '_ {
        self.values
            .iter()
            .map(|(k, e)| (*k, e.value.as_ref().map(Value::to_kafka_string)))
    }

    /// The endpoints to register in `/brokers/ids/<id>`, as Kafka does:
    /// port 0 becomes the bound port (`bound_port(listener_name)`), an empty
    /// or wildcard host becomes `hostname` (the machine's canonical name).
    pub fn advertised_endpoints(
        &self,
        hostname: &str,
        bound_port: impl Fn(&str) -> Option<u16>,
    ) -> Vec<Listener> {
        self.advertised_listeners
            .iter()
            .map(|l| l.advertised(hostname, bound_port(&l.name)))
            .collect()
    }

    /// The inter-broker endpoint among the advertised ones.
    pub fn inter_broker_listener(&self) -> Option<&Listener> {
        self.advertised_listeners
            .iter()
            .find(|l| l.name == self.inter_broker_listener_name)
    }

    /// The log config of a topic without overrides.
    pub fn topic_defaults(&self) -> TopicLogConfig {
        TopicLogConfig::resolve(self, &BTreeMap::new())
            .expect("broker-derived topic defaults are validated when the config is built")
    }

    /// DescribeConfigs for this broker's resource (`resource_name` = its id):
    /// every Kafka broker key, then keys set in server.properties that Kafka
    /// does not know (reported as Kafka does: sensitive, no value, no type).
    pub fn describe(&self) -> Vec<ConfigEntry> {
        let mut entries: Vec<ConfigEntry> = BROKER_KEYS
            .iter()
            .map(|key| self.describe_key(key, true))
            .collect();
        for name in self.layers.statics.keys() {
            if broker_key(name).is_none() {
                entries.push(ConfigEntry {
                    name: name.clone(),
                    value: None,
                    source: ConfigSource::StaticBrokerConfig,
                    read_only: true,
                    is_sensitive: true,
                    config_type: None,
                    documentation: None,
                    synonyms: vec![ConfigSynonym {
                        name: name.clone(),
                        value: None,
                        source: ConfigSource::StaticBrokerConfig,
                    }],
                });
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    /// DescribeConfigs for the cluster-default broker resource (empty name):
    /// only the keys set as cluster-wide dynamic defaults.
    pub fn describe_cluster_defaults(&self) -> Vec<ConfigEntry> {
        self.layers
            .dynamic_default
            .keys()
            .filter_map(|name| broker_key(name))
            .map(|key| {
                let mut entry = self.describe_key(key, false);
                entry.value = (!key.is_sensitive())
                    .then(|| self.layers.dynamic_default[key.name].trim().to_owned());
                entry
            })
            .collect()
    }

    /// Kafka's `createBrokerConfigEntry`.
    fn describe_key(&self, key: &'static ConfigKey, per_broker: bool) -> ConfigEntry {
        let sensitive = key.is_sensitive();
        let mut synonyms =
            broker_layer_synonyms(&self.layers, broker_synonyms(key.name), sensitive);
        // Kafka drops the more specific synonyms when describing a less
        // specific key (describing log.retention.hours starts at .hours).
        let first = synonyms
            .iter()
            .position(|s| s.name == key.name)
            .unwrap_or(synonyms.len());
        synonyms.drain(..first);
        if !per_broker {
            synonyms.retain(|s| s.source == ConfigSource::DynamicDefaultBrokerConfig);
        }
        ConfigEntry {
            name: key.name.to_owned(),
            value: if sensitive {
                None
            } else {
                self.value_string(key.name)
            },
            source: synonyms
                .first()
                .map_or(ConfigSource::DefaultConfig, |s| s.source),
            read_only: !key.dynamic,
            is_sensitive: sensitive,
            config_type: Some(key.ty),
            documentation: Some(key.doc),
            synonyms,
        }
    }

    /// The value a topic without an override gets for the broker key chain
    /// `names` (most specific first), in milliseconds for `.hours`/`.minutes`
    /// keys, with the key that supplied it. `None` if no key has a value.
    pub(crate) fn derived(&self, names: &[&'static str]) -> Option<(Value, &'static str)> {
        let set = names.iter().find(|n| self.layers.is_set(n));
        let from_default = || {
            names
                .iter()
                .find(|n| broker_key(n).is_some_and(|k| k.default.is_some()))
        };
        let name = *set.or_else(from_default)?;
        let value = self.get(name)?.clone();
        let scale = millis_per_unit(name);
        let value = match (scale, value) {
            (scale, Value::Int(v)) if scale != 1 => Value::Long(i64::from(v) * scale),
            // The broker key ignores case; the topic key does not.
            (_, Value::String(s)) if name == "compression.type" => {
                Value::String(s.to_ascii_lowercase())
            }
            (_, value) => value,
        };
        // Kafka's logRetentionTimeMillis: any negative retention is -1.
        let value = match value {
            Value::Long(v) if names[0] == "log.retention.ms" && v < 0 => Value::Long(-1),
            other => other,
        };
        Some((value, name))
    }
}

/// Typed access to resolved values; a type mismatch is a table bug.
struct Resolved<'a>(&'a BTreeMap<&'static str, Effective>);

impl Resolved<'_> {
    fn value(&self, key: &str) -> Option<&Value> {
        self.0
            .get(key)
            .unwrap_or_else(|| panic!("{key} is not in BROKER_KEYS"))
            .value
            .as_ref()
    }

    fn i64(&self, key: &str) -> Option<i64> {
        self.value(key).map(|v| {
            v.as_i64()
                .unwrap_or_else(|| panic!("{key} is not an integer"))
        })
    }

    fn long(&self, key: &str) -> i64 {
        self.i64(key)
            .unwrap_or_else(|| panic!("{key} has no default"))
    }

    fn int(&self, key: &str) -> i32 {
        i32::try_from(self.long(key)).unwrap_or_else(|_| panic!("{key} is not an INT"))
    }

    fn short(&self, key: &str) -> i16 {
        i16::try_from(self.long(key)).unwrap_or_else(|_| panic!("{key} is not a SHORT"))
    }

    fn bool(&self, key: &str) -> bool {
        self.value(key)
            .and_then(Value::as_bool)
            .unwrap_or_else(|| panic!("{key} is not a BOOLEAN with a default"))
    }

    fn string(&self, key: &str) -> Option<&str> {
        self.value(key).and_then(Value::as_str)
    }

    fn list(&self, key: &str) -> &[String] {
        self.value(key).and_then(Value::as_list).unwrap_or_default()
    }
}

fn build(layers: Layers) -> Result<LoadedConfig, ConfigError> {
    let mut warnings = Vec::new();
    let mut not_used = BTreeSet::new();

    for (key, setting) in &layers.statics {
        let origin = &setting.origin;
        if let Some(def) = broker_key(key) {
            def.parse(&setting.value)
                .map_err(|p| ConfigError::invalid(key, &setting.value, p, Some(origin.clone())))?;
            if !def.honored {
                not_used.insert(key.clone());
            }
        } else if let Some(why) = retired_key(key) {
            warnings.push(format!("{origin}: '{key}' is {why}; ignored"));
            not_used.insert(key.clone());
        } else if key.starts_with("listener.name.") {
            not_used.insert(key.clone());
        } else if CLIENT_KEYS.contains(&key.as_str()) {
            warnings.push(format!(
                "{origin}: '{key}' is a client setting, not a broker one; ignored"
            ));
        } else {
            warnings.push(format!("{origin}: unknown configuration '{key}'; ignored"));
        }
    }
    for dynamic in [&layers.dynamic_default, &layers.dynamic_broker] {
        let fixed: Vec<&str> = dynamic
            .keys()
            .filter(|k| !broker_key(k).is_some_and(|d| d.dynamic))
            .map(String::as_str)
            .collect();
        if !fixed.is_empty() {
            return Err(ConfigError::NotDynamic(scala_set(fixed)));
        }
        for (key, value) in dynamic {
            let def = broker_key(key).expect("checked above");
            def.parse(value)
                .map_err(|p| ConfigError::invalid(key, value, p, Some(Origin::Dynamic)))?;
            if !def.honored {
                not_used.insert(key.clone());
            }
        }
    }

    let values: BTreeMap<&'static str, Effective> = BROKER_KEYS
        .iter()
        .map(|key| {
            let effective = match layers.raw(key.name) {
                Some((raw, source)) => Effective {
                    value: Some(key.parse(raw).expect("validated above")),
                    source,
                },
                None => Effective {
                    value: key.default_value(),
                    source: ConfigSource::DefaultConfig,
                },
            };
            (key.name, effective)
        })
        .collect();
    let r = Resolved(&values);
    let inconsistent = |msg: String| Err(ConfigError::Inconsistent(msg));
    let invalid = |key: &str, problem: String| {
        let value = layers.raw(key).map_or("", |(v, _)| v);
        Err(ConfigError::invalid(
            key,
            value,
            Problem::Other(problem),
            layers.origin(key),
        ))
    };

    // ZooKeeper
    let Some(zk_connect) = r.string("zookeeper.connect") else {
        return Err(ConfigError::Missing("zookeeper.connect"));
    };
    let zookeeper = match ZkConnect::parse(zk_connect) {
        Ok(zk) => zk,
        Err(why) => return invalid("zookeeper.connect", why),
    };
    for dup in zookeeper.duplicates() {
        warnings.push(format!("zookeeper.connect lists {dup} more than once"));
    }
    let zookeeper_session_timeout_ms = r.int("zookeeper.session.timeout.ms");
    let zookeeper_connection_timeout_ms = r
        .i64("zookeeper.connection.timeout.ms")
        .map_or(zookeeper_session_timeout_ms, |v| v as i32);

    // Broker id
    let broker_id_generation_enable = r.bool("broker.id.generation.enable");
    let reserved_broker_max_id = r.int("reserved.broker.max.id");
    let node_id = r.int("node.id");
    let broker_id = if node_id >= 0 {
        node_id
    } else {
        r.int("broker.id")
    };
    if broker_id_generation_enable {
        if !(-1..=reserved_broker_max_id).contains(&broker_id) {
            return inconsistent(format!(
                "broker.id must be greater than or equal to -1 and not greater than reserved.broker.max.id ({reserved_broker_max_id}), got {broker_id}"
            ));
        }
    } else if broker_id < 0 {
        return inconsistent(format!(
            "broker.id must be greater than or equal to 0 when broker.id.generation.enable is false, got {broker_id}"
        ));
    }
    if !r.list("process.roles").is_empty() {
        warnings.push(
            "process.roles is set, but Rill runs in ZooKeeper mode only (no KRaft); ignored"
                .to_owned(),
        );
    }

    // Listeners
    let protocols =
        match parse_protocol_map(r.string("listener.security.protocol.map").unwrap_or("")) {
            Ok(m) => m,
            Err(why) => return invalid("listener.security.protocol.map", why),
        };
    let listeners_raw = r.string("listeners").unwrap_or("");
    let listeners = match parse_listeners(listeners_raw, &protocols)
        .and_then(|l| check_distinct(&l, true).map(|()| l))
    {
        Ok(l) => l,
        Err(why) => return invalid("listeners", why),
    };
    let advertised_listeners = match r.string("advertised.listeners") {
        None => listeners.clone(),
        Some(raw) => match parse_listeners(raw, &protocols)
            .and_then(|l| check_distinct(&l, false).map(|()| l))
        {
            Ok(l) => l,
            Err(why) => return invalid("advertised.listeners", why),
        },
    };
    let listener_names: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
    if let Some(extra) = advertised_listeners
        .iter()
        .find(|a| !listener_names.contains(&a.name.as_str()))
    {
        return inconsistent(format!(
            "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners. Found {}. The valid options based on the current configuration are {}",
            extra.name,
            listener_names.join(",")
        ));
    }
    let inter_broker_listener_name = match r.string("inter.broker.listener.name") {
        Some(_) if layers.is_set("security.inter.broker.protocol") => {
            return inconsistent(
                "Only one of inter.broker.listener.name and security.inter.broker.protocol should be set."
                    .to_owned(),
            )
        }
        Some(name) => name.trim().to_ascii_uppercase(),
        None => r
            .string("security.inter.broker.protocol")
            .unwrap_or("PLAINTEXT")
            .to_ascii_uppercase(),
    };
    if !advertised_listeners
        .iter()
        .any(|l| l.name == inter_broker_listener_name)
    {
        return inconsistent(format!(
            "inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are {}",
            advertised_listeners
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    for l in &advertised_listeners {
        if l.host == "0.0.0.0" || l.host == "::" {
            warnings.push(format!(
                "advertised listener {l} uses a non-routable wildcard address; Rill advertises the machine's hostname instead (Kafka refuses this configuration; set advertised.listeners)"
            ));
        }
    }
    // Serving an SSL or SASL listener in plain text would be worse than not
    // starting: refuse, naming the listener and its mapping.
    if let Some(l) = listeners
        .iter()
        .find(|l| l.security_protocol != SecurityProtocol::Plaintext)
    {
        return inconsistent(format!(
            "listener {l} maps to {} ({}:{} in listener.security.protocol.map), which Rill does not implement: every listener must map to PLAINTEXT",
            l.security_protocol.name(),
            l.name,
            l.security_protocol.name()
        ));
    }

    // Log directories and log defaults
    let log_dirs_raw = r
        .string("log.dirs")
        .or_else(|| r.string("log.dir"))
        .unwrap_or("");
    let log_dirs: Vec<PathBuf> = log_dirs_raw
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect();
    if log_dirs.is_empty() {
        return inconsistent(
            "At least one log directory must be defined via log.dirs or log.dir.".to_owned(),
        );
    }
    let ms = |names: &[&str]| -> i64 {
        let set = names.iter().find(|n| layers.is_set(n));
        let name = set.unwrap_or_else(|| {
            names
                .iter()
                .find(|n| broker_key(n).is_some_and(|k| k.default.is_some()))
                .expect("a synonym chain ends with a defaulted key")
        });
        r.long(name).saturating_mul(millis_per_unit(name))
    };
    let roll_ms = ms(broker_synonyms("log.roll.ms"));
    if roll_ms < 1 {
        return invalid(
            "log.roll.ms",
            "log.roll.ms must be greater than or equal to 1".to_owned(),
        );
    }
    let roll_jitter_ms = ms(broker_synonyms("log.roll.jitter.ms"));
    if roll_jitter_ms < 0 {
        return invalid(
            "log.roll.jitter.ms",
            "log.roll.jitter.ms must be greater than or equal to 0".to_owned(),
        );
    }
    let retention_ms = ms(broker_synonyms("log.retention.ms")).max(-1);
    if retention_ms == 0 {
        let key = *broker_synonyms("log.retention.ms")
            .iter()
            .find(|n| layers.is_set(n))
            .unwrap_or(&"log.retention.ms");
        return invalid(
            key,
            "log.retention.ms must be unlimited (-1) or, greater than or equal to 1".to_owned(),
        );
    }
    let flush_scheduler_interval_ms = r.long("log.flush.scheduler.interval.ms");
    let message_timestamp_type =
        TimestampType::parse(r.string("log.message.timestamp.type").unwrap_or(""))
            .expect("validated by the key's validator");
    let log = LogDefaults {
        segment_bytes: r.int("log.segment.bytes"),
        roll_ms,
        roll_jitter_ms,
        retention_ms,
        retention_bytes: r.long("log.retention.bytes"),
        retention_check_interval_ms: r.long("log.retention.check.interval.ms"),
        flush_interval_messages: r.long("log.flush.interval.messages"),
        flush_interval_ms: r
            .i64("log.flush.interval.ms")
            .unwrap_or(flush_scheduler_interval_ms),
        flush_scheduler_interval_ms,
        index_interval_bytes: r.int("log.index.interval.bytes"),
        index_size_max_bytes: r.int("log.index.size.max.bytes"),
        segment_delete_delay_ms: r.long("log.segment.delete.delay.ms"),
        message_timestamp_type,
        message_timestamp_difference_max_ms: r.long("log.message.timestamp.difference.max.ms"),
    };
    let compression_type = CompressionType::parse(r.string("compression.type").unwrap_or(""))
        .expect("validated by the key's validator");
    let cleanup_policy = CleanupPolicy::from_list(r.list("log.cleanup.policy"));
    if cleanup_policy.compact {
        warnings.push(cleanup_policy.compaction_warning("log.cleanup.policy"));
    }
    let cleaner_threads = r.long("log.cleaner.threads");
    if cleaner_threads > 0
        && r.long("log.cleaner.dedupe.buffer.size") / cleaner_threads <= 1024 * 1024
    {
        return inconsistent(
            "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.".to_owned(),
        );
    }

    // Replication
    let replica_fetch_wait_max_ms = r.int("replica.fetch.wait.max.ms");
    let replica_socket_timeout_ms = r.int("replica.socket.timeout.ms");
    let replica_lag_time_max_ms = r.long("replica.lag.time.max.ms");
    if replica_fetch_wait_max_ms > replica_socket_timeout_ms {
        return inconsistent(
            "replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms to prevent unnecessary socket timeouts"
                .to_owned(),
        );
    }
    if i64::from(replica_fetch_wait_max_ms) > replica_lag_time_max_ms {
        return inconsistent(
            "replica.fetch.wait.max.ms should always be less than or equal to replica.lag.time.max.ms to prevent frequent changes in ISR"
                .to_owned(),
        );
    }
    let offsets_topic_replication_factor = r.short("offsets.topic.replication.factor");
    let acks = r.short("offsets.commit.required.acks");
    if acks < -1 || acks > offsets_topic_replication_factor {
        return inconsistent(
            "offsets.commit.required.acks must be greater or equal -1 and less or equal to offsets.topic.replication.factor"
                .to_owned(),
        );
    }

    let config = BrokerConfig {
        broker_id,
        broker_id_generation_enable,
        reserved_broker_max_id,
        broker_rack: r.string("broker.rack").map(str::to_owned),
        listeners,
        advertised_listeners,
        inter_broker_listener_name,
        log_dirs,
        zookeeper,
        zookeeper_session_timeout_ms,
        zookeeper_connection_timeout_ms,
        num_partitions: r.int("num.partitions"),
        default_replication_factor: r.int("default.replication.factor"),
        auto_create_topics_enable: r.bool("auto.create.topics.enable"),
        delete_topic_enable: r.bool("delete.topic.enable"),
        message_max_bytes: r.int("message.max.bytes"),
        socket_request_max_bytes: r.int("socket.request.max.bytes"),
        fetch_max_bytes: r.int("fetch.max.bytes"),
        log,
        num_recovery_threads_per_data_dir: r.int("num.recovery.threads.per.data.dir"),
        compression_type,
        cleanup_policy,
        min_insync_replicas: r.int("min.insync.replicas"),
        unclean_leader_election_enable: r.bool("unclean.leader.election.enable"),
        offsets_topic_num_partitions: r.int("offsets.topic.num.partitions"),
        offsets_topic_replication_factor,
        offsets_topic_segment_bytes: r.int("offsets.topic.segment.bytes"),
        offsets_commit_timeout_ms: r.int("offsets.commit.timeout.ms"),
        offsets_retention_minutes: r.int("offsets.retention.minutes"),
        offsets_retention_check_interval_ms: r.long("offsets.retention.check.interval.ms"),
        offset_metadata_max_bytes: r.int("offset.metadata.max.bytes"),
        group_initial_rebalance_delay_ms: r.int("group.initial.rebalance.delay.ms"),
        group_min_session_timeout_ms: r.int("group.min.session.timeout.ms"),
        group_max_session_timeout_ms: r.int("group.max.session.timeout.ms"),
        group_max_size: r.int("group.max.size"),
        replica_lag_time_max_ms,
        replica_socket_timeout_ms,
        replica_fetch_max_bytes: r.int("replica.fetch.max.bytes"),
        replica_fetch_min_bytes: r.int("replica.fetch.min.bytes"),
        replica_fetch_wait_max_ms,
        replica_fetch_backoff_ms: r.int("replica.fetch.backoff.ms"),
        replica_fetch_response_max_bytes: r.int("replica.fetch.response.max.bytes"),
        replica_high_watermark_checkpoint_interval_ms: r
            .long("replica.high.watermark.checkpoint.interval.ms"),
        controlled_shutdown_enable: r.bool("controlled.shutdown.enable"),
        controlled_shutdown_max_retries: r.int("controlled.shutdown.max.retries"),
        controlled_shutdown_retry_backoff_ms: r.long("controlled.shutdown.retry.backoff.ms"),
        auto_leader_rebalance_enable: r.bool("auto.leader.rebalance.enable"),
        leader_imbalance_per_broker_percentage: r.int("leader.imbalance.per.broker.percentage"),
        leader_imbalance_check_interval_seconds: r.long("leader.imbalance.check.interval.seconds"),
        transaction_state_log_num_partitions: r.int("transaction.state.log.num.partitions"),
        transaction_state_log_replication_factor: r
            .short("transaction.state.log.replication.factor"),
        transaction_state_log_min_isr: r.int("transaction.state.log.min.isr"),
        transaction_state_log_segment_bytes: r.int("transaction.state.log.segment.bytes"),
        transactional_id_expiration_ms: r.int("transactional.id.expiration.ms"),
        transaction_max_timeout_ms: r.int("transaction.max.timeout.ms"),
        transaction_abort_timed_out_transaction_cleanup_interval_ms: r
            .int("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
        transaction_remove_expired_transaction_cleanup_interval_ms: r
            .int("transaction.remove.expired.transaction.cleanup.interval.ms"),
        producer_id_expiration_ms: r.int("producer.id.expiration.ms"),
        layers,
        values,
    };
    // Broker values must also be valid topic defaults (e.g. a negative
    // log.flush.interval.ms passes the broker key but not flush.ms).
    super::topic::check_broker_defaults(&config)?;
    Ok(LoadedConfig {
        config,
        warnings,
        not_used: not_used.into_iter().collect(),
    })
}
