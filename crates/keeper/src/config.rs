//! zoo.cfg: parsing and validation.
//!
//! The file is Java-properties style `key=value`. As the seeds write it, a
//! value may be followed by `# comment` on the same line; ZooKeeper would keep
//! that text in the value, we strip it and warn. Unknown keys are warnings that
//! name the key; a bad value is an error naming key and value.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A config problem that stops start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid value '{value}' for key '{key}' (line {line}): {reason}")]
    BadValue {
        key: String,
        value: String,
        line: usize,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
}

pub use props::{parse_properties, Property};

/// A peer of the ensemble from a `server.N=host:peerPort:electionPort` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    pub id: u64,
    pub host: String,
    pub peer_port: u16,
    pub election_port: u16,
    pub observer: bool,
    pub client_port: Option<u16>,
}

/// The keeper's configuration, with ZooKeeper's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeeperConfig {
    pub tick_time_ms: u32,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    pub client_port: u16,
    pub client_port_address: Option<IpAddr>,
    /// Per client IP; 0 = unlimited.
    pub max_client_cnxns: u32,
    pub snap_retain_count: u32,
    /// How often old snapshots and logs are purged (`autopurge.purgeInterval`
    /// hours, or Rill's `autopurge.purgeIntervalMs`); `None` disables autopurge.
    pub purge_interval: Option<std::time::Duration>,
    pub min_session_timeout_ms: u32,
    pub max_session_timeout_ms: u32,
    pub force_sync: bool,
    /// Allowed four-letter words; `None` = all (`*`).
    pub four_letter_whitelist: Option<Vec<String>>,
    pub jute_max_buffer: u32,
    /// Transactions between snapshots.
    pub snap_count: u64,
    pub container_check_interval_ms: u64,
    /// `user:base64hash` whose holder bypasses ACLs.
    pub super_digest: Option<String>,
    pub servers: Vec<ServerEntry>,
    pub my_id: Option<u64>,
    /// Every key as given (after comment stripping), for `conf`.
    pub raw: BTreeMap<String, String>,
}

/// The default four-letter-word whitelist. ZooKeeper's is `srvr` alone; we add
/// `ruok`, which health probes (e.g. seed 003's `zookeeper-ready`) rely on.
pub const DEFAULT_FOUR_LETTER_WHITELIST: &[&str] = &["srvr", "ruok"];

/// Keys ZooKeeper knows that we accept but that change nothing here.
const ACCEPTED_UNUSED: &[&str] = &[
    "admin.enableServer",
    "admin.serverPort",
    "admin.serverAddress",
    "standaloneEnabled",
    "reconfigEnabled",
    "skipACL",
    "preAllocSize",
    "globalOutstandingLimit",
    "syncEnabled",
    "electionAlg",
    "quorumListenOnAllIPs",
    "metricsProvider.className",
    "metricsProvider.httpPort",
    "metricsProvider.exportJvmInfo",
    "secureClientPort",
    "dynamicConfigFile",
    "leaderServes",
    "cnxTimeout",
    "maxCnxns",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
];

impl KeeperConfig {
    /// Defaults for a fresh `rill keeper` / `rill dev` with no zoo.cfg.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        KeeperConfig {
            tick_time_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            data_log_dir: data_dir.clone(),
            data_dir,
            client_port: 2181,
            client_port_address: None,
            max_client_cnxns: 60,
            snap_retain_count: 3,
            purge_interval: None,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40000,
            force_sync: true,
            four_letter_whitelist: Some(
                DEFAULT_FOUR_LETTER_WHITELIST
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            jute_max_buffer: 0xfffff,
            snap_count: 100_000,
            container_check_interval_ms: 60_000,
            super_digest: None,
            servers: Vec::new(),
            my_id: None,
            raw: BTreeMap::new(),
        }
    }

    /// Reads and validates a zoo.cfg file; returns the config and warnings.
    pub fn load(path: &Path) -> Result<(Self, Vec<String>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_text(&text, None)
    }

    /// Parses zoo.cfg text, then finds this server's number: `my_id` when
    /// given (e.g. from the environment), else `dataDir/myid`.
    pub fn from_text(text: &str, my_id: Option<u64>) -> Result<(Self, Vec<String>), ConfigError> {
        let (mut cfg, mut warnings) = Self::parse(text)?;
        if cfg.servers.is_empty() {
            return Ok((cfg, warnings));
        }
        let myid_path = cfg.data_dir.join("myid");
        let (id, from) = match my_id {
            Some(id) => (id, "given".to_owned()),
            None => match std::fs::read_to_string(&myid_path) {
                Ok(s) => {
                    let id = s.trim().parse::<u64>().map_err(|_| ConfigError::BadValue {
                        key: "myid".into(),
                        value: s.trim().into(),
                        line: 1,
                        reason: format!("{} must hold a server number", myid_path.display()),
                    })?;
                    (id, format!("from {}", myid_path.display()))
                }
                Err(_) if cfg.servers.len() == 1 => {
                    warnings.push(format!(
                        "{} not found; with a single server.N line running standalone",
                        myid_path.display()
                    ));
                    return Ok((cfg, warnings));
                }
                Err(e) => {
                    return Err(ConfigError::Io {
                        path: myid_path.display().to_string(),
                        reason: format!(
                            "{e} (each ensemble member needs its myid file in dataDir)"
                        ),
                    })
                }
            },
        };
        if !cfg.servers.iter().any(|s| s.id == id) {
            return Err(ConfigError::Invalid(format!(
                "myid {id} ({from}) has no server.{id} line in the config"
            )));
        }
        cfg.my_id = Some(id);
        Ok((cfg, warnings))
    }

    /// Parses zoo.cfg text (no file access: `myid` is read by [`Self::load`]).
    pub fn parse(text: &str) -> Result<(Self, Vec<String>), ConfigError> {
        let (props, mut warnings) = parse_properties(text);
        let mut cfg = Self::with_data_dir("");
        let mut data_dir = None;
        let mut data_log_dir = None;
        let mut min_timeout = None;
        let mut max_timeout = None;
        for p in &props {
            cfg.raw.insert(p.key.clone(), p.value.clone());
            let bad = |reason: &str| ConfigError::BadValue {
                key: p.key.clone(),
                value: p.value.clone(),
                line: p.line,
                reason: reason.to_owned(),
            };
            let int = |min: u64, max: u64| -> Result<u64, ConfigError> {
                let v: u64 = p
                    .value
                    .parse()
                    .map_err(|_| bad(&format!("expected an integer between {min} and {max}")))?;
                if v < min || v > max {
                    return Err(bad(&format!("expected an integer between {min} and {max}")));
                }
                Ok(v)
            };
            match p.key.as_str() {
                "tickTime" => cfg.tick_time_ms = int(1, u32::MAX as u64)? as u32,
                "initLimit" => cfg.init_limit = int(1, u32::MAX as u64)? as u32,
                "syncLimit" => cfg.sync_limit = int(1, u32::MAX as u64)? as u32,
                "dataDir" => {
                    data_dir =
                        Some(non_empty_path(&p.value).ok_or_else(|| bad("expected a directory"))?)
                }
                "dataLogDir" => {
                    data_log_dir =
                        Some(non_empty_path(&p.value).ok_or_else(|| bad("expected a directory"))?)
                }
                "clientPort" => cfg.client_port = int(0, 65535)? as u16,
                "clientPortAddress" => {
                    cfg.client_port_address = Some(
                        resolve_host(&p.value)
                            .ok_or_else(|| bad("expected an IP address or resolvable host name"))?,
                    )
                }
                "maxClientCnxns" => cfg.max_client_cnxns = int(0, u32::MAX as u64)? as u32,
                "autopurge.snapRetainCount" => {
                    let v = int(0, u32::MAX as u64)? as u32;
                    if v < 3 {
                        warnings.push(format!(
                            "autopurge.snapRetainCount={v} is below the minimum 3; using 3"
                        ));
                    }
                    cfg.snap_retain_count = v.max(3);
                }
                "autopurge.purgeInterval" => {
                    let hours = int(0, u32::MAX as u64)?;
                    cfg.purge_interval =
                        (hours > 0).then(|| std::time::Duration::from_secs(hours * 3600));
                }
                "autopurge.purgeIntervalMs" => {
                    let ms = int(0, u64::MAX)?;
                    cfg.purge_interval = (ms > 0).then(|| std::time::Duration::from_millis(ms));
                }
                "minSessionTimeout" => min_timeout = Some(int(0, i32::MAX as u64)? as u32),
                "maxSessionTimeout" => max_timeout = Some(int(0, i32::MAX as u64)? as u32),
                "forceSync" => {
                    cfg.force_sync = match p.value.to_ascii_lowercase().as_str() {
                        "yes" | "true" => true,
                        "no" | "false" => false,
                        _ => return Err(bad("expected yes or no")),
                    }
                }
                "4lw.commands.whitelist" => {
                    let words: Vec<String> = p
                        .value
                        .split(',')
                        .map(|w| w.trim().to_owned())
                        .filter(|w| !w.is_empty())
                        .collect();
                    cfg.four_letter_whitelist = if words.iter().any(|w| w == "*") {
                        None
                    } else {
                        Some(words)
                    };
                }
                "jute.maxbuffer" => cfg.jute_max_buffer = int(1, i32::MAX as u64)? as u32,
                "snapCount" => cfg.snap_count = int(2, u64::MAX)?,
                "znode.container.checkIntervalMs" => {
                    cfg.container_check_interval_ms = int(1, u64::MAX)?
                }
                "DigestAuthenticationProvider.superDigest"
                | "zookeeper.DigestAuthenticationProvider.superDigest" => {
                    if p.value.split(':').count() != 2 {
                        return Err(bad("expected user:base64-sha1 (see `rill keeper digest`)"));
                    }
                    cfg.super_digest = Some(p.value.clone());
                }
                "extendedTypesEnabled" => {
                    if !matches!(p.value.as_str(), "true" | "false") {
                        return Err(bad("expected true or false"));
                    }
                    // TTL nodes are always available here; the key is accepted for compatibility.
                }
                key if key.starts_with("server.") => {
                    cfg.servers.push(
                        parse_server_line(&key["server.".len()..], &p.value)
                            .map_err(|r| bad(&r))?,
                    );
                }
                key if ACCEPTED_UNUSED.contains(&key) => {}
                key => warnings.push(format!("unknown key '{key}' (line {}) ignored", p.line)),
            }
        }
        let data_dir = data_dir
            .ok_or_else(|| ConfigError::Invalid("dataDir is not set in the config".into()))?;
        cfg.data_log_dir = data_log_dir.unwrap_or_else(|| data_dir.clone());
        cfg.data_dir = data_dir;
        cfg.min_session_timeout_ms = min_timeout.unwrap_or(2 * cfg.tick_time_ms);
        cfg.max_session_timeout_ms = max_timeout.unwrap_or(20 * cfg.tick_time_ms);
        if cfg.min_session_timeout_ms > cfg.max_session_timeout_ms {
            return Err(ConfigError::Invalid(format!(
                "minSessionTimeout ({}) must not be larger than maxSessionTimeout ({})",
                cfg.min_session_timeout_ms, cfg.max_session_timeout_ms
            )));
        }
        let mut ids: Vec<u64> = cfg.servers.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(ConfigError::Invalid("a server.N id appears twice".into()));
        }
        Ok((cfg, warnings))
    }

    /// True when the config describes more than one server.
    pub fn is_ensemble(&self) -> bool {
        self.servers.len() > 1
    }

    pub fn four_letter_allowed(&self, word: &str) -> bool {
        match &self.four_letter_whitelist {
            None => true,
            Some(list) => list.iter().any(|w| w == word),
        }
    }
}

fn non_empty_path(v: &str) -> Option<PathBuf> {
    (!v.is_empty()).then(|| PathBuf::from(v))
}

fn resolve_host(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse() {
        return Some(ip);
    }
    use std::net::ToSocketAddrs;
    (host, 0).to_socket_addrs().ok()?.next().map(|a| a.ip())
}

/// `server.N=host:peerPort:electionPort[:participant|observer][;[addr:]clientPort]`.
fn parse_server_line(id: &str, value: &str) -> Result<ServerEntry, String> {
    let id: u64 = id
        .parse()
        .map_err(|_| format!("server id '{id}' is not a number"))?;
    if id > 254 {
        return Err("server ids must be between 0 and 254".into());
    }
    let (addr, client) = match value.split_once(';') {
        Some((a, c)) => (a, Some(c)),
        None => (value, None),
    };
    let parts: Vec<&str> = addr.split(':').collect();
    if parts.len() < 3 || parts.len() > 4 {
        return Err("expected host:peerPort:electionPort".into());
    }
    let port = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("'{s}' is not a port number"))
    };
    let observer = match parts.get(3) {
        None | Some(&"participant") => false,
        Some(&"observer") => true,
        Some(other) => return Err(format!("unknown role '{other}' (participant or observer)")),
    };
    let client_port = match client {
        None => None,
        Some(c) => Some(port(c.rsplit(':').next().unwrap_or(c))?),
    };
    Ok(ServerEntry {
        id,
        host: parts[0].to_owned(),
        peer_port: port(parts[1])?,
        election_port: port(parts[2])?,
        observer,
        client_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_000: &str = "# The number of milliseconds of each tick
tickTime=2000 
initLimit=10
syncLimit=5
dataDir=/data/zookeeper   #zookeeper myid集群优先级文件 所在位置
clientPort=2181   #zookeeper启动端口号
#maxClientCnxns=60
server.1=192.168.1.1:2188:2888   #集群的IP地址,端口不需要动
server.2=192.168.1.2:2188:2888
server.3=192.168.1.3:2188:2888 
#forceSync=no
maxSessionTimeout=300000
zookeeper.connection.timeout.ms=60000
";

    #[test]
    fn seed_000_parses_with_warnings() {
        let (cfg, warnings) = KeeperConfig::parse(SEED_000).unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/data/zookeeper"));
        assert_eq!(cfg.client_port, 2181);
        assert_eq!(cfg.max_session_timeout_ms, 300000);
        assert_eq!(cfg.min_session_timeout_ms, 4000);
        assert_eq!(cfg.servers.len(), 3);
        assert_eq!(cfg.servers[0].host, "192.168.1.1");
        assert_eq!(
            (cfg.servers[0].peer_port, cfg.servers[0].election_port),
            (2188, 2888)
        );
        assert!(warnings
            .iter()
            .any(|w| w.contains("zookeeper.connection.timeout.ms")));
        assert_eq!(
            warnings
                .iter()
                .filter(|w| w.contains("trailing comment"))
                .count(),
            3
        );
    }

    #[test]
    fn seed_002_style_and_defaults() {
        let text = "tickTime=2000\ndataDir=/opt/zk/data\ndataLogDir=/opt/zk/logs\nclientPort=2181\nautopurge.snapRetainCount=3\nautopurge.purgeInterval=1\nserver.1=0.0.0.0:2888:3888\nserver.2=10.0.0.2:2888:3888\n";
        let (cfg, warnings) = KeeperConfig::parse(text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cfg.data_log_dir, PathBuf::from("/opt/zk/logs"));
        assert_eq!(
            cfg.purge_interval,
            Some(std::time::Duration::from_secs(3600))
        );
        assert_eq!(cfg.servers[0].host, "0.0.0.0");
        assert!(cfg.four_letter_allowed("srvr"));
        assert!(!cfg.four_letter_allowed("mntr"));
    }

    #[test]
    fn bad_values_name_key_and_value() {
        let err = KeeperConfig::parse("dataDir=/x\ntickTime=abc\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("tickTime") && msg.contains("abc"), "{msg}");
        let err = KeeperConfig::parse("dataDir=/x\nforceSync=maybe\n").unwrap_err();
        assert!(err.to_string().contains("forceSync"));
        assert!(KeeperConfig::parse("clientPort=1\n").is_err());
        assert!(KeeperConfig::parse("dataDir=/x\nserver.1=host:1\n").is_err());
        assert!(KeeperConfig::parse(
            "dataDir=/x\nminSessionTimeout=9000\nmaxSessionTimeout=5000\n"
        )
        .is_err());
    }

    #[test]
    fn whitelist_star_allows_all() {
        let (cfg, _) = KeeperConfig::parse("dataDir=/x\n4lw.commands.whitelist=*\n").unwrap();
        assert!(cfg.four_letter_allowed("mntr"));
        let (cfg, _) =
            KeeperConfig::parse("dataDir=/x\n4lw.commands.whitelist=stat, ruok\n").unwrap();
        assert!(cfg.four_letter_allowed("ruok") && !cfg.four_letter_allowed("srvr"));
    }
}
