//! Four-letter words on the client port (`ruok`, `srvr`, `mntr`, ...), with
//! Apache ZooKeeper's output shapes so existing probes and scrapers work.

use std::fmt::Write;

use crate::server::core::Core;

/// Every word ZooKeeper knows; the first 4 bytes of a connection are checked against these.
pub const WORDS: &[&str] = &[
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srvr", "srst", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];

/// The version string reported to tools: the ZooKeeper release we match, then ours.
pub fn version() -> String {
    format!("3.8.0-rill-{}, built on rill", env!("CARGO_PKG_VERSION"))
}

/// Java prints doubles with at least one decimal ("0.0").
fn java_double(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir.join("version-2"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub fn answer(core: &mut Core, word: &str) -> String {
    if !core.cfg.four_letter_allowed(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    match word {
        "ruok" => "imok".into(),
        "srvr" | "stat" | "mntr" | "cons" | "dump" | "wchc" | "wchp" | "wchs" if !serving(core) => {
            // ZooKeeper's answer while a member is not part of a quorum.
            "This ZooKeeper instance is not currently serving requests\n".into()
        }
        "isro" => "rw".into(),
        "srvr" => server_summary(core, false),
        "stat" => server_summary(core, true),
        "mntr" => mntr(core),
        "conf" => conf(core),
        "cons" => {
            let mut out = String::new();
            connection_lines(core, &mut out, true);
            out.push('\n');
            out
        }
        "crst" => {
            core.reset_stats();
            "Connection stats reset.\n".into()
        }
        "srst" => {
            core.reset_stats();
            "Server stats reset.\n".into()
        }
        "envi" => envi(),
        "dirs" => format!(
            "datadir_size: {}\nlogdir_size: {}\n",
            dir_size(&core.cfg.data_dir),
            dir_size(&core.cfg.data_log_dir)
        ),
        "wchc" => watches_by(core, true),
        "wchp" => watches_by(core, false),
        "wchs" => format!(
            "{} connections watching {} paths\nTotal watches:{}\n",
            core.watches.conn_count(),
            core.watches.path_count(),
            core.watches.count()
        ),
        "dump" => dump(core),
        "gtmk" | "stmk" => "0\n".into(),
        "hash" => "Digest is not enabled.\n".into(),
        other => format!("Unknown command {other}\n"),
    }
}

/// `wchc` (by session, then its paths) or `wchp` (by path, then sessions).
fn watches_by(core: &Core, by_session: bool) -> String {
    let mut pairs: Vec<(String, String)> = core
        .watches
        .pairs()
        .into_iter()
        .map(|(conn, p)| (format!("0x{:x}", core.session_of(conn)), p))
        .map(|(s, p)| if by_session { (s, p) } else { (p, s) })
        .collect();
    pairs.sort();
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for (key, value) in &pairs {
        if current != Some(key.as_str()) {
            let _ = writeln!(out, "{key}");
            current = Some(key);
        }
        let _ = writeln!(out, "\t{value}");
    }
    out
}

fn serving(core: &Core) -> bool {
    core.role().is_none_or(|r| r.serving())
}

/// `standalone`, `leader` or `follower`.
fn mode(core: &Core) -> &'static str {
    core.role().map_or("standalone", |r| r.mode.name())
}

fn server_summary(core: &Core, with_clients: bool) -> String {
    let mut out = format!("Zookeeper version: {}\n", version());
    if with_clients {
        out.push_str("Clients:\n");
        connection_lines(core, &mut out, false);
        out.push('\n');
    }
    let l = &core.stats.latency;
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        l.min().round() as u64,
        java_double(l.avg()),
        l.max_ms.round() as u64,
        core.stats.packets_received,
        core.stats.packets_sent,
        core.conn_count(),
        core.outstanding(),
        core.state.last_zxid,
        mode(core),
        core.state.tree.node_count()
    );
    out
}

fn connection_lines(core: &Core, out: &mut String, detailed: bool) {
    for (addr, s, queued) in core.connections() {
        let _ = write!(
            out,
            " /{addr}[1](queued={queued},recved={},sent={}",
            s.received, s.sent
        );
        if detailed {
            let _ = write!(
                out,
                ",sid=0x{:x},lop={},est={},to={},lzxid=0x{:x},minlat={},avglat={},maxlat={}",
                s.session,
                op_name(s.last_op),
                s.established_ms,
                s.timeout_ms,
                s.last_zxid,
                s.latency.min().round() as u64,
                java_double(s.latency.avg()),
                s.latency.max_ms.round() as u64
            );
        }
        out.push_str(")\n");
    }
}

fn op_name(op: i32) -> &'static str {
    use crate::proto::op;
    match op {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => "CREA",
        op::DELETE => "DELE",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_DATA => "SETD",
        op::GET_ACL => "GETA",
        op::SET_ACL => "SETA",
        op::GET_CHILDREN | op::GET_CHILDREN2 => "GETC",
        op::SYNC => "SYNC",
        op::PING => "PING",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::SET_WATCHES | op::SET_WATCHES2 => "SETW",
        op::CLOSE_SESSION => "CLOS",
        _ => "NA",
    }
}

fn mntr(core: &Core) -> String {
    let l = &core.stats.latency;
    let (open_fds, max_fds) = fd_counts();
    let mut lines: Vec<(&str, String)> = vec![
        ("zk_version", version()),
        ("zk_server_state", mode(core).into()),
        (
            "zk_ephemerals_count",
            core.state.tree.ephemeral_count().to_string(),
        ),
        ("zk_min_latency", (l.min().round() as u64).to_string()),
        ("zk_avg_latency", java_double(l.avg())),
        ("zk_max_latency", (l.max_ms.round() as u64).to_string()),
        (
            "zk_packets_received",
            core.stats.packets_received.to_string(),
        ),
        ("zk_packets_sent", core.stats.packets_sent.to_string()),
        ("zk_num_alive_connections", core.conn_count().to_string()),
        ("zk_outstanding_requests", core.outstanding().to_string()),
        ("zk_znode_count", core.state.tree.node_count().to_string()),
        ("zk_watch_count", core.watches.count().to_string()),
        (
            "zk_approximate_data_size",
            core.state.tree.approximate_data_size().to_string(),
        ),
        ("zk_open_file_descriptor_count", open_fds.to_string()),
        ("zk_max_file_descriptor_count", max_fds.to_string()),
        ("zk_global_sessions", core.session_count().to_string()),
        ("zk_local_sessions", "0".into()),
        ("zk_last_proposal_size", "-1".into()),
    ];
    if let Some(role) = core.role().filter(|r| r.mode == crate::raft::Mode::Leader) {
        lines.extend([
            ("zk_learners", role.followers.to_string()),
            ("zk_followers", role.followers.to_string()),
            ("zk_synced_followers", role.synced_followers.to_string()),
            ("zk_synced_non_voting_followers", "0".into()),
            ("zk_synced_observers", "0".into()),
            ("zk_pending_syncs", "0".into()),
        ]);
    }
    let mut out = String::new();
    for (k, v) in lines {
        let _ = writeln!(out, "{k}\t{v}");
    }
    out
}

fn fd_counts() -> (u64, u64) {
    let open = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0);
    (open, max)
}

fn conf(core: &Core) -> String {
    let c = &core.cfg;
    let mut out = format!(
        "clientPort={}\nsecureClientPort=-1\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId={}\n",
        c.client_port,
        c.data_dir.join("version-2").display(),
        dir_size(&c.data_dir),
        c.data_log_dir.join("version-2").display(),
        dir_size(&c.data_log_dir),
        c.tick_time_ms,
        c.max_client_cnxns,
        c.min_session_timeout_ms,
        c.max_session_timeout_ms,
        c.my_id.unwrap_or(0)
    );
    if c.is_ensemble() {
        // The quorum part of ZooKeeper's answer, with the peer port of each member.
        let _ = write!(
            out,
            "initLimit={}\nsyncLimit={}\nelectionAlg=3\nelectionPort=-1\nquorumPort=-1\npeerType=0\n",
            c.init_limit, c.sync_limit
        );
        for s in &c.servers {
            let _ = writeln!(
                out,
                "server.{}={}:{}:{}:{};{}",
                s.id,
                s.host,
                s.peer_port,
                s.election_port,
                if s.observer {
                    "observer"
                } else {
                    "participant"
                },
                s.client_port.unwrap_or(c.client_port)
            );
        }
    }
    out
}

fn envi() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!(
        "Environment:\nzookeeper.version={}\nhost.name={}\nos.name={}\nos.arch={}\nuser.name={}\nuser.dir={}\n",
        version(),
        host.trim(),
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::env::var("USER").unwrap_or_default(),
        cwd
    )
}

fn dump(core: &Core) -> String {
    let mut out = format!(
        "SessionTracker dump:\nGlobal Sessions({}):\n",
        core.state.sessions.len()
    );
    let mut sessions: Vec<_> = core.state.sessions.iter().collect();
    sessions.sort_by_key(|(id, _)| **id);
    for (id, s) in sessions {
        let _ = writeln!(out, "0x{id:x}\t{}ms", s.timeout_ms);
    }
    let mut eph: Vec<_> = core.state.tree.ephemerals_by_session().collect();
    eph.sort_by_key(|(id, _)| *id);
    let _ = writeln!(
        out,
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
        eph.len()
    );
    for (id, paths) in eph {
        let _ = writeln!(out, "0x{id:x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out
}
