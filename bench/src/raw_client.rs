//! A minimal pipelined ZooKeeper wire-protocol client for the benchmark's `--client raw` mode.
//!
//! It exists to check whether `zookeeper-client` limits the measured throughput: one task per
//! session, the writer batching as many requests as the in-flight window allows into one
//! `write`, the reader matching replies in order (ZooKeeper answers a session's requests in
//! the order they were sent). It speaks only what the benchmark needs: connect, create2,
//! setData, getData and closeSession.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::{Phase, SessionOutcome};

const OP_GET_DATA: i32 = 4;
const OP_SET_DATA: i32 = 5;
const OP_CREATE2: i32 = 15;
const OP_CLOSE_SESSION: i32 = -11;
/// perms ALL, scheme "world", id "anyone".
const PERMS_ALL: i32 = 31;

pub struct RawSession {
    stream: TcpStream,
    next_xid: i32,
}

fn put_i32(b: &mut Vec<u8>, v: i32) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn put_i64(b: &mut Vec<u8>, v: i64) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn put_bytes(b: &mut Vec<u8>, v: &[u8]) {
    put_i32(b, v.len() as i32);
    b.extend_from_slice(v);
}

/// Append one length-prefixed frame built by `body`.
fn frame(b: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = b.len();
    put_i32(b, 0);
    body(b);
    let len = (b.len() - at - 4) as i32;
    b[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// ZooKeeper's name for a reply error code (KeeperException.Code).
fn error_name(code: i32) -> String {
    let name = match code {
        -4 => "ConnectionLoss",
        -5 => "MarshallingError",
        -6 => "Unimplemented",
        -7 => "OperationTimeout",
        -8 => "BadArguments",
        -14 => "RequestTimeout",
        -101 => "NoNode",
        -102 => "NoAuth",
        -103 => "BadVersion",
        -110 => "NodeExists",
        -112 => "SessionExpired",
        -114 => "InvalidACL",
        -118 => "SessionMoved",
        -123 => "Throttled",
        _ => "",
    };
    format!("server error {code} {name}").trim_end().to_string()
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl RawSession {
    pub async fn connect(addr: SocketAddr, session_timeout: Duration) -> Result<RawSession> {
        let mut stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let mut b = Vec::new();
        frame(&mut b, |b| {
            put_i32(b, 0); // protocolVersion
            put_i64(b, 0); // lastZxidSeen
            put_i32(b, session_timeout.as_millis() as i32);
            put_i64(b, 0); // sessionId
            put_bytes(b, &[0; 16]); // passwd
            b.push(0); // readOnly
        });
        stream.write_all(&b).await?;
        let len = stream.read_i32().await?;
        if !(20..1 << 20).contains(&len) {
            bail!("bad connect response length {len}");
        }
        let mut resp = vec![0; len as usize];
        stream.read_exact(&mut resp).await?;
        let timeout = be_i32(&resp, 4).unwrap_or(0);
        let session_id = i64::from_be_bytes(resp[8..16].try_into()?);
        if timeout <= 0 || session_id == 0 {
            bail!("session refused (timeout {timeout}, session id {session_id:#x})");
        }
        Ok(RawSession {
            stream,
            next_xid: 1,
        })
    }

    pub async fn close(mut self) {
        let mut b = Vec::new();
        frame(&mut b, |b| {
            put_i32(b, self.next_xid);
            put_i32(b, OP_CLOSE_SESSION);
        });
        let _ = self.stream.write_all(&b).await;
        let mut buf = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_secs(2), self.stream.read(&mut buf)).await;
    }

    /// Issue `phase` on each of `paths`, `inflight` outstanding.
    pub async fn run(
        &mut self,
        phase: Phase,
        paths: &[String],
        value: &[u8],
        inflight: usize,
    ) -> SessionOutcome {
        let n = paths.len();
        let first_xid = self.next_xid;
        self.next_xid += n as i32;
        let window = Semaphore::new(inflight);
        let sent: Mutex<VecDeque<Instant>> = Mutex::new(VecDeque::with_capacity(inflight));
        let (rd, mut wr) = self.stream.split();

        let writer = async {
            let mut buf = Vec::with_capacity(inflight * (value.len() + 128));
            let mut next = 0;
            while next < n {
                let Ok(permit) = window.acquire().await else {
                    break;
                };
                permit.forget();
                let mut batch = 1;
                while next + batch < n {
                    match window.try_acquire() {
                        Ok(p) => {
                            p.forget();
                            batch += 1;
                        }
                        Err(_) => break,
                    }
                }
                buf.clear();
                for (i, path) in paths.iter().enumerate().skip(next).take(batch) {
                    let xid = first_xid + i as i32;
                    frame(&mut buf, |b| {
                        put_i32(b, xid);
                        match phase {
                            Phase::Create => {
                                put_i32(b, OP_CREATE2);
                                put_bytes(b, path.as_bytes());
                                put_bytes(b, value);
                                put_i32(b, 1); // one ACL
                                put_i32(b, PERMS_ALL);
                                put_bytes(b, b"world");
                                put_bytes(b, b"anyone");
                                put_i32(b, 0); // persistent
                            }
                            Phase::Set => {
                                put_i32(b, OP_SET_DATA);
                                put_bytes(b, path.as_bytes());
                                put_bytes(b, value);
                                put_i32(b, -1); // any version
                            }
                            Phase::Get => {
                                put_i32(b, OP_GET_DATA);
                                put_bytes(b, path.as_bytes());
                                b.push(0); // no watch
                            }
                        }
                    });
                }
                {
                    let now = Instant::now();
                    let mut q = sent.lock().unwrap();
                    for _ in 0..batch {
                        q.push_back(now);
                    }
                }
                next += batch;
                wr.write_all(&buf).await?;
            }
            Ok::<(), std::io::Error>(())
        };

        let reader = async {
            let mut out = SessionOutcome {
                ok: 0,
                latencies_us: Vec::with_capacity(n),
                errors: BTreeMap::new(),
            };
            let mut rd = BufReader::with_capacity(256 * 1024, rd);
            let mut body = Vec::new();
            let mut expect = first_xid;
            while out.latencies_us.len() < n {
                let len = match rd.read_i32().await {
                    Ok(l) if (16..64 << 20).contains(&l) => l as usize,
                    Ok(l) => {
                        *out.errors
                            .entry(format!("bad reply length {l}"))
                            .or_insert(0) += 1;
                        break;
                    }
                    Err(e) => {
                        *out.errors.entry(format!("connection: {e}")).or_insert(0) += 1;
                        break;
                    }
                };
                body.resize(len, 0);
                if let Err(e) = rd.read_exact(&mut body).await {
                    *out.errors.entry(format!("connection: {e}")).or_insert(0) += 1;
                    break;
                }
                let xid = be_i32(&body, 0).unwrap_or(0);
                if xid < 0 {
                    continue; // watch event (-1) or ping reply (-2): not ours
                }
                let t0 = sent.lock().unwrap().pop_front();
                window.add_permits(1);
                let latency = t0.map_or(Duration::ZERO, |t| t.elapsed());
                out.latencies_us
                    .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                let err = be_i32(&body, 12).unwrap_or(0);
                if xid != expect {
                    *out.errors
                        .entry(format!("reply xid {xid}, expected {expect}"))
                        .or_insert(0) += 1;
                } else if err != 0 {
                    *out.errors.entry(error_name(err)).or_insert(0) += 1;
                } else if phase == Phase::Get && be_i32(&body, 16) != Some(value.len() as i32) {
                    *out.errors
                        .entry("get returned wrong data length".into())
                        .or_insert(0) += 1;
                } else {
                    out.ok += 1;
                }
                expect = xid + 1;
            }
            if out.latencies_us.len() < n {
                window.close();
            }
            out
        };

        let (written, mut out) = tokio::join!(writer, reader);
        if let Err(e) = written {
            *out.errors.entry(format!("write: {e}")).or_insert(0) += 1;
        }
        let missing = n - out.latencies_us.len();
        if missing > 0 {
            *out.errors
                .entry("no reply (connection failed)".into())
                .or_insert(0) += missing as u64;
        }
        out
    }
}
