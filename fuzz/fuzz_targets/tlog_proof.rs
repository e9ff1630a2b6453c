//! `.tlog-proof` files (C2SP tlog-proof): strict parsing, re-encoding, and verification under a
//! fixed log key (so seeds signed by it reach the inclusion check).
#![no_main]

use cairn_verifier::tlog_proof::TlogProof;
use libfuzzer_sys::fuzz_target;

#[path = "../keys.rs"]
mod keys;

fuzz_target!(|data: &[u8]| {
    if let Ok(proof) = TlogProof::parse(data) {
        assert_eq!(
            proof.to_bytes(),
            data,
            "a parsed proof re-encodes differently"
        );
        let _ = proof.verify(keys::ORIGIN, &keys::log_verifier());
    }
});
