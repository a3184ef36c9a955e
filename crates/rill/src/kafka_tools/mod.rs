//! Kafka's command-line tools (`kafka-topics.sh`, `kafka-console-producer.sh`,
//! ...) as `rill` subcommands with the same flags and output, built on the
//! shared [`crate::kafka_client`].

pub mod broker_api_versions;
pub mod common;
pub mod configs;
pub mod console_consumer;
pub mod console_producer;
pub mod consumer_groups;
pub mod consumer_perf;
pub mod dump_log;
pub mod group_format;
pub mod leader_election;
pub mod reassign_partitions;
pub mod topics;
