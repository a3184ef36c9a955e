//! DescribeConfigs vocabulary: config sources, entries and synonyms, numbered
//! as Kafka's `DescribeConfigsResponse` does.

use super::broker::Layers;
use super::broker_keys::broker_key;
use super::value::ConfigType;

/// `DescribeConfigsResponse.ConfigSource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    Unknown,
    /// A topic override (`/config/topics/<topic>`).
    DynamicTopicConfig,
    /// A per-broker dynamic config (`/config/brokers/<id>`).
    DynamicBrokerConfig,
    /// A cluster-wide dynamic default (`/config/brokers/<default>`).
    DynamicDefaultBrokerConfig,
    /// server.properties or `--override`.
    StaticBrokerConfig,
    /// Kafka's built-in default.
    DefaultConfig,
    DynamicBrokerLoggerConfig,
}

impl ConfigSource {
    pub fn id(self) -> i8 {
        match self {
            ConfigSource::Unknown => 0,
            ConfigSource::DynamicTopicConfig => 1,
            ConfigSource::DynamicBrokerConfig => 2,
            ConfigSource::DynamicDefaultBrokerConfig => 3,
            ConfigSource::StaticBrokerConfig => 4,
            ConfigSource::DefaultConfig => 5,
            ConfigSource::DynamicBrokerLoggerConfig => 6,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: String,
    /// `None` for sensitive configs.
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One `DescribeConfigsResourceResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` when unset (Kafka's null) or sensitive.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub is_sensitive: bool,
    /// `None` is Kafka's UNKNOWN (0), used for keys Kafka does not define.
    pub config_type: Option<ConfigType>,
    pub documentation: Option<&'static str>,
    /// Highest precedence first; the entry's `source` is the first one's.
    pub synonyms: Vec<ConfigSynonym>,
}

impl ConfigEntry {
    /// DescribeConfigs v0's `IsDefault`.
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::DefaultConfig
    }

    /// The `ConfigType` id for DescribeConfigs v3+.
    pub fn config_type_id(&self) -> i8 {
        self.config_type.map_or(0, ConfigType::id)
    }
}

/// Kafka's `ConfigHelper.configSynonyms` over the broker layers: every layer
/// (per-broker dynamic, cluster default, static, built-in default) in turn,
/// and within a layer `names` in order (most specific first).
pub(crate) fn broker_layer_synonyms(
    layers: &Layers,
    names: &[&str],
    sensitive: bool,
) -> Vec<ConfigSynonym> {
    let mut out = Vec::new();
    let mut push = |name: &str, value: &str, source| {
        out.push(ConfigSynonym {
            name: name.to_owned(),
            value: (!sensitive).then(|| value.to_owned()),
            source,
        })
    };
    for name in names {
        if let Some(v) = layers.dynamic_broker.get(*name) {
            push(name, v, ConfigSource::DynamicBrokerConfig);
        }
    }
    for name in names {
        if let Some(v) = layers.dynamic_default.get(*name) {
            push(name, v, ConfigSource::DynamicDefaultBrokerConfig);
        }
    }
    for name in names {
        if let Some(s) = layers.statics.get(*name) {
            push(name, &s.value, ConfigSource::StaticBrokerConfig);
        }
    }
    for name in names {
        if let Some(default) = broker_key(name).and_then(|k| k.default) {
            push(name, default, ConfigSource::DefaultConfig);
        }
    }
    out
}
