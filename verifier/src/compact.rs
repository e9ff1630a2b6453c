//! The compact checkpoint line (`spec/channels.md`): a checkpoint and the log's signature on one
//! short line, for channels that carry a single line (a DNS TXT record, `update-latest.txt`).
//!
//! ```text
//! cairn-checkpoint/v1 <origin> <size> <root base64> <key ID hex> <signature base64>
//! ```
//!
//! The line stands for the note `<origin>\n<size>\n<root>\n` with one signature line by the key
//! named `<origin>`. Expanding it gives back that note, which is then verified exactly like a
//! checkpoint fetched over HTTP: this format adds no trust of its own.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::decimal::parse_canonical_u64;
use crate::hash::Hash;
use crate::note::{KeyName, Note, NoteSignature};

/// First field of every compact line.
pub const COMPACT_TAG: &str = "cairn-checkpoint/v1";

/// Longest compact line accepted (a DNS TXT record of a few strings).
pub const MAX_COMPACT_SIZE: usize = 1024;

/// Length of an Ed25519 signature, the only signature a compact line carries.
const ED25519_SIGNATURE_SIZE: usize = 64;
/// Its padded standard base64 length.
const ED25519_SIGNATURE_BASE64_LEN: usize = 88;

/// Why a compact line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    /// The line is longer than [`MAX_COMPACT_SIZE`].
    #[error("compact checkpoint is longer than {MAX_COMPACT_SIZE} bytes")]
    TooLarge,
    /// The line does not have the six fields, or a field is malformed.
    #[error("malformed compact checkpoint: {0}")]
    Malformed(&'static str),
    /// The note to compact is not a plain checkpoint signed by its origin's key.
    #[error("cannot compact this note: {0}")]
    NotCompactable(&'static str),
}

/// Encodes a checkpoint note as a compact line (without a trailing newline). The note must be a
/// three-line checkpoint carrying exactly one signature by a key named after its origin;
/// cosignatures and other signatures are left out.
pub fn to_compact(note: &Note) -> Result<String, CompactError> {
    let mut lines = note.text().lines();
    let (Some(origin), Some(size), Some(root), None) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return Err(CompactError::NotCompactable(
            "only a checkpoint of exactly three lines can be compacted",
        ));
    };
    // Exactly one signature may be named after the origin: a note may carry others under that
    // name (unknown key IDs are ignored by verification), and picking the first could publish
    // one that is not the log's.
    let mut named = note
        .signatures()
        .iter()
        .filter(|s| s.name.as_str() == origin);
    let sig = named.next().ok_or(CompactError::NotCompactable(
        "no signature by a key named after the origin",
    ))?;
    if named.next().is_some() {
        return Err(CompactError::NotCompactable(
            "more than one signature by a key named after the origin",
        ));
    }
    let line = format!(
        "{COMPACT_TAG} {origin} {size} {root} {:08x} {}",
        sig.key_id,
        STANDARD.encode(&sig.signature)
    );
    // Publish only what a client accepts and expands back to this note: a non-canonical size
    // or root, or a signature that is not Ed25519, would make a line every client refuses.
    match from_compact(&line) {
        Ok(expanded)
            if expanded.text() == note.text()
                && expanded.signatures() == std::slice::from_ref(sig) =>
        {
            Ok(line)
        }
        _ => Err(CompactError::NotCompactable(
            "size, root or signature is not in the compact line's canonical form",
        )),
    }
}

/// Expands a compact line (a trailing newline is allowed) into the signed note it stands for.
/// The result is unverified: verify it as a checkpoint.
pub fn from_compact(line: &str) -> Result<Note, CompactError> {
    if line.len() > MAX_COMPACT_SIZE {
        return Err(CompactError::TooLarge);
    }
    let line = line.strip_suffix('\n').unwrap_or(line);
    let fields: Vec<&str> = line.split(' ').collect();
    let [tag, origin, size, root, key_id, sig] = fields[..] else {
        return Err(CompactError::Malformed(
            "expected six fields separated by single spaces",
        ));
    };
    if tag != COMPACT_TAG {
        return Err(CompactError::Malformed("unknown tag"));
    }
    let name = KeyName::new(origin).map_err(|_| CompactError::Malformed("bad origin"))?;
    parse_canonical_u64(size).ok_or(CompactError::Malformed("bad size"))?;
    Hash::from_base64(root).map_err(|_| CompactError::Malformed("bad root hash"))?;
    if key_id.len() != 8
        || !key_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(CompactError::Malformed(
            "key ID must be eight lowercase hex digits",
        ));
    }
    let key_id =
        u32::from_str_radix(key_id, 16).map_err(|_| CompactError::Malformed("bad key ID"))?;
    // The channel carries the log's Ed25519 signature and nothing else (spec/channels.md).
    if sig.len() != ED25519_SIGNATURE_BASE64_LEN {
        return Err(CompactError::Malformed(
            "signature must be 64 bytes of Ed25519",
        ));
    }
    let signature = STANDARD
        .decode(sig)
        .map_err(|_| CompactError::Malformed("signature is not base64"))?;
    if signature.len() != ED25519_SIGNATURE_SIZE {
        return Err(CompactError::Malformed(
            "signature must be 64 bytes of Ed25519",
        ));
    }
    let mut note = Note::sign(&format!("{origin}\n{size}\n{root}\n"), &[])
        .map_err(|_| CompactError::Malformed("not a valid note text"))?;
    note.push_signature(NoteSignature {
        name,
        key_id,
        signature,
    })
    .map_err(|_| CompactError::Malformed("signature does not fit a note"))?;
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::note::{Ed25519Signer, NoteError, NoteSigner as _};

    fn log_key() -> Ed25519Signer {
        Ed25519Signer::from_seed(KeyName::new("example.org/releases").expect("name"), [3; 32])
    }

    fn checkpoint() -> Note {
        let text = format!(
            "example.org/releases\n42\n{}\n",
            leaf_hash(b"x").to_base64()
        );
        let witness = Ed25519Signer::from_seed(KeyName::new("w.example").expect("name"), [4; 32]);
        Note::sign(&text, &[&log_key(), &witness]).expect("sign")
    }

    #[test]
    fn round_trip_keeps_the_log_signature_only() {
        let note = checkpoint();
        let line = to_compact(&note).expect("compact");
        assert!(line.starts_with("cairn-checkpoint/v1 example.org/releases 42 "));
        assert!(
            line.len() < 255,
            "fits one TXT string: {} bytes",
            line.len()
        );
        let expanded = from_compact(&format!("{line}\n")).expect("expand");
        assert_eq!(expanded.text(), note.text());
        assert_eq!(expanded.signatures().len(), 1);
        assert_eq!(expanded.signatures()[0].key_id, log_key().key_id());
        expanded
            .verify(&[&log_key().verifier()])
            .expect("verifies with the log key");
    }

    #[test]
    fn signature_that_is_not_ed25519_sized_is_refused() {
        let line = to_compact(&checkpoint()).expect("compact");
        let (head, sig) = line.rsplit_once(' ').expect("six fields");
        assert_eq!(STANDARD.decode(sig).expect("base64").len(), 64);
        for len in [1, 63, 65, 72, 508] {
            let other = format!("{head} {}", STANDARD.encode(vec![7u8; len]));
            assert_eq!(
                from_compact(&other),
                Err(CompactError::Malformed(
                    "signature must be 64 bytes of Ed25519"
                )),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn to_compact_writes_only_lines_that_expand_back() {
        let root = leaf_hash(b"x").to_base64();
        for text in [
            format!("example.org/releases\n042\n{root}\n"),
            format!("example.org/releases\n+42\n{root}\n"),
            "example.org/releases\n42\nAAAA\n".to_owned(),
            format!("example.org/releases\n42\n{root} x\n"),
            format!("example.org/releases\n4 2\n{root}\n"),
        ] {
            let note = Note::sign(&text, &[&log_key()]).expect("sign");
            assert!(
                matches!(to_compact(&note), Err(CompactError::NotCompactable(_))),
                "compacted {text:?}"
            );
        }
        // A signature named after the origin that is not 64 bytes (here cosignature-sized).
        let mut note =
            Note::sign(&format!("example.org/releases\n42\n{root}\n"), &[]).expect("text");
        note.push_signature(NoteSignature {
            name: KeyName::new("example.org/releases").expect("name"),
            key_id: 1,
            signature: vec![7; 72],
        })
        .expect("fits");
        assert!(matches!(
            to_compact(&note),
            Err(CompactError::NotCompactable(_))
        ));
    }

    #[test]
    fn to_compact_refuses_two_signatures_named_after_the_origin() {
        // Anyone can add a signature line under the origin's name with another key ID: the full
        // checkpoint still verifies (unknown keys are ignored), but a compact line built from
        // the first origin-named signature would carry the bogus one and never verify.
        let real = checkpoint();
        let mut note = Note::sign(real.text(), &[]).expect("text");
        note.push_signature(NoteSignature {
            name: log_key().name().clone(),
            key_id: log_key().key_id() ^ 1,
            signature: vec![7; 64],
        })
        .expect("fits");
        for sig in real.signatures() {
            note.push_signature(sig.clone()).expect("fits");
        }
        note.verify(&[&log_key().verifier()])
            .expect("the full note verifies");
        assert_eq!(
            to_compact(&note),
            Err(CompactError::NotCompactable(
                "more than one signature by a key named after the origin"
            ))
        );
    }

    #[test]
    fn forged_or_malformed_lines_are_refused() {
        let line = to_compact(&checkpoint()).expect("compact");
        // A changed size keeps the syntax but breaks the signature.
        let forged = line.replace(" 42 ", " 43 ");
        let note = from_compact(&forged).expect("syntax is fine");
        assert_eq!(
            note.verify(&[&log_key().verifier()]),
            Err(NoteError::BadSignature {
                name: "example.org/releases".into(),
                key_id: log_key().key_id(),
            })
        );
        let fields: Vec<&str> = line.split(' ').collect();
        let [_, _, _, root, key_id, sig] = fields[..] else {
            panic!("six fields: {line}");
        };
        assert!(key_id.bytes().any(|b| b.is_ascii_alphabetic()), "{key_id}");
        // The same bytes with the lowest unused bit of the last base64 symbol set.
        let bump = |b64: &str, pad: &str| {
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let body = b64.strip_suffix(pad).expect("padded");
            let (head, last) = body.split_at(body.len() - 1);
            let value = ALPHABET
                .iter()
                .position(|&c| c == last.as_bytes()[0])
                .expect("base64 symbol");
            assert_eq!(value & 1, 0, "canonical {b64}");
            format!("{head}{}{pad}", char::from(ALPHABET[value + 1]))
        };
        for bad in [
            line.replace("cairn-checkpoint/v1", "cairn-checkpoint/v2"),
            line.replace(" 42 ", " 042 "),
            line.replace(" 42 ", " +42 "),
            line.replace(" 42 ", " \u{ff14}\u{ff12} "),
            line.replace(" 42 ", " 18446744073709551616 "),
            line.replace(' ', "  "),
            line.replacen(' ', "\t", 1),
            format!(" {line}"),
            format!("{line} "),
            format!("{line}\r\n"),
            format!("{line}\n\n"),
            format!("{line} extra"),
            line.replace("example.org/releases", "example.org+releases"),
            line.replace(key_id, &key_id.to_uppercase()),
            line.replace(key_id, &key_id[1..]),
            line.replace(root, &bump(root, "=")),
            line.replace(sig, &bump(sig, "==")),
            line.replace(sig, sig.trim_end_matches('=')),
        ] {
            assert!(
                matches!(from_compact(&bad), Err(CompactError::Malformed(_))),
                "accepted {bad:?}"
            );
        }
        assert_eq!(
            from_compact(&"x".repeat(MAX_COMPACT_SIZE + 1)),
            Err(CompactError::TooLarge)
        );
    }
}
