//! Tests of partition logs and the log manager against real files.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;

use super::batch::testing::TestBatch;
use super::batch::{self, BatchHeader};
use super::index::{OffsetIndex, TimeIndex};
use super::*;

fn cfg() -> LogConfig {
    LogConfig {
        segment_ms: None,
        retention_ms: None,
        ..LogConfig::default()
    }
}

fn recs(n: usize, base_ts: i64) -> Vec<u8> {
    TestBatch {
        base_timestamp: base_ts,
        ..TestBatch::records(n)
    }
    .encode()
}

fn concat(batches: &[Vec<u8>]) -> Vec<u8> {
    batches.concat()
}

/// Headers of every batch in `bytes`, each CRC-checked.
fn parse(bytes: &[u8]) -> Vec<BatchHeader> {
    batch::batches(bytes)
        .map(|r| {
            let (start, h) = r.expect("whole batches");
            batch::validate(&bytes[start..start + h.size()]).expect("valid batch")
        })
        .collect()
}

fn read_all(log: &PartitionLog) -> Vec<BatchHeader> {
    let r = log
        .read(log.log_start_offset(), usize::MAX, i64::MAX, true)
        .expect("read");
    parse(&r.records)
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn seg_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

fn open(dir: &Path, config: LogConfig, clean: bool) -> PartitionLog {
    PartitionLog::open(dir, config, clean).expect("open")
}

fn batch_size() -> usize {
    recs(2, 0).len()
}

#[test]
fn append_and_read_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), cfg(), true);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));

    let a = recs(3, 1000);
    let info = log.append_as_leader(&a, 5, 10_000).unwrap();
    assert_eq!(
        (
            info.base_offset,
            info.last_offset,
            info.record_count,
            info.batch_count
        ),
        (0, 2, 3, 1)
    );
    assert_eq!(
        (
            info.max_timestamp,
            info.offset_of_max_timestamp,
            info.log_append_time
        ),
        (1002, 2, -1)
    );

    let b1 = recs(2, 2000);
    let b = concat(&[b1.clone(), recs(4, 3000)]);
    let info = log.append_as_leader(&b, 5, 10_001).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.batch_count),
        (3, 8, 2)
    );
    assert_eq!(log.log_end_offset(), 9);

    let r = log.read(0, 1 << 20, 9, false).unwrap();
    let hs = parse(&r.records);
    let spans: Vec<_> = hs
        .iter()
        .map(|h| (h.base_offset, h.last_offset(), h.partition_leader_epoch))
        .collect();
    assert_eq!(spans, vec![(0, 2, 5), (3, 4, 5), (5, 8, 5)]);
    assert_eq!(
        (r.first_batch_offset, r.next_offset, r.log_end_offset),
        (0, 9, 9)
    );
    // Stored as received: everything from the magic byte on is untouched.
    assert_eq!(&r.records[16..a.len()], &a[16..]);
    assert_eq!(
        &r.records[a.len() + 16..a.len() + b1.len()],
        &b1[16..],
        "second batch as sent"
    );

    // Reads start with the batch holding the offset.
    let r = log.read(4, 1 << 20, 9, false).unwrap();
    assert_eq!(r.first_batch_offset, 3);
    let r = log.read(9, 1 << 20, 9, false).unwrap();
    assert!(r.records.is_empty());
    assert_eq!(r.first_batch_offset, -1);
    for bad in [-1, 10] {
        assert!(matches!(
            log.read(bad, 100, 100, true),
            Err(LogError::OffsetOutOfRange {
                start: 0,
                end: 9,
                ..
            })
        ));
    }
    assert_eq!(log.size_bytes() as usize, a.len() + b.len());
}

#[test]
fn read_limits_whole_batches_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), cfg(), true);
    for i in 0..3 {
        log.append_as_leader(&recs(2, i), 0, 0).unwrap();
    }
    let s = batch_size();
    // (start, max_bytes, max_offset, min_one) -> batches returned
    let cases: &[(i64, usize, i64, bool, usize)] = &[
        (0, 3 * s, i64::MAX, false, 3),
        (0, 3 * s - 1, i64::MAX, false, 2),
        (0, 2 * s, i64::MAX, false, 2),
        (0, s, i64::MAX, false, 1),
        (0, s - 1, i64::MAX, false, 0),
        (0, s - 1, i64::MAX, true, 1),
        (0, 0, i64::MAX, true, 1),
        (0, 0, i64::MAX, false, 0),
        (0, usize::MAX, 4, false, 2),
        (0, usize::MAX, 3, false, 1),
        (0, usize::MAX, 1, true, 0),
        (1, usize::MAX, 6, false, 3),
        (3, 2 * s, i64::MAX, false, 2),
        (5, s - 1, i64::MAX, true, 1),
        (5, usize::MAX, 5, true, 0),
    ];
    for &(start, max_bytes, max_offset, min_one, expect) in cases {
        let r = log.read(start, max_bytes, max_offset, min_one).unwrap();
        assert_eq!(
            r.records.len(),
            expect * s,
            "{start} {max_bytes} {max_offset} {min_one}"
        );
        assert_eq!(parse(&r.records).len(), expect);
    }
}

#[test]
fn rolls_by_size_and_reads_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let s = batch_size();
    let config = LogConfig {
        segment_bytes: (3 * s + 10) as u64,
        index_interval_bytes: 1,
        ..cfg()
    };
    let mut log = open(dir.path(), config, true);
    for i in 0..10 {
        log.append_as_leader(&recs(2, 1000 + i), 0, 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 6, 12, 18]);
    assert_eq!(log.log_end_offset(), 20);
    let names = files(dir.path());
    for base in [0, 6, 12] {
        for ext in ["log", "index", "timeindex"] {
            assert!(
                names.contains(&format!("{base:020}.{ext}")),
                "{base}.{ext} in {names:?}"
            );
        }
    }
    assert!(names.contains(&"00000000000000000018.log".to_string()));
    // Sealed segments: index entries for every batch but the first.
    let ix = OffsetIndex::decode(
        6,
        &fs::read(seg_path(dir.path(), 6, "index")).unwrap(),
        3 * s as u64,
    )
    .unwrap();
    assert_eq!(ix.len(), 2);
    assert_eq!(ix.lookup(9).position as usize, s);

    let all = read_all(&log);
    let bases: Vec<i64> = all.iter().map(|h| h.base_offset).collect();
    assert_eq!(bases, (0..10).map(|i| i * 2).collect::<Vec<_>>());
    for o in 0..20 {
        let r = log.read(o, 1, i64::MAX, true).unwrap();
        assert_eq!(r.first_batch_offset, o - o % 2, "offset {o}");
        assert_eq!(r.records.len(), s);
    }
    // A read that spans three segments.
    let r = log.read(4, 4 * s, i64::MAX, false).unwrap();
    let bases: Vec<i64> = parse(&r.records).iter().map(|h| h.base_offset).collect();
    assert_eq!(bases, vec![4, 6, 8, 10]);
    assert_eq!(r.next_offset, 12);
}

#[test]
fn rolls_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: Some(100),
        ..cfg()
    };
    let mut log = open(dir.path(), config, true);
    log.append_as_leader(&recs(1, 0), 0, 1000).unwrap();
    log.append_as_leader(&recs(1, 0), 0, 1050).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append_as_leader(&recs(1, 0), 0, 1101).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    log.maybe_roll(1150).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.maybe_roll(1300).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 3]);
    log.maybe_roll(5000).unwrap();
    assert_eq!(
        log.segment_count(),
        3,
        "an empty active segment never rolls"
    );
}

#[test]
fn indexes_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 50,
        ..cfg()
    };
    let mut log = open(dir.path(), config.clone(), true);
    for i in 0..100 {
        log.append_as_leader(&recs(1, i), 0, 0).unwrap();
    }
    log.close().unwrap();
    let bytes = fs::read(seg_path(dir.path(), 0, "index")).unwrap();
    let log_size = fs::metadata(seg_path(dir.path(), 0, "log")).unwrap().len();
    let ix = OffsetIndex::decode(0, &bytes, log_size).unwrap();
    assert!(ix.len() > 40, "sparse but present: {}", ix.len());
    let tix =
        TimeIndex::decode(0, &fs::read(seg_path(dir.path(), 0, "timeindex")).unwrap()).unwrap();
    assert_eq!(
        tix.last().map(|e| (e.timestamp, e.offset)),
        Some((99, 99)),
        "final entry"
    );

    let log = open(dir.path(), config, true);
    assert_eq!(log.log_end_offset(), 100);
    assert_eq!(log.open_handles(), 0, "nothing opened by a clean start");
    for o in 0..100 {
        assert_eq!(
            log.read(o, 1, i64::MAX, true).unwrap().first_batch_offset,
            o
        );
    }
    assert_eq!(log.max_timestamp(), Some((99, 99)));
}

/// Builds a log of five one-batch appends, then "crashes" (drops it
/// without closing) and returns the active segment's path.
fn crashed_log(dir: &Path) -> PathBuf {
    let mut log = open(dir, cfg(), true);
    for i in 0..5 {
        log.append_as_leader(&recs(2, 100 * i), 1, 0).unwrap();
    }
    drop(log);
    seg_path(dir, 0, "log")
}

#[test]
fn recovery_truncates_at_the_first_bad_batch() {
    let s = batch_size() as u64;
    type Damage = fn(&Path, u64);
    let cases: &[(&str, Damage, i64)] = &[
        ("intact", |_, _| {}, 10),
        ("torn last batch", |p, s| set_len(p, 5 * s - 7), 8),
        ("torn header", |p, s| set_len(p, 4 * s + 30), 8),
        (
            "flipped byte in the last batch",
            |p, s| flip(p, 5 * s - 3),
            8,
        ),
        (
            "flipped attributes of the third batch",
            |p, s| flip(p, 2 * s + 22),
            4,
        ),
        ("garbage appended", |p, _| append_bytes(p, &[0x5a; 100]), 10),
        ("zeros appended", |p, _| append_bytes(p, &[0; 4096]), 10),
        (
            "a partial batch appended",
            |p, _| append_bytes(p, &recs(3, 0)[..70]),
            10,
        ),
        (
            "v1 bytes appended",
            |p, _| append_bytes(p, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 1, 2, 3, 4, 1]),
            10,
        ),
    ];
    for (name, damage, leo) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = crashed_log(dir.path());
        damage(&path, s);
        let mut log = open(dir.path(), cfg(), false);
        assert_eq!(log.log_end_offset(), *leo, "{name}");
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            (*leo as u64 / 2) * s,
            "{name}: file truncated"
        );
        assert_eq!(read_all(&log).len() as i64, leo / 2, "{name}");
        // The log goes on from the recovered end, indexes included.
        let info = log.append_as_leader(&recs(1, 0), 1, 0).unwrap();
        assert_eq!(info.base_offset, *leo, "{name}");
        log.close().unwrap();
        let log = open(dir.path(), cfg(), true);
        assert_eq!(log.log_end_offset(), leo + 1, "{name}");
        assert_eq!(log.leader_epochs().entries().len(), 1);
    }
}

/// A log of ten two-record batches in segments of three batches
/// (bases 0, 6, 12, 18), "crashed" without closing.
fn crashed_rolled_log(dir: &Path) -> LogConfig {
    let config = LogConfig {
        segment_bytes: (3 * batch_size() + 10) as u64,
        ..cfg()
    };
    let mut log = open(dir, config.clone(), true);
    for i in 0..10 {
        log.append_as_leader(&recs(2, 100 * i), 1, 0).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 6, 12, 18]);
    drop(log);
    config
}

#[test]
fn rolled_segments_are_synced_off_the_append_path_and_move_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let config = crashed_rolled_log(dir.path());
    // The last roll's sync finished when the log was dropped.
    assert_eq!(
        checkpoint::load_offset(dir.path(), checkpoint::RECOVERY_POINT_FILE).unwrap(),
        Some(18)
    );
    // Intact rolled segments: recovery leaves everything in place.
    let log = open(dir.path(), config, false);
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(read_all(&log).len(), 10);
}

#[test]
fn recovery_rescans_rolled_segments_above_the_recovery_point() {
    let s = batch_size() as u64;
    let dir = tempfile::tempdir().unwrap();
    let config = crashed_rolled_log(dir.path());
    // As if the machine died before the syncs of segments 6 and 12 were
    // done: the recovery point still at 6, segment 6 lost its last batch.
    checkpoint::store_offset(dir.path(), checkpoint::RECOVERY_POINT_FILE, 6).unwrap();
    set_len(&seg_path(dir.path(), 6, "log"), 3 * s - 5);
    let mut log = open(dir.path(), config.clone(), false);
    // Nothing after the last valid batch: segments 12 and 18 are dropped.
    assert_eq!(log.segment_base_offsets(), vec![0, 6]);
    assert_eq!(log.log_end_offset(), 10);
    let bases: Vec<i64> = read_all(&log).iter().map(|h| h.base_offset).collect();
    assert_eq!(bases, vec![0, 2, 4, 6, 8]);
    assert!(!seg_path(dir.path(), 12, "log").exists());
    assert_eq!(
        checkpoint::load_offset(dir.path(), checkpoint::RECOVERY_POINT_FILE).unwrap(),
        Some(6)
    );
    // Offsets go on contiguously from there.
    assert_eq!(
        log.append_as_leader(&recs(2, 0), 1, 0).unwrap().base_offset,
        10
    );
    log.close().unwrap();
    let log = open(dir.path(), config, true);
    assert_eq!(log.log_end_offset(), 12);
}

#[test]
fn rolled_segments_below_the_recovery_point_are_trusted() {
    let s = batch_size() as u64;
    let dir = tempfile::tempdir().unwrap();
    let config = crashed_rolled_log(dir.path());
    // Damage below the recovery point (18) is not looked for: those
    // segments were fsynced, and rescanning them would make every unclean
    // start read the whole log.
    flip(&seg_path(dir.path(), 6, "log"), 2 * s + 30);
    let log = open(dir.path(), config, false);
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(log.segment_base_offsets(), vec![0, 6, 12, 18]);
}

#[test]
fn truncation_brings_the_recovery_point_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = crashed_rolled_log(dir.path());
    let mut log = open(dir.path(), config, true);
    log.truncate_to(8).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 6]);
    assert_eq!(
        checkpoint::load_offset(dir.path(), checkpoint::RECOVERY_POINT_FILE).unwrap(),
        Some(6)
    );
}

#[test]
fn clean_shutdown_skips_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let path = crashed_log(dir.path());
    let s = batch_size() as u64;
    flip(&path, 5 * s - 3);
    // Trusted: the damaged batch is not even looked at.
    let log = open(dir.path(), cfg(), true);
    assert_eq!(log.log_end_offset(), 10);
    drop(log);
    let log = open(dir.path(), cfg(), false);
    assert_eq!(log.log_end_offset(), 8);
}

#[test]
fn clean_start_with_a_torn_tail_recovers_anyway() {
    let dir = tempfile::tempdir().unwrap();
    let path = crashed_log(dir.path());
    append_bytes(&path, &[1, 2, 3]);
    let log = open(dir.path(), cfg(), true);
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(fs::metadata(&path).unwrap().len(), 5 * batch_size() as u64);
}

#[test]
fn missing_or_corrupt_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let s = batch_size();
    let config = LogConfig {
        segment_bytes: (3 * s) as u64,
        index_interval_bytes: 1,
        ..cfg()
    };
    let mut log = open(dir.path(), config.clone(), true);
    for i in 0..10 {
        log.append_as_leader(&recs(2, 1000 * i), 0, 0).unwrap();
    }
    log.close().unwrap();
    let before = read_all(&open(dir.path(), config.clone(), true));

    fs::remove_file(seg_path(dir.path(), 0, "index")).unwrap();
    fs::remove_file(seg_path(dir.path(), 0, "timeindex")).unwrap();
    fs::write(seg_path(dir.path(), 6, "timeindex"), [1, 2, 3, 4, 5]).unwrap();
    let mut bogus = Vec::new();
    bogus.extend_from_slice(&5u32.to_be_bytes());
    bogus.extend_from_slice(&999_999u32.to_be_bytes());
    fs::write(seg_path(dir.path(), 12, "index"), &bogus).unwrap();
    fs::write(seg_path(dir.path(), 18, "index"), &bogus).unwrap();

    let log = open(dir.path(), config.clone(), true);
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(read_all(&log), before);
    for o in 0..20 {
        assert_eq!(
            log.read(o, 1, i64::MAX, true).unwrap().first_batch_offset,
            o - o % 2
        );
    }
    assert_eq!(log.offset_for_timestamp(6000), Some((12, 6000, 0)));
    assert_eq!(log.offset_for_timestamp(7500), Some((16, 8000, 0)));
    // Rebuilt files were written back and are sane.
    for base in [0, 6, 12] {
        let size = fs::metadata(seg_path(dir.path(), base, "log"))
            .unwrap()
            .len();
        OffsetIndex::decode(
            base,
            &fs::read(seg_path(dir.path(), base, "index")).unwrap(),
            size,
        )
        .unwrap();
        TimeIndex::decode(
            base,
            &fs::read(seg_path(dir.path(), base, "timeindex")).unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn orphan_and_leftover_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), cfg(), true);
    log.append_as_leader(&recs(1, 0), 0, 0).unwrap();
    log.close().unwrap();
    for name in [
        "00000000000000000500.index",
        "00000000000000000500.timeindex",
        "00000000000000000007.log.deleted",
        "leader-epoch-checkpoint.tmp",
    ] {
        fs::write(dir.path().join(name), b"x").unwrap();
    }
    let log = open(dir.path(), cfg(), true);
    assert_eq!(log.log_end_offset(), 1);
    assert_eq!(
        files(dir.path()),
        vec![
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000000.timeindex",
            "leader-epoch-checkpoint"
        ]
    );
}

#[test]
fn retention_by_time_and_size() {
    let s = batch_size();
    let one_batch_segments = LogConfig {
        segment_bytes: (s + 1) as u64,
        ..cfg()
    };
    let build = |dir: &Path, config: LogConfig| {
        let mut log = open(dir, config, true);
        for i in 0..10 {
            log.append_as_leader(&recs(2, 1000 * i), 0, 0).unwrap();
        }
        assert_eq!(log.segment_count(), 10);
        log
    };

    let dir = tempfile::tempdir().unwrap();
    let mut log = build(
        dir.path(),
        LogConfig {
            retention_ms: Some(2500),
            ..one_batch_segments.clone()
        },
    );
    // Largest timestamps are 1000*i + 1: those older than 2.5 s at t=10 s go.
    assert_eq!(log.enforce_retention(10_000).unwrap(), 8);
    assert_eq!(log.segment_base_offsets(), vec![16, 18]);
    assert_eq!(log.log_start_offset(), 16);
    assert!(matches!(
        log.read(0, 100, 100, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // The active segment is never deleted, however old.
    assert_eq!(log.enforce_retention(1_000_000).unwrap(), 1);
    assert_eq!(log.segment_base_offsets(), vec![18]);
    assert!(!seg_path(dir.path(), 0, "log").exists());
    assert!(!seg_path(dir.path(), 0, "index").exists());

    let dir = tempfile::tempdir().unwrap();
    let mut log = build(
        dir.path(),
        LogConfig {
            retention_bytes: Some((3 * s + 5) as i64),
            ..one_batch_segments.clone()
        },
    );
    assert_eq!(log.enforce_retention(0).unwrap(), 6);
    assert_eq!(log.segment_count(), 4);
    assert_eq!(log.log_start_offset(), 12);
    assert_eq!(log.enforce_retention(0).unwrap(), 0);

    let dir = tempfile::tempdir().unwrap();
    let mut log = build(dir.path(), one_batch_segments);
    assert_eq!(
        log.enforce_retention(i64::MAX).unwrap(),
        0,
        "unlimited by default here"
    );
}

#[test]
fn delete_records_raises_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = batch_size();
    let config = LogConfig {
        segment_bytes: (3 * s) as u64,
        ..cfg()
    };
    let mut log = open(dir.path(), config.clone(), true);
    for _ in 0..10 {
        log.append_as_leader(&recs(2, 0), 3, 0).unwrap();
    }
    assert_eq!(log.delete_records_before(7).unwrap(), 7);
    assert_eq!(log.segment_base_offsets(), vec![6, 12, 18]);
    assert!(matches!(
        log.read(6, 100, 100, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        log.read(7, 1, i64::MAX, true).unwrap().first_batch_offset,
        6
    );
    assert_eq!(log.delete_records_before(3).unwrap(), 7, "never lowers it");
    assert!(matches!(
        log.delete_records_before(21),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.leader_epochs().entries()[0].start_offset, 7);
    drop(log);
    let mut log = open(dir.path(), config.clone(), false);
    assert_eq!(log.log_start_offset(), 7, "persisted");
    assert_eq!(log.delete_records_before(20).unwrap(), 20);
    assert_eq!(log.segment_base_offsets(), vec![18]);
    assert!(log
        .read(20, 100, i64::MAX, true)
        .unwrap()
        .records
        .is_empty());
    log.close().unwrap();
    let log = open(dir.path(), config, true);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (20, 20));
}

#[test]
fn offsets_for_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), cfg(), true);
    let a = TestBatch {
        base_timestamp: 1000,
        timestamp_deltas: vec![0, 10, 20],
        ..TestBatch::default()
    };
    let b = TestBatch {
        base_timestamp: 2000,
        timestamp_deltas: vec![5, 0],
        ..TestBatch::default()
    };
    let c = TestBatch {
        base_timestamp: 3000,
        timestamp_deltas: vec![0, 50],
        compression: 1,
        ..TestBatch::default()
    };
    log.append_as_leader(&a.encode(), 4, 0).unwrap();
    log.append_as_leader(&b.encode(), 4, 0).unwrap();
    assert_eq!(
        log.max_timestamp(),
        Some((3, 2005)),
        "exact record in an uncompressed batch"
    );
    log.append_as_leader(&c.encode(), 6, 0).unwrap();
    type Found = Option<(i64, i64, i32)>;
    let cases: &[(i64, Found)] = &[
        (0, Some((0, 1000, 4))),
        (1000, Some((0, 1000, 4))),
        (1001, Some((1, 1010, 4))),
        (1020, Some((2, 1020, 4))),
        (1021, Some((3, 2005, 4))),
        (2005, Some((3, 2005, 4))),
        // Compressed: the batch's first offset and max timestamp.
        (2006, Some((5, 3050, 6))),
        (3050, Some((5, 3050, 6))),
        (3051, None),
    ];
    for &(ts, expect) in cases {
        assert_eq!(log.offset_for_timestamp(ts), expect, "ts {ts}");
    }
    assert_eq!(
        log.max_timestamp(),
        Some((6, 3050)),
        "compressed: the batch's last offset"
    );
    // Records below the log start are never answered.
    log.delete_records_before(2).unwrap();
    assert_eq!(log.offset_for_timestamp(0), Some((2, 1020, 4)));
    let empty = tempfile::tempdir().unwrap();
    let log = open(empty.path(), cfg(), true);
    assert_eq!(log.offset_for_timestamp(0), None);
    assert_eq!(log.max_timestamp(), None);
}

#[test]
fn offsets_for_timestamps_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let s = batch_size();
    let config = LogConfig {
        segment_bytes: (4 * s) as u64,
        index_interval_bytes: 1,
        ..cfg()
    };
    let mut log = open(dir.path(), config.clone(), true);
    for i in 0..20 {
        log.append_as_leader(&recs(2, 100 * i), 0, 0).unwrap();
    }
    assert!(log.segment_count() > 4);
    log.close().unwrap();
    let log = open(dir.path(), config, true);
    for i in 0..20i64 {
        assert_eq!(log.offset_for_timestamp(100 * i), Some((2 * i, 100 * i, 0)));
        assert_eq!(
            log.offset_for_timestamp(100 * i + 1),
            Some((2 * i + 1, 100 * i + 1, 0))
        );
    }
    assert_eq!(log.offset_for_timestamp(1902), None);
    assert_eq!(log.max_timestamp(), Some((39, 1901)));
}

#[test]
fn log_append_time_restamps_and_recomputes_the_crc() {
    use kafka_protocol::records::{RecordBatchDecoder, TimestampType as KTimestampType};
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..cfg()
    };
    let mut log = open(dir.path(), config, true);
    let info = log
        .append_as_leader(&concat(&[recs(3, 1000), recs(2, 1000)]), 0, 50_000)
        .unwrap();
    assert_eq!((info.log_append_time, info.max_timestamp), (50_000, 50_000));
    let r = log.read(0, usize::MAX, i64::MAX, false).unwrap();
    for h in parse(&r.records) {
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!((h.max_timestamp, h.base_timestamp), (50_000, 1000));
    }
    let mut bytes = r.records.clone();
    let sets = RecordBatchDecoder::decode_all(&mut bytes).expect("kafka-protocol accepts the CRC");
    let records: Vec<_> = sets.iter().flat_map(|s| s.records.iter()).collect();
    assert_eq!(records.len(), 5);
    // (kafka-protocol reads record times as base + delta; Java clients, and
    // `batch::records`, read a LogAppendTime batch's maxTimestamp.)
    assert!(records
        .iter()
        .all(|r| r.timestamp_type == KTimestampType::LogAppend));
    for (start, h) in batch::batches(&r.records).map(Result::unwrap) {
        let times: Vec<i64> = batch::records(&r.records[start..start + h.size()], &h)
            .unwrap()
            .map(|m| m.unwrap().timestamp)
            .collect();
        assert!(times.iter().all(|t| *t == 50_000), "{times:?}");
    }
    assert_eq!(
        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(log.offset_for_timestamp(40_000), Some((0, 50_000, 0)));
    assert_eq!(log.max_timestamp(), Some((0, 50_000)));
}

#[test]
fn create_time_clears_a_client_log_append_bit() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), cfg(), true);
    let mut b = recs(2, 1000);
    batch::set_timestamp(&mut b, TimestampType::LogAppendTime, 7);
    log.append_as_leader(&b, 0, 99).unwrap();
    let h = read_all(&log)[0];
    assert_eq!(
        (h.timestamp_type(), h.max_timestamp),
        (TimestampType::CreateTime, 7)
    );
}

#[test]
fn rejects_bad_produce_requests_without_writing() {
    let good = recs(2, 0);
    let v1_message = {
        // offset, size, crc, magic 1, attributes, timestamp, key -1, value "abc"
        let mut m = vec![0u8; 8];
        let body_len: i32 = 4 + 1 + 1 + 8 + 4 + 4 + 3;
        m.extend_from_slice(&body_len.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0, 1, 0]);
        m.extend_from_slice(&0i64.to_be_bytes());
        m.extend_from_slice(&(-1i32).to_be_bytes());
        m.extend_from_slice(&3i32.to_be_bytes());
        m.extend_from_slice(b"abc");
        m
    };
    let mut v0_message = v1_message.clone();
    v0_message[16] = 0;
    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 0xff;
    let mut nonzero_base = good.clone();
    batch::set_base_offset(&mut nonzero_base, 42);
    let control = TestBatch {
        attributes_extra: 0x20,
        ..TestBatch::records(1)
    }
    .encode();
    let big = TestBatch {
        value_size: 300,
        ..TestBatch::records(1)
    }
    .encode();

    type Check = fn(&LogError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("magic 1", v1_message.clone(), |e| {
            matches!(e, LogError::UnsupportedMagic { magic: 1 })
        }),
        ("magic 0", v0_message, |e| {
            matches!(e, LogError::UnsupportedMagic { magic: 0 })
        }),
        (
            "v2 then magic 1",
            concat(&[good.clone(), v1_message]),
            |e| matches!(e, LogError::UnsupportedMagic { magic: 1 }),
        ),
        (
            "bad crc after a good batch",
            concat(&[good.clone(), bad_crc]),
            |e| matches!(e, LogError::CorruptRecord { .. }),
        ),
        (
            "partial trailing batch",
            concat(&[good.clone(), good[..30].to_vec()]),
            |e| matches!(e, LogError::CorruptRecord { .. }),
        ),
        ("non-zero base offset", nonzero_base, |e| {
            matches!(e, LogError::InvalidRecord { .. })
        }),
        ("control batch from a client", control, |e| {
            matches!(e, LogError::InvalidRecord { .. })
        }),
        ("too large", big, |e| {
            matches!(e, LogError::MessageTooLarge { max: 200, .. })
        }),
    ];
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_message_bytes: 200,
        ..cfg()
    };
    let mut log = open(dir.path(), config, true);
    log.append_as_leader(&good, 0, 0).unwrap();
    for (name, request, check) in cases {
        let err = log.append_as_leader(&request, 0, 0).expect_err(name);
        assert!(check(&err), "{name}: {err}");
        assert_eq!(log.log_end_offset(), 2, "{name}: nothing appended");
        assert_eq!(log.size_bytes() as usize, good.len(), "{name}");
    }
    let empty = log.append_as_leader(&[], 0, 0).unwrap();
    assert_eq!((empty.base_offset, empty.record_count), (-1, 0));
}

#[test]
fn compressed_batches_are_stored_as_received() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), cfg(), true);
    for codec in 1..=4u8 {
        let b = TestBatch {
            compression: codec,
            ..TestBatch::records(5)
        }
        .encode();
        let info = log.append_as_leader(&b, 2, 0).unwrap();
        let r = log
            .read(info.base_offset, usize::MAX, i64::MAX, false)
            .unwrap();
        assert_eq!(&r.records[16..], &b[16..], "codec {codec}");
        assert_eq!(parse(&r.records)[0].compression(), codec);
    }
    assert_eq!(log.log_end_offset(), 20);
    let unknown = TestBatch {
        compression: 5,
        ..TestBatch::records(1)
    }
    .encode();
    assert!(matches!(
        log.append_as_leader(&unknown, 2, 0),
        Err(LogError::InvalidRecord { .. })
    ));
}

#[test]
fn follower_appends_keep_offsets_and_epochs() {
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), cfg(), true);
    leader.append_as_leader(&recs(3, 0), 1, 0).unwrap();
    leader.append_as_leader(&recs(2, 0), 1, 0).unwrap();
    leader.append_as_leader(&recs(4, 0), 3, 0).unwrap();
    let data = leader.read(0, usize::MAX, i64::MAX, false).unwrap().records;

    let dir = tempfile::tempdir().unwrap();
    let mut follower = open(dir.path(), cfg(), true);
    let info = follower.append_as_follower(&data).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (0, 8, 9)
    );
    assert_eq!(read_all(&follower), read_all(&leader));
    let cases = [
        (0, (0, 0)),
        (1, (1, 5)),
        (2, (1, 5)),
        (3, (3, 9)),
        (4, (-1, -1)),
        (-1, (-1, -1)),
    ];
    for (epoch, expect) in cases {
        assert_eq!(
            follower.leader_epoch_end_offset(epoch),
            expect,
            "epoch {epoch}"
        );
        assert_eq!(
            leader.leader_epoch_end_offset(epoch),
            expect,
            "leader, epoch {epoch}"
        );
    }
    assert!(matches!(
        follower.append_as_follower(&data),
        Err(LogError::UnexpectedAppendOffset {
            first_offset: 0,
            log_end_offset: 9
        })
    ));
    // Gaps (compacted leaders) are fine; going backwards is not.
    let mut later = recs(1, 0);
    batch::set_base_offset(&mut later, 100);
    follower.append_as_follower(&later).unwrap();
    assert_eq!(follower.log_end_offset(), 101);
    let (mut ahead, mut back) = (recs(1, 0), recs(1, 0));
    batch::set_base_offset(&mut ahead, 200);
    batch::set_base_offset(&mut back, 150);
    assert!(matches!(
        follower.append_as_follower(&concat(&[ahead, back])),
        Err(LogError::UnexpectedAppendOffset {
            first_offset: 150,
            ..
        })
    ));
    assert_eq!(follower.log_end_offset(), 101);
    drop(follower);
    let follower = open(dir.path(), cfg(), false);
    assert_eq!(follower.log_end_offset(), 101);
    assert_eq!(
        follower.leader_epoch_end_offset(1),
        (1, 5),
        "epochs persisted"
    );
}

#[test]
fn truncation_for_replication() {
    let dir = tempfile::tempdir().unwrap();
    let s = batch_size();
    let config = LogConfig {
        segment_bytes: (3 * s) as u64,
        index_interval_bytes: 1,
        ..cfg()
    };
    let mut log = open(dir.path(), config.clone(), true);
    for i in 0..10 {
        log.append_as_leader(&recs(2, i), if i < 5 { 1 } else { 2 }, 0)
            .unwrap();
    }
    assert_eq!(log.leader_epoch_end_offset(1), (1, 10));
    log.truncate_to(25).unwrap();
    assert_eq!(log.log_end_offset(), 20, "no-op past the end");
    log.truncate_to(14).unwrap();
    assert_eq!(log.log_end_offset(), 14);
    assert_eq!(log.segment_base_offsets(), vec![0, 6, 12]);
    assert_eq!(
        log.append_as_leader(&recs(2, 0), 2, 0).unwrap().base_offset,
        14
    );
    log.truncate_to(13).unwrap();
    assert_eq!(
        log.log_end_offset(),
        12,
        "the batch holding 13 goes entirely"
    );
    log.truncate_to(8).unwrap();
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(log.segment_base_offsets(), vec![0, 6]);
    assert_eq!(
        log.leader_epoch_end_offset(2),
        (-1, -1),
        "epoch 2 started at 10 and is gone"
    );
    assert_eq!(log.leader_epoch_end_offset(1), (1, 8));
    assert!(!seg_path(dir.path(), 12, "log").exists());
    assert_eq!(read_all(&log).len(), 4);
    drop(log);
    let mut log = open(dir.path(), config.clone(), false);
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(
        log.read(7, 1, i64::MAX, true).unwrap().first_batch_offset,
        6
    );
    log.truncate_fully_and_start_at(50).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 50));
    assert_eq!(
        log.append_as_leader(&recs(1, 0), 3, 0).unwrap().base_offset,
        50
    );
    log.close().unwrap();
    let log = open(dir.path(), config, true);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 51));
}

#[test]
fn flush_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_interval_messages: Some(3),
        flush_interval_ms: Some(1000),
        ..cfg()
    };
    let mut log = open(dir.path(), config, true);
    log.append_as_leader(&recs(2, 0), 0, 0).unwrap();
    assert!(!log.maybe_flush(500).unwrap());
    assert!(log.maybe_flush(1000).unwrap());
    assert!(!log.maybe_flush(5000).unwrap(), "nothing new to flush");
    log.append_as_leader(&recs(3, 0), 0, 5000).unwrap();
    assert!(
        !log.maybe_flush(5001).unwrap(),
        "the append flushed by count"
    );
}

#[test]
fn hostile_produce_requests_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 64,
        ..cfg()
    };
    let mut log = open(dir.path(), config.clone(), true);
    let good = concat(&[
        recs(3, 0),
        recs(1, 5),
        TestBatch {
            compression: 2,
            ..TestBatch::records(4)
        }
        .encode(),
    ]);
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut accepted = 0;
    for _ in 0..3000 {
        let mut req = good.clone();
        for _ in 0..(next() % 3) {
            let i = next() as usize % req.len();
            req[i] = next() as u8;
        }
        if next() % 4 == 0 {
            req.truncate(next() as usize % req.len());
        }
        if log.append_as_leader(&req, 0, 0).is_ok() {
            accepted += 1;
        }
        let _ = log.append_as_follower(&req);
    }
    assert!(accepted > 0);
    let all = read_all(&log);
    let mut next_offset = 0;
    for h in &all {
        assert!(h.base_offset >= next_offset);
        next_offset = h.next_offset();
    }
    assert_eq!(next_offset, log.log_end_offset());
    drop(log);
    let log = open(dir.path(), config, false);
    assert_eq!(log.log_end_offset(), next_offset);
}

#[test]
fn leader_epochs_persist() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), cfg(), true);
    log.append_as_leader(&recs(2, 0), 2, 0).unwrap();
    log.append_as_leader(&recs(2, 0), 2, 0).unwrap();
    log.append_as_leader(&recs(2, 0), 5, 0).unwrap();
    log.close().unwrap();
    let text = fs::read_to_string(dir.path().join("leader-epoch-checkpoint")).unwrap();
    assert_eq!(text, "0\n2\n2 0\n5 4\n");
    let log = open(dir.path(), cfg(), true);
    assert_eq!(log.leader_epoch_end_offset(3), (2, 4));
    assert_eq!(log.latest_epoch(), Some(5));
}

fn count_fds() -> usize {
    fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[test]
fn ten_thousand_partitions_open_quickly_without_holding_files() {
    let root = tempfile::tempdir().unwrap();
    let dirs = vec![root.path().join("d1"), root.path().join("d2")];
    for (d, dir) in dirs.iter().enumerate() {
        fs::create_dir_all(dir).unwrap();
        for p in 0..5000 {
            let part = dir.join(format!("topic-{d}-{p}"));
            fs::create_dir(&part).unwrap();
            fs::write(part.join("00000000000000000000.log"), b"").unwrap();
        }
        fs::write(dir.join(CLEAN_SHUTDOWN_FILE), b"").unwrap();
    }
    // A few with data, written the normal way.
    for p in 0..3 {
        let mut log = open(&dirs[0].join(format!("topic-0-{p}")), cfg(), true);
        log.append_as_leader(&recs(3, 0), 0, 0).unwrap();
        log.close().unwrap();
    }

    let fds_before = count_fds();
    let started = Instant::now();
    let mut manager = LogManager::open_with(&dirs, cfg(), 2).unwrap();
    let elapsed = started.elapsed();
    let fds_after = count_fds();
    eprintln!("opened 10,000 partitions in {elapsed:?}; descriptors {fds_before} -> {fds_after}");
    assert!(elapsed.as_secs() < 30, "{elapsed:?}");
    assert!(fds_after < fds_before + 200, "{fds_before} -> {fds_after}");
    assert_eq!(manager.partitions().len(), 10_000);
    assert!(!dirs[0].join(CLEAN_SHUTDOWN_FILE).exists());

    let mut log = manager.open_or_create("topic-0", 1, cfg()).unwrap();
    assert_eq!(log.log_end_offset(), 3);
    log.append_as_leader(&recs(1, 0), 0, 0).unwrap();
    assert_eq!(read_all(&log).len(), 2);
    let idle = manager.open_or_create("topic-1", 4999, cfg()).unwrap();
    assert_eq!(idle.read(0, 100, 100, true).unwrap().records, Bytes::new());
}

#[test]
fn high_watermarks_are_checkpointed_per_log_dir() {
    let root = tempfile::tempdir().unwrap();
    let dirs = vec![root.path().join("a"), root.path().join("b")];
    let mut manager = LogManager::open(&dirs, cfg()).unwrap();
    let t0 = manager.open_or_create("t", 0, cfg()).unwrap();
    let t1 = manager.open_or_create("t", 1, cfg()).unwrap();
    let hws = [
        (TopicPartition::new("t", 0), 10),
        (TopicPartition::new("t", 1), 20),
        (TopicPartition::new("elsewhere", 0), 30),
    ];
    let files = manager.high_watermark_checkpoints(&hws);
    assert_eq!(
        files,
        vec![
            (dirs[0].clone(), "0\n1\nt 0 10\n".to_string()),
            (dirs[1].clone(), "0\n1\nt 1 20\n".to_string()),
        ]
    );
    for (dir, text) in &files {
        checkpoint::write_atomically(dir, checkpoint::HIGH_WATERMARK_FILE, text.as_bytes())
            .unwrap();
    }
    drop((t0, t1));
    manager.shutdown().unwrap();
    drop(manager);
    let mut manager = LogManager::open(&dirs, cfg()).unwrap();
    assert_eq!(manager.take_high_watermark("t", 0), Some(10));
    assert_eq!(manager.take_high_watermark("t", 0), None, "taken once");
    assert_eq!(manager.take_high_watermark("t", 1), Some(20));
    // A damaged checkpoint is ignored, not fatal.
    manager.shutdown().unwrap();
    drop(manager);
    fs::write(dirs[0].join(checkpoint::HIGH_WATERMARK_FILE), "0\n3\nt 0\n").unwrap();
    let mut manager = LogManager::open(&dirs, cfg()).unwrap();
    assert_eq!(manager.take_high_watermark("t", 0), None);
    assert_eq!(manager.take_high_watermark("t", 1), Some(20));
}

#[test]
fn log_manager_lifecycle() {
    let root = tempfile::tempdir().unwrap();
    let dirs = vec![root.path().join("a"), root.path().join("b")];
    fs::create_dir_all(dirs[0].join("gone-0.0123456789abcdef0123456789abcdef-delete")).unwrap();
    let mut manager = LogManager::open(&dirs, cfg()).unwrap();
    assert!(!dirs[0]
        .join("gone-0.0123456789abcdef0123456789abcdef-delete")
        .exists());

    let mut t0 = manager.open_or_create("t", 0, cfg()).unwrap();
    let t1 = manager.open_or_create("t", 1, cfg()).unwrap();
    let t2 = manager.open_or_create("my-topic", 2, cfg()).unwrap();
    assert_eq!(t0.dir(), dirs[0].join("t-0"));
    assert_eq!(t1.dir(), dirs[1].join("t-1"), "the emptier directory");
    assert_eq!(t2.dir(), dirs[0].join("my-topic-2"));
    assert!(matches!(
        manager.open_or_create("t", 0, cfg()),
        Err(LogError::InUse { .. })
    ));
    assert!(manager.open_or_create("../x", 0, cfg()).is_err());
    t0.append_as_leader(&recs(2, 0), 0, 0).unwrap();
    drop(t0);
    let retention = LogConfig {
        retention_ms: Some(5),
        ..cfg()
    };
    let t0 = manager.open_or_create("t", 0, retention.clone()).unwrap();
    assert_eq!(t0.log_end_offset(), 2, "reopened after being dropped");
    assert_eq!(t0.config(), &retention);

    drop(t1);
    assert!(manager.delete("t", 1).unwrap());
    assert!(!manager.delete("t", 1).unwrap());
    assert_eq!(
        files(&dirs[1]),
        vec![".lock".to_string()],
        "only the lock is left"
    );

    t0.close().unwrap();
    t2.close().unwrap();
    manager.shutdown().unwrap();
    for d in &dirs {
        assert!(d.join(CLEAN_SHUTDOWN_FILE).exists());
    }

    // Damage the tail: a clean start trusts it, an unclean one recovers.
    let log_file = dirs[0].join("t-0").join("00000000000000000000.log");
    let len = fs::metadata(&log_file).unwrap().len();
    flip(&log_file, len - 2);
    let mut manager = LogManager::open(&dirs, cfg()).unwrap();
    assert_eq!(
        manager.partitions(),
        vec![
            TopicPartition::new("my-topic", 2),
            TopicPartition::new("t", 0)
        ]
    );
    let t0 = manager.open_or_create("t", 0, cfg()).unwrap();
    assert_eq!(t0.log_end_offset(), 2);
    drop(t0);
    drop(manager); // a crash: no marker
    let mut manager = LogManager::open_with(&dirs, cfg(), 4).unwrap();
    let t0 = manager.open_or_create("t", 0, cfg()).unwrap();
    assert_eq!(t0.log_end_offset(), 0, "recovered");
}

fn set_len(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn flip(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

fn append_bytes(path: &Path, extra: &[u8]) {
    use std::io::Write;
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(extra)
        .unwrap();
}

#[test]
fn logs_are_shareable_across_threads() {
    fn check<T: Send + Sync>() {}
    check::<PartitionLog>();
    check::<LogManager>();
}

#[test]
fn coordinators_may_write_control_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), cfg(), true);
    let marker = TestBatch {
        attributes_extra: 0x30, // transactional control batch
        producer_id: 7,
        base_sequence: -1,
        ..TestBatch::records(1)
    }
    .encode();
    assert!(log.append_as_leader(&marker, 0, 0).is_err());
    let info = log.append_as_coordinator(&marker, 0, 0).unwrap();
    assert_eq!(info.base_offset, 0);
    assert!(read_all(&log)[0].is_control());
}

#[test]
fn offsets_near_the_top_of_the_range_do_not_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), cfg(), true);
    let top = i64::MAX - 10;
    let mut b = recs(3, 0);
    batch::set_base_offset(&mut b, top);
    log.append_as_follower(&b).unwrap();
    assert_eq!(log.log_end_offset(), top + 3);
    assert_eq!(log.segment_base_offsets(), vec![top]);
    let r = log.read(top + 1, 100, i64::MAX, true).unwrap();
    assert_eq!(r.first_batch_offset, top);
    assert_eq!(log.offset_for_timestamp(0), Some((top, 0, -1)));
    assert!(
        log.append_as_leader(&recs(20, 0), 0, 0).is_err(),
        "would pass i64::MAX"
    );
    // A batch ending exactly at i64::MAX saturates instead of overflowing.
    let mut last = recs(5, 0);
    batch::set_base_offset(&mut last, i64::MAX - 4);
    log.append_as_follower(&last).unwrap();
    assert_eq!(log.log_end_offset(), i64::MAX);
    assert!(log.append_as_follower(&last).is_err());
    log.close().unwrap();
    let log = open(dir.path(), cfg(), false);
    assert_eq!(log.log_end_offset(), i64::MAX);
}

#[test]
fn a_log_dir_serves_one_broker_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = vec![dir.path().to_path_buf()];
    let first = LogManager::open(&dirs, cfg()).unwrap();
    let err = LogManager::open(&dirs, cfg()).unwrap_err().to_string();
    assert!(
        err.contains("Failed to acquire lock on file .lock"),
        "a second broker on the same directory is refused: {err}"
    );
    drop(first);
    LogManager::open(&dirs, cfg()).expect("the lock goes with the broker");
}
