//! Signatures verified once, before the sequencer sees a submission.
//!
//! Many add handlers run at once, on every runtime worker; the sequencer is one thread. So the
//! Ed25519 work (pure crypto: does this signature line verify under this public key over this
//! note's text?) is done by the handler and handed to the sequencer as a [`CheckedSignatures`],
//! and the sequencer keeps only the key-log policy (is that key valid for this name at this
//! index?), which depends on the state it alone knows.
//!
//! Invariants:
//! - Only this crate can make a non-empty [`CheckedSignatures`] (`pub(crate)` constructor, private
//!   fields): a caller outside the crate can only pass the empty one, which makes the sequencer
//!   verify every signature itself.
//! - Each fact names the public key, the signature bytes and (through the leaf hash) the exact
//!   entry it was established over; the sequencer ignores facts about any other entry. Ed25519
//!   verification is strict (`verify_strict`), so a key and a text admit one signature and the
//!   fact cannot be reused for a different signature.
//! - A fact is a cache of [`NoteVerifier::verify`], nothing more: the note rules (unknown keys
//!   ignored, a bad signature by a known key fails, one line per key) are applied by
//!   `Note::verify` exactly as without it.

use cairn_verifier::hash::{Hash, leaf_hash};
use cairn_verifier::note::{Ed25519Verifier, KeyName, Note, NoteVerifier};

/// The outcome of checking some of a submission's signature lines, each against a public key the
/// key log held when the add handler ran. Make one with `CheckedSignatures::default()` (no
/// facts); only the server itself fills one.
/// Not `Clone`: facts move with their submission, from the handler to the sequencer.
#[derive(Debug, Default)]
pub struct CheckedSignatures {
    /// The leaf hash of the entry the facts are about.
    leaf: Option<Hash>,
    facts: Vec<Fact>,
}

#[derive(Debug)]
struct Fact {
    name: KeyName,
    key_id: u32,
    public_key: [u8; 32],
    signature: Vec<u8>,
    valid: bool,
}

impl CheckedSignatures {
    /// Verifies every signature line of `entry` whose (name, key ID) matches one of `keys`.
    /// An entry that is not a note gives no facts (the sequencer refuses it with the reason).
    pub(crate) fn check(entry: &[u8], keys: &[Ed25519Verifier]) -> CheckedSignatures {
        let Ok(note) = Note::parse_entry(entry) else {
            return CheckedSignatures::default();
        };
        let mut facts: Vec<Fact> = Vec::new();
        // Bounded work whatever the note: a repeated (key, signature) is verified once, and
        // nothing after the first signature by a known key that fails, since `Note::verify`
        // refuses the note there and never asks about the lines after it.
        'lines: for sig in note.signatures() {
            for key in keys
                .iter()
                .filter(|k| k.name() == &sig.name && k.key_id() == sig.key_id)
            {
                if facts
                    .iter()
                    .any(|f| &f.public_key == key.public_key() && f.signature == sig.signature)
                {
                    continue;
                }
                let valid = key.verify(note.text().as_bytes(), &sig.signature);
                facts.push(Fact {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                    public_key: *key.public_key(),
                    signature: sig.signature.clone(),
                    valid,
                });
                if !valid {
                    break 'lines;
                }
            }
        }
        CheckedSignatures {
            leaf: Some(leaf_hash(entry)),
            facts,
        }
    }

    /// (Test support.) Facts as given, for the tests that prove the sequencer uses them.
    #[cfg(test)]
    pub(crate) fn assumed(entry: &[u8], key: &Ed25519Verifier, valid: bool) -> CheckedSignatures {
        let note = Note::parse_entry(entry).expect("test entry is a note");
        let facts = note
            .signatures()
            .iter()
            .filter(|s| &s.name == key.name() && s.key_id == key.key_id())
            .map(|s| Fact {
                name: s.name.clone(),
                key_id: s.key_id,
                public_key: *key.public_key(),
                signature: s.signature.clone(),
                valid,
            })
            .collect();
        CheckedSignatures {
            leaf: Some(leaf_hash(entry)),
            facts,
        }
    }

    /// The (key name, key ID) of the first signature that verified, for the per-key rate limit.
    pub(crate) fn signer(&self) -> Option<(String, u32)> {
        self.facts
            .iter()
            .find(|f| f.valid)
            .map(|f| (f.name.as_str().to_owned(), f.key_id))
    }

    /// These facts if they are about the entry whose leaf hash is `leaf`.
    pub(crate) fn about(&self, leaf: &Hash) -> Option<&CheckedSignatures> {
        (self.leaf.as_ref() == Some(leaf)).then_some(self)
    }

    fn lookup(&self, public_key: &[u8; 32], signature: &[u8]) -> Option<bool> {
        self.facts
            .iter()
            .find(|f| &f.public_key == public_key && f.signature == signature)
            .map(|f| f.valid)
    }

    /// The number of facts (for tests and metrics).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.facts.len()
    }
}

/// A key whose signature checks are answered from `checked` when it holds the answer, and by
/// Ed25519 verification otherwise (a key added to the key log after the handler ran, or a
/// submission that came without facts).
#[derive(Debug)]
pub(crate) struct CachedKey<'a> {
    pub(crate) key: &'a Ed25519Verifier,
    pub(crate) checked: Option<&'a CheckedSignatures>,
}

impl NoteVerifier for CachedKey<'_> {
    fn name(&self) -> &KeyName {
        self.key.name()
    }

    fn key_id(&self) -> u32 {
        self.key.key_id()
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        match self
            .checked
            .and_then(|c| c.lookup(self.key.public_key(), signature))
        {
            Some(valid) => valid,
            None => self.key.verify(text, signature),
        }
    }
}
