//! RFC 6962 tree head signatures as note signatures, type 0x05 of C2SP signed-note, specified
//! by C2SP static-ct-api (section "Checkpoints"). Verification only: this is how a static-ct-api
//! (Sunlight) log, or a classic CT log's `get-sth` converted to a checkpoint, signs its tree head.
//!
//! - vkey: `name+hexid+base64(0x05 || SubjectPublicKeyInfo DER)`;
//! - key ID: `SHA-256(name || 0x0A || 0x05 || LogID)[:4]`, where the RFC 6962 `LogID` is
//!   `SHA-256(SPKI DER)`;
//! - signature: `u64 timestamp || TLS DigitallySigned`, the `TreeHeadSignature` of RFC 6962
//!   section 3.5 rebuilt from the checkpoint: version v1 (0), signature type `tree_hash` (1),
//!   the timestamp, the tree size and the root hash.
//!
//! A `TreeHeadSignature` does not cover the log's identity, so the checkpoint's origin line must
//! equal the key name (static-ct-api requires it) and is checked here; otherwise anyone could
//! re-label a log's tree head as another origin's. Checkpoints signed this way must not have
//! extension lines, which the signature could not cover either.
//!
//! Only ECDSA P-256 with SHA-256 (TLS `SignatureAndHashAlgorithm` {sha256(4), ecdsa(3)}) is
//! supported; RSA CT logs are not.

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};

use crate::checkpoint::Checkpoint;
use crate::hash::sha256;
use crate::note::{
    KeyName, NoteError, NoteVerifier, check_key_id, format_vkey, key_id, split_typed_vkey,
};
use crate::note_ecdsa::parse_p256_spki;

/// Signature type byte of RFC 6962 tree head note signatures.
pub const SIG_TYPE_RFC6962_STH: u8 = 0x05;

/// TLS `HashAlgorithm` sha256 (RFC 5246 section 7.4.1.4.1).
const TLS_HASH_SHA256: u8 = 4;
/// TLS `SignatureAlgorithm` ecdsa (RFC 5246 section 7.4.1.4.1).
const TLS_SIGNATURE_ECDSA: u8 = 3;
/// RFC 6962 `Version` v1.
const CT_VERSION_V1: u8 = 0;
/// RFC 6962 `SignatureType` tree_hash.
const CT_SIGNATURE_TYPE_TREE_HASH: u8 = 1;

/// A type 0x05 verifier key: a CT log's P-256 public key, named by its checkpoint origin.
#[derive(Clone, PartialEq, Eq)]
pub struct Rfc6962Verifier {
    name: KeyName,
    key_id: u32,
    spki: Vec<u8>,
    log_id: [u8; 32],
    key: VerifyingKey,
}

impl std::fmt::Debug for Rfc6962Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

impl Rfc6962Verifier {
    /// Builds a verifier from the log's origin (the key name) and the DER SubjectPublicKeyInfo
    /// of its P-256 key.
    pub fn new(name: KeyName, spki_der: &[u8]) -> Result<Rfc6962Verifier, NoteError> {
        let key = parse_p256_spki(spki_der)?;
        let log_id = sha256(spki_der);
        Ok(Rfc6962Verifier {
            key_id: key_id(&name, SIG_TYPE_RFC6962_STH, &log_id),
            name,
            spki: spki_der.to_vec(),
            log_id,
            key,
        })
    }

    /// Parses a vkey `name+hexid+base64(0x05||SPKI DER)`, refusing a key ID that does not match.
    pub fn from_vkey(vkey: &str) -> Result<Rfc6962Verifier, NoteError> {
        let (name, stated, material) = split_typed_vkey(vkey, SIG_TYPE_RFC6962_STH)?;
        let verifier = Rfc6962Verifier::new(name, &material)?;
        check_key_id(&verifier.name, stated, verifier.key_id)?;
        Ok(verifier)
    }

    /// The vkey encoding `name+hexid+base64(0x05||SPKI DER)`.
    pub fn to_vkey(&self) -> String {
        format_vkey(&self.name, self.key_id, SIG_TYPE_RFC6962_STH, &self.spki)
    }

    /// The RFC 6962 LogID: SHA-256 of the key's DER SubjectPublicKeyInfo.
    pub fn log_id(&self) -> &[u8; 32] {
        &self.log_id
    }

    /// Verifies a type 0x05 signature over checkpoint text and returns the tree head's
    /// timestamp (milliseconds since the epoch, as RFC 6962 counts), or `None`.
    pub fn verify_tree_head(&self, text: &[u8], signature: &[u8]) -> Option<u64> {
        let (timestamp, rest) = signature.split_first_chunk::<8>()?;
        let timestamp = u64::from_be_bytes(*timestamp);
        let ([hash_alg, sig_alg, len_hi, len_lo], der) = rest.split_first_chunk::<4>()?;
        if (*hash_alg, *sig_alg) != (TLS_HASH_SHA256, TLS_SIGNATURE_ECDSA)
            || der.len() != usize::from(u16::from_be_bytes([*len_hi, *len_lo]))
        {
            return None;
        }
        let checkpoint = Checkpoint::parse(std::str::from_utf8(text).ok()?).ok()?;
        if checkpoint.origin != self.name.as_str() || !checkpoint.extensions.is_empty() {
            return None;
        }
        let mut tree_head = Vec::with_capacity(2 + 8 + 8 + 32);
        tree_head.push(CT_VERSION_V1);
        tree_head.push(CT_SIGNATURE_TYPE_TREE_HASH);
        tree_head.extend_from_slice(&timestamp.to_be_bytes());
        tree_head.extend_from_slice(&checkpoint.size.to_be_bytes());
        tree_head.extend_from_slice(checkpoint.root.as_bytes());
        let sig = Signature::from_der(der).ok()?;
        self.key.verify(&tree_head, &sig).ok()?;
        Some(timestamp)
    }
}

impl NoteVerifier for Rfc6962Verifier {
    fn name(&self) -> &KeyName {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        self.verify_tree_head(text, signature).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::Note;

    // The Rome 2024h1 static-ct-api checkpoint, from transparency-dev/formats
    // note/note_rfc6962_test.go.
    const ROME_VKEY: &str = "rome.ct.filippo.io/2024h1+78f4abae+BTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAFzPC3fap+uINc1RQ4eRbYMUt84+bKkA8GDLN8KwVdzAgYhYSv4kS8XSheGLAHCWhIJTJbuC3sL88bNMTtrsBM=";
    const ROME_NOTE: &str = "rome.ct.filippo.io/2024h1\n115474666\n2q1K6aiIJR+F7TyhiWOghoWOjY0/3dVBLsBbAvB4xCw=\n\n\u{2014} rome.ct.filippo.io/2024h1 ePSrrgAAAY5+gVlSBAMARzBFAiEAv8bOMzo3Ed/GbU9fzzJvaStX6i8xTsmEF+NqvpGhIO0CIEn1X+zzVEerdix64GEn97XCXObA2G5JQ8UDDqCKdG5m\n";

    #[test]
    fn rome_checkpoint_verifies_with_its_timestamp() {
        let v = Rfc6962Verifier::from_vkey(ROME_VKEY).expect("vkey");
        assert_eq!(v.to_vkey(), ROME_VKEY);
        let note = Note::parse(ROME_NOTE.as_bytes()).expect("parse");
        assert!(note.verify(&[&v]).is_ok());
        let sig = &note.signatures()[0].signature;
        assert_eq!(
            v.verify_tree_head(note.text().as_bytes(), sig),
            Some(0x0000_018e_7e81_5952)
        );
    }

    #[test]
    fn origin_and_extensions_are_bound_to_the_key() {
        let v = Rfc6962Verifier::from_vkey(ROME_VKEY).expect("vkey");
        let note = Note::parse(ROME_NOTE.as_bytes()).expect("parse");
        let sig = &note.signatures()[0].signature;
        // The tree head signature does not cover the origin; the key name does.
        let relabelled = note.text().replacen("rome.ct", "B0rkedrome.ct", 1);
        assert!(!v.verify(relabelled.as_bytes(), sig));
        let extended = format!("{}ext\n", note.text());
        assert!(!v.verify(extended.as_bytes(), sig));
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let v = Rfc6962Verifier::from_vkey(ROME_VKEY).expect("vkey");
        let note = Note::parse(ROME_NOTE.as_bytes()).expect("parse");
        let text = note.text().as_bytes();
        let sig = note.signatures()[0].signature.clone();
        for cut in 0..sig.len() {
            assert!(!v.verify(text, &sig[..cut]), "truncated to {cut}");
        }
        let mut other_hash = sig.clone();
        other_hash[8] = 5;
        assert!(!v.verify(text, &other_hash));
        let mut rsa = sig.clone();
        rsa[9] = 1;
        assert!(!v.verify(text, &rsa));
        let mut later = sig.clone();
        later[7] ^= 1;
        assert!(!v.verify(text, &later));
        let mut trailing = sig;
        trailing.push(0);
        assert!(!v.verify(text, &trailing));
    }
}
