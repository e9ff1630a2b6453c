//! RFC 6962 Merkle tree proofs, verified with the algorithms of RFC 9162 section 2.1.3.2
//! (inclusion) and section 2.1.4.2 (consistency).
//!
//! Verification is strict about shape before it hashes anything: an index outside the tree, tree
//! sizes in the wrong order, or a proof with one hash too many or too few is a malformed input
//! ([`ProofError::IndexOutOfRange`], [`ProofError::BadTreeSizes`],
//! [`ProofError::WrongProofLength`]). Only a well-formed proof that leads to a different root is a
//! security failure ([`ProofError::RootMismatch`], [`ProofError::OldRootMismatch`]), and those
//! variants carry both hashes as evidence.

use crate::hash::{Hash, node_hash};

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
    /// Security failure: the proof leads to a root other than the trusted one (for a consistency
    /// proof: the root of the newer tree, or for equal sizes the other root).
    #[error("root mismatch: expected {expected}, proof leads to {computed}")]
    RootMismatch {
        /// The root the caller trusts.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
    /// Security failure: a consistency proof does not lead back to the root of the older tree.
    #[error("old root mismatch: expected {expected}, proof leads to {computed}")]
    OldRootMismatch {
        /// The older root the caller trusts.
        expected: Hash,
        /// The older root the proof leads to.
        computed: Hash,
    },
}

/// The number of hashes in the inclusion proof of leaf `index` in a tree of `tree_size` leaves.
pub fn inclusion_proof_len(index: u64, tree_size: u64) -> Result<usize, ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    // Walk the same (fn, sn) path as the verifier without hashing: each step consumes one hash,
    // and the walk ends when sn reaches 0, so the count is the only length that can verify.
    let (mut f, mut s) = (index, tree_size - 1);
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
    Ok(len)
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
    let mut len = usize::from(!size1.is_power_of_two());
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
    Ok(len)
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
    // The length check above guarantees the walk ended exactly at the root.
    debug_assert_eq!(s, 0);
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
        return Err(ProofError::RootMismatch {
            expected: *root,
            computed,
        });
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
            return Err(ProofError::RootMismatch {
                expected: *root2,
                computed: *root1,
            });
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
    debug_assert_eq!(s, 0);
    if fr != *root1 {
        return Err(ProofError::OldRootMismatch {
            expected: *root1,
            computed: fr,
        });
    }
    if sr != *root2 {
        return Err(ProofError::RootMismatch {
            expected: *root2,
            computed: sr,
        });
    }
    Ok(())
}
