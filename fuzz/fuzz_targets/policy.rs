//! Trust policies (C2SP tlog-policy). A parsed policy formats to canonical text that parses to
//! the same policy. (The CLI's trust file wraps a policy with Cairn lines; its parser lives in
//! the cli binary and is not fuzzed here, see docs/fuzzing.md.)
#![no_main]

use cairn_verifier::policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(policy) = Policy::parse(data) {
        let text = policy.to_text();
        let again = Policy::parse(text.as_bytes()).expect("canonical policy text parses");
        assert_eq!(again, policy, "canonical text parses to another policy");
    }
});
