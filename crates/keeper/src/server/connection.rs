//! One client connection: frames in, frames out. Check, then parse: an
//! incomplete frame just waits for more bytes; a bad frame closes only this
//! connection.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::core::{CoreMsg, Out};
use crate::four_letter::WORDS;
use crate::proto::{ConnectRequest, ErrorCode, Request, RequestError};
use crate::watch::ConnId;

/// Why a connection ended early (logged, never fatal to the server).
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("packet length {0} is out of range (jute.maxbuffer)")]
    Length(i64),
    #[error("malformed handshake: {0}")]
    Handshake(String),
    #[error("request shorter than its header")]
    ShortHeader,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    conn: ConnId,
    core: mpsc::Sender<CoreMsg>,
    max_buffer: u32,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, writer) = stream.into_split();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let mut writer_task = tokio::spawn(write_loop(writer, out_rx));
    let mut buf = BytesMut::with_capacity(8 * 1024);
    // The writer ends when the server closes the connection; stop reading then too.
    let result = tokio::select! {
        r = read_loop(&mut reader, &mut buf, addr, conn, &core, out_tx, max_buffer) => r,
        _ = &mut writer_task => Ok(()),
    };
    match result {
        Ok(()) => {}
        Err(ConnError::Io(e)) if e.kind() != std::io::ErrorKind::InvalidData => {
            tracing::debug!("connection {addr} closed: {e}")
        }
        Err(e) => tracing::warn!("closing connection {addr}: {e}"),
    }
    let _ = core.send(CoreMsg::Closed { conn }).await;
}

async fn read_loop(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    addr: SocketAddr,
    conn: ConnId,
    core: &mpsc::Sender<CoreMsg>,
    out: mpsc::UnboundedSender<Out>,
    max_buffer: u32,
) -> Result<(), ConnError> {
    // The first four bytes are either a four-letter word or the handshake's length.
    while buf.len() < 4 {
        if reader.read_buf(buf).await? == 0 {
            return Ok(());
        }
    }
    if let Ok(word) = std::str::from_utf8(&buf[..4]) {
        if WORDS.contains(&word) {
            let (tx, rx) = oneshot::channel();
            let _ = core
                .send(CoreMsg::FourLetter {
                    word: word.to_owned(),
                    reply: tx,
                })
                .await;
            if let Ok(text) = rx.await {
                let _ = out.send(Out::Frame(bytes::Bytes::from(text)));
            }
            let _ = out.send(Out::Close);
            return Ok(());
        }
    }
    let Some(frame) = next_frame(reader, buf, max_buffer).await? else {
        return Ok(());
    };
    let req = ConnectRequest::decode(&frame).map_err(|e| ConnError::Handshake(e.to_string()))?;
    if core
        .send(CoreMsg::Connect {
            conn,
            addr,
            req,
            out: out.clone(),
        })
        .await
        .is_err()
    {
        return Ok(());
    }
    while let Some(frame) = next_frame(reader, buf, max_buffer).await? {
        let received = Instant::now();
        if frame.len() < 8 {
            return Err(ConnError::ShortHeader);
        }
        let mut header = &frame[..8];
        let xid = header.get_i32();
        let opcode = header.get_i32();
        let req = Request::decode(opcode, &frame[8..]).map_err(|e| match e {
            RequestError::UnknownOpcode(op) => {
                tracing::warn!("connection {addr}: unknown opcode {op}");
                ErrorCode::Unimplemented
            }
            RequestError::Malformed(e) => {
                tracing::warn!("connection {addr}: malformed request (opcode {opcode}): {e}");
                ErrorCode::MarshallingError
            }
        });
        if core
            .send(CoreMsg::Request {
                conn,
                xid,
                opcode,
                req,
                received,
            })
            .await
            .is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}

/// Reads one length-prefixed frame; `None` on a clean end of stream.
async fn next_frame(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    max_buffer: u32,
) -> Result<Option<BytesMut>, ConnError> {
    loop {
        if buf.len() >= 4 {
            let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            if len < 0 || len as u32 > max_buffer {
                return Err(ConnError::Length(len as i64));
            }
            let len = len as usize;
            if buf.len() >= 4 + len {
                buf.advance(4);
                return Ok(Some(buf.split_to(len)));
            }
            buf.reserve(4 + len - buf.len());
        }
        if reader.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(ConnError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed mid-frame",
                )))
            };
        }
    }
}

/// Writes queued frames, coalescing what is ready into one write.
async fn write_loop(mut writer: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Out>) {
    let mut batch: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut items = Vec::with_capacity(64);
    loop {
        if rx.recv_many(&mut items, 256).await == 0 {
            break;
        }
        let mut close = false;
        for item in items.drain(..) {
            match item {
                Out::Frame(f) => batch.extend_from_slice(&f),
                Out::Close => close = true,
            }
        }
        if !batch.is_empty() && writer.write_all(&batch).await.is_err() {
            break;
        }
        batch.clear();
        if batch.capacity() > 1 << 20 {
            batch.shrink_to(16 * 1024);
        }
        if close {
            break;
        }
    }
    let _ = writer.shutdown().await;
}
