//! Record batch v2 framing: parse and check the 61-byte header, validate the
//! CRC, patch the fields a broker owns (base offset, partition leader epoch,
//! log-append time), and walk the records of an uncompressed batch.
//!
//! Everything here is a pure function over byte slices, so the same code
//! checks a produce request, a follower's fetch response and a segment file
//! during recovery. Nothing panics on hostile input: every read is bounds
//! checked and every problem is a [`LogError`].
//!
//! # Format (all integers big-endian)
//! ```text
//! offset  size  field
//!  0      8     baseOffset
//!  8      4     batchLength           bytes after this field
//! 12      4     partitionLeaderEpoch  not covered by the CRC
//! 16      1     magic                 (= 2; byte 16 is the magic in v0/v1 too)
//! 17      4     crc                   CRC-32C of bytes 21..end
//! 21      2     attributes            bits 0-2 compression, 3 timestamp type,
//!                                     4 transactional, 5 control
//! 23      4     lastOffsetDelta
//! 27      8     baseTimestamp
//! 35      8     maxTimestamp
//! 43      8     producerId
//! 51      2     producerEpoch
//! 53      4     baseSequence
//! 57      4     recordsCount
//! 61      ...   records (compressed as a whole when bits 0-2 are set)
//! ```

use super::{LogError, TimestampType};

/// baseOffset + batchLength: the bytes not counted by `batchLength`.
pub const LOG_OVERHEAD: usize = 12;
/// Size of a v2 batch header, up to and including `recordsCount`.
pub const HEADER_SIZE: usize = 61;
/// The only record format this broker stores.
pub const MAGIC_V2: i8 = 2;
/// Kafka's "no timestamp" marker.
pub const NO_TIMESTAMP: i64 = -1;

const LENGTH_AT: usize = 8;
const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORDS_COUNT_AT: usize = 57;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// Smallest possible encoded record: length, attributes, timestampDelta,
/// offsetDelta, keyLength, valueLength and headerCount, one byte each.
const MIN_RECORD_SIZE: usize = 7;

/// The parsed header of one v2 batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Reads the header at the start of `buf`, checking only what the header
    /// itself can tell: the magic byte and that `batchLength` covers a header.
    /// `Ok(None)` means `buf` is too short to tell (check, then parse).
    pub fn peek(buf: &[u8]) -> Result<Option<BatchHeader>, LogError> {
        let Some(&magic) = buf.get(MAGIC_AT) else {
            return Ok(None);
        };
        let magic = magic as i8;
        if magic != MAGIC_V2 {
            return Err(LogError::UnsupportedMagic { magic });
        }
        let batch_length = i32_at(buf, LENGTH_AT);
        if batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(LogError::CorruptRecord {
                reason: format!(
                    "batch length {batch_length} is smaller than the v2 batch overhead of {}",
                    HEADER_SIZE - LOG_OVERHEAD
                ),
            });
        }
        if buf.len() < HEADER_SIZE {
            return Ok(None);
        }
        Ok(Some(BatchHeader {
            base_offset: i64_at(buf, 0),
            batch_length,
            partition_leader_epoch: i32_at(buf, LEADER_EPOCH_AT),
            magic,
            crc: i32_at(buf, CRC_AT) as u32,
            attributes: i16_at(buf, ATTRIBUTES_AT),
            last_offset_delta: i32_at(buf, LAST_OFFSET_DELTA_AT),
            base_timestamp: i64_at(buf, BASE_TIMESTAMP_AT),
            max_timestamp: i64_at(buf, MAX_TIMESTAMP_AT),
            producer_id: i64_at(buf, PRODUCER_ID_AT),
            producer_epoch: i16_at(buf, PRODUCER_EPOCH_AT),
            base_sequence: i32_at(buf, BASE_SEQUENCE_AT),
            records_count: i32_at(buf, RECORDS_COUNT_AT),
        }))
    }

    /// Total bytes of the batch, header included.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    /// Offset of the last record (kept even when compaction removed it).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Compression codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & COMPRESSION_MASK) as u8
    }

    pub fn is_compressed(&self) -> bool {
        self.compression() != 0
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// The structural checks every stored batch must pass, whoever wrote it.
    fn check_counts(&self) -> Result<(), LogError> {
        if self.last_offset_delta < 0 {
            return Err(invalid(format!(
                "negative lastOffsetDelta {}",
                self.last_offset_delta
            )));
        }
        if self.records_count < 0 {
            return Err(invalid(format!(
                "negative record count {}",
                self.records_count
            )));
        }
        if self.compression() > 4 {
            return Err(invalid(format!(
                "unknown compression codec id {}",
                self.compression()
            )));
        }
        if !self.is_compressed() {
            let room = self.size() - HEADER_SIZE;
            if self.records_count as usize > room / MIN_RECORD_SIZE {
                return Err(invalid(format!(
                    "{} records cannot fit in {room} bytes of uncompressed records",
                    self.records_count
                )));
            }
        }
        Ok(())
    }
}

/// CRC-32C over attributes..end, as stored in the `crc` field.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(ATTRIBUTES_AT..).unwrap_or(&[]))
}

/// Fully validates one complete batch (`batch` is exactly its bytes): header,
/// length, counts and CRC. Used for produce requests, follower appends and
/// recovery alike.
pub fn validate(batch: &[u8]) -> Result<BatchHeader, LogError> {
    let header = BatchHeader::peek(batch)?
        .ok_or_else(|| corrupt(format!("batch of {} bytes is truncated", batch.len())))?;
    if header.size() != batch.len() {
        return Err(corrupt(format!(
            "batch length field says {} bytes but {} are present",
            header.size(),
            batch.len()
        )));
    }
    let computed = compute_crc(batch);
    if computed != header.crc {
        return Err(corrupt(format!(
            "record batch is corrupt (stored crc = {}, computed crc = {computed})",
            header.crc
        )));
    }
    header.check_counts()?;
    Ok(header)
}

/// Checks a client's batch the way Kafka's `LogValidator` does for
/// `AppendOrigin.Client`, beyond [`validate`]: offsets are the broker's to
/// assign, counts must agree, control batches are the coordinator's.
pub fn check_client_batch(header: &BatchHeader) -> Result<(), LogError> {
    if header.base_offset != 0 {
        return Err(invalid(format!(
            "the baseOffset of a record batch in a produce request should be 0, but it is {}",
            header.base_offset
        )));
    }
    if header.records_count <= 0 {
        return Err(invalid(format!(
            "invalid reported count for record batch: {}",
            header.records_count
        )));
    }
    if i64::from(header.last_offset_delta) + 1 != i64::from(header.records_count) {
        return Err(invalid(format!(
            "inconsistent batch offset range (lastOffsetDelta {}) and record count {}",
            header.last_offset_delta, header.records_count
        )));
    }
    if header.is_control() {
        return Err(invalid(
            "clients are not allowed to write control records".to_string(),
        ));
    }
    if header.producer_id >= 0 && header.base_sequence < 0 {
        return Err(invalid(format!(
            "invalid sequence number {} for producer {}",
            header.base_sequence, header.producer_id
        )));
    }
    Ok(())
}

/// Splits a record set (a produce request's `records`, a fetch response's
/// data) into whole batches. Stops after the first error.
pub fn batches(records: &[u8]) -> Batches<'_> {
    Batches {
        buf: records,
        pos: 0,
    }
}

/// Iterator of [`batches`]: yields each batch's start position and header;
/// the batch bytes are `records[start..start + header.size()]`.
pub struct Batches<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Iterator for Batches<'_> {
    type Item = Result<(usize, BatchHeader), LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let start = self.pos;
        self.pos = self.buf.len();
        let header = match BatchHeader::peek(rest) {
            Ok(Some(h)) => h,
            Ok(None) => {
                if rest.len() >= LOG_OVERHEAD
                    && i32_at(rest, LENGTH_AT) < (HEADER_SIZE - LOG_OVERHEAD) as i32
                {
                    return Some(Err(corrupt(format!(
                        "batch length {} is too small",
                        i32_at(rest, LENGTH_AT)
                    ))));
                }
                return Some(Err(corrupt(format!(
                    "record set ends with a truncated batch header ({} bytes)",
                    rest.len()
                ))));
            }
            Err(e) => return Some(Err(e)),
        };
        if header.size() > rest.len() {
            return Some(Err(corrupt(format!(
                "record set ends with a partial batch: {} bytes declared, {} present",
                header.size(),
                rest.len()
            ))));
        }
        self.pos = start + header.size();
        Some(Ok((start, header)))
    }
}

/// Sets `baseOffset` (not covered by the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    put(batch, 0, &base_offset.to_be_bytes());
}

/// Sets `partitionLeaderEpoch` (not covered by the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    put(batch, LEADER_EPOCH_AT, &epoch.to_be_bytes());
}

/// Sets the timestamp type bit and `maxTimestamp` and recomputes the CRC, as
/// Kafka does for `message.timestamp.type=LogAppendTime` (every record of
/// such a batch reads as `maxTimestamp`). Returns false, touching nothing,
/// when the batch already says so.
pub fn set_timestamp(batch: &mut [u8], ty: TimestampType, max_timestamp: i64) -> bool {
    let attributes = i16_at(batch, ATTRIBUTES_AT);
    let new_attributes = match ty {
        TimestampType::CreateTime => attributes & !TIMESTAMP_TYPE_BIT,
        TimestampType::LogAppendTime => attributes | TIMESTAMP_TYPE_BIT,
    };
    if new_attributes == attributes && i64_at(batch, MAX_TIMESTAMP_AT) == max_timestamp {
        return false;
    }
    put(batch, ATTRIBUTES_AT, &new_attributes.to_be_bytes());
    put(batch, MAX_TIMESTAMP_AT, &max_timestamp.to_be_bytes());
    let crc = compute_crc(batch);
    put(batch, CRC_AT, &crc.to_be_bytes());
    true
}

/// Offset and timestamp of one record, as decoded from an uncompressed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    pub offset: i64,
    pub timestamp: i64,
}

/// Walks the records of an uncompressed batch (the whole batch bytes),
/// decoding only the offset and timestamp of each. Compressed batches are
/// never decompressed here: callers fall back to batch-level answers.
pub fn records<'a>(batch: &'a [u8], header: &BatchHeader) -> Result<Records<'a>, LogError> {
    if header.is_compressed() {
        return Err(invalid(
            "cannot walk the records of a compressed batch".to_string(),
        ));
    }
    Ok(Records {
        buf: batch
            .get(HEADER_SIZE..header.size().min(batch.len()))
            .unwrap_or(&[]),
        pos: 0,
        left: header.records_count.max(0),
        base_offset: header.base_offset,
        base_timestamp: header.base_timestamp,
        log_append_time: match header.timestamp_type() {
            TimestampType::LogAppendTime => Some(header.max_timestamp),
            TimestampType::CreateTime => None,
        },
    })
}

/// Iterator of [`records`].
pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    left: i32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
}

impl Iterator for Records<'_> {
    type Item = Result<RecordMeta, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left <= 0 {
            return None;
        }
        self.left -= 1;
        let item = self.decode_one();
        if item.is_err() {
            self.left = 0;
        }
        Some(item)
    }
}

impl Records<'_> {
    fn decode_one(&mut self) -> Result<RecordMeta, LogError> {
        let length = read_varint(self.buf, &mut self.pos)?;
        if length < 0 {
            return Err(invalid(format!("negative record length {length}")));
        }
        let end = self.pos.saturating_add(length as usize);
        let body = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| invalid("record extends past its batch".to_string()))?;
        let mut at = 1; // attributes
        let timestamp_delta = read_varlong(body, &mut at)?;
        let offset_delta = read_varint(body, &mut at)?;
        self.pos = end;
        Ok(RecordMeta {
            offset: self.base_offset.saturating_add(i64::from(offset_delta)),
            timestamp: self
                .log_append_time
                .unwrap_or_else(|| self.base_timestamp.saturating_add(timestamp_delta)),
        })
    }
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, LogError> {
    let v = read_unsigned(buf, pos, 5)?;
    if v > u64::from(u32::MAX) {
        return Err(invalid("varint overflows 32 bits".to_string()));
    }
    let v = v as u32;
    Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
}

fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, LogError> {
    let v = read_unsigned(buf, pos, 10)?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}

fn read_unsigned(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Result<u64, LogError> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let byte = *buf
            .get(*pos)
            .ok_or_else(|| invalid("truncated varint".to_string()))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(invalid("varint is too long".to_string()))
}

fn corrupt(reason: String) -> LogError {
    LogError::CorruptRecord { reason }
}

fn invalid(reason: String) -> LogError {
    LogError::InvalidRecord { reason }
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

fn array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = buf.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

pub(crate) fn i16_at(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(array(buf, at))
}

pub(crate) fn i32_at(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(array(buf, at))
}

pub(crate) fn i64_at(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(array(buf, at))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A small v2 batch encoder for tests, independent of the parser above.

    use super::*;

    /// What a test batch holds.
    #[derive(Debug, Clone)]
    pub struct TestBatch {
        pub base_offset: i64,
        pub leader_epoch: i32,
        pub base_timestamp: i64,
        /// Timestamp deltas of the records; one record per entry.
        pub timestamp_deltas: Vec<i64>,
        pub value_size: usize,
        pub compression: u8,
        pub attributes_extra: i16,
        pub producer_id: i64,
        pub base_sequence: i32,
    }

    impl Default for TestBatch {
        fn default() -> Self {
            TestBatch {
                base_offset: 0,
                leader_epoch: -1,
                base_timestamp: 1_000,
                timestamp_deltas: vec![0],
                value_size: 10,
                compression: 0,
                attributes_extra: 0,
                producer_id: -1,
                base_sequence: -1,
            }
        }
    }

    pub fn put_varint(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            let b = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    impl TestBatch {
        pub fn records(n: usize) -> TestBatch {
            TestBatch {
                timestamp_deltas: (0..n as i64).collect(),
                ..TestBatch::default()
            }
        }

        pub fn encode(&self) -> Vec<u8> {
            let mut records = Vec::new();
            for (i, delta) in self.timestamp_deltas.iter().enumerate() {
                let mut body = vec![0u8]; // attributes
                put_varint(&mut body, *delta);
                put_varint(&mut body, i as i64);
                put_varint(&mut body, -1); // null key
                put_varint(&mut body, self.value_size as i64);
                body.extend(std::iter::repeat_n(b'v', self.value_size));
                put_varint(&mut body, 0); // headers
                put_varint(&mut records, body.len() as i64);
                records.extend_from_slice(&body);
            }
            let n = self.timestamp_deltas.len() as i32;
            let max_ts =
                self.base_timestamp + self.timestamp_deltas.iter().copied().max().unwrap_or(0);
            let mut b = Vec::new();
            b.extend_from_slice(&self.base_offset.to_be_bytes());
            b.extend_from_slice(&0i32.to_be_bytes()); // length, patched below
            b.extend_from_slice(&self.leader_epoch.to_be_bytes());
            b.push(2);
            b.extend_from_slice(&0u32.to_be_bytes()); // crc, patched below
            b.extend_from_slice(
                &(i16::from(self.compression) | self.attributes_extra).to_be_bytes(),
            );
            b.extend_from_slice(&(n - 1).to_be_bytes());
            b.extend_from_slice(&self.base_timestamp.to_be_bytes());
            b.extend_from_slice(&max_ts.to_be_bytes());
            b.extend_from_slice(&self.producer_id.to_be_bytes());
            b.extend_from_slice(&0i16.to_be_bytes());
            b.extend_from_slice(&self.base_sequence.to_be_bytes());
            b.extend_from_slice(&n.to_be_bytes());
            if self.compression == 0 {
                b.extend_from_slice(&records);
            } else {
                // Opaque "compressed" payload: the broker never looks inside.
                b.extend(std::iter::repeat_n(0xa5u8, records.len() / 2 + 1));
            }
            let len = (b.len() - LOG_OVERHEAD) as i32;
            b[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&len.to_be_bytes());
            let crc = compute_crc(&b);
            b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::TestBatch;
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType as KTimestampType,
    };

    fn kafka_batch(n: usize, base_ts: i64) -> Vec<u8> {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: KTimestampType::Creation,
                offset: i as i64,
                // kafka-protocol groups records into one batch while
                // offset - sequence stays constant; the batch's
                // baseSequence comes out as -1 (no producer id).
                sequence: i as i32 - 1,
                timestamp: base_ts + i as i64 * 10,
                key: Some(bytes::Bytes::from(format!("k{i}"))),
                value: Some(bytes::Bytes::from(vec![b'x'; 20])),
                headers: IndexMap::new(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .expect("encode");
        buf.to_vec()
    }

    #[test]
    fn parses_a_batch_encoded_by_kafka_protocol() {
        let b = kafka_batch(5, 1_000);
        let h = validate(&b).expect("valid");
        assert_eq!(h.base_offset, 0);
        assert_eq!(h.last_offset_delta, 4);
        assert_eq!(h.records_count, 5);
        assert_eq!(h.base_timestamp, 1_000);
        assert_eq!(h.max_timestamp, 1_040);
        assert_eq!(h.size(), b.len());
        assert!(!h.is_compressed());
        check_client_batch(&h).expect("client batch");
        let metas: Vec<_> = records(&b, &h).unwrap().collect::<Result<_, _>>().unwrap();
        let expect: Vec<_> = (0..5)
            .map(|i| RecordMeta {
                offset: i,
                timestamp: 1_000 + i * 10,
            })
            .collect();
        assert_eq!(metas, expect);
    }

    #[test]
    fn test_encoder_agrees_with_kafka_protocol_decoder() {
        let b = TestBatch {
            base_timestamp: 5_000,
            timestamp_deltas: vec![0, 7, 3],
            ..TestBatch::default()
        }
        .encode();
        let mut bytes = bytes::Bytes::from(b.clone());
        let set = RecordBatchDecoder::decode(&mut bytes).expect("kafka-protocol decodes it");
        let ts: Vec<i64> = set.records.iter().map(|r| r.timestamp).collect();
        assert_eq!(ts, vec![5_000, 5_007, 5_003]);
        assert_eq!(validate(&b).unwrap().max_timestamp, 5_007);
    }

    #[test]
    fn log_append_time_recomputes_the_crc() {
        let mut b = kafka_batch(3, 1_000);
        assert!(set_timestamp(&mut b, TimestampType::LogAppendTime, 99_999));
        let h = validate(&b).expect("crc recomputed");
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(h.max_timestamp, 99_999);
        assert_eq!(h.base_timestamp, 1_000);
        // Every record reads as the log-append time, for us and for Kafka's decoder.
        let ts: Vec<i64> = records(&b, &h)
            .unwrap()
            .map(|r| r.unwrap().timestamp)
            .collect();
        assert_eq!(ts, vec![99_999; 3]);
        let mut bytes = bytes::Bytes::from(b.clone());
        // kafka-protocol checks the CRC; it reports the timestamp type but
        // (unlike the Java client) not maxTimestamp as each record's time.
        let set = RecordBatchDecoder::decode(&mut bytes).expect("decodes");
        assert!(set
            .records
            .iter()
            .all(|r| r.timestamp_type == KTimestampType::LogAppend));
        // Setting it again is a no-op.
        assert!(!set_timestamp(&mut b, TimestampType::LogAppendTime, 99_999));
        // And back to create time clears the bit.
        assert!(set_timestamp(&mut b, TimestampType::CreateTime, 1_020));
        assert_eq!(
            validate(&b).unwrap().timestamp_type(),
            TimestampType::CreateTime
        );
    }

    #[test]
    fn offset_and_epoch_are_outside_the_crc() {
        let mut b = kafka_batch(2, 0);
        set_base_offset(&mut b, 1234);
        set_partition_leader_epoch(&mut b, 7);
        let h = validate(&b).expect("still valid");
        assert_eq!(h.base_offset, 1234);
        assert_eq!(h.partition_leader_epoch, 7);
        assert_eq!(h.last_offset(), 1235);
    }

    #[test]
    fn rejects_bad_batches() {
        let good = kafka_batch(2, 0);
        type Mutate = fn(&mut Vec<u8>);
        let cases: &[(&str, Mutate, &str)] = &[
            ("magic 0", |b| b[16] = 0, "unsupported"),
            ("magic 1", |b| b[16] = 1, "unsupported"),
            (
                "flipped payload byte",
                |b| *b.last_mut().unwrap() ^= 1,
                "crc",
            ),
            ("flipped attributes", |b| b[22] ^= 0x40, "crc"),
            (
                "length too small",
                |b| b[8..12].copy_from_slice(&10i32.to_be_bytes()),
                "overhead",
            ),
            (
                "length too large",
                |b| b[8..12].copy_from_slice(&1000i32.to_be_bytes()),
                "says",
            ),
            ("truncated", |b| b.truncate(40), "truncated"),
        ];
        for (name, mutate, expect) in cases {
            let mut b = good.clone();
            mutate(&mut b);
            let err = validate(&b).expect_err(name).to_string().to_lowercase();
            assert!(err.contains(expect), "{name}: {err}");
        }
    }

    #[test]
    fn client_checks() {
        let h = validate(&kafka_batch(3, 0)).unwrap();
        let cases: &[(&str, BatchHeader, bool)] = &[
            ("ok", h, true),
            (
                "non-zero base offset",
                BatchHeader {
                    base_offset: 5,
                    ..h
                },
                false,
            ),
            (
                "count mismatch",
                BatchHeader {
                    records_count: 2,
                    ..h
                },
                false,
            ),
            (
                "zero count",
                BatchHeader {
                    records_count: 0,
                    ..h
                },
                false,
            ),
            (
                "control",
                BatchHeader {
                    attributes: CONTROL_BIT,
                    ..h
                },
                false,
            ),
            (
                "producer id without sequence",
                BatchHeader {
                    producer_id: 9,
                    base_sequence: -1,
                    ..h
                },
                false,
            ),
        ];
        for (name, header, ok) in cases {
            assert_eq!(check_client_batch(header).is_ok(), *ok, "{name}");
        }
    }

    #[test]
    fn impossible_record_counts_are_invalid() {
        let mut b = TestBatch::records(2).encode();
        b[RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4].copy_from_slice(&1_000_000i32.to_be_bytes());
        let crc = compute_crc(&b);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(validate(&b), Err(LogError::InvalidRecord { .. })));
        // A compressed batch may claim many records in few bytes.
        let mut c = TestBatch {
            compression: 4,
            ..TestBatch::records(2)
        }
        .encode();
        c[RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4].copy_from_slice(&1_000i32.to_be_bytes());
        c[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&999i32.to_be_bytes());
        let crc = compute_crc(&c);
        c[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(validate(&c).unwrap().records_count, 1_000);
    }

    #[test]
    fn splits_record_sets() {
        let a = kafka_batch(2, 0);
        let b = kafka_batch(3, 0);
        let mut set = a.clone();
        set.extend_from_slice(&b);
        let found: Vec<_> = batches(&set).collect::<Result<_, _>>().unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, 0);
        assert_eq!(found[1].0, a.len());
        assert_eq!(found[1].1.records_count, 3);

        for cut in [1, 11, 12, 16, 17, 60, set.len() - 1] {
            let r: Result<Vec<_>, _> = batches(&set[..cut]).collect();
            let r = if cut <= a.len() {
                r
            } else {
                batches(&set[a.len()..cut]).collect()
            };
            assert!(
                matches!(r, Err(LogError::CorruptRecord { .. })),
                "cut at {cut}: {r:?}"
            );
        }
        assert_eq!(batches(&[]).count(), 0);
    }

    #[test]
    fn hostile_bytes_never_panic() {
        // A cheap deterministic fuzz: random slices and mutated batches.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let good = kafka_batch(4, 0);
        for _ in 0..20_000 {
            let mut b = good.clone();
            let flips = next() % 4;
            for _ in 0..=flips {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            b.truncate((next() as usize) % (b.len() + 1));
            for (start, h) in batches(&b).flatten() {
                let bytes = &b[start..start + h.size()];
                if let Ok(h) = validate(bytes) {
                    if !h.is_compressed() {
                        let _ = records(bytes, &h).map(|it| it.count());
                    }
                }
            }
            // Also walk records of unvalidated garbage.
            if let Ok(Some(h)) = BatchHeader::peek(&b) {
                let h = BatchHeader { attributes: 0, ..h };
                let _ = records(&b, &h).map(|it| it.count());
            }
        }
    }

    #[test]
    fn varints() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            -300,
            i32::MAX as i64,
            i32::MIN as i64,
        ] {
            let mut buf = Vec::new();
            testing::put_varint(&mut buf, v);
            let mut pos = 0;
            assert_eq!(read_varint(&buf, &mut pos).unwrap() as i64, v);
            let mut pos = 0;
            assert_eq!(read_varlong(&buf, &mut pos).unwrap(), v);
        }
        let mut pos = 0;
        assert!(read_varint(&[0x80, 0x80], &mut pos).is_err());
        let mut pos = 0;
        assert!(read_varint(&[0xff; 6], &mut pos).is_err());
    }
}
