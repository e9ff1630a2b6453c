//! C2SP signed-note (`c2sp.org/signed-note`): notes, key names, key IDs, Ed25519 keys.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one or more signature lines
//! `— <key name> base64(key ID || signature)`. The text is separated from the signatures by the
//! *last* blank line. Verification follows the spec's rules exactly:
//!
//! - a signature whose (key name, key ID) pair is not known is ignored;
//! - a signature from a known key that fails to verify rejects the whole note;
//! - a note with no verified signature from a known key is rejected;
//! - a signature that matches two known keys by (key name, key ID) is ambiguous and rejects the
//!   note (the spec allows such collisions to cause errors; Go's `VerifierList` does the same).
//!
//! Other signature types (ECDSA, RFC 6962 tree heads, cosignatures) implement [`NoteVerifier`]
//! in their own modules.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::hash::sha256;

/// Largest note Cairn parses, in bytes: room for a checkpoint carrying 16 post-quantum
/// cosignatures (an ML-DSA-44 line is about 3,300 bytes, an ML-DSA-87 one about 6,400) from
/// keys with long names. signed-note asks verifiers to accept at least 16 signatures and
/// reminds them that post-quantum ones approach 5 kB.
pub const MAX_NOTE_SIZE: usize = 128 * 1024;

/// Largest log *entry* note, in bytes: an entry must fit one u16 entry-bundle slot
/// (tlog-tiles). [`Note::parse_entry`] applies it; checkpoints and cosigned notes get
/// [`MAX_NOTE_SIZE`].
pub const MAX_ENTRY_NOTE_SIZE: usize = 65_535;

/// Most signature lines a note may carry, known or unknown (the spec asks verifiers to accept at
/// least 16; Go's `note.Open` stops at 100). 64 keeps an entry signed by that many Ed25519 keys
/// within one entry-bundle slot.
pub const MAX_NOTE_SIGNATURES: usize = 64;

/// Longest key name of a key Cairn can be configured with, in bytes. A signature line may carry
/// a longer name (the spec sets no limit): such a line can never match a known key and is
/// ignored.
pub const MAX_KEY_NAME_SIZE: usize = 256;

/// Largest decoded signature accepted from a *known* key (4-byte key ID plus signature), in
/// bytes. Covers Ed25519 (64), cosignatures (72), ECDSA P-256 DER (<= 72), RFC 6962 tree heads
/// (<= 84) and ML-DSA-44 cosignatures (8 + 2,420). Lines from unknown keys are only checked for
/// syntax (name, base64, at least a key ID and one byte), never for this size: signed-note says
/// they must be ignored, so they must not make the note malformed.
pub const MAX_SIGNATURE_SIZE: usize = 4096;

/// Signature type byte of Ed25519 note signatures (signed-note section "Signature types").
pub const SIG_TYPE_ED25519: u8 = 0x01;

const SIGNATURE_PREFIX: &str = "\u{2014} ";
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a note, key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_SIZE`].
    #[error("note is {0} bytes, larger than the limit of {MAX_NOTE_SIZE}")]
    TooLarge(usize),
    /// The note is not valid UTF-8.
    #[error("note is not valid UTF-8")]
    NotUtf8,
    /// The note contains an ASCII control character other than newline.
    #[error("note contains control character U+{0:04X}")]
    ControlCharacter(u32),
    /// There is no blank line separating text from signatures, or nothing after it.
    #[error("note has no signature block (a blank line followed by signature lines)")]
    NoSignatureBlock,
    /// The text is empty, is a single empty line, or does not end in a newline.
    #[error("note text is empty")]
    EmptyText,
    /// A line of the signature block is not `— <name> <base64>\n`.
    #[error("malformed signature line {line:?}")]
    MalformedSignatureLine {
        /// The offending line, as far as it could be read.
        line: String,
    },
    /// More than [`MAX_NOTE_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_NOTE_SIGNATURES} signatures")]
    TooManySignatures,
    /// Two signature lines carry the same key name and key ID.
    #[error("note carries two signatures from key {name} ({key_id:08x})")]
    DuplicateSignature {
        /// Key name of the repeated signature.
        name: String,
        /// Key ID of the repeated signature.
        key_id: u32,
    },
    /// A key name is empty, too long, or contains a space or `+`.
    #[error("invalid key name {0:?}")]
    InvalidKeyName(String),
    /// A verifier or signer key string is not in the expected encoding.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// A verifier key's key ID does not match the ID computed from its name and key.
    #[error("key ID {stated:08x} of key {name} does not match its key material ({computed:08x})")]
    KeyIdMismatch {
        /// Key name of the key.
        name: String,
        /// The ID written in the key string.
        stated: u32,
        /// The ID computed from name, type and key material.
        computed: u32,
    },
    /// A verifier key has a signature type this code does not implement.
    #[error("unsupported signature type 0x{0:02x}")]
    UnsupportedKeyType(u8),
    /// A signing key held in a token or an agent failed to sign.
    #[error("signing failed: {0}")]
    SigningFailed(String),
    /// A known key's signature did not verify: the note must be rejected.
    #[error("signature by known key {name} ({key_id:08x}) does not verify")]
    BadSignature {
        /// Key name of the failing signature.
        name: String,
        /// Key ID of the failing signature.
        key_id: u32,
    },
    /// Two known keys share a signature's key name and key ID, so it cannot be told which of
    /// them the signature claims to be from: the note is rejected.
    #[error("two known keys are named {name} with key ID {key_id:08x}")]
    AmbiguousKey {
        /// The shared key name.
        name: String,
        /// The shared key ID.
        key_id: u32,
    },
    /// No signature from any known key: the note must be rejected.
    #[error("note is not signed by any known key")]
    NoKnownSignature,
}

/// A validated key name: non-empty, no Unicode white space, no `+`, no control characters;
/// at most [`MAX_KEY_NAME_SIZE`] bytes when made by [`KeyName::new`] (a name read from a
/// signature line of an unknown key may be longer).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyName(String);

impl KeyName {
    /// Validates `name` as a key name.
    pub fn new(name: &str) -> Result<KeyName, NoteError> {
        let ok = !name.is_empty()
            && name.len() <= MAX_KEY_NAME_SIZE
            && !name
                .chars()
                .any(|c| c.is_whitespace() || c == '+' || c.is_control());
        if ok {
            Ok(KeyName(name.to_owned()))
        } else {
            Err(NoteError::InvalidKeyName(name.chars().take(80).collect()))
        }
    }

    /// A key name read from a signature line: the signed-note syntax (non-empty, no white
    /// space, no `+`), without [`MAX_KEY_NAME_SIZE`], which bounds only the keys Cairn is
    /// configured with. The note's size bounds it.
    fn from_signature_line(name: &str) -> Result<KeyName, NoteError> {
        let ok = !name.is_empty()
            && !name
                .chars()
                .any(|c| c.is_whitespace() || c == '+' || c.is_control());
        if ok {
            Ok(KeyName(name.to_owned()))
        } else {
            Err(NoteError::InvalidKeyName(name.chars().take(80).collect()))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The recommended key ID: the first four bytes, big-endian, of
/// `SHA-256(key name || 0x0A || signature type || public key)`.
pub fn key_id(name: &KeyName, sig_type: u8, public_key: &[u8]) -> u32 {
    let mut msg = Vec::with_capacity(name.0.len() + 2 + public_key.len());
    msg.extend_from_slice(name.0.as_bytes());
    msg.push(b'\n');
    msg.push(sig_type);
    msg.extend_from_slice(public_key);
    let digest = sha256(&msg);
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// One signature line of a note, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name of the line.
    pub name: KeyName,
    /// The key ID: the first four bytes of the decoded signature.
    pub key_id: u32,
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, newline included.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }
}

/// A parsed, unverified signed note. Its text must not be trusted until [`Note::verify`]
/// succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note, checking size, encoding and signature-line syntax. Signatures are
    /// not verified.
    ///
    /// Lines are checked for syntax only (prefix, key name, standard base64, at least five
    /// bytes): which keys are known is only decided by [`Note::verify`], so a line from an
    /// unknown key (a post-quantum cosignature, a long name, the same line twice) never makes
    /// the note malformed. The per-line size cap and the duplicate rule apply to known keys, in
    /// [`Note::verify`].
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        Note::parse_bounded(bytes, MAX_NOTE_SIZE)
    }

    /// Parses a log entry: [`Note::parse`] with the entry bound [`MAX_ENTRY_NOTE_SIZE`], since
    /// an entry must fit one entry-bundle slot.
    pub fn parse_entry(bytes: &[u8]) -> Result<Note, NoteError> {
        Note::parse_bounded(bytes, MAX_ENTRY_NOTE_SIZE)
    }

    fn parse_bounded(bytes: &[u8], limit: usize) -> Result<Note, NoteError> {
        if bytes.len() > limit {
            return Err(NoteError::TooLarge(bytes.len()));
        }
        let all = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        if let Some(c) = all.chars().find(|&c| c < ' ' && c != '\n') {
            return Err(NoteError::ControlCharacter(u32::from(c)));
        }
        // The text ends at the last blank line; everything after is the signature block.
        let split = all.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
        let (text, block) = (&all[..=split], &all[split + 2..]);
        if text == "\n" {
            return Err(NoteError::EmptyText);
        }
        if block.is_empty() {
            return Err(NoteError::NoSignatureBlock);
        }
        let mut signatures: Vec<NoteSignature> = Vec::new();
        let mut rest = block;
        while !rest.is_empty() {
            let Some(end) = rest.find('\n') else {
                return Err(malformed_line(rest));
            };
            let line = &rest[..end];
            rest = &rest[end + 1..];
            if signatures.len() == MAX_NOTE_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(parse_signature_line(line)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Signs `text` with every signer. The text must be non-empty, end in a newline and obey the
    /// note character rules.
    pub fn sign(text: &str, signers: &[&dyn NoteSigner]) -> Result<Note, NoteError> {
        check_text(text)?;
        let mut note = Note {
            text: text.to_owned(),
            signatures: Vec::new(),
        };
        for signer in signers {
            note.add_signature(*signer)?;
        }
        Ok(note)
    }

    /// Adds one signature by `signer` over the text. Refuses a second signature from the same
    /// key name and ID, and a note that would exceed the size or signature limits.
    pub fn add_signature(&mut self, signer: &dyn NoteSigner) -> Result<(), NoteError> {
        let sig = NoteSignature {
            name: signer.name().clone(),
            key_id: signer.key_id(),
            signature: signer
                .try_sign(self.text.as_bytes())
                .map_err(|e| NoteError::SigningFailed(e.0))?,
        };
        self.push_signature(sig)
    }

    /// Appends an already computed signature line (for example a cosignature returned by a
    /// witness), under the same limits as [`Note::add_signature`]. The signature is not checked.
    pub fn push_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        // The same bounds Note::parse applies, so every note built here parses back.
        if sig.signature.is_empty() || 4 + sig.signature.len() > MAX_SIGNATURE_SIZE {
            return Err(malformed_line(&sig.to_line()));
        }
        if self
            .signatures
            .iter()
            .any(|s| s.name == sig.name && s.key_id == sig.key_id)
        {
            return Err(NoteError::DuplicateSignature {
                name: sig.name.0,
                key_id: sig.key_id,
            });
        }
        if self.signatures.len() == MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        self.signatures.push(sig);
        let size = self.to_bytes().len();
        if size > MAX_NOTE_SIZE {
            self.signatures.pop();
            return Err(NoteError::TooLarge(size));
        }
        Ok(())
    }

    /// The note text, including its final newline. Untrusted until verified.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The encoded note: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.text.clone();
        out.push('\n');
        for sig in &self.signatures {
            out.push_str(&sig.to_line());
        }
        out.into_bytes()
    }

    /// Verifies the note against a set of known keys under the signed-note rules: unknown
    /// signatures are ignored, a known key's bad signature rejects the note, and at least one
    /// known signature must verify.
    ///
    /// A signature whose (name, key ID) matches two known keys rejects the note
    /// ([`NoteError::AmbiguousKey`], as Go's `note.VerifierList` does): key IDs are short
    /// enough to collide on purpose, and trying the first match would let the order of `known`
    /// decide which key a signature is attributed to.
    pub fn verify(&self, known: &[&dyn NoteVerifier]) -> Result<VerifiedNote, NoteError> {
        let mut verified = Vec::new();
        for sig in &self.signatures {
            let mut matching = known
                .iter()
                .filter(|v| v.name() == &sig.name && v.key_id() == sig.key_id);
            let Some(verifier) = matching.next() else {
                continue;
            };
            if matching.next().is_some() {
                return Err(NoteError::AmbiguousKey {
                    name: sig.name.0.clone(),
                    key_id: sig.key_id,
                });
            }
            // The rules for known keys: within the size cap, valid (a bad signature is
            // reported before a repeated one), one line per key.
            if 4 + sig.signature.len() > MAX_SIGNATURE_SIZE
                || !verifier.verify(self.text.as_bytes(), &sig.signature)
            {
                return Err(NoteError::BadSignature {
                    name: sig.name.0.clone(),
                    key_id: sig.key_id,
                });
            }
            if verified
                .iter()
                .any(|s: &NoteSignature| s.name == sig.name && s.key_id == sig.key_id)
            {
                return Err(NoteError::DuplicateSignature {
                    name: sig.name.0.clone(),
                    key_id: sig.key_id,
                });
            }
            verified.push(sig.clone());
        }
        if verified.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(VerifiedNote {
            note: self.clone(),
            verified,
        })
    }
}

/// A note with at least one signature verified by a known key. Only [`Note::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    note: Note,
    verified: Vec<NoteSignature>,
}

impl VerifiedNote {
    /// The verified text.
    pub fn text(&self) -> &str {
        &self.note.text
    }

    /// The signatures that verified, each from a distinct (name, key ID).
    pub fn verified_signatures(&self) -> &[NoteSignature] {
        &self.verified
    }

    /// Whether `verifier`'s key produced one of the verified signatures. The signature is
    /// checked again with `verifier` itself: a name and key ID are only an identifier, and a
    /// different key that claims them (see [`Note::verify`]) must not count as `verifier`.
    pub fn is_signed_by(&self, verifier: &dyn NoteVerifier) -> bool {
        self.verified.iter().any(|s| {
            &s.name == verifier.name()
                && s.key_id == verifier.key_id()
                && verifier.verify(self.note.text.as_bytes(), &s.signature)
        })
    }

    /// The whole note, including signatures that were not verified.
    pub fn note(&self) -> &Note {
        &self.note
    }
}

fn malformed_line(line: &str) -> NoteError {
    NoteError::MalformedSignatureLine {
        line: line.chars().take(120).collect(),
    }
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let body = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or_else(|| malformed_line(line))?;
    let (name, b64) = body.split_once(' ').ok_or_else(|| malformed_line(line))?;
    // Syntax only: the name of an unknown key may be longer than any key Cairn is configured
    // with (it then matches no known key and is ignored).
    let name = KeyName::from_signature_line(name)?;
    // The note's own size bounds the decode.
    let raw = STANDARD.decode(b64).map_err(|_| malformed_line(line))?;
    if raw.len() < 5 {
        return Err(malformed_line(line));
    }
    Ok(NoteSignature {
        name,
        key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
        signature: raw[4..].to_vec(),
    })
}

/// The rules [`Note::parse`] applies to a text, in the same order (size cap first), so that
/// every note [`Note::sign`] makes parses back.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge(text.len()));
    }
    if let Some(c) = text.chars().find(|&c| c < ' ' && c != '\n') {
        return Err(NoteError::ControlCharacter(u32::from(c)));
    }
    // A text of one empty line is refused by parse (see spec/README.md, "Profiles").
    if text.is_empty() || text == "\n" || !text.ends_with('\n') {
        return Err(NoteError::EmptyText);
    }
    Ok(())
}

/// A key that can verify note signatures of one type.
pub trait NoteVerifier: std::fmt::Debug {
    /// The key name signatures must carry.
    fn name(&self) -> &KeyName;
    /// The key ID signatures must carry.
    fn key_id(&self) -> u32;
    /// Whether `signature` (without the key ID prefix) is valid over `text`.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool;
}

/// A key that can sign notes.
pub trait NoteSigner: std::fmt::Debug {
    /// The key name written on signature lines.
    fn name(&self) -> &KeyName;
    /// The key ID written on signature lines.
    fn key_id(&self) -> u32;
    /// Signs `text`, returning the signature without the key ID prefix.
    fn sign(&self, text: &[u8]) -> Vec<u8>;
    /// Signs `text` with a key that can fail (a token, an agent); [`Note`] signs through this.
    fn try_sign(&self, text: &[u8]) -> Result<Vec<u8>, crate::signer::SignError> {
        Ok(self.sign(text))
    }
}

/// Splits a vkey `name+hexid+base64(type||key)` into its parts, checking the name and the hex
/// key ID encoding (eight lowercase hex digits). Nothing is trimmed: one key has one spelling, so
/// a caller reading a key file strips its line ending first.
pub fn split_vkey(vkey: &str) -> Result<(KeyName, u32, Vec<u8>), NoteError> {
    // Room for an ML-DSA-44 key (1 + 1,312 bytes, 1,752 base64 characters).
    if vkey.len() > MAX_KEY_NAME_SIZE + 1 + 8 + 1 + 2048 {
        return Err(NoteError::MalformedKey("verifier key is too long"));
    }
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::MalformedKey(
            "verifier key must be name+keyid+base64",
        ));
    };
    let name = KeyName::new(name)?;
    let id = parse_key_id_hex(id)?;
    let key = STANDARD
        .decode(key)
        .map_err(|_| NoteError::MalformedKey("key material is not standard base64"))?;
    if key.is_empty() {
        return Err(NoteError::MalformedKey("key material is empty"));
    }
    Ok((name, id, key))
}

/// Splits a vkey (or the part of a signer key after `PRIVATE+KEY+`) whose type byte must be
/// `sig_type`, returning the name, the stated key ID and the key material after the type byte.
pub fn split_typed_vkey(vkey: &str, sig_type: u8) -> Result<(KeyName, u32, Vec<u8>), NoteError> {
    let (name, stated, mut material) = split_vkey(vkey)?;
    match material.first() {
        Some(&t) if t == sig_type => {}
        Some(&other) => return Err(NoteError::UnsupportedKeyType(other)),
        None => return Err(NoteError::MalformedKey("key material is empty")),
    }
    material.remove(0);
    Ok((name, stated, material))
}

/// Refuses a key whose stated key ID is not the one computed from its name, type and key.
pub fn check_key_id(name: &KeyName, stated: u32, computed: u32) -> Result<(), NoteError> {
    if stated == computed {
        return Ok(());
    }
    Err(NoteError::KeyIdMismatch {
        name: name.as_str().to_owned(),
        stated,
        computed,
    })
}

/// The vkey spelling `name+hexid+base64(type||key)`.
pub fn format_vkey(name: &KeyName, key_id: u32, sig_type: u8, key: &[u8]) -> String {
    let mut material = Vec::with_capacity(1 + key.len());
    material.push(sig_type);
    material.extend_from_slice(key);
    format!("{name}+{key_id:08x}+{}", STANDARD.encode(material))
}

/// The signer-key spelling `PRIVATE+KEY+name+hexid+base64(type||seed)`.
fn format_skey(name: &KeyName, key_id: u32, sig_type: u8, seed: &[u8]) -> String {
    format!(
        "{PRIVATE_KEY_PREFIX}{}",
        format_vkey(name, key_id, sig_type, seed)
    )
}

/// Splits a signer key `PRIVATE+KEY+name+hexid+base64(type||seed)` (a trailing newline, as in
/// a key file, is allowed) into name, stated key ID, type byte and 32-byte seed.
pub(crate) fn split_skey(skey: &str) -> Result<(KeyName, u32, u8, [u8; 32]), NoteError> {
    let rest = skey
        .strip_suffix('\n')
        .unwrap_or(skey)
        .strip_prefix(PRIVATE_KEY_PREFIX)
        .ok_or(NoteError::MalformedKey(
            "signer key must start with PRIVATE+KEY+",
        ))?;
    let (name, stated, material) = split_vkey(rest)?;
    let (&sig_type, seed) = material
        .split_first()
        .ok_or(NoteError::MalformedKey("key material is empty"))?;
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| NoteError::MalformedKey("Ed25519 seed must be 32 bytes"))?;
    Ok((name, stated, sig_type, seed))
}

/// An Ed25519 public key, refusing encodings that are not points and small-order keys (no
/// signature verifies strictly under those; a trust root that can never verify is a
/// configuration error to report).
pub(crate) fn ed25519_public_key(public_key: &[u8; 32]) -> Result<VerifyingKey, NoteError> {
    let key = VerifyingKey::from_bytes(public_key)
        .map_err(|_| NoteError::MalformedKey("not a valid Ed25519 public key"))?;
    if key.is_weak() {
        return Err(NoteError::MalformedKey("small-order Ed25519 public key"));
    }
    Ok(key)
}

fn parse_key_id_hex(id: &str) -> Result<u32, NoteError> {
    if id.len() != 8
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(NoteError::MalformedKey(
            "key ID must be eight lowercase hex digits",
        ));
    }
    u32::from_str_radix(id, 16).map_err(|_| NoteError::MalformedKey("key ID is not hex"))
}

/// An Ed25519 (type 0x01) note verifier key.
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519Verifier {
    name: KeyName,
    key_id: u32,
    key: VerifyingKey,
}

impl std::fmt::Debug for Ed25519Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_vkey())
    }
}

impl Ed25519Verifier {
    /// Builds a verifier from a name and a 32-byte public key; the key ID is computed. A
    /// small-order key is refused here: strict verification would reject every signature under
    /// it anyway, and a trust root that can never verify is a configuration error to report.
    pub fn new(name: KeyName, public_key: [u8; 32]) -> Result<Ed25519Verifier, NoteError> {
        let key = ed25519_public_key(&public_key)?;
        Ok(Ed25519Verifier {
            key_id: key_id(&name, SIG_TYPE_ED25519, &public_key),
            name,
            key,
        })
    }

    /// Parses a C2SP vkey `name+hexid+base64(0x01||key)`, refusing a key ID that does not
    /// match the key.
    pub fn from_vkey(vkey: &str) -> Result<Ed25519Verifier, NoteError> {
        let (name, stated, material) = split_typed_vkey(vkey, SIG_TYPE_ED25519)?;
        let public: [u8; 32] = material
            .try_into()
            .map_err(|_| NoteError::MalformedKey("Ed25519 public key must be 32 bytes"))?;
        let verifier = Ed25519Verifier::new(name, public)?;
        check_key_id(&verifier.name, stated, verifier.key_id)?;
        Ok(verifier)
    }

    /// The C2SP vkey encoding of this key.
    pub fn to_vkey(&self) -> String {
        format_vkey(
            &self.name,
            self.key_id,
            SIG_TYPE_ED25519,
            self.key.as_bytes(),
        )
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// The parsed key, for modules that verify other message formats with the same key
    /// (cosignatures).
    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The same key material under another key name (for example a log's per-origin names).
    pub fn with_name(&self, name: KeyName) -> Ed25519Verifier {
        Ed25519Verifier {
            key_id: key_id(&name, SIG_TYPE_ED25519, self.key.as_bytes()),
            name,
            key: self.key,
        }
    }
}

impl NoteVerifier for Ed25519Verifier {
    fn name(&self) -> &KeyName {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        // Strict verification refuses small-order keys and non-canonical encodings, so one
        // key and message admit one signature.
        self.key.verify_strict(text, &sig).is_ok()
    }
}

/// An Ed25519 (type 0x01) note signing key.
pub struct Ed25519Signer {
    name: KeyName,
    key_id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secret material.
        write!(f, "Ed25519Signer({}+{:08x})", self.name, self.key_id)
    }
}

impl Ed25519Signer {
    /// Builds a signer from a name and a 32-byte RFC 8032 seed. The caller supplies the
    /// randomness (this crate does no I/O).
    pub fn from_seed(name: KeyName, seed: [u8; 32]) -> Ed25519Signer {
        let key = SigningKey::from_bytes(&seed);
        Ed25519Signer {
            key_id: key_id(&name, SIG_TYPE_ED25519, key.verifying_key().as_bytes()),
            name,
            key,
        }
    }

    /// Parses the Go/C2SP signer encoding `PRIVATE+KEY+name+hexid+base64(0x01||seed)`.
    pub fn from_skey(skey: &str) -> Result<Ed25519Signer, NoteError> {
        let (name, stated, sig_type, seed) = split_skey(skey)?;
        if sig_type != SIG_TYPE_ED25519 {
            return Err(NoteError::UnsupportedKeyType(sig_type));
        }
        let signer = Ed25519Signer::from_seed(name, seed);
        check_key_id(&signer.name, stated, signer.key_id)?;
        Ok(signer)
    }

    /// The signer encoding `PRIVATE+KEY+name+hexid+base64(0x01||seed)`. Secret: store it with
    /// restrictive permissions.
    pub fn to_skey(&self) -> String {
        format_skey(
            &self.name,
            self.key_id,
            SIG_TYPE_ED25519,
            self.key.as_bytes(),
        )
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The same key material under another key name (for example a log's per-origin names).
    pub fn with_name(&self, name: KeyName) -> Ed25519Signer {
        Ed25519Signer::from_seed(name, self.key.to_bytes())
    }

    /// Signs raw bytes with the underlying Ed25519 key (used by cosignatures, which sign a
    /// prefixed message rather than the note text).
    pub fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The 32-byte RFC 8032 seed. Secret.
    pub(crate) fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl NoteSigner for Ed25519Signer {
    fn name(&self) -> &KeyName {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn sign(&self, text: &[u8]) -> Vec<u8> {
        self.sign_raw(text).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from c2sp.org/signed-note.
    const SPEC_NOTE: &str = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";

    fn signer(name: &str, seed: u8) -> Ed25519Signer {
        Ed25519Signer::from_seed(KeyName::new(name).expect("valid name"), [seed; 32])
    }

    #[test]
    fn spec_example_parses_with_blank_line_in_text() {
        let note = Note::parse(SPEC_NOTE.as_bytes()).expect("spec note parses");
        assert_eq!(
            note.text(),
            "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
        );
        assert_eq!(note.signatures().len(), 1);
        assert_eq!(
            note.signatures()[0].name.as_str(),
            "quasimodo.example/salvatore"
        );
        assert_eq!(note.to_bytes(), SPEC_NOTE.as_bytes());
    }

    #[test]
    fn sign_verify_round_trip() {
        let a = signer("example.org/a", 1);
        let b = signer("example.org/b", 2);
        let note = Note::sign("hello\n", &[&a, &b]).expect("sign");
        let parsed = Note::parse(&note.to_bytes()).expect("parse");
        assert_eq!(parsed, note);
        let verified = parsed.verify(&[&a.verifier()]).expect("verify");
        assert!(verified.is_signed_by(&a.verifier()));
        assert!(!verified.is_signed_by(&b.verifier()));
        assert_eq!(verified.verified_signatures().len(), 1);
    }

    /// A key that claims another key's name and ID but verifies nothing, as an attacker who
    /// ground a colliding 32-bit key ID would have.
    #[derive(Debug)]
    struct Impostor(KeyName, u32);

    impl NoteVerifier for Impostor {
        fn name(&self) -> &KeyName {
            &self.0
        }
        fn key_id(&self) -> u32 {
            self.1
        }
        fn verify(&self, _: &[u8], _: &[u8]) -> bool {
            false
        }
    }

    #[test]
    fn is_signed_by_checks_the_key_not_just_name_and_id() {
        let a = signer("example.org/a", 1);
        let note = Note::sign("hello\n", &[&a]).expect("sign");
        let verified = note.verify(&[&a.verifier()]).expect("verify");
        let impostor = Impostor(a.name().clone(), a.key_id());
        assert!(verified.is_signed_by(&a.verifier()));
        assert!(!verified.is_signed_by(&impostor));
    }

    #[test]
    fn known_key_bad_signature_rejects_note() {
        let a = signer("example.org/a", 1);
        let b = signer("example.org/b", 2);
        let mut note = Note::sign("hello\n", &[&a, &b]).expect("sign");
        note.signatures[1].signature[0] ^= 1;
        assert!(
            note.verify(&[&a.verifier()]).is_ok(),
            "unknown bad sig ignored"
        );
        assert_eq!(
            note.verify(&[&a.verifier(), &b.verifier()]),
            Err(NoteError::BadSignature {
                name: "example.org/b".into(),
                key_id: b.key_id()
            })
        );
    }

    /// A key that claims another key's name and key ID. Key IDs are 32 bits, so an attacker
    /// grinds key pairs until one collides with a victim key's ID (signed-note says as much).
    #[derive(Debug)]
    struct Colliding {
        claimed: Ed25519Verifier,
        real: Ed25519Verifier,
    }

    impl NoteVerifier for Colliding {
        fn name(&self) -> &KeyName {
            self.claimed.name()
        }
        fn key_id(&self) -> u32 {
            self.claimed.key_id()
        }
        fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
            self.real.verify(text, signature)
        }
    }

    #[test]
    fn key_id_collision_cannot_pass_for_the_victim_key() {
        let victim = signer("example.org/root", 1);
        let attacker = signer("attacker.example", 9);
        let colliding = Colliding {
            claimed: victim.verifier(),
            real: attacker.verifier(),
        };
        // The attacker's signature, under the victim's name and key ID.
        let mut note = Note::sign("hello\n", &[]).expect("text");
        note.push_signature(NoteSignature {
            name: victim.name().clone(),
            key_id: victim.key_id(),
            signature: attacker.sign_raw(b"hello\n").to_vec(),
        })
        .expect("fits");

        // Two known keys answer to one (name, key ID): which one signed is ambiguous, so the
        // note is refused whichever order the caller lists them in.
        for known in [
            [&colliding as &dyn NoteVerifier, &victim.verifier()],
            [&victim.verifier() as &dyn NoteVerifier, &colliding],
        ] {
            assert_eq!(
                note.verify(&known),
                Err(NoteError::AmbiguousKey {
                    name: "example.org/root".into(),
                    key_id: victim.key_id(),
                })
            );
        }

        // With only the colliding key known the note verifies, but the victim's key did not
        // sign it and must not be reported as a signer.
        let verified = note
            .verify(&[&colliding])
            .expect("the colliding key signed");
        assert!(verified.is_signed_by(&colliding));
        assert!(!verified.is_signed_by(&victim.verifier()));
    }

    #[test]
    fn no_known_key_rejects_note() {
        let a = signer("example.org/a", 1);
        let b = signer("example.org/b", 2);
        let note = Note::sign("hello\n", &[&a]).expect("sign");
        assert_eq!(
            note.verify(&[&b.verifier()]),
            Err(NoteError::NoKnownSignature)
        );
        // Same key material under another name is a different key.
        let renamed = a
            .verifier()
            .with_name(KeyName::new("example.org/other").expect("name"));
        assert_eq!(note.verify(&[&renamed]), Err(NoteError::NoKnownSignature));
    }

    #[test]
    fn vkey_and_skey_round_trip_and_key_id_is_checked() {
        let a = signer("example.org/a", 7);
        let vkey = a.verifier().to_vkey();
        assert_eq!(
            Ed25519Verifier::from_vkey(&vkey).expect("vkey"),
            a.verifier()
        );
        let skey = a.to_skey();
        assert_eq!(
            Ed25519Signer::from_skey(&skey).expect("skey").verifier(),
            a.verifier()
        );
        let wrong_id = vkey.replacen(&format!("+{:08x}+", a.key_id()), "+00000000+", 1);
        assert_eq!(
            Ed25519Verifier::from_vkey(&wrong_id),
            Err(NoteError::KeyIdMismatch {
                name: "example.org/a".into(),
                stated: 0,
                computed: a.key_id(),
            })
        );
        let wrong_skey_id = skey.replacen(&format!("+{:08x}+", a.key_id()), "+00000000+", 1);
        assert!(matches!(
            Ed25519Signer::from_skey(&wrong_skey_id),
            Err(NoteError::KeyIdMismatch { stated: 0, .. })
        ));
        // Uppercase hex is a second spelling of the key ID. Pick a key whose ID has a letter in
        // it, so that the uppercase spelling really differs.
        let lettered = (1..=u8::MAX)
            .map(|seed| signer("example.org/a", seed))
            .find(|s| {
                format!("{:08x}", s.key_id())
                    .bytes()
                    .any(|b| b.is_ascii_alphabetic())
            })
            .expect("some key ID has a hex letter");
        let vkey = lettered.verifier().to_vkey();
        let upper = vkey.replacen(
            &format!("+{:08x}+", lettered.key_id()),
            &format!("+{:08X}+", lettered.key_id()),
            1,
        );
        assert_ne!(upper, vkey);
        for bad in [
            upper,
            vkey.replacen('+', "+0", 1),
            vkey.replacen('+', "+ ", 1),
        ] {
            assert_eq!(
                Ed25519Verifier::from_vkey(&bad),
                Err(NoteError::MalformedKey(
                    "key ID must be eight lowercase hex digits"
                )),
                "{bad}"
            );
        }
    }

    #[test]
    fn signature_with_known_name_but_other_key_id_is_ignored() {
        let a = signer("example.org/a", 1);
        let mut note = Note::sign("hello\n", &[]).expect("text");
        // Same name, another key ID (a rotated key, or an attacker's): not the known key, so
        // it is neither verified nor allowed to fail the note.
        note.push_signature(NoteSignature {
            name: a.name().clone(),
            key_id: a.key_id() ^ 1,
            signature: vec![0; 64],
        })
        .expect("fits");
        assert_eq!(
            note.verify(&[&a.verifier()]),
            Err(NoteError::NoKnownSignature)
        );
        note.add_signature(&a).expect("fits");
        let verified = note.verify(&[&a.verifier()]).expect("the real signature");
        assert_eq!(verified.verified_signatures().len(), 1);
        assert_eq!(verified.verified_signatures()[0].key_id, a.key_id());
    }

    #[test]
    fn signature_with_known_key_id_but_other_name_is_ignored() {
        let a = signer("example.org/a", 1);
        let mut note = Note::sign("hello\n", &[]).expect("text");
        note.push_signature(NoteSignature {
            name: KeyName::new("example.org/b").expect("name"),
            key_id: a.key_id(),
            signature: a.sign_raw(b"hello\n").to_vec(),
        })
        .expect("fits");
        assert_eq!(
            note.verify(&[&a.verifier()]),
            Err(NoteError::NoKnownSignature)
        );
    }

    #[test]
    fn signature_line_look_alikes_are_refused() {
        // 68 bytes of 0xff: standard base64 ends in "//8=" and uses '/'.
        let canonical = STANDARD.encode([0xff; 68]);
        assert!(canonical.ends_with("//8="));
        let note = |line: &str| format!("hi\n\n{line}\n");
        assert!(
            Note::parse(note(&format!("\u{2014} example.org/a {canonical}")).as_bytes()).is_ok()
        );
        let malformed = [
            // Dashes and spaces that look like "— ".
            format!("\u{2013} example.org/a {canonical}"),
            format!("\u{2015} example.org/a {canonical}"),
            format!("\u{2212} example.org/a {canonical}"),
            format!("- example.org/a {canonical}"),
            format!("\u{2014}\u{a0}example.org/a {canonical}"),
            format!(" \u{2014} example.org/a {canonical}"),
            // Second spellings of the same signature bytes.
            format!(
                "\u{2014} example.org/a {}",
                canonical.replace("//8=", "//9=")
            ),
            format!("\u{2014} example.org/a {}", canonical.trim_end_matches('=')),
            format!("\u{2014} example.org/a {canonical}="),
            format!("\u{2014} example.org/a {}", canonical.replace('/', "_")),
            format!("\u{2014} example.org/a {canonical} "),
            format!("\u{2014} example.org/a  {canonical}"),
        ];
        for line in malformed {
            assert!(
                matches!(
                    Note::parse(note(&line).as_bytes()),
                    Err(NoteError::MalformedSignatureLine { .. })
                ),
                "{line:?}"
            );
        }
        // A second space after the dash leaves an empty key name.
        assert_eq!(
            Note::parse(note(&format!("\u{2014}  example.org/a {canonical}")).as_bytes()),
            Err(NoteError::InvalidKeyName(String::new()))
        );
        for space in ['\u{a0}', '\u{3000}', '\u{2028}', '\u{85}', '\u{2009}'] {
            let line = format!("\u{2014} example.org/a{space}b {canonical}");
            assert!(
                matches!(
                    Note::parse(note(&line).as_bytes()),
                    Err(NoteError::InvalidKeyName(_))
                ),
                "{space:?}"
            );
        }
        let crlf = format!("hi\r\n\r\n\u{2014} example.org/a {canonical}\r\n");
        assert_eq!(
            Note::parse(crlf.as_bytes()),
            Err(NoteError::ControlCharacter(0x0d))
        );
    }

    #[test]
    fn vkey_with_trailing_newlines_is_refused() {
        let vkey = signer("example.org/a", 7).verifier().to_vkey();
        for suffix in ["\n", "\n\n", "\r\n", " "] {
            assert_eq!(
                Ed25519Verifier::from_vkey(&format!("{vkey}{suffix}")),
                Err(NoteError::MalformedKey(
                    "key material is not standard base64"
                )),
                "{suffix:?}"
            );
        }
    }

    #[test]
    fn small_order_public_key_is_refused() {
        // The identity point (y = 1): every message "verifies" under non-strict rules.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let name = KeyName::new("example.org/weak").expect("name");
        let mut material = vec![SIG_TYPE_ED25519];
        material.extend_from_slice(&identity);
        let vkey = format!(
            "{name}+{:08x}+{}",
            key_id(&name, SIG_TYPE_ED25519, &identity),
            STANDARD.encode(material)
        );
        assert_eq!(
            Ed25519Verifier::from_vkey(&vkey),
            Err(NoteError::MalformedKey("small-order Ed25519 public key"))
        );
        assert_eq!(
            Ed25519Verifier::new(name, identity),
            Err(NoteError::MalformedKey("small-order Ed25519 public key"))
        );
    }

    #[test]
    fn malformed_notes_are_refused() {
        let a = signer("example.org/a", 1);
        let good =
            String::from_utf8(Note::sign("hi\n", &[&a]).expect("sign").to_bytes()).expect("utf8");
        let malformed_line = |e: &NoteError| matches!(e, NoteError::MalformedSignatureLine { .. });
        type Check = fn(&NoteError) -> bool;
        let cases: Vec<(String, &str, Check)> = vec![
            ("hi\n".into(), "no signature block", |e| {
                *e == NoteError::NoSignatureBlock
            }),
            ("hi\n\n".into(), "blank line, no signatures", |e| {
                *e == NoteError::NoSignatureBlock
            }),
            (
                good.trim_end_matches('\n').into(),
                "no final newline",
                malformed_line,
            ),
            (good.replace("hi", "h\u{1}"), "control character", |e| {
                *e == NoteError::ControlCharacter(1)
            }),
            (good.replace('\u{2014}', "-"), "ASCII dash", malformed_line),
            (format!("{good}junk\n"), "trailing junk", malformed_line),
            (
                // The space ends the name, so the rest is not base64.
                good.replace("example.org/a", "example.org/a b"),
                "space in name",
                malformed_line,
            ),
            (
                good.replace("example.org/a", "example.org+a"),
                "plus in name",
                |e| matches!(e, NoteError::InvalidKeyName(_)),
            ),
            (format!("\n\n{}", &good[4..]), "empty text", |e| {
                *e == NoteError::EmptyText
            }),
            (
                format!("{good}\u{2014} x AAAA\n"),
                "line of four bytes",
                malformed_line,
            ),
            (
                format!("{good}\u{2014} x \n"),
                "empty base64",
                malformed_line,
            ),
            (
                format!("{good}\u{2014} x AAAAAA=\n"),
                "bad base64",
                malformed_line,
            ),
        ];
        for (input, what, expected) in cases {
            match Note::parse(input.as_bytes()) {
                Err(e) => assert!(expected(&e), "{what}: refused for another reason: {e:?}"),
                Ok(_) => panic!("{what} accepted"),
            }
        }
        assert_eq!(Note::parse(b"\xff\n\n"), Err(NoteError::NotUtf8));
        assert_eq!(
            Note::sign("\n", &[&a]).map(|_| ()),
            Err(NoteError::EmptyText)
        );
        assert_eq!(
            Note::parse(&vec![b'a'; MAX_NOTE_SIZE + 1]),
            Err(NoteError::TooLarge(MAX_NOTE_SIZE + 1))
        );
    }

    #[test]
    fn known_signature_one_byte_over_the_size_cap_is_refused() {
        let a = signer("example.org/a", 1);
        let id = a.key_id().to_be_bytes();
        let line = |len: usize| {
            let mut raw = id.to_vec();
            raw.resize(len, 7);
            format!("hi\n\n\u{2014} example.org/a {}\n", STANDARD.encode(raw))
        };
        // Parsing does not know which keys are known: both parse.
        let at_cap = Note::parse(line(MAX_SIGNATURE_SIZE).as_bytes()).expect("at the cap");
        assert_eq!(
            at_cap.signatures()[0].signature.len(),
            MAX_SIGNATURE_SIZE - 4
        );
        let over = Note::parse(line(MAX_SIGNATURE_SIZE + 1).as_bytes()).expect("syntax is fine");
        // Under the known key, the oversized line is refused like a bad signature.
        assert!(matches!(
            over.verify(&[&a.verifier()]),
            Err(NoteError::BadSignature { .. })
        ));
        // A note built in memory obeys the same cap, so it always verifies within it.
        let mut note = Note::sign("hi\n", &[]).expect("text");
        let oversized = NoteSignature {
            name: KeyName::new("example.org/a").expect("name"),
            key_id: 7,
            signature: vec![7; MAX_SIGNATURE_SIZE - 3],
        };
        assert!(matches!(
            note.push_signature(oversized),
            Err(NoteError::MalformedSignatureLine { .. })
        ));
    }

    /// What other implementations emit: an ML-DSA-44-sized line from an unknown witness, the
    /// same unknown line twice, an unknown signer with a name far over MAX_KEY_NAME_SIZE. Go's
    /// note.Open ignores them all; so must Cairn.
    #[test]
    fn unknown_lines_are_checked_for_syntax_only() {
        let a = signer("example.org/a", 1);
        let good =
            String::from_utf8(Note::sign("hi\n", &[&a]).expect("sign").to_bytes()).expect("utf8");
        let pq = format!(
            "\u{2014} witness.example/pq {}\n",
            STANDARD.encode([6u8; 4 + 8 + 2420])
        );
        assert!(pq.len() > 3_200, "an ML-DSA-44 cosignature line");
        let long_name = format!("\u{2014} {} AQIDBAU=\n", "n".repeat(MAX_KEY_NAME_SIZE * 4));
        let unknown_twice = "\u{2014} other.example/k AQIDBAUG\n".repeat(2);
        let mut sixteen_pq = String::new();
        for i in 0..16 {
            sixteen_pq.push_str(&pq.replace("pq ", &format!("pq{i} ")));
        }
        for (what, note) in [
            ("ML-DSA-44-sized unknown line", format!("{good}{pq}")),
            ("unknown line first", format!("hi\n\n{pq}{}", &good[4..])),
            ("long unknown name", format!("{good}{long_name}")),
            ("unknown line repeated", format!("{good}{unknown_twice}")),
            ("sixteen post-quantum lines", format!("{good}{sixteen_pq}")),
        ] {
            let parsed = Note::parse(note.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
            let verified = parsed
                .verify(&[&a.verifier()])
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(verified.verified_signatures().len(), 1, "{what}");
        }
        // Twenty-one do not fit an entry-bundle slot: a checkpoint may carry them, an entry
        // may not.
        let many = format!("{good}{}", pq.repeat(21));
        Note::parse(many.as_bytes()).expect("a checkpoint may carry them");
        assert!(matches!(
            Note::parse_entry(many.as_bytes()),
            Err(NoteError::TooLarge(_))
        ));
    }

    #[test]
    fn a_known_key_signing_twice_is_refused() {
        let a = signer("example.org/a", 1);
        let good =
            String::from_utf8(Note::sign("hi\n", &[&a]).expect("sign").to_bytes()).expect("utf8");
        let twice = format!("{good}{}", &good[4..]);
        let note = Note::parse(twice.as_bytes()).expect("syntax is fine");
        assert!(matches!(
            note.verify(&[&a.verifier()]),
            Err(NoteError::DuplicateSignature { .. })
        ));
        // Unknown to this verifier: ignored, and the other key's signature decides.
        let b = signer("example.org/b", 2);
        let both = Note::parse(
            format!(
                "{twice}{}",
                Note::sign("hi\n", &[&b]).expect("sign").signatures()[0].to_line()
            )
            .as_bytes(),
        )
        .expect("parse");
        both.verify(&[&b.verifier()])
            .expect("a's lines are unknown to b");
    }

    #[test]
    fn sign_refuses_the_texts_parse_refuses() {
        let a = signer("example.org/a", 1);
        // Parse refuses a text that is a single empty line; sign must not produce one.
        let spelled = format!(
            "\n\n{}",
            &String::from_utf8(Note::sign("x\n", &[&a]).expect("sign").to_bytes()).expect("utf8")
                [3..]
        );
        assert_eq!(Note::parse(spelled.as_bytes()), Err(NoteError::EmptyText));
        assert_eq!(Note::sign("\n", &[&a]), Err(NoteError::EmptyText));
        assert_eq!(Note::sign("", &[&a]), Err(NoteError::EmptyText));
        assert_eq!(Note::sign("x", &[&a]), Err(NoteError::EmptyText));
        // The size cap is checked before the text is scanned, as in parse.
        let huge = format!("{}\u{1}\n", "a".repeat(MAX_NOTE_SIZE));
        assert_eq!(
            Note::sign(&huge, &[]),
            Err(NoteError::TooLarge(MAX_NOTE_SIZE + 2))
        );
    }

    #[test]
    fn signature_count_is_capped() {
        let mut note = Note::sign("hi\n", &[]).expect("unsigned text is fine to build");
        for i in 0..MAX_NOTE_SIGNATURES {
            note.add_signature(&signer(&format!("k{i}"), 1))
                .expect("under the cap");
        }
        assert_eq!(
            note.add_signature(&signer("one-too-many", 1)),
            Err(NoteError::TooManySignatures)
        );
        let mut text = String::from_utf8(note.to_bytes()).expect("utf8");
        let at_cap = Note::parse(text.as_bytes()).expect("exactly the cap parses");
        assert_eq!(at_cap.signatures().len(), MAX_NOTE_SIGNATURES);
        let extra = Note::sign("hi\n", &[&signer("one-too-many", 3)]).expect("sign");
        text.push_str(&extra.signatures()[0].to_line());
        assert_eq!(
            Note::parse(text.as_bytes()),
            Err(NoteError::TooManySignatures)
        );
    }
}
