//! `rill producer-perf-test`: kafka-producer-perf-test's flags and output
//! lines, driving a broker with pipelined Produce requests built by the
//! `kafka-protocol` crate (v2 record batches, one per partition per request).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::ProduceRequest;

use crate::kafka_client::records::{compression, encode_batch, NewRecord};
use crate::kafka_client::{topic_name, ClientConfig, KafkaClient};

#[derive(Args)]
#[command(
    after_help = "Example:\n  rill producer-perf-test --topic perf --num-records 1000000 --record-size 100 \\\n    --throughput -1 --producer-props bootstrap.servers=127.0.0.1:9092 acks=1 batch.size=65536"
)]
pub struct PerfArgs {
    #[arg(long)]
    topic: String,
    #[arg(long = "num-records")]
    num_records: u64,
    #[arg(long = "record-size")]
    record_size: usize,
    /// Records per second to aim for; -1 = as fast as possible.
    #[arg(long, allow_hyphen_values = true, default_value_t = -1)]
    throughput: i64,
    /// Producer settings `key=value`: bootstrap.servers (required), acks (default all),
    /// batch.size (bytes per partition batch, default 16384), compression.type,
    /// max.in.flight.requests.per.connection (default 5).
    #[arg(long = "producer-props", num_args = 1..)]
    producer_props: Vec<String>,
}

fn props(args: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    args.iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .with_context(|| format!("--producer-props expects key=value, got '{p}'"))
        })
        .collect()
}

/// Latencies in microseconds, weighted by the records each request carried.
#[derive(Default)]
struct Stats {
    samples: Vec<(u64, u64)>,
    records: u64,
    bytes: u64,
    max_us: u64,
    total_us: u128,
}

impl Stats {
    fn record(&mut self, latency: Duration, records: u64, bytes: u64) {
        let us = latency.as_micros() as u64;
        self.samples.push((us, records));
        self.records += records;
        self.bytes += bytes;
        self.max_us = self.max_us.max(us);
        self.total_us += us as u128 * records as u128;
    }

    fn summary(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency",
            self.records,
            self.records as f64 / secs,
            self.bytes as f64 / secs / (1024.0 * 1024.0),
            self.total_us as f64 / self.records.max(1) as f64 / 1000.0,
            self.max_us as f64 / 1000.0
        )
    }

    fn percentiles(&mut self, ps: &[f64]) -> Vec<u64> {
        self.samples.sort_unstable();
        ps.iter()
            .map(|p| {
                let target = (self.records as f64 * p).ceil() as u64;
                let mut seen = 0;
                for (us, n) in &self.samples {
                    seen += n;
                    if seen >= target {
                        return us / 1000;
                    }
                }
                self.max_us / 1000
            })
            .collect()
    }
}

pub fn run(args: PerfArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(produce(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn produce(args: PerfArgs) -> anyhow::Result<()> {
    let props = props(&args.producer_props)?;
    let bootstrap = props
        .get("bootstrap.servers")
        .context("--producer-props bootstrap.servers=host:port is required")?
        .clone();
    let acks: i16 = match props.get("acks").map(String::as_str).unwrap_or("all") {
        "all" | "-1" => -1,
        "0" => 0,
        "1" => 1,
        other => bail!("acks must be all, -1, 0 or 1, got '{other}'"),
    };
    let batch_size: usize = props
        .get("batch.size")
        .map_or(Ok(16384), |v| v.parse())
        .context("batch.size")?;
    let in_flight: usize = props
        .get("max.in.flight.requests.per.connection")
        .map_or(Ok(5), |v| v.parse())
        .context("max.in.flight.requests.per.connection")?;
    let codec = compression(props.get("compression.type").map_or("none", String::as_str))?;

    let mut client = KafkaClient::connect(ClientConfig::new(&bootstrap, "rill-perf")?).await?;
    let wanted = [args.topic.clone()];
    let t = client
        .metadata(Some(&wanted), true)
        .await?
        .topic(&args.topic)?;
    let partitions: Vec<i32> = t.partitions.iter().map(|p| p.index).collect();
    let leaders: Vec<i32> = t.partitions.iter().map(|p| p.leader).collect();
    if leaders.iter().any(|l| *l != leaders[0]) {
        bail!(
            "partitions of {} have different leaders; this tool drives one broker",
            args.topic
        );
    }
    let topic = topic_name(&args.topic);
    let conn = client.broker(leaders[0]).await?;
    let version = conn.version_for::<ProduceRequest>(9)?;

    // One shared payload of random uppercase letters, as kafka-producer-perf-test sends.
    let payload = Bytes::from(
        (0..args.record_size)
            .map(|i| b'A' + ((i * 7 + 3) % 26) as u8)
            .collect::<Vec<u8>>(),
    );
    let per_batch = (batch_size / args.record_size.max(1)).max(1) as u64;
    let mut stats = Stats::default();
    let mut window = Stats::default();
    let start = Instant::now();
    let mut window_start = start;
    let mut sent = 0u64;
    let mut pending: std::collections::VecDeque<(Instant, u64)> = Default::default();
    while sent < args.num_records || !pending.is_empty() {
        while sent < args.num_records && pending.len() < in_flight {
            let mut data = Vec::with_capacity(partitions.len());
            let mut in_request = 0;
            for p in &partitions {
                let n = per_batch.min(args.num_records - sent - in_request);
                if n == 0 {
                    break;
                }
                let now = broker::now_ms();
                let records: Vec<NewRecord> = (0..n)
                    .map(|_| NewRecord {
                        key: None,
                        value: Some(payload.clone()),
                        headers: Vec::new(),
                        timestamp: now,
                    })
                    .collect();
                let batch = encode_batch(&records, codec)?;
                data.push(
                    PartitionProduceData::default()
                        .with_index(*p)
                        .with_records(Some(batch)),
                );
                in_request += n;
            }
            if args.throughput > 0 {
                let due = start
                    + Duration::from_secs_f64((sent + in_request) as f64 / args.throughput as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            let req = ProduceRequest::default()
                .with_acks(acks)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic.clone())
                    .with_partition_data(data)]);
            if acks == 0 {
                conn.send_unanswered(&req, version).await?;
            } else {
                conn.send_at(&req, version).await?;
            }
            sent += in_request;
            if acks == 0 {
                stats.record(
                    Duration::ZERO,
                    in_request,
                    in_request * args.record_size as u64,
                );
                window.record(
                    Duration::ZERO,
                    in_request,
                    in_request * args.record_size as u64,
                );
            } else {
                pending.push_back((Instant::now(), in_request));
            }
        }
        if let Some((at, n)) = pending.pop_front() {
            let resp = conn.recv_at::<ProduceRequest>(version).await?;
            for t in &resp.responses {
                for p in &t.partition_responses {
                    if p.error_code != 0 {
                        bail!(
                            "partition {}: produce failed with error code {}",
                            p.index,
                            p.error_code
                        );
                    }
                }
            }
            let latency = at.elapsed();
            stats.record(latency, n, n * args.record_size as u64);
            window.record(latency, n, n * args.record_size as u64);
        }
        if window_start.elapsed() >= Duration::from_secs(5) {
            println!("{}.", window.summary(window_start.elapsed()));
            window = Stats::default();
            window_start = Instant::now();
        }
    }
    let elapsed = start.elapsed();
    let p = stats.percentiles(&[0.5, 0.95, 0.99, 0.999]);
    println!(
        "{}, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
        stats.summary(elapsed),
        p[0],
        p[1],
        p[2],
        p[3]
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_weigh_records() {
        let mut s = Stats::default();
        s.record(Duration::from_millis(1), 90, 0);
        s.record(Duration::from_millis(10), 9, 0);
        s.record(Duration::from_millis(100), 1, 0);
        assert_eq!(
            s.percentiles(&[0.5, 0.95, 0.99, 0.999]),
            vec![1, 10, 10, 100]
        );
    }

    #[test]
    fn props_need_key_value() {
        assert!(props(&["acks".into()]).is_err());
        assert_eq!(props(&["acks=1".into()]).unwrap()["acks"], "1");
    }
}
