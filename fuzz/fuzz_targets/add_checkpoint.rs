//! tlog-witness `add-checkpoint` request bodies: strict parsing and re-encoding.
#![no_main]

use cairn_verifier::witness::AddCheckpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = AddCheckpoint::parse(data) {
        assert_eq!(
            body.to_bytes(),
            data,
            "a parsed body re-encodes differently"
        );
    }
});
