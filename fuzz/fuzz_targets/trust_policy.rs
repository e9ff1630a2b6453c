//! Client trust policy files (`cairn-trust/v1`, spec/client.md): the file that decides which
//! log keys, root keys and witnesses a client trusts. A policy that parses keeps its text, and
//! that text parses again to the same log identity, URL and limits.
#![no_main]

use cairn_client::trust::{LogName, Trust};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(trust) = Trust::parse(data) {
        let again = Trust::parse(trust.text.as_bytes()).expect("a parsed policy's text parses");
        assert_eq!(again.identity(), trust.identity());
        assert_eq!(again.url, trust.url);
        assert_eq!(again.max_age, trust.max_age);
        assert_eq!(again.origin(LogName::Keys), trust.origin(LogName::Keys));
        assert!(trust.url.starts_with("http://") || trust.url.starts_with("https://"));
    }
});
