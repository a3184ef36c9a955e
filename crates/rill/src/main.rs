//! `rill`: one binary for the broker (Kafka-compatible), the keeper
//! (ZooKeeper-compatible), and their tools.
//!
//! # Layout
//! - `dev_cmd`: `rill dev`, keeper and broker in one process.
//! - `broker_cmd`: `rill broker --config server.properties [--override k=v]`.
//! - `keeper_cmd`: `rill keeper [--config zoo.cfg]` and `rill keeper status`.
//! - `perf_cmd`: `rill producer-perf-test`, kafka-producer-perf-test's flags and output.
//! - `zk_cli`: `rill zk`, the zkCli.sh equivalent (one-shot commands and a shell).
//! - `kafka_client`: the small Kafka client the tools share.
//! - `kafka_tools`: kafka-topics.sh, kafka-console-producer.sh, ... as subcommands.

mod broker_cmd;
mod dev_cmd;
mod kafka_client;
mod kafka_tools;
mod keeper_cmd;
mod keeper_env;
mod perf_cmd;
mod zk_cli;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rill",
    version,
    about = "Kafka- and ZooKeeper-compatible streaming platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Keeper and broker in one process with defaults: the quickest way to try Rill.
    Dev(dev_cmd::DevArgs),
    /// Run a Kafka-compatible broker from server.properties.
    Broker(broker_cmd::BrokerArgs),
    /// Run a ZooKeeper-compatible server (reads zoo.cfg), or query one (`status`).
    Keeper(keeper_cmd::KeeperArgs),
    /// Produce load like kafka-producer-perf-test, with its flags and output lines.
    ProducerPerfTest(perf_cmd::PerfArgs),
    /// ZooKeeper shell, like zkCli.sh: `rill zk -server host:port [cmd args...]`.
    #[command(disable_help_flag = true)]
    Zk(zk_cli::ZkArgs),
    /// Create, list, describe, alter and delete topics, like kafka-topics.sh.
    Topics(kafka_tools::topics::TopicsArgs),
    /// Send lines of standard input as records, like kafka-console-producer.sh.
    ConsoleProducer(kafka_tools::console_producer::ProducerArgs),
    /// Print records, like kafka-console-consumer.sh.
    ConsoleConsumer(kafka_tools::console_consumer::ConsumerArgs),
    /// Show each broker's API versions, like kafka-broker-api-versions.sh.
    BrokerApiVersions(kafka_tools::broker_api_versions::ApiVersionsArgs),
    /// List, describe, reset and delete consumer groups, like kafka-consumer-groups.sh.
    ConsumerGroups(kafka_tools::consumer_groups::GroupsArgs),
    /// Describe and alter topic and broker configs, like kafka-configs.sh.
    Configs(kafka_tools::configs::ConfigsArgs),
    /// Consume load and report throughput, like kafka-consumer-perf-test.sh.
    ConsumerPerfTest(kafka_tools::consumer_perf::ConsumerPerfArgs),
    /// Print the batches and records of log segment files, like kafka-dump-log.sh.
    DumpLog(kafka_tools::dump_log::DumpLogArgs),
    /// Elect preferred or unclean partition leaders, like kafka-leader-election.sh.
    LeaderElection(kafka_tools::leader_election::ElectionArgs),
    /// Move partition replicas between brokers, like kafka-reassign-partitions.sh.
    ReassignPartitions(kafka_tools::reassign_partitions::ReassignArgs),
}

/// Logs to stderr; `RUST_LOG` overrides the default `info` level.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // openraft narrates every election and retry at info/warn; keep its errors.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Completes on SIGINT or SIGTERM: the one shutdown path of every server.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested");
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev(args) => dev_cmd::run(args),
        Command::Broker(args) => broker_cmd::run(args),
        Command::Keeper(args) => keeper_cmd::run(args),
        Command::ProducerPerfTest(args) => perf_cmd::run(args),
        Command::Zk(args) => zk_cli::run(args),
        Command::Topics(args) => kafka_tools::topics::run(args),
        Command::ConsoleProducer(args) => kafka_tools::console_producer::run(args),
        Command::ConsoleConsumer(args) => kafka_tools::console_consumer::run(args),
        Command::BrokerApiVersions(args) => kafka_tools::broker_api_versions::run(args),
        Command::ConsumerGroups(args) => kafka_tools::consumer_groups::run(args),
        Command::Configs(args) => kafka_tools::configs::run(args),
        Command::ConsumerPerfTest(args) => kafka_tools::consumer_perf::run(args),
        Command::DumpLog(args) => kafka_tools::dump_log::run(args),
        Command::LeaderElection(args) => kafka_tools::leader_election::run(args),
        Command::ReassignPartitions(args) => kafka_tools::reassign_partitions::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
