//! `rill keeper`: run a ZooKeeper-compatible server from zoo.cfg, or ask one
//! for its mode (`rill keeper status`, like `zkServer.sh status`).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use keeper::{KeeperConfig, KeeperServer};

use crate::keeper_env::KeeperEnv;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  rill keeper --config conf/zoo.cfg\n  rill keeper status --config conf/zoo.cfg\n  rill keeper ensemble --config conf/zoo.cfg\n  ZOO_MY_ID=1 ZOO_SERVERS='server.1=zk1:2888:3888;2181 server.2=zk2:2888:3888;2181 server.3=zk3:2888:3888;2181' ZOO_DATA_DIR=/data rill keeper\n\nEnvironment: the official zookeeper image's variables (ZOO_MY_ID, ZOO_SERVERS, ZOO_TICK_TIME,\nZOO_DATA_DIR, ZOO_PORT, ZOO_CFG_EXTRA, ...) apply over zoo.cfg; see deploy/README.md."
)]
pub struct KeeperArgs {
    #[command(subcommand)]
    action: Option<KeeperAction>,
    /// zoo.cfg to read (without it: dataDir ./rill-data/keeper, clientPort 2181).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum KeeperAction {
    /// Print the server's mode (`Mode: standalone|leader|follower`), like
    /// `zkServer.sh status`; exits 1 when it does not answer or serves no
    /// requests (an ensemble member without a quorum).
    Status,
    /// Ask every server.N of the config for its mode (leader, follower, ...).
    Ensemble,
    /// Print the digest form of `user:password` for digest ACLs and superDigest.
    Digest { user_password: String },
}

/// Loads zoo.cfg (or defaults) with the `ZOO_*` environment variables
/// applied over it (see [`crate::keeper_env`]), printing warnings. Without
/// `--config`, `$ZOO_CONF_DIR/zoo.cfg` is read when it exists.
pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<KeeperConfig> {
    let env = KeeperEnv::from_vars(std::env::vars()).map_err(anyhow::Error::msg)?;
    for w in &env.warnings {
        tracing::warn!("{w}");
    }
    let from_conf_dir = env
        .conf_dir
        .as_ref()
        .map(|d| PathBuf::from(d).join("zoo.cfg"))
        .filter(|p| path.is_none() && p.exists());
    let Some(path) = path.or(from_conf_dir.as_ref()) else {
        if env.is_empty() {
            return Ok(KeeperConfig::with_data_dir("rill-data/keeper"));
        }
        return from_text("dataDir=rill-data/keeper\n", &env, "the environment");
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    from_text(&text, &env, &path.display().to_string())
}

/// zoo.cfg text (from `source`) with the environment applied.
fn from_text(text: &str, env: &KeeperEnv, source: &str) -> anyhow::Result<KeeperConfig> {
    let (cfg, warnings) = KeeperConfig::from_text(&env.apply(text), env.my_id)
        .map_err(|e| env.explain(e).context(format!("in {source}")))?;
    for w in warnings {
        let w = env.explain_warning(w);
        tracing::warn!("{source}: {w}");
    }
    Ok(cfg)
}

pub fn run(args: KeeperArgs) -> anyhow::Result<ExitCode> {
    crate::init_logging();
    match args.action {
        None => serve(args.config.as_ref()),
        Some(KeeperAction::Status) => status(args.config.as_ref()),
        Some(KeeperAction::Ensemble) => ensemble_status(args.config.as_ref()),
        Some(KeeperAction::Digest { user_password }) => {
            println!("{user_password}->{}", keeper::acl::digest(&user_password));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn serve(config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = KeeperServer::bind(cfg.clone()).await?;
        let mode = if cfg.is_ensemble() {
            format!(
                "ensemble member {} of {}",
                cfg.my_id.unwrap_or(0),
                cfg.servers.len()
            )
        } else {
            "standalone".to_owned()
        };
        tracing::info!(
            "rill keeper ({mode}) serving ZooKeeper clients on {}, dataDir {}",
            server.local_addr(),
            cfg.data_dir.display()
        );
        server.run(crate::shutdown_signal()).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The address a local tool should use to reach the configured client port.
pub fn client_address(cfg: &KeeperConfig) -> SocketAddr {
    let ip = match cfg.client_port_address {
        Some(ip) if !ip.is_unspecified() => ip,
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    SocketAddr::new(ip, cfg.client_port)
}

fn status(config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    let addr = client_address(&cfg);
    if let Some(path) = config {
        eprintln!("Using config: {}", path.display());
    }
    eprintln!(
        "Client port found: {}. Client address: {}.",
        addr.port(),
        addr.ip()
    );
    match ask_mode(addr) {
        Some(Ok(mode)) => {
            println!("{mode}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            // zkServer.sh's words (it greps `srvr` for a Mode line, which a
            // member without a quorum does not have), then why.
            println!("Error contacting service. It is probably not running.");
            if other.is_some() {
                eprintln!(
                    "The server at {addr} answers but is not serving requests: it is an ensemble member without a quorum (looking for a leader)."
                );
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The `Mode: ...` line of a server's `srvr` answer; `Err` when the server
/// answers that it is not serving (no quorum); `None` when it does not answer.
fn ask_mode(addr: SocketAddr) -> Option<Result<String, NotServing>> {
    let answer = (|| -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"srvr")?;
        let mut out = String::new();
        stream.read_to_string(&mut out)?;
        Ok(out)
    })();
    let answer = answer.ok()?;
    match answer.lines().find(|l| l.starts_with("Mode:")) {
        Some(mode) => Some(Ok(mode.to_owned())),
        None if answer.contains("not currently serving") => Some(Err(NotServing)),
        None => None,
    }
}

/// A server that answers `srvr` with "not currently serving requests".
struct NotServing;

/// `rill keeper ensemble`: every server.N with its client address and mode.
fn ensemble_status(config: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    if cfg.servers.is_empty() {
        anyhow::bail!("the config has no server.N lines: this is a standalone server (try `rill keeper status`)");
    }
    let mut all_up = true;
    for s in &cfg.servers {
        let host = if s.host == "0.0.0.0" {
            "127.0.0.1"
        } else {
            s.host.as_str()
        };
        let port = s.client_port.unwrap_or(cfg.client_port);
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
            .ok()
            .and_then(|mut a| a.next());
        let mode = addr.and_then(ask_mode);
        let mode = match mode {
            Some(Ok(m)) => m.trim_start_matches("Mode: ").to_owned(),
            Some(Err(NotServing)) => {
                all_up = false;
                "looking (not serving: no quorum)".to_owned()
            }
            None => {
                all_up = false;
                "not running".to_owned()
            }
        };
        println!("server.{}\t{host}:{port}\t{mode}", s.id);
    }
    Ok(if all_up {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
