//! `rill leader-election` (kafka-leader-election.sh): asks the controller to
//! elect preferred (or unclean) leaders through the ElectLeaders API.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest};
use serde::Deserialize;

use super::common::{block_on, connect};
use crate::kafka_client::data::TopicPartition;
use crate::kafka_client::{error_name, topic_name};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
  rill leader-election --bootstrap-server 127.0.0.1:9092 --election-type PREFERRED --all-topic-partitions\n  \
  rill leader-election --bootstrap-server 127.0.0.1:9092 --election-type PREFERRED --topic orders --partition 0\n  \
  rill leader-election --bootstrap-server 127.0.0.1:9092 --election-type UNCLEAN --path-to-json-file partitions.json")]
pub struct ElectionArgs {
    /// The broker to connect to, host:port[,host:port...].
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Client properties file.
    #[arg(long = "admin.config", value_name = "FILE")]
    admin_config: Option<PathBuf>,
    /// PREFERRED or UNCLEAN.
    #[arg(long = "election-type")]
    election_type: String,
    #[arg(long)]
    topic: Option<String>,
    #[arg(long)]
    partition: Option<i32>,
    /// Every partition of every topic.
    #[arg(long = "all-topic-partitions")]
    all_topic_partitions: bool,
    /// {"partitions": [{"topic": "t", "partition": 0}, ...]}
    #[arg(long = "path-to-json-file")]
    path_to_json_file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct PartitionsFile {
    partitions: Vec<PartitionRef>,
}

#[derive(Deserialize)]
struct PartitionRef {
    topic: String,
    partition: i32,
}

fn election_code(kind: &str) -> anyhow::Result<i8> {
    match kind.to_ascii_uppercase().as_str() {
        "PREFERRED" => Ok(0),
        "UNCLEAN" => Ok(1),
        other => bail!("--election-type '{other}' is not PREFERRED or UNCLEAN"),
    }
}

fn joined(list: &[TopicPartition]) -> String {
    list.iter()
        .map(|(t, p)| format!("{t}-{p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The partitions named on the command line (`None` = all), with Kafka's
/// option rules: exactly one of --all-topic-partitions, --topic (with
/// --partition) and --path-to-json-file.
fn selection(args: &ElectionArgs) -> anyhow::Result<Option<Vec<TopicPartition>>> {
    let given = [
        args.topic.is_some(),
        args.all_topic_partitions,
        args.path_to_json_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        bail!("One and only one of the following options is required: --topic, --all-topic-partitions, --path-to-json-file");
    }
    if args.partition.is_some() && args.topic.is_none() {
        bail!("Missing required argument \"[topic]\"");
    }
    if let Some(t) = &args.topic {
        let p = args
            .partition
            .context("Missing required argument \"[partition]\"")?;
        return Ok(Some(vec![(t.clone(), p)]));
    }
    let Some(path) = &args.path_to_json_file else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: PartitionsFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected {{\"partitions\": [{{\"topic\": \"t\", \"partition\": 0}}]}}",
            path.display()
        )
    })?;
    let list: Vec<TopicPartition> = file
        .partitions
        .into_iter()
        .map(|p| (p.topic, p.partition))
        .collect();
    let mut sorted = list.clone();
    sorted.sort();
    let mut twice: Vec<String> = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| format!("{}-{}", w[0].0, w[0].1))
        .collect();
    twice.dedup();
    if !twice.is_empty() {
        bail!(
            "Replica election data contains duplicate partitions: {}",
            twice.join(",")
        );
    }
    Ok(Some(list))
}

/// The Java exception Kafka's tool prints for an error code.
fn exception_name(code: i16) -> String {
    match code {
        7 => "org.apache.kafka.common.errors.TimeoutException".into(),
        -1 => "org.apache.kafka.common.errors.UnknownServerException".into(),
        _ => {
            let camel: String = error_name(code)
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next().map_or(String::new(), |f| {
                        f.to_string() + &c.as_str().to_ascii_lowercase()
                    })
                })
                .collect();
            format!("org.apache.kafka.common.errors.{camel}Exception")
        }
    }
}

pub fn run(args: ElectionArgs) -> anyhow::Result<ExitCode> {
    let election = election_code(&args.election_type)?;
    let wanted = selection(&args)?;
    let ok = block_on(async {
        let mut client = connect(
            args.bootstrap_server.as_deref(),
            args.admin_config.as_deref(),
            "leader-election",
        )
        .await?;
        if !client.supports(ApiKey::ElectLeaders) {
            bail!("leader election is not supported by this broker yet (it does not serve the ElectLeaders API)");
        }
        let topic_partitions = wanted.as_ref().map(|list| {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (t, p) in list {
                by_topic.entry(t).or_default().push(*p);
            }
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic(topic_name(t))
                        .with_partitions(ps)
                })
                .collect()
        });
        let request = ElectLeadersRequest::default()
            .with_election_type(election)
            .with_topic_partitions(topic_partitions)
            .with_timeout_ms(30_000);
        let answer = client.controller().await?.call_capped(&request, 2).await?;
        crate::kafka_client::check(answer.error_code, None, "leader election")?;
        let (mut done, mut not_needed, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for t in &answer.replica_election_results {
            for p in &t.partition_result {
                let tp = (t.topic.0.to_string(), p.partition_id);
                match p.error_code {
                    0 => done.push(tp),
                    84 => not_needed.push(tp), // ELECTION_NOT_NEEDED
                    code => {
                        failed.push((tp, code, p.error_message.as_ref().map(|m| m.to_string())))
                    }
                }
            }
        }
        let kind = args.election_type.to_ascii_uppercase();
        if !done.is_empty() {
            println!(
                "Successfully completed leader election ({kind}) for partitions {}",
                joined(&done)
            );
        }
        if !not_needed.is_empty() {
            println!(
                "Valid replica already elected for partitions {}",
                joined(&not_needed)
            );
        }
        for ((t, p), code, message) in &failed {
            println!(
                "Error completing leader election ({kind}) for partition: {t}-{p}: {}{}",
                exception_name(*code),
                message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            );
        }
        if !failed.is_empty() {
            eprintln!("{} replica(s) could not be elected", failed.len());
        }
        anyhow::Ok(failed.is_empty())
    })??;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_named_as_kafkas_exceptions() {
        assert_eq!(
            exception_name(80),
            "org.apache.kafka.common.errors.PreferredLeaderNotAvailableException"
        );
        assert_eq!(
            exception_name(3),
            "org.apache.kafka.common.errors.UnknownTopicOrPartitionException"
        );
        assert_eq!(
            exception_name(7),
            "org.apache.kafka.common.errors.TimeoutException"
        );
    }
}
