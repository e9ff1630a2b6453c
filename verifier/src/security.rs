//! [`SecurityError`]: the failures that mean a log, or whoever served its data, misbehaved, as
//! opposed to malformed input or a failed read. Merkle proofs ([`crate::merkle::ProofError`]),
//! tiles ([`crate::tile::TileError`]) and checkpoints ([`crate::checkpoint::CheckpointError`])
//! all carry it as one variant, `Security`, so a caller decides "evidence of misbehaviour or
//! not" by matching that variant, and every security failure carries what was expected and what
//! was found (for an inconsistent log, both signed checkpoints and the proof).

use crate::checkpoint::Inconsistency;
use crate::hash::Hash;
use crate::tile::Tile;

/// A security failure, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// A well-formed proof leads to a root other than the trusted one (for a consistency proof:
    /// the root of the newer tree).
    #[error("root mismatch: expected {expected}, proof leads to {computed}")]
    RootMismatch {
        /// The root the caller trusts.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
    /// A well-formed consistency proof does not lead back to the root of the older tree.
    #[error("old root mismatch: expected {expected}, proof leads to {computed}")]
    OldRootMismatch {
        /// The older root the caller trusts.
        expected: Hash,
        /// The older root the proof leads to.
        computed: Hash,
    },
    /// The tiles a log served do not hash to the trusted root.
    #[error("tiles for tree size {tree_size} lead to root {computed}, expected {expected}")]
    TreeRootMismatch {
        /// The trusted tree size.
        tree_size: u64,
        /// The trusted root.
        expected: Hash,
        /// The root computed from the served tiles.
        computed: Hash,
    },
    /// A served tile does not hash to the value its authenticated parent tile holds for it.
    #[error("tile {tile} hashes to {computed}, its authenticated parent says {expected}")]
    TileMismatch {
        /// The refused tile.
        tile: Tile,
        /// The hash the parent tile holds.
        expected: Hash,
        /// The hash of the served tile.
        computed: Hash,
    },
    /// A tile served for a path is not `width * 32` bytes long (short or oversized).
    #[error("tile {tile}: served {got} bytes, its path says {expected}")]
    TileWrongLength {
        /// The refused tile.
        tile: Tile,
        /// `width * 32`.
        expected: usize,
        /// The length served.
        got: usize,
    },
    /// An entry does not hash to the authenticated leaf hash at its index.
    #[error("entry {index} hashes to {computed}, the authenticated tree has {expected}")]
    EntryHashMismatch {
        /// The entry's index in the log.
        index: u64,
        /// The authenticated leaf hash.
        expected: Hash,
        /// The entry's leaf hash.
        computed: Hash,
    },
    /// Two checkpoints signed by the log conflict. Carries both signed notes and the proof.
    #[error("log inconsistency: {0}")]
    Inconsistent(Box<Inconsistency>),
}
