//! `rill configs` (kafka-configs.sh): describe and alter topic and broker
//! configs, printed as Kafka 3.x prints them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;

use super::common::{block_on, connect};
use crate::kafka_client::admin::{
    self, source_name, ConfigEntry, ConfigOp, RESOURCE_BROKER, RESOURCE_TOPIC,
};
use crate::kafka_client::KafkaClient;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
  rill configs --bootstrap-server 127.0.0.1:9092 --describe --entity-type topics --entity-name orders\n  \
  rill configs --bootstrap-server 127.0.0.1:9092 --alter --entity-type topics --entity-name orders \\\n    --add-config retention.ms=86400000,cleanup.policy=[compact,delete]\n  \
  rill configs --bootstrap-server 127.0.0.1:9092 --alter --topic orders --delete-config retention.ms\n  \
  rill configs --bootstrap-server 127.0.0.1:9092 --describe --broker 1 --all\n  \
  rill configs --bootstrap-server 127.0.0.1:9092 --alter --entity-type brokers --entity-name 1 --add-config log.retention.ms=3600000\n  \
  rill configs --bootstrap-server 127.0.0.1:9092 --alter --entity-type brokers --entity-default --add-config log.segment.bytes=104857600")]
pub struct ConfigsArgs {
    /// The broker to connect to, host:port[,host:port...].
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Client properties file.
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
    /// Show configs.
    #[arg(long)]
    describe: bool,
    /// Change configs (--add-config, --delete-config).
    #[arg(long)]
    alter: bool,
    /// topics or brokers.
    #[arg(long = "entity-type")]
    entity_type: Option<String>,
    /// The topic name or broker id (all topics / brokers when absent with --describe).
    #[arg(long = "entity-name")]
    entity_name: Option<String>,
    /// With --entity-type brokers: the cluster-wide default (`/config/brokers/<default>`).
    #[arg(long = "entity-default")]
    entity_default: bool,
    /// Shorthand for --entity-type topics --entity-name T.
    #[arg(long)]
    topic: Option<String>,
    /// Shorthand for --entity-type brokers --entity-name ID.
    #[arg(long)]
    broker: Option<String>,
    /// With --describe: every config, not only the dynamic ones.
    #[arg(long)]
    all: bool,
    /// k1=v1,k2=[v1,v2] to set.
    #[arg(long = "add-config")]
    add_config: Option<String>,
    /// k1,k2 to remove.
    #[arg(long = "delete-config")]
    delete_config: Option<String>,
}

/// `k1=v1,k2=[a,b]` -> [(k1, v1), (k2, "a,b")]: commas inside brackets stay in the value.
pub fn parse_add_config(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, ch) in text.char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .map(|item| {
            let (k, v) = item
                .split_once('=')
                .with_context(|| format!("--add-config: '{item}' is not key=value"))?;
            let v = v.trim();
            let v = v
                .strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
                .unwrap_or(v);
            Ok((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

/// The lines Kafka prints for one entity's configs (`name` empty: the
/// brokers' cluster default).
pub fn describe_text(kind: &str, name: &str, entries: &[ConfigEntry], all: bool) -> String {
    let mut out = if name.is_empty() {
        format!("Default configs for {kind}s in the cluster are:\n")
    } else {
        format!(
            "{} configs for {kind} {name} are:\n",
            if all { "All" } else { "Dynamic" }
        )
    };
    for e in entries {
        let value = if e.sensitive {
            "null".to_string()
        } else {
            e.value.clone().unwrap_or_else(|| "null".into())
        };
        let synonyms: Vec<String> = e
            .synonyms
            .iter()
            .map(|(n, v, s)| format!("{}:{n}={}", source_name(*s), v.as_deref().unwrap_or("null")))
            .collect();
        out.push_str(&format!(
            "  {}={value} sensitive={} synonyms={{{}}}\n",
            e.name,
            e.sensitive,
            synonyms.join(", ")
        ));
    }
    out
}

/// Which entries the plain (not --all) describe shows: the dynamic ones.
fn dynamic(resource_type: i8, e: &ConfigEntry) -> bool {
    match resource_type {
        RESOURCE_TOPIC => e.source == 1,
        _ => e.source == 2 || e.source == 3,
    }
}

pub fn run(args: ConfigsArgs) -> anyhow::Result<ExitCode> {
    if args.describe == args.alter {
        bail!("Command must include exactly one action: --describe, --alter");
    }
    if args.entity_default
        && (args.entity_name.is_some() || args.entity_type.as_deref() != Some("brokers"))
    {
        bail!("--entity-default goes with --entity-type brokers and no --entity-name");
    }
    let (resource_type, name) = match (&args.topic, &args.broker, args.entity_type.as_deref()) {
        (None, None, Some("brokers")) if args.entity_default => (RESOURCE_BROKER, Some(String::new())),
        (Some(t), None, None | Some("topics")) => (RESOURCE_TOPIC, Some(t.clone())),
        (None, Some(b), None | Some("brokers")) => (RESOURCE_BROKER, Some(b.clone())),
        (None, None, Some("topics")) => (RESOURCE_TOPIC, args.entity_name.clone()),
        (None, None, Some("brokers")) => (RESOURCE_BROKER, args.entity_name.clone()),
        (None, None, Some(other)) => bail!("--entity-type '{other}' is not supported here: use topics or brokers"),
        (None, None, None) => bail!("say what to configure: --entity-type topics|brokers --entity-name NAME (or --topic / --broker)"),
        _ => bail!("give one entity: --topic, --broker, or --entity-type with --entity-name"),
    };
    block_on(async {
        let mut client = connect(
            args.bootstrap_server.as_deref(),
            args.command_config.as_deref(),
            "configs",
        )
        .await?;
        if args.describe {
            describe(&mut client, resource_type, name, args.all).await
        } else {
            let name = name.context("--alter needs --entity-name (or --topic / --broker)")?;
            alter(&mut client, resource_type, &name, &args).await
        }
    })??;
    Ok(ExitCode::SUCCESS)
}

async fn describe(
    client: &mut KafkaClient,
    resource_type: i8,
    name: Option<String>,
    all: bool,
) -> anyhow::Result<()> {
    let names = match name {
        Some(n) => vec![n],
        None => {
            let cluster = client.metadata(None, false).await?;
            if resource_type == RESOURCE_TOPIC {
                cluster.topics.keys().cloned().collect()
            } else {
                cluster.brokers.keys().map(i32::to_string).collect()
            }
        }
    };
    let kind = if resource_type == RESOURCE_TOPIC {
        "topic"
    } else {
        "broker"
    };
    for n in names {
        let entries: Vec<ConfigEntry> = admin::describe_configs(client, resource_type, &n, true)
            .await?
            .into_iter()
            .filter(|e| all || dynamic(resource_type, e))
            .collect();
        print!("{}", describe_text(kind, &n, &entries, all));
    }
    Ok(())
}

async fn alter(
    client: &mut KafkaClient,
    resource_type: i8,
    name: &str,
    args: &ConfigsArgs,
) -> anyhow::Result<()> {
    let mut ops: Vec<ConfigOp> = match &args.add_config {
        Some(text) => parse_add_config(text)?
            .into_iter()
            .map(|(k, v)| ConfigOp::Set(k, v))
            .collect(),
        None => Vec::new(),
    };
    if let Some(text) = &args.delete_config {
        ops.extend(
            text.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| ConfigOp::Delete(k.to_owned())),
        );
    }
    if ops.is_empty() {
        bail!("--alter needs --add-config k=v[,k=v] and/or --delete-config k[,k]");
    }
    if resource_type == RESOURCE_TOPIC {
        client
            .metadata(Some(&[name.to_owned()]), false)
            .await?
            .topic(name)?;
    }
    admin::alter_configs(client, resource_type, name, &ops).await?;
    let kind = if resource_type == RESOURCE_TOPIC {
        "topic"
    } else {
        "broker"
    };
    if name.is_empty() {
        println!("Completed updating default config for {kind}s in the cluster.");
    } else {
        println!("Completed updating config for {kind} {name}.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_config_keeps_bracketed_lists() {
        assert_eq!(
            parse_add_config("retention.ms=1000,cleanup.policy=[compact,delete]").unwrap(),
            vec![
                ("retention.ms".into(), "1000".into()),
                ("cleanup.policy".into(), "compact,delete".into())
            ]
        );
        assert!(parse_add_config("oops").is_err());
    }

    #[test]
    fn describe_lines() {
        let e = ConfigEntry {
            name: "retention.ms".into(),
            value: Some("1000".into()),
            source: 1,
            read_only: false,
            sensitive: false,
            synonyms: vec![
                ("retention.ms".into(), Some("1000".into()), 1),
                ("log.retention.hours".into(), Some("168".into()), 4),
            ],
        };
        assert_eq!(
            describe_text("topic", "t", &[e], false),
            "Dynamic configs for topic t are:\n  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, STATIC_BROKER_CONFIG:log.retention.hours=168}\n"
        );
        assert_eq!(
            describe_text("broker", "", &[], false),
            "Default configs for brokers in the cluster are:\n"
        );
    }
}
