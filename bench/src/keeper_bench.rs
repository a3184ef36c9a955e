//! keeper-bench: the same ZooKeeper client load against `rill keeper` and Apache ZooKeeper 3.8
//! standalone, one after the other in one run, printed side by side.
//!
//! For each target the harness writes a zoo.cfg into a fresh directory, starts the server as a
//! child process, waits for `ruok` -> `imok`, connects `--sessions` sessions, runs an unmeasured
//! warm-up (so the JVM has JIT-compiled its hot paths), then the measured phases (create / set /
//! get of `--value-size`-byte values, `--inflight` requests outstanding per session), samples the
//! server's RSS from /proc, stops the server and removes the directory.
//!
//! With `--members 3` each target runs as a 3-member ensemble (server.N lines + myid), the
//! sessions are spread over the members (session i on member i mod 3, so most writes are
//! forwarded to the leader), memory is summed over the members, and after the load the leader
//! is killed with SIGKILL and the time to the first successful write is measured.
//!
//! This is a benchmark, not a test: it prints figures and never fails on them.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Barrier;
use zookeeper_client as zk;

mod raw_client;
use raw_client::RawSession;

/// Class path of Debian's `zookeeper` package (the jar's manifest pulls in its other
/// dependencies), plus the slf4j -> log4j 1.2 binding so the server logs at INFO to a rolling
/// file as a packaged install does, instead of silently dropping every log line.
const DEFAULT_ZK_CLASSPATH: &str = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:\
/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar";

#[derive(Parser, Debug)]
#[command(
    name = "keeper-bench",
    about = "Same ZooKeeper client load against rill keeper and Apache ZooKeeper, side by side"
)]
struct Args {
    /// Which server(s) to benchmark; `both` runs rill first, then ZooKeeper.
    #[arg(long, value_enum, default_value_t = TargetSel::Both)]
    target: TargetSel,
    /// The rill binary (started as `<rill-bin> keeper --config <zoo.cfg>`).
    #[arg(long, default_value = "target/release/rill")]
    rill_bin: PathBuf,
    /// Client sessions (each a separate connection).
    #[arg(long, default_value_t = 8)]
    sessions: usize,
    /// Requests kept outstanding per session.
    #[arg(long, default_value_t = 64)]
    inflight: usize,
    /// Requests per measured phase (split evenly across sessions).
    #[arg(long, default_value_t = 100_000)]
    ops: usize,
    /// Bytes of data per create / set.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Measured phases, in order. set/get need the nodes from create; if create is not listed
    /// first, the nodes are created unmeasured.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "create,set,get"
    )]
    phases: Vec<Phase>,
    /// Requests per phase in the unmeasured warm-up (create, set, get under /warm); 0 = none.
    #[arg(long, default_value_t = 30_000)]
    warmup_ops: usize,
    /// The java launcher for ZooKeeper.
    #[arg(long, default_value = "java")]
    java: String,
    /// Class path for ZooKeeper.
    #[arg(long, default_value = DEFAULT_ZK_CLASSPATH)]
    zk_classpath: String,
    /// JVM max heap for ZooKeeper (-Xmx); 1000m is zkEnv.sh's ZK_SERVER_HEAP default.
    #[arg(long, default_value = "1000m")]
    zk_heap: String,
    /// Extra JVM option for ZooKeeper (repeatable), e.g. --zk-jvm-opt=-XX:+UseParallelGC.
    #[arg(long, allow_hyphen_values = true)]
    zk_jvm_opt: Vec<String>,
    /// forceSync in zoo.cfg (fsync the transaction log before acknowledging writes).
    #[arg(long, default_value = "yes")]
    force_sync: String,
    /// Client library generating the load: `zk` = the zookeeper-client crate (the reference
    /// load); `raw` = this harness's minimal pipelined wire-protocol client, to check whether
    /// zookeeper-client's own overhead limits the figures.
    #[arg(long, value_enum, default_value_t = ClientKind::Zk)]
    client: ClientKind,
    /// Tokio worker threads for the client side.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Directory under which each server's fresh data directory is made.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the servers' data directories and logs instead of deleting them.
    #[arg(long)]
    keep_dir: bool,
    /// Repeat the whole comparison this many times (targets interleaved, a fresh server each
    /// time) and also report the per-metric median; damps noise from other work on the machine.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Before starting each server, wait up to this many seconds for the rest of the machine to
    /// go idle (under a quarter of a core busy over one second); 0 = don't wait.
    #[arg(long, default_value_t = 60)]
    wait_idle_secs: u64,
    /// Members per target: 1 = standalone; 3 (or more) = an ensemble, with a failover
    /// measurement (kill -9 the leader, time to the first successful write) after the load.
    #[arg(long, default_value_t = 1)]
    members: usize,
    /// Seconds to wait for a server to answer `ruok`.
    #[arg(long, default_value_t = 90)]
    startup_timeout_secs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TargetSel {
    Rill,
    Zookeeper,
    Both,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ClientKind {
    Zk,
    Raw,
}

/// The benchmark's sessions, one per `--sessions`.
enum Sessions {
    Zk(Vec<zk::Client>),
    Raw(Vec<Arc<tokio::sync::Mutex<RawSession>>>),
}

impl Sessions {
    fn len(&self) -> usize {
        match self {
            Sessions::Zk(v) => v.len(),
            Sessions::Raw(v) => v.len(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum Target {
    Rill,
    Zookeeper,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Rill => "rill",
            Target::Zookeeper => "zookeeper",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum Phase {
    Create,
    Set,
    Get,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Create => "create",
            Phase::Set => "set",
            Phase::Get => "get",
        })
    }
}

/// Figures for one measured phase.
#[derive(Debug, Clone)]
struct PhaseResult {
    phase: Phase,
    requests: usize,
    ok: usize,
    errors: BTreeMap<String, u64>,
    /// Successful requests per second of wall time.
    ops_s: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// CPU use of this (client) process, percent of one core.
    client_cpu: f64,
    /// CPU use of the server process, percent of one core.
    server_cpu: f64,
    /// CPU use of every other process on the machine (noise), percent of one core.
    other_cpu: f64,
}

impl PhaseResult {
    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Mem {
    /// VmRSS, KiB.
    rss_kib: u64,
    /// VmHWM (peak RSS), KiB.
    hwm_kib: u64,
}

#[derive(Debug, Clone)]
struct TargetResult {
    target: Target,
    /// 1-based round; 0 for a median over rounds.
    round: usize,
    phases: Vec<PhaseResult>,
    idle: Mem,
    loaded: Mem,
    /// Ensembles: kill -9 of the leader -> first successful write.
    failover: Option<Duration>,
}

impl Mem {
    /// Memory of several processes (an ensemble's members) added up.
    fn sum(mems: impl IntoIterator<Item = Mem>) -> Mem {
        mems.into_iter().fold(Mem::default(), |a, m| Mem {
            rss_kib: a.rss_kib + m.rss_kib,
            hwm_kib: a.hwm_kib + m.hwm_kib,
        })
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.sessions == 0 || args.inflight == 0 || args.ops < args.sessions {
        bail!("--sessions and --inflight must be > 0 and --ops >= --sessions");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let targets: Vec<Target> = match args.target {
        TargetSel::Rill => vec![Target::Rill],
        TargetSel::Zookeeper => vec![Target::Zookeeper],
        TargetSel::Both => vec![Target::Rill, Target::Zookeeper],
    };
    println!(
        "keeper-bench: members={} sessions={} inflight/session={} ops/phase={} value={}B phases={} \
         warmup={} ops/phase client={:?} client-threads={} forceSync={}",
        args.members,
        args.sessions,
        args.inflight,
        args.ops,
        args.value_size,
        args.phases
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(","),
        args.warmup_ops,
        args.client,
        args.client_threads,
        args.force_sync,
    );
    let rounds = args.rounds.max(1);
    let mut results = Vec::new();
    for round in 1..=rounds {
        for &target in &targets {
            println!("\n== {target} (round {round}/{rounds}) ==");
            match bench_target(&args, target).await {
                Ok(mut r) => {
                    r.round = round;
                    results.push(r);
                }
                Err(e) => println!("{target}: FAILED: {e:#}"),
            }
        }
    }
    if results.is_empty() {
        bail!("no target completed");
    }
    println!("\n== results ==");
    print_rows(&results);
    let summary: Vec<TargetResult> = if rounds > 1 {
        let medians: Vec<TargetResult> = targets
            .iter()
            .filter_map(|&t| median_over_rounds(&results, t))
            .collect();
        println!("\n== median over {rounds} rounds (each metric separately) ==");
        print_rows(&medians);
        medians
    } else {
        results
    };
    print_ratios(&summary);
    Ok(())
}

async fn bench_target(args: &Args, target: Target) -> Result<TargetResult> {
    wait_idle(target, Duration::from_secs(args.wait_idle_secs)).await;
    if let Ok(load) = fs::read_to_string("/proc/loadavg") {
        println!("{target}: machine loadavg before start: {}", load.trim());
    }
    let n = args.members.max(1);
    let ports = (0..n).map(|_| free_port()).collect::<Result<Vec<u16>>>()?;
    let quorum = if n > 1 {
        let mut lines = String::new();
        for (i, port) in ports.iter().enumerate() {
            lines.push_str(&format!(
                "server.{}=127.0.0.1:{}:{};127.0.0.1:{port}\n",
                i + 1,
                free_port()?,
                free_port()?
            ));
        }
        Some(lines)
    } else {
        None
    };
    let mut servers = Vec::with_capacity(n);
    for (i, port) in ports.iter().enumerate() {
        let member = quorum.as_deref().map(|q| (i + 1, q));
        let server = Server::start(args, target, *port, member)?;
        println!(
            "{target}: pid {} listening on {}",
            server.pid(),
            server.addr
        );
        servers.push(server);
    }
    for server in &mut servers {
        server
            .wait_ready(Duration::from_secs(args.startup_timeout_secs))
            .await?;
    }
    if n > 1 {
        let t = Instant::now();
        let leader = wait_leader(&servers, Duration::from_secs(args.startup_timeout_secs)).await?;
        println!(
            "{target}: member {} leads (after {:.1}s)",
            leader + 1,
            t.elapsed().as_secs_f64()
        );
    }
    // Give the JVM's (or rill's) background start-up work a moment to settle before sampling.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pids: Vec<u32> = servers.iter().map(Server::pid).collect();
    let idle = Mem::sum(pids.iter().map(|p| read_mem(*p).unwrap_or_default()));

    let outcome = load(args, target, &servers).await;
    let loaded = Mem::sum(pids.iter().map(|p| read_mem(*p).unwrap_or_default()));
    let failover = if n > 1 && outcome.is_ok() {
        match measure_failover(target, &mut servers).await {
            Ok(d) => Some(d),
            Err(e) => {
                println!("{target}: failover measurement failed: {e:#}");
                None
            }
        }
    } else {
        None
    };
    for server in &mut servers {
        server.stop().await;
    }
    let phases = outcome?;
    Ok(TargetResult {
        target,
        round: 0,
        phases,
        idle,
        loaded,
        failover,
    })
}

/// The member whose `srvr` says `Mode: leader`, once the others follow.
async fn wait_leader(servers: &[Server], timeout: Duration) -> Result<usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut modes = Vec::new();
        for s in servers {
            let addr = s.addr;
            let mode = tokio::task::spawn_blocking(move || four_letter(addr, "srvr"))
                .await?
                .ok()
                .and_then(|a| {
                    a.lines()
                        .find_map(|l| l.strip_prefix("Mode: ").map(str::to_owned))
                });
            modes.push(mode);
        }
        let leaders: Vec<usize> = (0..modes.len())
            .filter(|i| modes[*i].as_deref() == Some("leader"))
            .collect();
        let all_in = modes
            .iter()
            .all(|m| matches!(m.as_deref(), Some("leader" | "follower")));
        if leaders.len() == 1 && all_in {
            return Ok(leaders[0]);
        }
        if Instant::now() > deadline {
            bail!("no leader within {timeout:?} (modes: {modes:?})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills the leader with SIGKILL and retries a create (through a session whose connect string
/// lists every member) until one succeeds.
async fn measure_failover(target: Target, servers: &mut [Server]) -> Result<Duration> {
    let connect = servers
        .iter()
        .map(|s| s.addr.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let client = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(&connect)
        .await
        .with_context(|| format!("connect to {target} at {connect}"))?;
    ensure_node(&client, "/failover").await?;
    let leader = wait_leader(servers, Duration::from_secs(30)).await?;
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let t0 = Instant::now();
    if let Some(child) = servers[leader].child.as_mut() {
        child.kill()?;
        let _ = child.wait();
    }
    servers[leader].child = None;
    let mut attempts = 0u32;
    let took = loop {
        attempts += 1;
        match client
            .create(&format!("/failover/n{attempts}"), b"x", &opts)
            .await
        {
            Ok(_) => break t0.elapsed(),
            Err(_) if t0.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(5)).await
            }
            Err(e) => bail!("no successful write within 60s after the kill: {e}"),
        }
    };
    println!(
        "{target}: failover: kill -9 of the leader (member {}) -> first successful write after \
         {} ms ({attempts} attempts)",
        leader + 1,
        ms(took)
    );
    Ok(took)
}

async fn load(args: &Args, target: Target, servers: &[Server]) -> Result<Vec<PhaseResult>> {
    let timeout = Duration::from_secs(30);
    let mut zk_clients = Vec::with_capacity(args.sessions);
    // Session s on member s mod n: an ensemble's load is spread like a client pool's.
    let member = |s: usize| &servers[s % servers.len()];
    for s in 0..args.sessions {
        let connect = member(s).addr.to_string();
        let client = zk::Client::connector()
            .with_session_timeout(timeout)
            .connect(&connect)
            .await
            .with_context(|| format!("connect to {target} at {connect}"))?;
        zk_clients.push(client);
        if args.client == ClientKind::Raw {
            break; // one zookeeper-client session only, for setting up the parent nodes
        }
    }
    let value: Arc<[u8]> = (0..args.value_size)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let pids: Vec<u32> = servers.iter().map(Server::pid).collect();

    for root in ["/warm", "/bench"] {
        ensure_node(&zk_clients[0], root).await?;
        for s in 0..args.sessions {
            ensure_node(&zk_clients[0], &format!("{root}/s{s}")).await?;
        }
    }
    let clients = match args.client {
        ClientKind::Zk => Sessions::Zk(zk_clients),
        ClientKind::Raw => {
            let mut raw = Vec::with_capacity(args.sessions);
            for s in 0..args.sessions {
                let addr = member(s).addr;
                let session = RawSession::connect(addr, timeout)
                    .await
                    .with_context(|| format!("raw connect to {target} at {addr}"))?;
                raw.push(Arc::new(tokio::sync::Mutex::new(session)));
            }
            Sessions::Raw(raw)
        }
    };

    if args.warmup_ops > 0 {
        let t = Instant::now();
        let warm_ops = args.warmup_ops.max(args.sessions);
        let mut errors = 0;
        for phase in [Phase::Create, Phase::Set, Phase::Get] {
            let r = run_phase(
                &clients,
                "/warm",
                phase,
                warm_ops,
                args.inflight,
                &value,
                &pids,
            )
            .await;
            errors += r.error_count();
        }
        println!(
            "{target}: warm-up {} x create/set/get in {:.1}s ({errors} errors)",
            warm_ops,
            t.elapsed().as_secs_f64()
        );
    }

    let mut created = false;
    let mut out = Vec::new();
    for &phase in &args.phases {
        if phase != Phase::Create && !created {
            let r = run_phase(
                &clients,
                "/bench",
                Phase::Create,
                args.ops,
                args.inflight,
                &value,
                &pids,
            )
            .await;
            println!("{target}: (unmeasured) created {} nodes for {phase}", r.ok);
        }
        if phase == Phase::Create {
            created = true;
        }
        let r = run_phase(
            &clients,
            "/bench",
            phase,
            args.ops,
            args.inflight,
            &value,
            &pids,
        )
        .await;
        println!("{target}: {}", phase_line(&r));
        out.push(r);
    }
    if let Sessions::Raw(raw) = clients {
        for session in raw {
            if let Ok(session) = Arc::try_unwrap(session) {
                session.into_inner().close().await;
            }
        }
    }
    Ok(out)
}

async fn ensure_node(client: &zk::Client, path: &str) -> Result<()> {
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    match client.create(path, &[], &opts).await {
        Ok(_) | Err(zk::Error::NodeExists) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("create {path}")),
    }
}

/// Run one phase: every session issues its share of `ops` requests on
/// `<root>/s<session>/n<i>`, keeping `inflight` outstanding.
async fn run_phase(
    clients: &Sessions,
    root: &str,
    phase: Phase,
    ops: usize,
    inflight: usize,
    value: &Arc<[u8]>,
    server_pids: &[u32],
) -> PhaseResult {
    let servers_cpu = || server_pids.iter().map(|p| proc_cpu(*p)).sum::<Duration>();
    let sessions = clients.len();
    let barrier = Arc::new(Barrier::new(sessions + 1));
    let mut tasks = Vec::with_capacity(sessions);
    for s in 0..sessions {
        let n = ops / sessions + usize::from(s < ops % sessions);
        let value = value.clone();
        let barrier = barrier.clone();
        let paths: Vec<String> = (0..n).map(|i| format!("{root}/s{s}/n{i}")).collect();
        tasks.push(match clients {
            Sessions::Zk(v) => {
                let client = v[s].clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    session_load(&client, phase, &paths, &value, inflight).await
                })
            }
            Sessions::Raw(v) => {
                let session = v[s].clone();
                tokio::spawn(async move {
                    let mut session = session.lock().await;
                    barrier.wait().await;
                    session.run(phase, &paths, &value, inflight).await
                })
            }
        });
    }
    let cpu0 = (self_cpu(), servers_cpu(), machine_busy());
    barrier.wait().await;
    let start = Instant::now();
    let mut latencies: Vec<u32> = Vec::with_capacity(ops);
    let mut errors = BTreeMap::new();
    let mut ok = 0;
    for task in tasks {
        match task.await {
            Ok(s) => {
                ok += s.ok;
                latencies.extend_from_slice(&s.latencies_us);
                for (k, v) in s.errors {
                    *errors.entry(k).or_insert(0) += v;
                }
            }
            Err(e) => {
                *errors
                    .entry(format!("session task panicked: {e}"))
                    .or_insert(0) += 1
            }
        }
    }
    let wall = start.elapsed();
    let cpu1 = (self_cpu(), servers_cpu(), machine_busy());
    let client_cpu = cpu1.0.saturating_sub(cpu0.0);
    let server_cpu = cpu1.1.saturating_sub(cpu0.1);
    let other_cpu = cpu1
        .2
        .saturating_sub(cpu0.2)
        .saturating_sub(client_cpu + server_cpu);
    let pct = |cpu: Duration| 100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    latencies.sort_unstable();
    PhaseResult {
        phase,
        requests: ops,
        ok,
        errors,
        ops_s: ok as f64 / wall.as_secs_f64().max(1e-9),
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        max: latencies
            .last()
            .map_or(Duration::ZERO, |&us| Duration::from_micros(us.into())),
        client_cpu: pct(client_cpu),
        server_cpu: pct(server_cpu),
        other_cpu: pct(other_cpu),
    }
}

struct SessionOutcome {
    ok: usize,
    /// Latency of every request (successful or not), microseconds.
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
}

async fn session_load(
    client: &zk::Client,
    phase: Phase,
    paths: &[String],
    value: &[u8],
    inflight: usize,
) -> SessionOutcome {
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    // zookeeper-client sends a request when the method is *called* (the returned future only
    // awaits the reply), so each issue below puts a request on the wire immediately.
    match phase {
        Phase::Create => {
            pipeline(paths.len(), inflight, |i| {
                let f = client.create(&paths[i], value, &opts);
                async move { f.await.map(drop) }
            })
            .await
        }
        Phase::Set => {
            pipeline(paths.len(), inflight, |i| {
                let f = client.set_data(&paths[i], value, None);
                async move { f.await.map(drop) }
            })
            .await
        }
        Phase::Get => {
            pipeline(paths.len(), inflight, |i| {
                let f = client.get_data(&paths[i]);
                async move {
                    let (data, _stat) = f.await?;
                    if data.len() == value.len() {
                        Ok(())
                    } else {
                        Err(zk::Error::UnexpectedError(format!(
                            "get returned {} bytes, expected {}",
                            data.len(),
                            value.len()
                        )))
                    }
                }
            })
            .await
        }
    }
}

/// Issue requests `0..n` via `issue`, keeping up to `inflight` outstanding, timing each.
async fn pipeline<F, Fut>(n: usize, inflight: usize, mut issue: F) -> SessionOutcome
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<(), zk::Error>>,
{
    let mut out = SessionOutcome {
        ok: 0,
        latencies_us: Vec::with_capacity(n),
        errors: BTreeMap::new(),
    };
    let mut pending = FuturesUnordered::new();
    let mut next = 0;
    while next < n || !pending.is_empty() {
        while next < n && pending.len() < inflight {
            let t0 = Instant::now();
            let f = issue(next);
            pending.push(async move { (f.await, t0.elapsed()) });
            next += 1;
        }
        if let Some((result, elapsed)) = pending.next().await {
            out.latencies_us
                .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
            match result {
                Ok(()) => out.ok += 1,
                Err(e) => *out.errors.entry(e.to_string()).or_insert(0) += 1,
            }
        }
    }
    out
}

fn percentile(sorted_us: &[u32], p: f64) -> Duration {
    if sorted_us.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted_us.len()) - 1;
    Duration::from_micros(sorted_us[idx].into())
}

/// A server child process in its own fresh directory.
struct Server {
    target: Target,
    child: Option<Child>,
    addr: SocketAddr,
    dir: PathBuf,
    keep_dir: bool,
}

impl Server {
    /// Starts one server on client `port`; `member` = (myid, server.N lines) for an ensemble.
    fn start(
        args: &Args,
        target: Target,
        port: u16,
        member: Option<(usize, &str)>,
    ) -> Result<Server> {
        let rill_bin = match target {
            Target::Rill => Some(fs::canonicalize(&args.rill_bin).with_context(|| {
                format!(
                    "rill binary {} not found (build it: cargo build --release -p rill)",
                    args.rill_bin.display()
                )
            })?),
            Target::Zookeeper => None,
        };
        let base = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
        let dir = base.join(match member {
            None => format!("keeper-bench-{}-{target}", std::process::id()),
            Some((id, _)) => format!("keeper-bench-{}-{target}-{id}", std::process::id()),
        });
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("clear {}", dir.display()))?;
        }
        let data = dir.join("data");
        let datalog = dir.join("datalog");
        let logs = dir.join("logs");
        for d in [&data, &datalog, &logs] {
            fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let quorum = match member {
            None => String::new(),
            Some((id, lines)) => {
                fs::write(data.join("myid"), format!("{id}\n"))?;
                lines.to_owned()
            }
        };
        let cfg = dir.join("zoo.cfg");
        fs::write(
            &cfg,
            format!(
                "tickTime=2000\n\
                 initLimit=10\n\
                 syncLimit=5\n\
                 dataDir={}\n\
                 dataLogDir={}\n\
                 clientPort={port}\n\
                 clientPortAddress=127.0.0.1\n\
                 maxClientCnxns=0\n\
                 4lw.commands.whitelist=*\n\
                 forceSync={}\n\
                 admin.enableServer=false\n{quorum}",
                data.display(),
                datalog.display(),
                args.force_sync,
            ),
        )?;
        let stdout = fs::File::create(logs.join("stdout.log"))?;
        let stderr = fs::File::create(logs.join("stderr.log"))?;
        let mut cmd = match target {
            Target::Rill => {
                let mut c = Command::new(rill_bin.as_ref().expect("checked above"));
                c.arg("keeper").arg("--config").arg(&cfg);
                c
            }
            Target::Zookeeper => {
                let mut c = Command::new(&args.java);
                c.arg(format!("-Xmx{}", args.zk_heap))
                    .args(&args.zk_jvm_opt)
                    .arg(format!("-Dzookeeper.log.dir={}", logs.display()))
                    .arg("-Dzookeeper.root.logger=INFO,ROLLINGFILE")
                    .arg("-cp")
                    .arg(&args.zk_classpath)
                    .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                    .arg(&cfg);
                c
            }
        };
        cmd.current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        println!("{target}: starting {:?}", cmd);
        let child = cmd.spawn().with_context(|| format!("spawn {target}"))?;
        Ok(Server {
            target,
            child: Some(child),
            addr,
            dir,
            keep_dir: args.keep_dir,
        })
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "{} exited during start-up ({status}); stderr:\n{}",
                        self.target,
                        self.log_tail()
                    );
                }
            }
            let addr = self.addr;
            let answer = tokio::task::spawn_blocking(move || four_letter(addr, "ruok")).await?;
            if matches!(answer.as_deref(), Ok("imok")) {
                println!(
                    "{}: answered ruok after {:.1}s",
                    self.target,
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer ruok with imok within {timeout:?} (last: {answer:?}); \
                     stderr:\n{}",
                    self.target,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn log_tail(&self) -> String {
        let mut s = String::new();
        for f in ["stderr.log", "stdout.log"] {
            if let Ok(text) = fs::read_to_string(self.dir.join("logs").join(f)) {
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(20);
                s.push_str(&lines[from..].join("\n"));
            }
        }
        s
    }

    /// SIGTERM, wait up to 10 s, then SIGKILL.
    async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.keep_dir {
            println!("{}: kept {}", self.target, self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Send a four-letter word and read the whole answer.
fn four_letter(addr: SocketAddr, cmd: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(cmd.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.trim().to_string())
}

fn read_mem(pid: u32) -> Result<Mem> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Mem {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    })
}

/// utime + stime of a process (all its threads) from /proc/<pid>/stat.
fn proc_cpu(pid: u32) -> Duration {
    stat_cpu(&format!("/proc/{pid}/stat"))
}

fn self_cpu() -> Duration {
    stat_cpu("/proc/self/stat")
}

/// Wait until other processes use under 25% of one core over a second, or `limit` passes.
async fn wait_idle(target: Target, limit: Duration) {
    if limit.is_zero() {
        return;
    }
    let start = Instant::now();
    loop {
        let (b0, s0) = (machine_busy(), self_cpu());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let other = machine_busy()
            .saturating_sub(b0)
            .saturating_sub(self_cpu().saturating_sub(s0));
        if other < Duration::from_millis(250) {
            return;
        }
        if start.elapsed() >= limit {
            println!(
                "{target}: machine still busy ({:.0}% of a core used by others) after {limit:?}; \
                 going ahead",
                other.as_secs_f64() * 100.0
            );
            return;
        }
    }
}

/// USER_HZ: 100 on every Linux configuration that matters here (`getconf CLK_TCK`).
const TICKS_PER_SEC: u64 = 100;

/// Busy (non-idle, non-iowait) CPU time of the whole machine, all CPUs, from /proc/stat.
fn machine_busy() -> Duration {
    let Ok(text) = fs::read_to_string("/proc/stat") else {
        return Duration::ZERO;
    };
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return Duration::ZERO;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user/nice).
    let busy: u64 = v
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, x)| x)
        .sum();
    Duration::from_millis(busy * 1000 / TICKS_PER_SEC)
}

fn stat_cpu(path: &str) -> Duration {
    let Ok(text) = fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 1000 / TICKS_PER_SEC)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn phase_line(r: &PhaseResult) -> String {
    let mut s = format!(
        "{:<6} {:>8} ok = {:>8.0} ops/s  p50 {} ms  p99 {} ms  max {} ms  errors {}  \
         cpu%: client {:.0} server {:.0} other {:.0}",
        r.phase.to_string(),
        r.ok,
        r.ops_s,
        ms(r.p50),
        ms(r.p99),
        ms(r.max),
        r.error_count(),
        r.client_cpu,
        r.server_cpu,
        r.other_cpu,
    );
    for (e, n) in &r.errors {
        s.push_str(&format!("\n        error x{n}: {e}"));
    }
    s
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Per-metric median of `target`'s rounds (errors are summed, not medianed).
fn median_over_rounds(results: &[TargetResult], target: Target) -> Option<TargetResult> {
    let runs: Vec<&TargetResult> = results.iter().filter(|r| r.target == target).collect();
    let first = runs.first()?;
    let med = |f: &dyn Fn(&TargetResult) -> f64| median_f64(runs.iter().map(|r| f(r)).collect());
    let secs = |d: Duration| d.as_secs_f64();
    let mut phases = Vec::new();
    for p in &first.phases {
        let of = |r: &TargetResult| r.phases.iter().find(|q| q.phase == p.phase).cloned();
        let all: Vec<PhaseResult> = runs.iter().filter_map(|r| of(r)).collect();
        let m = |f: &dyn Fn(&PhaseResult) -> f64| median_f64(all.iter().map(f).collect());
        let mut errors = BTreeMap::new();
        for r in &all {
            for (k, v) in &r.errors {
                *errors.entry(k.clone()).or_insert(0) += v;
            }
        }
        phases.push(PhaseResult {
            phase: p.phase,
            requests: p.requests,
            ok: m(&|r| r.ok as f64) as usize,
            errors,
            ops_s: m(&|r| r.ops_s),
            p50: Duration::from_secs_f64(m(&|r| secs(r.p50))),
            p99: Duration::from_secs_f64(m(&|r| secs(r.p99))),
            max: Duration::from_secs_f64(m(&|r| secs(r.max))),
            client_cpu: m(&|r| r.client_cpu),
            server_cpu: m(&|r| r.server_cpu),
            other_cpu: m(&|r| r.other_cpu),
        });
    }
    Some(TargetResult {
        target,
        round: 0,
        phases,
        idle: Mem {
            rss_kib: med(&|r| r.idle.rss_kib as f64) as u64,
            hwm_kib: med(&|r| r.idle.hwm_kib as f64) as u64,
        },
        loaded: Mem {
            rss_kib: med(&|r| r.loaded.rss_kib as f64) as u64,
            hwm_kib: med(&|r| r.loaded.hwm_kib as f64) as u64,
        },
        failover: {
            let all: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.failover.map(|d| d.as_secs_f64()))
                .collect();
            (!all.is_empty()).then(|| Duration::from_secs_f64(median_f64(all)))
        },
    })
}

fn round_label(r: &TargetResult) -> String {
    if r.round == 0 {
        "median".to_string()
    } else {
        r.round.to_string()
    }
}

fn print_rows(results: &[TargetResult]) {
    println!(
        "{:<10} {:>6} {:<7} {:>9} {:>9} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7}",
        "target",
        "round",
        "phase",
        "requests",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "cli cpu",
        "srv cpu",
        "oth cpu"
    );
    for t in results {
        for r in &t.phases {
            println!(
                "{:<10} {:>6} {:<7} {:>9} {:>9.0} {:>8} {:>8} {:>7} {:>6.0}% {:>6.0}% {:>6.0}%",
                t.target.to_string(),
                round_label(t),
                r.phase.to_string(),
                r.requests,
                r.ops_s,
                ms(r.p50),
                ms(r.p99),
                r.error_count(),
                r.client_cpu,
                r.server_cpu,
                r.other_cpu,
            );
        }
    }
    println!();
    println!(
        "{:<10} {:>6} {:>13} {:>19} {:>15}",
        "target", "round", "idle RSS MiB", "after-load RSS MiB", "peak RSS MiB"
    );
    for t in results {
        println!(
            "{:<10} {:>6} {:>13} {:>19} {:>15}",
            t.target.to_string(),
            round_label(t),
            mib(t.idle.rss_kib),
            mib(t.loaded.rss_kib),
            mib(t.loaded.hwm_kib)
        );
    }
    if results.iter().any(|t| t.failover.is_some()) {
        println!();
        println!(
            "{:<10} {:>6} {:>28}",
            "target", "round", "kill -9 leader -> write ms"
        );
        for t in results {
            let f = t.failover.map_or("-".to_string(), ms);
            println!(
                "{:<10} {:>6} {:>28}",
                t.target.to_string(),
                round_label(t),
                f
            );
        }
    }
}

fn print_ratios(results: &[TargetResult]) {
    let rill = results.iter().find(|t| t.target == Target::Rill);
    let zoo = results.iter().find(|t| t.target == Target::Zookeeper);
    let (Some(rill), Some(zoo)) = (rill, zoo) else {
        return;
    };
    println!();
    println!("rill / zookeeper [goal]:");
    println!(
        "{:<9} {:>16} {:>16} {:>5}",
        "phase", "throughput", "p99", "met"
    );
    for r in &rill.phases {
        let Some(z) = zoo.phases.iter().find(|z| z.phase == r.phase) else {
            continue;
        };
        let goal = if r.phase == Phase::Get { 1.5 } else { 2.0 };
        let tput = r.ops_s / z.ops_s.max(1e-9);
        let p99 = r.p99.as_secs_f64() / z.p99.as_secs_f64().max(1e-9);
        let met = tput >= goal && p99 <= 1.0 && r.error_count() == 0;
        println!(
            "{:<9} {:>16} {:>16} {:>5}",
            r.phase.to_string(),
            format!("{tput:.2}x [>={goal}x]"),
            format!("{p99:.2}x [<=1x]"),
            if met { "yes" } else { "NO" }
        );
    }
    let rss = rill.loaded.hwm_kib as f64 / (zoo.loaded.hwm_kib as f64).max(1.0);
    println!(
        "{:<9} {:>16} {:>16} {:>5}",
        "peak RSS",
        format!("{rss:.3}x [<=0.1x]"),
        "",
        if rss <= 0.1 { "yes" } else { "NO" }
    );
    if let (Some(r), Some(z)) = (rill.failover, zoo.failover) {
        let f = r.as_secs_f64() / z.as_secs_f64().max(1e-9);
        println!(
            "{:<9} {:>16} {:>16} {:>5}",
            "failover",
            format!("{f:.2}x [<=0.5x]"),
            "",
            if f <= 0.5 { "yes" } else { "NO" }
        );
    }
}
