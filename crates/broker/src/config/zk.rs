//! `zookeeper.connect`: `host:port,host:port/optional/chroot`, parsed as
//! ZooKeeper's `ConnectStringParser` does (port defaults to 2181).

use std::fmt;

pub const DEFAULT_ZK_PORT: u16 = 2181;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkServer {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for ZkServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A parsed connect string. `Display` gives it back in canonical form,
/// ready for a ZooKeeper client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkConnect {
    pub servers: Vec<ZkServer>,
    /// `/kafka` for `h:2181/kafka`; `None` when absent or just `/`.
    pub chroot: Option<String>,
}

impl ZkConnect {
    pub fn parse(s: &str) -> Result<ZkConnect, String> {
        let s = s.trim();
        let (hosts, chroot) = match s.find('/') {
            Some(i) => (&s[..i], Some(&s[i..])),
            None => (s, None),
        };
        let chroot = match chroot {
            None | Some("/") => None,
            Some(path) => {
                validate_path(path).map_err(|why| format!("invalid chroot '{path}': {why}"))?;
                Some(path.to_owned())
            }
        };
        let servers = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(parse_server)
            .collect::<Result<Vec<_>, _>>()?;
        if servers.is_empty() {
            return Err(
                "no ZooKeeper servers given (expected host:port[,host:port...][/chroot])"
                    .to_owned(),
            );
        }
        Ok(ZkConnect { servers, chroot })
    }

    /// `h1:2181,h2:2181` without the chroot.
    pub fn hosts(&self) -> String {
        self.servers
            .iter()
            .map(ZkServer::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Servers listed more than once (as in seed 003's `zk-0...` ×3).
    pub fn duplicates(&self) -> Vec<&ZkServer> {
        let mut dups: Vec<&ZkServer> = Vec::new();
        for (i, s) in self.servers.iter().enumerate() {
            if self.servers[..i].contains(s) && !dups.contains(&s) {
                dups.push(s);
            }
        }
        dups
    }
}

impl fmt::Display for ZkConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hosts())?;
        if let Some(chroot) = &self.chroot {
            f.write_str(chroot)?;
        }
        Ok(())
    }
}

fn parse_server(item: &str) -> Result<ZkServer, String> {
    let bad = || format!("cannot parse ZooKeeper server '{item}' (expected host[:port])");
    let (host, port) = if let Some(rest) = item.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match item.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => return Err(bad()),
            Some((h, p)) => (h, Some(p)),
            None => (item, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    let port = match port {
        None => DEFAULT_ZK_PORT,
        Some(p) => p.parse().map_err(|_| bad())?,
    };
    Ok(ZkServer {
        host: host.to_owned(),
        port,
    })
}

/// ZooKeeper's `PathUtils.validatePath`, minus the character classes Kafka never meets.
fn validate_path(path: &str) -> Result<(), &'static str> {
    if path.len() > 1 && path.ends_with('/') {
        return Err("must not end with /");
    }
    if path.contains('\0') {
        return Err("must not contain a null character");
    }
    for segment in path.split('/').skip(1) {
        match segment {
            "" => return Err("empty node name"),
            "." | ".." => return Err("relative paths are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_strings() {
        let c = ZkConnect::parse("h1:2181,h2:2182/kafka/prod").unwrap();
        assert_eq!(c.hosts(), "h1:2181,h2:2182");
        assert_eq!(c.chroot.as_deref(), Some("/kafka/prod"));
        assert_eq!(c.to_string(), "h1:2181,h2:2182/kafka/prod");

        let c = ZkConnect::parse("zk, [::1]:2300,[fe80::1]/").unwrap();
        assert_eq!(c.to_string(), "zk:2181,[::1]:2300,[fe80::1]:2181");
        assert_eq!(c.chroot, None);

        for bad in [
            "",
            "/kafka",
            "h:abc",
            "h:2181/kafka/",
            "h:2181//x",
            "h:2181/a/../b",
            "::1:2181",
        ] {
            assert!(ZkConnect::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn duplicates() {
        let c = ZkConnect::parse("a:2181,b:2181,a:2181,a:2181").unwrap();
        assert_eq!(c.duplicates(), vec![&c.servers[0]]);
    }
}
