//! Differential tests: our RFC 6962 roots and proofs (`cairn_verifier::merkle`) against the
//! independent `ct-merkle` 0.3 implementation, for every tree size up to 300 and for random
//! proofs in trees of up to 100,000 leaves. Every proof we generate must also verify with our
//! verifier, and a flipped bit in a proof element or a root must make it fail. A flipped bit in
//! an index or a size must give the same verdict as `ct-merkle`: RFC 9162 verification does not
//! bind the exact tree size (a proof for leaf 0 of a 3-leaf tree also verifies as one for a
//! 4-leaf tree with the same root), so "always fails" would be a wrong expectation there.

use cairn_verifier::Hash;
use cairn_verifier::hash::leaf_hash;
use cairn_verifier::merkle::{
    MemoryTree, ProofError, consistency_proof_len, inclusion_proof_len, verify_consistency,
    verify_inclusion,
};
use cairn_verifier::security::SecurityError;
use ct_merkle::digest::{FixedOutput, HashMarker, Output, OutputSizeUser, Update, consts::U32};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};

/// ct-merkle 0.3 speaks `digest` 0.11 while the verifier uses `sha2` 0.10 (digest 0.10): adapt
/// the verifier's SHA-256 to the newer traits rather than pull a second SHA-256 crate in.
#[derive(Clone, Default)]
struct Sha256(sha2::Sha256);

impl HashMarker for Sha256 {}

impl OutputSizeUser for Sha256 {
    type OutputSize = U32;
}

impl Update for Sha256 {
    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(&mut self.0, data);
    }
}

impl FixedOutput for Sha256 {
    fn finalize_into(self, out: &mut Output<Self>) {
        out.copy_from_slice(&sha2::Digest::finalize(self.0));
    }
}

type Reference = MemoryBackedTree<Sha256, Vec<u8>>;

/// SplitMix64: a tiny seeded generator so every run checks the same "random" cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-enough value in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn record(i: u64) -> Vec<u8> {
    // Varying lengths, including the empty record, so leaf hashing is exercised too.
    let len = usize::try_from(i % 7).expect("small");
    let mut data = i.to_le_bytes().to_vec();
    data.truncate(len);
    data
}

fn to_hash(bytes: &[u8]) -> Hash {
    Hash::from_slice(bytes).expect("ct-merkle produces 32-byte SHA-256 digests")
}

fn hashes(bytes: &[u8]) -> Vec<Hash> {
    assert_eq!(bytes.len() % 32, 0);
    bytes.chunks(32).map(to_hash).collect()
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut b = h.0;
    b[bit / 8 % 32] ^= 1 << (bit % 8);
    Hash(b)
}

fn ref_root(bytes: &Hash, size: u64) -> RootHash<Sha256> {
    RootHash::new(Output::<Sha256>::from(bytes.0), size)
}

fn ref_inclusion_ok(data: &[u8], index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    let bytes: Vec<u8> = proof.iter().flat_map(|h| h.0).collect();
    ref_root(root, size)
        .verify_inclusion(&data, index, &InclusionProof::<Sha256>::from_bytes(bytes))
        .is_ok()
}

fn ref_consistency_ok(s1: u64, r1: &Hash, s2: u64, r2: &Hash, proof: &[Hash]) -> bool {
    let bytes: Vec<u8> = proof.iter().flat_map(|h| h.0).collect();
    let Ok(p) = ConsistencyProof::<Sha256>::try_from_bytes(bytes) else {
        return false;
    };
    ref_root(r2, s2)
        .verify_consistency(&ref_root(r1, s1), &p)
        .is_ok()
}

/// Bits of an index or size worth flipping: the low ones change the path, the high ones push the
/// value out of range.
const NUMBER_BITS: [u32; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 63];

/// Checks one inclusion proof from our tree: equal to the reference's, verifies, and tampering
/// behaves. `full_tamper` flips every bit position class of every proof element.
fn check_inclusion(
    ours: &MemoryTree,
    reference: &Reference,
    index: u64,
    size: u64,
    root: &Hash,
    full_tamper: bool,
) {
    let data = record(index);
    let leaf = leaf_hash(&data);
    let proof = ours
        .prove_inclusion(index, size)
        .expect("index and size are in the tree");
    let ref_index = usize::try_from(index).expect("small");
    let expected = hashes(reference.prove_inclusion(ref_index).as_bytes());
    assert_eq!(proof, expected, "inclusion proof of {index} in {size}");
    assert_eq!(
        proof.len(),
        inclusion_proof_len(index, size).expect("in range")
    );
    verify_inclusion(&leaf, index, size, &proof, root).expect("generated proof verifies");

    let bits: &[usize] = if full_tamper { &[0, 77, 255] } else { &[131] };
    for i in 0..proof.len() {
        for &bit in bits {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            assert!(matches!(
                verify_inclusion(&leaf, index, size, &bad, root),
                Err(ProofError::Security(SecurityError::RootMismatch { .. }))
            ));
        }
    }
    assert!(matches!(
        verify_inclusion(&leaf, index, size, &proof, &flip(root, 9)),
        Err(ProofError::Security(SecurityError::RootMismatch { .. }))
    ));
    assert!(verify_inclusion(&flip(&leaf, 200), index, size, &proof, root).is_err());
    let mut longer = proof.clone();
    longer.push(*root);
    assert!(matches!(
        verify_inclusion(&leaf, index, size, &longer, root),
        Err(ProofError::WrongProofLength { .. })
    ));
    if !proof.is_empty() {
        assert!(matches!(
            verify_inclusion(&leaf, index, size, &proof[1..], root),
            Err(ProofError::WrongProofLength { .. })
        ));
    }
    for bit in NUMBER_BITS {
        let bad_index = index ^ (1 << bit);
        let ours_ok = verify_inclusion(&leaf, bad_index, size, &proof, root).is_ok();
        assert_eq!(
            ours_ok,
            ref_inclusion_ok(&data, bad_index, size, &proof, root),
            "index {index}->{bad_index} in {size}"
        );
        // A different leaf position with the same leaf hash and root would need a hash collision.
        assert!(!ours_ok, "index {index}->{bad_index} in {size} accepted");
        let bad_size = size ^ (1 << bit);
        let ours_ok = verify_inclusion(&leaf, index, bad_size, &proof, root).is_ok();
        if bit == 63 {
            // ct-merkle overflows on sizes above 2^63; ours must simply refuse.
            assert!(!ours_ok);
        } else {
            assert_eq!(
                ours_ok,
                ref_inclusion_ok(&data, index, bad_size, &proof, root),
                "size {size}->{bad_size} for index {index}"
            );
        }
    }
}

/// Checks one consistency proof from our tree against the reference tree of size `size2`.
#[allow(clippy::too_many_arguments)]
fn check_consistency(
    ours: &MemoryTree,
    reference: &Reference,
    size1: u64,
    root1: &Hash,
    size2: u64,
    root2: &Hash,
    full_tamper: bool,
) {
    let proof = ours
        .prove_consistency(size1, size2)
        .expect("sizes are in the tree");
    assert_eq!(reference.len(), size2);
    let additions = usize::try_from(size2 - size1).expect("small");
    let expected = hashes(reference.prove_consistency(additions).as_bytes());
    assert_eq!(proof, expected, "consistency proof {size1} -> {size2}");
    assert_eq!(
        proof.len(),
        consistency_proof_len(size1, size2).expect("ordered sizes")
    );
    verify_consistency(size1, root1, size2, root2, &proof).expect("generated proof verifies");
    assert!(ref_consistency_ok(size1, root1, size2, root2, &proof));

    let bits: &[usize] = if full_tamper { &[0, 100, 255] } else { &[43] };
    for i in 0..proof.len() {
        for &bit in bits {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            let err = verify_consistency(size1, root1, size2, root2, &bad);
            assert!(
                matches!(
                    err,
                    Err(ProofError::Security(
                        SecurityError::RootMismatch { .. } | SecurityError::OldRootMismatch { .. }
                    ))
                ),
                "{size1}->{size2} element {i}: {err:?}"
            );
        }
    }
    assert!(verify_consistency(size1, &flip(root1, 1), size2, root2, &proof).is_err());
    assert!(verify_consistency(size1, root1, size2, &flip(root2, 254), &proof).is_err());
    let mut longer = proof.clone();
    longer.push(*root1);
    assert!(matches!(
        verify_consistency(size1, root1, size2, root2, &longer),
        Err(ProofError::WrongProofLength { .. })
    ));
    for bit in NUMBER_BITS {
        let bad1 = size1 ^ (1 << bit);
        if bit == 63 {
            assert!(verify_consistency(bad1, root1, size2, root2, &proof).is_err());
            continue;
        }
        assert_eq!(
            verify_consistency(bad1, root1, size2, root2, &proof).is_ok(),
            ref_consistency_ok(bad1, root1, size2, root2, &proof),
            "size1 {size1}->{bad1} to {size2}"
        );
        let bad2 = size2 ^ (1 << bit);
        let ours_ok = verify_consistency(size1, root1, bad2, root2, &proof).is_ok();
        if bit == 63 {
            assert!(!ours_ok);
        } else {
            assert_eq!(
                ours_ok,
                ref_consistency_ok(size1, root1, bad2, root2, &proof),
                "size2 {size2}->{bad2} from {size1}"
            );
        }
    }
}

#[test]
fn every_tree_size_up_to_300() {
    const MAX: u64 = 300;
    let mut ours = MemoryTree::new();
    let mut reference = Reference::new();
    assert_eq!(ours.root(), to_hash(reference.root().as_bytes()));
    assert_eq!(ours.root(), Hash::empty_tree());
    let mut roots = vec![ours.root()];
    for size in 1..=MAX {
        ours.append(&record(size - 1));
        reference.push(record(size - 1));
        let root = ours.root();
        assert_eq!(
            root,
            to_hash(reference.root().as_bytes()),
            "root of size {size}"
        );
        roots.push(root);
        // Every bit of every proof element is too slow for all 45,150 proofs; flip three bits
        // of every element in the first 100 sizes and one bit elsewhere.
        let full = size <= 100;
        for index in 0..size {
            check_inclusion(&ours, &reference, index, size, &root, full);
        }
        for size1 in 1..=size {
            let root1 = roots[usize::try_from(size1).expect("small")];
            check_consistency(&ours, &reference, size1, &root1, size, &root, full);
        }
    }
}

#[test]
fn random_proofs_in_large_trees() {
    const MAX: u64 = 100_000;
    let mut rng = Rng(0x0063_6169_726e_2031);
    let mut ours = MemoryTree::new();
    let mut reference = Reference::new();
    // Sizes at which to stop and compare: random ones between 5,000 and MAX, plus the edges.
    let mut stops: Vec<u64> = (0..24).map(|_| rng.range(5_000, MAX)).collect();
    stops.extend([5_000, 65_536, 65_537, MAX]);
    stops.sort_unstable();
    stops.dedup();
    let mut roots: Vec<(u64, Hash)> = Vec::new();
    for &stop in &stops {
        while ours.size() < stop {
            ours.append(&record(ours.size()));
            reference.push(record(reference.len()));
        }
        let root = ours.root();
        assert_eq!(
            root,
            to_hash(reference.root().as_bytes()),
            "root of size {stop}"
        );
        for _ in 0..40 {
            let index = rng.range(0, stop - 1);
            check_inclusion(&ours, &reference, index, stop, &root, true);
        }
        check_inclusion(&ours, &reference, 0, stop, &root, true);
        check_inclusion(&ours, &reference, stop - 1, stop, &root, true);
        for _ in 0..40 {
            let size1 = rng.range(1, stop);
            let root1 = ours.root_at(size1).expect("size1 <= size");
            check_consistency(&ours, &reference, size1, &root1, stop, &root, true);
        }
        // Between the stops themselves, roots recorded when the tree really had that size.
        for &(size1, root1) in &roots {
            check_consistency(&ours, &reference, size1, &root1, stop, &root, false);
        }
        roots.push((stop, root));
    }
}
