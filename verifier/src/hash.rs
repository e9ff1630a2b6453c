//! RFC 6962 section 2.1 hashing: the leaf and interior-node hash functions of the Merkle tree.
//!
//! Every hash in Cairn (roots, leaf hashes, proof elements, tile contents) is a SHA-256 digest.
//! [`Hash`](struct@Hash) only exists as exactly 32 bytes, so a 31- or 33-byte "hash" cannot reach a proof
//! verifier.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

/// Length of a SHA-256 digest in bytes.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 digest used as a Merkle tree hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

/// Why bytes or text could not be read as a [`Hash`](struct@Hash).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The input was not exactly 32 bytes long.
    #[error("hash must be 32 bytes, got {0}")]
    WrongLength(usize),
    /// The text was not canonical standard base64 (RFC 4648 section 4, with padding).
    #[error("hash is not canonical standard base64")]
    BadBase64,
}

impl Hash {
    /// The root of the empty tree: SHA-256 of the empty string (RFC 6962 section 2.1).
    pub fn empty_tree() -> Hash {
        Hash(Sha256::digest([]).into())
    }

    /// Reads a hash from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Hash, HashError> {
        <[u8; HASH_SIZE]>::try_from(bytes)
            .map(Hash)
            .map_err(|_| HashError::WrongLength(bytes.len()))
    }

    /// Parses canonical standard base64 of exactly 32 bytes, as checkpoints and proofs carry it.
    pub fn from_base64(text: &str) -> Result<Hash, HashError> {
        // 32 bytes are always 44 characters; checking first bounds the work on hostile input.
        if text.len() != 44 {
            return Err(HashError::BadBase64);
        }
        let bytes = STANDARD.decode(text).map_err(|_| HashError::BadBase64)?;
        Hash::from_slice(&bytes)
    }

    /// Standard base64 with padding (44 characters).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Lowercase hexadecimal (64 characters).
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(2 * HASH_SIZE);
        for b in self.0 {
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 0x0f)]));
        }
        out
    }

    /// The bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({})", self.to_base64())
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// RFC 6962 leaf hash: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Plain SHA-256 of `data` (artifact digests, key IDs).
pub fn sha256(data: &[u8]) -> [u8; HASH_SIZE] {
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_tree_root_is_sha256_of_nothing() {
        assert_eq!(
            Hash::empty_tree().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn base64_round_trip_and_strictness() {
        let h = leaf_hash(b"");
        assert_eq!(Hash::from_base64(&h.to_base64()), Ok(h));
        // RFC 6962 leaf hash of the empty string.
        assert_eq!(
            h.to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(Hash::from_base64("AAAA"), Err(HashError::BadBase64));
        // 44 characters, but the last symbol carries non-zero padding bits: the same 32 bytes
        // would have two spellings, so it is refused.
        let zero = Hash([0; 32]).to_base64();
        assert_eq!(&zero[42..], "A=");
        let non_canonical = format!("{}B=", &zero[..42]);
        assert_eq!(Hash::from_base64(&non_canonical), Err(HashError::BadBase64));
        assert_eq!(
            Hash::from_base64(&"A".repeat(44)),
            Err(HashError::WrongLength(33))
        );
        assert_eq!(Hash::from_slice(&[0; 31]), Err(HashError::WrongLength(31)));
    }
}
