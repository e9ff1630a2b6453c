//! Ed25519 private keys held outside this process's memory: in a PKCS#11 token, in ssh-agent,
//! or (for uniformity) in memory as an [`Ed25519Signer`].
//!
//! Such a key can fail to sign (a token was removed, a PIN expired, an agent went away), so its
//! signing operation is fallible. The crate itself does no I/O: the implementations that talk to
//! tokens and agents live in the `cairn-keys` crate; this module only defines the interface and
//! the note and cosignature signers built on it, so the signature formats stay in one place.
//!
//! A signature made through this interface is an ordinary RFC 8032 Ed25519 signature: the note
//! key ID is computed from the key name and the 32-byte public key exactly as for a key file
//! (`c2sp.org/signed-note`), so nothing changes for verifiers.

use std::sync::Arc;

use crate::note::{
    Ed25519Signer, Ed25519Verifier, KeyName, NoteError, NoteSigner, SIG_TYPE_ED25519, key_id,
};

/// Why an external key could not sign. The message names the key and the cause, one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignError(pub String);

/// An Ed25519 private key that signs raw messages, possibly through a device that can fail.
pub trait Ed25519Key: std::fmt::Debug + Send + Sync {
    /// The raw 32-byte public key (RFC 8032 encoding).
    fn public_key(&self) -> [u8; 32];
    /// Signs `message` with pure Ed25519 (no pre-hashing, no context), returning the 64-byte
    /// signature.
    fn try_sign_raw(&self, message: &[u8]) -> Result<[u8; 64], SignError>;
}

impl Ed25519Key for Ed25519Signer {
    fn public_key(&self) -> [u8; 32] {
        Ed25519Signer::public_key(self)
    }

    fn try_sign_raw(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        Ok(self.sign_raw(message))
    }
}

/// A type 0x01 note signer over any [`Ed25519Key`]: the key's public key under a key name.
#[derive(Clone)]
pub struct KeySigner {
    name: KeyName,
    key_id: u32,
    verifier: Ed25519Verifier,
    key: Arc<dyn Ed25519Key>,
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeySigner({}+{:08x}, {:?})",
            self.name, self.key_id, self.key
        )
    }
}

impl KeySigner {
    /// Names `key`. Refuses a public key that is not a valid Ed25519 point (a token could hand
    /// back anything).
    pub fn new(name: KeyName, key: Arc<dyn Ed25519Key>) -> Result<KeySigner, NoteError> {
        let public = key.public_key();
        let verifier = Ed25519Verifier::new(name.clone(), public)?;
        Ok(KeySigner {
            key_id: key_id(&name, SIG_TYPE_ED25519, &public),
            name,
            verifier,
            key,
        })
    }

    /// The same key under another name (for example a log's per-origin names).
    pub fn with_name(&self, name: KeyName) -> KeySigner {
        KeySigner {
            key_id: key_id(&name, SIG_TYPE_ED25519, &self.key.public_key()),
            verifier: self.verifier.with_name(name.clone()),
            name,
            key: Arc::clone(&self.key),
        }
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> Ed25519Verifier {
        self.verifier.clone()
    }

    /// The underlying key.
    pub fn key(&self) -> &Arc<dyn Ed25519Key> {
        &self.key
    }
}

impl From<Ed25519Signer> for KeySigner {
    fn from(signer: Ed25519Signer) -> KeySigner {
        KeySigner {
            name: NoteSigner::name(&signer).clone(),
            key_id: NoteSigner::key_id(&signer),
            verifier: signer.verifier(),
            key: Arc::new(signer),
        }
    }
}

impl NoteSigner for KeySigner {
    fn name(&self) -> &KeyName {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Infallible form, for callers that cannot handle a failure: on failure it returns an
    /// empty signature, which [`crate::note::Note`] refuses. Everything in this workspace signs
    /// through [`NoteSigner::try_sign`] instead.
    fn sign(&self, text: &[u8]) -> Vec<u8> {
        self.try_sign(text).unwrap_or_default()
    }

    fn try_sign(&self, text: &[u8]) -> Result<Vec<u8>, SignError> {
        let signature = self.key.try_sign_raw(text)?;
        // A device that returns a wrong signature (a different key behind the same label, a
        // broken token) must not produce a note that fails only at the verifier.
        if !crate::note::NoteVerifier::verify(&self.verifier, text, &signature) {
            return Err(SignError(format!(
                "key {} made a signature that does not verify under its public key",
                self.name
            )));
        }
        Ok(signature.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{Note, NoteVerifier as _};

    #[derive(Debug)]
    struct Failing([u8; 32]);

    impl Ed25519Key for Failing {
        fn public_key(&self) -> [u8; 32] {
            self.0
        }
        fn try_sign_raw(&self, _: &[u8]) -> Result<[u8; 64], SignError> {
            Err(SignError("token removed".to_owned()))
        }
    }

    #[derive(Debug)]
    struct Lying(Ed25519Signer, Ed25519Signer);

    impl Ed25519Key for Lying {
        fn public_key(&self) -> [u8; 32] {
            self.0.public_key()
        }
        fn try_sign_raw(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
            Ok(self.1.sign_raw(message))
        }
    }

    fn file_key(seed: u8) -> Ed25519Signer {
        Ed25519Signer::from_seed(KeyName::new("example.org/k").expect("name"), [seed; 32])
    }

    #[test]
    fn key_signer_signs_like_the_file_key() {
        let file = file_key(1);
        let signer = KeySigner::new(file.verifier().name().clone(), Arc::new(file_key(1)))
            .expect("valid key");
        assert_eq!(signer.verifier(), file.verifier());
        let a = Note::sign("hello\n", &[&signer]).expect("signed");
        let b = Note::sign("hello\n", &[&file]).expect("signed");
        assert_eq!(a.to_bytes(), b.to_bytes());
        let renamed = signer.with_name(KeyName::new("example.org/k/releases").expect("name"));
        let note = Note::sign("x\n", &[&renamed]).expect("signed");
        let sig = &note.signatures()[0];
        assert!(renamed.verifier().verify(b"x\n", &sig.signature));
        assert_ne!(renamed.verifier().key_id(), signer.verifier().key_id());
    }

    #[test]
    fn failing_key_makes_note_signing_fail_with_its_message() {
        let signer = KeySigner::new(
            KeyName::new("k").expect("name"),
            Arc::new(Failing(file_key(2).public_key())),
        )
        .expect("valid key");
        let err = Note::sign("hello\n", &[&signer]).expect_err("must fail");
        assert!(err.to_string().contains("token removed"), "{err}");
    }

    #[test]
    fn signature_by_another_key_is_refused() {
        let signer = KeySigner::new(
            KeyName::new("k").expect("name"),
            Arc::new(Lying(file_key(3), file_key(4))),
        )
        .expect("valid key");
        let err = Note::sign("hello\n", &[&signer]).expect_err("must fail");
        assert!(err.to_string().contains("does not verify"), "{err}");
    }
}
