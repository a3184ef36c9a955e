//! Configuration errors: typed so callers can match, worded so an operator
//! can fix the file, and convertible to Kafka's INVALID_CONFIG text.

use std::fmt;
use std::path::PathBuf;

use super::value::Problem;

/// Where a static setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of the properties file.
    Line(usize),
    /// An environment variable (`KAFKA_BROKER_ID`), named.
    Env(String),
    /// A `--override k=v` flag.
    Override,
    /// A dynamic (ZooKeeper `/config/brokers`) or request-supplied value.
    Dynamic,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Line(n) => write!(f, "line {n}"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Override => f.write_str("--override"),
            Origin::Dynamic => f.write_str("dynamic config"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A value failed to parse or validate.
    #[error("{}invalid value '{value}' for {key}: {problem}", origin_prefix(.origin))]
    InvalidValue {
        key: String,
        value: String,
        problem: Problem,
        origin: Option<Origin>,
    },
    /// CreateTopics/AlterConfigs named a key that is not a topic config.
    #[error("Unknown topic config name: {0}")]
    UnknownTopicConfig(String),
    /// A key Kafka requires has no value.
    #[error("missing required configuration `{0}` which has no default value")]
    Missing(&'static str),
    /// A rule across keys (broker.id range, listener names, ...).
    #[error("{0}")]
    Inconsistent(String),
    /// A `--override` argument without `=`.
    #[error("invalid --override '{0}': expected key=value")]
    BadOverride(String),
    /// AlterConfigs on a broker key Kafka does not update at runtime
    /// (`Set(a, b)`, as Kafka prints it).
    #[error("Cannot update these configs dynamically: {0}")]
    NotDynamic(String),
    /// A listener key set as a cluster-wide default.
    #[error(
        "Cannot update these configs at default cluster level, broker id must be specified: {0}"
    )]
    PerBrokerOnly(String),
    /// A key Kafka updates at runtime but Rill does not act on yet.
    #[error("Rill does not apply these configs at runtime yet (set them in server.properties, KAFKA_* or --override and restart): {0}")]
    NotLive(String),
    /// A dynamic broker config that is not a Kafka broker key.
    #[error("Unknown broker configs: {0}")]
    UnknownBrokerConfig(String),
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
}

fn origin_prefix(origin: &Option<Origin>) -> String {
    origin
        .as_ref()
        .map(|o| format!("{o}: "))
        .unwrap_or_default()
}

impl ConfigError {
    pub(crate) fn invalid(
        key: &str,
        value: &str,
        problem: Problem,
        origin: Option<Origin>,
    ) -> Self {
        ConfigError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            problem,
            origin,
        }
    }

    /// The message Kafka puts in an INVALID_CONFIG error for this problem,
    /// e.g. `Invalid value abc for configuration retention.ms: Not a number of type LONG`.
    pub fn kafka_message(&self) -> String {
        match self {
            ConfigError::InvalidValue {
                key,
                value,
                problem,
                ..
            } => {
                let shown = match problem {
                    Problem::NotOneOf {
                        item: Some(item), ..
                    } => item.as_str(),
                    _ => value.as_str(),
                };
                format!(
                    "Invalid value {shown} for configuration {key}: {}",
                    problem.kafka_reason()
                )
            }
            other => other.to_string(),
        }
    }
}
