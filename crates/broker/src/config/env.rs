//! Broker settings from environment variables, the convention container
//! users know from the Confluent and Bitnami Kafka images: `KAFKA_` (or
//! `KAFKA_CFG_`) then the key upper-cased, with `.` written `_`, `_` written
//! `__` and `-` written `___` (`KAFKA_ADVERTISED_LISTENERS` is
//! `advertised.listeners`, `KAFKA_LOG_CLEANER_DEDUPE_BUFFER_SIZE` is
//! `log.cleaner.dedupe.buffer.size`). They apply after server.properties and
//! before `--override` flags. Pure: the caller passes the environment in.

/// `KAFKA_*` variables of the Kafka images' start scripts (JVM, logging, JMX)
/// that are not broker keys: noted, never applied.
const NOT_CONFIG: &[&str] = &[
    "KAFKA_VERSION",
    "KAFKA_HOME",
    "KAFKA_HEAP_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_OPTS",
    "KAFKA_JMX_HOSTNAME",
    "KAFKA_JMX_PORT",
    "KAFKA_DEBUG",
];

/// One broker key set by an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSetting {
    pub var: String,
    pub key: String,
    pub value: String,
}

/// What the environment holds for the broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerEnv {
    /// Sorted by variable name, so the result does not depend on the
    /// environment's order.
    pub settings: Vec<EnvSetting>,
    /// `KAFKA_*` variables that are not broker keys (JVM options and the like).
    pub ignored: Vec<String>,
}

/// The broker key an environment variable names, if it follows the convention.
pub fn env_key(var: &str) -> Option<String> {
    let rest = var
        .strip_prefix("KAFKA_CFG_")
        .or_else(|| var.strip_prefix("KAFKA_"))?;
    if rest.is_empty() || NOT_CONFIG.contains(&var) {
        return None;
    }
    Some(
        rest.to_ascii_lowercase()
            .replace("___", "\u{0}")
            .replace("__", "\u{1}")
            .replace('_', ".")
            .replace('\u{0}', "-")
            .replace('\u{1}', "_"),
    )
}

/// The environment variable `key` is read from (`KAFKA_` form).
pub fn env_var(key: &str) -> String {
    let mut out = String::from("KAFKA_");
    for c in key.chars() {
        match c {
            '.' => out.push('_'),
            '_' => out.push_str("__"),
            '-' => out.push_str("___"),
            c => out.push(c.to_ascii_uppercase()),
        }
    }
    out
}

/// Picks the broker settings out of `vars` (e.g. `std::env::vars()`). Two
/// variables naming one key (`KAFKA_BROKER_ID` and `KAFKA_CFG_BROKER_ID`)
/// are an error naming both.
pub fn broker_env(vars: impl IntoIterator<Item = (String, String)>) -> Result<BrokerEnv, String> {
    let mut out = BrokerEnv::default();
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(var, _)| var.starts_with("KAFKA_"))
        .collect();
    vars.sort();
    for (var, value) in vars {
        let Some(key) = env_key(&var) else {
            out.ignored.push(var);
            continue;
        };
        if let Some(other) = out.settings.iter().find(|s| s.key == key) {
            return Err(format!(
                "environment variables {} and {var} both set {key}; keep one",
                other.var
            ));
        }
        out.settings.push(EnvSetting {
            var,
            key,
            value: value.trim().to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_map_as_the_kafka_images_do() {
        for (var, key) in [
            ("KAFKA_BROKER_ID", "broker.id"),
            ("KAFKA_ZOOKEEPER_CONNECT", "zookeeper.connect"),
            ("KAFKA_ADVERTISED_LISTENERS", "advertised.listeners"),
            (
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                "listener.security.protocol.map",
            ),
            ("KAFKA_CFG_LOG_DIRS", "log.dirs"),
            ("KAFKA_LOG_RETENTION_HOURS", "log.retention.hours"),
            (
                "KAFKA_LOG_CLEANER_DEDUPE_BUFFER_SIZE",
                "log.cleaner.dedupe.buffer.size",
            ),
            ("KAFKA_A___B__C_D", "a-b_c.d"),
        ] {
            assert_eq!(env_key(var).as_deref(), Some(key), "{var}");
        }
        assert_eq!(env_key("KAFKA_HEAP_OPTS"), None);
        assert_eq!(env_key("KAFKA_"), None);
        assert_eq!(env_key("ZOO_MY_ID"), None);
        assert_eq!(env_var("log.retention.ms"), "KAFKA_LOG_RETENTION_MS");
        assert_eq!(env_var("a-b_c.d"), "KAFKA_A___B__C_D");
        assert_eq!(env_key(&env_var("a-b_c.d")).as_deref(), Some("a-b_c.d"));
    }

    #[test]
    fn picks_sorted_settings_and_notes_the_rest() {
        let env = broker_env(vars(&[
            ("PATH", "/bin"),
            ("KAFKA_ZOOKEEPER_CONNECT", " zk:2181 "),
            ("KAFKA_BROKER_ID", "2"),
            ("KAFKA_HEAP_OPTS", "-Xmx1G"),
        ]))
        .unwrap();
        let keys: Vec<(&str, &str)> = env
            .settings
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(keys, [("broker.id", "2"), ("zookeeper.connect", "zk:2181")]);
        assert_eq!(env.ignored, ["KAFKA_HEAP_OPTS"]);
        let err = broker_env(vars(&[
            ("KAFKA_BROKER_ID", "1"),
            ("KAFKA_CFG_BROKER_ID", "2"),
        ]))
        .unwrap_err();
        assert!(
            err.contains("KAFKA_BROKER_ID") && err.contains("KAFKA_CFG_BROKER_ID"),
            "{err}"
        );
    }
}
