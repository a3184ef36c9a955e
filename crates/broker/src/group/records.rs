//! The records of `__consumer_offsets`, in Kafka's own schema (the
//! `OffsetCommitKey/Value` and `GroupMetadataKey/Value` messages of
//! `group-coordinator/src/main/resources/common/message/`), so any tool that
//! reads Kafka's offsets topic reads ours.
//!
//! A key starts with its version: 0 or 1 is an offset commit (group, topic,
//! partition), 2 a group's metadata. A missing value is a tombstone.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A committed offset as stored (OffsetCommitValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Only from old clients that asked for a retention time (value version 1).
    pub expire_timestamp: Option<i64>,
}

/// One member as stored in GroupMetadataValue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group's generation as stored (GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

/// One record of `__consumer_offsets`; `None` values are tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    Group {
        group: String,
        value: Option<GroupValue>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record without a key")]
    NoKey,
    #[error("unknown key version {0}")]
    UnknownKeyVersion(i16),
    #[error("unknown {what} value version {version}")]
    UnknownValueVersion { what: &'static str, version: i16 },
    #[error("truncated or malformed {0}")]
    Malformed(&'static str),
}

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
/// The value versions Kafka 3.x writes.
const OFFSET_VALUE_VERSION: i16 = 3;
const OFFSET_VALUE_WITH_EXPIRY: i16 = 1;
const GROUP_VALUE_VERSION: i16 = 3;

impl OffsetsRecord {
    pub fn group(&self) -> &str {
        match self {
            OffsetsRecord::Offset { group, .. } | OffsetsRecord::Group { group, .. } => group,
        }
    }

    /// The record's key and value bytes.
    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        let mut key = BytesMut::new();
        match self {
            OffsetsRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                key.put_i16(OFFSET_KEY_VERSION);
                put_str(&mut key, group);
                put_str(&mut key, topic);
                key.put_i32(*partition);
                (key.freeze(), value.as_ref().map(encode_offset_value))
            }
            OffsetsRecord::Group { group, value } => {
                key.put_i16(GROUP_KEY_VERSION);
                put_str(&mut key, group);
                (key.freeze(), value.as_ref().map(encode_group_value))
            }
        }
    }

    pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Self, RecordError> {
        let mut k = Reader::new(key.ok_or(RecordError::NoKey)?, false);
        let version = k.i16("key")?;
        match version {
            0 | 1 => {
                let group = k.string("offset commit key")?;
                let topic = k.string("offset commit key")?;
                let partition = k.i32("offset commit key")?;
                let value = value.map(decode_offset_value).transpose()?;
                Ok(OffsetsRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                })
            }
            2 => {
                let group = k.string("group metadata key")?;
                let value = value.map(decode_group_value).transpose()?;
                Ok(OffsetsRecord::Group { group, value })
            }
            v => Err(RecordError::UnknownKeyVersion(v)),
        }
    }
}

fn encode_offset_value(v: &OffsetValue) -> Bytes {
    let mut b = BytesMut::new();
    match v.expire_timestamp {
        Some(expire) => {
            b.put_i16(OFFSET_VALUE_WITH_EXPIRY);
            b.put_i64(v.offset);
            put_str(&mut b, &v.metadata);
            b.put_i64(v.commit_timestamp);
            b.put_i64(expire);
        }
        None => {
            b.put_i16(OFFSET_VALUE_VERSION);
            b.put_i64(v.offset);
            b.put_i32(v.leader_epoch);
            put_str(&mut b, &v.metadata);
            b.put_i64(v.commit_timestamp);
        }
    }
    b.freeze()
}

fn decode_offset_value(bytes: &[u8]) -> Result<OffsetValue, RecordError> {
    const WHAT: &str = "offset commit value";
    let version = Reader::new(bytes, false).i16(WHAT)?;
    if !(0..=4).contains(&version) {
        return Err(RecordError::UnknownValueVersion {
            what: "offset commit",
            version,
        });
    }
    let mut r = Reader::new(&bytes[2..], version >= 4);
    let offset = r.i64(WHAT)?;
    let leader_epoch = if version >= 3 { r.i32(WHAT)? } else { -1 };
    let metadata = r.string(WHAT)?;
    let commit_timestamp = r.i64(WHAT)?;
    let expire_timestamp = if version == 1 {
        Some(r.i64(WHAT)?)
    } else {
        None
    };
    r.tagged_fields(WHAT)?;
    Ok(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
        expire_timestamp,
    })
}

fn encode_group_value(v: &GroupValue) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(GROUP_VALUE_VERSION);
    put_str(&mut b, &v.protocol_type);
    b.put_i32(v.generation);
    put_nullable_str(&mut b, v.protocol.as_deref());
    put_nullable_str(&mut b, v.leader.as_deref());
    b.put_i64(v.current_state_timestamp);
    b.put_i32(v.members.len() as i32);
    for m in &v.members {
        put_str(&mut b, &m.member_id);
        put_nullable_str(&mut b, m.group_instance_id.as_deref());
        put_str(&mut b, &m.client_id);
        put_str(&mut b, &m.client_host);
        b.put_i32(m.rebalance_timeout_ms);
        b.put_i32(m.session_timeout_ms);
        b.put_i32(m.subscription.len() as i32);
        b.put_slice(&m.subscription);
        b.put_i32(m.assignment.len() as i32);
        b.put_slice(&m.assignment);
    }
    b.freeze()
}

fn decode_group_value(bytes: &[u8]) -> Result<GroupValue, RecordError> {
    const WHAT: &str = "group metadata value";
    let version = Reader::new(bytes, false).i16(WHAT)?;
    if !(0..=4).contains(&version) {
        return Err(RecordError::UnknownValueVersion {
            what: "group metadata",
            version,
        });
    }
    let mut r = Reader::new(&bytes[2..], version >= 4);
    let protocol_type = r.string(WHAT)?;
    let generation = r.i32(WHAT)?;
    let protocol = r.nullable_string(WHAT)?;
    let leader = r.nullable_string(WHAT)?;
    let current_state_timestamp = if version >= 2 { r.i64(WHAT)? } else { -1 };
    let count = r.array_len(WHAT)?;
    let mut members = Vec::with_capacity(count.min(r.remaining()));
    for _ in 0..count {
        let member_id = r.string(WHAT)?;
        let group_instance_id = if version >= 3 {
            r.nullable_string(WHAT)?
        } else {
            None
        };
        let client_id = r.string(WHAT)?;
        let client_host = r.string(WHAT)?;
        let session_or_rebalance = r.i32(WHAT)?;
        let (rebalance_timeout_ms, session_timeout_ms) = if version >= 1 {
            (session_or_rebalance, r.i32(WHAT)?)
        } else {
            (session_or_rebalance, session_or_rebalance)
        };
        let subscription = r.bytes(WHAT)?;
        let assignment = r.bytes(WHAT)?;
        r.tagged_fields(WHAT)?;
        members.push(MemberValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    r.tagged_fields(WHAT)?;
    Ok(GroupValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn put_nullable_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

/// Reads Kafka's primitive types; `flexible` switches to compact lengths and
/// tagged fields (value version 4).
struct Reader<'a> {
    buf: &'a [u8],
    flexible: bool,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], flexible: bool) -> Self {
        Reader { buf, flexible }
    }

    fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn need(&self, n: usize, what: &'static str) -> Result<(), RecordError> {
        if self.buf.len() < n {
            Err(RecordError::Malformed(what))
        } else {
            Ok(())
        }
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, RecordError> {
        self.need(2, what)?;
        Ok(self.buf.get_i16())
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, RecordError> {
        self.need(4, what)?;
        Ok(self.buf.get_i32())
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, RecordError> {
        self.need(8, what)?;
        Ok(self.buf.get_i64())
    }

    fn uvarint(&mut self, what: &'static str) -> Result<u64, RecordError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            self.need(1, what)?;
            let b = self.buf.get_u8();
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError::Malformed(what))
    }

    /// A length, `None` for null: i16/i32 or compact (uvarint length + 1).
    fn length(&mut self, wide: bool, what: &'static str) -> Result<Option<usize>, RecordError> {
        let n = if self.flexible {
            self.uvarint(what)? as i64 - 1
        } else if wide {
            i64::from(self.i32(what)?)
        } else {
            i64::from(self.i16(what)?)
        };
        Ok((n >= 0).then_some(n as usize))
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RecordError> {
        self.need(n, what)?;
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, RecordError> {
        match self.length(false, what)? {
            None => Ok(None),
            Some(n) => {
                let raw = self.take(n, what)?;
                String::from_utf8(raw.to_vec())
                    .map(Some)
                    .map_err(|_| RecordError::Malformed(what))
            }
        }
    }

    fn string(&mut self, what: &'static str) -> Result<String, RecordError> {
        self.nullable_string(what)?
            .ok_or(RecordError::Malformed(what))
    }

    fn bytes(&mut self, what: &'static str) -> Result<Bytes, RecordError> {
        let n = self.length(true, what)?.unwrap_or(0);
        Ok(Bytes::copy_from_slice(self.take(n, what)?))
    }

    fn array_len(&mut self, what: &'static str) -> Result<usize, RecordError> {
        Ok(self.length(true, what)?.unwrap_or(0))
    }

    fn tagged_fields(&mut self, what: &'static str) -> Result<(), RecordError> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint(what)?;
        for _ in 0..count {
            self.uvarint(what)?;
            let size = self.uvarint(what)? as usize;
            self.take(size, what)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(r: OffsetsRecord) {
        let (k, v) = r.encode();
        assert_eq!(OffsetsRecord::decode(Some(&k), v.as_deref()).unwrap(), r);
    }

    #[test]
    fn offset_commits_round_trip_in_both_value_versions() {
        let value = OffsetValue {
            offset: 42,
            leader_epoch: 3,
            metadata: "meta".into(),
            commit_timestamp: 1_700_000_000_000,
            expire_timestamp: None,
        };
        round_trip(OffsetsRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 7,
            value: Some(value.clone()),
        });
        round_trip(OffsetsRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 7,
            value: Some(OffsetValue {
                leader_epoch: -1,
                expire_timestamp: Some(5),
                ..value
            }),
        });
        round_trip(OffsetsRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 7,
            value: None,
        });
    }

    #[test]
    fn offset_commit_bytes_are_kafkas() {
        let (k, v) = OffsetsRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 1,
            value: Some(OffsetValue {
                offset: 5,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 9,
                expire_timestamp: None,
            }),
        }
        .encode();
        assert_eq!(&k[..], b"\x00\x01\x00\x01g\x00\x01t\x00\x00\x00\x01");
        assert_eq!(
            &v.unwrap()[..],
            b"\x00\x03\0\0\0\0\0\0\0\x05\xff\xff\xff\xff\x00\x00\0\0\0\0\0\0\0\x09"
        );
    }

    #[test]
    fn group_metadata_round_trips() {
        round_trip(OffsetsRecord::Group {
            group: "g".into(),
            value: Some(GroupValue {
                protocol_type: "consumer".into(),
                generation: 4,
                protocol: Some("range".into()),
                leader: Some("m1".into()),
                current_state_timestamp: 77,
                members: vec![MemberValue {
                    member_id: "m1".into(),
                    group_instance_id: Some("i1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 10_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            }),
        });
        round_trip(OffsetsRecord::Group {
            group: "g".into(),
            value: None,
        });
    }

    #[test]
    fn old_group_value_versions_decode() {
        // Version 0: no rebalance timeout, no state timestamp, no instance id.
        let mut b = BytesMut::new();
        b.put_i16(0);
        put_str(&mut b, "consumer");
        b.put_i32(1);
        put_nullable_str(&mut b, Some("range"));
        put_nullable_str(&mut b, None);
        b.put_i32(1);
        put_str(&mut b, "m");
        put_str(&mut b, "c");
        put_str(&mut b, "h");
        b.put_i32(10_000);
        b.put_i32(0);
        b.put_i32(0);
        let v = decode_group_value(&b).unwrap();
        assert_eq!(v.members[0].session_timeout_ms, 10_000);
        assert_eq!(v.members[0].rebalance_timeout_ms, 10_000);
        assert_eq!(v.current_state_timestamp, -1);
    }

    #[test]
    fn flexible_offset_value_decodes() {
        let mut b = BytesMut::new();
        b.put_i16(4);
        b.put_i64(11);
        b.put_i32(2);
        b.put_u8(3); // compact string "ab"
        b.put_slice(b"ab");
        b.put_i64(99);
        b.put_u8(1); // one tagged field
        b.put_u8(0);
        b.put_u8(1);
        b.put_u8(0xff);
        let v = decode_offset_value(&b).unwrap();
        assert_eq!(
            (v.offset, v.leader_epoch, v.metadata.as_str()),
            (11, 2, "ab")
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for len in 0..20 {
            let junk = vec![0xffu8; len];
            let _ = OffsetsRecord::decode(Some(&junk), Some(&junk));
            let mut k = vec![0u8, 2];
            k.extend_from_slice(&junk);
            let _ = OffsetsRecord::decode(Some(&k), Some(&[0, 3, 0x7f, 0xff, 0xff, 0xff]));
        }
        assert_eq!(OffsetsRecord::decode(None, None), Err(RecordError::NoKey));
    }
}
