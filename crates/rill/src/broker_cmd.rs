//! `rill broker`: a Kafka-compatible broker from server.properties, with
//! `--override key=value` flags as `kafka-server-start.sh` takes them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use broker::config::{self, BrokerConfig, LoadedConfig};
use broker::server::Broker;
use clap::Args;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  rill broker --config config/server.properties\n  rill broker config/server.properties --override broker.id=2 --override log.dirs=/data/kafka"
)]
pub struct BrokerArgs {
    /// server.properties (also accepted as the first positional argument).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// server.properties, as `kafka-server-start.sh` takes it.
    #[arg(value_name = "server.properties")]
    positional: Option<PathBuf>,
    /// `key=value`, applied after the file in order (later wins).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

/// Prints what the operator should hear about the config.
pub fn report(loaded: &LoadedConfig) {
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    if !loaded.not_used.is_empty() {
        tracing::info!(
            "known Kafka settings that this version of Rill does not act on yet: {}",
            loaded.not_used.join(", ")
        );
    }
}

pub fn run(args: BrokerArgs) -> anyhow::Result<ExitCode> {
    crate::init_logging();
    let path = args.config.or(args.positional).context(
        "no config: rill broker --config server.properties (or the path as first argument)",
    )?;
    let loaded =
        config::load(&path, &args.overrides).with_context(|| format!("in {}", path.display()))?;
    report(&loaded);
    serve(loaded.config)
}

/// Runs a broker until SIGINT/SIGTERM.
pub fn serve(config: BrokerConfig) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (broker, listener) = Broker::start(config).await?;
        broker.run(listener, crate::shutdown_signal()).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
