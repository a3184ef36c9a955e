//! Keeper settings from environment variables, named as the official
//! `zookeeper` image names them (`ZOO_MY_ID`, `ZOO_SERVERS`, `ZOO_TICK_TIME`,
//! `ZOO_CFG_EXTRA`, ...). They apply over zoo.cfg (file < environment):
//! a variable replaces the file's line for its key, and `ZOO_SERVERS`
//! replaces every `server.N` line. Pure: the caller passes the environment.

use keeper::config::{parse_properties, ConfigError};

/// The official image's variables for single zoo.cfg keys.
const KEYS: &[(&str, &str)] = &[
    ("ZOO_TICK_TIME", "tickTime"),
    ("ZOO_INIT_LIMIT", "initLimit"),
    ("ZOO_SYNC_LIMIT", "syncLimit"),
    ("ZOO_DATA_DIR", "dataDir"),
    ("ZOO_DATA_LOG_DIR", "dataLogDir"),
    ("ZOO_PORT", "clientPort"),
    ("ZOO_MAX_CLIENT_CNXNS", "maxClientCnxns"),
    ("ZOO_AUTOPURGE_PURGEINTERVAL", "autopurge.purgeInterval"),
    ("ZOO_AUTOPURGE_SNAPRETAINCOUNT", "autopurge.snapRetainCount"),
    ("ZOO_4LW_COMMANDS_WHITELIST", "4lw.commands.whitelist"),
    ("ZOO_STANDALONE_ENABLED", "standaloneEnabled"),
    ("ZOO_ADMINSERVER_ENABLED", "admin.enableServer"),
];

/// The image's variables that are not zoo.cfg keys (`ZOO_CONF_DIR` is used
/// to find zoo.cfg when no --config is given).
const NOT_KEYS: &[&str] = &["ZOO_CONF_DIR", "ZOO_LOG_DIR", "ZOO_USER", "ZOO_LOG4J_PROP"];

/// What the environment says about the keeper's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeeperEnv {
    /// `(variable, zoo.cfg key, value)`, in the order they are applied.
    pub settings: Vec<(String, String, String)>,
    /// `ZOO_SERVERS` was set: the file's `server.N` lines are dropped.
    pub replaces_servers: bool,
    /// `ZOO_MY_ID`.
    pub my_id: Option<u64>,
    /// `ZOO_CONF_DIR`.
    pub conf_dir: Option<String>,
    /// Unknown `ZOO_*` variables, named.
    pub warnings: Vec<String>,
}

impl KeeperEnv {
    pub fn is_empty(&self) -> bool {
        self.settings.is_empty() && !self.replaces_servers && self.my_id.is_none()
    }

    /// Reads the `ZOO_*` variables of `vars`.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("ZOO_"))
            .collect();
        vars.sort();
        let mut env = KeeperEnv::default();
        let mut extra = Vec::new();
        for (var, value) in vars {
            let value = value.trim().to_owned();
            if let Some((_, key)) = KEYS.iter().find(|(v, _)| *v == var) {
                env.settings.push((var, (*key).to_owned(), value));
                continue;
            }
            match var.as_str() {
                "ZOO_MY_ID" => {
                    env.my_id = Some(value.parse().map_err(|_| {
                        format!("environment variable ZOO_MY_ID: invalid value '{value}': expected a server number (the N of a server.N line)")
                    })?);
                }
                "ZOO_SERVERS" => {
                    env.replaces_servers = true;
                    for entry in value.split([' ', ',', '\n', '\t']).filter(|e| !e.is_empty()) {
                        let (key, server) = entry
                            .split_once('=')
                            .filter(|(k, _)| k.starts_with("server."))
                            .ok_or_else(|| {
                                format!("environment variable ZOO_SERVERS: invalid entry '{entry}': expected server.N=host:peerPort:electionPort[;clientPort], separated by spaces")
                            })?;
                        env.settings
                            .push((var.clone(), key.to_owned(), server.to_owned()));
                    }
                }
                "ZOO_CFG_EXTRA" => extra.push(value),
                "ZOO_CONF_DIR" => env.conf_dir = Some(value),
                v if NOT_KEYS.contains(&v) => {}
                _ => env.warnings.push(format!(
                    "environment variable {var} is not a setting rill knows (ZOO_MY_ID, ZOO_SERVERS, ZOO_CFG_EXTRA, {}); ignored",
                    KEYS.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        // ZOO_CFG_EXTRA last: it may set anything, as the image appends it last.
        for value in extra {
            for entry in value.split_whitespace() {
                let (key, v) = entry.split_once('=').ok_or_else(|| {
                    format!("environment variable ZOO_CFG_EXTRA: invalid entry '{entry}': expected key=value, separated by spaces")
                })?;
                env.settings
                    .push(("ZOO_CFG_EXTRA".to_owned(), key.to_owned(), v.to_owned()));
            }
        }
        Ok(env)
    }

    /// zoo.cfg text with the environment applied: the file's lines for keys
    /// the environment sets are blanked (and its `server.N` lines when
    /// `ZOO_SERVERS` is set), keeping the other lines' numbers for error
    /// messages, then the environment's lines follow.
    pub fn apply(&self, file: &str) -> String {
        let (props, _) = parse_properties(file);
        let mut lines: Vec<&str> = file.lines().collect();
        for p in props {
            let replaced = self.settings.iter().any(|(_, k, _)| *k == p.key)
                || (self.replaces_servers && p.key.starts_with("server."));
            if let Some(line) = lines.get_mut(p.line.wrapping_sub(1)).filter(|_| replaced) {
                *line = "";
            }
        }
        let mut out = lines.join("\n");
        out.push('\n');
        for (_, key, value) in &self.settings {
            out.push_str(&format!("{key}={value}\n"));
        }
        out
    }

    /// The variable that set `key`, if one did.
    pub fn var_for(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .rev()
            .find(|(_, k, _)| k == key)
            .map(|(v, _, _)| v.as_str())
    }

    /// Rewords the config's "unknown key" warning for a key the environment
    /// set (through `ZOO_CFG_EXTRA`) so it names the variable.
    pub fn explain_warning(&self, warning: String) -> String {
        let key = warning
            .strip_prefix("unknown key '")
            .and_then(|rest| rest.split_once('\''))
            .map(|(key, _)| key);
        match key.and_then(|k| Some((k, self.var_for(k)?))) {
            Some((key, var)) => format!("environment variable {var}: unknown key '{key}' ignored"),
            None => warning,
        }
    }

    /// Rewords an error about a key the environment set so it names the
    /// variable rather than a line of the merged text.
    pub fn explain(&self, e: ConfigError) -> anyhow::Error {
        match &e {
            ConfigError::BadValue {
                key, value, reason, ..
            } => match self.var_for(key) {
                Some(var) => anyhow::anyhow!(
                    "environment variable {var}: invalid value '{value}' for key '{key}': {reason}"
                ),
                None => e.into(),
            },
            _ => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(list: &[(&str, &str)]) -> Result<KeeperEnv, String> {
        KeeperEnv::from_vars(list.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn official_image_variables() {
        let e = env(&[
            ("ZOO_MY_ID", "2"),
            (
                "ZOO_SERVERS",
                "server.1=zoo1:2888:3888;2181 server.2=zoo2:2888:3888;2181",
            ),
            ("ZOO_TICK_TIME", "500"),
            ("ZOO_CFG_EXTRA", "maxSessionTimeout=9000 snapCount=10"),
            ("ZOO_CONF_DIR", "/conf"),
            ("ZOO_LOG_DIR", "/logs"),
            ("ZOO_BOGUS", "1"),
            ("PATH", "/bin"),
        ])
        .unwrap();
        assert_eq!(e.my_id, Some(2));
        assert_eq!(e.conf_dir.as_deref(), Some("/conf"));
        assert_eq!(e.warnings.len(), 1);
        assert!(e.warnings[0].starts_with("environment variable ZOO_BOGUS"));
        let file = "tickTime=2000\ndataDir=/data\nserver.1=a:1:2\nserver.3=c:1:2\n";
        let text = e.apply(file);
        assert_eq!(
            text,
            "\ndataDir=/data\n\n\nserver.1=zoo1:2888:3888;2181\nserver.2=zoo2:2888:3888;2181\ntickTime=500\nmaxSessionTimeout=9000\nsnapCount=10\n"
        );
        let (cfg, _) = keeper::KeeperConfig::from_text(&text, e.my_id).unwrap();
        assert_eq!((cfg.my_id, cfg.tick_time_ms), (Some(2), 500));
        assert_eq!(cfg.servers.len(), 2);
        assert_eq!(cfg.max_session_timeout_ms, 9000);
    }

    #[test]
    fn errors_name_the_variable() {
        let e = env(&[("ZOO_MY_ID", "two")]).unwrap_err();
        assert!(e.contains("ZOO_MY_ID") && e.contains("'two'"), "{e}");
        let e = env(&[("ZOO_SERVERS", "zoo1:2888:3888")]).unwrap_err();
        assert!(
            e.contains("ZOO_SERVERS") && e.contains("zoo1:2888:3888"),
            "{e}"
        );
        let e = env(&[("ZOO_CFG_EXTRA", "novalue")]).unwrap_err();
        assert!(e.contains("ZOO_CFG_EXTRA"), "{e}");

        let e = env(&[("ZOO_TICK_TIME", "soon")]).unwrap();
        let text = e.apply("dataDir=/d\n");
        let err = keeper::KeeperConfig::from_text(&text, None).unwrap_err();
        let msg = e.explain(err).to_string();
        assert_eq!(
            msg,
            "environment variable ZOO_TICK_TIME: invalid value 'soon' for key 'tickTime': expected an integer between 1 and 4294967295"
        );
        let e = env(&[("ZOO_CFG_EXTRA", "noSuchKey=1")]).unwrap();
        let (_, warnings) =
            keeper::KeeperConfig::from_text(&e.apply("dataDir=/d\n"), None).unwrap();
        let warnings: Vec<String> = warnings.into_iter().map(|w| e.explain_warning(w)).collect();
        assert_eq!(
            warnings,
            ["environment variable ZOO_CFG_EXTRA: unknown key 'noSuchKey' ignored"]
        );
        // File lines keep their numbers in errors.
        let err = keeper::KeeperConfig::from_text(&e.apply("# c\ninitLimit=x\ndataDir=/d\n"), None)
            .unwrap_err();
        assert!(e.explain(err).to_string().contains("(line 2)"));
        // A myid without its server line is refused.
        let e = env(&[
            ("ZOO_MY_ID", "3"),
            ("ZOO_SERVERS", "server.1=a:1:2 server.2=b:1:2"),
        ])
        .unwrap();
        let text = e.apply("dataDir=/d\n");
        assert!(keeper::KeeperConfig::from_text(&text, e.my_id).is_err());
        assert!(env(&[]).unwrap().is_empty());
    }
}
