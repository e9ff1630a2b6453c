//! Ed25519 keys held by ssh-agent, named `ssh-agent:` followed by the key's OpenSSH public key
//! line (`ssh-ed25519 AAAA... comment`) or its fingerprint (`SHA256:...`, as `ssh-add -l`
//! prints it).
//!
//! An `ssh-ed25519` agent key signs the message itself with pure Ed25519 (the agent protocol's
//! SSH_AGENTC_SIGN_REQUEST with no flags; the reply's signature blob is `ssh-ed25519` and the
//! 64-byte RFC 8032 signature), which is exactly a Cairn note signature. FIDO keys
//! (`sk-ssh-ed25519@openssh.com`) sign a structure that includes the authenticator's flags and
//! counter, not the message alone, so they cannot make note signatures and are refused.
//!
//! The agent is reached through `SSH_AUTH_SOCK`, read when the key is opened; every signature
//! uses a new connection, so an agent restarted at the same socket is picked up again.

use std::path::{Path, PathBuf};

use cairn_verifier::signer::{Ed25519Key, SignError};
use ssh_agent_client_rs::Client;
use ssh_key::public::KeyData;
use ssh_key::{Algorithm, HashAlg, PublicKey};

use crate::KeyError;

/// The reference prefix.
pub const SCHEME: &str = "ssh-agent:";

/// Which agent key: by public key or by fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentKeyRef {
    /// The key's OpenSSH public key.
    PublicKey(KeyData),
    /// Its SHA-256 fingerprint, `SHA256:` and unpadded base64.
    Fingerprint(String),
}

impl AgentKeyRef {
    /// Parses `ssh-agent:KEY` or `ssh-agent:SHA256:...`.
    pub fn parse(text: &str) -> Result<AgentKeyRef, KeyError> {
        let bad = |message: String| KeyError::BadReference {
            reference: text.to_owned(),
            message,
        };
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("does not start with ssh-agent:".to_owned()))?
            .trim();
        if rest.starts_with("SHA256:") {
            return Ok(AgentKeyRef::Fingerprint(rest.to_owned()));
        }
        let key = PublicKey::from_openssh(rest).map_err(|_| {
            bad(
                "after ssh-agent: give the key's OpenSSH public key (ssh-ed25519 AAAA...) or its \
                 SHA256: fingerprint, as `ssh-add -L` or `ssh-add -l` print them"
                    .to_owned(),
            )
        })?;
        ed25519_public_key(key.key_data()).map_err(|e| bad(e.to_string()))?;
        Ok(AgentKeyRef::PublicKey(key.key_data().clone()))
    }

    fn shown(&self) -> String {
        match self {
            AgentKeyRef::PublicKey(key) => fingerprint(key),
            AgentKeyRef::Fingerprint(f) => f.clone(),
        }
    }
}

fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The 32-byte Ed25519 public key of an agent key, refusing every other key type. FIDO
/// `sk-ssh-ed25519` keys get their own message: they look like Ed25519 keys but do not make
/// plain Ed25519 signatures.
pub fn ed25519_public_key(key: &KeyData) -> Result<[u8; 32], KeyError> {
    match key {
        KeyData::Ed25519(public) => Ok(public.0),
        other => {
            let algorithm = other.algorithm();
            let message = if algorithm == Algorithm::SkEd25519 {
                format!(
                    "agent key {} is a FIDO security key ({}): FIDO keys sign the \
                     authenticator's data, not plain Ed25519 signatures over the message, so \
                     they cannot sign Cairn notes; use an ssh-ed25519 key (in the agent or in a \
                     PKCS#11 token)",
                    fingerprint(key),
                    algorithm.as_str()
                )
            } else {
                format!(
                    "agent key {} is a {} key; Cairn signs with Ed25519 only (ssh-ed25519)",
                    fingerprint(key),
                    algorithm.as_str()
                )
            };
            Err(KeyError::Agent(message))
        }
    }
}

fn socket() -> Result<PathBuf, KeyError> {
    match std::env::var_os("SSH_AUTH_SOCK") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Err(KeyError::Agent(
            "SSH_AUTH_SOCK is not set: start ssh-agent (eval $(ssh-agent)) and add the key with \
             ssh-add"
                .to_owned(),
        )),
    }
}

fn connect(socket: &Path) -> Result<Client, String> {
    Client::connect(socket)
        .map_err(|e| format!("cannot reach ssh-agent at {}: {e}", socket.display()))
}

/// An Ed25519 key held by ssh-agent.
pub struct AgentKey {
    socket: PathBuf,
    key: KeyData,
    public: [u8; 32],
}

impl std::fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgentKey({})", fingerprint(&self.key))
    }
}

impl AgentKey {
    /// Connects to the agent and finds the key among the identities it holds.
    pub fn open(reference: &AgentKeyRef) -> Result<AgentKey, KeyError> {
        let socket = socket()?;
        let mut client = connect(&socket).map_err(KeyError::Agent)?;
        let identities = client.list_all_identities().map_err(|e| {
            KeyError::Agent(format!(
                "listing the keys of ssh-agent at {}: {e}",
                socket.display()
            ))
        })?;
        let wanted = reference.shown();
        let found = identities.iter().find_map(|identity| {
            let key: &KeyData = identity.into();
            let matches = match reference {
                AgentKeyRef::PublicKey(want) => key == want,
                AgentKeyRef::Fingerprint(want) => fingerprint(key) == *want,
            };
            matches.then(|| key.clone())
        });
        let Some(key) = found else {
            return Err(KeyError::Agent(format!(
                "ssh-agent at {} does not hold key {wanted} ({} keys loaded); add it with \
                 ssh-add",
                socket.display(),
                identities.len()
            )));
        };
        let public = ed25519_public_key(&key)?;
        Ok(AgentKey {
            socket,
            key,
            public,
        })
    }
}

impl Ed25519Key for AgentKey {
    fn public_key(&self) -> [u8; 32] {
        self.public
    }

    fn try_sign_raw(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        let shown = fingerprint(&self.key);
        let mut client = connect(&self.socket).map_err(SignError)?;
        let public = PublicKey::new(self.key.clone(), "");
        let signature = client.sign(&public, message).map_err(|e| {
            SignError(format!(
                "ssh-agent refused to sign with key {shown} (was it removed, or does it need \
                 confirmation?): {e}"
            ))
        })?;
        if signature.algorithm() != Algorithm::Ed25519 {
            return Err(SignError(format!(
                "ssh-agent answered with a {} signature for Ed25519 key {shown}",
                signature.algorithm().as_str()
            )));
        }
        signature.as_bytes().try_into().map_err(|_| {
            SignError(format!(
                "ssh-agent returned a {}-byte signature for key {shown}, not 64",
                signature.as_bytes().len()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real FIDO key's public key line (ssh-key's test data, tests/examples/id_sk_ed25519.pub):
    // key type sk-ssh-ed25519@openssh.com, a 32-byte Ed25519 point and the application "ssh:".
    const SK_ED25519: &str = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAICFo/k5LU8863u66YC9eUO2170QduohPURkQnbLa/dczAAAABHNzaDo= user@example.com";
    // An ordinary ssh-ed25519 key (ssh-key's tests/examples/id_ed25519.pub).
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti user@example.com";

    #[test]
    fn fido_keys_are_refused_with_the_reason() {
        let key = PublicKey::from_openssh(SK_ED25519).expect("real sk key");
        assert_eq!(key.algorithm(), Algorithm::SkEd25519);
        let err = ed25519_public_key(key.key_data())
            .expect_err("sk refused")
            .to_string();
        assert!(err.contains("FIDO"), "{err}");
        assert!(err.contains("not plain Ed25519 signatures"), "{err}");
        assert!(err.contains("sk-ssh-ed25519@openssh.com"), "{err}");
        let err = AgentKeyRef::parse(&format!("ssh-agent:{SK_ED25519}"))
            .expect_err("refused at parse")
            .to_string();
        assert!(err.contains("FIDO"), "{err}");
    }

    #[test]
    fn ed25519_keys_and_fingerprints_parse() {
        let key = PublicKey::from_openssh(ED25519).expect("key");
        let parsed = AgentKeyRef::parse(&format!("ssh-agent:{ED25519}")).expect("parses");
        assert_eq!(parsed, AgentKeyRef::PublicKey(key.key_data().clone()));
        let fp = key.fingerprint(HashAlg::Sha256).to_string();
        assert!(fp.starts_with("SHA256:"));
        assert_eq!(
            AgentKeyRef::parse(&format!("ssh-agent:{fp}")).expect("fingerprint"),
            AgentKeyRef::Fingerprint(fp)
        );
        let ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHwf2HMM5TRXvo2SQJjsNkiDD5KqiiNjrGVv3UUh+mMT5RHxiRtOnlqvjhQtBq0VpmpCV/PwUdhOig4vkbqAcEc= user@example.com";
        let err = AgentKeyRef::parse(&format!("ssh-agent:{ecdsa}"))
            .expect_err("ecdsa refused")
            .to_string();
        assert!(err.contains("Ed25519 only"), "{err}");
        let err = AgentKeyRef::parse("ssh-agent:nonsense")
            .expect_err("bad")
            .to_string();
        assert!(err.contains("ssh-add -L"), "{err}");
    }
}
