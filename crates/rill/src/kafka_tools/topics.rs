//! `rill topics` (kafka-topics.sh): create, list, describe, alter and delete
//! topics with Kafka's flags and output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;

use super::common::{block_on, connect, is_internal, parse_kv, IncludeList};
use crate::kafka_client::admin::{self, NewTopic, RESOURCE_TOPIC};
use crate::kafka_client::{KafkaClient, PartitionMeta, TopicMeta};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
  rill topics --bootstrap-server 127.0.0.1:9092 --create --topic orders --partitions 3 --replication-factor 1\n  \
  rill topics --bootstrap-server 127.0.0.1:9092 --list\n  \
  rill topics --bootstrap-server 127.0.0.1:9092 --describe --topic orders\n  \
  rill topics --bootstrap-server 127.0.0.1:9092 --alter --topic orders --partitions 6\n  \
  rill topics --bootstrap-server 127.0.0.1:9092 --delete --topic orders")]
pub struct TopicsArgs {
    /// The broker to connect to, host:port[,host:port...].
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Client properties file (bootstrap.servers, client.id, request.timeout.ms).
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
    /// Kafka before 3.0 took ZooKeeper here; refused with advice.
    #[arg(long, hide = true)]
    zookeeper: Option<String>,

    /// Create a topic.
    #[arg(long)]
    create: bool,
    /// List all topics.
    #[arg(long)]
    list: bool,
    /// Describe topics (partitions, leader, replicas, ISR).
    #[arg(long)]
    describe: bool,
    /// Add partitions to a topic.
    #[arg(long)]
    alter: bool,
    /// Delete topics.
    #[arg(long)]
    delete: bool,

    /// The topic; for list, describe, alter and delete a regular expression.
    #[arg(long)]
    topic: Option<String>,
    /// Partition count (create: defaults to the broker's num.partitions; alter: the new count).
    #[arg(long)]
    partitions: Option<i32>,
    /// Replication factor (defaults to the broker's default.replication.factor).
    #[arg(long = "replication-factor")]
    replication_factor: Option<i32>,
    /// Topic config override key=value (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Manual replica placement: broker lists per partition, e.g. 1:2,2:3,3:1.
    #[arg(long = "replica-assignment")]
    replica_assignment: Option<String>,
    /// With --create: do nothing if the topic exists.
    #[arg(long = "if-not-exists")]
    if_not_exists: bool,
    /// With --alter, --describe, --delete: do nothing if the topic does not exist.
    #[arg(long = "if-exists")]
    if_exists: bool,
    /// With --describe: only partitions whose ISR is smaller than the replica list.
    #[arg(long = "under-replicated-partitions")]
    under_replicated: bool,
    /// With --describe: only partitions whose leader is missing or not live.
    #[arg(long = "unavailable-partitions")]
    unavailable: bool,
    /// With --describe: only topics that have config overrides.
    #[arg(long = "topics-with-overrides")]
    topics_with_overrides: bool,
    /// Leave out internal topics (__consumer_offsets, ...).
    #[arg(long = "exclude-internal")]
    exclude_internal: bool,
}

/// Partition list `1:2,2:3` -> {0: [1,2], 1: [2,3]}, checked as Kafka does.
pub fn parse_replica_assignment(text: &str) -> anyhow::Result<BTreeMap<i32, Vec<i32>>> {
    let mut out = BTreeMap::new();
    for (i, part) in text.split(',').enumerate() {
        let brokers = part
            .split(':')
            .map(|b| {
                b.trim().parse::<i32>().with_context(|| {
                    format!(
                        "--replica-assignment: '{}' is not a broker id (expected e.g. 1:2,2:3)",
                        b.trim()
                    )
                })
            })
            .collect::<anyhow::Result<Vec<i32>>>()?;
        let unique: BTreeSet<_> = brokers.iter().collect();
        if unique.len() != brokers.len() {
            bail!("Partition replica lists may not contain duplicate entries: {part}");
        }
        if let Some(first) = out.get(&0).map(Vec::len) {
            if first != brokers.len() {
                bail!("Partition {i} has different replication factor: {part}");
            }
        }
        out.insert(i as i32, brokers);
    }
    Ok(out)
}

fn ids(list: &[i32]) -> String {
    list.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The topic line of `--describe`, as Kafka 3.x prints it.
pub fn topic_line(topic: &TopicMeta, configs: &[(String, String)]) -> String {
    let mut line = format!("Topic: {}", topic.name);
    if let Some(id) = &topic.id {
        line.push_str(&format!("\tTopicId: {id}"));
    }
    let rf = topic.partitions.first().map_or(0, |p| p.replicas.len());
    let configs: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    line.push_str(&format!(
        "\tPartitionCount: {}\tReplicationFactor: {rf}\tConfigs: {}",
        topic.partitions.len(),
        configs.join(",")
    ));
    line
}

/// One partition line of `--describe`.
pub fn partition_line(topic: &str, p: &PartitionMeta) -> String {
    let leader = if p.leader >= 0 {
        p.leader.to_string()
    } else {
        "none".into()
    };
    format!(
        "\tTopic: {topic}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}",
        p.index,
        ids(&p.replicas),
        ids(&p.isr)
    )
}

fn under_replicated(p: &PartitionMeta) -> bool {
    p.isr.len() < p.replicas.len()
}

fn unavailable(p: &PartitionMeta, live: &BTreeSet<i32>) -> bool {
    p.leader < 0 || !live.contains(&p.leader)
}

pub fn run(args: TopicsArgs) -> anyhow::Result<ExitCode> {
    if args.zookeeper.is_some() {
        bail!(
            "--zookeeper is gone (as in Kafka 3.x): use --bootstrap-server host:port of a broker"
        );
    }
    let actions = [
        args.create,
        args.list,
        args.describe,
        args.alter,
        args.delete,
    ];
    if actions.iter().filter(|a| **a).count() != 1 {
        bail!("Command must include exactly one action: --list, --describe, --create, --alter or --delete");
    }
    match block_on(execute(&args))? {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("Error while executing topic command : {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn execute(args: &TopicsArgs) -> anyhow::Result<()> {
    let mut client = connect(
        args.bootstrap_server.as_deref(),
        args.command_config.as_deref(),
        "rill-topics",
    )
    .await?;
    if args.create {
        create(&mut client, args).await
    } else if args.list {
        for name in matching(&mut client, args).await? {
            println!("{name}");
        }
        Ok(())
    } else if args.describe {
        describe(&mut client, args).await
    } else if args.alter {
        alter(&mut client, args).await
    } else {
        let topics = existing(&mut client, args).await?;
        if !topics.is_empty() {
            admin::delete_topics(&mut client, &topics).await?;
        }
        Ok(())
    }
}

/// Topic names matching --topic (all when absent), sorted.
async fn matching(client: &mut KafkaClient, args: &TopicsArgs) -> anyhow::Result<Vec<String>> {
    let filter = args.topic.as_deref().map(IncludeList::new).transpose()?;
    let cluster = client.metadata(None, false).await?;
    Ok(cluster
        .topics
        .values()
        .filter(|t| !(args.exclude_internal && (t.internal || is_internal(&t.name))))
        .filter(|t| filter.as_ref().is_none_or(|f| f.matches(&t.name)))
        .map(|t| t.name.clone())
        .collect())
}

/// Like `matching`, but a named topic must exist unless --if-exists.
async fn existing(client: &mut KafkaClient, args: &TopicsArgs) -> anyhow::Result<Vec<String>> {
    let topics = matching(client, args).await?;
    if let Some(topic) = &args.topic {
        if topics.is_empty() && !args.if_exists {
            bail!("Topic '{topic}' does not exist as expected");
        }
    }
    Ok(topics)
}

async fn create(client: &mut KafkaClient, args: &TopicsArgs) -> anyhow::Result<()> {
    let name = args.topic.clone().context("--create needs --topic NAME")?;
    if let Some(rf) = args.replication_factor {
        if !(1..=i32::from(i16::MAX)).contains(&rf) {
            bail!(
                "The replication factor must be between 1 and {} inclusive",
                i16::MAX
            );
        }
    }
    if args.partitions.is_some_and(|p| p < 1) {
        bail!("The partitions must be greater than 0");
    }
    let assignment = match &args.replica_assignment {
        Some(text) => {
            if args.partitions.is_some() || args.replication_factor.is_some() {
                bail!("--replica-assignment cannot be combined with --partitions or --replication-factor");
            }
            parse_replica_assignment(text)?
        }
        None => BTreeMap::new(),
    };
    if name.contains('.') || name.contains('_') {
        println!(
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. \
             To avoid issues it is best to use either, but not both."
        );
    }
    let topic = NewTopic {
        name: name.clone(),
        partitions: if assignment.is_empty() {
            args.partitions.unwrap_or(-1)
        } else {
            -1
        },
        replication_factor: if assignment.is_empty() {
            args.replication_factor.map_or(-1, |rf| rf as i16)
        } else {
            -1
        },
        assignment,
        // Kafka trims topic config values.
        configs: parse_kv(&args.config, "--config")?
            .into_iter()
            .map(|(k, v)| (k, v.trim().to_owned()))
            .collect(),
    };
    match admin::create_topic(client, &topic).await {
        Ok(()) => {
            println!("Created topic {name}.");
            Ok(())
        }
        Err(e) if args.if_not_exists && e.to_string().contains("TOPIC_ALREADY_EXISTS") => Ok(()),
        Err(e) if e.to_string().contains("TOPIC_ALREADY_EXISTS") => {
            bail!("Topic '{name}' already exists.")
        }
        Err(e) => Err(e),
    }
}

async fn alter(client: &mut KafkaClient, args: &TopicsArgs) -> anyhow::Result<()> {
    if !args.config.is_empty() {
        bail!("--alter takes only --partitions here; change topic configs with `rill configs --alter --entity-type topics --entity-name T --add-config k=v`");
    }
    let count = args
        .partitions
        .context("--alter needs --partitions N (the new partition count)")?;
    let assignment = args
        .replica_assignment
        .as_deref()
        .map(parse_replica_assignment)
        .transpose()?;
    for topic in existing(client, args).await? {
        let current = client.cluster().await?.topic(&topic)?.partitions.len() as i32;
        let new = assignment.as_ref().map(|a| {
            a.iter()
                .filter(|(p, _)| **p >= current)
                .map(|(_, b)| b.clone())
                .collect()
        });
        admin::create_partitions(client, &topic, count, new).await?;
    }
    Ok(())
}

async fn describe(client: &mut KafkaClient, args: &TopicsArgs) -> anyhow::Result<()> {
    let topics = existing(client, args).await?;
    let cluster = client.cluster().await?.clone();
    let live: BTreeSet<i32> = cluster.brokers.keys().copied().collect();
    let partition_filter = args.under_replicated || args.unavailable;
    for name in topics {
        let topic = cluster.topic(&name)?;
        if topic.partitions.is_empty() {
            continue;
        }
        if !partition_filter {
            let configs: Vec<(String, String)> =
                admin::describe_configs(client, RESOURCE_TOPIC, &name, false)
                    .await?
                    .into_iter()
                    .filter(|c| !c.is_default() && !c.sensitive)
                    .map(|c| (c.name, c.value.unwrap_or_default()))
                    .collect();
            if args.topics_with_overrides && configs.is_empty() {
                continue;
            }
            println!("{}", topic_line(topic, &configs));
            if args.topics_with_overrides {
                continue;
            }
        }
        for p in &topic.partitions {
            let shown = !partition_filter
                || (args.under_replicated && under_replicated(p))
                || (args.unavailable && unavailable(p, &live));
            if shown {
                println!("{}", partition_line(&name, p));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lines_match_kafka_3() {
        let topic = TopicMeta {
            name: "orders".into(),
            error_code: 0,
            id: Some("ASNFZ4mrze8BI0VniavN7w".into()),
            internal: false,
            partitions: vec![
                PartitionMeta {
                    index: 0,
                    leader: 1,
                    replicas: vec![1, 2],
                    isr: vec![1, 2],
                    ..Default::default()
                },
                PartitionMeta {
                    index: 1,
                    leader: -1,
                    replicas: vec![2, 1],
                    isr: vec![],
                    ..Default::default()
                },
            ],
        };
        assert_eq!(
            topic_line(&topic, &[("retention.ms".into(), "1000".into()), ("cleanup.policy".into(), "compact".into())]),
            "Topic: orders\tTopicId: ASNFZ4mrze8BI0VniavN7w\tPartitionCount: 2\tReplicationFactor: 2\tConfigs: retention.ms=1000,cleanup.policy=compact"
        );
        assert_eq!(
            partition_line("orders", &topic.partitions[0]),
            "\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2"
        );
        assert_eq!(
            partition_line("orders", &topic.partitions[1]),
            "\tTopic: orders\tPartition: 1\tLeader: none\tReplicas: 2,1\tIsr: "
        );
        assert!(under_replicated(&topic.partitions[1]));
        assert!(unavailable(&topic.partitions[1], &BTreeSet::from([1, 2])));
        assert!(unavailable(&topic.partitions[0], &BTreeSet::from([2])));
    }

    #[test]
    fn replica_assignments_are_checked() {
        let a = parse_replica_assignment("1:2,2:3").unwrap();
        assert_eq!(a[&1], vec![2, 3]);
        assert!(parse_replica_assignment("1:1")
            .unwrap_err()
            .to_string()
            .contains("duplicate"));
        assert!(parse_replica_assignment("1:2,3")
            .unwrap_err()
            .to_string()
            .contains("different replication factor"));
        assert!(parse_replica_assignment("x").is_err());
    }
}
