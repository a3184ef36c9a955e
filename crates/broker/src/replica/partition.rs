//! One partition as this broker hosts it: its log, its leader epoch and its
//! high watermark. With a single replica the high watermark is the log end;
//! replication (ISR, follower fetch) will move it from here.

use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use kafka_protocol::records::Compression;

use crate::log::{AppendInfo, LogError, PartitionLog, ReadInfo};

/// Kafka's `isolation_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
}

impl Isolation {
    pub fn from_i8(v: i8) -> Self {
        if v == 1 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    }
}

pub struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    log: RwLock<PartitionLog>,
    leader_epoch: AtomicI32,
    /// The topic's `compression.type` as a codec id; `PRODUCER` keeps batches as sent.
    compression: AtomicU8,
}

const PRODUCER: u8 = u8::MAX;

impl Partition {
    pub fn new(topic: Arc<str>, index: i32, log: PartitionLog, leader_epoch: i32) -> Self {
        Partition {
            topic,
            index,
            log: RwLock::new(log),
            leader_epoch: AtomicI32::new(leader_epoch),
            compression: AtomicU8::new(PRODUCER),
        }
    }

    /// Sets the topic's `compression.type` (`None` = `producer`).
    pub fn set_compression(&self, codec: Option<Compression>) {
        self.compression
            .store(codec.map_or(PRODUCER, |c| c as u8), Ordering::Relaxed);
    }

    /// The codec batches are stored in, unless the producer's is kept.
    pub fn compression(&self) -> Option<Compression> {
        Some(match self.compression.load(Ordering::Relaxed) {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Relaxed)
    }

    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Relaxed);
    }

    fn read_log(&self) -> std::sync::RwLockReadGuard<'_, PartitionLog> {
        self.log.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_log(&self) -> std::sync::RwLockWriteGuard<'_, PartitionLog> {
        self.log.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a produce request's records as leader, re-compressed first if
    /// the topic's compression.type asks for another codec.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let converted = match self.compression() {
            Some(codec) => crate::log::convert::recompress(records, codec)?,
            None => None,
        };
        let records = converted.as_deref().unwrap_or(records);
        let epoch = self.leader_epoch();
        self.write_log().append_as_leader(records, epoch, now_ms)
    }

    /// Everything up to here is committed: with one replica, the log end.
    pub fn high_watermark(&self) -> i64 {
        self.read_log().log_end_offset()
    }

    /// Without transactions the last stable offset is the high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.high_watermark()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.read_log().log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.read_log().log_end_offset()
    }

    /// Reads whole batches for a consumer, up to the high watermark
    /// (last stable offset for read_committed).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: Isolation,
        min_one: bool,
    ) -> Result<ReadInfo, LogError> {
        let log = self.read_log();
        let upper = match isolation {
            Isolation::ReadUncommitted | Isolation::ReadCommitted => log.log_end_offset(),
        };
        log.read(offset, max_bytes, upper, min_one)
    }

    pub fn with_log<T>(&self, f: impl FnOnce(&PartitionLog) -> T) -> T {
        f(&self.read_log())
    }

    pub fn with_log_mut<T>(&self, f: impl FnOnce(&mut PartitionLog) -> T) -> T {
        f(&mut self.write_log())
    }
}
