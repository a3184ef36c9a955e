//! Sparse offset and time indexes of one segment, held in memory and stored
//! in Kafka's file formats. Pure: encoding, decoding, sanity checks and
//! lookups; the segment does the file I/O.
//!
//! # On disk
//! - `<base>.index`: entries of 8 bytes, `relativeOffset: u32 BE` (offset -
//!   segment base) and `position: u32 BE` (byte position of a batch in the
//!   `.log`). Like Kafka 3.x, an entry names the *last* offset of the batch
//!   that starts at `position`; offsets and positions strictly increase.
//! - `<base>.timeindex`: entries of 12 bytes, `timestamp: i64 BE` and
//!   `relativeOffset: u32 BE`: the largest timestamp seen so far in the
//!   segment and the (last) offset of the batch that holds it. Timestamps
//!   strictly increase; sealing a segment appends its maximum.
//!
//! Files are never preallocated (no mmap here), so their length is exactly
//! the entry count times the entry size.

/// Bytes per `.index` entry.
pub const OFFSET_ENTRY_SIZE: usize = 8;
/// Bytes per `.timeindex` entry.
pub const TIME_ENTRY_SIZE: usize = 12;

/// An offset and the file position of the batch holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    pub offset: i64,
    pub position: u32,
}

/// A timestamp and the offset it was seen at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// Whether `offset` can be stored relative to `base` (Kafka keeps relative
/// offsets in a signed 32-bit int).
pub fn fits_relative(base: i64, offset: i64) -> bool {
    offset
        .checked_sub(base)
        .is_some_and(|d| (0..=i64::from(i32::MAX)).contains(&d))
}

/// Offset -> position index of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetIndex {
    base_offset: i64,
    /// (relative offset, position), both strictly increasing.
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    pub fn new(base_offset: i64) -> Self {
        OffsetIndex {
            base_offset,
            entries: Vec::new(),
        }
    }

    /// Decodes a `.index` file and checks it against the segment: a file
    /// that fails is rebuilt from the log by the caller.
    pub fn decode(base_offset: i64, bytes: &[u8], log_size: u64) -> Result<Self, String> {
        if !bytes.len().is_multiple_of(OFFSET_ENTRY_SIZE) {
            return Err(format!(
                "index file size {} is not a multiple of {OFFSET_ENTRY_SIZE}",
                bytes.len()
            ));
        }
        let mut index = OffsetIndex::new(base_offset);
        for chunk in bytes.chunks_exact(OFFSET_ENTRY_SIZE) {
            let rel = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let pos = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            if rel > i32::MAX as u32 {
                return Err(format!("relative offset {rel} overflows"));
            }
            if u64::from(pos) >= log_size {
                return Err(format!("position {pos} is beyond the log size {log_size}"));
            }
            if let Some(&(last_rel, last_pos)) = index.entries.last() {
                if rel <= last_rel || pos <= last_pos {
                    return Err(format!(
                        "entries out of order: ({last_rel}, {last_pos}) then ({rel}, {pos})"
                    ));
                }
            }
            index.entries.push((rel, pos));
        }
        Ok(index)
    }

    /// Appends the encoding of entries `from..` to `out`.
    pub fn encode_from(&self, from: usize, out: &mut Vec<u8>) {
        for &(rel, pos) in self.entries.get(from..).unwrap_or(&[]) {
            out.extend_from_slice(&rel.to_be_bytes());
            out.extend_from_slice(&pos.to_be_bytes());
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn size_bytes(&self) -> usize {
        self.entries.len() * OFFSET_ENTRY_SIZE
    }

    pub fn last(&self) -> Option<OffsetPosition> {
        self.entries.last().map(|&e| self.entry(e))
    }

    fn entry(&self, (rel, position): (u32, u32)) -> OffsetPosition {
        OffsetPosition {
            offset: self.base_offset.saturating_add(i64::from(rel)),
            position,
        }
    }

    /// Adds an entry if it keeps the index strictly increasing and
    /// representable; returns whether it did.
    pub fn append(&mut self, offset: i64, position: u64) -> bool {
        if !fits_relative(self.base_offset, offset) {
            return false;
        }
        let Ok(position) = u32::try_from(position) else {
            return false;
        };
        let rel = (offset - self.base_offset) as u32;
        if let Some(&(last_rel, last_pos)) = self.entries.last() {
            if rel <= last_rel || position <= last_pos {
                return false;
            }
        }
        self.entries.push((rel, position));
        true
    }

    /// The entry with the largest offset <= `target`, or the segment start.
    /// The batch holding `target` starts at or after the returned position.
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        let n = self
            .entries
            .partition_point(|&(rel, _)| self.base_offset.saturating_add(i64::from(rel)) <= target);
        match n.checked_sub(1).and_then(|i| self.entries.get(i)) {
            Some(&e) => self.entry(e),
            None => OffsetPosition {
                offset: self.base_offset,
                position: 0,
            },
        }
    }

    /// Drops the entries pointing at or past `position` (log truncation).
    pub fn truncate_to_position(&mut self, position: u64) {
        let keep = self
            .entries
            .partition_point(|&(_, pos)| u64::from(pos) < position);
        self.entries.truncate(keep);
    }
}

/// Timestamp -> offset index of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeIndex {
    base_offset: i64,
    /// (timestamp, relative offset): timestamps strictly increasing, offsets
    /// non-decreasing.
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    pub fn new(base_offset: i64) -> Self {
        TimeIndex {
            base_offset,
            entries: Vec::new(),
        }
    }

    /// Decodes a `.timeindex` file and checks its order.
    pub fn decode(base_offset: i64, bytes: &[u8]) -> Result<Self, String> {
        if !bytes.len().is_multiple_of(TIME_ENTRY_SIZE) {
            return Err(format!(
                "time index file size {} is not a multiple of {TIME_ENTRY_SIZE}",
                bytes.len()
            ));
        }
        let mut index = TimeIndex::new(base_offset);
        for chunk in bytes.chunks_exact(TIME_ENTRY_SIZE) {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&chunk[..8]);
            let ts = i64::from_be_bytes(ts);
            let rel = u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
            if rel > i32::MAX as u32 {
                return Err(format!("relative offset {rel} overflows"));
            }
            if let Some(&(last_ts, last_rel)) = index.entries.last() {
                if ts <= last_ts || rel < last_rel {
                    return Err(format!(
                        "entries out of order: ({last_ts}, {last_rel}) then ({ts}, {rel})"
                    ));
                }
            }
            index.entries.push((ts, rel));
        }
        Ok(index)
    }

    /// Decodes just the last entry of a `.timeindex` file's tail.
    pub fn decode_entry(base_offset: i64, bytes: &[u8]) -> Option<TimestampOffset> {
        let entry = TimeIndex::decode(base_offset, bytes).ok()?;
        entry.last()
    }

    pub fn encode_from(&self, from: usize, out: &mut Vec<u8>) {
        for &(ts, rel) in self.entries.get(from..).unwrap_or(&[]) {
            out.extend_from_slice(&ts.to_be_bytes());
            out.extend_from_slice(&rel.to_be_bytes());
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn size_bytes(&self) -> usize {
        self.entries.len() * TIME_ENTRY_SIZE
    }

    pub fn last(&self) -> Option<TimestampOffset> {
        self.entries.last().map(|&e| self.entry(e))
    }

    fn entry(&self, (timestamp, rel): (i64, u32)) -> TimestampOffset {
        TimestampOffset {
            timestamp,
            offset: self.base_offset.saturating_add(i64::from(rel)),
        }
    }

    /// Adds an entry when `timestamp` is larger than the last one (Kafka's
    /// `maybeAppend`); returns whether it did.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> bool {
        if timestamp < 0 || !fits_relative(self.base_offset, offset) {
            return false;
        }
        let rel = (offset - self.base_offset) as u32;
        if let Some(&(last_ts, last_rel)) = self.entries.last() {
            if timestamp <= last_ts || rel < last_rel {
                return false;
            }
        }
        self.entries.push((timestamp, rel));
        true
    }

    /// The entry with the largest timestamp <= `target`, if any. Every batch
    /// before its offset has a smaller maximum timestamp, so a search for the
    /// first batch reaching `target` may start at that offset.
    pub fn lookup(&self, target: i64) -> Option<TimestampOffset> {
        let n = self.entries.partition_point(|&(ts, _)| ts <= target);
        n.checked_sub(1)
            .and_then(|i| self.entries.get(i))
            .map(|&e| self.entry(e))
    }

    /// Drops entries at or past `offset` (log truncation).
    pub fn truncate_to_offset(&mut self, offset: i64) {
        let keep = self
            .entries
            .partition_point(|&(_, rel)| self.base_offset.saturating_add(i64::from(rel)) < offset);
        self.entries.truncate(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_table() {
        let mut ix = OffsetIndex::new(100);
        assert!(ix.append(104, 0));
        assert!(ix.append(110, 4200));
        assert!(ix.append(130, 9000));
        assert!(!ix.append(130, 9500), "offset must increase");
        assert!(!ix.append(131, 9000), "position must increase");
        assert!(!ix.append(99, 10_000), "below the base");
        assert!(
            !ix.append(100 + i64::from(i32::MAX) + 1, 10_000),
            "relative overflow"
        );
        let cases = [
            (0, (100, 0)),
            (100, (100, 0)),
            (103, (100, 0)),
            (104, (104, 0)),
            (109, (104, 0)),
            (110, (110, 4200)),
            (129, (110, 4200)),
            (130, (130, 9000)),
            (i64::MAX, (130, 9000)),
        ];
        for (target, (offset, position)) in cases {
            assert_eq!(
                ix.lookup(target),
                OffsetPosition { offset, position },
                "target {target}"
            );
        }
        assert_eq!(
            OffsetIndex::new(5).lookup(7),
            OffsetPosition {
                offset: 5,
                position: 0
            }
        );
    }

    #[test]
    fn offset_index_round_trip_and_sanity() {
        let mut ix = OffsetIndex::new(1000);
        for i in 0..50 {
            assert!(ix.append(1000 + i * 3, (i * 4096) as u64));
        }
        let mut bytes = Vec::new();
        ix.encode_from(0, &mut bytes);
        assert_eq!(bytes.len(), 50 * OFFSET_ENTRY_SIZE);
        assert_eq!(&bytes[8..16], &[0, 0, 0, 3, 0, 0, 0x10, 0]);
        assert_eq!(OffsetIndex::decode(1000, &bytes, 50 * 4096).unwrap(), ix);
        let mut tail = Vec::new();
        ix.encode_from(48, &mut tail);
        assert_eq!(tail, bytes[48 * 8..]);

        assert!(
            OffsetIndex::decode(1000, &bytes[..13], 1 << 30).is_err(),
            "partial entry"
        );
        assert!(
            OffsetIndex::decode(1000, &bytes, 4096).is_err(),
            "position past the log"
        );
        let mut swapped = bytes.clone();
        swapped.copy_within(0..8, 16);
        assert!(
            OffsetIndex::decode(1000, &swapped, 1 << 30).is_err(),
            "out of order"
        );
        assert!(OffsetIndex::decode(1000, &[], 0).unwrap().is_empty());
    }

    #[test]
    fn offset_truncation() {
        let mut ix = OffsetIndex::new(0);
        for i in 1..=5 {
            ix.append(i * 10, (i * 100) as u64);
        }
        ix.truncate_to_position(300);
        assert_eq!(
            ix.last(),
            Some(OffsetPosition {
                offset: 20,
                position: 200
            })
        );
        ix.truncate_to_position(0);
        assert!(ix.is_empty());
    }

    #[test]
    fn time_lookup_table() {
        let mut ix = TimeIndex::new(50);
        assert!(ix.maybe_append(1000, 55));
        assert!(!ix.maybe_append(1000, 60), "timestamp must increase");
        assert!(!ix.maybe_append(900, 60));
        assert!(ix.maybe_append(2000, 70));
        assert!(!ix.maybe_append(2500, 65), "offset must not go back");
        assert!(ix.maybe_append(3000, 70));
        assert!(!ix.maybe_append(-1, 80));
        let cases = [
            (0, None),
            (999, None),
            (1000, Some((1000, 55))),
            (1999, Some((1000, 55))),
            (2000, Some((2000, 70))),
            (i64::MAX, Some((3000, 70))),
        ];
        for (target, expect) in cases {
            let got = ix.lookup(target).map(|e| (e.timestamp, e.offset));
            assert_eq!(got, expect, "target {target}");
        }
        let mut bytes = Vec::new();
        ix.encode_from(0, &mut bytes);
        assert_eq!(bytes.len(), 3 * TIME_ENTRY_SIZE);
        assert_eq!(TimeIndex::decode(50, &bytes).unwrap(), ix);
        assert_eq!(
            TimeIndex::decode_entry(50, &bytes[24..]),
            Some(TimestampOffset {
                timestamp: 3000,
                offset: 70
            })
        );
        assert!(TimeIndex::decode(50, &bytes[..20]).is_err());
        let mut swapped = bytes.clone();
        swapped.copy_within(0..12, 24);
        assert!(TimeIndex::decode(50, &swapped).is_err());
        ix.truncate_to_offset(70);
        assert_eq!(ix.len(), 1);
    }

    #[test]
    fn relative_offsets() {
        assert!(fits_relative(0, 0));
        assert!(fits_relative(10, 10 + i64::from(i32::MAX)));
        assert!(!fits_relative(10, 11 + i64::from(i32::MAX)));
        assert!(!fits_relative(10, 9));
        assert!(!fits_relative(i64::MIN, i64::MAX));
    }
}
