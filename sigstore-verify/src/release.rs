//! Releases authorised by a Sigstore bundle (spec/keylog.md 5.1): the key log says which
//! identity may authorise which names and which trusted root is in force; the bundle proves that
//! the identity signed the artifact. [`verify_release`] completes the judgement that
//! `cairn_verifier::keylog::sigstore_authority` starts, so that server, client and monitor use one
//! function.

use cairn_verifier::entry::Sha256Digest;
use cairn_verifier::keylog::{
    InvalidRelease, KeyState, SigstoreAuthority, ValidRelease, sigstore_authority,
};
use cairn_verifier::note::Note;
use cairn_verifier::sigstore_identity::IdentityMatcher;

use crate::{Artifact, Error, Policy, Signer, TrustedRoot, Verdict, verify_bundle};

/// Why a Sigstore release is not valid at its index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The key log does not authorise it (no grant, revoked, out of scope, no trusted root, ...)
    /// or the bundle's facts differ from the entry's.
    #[error("{0}")]
    KeyLog(#[from] InvalidRelease),
    /// The bundle's SHA-256 is not the one the entry names.
    #[error(
        "the bundle is not the one the entry names (its SHA-256 is {found}, the entry says {expected})"
    )]
    WrongBundle {
        /// The entry's digest.
        expected: Sha256Digest,
        /// The bundle's digest.
        found: Sha256Digest,
    },
    /// The trusted root pinned in the key log for the release's index does not parse.
    #[error(
        "the Sigstore trusted root pinned by key-log entry {key_log_index} is unusable: {reason}"
    )]
    TrustedRoot {
        /// Key-log index of the `sigstore-root` event.
        key_log_index: u64,
        /// Why it does not parse.
        reason: String,
    },
    /// The bundle does not verify.
    #[error("the Sigstore bundle does not verify: {0}")]
    Bundle(#[source] Error),
}

/// Verifies `bundle` for a release whose key-log side `authority` has confirmed: the bundle's
/// SHA-256 is the entry's, and it verifies under the trusted root in force at the release's
/// index, for the entry's issuer and exact identity, over the entry's one artifact digest.
/// Only the bundle's own verified times are used; no clock.
pub fn verify_release(
    authority: SigstoreAuthority,
    bundle: &[u8],
) -> Result<(ValidRelease, Verdict), ReleaseError> {
    let found = Sha256Digest::of(bundle);
    let expected = authority.signer().bundle;
    if found != expected {
        return Err(ReleaseError::WrongBundle { expected, found });
    }
    let pinned = authority.trusted_root();
    let root = TrustedRoot::from_json(pinned.trusted_root()).map_err(|reason| {
        ReleaseError::TrustedRoot {
            key_log_index: pinned.key_log_index(),
            reason,
        }
    })?;
    let policy = Policy::Identity {
        identity: IdentityMatcher::Exact(authority.signer().identity.to_string()),
        issuer: authority.signer().issuer.to_string(),
    };
    let artifact = *authority.artifact().digest.as_bytes();
    let verdict = verify_bundle(bundle, Artifact::Sha256(artifact), &root, &policy)
        .map_err(ReleaseError::Bundle)?;
    let Signer::Certificate { identity, issuer } = &verdict.signer else {
        return Err(ReleaseError::Bundle(Error::Signer(
            "a Sigstore release needs a certificate, not a bare key".to_owned(),
        )));
    };
    let valid = authority.bundle_verified(
        &found,
        issuer,
        identity,
        &Sha256Digest::from_bytes(verdict.artifact_sha256),
    )?;
    Ok((valid, verdict))
}

/// Judges a Sigstore release note logged at release-log index `index` under `state`, with its
/// bundle: `sigstore_authority`, then [`verify_release`].
pub fn judge_release(
    release_note: &Note,
    index: u64,
    state: &KeyState,
    bundle: &[u8],
) -> Result<(ValidRelease, Verdict), ReleaseError> {
    let authority = sigstore_authority(release_note, index, state)?;
    verify_release(authority, bundle)
}
