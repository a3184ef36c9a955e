//! Dynamic broker configs (`kafka-configs.sh --alter --entity-type brokers`):
//! which keys a BROKER resource may carry, checked in the order of Kafka's
//! `DynamicBrokerConfig.validateConfigs`, plus the subset Rill applies at
//! runtime. Values and cross-key rules are checked by rebuilding the config
//! ([`BrokerConfig::with_dynamic`](super::BrokerConfig::with_dynamic)).

use std::collections::BTreeMap;

use super::broker_keys::broker_key;
use super::error::ConfigError;

/// The znode name of the cluster-wide entity (`/config/brokers/<default>`).
pub const DEFAULT_ENTITY: &str = "<default>";

/// The dynamic broker keys Rill applies at runtime: defaults of the topic
/// log settings it honors (for topics without their own override), pushed
/// to every hosted log when they change. Kafka updates more keys
/// dynamically (threads, connection quotas, listeners, the cleaner); Rill
/// refuses those rather than store a value it would not act on.
pub const LIVE_DYNAMIC: &[&str] = &[
    "compression.type",
    "log.cleanup.policy",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.index.interval.bytes",
    "log.message.timestamp.type",
    "log.retention.bytes",
    "log.retention.ms",
    "log.roll.ms",
    "log.segment.bytes",
    "message.max.bytes",
    "min.insync.replicas",
];

/// Kafka's `PerBrokerConfigs` among Rill's keys: listener settings, which
/// only a broker id may carry, never the cluster default.
const PER_BROKER_ONLY: &[&str] = &[
    "advertised.listeners",
    "listener.security.protocol.map",
    "listeners",
];

/// A set of names as Kafka's messages print a Scala `Set`: `Set(a, b)`.
pub fn scala_set<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    format!("Set({})", names.into_iter().collect::<Vec<_>>().join(", "))
}

/// Checks the keys of a proposed set of dynamic configs for one entity
/// (`per_broker`: a broker id, else the cluster default).
pub fn check_dynamic_keys(
    configs: &BTreeMap<String, String>,
    per_broker: bool,
) -> Result<(), ConfigError> {
    let names = |pred: &dyn Fn(&str) -> bool| -> Option<String> {
        let found: Vec<&str> = configs
            .keys()
            .map(String::as_str)
            .filter(|k| pred(k))
            .collect();
        (!found.is_empty()).then(|| scala_set(found))
    };
    if let Some(set) = names(&|k| broker_key(k).is_none()) {
        return Err(ConfigError::UnknownBrokerConfig(set));
    }
    if let Some(set) = names(&|k| broker_key(k).is_some_and(|d| !d.dynamic)) {
        return Err(ConfigError::NotDynamic(set));
    }
    if !per_broker {
        if let Some(set) = names(&|k| PER_BROKER_ONLY.contains(&k)) {
            return Err(ConfigError::PerBrokerOnly(set));
        }
    }
    if let Some(set) = names(&|k| !LIVE_DYNAMIC.contains(&k)) {
        return Err(ConfigError::NotLive(set));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(keys: &[&str], per_broker: bool) -> Result<(), String> {
        let configs = keys
            .iter()
            .map(|k| (k.to_string(), "1".to_owned()))
            .collect();
        check_dynamic_keys(&configs, per_broker).map_err(|e| e.to_string())
    }

    #[test]
    fn live_keys_are_dynamic_broker_keys() {
        for k in LIVE_DYNAMIC {
            assert!(broker_key(k).is_some_and(|d| d.dynamic), "{k}");
        }
    }

    #[test]
    fn keys_are_checked_in_kafkas_order() {
        assert_eq!(
            check(&["log.retention.ms", "log.segment.bytes"], false),
            Ok(())
        );
        assert_eq!(
            check(
                &["broker.id", "log.retention.hours", "log.retention.ms"],
                true
            )
            .unwrap_err(),
            "Cannot update these configs dynamically: Set(broker.id, log.retention.hours)"
        );
        assert_eq!(
            check(&["listeners"], false).unwrap_err(),
            "Cannot update these configs at default cluster level, broker id must be specified: Set(listeners)"
        );
        assert!(check(&["listeners"], true)
            .unwrap_err()
            .contains("Set(listeners)"));
        assert!(check(&["num.io.threads"], true)
            .unwrap_err()
            .starts_with("Rill does not apply these configs at runtime"));
        assert_eq!(
            check(&["log.retention.msx"], true).unwrap_err(),
            "Unknown broker configs: Set(log.retention.msx)"
        );
    }
}
