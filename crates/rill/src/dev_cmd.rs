//! `rill dev`: a keeper and a broker in one process, with defaults, for
//! trying Rill out (127.0.0.1:2181 and 127.0.0.1:9092, data in ./rill-data).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use broker::config::BrokerConfig;
use broker::server::Broker;
use clap::Args;
use keeper::{KeeperConfig, KeeperServer};

#[derive(Args)]
pub struct DevArgs {
    /// Where the keeper and the broker keep their data.
    #[arg(long, default_value = "rill-data")]
    data_dir: PathBuf,
    /// The keeper's (ZooKeeper) client port.
    #[arg(long, default_value_t = 2181)]
    keeper_port: u16,
    /// The broker's (Kafka) port.
    #[arg(long, default_value_t = 9092)]
    broker_port: u16,
    /// The address both listen on and advertise.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
}

pub fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    crate::init_logging();
    let mut keeper_cfg = KeeperConfig::with_data_dir(args.data_dir.join("keeper"));
    keeper_cfg.client_port = args.keeper_port;
    keeper_cfg.client_port_address =
        Some(args.host.parse().context("--host must be an IP address")?);
    keeper_cfg.four_letter_whitelist = None;
    let properties = format!(
        "broker.id=1\nlisteners=PLAINTEXT://{host}:{port}\nlog.dirs={dir}\nzookeeper.connect={host}:{zk}\n\
         offsets.topic.replication.factor=1\ntransaction.state.log.replication.factor=1\n\
         transaction.state.log.min.isr=1\ngroup.initial.rebalance.delay.ms=0\n",
        host = args.host,
        port = args.broker_port,
        dir = args.data_dir.join("broker").display(),
        zk = args.keeper_port
    );
    let broker_cfg = BrokerConfig::from_text(&properties, &[])?.config;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let keeper = KeeperServer::bind(keeper_cfg).await?;
        let keeper_addr = keeper.local_addr();
        let (stop_keeper, keeper_stopped) = tokio::sync::oneshot::channel::<()>();
        let keeper_task = tokio::spawn(keeper.run(async {
            let _ = keeper_stopped.await;
        }));
        let (broker, listener) = Broker::start(broker_cfg).await?;
        let kafka = broker.endpoints.listen;
        println!("Rill is running.");
        println!("  Kafka bootstrap server:  {kafka}     e.g. kcat -b {kafka} -L");
        println!("  ZooKeeper connect:       {keeper_addr}   e.g. rill zk -server {keeper_addr} ls /brokers/ids");
        println!("  Data:                    {}", args.data_dir.display());
        println!("Press Ctrl-C to stop.");
        broker.run(listener, crate::shutdown_signal()).await;
        let _ = stop_keeper.send(());
        let _ = keeper_task.await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
