//! Signed notes (C2SP signed-note): parsing, and that a parsed note encodes back to its bytes.
#![no_main]

use cairn_verifier::note::Note;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = Note::parse(data) {
        // One meaning per byte string: a note that parses is its own canonical encoding.
        assert_eq!(
            note.to_bytes(),
            data,
            "a parsed note re-encodes differently"
        );
    }
});
