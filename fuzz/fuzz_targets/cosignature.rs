//! Witness cosignatures (C2SP tlog-cosignature): finding and verifying a cosignature on a note,
//! a witness's reply lines (tlog-witness 200 body) against a checkpoint, and the raw signature.
#![no_main]

use cairn_verifier::note::Note;
use cairn_verifier::witness::parse_cosignature_lines;
use libfuzzer_sys::fuzz_target;

#[path = "../keys.rs"]
mod keys;

const CHECKPOINT: &str = "fuzz.example/releases\n1\nbjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=\n";

fuzz_target!(|data: &[u8]| {
    let witness = keys::witness_signer().verifier();
    if let Ok(note) = Note::parse(data) {
        let _ = witness.cosignature_time(&note);
    }
    let _ = parse_cosignature_lines(CHECKPOINT, data);
    let _ = witness.verify_cosignature(CHECKPOINT.as_bytes(), data);
});
