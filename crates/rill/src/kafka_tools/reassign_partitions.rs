//! `rill reassign-partitions` (kafka-reassign-partitions.sh): --generate a
//! plan from Kafka's topics-to-move JSON, --execute it and --verify it with
//! the AlterPartitionReassignments / ListPartitionReassignments APIs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiKey, BrokerId, ListPartitionReassignmentsRequest,
};
use serde::{Deserialize, Serialize};

use super::common::{block_on, connect};
use crate::kafka_client::{check, topic_name, Cluster, KafkaClient};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
  rill reassign-partitions --bootstrap-server 127.0.0.1:9092 --generate --topics-to-move-json-file topics.json --broker-list 1,2,3\n  \
  rill reassign-partitions --bootstrap-server 127.0.0.1:9092 --execute --reassignment-json-file plan.json\n  \
  rill reassign-partitions --bootstrap-server 127.0.0.1:9092 --verify --reassignment-json-file plan.json\n\n\
topics.json: {\"version\":1,\"topics\":[{\"topic\":\"orders\"}]}")]
pub struct ReassignArgs {
    /// The broker to connect to, host:port[,host:port...].
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Client properties file.
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
    /// Print the current assignment and a proposed one over --broker-list.
    #[arg(long)]
    generate: bool,
    /// Start the reassignment in --reassignment-json-file.
    #[arg(long)]
    execute: bool,
    /// Report whether the reassignment in --reassignment-json-file is complete.
    #[arg(long)]
    verify: bool,
    #[arg(long = "topics-to-move-json-file")]
    topics_to_move_json_file: Option<PathBuf>,
    #[arg(long = "reassignment-json-file")]
    reassignment_json_file: Option<PathBuf>,
    /// Brokers to spread replicas over, e.g. 1,2,3.
    #[arg(long = "broker-list")]
    broker_list: Option<String>,
}

#[derive(Deserialize)]
struct TopicsToMove {
    topics: Vec<TopicRef>,
}

#[derive(Deserialize)]
struct TopicRef {
    topic: String,
}

/// Kafka's reassignment JSON.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct Plan {
    pub version: i32,
    pub partitions: Vec<PlanPartition>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct PlanPartition {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    #[serde(default)]
    pub log_dirs: Vec<String>,
}

/// The current assignment of `topics`.
pub fn current_plan(cluster: &Cluster, topics: &[String]) -> anyhow::Result<Plan> {
    let mut partitions = Vec::new();
    for t in topics {
        for p in &cluster.topic(t)?.partitions {
            partitions.push(PlanPartition {
                topic: t.clone(),
                partition: p.index,
                replicas: p.replicas.clone(),
                log_dirs: vec!["any".into(); p.replicas.len()],
            });
        }
    }
    Ok(Plan {
        version: 1,
        partitions,
    })
}

/// Round-robin over `brokers`, keeping each partition's replication factor
/// (Kafka's assignment without racks: start at a topic-dependent broker, shift followers).
pub fn propose(current: &Plan, brokers: &[i32]) -> anyhow::Result<Plan> {
    let mut partitions = Vec::new();
    for (i, p) in current.partitions.iter().enumerate() {
        let rf = p.replicas.len();
        if rf > brokers.len() {
            bail!(
                "{}-{} has {rf} replicas but --broker-list names only {} broker(s)",
                p.topic,
                p.partition,
                brokers.len()
            );
        }
        let start = (p.partition as usize + i) % brokers.len();
        let replicas: Vec<i32> = (0..rf)
            .map(|r| brokers[(start + r) % brokers.len()])
            .collect();
        partitions.push(PlanPartition {
            topic: p.topic.clone(),
            partition: p.partition,
            log_dirs: vec!["any".into(); rf],
            replicas,
        });
    }
    Ok(Plan {
        version: 1,
        partitions,
    })
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &PathBuf, example: &str) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: expected JSON like {example}", path.display()))
}

pub fn run(args: ReassignArgs) -> anyhow::Result<ExitCode> {
    if [args.generate, args.execute, args.verify]
        .iter()
        .filter(|a| **a)
        .count()
        != 1
    {
        bail!("Command must include exactly one action: --generate, --execute or --verify");
    }
    let ok = block_on(async {
        let mut client = connect(
            args.bootstrap_server.as_deref(),
            args.command_config.as_deref(),
            "reassign-partitions",
        )
        .await?;
        if args.generate {
            generate(&mut client, &args).await
        } else {
            let path = args
                .reassignment_json_file
                .as_ref()
                .context("--execute and --verify need --reassignment-json-file FILE")?;
            let plan: Plan = read_json(
                path,
                r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}"#,
            )?;
            for api in [
                ApiKey::AlterPartitionReassignments,
                ApiKey::ListPartitionReassignments,
            ] {
                if !client.supports(api) {
                    bail!("partition reassignment is not supported by this broker yet (it does not serve the {api:?} API)");
                }
            }
            if args.execute {
                execute(&mut client, &plan).await
            } else {
                verify(&mut client, &plan).await
            }
        }
    })??;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn generate(client: &mut KafkaClient, args: &ReassignArgs) -> anyhow::Result<bool> {
    let path = args
        .topics_to_move_json_file
        .as_ref()
        .context("--generate needs --topics-to-move-json-file FILE")?;
    let brokers: Vec<i32> = args
        .broker_list
        .as_deref()
        .context("--generate needs --broker-list (e.g. 1,2,3)")?
        .split(',')
        .map(|b| {
            b.trim()
                .parse::<i32>()
                .with_context(|| format!("--broker-list: '{b}' is not a broker id"))
        })
        .collect::<anyhow::Result<_>>()?;
    let topics: TopicsToMove = read_json(path, r#"{"version":1,"topics":[{"topic":"orders"}]}"#)?;
    let names: Vec<String> = topics.topics.into_iter().map(|t| t.topic).collect();
    let cluster = client.metadata(Some(&names), false).await?;
    let current = current_plan(cluster, &names)?;
    let proposed = propose(&current, &brokers)?;
    println!(
        "Current partition replica assignment\n{}\n",
        serde_json::to_string(&current)?
    );
    println!(
        "Proposed partition reassignment configuration\n{}",
        serde_json::to_string(&proposed)?
    );
    Ok(true)
}

async fn execute(client: &mut KafkaClient, plan: &Plan) -> anyhow::Result<bool> {
    let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for p in &plan.partitions {
        by_topic.entry(&p.topic).or_default().push(
            ReassignablePartition::default()
                .with_partition_index(p.partition)
                .with_replicas(Some(p.replicas.iter().map(|b| BrokerId(*b)).collect())),
        );
    }
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    ReassignableTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let answer = client.controller().await?.call_capped(&request, 0).await?;
    check(
        answer.error_code,
        answer.error_message.as_ref(),
        "reassigning partitions",
    )?;
    let mut ok = true;
    for t in &answer.responses {
        for p in &t.partitions {
            if p.error_code != 0 {
                ok = false;
                let what = format!("reassigning {}-{}", t.name.0, p.partition_index);
                println!(
                    "{:#}",
                    check(p.error_code, p.error_message.as_ref(), &what).unwrap_err()
                );
            }
        }
    }
    if ok {
        println!(
            "Successfully started partition reassignments for {}",
            names(plan)
        );
    }
    Ok(ok)
}

fn names(plan: &Plan) -> String {
    plan.partitions
        .iter()
        .map(|p| format!("{}-{}", p.topic, p.partition))
        .collect::<Vec<_>>()
        .join(",")
}

async fn verify(client: &mut KafkaClient, plan: &Plan) -> anyhow::Result<bool> {
    let ongoing = client
        .controller()
        .await?
        .call(
            &ListPartitionReassignmentsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(None),
        )
        .await?;
    check(
        ongoing.error_code,
        ongoing.error_message.as_ref(),
        "listing reassignments",
    )?;
    let running: Vec<(String, i32)> = ongoing
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.0.to_string(), p.partition_index))
        })
        .collect();
    let topics: Vec<String> = plan.partitions.iter().map(|p| p.topic.clone()).collect();
    let cluster = client.metadata(Some(&topics), false).await?;
    println!("Status of partition reassignment:");
    let mut done = true;
    for p in &plan.partitions {
        let current = cluster
            .topic(&p.topic)?
            .partitions
            .iter()
            .find(|q| q.index == p.partition)
            .map(|q| q.replicas.clone());
        let status = if running.contains(&(p.topic.clone(), p.partition)) {
            done = false;
            "is still in progress."
        } else if current.as_ref() == Some(&p.replicas) {
            "is completed."
        } else {
            done = false;
            "is not in progress, but its replicas differ from the plan."
        };
        println!(
            "Reassignment of partition {}-{} {status}",
            p.topic, p.partition
        );
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_keep_the_replication_factor() {
        let current = Plan {
            version: 1,
            partitions: (0..3)
                .map(|p| PlanPartition {
                    topic: "t".into(),
                    partition: p,
                    replicas: vec![1, 2],
                    log_dirs: vec![],
                })
                .collect(),
        };
        let plan = propose(&current, &[1, 2, 3]).unwrap();
        for p in &plan.partitions {
            assert_eq!(p.replicas.len(), 2);
            assert_ne!(p.replicas[0], p.replicas[1]);
            assert_eq!(p.log_dirs, vec!["any", "any"]);
        }
        assert!(propose(&current, &[1])
            .unwrap_err()
            .to_string()
            .contains("only 1 broker"));
        let json = serde_json::to_string(&plan).unwrap();
        assert!(
            json.starts_with(
                r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":["#
            ),
            "{json}"
        );
        let back: Plan = serde_json::from_str(&json).unwrap();
        assert_eq!(back, plan);
    }
}
