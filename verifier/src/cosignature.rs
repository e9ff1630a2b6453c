//! C2SP tlog-cosignature (`c2sp.org/tlog-cosignature`), Ed25519 `cosignature/v1`, signature
//! type 0x04: the statement a witness makes about a checkpoint.
//!
//! Following the spec's sections "Format" and "Ed25519 signed message":
//!
//! - key ID = `SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]`, so the same
//!   Ed25519 key used as a plain note key (type 0x01) has a different ID and its signatures are
//!   not mistaken for cosignatures, nor the reverse;
//! - the signature is `timestamp (u64, big-endian) || Ed25519 signature`, the timestamp at most
//!   2^63 - 1;
//! - the signed message is `"cosignature/v1\n" || "time <timestamp>\n" || checkpoint text`, where
//!   the checkpoint text is the whole note text, extension lines included.
//!
//! A cosignature is only defined over a checkpoint, so text that does not parse as one never
//! verifies and is never cosigned.
//!
//! Meaning of the timestamp: the POSIX time (seconds) at which the witness signed; the
//! cosignature states that, as of that time, this was the largest tree the witness had seen for
//! this origin and it was consistent with every earlier one. It says nothing about extension
//! lines. This crate reads no clock: rejecting timestamps in the future (which the spec allows)
//! and checking freshness is the policy code's job, with [`CosignatureVerifier::cosignature_time`].
//!
//! ML-DSA-44 cosignatures (type 0x06) are not implemented.

use std::sync::Arc;

use ed25519_dalek::VerifyingKey;

use crate::checkpoint::{Checkpoint, CheckpointError, VerifiedCheckpoint};
use crate::note::{
    Ed25519Signer, KeyName, Note, NoteError, NoteSignature, NoteSigner, NoteVerifier,
    SIG_TYPE_ED25519, check_key_id, ed25519_public_key, format_vkey, key_id, split_skey,
    split_typed_vkey,
};
use crate::signer::Ed25519Key;

/// Signature type byte of Ed25519 `cosignature/v1` signatures.
pub const SIG_TYPE_COSIGNATURE_V1: u8 = 0x04;

/// Largest timestamp a cosignature may carry (2^63 - 1), per the spec.
pub const MAX_COSIGNATURE_TIMESTAMP: u64 = i64::MAX as u64;

/// Length of a `cosignature/v1` signature after the key ID: 8-byte timestamp, 64-byte Ed25519.
pub const COSIGNATURE_V1_SIZE: usize = 8 + 64;

const HEADER: &str = "cosignature/v1\n";

/// Why a cosignature could not be made or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignatureError {
    /// The text to cosign, or the cosigned text, is not a valid checkpoint.
    #[error("cosigned text is not a checkpoint: {0}")]
    NotACheckpoint(CheckpointError),
    /// The timestamp is larger than 2^63 - 1.
    #[error("cosignature timestamp {0} exceeds 2^63 - 1")]
    TimestampOutOfRange(u64),
    /// The signature is not 72 bytes (8-byte timestamp and 64-byte Ed25519 signature).
    #[error("cosignature by {name} is {len} bytes, not {COSIGNATURE_V1_SIZE}")]
    WrongLength {
        /// The cosigner's key name.
        name: String,
        /// Length of the signature after the key ID.
        len: usize,
    },
    /// The note has no signature line with this cosigner's name and key ID.
    #[error("note carries no cosignature from {name} ({key_id:08x})")]
    NotCosigned {
        /// The cosigner's key name.
        name: String,
        /// The cosigner's key ID.
        key_id: u32,
    },
    /// The witness's key (in a token or an agent) failed to sign.
    #[error("cosigning failed: {0}")]
    SigningFailed(String),
    /// The cosigner's signature line is present but the signature does not verify.
    #[error("cosignature from {name} ({key_id:08x}) does not verify")]
    BadCosignature {
        /// The cosigner's key name.
        name: String,
        /// The cosigner's key ID.
        key_id: u32,
    },
}

/// An Ed25519 `cosignature/v1` (type 0x04) verifier key of a witness.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: KeyName,
    key_id: u32,
    key: VerifyingKey,
}

impl std::fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

impl CosignatureVerifier {
    /// Builds a verifier from the witness's name and 32-byte Ed25519 public key.
    pub fn new(name: KeyName, public_key: [u8; 32]) -> Result<CosignatureVerifier, NoteError> {
        let key = ed25519_public_key(&public_key)?;
        Ok(CosignatureVerifier {
            key_id: key_id(&name, SIG_TYPE_COSIGNATURE_V1, &public_key),
            name,
            key,
        })
    }

    /// Parses a vkey `name+hexid+base64(0x04||key)`, refusing a key ID that does not match.
    /// A type 0x01 vkey is refused: it names a different key ID, and treating it as a
    /// cosignature key would silently change which signatures count.
    pub fn from_vkey(vkey: &str) -> Result<CosignatureVerifier, NoteError> {
        let (name, stated, material) = split_typed_vkey(vkey, SIG_TYPE_COSIGNATURE_V1)?;
        let public: [u8; 32] = material
            .try_into()
            .map_err(|_| NoteError::MalformedKey("Ed25519 public key must be 32 bytes"))?;
        let verifier = CosignatureVerifier::new(name, public)?;
        check_key_id(&verifier.name, stated, verifier.key_id)?;
        Ok(verifier)
    }

    /// The vkey encoding `name+hexid+base64(0x04||key)`.
    pub fn to_vkey(&self) -> String {
        format_vkey(
            &self.name,
            self.key_id,
            SIG_TYPE_COSIGNATURE_V1,
            self.key.as_bytes(),
        )
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Verifies one cosignature (`signature` without the key ID) over `checkpoint_text` and
    /// returns its timestamp.
    pub fn verify_cosignature(
        &self,
        checkpoint_text: &[u8],
        signature: &[u8],
    ) -> Result<u64, CosignatureError> {
        let text = std::str::from_utf8(checkpoint_text)
            .map_err(|_| CosignatureError::NotACheckpoint(NoteError::NotUtf8.into()))?;
        Checkpoint::parse(text).map_err(CosignatureError::NotACheckpoint)?;
        let (time, sig) = signature
            .split_first_chunk::<8>()
            .filter(|(_, sig)| sig.len() == 64)
            .ok_or_else(|| CosignatureError::WrongLength {
                name: self.name.as_str().to_owned(),
                len: signature.len(),
            })?;
        let time = u64::from_be_bytes(*time);
        if time > MAX_COSIGNATURE_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange(time));
        }
        let bad = || CosignatureError::BadCosignature {
            name: self.name.as_str().to_owned(),
            key_id: self.key_id,
        };
        let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| bad())?;
        // Strict verification, as for plain Ed25519 note signatures: one key and message admit
        // one signature.
        self.key
            .verify_strict(&signed_message(time, text), &sig)
            .map_err(|_| bad())?;
        Ok(time)
    }

    /// Finds this witness's cosignature on `note` (by name and key ID), verifies it and returns
    /// its timestamp, in POSIX seconds. The policy code compares it with its own "now".
    pub fn cosignature_time(&self, note: &Note) -> Result<u64, CosignatureError> {
        let sig = note
            .signatures()
            .iter()
            .find(|s| s.name == self.name && s.key_id == self.key_id)
            .ok_or_else(|| CosignatureError::NotCosigned {
                name: self.name.as_str().to_owned(),
                key_id: self.key_id,
            })?;
        self.verify_cosignature(note.text().as_bytes(), &sig.signature)
    }
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &KeyName {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        self.verify_cosignature(text, signature).is_ok()
    }
}

/// `"cosignature/v1\ntime <t>\n" || text`, the message an Ed25519 cosignature signs.
fn signed_message(time: u64, text: &str) -> Vec<u8> {
    format!("{HEADER}time {time}\n{text}").into_bytes()
}

/// A witness's Ed25519 `cosignature/v1` signing key, for `cairn witness`.
///
/// It does not implement [`crate::note::NoteSigner`]: a cosignature needs a timestamp, and this
/// crate reads no clock, so the caller passes the time explicitly.
pub struct CosignatureSigner {
    name: KeyName,
    key: Arc<dyn Ed25519Key>,
    public: VerifyingKey,
    key_id: u32,
}

impl std::fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secret material.
        write!(f, "CosignatureSigner({}+{:08x})", self.name(), self.key_id)
    }
}

impl CosignatureSigner {
    /// Uses an Ed25519 note key (its name and key material) as a cosigner. The key ID becomes
    /// the type 0x04 ID.
    pub fn from_signer(signer: Ed25519Signer) -> CosignatureSigner {
        let name = NoteSigner::name(&signer).clone();
        let public = *signer.verifier().verifying_key();
        CosignatureSigner {
            key_id: key_id(&name, SIG_TYPE_COSIGNATURE_V1, public.as_bytes()),
            name,
            public,
            key: Arc::new(signer),
        }
    }

    /// Uses an Ed25519 key held anywhere (a token, an agent) as the cosigner `name`. Refuses a
    /// public key that is not a valid Ed25519 point.
    pub fn from_key(
        name: KeyName,
        key: Arc<dyn Ed25519Key>,
    ) -> Result<CosignatureSigner, NoteError> {
        let public = ed25519_public_key(&key.public_key())?;
        Ok(CosignatureSigner {
            key_id: key_id(&name, SIG_TYPE_COSIGNATURE_V1, public.as_bytes()),
            name,
            public,
            key,
        })
    }

    /// Builds a cosigner from a name and a 32-byte RFC 8032 seed.
    pub fn from_seed(name: KeyName, seed: [u8; 32]) -> CosignatureSigner {
        CosignatureSigner::from_signer(Ed25519Signer::from_seed(name, seed))
    }

    /// Parses `PRIVATE+KEY+name+hexid+base64(type||seed)` with type 0x01 (a plain Ed25519 note
    /// key, ID computed with 0x01) or 0x04 (ID computed with 0x04); the stated ID must match.
    pub fn from_skey(skey: &str) -> Result<CosignatureSigner, NoteError> {
        let (name, stated, sig_type, seed) = split_skey(skey)?;
        if sig_type != SIG_TYPE_ED25519 && sig_type != SIG_TYPE_COSIGNATURE_V1 {
            return Err(NoteError::UnsupportedKeyType(sig_type));
        }
        let cosigner = CosignatureSigner::from_seed(name, seed);
        let computed = key_id(cosigner.name(), sig_type, cosigner.public.as_bytes());
        check_key_id(cosigner.name(), stated, computed)?;
        Ok(cosigner)
    }

    /// The cosigner's key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The type 0x04 key ID written on cosignature lines.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name().clone(),
            key_id: self.key_id,
            key: self.public,
        }
    }

    /// Cosigns a checkpoint whose log signature was verified, at `timestamp` (POSIX seconds).
    /// The witness must have checked consistency with the last checkpoint it cosigned first.
    pub fn cosign(
        &self,
        checkpoint: &VerifiedCheckpoint,
        timestamp: u64,
    ) -> Result<NoteSignature, CosignatureError> {
        self.cosign_text(checkpoint.note().text(), timestamp)
    }

    /// Cosigns checkpoint text at `timestamp` (POSIX seconds). The text must parse as a
    /// checkpoint; nothing else is checked, so prefer [`CosignatureSigner::cosign`].
    pub fn cosign_text(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<NoteSignature, CosignatureError> {
        Checkpoint::parse(checkpoint_text).map_err(CosignatureError::NotACheckpoint)?;
        if timestamp > MAX_COSIGNATURE_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange(timestamp));
        }
        let mut signature = Vec::with_capacity(COSIGNATURE_V1_SIZE);
        signature.extend_from_slice(&timestamp.to_be_bytes());
        let message = signed_message(timestamp, checkpoint_text);
        let raw = self
            .key
            .try_sign_raw(&message)
            .map_err(|e| CosignatureError::SigningFailed(e.0))?;
        // A device that signs with another key must not hand out a cosignature that fails only
        // at the client.
        let check = ed25519_dalek::Signature::from_bytes(&raw);
        if self.public.verify_strict(&message, &check).is_err() {
            return Err(CosignatureError::SigningFailed(format!(
                "key {} made a signature that does not verify under its public key",
                self.name
            )));
        }
        signature.extend_from_slice(&raw);
        Ok(NoteSignature {
            name: self.name().clone(),
            key_id: self.key_id,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    fn cosigner(seed: u8) -> CosignatureSigner {
        CosignatureSigner::from_seed(
            KeyName::new("example.org/witness").expect("name"),
            [seed; 32],
        )
    }

    fn text() -> String {
        Checkpoint::new("example.org/log", 10, leaf_hash(b"x"))
            .to_text()
            .expect("text")
    }

    // The example from c2sp.org/tlog-cosignature: a checkpoint with a log signature and a
    // cosignature by witness.example.com/w1 (whose key the spec does not give).
    const SPEC_NOTE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

    // The signed message the spec shows for that cosignature.
    const SPEC_MESSAGE: &str = "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    // sigsum-go pkg/checkpoint/checkpoint_test.go (TestCheckpointVerifyCosignatureByKey): a
    // cosignature/v1 at time 1234 by the key with seed {17, 0, ...}; the log line is fake.
    const SIGSUM_VKEY: &str =
        "example.org/witness+cacf2e50+BGbguFjkYqYJ5m/nE3DIFtiEb/ED1UmaIqf+w3/bxCSn";
    const SIGSUM_NOTE: &str = "example.org/log\n10\nHA5HAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} example.org/log DEADBEEFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\u{2014} example.org/witness ys8uUAAAAAAAAATSftMzceM8zssdZ9jin9SjwIxzx9iADMf63VqirX2hafol9RsqNqbofIz0LVRqHXI2kpEBSki5RTXFtxz1vo9+Cg==\n";

    #[test]
    fn spec_example_message_and_timestamp() {
        let note = Note::parse(SPEC_NOTE.as_bytes()).expect("spec note parses");
        let cosig = &note.signatures()[1];
        assert_eq!(cosig.name.as_str(), "witness.example.com/w1");
        assert_eq!(cosig.signature.len(), COSIGNATURE_V1_SIZE);
        let time = u64::from_be_bytes(cosig.signature[..8].try_into().expect("8 bytes"));
        assert_eq!(time, 1_679_315_147);
        assert_eq!(signed_message(time, note.text()), SPEC_MESSAGE.as_bytes());
    }

    #[test]
    fn sigsum_cosignature_verifies() {
        let v = CosignatureVerifier::from_vkey(SIGSUM_VKEY).expect("vkey");
        let note = Note::parse(SIGSUM_NOTE.as_bytes()).expect("parse");
        assert_eq!(v.cosignature_time(&note), Ok(1234));
        // The same key (seed 17, 0, 0, ...) signs the same cosignature, byte for byte.
        let mut seed = [0; 32];
        seed[0] = 17;
        let w = CosignatureSigner::from_seed(v.name().clone(), seed);
        assert_eq!(w.verifier(), v);
        assert_eq!(
            w.cosign_text(note.text(), 1234).expect("cosign"),
            note.signatures()[1]
        );
    }

    #[test]
    fn cosign_then_verify_returns_the_timestamp() {
        let w = cosigner(1);
        let sig = w.cosign_text(&text(), 1_700_000_000).expect("cosign");
        assert_eq!(sig.key_id, w.key_id());
        assert_eq!(sig.signature.len(), COSIGNATURE_V1_SIZE);
        assert_eq!(&sig.signature[..8], &1_700_000_000u64.to_be_bytes());
        let v = w.verifier();
        assert_eq!(
            v.verify_cosignature(text().as_bytes(), &sig.signature),
            Ok(1_700_000_000)
        );
        let mut note = Note::sign(&text(), &[]).expect("note");
        note.push_signature(sig.clone()).expect("push");
        assert_eq!(v.cosignature_time(&note), Ok(1_700_000_000));
        assert!(note.verify(&[&v]).is_ok());

        // The timestamp is signed: changing it breaks the signature.
        let mut later = sig.signature.clone();
        later[7] ^= 1;
        assert!(matches!(
            v.verify_cosignature(text().as_bytes(), &later),
            Err(CosignatureError::BadCosignature { .. })
        ));
    }

    #[test]
    fn key_id_differs_from_the_plain_ed25519_key() {
        let w = cosigner(1);
        let plain = Ed25519Signer::from_seed(w.name().clone(), [1; 32]);
        assert_ne!(w.key_id(), NoteVerifier::key_id(&plain.verifier()));
        // A plain signature by the same key is not a cosignature, and vice versa.
        let mut note = Note::sign(&text(), &[&plain]).expect("sign");
        assert!(matches!(
            w.verifier().cosignature_time(&note),
            Err(CosignatureError::NotCosigned { .. })
        ));
        note.push_signature(w.cosign_text(&text(), 5).expect("cosign"))
            .expect("push");
        assert_eq!(w.verifier().cosignature_time(&note), Ok(5));
    }

    #[test]
    fn only_checkpoints_are_cosigned_or_verified() {
        let w = cosigner(1);
        assert!(matches!(
            w.cosign_text("just some text\n", 1),
            Err(CosignatureError::NotACheckpoint(_))
        ));
        // A cosignature made over non-checkpoint text by some other implementation.
        let msg = signed_message(1, "just some text\n");
        let mut sig = 1u64.to_be_bytes().to_vec();
        sig.extend_from_slice(&w.key.try_sign_raw(&msg).expect("in-memory key"));
        assert!(!w.verifier().verify(b"just some text\n", &sig));
    }

    #[test]
    fn timestamp_range_and_length_are_checked() {
        let w = cosigner(1);
        assert_eq!(
            w.cosign_text(&text(), 1 << 63),
            Err(CosignatureError::TimestampOutOfRange(1 << 63))
        );
        assert!(w.cosign_text(&text(), MAX_COSIGNATURE_TIMESTAMP).is_ok());
        let msg = signed_message(1 << 63, &text());
        let mut sig = (1u64 << 63).to_be_bytes().to_vec();
        sig.extend_from_slice(&w.key.try_sign_raw(&msg).expect("in-memory key"));
        assert_eq!(
            w.verifier().verify_cosignature(text().as_bytes(), &sig),
            Err(CosignatureError::TimestampOutOfRange(1 << 63))
        );
        assert!(matches!(
            w.verifier()
                .verify_cosignature(text().as_bytes(), &sig[..71]),
            Err(CosignatureError::WrongLength { len: 71, .. })
        ));
    }

    #[test]
    fn vkey_and_skey_encodings() {
        let w = cosigner(3);
        let v = w.verifier();
        let vkey = v.to_vkey();
        assert_eq!(CosignatureVerifier::from_vkey(&vkey), Ok(v.clone()));
        let plain = Ed25519Signer::from_seed(w.name().clone(), [3; 32]);
        assert_eq!(
            CosignatureVerifier::from_vkey(&plain.verifier().to_vkey()),
            Err(NoteError::UnsupportedKeyType(SIG_TYPE_ED25519))
        );
        let from_plain = CosignatureSigner::from_skey(&plain.to_skey()).expect("0x01 skey");
        assert_eq!(from_plain.verifier(), v);
        let bad_id = vkey.replacen(&format!("+{:08x}+", w.key_id()), "+00000000+", 1);
        assert!(matches!(
            CosignatureVerifier::from_vkey(&bad_id),
            Err(NoteError::KeyIdMismatch { .. })
        ));
    }
}
