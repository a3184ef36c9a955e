//! The ZooKeeper client protocol: jute primitives, records, and constants.
//! Pure code: no I/O, so it can be unit-tested and fuzzed on its own.

pub mod codes;
pub mod jute;
pub mod records;

pub use codes::{op, ErrorCode, EventType};
pub use jute::{DecodeError, JuteWrite, Reader};
pub use records::*;
