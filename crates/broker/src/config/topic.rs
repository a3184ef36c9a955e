//! Topic-level configs (`/config/topics/<topic>`, CreateTopics, AlterConfigs):
//! Kafka's `LogConfig` keys with their broker synonyms, validation with
//! Kafka's INVALID_CONFIG wording, DescribeConfigs entries, and the resolved
//! numbers a partition log needs.

use std::collections::BTreeMap;

use super::broker::BrokerConfig;
use super::broker_keys::{broker_synonyms, CLEANUP_POLICIES, COMPRESSION_TYPES, TIMESTAMP_TYPES};
use super::describe::{broker_layer_synonyms, ConfigEntry, ConfigSource, ConfigSynonym};
use super::error::ConfigError;
use super::value::ConfigType::{Boolean, Double, Int, List, Long, String as Str};
use super::value::Importance::{Low, Medium};
use super::value::{ConfigKey, ConfigType, Importance, Validator, Value};

/// A topic config key and the broker key that supplies its default.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigKey {
    pub key: ConfigKey,
    /// The most specific broker synonym (`log.retention.ms` for
    /// `retention.ms`); the whole chain is [`broker_synonyms`] of it.
    pub broker: Option<&'static str>,
}

impl TopicConfigKey {
    /// The broker keys a topic without an override takes its value from,
    /// most specific first.
    pub fn broker_chain(&self) -> &'static [&'static str] {
        self.broker.map_or(&[], broker_synonyms)
    }
}

const fn t(
    name: &'static str,
    ty: ConfigType,
    default: &'static str,
    validator: Validator,
    importance: Importance,
    broker: Option<&'static str>,
    doc: &'static str,
) -> TopicConfigKey {
    TopicConfigKey {
        key: ConfigKey::new(name, ty, Some(default), importance, doc).valid(validator),
        broker,
    }
}

const NONE: Validator = Validator::None;
const fn at_least(n: i64) -> Validator {
    Validator::at_least(n)
}

/// Kafka 3.5's topic configs, sorted by name.
#[rustfmt::skip]
pub static TOPIC_KEYS: &[TopicConfigKey] = &[
    t("cleanup.policy", List, "delete", Validator::ListOf(CLEANUP_POLICIES), Medium, Some("log.cleanup.policy"),
      "This config designates the retention policy to use on log segments. The \"delete\" policy (which is the default) will discard old segments when their retention time or size limit has been reached. The \"compact\" policy will enable log compaction (not implemented by Rill yet)."),
    t("compression.type", Str, "producer", Validator::OneOf(COMPRESSION_TYPES), Medium, Some("compression.type"),
      "Specify the final compression type for a given topic. This configuration accepts the standard compression codecs ('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts 'uncompressed' which is equivalent to no compression; and 'producer' which means retain the original compression codec set by the producer."),
    t("delete.retention.ms", Long, "86400000", at_least(0), Medium, Some("log.cleaner.delete.retention.ms"),
      "The amount of time to retain delete tombstone markers for log compacted topics."),
    t("file.delete.delay.ms", Long, "60000", at_least(0), Medium, Some("log.segment.delete.delay.ms"),
      "The time to wait before deleting a file from the filesystem"),
    t("flush.messages", Long, "9223372036854775807", at_least(0), Medium, Some("log.flush.interval.messages"),
      "This setting allows specifying an interval at which we will force an fsync of data written to the log."),
    t("flush.ms", Long, "9223372036854775807", at_least(0), Medium, Some("log.flush.interval.ms"),
      "This setting allows specifying a time interval at which we will force an fsync of data written to the log."),
    t("follower.replication.throttled.replicas", List, "", Validator::ThrottledReplicas, Medium, None,
      "A list of replicas for which log replication should be throttled on the follower side."),
    t("index.interval.bytes", Int, "4096", at_least(0), Medium, Some("log.index.interval.bytes"),
      "This setting controls how frequently Kafka adds an index entry to its offset index."),
    t("leader.replication.throttled.replicas", List, "", Validator::ThrottledReplicas, Medium, None,
      "A list of replicas for which log replication should be throttled on the leader side."),
    t("max.compaction.lag.ms", Long, "9223372036854775807", at_least(1), Medium, Some("log.cleaner.max.compaction.lag.ms"),
      "The maximum time a message will remain ineligible for compaction in the log. Only applicable for logs that are being compacted."),
    t("max.message.bytes", Int, "1048588", at_least(0), Medium, Some("message.max.bytes"),
      "The largest record batch size allowed by Kafka (after compression if compression is enabled)."),
    t("message.downconversion.enable", Boolean, "true", NONE, Low, Some("log.message.downconversion.enable"),
      "This configuration controls whether down-conversion of message formats is enabled to satisfy consume requests."),
    t("message.format.version", Str, "3.0-IV1", Validator::ApiVersion, Medium, Some("log.message.format.version"),
      "[DEPRECATED] Specify the message format version the broker will use to append messages to the logs."),
    t("message.timestamp.difference.max.ms", Long, "9223372036854775807", at_least(0), Medium, Some("log.message.timestamp.difference.max.ms"),
      "The maximum difference allowed between the timestamp when a broker receives a message and the timestamp specified in the message."),
    t("message.timestamp.type", Str, "CreateTime", Validator::OneOf(TIMESTAMP_TYPES), Medium, Some("log.message.timestamp.type"),
      "Define whether the timestamp in the message is message create time or log append time. The value should be either `CreateTime` or `LogAppendTime`"),
    t("min.cleanable.dirty.ratio", Double, "0.5", Validator::between(0, 1), Medium, Some("log.cleaner.min.cleanable.ratio"),
      "This configuration controls how frequently the log compactor will attempt to clean the log (assuming log compaction is enabled)."),
    t("min.compaction.lag.ms", Long, "0", at_least(0), Medium, Some("log.cleaner.min.compaction.lag.ms"),
      "The minimum time a message will remain uncompacted in the log. Only applicable for logs that are being compacted."),
    t("min.insync.replicas", Int, "1", at_least(1), Medium, Some("min.insync.replicas"),
      "When a producer sets acks to \"all\" (or \"-1\"), this configuration specifies the minimum number of replicas that must acknowledge a write for the write to be considered successful."),
    t("preallocate", Boolean, "false", NONE, Medium, Some("log.preallocate"),
      "True if we should preallocate the file on disk when creating a new log segment."),
    t("retention.bytes", Long, "-1", NONE, Medium, Some("log.retention.bytes"),
      "This configuration controls the maximum size a partition (which consists of log segments) can grow to before we will discard old log segments to free up space if we are using the \"delete\" retention policy."),
    t("retention.ms", Long, "604800000", at_least(-1), Medium, Some("log.retention.ms"),
      "This configuration controls the maximum time we will retain a log before we will discard old log segments to free up space if we are using the \"delete\" retention policy. If set to -1, no time limit is applied."),
    t("segment.bytes", Int, "1073741824", at_least(14), Medium, Some("log.segment.bytes"),
      "This configuration controls the segment file size for the log."),
    t("segment.index.bytes", Int, "10485760", at_least(4), Medium, Some("log.index.size.max.bytes"),
      "This configuration controls the size of the index that maps offsets to file positions."),
    t("segment.jitter.ms", Long, "0", at_least(0), Medium, Some("log.roll.jitter.ms"),
      "The maximum random jitter subtracted from the scheduled segment roll time to avoid thundering herds of segment rolling"),
    t("segment.ms", Long, "604800000", at_least(1), Medium, Some("log.roll.ms"),
      "This configuration controls the period of time after which Kafka will force the log to roll even if the segment file isn't full to ensure that retention can delete or compact old data."),
    t("unclean.leader.election.enable", Boolean, "false", NONE, Medium, Some("unclean.leader.election.enable"),
      "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, even though doing so may result in data loss."),
];

/// The keys [`TopicLogConfig`] carries: the ones Rill honors per topic.
const HONORED: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "max.message.bytes",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "min.insync.replicas",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
];

pub fn topic_key(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_KEYS.iter().find(|k| k.key.name == name)
}

/// Whether Rill acts on a topic config (others are stored and described only).
pub fn topic_key_honored(name: &str) -> bool {
    HONORED.contains(&name)
}

/// Validates one topic config (CreateTopics, AlterConfigs). Errors display
/// as Kafka's INVALID_CONFIG messages (see [`ConfigError::kafka_message`]).
pub fn validate_topic_config(name: &str, value: &str) -> Result<Value, ConfigError> {
    let key = topic_key(name).ok_or_else(|| ConfigError::UnknownTopicConfig(name.to_owned()))?;
    key.key
        .parse(value)
        .map_err(|p| ConfigError::invalid(name, value, p, None))
}

/// Validates a whole set of topic overrides, as Kafka's `LogConfig.validate`:
/// names, values, then rules across keys.
pub fn validate_topic_configs<'a>(
    configs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), ConfigError> {
    let mut min_lag = 0;
    let mut max_lag = i64::MAX;
    for (name, value) in configs {
        let parsed = validate_topic_config(name, value)?;
        match name {
            "min.compaction.lag.ms" => min_lag = parsed.as_i64().unwrap_or(min_lag),
            "max.compaction.lag.ms" => max_lag = parsed.as_i64().unwrap_or(max_lag),
            _ => {}
        }
    }
    if min_lag > max_lag {
        return Err(ConfigError::Inconsistent(format!(
            "conflict topic config setting min.compaction.lag.ms ({min_lag}) > max.compaction.lag.ms ({max_lag})"
        )));
    }
    Ok(())
}

/// Final compression of appended batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    /// Keep whatever the producer used.
    Producer,
    Uncompressed,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    pub fn name(self) -> &'static str {
        match self {
            CompressionType::Producer => "producer",
            CompressionType::Uncompressed => "uncompressed",
            CompressionType::Gzip => "gzip",
            CompressionType::Snappy => "snappy",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }

    /// Case-insensitive, as the broker-level check.
    pub fn parse(s: &str) -> Option<CompressionType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "producer" => Some(CompressionType::Producer),
            "uncompressed" => Some(CompressionType::Uncompressed),
            "gzip" => Some(CompressionType::Gzip),
            "snappy" => Some(CompressionType::Snappy),
            "lz4" => Some(CompressionType::Lz4),
            "zstd" => Some(CompressionType::Zstd),
            _ => None,
        }
    }
}

/// `cleanup.policy`: any of delete and compact (an empty list means neither:
/// keep everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub fn from_list(items: &[String]) -> CleanupPolicy {
        let has = |p: &str| items.iter().any(|i| i.eq_ignore_ascii_case(p));
        CleanupPolicy {
            delete: has("delete"),
            compact: has("compact"),
        }
    }

    /// The warning to print when `compact` is asked for, e.g. for
    /// `subject` = "topic 'users'" or "log.cleanup.policy".
    pub fn compaction_warning(&self, subject: &str) -> String {
        if self.delete {
            format!(
                "{subject}: cleanup.policy includes 'compact', but log compaction is not implemented yet; segments are only deleted by retention (retention.ms / retention.bytes), never compacted"
            )
        } else {
            format!(
                "{subject}: cleanup.policy is 'compact', but log compaction is not implemented yet; segments are neither compacted nor deleted, so this log grows without bound"
            )
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }

    pub fn parse(s: &str) -> Option<TimestampType> {
        match s.trim() {
            "CreateTime" => Some(TimestampType::CreateTime),
            "LogAppendTime" => Some(TimestampType::LogAppendTime),
            _ => None,
        }
    }
}

/// A topic's resolved log settings: its overrides over the broker's defaults.
/// Kafka's numbers and meanings are kept (the log module converts).
#[derive(Debug, Clone, PartialEq)]
pub struct TopicLogConfig {
    pub segment_bytes: i32,
    pub segment_ms: i64,
    pub segment_jitter_ms: i64,
    pub segment_index_bytes: i32,
    /// -1 = unlimited.
    pub retention_ms: i64,
    /// Negative = unlimited.
    pub retention_bytes: i64,
    pub max_message_bytes: i32,
    pub message_timestamp_type: TimestampType,
    pub message_timestamp_difference_max_ms: i64,
    pub index_interval_bytes: i32,
    /// fsync after this many messages (i64::MAX = never by count).
    pub flush_messages: i64,
    /// fsync after this long (i64::MAX = never by time).
    pub flush_ms: i64,
    pub file_delete_delay_ms: i64,
    pub compression_type: CompressionType,
    pub cleanup_policy: CleanupPolicy,
    pub min_insync_replicas: i32,
    pub unclean_leader_election_enable: bool,
}

impl TopicLogConfig {
    /// Resolves a topic's log settings. `overrides` are the topic's stored
    /// configs; an invalid one is an error naming it.
    pub fn resolve(
        broker: &BrokerConfig,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TopicLogConfig, ConfigError> {
        let get = |name: &str| effective_value(broker, overrides, name).map(|(v, _)| v);
        let int = |name: &str| -> Result<i64, ConfigError> {
            Ok(get(name)?.as_i64().expect("integer topic key"))
        };
        let i32_of = |name: &str| -> Result<i32, ConfigError> {
            Ok(i32::try_from(int(name)?).expect("INT topic key"))
        };
        let string =
            |name: &str| -> Result<String, ConfigError> { Ok(get(name)?.to_kafka_string()) };
        Ok(TopicLogConfig {
            segment_bytes: i32_of("segment.bytes")?,
            segment_ms: int("segment.ms")?,
            segment_jitter_ms: int("segment.jitter.ms")?,
            segment_index_bytes: i32_of("segment.index.bytes")?,
            retention_ms: int("retention.ms")?.max(-1),
            retention_bytes: int("retention.bytes")?,
            max_message_bytes: i32_of("max.message.bytes")?,
            message_timestamp_type: TimestampType::parse(&string("message.timestamp.type")?)
                .expect("validated timestamp type"),
            message_timestamp_difference_max_ms: int("message.timestamp.difference.max.ms")?,
            index_interval_bytes: i32_of("index.interval.bytes")?,
            flush_messages: int("flush.messages")?,
            flush_ms: int("flush.ms")?,
            file_delete_delay_ms: int("file.delete.delay.ms")?,
            compression_type: CompressionType::parse(&string("compression.type")?)
                .expect("validated compression type"),
            cleanup_policy: CleanupPolicy::from_list(
                get("cleanup.policy")?.as_list().expect("LIST topic key"),
            ),
            min_insync_replicas: i32_of("min.insync.replicas")?,
            unclean_leader_election_enable: get("unclean.leader.election.enable")?
                .as_bool()
                .expect("BOOLEAN topic key"),
        })
    }
}

/// The effective value of topic key `name` and whether it is an override.
fn effective_value(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
    name: &str,
) -> Result<(Value, bool), ConfigError> {
    let key = topic_key(name).expect("a topic key");
    if let Some(raw) = overrides.get(name) {
        return key
            .key
            .parse(raw)
            .map(|v| (v, true))
            .map_err(|p| ConfigError::invalid(name, raw, p, None));
    }
    match broker.derived(key.broker_chain()) {
        Some((value, from)) => {
            // A broker value can pass its own key's check and still be out of
            // range for the topic key (log.flush.interval.ms=-1): name the broker key.
            let raw = value.to_kafka_string();
            key.key
                .parse(&raw)
                .map(|v| (v, false))
                .map_err(|p| ConfigError::invalid(from, &raw, p, None))
        }
        None => Ok((
            key.key.default_value().expect("topic keys have defaults"),
            false,
        )),
    }
}

/// Checks that every topic key's broker-derived default is a valid topic
/// value (run when a [`BrokerConfig`] is built).
pub(crate) fn check_broker_defaults(broker: &BrokerConfig) -> Result<(), ConfigError> {
    let none = BTreeMap::new();
    for key in TOPIC_KEYS {
        effective_value(broker, &none, key.key.name)?;
    }
    Ok(())
}

/// DescribeConfigs for a topic: every topic key with its effective value,
/// source and synonyms (the override, then the broker keys that are set from
/// most to least specific, then the built-in default).
///
/// One deliberate difference from Kafka: Kafka drops the broker synonyms of
/// `retention.ms`/`segment.ms` unless `log.retention.ms`/`log.roll.ms`
/// itself is set (so `log.retention.hours=168` shows as DEFAULT_CONFIG with
/// no synonyms); Rill lists them, so the source names the key in force.
pub fn describe_topic(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<ConfigEntry> {
    TOPIC_KEYS
        .iter()
        .map(|key| {
            let name = key.key.name;
            let value = match effective_value(broker, overrides, name) {
                Ok((v, _)) => v.to_kafka_string(),
                // A stored override Kafka would reject: show it as stored.
                Err(_) => overrides.get(name).cloned().unwrap_or_default(),
            };
            let mut synonyms = Vec::new();
            if overrides.contains_key(name) {
                synonyms.push(ConfigSynonym {
                    name: name.to_owned(),
                    value: Some(value.clone()),
                    source: ConfigSource::DynamicTopicConfig,
                });
            }
            synonyms.extend(broker_layer_synonyms(
                broker.layers(),
                key.broker_chain(),
                false,
            ));
            ConfigEntry {
                name: name.to_owned(),
                value: Some(value),
                source: synonyms
                    .first()
                    .map_or(ConfigSource::DefaultConfig, |s| s.source),
                read_only: false,
                is_sensitive: false,
                config_type: Some(key.key.ty),
                documentation: Some(key.key.doc),
                synonyms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let names: Vec<&str> = TOPIC_KEYS.iter().map(|k| k.key.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "TOPIC_KEYS must stay sorted");
        for key in TOPIC_KEYS {
            key.key.default_value();
            if let Some(b) = key.broker {
                assert!(!key.broker_chain().is_empty(), "{b} is not a broker key");
            }
        }
        for h in HONORED {
            assert!(topic_key(h).is_some(), "{h}");
        }
    }

    #[test]
    fn validation_messages_match_kafka() {
        let cases = [
            ("retention.ms", "abc", "Invalid value abc for configuration retention.ms: Not a number of type LONG"),
            ("retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"),
            ("segment.bytes", "3000000000", "Invalid value 3000000000 for configuration segment.bytes: Not a number of type INT"),
            ("cleanup.policy", "delete,tidy", "Invalid value tidy for configuration cleanup.policy: String must be one of: compact, delete"),
            ("compression.type", "brotli", "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
            ("unclean.leader.election.enable", "maybe", "Invalid value maybe for configuration unclean.leader.election.enable: Expected value to be either true or false"),
            ("min.cleanable.dirty.ratio", "1.5", "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
            ("message.timestamp.type", "createtime", "Invalid value createtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"),
        ];
        for (k, v, msg) in cases {
            let err = validate_topic_config(k, v).unwrap_err();
            assert_eq!(err.kafka_message(), msg);
            let rill = err.to_string();
            assert!(
                rill.contains(k) && rill.contains(v.rsplit(',').next().unwrap()),
                "{rill}"
            );
        }
        let err = validate_topic_config("retention.hours", "1").unwrap_err();
        assert_eq!(
            err,
            ConfigError::UnknownTopicConfig("retention.hours".into())
        );
        assert_eq!(
            err.kafka_message(),
            "Unknown topic config name: retention.hours"
        );
        assert!(validate_topic_config("leader.replication.throttled.replicas", "0:1,1:2").is_ok());
        assert!(validate_topic_config("leader.replication.throttled.replicas", "*").is_ok());
        assert!(validate_topic_config("leader.replication.throttled.replicas", "x").is_err());
    }

    #[test]
    fn validates_sets() {
        assert!(validate_topic_configs([
            ("retention.ms", "1000"),
            ("cleanup.policy", "compact,delete")
        ])
        .is_ok());
        let err = validate_topic_configs([
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "5"),
        ])
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"));
        assert!(matches!(
            validate_topic_configs([("retention.ms", "1"), ("bogus", "1")]),
            Err(ConfigError::UnknownTopicConfig(k)) if k == "bogus"
        ));
    }

    #[test]
    fn cleanup_policy() {
        let p = CleanupPolicy::from_list(&["compact".into(), "delete".into()]);
        assert!(p.compact && p.delete);
        assert!(p
            .compaction_warning("topic 't'")
            .contains("not implemented"));
    }
}
