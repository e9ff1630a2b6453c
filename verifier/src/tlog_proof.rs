//! C2SP tlog-proof (`c2sp.org/tlog-proof@v1`): the offline `.tlog-proof` file.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the logged entry>
//! index <decimal>
//! <base64 hash>            (zero or more: the inclusion proof, leaf's sibling first)
//!
//! <checkpoint, verbatim, with its signatures>
//! ```
//!
//! Cairn puts the whole logged entry (a signed note) in the `extra` line, so the file alone lets an
//! offline client recompute the leaf hash. The extra data is unauthenticated until the inclusion
//! proof ties its hash to a verified checkpoint.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::checkpoint::{CheckpointError, VerifiedCheckpoint};
use crate::decimal::parse_canonical_u64;
use crate::hash::{Hash, leaf_hash};
use crate::merkle::{ProofError, verify_inclusion};
use crate::note::{MAX_NOTE_SIZE, NoteVerifier};

/// First line of every proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most inclusion-proof hashes: a tree of at most 2^64 leaves has paths of at most 64.
pub const MAX_PROOF_HASHES: usize = 64;

/// Largest extra data accepted: one log entry (a u16 entry-bundle slot).
pub const MAX_EXTRA_SIZE: usize = 65_535;

/// Largest proof file accepted, in bytes: header, extra, index, proof, checkpoint.
pub const MAX_TLOG_PROOF_SIZE: usize =
    64 + 6 + (MAX_EXTRA_SIZE / 3 + 1) * 4 + 32 + 45 * MAX_PROOF_HASHES + 1 + MAX_NOTE_SIZE;

/// Why a `.tlog-proof` file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogProofError {
    /// The file is larger than [`MAX_TLOG_PROOF_SIZE`].
    #[error("proof file is {0} bytes, larger than the limit")]
    TooLarge(usize),
    /// The file is not UTF-8.
    #[error("proof file is not UTF-8")]
    NotUtf8,
    /// The first line is not `c2sp.org/tlog-proof@v1`.
    #[error("proof file does not start with {TLOG_PROOF_HEADER:?}")]
    BadHeader,
    /// The `extra` line is malformed, empty or too large.
    #[error("bad extra line: {0}")]
    BadExtra(&'static str),
    /// The `index` line is missing or not a canonical decimal.
    #[error("bad index line {0:?}")]
    BadIndex(String),
    /// A proof line is not canonical base64 of 32 bytes.
    #[error("inclusion proof line {line} is not a base64 SHA-256 hash")]
    BadProofHash {
        /// 1-based position of the hash in the proof.
        line: usize,
    },
    /// More than [`MAX_PROOF_HASHES`] proof lines.
    #[error("inclusion proof has more than {MAX_PROOF_HASHES} hashes")]
    ProofTooLong,
    /// No blank line before the checkpoint, or no checkpoint after it.
    #[error("proof file has no checkpoint after a blank line")]
    MissingCheckpoint,
}

/// A parsed, unverified `.tlog-proof`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// The opaque extra data (in Cairn: the logged entry), if present.
    pub extra: Option<Vec<u8>>,
    /// Zero-based index of the entry in the log.
    pub index: u64,
    /// Inclusion proof, from the leaf's sibling up to the root's child.
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim, with its signatures.
    pub checkpoint: Vec<u8>,
}

impl TlogProof {
    /// Parses a proof file strictly: canonical base64 and decimals, no empty extra, no stray
    /// lines, size caps before decoding.
    pub fn parse(bytes: &[u8]) -> Result<TlogProof, TlogProofError> {
        if bytes.len() > MAX_TLOG_PROOF_SIZE {
            return Err(TlogProofError::TooLarge(bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| TlogProofError::NotUtf8)?;
        let (header, mut rest) = text.split_once('\n').ok_or(TlogProofError::BadHeader)?;
        if header != TLOG_PROOF_HEADER {
            return Err(TlogProofError::BadHeader);
        }
        let next_line = |rest: &mut &str| -> Option<String> {
            let (line, tail) = rest.split_once('\n')?;
            *rest = tail;
            Some(line.to_owned())
        };
        let mut line = next_line(&mut rest).ok_or(TlogProofError::BadIndex(String::new()))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            if b64.is_empty() {
                return Err(TlogProofError::BadExtra("empty"));
            }
            if b64.len() > (MAX_EXTRA_SIZE / 3 + 1) * 4 {
                return Err(TlogProofError::BadExtra("larger than one log entry"));
            }
            let data = STANDARD
                .decode(b64)
                .map_err(|_| TlogProofError::BadExtra("not canonical standard base64"))?;
            if data.len() > MAX_EXTRA_SIZE {
                return Err(TlogProofError::BadExtra("larger than one log entry"));
            }
            extra = Some(data);
            line = next_line(&mut rest).ok_or(TlogProofError::BadIndex(String::new()))?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_canonical_u64)
            .ok_or_else(|| TlogProofError::BadIndex(line.chars().take(40).collect()))?;
        let mut proof = Vec::new();
        loop {
            let line = next_line(&mut rest).ok_or(TlogProofError::MissingCheckpoint)?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::ProofTooLong);
            }
            let hash = Hash::from_base64(&line).map_err(|_| TlogProofError::BadProofHash {
                line: proof.len() + 1,
            })?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err(TlogProofError::MissingCheckpoint);
        }
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: rest.as_bytes().to_vec(),
        })
    }

    /// Encodes the proof file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", STANDARD.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&format!("{}\n", h.to_base64()));
        }
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.checkpoint);
        bytes
    }
}

/// Why a parsed `.tlog-proof` did not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlogProofVerifyError {
    /// The proof has no `extra` line, so there is no entry to hash: Cairn's proofs always carry
    /// the entry.
    #[error("proof file carries no entry (no extra line)")]
    MissingEntry,
    /// The checkpoint is malformed, for another origin, or not signed by the log's key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[source] CheckpointError),
    /// The inclusion proof does not tie the entry to the checkpoint's root (a security failure
    /// when [`ProofError::is_security_failure`] says so).
    #[error("inclusion proof: {0}")]
    Inclusion(#[source] ProofError),
}

/// A `.tlog-proof` whose checkpoint carries a valid signature by the log's key and whose entry
/// is included in that checkpoint's tree. Only [`TlogProof::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTlogProof {
    entry: Vec<u8>,
    index: u64,
    checkpoint: VerifiedCheckpoint,
}

impl VerifiedTlogProof {
    /// The logged entry (the `extra` data), now authenticated by the inclusion proof.
    pub fn entry(&self) -> &[u8] {
        &self.entry
    }

    /// The entry's index in the log.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The checkpoint the entry is included in.
    pub fn checkpoint(&self) -> &VerifiedCheckpoint {
        &self.checkpoint
    }
}

impl TlogProof {
    /// Verifies the proof: the checkpoint must be signed by `log_verifier` for `origin`, without
    /// extension lines (Cairn's logs write none), and the inclusion proof must lead from the
    /// leaf hash of the `extra` data at `index` to the checkpoint's root (RFC 9162 section
    /// 2.1.3.2).
    ///
    /// This proves that the log committed to the entry. It says nothing about whether the entry
    /// is valid (key-log judgement), fresh, or witnessed: those are the caller's next checks.
    pub fn verify(
        &self,
        origin: &str,
        log_verifier: &dyn NoteVerifier,
    ) -> Result<VerifiedTlogProof, TlogProofVerifyError> {
        let entry = self
            .extra
            .as_ref()
            .ok_or(TlogProofVerifyError::MissingEntry)?;
        let checkpoint =
            VerifiedCheckpoint::verify_without_extensions(&self.checkpoint, origin, log_verifier)
                .map_err(TlogProofVerifyError::Checkpoint)?;
        verify_inclusion(
            &leaf_hash(entry),
            self.index,
            checkpoint.size(),
            &self.proof,
            checkpoint.root(),
        )
        .map_err(TlogProofVerifyError::Inclusion)?;
        Ok(VerifiedTlogProof {
            entry: entry.clone(),
            index: self.index,
            checkpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    fn sample() -> TlogProof {
        TlogProof {
            extra: Some(b"cairn/release/v1\nname a\n".to_vec()),
            index: 73894,
            proof: vec![leaf_hash(b"a"), leaf_hash(b"b")],
            checkpoint: b"example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n\xe2\x80\x94 example.com/fancylog hI2DJwAA\n".to_vec(),
        }
    }

    #[test]
    fn round_trip() {
        let p = sample();
        let bytes = p.to_bytes();
        assert_eq!(TlogProof::parse(&bytes), Ok(p.clone()));
        let no_extra = TlogProof {
            extra: None,
            proof: vec![],
            ..p
        };
        assert_eq!(TlogProof::parse(&no_extra.to_bytes()), Ok(no_extra));
    }

    #[test]
    fn verify_accepts_a_real_proof_and_refuses_tampering() {
        use crate::checkpoint::Checkpoint;
        use crate::merkle::MemoryTree;
        use crate::note::{Ed25519Signer, KeyName, Note};

        let signer =
            Ed25519Signer::from_seed(KeyName::new("example.org/releases").expect("name"), [7; 32]);
        let verifier = signer.verifier();
        let mut tree = MemoryTree::new();
        let entries: Vec<Vec<u8>> = (0..5)
            .map(|i| format!("entry {i}\n").into_bytes())
            .collect();
        for e in &entries {
            tree.append(e);
        }
        let text = Checkpoint::new("example.org/releases", 5, tree.root())
            .to_text()
            .expect("checkpoint");
        let checkpoint = Note::sign(&text, &[&signer]).expect("sign").to_bytes();
        let proof = TlogProof {
            extra: Some(entries[3].clone()),
            index: 3,
            proof: tree.prove_inclusion(3, 5).expect("prove"),
            checkpoint,
        };
        let verified = proof
            .verify("example.org/releases", &verifier)
            .expect("verifies");
        assert_eq!(verified.entry(), entries[3].as_slice());
        assert_eq!(verified.index(), 3);
        assert_eq!(verified.checkpoint().size(), 5);

        let other_entry = TlogProof {
            extra: Some(entries[2].clone()),
            ..proof.clone()
        };
        assert!(matches!(
            other_entry.verify("example.org/releases", &verifier),
            Err(TlogProofVerifyError::Inclusion(e)) if e.is_security_failure()
        ));
        let other_origin = proof.verify("example.org/keys", &verifier);
        assert!(matches!(
            other_origin,
            Err(TlogProofVerifyError::Checkpoint(_))
        ));
        let stranger =
            Ed25519Signer::from_seed(KeyName::new("example.org/releases").expect("name"), [8; 32]);
        assert!(matches!(
            proof.verify("example.org/releases", &stranger.verifier()),
            Err(TlogProofVerifyError::Checkpoint(_))
        ));
        let no_entry = TlogProof {
            extra: None,
            ..proof
        };
        assert!(matches!(
            no_entry.verify("example.org/releases", &verifier),
            Err(TlogProofVerifyError::MissingEntry)
        ));
    }

    #[test]
    fn extra_size_cap_is_exact() {
        let with_extra = |len: usize| TlogProof {
            extra: Some(vec![b'e'; len]),
            ..sample()
        };
        let at_cap = with_extra(MAX_EXTRA_SIZE);
        assert_eq!(TlogProof::parse(&at_cap.to_bytes()), Ok(at_cap));
        assert_eq!(
            TlogProof::parse(&with_extra(MAX_EXTRA_SIZE + 1).to_bytes()),
            Err(TlogProofError::BadExtra("larger than one log entry"))
        );
        // The largest file the caps allow is under MAX_TLOG_PROOF_SIZE.
        let largest = TlogProof {
            extra: Some(vec![0; MAX_EXTRA_SIZE]),
            index: u64::MAX,
            proof: vec![leaf_hash(b"p"); MAX_PROOF_HASHES],
            checkpoint: vec![b'c'; MAX_NOTE_SIZE],
        };
        let bytes = largest.to_bytes();
        assert!(bytes.len() <= MAX_TLOG_PROOF_SIZE, "{}", bytes.len());
        assert_eq!(TlogProof::parse(&bytes), Ok(largest));
    }

    #[test]
    fn refusals() {
        let good = String::from_utf8(sample().to_bytes()).expect("utf8");
        let cases = [
            (
                good.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
                "header",
            ),
            (good.replace("index 73894", "index 073894"), "leading zero"),
            (good.replace("index 73894", "index -1"), "sign"),
            (good.replace("index 73894\n", ""), "no index"),
            (good.replace("extra ", "extra  "), "double space"),
            (good.replacen("\n\n", "\n", 1), "no blank line"),
            (
                good.replace(&leaf_hash(b"a").to_base64(), "AAAA"),
                "short hash",
            ),
            (
                good.replace("extra Y2Fpcm", "extra !2Fpcm"),
                "bad base64 extra",
            ),
            (
                good.split("\n\n").next().expect("head").to_owned() + "\n\n",
                "no checkpoint",
            ),
            (
                "c2sp.org/tlog-proof@v1\nextra \nindex 1\n\nx\n".to_owned(),
                "empty extra",
            ),
        ];
        for (text, what) in cases {
            assert!(
                TlogProof::parse(text.as_bytes()).is_err(),
                "{what}: accepted {text:?}"
            );
        }
        // Second spellings of the same proof are refused with the error that names them.
        let hash = leaf_hash(b"a").to_base64();
        // The same 32 bytes with the two unused low bits of the last symbol set to 01.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let last = ALPHABET
            .iter()
            .position(|&c| c == hash.as_bytes()[42])
            .expect("base64 symbol");
        assert_eq!(last & 0b11, 0, "canonical {hash}");
        let high_bits = format!("{}{}=", &hash[..42], char::from(ALPHABET[last + 1]));
        let extra = STANDARD.encode(b"cairn/release/v1\nname a\n");
        let spelled: [(String, TlogProofError); 7] = [
            (good.replace("\n", "\r\n"), TlogProofError::BadHeader),
            (
                good.replace("index 73894", "index \u{ff17}3894"),
                TlogProofError::BadIndex("index \u{ff17}3894".into()),
            ),
            (
                good.replace("index 73894", "index  73894"),
                TlogProofError::BadIndex("index  73894".into()),
            ),
            (
                good.replace(&hash, &high_bits),
                TlogProofError::BadProofHash { line: 1 },
            ),
            (
                good.replace(&hash, hash.trim_end_matches('=')),
                TlogProofError::BadProofHash { line: 1 },
            ),
            (
                good.replace(&extra, &format!("{extra}=")),
                TlogProofError::BadExtra("not canonical standard base64"),
            ),
            (
                good.replacen("\n\n", "\n \n", 1),
                TlogProofError::BadProofHash { line: 3 },
            ),
        ];
        for (text, error) in spelled {
            assert_eq!(TlogProof::parse(text.as_bytes()), Err(error), "{text:?}");
        }
        let mut long = String::from("c2sp.org/tlog-proof@v1\nindex 1\n");
        for _ in 0..=MAX_PROOF_HASHES {
            long.push_str(&leaf_hash(b"x").to_base64());
            long.push('\n');
        }
        long.push_str("\ncheckpoint\n");
        assert_eq!(
            TlogProof::parse(long.as_bytes()),
            Err(TlogProofError::ProofTooLong)
        );
    }
}
