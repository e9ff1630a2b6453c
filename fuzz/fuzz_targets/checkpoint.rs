//! Checkpoint bodies (C2SP tlog-checkpoint), and the state files a client keeps (signed
//! checkpoints, verified under a fixed key so the verification path is reached too).
#![no_main]

use cairn_verifier::checkpoint::{Checkpoint, VerifiedCheckpoint};
use libfuzzer_sys::fuzz_target;

#[path = "../keys.rs"]
mod keys;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse(text) {
            let again = cp.to_text().expect("a parsed checkpoint formats");
            assert_eq!(again, text, "a parsed checkpoint re-encodes differently");
        }
    }
    let _ = VerifiedCheckpoint::verify(data, keys::ORIGIN, &keys::log_verifier());
});
