//! Inconsistency evidence files (`cairn/inconsistency-evidence/v1`), confirmed under a fixed log
//! key so seeds signed by it reach the consistency check. Confirmed evidence re-encodes to
//! evidence that confirms again.
#![no_main]

use cairn_verifier::checkpoint::Inconsistency;
use libfuzzer_sys::fuzz_target;

#[path = "../keys.rs"]
mod keys;

fuzz_target!(|data: &[u8]| {
    let verifier = keys::log_verifier();
    if let Ok(found) = Inconsistency::from_evidence(data, &verifier) {
        let again = Inconsistency::from_evidence(found.to_evidence().as_bytes(), &verifier)
            .expect("re-encoded evidence confirms");
        assert_eq!(again.older(), found.older());
        assert_eq!(again.newer(), found.newer());
    }
});
