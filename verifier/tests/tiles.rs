//! C2SP tlog-tiles end to end, with tile height 2 so that a hundred leaves reach every shape:
//! full and partial tiles on several levels. Checks that a growing server writes exactly the
//! tiles a tree consists of, that a tile-backed reader gives the same roots and proofs as the
//! in-memory tree, and that it refuses tampered tiles. Ends with property tests of the path and
//! entry-bundle parsers.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use cairn_verifier::Hash;
use cairn_verifier::merkle::{
    self, HashReader, MemoryTree, ProofError, append_stored_hashes, stored_hash_count,
};
use cairn_verifier::security::SecurityError;
use cairn_verifier::tile::{
    EntryBundle, TILE_HEIGHT, Tile, TileError, TileHashReader, TilePath, TileReader, TreeHead,
    encode_entry_bundle, new_tiles, read_tile_data, split_entry_bundle, tiles_for_size,
};
use proptest::prelude::*;

const H: u8 = 2;
const MAX: u64 = 100;

fn record(i: u64) -> Vec<u8> {
    format!("entry {i}").into_bytes()
}

fn tree_of(size: u64) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for i in 0..size {
        tree.append(&record(i));
    }
    tree
}

/// SplitMix64, so the "random" batches are the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// Tiles as a static server holds them, plus a log of what was asked for.
#[derive(Debug, Default, Clone)]
struct Store {
    height: u8,
    tiles: HashMap<Tile, Vec<u8>>,
    requested: RefCell<Vec<Tile>>,
}

#[derive(Debug)]
struct Missing(Tile);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "404 {}", self.0)
    }
}

impl std::error::Error for Missing {}

impl From<Missing> for ProofError {
    fn from(e: Missing) -> ProofError {
        ProofError::Read(Box::new(e))
    }
}

impl TileReader for Store {
    type Error = Missing;

    fn height(&self) -> u8 {
        self.height
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Missing> {
        self.requested.borrow_mut().extend_from_slice(tiles);
        tiles
            .iter()
            .map(|t| self.tiles.get(t).cloned().ok_or(Missing(*t)))
            .collect()
    }
}

/// A server's stored-hash array behind a reader with its own error type.
struct VecReader(Vec<Hash>);

impl HashReader for VecReader {
    type Error = Missing;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Missing> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.0.get(i).copied())
                    .ok_or(Missing(Tile::new(H, 0, i, 1).expect("valid")))
            })
            .collect()
    }
}

fn set(tiles: &[Tile]) -> HashSet<Tile> {
    let s: HashSet<Tile> = tiles.iter().copied().collect();
    assert_eq!(s.len(), tiles.len(), "duplicate tiles in {tiles:?}");
    s
}

/// Every tile of every size up to `MAX`, with data, as a server growing one entry at a time
/// would have written them.
fn server_store(height: u8, tree: &MemoryTree) -> Store {
    let mut store = Store {
        height,
        ..Store::default()
    };
    for size in 1..=tree.size() {
        for t in new_tiles(height, size - 1, size).expect("growth") {
            let data = read_tile_data(&t, tree).expect("tree holds the tile");
            assert!(store.tiles.insert(t, data).is_none(), "{t} written twice");
        }
    }
    store
}

#[test]
fn growing_one_entry_at_a_time_writes_exactly_the_new_tiles() {
    let final_tree = tree_of(MAX);
    let mut tree = MemoryTree::new();
    let mut written: HashMap<Tile, Vec<u8>> = HashMap::new();
    for size in 1..=MAX {
        tree.append(&record(size - 1));
        let new = set(&new_tiles(H, size - 1, size).expect("growth"));
        let before = set(&tiles_for_size(H, size - 1).expect("size"));
        let after = set(&tiles_for_size(H, size).expect("size"));
        assert_eq!(new, &after - &before, "size {size}");
        for t in new {
            let data = read_tile_data(&t, &tree).expect("tree holds the tile");
            // Tiles are immutable: the same tile computed from the finished tree is identical.
            assert_eq!(data, read_tile_data(&t, &final_tree).expect("held"));
            assert!(written.insert(t, data).is_none(), "{t} rewritten");
        }
        for t in &after {
            assert_eq!(written[t], read_tile_data(t, &tree).expect("held"), "{t}");
            assert_eq!(written[t].len(), t.data_len());
        }
        // Only partial tiles ever appear without being part of the tree at this size.
        for t in written.keys().filter(|t| !after.contains(t)) {
            assert!(!t.is_full(), "full tile {t} not in tree of size {size}");
        }
    }
}

#[test]
fn growing_in_random_batches_writes_exactly_the_new_tiles() {
    let final_tree = tree_of(MAX);
    for seed in 0..20 {
        let mut rng = Rng(seed);
        let mut server = VecReader(Vec::new());
        let mut written: HashMap<Tile, Vec<u8>> = HashMap::new();
        let mut size = 0;
        while size < MAX {
            let batch = (rng.below(13)).min(MAX - size);
            let leaves: Vec<Hash> = (size..size + batch)
                .map(|i| cairn_verifier::leaf_hash(&record(i)))
                .collect();
            let appended = append_stored_hashes(size, &leaves, &server).expect("append");
            server.0.extend(appended);
            let new_size = size + batch;
            let count =
                usize::try_from(stored_hash_count(new_size).expect("small")).expect("small");
            assert_eq!(server.0, final_tree.stored_hashes()[..count]);
            let new = set(&new_tiles(H, size, new_size).expect("growth"));
            let before = set(&tiles_for_size(H, size).expect("size"));
            let after = set(&tiles_for_size(H, new_size).expect("size"));
            assert_eq!(new, &after - &before, "{size} -> {new_size}");
            for t in new {
                let data = read_tile_data(&t, &server).expect("server holds the tile");
                assert!(written.insert(t, data).is_none(), "{t} rewritten");
            }
            for t in &after {
                assert_eq!(written[t], read_tile_data(t, &final_tree).expect("held"));
            }
            size = new_size;
        }
    }
}

#[test]
fn tile_backed_reader_matches_the_memory_tree() {
    let tree = tree_of(MAX);
    let store = server_store(H, &tree);
    for size in 1..=MAX {
        let root = tree.root_at(size).expect("size");
        store.requested.borrow_mut().clear();
        let reader = TileHashReader::new(TreeHead::new_unverified_for_server(size, root), &store);
        for s in 0..=size {
            assert_eq!(
                reader.tree_hash(s).expect("authentic"),
                tree.root_at(s).expect("size")
            );
        }
        for index in 0..size {
            assert_eq!(
                reader.prove_inclusion(index, size).expect("authentic"),
                tree.prove_inclusion(index, size).expect("in tree"),
                "inclusion of {index} in {size}"
            );
        }
        for size1 in 1..=size {
            assert_eq!(
                reader.prove_consistency(size1, size).expect("authentic"),
                tree.prove_consistency(size1, size).expect("in tree"),
                "consistency {size1} -> {size}"
            );
        }
        let count = stored_hash_count(size).expect("small");
        let all: Vec<u64> = (0..count).collect();
        assert_eq!(
            reader.read_hashes(&all).expect("authentic"),
            tree.stored_hashes()[..usize::try_from(count).expect("small")]
        );
        // C2SP: clients must not fetch tiles the verified tree does not require.
        let tree_tiles = set(&tiles_for_size(H, size).expect("size"));
        for t in store.requested.borrow().iter() {
            assert!(tree_tiles.contains(t), "fetched {t} for tree size {size}");
        }
        assert!(matches!(
            reader.read_hashes(&[count]),
            Err(TileError::NotInTree { .. })
        ));
        assert!(reader.prove_inclusion(0, size + 1).is_err());
    }
}

#[test]
fn tampered_tiles_are_refused() {
    let tree = tree_of(MAX);
    let store = server_store(H, &tree);
    for size in 1..=MAX {
        let root = tree.root_at(size).expect("size");
        let head = TreeHead::new_unverified_for_server(size, root);
        let all: Vec<u64> = (0..stored_hash_count(size).expect("small")).collect();
        let tiles = tiles_for_size(H, size).expect("size");
        for (n, t) in tiles.iter().enumerate() {
            let mut bad = store.clone();
            let data = bad.tiles.get_mut(t).expect("written");
            let bit = (n * 37 + usize::try_from(size).expect("small")) % (data.len() * 8);
            data[bit / 8] ^= 1 << (bit % 8);
            let reader = TileHashReader::new(head, &bad);
            let err = reader.read_hashes(&all).expect_err("tampered tile used");
            assert!(err.is_security_failure(), "{err}");
            if t.is_full() {
                assert!(
                    matches!(err, TileError::Security(SecurityError::TileMismatch { tile, .. }) if tile == *t),
                    "size {size}, {t}: {err}"
                );
            } else {
                assert!(
                    matches!(err, TileError::Security(SecurityError::TreeRootMismatch { tree_size, .. }) if tree_size == size),
                    "size {size}, {t}: {err}"
                );
            }
            // Through the proof functions the refusal stays recognisable.
            if t.level() == 0 && size > 1 {
                // The first leaf's proof starts with its neighbour's hash, in the same tile (or
                // the tile is a one-hash right-edge tile, which every read authenticates).
                let proof_err = reader
                    .prove_inclusion(t.index() * 4, size)
                    .expect_err("tampered tile used");
                assert!(proof_err.is_security_failure(), "{proof_err}");
                assert!(matches!(
                    proof_err,
                    ProofError::Security(
                        SecurityError::TileMismatch { .. } | SecurityError::TreeRootMismatch { .. }
                    )
                ));
            }
        }
        // A tile of the wrong length for its path is served by whoever holds the tiles: a
        // verification failure like a wrong hash. A missing tile (404) is operational.
        let mut short = store.clone();
        if let Some(t) = tiles.first() {
            short.tiles.get_mut(t).expect("written").pop();
            let err = TileHashReader::new(head, &short)
                .read_hashes(&all)
                .expect_err("short tile");
            assert!(matches!(
                err.security(),
                Some(SecurityError::TileWrongLength { .. })
            ));
            let mut missing = store.clone();
            missing.tiles.remove(t);
            let err = TileHashReader::new(head, &missing)
                .read_hashes(&all)
                .expect_err("404");
            assert!(matches!(err, TileError::TileRead(_)));
            assert!(!err.is_security_failure());
        }
        // A wrong trusted root (a checkpoint for a different tree) matches no tiles.
        let wrong =
            TreeHead::new_unverified_for_server(size, tree.root_at(size - 1).expect("size"));
        let err = TileHashReader::new(wrong, &store)
            .read_hashes(&[0])
            .expect_err("wrong root");
        assert!(matches!(
            err,
            TileError::Security(SecurityError::TreeRootMismatch { .. })
        ));
        let err =
            merkle::tree_hash(size, &TileHashReader::new(wrong, &store)).expect_err("wrong root");
        assert!(err.is_security_failure());
    }
}

#[test]
fn entry_bundles_are_checked_against_authenticated_tiles() {
    let tree = tree_of(MAX);
    let store = server_store(H, &tree);
    let mut bundles: HashMap<EntryBundle, Vec<u8>> = HashMap::new();
    for size in 1..=MAX {
        for t in new_tiles(H, size - 1, size).expect("growth") {
            if t.level() == 0 {
                let b = EntryBundle::from_tile(&t);
                let entries: Vec<Vec<u8>> = (b.first_entry()
                    ..b.first_entry() + u64::from(b.width()))
                    .map(record)
                    .collect();
                bundles.insert(b, encode_entry_bundle(&entries).expect("encodable"));
            }
        }
    }
    for size in [1, 2, 3, 4, 5, 16, 17, 63, 64, 65, 99, 100] {
        let head = TreeHead::new_unverified_for_server(size, tree.root_at(size).expect("size"));
        let reader = TileHashReader::new(head, &store);
        for t in tiles_for_size(H, size)
            .expect("size")
            .iter()
            .filter(|t| t.level() == 0)
        {
            let b = EntryBundle::from_tile(t);
            let data = &bundles[&b];
            let entries = b.split(data).expect("well-formed bundle");
            b.verify_entries(&entries, &reader)
                .expect("authentic entries");
            for i in 0..entries.len() {
                let mut forged: Vec<Vec<u8>> = entries.iter().map(|e| e.to_vec()).collect();
                forged[i].push(b'!');
                let forged: Vec<&[u8]> = forged.iter().map(Vec::as_slice).collect();
                let err = b
                    .verify_entries(&forged, &reader)
                    .expect_err("forged entry");
                assert!(
                    matches!(err, TileError::Security(SecurityError::EntryHashMismatch { index, .. }) if index == b.first_entry() + i as u64)
                );
                assert!(err.is_security_failure());
            }
            assert!(b.verify_entries(&entries[1..], &reader).is_err());
        }
        let last = EntryBundle::for_entry(H, size - 1, size).expect("in tree");
        assert_eq!(u64::from(last.width()), (size - 1) % 4 + 1);
    }
}

#[test]
fn c2sp_height_8_tree() {
    const SIZE: u64 = 70_000;
    let tree = tree_of(SIZE);
    let mut store = Store {
        height: TILE_HEIGHT,
        ..Store::default()
    };
    let tiles = tiles_for_size(TILE_HEIGHT, SIZE).expect("size");
    assert_eq!(tiles.len(), 273 + 4);
    for t in &tiles {
        store
            .tiles
            .insert(*t, read_tile_data(t, &tree).expect("held"));
    }
    let root = tree.root();
    let reader = TileHashReader::new(TreeHead::new_unverified_for_server(SIZE, root), &store);
    let mut rng = Rng(8);
    for _ in 0..40 {
        let index = rng.below(SIZE);
        assert_eq!(
            reader.prove_inclusion(index, SIZE).expect("authentic"),
            tree.prove_inclusion(index, SIZE).expect("in tree")
        );
        let size1 = rng.below(SIZE) + 1;
        assert_eq!(
            reader.prove_consistency(size1, SIZE).expect("authentic"),
            tree.prove_consistency(size1, SIZE).expect("in tree")
        );
    }
    for t in [tiles[100], tiles[273], tiles[274], tiles[276]] {
        let mut bad = store.clone();
        bad.tiles.get_mut(&t).expect("stored")[5] ^= 0x20;
        let reader = TileHashReader::new(TreeHead::new_unverified_for_server(SIZE, root), &bad);
        let x = merkle::stored_hash_index(8 * t.level(), t.index() * 256).expect("small");
        let err = reader.read_hashes(&[x]).expect_err("tampered");
        assert!(err.is_security_failure(), "{t}: {err}");
    }
}

fn tile_strategy() -> impl Strategy<Value = (u8, Tile)> {
    (1u8..=8, 0u8..=63, any::<u64>(), any::<u16>()).prop_map(|(h, level, index, w)| {
        let width = w % (1 << h) + 1;
        (h, Tile::new(h, level, index, width).expect("in range"))
    })
}

proptest! {
    #[test]
    fn tile_paths_round_trip((height, tile) in tile_strategy()) {
        let path = tile.path();
        prop_assert_eq!(Tile::from_path_with_height(&path, height).expect("canonical"), tile);
        prop_assert_eq!(TilePath::parse_with_height(&path, height).expect("canonical"), TilePath::Hashes(tile));
        let bundle = EntryBundle::from_tile(&tile);
        let bpath = bundle.path();
        prop_assert_eq!(EntryBundle::from_path_with_height(&bpath, height).expect("canonical"), bundle);
    }

    #[test]
    fn tile_path_parser_never_panics_on_arbitrary_text(path in "\\PC{0,80}", height in 0u8..=10) {
        let parsed = [TilePath::parse(&path), TilePath::parse_with_height(&path, height)];
        for p in parsed.into_iter().flatten() {
            prop_assert_eq!(p.path(), path.clone());
        }
    }

    #[test]
    fn tile_path_parser_on_near_misses(
        path in "tile/(entries|[0-9]{1,3}|x[0-9])/(x?[0-9]{1,4}/){0,8}x?[0-9]{1,4}(\\.p/[0-9]{1,4}/?)?",
    ) {
        // Mostly invalid but close: any accepted path must be its own canonical spelling.
        if let Ok(p) = TilePath::parse(&path) {
            prop_assert_eq!(p.path(), path);
        }
    }

    #[test]
    fn bundle_parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1200), count in 0usize..300) {
        if let Ok(entries) = split_entry_bundle(&data, count) {
            prop_assert_eq!(entries.len(), count);
            prop_assert_eq!(encode_entry_bundle(&entries).expect("re-encodable"), data);
        }
    }

    #[test]
    fn bundles_round_trip(entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..=40)) {
        let data = encode_entry_bundle(&entries).expect("encodable");
        let split = split_entry_bundle(&data, entries.len()).expect("round trip");
        prop_assert_eq!(split, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        if entries.len() > 1 {
            prop_assert!(split_entry_bundle(&data, entries.len() - 1).is_err());
        }
        prop_assert!(split_entry_bundle(&data, entries.len() + 1).is_err());
        prop_assert!(split_entry_bundle(&data[..data.len() - 1], entries.len()).is_err());
    }
}
