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
//!
//! A log "MUST NOT sign any checkpoint which is inconsistent with any checkpoint it previously
//! signed" (section "Signatures"). [`verify_consistent`] checks two verified checkpoints of one log
//! against each other with an RFC 9162 consistency proof, and when they conflict returns an
//! [`Inconsistency`] that keeps both signed notes and the proof, so the client can save them as
//! evidence ([`Inconsistency::to_evidence`]), which anyone holding the log's key can confirm
//! ([`Inconsistency::from_evidence`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::decimal::is_canonical_decimal;
use crate::hash::{Hash, HashError};
use crate::merkle::{ProofError, verify_consistency};
use crate::note::{MAX_NOTE_SIZE, Note, NoteError, NoteVerifier, VerifiedNote};
use crate::security::SecurityError;

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
    /// The checkpoint presented as newer is smaller than the one already trusted: a rollback,
    /// or the arguments were given in the wrong order.
    #[error("newer checkpoint has size {newer}, smaller than the older {older}")]
    SizeDecreased {
        /// Size of the checkpoint already trusted.
        older: u64,
        /// Size of the checkpoint presented as newer.
        newer: u64,
    },
    /// The consistency proof is malformed (wrong number of hashes, or hashes where none are
    /// needed). It proves nothing either way, so it is not evidence against the log.
    #[error("malformed consistency proof: {0}")]
    MalformedProof(String),
    /// Security failure: two checkpoints signed by the log conflict
    /// ([`SecurityError::Inconsistent`], which carries the evidence).
    #[error(transparent)]
    Security(SecurityError),
}

impl CheckpointError {
    /// The evidence, when this error is a log inconsistency.
    pub fn inconsistency(&self) -> Option<&Inconsistency> {
        match self {
            CheckpointError::Security(SecurityError::Inconsistent(found)) => Some(found),
            _ => None,
        }
    }
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
    if !is_canonical_decimal(line) {
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

/// Checks that `newer` extends `older`: both are checkpoints of the same log, `newer` is at least
/// as large, and `proof` is a valid RFC 9162 consistency proof between them.
///
/// Equal sizes need equal roots and an empty proof; from the empty tree (size 0, whose root
/// [`Checkpoint::parse`] pins) any tree is consistent, with an empty proof. Two signed roots that
/// cannot both be right, or a well-formed proof that does not connect them, are returned as
/// [`CheckpointError::Security`] with the evidence ([`SecurityError::Inconsistent`]); a malformed proof is
/// [`CheckpointError::MalformedProof`] and a smaller `newer` is [`CheckpointError::SizeDecreased`].
pub fn verify_consistent(
    older: &VerifiedCheckpoint,
    newer: &VerifiedCheckpoint,
    proof: &[Hash],
) -> Result<(), CheckpointError> {
    if older.origin() != newer.origin() {
        return Err(CheckpointError::OriginMismatch {
            expected: older.origin().to_owned(),
            found: newer.origin().to_owned(),
        });
    }
    if newer.size() < older.size() {
        return Err(CheckpointError::SizeDecreased {
            older: older.size(),
            newer: newer.size(),
        });
    }
    if older.size() == newer.size() && older.root() != newer.root() {
        // Two signed roots for one tree size: conclusive whatever the proof says.
        return Err(Inconsistency::error(
            older,
            newer,
            proof,
            format!("two different roots signed for tree size {}", older.size()),
        ));
    }
    if older.size() == 0 || older.size() == newer.size() {
        if !proof.is_empty() {
            return Err(CheckpointError::MalformedProof(format!(
                "{} hashes where an empty proof is needed",
                proof.len()
            )));
        }
        return Ok(());
    }
    match verify_consistency(
        older.size(),
        older.root(),
        newer.size(),
        newer.root(),
        proof,
    ) {
        Ok(()) => Ok(()),
        Err(e @ ProofError::Security(_)) => Err(Inconsistency::error(
            older,
            newer,
            proof,
            format!("consistency proof failed: {e}"),
        )),
        Err(e) => Err(CheckpointError::MalformedProof(e.to_string())),
    }
}

/// Evidence that a log signed two checkpoints that cannot both be right: both signed notes,
/// verbatim, and the consistency proof the log served. Only [`verify_consistent`] makes one.
///
/// When both checkpoints have the same size the two signed notes alone prove the misbehaviour
/// to anyone holding the log's key. Otherwise the evidence is the proof the log served, which
/// anyone can re-check, and the log can be asked again for a proof between the two sizes: a
/// consistent log can always produce one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inconsistency {
    older: VerifiedCheckpoint,
    newer: VerifiedCheckpoint,
    proof: Vec<Hash>,
    reason: String,
}

/// First line of the evidence text, naming its format.
pub const EVIDENCE_HEADER: &str = "cairn/inconsistency-evidence/v1";

impl Inconsistency {
    /// Wraps the evidence in the error every caller of [`verify_consistent`] sees.
    fn error(
        older: &VerifiedCheckpoint,
        newer: &VerifiedCheckpoint,
        proof: &[Hash],
        reason: String,
    ) -> CheckpointError {
        CheckpointError::Security(SecurityError::Inconsistent(Box::new(Inconsistency {
            older: older.clone(),
            newer: newer.clone(),
            proof: proof.to_vec(),
            reason,
        })))
    }

    /// The checkpoint that was trusted first.
    pub fn older(&self) -> &VerifiedCheckpoint {
        &self.older
    }

    /// The checkpoint that conflicts with it.
    pub fn newer(&self) -> &VerifiedCheckpoint {
        &self.newer
    }

    /// The consistency proof that was checked.
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// Why the two checkpoints conflict, in one line.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The evidence as text, for a client to write to a file:
    ///
    /// ```text
    /// cairn/inconsistency-evidence/v1
    /// origin <origin>
    /// reason <one line>
    /// older <tree size> <note length in bytes>
    /// <the older signed note, verbatim>
    /// newer <tree size> <note length in bytes>
    /// <the newer signed note, verbatim>
    /// proof <number of hashes>
    /// <one base64 hash per line>
    /// ```
    ///
    /// The byte lengths delimit the notes, which contain blank lines of their own.
    pub fn to_evidence(&self) -> String {
        let mut out = String::new();
        out.push_str(EVIDENCE_HEADER);
        out.push('\n');
        out.push_str(&format!("origin {}\n", self.older.origin()));
        out.push_str(&format!("reason {}\n", self.reason));
        for (label, cp) in [("older", &self.older), ("newer", &self.newer)] {
            out.push_str(&format!(
                "{label} {} {}\n",
                cp.size(),
                cp.note_bytes().len()
            ));
            // A verified note is UTF-8 (Note::parse checked it), so this is lossless.
            out.push_str(&String::from_utf8_lossy(cp.note_bytes()));
        }
        out.push_str(&format!("proof {}\n", self.proof.len()));
        for h in &self.proof {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out
    }
}

/// Largest evidence file [`Inconsistency::from_evidence`] reads: two notes, a proof, headers.
pub const MAX_EVIDENCE_SIZE: usize = 2 * MAX_NOTE_SIZE + 16 * 1024;

/// Most hashes an evidence file's proof may hold (a consistency proof between two trees of at
/// most 2^64 leaves has fewer than 128).
const MAX_EVIDENCE_PROOF: usize = 128;

/// Why an evidence file does not prove that a log misbehaved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The file is larger than [`MAX_EVIDENCE_SIZE`].
    #[error("evidence is larger than {MAX_EVIDENCE_SIZE} bytes")]
    TooLarge,
    /// The file does not follow the format of [`Inconsistency::to_evidence`].
    #[error("malformed evidence: {0}")]
    Malformed(&'static str),
    /// One of the two checkpoints does not verify with the log's key.
    #[error("the evidence's {which} checkpoint: {error}")]
    Checkpoint {
        /// `older` or `newer`.
        which: &'static str,
        /// Why it was refused.
        error: CheckpointError,
    },
    /// Both checkpoints verify, but with the proof they do not conflict.
    #[error("the evidence shows no inconsistency: {0}")]
    NotInconsistent(String),
}

impl Inconsistency {
    /// Confirms an evidence file written by [`Inconsistency::to_evidence`], as a third party
    /// would: both notes must verify as checkpoints of the file's origin under `log_verifier`,
    /// and [`verify_consistent`] must find them in conflict with the file's proof. The
    /// `reason` line is informational; the returned value carries the reason found now.
    pub fn from_evidence(
        evidence: &[u8],
        log_verifier: &dyn NoteVerifier,
    ) -> Result<Inconsistency, EvidenceError> {
        if evidence.len() > MAX_EVIDENCE_SIZE {
            return Err(EvidenceError::TooLarge);
        }
        let mut rest = evidence;
        let line = |rest: &mut &[u8]| -> Result<String, EvidenceError> {
            let at = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or(EvidenceError::Malformed("a line does not end in a newline"))?;
            let text = std::str::from_utf8(&rest[..at])
                .map_err(|_| EvidenceError::Malformed("a line is not UTF-8"))?
                .to_owned();
            *rest = &rest[at + 1..];
            Ok(text)
        };
        if line(&mut rest)? != EVIDENCE_HEADER {
            return Err(EvidenceError::Malformed(
                "the first line is not the evidence header",
            ));
        }
        let origin = line(&mut rest)?
            .strip_prefix("origin ")
            .ok_or(EvidenceError::Malformed("expected the origin line"))?
            .to_owned();
        if !line(&mut rest)?.starts_with("reason ") {
            return Err(EvidenceError::Malformed("expected the reason line"));
        }
        let mut checkpoints = Vec::with_capacity(2);
        for which in ["older", "newer"] {
            let header = line(&mut rest)?;
            let fields: Vec<&str> = header.split(' ').collect();
            let [label, size, len] = fields[..] else {
                return Err(EvidenceError::Malformed(
                    "expected `<label> <size> <length>`",
                ));
            };
            if label != which {
                return Err(EvidenceError::Malformed("checkpoints out of order"));
            }
            let size = parse_canonical(size)?;
            let len = usize::try_from(parse_canonical(len)?)
                .map_err(|_| EvidenceError::Malformed("note length out of range"))?;
            if len > rest.len() {
                return Err(EvidenceError::Malformed("a note is cut short"));
            }
            let (note, tail) = rest.split_at(len);
            rest = tail;
            let cp = VerifiedCheckpoint::verify(note, &origin, log_verifier)
                .map_err(|error| EvidenceError::Checkpoint { which, error })?;
            if cp.size() != size {
                return Err(EvidenceError::Malformed(
                    "a checkpoint's size differs from its header",
                ));
            }
            checkpoints.push(cp);
        }
        let count = line(&mut rest)?
            .strip_prefix("proof ")
            .ok_or(EvidenceError::Malformed("expected the proof line"))
            .and_then(parse_canonical)?;
        let count = usize::try_from(count)
            .ok()
            .filter(|&n| n <= MAX_EVIDENCE_PROOF)
            .ok_or(EvidenceError::Malformed("too many proof hashes"))?;
        let mut proof = Vec::with_capacity(count);
        for _ in 0..count {
            proof.push(
                Hash::from_base64(&line(&mut rest)?).map_err(|_| {
                    EvidenceError::Malformed("a proof hash is not base64 of 32 bytes")
                })?,
            );
        }
        if !rest.is_empty() {
            return Err(EvidenceError::Malformed("bytes after the proof"));
        }
        let [older, newer] = <[VerifiedCheckpoint; 2]>::try_from(checkpoints)
            .map_err(|_| EvidenceError::Malformed("expected two checkpoints"))?;
        match verify_consistent(&older, &newer, &proof) {
            Err(CheckpointError::Security(SecurityError::Inconsistent(found))) => Ok(*found),
            Ok(()) => Err(EvidenceError::NotInconsistent(
                "the proof shows the two checkpoints consistent".to_owned(),
            )),
            Err(e) => Err(EvidenceError::NotInconsistent(e.to_string())),
        }
    }
}

fn parse_canonical(field: &str) -> Result<u64, EvidenceError> {
    crate::decimal::parse_canonical_u64(field).ok_or(EvidenceError::Malformed(
        "a number is not a canonical decimal",
    ))
}

impl std::fmt::Display for Inconsistency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: checkpoints of sizes {} and {} of log {:?} conflict",
            self.reason,
            self.older.size(),
            self.newer.size(),
            self.older.origin()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::merkle::MemoryTree;
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

    struct Log {
        signer: Ed25519Signer,
        tree: MemoryTree,
    }

    impl Log {
        fn new(origin: &str, leaves: std::ops::Range<u32>) -> Log {
            let mut tree = MemoryTree::new();
            for i in leaves {
                tree.append(format!("leaf {i}").as_bytes());
            }
            Log {
                signer: log_signer(origin),
                tree,
            }
        }

        fn checkpoint(&self, size: u64) -> VerifiedCheckpoint {
            let origin = self.signer.verifier().name().as_str().to_owned();
            let root = self.tree.root_at(size).expect("size within the tree");
            let text = Checkpoint::new(origin.clone(), size, root)
                .to_text()
                .expect("text");
            let note = Note::sign(&text, &[&self.signer]).expect("sign");
            VerifiedCheckpoint::verify(&note.to_bytes(), &origin, &self.signer.verifier())
                .expect("verifies")
        }
    }

    fn inconsistency(result: Result<(), CheckpointError>) -> Inconsistency {
        match result {
            Err(CheckpointError::Security(SecurityError::Inconsistent(evidence))) => *evidence,
            other => panic!("expected an inconsistency, got {other:?}"),
        }
    }

    #[test]
    fn consistent_checkpoints_pass() {
        let log = Log::new("example.org/releases", 0..10);
        for size1 in 0..=10 {
            for size2 in size1..=10 {
                let proof = if size1 == 0 {
                    Vec::new()
                } else {
                    log.tree.prove_consistency(size1, size2).expect("proof")
                };
                verify_consistent(&log.checkpoint(size1), &log.checkpoint(size2), &proof)
                    .unwrap_or_else(|e| panic!("{size1} -> {size2}: {e}"));
            }
        }
    }

    #[test]
    fn evidence_round_trips_and_is_confirmed_only_when_it_shows_a_conflict() {
        let honest = Log::new("example.org/releases", 0..10);
        let mut forked = Log::new("example.org/releases", 0..4);
        for i in 0..6 {
            forked.tree.append(format!("evil {i}").as_bytes());
        }
        let verifier = honest.signer.verifier();
        // A failed proof between different sizes, and two roots for one size.
        let cases = [
            (
                honest.checkpoint(6),
                forked.checkpoint(10),
                forked.tree.prove_consistency(6, 10).expect("proof"),
            ),
            (honest.checkpoint(7), forked.checkpoint(7), Vec::new()),
        ];
        for (older, newer, proof) in cases {
            let evidence = inconsistency(verify_consistent(&older, &newer, &proof));
            let text = evidence.to_evidence();
            let confirmed =
                Inconsistency::from_evidence(text.as_bytes(), &verifier).expect("confirmed");
            assert_eq!(confirmed, evidence);

            // Another key, a cut file, trailing bytes, a changed size header: refused.
            let other = log_signer("example.org/releases2").verifier();
            assert!(matches!(
                Inconsistency::from_evidence(text.as_bytes(), &other),
                Err(EvidenceError::Checkpoint { .. })
            ));
            assert!(
                Inconsistency::from_evidence(&text.as_bytes()[..text.len() - 2], &verifier)
                    .is_err()
            );
            assert!(
                Inconsistency::from_evidence(format!("{text}x\n").as_bytes(), &verifier).is_err()
            );
            let header = format!("older {} ", older.size());
            let bumped = text.replacen(&header, &format!("older {} ", older.size() + 1), 1);
            assert_eq!(
                Inconsistency::from_evidence(bumped.as_bytes(), &verifier),
                Err(EvidenceError::Malformed(
                    "a checkpoint's size differs from its header"
                ))
            );
        }
        // Two honest checkpoints with a valid proof, written in the evidence format: no conflict.
        let older = honest.checkpoint(4);
        let newer = honest.checkpoint(9);
        let good = honest.tree.prove_consistency(4, 9).expect("proof");
        let mut bad = good.clone();
        bad[0] = leaf_hash(b"flipped");
        let evidence = inconsistency(verify_consistent(&older, &newer, &bad));
        let mut text = evidence.to_evidence();
        let tail = text
            .rfind(&format!("proof {}\n", bad.len()))
            .expect("proof line");
        text.truncate(tail);
        text.push_str(&format!("proof {}\n", good.len()));
        for h in &good {
            text.push_str(&format!("{}\n", h.to_base64()));
        }
        assert!(matches!(
            Inconsistency::from_evidence(text.as_bytes(), &honest.signer.verifier()),
            Err(EvidenceError::NotInconsistent(_))
        ));
    }

    #[test]
    fn forked_log_yields_evidence() {
        let honest = Log::new("example.org/releases", 0..10);
        // Same key, same first 4 leaves, different history afterwards.
        let mut forked = Log::new("example.org/releases", 0..4);
        for i in 0..6 {
            forked.tree.append(format!("evil {i}").as_bytes());
        }
        let older = honest.checkpoint(4);
        let newer = forked.checkpoint(10);
        let proof = honest.tree.prove_consistency(4, 10).expect("proof");
        let evidence = inconsistency(verify_consistent(&older, &newer, &proof));
        assert_eq!(evidence.older(), &older);
        assert_eq!(evidence.newer(), &newer);
        assert_eq!(evidence.proof(), proof.as_slice());

        let text = evidence.to_evidence();
        let older_note = String::from_utf8(older.note_bytes().to_vec()).expect("utf8");
        let newer_note = String::from_utf8(newer.note_bytes().to_vec()).expect("utf8");
        let expected_start = format!(
            "{EVIDENCE_HEADER}\norigin example.org/releases\nreason {}\nolder 4 {}\n{older_note}newer 10 {}\n{newer_note}proof {}\n",
            evidence.reason(),
            older_note.len(),
            newer_note.len(),
            proof.len()
        );
        assert!(text.starts_with(&expected_start), "{text}");
        for h in &proof {
            assert!(text.contains(&format!("\n{}\n", h.to_base64())));
        }
        assert!(evidence.to_string().contains("sizes 4 and 10"));
    }

    #[test]
    fn same_size_different_roots_is_conclusive() {
        let a = Log::new("o", 0..5);
        let b = Log::new("o", 1..6);
        let evidence = inconsistency(verify_consistent(&a.checkpoint(5), &b.checkpoint(5), &[]));
        assert!(evidence.reason().contains("two different roots"));
        assert!(evidence.proof().is_empty());
    }

    #[test]
    fn malformed_inputs_are_not_evidence() {
        let log = Log::new("o", 0..8);
        let proof = log.tree.prove_consistency(3, 8).expect("proof");
        let (c3, c8) = (log.checkpoint(3), log.checkpoint(8));
        assert!(matches!(
            verify_consistent(&c3, &c8, &proof[..proof.len() - 1]),
            Err(CheckpointError::MalformedProof(_))
        ));
        assert!(matches!(
            verify_consistent(&c8, &c8, &proof),
            Err(CheckpointError::MalformedProof(_))
        ));
        assert!(matches!(
            verify_consistent(&log.checkpoint(0), &c8, &proof),
            Err(CheckpointError::MalformedProof(_))
        ));
        assert_eq!(
            verify_consistent(&c8, &c3, &proof),
            Err(CheckpointError::SizeDecreased { older: 8, newer: 3 })
        );
        let other = Log::new("p", 0..8);
        assert!(matches!(
            verify_consistent(&c3, &other.checkpoint(8), &proof),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        // A bit flipped in a well-formed proof is a failed proof, reported with the evidence.
        let mut flipped = proof.clone();
        flipped[0].0[0] ^= 1;
        inconsistency(verify_consistent(&c3, &c8, &flipped));
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
