//! The one-line compact checkpoint (DNS TXT record, `update-latest.txt`): a line that parses
//! formats back to itself.
#![no_main]

use cairn_verifier::compact::{from_compact, to_compact};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(note) = from_compact(line) {
        let again = to_compact(&note).expect("a parsed compact note formats");
        assert_eq!(again, line, "a parsed compact line formats differently");
    }
});
