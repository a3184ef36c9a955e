//! Whole-config tests: the seeds' server.properties and `--override` list,
//! error wording, synonym precedence, listeners, DescribeConfigs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;

const SEED_000: &str = include_str!("testdata/seed000_server.properties");
/// Seed 003's flags with the shell expansions done for pod `kafka-0`.
const SEED_003: &str = include_str!("testdata/seed003_overrides.txt");

const MINIMAL: &str = "zookeeper.connect=localhost:2181\n";

fn build(text: &str, overrides: &[&str]) -> Result<LoadedConfig, ConfigError> {
    let pairs: Vec<(String, String)> = overrides
        .iter()
        .map(|o| parse_override(o).unwrap())
        .collect();
    BrokerConfig::from_text(text, &pairs)
}

fn ok(text: &str, overrides: &[&str]) -> LoadedConfig {
    build(text, overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str, overrides: &[&str]) -> String {
    match build(text, overrides) {
        Ok(_) => panic!("expected an error for {text:?} {overrides:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn seed_000_server_properties() {
    let loaded = ok(SEED_000, &[]);
    let c = &loaded.config;
    assert_eq!(c.broker_id, 1);
    assert_eq!(c.listeners[0].to_string(), "PLAINTEXT://0.0.0.0:9092");
    assert_eq!(
        c.advertised_listeners[0].to_string(),
        "PLAINTEXT://192.168.1.1:9092"
    );
    assert_eq!(c.log_dirs, vec![PathBuf::from("/data/kafka")]);
    assert_eq!(
        c.zookeeper.to_string(),
        "192.168.1.1:2181,192.168.1.2:2181,192.168.1.3:2181"
    );
    assert_eq!(c.zookeeper_connection_timeout_ms, 18000);
    assert_eq!(c.num_partitions, 48);
    assert_eq!(c.log.retention_ms, 168 * 3_600_000);
    assert_eq!(c.log.retention_bytes, 10_737_418_240);
    assert_eq!(c.log.segment_bytes, 1 << 30);
    assert_eq!(c.message_max_bytes, 1_024_000_000);
    assert_eq!(c.socket_request_max_bytes, 1_048_576_000);
    assert_eq!(c.group_initial_rebalance_delay_ms, 0);
    assert_eq!(c.default_replication_factor, 2);
    assert_eq!(c.offsets_topic_replication_factor, 2);
    assert_eq!(c.transaction_state_log_replication_factor, 2);
    assert_eq!(c.transaction_state_log_min_isr, 2);
    assert!(c.cleanup_policy.delete && !c.cleanup_policy.compact);

    // The four trailing comments are stripped and reported with their line.
    let trailing: Vec<&String> = loaded
        .warnings
        .iter()
        .filter(|w| w.contains("trailing comment"))
        .collect();
    assert_eq!(trailing.len(), 4, "{:#?}", loaded.warnings);
    assert!(trailing[0].starts_with("line 1:") && trailing[0].contains("'broker.id'"));
    // max.partition.fetch.bytes is a consumer setting.
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.contains("'max.partition.fetch.bytes' is a client setting")));
    assert_eq!(loaded.warnings.len(), 5, "{:#?}", loaded.warnings);
    for key in [
        "num.network.threads",
        "num.io.threads",
        "socket.send.buffer.bytes",
        "log.cleaner.enable",
    ] {
        assert!(
            loaded.not_used.iter().any(|k| k == key),
            "{key} in {:?}",
            loaded.not_used
        );
    }
    assert!(!loaded.not_used.iter().any(|k| k == "num.partitions"));
}

#[test]
fn seed_003_overrides_are_all_known() {
    let overrides: Vec<&str> = SEED_003.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(overrides.len(), 87);
    let loaded = ok("", &overrides);
    for w in &loaded.warnings {
        assert!(
            w.contains("quota.producer.default")
                || w.contains("quota.consumer.default")
                || w.contains("more than once"),
            "unexpected warning: {w}"
        );
    }
    let c = &loaded.config;
    assert_eq!(c.broker_id, 0);
    assert_eq!(
        (c.listeners[0].host.as_str(), c.listeners[0].port),
        ("", 9092)
    );
    assert_eq!(
        c.advertised_listeners[0].to_string(),
        "PLAINTEXT://10.10.101.114:30127"
    );
    assert_eq!(c.log_dirs, vec![PathBuf::from("/var/lib/kafka/")]);
    assert_eq!(c.log.flush_interval_messages, i64::MAX);
    assert_eq!(c.log.flush_interval_ms, i64::MAX);
    assert_eq!(c.log.roll_ms, 168 * 3_600_000);
    assert_eq!(c.log.retention_bytes, -1);
    assert_eq!(c.message_max_bytes, 1_000_012);
    assert_eq!(c.zookeeper_session_timeout_ms, 6000);
    assert_eq!(c.zookeeper_connection_timeout_ms, 6000);
    assert_eq!(c.replica_lag_time_max_ms, 10_000);
    assert!(c.unclean_leader_election_enable);
    assert_eq!(c.compression_type, CompressionType::Producer);
    assert_eq!(c.log.message_timestamp_type, TimestampType::CreateTime);
    assert_eq!(
        c.value_string("log.cleaner.io.max.bytes.per.second")
            .as_deref(),
        Some("1.7976931348623157E308")
    );
    assert_eq!(
        c.value_string("log.cleaner.io.buffer.load.factor")
            .as_deref(),
        Some("0.9")
    );
    assert_eq!(c.source("num.io.threads"), ConfigSource::StaticBrokerConfig);
    assert_eq!(c.source("num.partitions"), ConfigSource::StaticBrokerConfig);
    assert_eq!(c.source("fetch.max.bytes"), ConfigSource::DefaultConfig);
    for key in [
        "background.threads",
        "quota.producer.default",
        "zookeeper.set.acl",
        "log.preallocate",
    ] {
        assert!(loaded.not_used.iter().any(|k| k == key), "{key}");
    }
}

#[test]
fn defaults_match_kafka() {
    let c = ok(MINIMAL, &[]).config;
    assert_eq!(c.broker_id, -1);
    assert_eq!(c.listeners[0].to_string(), "PLAINTEXT://:9092");
    assert_eq!(c.advertised_listeners, c.listeners);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kafka-logs")]);
    assert_eq!(c.zookeeper_session_timeout_ms, 18000);
    assert_eq!(c.zookeeper_connection_timeout_ms, 18000);
    assert_eq!((c.num_partitions, c.default_replication_factor), (1, 1));
    assert!(c.auto_create_topics_enable && c.delete_topic_enable);
    assert_eq!(c.message_max_bytes, 1_048_588);
    assert_eq!(c.socket_request_max_bytes, 104_857_600);
    assert_eq!(c.log.retention_ms, 604_800_000);
    assert_eq!(c.log.roll_ms, 604_800_000);
    assert_eq!(c.log.retention_check_interval_ms, 300_000);
    assert_eq!(c.log.index_interval_bytes, 4096);
    assert_eq!(c.num_recovery_threads_per_data_dir, 1);
    assert_eq!(
        (
            c.offsets_topic_num_partitions,
            c.offsets_topic_replication_factor
        ),
        (50, 3)
    );
    assert_eq!(c.group_initial_rebalance_delay_ms, 3000);
    assert_eq!(
        (
            c.group_min_session_timeout_ms,
            c.group_max_session_timeout_ms
        ),
        (6000, 1_800_000)
    );
    assert_eq!(c.min_insync_replicas, 1);
    assert!(!c.unclean_leader_election_enable);
    assert_eq!(c.replica_lag_time_max_ms, 30_000);
    assert_eq!(c.replica_fetch_max_bytes, 1_048_576);
    assert!(c.controlled_shutdown_enable && c.auto_leader_rebalance_enable);
    assert_eq!(c.broker_rack, None);
    assert_eq!(c.inter_broker_listener_name, "PLAINTEXT");
    let t = c.topic_defaults();
    assert_eq!(t.retention_ms, 604_800_000);
    assert_eq!(t.max_message_bytes, 1_048_588);
    assert_eq!(t.flush_ms, i64::MAX);
}

#[test]
fn bad_values_name_key_value_and_line() {
    assert_eq!(
        err("zookeeper.connect=zk:2181\nbroker.id=abc\n", &[]),
        "line 2: invalid value 'abc' for broker.id: expected an integer"
    );
    assert_eq!(
        err(MINIMAL, &["num.partitions=0"]),
        "--override: invalid value '0' for num.partitions: must be at least 1"
    );
    assert_eq!(
        err(MINIMAL, &["message.max.bytes=3000000000"]),
        "--override: invalid value '3000000000' for message.max.bytes: expected an integer from -2147483648 to 2147483647"
    );
    assert_eq!(
        err(MINIMAL, &["log.cleanup.policy=delete,tidy"]),
        "--override: invalid value 'delete,tidy' for log.cleanup.policy: 'tidy' is not one of compact, delete"
    );
    assert!(
        err(MINIMAL, &["compression.type=brotli"]).contains("expected one of uncompressed, zstd")
    );
    assert!(err(MINIMAL, &["auto.create.topics.enable=yes"]).contains("expected true or false"));
    assert!(err(MINIMAL, &["log.cleaner.min.cleanable.ratio=x"]).contains("expected a number"));
    assert!(err(MINIMAL, &["zookeeper.connect=zk:abc"])
        .contains("invalid value 'zk:abc' for zookeeper.connect"));
    assert!(err(MINIMAL, &["listeners=PLAINTEXT//x:1"]).contains("for listeners: cannot parse"));
    assert_eq!(
        err("", &[]),
        "missing required configuration `zookeeper.connect` which has no default value"
    );
    // Broker-level compression.type is case-insensitive, as in Kafka.
    assert_eq!(
        ok(MINIMAL, &["compression.type=GZIP"])
            .config
            .compression_type,
        CompressionType::Gzip
    );
    assert!(matches!(
        parse_override("novalue"),
        Err(ConfigError::BadOverride(_))
    ));
    assert_eq!(
        parse_override("listener.name.x.sasl.jaas.config=a=b").unwrap(),
        ("listener.name.x.sasl.jaas.config".into(), "a=b".into())
    );
}

#[test]
fn unknown_keys_are_warned() {
    let loaded = ok("zookeeper.connect=zk\nfoo.bar=1\n", &["port=9092"]);
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w == "line 2: unknown configuration 'foo.bar'; ignored"));
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.starts_with("--override: 'port' is removed in Kafka 3.0")));
    assert!(loaded.not_used.contains(&"port".to_owned()));
    assert!(!loaded.not_used.contains(&"foo.bar".to_owned()));
}

#[test]
fn overrides_apply_in_order_after_the_file() {
    let c = ok(
        "zookeeper.connect=zk\nnum.partitions=3\n",
        &["num.partitions=4", "num.partitions=5"],
    )
    .config;
    assert_eq!(c.num_partitions, 5);
    assert_eq!(
        c.layers().statics["num.partitions"].origin,
        Origin::Override
    );
    // Later duplicates in the file win too.
    let c = ok(
        "zookeeper.connect=zk\nnum.partitions=3\nnum.partitions=7\n",
        &[],
    )
    .config;
    assert_eq!(c.num_partitions, 7);
}

#[test]
fn environment_sits_between_the_file_and_the_overrides() {
    let env = broker_env(
        [
            ("KAFKA_NUM_PARTITIONS", "4"),
            ("KAFKA_BROKER_ID", "7"),
            ("KAFKA_LOG_RETENTION_HOURS", "1"),
            ("KAFKA_NO_SUCH_THING", "x"),
            ("KAFKA_HEAP_OPTS", "-Xmx1G"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .unwrap();
    let pairs = vec![("num.partitions".to_owned(), "5".to_owned())];
    let loaded = BrokerConfig::from_text_and_env(
        "zookeeper.connect=zk\nnum.partitions=3\nbroker.id=1\n",
        &env.settings,
        &pairs,
    )
    .unwrap();
    let c = &loaded.config;
    assert_eq!((c.num_partitions, c.broker_id), (5, 7));
    assert_eq!(c.log.retention_ms, 3_600_000);
    assert_eq!(
        c.layers().statics["broker.id"].origin,
        Origin::Env("KAFKA_BROKER_ID".into())
    );
    assert!(
        loaded.warnings.iter().any(|w| w
            == "environment variable KAFKA_NO_SUCH_THING: unknown configuration 'no.such.thing'; ignored"),
        "{:?}",
        loaded.warnings
    );
    // A bad value names the variable, the key and the value.
    let env = broker_env([("KAFKA_BROKER_ID".to_owned(), "two".to_owned())]).unwrap();
    let e = BrokerConfig::from_text_and_env(MINIMAL, &env.settings, &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("environment variable KAFKA_BROKER_ID: invalid value 'two' for broker.id"),
        "{e}"
    );
}

#[test]
fn retention_and_roll_synonym_precedence() {
    let ms = |extra: &[&str]| ok(MINIMAL, extra).config.log.retention_ms;
    assert_eq!(ms(&["log.retention.hours=1"]), 3_600_000);
    assert_eq!(
        ms(&["log.retention.hours=1", "log.retention.minutes=2"]),
        120_000
    );
    assert_eq!(
        ms(&[
            "log.retention.hours=1",
            "log.retention.minutes=2",
            "log.retention.ms=5000"
        ]),
        5000
    );
    assert_eq!(ms(&["log.retention.ms=-1", "log.retention.hours=1"]), -1);
    assert_eq!(ms(&["log.retention.hours=-5"]), -1);
    assert!(err(MINIMAL, &["log.retention.minutes=0"]).contains("log.retention.minutes"));

    let c = ok(MINIMAL, &["log.roll.hours=2"]).config;
    assert_eq!(c.log.roll_ms, 7_200_000);
    let c = ok(MINIMAL, &["log.roll.hours=2", "log.roll.ms=1234"]).config;
    assert_eq!(c.log.roll_ms, 1234);
    assert_eq!(c.topic_defaults().segment_ms, 1234);
    assert!(
        err(MINIMAL, &["log.roll.ms=0"]).contains("log.roll.ms must be greater than or equal to 1")
    );

    let c = ok(MINIMAL, &["log.flush.scheduler.interval.ms=2000"]).config;
    assert_eq!(c.log.flush_interval_ms, 2000);
    assert_eq!(c.topic_defaults().flush_ms, 2000);
    let c = ok(
        MINIMAL,
        &[
            "log.flush.scheduler.interval.ms=2000",
            "log.flush.interval.ms=300",
        ],
    )
    .config;
    assert_eq!(c.log.flush_interval_ms, 300);
    // Valid for the broker key, not as a topic default: the broker key is named.
    assert!(err(MINIMAL, &["log.flush.interval.ms=-1"]).contains("for log.flush.interval.ms"));
}

#[test]
fn log_dirs_override_log_dir() {
    let c = ok(MINIMAL, &["log.dir=/a", "log.dirs=/b, /c"]).config;
    assert_eq!(c.log_dirs, vec![PathBuf::from("/b"), PathBuf::from("/c")]);
    let c = ok(MINIMAL, &["log.dir=/a"]).config;
    assert_eq!(c.log_dirs, vec![PathBuf::from("/a")]);
    assert!(err(MINIMAL, &["log.dirs= , "]).contains("At least one log directory"));
}

#[test]
fn broker_id_rules() {
    assert_eq!(ok(MINIMAL, &["broker.id=1000"]).config.broker_id, 1000);
    assert!(err(MINIMAL, &["broker.id=1001"]).contains("reserved.broker.max.id (1000)"));
    assert_eq!(
        ok(MINIMAL, &["broker.id=1001", "reserved.broker.max.id=2000"])
            .config
            .broker_id,
        1001
    );
    assert!(
        err(MINIMAL, &["broker.id.generation.enable=false"]).contains("greater than or equal to 0")
    );
    assert_eq!(
        ok(MINIMAL, &["broker.id=3", "node.id=7"]).config.broker_id,
        7
    );
}

#[test]
fn listener_rules() {
    let loaded = ok(MINIMAL, &["listeners=PLAINTEXT://0.0.0.0:9092"]);
    assert!(loaded.warnings.iter().any(|w| w.contains("non-routable")));
    let c = &loaded.config;
    let ads = c.advertised_endpoints("broker1.example", |_| None);
    assert_eq!(ads[0].to_string(), "PLAINTEXT://broker1.example:9092");

    let c = ok(MINIMAL, &["listeners=PLAINTEXT://:0"]).config;
    let ads = c.advertised_endpoints("h", |name| (name == "PLAINTEXT").then_some(40001));
    assert_eq!(ads[0].to_string(), "PLAINTEXT://h:40001");
    assert_eq!(c.inter_broker_listener().unwrap().name, "PLAINTEXT");

    let two = [
        "listeners=INTERNAL://:9092,EXTERNAL://:9093",
        "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
    ];
    assert!(err(MINIMAL, &two).contains(
        "inter.broker.listener.name must be a listener name defined in advertised.listeners"
    ));
    let mut with_ibl = two.to_vec();
    with_ibl.push("inter.broker.listener.name=internal");
    let c = ok(MINIMAL, &with_ibl).config;
    assert_eq!(c.inter_broker_listener_name, "INTERNAL");
    with_ibl.push("security.inter.broker.protocol=PLAINTEXT");
    assert!(err(MINIMAL, &with_ibl).contains("Only one of"));

    assert!(err(
        MINIMAL,
        &[
            "advertised.listeners=OTHER://h:1",
            "listener.security.protocol.map=OTHER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        ]
    )
    .contains("must be equal to or a subset"));
    assert!(err(MINIMAL, &["listeners=PLAINTEXT://:9092,SSL://:9092"]).contains("different port"));
    assert!(err(MINIMAL, &["listeners=CLIENT://:9092"])
        .contains("no security protocol defined for listener CLIENT"));
    let e = err(MINIMAL, &["listeners=PLAINTEXT://:9092,SSL://:9093"]);
    assert!(
        e.contains("listener SSL://:9093 maps to SSL (SSL:SSL in listener.security.protocol.map)"),
        "{e}"
    );
    let e = err(
        MINIMAL,
        &[
            "listeners=PLAINTEXT://:9092,EXTERNAL://:9093",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,EXTERNAL:SASL_SSL",
        ],
    );
    assert!(e.contains("EXTERNAL:SASL_SSL"), "{e}");
}

#[test]
fn compaction_is_warned() {
    let loaded = ok(MINIMAL, &["log.cleanup.policy=compact,delete"]);
    assert!(loaded.config.cleanup_policy.compact);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("log compaction is not implemented yet")
                && w.contains("only deleted"))
    );
}

#[test]
fn cross_key_rules() {
    assert!(
        err(MINIMAL, &["replica.fetch.wait.max.ms=40000"]).contains("replica.socket.timeout.ms")
    );
    assert!(
        err(MINIMAL, &["offsets.commit.required.acks=5"]).contains("offsets.commit.required.acks")
    );
    assert!(
        err(MINIMAL, &["log.cleaner.dedupe.buffer.size=1000"]).contains("1MB per cleaner thread")
    );
    assert!(ok(MINIMAL, &["process.roles=broker"])
        .warnings
        .iter()
        .any(|w| w.contains("KRaft")));
}

fn entry<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
    entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn syn(name: &str, value: &str, source: ConfigSource) -> ConfigSynonym {
    ConfigSynonym {
        name: name.into(),
        value: Some(value.into()),
        source,
    }
}

#[test]
fn topic_effective_config_sources_and_synonyms() {
    let c = ok(
        "zookeeper.connect=zk\nlog.retention.hours=100\n",
        &["log.retention.ms=5000"],
    )
    .config;
    let overrides: BTreeMap<String, String> = [
        ("retention.ms".to_owned(), " 1000 ".to_owned()),
        ("cleanup.policy".to_owned(), "compact".to_owned()),
    ]
    .into();
    let entries = describe_topic(&c, &overrides);
    assert_eq!(entries.len(), TOPIC_KEYS.len());

    let r = entry(&entries, "retention.ms");
    assert_eq!(r.value.as_deref(), Some("1000"));
    assert_eq!(r.source, ConfigSource::DynamicTopicConfig);
    assert_eq!(r.config_type_id(), 5);
    assert!(!r.read_only && !r.is_sensitive);
    assert_eq!(
        r.synonyms,
        vec![
            syn("retention.ms", "1000", ConfigSource::DynamicTopicConfig),
            syn("log.retention.ms", "5000", ConfigSource::StaticBrokerConfig),
            syn(
                "log.retention.hours",
                "100",
                ConfigSource::StaticBrokerConfig
            ),
            syn("log.retention.hours", "168", ConfigSource::DefaultConfig),
        ]
    );

    let m = entry(&entries, "max.message.bytes");
    assert_eq!(m.value.as_deref(), Some("1048588"));
    assert_eq!(m.source, ConfigSource::DefaultConfig);
    assert!(m.is_default());
    assert_eq!(
        m.synonyms,
        vec![syn(
            "message.max.bytes",
            "1048588",
            ConfigSource::DefaultConfig
        )]
    );

    let s = entry(&entries, "segment.ms");
    assert_eq!(s.value.as_deref(), Some("604800000"));
    assert_eq!(
        s.synonyms,
        vec![syn("log.roll.hours", "168", ConfigSource::DefaultConfig)]
    );

    let t = entry(&entries, "leader.replication.throttled.replicas");
    assert_eq!(
        (t.value.as_deref(), t.source, t.synonyms.len()),
        (Some(""), ConfigSource::DefaultConfig, 0)
    );
    assert_eq!(
        entry(&entries, "min.cleanable.dirty.ratio")
            .value
            .as_deref(),
        Some("0.5")
    );

    let log = TopicLogConfig::resolve(&c, &overrides).unwrap();
    assert_eq!(log.retention_ms, 1000);
    assert!(log.cleanup_policy.compact && !log.cleanup_policy.delete);
    assert_eq!(log.segment_bytes, 1 << 30);
    // Without the override the broker's most specific key wins.
    assert_eq!(c.topic_defaults().retention_ms, 5000);

    let bad: BTreeMap<String, String> = [("retention.ms".to_owned(), "soon".to_owned())].into();
    assert!(TopicLogConfig::resolve(&c, &bad)
        .unwrap_err()
        .to_string()
        .contains("'soon' for retention.ms"));
    assert_eq!(
        entry(&describe_topic(&c, &bad), "retention.ms")
            .value
            .as_deref(),
        Some("soon")
    );
}

#[test]
fn broker_describe_sources_and_synonyms() {
    let text =
        "zookeeper.connect=zk\nlog.retention.hours=100\nssl.key.password=secret\nmystery=1\n";
    let c = ok(text, &[]).config;
    let entries = c.describe();

    let hours = entry(&entries, "log.retention.hours");
    assert_eq!(hours.value.as_deref(), Some("100"));
    assert_eq!(hours.source, ConfigSource::StaticBrokerConfig);
    assert!(hours.read_only);
    assert_eq!(
        hours.synonyms,
        vec![
            syn(
                "log.retention.hours",
                "100",
                ConfigSource::StaticBrokerConfig
            ),
            syn("log.retention.hours", "168", ConfigSource::DefaultConfig),
        ]
    );
    let ms = entry(&entries, "log.retention.ms");
    assert_eq!(
        (ms.value.as_deref(), ms.source, ms.synonyms.len()),
        (None, ConfigSource::DefaultConfig, 0)
    );
    assert!(!ms.read_only);

    let pw = entry(&entries, "ssl.key.password");
    assert!(pw.is_sensitive && pw.value.is_none());
    assert_eq!(pw.synonyms[0].value, None);
    assert_eq!(pw.config_type_id(), 9);

    let unknown = entry(&entries, "mystery");
    assert!(unknown.is_sensitive && unknown.value.is_none() && unknown.config_type.is_none());

    assert_eq!(
        entry(&entries, "log.cleaner.io.max.bytes.per.second")
            .value
            .as_deref(),
        Some("1.7976931348623157E308")
    );
    assert_eq!(
        entry(&entries, "zookeeper.connect").value.as_deref(),
        Some("zk")
    );
    assert!(entries.windows(2).all(|w| w[0].name < w[1].name));
}

#[test]
fn dynamic_layers() {
    let c = ok(MINIMAL, &["message.max.bytes=2000"]).config;
    let per_broker: BTreeMap<String, String> =
        [("message.max.bytes".to_owned(), "3000".to_owned())].into();
    let defaults: BTreeMap<String, String> =
        [("log.retention.ms".to_owned(), "60000".to_owned())].into();
    let d = c.with_dynamic(defaults.clone(), per_broker).unwrap().config;
    assert_eq!(d.message_max_bytes, 3000);
    assert_eq!(
        d.source("message.max.bytes"),
        ConfigSource::DynamicBrokerConfig
    );
    assert_eq!(d.log.retention_ms, 60_000);

    let e = d.describe();
    let m = entry(&e, "message.max.bytes");
    assert_eq!(
        m.synonyms.iter().map(|s| s.source).collect::<Vec<_>>(),
        vec![
            ConfigSource::DynamicBrokerConfig,
            ConfigSource::StaticBrokerConfig,
            ConfigSource::DefaultConfig
        ]
    );
    let topic = describe_topic(&d, &BTreeMap::new());
    let r = entry(&topic, "retention.ms");
    assert_eq!(r.source, ConfigSource::DynamicDefaultBrokerConfig);
    assert_eq!(r.value.as_deref(), Some("60000"));

    let cluster = d.describe_cluster_defaults();
    assert_eq!(cluster.len(), 1);
    assert_eq!(
        cluster[0].synonyms,
        vec![syn(
            "log.retention.ms",
            "60000",
            ConfigSource::DynamicDefaultBrokerConfig
        )]
    );

    let fixed: BTreeMap<String, String> = [("broker.id".to_owned(), "4".to_owned())].into();
    assert_eq!(
        c.with_dynamic(BTreeMap::new(), fixed).unwrap_err(),
        ConfigError::NotDynamic("Set(broker.id)".into())
    );
    let bad: BTreeMap<String, String> = [("message.max.bytes".to_owned(), "x".to_owned())].into();
    assert_eq!(
        c.with_dynamic(bad, BTreeMap::new())
            .unwrap_err()
            .to_string(),
        "dynamic config: invalid value 'x' for message.max.bytes: expected an integer"
    );
}

#[test]
fn load_reads_the_file() {
    let dir = std::env::temp_dir().join(format!("rill-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.properties");
    std::fs::write(&path, "zookeeper.connect=zk:2181/kafka\n").unwrap();
    let loaded = load(&path, &["broker.id=9"]).unwrap();
    assert_eq!(loaded.config.broker_id, 9);
    assert_eq!(loaded.config.zookeeper.chroot.as_deref(), Some("/kafka"));
    assert!(matches!(
        load(&dir.join("missing"), &[] as &[&str]),
        Err(ConfigError::Read { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
