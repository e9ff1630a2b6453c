//! The key log: replaying `cairn/key/v1` events from pinned genesis roots into a [`KeyState`],
//! and judging releases and deprecations against it. The normative text is `spec/keylog.md`.
//!
//! The rules, in short:
//!
//! - Entry 0 is a `root` event equal to the client's pinned root set and threshold, signed by
//!   at least that threshold of those keys.
//! - Every later event is signed by at least the *current* threshold of *distinct* current
//!   root keys. Keys are counted by public key, never by name or line. Signatures by keys
//!   outside the root set are ignored; a signature by a root key that does not verify refuses
//!   the event (signed-note rules). A `root` event must also meet its *new* threshold with its
//!   new root set.
//! - Root keys and release keys are disjoint for the whole history of the log: a key that is
//!   or ever was a root key is never a release key, and the reverse.
//! - A release key is added once. Retire and revoke only ever shorten its validity: no event
//!   extends it, and a retired or revoked key is never added again.
//! - A release at release-log index `i` is valid iff it is signed by a release key `K` with
//!   `from <= i`, a scope matching the release name and no `until <= i`, *and* no release key
//!   revoked with `until <= i` signed it. A revoked key's signature poisons the release even
//!   when another key's signature is fine: the revocation says that key's signatures from
//!   `until` on may be an attacker's, so the release is suspect. Signatures by keys that are
//!   retired, out of scope or not yet valid at `i` merely do not count (they are reported to
//!   monitors): making them poison too would let a later, legitimate `add` of a key that had
//!   pre-signed releases invalidate those releases retroactively.
//!
//! [`KeyState::apply`] is the server's incremental check: it refuses an event that breaks a
//! rule and leaves the state untouched. [`replay`] is the client's: it applies the whole log
//! and fails closed, naming the index, at the first entry the log should have refused.

use crate::entry::{
    CertIdentity, Deprecation, EntryError, KeyEvent, OidcIssuer, Release, ReleaseName, RootSet,
    RootSetDifference, Scope, Sha256Digest, SigstoreSigner,
};
use crate::note::{Ed25519Verifier, Note, NoteError, NoteVerifier};
use crate::sigstore_identity::IdentityMatcher;

/// Why a key event was refused, or why a key log does not replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLogError {
    /// The bytes are not a signed note.
    #[error("key event is not a signed note: {0}")]
    Note(#[source] NoteError),
    /// The note text is not a valid `cairn/key/v1` entry.
    #[error("key event does not parse: {0}")]
    Entry(#[source] EntryError),
    /// The first entry of the key log is not a `root` event.
    #[error("key-log entry 0 is a {event} event, not a root event")]
    GenesisNotRoot {
        /// The kind of event found.
        event: &'static str,
    },
    /// The genesis root set or threshold differs from the pinned ones.
    #[error(
        "the log's genesis root set differs from the pinned one: {}",
        genesis_differences(pinned, logged)
    )]
    GenesisMismatch {
        /// What the client pinned.
        pinned: RootSet,
        /// What the log holds.
        logged: RootSet,
    },
    /// A signature by a root key does not verify: the event is refused, whatever else signed.
    #[error("signature by root key {key} does not verify")]
    BadSignature {
        /// The root key.
        key: String,
    },
    /// Fewer distinct current root keys signed than the current threshold.
    #[error("signed by {signed} distinct root keys, threshold is {threshold}")]
    BelowThreshold {
        /// Distinct current root keys whose signatures verified.
        signed: usize,
        /// The current threshold.
        threshold: usize,
    },
    /// A root change is not signed by the new threshold of its new root set.
    #[error("root change signed by {signed} distinct new root keys, new threshold is {threshold}")]
    NewThresholdNotMet {
        /// Distinct keys of the new root set whose signatures verified.
        signed: usize,
        /// The new threshold.
        threshold: usize,
    },
    /// A root event that changes nothing.
    #[error("root event repeats the current root set and threshold")]
    RootUnchanged,
    /// A root change names a key that is or was a release key.
    #[error("key {key} is or was a release key and cannot be a root key")]
    ReleaseKeyAsRoot {
        /// The key.
        key: String,
    },
    /// An add, retire or revoke names a key that is or was a root key.
    #[error("key {key} is or was a root key; root keys are not release keys")]
    RootKeyAsReleaseKey {
        /// The key.
        key: String,
    },
    /// An add names a key (by public key, under any name) that was already added, whether it
    /// is still valid, retired or revoked.
    #[error("key {key} was already added as {existing}")]
    AlreadyAdded {
        /// The key of the event.
        key: String,
        /// The key as first added.
        existing: String,
    },
    /// A new key shares its key name and key ID with a different known key, so signature
    /// lines could not tell them apart.
    #[error("key {key} has the same key name and key ID as known key {existing}")]
    KeyIdCollision {
        /// The key of the event.
        key: String,
        /// The known key.
        existing: String,
    },
    /// A retire or revoke names a key that was never added.
    #[error("key {key} is not a release key")]
    UnknownReleaseKey {
        /// The key.
        key: String,
    },
    /// A retire or revoke names a release key's public key under another key name.
    #[error("key {key} names release key {added} under another name")]
    KeyNameMismatch {
        /// The key of the event.
        key: String,
        /// The key as added.
        added: String,
    },
    /// A retire of a revoked key.
    #[error("key {key} is revoked; it cannot be retired")]
    RetireAfterRevoke {
        /// The key.
        key: String,
    },
    /// A retire or revoke that would not shorten the key's validity (or, for a revoke of a
    /// retired key, would lengthen it).
    #[error("until {until} for key {key} does not shorten its validity (current until {current})")]
    DoesNotShorten {
        /// The key.
        key: String,
        /// The event's `until`.
        until: u64,
        /// The key's current `until`.
        current: u64,
    },
    /// An `add-identity` for an issuer and identity that were already granted (whatever the
    /// grant's status): a grant has one scope and one `from` for its whole life.
    #[error("identity {identity} was already granted")]
    IdentityAlreadyAdded {
        /// The identity and issuer.
        identity: String,
    },
    /// A `retire-identity` or `revoke-identity` names no grant.
    #[error("identity {identity} was never granted")]
    UnknownIdentity {
        /// The identity and issuer.
        identity: String,
    },
    /// The pinned roots given to [`replay`] do not form a valid root set.
    #[error("pinned root set is invalid: {0}")]
    InvalidPinnedRoots(#[source] EntryError),
    /// [`replay`] was given no entries: there is no genesis event.
    #[error("the key log is empty")]
    EmptyKeyLog,
    /// [`replay`] met an entry the log should have refused. The log misbehaved (or, at index 0,
    /// the pinned roots are not this log's): fail closed.
    #[error("key-log entry {index} breaks the key-log rules: {reason}")]
    EntryRefused {
        /// Key-log index of the entry.
        index: u64,
        /// Why it breaks the rules.
        #[source]
        reason: Box<KeyLogError>,
    },
}

/// The differences between pinned and logged genesis roots, in words.
fn genesis_differences(pinned: &RootSet, logged: &RootSet) -> String {
    let parts: Vec<String> = pinned
        .differences(logged)
        .iter()
        .map(|d| match d {
            RootSetDifference::Missing(k) => format!("pinned root key {k} is not in the genesis"),
            RootSetDifference::Extra(k) => format!("the genesis has root key {k}, not pinned"),
            RootSetDifference::Threshold { expected, found } => {
                format!("the genesis threshold is {found}, pinned {expected}")
            }
        })
        .collect();
    parts.join("; ")
}

/// How a release key's validity ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndKind {
    /// Planned end of use.
    Retired,
    /// Compromise.
    Revoked,
}

/// The end of a release key's validity: it signs nothing at or after `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEnd {
    /// Retired or revoked.
    pub kind: EndKind,
    /// First release-log index the key may not sign.
    pub until: u64,
    /// Key-log index of the event that set this end.
    pub key_log_index: u64,
}

/// A release key as the key log defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseKey {
    key: Ed25519Verifier,
    scope: Scope,
    from: u64,
    added_at: u64,
    end: Option<KeyEnd>,
}

impl ReleaseKey {
    /// The verifier key.
    pub fn key(&self) -> &Ed25519Verifier {
        &self.key
    }

    /// The names the key may sign.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// First release-log index the key may sign.
    pub fn from(&self) -> u64 {
        self.from
    }

    /// Key-log index of the `add` event.
    pub fn added_at(&self) -> u64 {
        self.added_at
    }

    /// The retire or revoke in force, if any (the latest one: each only shortens validity).
    pub fn end(&self) -> Option<&KeyEnd> {
        self.end.as_ref()
    }

    /// Whether the key may sign a release or deprecation of `name` at release-log index
    /// `index`; the error says why not. A key whose `until <= from` is never valid.
    pub fn check(&self, name: &ReleaseName, index: u64) -> Result<(), InvalidRelease> {
        if let Some(end) = self.end.filter(|end| index >= end.until) {
            let key = self.key.to_vkey();
            let until = end.until;
            return Err(match end.kind {
                EndKind::Revoked => InvalidRelease::Revoked { key, until, index },
                EndKind::Retired => InvalidRelease::Retired { key, until, index },
            });
        }
        if !self.scope.matches(name) {
            return Err(InvalidRelease::OutOfScope {
                key: self.key.to_vkey(),
                scope: self.scope.clone(),
                name: name.clone(),
            });
        }
        if index < self.from {
            return Err(InvalidRelease::NotYetValid {
                key: self.key.to_vkey(),
                from: self.from,
                index,
            });
        }
        Ok(())
    }
}

/// A Sigstore identity granted a release scope (`event add-identity`), with its validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityGrant {
    issuer: OidcIssuer,
    identity: IdentityMatcher,
    scope: Scope,
    from: u64,
    added_at: u64,
    end: Option<KeyEnd>,
}

impl IdentityGrant {
    /// The OIDC issuer, compared exactly.
    pub fn issuer(&self) -> &OidcIssuer {
        &self.issuer
    }

    /// The identity or identity pattern.
    pub fn identity(&self) -> &IdentityMatcher {
        &self.identity
    }

    /// The names the identity may authorise.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// First release-log index the identity may authorise.
    pub fn from(&self) -> u64 {
        self.from
    }

    /// Key-log index of the `add-identity` event.
    pub fn added_at(&self) -> u64 {
        self.added_at
    }

    /// The retire or revoke in force, if any.
    pub fn end(&self) -> Option<&KeyEnd> {
        self.end.as_ref()
    }

    /// Whether a certificate with this issuer and identity is covered by the grant.
    pub fn covers(&self, issuer: &OidcIssuer, identity: &CertIdentity) -> bool {
        &self.issuer == issuer && self.identity.matches(identity.as_str())
    }

    /// How the grant is named in errors and alerts.
    pub fn describe(&self) -> String {
        format!(
            "sigstore identity {} (issuer {})",
            self.identity, self.issuer
        )
    }

    fn is(&self, issuer: &OidcIssuer, identity: &IdentityMatcher) -> bool {
        &self.issuer == issuer && &self.identity == identity
    }

    /// Whether the grant covers a release of `name` at release-log index `index`, by the same
    /// rule as [`ReleaseKey::check`].
    pub fn check(&self, name: &ReleaseName, index: u64) -> Result<(), InvalidRelease> {
        let key = self.describe();
        if let Some(end) = self.end.filter(|end| index >= end.until) {
            let until = end.until;
            return Err(match end.kind {
                EndKind::Revoked => InvalidRelease::Revoked { key, until, index },
                EndKind::Retired => InvalidRelease::Retired { key, until, index },
            });
        }
        if !self.scope.matches(name) {
            return Err(InvalidRelease::OutOfScope {
                key,
                scope: self.scope.clone(),
                name: name.clone(),
            });
        }
        if index < self.from {
            return Err(InvalidRelease::NotYetValid {
                key,
                from: self.from,
                index,
            });
        }
        Ok(())
    }
}

/// A Sigstore trusted root pinned by a `sigstore-root` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedTrustedRoot {
    from: u64,
    digest: Sha256Digest,
    trusted_root: Vec<u8>,
    key_log_index: u64,
}

impl PinnedTrustedRoot {
    /// First release-log index the root applies to.
    pub fn from(&self) -> u64 {
        self.from
    }

    /// SHA-256 of the `trusted_root.json` bytes.
    pub fn digest(&self) -> &Sha256Digest {
        &self.digest
    }

    /// The `trusted_root.json` bytes.
    pub fn trusted_root(&self) -> &[u8] {
        &self.trusted_root
    }

    /// Key-log index of the `sigstore-root` event.
    pub fn key_log_index(&self) -> u64 {
        self.key_log_index
    }
}

/// Checks that a retire or revoke (of a release key or an identity grant) with `until` only
/// shortens the validity that `end` leaves (spec/keylog.md 4.2).
fn check_shortens(
    end: Option<KeyEnd>,
    kind: EndKind,
    until: u64,
    key: impl Fn() -> String,
) -> Result<(), KeyLogError> {
    let Some(end) = end else {
        return Ok(());
    };
    let shortens = match (end.kind, kind) {
        (EndKind::Revoked, EndKind::Retired) => {
            return Err(KeyLogError::RetireAfterRevoke { key: key() });
        }
        // Escalating a retirement to a revocation may keep its `until`.
        (EndKind::Retired, EndKind::Revoked) => until <= end.until,
        _ => until < end.until,
    };
    if shortens {
        Ok(())
    } else {
        Err(KeyLogError::DoesNotShorten {
            key: key(),
            until,
            current: end.until,
        })
    }
}

/// A key event that [`KeyState::apply`] (or [`KeyState::genesis`]) accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedEvent {
    index: u64,
    event: KeyEvent,
    signers: Vec<Ed25519Verifier>,
}

impl AppliedEvent {
    /// Key-log index of the event.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The event.
    pub fn event(&self) -> &KeyEvent {
        &self.event
    }

    /// The distinct root keys whose signatures verified (for a root change: of the old and
    /// the new root set together).
    pub fn signers(&self) -> &[Ed25519Verifier] {
        &self.signers
    }
}

/// The key state after replaying a key-log prefix: current roots and threshold, every release
/// key ever added with its scope and validity, and every key that was ever a root key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    roots: RootSet,
    /// Every key that was ever a root key, current ones included, in order of first
    /// appearance: the root/release disjointness rule covers former roots too.
    past_roots: Vec<Ed25519Verifier>,
    release_keys: Vec<ReleaseKey>,
    /// Every Sigstore identity ever granted, in key-log order.
    identities: Vec<IdentityGrant>,
    /// Every `sigstore-root` event, in key-log order.
    trusted_roots: Vec<PinnedTrustedRoot>,
    size: u64,
}

impl KeyState {
    /// Starts a key state from the genesis event (key-log entry 0): a `root` event equal to
    /// `pinned`, signed by at least `pinned`'s threshold of its keys.
    ///
    /// A client passes the roots it pinned. A server creating a log (`cairn init`) passes the
    /// genesis event's own root set, which checks that the event meets its own threshold.
    pub fn genesis(
        pinned: &RootSet,
        entry: &[u8],
    ) -> Result<(KeyState, AppliedEvent), KeyLogError> {
        let note = Note::parse_entry(entry).map_err(KeyLogError::Note)?;
        let event = KeyEvent::parse(note.text()).map_err(KeyLogError::Entry)?;
        let KeyEvent::Root { roots, .. } = &event else {
            return Err(KeyLogError::GenesisNotRoot {
                event: event.kind(),
            });
        };
        if roots != pinned {
            return Err(KeyLogError::GenesisMismatch {
                pinned: pinned.clone(),
                logged: roots.clone(),
            });
        }
        let signers = root_signers(&note, pinned)?;
        if signers.len() < pinned.threshold() {
            return Err(KeyLogError::BelowThreshold {
                signed: signers.len(),
                threshold: pinned.threshold(),
            });
        }
        let state = KeyState {
            roots: pinned.clone(),
            past_roots: pinned.keys().to_vec(),
            release_keys: Vec::new(),
            identities: Vec::new(),
            trusted_roots: Vec::new(),
            size: 1,
        };
        let applied = AppliedEvent {
            index: 0,
            event,
            signers,
        };
        Ok((state, applied))
    }

    /// Applies the next key-log entry (a signed note's bytes). On error the state is
    /// unchanged: the server refuses the submission, a replaying client has found an entry
    /// the log should have refused.
    pub fn apply(&mut self, event_note: &[u8]) -> Result<AppliedEvent, KeyLogError> {
        let note = Note::parse_entry(event_note).map_err(KeyLogError::Note)?;
        let event = KeyEvent::parse(note.text()).map_err(KeyLogError::Entry)?;
        // Authenticity before semantics: an unauthorised event is refused as such, whatever
        // it says.
        let mut signers = root_signers(&note, &self.roots)?;
        if signers.len() < self.roots.threshold() {
            return Err(KeyLogError::BelowThreshold {
                signed: signers.len(),
                threshold: self.roots.threshold(),
            });
        }
        let index = self.size;
        // Every branch checks everything before it changes anything.
        match &event {
            KeyEvent::Root { roots, .. } => {
                if roots == &self.roots {
                    return Err(KeyLogError::RootUnchanged);
                }
                for key in roots.keys() {
                    if self.release_key(key.public_key()).is_some() {
                        return Err(KeyLogError::ReleaseKeyAsRoot { key: key.to_vkey() });
                    }
                    self.check_key_id_collision(key)?;
                }
                let new_signers = root_signers(&note, roots)?;
                if new_signers.len() < roots.threshold() {
                    return Err(KeyLogError::NewThresholdNotMet {
                        signed: new_signers.len(),
                        threshold: roots.threshold(),
                    });
                }
                for key in new_signers {
                    if !signers.iter().any(|s| s.public_key() == key.public_key()) {
                        signers.push(key);
                    }
                }
                for key in roots.keys() {
                    if !self.was_root(key.public_key()) {
                        self.past_roots.push(key.clone());
                    }
                }
                self.roots = roots.clone();
            }
            KeyEvent::Add {
                key, scope, from, ..
            } => {
                if self.was_root(key.public_key()) {
                    return Err(KeyLogError::RootKeyAsReleaseKey { key: key.to_vkey() });
                }
                if let Some(existing) = self.release_key(key.public_key()) {
                    return Err(KeyLogError::AlreadyAdded {
                        key: key.to_vkey(),
                        existing: existing.key.to_vkey(),
                    });
                }
                self.check_key_id_collision(key)?;
                self.release_keys.push(ReleaseKey {
                    key: key.clone(),
                    scope: scope.clone(),
                    from: *from,
                    added_at: index,
                    end: None,
                });
            }
            KeyEvent::Retire { key, until, .. } | KeyEvent::Revoke { key, until, .. } => {
                let kind = if matches!(event, KeyEvent::Retire { .. }) {
                    EndKind::Retired
                } else {
                    EndKind::Revoked
                };
                let until = *until;
                if self.was_root(key.public_key()) {
                    return Err(KeyLogError::RootKeyAsReleaseKey { key: key.to_vkey() });
                }
                let Some(release_key) = self
                    .release_keys
                    .iter_mut()
                    .find(|r| r.key.public_key() == key.public_key())
                else {
                    return Err(KeyLogError::UnknownReleaseKey { key: key.to_vkey() });
                };
                if &release_key.key != key {
                    return Err(KeyLogError::KeyNameMismatch {
                        key: key.to_vkey(),
                        added: release_key.key.to_vkey(),
                    });
                }
                check_shortens(release_key.end, kind, until, || key.to_vkey())?;
                release_key.end = Some(KeyEnd {
                    kind,
                    until,
                    key_log_index: index,
                });
            }
            KeyEvent::SigstoreRoot {
                from, trusted_root, ..
            } => {
                self.trusted_roots.push(PinnedTrustedRoot {
                    from: *from,
                    digest: Sha256Digest::of(trusted_root),
                    trusted_root: trusted_root.clone(),
                    key_log_index: index,
                });
            }
            KeyEvent::AddIdentity {
                issuer,
                identity,
                scope,
                from,
                ..
            } => {
                if let Some(existing) = self.identities.iter().find(|g| g.is(issuer, identity)) {
                    return Err(KeyLogError::IdentityAlreadyAdded {
                        identity: existing.describe(),
                    });
                }
                self.identities.push(IdentityGrant {
                    issuer: issuer.clone(),
                    identity: identity.clone(),
                    scope: scope.clone(),
                    from: *from,
                    added_at: index,
                    end: None,
                });
            }
            KeyEvent::RetireIdentity {
                issuer,
                identity,
                until,
                ..
            }
            | KeyEvent::RevokeIdentity {
                issuer,
                identity,
                until,
                ..
            } => {
                let kind = if matches!(event, KeyEvent::RetireIdentity { .. }) {
                    EndKind::Retired
                } else {
                    EndKind::Revoked
                };
                let Some(grant) = self.identities.iter_mut().find(|g| g.is(issuer, identity))
                else {
                    return Err(KeyLogError::UnknownIdentity {
                        identity: format!("sigstore identity {identity} (issuer {issuer})"),
                    });
                };
                check_shortens(grant.end, kind, *until, || grant.describe())?;
                grant.end = Some(KeyEnd {
                    kind,
                    until: *until,
                    key_log_index: index,
                });
            }
        }
        self.size += 1;
        Ok(AppliedEvent {
            index,
            event,
            signers,
        })
    }

    /// The current root set and threshold.
    pub fn roots(&self) -> &RootSet {
        &self.roots
    }

    /// Every key that was ever a root key, current ones included.
    pub fn past_roots(&self) -> &[Ed25519Verifier] {
        &self.past_roots
    }

    /// Every release key ever added, in key-log order, with its current validity.
    pub fn release_keys(&self) -> &[ReleaseKey] {
        &self.release_keys
    }

    /// Every Sigstore identity ever granted, in key-log order, with its current validity.
    pub fn identities(&self) -> &[IdentityGrant] {
        &self.identities
    }

    /// Every pinned Sigstore trusted root, in key-log order.
    pub fn trusted_roots(&self) -> &[PinnedTrustedRoot] {
        &self.trusted_roots
    }

    /// The Sigstore trusted root in force at release-log index `index`: the one pinned by the
    /// latest `sigstore-root` event (in key-log order) whose `from` is at most `index`.
    pub fn trusted_root_at(&self, index: u64) -> Option<&PinnedTrustedRoot> {
        self.trusted_roots.iter().rev().find(|r| r.from <= index)
    }

    /// The release key with this public key, if one was ever added.
    pub fn release_key(&self, public_key: &[u8; 32]) -> Option<&ReleaseKey> {
        self.release_keys
            .iter()
            .find(|r| r.key.public_key() == public_key)
    }

    /// Number of key-log entries applied: the index the next event will have.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn was_root(&self, public_key: &[u8; 32]) -> bool {
        self.past_roots.iter().any(|k| k.public_key() == public_key)
    }

    fn check_key_id_collision(&self, key: &Ed25519Verifier) -> Result<(), KeyLogError> {
        let known = self
            .past_roots
            .iter()
            .chain(self.release_keys.iter().map(|r| &r.key));
        for existing in known {
            if existing.name() == key.name()
                && existing.key_id() == key.key_id()
                && existing.public_key() != key.public_key()
            {
                return Err(KeyLogError::KeyIdCollision {
                    key: key.to_vkey(),
                    existing: existing.to_vkey(),
                });
            }
        }
        Ok(())
    }

    /// Judges the release-key signatures of `note` for `name` at `index`: the valid signers
    /// and the reasons the other signers do not count.
    fn release_signers(
        &self,
        note: &Note,
        name: &ReleaseName,
        index: u64,
    ) -> Result<(Vec<Ed25519Verifier>, Vec<InvalidRelease>), InvalidRelease> {
        let keys: Vec<&Ed25519Verifier> = self.release_keys.iter().map(|r| &r.key).collect();
        let signers = verified_signers(note, &keys).map_err(|failure| match failure {
            SignatureFailure::Bad(key) => InvalidRelease::BadSignature { key: key.to_vkey() },
            SignatureFailure::Note(e) => InvalidRelease::Note(e),
        })?;
        if signers.is_empty() {
            return Err(InvalidRelease::UnknownKey);
        }
        let mut valid = Vec::new();
        let mut not_counted: Vec<InvalidRelease> = Vec::new();
        for signer in signers {
            let Some(release_key) = self.release_key(signer.public_key()) else {
                continue;
            };
            match release_key.check(name, index) {
                Ok(()) => valid.push(signer.clone()),
                Err(e) => not_counted.push(e),
            }
        }
        // Judge every signer before deciding, so that the order of signature lines cannot hide
        // a revocation behind a valid signature or a lesser reason.
        let worst = not_counted.iter().min_by_key(|e| e.severity());
        match worst {
            Some(revoked @ InvalidRelease::Revoked { .. }) => Err(revoked.clone()),
            Some(worst) if valid.is_empty() => Err(worst.clone()),
            _ => Ok((valid, not_counted)),
        }
    }
}

/// Replays a whole key log from the client's pinned roots: entry 0 must be the genesis `root`
/// event equal to the pinned set and threshold, and every later entry must pass
/// [`KeyState::apply`].
///
/// Fails closed at the first entry that breaks a rule, with
/// [`KeyLogError::EntryRefused`] naming its index. Such an entry is not an ordinary error: the
/// log sequenced something its own server must have refused, so the log is buggy or
/// compromised (or, at index 0, the client pinned another log's roots). Skipping the entry
/// would leave the client with a different key state from the log's and from other clients';
/// trusting the entries after it would build on an unauthorised change. A client stops,
/// verifies nothing against this key log and reports the index and entry as evidence.
pub fn replay<I>(
    pinned_roots: &[Ed25519Verifier],
    threshold: usize,
    entries: I,
) -> Result<KeyState, KeyLogError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let pinned =
        RootSet::new(pinned_roots.to_vec(), threshold).map_err(KeyLogError::InvalidPinnedRoots)?;
    let mut entries = entries.into_iter();
    let first = entries.next().ok_or(KeyLogError::EmptyKeyLog)?;
    let (mut state, _) = KeyState::genesis(&pinned, first.as_ref()).map_err(|e| refused(0, e))?;
    for entry in entries {
        let index = state.size;
        state.apply(entry.as_ref()).map_err(|e| refused(index, e))?;
    }
    Ok(state)
}

fn refused(index: u64, reason: KeyLogError) -> KeyLogError {
    KeyLogError::EntryRefused {
        index,
        reason: Box::new(reason),
    }
}

/// Why a release or deprecation is not valid at its index under a key state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRelease {
    /// The note text is not an entry of the expected type.
    #[error("entry does not parse: {0}")]
    Malformed(#[source] EntryError),
    /// The note could not be verified at all.
    #[error("note cannot be verified: {0}")]
    Note(#[source] NoteError),
    /// No signature by any release key the key log knows.
    #[error("not signed by any release key in the key log")]
    UnknownKey,
    /// A release key's signature does not verify.
    #[error("signature by release key {key} does not verify")]
    BadSignature {
        /// The key.
        key: String,
    },
    /// A signer was revoked with `until <= index`.
    #[error("signed by key {key}, revoked from release index {until} (entry at {index})")]
    Revoked {
        /// The key.
        key: String,
        /// The revocation's `until`.
        until: u64,
        /// The entry's release-log index.
        index: u64,
    },
    /// A signer was retired with `until <= index`.
    #[error("signed by key {key}, retired from release index {until} (entry at {index})")]
    Retired {
        /// The key.
        key: String,
        /// The retirement's `until`.
        until: u64,
        /// The entry's release-log index.
        index: u64,
    },
    /// A signer's scope does not cover the name.
    #[error("key {key} with scope {scope} may not sign {name}")]
    OutOfScope {
        /// The key.
        key: String,
        /// The key's scope.
        scope: Scope,
        /// The entry's release name.
        name: ReleaseName,
    },
    /// A release authorised by a Sigstore bundle, judged without its bundle: only
    /// [`sigstore_authority`] plus a bundle check (`cairn-sigstore`) can find it valid.
    #[error("the release is authorised by a Sigstore bundle, which must be verified")]
    SigstoreBundleRequired,
    /// A Sigstore release's note does not carry exactly its bundle reference line.
    #[error("sigstore release note: {0}")]
    SigstoreNote(&'static str),
    /// No `sigstore-root` event pins a trusted root for the release's index.
    #[error("no Sigstore trusted root is pinned in the key log for release index {index}")]
    NoTrustedRoot {
        /// The entry's release-log index.
        index: u64,
    },
    /// No grant in the key log covers the Sigstore signer.
    #[error("no grant in the key log covers sigstore identity {identity} (issuer {issuer})")]
    UnknownIdentity {
        /// The certificate identity.
        identity: String,
        /// The OIDC issuer.
        issuer: String,
    },
    /// A signer's `from` lies after the index.
    #[error("key {key} may sign from release index {from}, entry is at {index}")]
    NotYetValid {
        /// The key.
        key: String,
        /// The key's `from`.
        from: u64,
        /// The entry's release-log index.
        index: u64,
    },
}

impl InvalidRelease {
    /// Lower is more serious; used to pick which of several failing signers to report.
    fn severity(&self) -> u8 {
        match self {
            InvalidRelease::Revoked { .. } => 0,
            InvalidRelease::Retired { .. } => 1,
            InvalidRelease::OutOfScope { .. } => 2,
            InvalidRelease::NotYetValid { .. } => 3,
            _ => 4,
        }
    }
}

/// A release found valid at its index. Only [`release_is_valid`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRelease {
    release: Release,
    index: u64,
    signers: Vec<Ed25519Verifier>,
    not_counted: Vec<InvalidRelease>,
}

impl ValidRelease {
    /// The release statement.
    pub fn release(&self) -> &Release {
        &self.release
    }

    /// Its release-log index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The release keys, valid at the index, whose signatures verified.
    pub fn signers(&self) -> &[Ed25519Verifier] {
        &self.signers
    }

    /// Release keys whose signatures verified but do not count (retired, out of scope or not
    /// yet valid at the index), with the reason: key usage a monitor may want to report.
    pub fn not_counted(&self) -> &[InvalidRelease] {
        &self.not_counted
    }
}

/// A deprecation found valid at its index. Only [`deprecation_is_valid`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidDeprecation {
    deprecation: Deprecation,
    index: u64,
    signers: Vec<Ed25519Verifier>,
    not_counted: Vec<InvalidRelease>,
}

impl ValidDeprecation {
    /// The deprecation.
    pub fn deprecation(&self) -> &Deprecation {
        &self.deprecation
    }

    /// Its release-log index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The release keys, valid at the index, whose signatures verified.
    pub fn signers(&self) -> &[Ed25519Verifier] {
        &self.signers
    }

    /// Release keys whose signatures verified but do not count (retired, out of scope or not
    /// yet valid at the index), with the reason: key usage a monitor may want to report.
    pub fn not_counted(&self) -> &[InvalidRelease] {
        &self.not_counted
    }
}

/// Judges a release statement logged at release-log index `index` against `state`: valid iff
/// a release key with `from <= index`, a scope covering the name and no retire or revoke with
/// `until <= index` signed it, and no release key revoked with `until <= index` signed it.
///
/// Signatures by keys the key state does not know as release keys (root keys included) are
/// ignored; a release key's signature that does not verify makes the release invalid
/// (signed-note rules); signatures by release keys retired, out of scope or not yet valid at
/// `index` do not count and are listed in [`ValidRelease::not_counted`]. When the release is
/// invalid the most serious reason is reported: revoked, then retired, out of scope, not yet
/// valid.
pub fn release_is_valid(
    release_note: &Note,
    index: u64,
    state: &KeyState,
) -> Result<ValidRelease, InvalidRelease> {
    let release = Release::parse(release_note.text()).map_err(InvalidRelease::Malformed)?;
    if release.sigstore().is_some() {
        return Err(InvalidRelease::SigstoreBundleRequired);
    }
    let (signers, not_counted) = state.release_signers(release_note, release.name(), index)?;
    Ok(ValidRelease {
        release,
        index,
        signers,
        not_counted,
    })
}

/// Key name of the one signature line of a Sigstore release note (spec/entries.md 5.1).
pub const SIGSTORE_LINE_NAME: &str = "cairn-sigstore-bundle";

/// Key ID of that line: the first four bytes of SHA-256 of the name, a newline and the byte
/// 0xff, as signed-note derives key IDs, with a type byte no note key uses.
pub fn sigstore_line_key_id() -> u32 {
    let mut input = SIGSTORE_LINE_NAME.as_bytes().to_vec();
    input.extend_from_slice(&[b'\n', 0xff]);
    let h = crate::hash::sha256(&input);
    u32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

/// The note of a Sigstore release: its text, a blank line, and the one line
/// `— cairn-sigstore-bundle base64(key ID || bundle SHA-256)`. It carries no signature (the
/// bundle is the authority) and is fully determined by the text, so resubmitting a release
/// gives the same leaf. Refused for a release without a `sigstore` line.
pub fn sigstore_release_note(release: &Release) -> Result<Vec<u8>, InvalidRelease> {
    use base64::Engine as _;
    let signer = release.sigstore().ok_or(InvalidRelease::SigstoreNote(
        "the release has no sigstore line",
    ))?;
    let mut raw = sigstore_line_key_id().to_be_bytes().to_vec();
    raw.extend_from_slice(signer.bundle.as_bytes());
    let line = base64::engine::general_purpose::STANDARD.encode(raw);
    Ok(format!(
        "{}\n\u{2014} {SIGSTORE_LINE_NAME} {line}\n",
        release.to_text()
    )
    .into_bytes())
}

/// A Sigstore release whose grant and trusted root the key log confirms at its index: what
/// remains is to verify the bundle (`cairn_sigstore::verify_release_bundle`), then
/// [`SigstoreAuthority::bundle_verified`] makes the [`ValidRelease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstoreAuthority {
    release: Release,
    index: u64,
    signer: SigstoreSigner,
    trusted_root: PinnedTrustedRoot,
    grants: Vec<IdentityGrant>,
    not_counted: Vec<InvalidRelease>,
}

impl SigstoreAuthority {
    /// The release statement.
    pub fn release(&self) -> &Release {
        &self.release
    }

    /// Its release-log index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The `sigstore` line: bundle digest, issuer and identity the bundle must prove.
    pub fn signer(&self) -> &SigstoreSigner {
        &self.signer
    }

    /// The trusted root in force at the index.
    pub fn trusted_root(&self) -> &PinnedTrustedRoot {
        &self.trusted_root
    }

    /// The grants valid for the release at its index.
    pub fn grants(&self) -> &[IdentityGrant] {
        &self.grants
    }

    /// The artifact the bundle must sign (a Sigstore release has exactly one).
    pub fn artifact(&self) -> &crate::entry::FileRef {
        &self.release.artifacts()[0]
    }

    /// Completes the judgement with the facts of a bundle that verified under
    /// [`SigstoreAuthority::trusted_root`]: its SHA-256, the certificate's issuer and identity,
    /// and the SHA-256 of the artifact it signs. Each must equal what the entry says.
    pub fn bundle_verified(
        self,
        bundle_sha256: &Sha256Digest,
        issuer: &str,
        identity: &str,
        artifact_sha256: &Sha256Digest,
    ) -> Result<ValidRelease, InvalidRelease> {
        if bundle_sha256 != &self.signer.bundle {
            return Err(InvalidRelease::SigstoreNote(
                "the bundle's SHA-256 is not the one in the sigstore line",
            ));
        }
        if issuer != self.signer.issuer.as_str() || identity != self.signer.identity.as_str() {
            return Err(InvalidRelease::SigstoreNote(
                "the bundle's certificate is not for the issuer and identity of the sigstore line",
            ));
        }
        if artifact_sha256 != &self.artifact().digest {
            return Err(InvalidRelease::SigstoreNote(
                "the bundle signs another artifact than the release's",
            ));
        }
        Ok(ValidRelease {
            release: self.release,
            index: self.index,
            signers: Vec::new(),
            not_counted: self.not_counted,
        })
    }
}

/// Judges the key-log side of a Sigstore release logged at release-log index `index`: the
/// note is exactly the text and its bundle reference line ([`sigstore_release_note`]), a
/// trusted root is pinned for `index`, and a grant covers the `sigstore` line's issuer and
/// identity for the release's name at `index`. Grants are judged like release keys
/// (spec/keylog.md 5): any covering grant revoked with `until <= index` makes the release
/// invalid; otherwise one valid grant suffices.
///
/// The bundle itself is not looked at here: the result is a [`SigstoreAuthority`], never a
/// [`ValidRelease`], until the bundle has been verified.
pub fn sigstore_authority(
    release_note: &Note,
    index: u64,
    state: &KeyState,
) -> Result<SigstoreAuthority, InvalidRelease> {
    let release = Release::parse(release_note.text()).map_err(InvalidRelease::Malformed)?;
    let signer = release
        .sigstore()
        .cloned()
        .ok_or(InvalidRelease::SigstoreNote(
            "the release has no sigstore line",
        ))?;
    let expected = sigstore_release_note(&release)?;
    let parsed = Note::parse_entry(&expected).map_err(InvalidRelease::Note)?;
    if parsed.signatures() != release_note.signatures() {
        return Err(InvalidRelease::SigstoreNote(
            "the note must carry exactly one line, the bundle reference, and no signature",
        ));
    }
    let trusted_root = state
        .trusted_root_at(index)
        .cloned()
        .ok_or(InvalidRelease::NoTrustedRoot { index })?;
    let covering: Vec<&IdentityGrant> = state
        .identities
        .iter()
        .filter(|g| g.covers(&signer.issuer, &signer.identity))
        .collect();
    if covering.is_empty() {
        return Err(InvalidRelease::UnknownIdentity {
            identity: signer.identity.to_string(),
            issuer: signer.issuer.to_string(),
        });
    }
    let mut grants = Vec::new();
    let mut not_counted = Vec::new();
    for grant in covering {
        match grant.check(release.name(), index) {
            Ok(()) => grants.push(grant.clone()),
            Err(e) => not_counted.push(e),
        }
    }
    match not_counted.iter().min_by_key(|e| e.severity()) {
        Some(revoked @ InvalidRelease::Revoked { .. }) => return Err(revoked.clone()),
        Some(worst) if grants.is_empty() => return Err(worst.clone()),
        _ => {}
    }
    Ok(SigstoreAuthority {
        release,
        index,
        signer,
        trusted_root,
        grants,
        not_counted,
    })
}

/// Judges a deprecation logged at release-log index `index` by the same rule as
/// [`release_is_valid`]: the signing key must cover the deprecated name and be valid at the
/// deprecation's own index.
pub fn deprecation_is_valid(
    deprecation_note: &Note,
    index: u64,
    state: &KeyState,
) -> Result<ValidDeprecation, InvalidRelease> {
    let deprecation =
        Deprecation::parse(deprecation_note.text()).map_err(InvalidRelease::Malformed)?;
    let (signers, not_counted) =
        state.release_signers(deprecation_note, deprecation.name(), index)?;
    Ok(ValidDeprecation {
        deprecation,
        index,
        signers,
        not_counted,
    })
}

enum SignatureFailure<'k> {
    /// A signature by this known key does not verify.
    Bad(&'k Ed25519Verifier),
    /// Any other note-level failure.
    Note(NoteError),
}

/// Signed-note verification of `note` against `keys`: the distinct keys (by public key) whose
/// signatures verified, empty when none of `keys` signed. A known key's bad signature fails.
fn verified_signers<'k>(
    note: &Note,
    keys: &[&'k Ed25519Verifier],
) -> Result<Vec<&'k Ed25519Verifier>, SignatureFailure<'k>> {
    let find = |name: &str, key_id: u32| {
        keys.iter()
            .copied()
            .find(|k| k.name().as_str() == name && k.key_id() == key_id)
    };
    let known: Vec<&dyn NoteVerifier> = keys.iter().map(|&k| k as &dyn NoteVerifier).collect();
    let verified = match note.verify(&known) {
        Ok(verified) => verified,
        Err(NoteError::NoKnownSignature) => return Ok(Vec::new()),
        Err(NoteError::BadSignature { name, key_id }) => {
            return Err(match find(&name, key_id) {
                Some(key) => SignatureFailure::Bad(key),
                None => SignatureFailure::Note(NoteError::BadSignature { name, key_id }),
            });
        }
        Err(other) => return Err(SignatureFailure::Note(other)),
    };
    let mut signers: Vec<&Ed25519Verifier> = Vec::new();
    for sig in verified.verified_signatures() {
        if let Some(key) = find(sig.name.as_str(), sig.key_id) {
            if !signers.iter().any(|s| s.public_key() == key.public_key()) {
                signers.push(key);
            }
        }
    }
    Ok(signers)
}

/// The distinct current root keys that signed a key event.
fn root_signers(note: &Note, roots: &RootSet) -> Result<Vec<Ed25519Verifier>, KeyLogError> {
    let keys: Vec<&Ed25519Verifier> = roots.keys().iter().collect();
    match verified_signers(note, &keys) {
        Ok(signers) => Ok(signers.into_iter().cloned().collect()),
        Err(SignatureFailure::Bad(key)) => Err(KeyLogError::BadSignature { key: key.to_vkey() }),
        Err(SignatureFailure::Note(e)) => Err(KeyLogError::Note(e)),
    }
}
