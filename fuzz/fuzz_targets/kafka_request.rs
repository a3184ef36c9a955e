//! Feeds arbitrary bytes to what the broker parses from the network: the
//! request header and body of any API and version, and produce record sets
//! (batch framing, validation, re-compression). None may panic.
#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;
use kafka_protocol::records::Compression;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let key = i16::from_be_bytes([data[0], data[1]]);
        let version = i16::from_be_bytes([data[2], data[3]]);
        if let Ok(api) = ApiKey::try_from(key) {
            if (api.valid_versions().min..=api.valid_versions().max).contains(&version) {
                let mut frame = Bytes::copy_from_slice(data);
                if RequestHeader::decode(&mut frame, api.request_header_version(version)).is_ok() {
                    let _ = RequestKind::decode(api, &mut frame, version);
                }
            }
        }
    }
    for batch in broker::log::batch::batches(data) {
        match batch {
            Ok((start, header)) => {
                let _ = broker::log::batch::validate(&data[start..start + header.size()]);
            }
            Err(_) => break,
        }
    }
    let _ = broker::log::convert::recompress(data, Compression::Gzip);
});
