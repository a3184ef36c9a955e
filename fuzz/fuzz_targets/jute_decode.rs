//! Feeds arbitrary bytes to every decoder that sees network or disk input:
//! the handshake, each request opcode, and log records. None may panic.
#![no_main]

use keeper::proto::{ConnectRequest, Request};
use keeper::txn::Txn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ConnectRequest::decode(data);
    let _ = Txn::decode(data);
    if let Some((&selector, body)) = data.split_first() {
        // Cover real opcodes densely, plus a few unknown ones.
        let opcode = match selector {
            0..=22 => selector as i32,
            100..=107 => selector as i32,
            200 => -10,
            201 => -11,
            other => other as i32 * 31,
        };
        let _ = Request::decode(opcode, body);
    }
});
