//! RFC 6962 Merkle tree proofs, verified with the algorithms of RFC 9162 section 2.1.3.2
//! (inclusion) and section 2.1.4.2 (consistency).
//!
//! Verification is strict about shape before it hashes anything: an index outside the tree, tree
//! sizes in the wrong order, or a proof with one hash too many or too few is a malformed input
//! ([`ProofError::IndexOutOfRange`], [`ProofError::BadTreeSizes`],
//! [`ProofError::WrongProofLength`]). Only a well-formed proof that leads to a different root is a
//! security failure ([`ProofError::Security`] with [`SecurityError::RootMismatch`] or
//! [`SecurityError::OldRootMismatch`]), and those carry both hashes as evidence.
//!
//! The generating side (roots and proofs from stored hashes, RFC 9162 sections 2.1.1, 2.1.3.1 and
//! 2.1.4.1) reads hashes through [`HashReader`] from an append-only array of every complete
//! subtree hash, laid out as in the Go checksum database (`golang.org/x/mod/sumdb/tlog`): the
//! hashes for record `n` are its leaf hash followed by the hashes of the subtrees that leaf
//! completes, so a server appends and never rewrites. See [`stored_hash_index`].

use std::collections::BTreeMap;

use crate::hash::{Hash, leaf_hash, node_hash};
use crate::security::SecurityError;

/// The largest tree the generating side handles: every stored-hash index of such a tree fits in a
/// `u64` with room to spare. Verification has no such limit.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// A boxed error from a [`HashReader`] implementation.
pub type ReadError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a proof was refused or could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// An inclusion proof was asked for (or offered for) an index the tree does not contain.
    #[error("index {index} is not in a tree of size {tree_size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The size of the tree.
        tree_size: u64,
    },
    /// A consistency proof needs `1 <= size1 <= size2`.
    #[error("no consistency proof exists from tree size {size1} to tree size {size2}")]
    BadTreeSizes {
        /// The size of the older tree.
        size1: u64,
        /// The size of the newer tree.
        size2: u64,
    },
    /// The proof does not have the one length the tree sizes and index determine.
    #[error("proof has {got} hashes, expected exactly {expected}")]
    WrongProofLength {
        /// The number of hashes the sizes and index call for.
        expected: usize,
        /// The number of hashes supplied.
        got: usize,
    },
    /// Security failure: the proof leads elsewhere than the trusted root, or a tile-backed
    /// reader refused a tile ([`crate::tile::TileHashReader`]). Carries the evidence.
    #[error(transparent)]
    Security(SecurityError),
    /// The tree, leaf or stored-hash index is beyond what the stored-hash layout can address
    /// (see [`MAX_TREE_SIZE`]).
    #[error("tree too large: level {level}, index {index} is beyond the stored-hash layout")]
    TreeTooLarge {
        /// The level of the hash asked for (0 for leaves and tree sizes).
        level: u8,
        /// The index on that level.
        index: u64,
    },
    /// A [`MemoryTree`] was asked for a stored hash it does not have.
    #[error("stored hash {index} not present: only {stored} hashes are stored")]
    HashNotStored {
        /// The stored-hash index asked for.
        index: u64,
        /// The number of stored hashes.
        stored: u64,
    },
    /// A [`HashReader`] answered with a different number of hashes than it was asked for.
    #[error("hash reader returned {returned} hashes for {requested} indexes")]
    ReaderCount {
        /// Number of hashes asked for.
        requested: usize,
        /// Number of hashes returned.
        returned: usize,
    },
    /// A [`RightEdge`] was given a number of hashes other than the bits set in its size.
    #[error("a right edge of a tree of {size} leaves needs {expected} hashes, got {got}")]
    BadRightEdge {
        /// The tree size.
        size: u64,
        /// One per bit set in `size`.
        expected: usize,
        /// The number given.
        got: usize,
    },
    /// A [`HashReader`] failed for a reason other than a security failure (those are
    /// [`ProofError::Security`]). The source is the reader's own error.
    #[error("reading stored hashes failed")]
    Read(#[source] ReadError),
}

impl ProofError {
    /// The security failure this error is, if it is one: a root mismatch, or a tile-backed
    /// reader that refused a tile. Anything else is malformed input or a failed read.
    pub fn security(&self) -> Option<&SecurityError> {
        match self {
            ProofError::Security(e) => Some(e),
            _ => None,
        }
    }

    /// True for the errors that mean a log (or whoever served its data) misbehaved.
    pub fn is_security_failure(&self) -> bool {
        self.security().is_some()
    }
}

impl From<SecurityError> for ProofError {
    fn from(e: SecurityError) -> ProofError {
        ProofError::Security(e)
    }
}

/// The number of hashes in the inclusion proof of leaf `index` in a tree of `tree_size` leaves.
pub fn inclusion_proof_len(index: u64, tree_size: u64) -> Result<usize, ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    Ok(path_len(index, tree_size - 1))
}

/// How many proof hashes the RFC 9162 walk from `(fn, sn)` up to the root consumes: the same
/// steps as the verifiers below without the hashing. Each step consumes one hash and the walk
/// ends when `sn` reaches 0, so this is the only proof length that can verify.
fn path_len(mut f: u64, mut s: u64) -> usize {
    let mut len = 0;
    while s != 0 {
        if f & 1 == 1 || f == s {
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        }
        f >>= 1;
        s >>= 1;
        len += 1;
    }
    len
}

/// The number of hashes in the consistency proof from `size1` to `size2` leaves
/// (`1 <= size1 <= size2`; equal sizes need an empty proof).
pub fn consistency_proof_len(size1: u64, size2: u64) -> Result<usize, ProofError> {
    if size1 == 0 || size1 > size2 {
        return Err(ProofError::BadTreeSizes { size1, size2 });
    }
    if size1 == size2 {
        return Ok(0);
    }
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // When size1 is a power of two the old root itself starts the path and is not sent.
    Ok(usize::from(!size1.is_power_of_two()) + path_len(f, s))
}

/// Computes the root that an inclusion proof for `leaf` at `index` leads to (RFC 9162 section
/// 2.1.3.2 without the final comparison), after checking the index and the exact proof length.
pub fn root_from_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    let expected = inclusion_proof_len(index, tree_size)?;
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let (mut f, mut s) = (index, tree_size - 1);
    let mut r = *leaf;
    for p in proof {
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            // A node that is the last one on its level has no right sibling: skip the levels
            // where it is promoted unchanged.
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        // Unreachable after the length check; refuse rather than return a partial path's root.
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    Ok(r)
}

/// Verifies that `leaf` (a leaf hash, see [`crate::hash::leaf_hash`]) is at `index` in the tree of
/// `tree_size` leaves with root `root` (RFC 9162 section 2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(leaf, index, tree_size, proof)?;
    if computed != *root {
        return Err(ProofError::Security(SecurityError::RootMismatch {
            expected: *root,
            computed,
        }));
    }
    Ok(())
}

/// Verifies that the tree of `size1` leaves with root `root1` is a prefix of the tree of `size2`
/// leaves with root `root2` (RFC 9162 section 2.1.4.2).
///
/// `size1 = 0` is refused: the empty tree is a prefix of every tree, so a "proof" from it proves
/// nothing and accepting one would only hide a caller's bug. Equal sizes need an empty proof and
/// equal roots.
pub fn verify_consistency(
    size1: u64,
    root1: &Hash,
    size2: u64,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let expected = consistency_proof_len(size1, size2)?;
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    if size1 == size2 {
        if root1 != root2 {
            // With an empty proof the newer root "computed" from the older one is the older root.
            return Err(ProofError::Security(SecurityError::RootMismatch {
                expected: *root2,
                computed: *root1,
            }));
        }
        return Ok(());
    }
    let mut rest = proof.iter();
    let start = if size1.is_power_of_two() {
        *root1
    } else {
        match rest.next() {
            Some(h) => *h,
            // Unreachable: a non-power-of-two size1 below size2 always needs at least one hash,
            // and the length was checked. Refuse rather than trust that reasoning.
            None => {
                return Err(ProofError::WrongProofLength {
                    expected,
                    got: proof.len(),
                });
            }
        }
    };
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    // Skip the levels on which the older tree's last node is a right child: the proof starts
    // at the largest complete subtree the two trees share.
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (start, start);
    for c in rest {
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    if fr != *root1 {
        return Err(ProofError::Security(SecurityError::OldRootMismatch {
            expected: *root1,
            computed: fr,
        }));
    }
    if sr != *root2 {
        return Err(ProofError::Security(SecurityError::RootMismatch {
            expected: *root2,
            computed: sr,
        }));
    }
    Ok(())
}

/// Reads stored hashes by stored-hash index (see [`stored_hash_index`]).
///
/// Synchronous on purpose: the verifier does no I/O. A server backs this with its storage, a
/// client with authenticated tiles ([`crate::tile::TileHashReader`]).
pub trait HashReader {
    /// The reader's own error, turned into a [`ProofError`] as it is passed on: a reader
    /// that refuses data as a security failure says so with [`ProofError::Security`], so
    /// callers match a variant instead of inspecting the error at run time.
    type Error: Into<ProofError>;

    /// Returns the hashes at `indexes`, in the same order, one for each index. The indexes may
    /// be in any order and may repeat; asking for all of them at once lets a reader batch its
    /// storage or network round trips.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    type Error = R::Error;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error> {
        (**self).read_hashes(indexes)
    }
}

/// Reads `indexes` and checks that the reader kept its side of the contract.
pub(crate) fn read_exact<R: HashReader + ?Sized>(
    reader: &R,
    indexes: &[u64],
) -> Result<Vec<Hash>, ProofError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(indexes).map_err(Into::into)?;
    if hashes.len() != indexes.len() {
        return Err(ProofError::ReaderCount {
            requested: indexes.len(),
            returned: hashes.len(),
        });
    }
    Ok(hashes)
}

/// Position in the stored-hash array of the hash at `level` (0 = leaves) with index `index` on
/// that level, i.e. the root of the complete subtree over leaves
/// `[index * 2^level, (index + 1) * 2^level)`.
///
/// The array holds, for each record `n` in turn, its leaf hash and then the hashes of the
/// subtrees whose last leaf it is, lowest first. Fails when the subtree ends beyond
/// [`MAX_TREE_SIZE`].
pub fn stored_hash_index(level: u8, index: u64) -> Result<u64, ProofError> {
    let too_large = ProofError::TreeTooLarge { level, index };
    // The subtree is stored right after the hashes of its last leaf; find that leaf.
    let end = index
        .checked_add(1)
        .and_then(|n| n.checked_shl(u32::from(level)))
        .filter(|&n| (n >> level) == index + 1 && n <= MAX_TREE_SIZE)
        .ok_or(too_large)?;
    let last_leaf = end - 1;
    // Record k contributes 1 + trailing_ones(k) hashes, so the records before `last_leaf`
    // contribute sum over k < last_leaf of that, which equals 2*last_leaf - popcount(last_leaf).
    let before = 2 * last_leaf - u64::from(last_leaf.count_ones());
    Ok(before + u64::from(level))
}

/// The inverse of [`stored_hash_index`]: which `(level, index)` is stored at `stored`.
pub fn split_stored_hash_index(stored: u64) -> Result<(u8, u64), ProofError> {
    // The record whose hashes include `stored` is the last record whose leaf hash is stored at
    // or before it; the leaf position grows monotonically with the record, so binary search.
    let (mut lo, mut hi) = (0u64, stored.min(MAX_TREE_SIZE - 1));
    let leaf_pos = |k: u64| 2 * k - u64::from(k.count_ones());
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if leaf_pos(mid) <= stored {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let record = lo;
    let offset = stored - leaf_pos(record);
    if offset > u64::from(record.trailing_ones()) {
        // Only possible past the end of the layout.
        return Err(ProofError::TreeTooLarge {
            level: 0,
            index: stored,
        });
    }
    // offset <= 63 was just checked against trailing_ones.
    let level = u8::try_from(offset).map_err(|_| ProofError::TreeTooLarge {
        level: 0,
        index: stored,
    })?;
    Ok((level, record >> level))
}

/// Number of stored hashes of a tree of `tree_size` records.
pub fn stored_hash_count(tree_size: u64) -> Result<u64, ProofError> {
    if tree_size == 0 {
        return Ok(0);
    }
    if tree_size > MAX_TREE_SIZE {
        return Err(ProofError::TreeTooLarge {
            level: 0,
            index: tree_size,
        });
    }
    Ok(2 * tree_size - u64::from(tree_size.count_ones()))
}

/// The hashes to append to the stored-hash array for the records `old_size..old_size +
/// leaves.len()`, whose leaf hashes are `leaves`; `reader` must hold the stored hashes of the
/// tree of `old_size` records. Hashes that depend on earlier records of the same batch are
/// computed here, so a server appends a whole batch at once.
pub fn append_stored_hashes<R: HashReader + ?Sized>(
    old_size: u64,
    leaves: &[Hash],
    reader: &R,
) -> Result<Vec<Hash>, ProofError> {
    let count = u64::try_from(leaves.len()).map_err(|_| ProofError::TreeTooLarge {
        level: 0,
        index: old_size,
    })?;
    let new_size = old_size
        .checked_add(count)
        .filter(|&n| n <= MAX_TREE_SIZE)
        .ok_or(ProofError::TreeTooLarge {
            level: 0,
            index: old_size,
        })?;
    let base = stored_hash_count(old_size)?;
    // Left siblings that already exist in storage: at most one per level (the old tree's
    // frontier), read in one call.
    let mut old_needed = Vec::new();
    for n in old_size..new_size {
        for level in 0..n.trailing_ones() {
            let level = level as u8; // < 64
            let sibling = stored_hash_index(level, (n >> level) - 1)?;
            if sibling < base {
                old_needed.push(sibling);
            }
        }
    }
    old_needed.sort_unstable();
    old_needed.dedup();
    let old_hashes: BTreeMap<u64, Hash> = old_needed
        .iter()
        .copied()
        .zip(read_exact(reader, &old_needed)?)
        .collect();
    let mut out: Vec<Hash> = Vec::with_capacity(leaves.len() * 2);
    for (n, leaf) in (old_size..new_size).zip(leaves) {
        let mut h = *leaf;
        out.push(h);
        for level in 0..n.trailing_ones() {
            let level = level as u8;
            let sibling = stored_hash_index(level, (n >> level) - 1)?;
            let left = if sibling < base {
                old_hashes.get(&sibling).copied()
            } else {
                usize::try_from(sibling - base)
                    .ok()
                    .and_then(|i| out.get(i).copied())
            };
            // Every left sibling was either read above or appended earlier in this batch.
            let left = left.ok_or(ProofError::HashNotStored {
                index: sibling,
                stored: base + out.len() as u64,
            })?;
            h = node_hash(&left, &h);
            out.push(h);
        }
    }
    Ok(out)
}

/// The largest power of two strictly below `n` (`n >= 2`): RFC 9162's split point `k`.
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// A plan to compute several subtree hashes from one batched read of stored hashes.
#[derive(Default)]
struct Plan {
    indexes: Vec<u64>,
    /// For each hash to compute, the range of `indexes` holding its complete subtrees.
    spans: Vec<(usize, usize)>,
}

impl Plan {
    /// Adds the hash of leaves `[lo, hi)`, a range of the shape RFC 9162 recursion produces:
    /// `lo` is a multiple of the largest power of two not above `hi - lo`, so the range is a
    /// sequence of complete subtrees of decreasing size, one per set bit of its length.
    fn add_range(&mut self, lo: u64, hi: u64) -> Result<(), ProofError> {
        let start = self.indexes.len();
        let mut at = lo;
        let len = hi - lo;
        for level in (0..64u8).rev() {
            if (len >> level) & 1 == 1 {
                self.indexes.push(stored_hash_index(level, at >> level)?);
                at += 1 << level;
            }
        }
        self.spans.push((start, self.indexes.len()));
        Ok(())
    }

    fn run<R: HashReader + ?Sized>(&self, reader: &R) -> Result<Vec<Hash>, ProofError> {
        let hashes = read_exact(reader, &self.indexes)?;
        let mut out = Vec::with_capacity(self.spans.len());
        for &(a, b) in &self.spans {
            // RFC 9162 section 2.1.1: MTH(D[lo:hi]) = HASH(0x01 || MTH(first 2^k) || MTH(rest)),
            // so the complete subtrees fold from the right.
            let subtrees = hashes.get(a..b).unwrap_or_default();
            let mut it = subtrees.iter().rev();
            let Some(last) = it.next() else {
                out.push(Hash::empty_tree());
                continue;
            };
            out.push(it.fold(*last, |acc, left| node_hash(left, &acc)));
        }
        Ok(out)
    }
}

/// The root hash of the tree of the first `tree_size` records (RFC 9162 section 2.1.1).
pub fn tree_hash<R: HashReader + ?Sized>(tree_size: u64, reader: &R) -> Result<Hash, ProofError> {
    if tree_size == 0 {
        return Ok(Hash::empty_tree());
    }
    stored_hash_count(tree_size)?;
    let mut plan = Plan::default();
    plan.add_range(0, tree_size)?;
    let hashes = plan.run(reader)?;
    Ok(hashes.first().copied().unwrap_or_else(Hash::empty_tree))
}

/// The inclusion proof of record `index` in the tree of `tree_size` records (RFC 9162 section
/// 2.1.3.1, `PATH(m, D[n])`), leaf-side hash first.
pub fn prove_inclusion<R: HashReader + ?Sized>(
    tree_size: u64,
    index: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    stored_hash_count(tree_size)?;
    // Walk down from the root; each step's sibling subtree joins the proof. The recursion
    // emits the deepest sibling first, hence the reversal.
    let mut ranges = Vec::new();
    let (mut lo, mut hi) = (0, tree_size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
        }
    }
    plan_ranges(&ranges, reader)
}

/// The consistency proof from the tree of `size1` records to the tree of `size2` records (RFC
/// 9162 section 2.1.4.1, `PROOF(m, D[n])`); `1 <= size1 <= size2`.
pub fn prove_consistency<R: HashReader + ?Sized>(
    size1: u64,
    size2: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProofError> {
    if size1 == 0 || size1 > size2 {
        return Err(ProofError::BadTreeSizes { size1, size2 });
    }
    stored_hash_count(size2)?;
    let mut ranges = Vec::new();
    let (mut lo, mut hi) = (0, size2);
    // `whole` is SUBPROOF's flag b: while true, the old tree's root is a subtree the verifier
    // already knows, so it is not sent.
    let mut whole = true;
    while size1 != hi {
        let k = split_point(hi - lo);
        if size1 <= lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
            whole = false;
        }
    }
    if !whole {
        ranges.push((lo, hi));
    }
    plan_ranges(&ranges, reader)
}

/// Reads the hashes of `ranges`, listed root-side first, and returns them leaf-side first.
fn plan_ranges<R: HashReader + ?Sized>(
    ranges: &[(u64, u64)],
    reader: &R,
) -> Result<Vec<Hash>, ProofError> {
    let mut plan = Plan::default();
    for &(lo, hi) in ranges.iter().rev() {
        plan.add_range(lo, hi)?;
    }
    plan.run(reader)
}

/// An append-only Merkle tree held in memory: the stored-hash array of every record so far.
///
/// For tests, for a server's in-memory storage, and for clients that hold a whole (small) log,
/// such as the key log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    hashes: Vec<Hash>,
    size: u64,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// Number of records in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a record (hashed with [`leaf_hash`]) and returns its index.
    pub fn append(&mut self, data: &[u8]) -> u64 {
        self.append_leaf_hash(leaf_hash(data))
    }

    /// Appends a record by its leaf hash and returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> u64 {
        let n = self.size;
        let mut h = leaf;
        self.hashes.push(h);
        for level in 0..n.trailing_ones() {
            let level = level as u8;
            // The left sibling completed earlier, so it is stored; a tree in memory is far
            // below MAX_TREE_SIZE, so the index exists.
            let left = stored_hash_index(level, (n >> level) - 1)
                .ok()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| self.hashes.get(i))
                .copied()
                .expect("left siblings of an in-memory tree are stored before their parents");
            h = node_hash(&left, &h);
            self.hashes.push(h);
        }
        self.size += 1;
        n
    }

    /// The root hash of the whole tree.
    pub fn root(&self) -> Hash {
        tree_hash(self.size, self).expect("a MemoryTree stores every hash of its own tree")
    }

    /// The root hash of the tree of the first `tree_size` records.
    pub fn root_at(&self, tree_size: u64) -> Result<Hash, ProofError> {
        self.check_size(tree_size)?;
        tree_hash(tree_size, self)
    }

    /// Inclusion proof of record `index` in the tree of the first `tree_size` records.
    pub fn prove_inclusion(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(tree_size)?;
        prove_inclusion(tree_size, index, self)
    }

    /// Consistency proof from the tree of `size1` records to the tree of `size2` records.
    pub fn prove_consistency(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size2)?;
        prove_consistency(size1, size2, self)
    }

    /// The stored-hash array, in [`stored_hash_index`] order.
    pub fn stored_hashes(&self) -> &[Hash] {
        &self.hashes
    }

    fn check_size(&self, tree_size: u64) -> Result<(), ProofError> {
        if tree_size > self.size {
            return Err(ProofError::HashNotStored {
                index: stored_hash_count(tree_size)?.saturating_sub(1),
                stored: self.hashes.len() as u64,
            });
        }
        Ok(())
    }
}

impl HashReader for MemoryTree {
    type Error = ProofError;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ProofError> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.hashes.get(i))
                    .copied()
                    .ok_or(ProofError::HashNotStored {
                        index,
                        stored: self.hashes.len() as u64,
                    })
            })
            .collect()
    }
}

/// The right edge of a Merkle tree (a "compact range" from leaf 0): the roots of the perfect
/// subtrees that make up a tree of `size` leaves, largest (leftmost) first, one for each bit set
/// in `size`. It is all an auditor needs to keep between runs to extend a tree it verified and
/// recompute the root of every larger tree from the new leaves alone (RFC 6962 section 2.1:
/// the tree of `n` leaves splits at the largest power of two below `n`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RightEdge {
    size: u64,
    hashes: Vec<Hash>,
}

impl RightEdge {
    /// The edge of the empty tree.
    pub fn new() -> RightEdge {
        RightEdge::default()
    }

    /// Rebuilds an edge from its parts, refusing a hash count that does not match `size`
    /// (one hash per bit set in `size`) or a size over [`MAX_TREE_SIZE`].
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<RightEdge, ProofError> {
        if size > MAX_TREE_SIZE || hashes.len() != size.count_ones() as usize {
            return Err(ProofError::BadRightEdge {
                size,
                expected: size.count_ones() as usize,
                got: hashes.len(),
            });
        }
        Ok(RightEdge { size, hashes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends a leaf by its leaf hash: like incrementing a binary counter, each trailing one
    /// bit of the old size merges two equal subtrees into one.
    pub fn append(&mut self, leaf: Hash) {
        let mut h = leaf;
        for _ in 0..self.size.trailing_ones() {
            let left = self
                .hashes
                .pop()
                .expect("one hash per set bit: a trailing one bit has its subtree");
            h = node_hash(&left, &h);
        }
        self.hashes.push(h);
        self.size += 1;
    }

    /// The root hash of the tree (the empty tree's hash for size 0).
    pub fn root(&self) -> Hash {
        let mut hashes = self.hashes.iter().rev();
        let Some(last) = hashes.next() else {
            return Hash::empty_tree();
        };
        hashes.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn right_edge_matches_the_memory_tree_for_every_size_up_to_300() {
        let mut tree = MemoryTree::new();
        let mut edge = RightEdge::new();
        assert_eq!(edge.root(), Hash::empty_tree());
        for i in 0u32..300 {
            let data = i.to_be_bytes();
            tree.append(&data);
            edge.append(leaf_hash(&data));
            assert_eq!(edge.size(), tree.size());
            assert_eq!(edge.root(), tree.root(), "size {}", edge.size());
            let again = RightEdge::from_parts(edge.size(), edge.hashes().to_vec()).expect("parts");
            assert_eq!(again, edge);
        }
        assert!(RightEdge::from_parts(3, vec![Hash::empty_tree()]).is_err());
        assert!(RightEdge::from_parts(MAX_TREE_SIZE + 1, Vec::new()).is_err());
    }

    use super::*;

    /// RFC 9162 section 2.1.1 MTH, written as the recursion reads, as an independent reference.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Hash::empty_tree(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// RFC 9162 section 2.1.3.1 PATH.
    fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split_point(n as u64) as usize;
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    /// RFC 9162 section 2.1.4.1 SUBPROOF.
    fn subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if whole { Vec::new() } else { vec![mth(leaves)] };
        }
        let k = split_point(n as u64) as usize;
        if m <= k {
            let mut p = subproof(m, &leaves[..k], whole);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = subproof(m - k, &leaves[k..], false);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn stored_layout_matches_go_tlog_order() {
        // Records 0..4 store: L0, L1, N(0,1), L2, L3, N(2,3), N(0..4).
        let expect = [
            ((0, 0), 0),
            ((0, 1), 1),
            ((1, 0), 2),
            ((0, 2), 3),
            ((0, 3), 4),
            ((1, 1), 5),
            ((2, 0), 6),
            ((0, 4), 7),
        ];
        for ((level, index), stored) in expect {
            assert_eq!(
                stored_hash_index(level, index).expect("valid test input"),
                stored
            );
            assert_eq!(
                split_stored_hash_index(stored).expect("valid test input"),
                (level, index)
            );
        }
        for s in 0..5000u64 {
            let (level, index) = split_stored_hash_index(s).expect("valid test input");
            assert_eq!(
                stored_hash_index(level, index).expect("valid test input"),
                s
            );
        }
        assert_eq!(stored_hash_count(4).expect("valid test input"), 7);
        assert!(stored_hash_index(0, MAX_TREE_SIZE).is_err());
        assert!(stored_hash_index(62, 1).is_err());
        assert!(stored_hash_index(64, 0).is_err());
        assert!(stored_hash_index(200, 0).is_err());
        assert_eq!(
            stored_hash_index(62, 0).expect("valid test input"),
            stored_hash_count(MAX_TREE_SIZE).expect("valid test input") - 1
        );
        assert!(split_stored_hash_index(u64::MAX).is_err());
    }

    #[test]
    fn generated_proofs_match_the_rfc_recursion() {
        let all = leaves(70);
        let mut tree = MemoryTree::new();
        for n in 1..=all.len() {
            tree.append_leaf_hash(all[n - 1]);
            let root = mth(&all[..n]);
            assert_eq!(tree.root(), root, "size {n}");
            for m in 0..n {
                let p = tree
                    .prove_inclusion(m as u64, n as u64)
                    .expect("valid test input");
                assert_eq!(p, path(m, &all[..n]));
                assert_eq!(
                    p.len(),
                    inclusion_proof_len(m as u64, n as u64).expect("valid test input")
                );
                verify_inclusion(&all[m], m as u64, n as u64, &p, &root).expect("valid test input");
            }
            for m in 1..=n {
                let p = tree
                    .prove_consistency(m as u64, n as u64)
                    .expect("valid test input");
                assert_eq!(p, subproof(m, &all[..n], true));
                assert_eq!(
                    p.len(),
                    consistency_proof_len(m as u64, n as u64).expect("valid test input")
                );
                verify_consistency(m as u64, &mth(&all[..m]), n as u64, &root, &p)
                    .expect("valid test input");
            }
        }
    }

    #[test]
    fn batch_append_equals_one_by_one() {
        let all = leaves(100);
        let mut one = MemoryTree::new();
        for h in &all {
            one.append_leaf_hash(*h);
        }
        for split in [0usize, 1, 2, 3, 7, 8, 33, 64, 99, 100] {
            let mut first = MemoryTree::new();
            for h in &all[..split] {
                first.append_leaf_hash(*h);
            }
            let more = append_stored_hashes(split as u64, &all[split..], &first)
                .expect("valid test input");
            let mut combined = first.stored_hashes().to_vec();
            combined.extend(more);
            assert_eq!(combined, one.stored_hashes(), "split {split}");
        }
    }

    #[test]
    fn malformed_inputs_are_not_security_failures() {
        let all = leaves(5);
        let mut tree = MemoryTree::new();
        for h in &all {
            tree.append_leaf_hash(*h);
        }
        let root = tree.root();
        let p = tree.prove_inclusion(2, 5).expect("valid test input");
        assert!(matches!(
            verify_inclusion(&all[2], 5, 5, &p, &root),
            Err(ProofError::IndexOutOfRange {
                index: 5,
                tree_size: 5
            })
        ));
        assert!(matches!(
            verify_inclusion(&all[2], 2, 5, &p[1..], &root),
            Err(ProofError::WrongProofLength { .. })
        ));
        assert!(matches!(
            verify_inclusion(&all[3], 2, 5, &p, &root),
            Err(ProofError::Security(SecurityError::RootMismatch { expected, .. })) if expected == root
        ));
        let r3 = tree.root_at(3).expect("valid test input");
        let c = tree.prove_consistency(3, 5).expect("valid test input");
        assert!(matches!(
            verify_consistency(0, &Hash::empty_tree(), 5, &root, &[]),
            Err(ProofError::BadTreeSizes { size1: 0, size2: 5 })
        ));
        assert!(matches!(
            verify_consistency(5, &root, 3, &r3, &c),
            Err(ProofError::BadTreeSizes { .. })
        ));
        assert!(matches!(
            verify_consistency(3, &root, 5, &root, &c),
            Err(ProofError::Security(SecurityError::OldRootMismatch { .. }))
        ));
        assert!(matches!(
            verify_consistency(5, &root, 5, &r3, &[]),
            Err(ProofError::Security(SecurityError::RootMismatch { .. }))
        ));
        assert!(matches!(
            verify_consistency(5, &root, 5, &root, &[root]),
            Err(ProofError::WrongProofLength {
                expected: 0,
                got: 1
            })
        ));
        assert!(matches!(
            tree.prove_inclusion(1, 6),
            Err(ProofError::HashNotStored { .. })
        ));
    }
}
