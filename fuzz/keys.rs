//! Fixed keys shared by the fuzz targets and the seed generator (`examples/seeds.rs`), so
//! seeds signed by them reach the code behind signature verification.
#![allow(dead_code, unreachable_pub)]

use cairn_verifier::cosignature::CosignatureSigner;
use cairn_verifier::note::{Ed25519Signer, Ed25519Verifier, KeyName};

/// The origin of the fuzzed log.
pub const ORIGIN: &str = "fuzz.example/releases";

/// The log's signing key (test-only seed).
pub fn log_signer() -> Ed25519Signer {
    Ed25519Signer::from_seed(KeyName::new(ORIGIN).expect("valid name"), [7; 32])
}

/// The log's verifier key.
pub fn log_verifier() -> Ed25519Verifier {
    log_signer().verifier()
}

/// A witness (test-only seed).
pub fn witness_signer() -> CosignatureSigner {
    CosignatureSigner::from_seed(
        KeyName::new("fuzz.example/witness").expect("valid name"),
        [9; 32],
    )
}
