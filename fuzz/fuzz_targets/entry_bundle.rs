//! Entry bundles (C2SP tlog-tiles, u16 length-prefixed entries): the first byte is the expected
//! entry count minus one, the rest the bundle. A bundle that splits re-encodes to its bytes.
#![no_main]

use cairn_verifier::tile::{encode_entry_bundle, split_entry_bundle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((count, bundle)) = data.split_first() else {
        return;
    };
    let count = usize::from(*count) + 1;
    if let Ok(entries) = split_entry_bundle(bundle, count) {
        assert_eq!(entries.len(), count);
        let again = encode_entry_bundle(&entries).expect("split entries encode");
        assert_eq!(again, bundle, "a split bundle re-encodes differently");
    }
});
