//! Outgoing frames: every reply, watch event and handshake answer is a
//! length-prefixed buffer built here.

use bytes::{BufMut, Bytes, BytesMut};

use crate::proto::codes::{state, xid};
use crate::proto::{encode_reply_header, EventType, JuteWrite};

/// Builds a frame: 4-byte length, then whatever `body` writes.
pub fn build(capacity: usize, body: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::with_capacity(capacity + 4);
    buf.put_u32(0);
    body(&mut buf);
    let len = (buf.len() - 4) as u32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// A reply: header and, on success, the encoded response body.
pub fn reply(xid: i32, zxid: i64, err: i32, body: &[u8]) -> Bytes {
    build(16 + body.len(), |b| {
        encode_reply_header(b, xid, zxid, err);
        b.put_slice(body);
    })
}

/// A watch notification: `ReplyHeader(-1, -1, 0)` + `WatcherEvent`. ZooKeeper
/// 3.8 sends zxid -1 in notifications, and so do we.
pub fn watch_event(event: EventType, path: &str) -> Bytes {
    build(32 + path.len(), |b| {
        encode_reply_header(b, xid::NOTIFICATION, -1, 0);
        b.put_i32(event as i32);
        b.put_i32(state::SYNC_CONNECTED);
        b.put_string(path);
    })
}
