//! # cairn-keys: where a signing key lives
//!
//! A key reference (KEYREF on the command line) names a signing key in one of three places:
//!
//! - a key file made by `cairn keygen` (`PRIVATE+KEY+...`; read by the caller, see
//!   [`KeyRef::File`]);
//! - a PKCS#11 token, by an RFC 7512 URI such as
//!   `pkcs11:token=cairn;object=release-2027?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin`
//!   (Ed25519 keys: `CKK_EC_EDWARDS`, signed with `CKM_EDDSA`), see [`pkcs11`];
//! - ssh-agent, by `ssh-agent:` followed by the key's OpenSSH public key or its `SHA256:`
//!   fingerprint (plain `ssh-ed25519` keys), see [`agent`].
//!
//! Token and agent keys yield an [`Ed25519Key`] whose signing can fail; the verifier's
//! [`KeySigner`] and [`cairn_verifier::cosignature::CosignatureSigner`] turn it into note
//! signatures and cosignatures that are byte-for-byte what a key file would make.
//!
//! This crate is not a dependency of the verifier: it loads native PKCS#11 modules and talks to
//! sockets.

use std::path::PathBuf;
use std::sync::Arc;

use cairn_verifier::note::{Ed25519Verifier, KeyName, NoteVerifier as _};
use cairn_verifier::signer::{Ed25519Key, KeySigner, SignError};

pub mod agent;
pub mod pkcs11;

/// Why a key reference could not be used. Every message is one line naming the key and what to
/// do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The reference does not parse.
    #[error("key reference {reference:?}: {message}")]
    BadReference {
        /// The reference as given (with any `pin-value` removed).
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// The PKCS#11 module, token or object could not be used.
    #[error("{0}")]
    Pkcs11(String),
    /// The agent could not be reached or does not hold a usable key.
    #[error("{0}")]
    Agent(String),
    /// The key's name is not a valid note key name.
    #[error("key name {name:?}: {message}")]
    BadName {
        /// The name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// A parsed key reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A key file; the caller reads it (permissions, format) as before.
    File(PathBuf),
    /// A key in a PKCS#11 token.
    Pkcs11(pkcs11::Pkcs11Uri),
    /// A key held by ssh-agent.
    Agent(agent::AgentKeyRef),
}

impl KeyRef {
    /// Parses `pkcs11:...`, `ssh-agent:...`, or else takes the text as a file path.
    pub fn parse(text: &str) -> Result<KeyRef, KeyError> {
        if text.starts_with(pkcs11::SCHEME) {
            Ok(KeyRef::Pkcs11(pkcs11::Pkcs11Uri::parse(text)?))
        } else if text.starts_with(agent::SCHEME) {
            Ok(KeyRef::Agent(agent::AgentKeyRef::parse(text)?))
        } else {
            Ok(KeyRef::File(PathBuf::from(text)))
        }
    }

    /// Whether the key lives outside a file (a token or an agent), so its name must be given.
    pub fn is_external(&self) -> bool {
        !matches!(self, KeyRef::File(_))
    }

    /// Opens a token or agent key: connects, finds the key, checks it is Ed25519, and makes one
    /// probe signature so a locked or failing device is reported now rather than at first use.
    /// A [`KeyRef::File`] is refused: the caller reads key files itself.
    pub fn open_external(&self) -> Result<Arc<dyn Ed25519Key>, KeyError> {
        let key: Arc<dyn Ed25519Key> = match self {
            KeyRef::File(path) => {
                return Err(KeyError::BadReference {
                    reference: path.display().to_string(),
                    message: "is a key file, not a pkcs11: or ssh-agent: reference".to_owned(),
                });
            }
            KeyRef::Pkcs11(uri) => Arc::new(pkcs11::Pkcs11Key::open(uri)?),
            KeyRef::Agent(reference) => Arc::new(agent::AgentKey::open(reference)?),
        };
        probe(key.as_ref()).map_err(|e| match self {
            KeyRef::Agent(_) => KeyError::Agent(e.0),
            _ => KeyError::Pkcs11(e.0),
        })?;
        Ok(key)
    }

    /// Opens a token or agent key as the note signer `name`.
    pub fn open_named(&self, name: &str) -> Result<KeySigner, KeyError> {
        let key_name = key_name(name)?;
        let key = self.open_external()?;
        KeySigner::new(key_name, key).map_err(|e| KeyError::BadName {
            name: name.to_owned(),
            message: format!("the device's public key is not a valid Ed25519 key: {e}"),
        })
    }
}

/// Checks a note key name.
pub fn key_name(name: &str) -> Result<KeyName, KeyError> {
    KeyName::new(name).map_err(|e| KeyError::BadName {
        name: name.to_owned(),
        message: e.to_string(),
    })
}

/// Signs a fixed message and checks the signature against the key's public key.
fn probe(key: &dyn Ed25519Key) -> Result<(), SignError> {
    const MESSAGE: &[u8] = b"cairn: key probe\n";
    let name = KeyName::new("cairn-key-probe").map_err(|e| SignError(e.to_string()))?;
    let verifier = Ed25519Verifier::new(name, key.public_key())
        .map_err(|e| SignError(format!("the key's public key is not valid Ed25519: {e}")))?;
    let signature = key.try_sign_raw(MESSAGE)?;
    if !verifier.verify(MESSAGE, &signature) {
        return Err(SignError(
            "the key made a signature that does not verify under its public key".to_owned(),
        ));
    }
    Ok(())
}
