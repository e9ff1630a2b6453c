//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): tile and entry-bundle paths, which tiles a
//! tree consists of, hash-tile data, entry bundles, and a [`HashReader`] over tiles that
//! authenticates every tile against a trusted tree head before using it.
//!
//! Sections followed: "Merkle Tree" (paths, levels, tile contents), "Partial Tiles" (widths) and
//! "Log entries" (entry bundles). The spec fixes the tile height at 8 ([`TILE_HEIGHT`], 256
//! hashes per full tile); the math here takes the height as a parameter so that tests can use
//! tiny tiles (height 2: four hashes) and reach every corner case with a hundred leaves. Paths
//! have the same shape at every height: a tile is full when it holds `2^height` hashes.
//!
//! A tile at level `L` holds hashes of the stored-hash level `L * height`
//! ([`crate::merkle::stored_hash_index`]): tile `N` of width `W` holds the hashes with indexes
//! `N * 2^height .. N * 2^height + W` on that level.

use std::collections::HashMap;
use std::fmt;

use crate::checkpoint::VerifiedCheckpoint;
use crate::decimal::parse_canonical_u64;
use crate::hash::{HASH_SIZE, Hash, leaf_hash, node_hash};
use crate::merkle::{
    self, HashReader, ProofError, ReadError, split_stored_hash_index, stored_hash_count,
    stored_hash_index,
};
use crate::policy::WitnessedCheckpoint;
use crate::security::SecurityError;

/// Tile height fixed by C2SP tlog-tiles: a full tile spans 8 levels of the tree.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile, and entries in a full entry bundle (`2^TILE_HEIGHT`).
pub const TILE_WIDTH: u16 = 256;
/// Highest tile level a path may name ("between 0 and 63").
pub const MAX_TILE_LEVEL: u8 = 63;
/// Largest tile height the math here supports: a full tile then holds [`TILE_WIDTH`] hashes.
pub const MAX_TILE_HEIGHT: u8 = TILE_HEIGHT;
/// Largest entry an entry bundle can carry: its length is a big-endian `u16`. Empty entries are
/// allowed by the format (RFC 6962 hashes the empty string like any other leaf).
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;
/// Most entries in one bundle (a full bundle).
pub const MAX_BUNDLE_ENTRIES: usize = TILE_WIDTH as usize;
/// Largest possible entry bundle in bytes: every entry at [`MAX_ENTRY_SIZE`].
pub const MAX_BUNDLE_SIZE: usize = MAX_BUNDLE_ENTRIES * (2 + MAX_ENTRY_SIZE);
/// Longest tile or entry-bundle path accepted: the longest canonical path,
/// `tile/entries/x018/x446/x744/x073/x709/x551/615.p/255`, is 51 bytes.
pub const MAX_TILE_PATH_LEN: usize = 64;

/// Groups of three digits in the largest `u64` (18 446 744 073 709 551 615).
const MAX_INDEX_GROUPS: usize = 7;

/// Why a tile, a tile path, tile data or an entry bundle was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    /// A tile height outside `1..=MAX_TILE_HEIGHT`.
    #[error("tile height {height} is not in 1..={MAX_TILE_HEIGHT}")]
    InvalidHeight {
        /// The height given.
        height: u8,
    },
    /// A tile or bundle with a level above [`MAX_TILE_LEVEL`] or a width outside
    /// `1..=2^height`.
    #[error("invalid tile: height {height}, level {level}, index {index}, width {width}")]
    InvalidTile {
        /// Tile height.
        height: u8,
        /// Tile level.
        level: u8,
        /// Tile index.
        index: u64,
        /// Tile width.
        width: u16,
    },
    /// A path that is not the canonical spelling of a tile or entry bundle.
    #[error("malformed tile path {path:?}: {reason}")]
    MalformedPath {
        /// The path (cut to [`MAX_TILE_PATH_LEN`] bytes: it is untrusted input).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Tile data whose length is not exactly `width * 32` bytes.
    #[error("tile {tile}: data is {got} bytes, expected {expected}")]
    WrongDataLength {
        /// The tile.
        tile: Tile,
        /// `width * 32`.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// A stored hash asked of a tile that does not hold it.
    #[error("tile {tile} does not hold stored hash {stored_index}")]
    NotInTile {
        /// The tile.
        tile: Tile,
        /// The stored-hash index asked for.
        stored_index: u64,
    },
    /// A tile that is not part of the tree it was looked for in (or that no tree the
    /// stored-hash layout addresses contains, for `tree_size` = [`merkle::MAX_TREE_SIZE`]).
    #[error("tile {tile} is not part of a tree of size {tree_size}")]
    TileNotInTree {
        /// The tile.
        tile: Tile,
        /// The tree size.
        tree_size: u64,
    },
    /// A hash asked of a tile-backed reader that the trusted tree does not contain.
    #[error("stored hash {stored_index} is not in the trusted tree of size {tree_size}")]
    NotInTree {
        /// The stored-hash index asked for.
        stored_index: u64,
        /// The size of the trusted tree.
        tree_size: u64,
    },
    /// Tree sizes that shrink where growth is expected.
    #[error("tree cannot grow from size {old_size} to size {new_size}")]
    BadTreeSizes {
        /// The earlier size.
        old_size: u64,
        /// The later size.
        new_size: u64,
    },
    /// Security failure: a served tile or entry does not hash to what the trusted tree says
    /// ([`SecurityError::TreeRootMismatch`], [`SecurityError::TileMismatch`],
    /// [`SecurityError::EntryHashMismatch`]), or a proof built from authenticated tiles does
    /// not lead to the trusted root. Carries the evidence.
    #[error(transparent)]
    Security(SecurityError),
    /// The [`TileReader`] failed.
    #[error("reading tiles failed")]
    TileRead(#[source] ReadError),
    /// The [`TileReader`] answered with a different number of tiles than asked for.
    #[error("tile reader returned {returned} tiles for {requested} requested")]
    TileReaderCount {
        /// Tiles asked for.
        requested: usize,
        /// Tiles returned.
        returned: usize,
    },
    /// Stored-hash arithmetic or a [`HashReader`] failed (never a security failure: those
    /// become [`TileError::Security`]).
    #[error(transparent)]
    Hashes(ProofError),
    /// An entry bundle with no entries or more than [`MAX_BUNDLE_ENTRIES`].
    #[error("entry bundle with {count} entries: must have 1..={MAX_BUNDLE_ENTRIES}")]
    BadEntryCount {
        /// The number of entries.
        count: usize,
    },
    /// An entry longer than [`MAX_ENTRY_SIZE`].
    #[error("entry {position} of the bundle is {size} bytes, more than {MAX_ENTRY_SIZE}")]
    EntryTooLarge {
        /// Position of the entry in the bundle.
        position: usize,
        /// Its size.
        size: usize,
    },
    /// Entry-bundle data longer than any valid bundle of that many entries could be.
    #[error("entry bundle of {size} bytes is too large for {count} entries")]
    BundleTooLarge {
        /// The data length.
        size: usize,
        /// The expected number of entries.
        count: usize,
    },
    /// Entry-bundle data that ends inside a length prefix or an entry.
    #[error("entry bundle truncated in entry {position} at byte {offset}")]
    BundleTruncated {
        /// The entry being read.
        position: usize,
        /// Where that entry (its length prefix) starts.
        offset: usize,
    },
    /// Entry-bundle data that continues after the expected number of entries.
    #[error("entry bundle has {extra} bytes after its {count} entries")]
    BundleTrailingData {
        /// The expected number of entries.
        count: usize,
        /// Bytes left over.
        extra: usize,
    },
}

impl TileError {
    /// The security failure this error is, if it is one: the log (or whoever served its tiles)
    /// misbehaved, as opposed to malformed input or a failed read.
    pub fn security(&self) -> Option<&SecurityError> {
        match self {
            TileError::Security(e) => Some(e),
            _ => None,
        }
    }

    /// True for the errors that mean the log (or whoever served its tiles) misbehaved.
    pub fn is_security_failure(&self) -> bool {
        self.security().is_some()
    }
}

impl From<SecurityError> for TileError {
    fn from(e: SecurityError) -> TileError {
        TileError::Security(e)
    }
}

impl From<ProofError> for TileError {
    /// Keeps a security failure a [`TileError::Security`], so nothing nests it.
    fn from(e: ProofError) -> TileError {
        match e {
            ProofError::Security(s) => TileError::Security(s),
            other => TileError::Hashes(other),
        }
    }
}

impl From<TileError> for ProofError {
    /// How a [`TileHashReader`]'s refusal reaches the [`merkle`] functions: a security failure
    /// stays [`ProofError::Security`], stored-hash errors are passed on as they are, and any
    /// other failure is a [`ProofError::Read`].
    fn from(e: TileError) -> ProofError {
        match e {
            TileError::Security(s) => ProofError::Security(s),
            TileError::Hashes(p) => p,
            other => ProofError::Read(Box::new(other)),
        }
    }
}

fn check_height(height: u8) -> Result<(), TileError> {
    if (1..=MAX_TILE_HEIGHT).contains(&height) {
        Ok(())
    } else {
        Err(TileError::InvalidHeight { height })
    }
}

/// `2^height`, for a checked height.
fn full_width(height: u8) -> u64 {
    1 << height
}

/// How many hashes the tree of `tree_size` leaves has on the stored-hash level that tiles of
/// `level` hold: one per complete subtree of `2^(level * height)` leaves.
fn hashes_on_tile_level(height: u8, level: u8, tree_size: u64) -> u64 {
    tree_size
        .checked_shr(u32::from(level) * u32::from(height))
        .unwrap_or(0)
}

/// The stored-hash level the hashes of `tile` are on, if the layout can address it.
fn stored_level(tile: &Tile) -> Result<u8, TileError> {
    u8::try_from(u32::from(tile.level) * u32::from(tile.height))
        .ok()
        .filter(|&l| l < 64)
        .ok_or(TileError::TileNotInTree {
            tile: *tile,
            tree_size: merkle::MAX_TREE_SIZE,
        })
}

/// A tile of Merkle tree hashes: `width` consecutive hashes at one level (C2SP tlog-tiles,
/// "Merkle Tree"). Only valid tiles exist: height `1..=8`, level `0..=63`, width
/// `1..=2^height`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    height: u8,
    level: u8,
    index: u64,
    width: u16,
}

impl Tile {
    /// A tile of the given shape, or [`TileError::InvalidTile`] / [`TileError::InvalidHeight`].
    pub fn new(height: u8, level: u8, index: u64, width: u16) -> Result<Tile, TileError> {
        check_height(height)?;
        if level > MAX_TILE_LEVEL || width == 0 || u64::from(width) > full_width(height) {
            return Err(TileError::InvalidTile {
                height,
                level,
                index,
                width,
            });
        }
        Ok(Tile {
            height,
            level,
            index,
            width,
        })
    }

    /// The tile height (8 for C2SP).
    pub fn height(&self) -> u8 {
        self.height
    }

    /// The tile level `L`: level 0 holds leaf hashes.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The index `N` of the tile within its level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The number of hashes in the tile, `W`.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// True when the tile holds `2^height` hashes; only full tiles are hashed into the level
    /// above.
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == full_width(self.height)
    }

    /// The byte length of the tile's data: `width * 32`.
    pub fn data_len(&self) -> usize {
        usize::from(self.width) * HASH_SIZE
    }

    /// The tile's path, `tile/<L>/<N>[.p/<W>]`, relative to the log prefix.
    pub fn path(&self) -> String {
        let mut out = format!("tile/{}/", self.level);
        push_index_and_width(&mut out, self.index, self.width, self.is_full());
        out
    }

    /// Parses a C2SP tile path (height 8), refusing every non-canonical spelling.
    pub fn from_path(path: &str) -> Result<Tile, TileError> {
        Tile::from_path_with_height(path, TILE_HEIGHT)
    }

    /// Parses a tile path for tiles of `height` (`.p/<W>` then needs `W < 2^height`).
    pub fn from_path_with_height(path: &str, height: u8) -> Result<Tile, TileError> {
        check_height(height)?;
        let bad = |reason| malformed(path, reason);
        let rest = strip_tile_prefix(path)?;
        if rest.starts_with("entries/") {
            return Err(bad("an entry bundle path, not a hash tile"));
        }
        let (level, rest) = rest
            .split_once('/')
            .ok_or_else(|| bad("missing tile index"))?;
        let level = parse_decimal(level, u64::from(MAX_TILE_LEVEL))
            .and_then(|l| u8::try_from(l).ok())
            .ok_or_else(|| bad("level is not a canonical decimal in 0..=63"))?;
        let (index, width) = parse_index_and_width(path, rest, height)?;
        Tile::new(height, level, index, width)
    }

    /// This tile's position as it exists in the tree of `tree_size` leaves: the width becomes
    /// what that tree has there (full, or the tree's partial width at the right edge). `None`
    /// when the tree has nothing at this position.
    pub fn in_tree(&self, tree_size: u64) -> Option<Tile> {
        let count = hashes_on_tile_level(self.height, self.level, tree_size);
        let start = self.index.checked_mul(full_width(self.height))?;
        let available = count.checked_sub(start).filter(|&n| n > 0)?;
        let width = u16::try_from(available.min(full_width(self.height))).ok()?;
        Some(Tile { width, ..*self })
    }

    /// The stored-hash index of the `i`-th hash in this tile.
    fn stored_index_of(&self, i: u64) -> Result<u64, TileError> {
        let level = stored_level(self)?;
        let n = self
            .index
            .checked_mul(full_width(self.height))
            .and_then(|n| n.checked_add(i))
            .ok_or(ProofError::TreeTooLarge {
                level,
                index: self.index,
            })?;
        Ok(stored_hash_index(level, n)?)
    }

    /// Splits tile data into its hashes after checking the exact length.
    pub fn parse_data(&self, data: &[u8]) -> Result<Vec<Hash>, TileError> {
        if data.len() != self.data_len() {
            return Err(TileError::WrongDataLength {
                tile: *self,
                expected: self.data_len(),
                got: data.len(),
            });
        }
        let mut hashes = Vec::with_capacity(usize::from(self.width));
        for chunk in data.chunks_exact(HASH_SIZE) {
            let mut h = [0u8; HASH_SIZE];
            h.copy_from_slice(chunk);
            hashes.push(Hash(h));
        }
        Ok(hashes)
    }

    /// The stored hash `stored_index` computed from this tile's `data`: either one of its hashes
    /// or, for a stored level between tile levels, the root of a complete run of them.
    pub fn hash_at(&self, data: &[u8], stored_index: u64) -> Result<Hash, TileError> {
        let (tile, start, len) = locate(self.height, stored_index)?;
        if tile.level != self.level || tile.index != self.index || tile.width > self.width {
            return Err(TileError::NotInTile {
                tile: *self,
                stored_index,
            });
        }
        let hashes = self.parse_data(data)?;
        let run = hashes.get(start..start + len).ok_or(TileError::NotInTile {
            tile: *self,
            stored_index,
        })?;
        Ok(complete_subtree_root(run))
    }
}

impl fmt::Debug for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tile(h{} {})", self.height, self.path())
    }
}

impl fmt::Display for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// An entry bundle: the log entries behind one level-0 tile (C2SP tlog-tiles, "Log entries").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryBundle {
    height: u8,
    index: u64,
    width: u16,
}

impl EntryBundle {
    /// The bundle with index `index` holding `width` entries (`1..=2^height`).
    pub fn new(height: u8, index: u64, width: u16) -> Result<EntryBundle, TileError> {
        let tile = Tile::new(height, 0, index, width)?;
        Ok(EntryBundle::from_tile(&tile))
    }

    /// The bundle holding the entries of a level-0 tile's hashes (a tile of another level maps
    /// to the bundle at the same index and width).
    pub fn from_tile(tile: &Tile) -> EntryBundle {
        EntryBundle {
            height: tile.height,
            index: tile.index,
            width: tile.width,
        }
    }

    /// The level-0 tile with the leaf hashes of this bundle's entries.
    pub fn tile(&self) -> Tile {
        Tile {
            height: self.height,
            level: 0,
            index: self.index,
            width: self.width,
        }
    }

    /// The bundle in the tree of `tree_size` entries that holds entry `entry_index`.
    pub fn for_entry(
        height: u8,
        entry_index: u64,
        tree_size: u64,
    ) -> Result<EntryBundle, TileError> {
        check_height(height)?;
        if entry_index >= tree_size {
            return Err(ProofError::IndexOutOfRange {
                index: entry_index,
                tree_size,
            }
            .into());
        }
        let tile = Tile {
            height,
            level: 0,
            index: entry_index >> height,
            width: 1,
        };
        tile.in_tree(tree_size)
            .map(|t| EntryBundle::from_tile(&t))
            .ok_or(TileError::TileNotInTree { tile, tree_size })
    }

    /// The tile height whose level-0 tiles this bundle follows.
    pub fn height(&self) -> u8 {
        self.height
    }

    /// The bundle index `N`.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The number of entries, `W`.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// The log index of the bundle's first entry.
    pub fn first_entry(&self) -> u64 {
        // A bundle index beyond u64 / 2^height describes entries no u64 tree has; saturate so
        // comparisons against tree sizes still refuse it.
        self.index.saturating_mul(full_width(self.height))
    }

    /// The bundle's path, `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut out = String::from("tile/entries/");
        push_index_and_width(&mut out, self.index, self.width, self.tile().is_full());
        out
    }

    /// Parses a C2SP entry-bundle path (height 8), refusing every non-canonical spelling.
    pub fn from_path(path: &str) -> Result<EntryBundle, TileError> {
        EntryBundle::from_path_with_height(path, TILE_HEIGHT)
    }

    /// Parses an entry-bundle path for bundles following tiles of `height`.
    pub fn from_path_with_height(path: &str, height: u8) -> Result<EntryBundle, TileError> {
        check_height(height)?;
        let rest = strip_tile_prefix(path)?;
        let rest = rest
            .strip_prefix("entries/")
            .ok_or_else(|| malformed(path, "not an entry bundle path"))?;
        let (index, width) = parse_index_and_width(path, rest, height)?;
        EntryBundle::new(height, index, width)
    }

    /// Splits this bundle's data into exactly [`width`](Self::width) entries.
    pub fn split<'a>(&self, data: &'a [u8]) -> Result<Vec<&'a [u8]>, TileError> {
        split_entry_bundle(data, usize::from(self.width))
    }

    /// Checks that `entries` (this bundle's, in order) hash to the leaf hashes `reader` holds for
    /// them. With a [`TileHashReader`] the leaf hashes are authenticated against its trusted
    /// tree, so a passing bundle is exactly what that tree committed to.
    pub fn verify_entries<R: HashReader + ?Sized>(
        &self,
        entries: &[&[u8]],
        reader: &R,
    ) -> Result<(), TileError> {
        if entries.len() != usize::from(self.width) {
            return Err(TileError::BadEntryCount {
                count: entries.len(),
            });
        }
        let tile = self.tile();
        let indexes = (0..u64::from(self.width))
            .map(|i| tile.stored_index_of(i))
            .collect::<Result<Vec<_>, _>>()?;
        let expected = read_hashes_exact(reader, &indexes)?;
        for ((i, entry), expected) in (self.first_entry()..).zip(entries).zip(expected) {
            let computed = leaf_hash(entry);
            if computed != expected {
                return Err(TileError::Security(SecurityError::EntryHashMismatch {
                    index: i,
                    expected,
                    computed,
                }));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for EntryBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryBundle(h{} {})", self.height, self.path())
    }
}

impl fmt::Display for EntryBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// Either kind of resource under `tile/`, for a server routing requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`.
    Hashes(Tile),
    /// `tile/entries/<N>[.p/<W>]`.
    Entries(EntryBundle),
}

impl TilePath {
    /// Parses either kind of C2SP path (height 8).
    pub fn parse(path: &str) -> Result<TilePath, TileError> {
        TilePath::parse_with_height(path, TILE_HEIGHT)
    }

    /// Parses either kind of path for tiles of `height`.
    pub fn parse_with_height(path: &str, height: u8) -> Result<TilePath, TileError> {
        if strip_tile_prefix(path)?.starts_with("entries/") {
            EntryBundle::from_path_with_height(path, height).map(TilePath::Entries)
        } else {
            Tile::from_path_with_height(path, height).map(TilePath::Hashes)
        }
    }

    /// The canonical path.
    pub fn path(&self) -> String {
        match self {
            TilePath::Hashes(t) => t.path(),
            TilePath::Entries(b) => b.path(),
        }
    }
}

fn malformed(path: &str, reason: &'static str) -> TileError {
    // Keep evidence bounded: the path is attacker-controlled.
    let mut cut = path.len().min(MAX_TILE_PATH_LEN);
    while !path.is_char_boundary(cut) {
        cut -= 1;
    }
    TileError::MalformedPath {
        path: path[..cut].to_owned(),
        reason,
    }
}

fn strip_tile_prefix(path: &str) -> Result<&str, TileError> {
    if path.len() > MAX_TILE_PATH_LEN {
        return Err(malformed(path, "longer than any canonical tile path"));
    }
    path.strip_prefix("tile/")
        .ok_or_else(|| malformed(path, "does not start with tile/"))
}

/// A canonical decimal (see [`crate::decimal`]) not above `max`.
fn parse_decimal(text: &str, max: u64) -> Option<u64> {
    parse_canonical_u64(text).filter(|&v| v <= max)
}

/// `<N>[.p/<W>]`: N in zero-padded three-digit groups, all but the last prefixed with `x`, no
/// leading all-zero group; `.p/<W>` only for a partial width.
fn parse_index_and_width(path: &str, text: &str, height: u8) -> Result<(u64, u16), TileError> {
    let bad = |reason| malformed(path, reason);
    let full = full_width(height);
    let (groups, width) = match text.split_once(".p/") {
        Some((groups, width)) => {
            let width = parse_decimal(width, full - 1)
                .filter(|&w| w >= 1)
                .and_then(|w| u16::try_from(w).ok())
                .ok_or_else(|| bad("partial width is not a canonical decimal in 1..2^height"))?;
            (groups, width)
        }
        None => (text, TILE_WIDTH.min(1 << height)),
    };
    let count = groups.split('/').count();
    if count > MAX_INDEX_GROUPS {
        return Err(bad("too many index groups for a 64-bit index"));
    }
    let mut index: u64 = 0;
    for (i, group) in groups.split('/').enumerate() {
        let last = i + 1 == count;
        let digits = if last {
            group
        } else {
            group
                .strip_prefix('x')
                .ok_or_else(|| bad("index group before the last lacks its x prefix"))?
        };
        let d = digits.as_bytes();
        if d.len() != 3 || !d.iter().all(u8::is_ascii_digit) {
            return Err(bad("index group is not exactly three digits"));
        }
        if i == 0 && !last && digits == "000" {
            return Err(bad("index has a leading all-zero group"));
        }
        let value = d
            .iter()
            .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
        index = index
            .checked_mul(1000)
            .and_then(|n| n.checked_add(value))
            .ok_or_else(|| bad("index does not fit in 64 bits"))?;
    }
    Ok((index, width))
}

fn push_index_and_width(out: &mut String, index: u64, width: u16, full: bool) {
    let mut groups = Vec::with_capacity(MAX_INDEX_GROUPS);
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    for (i, g) in groups.iter().rev().enumerate() {
        if i + 1 < groups.len() {
            out.push_str(&format!("x{g:03}/"));
        } else {
            out.push_str(&format!("{g:03}"));
        }
    }
    if !full {
        out.push_str(&format!(".p/{width}"));
    }
}

/// Root of a run of `2^k` hashes that form a complete subtree.
fn complete_subtree_root(run: &[Hash]) -> Hash {
    let mut layer = run.to_vec();
    while layer.len() > 1 {
        layer = layer
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node_hash(l, r),
                [single] => *single,
                _ => Hash::empty_tree(),
            })
            .collect();
    }
    layer.first().copied().unwrap_or_else(Hash::empty_tree)
}

/// Where stored hash `stored_index` lives for tiles of `height`: the narrowest tile holding it,
/// and the run of that tile's hashes (start, length) whose complete-subtree root it is.
fn locate(height: u8, stored_index: u64) -> Result<(Tile, usize, usize), TileError> {
    check_height(height)?;
    let (level, n) = split_stored_hash_index(stored_index)?;
    let tile_level = level / height;
    let sub = level % height;
    let first = n << sub;
    let end = (n + 1) << sub;
    let tile_index = first >> height;
    let tile_start = tile_index << height;
    // Both fit: a run of 2^sub < 2^height hashes, aligned, never crosses a tile boundary.
    let width = u16::try_from(end - tile_start)
        .map_err(|_| ProofError::TreeTooLarge { level, index: n })?;
    let start = usize::try_from(first - tile_start)
        .map_err(|_| ProofError::TreeTooLarge { level, index: n })?;
    let tile = Tile::new(height, tile_level, tile_index, width)?;
    Ok((tile, start, 1 << sub))
}

/// The narrowest tile of `height` that holds stored hash `stored_index` (see
/// [`Tile::hash_at`]). A wider tile at the same position holds it too.
pub fn tile_for_stored_hash(height: u8, stored_index: u64) -> Result<Tile, TileError> {
    locate(height, stored_index).map(|(tile, _, _)| tile)
}

/// Every tile, full and partial, of every level, that a tree of `tree_size` leaves consists of
/// (C2SP tlog-tiles, "Partial Tiles"), lowest level first. The list grows with the tree: for a
/// big tree, prefer [`new_tiles`].
pub fn tiles_for_size(height: u8, tree_size: u64) -> Result<Vec<Tile>, TileError> {
    new_tiles(height, 0, tree_size)
}

/// The tiles to write when the tree grows from `old_size` to `new_size` leaves: every tile of
/// the new tree that the old tree did not have at this width (new tiles, and partial tiles that
/// grew, possibly to full). A server writes exactly these; equal sizes give none.
pub fn new_tiles(height: u8, old_size: u64, new_size: u64) -> Result<Vec<Tile>, TileError> {
    check_height(height)?;
    if old_size > new_size {
        return Err(TileError::BadTreeSizes { old_size, new_size });
    }
    let full = full_width(height);
    let mut out = Vec::new();
    for level in 0..=MAX_TILE_LEVEL {
        let new_count = hashes_on_tile_level(height, level, new_size);
        if new_count == 0 {
            break;
        }
        let old_count = hashes_on_tile_level(height, level, old_size);
        // The first tile that can change is the old tree's partial tile (or the next one).
        for index in (old_count >> height)..new_count.div_ceil(full) {
            let start = index << height;
            let new_width = (new_count - start).min(full);
            let old_width = old_count.saturating_sub(start).min(full);
            if new_width > old_width {
                let width = u16::try_from(new_width).map_err(|_| TileError::InvalidTile {
                    height,
                    level,
                    index,
                    width: 0,
                })?;
                out.push(Tile::new(height, level, index, width)?);
            }
        }
    }
    Ok(out)
}

fn read_hashes_exact<R: HashReader + ?Sized>(
    reader: &R,
    indexes: &[u64],
) -> Result<Vec<Hash>, TileError> {
    Ok(merkle::read_exact(reader, indexes)?)
}

/// The data of `tile` read from stored hashes (what a server writes to `tile.path()`).
pub fn read_tile_data<R: HashReader + ?Sized>(
    tile: &Tile,
    reader: &R,
) -> Result<Vec<u8>, TileError> {
    let indexes = (0..u64::from(tile.width))
        .map(|i| tile.stored_index_of(i))
        .collect::<Result<Vec<_>, _>>()?;
    let hashes = read_hashes_exact(reader, &indexes)?;
    Ok(hashes.iter().flat_map(|h| h.0).collect())
}

/// Encodes an entry bundle: each entry as a big-endian `u16` length and its bytes. Refuses an
/// empty bundle, more than [`MAX_BUNDLE_ENTRIES`] entries, or an entry over [`MAX_ENTRY_SIZE`].
pub fn encode_entry_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    if entries.is_empty() || entries.len() > MAX_BUNDLE_ENTRIES {
        return Err(TileError::BadEntryCount {
            count: entries.len(),
        });
    }
    let mut size = 0;
    for (position, e) in entries.iter().enumerate() {
        let len = e.as_ref().len();
        if len > MAX_ENTRY_SIZE {
            return Err(TileError::EntryTooLarge {
                position,
                size: len,
            });
        }
        size += 2 + len;
    }
    let mut out = Vec::with_capacity(size);
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge {
            position: 0,
            size: e.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits entry-bundle data into exactly `count` entries (`1..=MAX_BUNDLE_ENTRIES`; a partial
/// bundle of width `W` has exactly `W`), consuming every byte. Sizes are checked before any
/// entry is read.
pub fn split_entry_bundle(data: &[u8], count: usize) -> Result<Vec<&[u8]>, TileError> {
    if count == 0 || count > MAX_BUNDLE_ENTRIES {
        return Err(TileError::BadEntryCount { count });
    }
    if data.len() > count * (2 + MAX_ENTRY_SIZE) {
        return Err(TileError::BundleTooLarge {
            size: data.len(),
            count,
        });
    }
    let mut entries = Vec::with_capacity(count);
    let mut rest = data;
    for position in 0..count {
        let offset = data.len() - rest.len();
        let truncated = TileError::BundleTruncated { position, offset };
        let (len, after) = rest.split_first_chunk::<2>().ok_or(truncated)?;
        let len = usize::from(u16::from_be_bytes(*len));
        if after.len() < len {
            return Err(TileError::BundleTruncated { position, offset });
        }
        let (entry, after) = after.split_at(len);
        entries.push(entry);
        rest = after;
    }
    if !rest.is_empty() {
        return Err(TileError::BundleTrailingData {
            count,
            extra: rest.len(),
        });
    }
    Ok(entries)
}

/// A trusted tree: the size and root of a checkpoint that a log signed. Every tile a
/// [`TileHashReader`] uses is checked against it.
///
/// A client gets one only from a verified checkpoint ([`TreeHead::from_verified`], or
/// `From<&VerifiedCheckpoint>` / `From<&WitnessedCheckpoint>`), so a hand-built tree cannot
/// slip past the signature and quorum checks. A log server, which computed the tree itself, uses
/// [`TreeHead::new_unverified_for_server`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    size: u64,
    root: Hash,
}

impl TreeHead {
    /// The tree a verified checkpoint signs.
    pub fn from_verified(checkpoint: &VerifiedCheckpoint) -> TreeHead {
        TreeHead {
            size: checkpoint.size(),
            root: *checkpoint.root(),
        }
    }

    /// A tree head that nobody verified: for a log server reading its own storage (which
    /// computed the root) and for tests. A client must not use this on data it received.
    pub fn new_unverified_for_server(size: u64, root: Hash) -> TreeHead {
        TreeHead { size, root }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Root hash.
    pub fn root(&self) -> &Hash {
        &self.root
    }
}

impl From<&VerifiedCheckpoint> for TreeHead {
    fn from(checkpoint: &VerifiedCheckpoint) -> TreeHead {
        TreeHead::from_verified(checkpoint)
    }
}

impl From<&WitnessedCheckpoint> for TreeHead {
    fn from(checkpoint: &WitnessedCheckpoint) -> TreeHead {
        TreeHead::from_verified(checkpoint.checkpoint())
    }
}

/// Fetches tiles, typically over HTTP or from a mirror's files. Untrusted: whatever it returns
/// is authenticated by [`TileHashReader`] before use.
pub trait TileReader {
    /// The reader's own error, passed on boxed in [`TileError::TileRead`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// The tile height the log uses; C2SP fixes it at [`TILE_HEIGHT`].
    fn height(&self) -> u8 {
        TILE_HEIGHT
    }

    /// Returns the data of each tile, in order (fetching them in parallel if it likes). A tile
    /// that no longer exists as a partial tile may be answered by its full tile's data cut to
    /// the requested width.
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Self::Error>;

    /// Called with tiles that were just authenticated, so a reader can cache them. The default
    /// does nothing.
    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]) {
        let _ = (tiles, data);
    }
}

impl<T: TileReader + ?Sized> TileReader for &T {
    type Error = T::Error;

    fn height(&self) -> u8 {
        (**self).height()
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Self::Error> {
        (**self).read_tiles(tiles)
    }

    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]) {
        (**self).save_tiles(tiles, data);
    }
}

/// A [`HashReader`] over tiles from an untrusted [`TileReader`] that returns hashes only from
/// tiles it has authenticated against a trusted [`TreeHead`], as the Go checksum database client
/// does: the partial tiles at the right edge of the tree must hash to the trusted root, and each
/// full tile must hash to the entry its (authenticated) parent tile holds for it. A tile that
/// fails is refused with [`TileError::Security`] ([`SecurityError::TreeRootMismatch`] or
/// [`SecurityError::TileMismatch`]), which stays [`ProofError::Security`] when reached through
/// the [`merkle`] functions.
#[derive(Debug)]
pub struct TileHashReader<R> {
    tree: TreeHead,
    tiles: R,
}

impl<R: TileReader> TileHashReader<R> {
    /// A reader for the tree `tree`, which the caller has verified (a checkpoint with a valid
    /// signature and witness quorum): it is the trust anchor for every hash this reader returns.
    pub fn new(tree: TreeHead, tiles: R) -> TileHashReader<R> {
        TileHashReader { tree, tiles }
    }

    /// The trusted tree.
    pub fn tree(&self) -> &TreeHead {
        &self.tree
    }

    /// The root of the tree of `tree_size <= tree().size` leaves, from authenticated tiles.
    pub fn tree_hash(&self, tree_size: u64) -> Result<Hash, ProofError> {
        self.check_size(tree_size)?;
        merkle::tree_hash(tree_size, self)
    }

    /// Inclusion proof of leaf `index` in the tree of `tree_size <= tree().size` leaves.
    pub fn prove_inclusion(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(tree_size)?;
        merkle::prove_inclusion(tree_size, index, self)
    }

    /// Consistency proof from `size1` to `size2 <= tree().size` leaves.
    pub fn prove_consistency(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size2)?;
        merkle::prove_consistency(size1, size2, self)
    }

    fn check_size(&self, tree_size: u64) -> Result<(), ProofError> {
        if tree_size > self.tree.size {
            return Err(ProofError::BadTreeSizes {
                size1: tree_size,
                size2: self.tree.size,
            });
        }
        Ok(())
    }

    /// Fetches `tiles` and checks each one's length.
    fn fetch(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TileError> {
        let data = self
            .tiles
            .read_tiles(tiles)
            .map_err(|e| TileError::TileRead(Box::new(e)))?;
        if data.len() != tiles.len() {
            return Err(TileError::TileReaderCount {
                requested: tiles.len(),
                returned: data.len(),
            });
        }
        for (tile, d) in tiles.iter().zip(&data) {
            if d.len() != tile.data_len() {
                // Served as this tile but of the wrong length for its path: whoever served it
                // misbehaved, just as with a tile whose hashes do not match.
                return Err(TileError::Security(SecurityError::TileWrongLength {
                    tile: *tile,
                    expected: tile.data_len(),
                    got: d.len(),
                }));
            }
        }
        Ok(data)
    }
}

impl<R: TileReader> HashReader for TileHashReader<R> {
    type Error = TileError;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TileError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let height = self.tiles.height();
        check_height(height)?;
        let size = self.tree.size;
        let stored = stored_hash_count(size)?;
        if let Some(&bad) = indexes.iter().find(|&&x| x >= stored) {
            return Err(TileError::NotInTree {
                stored_index: bad,
                tree_size: size,
            });
        }

        // Plan. First the tiles that the root is computed from: the partial tile of each level
        // (every tile at the right edge of the tree is partial, and together they hold the
        // complete subtrees the root is built from).
        let mut order: HashMap<Tile, usize> = HashMap::new();
        let mut tiles: Vec<Tile> = Vec::new();
        let mut root_parts: Vec<(Tile, u64)> = Vec::new();
        let mut at = 0u64;
        for level in (0..64u8).rev() {
            if (size >> level) & 1 == 1 {
                let x = stored_hash_index(level, at >> level)?;
                let tile = self.tile_in_tree(height, x)?;
                if let std::collections::hash_map::Entry::Vacant(slot) = order.entry(tile) {
                    slot.insert(tiles.len());
                    tiles.push(tile);
                }
                root_parts.push((tile, x));
                at += 1 << level;
            }
        }
        let root_tiles = tiles.len();
        // Then each requested hash's tile, preceded by the chain of full tiles up to a tile
        // already planned, parents before children, so that checking in order always finds the
        // parent authenticated.
        let mut wanted = Vec::with_capacity(indexes.len());
        for &x in indexes {
            let tile = self.tile_in_tree(height, x)?;
            let mut chain = Vec::new();
            let mut cur = tile;
            while !order.contains_key(&cur) {
                if !cur.is_full() {
                    // Every partial tile of the tree is a root tile; reaching another one
                    // would mean the plan is wrong. Refuse rather than return unchecked data.
                    return Err(TileError::TileNotInTree {
                        tile: cur,
                        tree_size: size,
                    });
                }
                chain.push(cur);
                cur = self.parent_in_tree(&cur)?;
            }
            for t in chain.into_iter().rev() {
                order.insert(t, tiles.len());
                tiles.push(t);
            }
            wanted.push((tile, x));
        }

        let data = self.fetch(&tiles)?;

        // Authenticate the right edge against the trusted root (RFC 9162 section 2.1.1: the
        // complete subtrees fold from the right).
        let mut parts = root_parts.iter().rev();
        let computed = match parts.next() {
            None => Hash::empty_tree(),
            Some(&(tile, x)) => {
                let mut acc = tile.hash_at(&data[order[&tile]], x)?;
                for &(tile, x) in parts {
                    acc = node_hash(&tile.hash_at(&data[order[&tile]], x)?, &acc);
                }
                acc
            }
        };
        if computed != self.tree.root {
            return Err(TileError::Security(SecurityError::TreeRootMismatch {
                tree_size: size,
                expected: self.tree.root,
                computed,
            }));
        }
        // Authenticate the full tiles top-down against their parents.
        for (i, tile) in tiles.iter().enumerate().skip(root_tiles) {
            let parent = self.parent_in_tree(tile)?;
            let slot = stored_hash_index(stored_level(&parent)?, tile.index)?;
            let expected = parent.hash_at(&data[order[&parent]], slot)?;
            let computed = complete_subtree_root(&tile.parse_data(&data[i])?);
            if computed != expected {
                return Err(TileError::Security(SecurityError::TileMismatch {
                    tile: *tile,
                    expected,
                    computed,
                }));
            }
        }
        self.tiles.save_tiles(&tiles, &data);

        wanted
            .iter()
            .map(|&(tile, x)| tile.hash_at(&data[order[&tile]], x))
            .collect()
    }
}

impl<R: TileReader> TileHashReader<R> {
    /// The tile holding stored hash `x`, as wide as the trusted tree has it.
    fn tile_in_tree(&self, height: u8, x: u64) -> Result<Tile, TileError> {
        tile_for_stored_hash(height, x)?
            .in_tree(self.tree.size)
            .ok_or(TileError::NotInTree {
                stored_index: x,
                tree_size: self.tree.size,
            })
    }

    /// The tile one level up that holds the hash of full tile `tile`.
    fn parent_in_tree(&self, tile: &Tile) -> Result<Tile, TileError> {
        let level = tile.level.checked_add(1).filter(|&l| l <= MAX_TILE_LEVEL);
        level
            .map(|level| Tile {
                level,
                index: tile.index >> tile.height,
                width: 1,
                height: tile.height,
            })
            .and_then(|t| t.in_tree(self.tree.size))
            .ok_or(TileError::TileNotInTree {
                tile: *tile,
                tree_size: self.tree.size,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(level: u8, index: u64, width: u16) -> Tile {
        Tile::new(TILE_HEIGHT, level, index, width).expect("valid test tile")
    }

    #[test]
    fn spec_path_examples() {
        // "index 1234067 will be encoded as x001/x234/067"
        assert_eq!(tile(0, 1_234_067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(
            Tile::from_path("tile/0/x001/x234/067").expect("spec example"),
            tile(0, 1_234_067, 256)
        );
        assert_eq!(tile(1, 0, 256).path(), "tile/1/000");
        assert_eq!(tile(2, 5, 17).path(), "tile/2/005.p/17");
        assert_eq!(
            tile(63, u64::MAX, 255).path(),
            "tile/63/x018/x446/x744/x073/x709/x551/615.p/255"
        );
        let b = EntryBundle::new(TILE_HEIGHT, 1_234_067, 112).expect("valid");
        assert_eq!(b.path(), "tile/entries/x001/x234/067.p/112");
        assert_eq!(EntryBundle::from_path(&b.path()).expect("round trip"), b);
        assert_eq!(
            TilePath::parse("tile/entries/000").expect("full bundle"),
            TilePath::Entries(EntryBundle::new(TILE_HEIGHT, 0, 256).expect("valid"))
        );
        assert_eq!(
            TilePath::parse("tile/3/x001/000.p/1").expect("partial tile"),
            TilePath::Hashes(tile(3, 1000, 1))
        );
        let longest = "tile/entries/x018/x446/x744/x073/x709/x551/615.p/255";
        assert!(longest.len() <= MAX_TILE_PATH_LEN);
        assert_eq!(
            TilePath::parse(longest).expect("longest path").path(),
            longest
        );
    }

    #[test]
    fn non_canonical_paths_are_refused() {
        for path in [
            "",
            "tile",
            "tile/",
            "tile/0",
            "tile/0/",
            "tile//000",
            "/tile/0/000",
            "tiles/0/000",
            "tile/00/000",
            "tile/01/000",
            "tile/64/000",
            "tile/255/000",
            "tile/+1/000",
            "tile/-0/000",
            "tile/ 1/000",
            "tile/1a/000",
            "tile/0/0",
            "tile/0/00",
            "tile/0/0000",
            "tile/0/1",
            "tile/0/x000",
            "tile/0/x001",
            "tile/0/x000/001",
            "tile/0/x000/x001/002",
            "tile/0/001/002",
            "tile/0/x01/002",
            "tile/0/x0001/002",
            "tile/0/xx001/002",
            "tile/0/X001/002",
            "tile/0/x001//002",
            "tile/0/x001/002/",
            "tile/0/000/",
            "tile/0/000.p/",
            "tile/0/000.p/0",
            "tile/0/000.p/00",
            "tile/0/000.p/01",
            "tile/0/000.p/256",
            "tile/0/000.p/300",
            "tile/0/000.p/+5",
            "tile/0/000.p/5/",
            "tile/0/000.p/5.p/5",
            "tile/0/000.p/5 ",
            "tile/0/000 ",
            "tile/0/000.P/5",
            "tile/0/000.p5",
            "tile/0/x001.p/5/002",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/x999/x999/x999/x999/x999/x999/999",
            "tile/0/x001/x000/x000/x000/x000/x000/x000/000",
            "tile/0/000\n",
            "tile/0/٣٣٣",
            "tile/entries/000",
            "tile/entries/000.p/256",
            "tile/entries/x000/000",
            "tile/entries/",
            "tile/entries",
            "tile/0/x001/x234/067/tile/0/x001/x234/067/tile/0/x001/x234/067/000",
        ] {
            assert!(
                matches!(Tile::from_path(path), Err(TileError::MalformedPath { .. })),
                "accepted {path:?}"
            );
        }
        for path in [
            "tile/entries/000.p/0",
            "tile/entries/0",
            "tile/0/000",
            "tile/entries/x000/000",
        ] {
            assert!(EntryBundle::from_path(path).is_err(), "accepted {path:?}");
        }
        // Height 2: full tiles have 4 hashes, so only .p/1 to .p/3 exist.
        assert_eq!(
            Tile::from_path_with_height("tile/1/007.p/3", 2)
                .expect("valid")
                .width(),
            3
        );
        assert!(Tile::from_path_with_height("tile/1/007.p/4", 2).is_err());
        assert_eq!(
            Tile::from_path_with_height("tile/1/007", 2)
                .expect("valid")
                .width(),
            4
        );
        assert!(matches!(
            Tile::from_path_with_height("tile/1/007", 9),
            Err(TileError::InvalidHeight { height: 9 })
        ));
    }

    #[test]
    fn spec_tree_examples() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
        // level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width
        // 17, and one partial level 2 tile of width 1."
        let tiles = tiles_for_size(TILE_HEIGHT, 70_000).expect("valid size");
        let mut expect: Vec<Tile> = (0..273).map(|n| tile(0, n, 256)).collect();
        expect.extend([
            tile(0, 273, 112),
            tile(1, 0, 256),
            tile(1, 1, 17),
            tile(2, 0, 1),
        ]);
        assert_eq!(tiles, expect);
        // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
        // tile of width 1."
        assert_eq!(
            tiles_for_size(TILE_HEIGHT, 256).expect("valid size"),
            [tile(0, 0, 256), tile(1, 0, 1)]
        );
        assert_eq!(tiles_for_size(TILE_HEIGHT, 0).expect("valid size"), []);
        assert_eq!(
            new_tiles(TILE_HEIGHT, 255, 256).expect("growth"),
            [tile(0, 0, 256), tile(1, 0, 1)]
        );
        assert_eq!(new_tiles(TILE_HEIGHT, 256, 256).expect("no growth"), []);
        assert!(matches!(
            new_tiles(TILE_HEIGHT, 3, 2),
            Err(TileError::BadTreeSizes { .. })
        ));
        // The largest tree: every level up to 7 has a partial tile and the math does not
        // overflow.
        let big = new_tiles(TILE_HEIGHT, u64::MAX - 1, u64::MAX).expect("largest tree");
        assert_eq!(big.first(), Some(&tile(0, u64::MAX >> 8, 255)));
    }

    #[test]
    fn hashes_come_out_of_the_right_tile() {
        let mut tree = crate::merkle::MemoryTree::new();
        for i in 0u32..40 {
            tree.append(&i.to_be_bytes());
        }
        for height in 1..=3u8 {
            for x in 0..stored_hash_count(40).expect("small") {
                let narrow = tile_for_stored_hash(height, x).expect("in range");
                let data = read_tile_data(&narrow, &tree).expect("stored");
                let want = tree.read_hashes(&[x]).expect("stored")[0];
                assert_eq!(narrow.hash_at(&data, x).expect("held"), want);
                assert!(matches!(
                    narrow.hash_at(&data[1..], x),
                    Err(TileError::WrongDataLength { .. })
                ));
            }
        }
        let t = tile(0, 0, 2);
        assert!(matches!(
            t.hash_at(&[0; 64], stored_hash_index(0, 2).expect("small")),
            Err(TileError::NotInTile { .. })
        ));
    }

    #[test]
    fn entry_bundles() {
        let entries: Vec<&[u8]> = vec![b"one", b"", b"three"];
        let data = encode_entry_bundle(&entries).expect("encodable");
        assert_eq!(data, b"\x00\x03one\x00\x00\x00\x05three");
        assert_eq!(
            split_entry_bundle(&data, 3).expect("three entries"),
            entries
        );
        assert!(matches!(
            split_entry_bundle(&data, 2),
            Err(TileError::BundleTrailingData { count: 2, extra: 7 })
        ));
        assert!(matches!(
            split_entry_bundle(&data, 4),
            Err(TileError::BundleTruncated {
                position: 3,
                offset: 14
            })
        ));
        assert!(matches!(
            split_entry_bundle(&data[..11], 3),
            Err(TileError::BundleTruncated {
                position: 2,
                offset: 7
            })
        ));
        assert!(matches!(
            split_entry_bundle(&data, 0),
            Err(TileError::BadEntryCount { count: 0 })
        ));
        assert!(matches!(
            split_entry_bundle(&data, 257),
            Err(TileError::BadEntryCount { count: 257 })
        ));
        assert!(matches!(
            split_entry_bundle(&vec![0; 2 + MAX_ENTRY_SIZE + 1], 1),
            Err(TileError::BundleTooLarge { .. })
        ));
        let biggest = vec![7u8; MAX_ENTRY_SIZE];
        let one = encode_entry_bundle(&[&biggest]).expect("largest entry fits");
        assert_eq!(split_entry_bundle(&one, 1).expect("fits")[0], &biggest[..]);
        let too_big = vec![7u8; MAX_ENTRY_SIZE + 1];
        assert!(matches!(
            encode_entry_bundle(&[&too_big]),
            Err(TileError::EntryTooLarge { position: 0, .. })
        ));
        assert!(encode_entry_bundle::<&[u8]>(&[]).is_err());
        assert!(encode_entry_bundle(&vec![b"x"; 257]).is_err());
        let full = encode_entry_bundle(&vec![b"x"; 256]).expect("full bundle");
        let bundle = EntryBundle::new(TILE_HEIGHT, 0, 256).expect("valid");
        assert_eq!(bundle.split(&full).expect("256 entries").len(), 256);
        let partial = EntryBundle::new(TILE_HEIGHT, 0, 255).expect("valid");
        assert!(partial.split(&full).is_err());
    }
}
