//! The transaction log: append-only files of CRC-framed transactions.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::BufMut;

use super::{io_err, PersistError};
use crate::txn::Txn;

const MAGIC: &[u8; 4] = b"RLOG";
const VERSION: u32 = 1;
const HEADER_LEN: u64 = 16;
const PREALLOC: u64 = 64 * 1024 * 1024;

/// Appends a framed record for `txn` to `buf` (done by the caller's thread so
/// the writer thread only writes and syncs).
pub fn frame(txn: &Txn, buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.put_u32(0);
    buf.put_u32(0);
    txn.encode(buf);
    let len = (buf.len() - start - 8) as u32;
    buf[start + 4..start + 8].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&buf[start + 4..]);
    buf[start..start + 4].copy_from_slice(&crc.to_be_bytes());
}

/// An open log file being appended to.
pub struct LogWriter {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    pos: u64,
    allocated: u64,
    force_sync: bool,
}

impl LogWriter {
    /// Opens a new log file whose first transaction will be `first_zxid`.
    pub fn create(dir: &Path, first_zxid: i64, force_sync: bool) -> Result<Self, PersistError> {
        let path = dir.join(format!("log.{first_zxid:x}"));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.put_slice(MAGIC);
        header.put_u32(VERSION);
        header.put_i64(first_zxid);
        file.write_all(&header).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        sync_dir(dir)?;
        Ok(LogWriter {
            dir: dir.to_owned(),
            file,
            path,
            pos: HEADER_LEN,
            allocated: HEADER_LEN,
            force_sync,
        })
    }

    /// Writes framed records and makes them durable before returning.
    pub fn append(&mut self, framed: &[u8]) -> Result<(), PersistError> {
        let end = self.pos + framed.len() as u64;
        if end > self.allocated {
            self.allocated = end + PREALLOC;
            self.file
                .set_len(self.allocated)
                .map_err(io_err(&self.path))?;
        }
        self.file.write_all(framed).map_err(io_err(&self.path))?;
        self.pos = end;
        if self.force_sync {
            self.file.sync_data().map_err(io_err(&self.path))?;
        }
        Ok(())
    }

    /// Bytes of records written to this file.
    pub fn size(&self) -> u64 {
        self.pos
    }

    /// Closes this file (trimming the preallocation) and starts the next.
    pub fn roll(&mut self, first_zxid: i64) -> Result<(), PersistError> {
        self.file.set_len(self.pos).map_err(io_err(&self.path))?;
        self.file.sync_all().map_err(io_err(&self.path))?;
        *self = LogWriter::create(&self.dir.clone(), first_zxid, self.force_sync)?;
        Ok(())
    }

    /// Trims the preallocated tail on clean shutdown.
    pub fn close(self) -> Result<(), PersistError> {
        self.file.set_len(self.pos).map_err(io_err(&self.path))?;
        self.file.sync_all().map_err(io_err(&self.path))
    }
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), PersistError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// How reading a log file ended.
pub struct ReadOutcome {
    /// Offset of the first invalid record, if the file does not end cleanly.
    pub corrupt_at: Option<u64>,
    pub reason: String,
}

/// Calls `f` for every valid record; stops at the end or at the first invalid one.
pub fn read_records(path: &Path, mut f: impl FnMut(Txn)) -> Result<ReadOutcome, PersistError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .map_err(io_err(path))?;
    if bytes.len() < HEADER_LEN as usize || &bytes[..4] != MAGIC {
        return Ok(ReadOutcome {
            corrupt_at: Some(0),
            reason: "missing or bad header".into(),
        });
    }
    let mut pos = HEADER_LEN as usize;
    loop {
        let rest = &bytes[pos..];
        if rest.iter().all(|b| *b == 0) {
            return Ok(ReadOutcome {
                corrupt_at: None,
                reason: String::new(),
            });
        }
        let bad = |reason: &str| ReadOutcome {
            corrupt_at: Some(pos as u64),
            reason: reason.to_owned(),
        };
        if rest.len() < 8 {
            return Ok(bad("partial record header"));
        }
        let crc = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if len == 0 || rest.len() < 8 + len {
            return Ok(bad("partial record"));
        }
        if crc32c::crc32c(&rest[4..8 + len]) != crc {
            return Ok(bad("checksum mismatch"));
        }
        match Txn::decode(&rest[8..8 + len]) {
            Ok(txn) => f(txn),
            Err(_) => return Ok(bad("undecodable record")),
        }
        pos += 8 + len;
    }
}

/// Cuts a log file at `offset` (a torn tail).
pub fn truncate(path: &Path, offset: u64) -> Result<(), PersistError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    let offset = offset.max(HEADER_LEN);
    file.set_len(offset).map_err(io_err(path))?;
    let mut file = file;
    file.seek(SeekFrom::End(0)).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::TxnKind;

    fn txn(zxid: i64) -> Txn {
        Txn {
            zxid,
            time: zxid * 10,
            session: 1,
            kind: TxnKind::CloseSession,
        }
    }

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rill-log-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn appends_and_reads_back_through_preallocation() {
        let dir = tmp("rw");
        let mut w = LogWriter::create(&dir, 1, false).unwrap();
        let mut buf = Vec::new();
        for z in 1..=3 {
            frame(&txn(z), &mut buf);
        }
        w.append(&buf).unwrap();
        let mut got = Vec::new();
        let out = read_records(&dir.join("log.1"), |t| got.push(t.zxid)).unwrap();
        assert!(out.corrupt_at.is_none());
        assert_eq!(got, vec![1, 2, 3]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn torn_tail_is_detected() {
        let dir = tmp("torn");
        let mut w = LogWriter::create(&dir, 1, false).unwrap();
        let mut buf = Vec::new();
        frame(&txn(1), &mut buf);
        let good_end = HEADER_LEN + buf.len() as u64;
        frame(&txn(2), &mut buf);
        buf.truncate(buf.len() - 3);
        w.append(&buf).unwrap();
        w.close().unwrap();
        let path = dir.join("log.1");
        let mut got = Vec::new();
        let out = read_records(&path, |t| got.push(t.zxid)).unwrap();
        assert_eq!(got, vec![1]);
        assert_eq!(out.corrupt_at, Some(good_end));
        truncate(&path, good_end).unwrap();
        assert!(read_records(&path, |_| {}).unwrap().corrupt_at.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flipped_bit_is_detected() {
        let dir = tmp("crc");
        let mut w = LogWriter::create(&dir, 1, false).unwrap();
        let mut buf = Vec::new();
        frame(&txn(1), &mut buf);
        let n = buf.len();
        buf[n - 1] ^= 1;
        w.append(&buf).unwrap();
        let out = read_records(&dir.join("log.1"), |_| panic!("corrupt record applied")).unwrap();
        assert_eq!(out.corrupt_at, Some(HEADER_LEN));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
