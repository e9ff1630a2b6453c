//! C2SP tlog-checkpoint (`c2sp.org/tlog-checkpoint`, sections "Note text" and "Signatures"):
//! the checkpoint body of a signed note, and [`VerifiedCheckpoint`], the only way Cairn code
//! learns a tree head it may trust.
//!
//! A checkpoint's note text is at least three non-empty lines: the origin, the tree size in
//! canonical decimal, and the RFC 6962 root hash in standard base64, followed by optional
//! extension lines. Cairn's own logs never write extension lines (the spec does not recommend
//! them, as monitors cannot audit them), but foreign logs do (Rekor writes a `Timestamp:` line),
//! so parsing accepts them; [`VerifiedCheckpoint::verify_without_extensions`] refuses them for
//! logs that must not use them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::hash::{Hash, HashError};
use crate::note::{MAX_NOTE_SIZE, Note, NoteError, NoteVerifier, VerifiedNote};

/// Longest tree size line: `u64::MAX` has 20 decimal digits.
const MAX_SIZE_DIGITS: usize = 20;

/// Why a checkpoint was refused, or why two checkpoints could not be reconciled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note around the checkpoint is malformed or not signed by the log's key.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The checkpoint text is larger than a note may be.
    #[error("checkpoint text is {0} bytes, larger than the limit of {MAX_NOTE_SIZE}")]
    TooLarge(usize),
    /// The text contains an ASCII control character other than newline.
    #[error("checkpoint text contains control character U+{0:04X}")]
    ControlCharacter(u32),
    /// The text does not end in a newline.
    #[error("checkpoint text does not end in a newline")]
    MissingFinalNewline,
    /// Fewer than the three mandatory lines (origin, size, root).
    #[error("checkpoint has {0} lines, at least 3 are required")]
    TooFewLines(usize),
    /// The origin line is empty.
    #[error("checkpoint origin line is empty")]
    EmptyOrigin,
    /// The origin or an extension line contains a newline, so it cannot be written as one line.
    #[error("checkpoint line {0:?} contains a newline")]
    LineContainsNewline(String),
    /// The size line is not a canonical decimal (digits only, no sign, no leading zero).
    #[error("checkpoint tree size {0:?} is not a canonical decimal")]
    NonCanonicalSize(String),
    /// The size line is a canonical decimal larger than `u64::MAX`.
    #[error("checkpoint tree size {0} does not fit in 64 bits")]
    SizeOverflow(String),
    /// The root line is not canonical standard base64 of exactly 32 bytes.
    #[error("checkpoint root hash {line:?}: {error}")]
    BadRoot {
        /// The root line, shortened if long.
        line: String,
        /// What was wrong with it.
        error: HashError,
    },
    /// An extension line is empty (the spec requires extension lines to be non-empty).
    #[error("checkpoint extension line {0} is empty")]
    EmptyExtensionLine(usize),
    /// A size-0 checkpoint whose root is not SHA-256 of the empty string.
    #[error("empty-tree checkpoint has root {0}, not the empty-tree hash")]
    WrongEmptyTreeRoot(Hash),
    /// The checkpoint is for another log than the one expected.
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    OriginMismatch {
        /// The origin the caller asked for.
        expected: String,
        /// The origin the checkpoint names.
        found: String,
    },
    /// The log must not write extension lines, but this checkpoint has some.
    #[error("checkpoint has {0} extension lines; this log must not write any")]
    UnexpectedExtensions(usize),
}

/// The body of a checkpoint. Parsing it proves nothing: only [`VerifiedCheckpoint`] carries a
/// tree head that a log signed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The log's identity (the first line), e.g. `example.org/releases`.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 Merkle tree hash of the first `size` leaves.
    pub root: Hash,
    /// Opaque extension lines after the root, each non-empty, without their newline.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines, as Cairn's logs write them.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Checkpoint {
        Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// Parses checkpoint note text strictly: at least three lines, non-empty origin, size in
    /// canonical decimal that fits in a `u64`, root in canonical base64 of 32 bytes, non-empty
    /// extension lines, final newline. A size-0 checkpoint must carry the empty-tree root, since
    /// RFC 6962 defines exactly one root for the empty tree.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        if text.len() > MAX_NOTE_SIZE {
            return Err(CheckpointError::TooLarge(text.len()));
        }
        if let Some(c) = text.chars().find(|&c| c < ' ' && c != '\n') {
            return Err(CheckpointError::ControlCharacter(u32::from(c)));
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines(lines.len()));
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size = parse_size(size)?;
        let root = Hash::from_base64(root).map_err(|error| CheckpointError::BadRoot {
            line: root.chars().take(80).collect(),
            error,
        })?;
        if let Some(i) = extensions.iter().position(|l| l.is_empty()) {
            // Line numbers count from 1, after origin, size and root.
            return Err(CheckpointError::EmptyExtensionLine(i + 4));
        }
        if size == 0 && root != Hash::empty_tree() {
            return Err(CheckpointError::WrongEmptyTreeRoot(root));
        }
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            size,
            root,
            extensions: extensions.iter().map(|l| (*l).to_owned()).collect(),
        })
    }

    /// The note text of this checkpoint, ready to be signed. Fails if the fields could not be
    /// parsed back (empty origin, a line containing a newline or control character, an empty
    /// extension line, a size-0 checkpoint with another root): what is signed must be exactly
    /// what verifiers will read.
    pub fn to_text(&self) -> Result<String, CheckpointError> {
        let mut text = String::with_capacity(
            self.origin.len() + 70 + self.extensions.iter().map(|e| e.len() + 1).sum::<usize>(),
        );
        for line in std::iter::once(&self.origin).chain(&self.extensions) {
            if line.contains('\n') {
                return Err(CheckpointError::LineContainsNewline(
                    line.chars().take(80).collect(),
                ));
            }
        }
        text.push_str(&self.origin);
        text.push('\n');
        text.push_str(&self.size.to_string());
        text.push('\n');
        text.push_str(&STANDARD.encode(self.root.0));
        text.push('\n');
        for ext in &self.extensions {
            text.push_str(ext);
            text.push('\n');
        }
        // Parsing the result applies every rule once, in one place.
        let reparsed = Checkpoint::parse(&text)?;
        debug_assert_eq!(&reparsed, self);
        Ok(text)
    }
}

fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let canonical = !line.is_empty()
        && line.len() <= MAX_SIZE_DIGITS
        && line.bytes().all(|b| b.is_ascii_digit())
        && (line == "0" || !line.starts_with('0'));
    if !canonical {
        return Err(CheckpointError::NonCanonicalSize(
            line.chars().take(40).collect(),
        ));
    }
    // Only digits remain, so the one possible failure is overflow.
    line.parse::<u64>()
        .map_err(|_| CheckpointError::SizeOverflow(line.to_owned()))
}

/// A checkpoint whose note carries a valid signature from the log's key, for the expected
/// origin. There is no other way to make one: no public constructor, no deserialisation.
///
/// It keeps the whole note, as received, so that the policy code can check witness
/// cosignatures on it and so that it can be shown as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    checkpoint: Checkpoint,
    note: VerifiedNote,
    bytes: Vec<u8>,
}

impl VerifiedCheckpoint {
    /// Parses `note_bytes` as a signed note, requires a valid signature by `log_verifier`
    /// (signed-note rules: other signatures are ignored here, but a bad signature under the
    /// log's own name and key ID rejects the note), then parses the verified text as a
    /// checkpoint and requires its origin to be `expected_origin`.
    ///
    /// Extension lines are accepted, for foreign logs; see
    /// [`VerifiedCheckpoint::verify_without_extensions`].
    pub fn verify(
        note_bytes: &[u8],
        expected_origin: &str,
        log_verifier: &dyn NoteVerifier,
    ) -> Result<VerifiedCheckpoint, CheckpointError> {
        let note = Note::parse(note_bytes)?;
        // The signed-note spec says to ignore the text until a trusted signature verified, so
        // the signature is checked before the body is even parsed.
        let verified = note.verify(&[log_verifier])?;
        let checkpoint = Checkpoint::parse(verified.text())?;
        if checkpoint.origin != expected_origin {
            return Err(CheckpointError::OriginMismatch {
                expected: expected_origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(VerifiedCheckpoint {
            checkpoint,
            note: verified,
            bytes: note_bytes.to_vec(),
        })
    }

    /// Like [`VerifiedCheckpoint::verify`], and also refuses extension lines, as Cairn's own
    /// logs never write them.
    pub fn verify_without_extensions(
        note_bytes: &[u8],
        expected_origin: &str,
        log_verifier: &dyn NoteVerifier,
    ) -> Result<VerifiedCheckpoint, CheckpointError> {
        let verified = VerifiedCheckpoint::verify(note_bytes, expected_origin, log_verifier)?;
        match verified.checkpoint.extensions.len() {
            0 => Ok(verified),
            n => Err(CheckpointError::UnexpectedExtensions(n)),
        }
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.checkpoint.origin
    }

    /// The tree size the log signed.
    pub fn size(&self) -> u64 {
        self.checkpoint.size
    }

    /// The root hash the log signed.
    pub fn root(&self) -> &Hash {
        &self.checkpoint.root
    }

    /// The parsed checkpoint body.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The whole note, every signature line included (cosignatures are not verified yet).
    pub fn note(&self) -> &Note {
        self.note.note()
    }

    /// The note with the log signature that was verified.
    pub fn verified_note(&self) -> &VerifiedNote {
        &self.note
    }

    /// The note exactly as it was received.
    pub fn note_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::note::{Ed25519Signer, KeyName};

    // The example body from c2sp.org/tlog-checkpoint.
    const SPEC_TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn log_signer(origin: &str) -> Ed25519Signer {
        Ed25519Signer::from_seed(KeyName::new(origin).expect("valid name"), [9; 32])
    }

    fn root() -> Hash {
        leaf_hash(b"root")
    }

    #[test]
    fn spec_example_parses_and_formats_back() {
        let cp = Checkpoint::parse(SPEC_TEXT).expect("spec example parses");
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20_852_163);
        assert_eq!(
            cp.root.to_base64(),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert!(cp.extensions.is_empty());
        assert_eq!(cp.to_text().expect("formats"), SPEC_TEXT);
    }

    #[test]
    fn extension_lines_are_kept() {
        let text = format!("{SPEC_TEXT}Timestamp: 1692374735595899989\nsecond\n");
        let cp = Checkpoint::parse(&text).expect("extensions are allowed");
        assert_eq!(cp.extensions, ["Timestamp: 1692374735595899989", "second"]);
        assert_eq!(cp.to_text().expect("formats"), text);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let r = root().to_base64();
        let cases: Vec<(String, &str)> = vec![
            ("o\n1\n".into(), "two lines"),
            (format!("o\n1\n{r}"), "no final newline"),
            (format!("\n1\n{r}\n"), "empty origin"),
            (format!("o\n01\n{r}\n"), "leading zero"),
            (format!("o\n00\n{r}\n"), "zero with leading zero"),
            (format!("o\n+1\n{r}\n"), "plus sign"),
            (format!("o\n-1\n{r}\n"), "minus sign"),
            (format!("o\n 1\n{r}\n"), "space"),
            (format!("o\n\n{r}\n"), "empty size"),
            (format!("o\n1x\n{r}\n"), "trailing letter"),
            (format!("o\n18446744073709551616\n{r}\n"), "2^64"),
            (format!("o\n99999999999999999999\n{r}\n"), "20 nines"),
            (format!("o\n1\n{}\n", &r[..43]), "short base64"),
            (format!("o\n1\n{}\n", root().to_hex()), "hex root"),
            (format!("o\n1\n{r}\n\n"), "empty extension line"),
            (
                format!("o\n1\n{r}\next\n\nmore\n"),
                "empty extension line inside",
            ),
            (format!("o\n1\n{r}\n\r\n"), "control character"),
            (format!("o\n0\n{r}\n"), "size 0 with a non-empty root"),
        ];
        for (text, what) in cases {
            assert!(
                Checkpoint::parse(&text).is_err(),
                "{what} accepted: {text:?}"
            );
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551616\n{r}\n")),
            Err(CheckpointError::SizeOverflow("18446744073709551616".into()))
        );
    }

    #[test]
    fn size_bounds() {
        let r = root().to_base64();
        let max = Checkpoint::parse(&format!("o\n18446744073709551615\n{r}\n")).expect("max");
        assert_eq!(max.size, u64::MAX);
        let empty = Checkpoint::parse(&format!("o\n0\n{}\n", Hash::empty_tree().to_base64()))
            .expect("empty tree");
        assert_eq!(empty.size, 0);
    }

    #[test]
    fn to_text_refuses_what_parse_would_refuse() {
        let mut cp = Checkpoint::new("o", 1, root());
        assert!(cp.to_text().is_ok());
        cp.origin = "two\nlines".into();
        assert!(cp.to_text().is_err());
        cp.origin = String::new();
        assert_eq!(cp.to_text(), Err(CheckpointError::EmptyOrigin));
        cp.origin = "o".into();
        cp.extensions = vec![String::new()];
        assert!(cp.to_text().is_err());
        cp.extensions.clear();
        cp.size = 0;
        assert!(matches!(
            cp.to_text(),
            Err(CheckpointError::WrongEmptyTreeRoot(_))
        ));
    }

    #[test]
    fn verify_requires_log_signature_and_origin() {
        let signer = log_signer("example.org/releases");
        let text = Checkpoint::new("example.org/releases", 5, root())
            .to_text()
            .expect("text");
        let note = Note::sign(&text, &[&signer]).expect("sign").to_bytes();

        let vc = VerifiedCheckpoint::verify(&note, "example.org/releases", &signer.verifier())
            .expect("verifies");
        assert_eq!(vc.origin(), "example.org/releases");
        assert_eq!(vc.size(), 5);
        assert_eq!(vc.root(), &root());
        assert_eq!(vc.note_bytes(), note.as_slice());
        assert_eq!(vc.note().text(), text);
        assert!(vc.verified_note().is_signed_by(&signer.verifier()));

        assert!(matches!(
            VerifiedCheckpoint::verify(&note, "example.org/keys", &signer.verifier()),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        let other = log_signer("example.org/other");
        assert_eq!(
            VerifiedCheckpoint::verify(&note, "example.org/releases", &other.verifier()),
            Err(CheckpointError::Note(NoteError::NoKnownSignature))
        );
    }

    #[test]
    fn body_is_checked_only_after_the_signature() {
        let signer = log_signer("o");
        let note = Note::sign("o\n01\nnot a root\n", &[&signer])
            .expect("sign")
            .to_bytes();
        let stranger = log_signer("stranger");
        // Not signed by the expected key: the body must not even be looked at.
        assert_eq!(
            VerifiedCheckpoint::verify(&note, "o", &stranger.verifier()),
            Err(CheckpointError::Note(NoteError::NoKnownSignature))
        );
        assert!(matches!(
            VerifiedCheckpoint::verify(&note, "o", &signer.verifier()),
            Err(CheckpointError::NonCanonicalSize(_))
        ));
    }

    #[test]
    fn extensions_can_be_refused() {
        let signer = log_signer("o");
        let mut cp = Checkpoint::new("o", 3, root());
        cp.extensions.push("ext".into());
        let note = Note::sign(&cp.to_text().expect("text"), &[&signer])
            .expect("sign")
            .to_bytes();
        assert!(VerifiedCheckpoint::verify(&note, "o", &signer.verifier()).is_ok());
        assert_eq!(
            VerifiedCheckpoint::verify_without_extensions(&note, "o", &signer.verifier()),
            Err(CheckpointError::UnexpectedExtensions(1))
        );
    }

    #[test]
    fn bad_log_signature_rejects_even_with_other_signatures() {
        let signer = log_signer("o");
        let text = Checkpoint::new("o", 3, root()).to_text().expect("text");
        let mut note = Note::sign(&text, &[&signer]).expect("sign");
        let mut bad = note.signatures()[0].clone();
        bad.signature[0] ^= 1;
        let mut tampered = Note::sign(&text, &[]).expect("text");
        tampered.push_signature(bad).expect("push");
        assert!(matches!(
            VerifiedCheckpoint::verify(&tampered.to_bytes(), "o", &signer.verifier()),
            Err(CheckpointError::Note(NoteError::BadSignature { .. }))
        ));
        // An unknown extra signature is ignored.
        note.add_signature(&log_signer("witness")).expect("add");
        assert!(VerifiedCheckpoint::verify(&note.to_bytes(), "o", &signer.verifier()).is_ok());
    }
}
