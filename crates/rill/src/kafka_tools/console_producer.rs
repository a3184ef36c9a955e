//! `rill console-producer` (kafka-console-producer.sh): one record per line
//! of standard input, with Kafka's flags and `parse.key` / `key.separator`.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use kafka_protocol::records::Compression;
use tokio::sync::mpsc;

use super::common::{block_on, client_config, load_properties, parse_kv};
use crate::kafka_client::records::{compression, encode_batch, NewRecord};
use crate::kafka_client::{data, KafkaClient};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
  rill console-producer --bootstrap-server 127.0.0.1:9092 --topic orders\n  \
  rill console-producer --broker-list 127.0.0.1:9092 --topic orders --property parse.key=true --property key.separator=:\n  \
  printf 'a\\nb\\n' | rill console-producer --bootstrap-server 127.0.0.1:9092 --topic orders --sync")]
pub struct ProducerArgs {
    /// The broker to connect to, host:port[,host:port...].
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Older name of --bootstrap-server.
    #[arg(long = "broker-list", value_name = "HOST:PORT")]
    broker_list: Option<String>,
    /// The topic to produce to.
    #[arg(long)]
    topic: String,
    /// Reader properties: parse.key=true, key.separator=SEP, ignore.error=true,
    /// null.marker=TEXT (repeatable).
    #[arg(long = "property", value_name = "KEY=VALUE")]
    property: Vec<String>,
    /// Producer settings key=value: acks, compression.type, batch.size, linger.ms (repeatable).
    #[arg(long = "producer-property", value_name = "KEY=VALUE")]
    producer_property: Vec<String>,
    /// Producer properties file.
    #[arg(long = "producer.config", value_name = "FILE")]
    producer_config: Option<PathBuf>,
    /// Compression codec: none, gzip (when given without a value), snappy, lz4 or zstd.
    #[arg(long = "compression-codec", num_args = 0..=1, default_missing_value = "gzip")]
    compression_codec: Option<String>,
    /// Send each line on its own and wait for the broker's acknowledgement.
    #[arg(long)]
    sync: bool,
    /// acks: -1/all (default), 0 or 1.
    #[arg(long = "request-required-acks", allow_hyphen_values = true)]
    request_required_acks: Option<String>,
    /// Milliseconds the broker may wait for acknowledgements.
    #[arg(long = "request-timeout-ms", default_value_t = 1500)]
    request_timeout_ms: i32,
    /// Lines per batch in the default (async) mode.
    #[arg(long = "batch-size", default_value_t = 200)]
    batch_size: usize,
    /// Milliseconds to wait for more lines before sending a partial batch.
    #[arg(long = "timeout", default_value_t = 1000)]
    timeout: u64,
}

/// How each input line becomes a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineReader {
    parse_key: bool,
    key_separator: String,
    ignore_error: bool,
    null_marker: Option<String>,
}

impl LineReader {
    pub fn from_properties(props: &[(String, String)]) -> Self {
        let get = |k: &str| {
            props
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        LineReader {
            parse_key: get("parse.key").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            key_separator: get("key.separator").unwrap_or_else(|| "\t".into()),
            ignore_error: get("ignore.error").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            null_marker: get("null.marker"),
        }
    }

    /// (key, value) of a line; Err when parse.key is on and the separator is missing.
    pub fn parse(&self, line: &str) -> anyhow::Result<(Option<Bytes>, Option<Bytes>)> {
        let field = |s: &str| {
            if self.null_marker.as_deref() == Some(s) {
                None
            } else {
                Some(Bytes::copy_from_slice(s.as_bytes()))
            }
        };
        if !self.parse_key {
            return Ok((None, field(line)));
        }
        match line.split_once(self.key_separator.as_str()) {
            Some((k, v)) => Ok((field(k), field(v))),
            None if self.ignore_error => Ok((None, field(line))),
            None => bail!(
                "No key separator found on line: {line} (key.separator is {:?}; set ignore.error=true to send such lines without a key)",
                self.key_separator
            ),
        }
    }
}

/// Kafka's murmur2, which its default partitioner applies to keys.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a keyed record, as the Java client's default partitioner picks it.
pub fn key_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

fn parse_acks(text: &str) -> anyhow::Result<i16> {
    match text {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        other => bail!("acks must be all, -1, 0 or 1, got '{other}'"),
    }
}

struct Settings {
    acks: i16,
    codec: Compression,
    batch_lines: usize,
    linger: Duration,
}

pub fn run(args: ProducerArgs) -> anyhow::Result<ExitCode> {
    let mut props: BTreeMap<String, String> = match &args.producer_config {
        Some(path) => load_properties(path)?,
        None => BTreeMap::new(),
    };
    props.extend(parse_kv(&args.producer_property, "--producer-property")?);
    let bootstrap = args
        .bootstrap_server
        .as_deref()
        .or(args.broker_list.as_deref());
    let config = client_config(bootstrap, &props, "console-producer")
        .map_err(|e| anyhow::anyhow!("{e} (--broker-list is accepted too)"))?;
    let acks = match args
        .request_required_acks
        .as_deref()
        .or(props.get("acks").map(String::as_str))
    {
        Some(a) => parse_acks(a)?,
        None => -1,
    };
    let codec_name = args
        .compression_codec
        .clone()
        .or_else(|| props.get("compression.type").cloned())
        .unwrap_or_else(|| "none".into());
    let settings = Settings {
        acks,
        codec: compression(&codec_name)?,
        batch_lines: if args.sync { 1 } else { args.batch_size.max(1) },
        linger: Duration::from_millis(if args.sync { 0 } else { args.timeout }),
    };
    let reader = LineReader::from_properties(&parse_kv(&args.property, "--property")?);

    // Standard input is read on its own thread so a slow broker never blocks typing.
    let (tx, rx) = mpsc::channel::<String>(10_000);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        // Kafka prompts with '>' only when someone is typing.
        let prompt = stdin.is_terminal();
        let mut lines = stdin.lock().lines();
        loop {
            if prompt {
                print!(">");
                let _ = std::io::stdout().flush();
            }
            let Some(Ok(line)) = lines.next() else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    block_on(async move {
        let mut client = KafkaClient::connect(config).await?;
        produce_lines(&mut client, &args.topic, &reader, &settings, rx).await
    })??;
    Ok(ExitCode::SUCCESS)
}

/// Waits until the topic exists with a leader for every partition (a topic
/// created a moment ago, or auto-created by this very request).
async fn partitions_of(client: &mut KafkaClient, topic: &str) -> anyhow::Result<i32> {
    let wanted = [topic.to_owned()];
    let cluster = client.metadata_with_leaders(&wanted, true).await?;
    Ok(cluster.topic(topic)?.partitions.len() as i32)
}

async fn produce_lines(
    client: &mut KafkaClient,
    topic: &str,
    reader: &LineReader,
    settings: &Settings,
    mut lines: mpsc::Receiver<String>,
) -> anyhow::Result<()> {
    let partitions = partitions_of(client, topic).await?;
    // Keyless records stick to one partition per batch, moving on each batch.
    let mut sticky = (std::process::id() as i32).rem_euclid(partitions);
    // On Ctrl-C (or SIGTERM) the lines already read are still sent, then we exit.
    let mut shutdown = std::pin::pin!(crate::shutdown_signal());
    let mut closing = false;
    loop {
        let first = if closing {
            lines.try_recv().ok()
        } else {
            tokio::select! {
                line = lines.recv() => line,
                _ = &mut shutdown => {
                    closing = true;
                    lines.try_recv().ok()
                }
            }
        };
        let Some(first) = first else {
            return Ok(());
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + settings.linger;
        while batch.len() < settings.batch_lines {
            if closing {
                match lines.try_recv() {
                    Ok(line) => batch.push(line),
                    Err(_) => break,
                }
                continue;
            }
            tokio::select! {
                next = tokio::time::timeout_at(deadline, lines.recv()) => match next {
                    Ok(Some(line)) => batch.push(line),
                    Ok(None) | Err(_) => break,
                },
                _ = &mut shutdown => closing = true,
            }
        }
        let mut by_partition: BTreeMap<i32, Vec<NewRecord>> = BTreeMap::new();
        let now = broker::now_ms();
        for line in &batch {
            let (key, value) = reader.parse(line)?;
            let partition = match &key {
                Some(k) => key_partition(k, partitions),
                None => sticky,
            };
            by_partition.entry(partition).or_default().push(NewRecord {
                key,
                value,
                headers: Vec::new(),
                timestamp: now,
            });
        }
        sticky = (sticky + 1) % partitions;
        for (partition, records) in by_partition {
            let batch = encode_batch(&records, settings.codec)?;
            data::produce(client, topic, partition, batch, settings.acks, 30_000)
                .await
                .with_context(|| {
                    format!("sending {} record(s) to {topic}-{partition}", records.len())
                })?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58897971
        );
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn lines_split_at_the_key_separator() {
        let props = vec![
            ("parse.key".into(), "true".into()),
            ("key.separator".into(), ":".into()),
        ];
        let r = LineReader::from_properties(&props);
        let (k, v) = r.parse("user1:hello:world").unwrap();
        assert_eq!(k.as_deref(), Some(&b"user1"[..]));
        assert_eq!(v.as_deref(), Some(&b"hello:world"[..]));
        let e = r.parse("nokey").unwrap_err().to_string();
        assert!(e.contains("No key separator found on line: nokey"), "{e}");
        let plain = LineReader::from_properties(&[]);
        assert_eq!(plain.parse("a\tb").unwrap().0, None);
    }
}
