//! `listeners` / `advertised.listeners` endpoints (`NAME://host:port`) and
//! `listener.security.protocol.map`, parsed as Kafka's `EndPoint` does.

use std::collections::BTreeMap;
use std::fmt;

/// Kafka's `SecurityProtocol`. Rill serves PLAINTEXT only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Case-insensitive, as `SecurityProtocol.forName`.
    pub fn parse(s: &str) -> Option<SecurityProtocol> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }
}

/// One listener endpoint. `host` is empty for "the default interface"
/// (`PLAINTEXT://:9092`); `port` 0 means "any free port".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Upper-cased, as Kafka's `ListenerName.normalised`.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: SecurityProtocol,
}

impl Listener {
    /// True for an empty host or a wildcard address (`0.0.0.0`, `::`):
    /// something to bind to, never to advertise.
    pub fn is_wildcard(&self) -> bool {
        matches!(
            self.host.as_str(),
            "" | "0.0.0.0" | "::" | "0:0:0:0:0:0:0:0"
        )
    }

    /// The `host:port` to bind: an empty host binds every interface.
    pub fn bind_address(&self) -> String {
        if self.host.is_empty() {
            format!("0.0.0.0:{}", self.port)
        } else {
            format_address(&self.host, self.port)
        }
    }

    /// This endpoint as clients should see it, the way Kafka registers a
    /// broker: an empty host (and, in Rill, a wildcard one, which Kafka
    /// rejects) becomes `hostname`; port 0 becomes the port actually bound.
    pub fn advertised(&self, hostname: &str, bound_port: Option<u16>) -> Listener {
        let mut out = self.clone();
        if out.is_wildcard() {
            out.host = hostname.to_owned();
        }
        if out.port == 0 {
            if let Some(port) = bound_port {
                out.port = port;
            }
        }
        out
    }
}

impl fmt::Display for Listener {
    /// Kafka's `EndPoint.connectionString`: `NAME://host:port`, `[v6]:port`, `NAME://:port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.is_empty() {
            write!(f, "{}://:{}", self.name, self.port)
        } else {
            write!(
                f,
                "{}://{}",
                self.name,
                format_address(&self.host, self.port)
            )
        }
    }
}

fn format_address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Parses `NAME:PROTOCOL,...`. Names are upper-cased.
pub fn parse_protocol_map(s: &str) -> Result<BTreeMap<String, SecurityProtocol>, String> {
    let mut map = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((name, proto)) = item.rsplit_once(':') else {
            return Err(format!("'{item}' is not NAME:PROTOCOL"));
        };
        let protocol = SecurityProtocol::parse(proto).ok_or_else(|| {
            format!(
                "invalid security protocol `{}` (expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)",
                proto.trim()
            )
        })?;
        map.insert(name.trim().to_ascii_uppercase(), protocol);
    }
    Ok(map)
}

/// Parses a comma-separated `NAME://host:port` list. Checks syntax and that
/// every name has a security protocol; uniqueness rules are the caller's.
pub fn parse_listeners(
    s: &str,
    protocols: &BTreeMap<String, SecurityProtocol>,
) -> Result<Vec<Listener>, String> {
    let listeners = s
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(|item| parse_listener(item, protocols))
        .collect::<Result<Vec<_>, _>>()?;
    if listeners.is_empty() {
        return Err("at least one listener is required".to_owned());
    }
    Ok(listeners)
}

fn parse_listener(
    item: &str,
    protocols: &BTreeMap<String, SecurityProtocol>,
) -> Result<Listener, String> {
    let unparseable = || format!("cannot parse '{item}' as NAME://host:port");
    let (name, rest) = item.rsplit_once("://").ok_or_else(unparseable)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(unparseable)?;
    let host = host.strip_prefix('[').unwrap_or(host);
    let host = host.strip_suffix(']').unwrap_or(host);
    let host_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'%' | b'.' | b'_' | b':'));
    if !host_ok || port.is_empty() {
        return Err(unparseable());
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("invalid port '{port}' in '{item}' (expected 0 to 65535)"))?;
    let name = name.to_ascii_uppercase();
    if name.is_empty() {
        return Err(format!("missing listener name in '{item}'"));
    }
    let security_protocol = *protocols.get(&name).ok_or_else(|| {
        format!(
            "no security protocol defined for listener {name} (see listener.security.protocol.map)"
        )
    })?;
    Ok(Listener {
        name,
        host: host.to_owned(),
        port,
        security_protocol,
    })
}

/// Kafka's rules for `listeners`: distinct names, and distinct ports unless
/// exactly one of two clashing endpoints is IPv4 and the other IPv6.
pub fn check_distinct(listeners: &[Listener], require_distinct_ports: bool) -> Result<(), String> {
    let list = || {
        listeners
            .iter()
            .map(Listener::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    for (i, a) in listeners.iter().enumerate() {
        for b in &listeners[i + 1..] {
            if a.name == b.name {
                return Err(format!(
                    "each listener must have a different name, listeners: {}",
                    list()
                ));
            }
            let family = |h: &str| h.parse::<std::net::IpAddr>().ok().map(|ip| ip.is_ipv4());
            let dual_stack = matches!(
                (family(&a.host), family(&b.host)),
                (Some(x), Some(y)) if x != y
            );
            if require_distinct_ports && a.port != 0 && a.port == b.port && !dual_stack {
                return Err(format!(
                    "each listener must have a different port unless exactly one listener has an IPv4 address and the other IPv6 address, listeners: {}",
                    list()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_map() -> BTreeMap<String, SecurityProtocol> {
        parse_protocol_map(
            "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        )
        .unwrap()
    }

    fn one(s: &str) -> Result<Listener, String> {
        parse_listeners(s, &default_map()).map(|mut v| v.remove(0))
    }

    #[test]
    fn listener_forms() {
        let l = one("PLAINTEXT://0.0.0.0:9092").unwrap();
        assert_eq!(
            (l.name.as_str(), l.host.as_str(), l.port),
            ("PLAINTEXT", "0.0.0.0", 9092)
        );
        let l = one("PLAINTEXT://:9092").unwrap();
        assert_eq!(l.host, "");
        assert_eq!(l.to_string(), "PLAINTEXT://:9092");
        assert_eq!(l.bind_address(), "0.0.0.0:9092");
        let l = one("plaintext://[::1]:9093").unwrap();
        assert_eq!((l.name.as_str(), l.host.as_str()), ("PLAINTEXT", "::1"));
        assert_eq!(l.to_string(), "PLAINTEXT://[::1]:9093");
        let l = one("SSL://my-host.example_1:0").unwrap();
        assert_eq!((l.port, l.security_protocol), (0, SecurityProtocol::Ssl));
        let two = parse_listeners(" PLAINTEXT://a:1 , SSL://b:2 ,", &default_map()).unwrap();
        assert_eq!(two.len(), 2);
    }

    #[test]
    fn listener_errors() {
        for bad in [
            "PLAINTEXT//h:1",
            "PLAINTEXT://h",
            "PLAINTEXT://h:port",
            "PLAINTEXT://h/x:1",
            "://h:1",
            "PLAINTEXT://h:70000",
        ] {
            assert!(one(bad).is_err(), "{bad}");
        }
        let err = one("CLIENT://h:1").unwrap_err();
        assert!(err.contains("CLIENT"), "{err}");
        assert!(parse_listeners(" , ", &default_map()).is_err());
    }

    #[test]
    fn distinct_rules() {
        let map = default_map();
        let dup_name = parse_listeners("PLAINTEXT://a:1,PLAINTEXT://b:2", &map).unwrap();
        assert!(check_distinct(&dup_name, false).is_err());
        let mut map2 = map.clone();
        map2.insert("INTERNAL".into(), SecurityProtocol::Plaintext);
        let dup_port = parse_listeners("PLAINTEXT://a:1,INTERNAL://b:1", &map2).unwrap();
        assert!(check_distinct(&dup_port, true).is_err());
        assert!(check_distinct(&dup_port, false).is_ok());
        let dual = parse_listeners("PLAINTEXT://127.0.0.1:1,INTERNAL://[::1]:1", &map2).unwrap();
        assert!(check_distinct(&dual, true).is_ok());
        let ephemeral = parse_listeners("PLAINTEXT://:0,INTERNAL://:0", &map2).unwrap();
        assert!(check_distinct(&ephemeral, true).is_ok());
    }

    #[test]
    fn advertising() {
        let l = one("PLAINTEXT://:0").unwrap();
        let a = l.advertised("node1.example", Some(41234));
        assert_eq!(a.to_string(), "PLAINTEXT://node1.example:41234");
        let l = one("PLAINTEXT://10.0.0.5:9092").unwrap();
        assert_eq!(l.advertised("node1", None), l);
    }

    #[test]
    fn protocol_map() {
        let m = parse_protocol_map("internal:plaintext, EXTERNAL:SASL_SSL").unwrap();
        assert_eq!(m["INTERNAL"], SecurityProtocol::Plaintext);
        assert_eq!(m["EXTERNAL"], SecurityProtocol::SaslSsl);
        assert!(parse_protocol_map("A:TLS").is_err());
        assert!(parse_protocol_map("A").is_err());
    }
}
