//! `rill consumer-groups` (kafka-consumer-groups.sh): list, describe, reset
//! the offsets of, and delete consumer groups, printing Kafka's tables.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;

use super::common::{block_on, connect};
use super::group_format::{self, MemberRow, OffsetRow, MISSING};
use crate::kafka_client::data::{self, TopicPartition, EARLIEST, LATEST};
use crate::kafka_client::group::{self, GroupDescription};
use crate::kafka_client::{error_name, KafkaClient};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
  rill consumer-groups --bootstrap-server 127.0.0.1:9092 --list\n  \
  rill consumer-groups --bootstrap-server 127.0.0.1:9092 --describe --group billing\n  \
  rill consumer-groups --bootstrap-server 127.0.0.1:9092 --describe --group billing --members --verbose\n  \
  rill consumer-groups --bootstrap-server 127.0.0.1:9092 --reset-offsets --group billing --topic orders --to-earliest --execute\n  \
  rill consumer-groups --bootstrap-server 127.0.0.1:9092 --delete --group billing")]
pub struct GroupsArgs {
    /// The broker to connect to, host:port[,host:port...].
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Client properties file.
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,

    /// List all consumer groups.
    #[arg(long)]
    list: bool,
    /// Describe groups: offsets and lag (default), --members or --state.
    #[arg(long)]
    describe: bool,
    /// Delete groups (they must have no active members).
    #[arg(long)]
    delete: bool,
    /// Reset a group's committed offsets (dry run unless --execute).
    #[arg(long = "reset-offsets")]
    reset_offsets: bool,
    /// Delete a group's committed offsets of --topic.
    #[arg(long = "delete-offsets")]
    delete_offsets: bool,

    /// The group (repeatable).
    #[arg(long)]
    group: Vec<String>,
    /// Every group.
    #[arg(long = "all-groups")]
    all_groups: bool,
    /// With --describe: the members.
    #[arg(long)]
    members: bool,
    /// With --describe: the offsets (the default view).
    #[arg(long)]
    offsets: bool,
    /// With --describe: the group's state; with --list: show (or filter by) states.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    state: Option<String>,
    /// More detail (with --members: the assignment).
    #[arg(long)]
    verbose: bool,

    /// A topic, or topic:0,1 for some partitions (repeatable).
    #[arg(long)]
    topic: Vec<String>,
    /// With --reset-offsets: every topic the group has offsets for.
    #[arg(long = "all-topics")]
    all_topics: bool,
    #[arg(long = "to-earliest")]
    to_earliest: bool,
    #[arg(long = "to-latest")]
    to_latest: bool,
    #[arg(long = "to-current")]
    to_current: bool,
    /// Reset to this offset (clamped to what the log holds).
    #[arg(long = "to-offset")]
    to_offset: Option<i64>,
    /// Move the current offsets by N (negative: back).
    #[arg(long = "shift-by", allow_hyphen_values = true)]
    shift_by: Option<i64>,
    /// Reset to the first offset at or after YYYY-MM-DDTHH:mm:SS.sss (optionally with Z or +hh:mm).
    #[arg(long = "to-datetime")]
    to_datetime: Option<String>,
    /// Only print the new offsets (the default).
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Commit the new offsets.
    #[arg(long)]
    execute: bool,
}

/// What --reset-offsets moves offsets to.
#[derive(Clone, Debug, PartialEq)]
enum ResetTo {
    Earliest,
    Latest,
    Current,
    Offset(i64),
    Shift(i64),
    Timestamp(i64),
}

/// `YYYY-MM-DDTHH:mm:SS[.sss][Z|+hh:mm|+hhmm]`; without a zone, local time (as Kafka).
pub fn parse_datetime(text: &str) -> anyhow::Result<i64> {
    use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
    let with_zone = text
        .strip_suffix('Z')
        .map(|t| format!("{t}+00:00"))
        .unwrap_or(text.to_owned());
    for f in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(&with_zone, f) {
            return Ok(t.timestamp_millis());
        }
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").with_context(|| {
        format!(
            "--to-datetime '{text}' is not YYYY-MM-DDTHH:mm:SS.sss (e.g. 2024-01-31T08:00:00.000)"
        )
    })?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
        .with_context(|| format!("--to-datetime '{text}' does not exist in the local time zone"))
}

/// `t` or `t:0,1` -> (topic, Some(partitions)).
pub fn parse_topic_spec(spec: &str) -> anyhow::Result<(String, Option<Vec<i32>>)> {
    match spec.split_once(':') {
        None => Ok((spec.to_owned(), None)),
        Some((topic, parts)) => {
            let ps = parts
                .split(',')
                .map(|p| {
                    p.trim()
                        .parse::<i32>()
                        .with_context(|| format!("--topic {spec}: '{p}' is not a partition number"))
                })
                .collect::<anyhow::Result<Vec<i32>>>()?;
            Ok((topic.to_owned(), Some(ps)))
        }
    }
}

impl GroupsArgs {
    fn reset_to(&self) -> anyhow::Result<ResetTo> {
        let mut specs = Vec::new();
        if self.to_earliest {
            specs.push(ResetTo::Earliest);
        }
        if self.to_latest {
            specs.push(ResetTo::Latest);
        }
        if self.to_current {
            specs.push(ResetTo::Current);
        }
        if let Some(o) = self.to_offset {
            specs.push(ResetTo::Offset(o));
        }
        if let Some(n) = self.shift_by {
            specs.push(ResetTo::Shift(n));
        }
        if let Some(t) = &self.to_datetime {
            specs.push(ResetTo::Timestamp(parse_datetime(t)?));
        }
        match specs.len() {
            1 => Ok(specs.remove(0)),
            0 => bail!("--reset-offsets needs one of --to-earliest, --to-latest, --to-current, --to-offset, --shift-by, --to-datetime"),
            _ => bail!("--reset-offsets takes only one of --to-earliest, --to-latest, --to-current, --to-offset, --shift-by, --to-datetime"),
        }
    }
}

pub fn run(args: GroupsArgs) -> anyhow::Result<ExitCode> {
    let actions = [
        args.list,
        args.describe,
        args.delete,
        args.reset_offsets,
        args.delete_offsets,
    ];
    if actions.iter().filter(|a| **a).count() != 1 {
        bail!("Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets");
    }
    if (args.describe || args.delete || args.reset_offsets)
        && args.group.is_empty()
        && !args.all_groups
    {
        bail!("this action needs --group NAME (or --all-groups)");
    }
    if args.delete_offsets && args.group.len() != 1 {
        bail!("--delete-offsets needs exactly one --group");
    }
    if args.reset_offsets {
        args.reset_to()?;
        if args.topic.is_empty() && !args.all_topics {
            bail!("--reset-offsets needs --topic T (or T:0,1) or --all-topics");
        }
        if args.dry_run && args.execute {
            bail!("--dry-run and --execute cannot be combined");
        }
    }
    let ok = block_on(async {
        let mut client = connect(
            args.bootstrap_server.as_deref(),
            args.command_config.as_deref(),
            "consumer-groups",
        )
        .await?;
        group::require_apis(&client, group::ADMIN_APIS)?;
        execute(&mut client, &args).await
    })??;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the action; Ok(false) when it printed an error Kafka's way.
async fn execute(client: &mut KafkaClient, args: &GroupsArgs) -> anyhow::Result<bool> {
    if args.list {
        return list(client, args).await;
    }
    let groups = if args.all_groups {
        consumer_groups(client)
            .await?
            .into_iter()
            .map(|g| g.0)
            .collect()
    } else {
        args.group.clone()
    };
    if args.describe {
        let mut ok = true;
        for g in &groups {
            ok &= describe(client, args, g).await?;
        }
        Ok(ok)
    } else if args.delete {
        delete(client, &groups).await
    } else if args.reset_offsets {
        reset(client, args, &groups).await
    } else {
        delete_offsets(client, args).await
    }
}

/// (group id, state) of the groups using the consumer protocol.
async fn consumer_groups(client: &mut KafkaClient) -> anyhow::Result<Vec<(String, String)>> {
    Ok(group::list_groups(client)
        .await?
        .into_iter()
        .filter(|g| g.protocol_type == "consumer" || g.protocol_type.is_empty())
        .map(|g| (g.group_id, g.state))
        .collect())
}

async fn list(client: &mut KafkaClient, args: &GroupsArgs) -> anyhow::Result<bool> {
    let groups = consumer_groups(client).await?;
    match &args.state {
        None => {
            for (g, _) in groups {
                println!("{g}");
            }
        }
        Some(filter) => {
            let wanted: BTreeSet<String> = filter
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect();
            let shown: Vec<(String, String)> = groups
                .into_iter()
                .filter(|(_, s)| wanted.is_empty() || wanted.contains(&s.to_ascii_lowercase()))
                .collect();
            print!("{}", group_format::list_with_states(&shown));
        }
    }
    Ok(true)
}

/// Prints Kafka's remark about the group's state; false when it does not exist.
fn remark_on_state(description: &GroupDescription) -> bool {
    let group = &description.group_id;
    match description.state.as_str() {
        "Dead" => {
            println!("\nError: Consumer group '{group}' does not exist.");
            false
        }
        "Empty" => {
            eprintln!("\nConsumer group '{group}' has no active members.");
            true
        }
        "PreparingRebalance" | "CompletingRebalance" => {
            eprintln!("\nWarning: Consumer group '{group}' is rebalancing.");
            true
        }
        _ => true,
    }
}

async fn describe(
    client: &mut KafkaClient,
    args: &GroupsArgs,
    group: &str,
) -> anyhow::Result<bool> {
    let description = group::describe_group(client, group).await?;
    if description.error_code != 0 {
        println!(
            "\nError: describing group '{group}' failed: {}",
            error_name(description.error_code)
        );
        return Ok(false);
    }
    if !remark_on_state(&description) {
        return Ok(false);
    }
    if args.members && !args.offsets {
        let rows: Vec<MemberRow> = description
            .members
            .iter()
            .map(|m| MemberRow {
                group: group.to_owned(),
                consumer_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                host: m.host.clone(),
                client_id: m.client_id.clone(),
                assignment: m.assignment.clone(),
            })
            .collect();
        if !rows.is_empty() {
            print!("{}", group_format::members_table(&rows, args.verbose));
        }
        return Ok(true);
    }
    if args.state.is_some() && !args.offsets {
        let coordinator = description
            .coordinator
            .as_ref()
            .map_or(MISSING.to_string(), |n| {
                format!("{}:{}  ({})", n.host, n.port, n.id)
            });
        print!(
            "{}",
            group_format::state_table(
                group,
                &coordinator,
                &description.protocol,
                &description.state,
                description.members.len()
            )
        );
        return Ok(true);
    }
    let rows = offset_rows(client, &description).await?;
    if !rows.is_empty() {
        print!("{}", group_format::offsets_table(&rows));
    }
    Ok(true)
}

/// The offsets view: members' partitions (busiest member first), then
/// partitions with a committed offset but no member.
async fn offset_rows(
    client: &mut KafkaClient,
    description: &GroupDescription,
) -> anyhow::Result<Vec<OffsetRow>> {
    let committed = group::fetch_offsets(client, &description.group_id, None).await?;
    let all: BTreeSet<TopicPartition> = description
        .members
        .iter()
        .flat_map(|m| m.assignment.iter().cloned())
        .chain(committed.keys().cloned())
        .collect();
    let topics: Vec<String> = all
        .iter()
        .map(|(t, _)| t.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let ends = if all.is_empty() {
        BTreeMap::new()
    } else {
        // Partitions without a leader have no log end to show ("-").
        let cluster = client.metadata(Some(&topics), false).await?;
        let live: Vec<TopicPartition> = all
            .iter()
            .filter(|(t, p)| cluster.leader(t, *p).is_ok())
            .cloned()
            .collect();
        data::list_offsets(client, &live, LATEST, 0).await?
    };
    Ok(build_offset_rows(description, &committed, &ends))
}

/// The rows of `--describe` from the group, its committed offsets and the log ends,
/// in Kafka's order.
pub fn build_offset_rows(
    description: &GroupDescription,
    committed: &BTreeMap<TopicPartition, i64>,
    ends: &BTreeMap<TopicPartition, i64>,
) -> Vec<OffsetRow> {
    let mut members: Vec<_> = description
        .members
        .iter()
        .filter(|m| !m.assignment.is_empty())
        .collect();
    // Stable sort: members with as many partitions keep the coordinator's order.
    members.sort_by_key(|m| std::cmp::Reverse(m.assignment.len()));
    let assigned: BTreeSet<&TopicPartition> =
        members.iter().flat_map(|m| m.assignment.iter()).collect();
    let row = |tp: &TopicPartition, member: Option<&group::Member>| OffsetRow {
        group: description.group_id.clone(),
        topic: Some(tp.0.clone()),
        partition: Some(tp.1),
        offset: committed.get(tp).copied(),
        log_end_offset: ends.get(tp).copied(),
        consumer_id: Some(member.map_or(MISSING.into(), |m| m.member_id.clone())),
        host: Some(member.map_or(MISSING.into(), |m| m.host.clone())),
        client_id: Some(member.map_or(MISSING.into(), |m| m.client_id.clone())),
    };
    let mut rows = Vec::new();
    for m in members {
        let mut tps = m.assignment.clone();
        tps.sort();
        rows.extend(tps.iter().map(|tp| row(tp, Some(m))));
    }
    rows.extend(
        committed
            .keys()
            .filter(|tp| !assigned.contains(tp))
            .map(|tp| row(tp, None)),
    );
    rows
}

async fn delete(client: &mut KafkaClient, groups: &[String]) -> anyhow::Result<bool> {
    let results = group::delete_groups(client, groups).await?;
    let (ok, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(|(_, code)| *code == 0);
    let quoted = |list: &[(String, i16)]| {
        list.iter()
            .map(|(g, _)| format!("'{g}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if failed.is_empty() {
        println!(
            "Deletion of requested consumer groups ({}) was successful.",
            quoted(&ok)
        );
        return Ok(true);
    }
    println!("\nError: Deletion of some consumer groups failed:");
    for (g, code) in &failed {
        println!(
            "* Group '{g}' could not be deleted due to: {}",
            error_name(*code)
        );
    }
    if !ok.is_empty() {
        println!(
            "\nThese consumer groups were deleted successfully: {}",
            quoted(&ok)
        );
    }
    Ok(false)
}

/// The partitions --topic names (all of a topic's when no partitions are given).
async fn named_partitions(
    client: &mut KafkaClient,
    specs: &[String],
) -> anyhow::Result<Vec<TopicPartition>> {
    let parsed = specs
        .iter()
        .map(|s| parse_topic_spec(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let topics: Vec<String> = parsed.iter().map(|(t, _)| t.clone()).collect();
    let cluster = client.metadata(Some(&topics), false).await?;
    let mut out = Vec::new();
    for (topic, partitions) in parsed {
        match partitions {
            Some(ps) => out.extend(ps.into_iter().map(|p| (topic.clone(), p))),
            None => out.extend(
                cluster
                    .topic(&topic)?
                    .partitions
                    .iter()
                    .map(|p| (topic.clone(), p.index)),
            ),
        }
    }
    Ok(out)
}

async fn reset(
    client: &mut KafkaClient,
    args: &GroupsArgs,
    groups: &[String],
) -> anyhow::Result<bool> {
    let to = args.reset_to()?;
    let execute = args.execute;
    if !execute && !args.dry_run {
        eprintln!("WARN: No action will be performed as the --execute option is missing. Add --dry-run to keep this behaviour without the warning, or --execute to commit the offsets.");
    }
    let mut rows = Vec::new();
    let mut ok = true;
    for g in groups {
        let description = group::describe_group(client, g).await?;
        if !matches!(description.state.as_str(), "Empty" | "Dead") {
            println!(
                "\nError: Assignments can only be reset if the group '{g}' is inactive, but the current state is {}.",
                description.state
            );
            ok = false;
            continue;
        }
        let committed = group::fetch_offsets(client, g, None).await?;
        let partitions: Vec<TopicPartition> = if args.all_topics {
            committed.keys().cloned().collect()
        } else {
            named_partitions(client, &args.topic).await?
        };
        if partitions.is_empty() {
            continue;
        }
        let topics: Vec<String> = partitions
            .iter()
            .map(|(t, _)| t.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        client.metadata(Some(&topics), false).await?;
        let earliest = data::list_offsets(client, &partitions, EARLIEST, 0).await?;
        let latest = data::list_offsets(client, &partitions, LATEST, 0).await?;
        let at_time = match to {
            ResetTo::Timestamp(ts) => data::list_offsets(client, &partitions, ts, 0).await?,
            _ => BTreeMap::new(),
        };
        let mut new = BTreeMap::new();
        for tp in &partitions {
            let (lo, hi) = (earliest[tp], latest[tp]);
            let current = committed.get(tp).copied();
            let target = match to {
                ResetTo::Earliest => lo,
                ResetTo::Latest => hi,
                ResetTo::Current => current.unwrap_or(hi),
                ResetTo::Offset(o) => o,
                ResetTo::Shift(n) => current.unwrap_or(hi) + n,
                ResetTo::Timestamp(_) => at_time.get(tp).copied().filter(|o| *o >= 0).unwrap_or(hi),
            };
            new.insert(tp.clone(), target.clamp(lo, hi));
        }
        if execute {
            group::commit_offsets(client, g, -1, "", &new).await?;
        }
        rows.extend(new.into_iter().map(|(tp, o)| (g.clone(), tp, o)));
    }
    print!("{}", group_format::reset_table(&rows));
    Ok(ok)
}

async fn delete_offsets(client: &mut KafkaClient, args: &GroupsArgs) -> anyhow::Result<bool> {
    let g = &args.group[0];
    if args.topic.is_empty() {
        bail!("--delete-offsets needs --topic T (or T:0,1)");
    }
    let partitions = named_partitions(client, &args.topic).await?;
    let (top, results) = group::delete_offsets(client, g, &partitions).await?;
    match top {
        0 => println!("Request succeeded for deleting offsets from group {g}."),
        _ => println!(
            "\nError: Deleting offsets of group '{g}' failed: {}",
            error_name(top)
        ),
    }
    let rows: Vec<(TopicPartition, Option<String>)> = results
        .into_iter()
        .map(|(tp, code)| (tp, (code != 0).then(|| error_name(code))))
        .collect();
    print!("{}", group_format::delete_offsets_table(&rows));
    Ok(top == 0 && rows.iter().all(|(_, e)| e.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_in_kafkas_format() {
        assert_eq!(
            parse_datetime("2024-01-31T08:00:00.000Z").unwrap(),
            1706688000000
        );
        assert_eq!(
            parse_datetime("2024-01-31T10:00:00.000+02:00").unwrap(),
            1706688000000
        );
        assert_eq!(
            parse_datetime("2024-01-31T10:00:00+0200").unwrap(),
            1706688000000
        );
        assert!(parse_datetime("2024-01-31T08:00:00").is_ok());
        assert!(parse_datetime("yesterday")
            .unwrap_err()
            .to_string()
            .contains("YYYY-MM-DD"));
    }

    #[test]
    fn describe_rows_in_kafkas_order() {
        let member = |id: &str, tps: &[(&str, i32)]| group::Member {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "cli".into(),
            host: "/127.0.0.1".into(),
            assignment: tps.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
        };
        let description = GroupDescription {
            group_id: "g".into(),
            state: "Stable".into(),
            members: vec![
                member("small", &[("t", 2)]),
                member("idle", &[]),
                member("big", &[("t", 1), ("t", 0)]),
            ],
            ..Default::default()
        };
        let tp = |t: &str, p: i32| (t.to_string(), p);
        let committed = BTreeMap::from([(tp("t", 0), 5), (tp("old", 0), 7)]);
        let ends = BTreeMap::from([
            (tp("t", 0), 9),
            (tp("t", 1), 3),
            (tp("t", 2), 0),
            (tp("old", 0), 7),
        ]);
        let rows = build_offset_rows(&description, &committed, &ends);
        let summary: Vec<String> = rows
            .iter()
            .map(|r| {
                let (topic, partition) = (r.topic.as_deref().unwrap(), r.partition.unwrap());
                let member = r.consumer_id.as_deref().unwrap();
                format!("{topic}-{partition} {:?} {:?} {member}", r.offset, r.lag())
            })
            .collect();
        assert_eq!(
            summary,
            [
                "t-0 Some(5) Some(4) big",
                "t-1 None None big",
                "t-2 None None small",
                "old-0 Some(7) Some(0) -",
            ]
        );
    }

    #[test]
    fn topic_specs() {
        assert_eq!(parse_topic_spec("t").unwrap(), ("t".into(), None));
        assert_eq!(
            parse_topic_spec("t:0,2").unwrap(),
            ("t".into(), Some(vec![0, 2]))
        );
        assert!(parse_topic_spec("t:x").is_err());
    }
}
