//! `rill broker`: a Kafka-compatible broker from server.properties, with
//! `KAFKA_*` environment variables as the Kafka container images take them
//! (`KAFKA_BROKER_ID` is `broker.id`), then `--override key=value` flags as
//! `kafka-server-start.sh` takes them (later wins).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use broker::config::{self, BrokerConfig, LoadedConfig};
use broker::server::Broker;
use clap::Args;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  rill broker --config config/server.properties\n  rill broker config/server.properties --override broker.id=2 --override log.dirs=/data/kafka\n  KAFKA_BROKER_ID=2 KAFKA_ZOOKEEPER_CONNECT=zk:2181 rill broker config/server.properties\n\nEnvironment: KAFKA_<KEY> (or KAFKA_CFG_<KEY>) sets a server.properties key, upper-cased with\n'.' as '_', '_' as '__' and '-' as '___'; it applies after the file and before --override."
)]
pub struct BrokerArgs {
    /// server.properties (also accepted as the first positional argument;
    /// optional when KAFKA_* environment variables configure the broker).
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
    let env = config::broker_env(std::env::vars()).map_err(anyhow::Error::msg)?;
    for var in &env.ignored {
        tracing::info!(
            "{var} is a setting of the Kafka images' JVM start scripts, not a broker key; ignored"
        );
    }
    let loaded = match args.config.or(args.positional) {
        Some(path) => config::load_with_env(&path, &env.settings, &args.overrides)
            .with_context(|| format!("in {}", path.display()))?,
        // Containers configured by environment alone need no file.
        None if !env.settings.is_empty() => {
            let pairs = args
                .overrides
                .iter()
                .map(|o| config::parse_override(o))
                .collect::<Result<Vec<_>, _>>()?;
            BrokerConfig::from_text_and_env("", &env.settings, &pairs)?
        }
        None => anyhow::bail!(
            "no config: rill broker --config server.properties (or the path as first argument, or KAFKA_* environment variables)"
        ),
    };
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
