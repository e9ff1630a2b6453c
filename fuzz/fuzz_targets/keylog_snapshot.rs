//! Key-log snapshots (`cairn-keylog-snapshot/v1`, spec/client.md): the client's stored key log
//! and `cairn keylog export` files given with `--keylog`. The first byte picks the layer: the
//! raw encoding, or the zstd-compressed file (a decompression bomb must be refused at the
//! cap, never exhaust memory). What decodes re-encodes to the same bytes.
#![no_main]

use cairn_client::keylog::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&layer, rest)) = data.split_first() else {
        return;
    };
    if layer % 2 == 0 {
        if let Ok(snapshot) = Snapshot::decode(rest) {
            let encoded = snapshot.encode().expect("a decoded snapshot encodes");
            assert_eq!(encoded, rest, "decode then encode is the identity");
        }
    } else if let Ok(snapshot) = Snapshot::from_file_bytes(rest) {
        let file = snapshot.to_file_bytes().expect("a decoded snapshot encodes");
        assert_eq!(Snapshot::from_file_bytes(&file), Ok(snapshot));
    }
});
