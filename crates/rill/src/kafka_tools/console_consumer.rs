//! `rill console-consumer` (kafka-console-consumer.sh): prints records as
//! Kafka's DefaultMessageFormatter does, from chosen partitions and offsets
//! or as a member of a consumer group.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use kafka_protocol::records::{Record, TimestampType};
use kafka_protocol::ResponseError;

use super::common::{block_on, client_config, is_internal, load_properties, parse_kv, IncludeList};
use crate::kafka_client::data::{self, TopicPartition, EARLIEST, LATEST};
use crate::kafka_client::group::{self, Membership};
use crate::kafka_client::{error_name, KafkaClient};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
  rill console-consumer --bootstrap-server 127.0.0.1:9092 --topic orders --from-beginning\n  \
  rill console-consumer --bootstrap-server 127.0.0.1:9092 --topic orders --partition 0 --offset 42 --max-messages 10\n  \
  rill console-consumer --bootstrap-server 127.0.0.1:9092 --topic orders --group billing \\\n    --property print.key=true --property print.offset=true")]
pub struct ConsumerArgs {
    /// The broker to connect to, host:port[,host:port...].
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// The topic to read.
    #[arg(long)]
    topic: Option<String>,
    /// A regular expression of topics to read (--whitelist is the old name).
    #[arg(long, alias = "whitelist")]
    include: Option<String>,
    /// Start at the earliest offset rather than the latest (when there is no committed offset).
    #[arg(long = "from-beginning")]
    from_beginning: bool,
    /// Read as a member of this consumer group (offsets committed to it).
    #[arg(long)]
    group: Option<String>,
    /// Read only this partition (with --topic).
    #[arg(long)]
    partition: Option<i32>,
    /// Where to start in --partition: earliest, latest, or an offset.
    #[arg(long, allow_hyphen_values = true)]
    offset: Option<String>,
    /// Exit after this many records.
    #[arg(long = "max-messages")]
    max_messages: Option<u64>,
    /// Exit when no record arrives for this many milliseconds.
    #[arg(long = "timeout-ms")]
    timeout_ms: Option<u64>,
    /// read_uncommitted or read_committed.
    #[arg(long = "isolation-level", default_value = "read_uncommitted")]
    isolation_level: String,
    /// Formatter properties: print.key, print.value, print.timestamp, print.partition,
    /// print.offset, print.headers (true/false), key.separator, line.separator (repeatable).
    #[arg(long = "property", value_name = "KEY=VALUE")]
    property: Vec<String>,
    /// Consumer settings key=value: group.id, auto.offset.reset, enable.auto.commit (repeatable).
    #[arg(long = "consumer-property", value_name = "KEY=VALUE")]
    consumer_property: Vec<String>,
    /// Consumer properties file.
    #[arg(long = "consumer.config", value_name = "FILE")]
    consumer_config: Option<PathBuf>,
    /// Accepted for compatibility; records are printed by the default formatter.
    #[arg(long, hide = true)]
    formatter: Option<String>,
}

/// Kafka's DefaultMessageFormatter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Formatter {
    pub print_timestamp: bool,
    pub print_partition: bool,
    pub print_offset: bool,
    pub print_headers: bool,
    pub print_key: bool,
    pub print_value: bool,
    pub key_separator: String,
    pub line_separator: String,
    pub headers_separator: String,
}

fn unescape(s: &str) -> String {
    s.replace("\\t", "\t")
        .replace("\\n", "\n")
        .replace("\\r", "\r")
}

impl Formatter {
    pub fn from_properties(props: &[(String, String)]) -> anyhow::Result<Self> {
        let get = |k: &str| {
            props
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let flag = |k: &str, default: bool| -> anyhow::Result<bool> {
            match get(k) {
                None => Ok(default),
                Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
                Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
                Some(v) => bail!("--property {k}={v}: expected true or false"),
            }
        };
        Ok(Formatter {
            print_timestamp: flag("print.timestamp", false)?,
            print_partition: flag("print.partition", false)?,
            print_offset: flag("print.offset", false)?,
            print_headers: flag("print.headers", false)?,
            print_key: flag("print.key", false)?,
            print_value: flag("print.value", true)?,
            key_separator: get("key.separator").map_or("\t".into(), |s| unescape(&s)),
            line_separator: get("line.separator").map_or("\n".into(), |s| unescape(&s)),
            headers_separator: get("headers.separator").map_or(",".into(), |s| unescape(&s)),
        })
    }

    /// One record as the console consumer prints it.
    pub fn format(&self, partition: i32, record: &Record, out: &mut Vec<u8>) {
        let fields = [
            self.print_timestamp,
            self.print_partition,
            self.print_offset,
            self.print_headers,
            self.print_key,
            self.print_value,
        ];
        // A separator follows a field when any later field is printed.
        let sep_after = |i: usize, out: &mut Vec<u8>| {
            if fields[i + 1..].iter().any(|f| *f) {
                out.extend_from_slice(self.key_separator.as_bytes());
            }
        };
        let bytes_or_null = |b: &Option<bytes::Bytes>, out: &mut Vec<u8>| match b {
            Some(b) => out.extend_from_slice(b),
            None => out.extend_from_slice(b"null"),
        };
        if self.print_timestamp {
            let kind = match record.timestamp_type {
                TimestampType::Creation => "CreateTime",
                TimestampType::LogAppend => "LogAppendTime",
            };
            if record.timestamp < 0 {
                out.extend_from_slice(b"NO_TIMESTAMP");
            } else {
                out.extend_from_slice(format!("{kind}:{}", record.timestamp).as_bytes());
            }
            sep_after(0, out);
        }
        if self.print_partition {
            out.extend_from_slice(format!("Partition:{partition}").as_bytes());
            sep_after(1, out);
        }
        if self.print_offset {
            out.extend_from_slice(format!("Offset:{}", record.offset).as_bytes());
            sep_after(2, out);
        }
        if self.print_headers {
            if record.headers.is_empty() {
                out.extend_from_slice(b"NO_HEADERS");
            }
            for (i, (k, v)) in record.headers.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(self.headers_separator.as_bytes());
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b':');
                bytes_or_null(v, out);
            }
            sep_after(3, out);
        }
        if self.print_key {
            bytes_or_null(&record.key, out);
            sep_after(4, out);
        }
        if self.print_value {
            bytes_or_null(&record.value, out);
            out.extend_from_slice(self.line_separator.as_bytes());
        }
    }
}

/// Where a partition without a usable position starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reset {
    Earliest,
    Latest,
    Fail,
}

struct Options {
    topics: Vec<String>,
    include: Option<IncludeList>,
    partition: Option<i32>,
    start: Option<i64>,
    reset: Reset,
    group: Option<String>,
    auto_commit: bool,
    max_messages: Option<u64>,
    timeout: Option<Duration>,
    isolation: i8,
    formatter: Formatter,
}

fn options(args: &ConsumerArgs, props: &BTreeMap<String, String>) -> anyhow::Result<Options> {
    if args.topic.is_some() == args.include.is_some() {
        bail!("exactly one of --topic or --include is required");
    }
    if args.partition.is_some() && args.topic.is_none() {
        bail!("--partition needs --topic");
    }
    let group = args
        .group
        .clone()
        .or_else(|| props.get("group.id").cloned());
    if args.partition.is_some() && group.is_some() {
        bail!("--partition cannot be combined with --group: a group member gets its partitions from the group");
    }
    let start = match args.offset.as_deref() {
        None => None,
        Some(_) if args.partition.is_none() => {
            bail!("--offset needs --partition (the partition to start reading at that offset)")
        }
        Some(_) if args.from_beginning => {
            bail!("--offset cannot be combined with --from-beginning")
        }
        Some("earliest") => Some(EARLIEST),
        Some("latest") => Some(LATEST),
        Some(n) => Some(n.parse::<i64>().ok().filter(|n| *n >= 0).with_context(|| {
            format!("--offset '{n}' is not earliest, latest or a non-negative offset")
        })?),
    };
    let reset = match props.get("auto.offset.reset").map(String::as_str) {
        _ if args.from_beginning => Reset::Earliest,
        None | Some("latest") => Reset::Latest,
        Some("earliest") => Reset::Earliest,
        Some("none") => Reset::Fail,
        Some(other) => bail!("auto.offset.reset '{other}' is not earliest, latest or none"),
    };
    Ok(Options {
        topics: args.topic.iter().cloned().collect(),
        include: args.include.as_deref().map(IncludeList::new).transpose()?,
        partition: args.partition,
        start,
        reset,
        auto_commit: props.get("enable.auto.commit").is_none_or(|v| v != "false"),
        group,
        max_messages: args.max_messages,
        timeout: args.timeout_ms.map(Duration::from_millis),
        isolation: data::isolation_level(&args.isolation_level)?,
        formatter: Formatter::from_properties(&parse_kv(&args.property, "--property")?)?,
    })
}

pub fn run(args: ConsumerArgs) -> anyhow::Result<ExitCode> {
    let mut props: BTreeMap<String, String> = match &args.consumer_config {
        Some(path) => load_properties(path)?,
        None => BTreeMap::new(),
    };
    props.extend(parse_kv(&args.consumer_property, "--consumer-property")?);
    let options = options(&args, &props)?;
    let config = client_config(args.bootstrap_server.as_deref(), &props, "console-consumer")?;
    let mut consumed = 0u64;
    let result = block_on(async {
        // Ctrl-C or SIGTERM ends the loop; a group member then commits and leaves.
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            crate::shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let mut client = tokio::select! {
            c = KafkaClient::connect(config) => c?,
            _ = crate::shutdown_signal() => return Ok(()),
        };
        consume(&mut client, &options, &mut consumed, stop).await
    })?;
    eprintln!("Processed a total of {consumed} messages");
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The topics to read: --topic as given, or the --include matches.
async fn topics(client: &mut KafkaClient, options: &Options) -> anyhow::Result<Vec<String>> {
    let Some(include) = &options.include else {
        return Ok(options.topics.clone());
    };
    let cluster = client.metadata(None, false).await?;
    Ok(cluster
        .topics
        .values()
        .filter(|t| !t.internal && !is_internal(&t.name) && include.matches(&t.name))
        .map(|t| t.name.clone())
        .collect())
}

/// Start offsets: explicit, committed (group), or by the reset policy.
async fn positions(
    client: &mut KafkaClient,
    options: &Options,
    partitions: &[TopicPartition],
    committed: &BTreeMap<TopicPartition, i64>,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let mut out = BTreeMap::new();
    let mut need_reset = Vec::new();
    for tp in partitions {
        match (options.start, committed.get(tp)) {
            (Some(offset), _) if offset >= 0 => {
                out.insert(tp.clone(), offset);
            }
            (Some(special), _) => {
                let found = data::list_offsets(
                    client,
                    std::slice::from_ref(tp),
                    special,
                    options.isolation,
                )
                .await?;
                out.extend(found);
            }
            (None, Some(offset)) => {
                out.insert(tp.clone(), *offset);
            }
            (None, None) => need_reset.push(tp.clone()),
        }
    }
    if !need_reset.is_empty() {
        let timestamp = match options.reset {
            Reset::Earliest => EARLIEST,
            Reset::Latest => LATEST,
            Reset::Fail => bail!(
                "no committed offset for {:?} and auto.offset.reset=none",
                need_reset
            ),
        };
        out.extend(data::list_offsets(client, &need_reset, timestamp, options.isolation).await?);
    }
    Ok(out)
}

async fn consume(
    client: &mut KafkaClient,
    options: &Options,
    consumed: &mut u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let topics = topics(client, options).await?;
    if topics.is_empty() {
        bail!("no topic matches --include");
    }
    client.metadata_with_leaders(&topics, true).await?;
    let mut member = match &options.group {
        Some(g) => {
            group::require_apis(client, group::MEMBER_APIS)?;
            tokio::select! {
                m = Membership::join(client, g, &topics, 10_000) => Some(m?),
                _ = stop.changed() => return Ok(()),
            }
        }
        None => None,
    };
    let mut position: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    let mut dirty = false;
    let stdout = std::io::stdout();
    let mut out = Vec::with_capacity(64 * 1024);
    // Everything after joining runs here, so the member leaves the group whatever happens.
    let result: anyhow::Result<()> = async {
        let mut assigned = assignment(client, options, &topics, member.as_ref()).await?;
        let committed = match &member {
            Some(m) => group::fetch_offsets(client, &m.group, Some(&assigned)).await?,
            None => BTreeMap::new(),
        };
        position = positions(client, options, &assigned, &committed).await?;
        let mut last_record = Instant::now();
        let mut last_heartbeat = Instant::now();
        let mut last_commit = Instant::now();
        loop {
            if *stop.borrow() || options.max_messages.is_some_and(|max| *consumed >= max) {
                return Ok(());
            }
            if let Some(timeout) = options.timeout {
                if last_record.elapsed() >= timeout {
                    eprintln!("ERROR Error processing message, terminating consumer process: org.apache.kafka.common.errors.TimeoutException");
                    return Ok(());
                }
            }
            if let Some(m) = member.as_mut() {
                if last_heartbeat.elapsed() >= Duration::from_secs(3) {
                    last_heartbeat = Instant::now();
                    if !m.heartbeat(client).await? {
                        if dirty && options.auto_commit {
                            let _ = group::commit_offsets(client, &m.group, m.generation, &m.member_id, &position).await;
                        }
                        m.rejoin(client, &topics).await?;
                        assigned = m.assignment.clone();
                        let committed =
                            group::fetch_offsets(client, &m.group, Some(&assigned)).await?;
                        position = positions(client, options, &assigned, &committed).await?;
                        dirty = false;
                    }
                }
                if dirty && options.auto_commit && last_commit.elapsed() >= Duration::from_secs(5) {
                    group::commit_offsets(client, &m.group, m.generation, &m.member_id, &position).await?;
                    last_commit = Instant::now();
                    dirty = false;
                }
            }
            if position.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let wait = options
                .timeout
                .map_or(500, |t| t.saturating_sub(last_record.elapsed()).as_millis().clamp(10, 500) as i32);
            let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
            for (tp, offset) in &position {
                let leader = client.cluster().await?.leader(&tp.0, tp.1)?;
                by_leader.entry(leader).or_default().push((tp.clone(), *offset));
            }
            for (leader, wanted) in by_leader {
                for fetched in data::fetch(client, leader, &wanted, wait, options.isolation).await? {
                    let tp = (fetched.topic.clone(), fetched.partition);
                    match ResponseError::try_from_code(fetched.error_code) {
                        None => {}
                        Some(ResponseError::OffsetOutOfRange) if options.reset != Reset::Fail => {
                            let ts = if options.reset == Reset::Earliest { EARLIEST } else { LATEST };
                            position.extend(data::list_offsets(client, std::slice::from_ref(&tp), ts, options.isolation).await?);
                            continue;
                        }
                        Some(e) if e.is_retriable() => {
                            client.metadata(Some(&topics), false).await?;
                            continue;
                        }
                        Some(_) => bail!("fetching {}-{}: {}", tp.0, tp.1, error_name(fetched.error_code)),
                    }
                    let start = position[&tp];
                    for record in fetched.records.iter().filter(|r| r.offset >= start) {
                        if options.max_messages.is_some_and(|max| *consumed >= max) {
                            break;
                        }
                        options.formatter.format(tp.1, record, &mut out);
                        *consumed += 1;
                        position.insert(tp.clone(), record.offset + 1);
                        dirty = true;
                        last_record = Instant::now();
                    }
                    if !out.is_empty() {
                        let mut lock = stdout.lock();
                        lock.write_all(&out)?;
                        lock.flush()?;
                        out.clear();
                    }
                }
            }
        }
    }
    .await;
    if let Some(m) = &member {
        if dirty && options.auto_commit {
            group::commit_offsets(client, &m.group, m.generation, &m.member_id, &position).await?;
        }
        let _ = m.leave(client).await;
    }
    result
}

/// The partitions to read: the group's assignment, --partition, or all of the topics'.
async fn assignment(
    client: &mut KafkaClient,
    options: &Options,
    topics: &[String],
    member: Option<&Membership>,
) -> anyhow::Result<Vec<TopicPartition>> {
    if let Some(m) = member {
        return Ok(m.assignment.clone());
    }
    let cluster = client.cluster().await?;
    let mut out = Vec::new();
    for topic in topics {
        let t = cluster.topic(topic)?;
        match options.partition {
            Some(p) => {
                cluster.leader(topic, p)?;
                out.push((topic.clone(), p));
            }
            None => out.extend(t.partitions.iter().map(|p| (topic.clone(), p.index))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record() -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 7,
            sequence: -1,
            timestamp: 1700000000000,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        }
    }

    fn render(props: &[(&str, &str)]) -> String {
        let props: Vec<(String, String)> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut out = Vec::new();
        Formatter::from_properties(&props)
            .unwrap()
            .format(3, &record(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn default_formatter_layout() {
        assert_eq!(render(&[]), "v\n");
        assert_eq!(render(&[("print.key", "true")]), "k\tv\n");
        assert_eq!(
            render(&[
                ("print.timestamp", "true"),
                ("print.partition", "true"),
                ("print.offset", "true"),
                ("print.key", "true"),
                ("key.separator", " | ")
            ]),
            "CreateTime:1700000000000 | Partition:3 | Offset:7 | k | v\n"
        );
        assert_eq!(render(&[("print.headers", "true")]), "NO_HEADERS\tv\n");
        assert_eq!(
            render(&[("print.key", "true"), ("print.value", "false")]),
            "k"
        );
        assert!(Formatter::from_properties(&[("print.key".into(), "yes".into())]).is_err());
    }
}
