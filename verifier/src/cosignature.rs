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
//! ML-DSA-44 `subtree/v1` cosignatures (type 0x06), from the same spec's section on ML-DSA-44:
//!
//! - key ID = `SHA-256(name || 0x0A || 0x06 || 1,312-byte ML-DSA-44 public key)[:4]`, and the
//!   vkey is `name+hexid+base64(0x06 || public key)`;
//! - the signature is `timestamp (u64, big-endian) || 2,420-byte ML-DSA-44 signature` (pure
//!   ML-DSA, FIPS 204 Algorithm 2/3, empty context; Cairn signs deterministically);
//! - the signed message is the binary `cosigned_message`: the 12-byte label `"subtree/v1\n\0"`,
//!   the cosigner's key name (u8 length prefix), the timestamp (u64), the log origin (u8 length
//!   prefix, no newline), `start` = 0 and `end` = the checkpoint size (u64 each), and the
//!   32-byte root hash. It covers the first three checkpoint lines only, not extension lines;
//!   `[0, 0)` is not a subtree, so an empty tree cannot be cosigned this way.
//!
//! Both kinds sit behind [`CosignatureVerifier`] and [`CosignatureSigner`], so everything that
//! verifies a policy's witness keys (clients, monitors, the log's witness client) takes either.
//! A signer key for ML-DSA-44 is spelled like a signed-note Ed25519 one, with the 32-byte
//! FIPS 204 key-generation seed: `PRIVATE+KEY+name+hexid+base64(0x06 || seed)` (Cairn's
//! choice: the spec defines no private key encoding).

use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use ml_dsa::signature::{Signer as _, Verifier as _};
use ml_dsa::{EncodedVerifyingKey, MlDsa44};

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

/// Signature type byte of ML-DSA-44 `subtree/v1` cosignatures.
pub const SIG_TYPE_ML_DSA_44: u8 = 0x06;

/// Length of an ML-DSA-44 public key (FIPS 204).
pub const ML_DSA_44_PUBLIC_KEY_SIZE: usize = 1312;

/// Length of an ML-DSA-44 cosignature after the key ID: 8-byte timestamp, 2,420-byte signature.
pub const ML_DSA_44_COSIGNATURE_SIZE: usize = 8 + 2420;

const SUBTREE_LABEL: &[u8; 12] = b"subtree/v1\n\0";

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
    /// The signature is not 72 bytes (Ed25519) or 2,428 bytes (ML-DSA-44).
    #[error("cosignature by {name} is {len} bytes, not {expected}")]
    WrongLength {
        /// The cosigner's key name.
        name: String,
        /// Length of the signature after the key ID.
        len: usize,
        /// The length this cosigner's kind has.
        expected: usize,
    },
    /// An ML-DSA-44 `subtree/v1` cosignature cannot cover this checkpoint: its size is 0 (no
    /// subtree), or its origin is longer than 255 bytes (the message's length prefix).
    #[error("an ML-DSA-44 cosignature cannot cover this checkpoint: {0}")]
    NotCosignable(&'static str),
    /// The note has no signature line with this cosigner's name and key ID.
    #[error("note carries no cosignature from {name} ({key_id:08x})")]
    NotCosigned {
        /// The cosigner's key name.
        name: String,
        /// The cosigner's key ID.
        key_id: u32,
    },
    /// The witness's key failed to sign: a token or an agent failed, or ML-DSA-44 rejection
    /// sampling ran out of attempts (with a sound key this does not happen in practice).
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

/// The key material of a witness: Ed25519 (`cosignature/v1`) or ML-DSA-44 (`subtree/v1`).
#[derive(Clone)]
enum WitnessKey {
    Ed25519(VerifyingKey),
    MlDsa44 {
        key: Box<ml_dsa::VerifyingKey<MlDsa44>>,
        encoded: Box<[u8]>,
    },
}

impl WitnessKey {
    fn sig_type(&self) -> u8 {
        match self {
            WitnessKey::Ed25519(_) => SIG_TYPE_COSIGNATURE_V1,
            WitnessKey::MlDsa44 { .. } => SIG_TYPE_ML_DSA_44,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            WitnessKey::Ed25519(k) => k.as_bytes(),
            WitnessKey::MlDsa44 { encoded, .. } => encoded,
        }
    }

    fn signature_size(&self) -> usize {
        match self {
            WitnessKey::Ed25519(_) => COSIGNATURE_V1_SIZE,
            WitnessKey::MlDsa44 { .. } => ML_DSA_44_COSIGNATURE_SIZE,
        }
    }
}

/// A witness's cosignature verifier key: Ed25519 `cosignature/v1` (type 0x04) or ML-DSA-44
/// `subtree/v1` (type 0x06).
#[derive(Clone)]
pub struct CosignatureVerifier {
    name: KeyName,
    key_id: u32,
    key: WitnessKey,
}

impl PartialEq for CosignatureVerifier {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.key_id == other.key_id
            && self.key.sig_type() == other.key.sig_type()
            && self.key.bytes() == other.key.bytes()
    }
}

impl Eq for CosignatureVerifier {}

impl std::fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

impl CosignatureVerifier {
    /// Builds an Ed25519 verifier from the witness's name and 32-byte Ed25519 public key.
    pub fn new(name: KeyName, public_key: [u8; 32]) -> Result<CosignatureVerifier, NoteError> {
        let key = ed25519_public_key(&public_key)?;
        Ok(CosignatureVerifier {
            key_id: key_id(&name, SIG_TYPE_COSIGNATURE_V1, &public_key),
            name,
            key: WitnessKey::Ed25519(key),
        })
    }

    /// Builds an ML-DSA-44 verifier from the witness's name and 1,312-byte public key. The name
    /// must fit the message's one-byte length prefix (at most 255 bytes).
    pub fn new_ml_dsa_44(
        name: KeyName,
        public_key: &[u8],
    ) -> Result<CosignatureVerifier, NoteError> {
        if name.as_str().len() > 255 {
            return Err(NoteError::MalformedKey(
                "an ML-DSA-44 cosigner name must be at most 255 bytes",
            ));
        }
        let encoded = EncodedVerifyingKey::<MlDsa44>::try_from(public_key)
            .map_err(|_| NoteError::MalformedKey("ML-DSA-44 public key must be 1312 bytes"))?;
        let key = ml_dsa::VerifyingKey::<MlDsa44>::decode(&encoded);
        Ok(CosignatureVerifier {
            key_id: key_id(&name, SIG_TYPE_ML_DSA_44, public_key),
            name,
            key: WitnessKey::MlDsa44 {
                key: Box::new(key),
                encoded: public_key.into(),
            },
        })
    }

    /// Parses a vkey `name+hexid+base64(0x04||key)` (Ed25519) or `name+hexid+base64(0x06||key)`
    /// (ML-DSA-44), refusing a key ID that does not match. A type 0x01 vkey is refused: it
    /// names a different key ID, and treating it as a cosignature key would silently change
    /// which signatures count.
    pub fn from_vkey(vkey: &str) -> Result<CosignatureVerifier, NoteError> {
        let (_, _, material) = crate::note::split_vkey(vkey)?;
        if material.first() == Some(&SIG_TYPE_ML_DSA_44) {
            let (name, stated, material) = split_typed_vkey(vkey, SIG_TYPE_ML_DSA_44)?;
            let verifier = CosignatureVerifier::new_ml_dsa_44(name, &material)?;
            check_key_id(&verifier.name, stated, verifier.key_id)?;
            return Ok(verifier);
        }
        let (name, stated, material) = split_typed_vkey(vkey, SIG_TYPE_COSIGNATURE_V1)?;
        let public: [u8; 32] = material
            .try_into()
            .map_err(|_| NoteError::MalformedKey("Ed25519 public key must be 32 bytes"))?;
        let verifier = CosignatureVerifier::new(name, public)?;
        check_key_id(&verifier.name, stated, verifier.key_id)?;
        Ok(verifier)
    }

    /// The vkey encoding `name+hexid+base64(type||key)`.
    pub fn to_vkey(&self) -> String {
        format_vkey(
            &self.name,
            self.key_id,
            self.key.sig_type(),
            self.key.bytes(),
        )
    }

    /// The signature type byte: [`SIG_TYPE_COSIGNATURE_V1`] or [`SIG_TYPE_ML_DSA_44`].
    pub fn sig_type(&self) -> u8 {
        self.key.sig_type()
    }

    /// The raw public key (32 bytes for Ed25519, 1,312 for ML-DSA-44).
    pub fn public_key(&self) -> &[u8] {
        self.key.bytes()
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
        let checkpoint = Checkpoint::parse(text).map_err(CosignatureError::NotACheckpoint)?;
        let expected = self.key.signature_size();
        let (time, sig) = signature
            .split_first_chunk::<8>()
            .filter(|(_, sig)| sig.len() + 8 == expected)
            .ok_or_else(|| CosignatureError::WrongLength {
                name: self.name.as_str().to_owned(),
                len: signature.len(),
                expected,
            })?;
        let time = u64::from_be_bytes(*time);
        if time > MAX_COSIGNATURE_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange(time));
        }
        let bad = || CosignatureError::BadCosignature {
            name: self.name.as_str().to_owned(),
            key_id: self.key_id,
        };
        match &self.key {
            WitnessKey::Ed25519(key) => {
                let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| bad())?;
                // Strict verification, as for plain Ed25519 note signatures: one key and
                // message admit one signature.
                key.verify_strict(&signed_message(time, text), &sig)
                    .map_err(|_| bad())?;
            }
            WitnessKey::MlDsa44 { key, .. } => {
                let message = subtree_message(&self.name, time, &checkpoint)?;
                let encoded =
                    ml_dsa::EncodedSignature::<MlDsa44>::try_from(sig).map_err(|_| bad())?;
                let sig = ml_dsa::Signature::<MlDsa44>::decode(&encoded).ok_or_else(bad)?;
                key.verify(&message, &sig).map_err(|_| bad())?;
            }
        }
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

/// The `subtree/v1` `cosigned_message` for a checkpoint: the subtree `[0, size)`.
fn subtree_message(
    cosigner: &KeyName,
    time: u64,
    checkpoint: &Checkpoint,
) -> Result<Vec<u8>, CosignatureError> {
    let name = cosigner.as_str().as_bytes();
    let origin = checkpoint.origin.as_bytes();
    let name_len = u8::try_from(name.len())
        .map_err(|_| CosignatureError::NotCosignable("cosigner name over 255 bytes"))?;
    let origin_len = u8::try_from(origin.len())
        .map_err(|_| CosignatureError::NotCosignable("origin over 255 bytes"))?;
    if checkpoint.size == 0 {
        return Err(CosignatureError::NotCosignable("the tree is empty"));
    }
    let mut m = Vec::with_capacity(12 + 1 + name.len() + 8 + 1 + origin.len() + 16 + 32);
    m.extend_from_slice(SUBTREE_LABEL);
    m.push(name_len);
    m.extend_from_slice(name);
    m.extend_from_slice(&time.to_be_bytes());
    m.push(origin_len);
    m.extend_from_slice(origin);
    m.extend_from_slice(&0u64.to_be_bytes());
    m.extend_from_slice(&checkpoint.size.to_be_bytes());
    m.extend_from_slice(checkpoint.root.as_bytes());
    Ok(m)
}

/// `"cosignature/v1\ntime <t>\n" || text`, the message an Ed25519 cosignature signs.
fn signed_message(time: u64, text: &str) -> Vec<u8> {
    format!("{HEADER}time {time}\n{text}").into_bytes()
}

enum SignerKey {
    /// An Ed25519 key anywhere (a file, a token, an agent), its public key, and its seed when
    /// it is a key file's (for `to_skey`).
    Ed25519 {
        key: Arc<dyn Ed25519Key>,
        public: Box<VerifyingKey>,
        seed: Option<[u8; 32]>,
    },
    MlDsa44 {
        key: Box<ml_dsa::SigningKey<MlDsa44>>,
        seed: [u8; 32],
    },
}

/// A witness's cosignature signing key, for `cairn witness`: Ed25519 `cosignature/v1` or
/// ML-DSA-44 `subtree/v1`.
///
/// It does not implement [`crate::note::NoteSigner`]: a cosignature needs a timestamp, and this
/// crate reads no clock, so the caller passes the time explicitly.
pub struct CosignatureSigner {
    name: KeyName,
    key: SignerKey,
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
        let seed = signer.seed();
        CosignatureSigner {
            key_id: key_id(&name, SIG_TYPE_COSIGNATURE_V1, public.as_bytes()),
            name,
            key: SignerKey::Ed25519 {
                key: Arc::new(signer),
                public: Box::new(public),
                seed: Some(seed),
            },
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
            key: SignerKey::Ed25519 {
                key,
                public: Box::new(public),
                seed: None,
            },
        })
    }

    /// Builds an Ed25519 cosigner from a name and a 32-byte RFC 8032 seed.
    pub fn from_seed(name: KeyName, seed: [u8; 32]) -> CosignatureSigner {
        CosignatureSigner::from_signer(Ed25519Signer::from_seed(name, seed))
    }

    /// Builds an ML-DSA-44 cosigner from a name (at most 255 bytes) and a 32-byte FIPS 204
    /// key-generation seed. The caller supplies the randomness (this crate does no I/O).
    pub fn ml_dsa_44_from_seed(
        name: KeyName,
        seed: [u8; 32],
    ) -> Result<CosignatureSigner, NoteError> {
        if name.as_str().len() > 255 {
            return Err(NoteError::MalformedKey(
                "an ML-DSA-44 cosigner name must be at most 255 bytes",
            ));
        }
        let key = ml_dsa::SigningKey::<MlDsa44>::from_seed(&seed.into());
        let public = ml_dsa::signature::Keypair::verifying_key(&key).encode();
        Ok(CosignatureSigner {
            key_id: key_id(&name, SIG_TYPE_ML_DSA_44, public.as_slice()),
            name,
            key: SignerKey::MlDsa44 {
                key: Box::new(key),
                seed,
            },
        })
    }

    /// Parses `PRIVATE+KEY+name+hexid+base64(type||seed)` with type 0x01 (a plain Ed25519 note
    /// key, ID computed with 0x01), 0x04 (Ed25519, ID computed with 0x04) or 0x06 (ML-DSA-44
    /// seed, ID computed with 0x06 over the public key); the stated ID must match.
    pub fn from_skey(skey: &str) -> Result<CosignatureSigner, NoteError> {
        let (name, stated, sig_type, seed) = split_skey(skey)?;
        let (cosigner, computed) = match sig_type {
            SIG_TYPE_ED25519 | SIG_TYPE_COSIGNATURE_V1 => {
                let cosigner = CosignatureSigner::from_seed(name, seed);
                let public = cosigner.verifier();
                let computed = key_id(cosigner.name(), sig_type, public.public_key());
                (cosigner, computed)
            }
            SIG_TYPE_ML_DSA_44 => {
                let cosigner = CosignatureSigner::ml_dsa_44_from_seed(name, seed)?;
                let computed = cosigner.key_id;
                (cosigner, computed)
            }
            other => return Err(NoteError::UnsupportedKeyType(other)),
        };
        check_key_id(cosigner.name(), stated, computed)?;
        Ok(cosigner)
    }

    /// The signer encoding. For ML-DSA-44: `PRIVATE+KEY+name+hexid+base64(0x06||seed)`; for
    /// Ed25519 the type 0x04 spelling. Secret: store it with restrictive permissions. `None`
    /// for a key held in a token or an agent, which cannot be exported.
    pub fn to_skey(&self) -> Option<String> {
        let (sig_type, seed) = match &self.key {
            SignerKey::Ed25519 { seed, .. } => (SIG_TYPE_COSIGNATURE_V1, (*seed)?),
            SignerKey::MlDsa44 { seed, .. } => (SIG_TYPE_ML_DSA_44, *seed),
        };
        Some(format!(
            "PRIVATE+KEY+{}",
            format_vkey(&self.name, self.key_id, sig_type, &seed)
        ))
    }

    /// The cosigner's key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key ID written on cosignature lines (type 0x04 or 0x06).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature type byte: [`SIG_TYPE_COSIGNATURE_V1`] or [`SIG_TYPE_ML_DSA_44`].
    pub fn sig_type(&self) -> u8 {
        match self.key {
            SignerKey::Ed25519 { .. } => SIG_TYPE_COSIGNATURE_V1,
            SignerKey::MlDsa44 { .. } => SIG_TYPE_ML_DSA_44,
        }
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> CosignatureVerifier {
        let key = match &self.key {
            SignerKey::Ed25519 { public, .. } => WitnessKey::Ed25519(**public),
            SignerKey::MlDsa44 { key, .. } => {
                let public = ml_dsa::signature::Keypair::verifying_key(key.as_ref());
                WitnessKey::MlDsa44 {
                    encoded: public.encode().as_slice().into(),
                    key: Box::new(public),
                }
            }
        };
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key,
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
    /// checkpoint; nothing else is checked, so prefer [`CosignatureSigner::cosign`]. An ML-DSA-44
    /// cosigner refuses an empty tree ([`CosignatureError::NotCosignable`]).
    pub fn cosign_text(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<NoteSignature, CosignatureError> {
        let checkpoint =
            Checkpoint::parse(checkpoint_text).map_err(CosignatureError::NotACheckpoint)?;
        if timestamp > MAX_COSIGNATURE_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange(timestamp));
        }
        let mut signature = Vec::with_capacity(ML_DSA_44_COSIGNATURE_SIZE);
        signature.extend_from_slice(&timestamp.to_be_bytes());
        match &self.key {
            SignerKey::Ed25519 { key, public, .. } => {
                let message = signed_message(timestamp, checkpoint_text);
                let raw = key
                    .try_sign_raw(&message)
                    .map_err(|e| CosignatureError::SigningFailed(e.0))?;
                // A device that signs with another key must not hand out a cosignature that
                // fails only at the client.
                let check = ed25519_dalek::Signature::from_bytes(&raw);
                if public.verify_strict(&message, &check).is_err() {
                    return Err(CosignatureError::SigningFailed(format!(
                        "key {} made a signature that does not verify under its public key",
                        self.name
                    )));
                }
                signature.extend_from_slice(&raw);
            }
            SignerKey::MlDsa44 { key, .. } => {
                let message = subtree_message(&self.name, timestamp, &checkpoint)?;
                let sig: ml_dsa::Signature<MlDsa44> = key.try_sign(&message).map_err(|_| {
                    CosignatureError::SigningFailed("ML-DSA-44 signing failed".to_owned())
                })?;
                signature.extend_from_slice(sig.encode().as_slice());
            }
        }
        Ok(NoteSignature {
            name: self.name.clone(),
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
        sig.extend_from_slice(&ed25519_signer(1).sign_raw(&msg));
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
        sig.extend_from_slice(&ed25519_signer(1).sign_raw(&msg));
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

    fn ed25519_signer(seed: u8) -> Ed25519Signer {
        Ed25519Signer::from_seed(
            KeyName::new("example.org/witness").expect("name"),
            [seed; 32],
        )
    }

    fn ml_dsa_cosigner(seed: u8) -> CosignatureSigner {
        CosignatureSigner::ml_dsa_44_from_seed(
            KeyName::new("example.org/pq-witness").expect("name"),
            [seed; 32],
        )
        .expect("cosigner")
    }

    #[test]
    fn ml_dsa_44_cosign_then_verify() {
        let w = ml_dsa_cosigner(7);
        let v = w.verifier();
        assert_eq!(v.sig_type(), SIG_TYPE_ML_DSA_44);
        assert_eq!(v.public_key().len(), ML_DSA_44_PUBLIC_KEY_SIZE);
        // Key ID over 0x06 and the encoded public key (tlog-cosignature, signed-note).
        assert_eq!(
            v.key_id(),
            key_id(w.name(), SIG_TYPE_ML_DSA_44, v.public_key())
        );
        let sig = w.cosign_text(&text(), 1_700_000_000).expect("cosign");
        assert_eq!(sig.signature.len(), ML_DSA_44_COSIGNATURE_SIZE);
        assert_eq!(
            v.verify_cosignature(text().as_bytes(), &sig.signature),
            Ok(1_700_000_000)
        );
        // Another tree, another time, another name: refused.
        let other = Checkpoint::new("example.org/log", 11, leaf_hash(b"x"))
            .to_text()
            .expect("text");
        assert!(
            v.verify_cosignature(other.as_bytes(), &sig.signature)
                .is_err()
        );
        let mut later = sig.signature.clone();
        later[7] ^= 1;
        assert!(v.verify_cosignature(text().as_bytes(), &later).is_err());
        let renamed = CosignatureVerifier::new_ml_dsa_44(
            KeyName::new("example.org/other").expect("name"),
            v.public_key(),
        )
        .expect("verifier");
        assert!(
            renamed
                .verify_cosignature(text().as_bytes(), &sig.signature)
                .is_err()
        );
        // Through a note, as clients do.
        let mut note = Note::sign(&text(), &[]).expect("text");
        note.push_signature(sig).expect("push");
        let parsed = Note::parse(&note.to_bytes()).expect("parse");
        assert_eq!(v.cosignature_time(&parsed), Ok(1_700_000_000));
        parsed.verify(&[&v]).expect("verifies as a note signature");
        // An empty tree is not a subtree.
        let empty = Checkpoint::new("example.org/log", 0, crate::hash::Hash::empty_tree())
            .to_text()
            .expect("text");
        assert!(matches!(
            w.cosign_text(&empty, 1),
            Err(CosignatureError::NotCosignable(_))
        ));
    }

    #[test]
    fn ml_dsa_44_message_layout() {
        let cp = Checkpoint::new("b", 0x1718_191a_1b1c_1d1e, crate::hash::Hash([0x42; 32]));
        let msg = subtree_message(
            &KeyName::new("a").expect("name"),
            0x0102_0304_0506_0708,
            &cp,
        )
        .expect("message");
        let mut expected = b"subtree/v1\n\0".to_vec();
        expected.extend_from_slice(&[1, b'a']);
        expected.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
        expected.extend_from_slice(&[1, b'b']);
        expected.extend_from_slice(&0u64.to_be_bytes());
        expected.extend_from_slice(&0x1718_191a_1b1c_1d1eu64.to_be_bytes());
        expected.extend_from_slice(&[0x42; 32]);
        assert_eq!(msg, expected);
    }

    #[test]
    fn ml_dsa_44_keys_round_trip() {
        let w = ml_dsa_cosigner(9);
        let vkey = w.verifier().to_vkey();
        let parsed = CosignatureVerifier::from_vkey(&vkey).expect("vkey");
        assert_eq!(parsed, w.verifier());
        assert_eq!(
            crate::keys::parse_vkey(&vkey).expect("any").sig_type(),
            SIG_TYPE_ML_DSA_44
        );
        let again = CosignatureSigner::from_skey(&w.to_skey().expect("a seed")).expect("skey");
        assert_eq!(again.verifier(), w.verifier());
        // A wrong key ID is refused.
        let (name, _, rest) = {
            let mut p = vkey.splitn(3, '+');
            (
                p.next().expect("n"),
                p.next().expect("i"),
                p.next().expect("k"),
            )
        };
        assert!(CosignatureVerifier::from_vkey(&format!("{name}+00000000+{rest}")).is_err());
        // So is a truncated key.
        let short = format_vkey(w.name(), 0, SIG_TYPE_ML_DSA_44, &[1; 100]);
        assert!(CosignatureVerifier::from_vkey(&short).is_err());
        // Ed25519 cosigners keep their encoding.
        let ed = cosigner(1);
        let ed_again = CosignatureSigner::from_skey(&ed.to_skey().expect("a seed")).expect("skey");
        assert_eq!(ed_again.verifier(), ed.verifier());
    }
}
