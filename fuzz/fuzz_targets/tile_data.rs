//! Tile data (C2SP tlog-tiles, "Merkle Tree"): the first bytes choose the tile (height, level,
//! width), the rest is the data served for it.
#![no_main]

use cairn_verifier::tile::Tile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(([height, level, w0, w1], rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let width = u16::from_be_bytes([*w0, *w1]);
    let Ok(tile) = Tile::new(*height, *level, 0, width) else {
        return;
    };
    if let Ok(hashes) = tile.parse_data(rest) {
        assert_eq!(hashes.len(), usize::from(width));
        assert_eq!(rest.len(), tile.data_len());
    }
    let _ = tile.hash_at(rest, 0);
});
