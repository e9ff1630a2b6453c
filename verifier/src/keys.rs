//! Verifier keys of every signature type Cairn can check (C2SP signed-note, "Signature types"),
//! behind one parser: [`parse_vkey`] reads `name+hexid+base64(type||key)`, dispatches on the
//! type byte, and refuses unknown types and key IDs that do not match the key.
//!
//! | type | meaning | module |
//! |---|---|---|
//! | 0x01 | Ed25519 note signature | [`crate::note`] |
//! | 0x02 | ECDSA P-256 (transparency-dev/witness, Rekor) | [`crate::note_ecdsa`] |
//! | 0x04 | Ed25519 `cosignature/v1` | [`crate::cosignature`] |
//! | 0x05 | RFC 6962 tree head signature (static-ct-api) | [`crate::note_rfc6962`] |
//! | 0x06 | ML-DSA-44 `subtree/v1` cosignature | [`crate::cosignature`] |
//!
//! Type 0xff is not supported and is refused, as is the reserved 0x03.

use crate::cosignature::{CosignatureVerifier, SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ML_DSA_44};
use crate::note::{
    Ed25519Verifier, KeyName, NoteError, NoteVerifier, SIG_TYPE_ED25519, split_vkey,
};
use crate::note_ecdsa::{EcdsaVerifier, SIG_TYPE_ECDSA};
use crate::note_rfc6962::{Rfc6962Verifier, SIG_TYPE_RFC6962_STH};

/// A verifier key of any supported signature type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnyVerifier {
    /// Type 0x01: Ed25519 note signatures.
    Ed25519(Ed25519Verifier),
    /// Type 0x02: ECDSA P-256 note signatures.
    Ecdsa(EcdsaVerifier),
    /// Type 0x04 or 0x06: Ed25519 `cosignature/v1` or ML-DSA-44 `subtree/v1` witness
    /// cosignatures.
    Cosignature(CosignatureVerifier),
    /// Type 0x05: RFC 6962 tree head signatures.
    Rfc6962(Rfc6962Verifier),
}

impl AnyVerifier {
    /// The signature type byte of the key.
    pub fn sig_type(&self) -> u8 {
        match self {
            AnyVerifier::Ed25519(_) => SIG_TYPE_ED25519,
            AnyVerifier::Ecdsa(_) => SIG_TYPE_ECDSA,
            AnyVerifier::Cosignature(v) => v.sig_type(),
            AnyVerifier::Rfc6962(_) => SIG_TYPE_RFC6962_STH,
        }
    }

    /// The vkey encoding of the key.
    pub fn to_vkey(&self) -> String {
        match self {
            AnyVerifier::Ed25519(v) => v.to_vkey(),
            AnyVerifier::Ecdsa(v) => v.to_vkey(),
            AnyVerifier::Cosignature(v) => v.to_vkey(),
            AnyVerifier::Rfc6962(v) => v.to_vkey(),
        }
    }

    fn inner(&self) -> &dyn NoteVerifier {
        match self {
            AnyVerifier::Ed25519(v) => v,
            AnyVerifier::Ecdsa(v) => v,
            AnyVerifier::Cosignature(v) => v,
            AnyVerifier::Rfc6962(v) => v,
        }
    }
}

impl NoteVerifier for AnyVerifier {
    fn name(&self) -> &KeyName {
        self.inner().name()
    }

    fn key_id(&self) -> u32 {
        self.inner().key_id()
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        self.inner().verify(text, signature)
    }
}

/// Parses a verifier key of any supported type, checking its name, encoding and key ID.
pub fn parse_vkey(vkey: &str) -> Result<AnyVerifier, NoteError> {
    let (_, _, material) = split_vkey(vkey)?;
    match material.first() {
        Some(&SIG_TYPE_ED25519) => Ed25519Verifier::from_vkey(vkey).map(AnyVerifier::Ed25519),
        Some(&SIG_TYPE_ECDSA) => EcdsaVerifier::from_vkey(vkey).map(AnyVerifier::Ecdsa),
        Some(&SIG_TYPE_COSIGNATURE_V1 | &SIG_TYPE_ML_DSA_44) => {
            CosignatureVerifier::from_vkey(vkey).map(AnyVerifier::Cosignature)
        }
        Some(&SIG_TYPE_RFC6962_STH) => Rfc6962Verifier::from_vkey(vkey).map(AnyVerifier::Rfc6962),
        Some(&other) => Err(NoteError::UnsupportedKeyType(other)),
        None => Err(NoteError::MalformedKey("key material is empty")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real keys: sum.golang.org (golang/go key.go), Rekor, Rome 2024h1 (transparency-dev/formats
    // tests), and the sigsum-go example witness (cosignature/v1).
    const KEYS: [(&str, u8); 4] = [
        (
            "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
            0x01,
        ),
        (
            "rekor.sigstore.dev+c0d23d6a+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=",
            0x02,
        ),
        (
            "example.org/witness+cacf2e50+BGbguFjkYqYJ5m/nE3DIFtiEb/ED1UmaIqf+w3/bxCSn",
            0x04,
        ),
        (
            "rome.ct.filippo.io/2024h1+78f4abae+BTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAFzPC3fap+uINc1RQ4eRbYMUt84+bKkA8GDLN8KwVdzAgYhYSv4kS8XSheGLAHCWhIJTJbuC3sL88bNMTtrsBM=",
            0x05,
        ),
    ];

    #[test]
    fn every_type_parses_and_round_trips() {
        for (vkey, sig_type) in KEYS {
            let v = parse_vkey(vkey).expect(vkey);
            assert_eq!(v.sig_type(), sig_type);
            assert_eq!(v.to_vkey(), vkey);
            let stated = u32::from_str_radix(vkey.split('+').nth(1).expect("id"), 16);
            assert_eq!(Ok(v.key_id()), stated);
        }
    }

    #[test]
    fn key_id_mismatch_and_unknown_types_are_refused() {
        for (vkey, _) in KEYS {
            let id = vkey.split('+').nth(1).expect("id");
            let flipped = format!("{:08x}", u32::from_str_radix(id, 16).expect("hex") ^ 1);
            let wrong = vkey.replacen(id, &flipped, 1);
            assert!(
                matches!(parse_vkey(&wrong), Err(NoteError::KeyIdMismatch { .. })),
                "{wrong}"
            );
        }
        // Type 0x03 (reserved) and 0xff (unassigned) with otherwise valid syntax; a 0x06
        // (ML-DSA-44) key of the wrong length.
        assert_eq!(
            parse_vkey("n+00000000+AwAAAA=="),
            Err(NoteError::UnsupportedKeyType(0x03))
        );
        assert_eq!(
            parse_vkey("n+00000000+/wAAAA=="),
            Err(NoteError::UnsupportedKeyType(0xff))
        );
        assert_eq!(
            parse_vkey("n+00000000+BgAAAA=="),
            Err(NoteError::MalformedKey(
                "ML-DSA-44 public key must be 1312 bytes"
            ))
        );
        // The mistyped sum.golang.org key: not valid base64.
        assert!(matches!(
            parse_vkey("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ry18zTFSd1iq/7v"),
            Err(NoteError::MalformedKey(_))
        ));
        assert!(parse_vkey("").is_err());
        assert!(parse_vkey("name+033de0ae+").is_err());
        assert!(parse_vkey("na me+033de0ae+AQ==").is_err());
    }
}
