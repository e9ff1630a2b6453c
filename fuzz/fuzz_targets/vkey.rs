//! Verifier keys of every supported type (`name+keyid+base64`), as found in trust policies,
//! key-log entries and configuration.
#![no_main]

use cairn_verifier::keys::parse_vkey;
use cairn_verifier::note::split_vkey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(vkey) = std::str::from_utf8(data) else {
        return;
    };
    let _ = split_vkey(vkey);
    let _ = parse_vkey(vkey);
});
