//! `rill dump-log` (kafka-dump-log.sh): prints the batches (and with
//! --print-data-log the records) of segment files as Kafka's DumpLogSegments
//! does; `.index` and `.timeindex` files are printed entry by entry.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use broker::log::batch::{compute_crc, BatchHeader};
use bytes::Bytes;
use clap::Args;
use kafka_protocol::records::RecordBatchDecoder;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
  rill dump-log --files /data/kafka/orders-0/00000000000000000000.log\n  \
  rill dump-log --files /data/kafka/orders-0/00000000000000000000.log --print-data-log\n  \
  rill dump-log --files /data/kafka/orders-0/00000000000000000000.index")]
pub struct DumpLogArgs {
    /// Comma-separated segment files (.log, .index, .timeindex).
    #[arg(long, required = true, value_delimiter = ',')]
    files: Vec<PathBuf>,
    /// Print each record with its key and value (implies --deep-iteration).
    #[arg(long = "print-data-log")]
    print_data_log: bool,
    /// Print each record, not only each batch.
    #[arg(long = "deep-iteration")]
    deep_iteration: bool,
}

fn codec_name(id: u8) -> &'static str {
    match id {
        0 => "none",
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "unknown",
    }
}

/// The base offset a segment file's name carries (`00000000000000000042.log` -> 42).
fn base_offset(path: &Path) -> anyhow::Result<i64> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    stem.parse().with_context(|| {
        format!(
            "{}: the file name is not a segment's base offset (e.g. 00000000000000000000.log)",
            path.display()
        )
    })
}

/// A record's sequence: none when the batch has none (Kafka's DefaultRecord).
fn sequence(base: i32, delta: i64) -> i32 {
    if base < 0 {
        -1
    } else {
        base.wrapping_add(delta as i32) & i32::MAX
    }
}

/// The text for one `.log` file.
pub fn dump_segment(
    path: &Path,
    data: &[u8],
    records: bool,
    contents: bool,
) -> anyhow::Result<String> {
    let mut out = format!(
        "Dumping {}\nLog starting offset: {}\n",
        path.display(),
        base_offset(path)?
    );
    let mut position = 0usize;
    while position < data.len() {
        let rest = &data[position..];
        let header = match BatchHeader::peek(rest) {
            Ok(Some(h)) if rest.len() >= h.size() => h,
            Ok(_) => {
                out.push_str(&format!(
                    "Found {} invalid bytes at the end of {}\n",
                    rest.len(),
                    path.display()
                ));
                break;
            }
            Err(e) => bail!("{} at position {position}: {e}", path.display()),
        };
        let batch = &rest[..header.size()];
        let kind = if header.timestamp_type() == broker::log::TimestampType::LogAppendTime {
            "LogAppendTime"
        } else {
            "CreateTime"
        };
        let last_sequence = if header.base_sequence < 0 {
            -1
        } else {
            header.base_sequence.wrapping_add(header.last_offset_delta)
        };
        out.push_str(&format!(
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {last_sequence} producerId: {} \
             producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: OptionalLong.empty \
             position: {position} {kind}: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {}\n",
            header.base_offset,
            header.last_offset(),
            header.records_count,
            header.base_sequence,
            header.producer_id,
            header.producer_epoch,
            header.partition_leader_epoch,
            header.is_transactional(),
            header.is_control(),
            header.max_timestamp,
            header.size(),
            header.magic,
            codec_name(header.compression()),
            header.crc,
            compute_crc(batch) == header.crc
        ));
        if records {
            let mut buf = Bytes::copy_from_slice(batch);
            let set = RecordBatchDecoder::decode(&mut buf).with_context(|| {
                format!(
                    "{}: decoding the batch at position {position}",
                    path.display()
                )
            })?;
            for r in &set.records {
                let size = |b: &Option<Bytes>| b.as_ref().map_or(-1, |b| b.len() as i64);
                let keys: Vec<&str> = r.headers.keys().map(|k| k.as_str()).collect();
                out.push_str(&format!(
                    "| offset: {} {kind}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
                    r.offset,
                    r.timestamp,
                    size(&r.key),
                    size(&r.value),
                    sequence(header.base_sequence, r.offset - header.base_offset),
                    keys.join(",")
                ));
                if contents {
                    if let Some(k) = &r.key {
                        out.push_str(&format!(" key: {}", String::from_utf8_lossy(k)));
                    }
                    if let Some(v) = &r.value {
                        out.push_str(&format!(" payload: {}", String::from_utf8_lossy(v)));
                    }
                }
                out.push('\n');
            }
        }
        position += header.size();
    }
    Ok(out)
}

/// `.index`: (relative offset u32, position u32); `.timeindex`: (timestamp i64, relative offset u32).
fn dump_index(path: &Path, data: &[u8], time: bool) -> anyhow::Result<String> {
    let base = base_offset(path)?;
    let mut out = format!("Dumping {}\n", path.display());
    let entry = if time { 12 } else { 8 };
    for e in data.chunks_exact(entry) {
        if time {
            let ts = i64::from_be_bytes(e[..8].try_into()?);
            let rel = u32::from_be_bytes(e[8..].try_into()?);
            if ts == 0 && rel == 0 && base != 0 {
                break;
            }
            out.push_str(&format!(
                "timestamp: {ts} offset: {}\n",
                base + i64::from(rel)
            ));
        } else {
            let rel = u32::from_be_bytes(e[..4].try_into()?);
            let pos = u32::from_be_bytes(e[4..].try_into()?);
            out.push_str(&format!(
                "offset: {} position: {pos}\n",
                base + i64::from(rel)
            ));
        }
    }
    Ok(out)
}

pub fn run(args: DumpLogArgs) -> anyhow::Result<ExitCode> {
    for path in &args.files {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let text = match path.extension().and_then(|e| e.to_str()) {
            Some("log") => dump_segment(
                path,
                &data,
                args.print_data_log || args.deep_iteration,
                args.print_data_log,
            )?,
            Some("index") => dump_index(path, &data, false)?,
            Some("timeindex") => dump_index(path, &data, true)?,
            _ => bail!("{}: not a .log, .index or .timeindex file", path.display()),
        };
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka_client::records::{encode_batch, NewRecord};
    use kafka_protocol::records::Compression;

    #[test]
    fn segments_print_batches_and_records() {
        let rec = |k: &str, v: &str| NewRecord {
            key: Some(Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: vec![("h".into(), None)],
            timestamp: 1_700_000_000_000,
        };
        let batch = encode_batch(&[rec("k1", "v1"), rec("k2", "v2")], Compression::None).unwrap();
        let path = Path::new("/x/00000000000000000000.log");
        let text = dump_segment(path, &batch, true, true).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Dumping /x/00000000000000000000.log");
        assert_eq!(lines[1], "Log starting offset: 0");
        assert!(lines[2].starts_with("baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1"), "{}", lines[2]);
        assert!(
            lines[2].contains(" position: 0 CreateTime: 1700000000000 size: "),
            "{}",
            lines[2]
        );
        assert!(
            lines[2].contains(" magic: 2 compresscodec: none crc: ")
                && lines[2].ends_with(" isvalid: true"),
            "{}",
            lines[2]
        );
        assert!(
            lines[4].contains("offset: 1 ") && lines[4].contains("sequence: -1 "),
            "{}",
            lines[4]
        );
        assert_eq!(
            lines[3],
            "| offset: 0 CreateTime: 1700000000000 keySize: 2 valueSize: 2 sequence: -1 headerKeys: [h] key: k1 payload: v1"
        );
        let short = dump_segment(path, &batch[..batch.len() - 1], false, false).unwrap();
        assert!(short.contains("invalid bytes"), "{short}");
        assert!(dump_segment(Path::new("x.log"), &batch, false, false).is_err());
    }
}
