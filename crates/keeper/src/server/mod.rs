//! The keeper server: listener, connections, the core pipeline and the log
//! writer thread, with one shutdown path.

pub mod connection;
pub mod core;
pub mod frame;
pub mod reads;
pub mod stats;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use self::core::{Core, CoreMsg, LogCmd, LogDone};
use crate::config::KeeperConfig;
use crate::persist::{self, log::LogWriter, PersistError};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Persist(#[from] PersistError),
    #[error(transparent)]
    Ensemble(#[from] crate::raft::node::EnsembleError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound, recovered keeper, ready to [`KeeperServer::run`].
pub struct KeeperServer {
    cfg: KeeperConfig,
    listener: TcpListener,
    core: Core,
    core_tx: mpsc::Sender<CoreMsg>,
    core_rx: mpsc::Receiver<CoreMsg>,
    durability: Durability,
    /// The data directories' locks, held while serving.
    _locks: Vec<std::fs::File>,
}

/// How writes become durable.
enum Durability {
    /// Standalone: our transaction log, written by a thread of its own.
    Log {
        done_rx: mpsc::UnboundedReceiver<LogDone>,
        thread: std::thread::JoinHandle<()>,
    },
    /// Ensemble: replicated by Raft (see [`crate::raft`]).
    Raft(crate::raft::Raft),
}

impl KeeperServer {
    /// Recovers state from disk and binds the client port; in ensemble mode
    /// (several server.N lines) also starts Raft and the peer listener.
    pub async fn bind(cfg: KeeperConfig) -> Result<Self, ServerError> {
        let mut locks = vec![persist::lock_dir(&cfg.data_dir)?];
        if cfg.data_log_dir != cfg.data_dir {
            locks.push(persist::lock_dir(&cfg.data_log_dir)?);
        }
        let (core_tx, core_rx) = mpsc::channel::<CoreMsg>(8192);
        let (core, durability) = if cfg.is_ensemble() {
            let started = crate::raft::node::start(&cfg, core_tx.clone()).await?;
            (started.core, Durability::Raft(started.raft))
        } else {
            Self::recover_standalone(&cfg)?
        };
        let ip = cfg
            .client_port_address
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let addr = SocketAddr::new(ip, cfg.client_port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(KeeperServer {
            cfg,
            listener,
            core,
            core_tx,
            core_rx,
            durability,
            _locks: locks,
        })
    }

    /// Recovers from the snapshot and log, and opens a fresh log file.
    fn recover_standalone(cfg: &KeeperConfig) -> Result<(Core, Durability), ServerError> {
        let recovered = persist::recover(&cfg.data_dir, &cfg.data_log_dir)?;
        for w in &recovered.warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(
            "recovered {} znodes and {} sessions at zxid {:#x} ({} transactions replayed from the log)",
            recovered.state.tree.node_count(),
            recovered.state.sessions.len(),
            recovered.state.last_zxid,
            recovered.replayed
        );
        let log_dir = persist::version_dir(&cfg.data_log_dir)?;
        let writer = LogWriter::create(&log_dir, recovered.state.last_zxid + 1, cfg.force_sync)?;
        let (log_tx, log_rx) = std::sync::mpsc::channel::<LogCmd>();
        let (done_tx, log_done_rx) = mpsc::unbounded_channel();
        let log_thread = std::thread::Builder::new()
            .name("keeper-txnlog".into())
            .spawn(move || log_writer_loop(writer, log_rx, done_tx))
            .expect("spawn log writer thread");
        let core = Core::new(cfg.clone(), recovered.state, Some(log_tx));
        Ok((
            core,
            Durability::Log {
                done_rx: log_done_rx,
                thread: log_thread,
            },
        ))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let KeeperServer {
            cfg,
            listener,
            mut core,
            core_tx,
            mut core_rx,
            durability,
            _locks,
        } = self;
        let (mut log_done_rx, log_thread, raft) = match durability {
            Durability::Log { done_rx, thread } => (Some(done_rx), Some(thread), None),
            Durability::Raft(raft) => (None, None, Some(raft)),
        };
        let per_ip: Arc<Mutex<HashMap<IpAddr, u32>>> = Arc::default();
        let accept = accept_loop(
            listener,
            core_tx,
            per_ip,
            cfg.max_client_cnxns,
            cfg.jute_max_buffer,
        );
        let accept_task = tokio::spawn(accept);
        let mut expiry = tokio::time::interval(Duration::from_millis(100));
        let mut reaper = tokio::time::interval(Duration::from_millis(
            cfg.container_check_interval_ms.max(10),
        ));
        let purge_every = cfg.purge_interval.unwrap_or(Duration::from_secs(3600));
        let mut purge =
            tokio::time::interval_at(tokio::time::Instant::now() + purge_every, purge_every);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                done = recv_log_done(&mut log_done_rx) => match done {
                    Some(done) => core.on_log_done(done),
                    None => break,
                },
                msg = core_rx.recv() => {
                    let Some(msg) = msg else { break };
                    core.handle(msg);
                    // Drain what else is ready so its writes share one fsync.
                    for _ in 0..1024 {
                        match core_rx.try_recv() {
                            Ok(msg) => core.handle(msg),
                            Err(_) => break,
                        }
                    }
                }
                _ = expiry.tick() => core.tick(),
                _ = reaper.tick() => core.reap(),
                _ = purge.tick(), if cfg.purge_interval.is_some() && !cfg.is_ensemble() => {
                    let (data, log, keep) = (cfg.data_dir.clone(), cfg.data_log_dir.clone(), cfg.snap_retain_count as usize);
                    tokio::task::spawn_blocking(move || match persist::purge(&data, &log, keep) {
                        Ok(n) => tracing::info!("autopurge removed {n} old snapshot and log files"),
                        Err(e) => tracing::warn!("autopurge failed: {e}"),
                    });
                }
            }
            core.flush();
        }
        accept_task.abort();
        drop(core);
        if let Some(raft) = raft {
            let _ = raft.shutdown().await;
        }
        if let Some(log_thread) = log_thread {
            let _ = tokio::task::spawn_blocking(move || log_thread.join()).await;
        }
        tracing::info!("keeper stopped");
    }
}

/// The log writer's next answer; never resolves in ensemble mode.
async fn recv_log_done(rx: &mut Option<mpsc::UnboundedReceiver<LogDone>>) -> Option<LogDone> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn accept_loop(
    listener: TcpListener,
    core_tx: mpsc::Sender<CoreMsg>,
    per_ip: Arc<Mutex<HashMap<IpAddr, u32>>>,
    max_per_ip: u32,
    max_buffer: u32,
) {
    let mut next_conn: u64 = 1;
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        {
            let mut counts = per_ip.lock().expect("per-ip lock");
            let count = counts.entry(addr.ip()).or_default();
            if max_per_ip > 0 && *count >= max_per_ip {
                tracing::warn!(
                    "too many connections from {} - max is {max_per_ip}",
                    addr.ip()
                );
                continue;
            }
            *count += 1;
        }
        let conn = next_conn;
        next_conn += 1;
        let core_tx = core_tx.clone();
        let per_ip = per_ip.clone();
        tokio::spawn(async move {
            connection::serve(stream, addr, conn, core_tx, max_buffer).await;
            let mut counts = per_ip.lock().expect("per-ip lock");
            if let Some(c) = counts.get_mut(&addr.ip()) {
                *c -= 1;
                if *c == 0 {
                    counts.remove(&addr.ip());
                }
            }
        });
    }
}

/// The log writer thread: appends each batch durably, then reports back.
fn log_writer_loop(
    mut writer: LogWriter,
    rx: std::sync::mpsc::Receiver<LogCmd>,
    done: mpsc::UnboundedSender<LogDone>,
) {
    while let Ok(cmd) = rx.recv() {
        match cmd {
            LogCmd::Append(bytes) => {
                let result = writer.append(&bytes).map_err(|e| e.to_string());
                if done.send(result).is_err() {
                    break;
                }
            }
            LogCmd::Roll(first_zxid) => {
                if let Err(e) = writer.roll(first_zxid) {
                    tracing::error!("rolling the transaction log failed: {e}");
                }
            }
        }
    }
    if let Err(e) = writer.close() {
        tracing::warn!("closing the transaction log: {e}");
    }
}
