//! What every Kafka tool shares: the runtime, connecting from the command
//! line's `--bootstrap-server` / `--command-config`, `key=value` lists and
//! Kafka's topic include lists.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::kafka_client::{ClientConfig, KafkaClient};

/// Runs a tool's async body on a small runtime.
pub fn block_on<F: Future>(body: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(body))
}

/// `key=value` pairs; the value is kept as given (a separator may be a space).
pub fn parse_kv(items: &[String], flag: &str) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .with_context(|| format!("{flag} expects key=value, got '{item}'"))
        })
        .collect()
}

/// A Java-style properties file (`key=value` or `key: value`, `#`/`!` comments).
pub fn load_properties(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the properties file {}", path.display()))?;
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (k, v) = line
            .split_once(['=', ':'])
            .with_context(|| format!("{}: '{line}' is not key=value", path.display()))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

/// Client settings from `--bootstrap-server` (or `bootstrap.servers` in the
/// config file) plus the few client properties these tools honour.
pub fn client_config(
    bootstrap: Option<&str>,
    properties: &BTreeMap<String, String>,
    client_id: &str,
) -> anyhow::Result<ClientConfig> {
    let Some(servers) = bootstrap.or(properties.get("bootstrap.servers").map(String::as_str))
    else {
        bail!("missing --bootstrap-server host:port (the broker to talk to, e.g. --bootstrap-server 127.0.0.1:9092)");
    };
    if let Some(protocol) = properties.get("security.protocol") {
        if !protocol.eq_ignore_ascii_case("PLAINTEXT") {
            bail!("security.protocol={protocol} is not supported by these tools yet: only PLAINTEXT listeners can be reached");
        }
    }
    let client_id = properties
        .get("client.id")
        .map_or(client_id, String::as_str);
    let mut config = ClientConfig::new(servers, client_id)?;
    if let Some(ms) = properties.get("request.timeout.ms") {
        let ms: u64 = ms
            .parse()
            .with_context(|| format!("request.timeout.ms '{ms}' is not a number"))?;
        config.request_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = properties.get("socket.connection.setup.timeout.max.ms") {
        let ms: u64 = ms.parse().with_context(|| {
            format!("socket.connection.setup.timeout.max.ms '{ms}' is not a number")
        })?;
        config.connect_timeout = Duration::from_millis(ms);
    }
    Ok(config)
}

/// Connects as a tool does: `--bootstrap-server` and an optional `--command-config` file.
pub async fn connect(
    bootstrap: Option<&str>,
    command_config: Option<&Path>,
    client_id: &str,
) -> anyhow::Result<KafkaClient> {
    let properties = match command_config {
        Some(path) => load_properties(path)?,
        None => BTreeMap::new(),
    };
    KafkaClient::connect(client_config(bootstrap, &properties, client_id)?).await
}

/// Kafka's include list: a regular expression matched against the whole
/// name, where `,` also separates alternatives (`IncludeList`).
pub struct IncludeList(regex::Regex);

impl IncludeList {
    pub fn new(pattern: &str) -> anyhow::Result<Self> {
        let cleaned = pattern.trim().trim_matches(['"', '\'']).replace(',', "|");
        let re = regex::Regex::new(&format!("^(?:{cleaned})$"))
            .with_context(|| format!("'{pattern}' is not a valid regular expression"))?;
        Ok(IncludeList(re))
    }

    pub fn matches(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

/// Topics whose names start with `__` are Kafka's own (`__consumer_offsets`, ...).
pub fn is_internal(topic: &str) -> bool {
    topic == "__consumer_offsets" || topic == "__transaction_state"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_lists_are_whole_name_regexes() {
        let l = IncludeList::new("foo.*,bar").unwrap();
        assert!(l.matches("foo1") && l.matches("bar"));
        assert!(!l.matches("barx") && !l.matches("xfoo"));
        assert!(IncludeList::new("a(").is_err());
    }

    #[test]
    fn kv_lists_need_equals() {
        assert_eq!(
            parse_kv(&[" a = b ".into()], "--config").unwrap(),
            vec![("a".into(), " b ".into())]
        );
        let e = parse_kv(&["oops".into()], "--config")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--config") && e.contains("oops"), "{e}");
    }

    #[test]
    fn only_plaintext_is_reachable() {
        let props = BTreeMap::from([("security.protocol".to_string(), "SASL_SSL".to_string())]);
        let e = client_config(Some("h:1"), &props, "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("SASL_SSL"), "{e}");
    }

    #[test]
    fn missing_bootstrap_says_how_to_fix() {
        let e = client_config(None, &BTreeMap::new(), "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--bootstrap-server"), "{e}");
    }
}
