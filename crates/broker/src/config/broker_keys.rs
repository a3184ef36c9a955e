//! The broker config keys Kafka 3.5 (ZooKeeper mode) defines, with Kafka's
//! types, defaults, validators and importance, plus whether Rill honors each.
//!
//! `honored` marks the keys behind a typed field of
//! [`BrokerConfig`](super::BrokerConfig); flip it when a subsystem starts
//! using another key. `dynamic` follows Kafka's `DynamicBrokerConfig` lists.

use super::value::ConfigType::{Boolean, Class, Double, Int, List, Long, Password, Short, String};
use super::value::Importance::{High, Low, Medium};
use super::value::{ConfigKey, Validator};

const NULL: Option<&str> = None;

const fn d(default: &'static str) -> Option<&'static str> {
    Some(default)
}

const fn k(
    name: &'static str,
    ty: super::value::ConfigType,
    default: Option<&'static str>,
    importance: super::value::Importance,
    doc: &'static str,
) -> ConfigKey {
    ConfigKey::new(name, ty, default, importance, doc)
}

const fn at_least(n: i64) -> Validator {
    Validator::at_least(n)
}

pub const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
pub const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
pub const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
pub const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
/// Kafka 3.5's latest inter-broker protocol version.
pub const LATEST_IBP: &str = "3.5-IV2";

/// Every broker key, grouped as in Kafka's `KafkaConfig`.
#[rustfmt::skip]
pub static BROKER_KEYS: &[ConfigKey] = &[
    // ZooKeeper
    k("zookeeper.connect", String, NULL, High,
      "Specifies the ZooKeeper connection string in the form hostname:port, with an optional chroot suffix: hostname1:port1,hostname2:port2/chroot/path.").honored(),
    k("zookeeper.session.timeout.ms", Int, d("18000"), High, "Zookeeper session timeout").honored(),
    k("zookeeper.connection.timeout.ms", Int, NULL, High,
      "The max time that the client waits to establish a connection to ZooKeeper. If not set, the value in zookeeper.session.timeout.ms is used").honored(),
    k("zookeeper.sync.time.ms", Int, d("2000"), Low, "How far a ZK follower can be behind a ZK leader"),
    k("zookeeper.set.acl", Boolean, d("false"), High, "Set client to use secure ACLs"),
    k("zookeeper.max.in.flight.requests", Int, d("10"), High,
      "The maximum number of unacknowledged requests the client will send to ZooKeeper before blocking.").valid(at_least(1)),
    k("zookeeper.ssl.client.enable", Boolean, d("false"), Medium, "Set client to use TLS when connecting to ZooKeeper."),
    k("zookeeper.clientCnxnSocket", String, NULL, Medium, "Typically set to org.apache.zookeeper.ClientCnxnSocketNetty when using TLS connectivity to ZooKeeper."),
    k("zookeeper.ssl.keystore.location", String, NULL, Medium, "Keystore location when using a client-side certificate with TLS connectivity to ZooKeeper."),
    k("zookeeper.ssl.keystore.password", Password, NULL, Medium, "Keystore password when using a client-side certificate with TLS connectivity to ZooKeeper."),
    k("zookeeper.ssl.keystore.type", String, NULL, Medium, "Keystore type when using a client-side certificate with TLS connectivity to ZooKeeper."),
    k("zookeeper.ssl.truststore.location", String, NULL, Medium, "Truststore location when using TLS connectivity to ZooKeeper."),
    k("zookeeper.ssl.truststore.password", Password, NULL, Medium, "Truststore password when using TLS connectivity to ZooKeeper."),
    k("zookeeper.ssl.truststore.type", String, NULL, Medium, "Truststore type when using TLS connectivity to ZooKeeper."),
    k("zookeeper.ssl.protocol", String, d("TLSv1.2"), Low, "Specifies the protocol to be used in ZooKeeper TLS negotiation."),
    k("zookeeper.ssl.enabled.protocols", List, NULL, Low, "Specifies the enabled protocol(s) in ZooKeeper TLS negotiation."),
    k("zookeeper.ssl.cipher.suites", List, NULL, Low, "Specifies the enabled cipher suites to be used in ZooKeeper TLS negotiation."),
    k("zookeeper.ssl.endpoint.identification.algorithm", String, d("HTTPS"), Low, "Specifies whether to enable hostname verification in the ZooKeeper TLS negotiation process."),
    k("zookeeper.ssl.crl.enable", Boolean, d("false"), Low, "Specifies whether to enable Certificate Revocation List in the ZooKeeper TLS protocols."),
    k("zookeeper.ssl.ocsp.enable", Boolean, d("false"), Low, "Specifies whether to enable Online Certificate Status Protocol in the ZooKeeper TLS protocols."),
    k("zookeeper.metadata.migration.enable", Boolean, d("false"), High, "Enable ZK to KRaft migration"),
    // General
    k("broker.id.generation.enable", Boolean, d("true"), Medium,
      "Enable automatic broker id generation on the server. When enabled the value configured for reserved.broker.max.id should be reviewed.").honored(),
    k("reserved.broker.max.id", Int, d("1000"), Medium, "Max number that can be used for a broker.id").valid(at_least(0)).honored(),
    k("broker.id", Int, d("-1"), High,
      "The broker id for this server. If unset, a unique broker id will be generated. To avoid conflicts between ZooKeeper generated broker id's and user configured broker id's, generated broker ids start from reserved.broker.max.id + 1.").honored(),
    k("message.max.bytes", Int, d("1048588"), High,
      "The largest record batch size allowed by Kafka (after compression if compression is enabled). This can be set per topic with the topic level max.message.bytes config.").valid(at_least(0)).dynamic().honored(),
    k("num.network.threads", Int, d("3"), High, "The number of threads that the server uses for receiving requests from the network and sending responses to the network").valid(at_least(1)).dynamic(),
    k("num.io.threads", Int, d("8"), High, "The number of threads that the server uses for processing requests, which may include disk I/O").valid(at_least(1)).dynamic(),
    k("num.replica.alter.log.dirs.threads", Int, NULL, High, "The number of threads that can move replicas between log directories, which may include disk I/O"),
    k("background.threads", Int, d("10"), High, "The number of threads to use for various background processing tasks").valid(at_least(1)).dynamic(),
    k("queued.max.requests", Int, d("500"), High, "The number of queued requests allowed for data-plane, before blocking the network threads").valid(at_least(1)),
    k("queued.max.request.bytes", Long, d("-1"), Medium, "The number of queued bytes allowed before no more requests are read"),
    k("request.timeout.ms", Int, d("30000"), High, "The configuration controls the maximum amount of time the client will wait for the response of a request."),
    k("socket.connection.setup.timeout.ms", Long, d("10000"), Medium, "The amount of time the client will wait for the socket connection to be established."),
    k("socket.connection.setup.timeout.max.ms", Long, d("30000"), Medium, "The maximum amount of time the client will wait for the socket connection to be established."),
    k("auto.include.jmx.reporter", Boolean, d("true"), Low, "Deprecated. Whether to automatically include JmxReporter even if it's not listed in metric.reporters."),
    // KRaft (Rill runs in ZooKeeper mode; node.id is read as a synonym of broker.id)
    k("process.roles", List, d(""), High, "The roles that this process plays: 'broker', 'controller', or 'broker,controller'. Rill runs in ZooKeeper mode only.").valid(Validator::ListOf(&["broker", "controller"])),
    k("node.id", Int, d("-1"), High, "The node ID associated with the roles this process is playing when process.roles is non-empty. A non-negative value is used as the broker id.").honored(),
    k("controller.listener.names", String, NULL, High, "A comma-separated list of the names of the listeners used by the controller (KRaft mode)."),
    k("controller.quorum.voters", List, d(""), High, "Map of id/endpoint information for the set of voters (KRaft mode)."),
    k("metadata.log.dir", String, NULL, High, "The directory in which the metadata log is placed (KRaft mode)."),
    k("early.start.listeners", String, NULL, High, "A comma-separated list of listener names which may be started before the authorizer has finished initialization."),
    // Authorizer
    k("authorizer.class.name", String, d(""), Low, "The fully qualified name of a class that implements org.apache.kafka.server.authorizer.Authorizer interface, which is used by the broker for authorization."),
    // Socket server
    k("listeners", String, d("PLAINTEXT://:9092"), High,
      "Listener List - Comma-separated list of URIs we will listen on and the listener names. Specify hostname as 0.0.0.0 to bind to all interfaces. Leave hostname empty to bind to default interface. Examples of legal listener lists: PLAINTEXT://myhost:9092,SSL://:9091 CLIENT://0.0.0.0:9092,REPLICATION://localhost:9093").dynamic().honored(),
    k("advertised.listeners", String, NULL, High,
      "Listeners to publish to ZooKeeper for clients to use, if different than the listeners config property. If this is not set, the value for listeners will be used. Unlike listeners, it is not valid to advertise the 0.0.0.0 meta-address.").dynamic().honored(),
    k("listener.security.protocol.map", String, d("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"), Low,
      "Map between listener names and security protocols. This must be defined for the same security protocol to be usable in more than one port or IP.").dynamic().honored(),
    k("control.plane.listener.name", String, NULL, High, "Name of listener used for communication between controller and brokers."),
    k("socket.send.buffer.bytes", Int, d("102400"), High, "The SO_SNDBUF buffer of the socket server sockets. If the value is -1, the OS default will be used."),
    k("socket.receive.buffer.bytes", Int, d("102400"), High, "The SO_RCVBUF buffer of the socket server sockets. If the value is -1, the OS default will be used."),
    k("socket.request.max.bytes", Int, d("104857600"), High, "The maximum number of bytes in a socket request").valid(at_least(1)).honored(),
    k("socket.listen.backlog.size", Int, d("50"), Medium, "The maximum number of pending connections on the socket.").valid(at_least(1)),
    k("max.connections.per.ip", Int, d("2147483647"), Medium, "The maximum number of connections we allow from each ip address.").valid(at_least(0)).dynamic(),
    k("max.connections.per.ip.overrides", String, d(""), Medium, "A comma-separated list of per-ip or hostname overrides to the default maximum number of connections. An example value is \"hostName:100,127.0.0.1:200\"").dynamic(),
    k("max.connections", Int, d("2147483647"), Medium, "The maximum number of connections we allow in the broker at any time.").valid(at_least(0)).dynamic(),
    k("max.connection.creation.rate", Int, d("2147483647"), Medium, "The maximum connection creation rate we allow in the broker at any time.").valid(at_least(0)).dynamic(),
    k("connections.max.idle.ms", Long, d("600000"), Medium, "Idle connections timeout: the server socket processor threads close the connections that idle more than this"),
    k("connection.failed.authentication.delay.ms", Int, d("100"), Low, "Connection close delay on failed authentication").valid(at_least(0)),
    // Rack
    k("broker.rack", String, NULL, Medium, "Rack of the broker. This will be used in rack aware replication assignment for fault tolerance. Examples: RACK1, us-east-1d").honored(),
    // Log
    k("num.partitions", Int, d("1"), Medium, "The default number of log partitions per topic").valid(at_least(1)).honored(),
    k("log.dir", String, d("/tmp/kafka-logs"), High, "The directory in which the log data is kept (supplemental for log.dirs property)").honored(),
    k("log.dirs", String, NULL, High, "A comma-separated list of the directories where the log data is stored. If not set, the value in log.dir is used.").honored(),
    k("log.segment.bytes", Int, d("1073741824"), High, "The maximum size of a single log file").valid(at_least(14)).dynamic().honored(),
    k("log.roll.ms", Long, NULL, High, "The maximum time before a new log segment is rolled out (in milliseconds). If not set, the value in log.roll.hours is used").dynamic().honored(),
    k("log.roll.hours", Int, d("168"), High, "The maximum time before a new log segment is rolled out (in hours), secondary to log.roll.ms property").valid(at_least(1)).honored(),
    k("log.roll.jitter.ms", Long, NULL, High, "The maximum jitter to subtract from logRollTimeMillis (in milliseconds). If not set, the value in log.roll.jitter.hours is used").dynamic().honored(),
    k("log.roll.jitter.hours", Int, d("0"), High, "The maximum jitter to subtract from logRollTimeMillis (in hours), secondary to log.roll.jitter.ms property").valid(at_least(0)).honored(),
    k("log.retention.ms", Long, NULL, High, "The number of milliseconds to keep a log file before deleting it (in milliseconds), If not set, the value in log.retention.minutes is used. If set to -1, no time limit is applied.").dynamic().honored(),
    k("log.retention.minutes", Int, NULL, High, "The number of minutes to keep a log file before deleting it (in minutes), secondary to log.retention.ms property. If not set, the value in log.retention.hours is used").honored(),
    k("log.retention.hours", Int, d("168"), High, "The number of hours to keep a log file before deleting it (in hours), tertiary to log.retention.ms property").honored(),
    k("log.retention.bytes", Long, d("-1"), High, "The maximum size of the log before deleting it").dynamic().honored(),
    k("log.retention.check.interval.ms", Long, d("300000"), Medium, "The frequency in milliseconds that the log cleaner checks whether any log is eligible for deletion").valid(at_least(1)).honored(),
    k("log.cleanup.policy", List, d("delete"), Medium, "The default cleanup policy for segments beyond the retention window. A comma separated list of valid policies. Valid policies are: \"delete\" and \"compact\". Rill deletes segments but does not compact them yet.").valid(Validator::ListOf(CLEANUP_POLICIES)).dynamic().honored(),
    k("log.cleaner.threads", Int, d("1"), Medium, "The number of background threads to use for log cleaning").valid(at_least(0)).dynamic(),
    k("log.cleaner.io.max.bytes.per.second", Double, d("1.7976931348623157E308"), Medium, "The log cleaner will be throttled so that the sum of its read and write i/o will be less than this value on average").dynamic(),
    k("log.cleaner.dedupe.buffer.size", Long, d("134217728"), Medium, "The total memory used for log deduplication across all cleaner threads").dynamic(),
    k("log.cleaner.io.buffer.size", Int, d("524288"), Medium, "The total memory used for log cleaner I/O buffers across all cleaner threads").valid(at_least(0)).dynamic(),
    k("log.cleaner.io.buffer.load.factor", Double, d("0.9"), Medium, "Log cleaner dedupe buffer load factor. The percentage full the dedupe buffer can become.").dynamic(),
    k("log.cleaner.backoff.ms", Long, d("15000"), Medium, "The amount of time to sleep when there are no logs to clean").valid(at_least(0)).dynamic(),
    k("log.cleaner.min.cleanable.ratio", Double, d("0.5"), Medium, "The minimum ratio of dirty log to total log for a log to eligible for cleaning.").valid(Validator::between(0, 1)).dynamic(),
    k("log.cleaner.enable", Boolean, d("true"), Medium, "Enable the log cleaner process to run on the server. Should be enabled if using any topics with a cleanup.policy=compact including the internal offsets topic."),
    k("log.cleaner.delete.retention.ms", Long, d("86400000"), Medium, "The amount of time to retain tombstone message markers for log compacted topics.").valid(at_least(0)).dynamic(),
    k("log.cleaner.min.compaction.lag.ms", Long, d("0"), Medium, "The minimum time a message will remain uncompacted in the log. Only applicable for logs that are being compacted.").valid(at_least(0)).dynamic(),
    k("log.cleaner.max.compaction.lag.ms", Long, d("9223372036854775807"), Medium, "The maximum time a message will remain ineligible for compaction in the log. Only applicable for logs that are being compacted.").valid(at_least(1)).dynamic(),
    k("log.index.size.max.bytes", Int, d("10485760"), Medium, "The maximum size in bytes of the offset index").valid(at_least(4)).dynamic().honored(),
    k("log.index.interval.bytes", Int, d("4096"), Medium, "The interval with which we add an entry to the offset index").valid(at_least(0)).dynamic().honored(),
    k("log.flush.interval.messages", Long, d("9223372036854775807"), High, "The number of messages accumulated on a log partition before messages are flushed to disk").valid(at_least(1)).dynamic().honored(),
    k("log.segment.delete.delay.ms", Long, d("60000"), High, "The amount of time to wait before deleting a file from the filesystem").valid(at_least(0)).dynamic().honored(),
    k("log.flush.scheduler.interval.ms", Long, d("9223372036854775807"), High, "The frequency in ms that the log flusher checks whether any log needs to be flushed to disk").honored(),
    k("log.flush.interval.ms", Long, NULL, High, "The maximum time in ms that a message in any topic is kept in memory before flushed to disk. If not set, the value in log.flush.scheduler.interval.ms is used").dynamic().honored(),
    k("log.flush.offset.checkpoint.interval.ms", Int, d("60000"), High, "The frequency with which we update the persistent record of the last flush which acts as the log recovery point.").valid(at_least(0)),
    k("log.flush.start.offset.checkpoint.interval.ms", Int, d("60000"), High, "The frequency with which we update the persistent record of log start offset").valid(at_least(0)),
    k("log.preallocate", Boolean, d("false"), Medium, "Should pre allocate file when create new segment? If you are using Kafka on Windows, you probably need to set it to true.").dynamic(),
    k("num.recovery.threads.per.data.dir", Int, d("1"), High, "The number of threads per data directory to be used for log recovery at startup and flushing at shutdown").valid(at_least(1)).dynamic().honored(),
    k("auto.create.topics.enable", Boolean, d("true"), High, "Enable auto creation of topic on the server.").honored(),
    k("min.insync.replicas", Int, d("1"), High, "When a producer sets acks to \"all\" (or \"-1\"), min.insync.replicas specifies the minimum number of replicas that must acknowledge a write for the write to be considered successful.").valid(at_least(1)).dynamic().honored(),
    k("log.message.format.version", String, d("3.0-IV1"), Medium, "Specify the message format version the broker will use to append messages to the logs. Deprecated; ignored when inter.broker.protocol.version is 3.0 or higher.").valid(Validator::ApiVersion).dynamic(),
    k("log.message.timestamp.type", String, d("CreateTime"), Medium, "Define whether the timestamp in the message is message create time or log append time. The value should be either `CreateTime` or `LogAppendTime`.").valid(Validator::OneOf(TIMESTAMP_TYPES)).dynamic().honored(),
    k("log.message.timestamp.difference.max.ms", Long, d("9223372036854775807"), Medium, "The maximum difference allowed between the timestamp when a broker receives a message and the timestamp specified in the message.").valid(at_least(0)).dynamic().honored(),
    k("create.topic.policy.class.name", Class, NULL, Low, "The create topic policy class that should be used for validation."),
    k("alter.config.policy.class.name", Class, NULL, Low, "The alter configs policy class that should be used for validation."),
    k("log.message.downconversion.enable", Boolean, d("true"), Low, "This configuration controls whether down-conversion of message formats is enabled to satisfy consume requests.").dynamic(),
    // Replication
    k("controller.socket.timeout.ms", Int, d("30000"), Medium, "The socket timeout for controller-to-broker channels"),
    k("default.replication.factor", Int, d("1"), Medium, "The default replication factors for automatically created topics").honored(),
    k("replica.lag.time.max.ms", Long, d("30000"), High, "If a follower hasn't sent any fetch requests or hasn't consumed up to the leaders log end offset for at least this time, the leader will remove the follower from isr").honored(),
    k("replica.socket.timeout.ms", Int, d("30000"), High, "The socket timeout for network requests. Its value should be at least replica.fetch.wait.max.ms").honored(),
    k("replica.socket.receive.buffer.bytes", Int, d("65536"), High, "The socket receive buffer for network requests"),
    k("replica.fetch.max.bytes", Int, d("1048576"), Medium, "The number of bytes of messages to attempt to fetch for each partition.").valid(at_least(0)).honored(),
    k("replica.fetch.wait.max.ms", Int, d("500"), High, "The maximum wait time for each fetcher request issued by follower replicas. This value should always be less than the replica.lag.time.max.ms at all times to prevent frequent shrinking of ISR for low throughput topics").honored(),
    k("replica.fetch.backoff.ms", Int, d("1000"), Medium, "The amount of time to sleep when fetch partition error occurs.").valid(at_least(0)).honored(),
    k("replica.fetch.min.bytes", Int, d("1"), High, "Minimum bytes expected for each fetch response. If not enough bytes, wait up to replica.fetch.wait.max.ms (broker config).").honored(),
    k("replica.fetch.response.max.bytes", Int, d("10485760"), Medium, "Maximum bytes expected for the entire fetch response.").valid(at_least(0)).honored(),
    k("num.replica.fetchers", Int, d("1"), High, "Number of fetcher threads used to replicate records from each source broker.").dynamic(),
    k("replica.high.watermark.checkpoint.interval.ms", Long, d("5000"), High, "The frequency with which the high watermark is saved out to disk").honored(),
    k("fetch.purgatory.purge.interval.requests", Int, d("1000"), Medium, "The purge interval (in number of requests) of the fetch request purgatory"),
    k("producer.purgatory.purge.interval.requests", Int, d("1000"), Medium, "The purge interval (in number of requests) of the producer request purgatory"),
    k("delete.records.purgatory.purge.interval.requests", Int, d("1"), Medium, "The purge interval (in number of requests) of the delete records request purgatory"),
    k("auto.leader.rebalance.enable", Boolean, d("true"), High, "Enables auto leader balancing. A background thread checks the distribution of partition leaders at regular intervals, configurable by leader.imbalance.check.interval.seconds.").honored(),
    k("leader.imbalance.per.broker.percentage", Int, d("10"), High, "The ratio of leader imbalance allowed per broker. The controller would trigger a leader balance if it goes above this value per broker. The value is specified in percentage.").honored(),
    k("leader.imbalance.check.interval.seconds", Long, d("300"), High, "The frequency with which the partition rebalance check is triggered by the controller").honored(),
    k("unclean.leader.election.enable", Boolean, d("false"), High, "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, even though doing so may result in data loss").dynamic().honored(),
    k("security.inter.broker.protocol", String, d("PLAINTEXT"), Medium, "Security protocol used to communicate between brokers. It is an error to set this and inter.broker.listener.name properties at the same time.").valid(Validator::OneOf(SECURITY_PROTOCOLS)).honored(),
    k("inter.broker.protocol.version", String, d(LATEST_IBP), Medium, "Specify which version of the inter-broker protocol will be used.").valid(Validator::ApiVersion),
    k("inter.broker.listener.name", String, NULL, Medium, "Name of listener used for communication between brokers. If this is unset, the listener name is defined by security.inter.broker.protocol.").honored(),
    k("replica.selector.class", String, NULL, Medium, "The fully qualified class name that implements ReplicaSelector. This is used by the broker to find the preferred read replica."),
    // Controlled shutdown
    k("controlled.shutdown.max.retries", Int, d("3"), Medium, "Controlled shutdown can fail for multiple reasons. This determines the number of retries when such failure happens").honored(),
    k("controlled.shutdown.retry.backoff.ms", Long, d("5000"), Medium, "Before each retry, the system needs time to recover from the state that caused the previous failure. This config determines the amount of time to wait before retrying.").honored(),
    k("controlled.shutdown.enable", Boolean, d("true"), Medium, "Enable controlled shutdown of the server.").honored(),
    // Group coordinator
    k("group.min.session.timeout.ms", Int, d("6000"), Medium, "The minimum allowed session timeout for registered consumers.").honored(),
    k("group.max.session.timeout.ms", Int, d("1800000"), Medium, "The maximum allowed session timeout for registered consumers.").honored(),
    k("group.initial.rebalance.delay.ms", Int, d("3000"), Medium, "The amount of time the group coordinator will wait for more consumers to join a new group before performing the first rebalance.").honored(),
    k("group.max.size", Int, d("2147483647"), Medium, "The maximum number of consumers that a single consumer group can accommodate.").valid(at_least(1)).honored(),
    // Offset management
    k("offset.metadata.max.bytes", Int, d("4096"), High, "The maximum size for a metadata entry associated with an offset commit").honored(),
    k("offsets.load.buffer.size", Int, d("5242880"), High, "Batch size for reading from the offsets segments when loading offsets into the cache.").valid(at_least(1)),
    k("offsets.topic.replication.factor", Short, d("3"), High, "The replication factor for the offsets topic (set higher to ensure availability). Internal topic creation will fail until the cluster size meets this replication factor requirement.").valid(at_least(1)).honored(),
    k("offsets.topic.num.partitions", Int, d("50"), High, "The number of partitions for the offset commit topic (should not change after deployment)").valid(at_least(1)).honored(),
    k("offsets.topic.segment.bytes", Int, d("104857600"), High, "The offsets topic segment bytes should be kept relatively small in order to facilitate faster log compaction and cache loads").valid(at_least(1)).honored(),
    k("offsets.topic.compression.codec", Int, d("0"), High, "Compression codec for the offsets topic - compression may be used to achieve \"atomic\" commits"),
    k("offsets.retention.minutes", Int, d("10080"), High, "After a consumer group loses all its consumers (i.e. becomes empty) its offsets will be kept for this retention period before getting discarded.").valid(at_least(1)).honored(),
    k("offsets.retention.check.interval.ms", Long, d("600000"), High, "Frequency at which to check for stale offsets").valid(at_least(1)).honored(),
    k("offsets.commit.timeout.ms", Int, d("5000"), High, "Offset commit will be delayed until all replicas for the offsets topic receive the commit or this timeout is reached.").valid(at_least(1)).honored(),
    k("offsets.commit.required.acks", Short, d("-1"), High, "The required acks before the commit can be accepted. In general, the default (-1) should not be overridden"),
    k("delete.topic.enable", Boolean, d("true"), High, "Enables delete topic. Delete topic through the admin tool will have no effect if this config is turned off").honored(),
    k("compression.type", String, d("producer"), High, "Specify the final compression type for a given topic. This configuration accepts the standard compression codecs ('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts 'uncompressed' which is equivalent to no compression; and 'producer' which means retain the original compression codec set by the producer.").valid(Validator::OneOfIgnoreCase(COMPRESSION_TYPES)).dynamic().honored(),
    // Transaction management
    k("transactional.id.expiration.ms", Int, d("604800000"), High, "The time in ms that the transaction coordinator will wait without receiving any transaction status updates for the current transaction before expiring its transactional id.").valid(at_least(1)).honored(),
    k("transaction.max.timeout.ms", Int, d("900000"), High, "The maximum allowed timeout for transactions.").valid(at_least(1)).honored(),
    k("transaction.state.log.min.isr", Int, d("2"), High, "Overridden min.insync.replicas config for the transaction topic.").valid(at_least(1)).honored(),
    k("transaction.state.log.load.buffer.size", Int, d("5242880"), High, "Batch size for reading from the transaction log segments when loading producer ids and transactions into the cache.").valid(at_least(1)),
    k("transaction.state.log.replication.factor", Short, d("3"), High, "The replication factor for the transaction topic (set higher to ensure availability). Internal topic creation will fail until the cluster size meets this replication factor requirement.").valid(at_least(1)).honored(),
    k("transaction.state.log.num.partitions", Int, d("50"), High, "The number of partitions for the transaction topic (should not change after deployment).").valid(at_least(1)).honored(),
    k("transaction.state.log.segment.bytes", Int, d("104857600"), High, "The transaction topic segment bytes should be kept relatively small in order to facilitate faster log compaction and cache loads").valid(at_least(1)).honored(),
    k("transaction.abort.timed.out.transaction.cleanup.interval.ms", Int, d("10000"), Low, "The interval at which to rollback transactions that have timed out").valid(at_least(1)).honored(),
    k("transaction.remove.expired.transaction.cleanup.interval.ms", Int, d("3600000"), Low, "The interval at which to remove transactions that have expired due to transactional.id.expiration.ms passing").valid(at_least(1)).honored(),
    k("producer.id.expiration.ms", Int, d("86400000"), Low, "The time in ms that a topic partition leader will wait before expiring producer IDs.").valid(at_least(1)).dynamic().honored(),
    // Fetch
    k("max.incremental.fetch.session.cache.slots", Int, d("1000"), Medium, "The maximum number of incremental fetch sessions that we will maintain.").valid(at_least(0)),
    k("fetch.max.bytes", Int, d("57671680"), Medium, "The maximum number of bytes we will return for a fetch request. Must be at least 1024.").valid(at_least(1024)).honored(),
    // Metrics
    k("metric.reporters", List, d(""), Low, "A list of classes to use as metrics reporters.").dynamic(),
    k("metrics.num.samples", Int, d("2"), Low, "The number of samples maintained to compute metrics.").valid(at_least(1)),
    k("metrics.sample.window.ms", Long, d("30000"), Low, "The window of time a metrics sample is computed over.").valid(at_least(1)),
    k("metrics.recording.level", String, d("INFO"), Low, "The highest recording level for metrics."),
    k("kafka.metrics.reporters", List, d(""), Low, "A list of classes to use as Yammer metrics custom reporters."),
    k("kafka.metrics.polling.interval.secs", Int, d("10"), Low, "The metrics polling interval (in seconds) which can be used in kafka.metrics.reporters implementations.").valid(at_least(1)),
    // Quotas
    k("quota.window.num", Int, d("11"), Low, "The number of samples to retain in memory for client quotas").valid(at_least(1)),
    k("replication.quota.window.num", Int, d("11"), Low, "The number of samples to retain in memory for replication quotas").valid(at_least(1)),
    k("alter.log.dirs.replication.quota.window.num", Int, d("11"), Low, "The number of samples to retain in memory for alter log dirs replication quotas").valid(at_least(1)),
    k("controller.quota.window.num", Int, d("11"), Low, "The number of samples to retain in memory for controller mutation quotas").valid(at_least(1)),
    k("quota.window.size.seconds", Int, d("1"), Low, "The time span of each sample for client quotas").valid(at_least(1)),
    k("replication.quota.window.size.seconds", Int, d("1"), Low, "The time span of each sample for replication quotas").valid(at_least(1)),
    k("alter.log.dirs.replication.quota.window.size.seconds", Int, d("1"), Low, "The time span of each sample for alter log dirs replication quotas").valid(at_least(1)),
    k("controller.quota.window.size.seconds", Int, d("1"), Low, "The time span of each sample for controller mutations quotas").valid(at_least(1)),
    k("client.quota.callback.class", Class, NULL, Low, "The fully qualified name of a class that implements the ClientQuotaCallback interface."),
    // Security (Rill serves PLAINTEXT only; these are accepted and reported)
    k("connections.max.reauth.ms", Long, d("0"), Medium, "When explicitly set to a positive number, a session lifetime that will not exceed the configured value will be communicated to v2.2.0 or later clients when they authenticate."),
    k("security.providers", String, NULL, Low, "A list of configurable creator classes each returning a provider implementing security algorithms."),
    k("principal.builder.class", Class, d("org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder"), Medium, "The fully qualified name of a class that implements the KafkaPrincipalBuilder interface."),
    k("ssl.protocol", String, d("TLSv1.3"), Medium, "The SSL protocol used to generate the SSLContext."),
    k("ssl.provider", String, NULL, Medium, "The name of the security provider used for SSL connections."),
    k("ssl.enabled.protocols", List, d("TLSv1.2,TLSv1.3"), Medium, "The list of protocols enabled for SSL connections."),
    k("ssl.keystore.type", String, d("JKS"), Medium, "The file format of the key store file.").dynamic(),
    k("ssl.keystore.location", String, NULL, Medium, "The location of the key store file.").dynamic(),
    k("ssl.keystore.password", Password, NULL, Medium, "The store password for the key store file.").dynamic(),
    k("ssl.key.password", Password, NULL, Medium, "The password of the private key in the key store file or the PEM key specified in 'ssl.keystore.key'.").dynamic(),
    k("ssl.keystore.key", Password, NULL, Medium, "Private key in the format specified by 'ssl.keystore.type'.").dynamic(),
    k("ssl.keystore.certificate.chain", Password, NULL, Medium, "Certificate chain in the format specified by 'ssl.keystore.type'.").dynamic(),
    k("ssl.truststore.type", String, d("JKS"), Medium, "The file format of the trust store file.").dynamic(),
    k("ssl.truststore.location", String, NULL, Medium, "The location of the trust store file.").dynamic(),
    k("ssl.truststore.password", Password, NULL, Medium, "The password for the trust store file.").dynamic(),
    k("ssl.truststore.certificates", Password, NULL, Medium, "Trusted certificates in the format specified by 'ssl.truststore.type'.").dynamic(),
    k("ssl.keymanager.algorithm", String, d("SunX509"), Medium, "The algorithm used by key manager factory for SSL connections."),
    k("ssl.trustmanager.algorithm", String, d("PKIX"), Medium, "The algorithm used by trust manager factory for SSL connections."),
    k("ssl.endpoint.identification.algorithm", String, d("https"), Low, "The endpoint identification algorithm to validate server hostname using server certificate."),
    k("ssl.secure.random.implementation", String, NULL, Low, "The SecureRandom PRNG implementation to use for SSL cryptography operations."),
    k("ssl.client.auth", String, d("none"), Medium, "Configures kafka broker to request client authentication.").valid(Validator::OneOf(&["required", "requested", "none"])),
    k("ssl.cipher.suites", List, d(""), Medium, "A list of cipher suites."),
    k("ssl.principal.mapping.rules", String, d("DEFAULT"), Low, "A list of rules for mapping from distinguished name found in the client certificate to short name."),
    k("ssl.engine.factory.class", Class, NULL, Low, "The class of type org.apache.kafka.common.security.auth.SslEngineFactory to provide SSLEngine objects."),
    k("sasl.mechanism.inter.broker.protocol", String, d("GSSAPI"), Medium, "SASL mechanism used for inter-broker communication. Default is GSSAPI."),
    k("sasl.jaas.config", Password, NULL, Medium, "JAAS login context parameters for SASL connections in the format used by JAAS configuration files."),
    k("sasl.enabled.mechanisms", List, d("GSSAPI"), Medium, "The list of SASL mechanisms enabled in the Kafka server."),
    k("sasl.server.callback.handler.class", Class, NULL, Medium, "The fully qualified name of a SASL server callback handler class that implements the AuthenticateCallbackHandler interface."),
    k("sasl.client.callback.handler.class", Class, NULL, Medium, "The fully qualified name of a SASL client callback handler class that implements the AuthenticateCallbackHandler interface."),
    k("sasl.login.class", Class, NULL, Medium, "The fully qualified name of a class that implements the Login interface."),
    k("sasl.login.callback.handler.class", Class, NULL, Medium, "The fully qualified name of a SASL login callback handler class that implements the AuthenticateCallbackHandler interface."),
    k("sasl.kerberos.service.name", String, NULL, Medium, "The Kerberos principal name that Kafka runs as."),
    k("sasl.kerberos.kinit.cmd", String, d("/usr/bin/kinit"), Medium, "Kerberos kinit command path."),
    k("sasl.kerberos.ticket.renew.window.factor", Double, d("0.8"), Medium, "Login thread will sleep until the specified window factor of time from last refresh to ticket's expiry has been reached."),
    k("sasl.kerberos.ticket.renew.jitter", Double, d("0.05"), Medium, "Percentage of random jitter added to the renewal time."),
    k("sasl.kerberos.min.time.before.relogin", Long, d("60000"), Medium, "Login thread sleep time between refresh attempts."),
    k("sasl.kerberos.principal.to.local.rules", List, d("DEFAULT"), Medium, "A list of rules for mapping from principal names to short names."),
    k("sasl.login.refresh.window.factor", Double, d("0.8"), Medium, "Login refresh thread will sleep until the specified window factor relative to the credential's lifetime has been reached."),
    k("sasl.login.refresh.window.jitter", Double, d("0.05"), Medium, "The maximum amount of random jitter relative to the credential's lifetime that is added to the login refresh thread's sleep time."),
    k("sasl.login.refresh.min.period.seconds", Short, d("60"), Medium, "The desired minimum time for the login refresh thread to wait before refreshing a credential, in seconds."),
    k("sasl.login.refresh.buffer.seconds", Short, d("300"), Medium, "The amount of buffer time before credential expiration to maintain when refreshing a credential, in seconds."),
    k("delegation.token.master.key", Password, NULL, Medium, "DEPRECATED: An alias for delegation.token.secret.key, which should be used instead of this config."),
    k("delegation.token.secret.key", Password, NULL, Medium, "Secret key to generate and verify delegation tokens."),
    k("delegation.token.max.lifetime.ms", Long, d("604800000"), Medium, "The token has a maximum lifetime beyond which it cannot be renewed anymore.").valid(at_least(1)),
    k("delegation.token.expiry.time.ms", Long, d("86400000"), Medium, "The token validity time in miliseconds before the token needs to be renewed.").valid(at_least(1)),
    k("delegation.token.expiry.check.interval.ms", Long, d("3600000"), Low, "Scan interval to remove expired delegation tokens.").valid(at_least(1)),
    k("password.encoder.secret", Password, NULL, Medium, "The secret used for encoding dynamically configured passwords for this broker."),
    k("password.encoder.old.secret", Password, NULL, Medium, "The old secret that was used for encoding dynamically configured passwords."),
    k("password.encoder.keyfactory.algorithm", String, NULL, Low, "The SecretKeyFactory algorithm used for encoding dynamically configured passwords."),
    k("password.encoder.cipher.algorithm", String, d("AES/CBC/PKCS5Padding"), Low, "The Cipher algorithm used for encoding dynamically configured passwords."),
    k("password.encoder.key.length", Int, d("128"), Low, "The key length used for encoding dynamically configured passwords.").valid(at_least(8)),
    k("password.encoder.iterations", Int, d("4096"), Low, "The iteration count used for encoding dynamically configured passwords.").valid(at_least(1024)),
];

/// Keys older Kafka versions accepted and old deployments still pass (seed
/// 003 does): recognised, not validated, not used, reported at start-up.
pub static RETIRED_KEYS: &[(&str, &str)] = &[
    (
        "quota.producer.default",
        "removed in Kafka 3.0; use dynamic client quotas",
    ),
    (
        "quota.consumer.default",
        "removed in Kafka 3.0; use dynamic client quotas",
    ),
    ("host.name", "removed in Kafka 3.0; use listeners"),
    ("port", "removed in Kafka 3.0; use listeners"),
    (
        "advertised.host.name",
        "removed in Kafka 3.0; use advertised.listeners",
    ),
    (
        "advertised.port",
        "removed in Kafka 3.0; use advertised.listeners",
    ),
    ("controller.message.queue.size", "removed from Kafka"),
];

/// Client-side keys people put in server.properties by mistake: a hint for the warning.
pub static CLIENT_KEYS: &[&str] = &[
    "max.partition.fetch.bytes",
    "fetch.min.bytes",
    "fetch.max.wait.ms",
    "max.poll.records",
    "max.poll.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "auto.offset.reset",
    "enable.auto.commit",
    "bootstrap.servers",
    "acks",
    "linger.ms",
    "batch.size",
    "buffer.memory",
    "max.request.size",
    "retries",
    "key.serializer",
    "value.serializer",
    "key.deserializer",
    "value.deserializer",
    "group.id",
];

pub fn broker_key(name: &str) -> Option<&'static ConfigKey> {
    BROKER_KEYS.iter().find(|k| k.name == name)
}

pub fn retired_key(name: &str) -> Option<&'static str> {
    RETIRED_KEYS
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, why)| *why)
}

/// Kafka's `DynamicBrokerConfig.brokerConfigSynonyms`: the keys that define
/// the same setting, most specific first.
pub fn broker_synonyms(name: &str) -> &'static [&'static str] {
    const ROLL: &[&str] = &["log.roll.ms", "log.roll.hours"];
    const JITTER: &[&str] = &["log.roll.jitter.ms", "log.roll.jitter.hours"];
    const FLUSH: &[&str] = &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"];
    const RETENTION: &[&str] = &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ];
    match name {
        "log.roll.ms" | "log.roll.hours" => ROLL,
        "log.roll.jitter.ms" | "log.roll.jitter.hours" => JITTER,
        "log.flush.interval.ms" => FLUSH,
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => RETENTION,
        _ => match broker_key(name) {
            Some(key) => std::slice::from_ref(&key.name),
            None => &[],
        },
    }
}

/// The factor turning a synonym's value into milliseconds (hours, minutes).
pub fn millis_per_unit(name: &str) -> i64 {
    if name.ends_with(".hours") {
        3_600_000
    } else if name.ends_with(".minutes") {
        60_000
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for key in BROKER_KEYS {
            assert!(names.insert(key.name), "duplicate key {}", key.name);
            // Every default must parse and pass its own validator.
            key.default_value();
            assert!(
                retired_key(key.name).is_none(),
                "{} is also retired",
                key.name
            );
        }
    }

    #[test]
    fn synonyms() {
        assert_eq!(
            broker_synonyms("log.retention.hours"),
            [
                "log.retention.ms",
                "log.retention.minutes",
                "log.retention.hours"
            ]
        );
        assert_eq!(broker_synonyms("num.partitions"), ["num.partitions"]);
        assert!(broker_synonyms("nope").is_empty());
    }
}
