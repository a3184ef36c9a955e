//! `rill broker-api-versions` (kafka-broker-api-versions.sh): the API
//! versions every broker of the cluster serves, in Kafka's layout.

use std::process::ExitCode;

use clap::Args;
use kafka_protocol::messages::ApiKey;

use super::common::{block_on, connect};
use crate::kafka_client::cluster::Node;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  rill broker-api-versions --bootstrap-server=127.0.0.1:9092")]
pub struct ApiVersionsArgs {
    /// The broker to connect to, host:port[,host:port...].
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Client properties file.
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
}

/// The versions this tool knows for `key`, if it knows the API at all.
fn known_range(key: i16) -> Option<(i16, i16)> {
    ApiKey::try_from(key).ok().map(|k| {
        let r = k.valid_versions();
        (r.min, r.max)
    })
}

fn api_name(key: i16) -> String {
    ApiKey::try_from(key).map_or_else(|_| format!("Unknown{key}"), |k| format!("{k:?}"))
}

/// One broker's block: `host:port (id: N rack: r) -> (` ... `)`.
pub fn format_block(node: &Node, served: &[(i16, i16, i16)]) -> String {
    let rack = node.rack.as_deref().unwrap_or("null");
    let mut keys: Vec<i16> = served.iter().map(|s| s.0).collect();
    keys.extend(ApiKey::iter().map(|k| k as i16));
    keys.sort_unstable();
    keys.dedup();
    let lines: Vec<String> = keys
        .iter()
        .map(|key| {
            let name = api_name(*key);
            match served.iter().find(|s| s.0 == *key) {
                None => format!("\t{name}({key}): UNSUPPORTED"),
                Some(&(_, min, max)) => {
                    let range = if min == max {
                        min.to_string()
                    } else {
                        format!("{min} to {max}")
                    };
                    let usable = match known_range(*key) {
                        Some((lo, _)) if max < lo => "[unusable: node too old]".to_string(),
                        Some((_, hi)) if min > hi => "[unusable: node too new]".to_string(),
                        Some((_, hi)) => format!("[usable: {}]", hi.min(max)),
                        None => "[unusable: unknown to this client]".to_string(),
                    };
                    format!("\t{name}({key}): {range} {usable}")
                }
            }
        })
        .collect();
    format!(
        "{}:{} (id: {} rack: {rack}) -> (\n{}\n)",
        node.host,
        node.port,
        node.id,
        lines.join(",\n")
    )
}

pub fn run(args: ApiVersionsArgs) -> anyhow::Result<ExitCode> {
    block_on(async {
        let mut client = connect(
            args.bootstrap_server.as_deref(),
            args.command_config.as_deref(),
            "broker-api-versions",
        )
        .await?;
        let nodes: Vec<Node> = client
            .metadata(Some(&[]), false)
            .await?
            .brokers
            .values()
            .cloned()
            .collect();
        for node in nodes {
            let conn = client.broker(node.id).await?;
            let served: Vec<(i16, i16, i16)> = conn
                .api_versions()
                .api_keys
                .iter()
                .map(|k| (k.api_key, k.min_version, k.max_version))
                .collect();
            println!("{}", format_block(&node, &served));
        }
        anyhow::Ok(())
    })??;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_look_like_kafkas() {
        let node = Node {
            id: 1,
            host: "localhost".into(),
            port: 9093,
            rack: None,
        };
        let text = format_block(&node, &[(0, 0, 9), (18, 0, 3), (3, 12, 12)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "localhost:9093 (id: 1 rack: null) -> (");
        assert_eq!(lines[1], "\tProduce(0): 0 to 9 [usable: 9],");
        assert_eq!(lines[2], "\tFetch(1): UNSUPPORTED,");
        assert!(lines.contains(&"\tMetadata(3): 12 [usable: 12],"));
        assert!(lines.contains(&"\tApiVersions(18): 0 to 3 [usable: 3],"));
        assert_eq!(*lines.last().unwrap(), ")");
        assert!(!lines[lines.len() - 2].ends_with(','));
    }
}
