//! `rill consumer-perf-test` (kafka-consumer-perf-test.sh): reads records as
//! fast as the broker serves them and prints Kafka's summary line.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;

use super::common::{block_on, client_config, load_properties};
use crate::kafka_client::data::{self, TopicPartition, EARLIEST, LATEST};
use crate::kafka_client::group::{self, Membership};
use crate::kafka_client::{error_name, KafkaClient};

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  \
  rill consumer-perf-test --bootstrap-server 127.0.0.1:9092 --topic perf --messages 1000000\n\n\
The consumer joins --group (default perf-consumer-<random>, as Kafka's tool) and reads the\n\
partitions it is assigned from the group's committed offsets, else from the beginning\n\
(or the end with --from-latest); rebalance.time.ms is the time the join took.")]
pub struct ConsumerPerfArgs {
    /// The broker to connect to, host:port[,host:port...].
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Older name of --bootstrap-server.
    #[arg(long = "broker-list", value_name = "HOST:PORT")]
    broker_list: Option<String>,
    /// The topic to read.
    #[arg(long)]
    topic: String,
    /// How many records to read.
    #[arg(long)]
    messages: u64,
    /// Start at the end of the log instead of the beginning.
    #[arg(long = "from-latest")]
    from_latest: bool,
    /// Give up after this many milliseconds without a record.
    #[arg(long, default_value_t = 10_000)]
    timeout: u64,
    /// Print a line every --reporting-interval ms as well as the summary.
    #[arg(long = "show-detailed-stats")]
    show_detailed_stats: bool,
    #[arg(long = "reporting-interval", default_value_t = 5000)]
    reporting_interval: u64,
    /// Leave out the header line.
    #[arg(long = "hide-header")]
    hide_header: bool,
    /// Consumer properties file (bootstrap.servers, client.id, request.timeout.ms).
    #[arg(long = "consumer.config")]
    consumer_config: Option<std::path::PathBuf>,
    /// The consumer group to join (default perf-consumer-<random>).
    #[arg(long)]
    group: Option<String>,
    /// Accepted for compatibility.
    #[arg(long = "fetch-size", hide = true)]
    fetch_size: Option<u64>,
    /// Accepted for compatibility.
    #[arg(long, hide = true)]
    threads: Option<u32>,
}

const HEADER: &str = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";

/// Kafka's `yyyy-MM-dd HH:mm:ss:SSS`, in local time.
fn timestamp(ms: i64) -> String {
    use chrono::TimeZone;
    chrono::Local.timestamp_millis_opt(ms).single().map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S:%3f").to_string(),
    )
}

/// The summary line, as ConsumerPerformance prints it.
pub fn summary_line(
    start_ms: i64,
    end_ms: i64,
    bytes: u64,
    records: u64,
    rebalance_ms: u64,
    fetch_ms: u64,
) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    let secs = ((end_ms - start_ms) as f64 / 1000.0).max(1e-3);
    let fetch_secs = (fetch_ms as f64 / 1000.0).max(1e-3);
    format!(
        "{}, {}, {mb:.4}, {:.4}, {records}, {:.4}, {rebalance_ms}, {fetch_ms}, {:.4}, {:.4}",
        timestamp(start_ms),
        timestamp(end_ms),
        mb / secs,
        records as f64 / secs,
        mb / fetch_secs,
        records as f64 / fetch_secs
    )
}

pub fn run(args: ConsumerPerfArgs) -> anyhow::Result<ExitCode> {
    let props = match &args.consumer_config {
        Some(path) => load_properties(path)?,
        None => BTreeMap::new(),
    };
    let bootstrap = args
        .bootstrap_server
        .as_deref()
        .or(args.broker_list.as_deref());
    let config = client_config(bootstrap, &props, "consumer-perf-test")?;
    block_on(async {
        let mut client = KafkaClient::connect(config).await?;
        consume(&mut client, &args).await
    })??;
    Ok(ExitCode::SUCCESS)
}

async fn consume(client: &mut KafkaClient, args: &ConsumerPerfArgs) -> anyhow::Result<()> {
    let topic = args.topic.clone();
    let topics = [topic.clone()];
    client.metadata_with_leaders(&topics, false).await?;
    let group_id = args.group.clone().unwrap_or_else(|| {
        // Kafka's tool: "perf-consumer-" + a random number below 100000.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("perf-consumer-{}", nanos % 100_000)
    });
    group::require_apis(client, group::MEMBER_APIS)?;
    let join_start = Instant::now();
    let mut member = Membership::join(client, &group_id, &topics, 10_000).await?;
    let rebalance_ms = join_start.elapsed().as_millis() as u64;
    let partitions = member.assignment.clone();
    let start_at = if args.from_latest { LATEST } else { EARLIEST };
    let mut position = group::fetch_offsets(client, &group_id, Some(&partitions)).await?;
    position.retain(|_, o| *o >= 0);
    let missing: Vec<TopicPartition> = partitions
        .iter()
        .filter(|tp| !position.contains_key(*tp))
        .cloned()
        .collect();
    if !missing.is_empty() {
        position.extend(data::list_offsets(client, &missing, start_at, 0).await?);
    }
    let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
    for tp in &partitions {
        let leader = client.cluster().await?.leader(&tp.0, tp.1)?;
        by_leader.entry(leader).or_default().push(tp.clone());
    }
    let mut last_heartbeat = Instant::now();
    if !args.hide_header {
        println!("{HEADER}");
    }
    let start_ms = broker::now_ms();
    let fetch_start = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut last_record = Instant::now();
    let mut last_report = (Instant::now(), broker::now_ms(), 0u64, 0u64);
    'outer: while records < args.messages {
        if last_record.elapsed() >= Duration::from_millis(args.timeout) {
            eprintln!(
                "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. \
                 You can use the --timeout option to increase the timeout.",
                args.timeout
            );
            break;
        }
        if last_heartbeat.elapsed() >= Duration::from_secs(3) {
            last_heartbeat = Instant::now();
            if !member.heartbeat(client).await? {
                member.rejoin(client, &topics).await?;
            }
        }
        for (leader, tps) in &by_leader {
            let wanted: Vec<(TopicPartition, i64)> =
                tps.iter().map(|tp| (tp.clone(), position[tp])).collect();
            for fetched in data::fetch(client, *leader, &wanted, 100, 0).await? {
                if fetched.error_code != 0 {
                    bail!(
                        "fetching {}-{}: {}",
                        fetched.topic,
                        fetched.partition,
                        error_name(fetched.error_code)
                    );
                }
                let tp = (fetched.topic, fetched.partition);
                let from = position[&tp];
                for r in fetched.records.iter().filter(|r| r.offset >= from) {
                    records += 1;
                    bytes += r.key.as_ref().map_or(0, |k| k.len()) as u64
                        + r.value.as_ref().map_or(0, |v| v.len()) as u64;
                    position.insert(tp.clone(), r.offset + 1);
                    last_record = Instant::now();
                    if records >= args.messages {
                        break 'outer;
                    }
                }
            }
        }
        if args.show_detailed_stats
            && last_report.0.elapsed() >= Duration::from_millis(args.reporting_interval)
        {
            let now = broker::now_ms();
            let fetch_ms = last_report.0.elapsed().as_millis() as u64;
            println!(
                "{}",
                summary_line(
                    last_report.1,
                    now,
                    bytes - last_report.3,
                    records - last_report.2,
                    rebalance_ms,
                    fetch_ms
                )
            );
            last_report = (Instant::now(), now, records, bytes);
        }
    }
    let fetch_ms = fetch_start.elapsed().as_millis() as u64;
    let end_ms = broker::now_ms();
    // As the Java consumer's commit on close: the group's offsets move on.
    if let Err(e) = group::commit_offsets(
        client,
        &group_id,
        member.generation,
        &member.member_id,
        &position,
    )
    .await
    {
        eprintln!("WARNING: committing the group's offsets: {e:#}");
    }
    let _ = member.leave(client).await;
    if !args.show_detailed_stats {
        println!(
            "{}",
            summary_line(
                start_ms - rebalance_ms as i64,
                end_ms,
                bytes,
                records,
                rebalance_ms,
                fetch_ms
            )
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_has_kafkas_ten_columns() {
        let line = summary_line(0, 2000, 2 * 1024 * 1024, 1000, 0, 1000);
        let cols: Vec<&str> = line.split(", ").collect();
        assert_eq!(cols.len(), HEADER.split(", ").count());
        assert_eq!(
            &cols[2..],
            [
                "2.0000",
                "1.0000",
                "1000",
                "500.0000",
                "0",
                "1000",
                "2.0000",
                "1000.0000"
            ]
        );
        assert_eq!(cols[0].len(), "1970-01-01 00:00:00:000".len());
    }
}
