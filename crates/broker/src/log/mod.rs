//! Partition logs: v2 record batches stored exactly as received in Kafka's
//! on-disk layout, with sparse offset and time indexes, size- and time-based
//! rolling, retention, recovery after an unclean shutdown and zero-re-encode
//! reads.
//!
//! # Layout
//! - [`batch`]: record batch v2 header parsing, validation and patching (pure).
//! - [`index`]: offset and time index entries and lookups (pure).
//! - [`checkpoint`]: leader epoch cache and log start offset files.
//! - `segment`: one `.log` file with its `.index` and `.timeindex` (file I/O).
//! - [`PartitionLog`]: one partition's segments; append, read, retention,
//!   recovery, truncation.
//! - [`LogManager`]: every partition of the broker's `log.dirs`, the
//!   clean-shutdown marker, creation and deletion of partition directories.
//!
//! # On disk
//! ```text
//! <log.dir>/.kafka_cleanshutdown               present only while stopped cleanly
//! <log.dir>/<topic>-<partition>/
//!     00000000000000000000.log                 batches, back to back, as received
//!     00000000000000000000.index               see [`index`]
//!     00000000000000000000.timeindex
//!     00000000000000001234.log ...             next segment, named by its base offset
//!     leader-epoch-checkpoint                  see [`checkpoint`]
//!     log-start-offset-checkpoint              only after DeleteRecords
//!     recovery-point-checkpoint                segments below it are fsynced
//! ```
//!
//! # Durability contract
//! An append returns once its bytes are written (page cache); they are
//! durable after the next fsync, which happens on [`PartitionLog::flush`]
//! (driven by `flush_interval_messages` / `flush_interval_ms`, Kafka's
//! `flush.messages` / `flush.ms`, unset by default as in Kafka, which relies
//! on replication), on close, and for a rolled segment on a thread of its
//! own right after the roll (as Kafka's roll schedules a flush): an inline
//! fsync of a 1 GiB segment would stall the partition's producers. When
//! that fsync is done the partition's `recovery-point-checkpoint` moves to
//! the next segment; recovery after an unclean shutdown scans every segment
//! from the recovery point on (normally just the active one) and drops
//! whatever follows a torn batch. Index files are derived data: the active
//! segment's entries live in memory and are written on flush, roll and close,
//! and any index file that is missing or fails its sanity check is rebuilt
//! from the `.log`. Checkpoint files are replaced atomically.

pub mod batch;
pub mod checkpoint;
pub mod convert;
pub mod index;
mod manager;
pub mod new_batch;
mod partition;
mod segment;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use bytes::Bytes;

pub use manager::{parse_partition_dir, LogManager, TopicPartition, CLEAN_SHUTDOWN_FILE};
pub use partition::PartitionLog;

/// Kafka's `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// Stamp each batch with the broker's clock on append.
    LogAppendTime,
}

/// Per-log settings (broker defaults overridden per topic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `log.segment.bytes` / `segment.bytes`: roll when the active segment
    /// would grow past this (capped at 2 GiB - 1, the index's position limit).
    pub segment_bytes: u64,
    /// `log.roll.ms` / `segment.ms`: roll a non-empty active segment this long
    /// after its first append.
    pub segment_ms: Option<u64>,
    /// `retention.ms`: delete sealed segments whose largest timestamp is
    /// older than this. `None` (or negative) keeps them forever.
    pub retention_ms: Option<i64>,
    /// `retention.bytes`: delete the oldest sealed segments while the log
    /// is larger than this. `None` (or negative) means unlimited.
    pub retention_bytes: Option<i64>,
    /// `index.interval.bytes`: bytes of batches between index entries.
    pub index_interval_bytes: u32,
    /// `flush.messages`: fsync after this many appended records.
    pub flush_interval_messages: Option<u64>,
    /// `flush.ms`: fsync when an append comes this long after the last fsync.
    pub flush_interval_ms: Option<u64>,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.max.bytes` / `max.message.bytes`: the largest batch accepted
    /// from a producer, header included.
    pub max_message_bytes: u32,
}

impl Default for LogConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: Some(7 * 24 * 60 * 60 * 1000),
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            retention_bytes: None,
            index_interval_bytes: 4096,
            flush_interval_messages: None,
            flush_interval_ms: None,
            timestamp_type: TimestampType::CreateTime,
            max_message_bytes: 1_048_588,
        }
    }
}

/// Errors of the log layer. The Kafka error code each maps to is noted on the
/// variant; the mapping itself belongs to the request handlers.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Magic byte other than 2 (UNSUPPORTED_FOR_MESSAGE_FORMAT or INVALID_RECORD).
    #[error(
        "unsupported record batch magic {magic}: only v2 record batches (magic 2) are accepted"
    )]
    UnsupportedMagic { magic: i8 },
    /// Bad CRC, bad length or a partial batch (CORRUPT_MESSAGE).
    #[error("corrupt record batch: {reason}")]
    CorruptRecord { reason: String },
    /// A batch larger than `message.max.bytes` (MESSAGE_TOO_LARGE).
    #[error("record batch of {size} bytes is larger than the maximum of {max} bytes")]
    MessageTooLarge { size: usize, max: u32 },
    /// Well-formed but not acceptable: counts, offsets, control batches from
    /// clients (INVALID_RECORD).
    #[error("invalid record batch: {reason}")]
    InvalidRecord { reason: String },
    /// Offset outside `[log start, log end]` (OFFSET_OUT_OF_RANGE).
    #[error("offset {requested} is out of range: the log holds [{start}, {end})")]
    OffsetOutOfRange {
        requested: i64,
        start: i64,
        end: i64,
    },
    /// A follower append whose offsets do not follow the log end or go
    /// backwards (Kafka's UnexpectedAppendOffset / OffsetsOutOfOrder;
    /// UNKNOWN_SERVER_ERROR).
    #[error("append at offset {first_offset} does not follow the log end offset {log_end_offset}")]
    UnexpectedAppendOffset {
        first_offset: i64,
        log_end_offset: i64,
    },
    /// The partition's log is already handed out by the [`LogManager`].
    #[error("log {topic}-{partition} is already open")]
    InUse { topic: String, partition: i32 },
    /// A log directory or topic name that cannot be used (KAFKA_STORAGE_ERROR
    /// or INVALID_TOPIC_EXCEPTION).
    #[error("invalid log directory {path}: {reason}")]
    InvalidLogDir { path: PathBuf, reason: String },
    /// File system failure (KAFKA_STORAGE_ERROR).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl LogError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LogError::Io {
            context: context.into(),
            source,
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    /// First offset assigned (-1 for an empty record set).
    pub base_offset: i64,
    /// Last offset assigned (-1 for an empty record set).
    pub last_offset: i64,
    /// Largest batch `maxTimestamp` appended (the append time for
    /// LogAppendTime logs); -1 if none.
    pub max_timestamp: i64,
    /// Last offset of the batch holding `max_timestamp` (Kafka's "shallow"
    /// offset: batches are not decompressed to find the exact record).
    pub offset_of_max_timestamp: i64,
    /// The broker time stamped on the batches, or -1 for CreateTime logs.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// Records appended, as declared by the batch headers.
    pub record_count: u64,
    /// Batches appended.
    pub batch_count: usize,
    /// Bytes appended.
    pub size_bytes: usize,
}

/// The result of a read: whole batches, straight from the segment files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadInfo {
    /// Whole batches, never a partial one; empty when nothing qualifies.
    pub records: Bytes,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// Base offset of the first batch returned, -1 if none.
    pub first_batch_offset: i64,
    /// The offset after the last batch returned (the requested offset if
    /// none): where the next read continues.
    pub next_offset: i64,
}
