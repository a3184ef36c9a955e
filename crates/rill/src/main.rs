//! `rill`: one binary for the broker (Kafka-compatible), the keeper
//! (ZooKeeper-compatible), and their tools.
//!
//! # Layout
//! - `dev_cmd`: `rill dev`, keeper and broker in one process.
//! - `broker_cmd`: `rill broker --config server.properties [--override k=v]`.
//! - `keeper_cmd`: `rill keeper [--config zoo.cfg]` and `rill keeper status`.
//! - `perf_cmd`: `rill producer-perf-test`, kafka-producer-perf-test's flags and output.
//! - `zk_cli`: `rill zk`, the zkCli.sh equivalent (one-shot commands and a shell).

mod broker_cmd;
mod dev_cmd;
mod keeper_cmd;
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
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
