//! C2SP tlog-witness (`c2sp.org/tlog-witness`, section "add-checkpoint"): the request body a log
//! sends a witness, and the witness's decision, as pure functions so that every status code can
//! be unit-tested without a server.
//!
//! The request body is an old size line (`old <decimal>`), up to 63 consistency proof lines (one
//! base64 hash each), an empty line, then the checkpoint (a signed note). The witness answers:
//!
//! | status | when |
//! |---|---|
//! | 400 | the body is malformed, or the old size is larger than the checkpoint's size |
//! | 403 | no signature by a key the witness trusts for that origin verifies, or one of them is bad (checked before anything else about the signatures) |
//! | 404 | the origin is not a log the witness is configured for |
//! | 409 | the old size is not the size of the latest checkpoint the witness cosigned (the reply body is that size, `text/x.tlog.size`) |
//! | 422 | the consistency proof does not verify (or is not empty from size 0); the sizes are equal and the roots differ (a fork); a size-0 checkpoint whose root is not the empty tree's |
//! | 200 | cosigned: the witness stores the new checkpoint and returns its cosignature lines |
//!
//! The compare-and-swap on the stored checkpoint (check the old size and store the new
//! checkpoint atomically) is the caller's job: [`decide`] is given the stored checkpoint and
//! says what to do; the caller must hold the origin's lock from reading the stored checkpoint
//! until the new one is durably stored.

use crate::checkpoint::{CheckpointError, VerifiedCheckpoint, verify_consistent};
use crate::decimal::parse_canonical_u64;
use crate::hash::Hash;
use crate::note::{MAX_NOTE_SIZE, Note, NoteError, NoteSignature, NoteVerifier};

/// Most consistency proof lines a request may carry (the spec: "MUST NOT send more than 63").
pub const MAX_PROOF_LINES: usize = 63;

/// Largest request body: the old size line, 63 proof lines and a checkpoint note of the largest
/// size a note may have.
pub const MAX_ADD_CHECKPOINT_BODY: usize = 4 + 20 + 1 + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_SIZE;

/// The `Content-Type` of a 409 reply, whose body is the witness's size and a newline.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// An `add-checkpoint` request body, parsed. The checkpoint is kept as note bytes: which key
/// verifies it depends on the origin, which only the witness's configuration knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the log believes the witness last cosigned.
    pub old_size: u64,
    /// RFC 6962 consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The checkpoint, a signed note.
    pub checkpoint: Vec<u8>,
}

impl AddCheckpoint {
    /// Parses a request body strictly: size cap first, `old <canonical decimal>\n`, at most 63
    /// canonical base64 hashes one per line, an empty line, then a note (parsed, so a malformed
    /// note is refused as malformed here).
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, Refusal> {
        if body.len() > MAX_ADD_CHECKPOINT_BODY {
            return Err(Refusal::Malformed(format!(
                "body is {} bytes, larger than the limit of {MAX_ADD_CHECKPOINT_BODY}",
                body.len()
            )));
        }
        let mut rest = body;
        let mut next_line = |what: &str| -> Result<&[u8], Refusal> {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| Refusal::Malformed(format!("{what}: no newline")))?;
            let line = &rest[..end];
            rest = &rest[end + 1..];
            Ok(line)
        };
        let old = next_line("old size line")?;
        let old = std::str::from_utf8(old)
            .ok()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or_else(|| {
                Refusal::Malformed("the first line must be \"old <size>\"".to_owned())
            })?;
        let old_size = parse_canonical_u64(old).ok_or_else(|| {
            Refusal::Malformed(format!("old size {old:?} is not a canonical decimal"))
        })?;
        let mut proof = Vec::new();
        loop {
            let line = next_line("consistency proof")?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(Refusal::Malformed(format!(
                    "more than {MAX_PROOF_LINES} consistency proof lines"
                )));
            }
            let text = std::str::from_utf8(line).map_err(|_| {
                Refusal::Malformed(format!("proof line {} is not UTF-8", proof.len() + 1))
            })?;
            let hash = Hash::from_base64(text)
                .map_err(|e| Refusal::Malformed(format!("proof line {}: {e}", proof.len() + 1)))?;
            proof.push(hash);
        }
        Note::parse(rest).map_err(|e| Refusal::Malformed(format!("checkpoint: {e}")))?;
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// The request body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            out.push_str(&hash.to_base64());
            out.push('\n');
        }
        out.push('\n');
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// The checkpoint's origin line, read *before* any signature is verified, only to pick the
    /// key that must verify it (the spec's 404 for an unknown origin comes before the 403).
    pub fn origin(&self) -> Result<String, Refusal> {
        let note = Note::parse(&self.checkpoint)
            .map_err(|e| Refusal::Malformed(format!("checkpoint: {e}")))?;
        let origin = note.text().split('\n').next().unwrap_or_default();
        if origin.is_empty() {
            return Err(Refusal::Malformed("checkpoint origin is empty".to_owned()));
        }
        Ok(origin.to_owned())
    }
}

/// Why a witness refuses to cosign, with the HTTP status the spec assigns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// 400: the body, or the checkpoint in it, is malformed.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 400: the old size is larger than the checkpoint's size.
    #[error("old size {old} is larger than the checkpoint size {size}")]
    OldSizeTooLarge {
        /// The request's old size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// 403: no signature by the origin's trusted key verifies.
    #[error("checkpoint is not signed by the key this witness trusts for {origin}: {reason}")]
    NotSigned {
        /// The checkpoint's origin.
        origin: String,
        /// What verification said.
        reason: String,
    },
    /// 404: the witness does not witness this origin.
    #[error("unknown log {0:?}")]
    UnknownLog(String),
    /// 409: the old size is not the size the witness has. The reply body is `witness_size`.
    #[error("old size {old} does not match the witness's latest cosigned size {witness_size}")]
    SizeMismatch {
        /// The request's old size.
        old: u64,
        /// The size of the latest checkpoint the witness cosigned for this origin.
        witness_size: u64,
    },
    /// 422: same size as the witness's checkpoint, different root: the log forked. (Not a
    /// 409: a client reads 409 as "retry from this size", which would be the same request.)
    #[error("checkpoint of size {size} has a different root from the one this witness cosigned")]
    RootMismatch {
        /// The common size.
        size: u64,
        /// The witness's size, equal to `size`.
        witness_size: u64,
    },
    /// 422: a checkpoint of size 0 whose root is not the empty tree's hash.
    #[error("checkpoint of size 0 has root {0}, not the empty tree's")]
    EmptyTreeRoot(String),
    /// 422: the consistency proof does not prove the new checkpoint extends the witness's.
    #[error("consistency proof from {old} to {size} does not verify: {reason}")]
    BadProof {
        /// The witness's size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
        /// Why.
        reason: String,
        /// Whether the proof had the right shape and the two trees conflict under it: only
        /// then is the request evidence about the log (a malformed proof is not).
        conflict: bool,
    },
}

impl Refusal {
    /// The HTTP status the spec requires for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) | Refusal::OldSizeTooLarge { .. } => 400,
            Refusal::NotSigned { .. } => 403,
            Refusal::UnknownLog(_) => 404,
            Refusal::SizeMismatch { .. } => 409,
            Refusal::RootMismatch { .. } | Refusal::BadProof { .. } | Refusal::EmptyTreeRoot(_) => {
                422
            }
        }
    }

    /// Whether the refused request is evidence about the log worth keeping: two checkpoints
    /// signed by the log that conflict (a second root for one size, or a well-formed proof that
    /// fails). Anything else (a malformed proof, a replayed checkpoint) proves nothing.
    pub fn is_fork_evidence(&self) -> bool {
        matches!(
            self,
            Refusal::RootMismatch { .. } | Refusal::BadProof { conflict: true, .. }
        )
    }

    /// For a 409, the witness's size: the reply body (`<size>\n`, [`SIZE_CONTENT_TYPE`]).
    pub fn witness_size(&self) -> Option<u64> {
        match self {
            Refusal::SizeMismatch { witness_size, .. } => Some(*witness_size),
            _ => None,
        }
    }
}

/// Decides an `add-checkpoint` request for a known origin: `verifiers` are the keys the
/// witness trusts for `origin` (one or several; their names need not be the origin), `latest`
/// the checkpoint the witness last cosigned for it (`None`: never). Returns the verified
/// checkpoint to cosign and store, or the refusal to answer.
///
/// The checks follow the spec's order: signature (403: none of the trusted keys verifies, or a
/// trusted key's signature is bad), old size not above the checkpoint's size (400), old size
/// equal to the witness's size (409 with that size), equal sizes need equal roots (422, a fork),
/// a size-0 checkpoint needs the empty root (422), the consistency proof must verify (422; it
/// must be empty from size 0).
pub fn decide(
    request: &AddCheckpoint,
    origin: &str,
    verifiers: &[&dyn NoteVerifier],
    latest: Option<&VerifiedCheckpoint>,
) -> Result<VerifiedCheckpoint, Refusal> {
    let checkpoint = verify_with_any(&request.checkpoint, origin, verifiers)?;
    let size = checkpoint.size();
    if request.old_size > size {
        return Err(Refusal::OldSizeTooLarge {
            old: request.old_size,
            size,
        });
    }
    let witness_size = latest.map_or(0, VerifiedCheckpoint::size);
    if request.old_size != witness_size {
        return Err(Refusal::SizeMismatch {
            old: request.old_size,
            witness_size,
        });
    }
    let Some(latest) = latest else {
        // Never cosigned this log: any checkpoint is consistent with the empty tree.
        if !request.proof.is_empty() {
            return Err(Refusal::BadProof {
                old: 0,
                size,
                reason: format!(
                    "{} hashes where the proof from size 0 must be empty",
                    request.proof.len()
                ),
                conflict: false,
            });
        }
        return Ok(checkpoint);
    };
    if latest.size() == size && latest.root() != checkpoint.root() {
        return Err(Refusal::RootMismatch { size, witness_size });
    }
    verify_consistent(latest, &checkpoint, &request.proof).map_err(|e| {
        match e.inconsistency() {
            Some(evidence) => Refusal::BadProof {
                old: witness_size,
                size,
                reason: evidence.reason().to_owned(),
                conflict: true,
            },
            None => Refusal::BadProof {
                old: witness_size,
                size,
                reason: e.to_string(),
                conflict: false,
            },
        }
    })?;
    Ok(checkpoint)
}

/// Verifies a checkpoint under any of the origin's trusted keys. A bad signature by any of them
/// is a 403 whatever else the note holds (signed-note: a known key's failing signature rejects
/// the note); a note with no line from any of them is a 403 too.
pub fn verify_with_any(
    checkpoint: &[u8],
    origin: &str,
    verifiers: &[&dyn NoteVerifier],
) -> Result<VerifiedCheckpoint, Refusal> {
    let not_signed = |reason: String| Refusal::NotSigned {
        origin: origin.to_owned(),
        reason,
    };
    let mut verified = None;
    let mut last = NoteError::NoKnownSignature;
    for verifier in verifiers {
        match VerifiedCheckpoint::verify(checkpoint, origin, *verifier) {
            Ok(cp) => {
                verified.get_or_insert(cp);
            }
            Err(CheckpointError::Note(NoteError::NoKnownSignature)) => {}
            Err(CheckpointError::Note(
                e @ (NoteError::BadSignature { .. } | NoteError::AmbiguousKey { .. }),
            )) => return Err(not_signed(e.to_string())),
            Err(CheckpointError::Note(e @ NoteError::DuplicateSignature { .. })) => {
                last = e;
            }
            // Only a signed checkpoint gets this far (the signature is checked before the
            // text is parsed): a log signed an impossible tree, which tlog-witness answers 422.
            Err(CheckpointError::WrongEmptyTreeRoot(root)) => {
                return Err(Refusal::EmptyTreeRoot(root.to_base64()));
            }
            Err(other) => return Err(Refusal::Malformed(format!("checkpoint: {other}"))),
        }
    }
    match verified {
        Some(cp) => Ok(cp),
        None if matches!(last, NoteError::DuplicateSignature { .. }) => {
            Err(Refusal::Malformed(format!("checkpoint: {last}")))
        }
        None => Err(not_signed(last.to_string())),
    }
}

/// The checkpoint a witness stores and serves after cosigning: the checkpoint text with the log
/// signatures that verified and the witness's cosignature, and no other signature line.
pub fn cosigned_note(
    checkpoint: &VerifiedCheckpoint,
    cosignature: NoteSignature,
) -> Result<Note, NoteError> {
    let mut note = Note::sign(checkpoint.note().text(), &[])?;
    for sig in checkpoint.verified_note().verified_signatures() {
        note.push_signature(sig.clone())?;
    }
    note.push_signature(cosignature)?;
    Ok(note)
}

/// Parses a witness's 200 reply (signature lines) against the checkpoint text it cosigned, as
/// the spec suggests: the lines are appended to the text as a note's signature block.
pub fn parse_cosignature_lines(
    checkpoint_text: &str,
    reply: &[u8],
) -> Result<Vec<NoteSignature>, NoteError> {
    let mut bytes = Vec::with_capacity(checkpoint_text.len() + 1 + reply.len());
    bytes.extend_from_slice(checkpoint_text.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(reply);
    Ok(Note::parse(&bytes)?.signatures().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::cosignature::CosignatureSigner;
    use crate::merkle::MemoryTree;
    use crate::note::{Ed25519Signer, KeyName};

    const ORIGIN: &str = "example.org/releases";

    fn log_key() -> Ed25519Signer {
        Ed25519Signer::from_seed(KeyName::new(ORIGIN).expect("name"), [7; 32])
    }

    fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.append(format!("entry {i}").as_bytes());
        }
        t
    }

    fn signed(tree: &MemoryTree, size: u64) -> Vec<u8> {
        let text = Checkpoint::new(ORIGIN, size, tree.root_at(size).expect("root"))
            .to_text()
            .expect("text");
        Note::sign(&text, &[&log_key()]).expect("sign").to_bytes()
    }

    fn verified(tree: &MemoryTree, size: u64) -> VerifiedCheckpoint {
        VerifiedCheckpoint::verify(&signed(tree, size), ORIGIN, &log_key().verifier())
            .expect("verify")
    }

    fn request(tree: &MemoryTree, old: u64, size: u64) -> AddCheckpoint {
        AddCheckpoint {
            old_size: old,
            proof: if old == 0 {
                Vec::new()
            } else {
                tree.prove_consistency(old, size).expect("proof")
            },
            checkpoint: signed(tree, size),
        }
    }

    fn run(req: &AddCheckpoint, latest: Option<&VerifiedCheckpoint>) -> Result<u64, Refusal> {
        decide(req, ORIGIN, &[&log_key().verifier()], latest).map(|c| c.size())
    }

    // The example request of c2sp.org/tlog-witness parses, and encodes back byte for byte.
    #[test]
    fn spec_example_body_round_trips() {
        let body = "old 20852014\n\
            PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
            jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
            5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
            /6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
            \n\
            example.com/behind-the-sofa\n\
            20852163\n\
            CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
            \n\
            \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
            \u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";
        let req = AddCheckpoint::parse(body.as_bytes()).expect("spec body parses");
        assert_eq!(req.old_size, 20_852_014);
        assert_eq!(req.proof.len(), 4);
        assert_eq!(req.origin().as_deref(), Ok("example.com/behind-the-sofa"));
        assert_eq!(req.to_bytes(), body.as_bytes());
    }

    #[test]
    fn malformed_bodies_are_400() {
        let good = request(&tree(4), 2, 4).to_bytes();
        let text = String::from_utf8(good.clone()).expect("utf8");
        for (what, body) in [
            ("no old line", text.replacen("old 2\n", "", 1)),
            ("leading zero", text.replacen("old 2\n", "old 02\n", 1)),
            ("sign", text.replacen("old 2\n", "old +2\n", 1)),
            ("two spaces", text.replacen("old 2\n", "old  2\n", 1)),
            (
                "bad hash",
                text.replacen("old 2\n", "old 2\nnot base64!\n", 1),
            ),
            ("no blank line", text.replacen("\n\n", "\n", 1)),
            ("no note", "old 0\n\n".to_owned()),
        ] {
            let err = AddCheckpoint::parse(body.as_bytes()).expect_err(what);
            assert_eq!(err.status(), 400, "{what}: {err}");
        }
        let mut many = String::from("old 1\n");
        for _ in 0..64 {
            many.push_str(&Hash([0; 32]).to_base64());
            many.push('\n');
        }
        many.push('\n');
        many.push_str(std::str::from_utf8(&signed(&tree(4), 4)).expect("utf8"));
        assert!(matches!(
            AddCheckpoint::parse(many.as_bytes()),
            Err(Refusal::Malformed(m)) if m.contains("63")
        ));
        let huge = vec![b'x'; MAX_ADD_CHECKPOINT_BODY + 1];
        assert_eq!(
            AddCheckpoint::parse(&huge).map_err(|e| e.status()),
            Err(400)
        );
        assert!(AddCheckpoint::parse(&good).is_ok());
    }

    #[test]
    fn first_checkpoint_then_growth_is_cosigned() {
        let t = tree(10);
        assert_eq!(run(&request(&t, 0, 3), None), Ok(3));
        let at3 = verified(&t, 3);
        assert_eq!(run(&request(&t, 3, 10), Some(&at3)), Ok(10));
        // The same checkpoint again is cosigned again (a fresh timestamp).
        assert_eq!(run(&request(&t, 3, 3), Some(&at3)), Ok(3));
        // Size 0 is a checkpoint too.
        assert_eq!(run(&request(&t, 0, 0), None), Ok(0));
    }

    #[test]
    fn wrong_old_size_is_409_with_the_witness_size() {
        let t = tree(10);
        let at5 = verified(&t, 5);
        for old in [0, 3, 6] {
            let size = if old == 6 { 10 } else { 7 };
            let err = run(&request(&t, old, size), Some(&at5)).expect_err("conflict");
            assert_eq!(err.status(), 409, "{err}");
            assert_eq!(err.witness_size(), Some(5));
        }
        // A log that does not know the witness's size learns it from the reply.
        let err = run(&request(&t, 0, 10), Some(&at5)).expect_err("conflict");
        assert_eq!(err.witness_size(), Some(5));
    }

    #[test]
    fn same_size_different_root_is_422_a_fork() {
        let at5 = verified(&tree(5), 5);
        let mut other = tree(4);
        other.append(b"a different fifth entry");
        let err = run(&request(&other, 5, 5), Some(&at5)).expect_err("fork");
        assert!(
            matches!(err, Refusal::RootMismatch { size: 5, .. }),
            "{err}"
        );
        // 422, not 409: a 409 tells the log to retry from size 5, which is this request.
        assert_eq!(err.status(), 422);
        assert_eq!(err.witness_size(), None);
        assert!(err.is_fork_evidence());
    }

    #[test]
    fn signed_empty_checkpoint_with_a_root_is_422() {
        // Checkpoint::to_text refuses to write it, so spell it out.
        let text = format!(
            "{ORIGIN}\n0\n{}\n",
            crate::hash::leaf_hash(b"not empty").to_base64()
        );
        let req = AddCheckpoint {
            old_size: 0,
            proof: Vec::new(),
            checkpoint: Note::sign(&text, &[&log_key()]).expect("sign").to_bytes(),
        };
        let err = run(&req, None).expect_err("refused");
        assert!(matches!(err, Refusal::EmptyTreeRoot(_)), "{err}");
        assert_eq!(err.status(), 422);
        // The genuine empty tree is cosigned.
        assert_eq!(run(&request(&MemoryTree::new(), 0, 0), None), Ok(0));
    }

    #[test]
    fn bad_signature_by_the_trusted_key_is_403_before_duplicates() {
        let good = request(&tree(3), 0, 3);
        let text = String::from_utf8(good.checkpoint.clone()).expect("utf8");
        let line = &text[text.find('\u{2014}').expect("line")..];
        // Flip one base64 character of the signature (after the key ID).
        let mut bad_line = line.to_owned();
        let at = bad_line.len() - 6;
        let flipped = if &bad_line[at..=at] == "A" { "B" } else { "A" };
        bad_line.replace_range(at..=at, flipped);
        for (what, checkpoint) in [
            (
                "bad then good",
                text.replacen(line, &format!("{bad_line}{line}"), 1),
            ),
            (
                "good then bad",
                text.replacen(line, &format!("{line}{bad_line}"), 1),
            ),
            ("bad alone", text.replacen(line, &bad_line, 1)),
        ] {
            let req = AddCheckpoint {
                checkpoint: checkpoint.into_bytes(),
                ..good.clone()
            };
            let err = run(&req, None).expect_err(what);
            assert_eq!(err.status(), 403, "{what}: {err}");
        }
    }

    #[test]
    fn several_keys_per_origin_and_names_other_than_the_origin() {
        // A sum.golang.org-style log: the key's name is not the origin.
        let other_name =
            Ed25519Signer::from_seed(KeyName::new("sum.example").expect("name"), [8; 32]);
        let t = tree(3);
        let text = Checkpoint::new(ORIGIN, 3, t.root())
            .to_text()
            .expect("text");
        let req = AddCheckpoint {
            old_size: 0,
            proof: Vec::new(),
            checkpoint: Note::sign(&text, &[&other_name]).expect("sign").to_bytes(),
        };
        let keys: [&dyn NoteVerifier; 2] = [&log_key().verifier(), &other_name.verifier()];
        assert_eq!(decide(&req, ORIGIN, &keys, None).map(|c| c.size()), Ok(3));
        // Only the first key configured: 403.
        assert_eq!(
            decide(&req, ORIGIN, &keys[..1], None).map_err(|e| e.status()),
            Err(403)
        );
        // Unknown lines (an ML-DSA-44-sized cosignature, a long name) are ignored.
        let mut bytes = req.checkpoint.clone();
        bytes.extend_from_slice(
            format!(
                "\u{2014} witness.example/pq {}\n\u{2014} {} AQIDBAU=\n",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [6u8; 2432]),
                "x".repeat(1000)
            )
            .as_bytes(),
        );
        let req = AddCheckpoint {
            checkpoint: bytes,
            ..req
        };
        AddCheckpoint::parse(&req.to_bytes()).expect("the body parses");
        assert_eq!(decide(&req, ORIGIN, &keys, None).map(|c| c.size()), Ok(3));
    }

    #[test]
    fn inconsistent_checkpoint_is_422() {
        let at5 = verified(&tree(5), 5);
        // A log that rewrote entry 2 and grew to 8: its proof from 5 cannot connect.
        let mut forked = MemoryTree::new();
        for i in 0..8 {
            let data = if i == 2 {
                "rewritten".to_owned()
            } else {
                format!("entry {i}")
            };
            forked.append(data.as_bytes());
        }
        let err = run(&request(&forked, 5, 8), Some(&at5)).expect_err("inconsistent");
        assert_eq!(err.status(), 422, "{err}");
        // A proof of the wrong length, or one from size 0, is refused the same way.
        let t = tree(8);
        let mut short = request(&t, 5, 8);
        short.proof.pop();
        assert_eq!(run(&short, Some(&at5)).map_err(|e| e.status()), Err(422));
        let mut from_zero = request(&t, 0, 8);
        from_zero.proof.push(Hash([1; 32]));
        assert_eq!(run(&from_zero, None).map_err(|e| e.status()), Err(422));
    }

    #[test]
    fn old_size_above_the_checkpoint_is_400() {
        let t = tree(5);
        let req = AddCheckpoint {
            old_size: 6,
            proof: Vec::new(),
            checkpoint: signed(&t, 5),
        };
        assert_eq!(
            run(&req, None),
            Err(Refusal::OldSizeTooLarge { old: 6, size: 5 })
        );
    }

    #[test]
    fn unsigned_or_foreign_checkpoints_are_403() {
        let t = tree(5);
        let stranger = Ed25519Signer::from_seed(KeyName::new(ORIGIN).expect("name"), [8; 32]);
        let text = Checkpoint::new(ORIGIN, 5, t.root_at(5).expect("root"))
            .to_text()
            .expect("text");
        let req = AddCheckpoint {
            old_size: 0,
            proof: Vec::new(),
            checkpoint: Note::sign(&text, &[&stranger]).expect("sign").to_bytes(),
        };
        let err = run(&req, None).expect_err("foreign key");
        assert_eq!(err.status(), 403, "{err}");
        // The log's key name with a forged signature: its key ID matches, the signature not.
        let mut forged = Note::sign(&text, &[&log_key()]).expect("sign");
        let mut sig = forged.signatures()[0].clone();
        sig.signature[0] ^= 1;
        forged = Note::sign(&text, &[]).expect("note");
        forged.push_signature(sig).expect("push");
        let req = AddCheckpoint {
            checkpoint: forged.to_bytes(),
            ..req
        };
        assert_eq!(run(&req, None).map_err(|e| e.status()), Err(403));
    }

    #[test]
    fn cosigned_note_keeps_the_log_signature_and_the_cosignature_only() {
        let t = tree(3);
        let stranger = Ed25519Signer::from_seed(KeyName::new("someone").expect("name"), [9; 32]);
        let text = std::str::from_utf8(&signed(&t, 3))
            .expect("utf8")
            .split("\n\n")
            .next()
            .expect("text")
            .to_owned()
            + "\n";
        let note = Note::sign(&text, &[&log_key(), &stranger]).expect("sign");
        let req = AddCheckpoint {
            old_size: 0,
            proof: Vec::new(),
            checkpoint: note.to_bytes(),
        };
        let cp = decide(&req, ORIGIN, &[&log_key().verifier()], None).expect("cosign");
        let w = CosignatureSigner::from_seed(KeyName::new("w.example").expect("name"), [3; 32]);
        let sig = w.cosign(&cp, 1_700_000_000).expect("cosign");
        let out = cosigned_note(&cp, sig.clone()).expect("note");
        assert_eq!(out.signatures().len(), 2);
        assert_eq!(w.verifier().cosignature_time(&out), Ok(1_700_000_000));
        // The reply line parses back against the checkpoint text.
        let reply = sig.to_line();
        assert_eq!(
            parse_cosignature_lines(out.text(), reply.as_bytes()),
            Ok(vec![sig])
        );
    }
}
