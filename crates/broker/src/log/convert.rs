//! Re-compression on append, as Kafka's `LogValidator` does when a topic's
//! `compression.type` names a codec other than `producer`. Only the records
//! section of a batch changes codec (through `kafka-protocol`'s codecs): the
//! header, records, offsets, producer fields and timestamps stay as the
//! producer sent them; attributes, length and CRC are rewritten. Batches that
//! already use the codec are stored as received.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Decompressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::records::Compression;

use super::batch::{self, BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use super::LogError;

const ATTRIBUTES_AT: usize = 21;
const CRC_AT: usize = 17;
const LENGTH_AT: usize = 8;

pub fn codec_id(c: Compression) -> u8 {
    c as u8
}

/// Returns the record set with every batch in `target`'s codec, or `None` when
/// all batches already use it (the common case: nothing is copied).
pub fn recompress(records: &[u8], target: Compression) -> Result<Option<Bytes>, LogError> {
    let headers: Vec<(usize, BatchHeader)> = batch::batches(records).collect::<Result<_, _>>()?;
    if headers
        .iter()
        .all(|(_, h)| h.compression() == codec_id(target) || h.is_control())
    {
        return Ok(None);
    }
    let mut out = BytesMut::with_capacity(records.len());
    for (start, h) in headers {
        let raw = &records[start..start + h.size()];
        if h.compression() == codec_id(target) || h.is_control() {
            out.extend_from_slice(raw);
            continue;
        }
        let plain = decompress(h.compression(), Bytes::copy_from_slice(&raw[HEADER_SIZE..]))?;
        let at = out.len();
        out.extend_from_slice(&raw[..HEADER_SIZE]);
        compress(target, &plain, &mut out)?;
        let batch = &mut out[at..];
        let attributes = (u16::from_be_bytes([batch[ATTRIBUTES_AT], batch[ATTRIBUTES_AT + 1]])
            & !0x7)
            | codec_id(target) as u16;
        batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        let length = (batch.len() - LOG_OVERHEAD) as u32;
        batch[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
        let crc = batch::compute_crc(batch);
        batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(Some(out.freeze()))
}

fn decompress(codec: u8, mut payload: Bytes) -> Result<Bytes, LogError> {
    // kafka-protocol's codecs speak anyhow; its errors become LogErrors here.
    fn take(b: &mut Bytes) -> anyhow::Result<Bytes> {
        Ok(b.copy_to_bytes(b.remaining()))
    }
    let r = match codec {
        0 => Ok(payload),
        1 => Gzip::decompress(&mut payload, take),
        2 => Snappy::decompress(&mut payload, take),
        3 => Lz4::decompress(&mut payload, take),
        4 => Zstd::decompress(&mut payload, take),
        other => {
            return Err(LogError::CorruptRecord {
                reason: format!("unknown compression codec {other}"),
            })
        }
    };
    r.map_err(|e| LogError::CorruptRecord {
        reason: format!("cannot decompress a batch to re-compress it: {e}"),
    })
}

fn compress(target: Compression, plain: &[u8], out: &mut BytesMut) -> Result<(), LogError> {
    let put = |b: &mut BytesMut| -> anyhow::Result<()> {
        b.put_slice(plain);
        Ok(())
    };
    let r = match target {
        Compression::None => {
            out.put_slice(plain);
            Ok(())
        }
        Compression::Gzip => Gzip::compress(out, put),
        Compression::Snappy => Snappy::compress(out, put),
        Compression::Lz4 => Lz4::compress(out, put),
        Compression::Zstd => Zstd::compress(out, put),
    };
    r.map_err(|e| LogError::InvalidRecord {
        reason: format!("cannot re-compress a batch: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::new_batch::{encode_batch, NewRecord};
    use kafka_protocol::records::RecordBatchDecoder;

    fn encode(n: usize, compression: Compression) -> Bytes {
        let records: Vec<NewRecord> = (0..n)
            .map(|i| NewRecord {
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'v'; 100])),
                headers: Vec::new(),
                timestamp: 1_700_000_000_000 + i as i64,
            })
            .collect();
        encode_batch(&records, compression).unwrap()
    }

    #[test]
    fn matching_codec_is_left_alone() {
        let set = encode(10, Compression::Gzip);
        assert!(recompress(&set, Compression::Gzip).unwrap().is_none());
    }

    #[test]
    fn every_codec_converts_and_keeps_records() {
        for (from, to) in [
            (Compression::None, Compression::Zstd),
            (Compression::Gzip, Compression::Lz4),
            (Compression::Snappy, Compression::None),
            (Compression::Lz4, Compression::Gzip),
            (Compression::Zstd, Compression::Snappy),
        ] {
            let set = encode(50, from);
            let converted = recompress(&set, to).unwrap().expect("converted");
            let (_, h) = batch::batches(&converted).next().unwrap().unwrap();
            assert_eq!(h.compression(), codec_id(to));
            batch::validate(&converted[..h.size()]).unwrap();
            let mut buf = converted.clone();
            let back = RecordBatchDecoder::decode(&mut buf).unwrap();
            assert_eq!(back.records.len(), 50);
            assert_eq!(back.records[7].key.as_deref(), Some(&b"k7"[..]));
        }
    }
}
