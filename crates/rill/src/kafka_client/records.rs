//! Record batches in and out, through `kafka_protocol::records`.

use bytes::Bytes;
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};

pub use broker::log::new_batch::{encode_batch, NewRecord};

/// Kafka's codec names (`--compression-codec`, `compression.type`).
pub fn compression(name: &str) -> anyhow::Result<Compression> {
    Ok(match name {
        "none" | "uncompressed" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => {
            anyhow::bail!("compression codec '{other}' is not one of none, gzip, snappy, lz4, zstd")
        }
    })
}

/// The longest prefix of `data` made of whole batches: a fetch answer may end
/// in a partial batch (cut at the size limit), which is fetched again later.
pub fn whole_batches(data: &Bytes) -> Bytes {
    let mut end = 0;
    while data.len() >= end + 12 {
        let len = i32::from_be_bytes(data[end + 8..end + 12].try_into().expect("4 bytes"));
        let Ok(len) = usize::try_from(len) else { break };
        if data.len() < end + 12 + len {
            break;
        }
        end += 12 + len;
    }
    data.slice(..end)
}

/// The data records in `data` (control records left out), in offset order.
pub fn decode(data: &Bytes) -> anyhow::Result<Vec<Record>> {
    let mut whole = whole_batches(data);
    let mut out = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut whole)? {
        out.extend(set.records.into_iter().filter(|r| !r.control));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, value: &str) -> NewRecord {
        NewRecord {
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: vec![],
            timestamp: 1_700_000_000_000,
        }
    }

    #[test]
    fn batches_round_trip_and_partial_tail_is_ignored() {
        let a = encode_batch(&[record("k1", "v1"), record("k2", "v2")], Compression::Gzip).unwrap();
        let b = encode_batch(&[record("k3", "v3")], Compression::None).unwrap();
        let mut joined = bytes::BytesMut::new();
        joined.extend_from_slice(&a);
        joined.extend_from_slice(&b[..b.len() - 3]);
        let joined = joined.freeze();
        assert_eq!(whole_batches(&joined).len(), a.len());
        assert_eq!(
            RecordBatchDecoder::decode_batch_info(&mut a.clone())
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            RecordBatchDecoder::decode_batch_info(&mut a.clone()).unwrap()[0].base_sequence,
            -1
        );
        let got = decode(&joined).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].value.as_deref(), Some(&b"v2"[..]));
        assert_eq!(got[1].offset, 1);
    }

    #[test]
    fn codecs_by_kafka_name() {
        assert_eq!(compression("lz4").unwrap(), Compression::Lz4);
        assert!(compression("brotli")
            .unwrap_err()
            .to_string()
            .contains("brotli"));
    }
}
