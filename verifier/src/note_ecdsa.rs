//! ECDSA note signatures, type 0x02 of C2SP signed-note (section "Signature types"), as
//! implemented by github.com/transparency-dev/witness and used by Sigstore's Rekor and the Pixel
//! binary transparency log. Verification only: Cairn never signs with ECDSA.
//!
//! - vkey: `name+hexid+base64(0x02 || SubjectPublicKeyInfo DER)`;
//! - key ID: the first four bytes (big-endian) of `SHA-256(SPKI DER)`. Unlike every other type,
//!   neither the key name nor the type byte is hashed, so the same key under another name has
//!   the same ID; the name on the signature line must still match the vkey's;
//! - signature: ASN.1 DER `ECDSA-Sig-Value` over `SHA-256(note text)`.
//!
//! Only NIST P-256 is supported (the spec also allows P-384 and P-521 but says SHOULD P-256,
//! and every deployed log uses it), and only the canonical SPKI encoding of an uncompressed
//! point, which is what `x509.MarshalPKIXPublicKey` and OpenSSL produce. Parsing that one fixed
//! layout needs no general DER parser in the trusted core.

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};

use crate::hash::sha256;
use crate::note::{KeyName, NoteError, NoteVerifier, check_key_id, format_vkey, split_typed_vkey};

/// Signature type byte of ECDSA note signatures.
pub const SIG_TYPE_ECDSA: u8 = 0x02;

/// DER header of a P-256 SubjectPublicKeyInfo with an uncompressed point: SEQUENCE {
/// SEQUENCE { OID id-ecPublicKey, OID prime256v1 }, BIT STRING (0 unused bits) }, followed by the
/// 65-byte SEC 1 point `0x04 || X || Y`.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Length of a P-256 SubjectPublicKeyInfo with an uncompressed point.
pub const P256_SPKI_SIZE: usize = 91;

/// Parses the DER SubjectPublicKeyInfo of a P-256 public key (uncompressed point only).
pub(crate) fn parse_p256_spki(spki_der: &[u8]) -> Result<VerifyingKey, NoteError> {
    let point = Some(spki_der)
        .filter(|der| der.len() == P256_SPKI_SIZE)
        .and_then(|der| der.strip_prefix(&P256_SPKI_PREFIX))
        .filter(|point| point.first() == Some(&0x04))
        .ok_or(NoteError::MalformedKey(
            "key is not the DER SubjectPublicKeyInfo of a P-256 key with an uncompressed point",
        ))?;
    // from_sec1_bytes checks that the point lies on the curve.
    VerifyingKey::from_sec1_bytes(point)
        .map_err(|_| NoteError::MalformedKey("P-256 public key is not a point on the curve"))
}

/// The key ID of a type 0x02 key: `SHA-256(SPKI DER)[:4]`, big-endian.
pub fn ecdsa_key_id(spki_der: &[u8]) -> u32 {
    let digest = sha256(spki_der);
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A type 0x02 ECDSA P-256 note verifier key.
#[derive(Clone, PartialEq, Eq)]
pub struct EcdsaVerifier {
    name: KeyName,
    key_id: u32,
    spki: Vec<u8>,
    key: VerifyingKey,
}

impl std::fmt::Debug for EcdsaVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

impl EcdsaVerifier {
    /// Builds a verifier from a key name and the DER SubjectPublicKeyInfo of a P-256 key.
    pub fn new(name: KeyName, spki_der: &[u8]) -> Result<EcdsaVerifier, NoteError> {
        let key = parse_p256_spki(spki_der)?;
        Ok(EcdsaVerifier {
            name,
            key_id: ecdsa_key_id(spki_der),
            spki: spki_der.to_vec(),
            key,
        })
    }

    /// Parses a vkey `name+hexid+base64(0x02||SPKI DER)`, refusing a key ID that is not the
    /// truncated SHA-256 of the DER.
    pub fn from_vkey(vkey: &str) -> Result<EcdsaVerifier, NoteError> {
        let (name, stated, material) = split_typed_vkey(vkey, SIG_TYPE_ECDSA)?;
        let verifier = EcdsaVerifier::new(name, &material)?;
        check_key_id(&verifier.name, stated, verifier.key_id)?;
        Ok(verifier)
    }

    /// The vkey encoding `name+hexid+base64(0x02||SPKI DER)`.
    pub fn to_vkey(&self) -> String {
        format_vkey(&self.name, self.key_id, SIG_TYPE_ECDSA, &self.spki)
    }

    /// The DER SubjectPublicKeyInfo of the key.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }
}

impl NoteVerifier for EcdsaVerifier {
    fn name(&self) -> &KeyName {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        // DER parsing is strict (minimal integers, no trailing bytes). High-S signatures are
        // accepted, as by Go's ecdsa.VerifyASN1, which produced and checks these signatures.
        let Ok(sig) = Signature::from_der(signature) else {
            return false;
        };
        self.key.verify(text, &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Rekor (rekor.sigstore.dev) checkpoint key and a checkpoint it signed, from
    // transparency-dev/formats note/note_verifier_test.go.
    const REKOR_VKEY: &str = "rekor.sigstore.dev+c0d23d6a+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=";
    const REKOR_NOTE: &str = "Rekor\n798034\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n\n\u{2014} rekor.sigstore.dev wNI9ajBEAiARInWIWyCdyG27CO6LPnPekyw20qO0YJfoaPaowGp/XgIgc+qEHS3+GKVClgqq20uDLet7MCoTURUCRdxwWBHHufk=\n";

    #[test]
    fn rekor_checkpoint_verifies() {
        let v = EcdsaVerifier::from_vkey(REKOR_VKEY).expect("vkey");
        assert_eq!(v.to_vkey(), REKOR_VKEY);
        assert_eq!(NoteVerifier::key_id(&v), 0xc0d2_3d6a);
        let note = crate::note::Note::parse(REKOR_NOTE.as_bytes()).expect("parse");
        assert!(note.verify(&[&v]).is_ok());
        let mut sig = note.signatures()[0].signature.clone();
        let last = sig.len() - 1;
        sig[last] ^= 1;
        assert!(!v.verify(note.text().as_bytes(), &sig));
        assert!(!v.verify(b"Rekor\n798035\n", &note.signatures()[0].signature));
    }

    #[test]
    fn key_id_ignores_the_name_but_the_name_still_counts() {
        let renamed = REKOR_VKEY.replacen("rekor.sigstore.dev", "bananas.sigstore.dev", 1);
        let v = EcdsaVerifier::from_vkey(&renamed).expect("same ID under another name");
        let note = crate::note::Note::parse(REKOR_NOTE.as_bytes()).expect("parse");
        assert_eq!(note.verify(&[&v]), Err(NoteError::NoKnownSignature));
    }

    #[test]
    fn malformed_keys_are_refused() {
        let wrong_id = REKOR_VKEY.replacen("c0d23d6a", "c0d23d6b", 1);
        assert!(matches!(
            EcdsaVerifier::from_vkey(&wrong_id),
            Err(NoteError::KeyIdMismatch { .. })
        ));
        let (_, _, material) = crate::note::split_vkey(REKOR_VKEY).expect("split");
        let spki = &material[1..];
        assert!(EcdsaVerifier::new(KeyName::new("n").expect("name"), &spki[..90]).is_err());
        let mut off_curve = spki.to_vec();
        off_curve[90] ^= 1;
        assert!(EcdsaVerifier::new(KeyName::new("n").expect("name"), &off_curve).is_err());
        let mut other_curve = spki.to_vec();
        other_curve[22] = 0x08;
        assert!(EcdsaVerifier::new(KeyName::new("n").expect("name"), &other_curve).is_err());
    }
}
