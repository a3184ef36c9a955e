//! `rill reassign-partitions` (kafka-reassign-partitions.sh): --generate a
//! plan from Kafka's topics-to-move JSON; --execute, --verify and --cancel
//! it, and --list the reassignments in progress, with the
//! AlterPartitionReassignments / ListPartitionReassignments APIs. Output
//! and checks follow Kafka 3.x's `ReassignPartitionsCommand`.

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
  rill reassign-partitions --bootstrap-server 127.0.0.1:9092 --verify --reassignment-json-file plan.json\n  \
  rill reassign-partitions --bootstrap-server 127.0.0.1:9092 --cancel --reassignment-json-file plan.json\n  \
  rill reassign-partitions --bootstrap-server 127.0.0.1:9092 --list\n\n\
topics.json: {\"version\":1,\"topics\":[{\"topic\":\"orders\"}]}\n\
plan.json:   {\"version\":1,\"partitions\":[{\"topic\":\"orders\",\"partition\":0,\"replicas\":[2,3]}]}")]
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
    /// Cancel the reassignments in --reassignment-json-file that are in progress.
    #[arg(long)]
    cancel: bool,
    /// List the reassignments in progress.
    #[arg(long)]
    list: bool,
    /// With --execute: start even though other reassignments are in progress.
    #[arg(long)]
    additional: bool,
    /// Accepted for compatibility: there are no throttles to clear.
    #[arg(long = "preserve-throttles")]
    #[allow(dead_code)]
    preserve_throttles: bool,
    /// Replication throttles are not supported (refused with a message).
    #[arg(long, value_name = "BYTES_PER_SEC")]
    throttle: Option<i64>,
    /// Log-directory moves are not supported (refused with a message).
    #[arg(long = "replica-alter-log-dirs-throttle", value_name = "BYTES_PER_SEC")]
    replica_alter_log_dirs_throttle: Option<i64>,
    /// How long the brokers may take for each request, in ms.
    #[arg(long, default_value_t = 10_000)]
    timeout: i32,
    #[arg(long = "topics-to-move-json-file")]
    topics_to_move_json_file: Option<PathBuf>,
    #[arg(long = "reassignment-json-file")]
    reassignment_json_file: Option<PathBuf>,
    /// Brokers to spread replicas over, e.g. 1,2,3.
    #[arg(long = "broker-list")]
    broker_list: Option<String>,
    /// Accepted for compatibility: --generate ignores racks.
    #[arg(long = "disable-rack-aware")]
    #[allow(dead_code)]
    disable_rack_aware: bool,
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

/// A reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ongoing {
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

type Partition = (String, i32);

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

fn duplicates<T: Ord + Clone>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = BTreeMap::new();
    for i in items {
        *seen.entry(i).or_insert(0) += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(i, _)| i)
        .collect()
}

fn joined<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Kafka's checks of a plan to execute (`parseExecuteAssignmentArgs`).
pub fn check_plan(plan: &Plan) -> anyhow::Result<()> {
    if plan.partitions.is_empty() {
        bail!("Partition reassignment list cannot be empty");
    }
    if plan.partitions.iter().any(|p| p.replicas.is_empty()) {
        bail!("Partition replica list cannot be empty");
    }
    let twice = duplicates(
        plan.partitions
            .iter()
            .map(|p| format!("{}-{}", p.topic, p.partition)),
    );
    if !twice.is_empty() {
        bail!(
            "Partition reassignment contains duplicate topic partitions: {}",
            joined(twice)
        );
    }
    let repeated: Vec<String> = plan
        .partitions
        .iter()
        .filter_map(|p| {
            let d = duplicates(p.replicas.iter().copied());
            (!d.is_empty()).then(|| {
                format!(
                    "{}-{} contains multiple entries for {}",
                    p.topic,
                    p.partition,
                    joined(d)
                )
            })
        })
        .collect();
    if !repeated.is_empty() {
        bail!(
            "Partition replica lists may not contain duplicate entries: {}",
            repeated.join(". ")
        );
    }
    Ok(())
}

/// `--list`'s output.
pub fn list_lines(ongoing: &BTreeMap<Partition, Ongoing>) -> Vec<String> {
    if ongoing.is_empty() {
        return vec!["No partition reassignments found.".into()];
    }
    let mut lines = vec!["Current partition reassignments:".to_owned()];
    for ((t, p), o) in ongoing {
        let mut line = format!("{t}-{p}: replicas: {}.", joined(&o.replicas));
        if !o.adding.is_empty() {
            line += &format!(" adding: {}.", joined(&o.adding));
        }
        if !o.removing.is_empty() {
            line += &format!(" removing: {}.", joined(&o.removing));
        }
        lines.push(line);
    }
    lines
}

/// `--verify`'s line for one partition: `current` is its replica set
/// (empty for an unknown partition), `ongoing` whether it is being moved.
pub fn status_line(tp: &Partition, current: &[i32], target: &[i32], ongoing: bool) -> String {
    let (t, p) = tp;
    if ongoing {
        format!("Reassignment of partition {t}-{p} is still in progress.")
    } else if current == target {
        format!("Reassignment of partition {t}-{p} is completed.")
    } else {
        format!(
            "There is no active reassignment of partition {t}-{p}, but replica set is {} rather than {}.",
            joined(current),
            joined(target)
        )
    }
}

/// `t-0,t-1`, sorted by topic then partition.
fn partition_list<'a>(parts: impl IntoIterator<Item = &'a Partition>) -> String {
    let mut sorted: Vec<&Partition> = parts.into_iter().collect();
    sorted.sort();
    sorted.dedup();
    joined(sorted.into_iter().map(|(t, p)| format!("{t}-{p}")))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// An action's outcome: `Err(text)` is printed as Kafka's terse failures
/// are (on stdout) and makes the exit code 1.
type Outcome = anyhow::Result<Result<(), String>>;

pub fn run(args: ReassignArgs) -> anyhow::Result<ExitCode> {
    let actions = [
        args.generate,
        args.execute,
        args.verify,
        args.cancel,
        args.list,
    ];
    if actions.iter().filter(|a| **a).count() != 1 {
        bail!("Command must include exactly one action: --generate, --execute, --verify, --cancel, or --list");
    }
    if args.throttle.is_some() || args.replica_alter_log_dirs_throttle.is_some() {
        bail!("--throttle and --replica-alter-log-dirs-throttle are not supported: rill brokers have no replication throttles (reassignments copy at full speed)");
    }
    let plan = if args.execute || args.verify || args.cancel {
        let path = args
            .reassignment_json_file
            .as_ref()
            .context("Missing required argument \"[reassignment-json-file]\"")?;
        Some(read_json::<Plan>(
            path,
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}"#,
        )?)
    } else {
        None
    };
    let outcome: Outcome = block_on(async {
        let mut client = connect(
            args.bootstrap_server.as_deref(),
            args.command_config.as_deref(),
            "reassign-partitions",
        )
        .await?;
        if args.generate {
            return generate(&mut client, &args).await.map(Ok);
        }
        for api in [
            ApiKey::AlterPartitionReassignments,
            ApiKey::ListPartitionReassignments,
        ] {
            if !client.supports(api) {
                bail!("partition reassignment is not supported by this broker yet (it does not serve the {api:?} API)");
            }
        }
        match &plan {
            Some(plan) if args.execute => execute(&mut client, plan, &args).await,
            Some(plan) if args.verify => verify(&mut client, plan, args.timeout).await,
            Some(plan) => cancel(&mut client, plan, args.timeout).await,
            None => {
                let ongoing = ongoing(&mut client, args.timeout).await?;
                println!("{}", list_lines(&ongoing).join("\n"));
                Ok(Ok(()))
            }
        }
    })?;
    match outcome? {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(text) => {
            println!("{text}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn generate(client: &mut KafkaClient, args: &ReassignArgs) -> anyhow::Result<()> {
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
    Ok(())
}

/// The reassignments in progress, from the controller.
async fn ongoing(
    client: &mut KafkaClient,
    timeout_ms: i32,
) -> anyhow::Result<BTreeMap<Partition, Ongoing>> {
    let answer = client
        .controller()
        .await?
        .call(
            &ListPartitionReassignmentsRequest::default()
                .with_timeout_ms(timeout_ms)
                .with_topics(None),
        )
        .await?;
    check(
        answer.error_code,
        answer.error_message.as_ref(),
        "listing partition reassignments",
    )?;
    let ids = |l: &[BrokerId]| l.iter().map(|b| b.0).collect::<Vec<i32>>();
    Ok(answer
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    (t.name.0.to_string(), p.partition_index),
                    Ongoing {
                        replicas: ids(&p.replicas),
                        adding: ids(&p.adding_replicas),
                        removing: ids(&p.removing_replicas),
                    },
                )
            })
        })
        .collect())
}

/// Sends AlterPartitionReassignments (`None` replicas cancel); returns the
/// partitions refused, with Kafka's `t-p: message` lines.
async fn alter(
    client: &mut KafkaClient,
    targets: &[(Partition, Option<Vec<i32>>)],
    timeout_ms: i32,
) -> anyhow::Result<Vec<String>> {
    let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for ((topic, partition), replicas) in targets {
        by_topic.entry(topic).or_default().push(
            ReassignablePartition::default()
                .with_partition_index(*partition)
                .with_replicas(
                    replicas
                        .as_ref()
                        .map(|r| r.iter().map(|b| BrokerId(*b)).collect()),
                ),
        );
    }
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(timeout_ms)
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
    let mut refused: Vec<(Partition, String)> = Vec::new();
    for t in &answer.responses {
        for p in &t.partitions {
            if p.error_code != 0 {
                let message = p
                    .error_message
                    .as_ref()
                    .map(|m| m.to_string())
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| crate::kafka_client::error_name(p.error_code));
                refused.push(((t.name.0.to_string(), p.partition_index), message));
            }
        }
    }
    refused.sort();
    Ok(refused
        .into_iter()
        .map(|((t, p), m)| format!("{t}-{p}: {m}"))
        .collect())
}

async fn execute(client: &mut KafkaClient, plan: &Plan, args: &ReassignArgs) -> Outcome {
    check_plan(plan)?;
    if !args.additional && !ongoing(client, args.timeout).await?.is_empty() {
        return Ok(Err(
            "Cannot execute because there is an existing partition assignment.  \
             Use --additional to override this and create a new partition assignment in \
             addition to the existing one. The --additional flag can also be used to change \
             the throttle by resubmitting the current reassignment."
                .into(),
        ));
    }
    let known: Vec<i32> = client.cluster().await?.brokers.keys().copied().collect();
    if let Some(id) = plan
        .partitions
        .iter()
        .flat_map(|p| &p.replicas)
        .find(|b| !known.contains(b))
    {
        bail!("Unknown broker id {id}");
    }
    let mut topics: Vec<String> = plan.partitions.iter().map(|p| p.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    let cluster = client.metadata(Some(&topics), false).await?;
    let mut current = current_plan(cluster, &topics)?;
    current.partitions.retain(|c| {
        plan.partitions
            .iter()
            .any(|p| p.topic == c.topic && p.partition == c.partition)
    });
    println!(
        "Current partition replica assignment\n\n{}\n\nSave this to use as the --reassignment-json-file option during rollback",
        serde_json::to_string(&current)?
    );
    let targets: Vec<(Partition, Option<Vec<i32>>)> = plan
        .partitions
        .iter()
        .map(|p| ((p.topic.clone(), p.partition), Some(p.replicas.clone())))
        .collect();
    let refused = alter(client, &targets, args.timeout).await?;
    if !refused.is_empty() {
        return Ok(Err(format!(
            "Error reassigning partition(s):\n{}",
            refused.join("\n")
        )));
    }
    println!(
        "Successfully started partition reassignment{} for {}",
        plural(targets.len()),
        partition_list(targets.iter().map(|(tp, _)| tp))
    );
    Ok(Ok(()))
}

async fn verify(client: &mut KafkaClient, plan: &Plan, timeout_ms: i32) -> Outcome {
    let ongoing = ongoing(client, timeout_ms).await?;
    let mut topics: Vec<String> = plan.partitions.iter().map(|p| p.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    let cluster = client.metadata(Some(&topics), false).await?;
    let mut targets: Vec<(Partition, &Vec<i32>)> = plan
        .partitions
        .iter()
        .map(|p| ((p.topic.clone(), p.partition), &p.replicas))
        .collect();
    targets.sort();
    println!("Status of partition reassignment:");
    for (tp, target) in targets {
        let current: Vec<i32> = match ongoing.get(&tp) {
            Some(o) => o.replicas.clone(),
            None => cluster
                .topic(&tp.0)
                .ok()
                .and_then(|t| t.partitions.iter().find(|q| q.index == tp.1))
                .map(|q| q.replicas.clone())
                .unwrap_or_default(),
        };
        println!(
            "{}",
            status_line(&tp, &current, target, ongoing.contains_key(&tp))
        );
    }
    Ok(Ok(()))
}

async fn cancel(client: &mut KafkaClient, plan: &Plan, timeout_ms: i32) -> Outcome {
    let ongoing = ongoing(client, timeout_ms).await?;
    let active: Vec<(Partition, Option<Vec<i32>>)> = plan
        .partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .filter(|tp| {
            ongoing
                .get(tp)
                .is_some_and(|o| !o.adding.is_empty() || !o.removing.is_empty())
        })
        .map(|tp| (tp, None))
        .collect();
    if active.is_empty() {
        println!("None of the specified partition reassignments are active.");
    } else {
        let refused = alter(client, &active, timeout_ms).await?;
        if !refused.is_empty() {
            return Ok(Err(format!(
                "Error cancelling partition reassignment{} for:\n{}",
                plural(refused.len()),
                refused.join("\n")
            )));
        }
        println!(
            "Successfully cancelled partition reassignment{} for: {}",
            plural(active.len()),
            partition_list(active.iter().map(|(tp, _)| tp))
        );
    }
    println!("None of the specified partition moves are active.");
    Ok(Ok(()))
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

    fn plan_of(parts: &[(&str, i32, &[i32])]) -> Plan {
        Plan {
            version: 1,
            partitions: parts
                .iter()
                .map(|(t, p, r)| PlanPartition {
                    topic: t.to_string(),
                    partition: *p,
                    replicas: r.to_vec(),
                    log_dirs: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn plans_are_checked_with_kafkas_messages() {
        assert!(check_plan(&plan_of(&[("t", 0, &[2, 3])])).is_ok());
        let err =
            |parts: &[(&str, i32, &[i32])]| check_plan(&plan_of(parts)).unwrap_err().to_string();
        assert_eq!(err(&[]), "Partition reassignment list cannot be empty");
        assert_eq!(
            err(&[("t", 0, &[])]),
            "Partition replica list cannot be empty"
        );
        assert_eq!(
            err(&[("t", 0, &[1]), ("t", 0, &[2])]),
            "Partition reassignment contains duplicate topic partitions: t-0"
        );
        assert_eq!(
            err(&[("t", 0, &[1, 1, 2]), ("u", 1, &[3, 3])]),
            "Partition replica lists may not contain duplicate entries: t-0 contains multiple entries for 1. u-1 contains multiple entries for 3"
        );
    }

    #[test]
    fn list_and_verify_lines_read_as_kafkas() {
        assert_eq!(
            list_lines(&BTreeMap::new()),
            vec!["No partition reassignments found."]
        );
        let ongoing: BTreeMap<Partition, Ongoing> = [
            (
                ("foo".to_owned(), 1),
                Ongoing {
                    replicas: vec![2, 3, 1],
                    adding: vec![3],
                    removing: vec![1],
                },
            ),
            (
                ("bar".to_owned(), 0),
                Ongoing {
                    replicas: vec![2, 3],
                    adding: vec![3],
                    removing: vec![],
                },
            ),
        ]
        .into();
        assert_eq!(
            list_lines(&ongoing),
            vec![
                "Current partition reassignments:",
                "bar-0: replicas: 2,3. adding: 3.",
                "foo-1: replicas: 2,3,1. adding: 3. removing: 1.",
            ]
        );
        let tp = ("t".to_owned(), 0);
        assert_eq!(
            status_line(&tp, &[2, 3, 1], &[2, 3], true),
            "Reassignment of partition t-0 is still in progress."
        );
        assert_eq!(
            status_line(&tp, &[2, 3], &[2, 3], false),
            "Reassignment of partition t-0 is completed."
        );
        assert_eq!(
            status_line(&tp, &[1, 2], &[2, 3], false),
            "There is no active reassignment of partition t-0, but replica set is 1,2 rather than 2,3."
        );
        assert_eq!(
            partition_list(&[
                ("b".to_owned(), 1),
                ("a".to_owned(), 2),
                ("a".to_owned(), 0)
            ]),
            "a-0,a-2,b-1"
        );
    }
}
