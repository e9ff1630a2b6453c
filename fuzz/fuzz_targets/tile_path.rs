//! Tile and entry-bundle paths (C2SP tlog-tiles): only canonical spellings parse, and a parsed
//! path formats back to itself.
#![no_main]

use cairn_verifier::tile::{EntryBundle, Tile, TilePath};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = TilePath::parse(path) {
        assert_eq!(p.path(), path, "a parsed tile path formats differently");
    }
    if let Ok(t) = Tile::from_path(path) {
        assert_eq!(t.path(), path, "a parsed tile formats differently");
    }
    if let Ok(b) = EntryBundle::from_path(path) {
        assert_eq!(b.path(), path, "a parsed bundle path formats differently");
    }
    for height in [1, 2, 8] {
        let _ = TilePath::parse_with_height(path, height);
    }
});
