//! Pure verification of Sigstore bundles for Cairn: bytes in, verdict out. No network, no files,
//! no clock: every time that is checked comes from a signed statement in the bundle (a Rekor
//! signed entry timestamp or an RFC 3161 timestamp) and is compared with the validity periods of
//! the certificates and of the trusted root.
//!
//! [`verify_bundle`] checks, in order (spec/sigstore.md gives the normative list):
//! the bundle format; the signer (a Fulcio certificate whose identity and issuer match the
//! policy, or the policy's public key); the signature over the artifact (message signature, or
//! DSSE envelope whose in-toto statement names the artifact); every transparency-log entry (log
//! in the trusted root, body bound to the bundle, signed entry timestamp, inclusion proof and
//! signed checkpoint); every RFC 3161 timestamp; then, with the verified times, the certificate
//! chain to a Fulcio CA of the trusted root, the embedded SCTs, and that every time lies inside
//! the validity of the certificate, of its CA and of the logs used.
//!
//! Like `cairn-verifier`, this crate must not depend on async runtimes, HTTP stacks or git; a
//! test enforces it (`tests/boundary.rs`).

#![forbid(unsafe_code)]

mod bundle;
mod cert;
mod crypto;
mod dsse;
mod rekor;
mod release;
mod time;
mod trust_root;
mod tsa;

pub use bundle::{BundleVersion, MAX_BUNDLE_SIZE};
pub use cairn_verifier::sigstore_identity::IdentityMatcher;
pub use release::{ReleaseError, judge_release, verify_release};
pub use time::{Timestamp, Validity};
pub use trust_root::{MAX_TRUSTED_ROOT_SIZE, PRODUCTION_TRUSTED_ROOT, TrustedRoot};

use bundle::{Bundle, Content, Material};
use crypto::{HashAlg, PublicKey};

/// Why a bundle was refused. Every variant is a refusal (exit 3 in the CLI); the message is one
/// line naming the failed check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bundle does not parse or breaks a structural rule of its format.
    #[error("malformed bundle: {0}")]
    MalformedBundle(String),
    /// The bundle uses a version, kind or algorithm this verifier does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The trusted root does not parse or breaks a structural rule.
    #[error("trusted root: {0}")]
    TrustedRoot(String),
    /// The signing certificate is invalid or does not chain to the trusted root.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The certificate's signed certificate timestamps do not verify.
    #[error("certificate transparency: {0}")]
    Sct(String),
    /// The signer is not the one the policy asks for.
    #[error("signer: {0}")]
    Signer(String),
    /// The signature does not verify over the artifact.
    #[error("signature: {0}")]
    Signature(String),
    /// The bundle signs, or the log records, another artifact than the one given.
    #[error("artifact: {0}")]
    ArtifactMismatch(String),
    /// A transparency-log entry does not match the bundle or is from an untrusted log.
    #[error("transparency log: {0}")]
    TlogEntry(String),
    /// An inclusion proof or its checkpoint does not verify.
    #[error("inclusion proof: {0}")]
    Inclusion(String),
    /// A timestamp does not verify, or a time lies outside a validity period.
    #[error("timestamp: {0}")]
    Timestamp(String),
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum Policy {
    /// A Fulcio certificate for this identity (URI or email SAN) from this OIDC issuer.
    Identity {
        /// The accepted identity or identity pattern.
        identity: IdentityMatcher,
        /// The OIDC issuer URL, compared exactly.
        issuer: String,
    },
    /// A bundle signed with this public key (DER SubjectPublicKeyInfo), not a certificate.
    Key(SignerKey),
}

/// A public key for [`Policy::Key`].
#[derive(Debug, Clone)]
pub struct SignerKey {
    der: Vec<u8>,
    key: PublicKey,
}

impl SignerKey {
    /// From a DER SubjectPublicKeyInfo.
    pub fn from_der(der: &[u8]) -> Result<SignerKey, String> {
        Ok(SignerKey {
            key: PublicKey::from_spki_der(der)?,
            der: der.to_vec(),
        })
    }

    /// From a PEM `PUBLIC KEY` block.
    pub fn from_pem(pem: &[u8]) -> Result<SignerKey, String> {
        let (label, der) =
            crypto::pem_decode(pem).map_err(|e| format!("not a PEM public key: {e}"))?;
        if label != "PUBLIC KEY" {
            return Err(format!("PEM block is {label:?}, not \"PUBLIC KEY\""));
        }
        SignerKey::from_der(&der)
    }
}

/// The artifact the bundle must sign.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// The artifact's bytes (needed for Ed25519 message signatures).
    Bytes(&'a [u8]),
    /// The artifact's SHA-256 digest, computed by the caller while streaming it.
    Sha256([u8; 32]),
}

impl Artifact<'_> {
    fn sha256(&self) -> [u8; 32] {
        match self {
            Artifact::Bytes(b) => {
                let d = HashAlg::Sha256.digest(b);
                let mut out = [0; 32];
                out.copy_from_slice(&d);
                out
            }
            Artifact::Sha256(d) => *d,
        }
    }
}

/// Who signed, as verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A Fulcio certificate.
    Certificate {
        /// The SAN that matched the policy.
        identity: String,
        /// The OIDC issuer of the certificate.
        issuer: String,
    },
    /// The policy's public key.
    Key,
}

/// Where a verified time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeSource {
    /// A Rekor v1 integrated time, covered by a verified signed entry timestamp.
    Rekor {
        /// The log's base URL.
        log: String,
    },
    /// An RFC 3161 timestamp from a timestamp authority of the trusted root.
    TimestampAuthority,
}

/// A time attested by a verified signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTime {
    /// The time.
    pub time: Timestamp,
    /// Who attested it.
    pub source: TimeSource,
}

/// A transparency-log entry whose inclusion was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The log's base URL in the trusted root.
    pub log: String,
    /// The checkpoint origin the inclusion proof leads to.
    pub origin: String,
    /// The entry's index.
    pub index: u64,
    /// The size of the tree the inclusion was proved in.
    pub tree_size: u64,
}

/// A bundle that verified, and what it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The bundle's format version.
    pub bundle_version: BundleVersion,
    /// Who signed.
    pub signer: Signer,
    /// The SHA-256 of the signed artifact.
    pub artifact_sha256: [u8; 32],
    /// For DSSE bundles, the in-toto predicate type of the signed statement.
    pub predicate_type: Option<String>,
    /// Every verified time (at least one).
    pub times: Vec<VerifiedTime>,
    /// Every transparency-log entry (at least one), inclusion verified.
    pub log_entries: Vec<LogEntry>,
}

impl Verdict {
    /// The earliest verified time: when the signature is known to have existed.
    pub fn signed_at(&self) -> Timestamp {
        self.times
            .iter()
            .map(|t| t.time)
            .min()
            .expect("a verdict has at least one verified time")
    }

    /// The Rekor integrated time, when a signed entry timestamp attests one.
    pub fn integrated_time(&self) -> Option<Timestamp> {
        self.times
            .iter()
            .find(|t| matches!(t.source, TimeSource::Rekor { .. }))
            .map(|t| t.time)
    }
}

/// Verifies a Sigstore bundle over an artifact against a trusted root and a signer policy.
pub fn verify_bundle(
    bundle: &[u8],
    artifact: Artifact<'_>,
    root: &TrustedRoot,
    policy: &Policy,
) -> Result<Verdict, Error> {
    let bundle = Bundle::parse(bundle)?;
    let artifact_sha256 = artifact.sha256();

    // The signer.
    let (leaf, signer_key, signer_der, signer) = match (&bundle.material, policy) {
        (Material::Certificate(der), Policy::Identity { identity, issuer }) => {
            let leaf = cert::Leaf::parse(der.clone())?;
            let Some(san) = leaf.sans.iter().find(|s| identity.matches(s)) else {
                return Err(Error::Signer(format!(
                    "the certificate is for {}, not {identity}",
                    leaf.sans.join(", ")
                )));
            };
            if leaf.issuer != *issuer {
                return Err(Error::Signer(format!(
                    "the certificate's OIDC issuer is {}, not {issuer}",
                    leaf.issuer
                )));
            }
            let signer = Signer::Certificate {
                identity: san.clone(),
                issuer: leaf.issuer.clone(),
            };
            let key = leaf.key.clone();
            (Some(leaf), key, der.clone(), signer)
        }
        (Material::PublicKey, Policy::Key(k)) => (None, k.key.clone(), k.der.clone(), Signer::Key),
        (Material::Certificate(_), Policy::Key(_)) => {
            return Err(Error::Signer(
                "the bundle is signed with a certificate, but a public key was required".to_owned(),
            ));
        }
        (Material::PublicKey, Policy::Identity { .. }) => {
            return Err(Error::Signer(
                "the bundle is signed with a bare public key, not a certificate for the identity; verify it with a key".to_owned(),
            ));
        }
    };

    // The signature over the artifact.
    let mut predicate_type = None;
    let signature_bytes: &[u8] = match &bundle.content {
        Content::Message { digest, signature } => {
            if digest.is_some_and(|d| d != artifact_sha256) {
                return Err(Error::ArtifactMismatch(
                    "the bundle's message digest is not the artifact's SHA-256".to_owned(),
                ));
            }
            let ok = match (&signer_key, artifact) {
                (PublicKey::Ed25519(_), Artifact::Bytes(bytes)) => {
                    signer_key.verify(bytes, signature, HashAlg::Sha512)
                }
                (PublicKey::Ed25519(_), Artifact::Sha256(_)) => {
                    return Err(Error::Unsupported(
                        "Ed25519 message signatures need the artifact's bytes, not its digest"
                            .to_owned(),
                    ));
                }
                _ => signer_key.verify_prehash(&artifact_sha256, signature),
            };
            if !ok {
                return Err(Error::Signature(format!(
                    "the signature does not verify over the artifact with the signer's {} key",
                    signer_key.describe()
                )));
            }
            signature
        }
        Content::Dsse(env) => {
            let pae = dsse::pae(&env.payload_type, &env.payload);
            if !signer_key.verify(&pae, &env.signature, signer_key.default_hash()) {
                return Err(Error::Signature(
                    "the DSSE envelope's signature does not verify with the signer's key"
                        .to_owned(),
                ));
            }
            predicate_type = Some(dsse::check_statement(
                &env.payload_type,
                &env.payload,
                &artifact_sha256,
            )?);
            &env.signature
        }
    };

    // Transparency-log entries.
    if bundle.entries.is_empty() {
        return Err(Error::TlogEntry(
            "the bundle has no transparency log entry".to_owned(),
        ));
    }
    let expected = rekor::Expected {
        signer_der: &signer_der,
        signer_is_cert: leaf.is_some(),
        content: &bundle.content,
        artifact_sha256,
    };
    let mut checked = Vec::new();
    let mut times = Vec::new();
    for entry in &bundle.entries {
        let c = rekor::verify_entry(
            entry,
            &expected,
            root,
            bundle.version == BundleVersion::V0_1,
        )?;
        if let Some(t) = c.integrated_time {
            times.push(VerifiedTime {
                time: t,
                source: TimeSource::Rekor {
                    log: c.log_url.clone(),
                },
            });
        }
        checked.push(c);
    }

    // RFC 3161 timestamps.
    for token in &bundle.timestamps {
        let t = tsa::verify_timestamp(token, signature_bytes, root)?;
        times.push(VerifiedTime {
            time: t,
            source: TimeSource::TimestampAuthority,
        });
    }
    if times.is_empty() {
        return Err(Error::Timestamp(
            "no verified time: the bundle needs a signed entry timestamp or an RFC 3161 timestamp"
                .to_owned(),
        ));
    }
    let instants: Vec<Timestamp> = times.iter().map(|t| t.time).collect();

    // Every log used must have been valid at every verified time.
    for c in &checked {
        if let Some(t) = instants.iter().find(|t| !c.log.valid.contains(**t)) {
            return Err(Error::Timestamp(format!(
                "time {t} is outside the validFor of transparency log {} in the trusted root",
                c.log_url
            )));
        }
    }

    // The certificate: chain, validity at every time, SCTs.
    if let Some(leaf) = &leaf {
        let ca = leaf.verify_chain(root, &instants)?;
        let issuer = ca
            .chain
            .first()
            .ok_or_else(|| Error::Certificate("empty authority chain".to_owned()))?;
        leaf.verify_scts(issuer, root)?;
    }

    Ok(Verdict {
        bundle_version: bundle.version,
        signer,
        artifact_sha256,
        predicate_type,
        times,
        log_entries: checked
            .into_iter()
            .map(|c| LogEntry {
                log: c.log_url,
                origin: c.origin,
                index: c.log_index,
                tree_size: c.tree_size,
            })
            .collect(),
    })
}

/// The signing certificate's OIDC issuer and identities (URI and email SANs), read WITHOUT
/// verifying anything: for a publisher filling in a release's `sigstore` line. Nothing read here
/// is trusted; [`verify_bundle`] is what proves them.
pub fn certificate_identity_unverified(bundle: &[u8]) -> Result<(String, Vec<String>), Error> {
    let bundle = Bundle::parse(bundle)?;
    match bundle.material {
        Material::Certificate(der) => {
            let leaf = cert::Leaf::parse(der)?;
            Ok((leaf.issuer, leaf.sans))
        }
        Material::PublicKey => Err(Error::Signer(
            "the bundle is signed with a bare public key, not a certificate for an identity"
                .to_owned(),
        )),
    }
}

/// Parses a trusted root, mapping its errors to [`Error::TrustedRoot`].
pub fn parse_trusted_root(bytes: &[u8]) -> Result<TrustedRoot, Error> {
    TrustedRoot::from_json(bytes).map_err(Error::TrustedRoot)
}
