//! `cairn/key/v1` entries (spec/entries.md): the strict grammar, and that an entry that parses
//! formats back to the same text (one meaning per byte string). Entry::parse dispatches on the
//! type line and must agree with the kind's own parser.
#![no_main]

use cairn_verifier::entry::{Entry, KeyEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let own = KeyEvent::parse(text);
    let any = Entry::parse(text);
    if let Ok(entry) = &own {
        assert_eq!(entry.to_text(), text, "a parsed entry formats differently");
        assert!(
            any.is_ok(),
            "Entry::parse refuses what KeyEvent::parse accepts"
        );
    }
    if let Ok(entry) = any {
        assert_eq!(entry.to_text(), text, "a parsed entry formats differently");
    }
});
