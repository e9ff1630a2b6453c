//! Property tests for the parsers and verifiers of untrusted input (notes, checkpoints, verifier
//! keys, cosignatures, ECDSA and RFC 6962 signatures): they never panic on arbitrary input, and
//! what this crate formats it parses back unchanged.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use cairn_verifier::checkpoint::{Checkpoint, VerifiedCheckpoint};
use cairn_verifier::cosignature::{CosignatureSigner, CosignatureVerifier};
use cairn_verifier::hash::Hash;
use cairn_verifier::keys::parse_vkey;
use cairn_verifier::note::{Ed25519Signer, KeyName, Note, NoteSigner as _, NoteVerifier};

const SPEC_CHECKPOINT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

/// Real keys of every type, to run verification paths (not just key parsing) on junk.
const VKEYS: [&str; 4] = [
    "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
    "rekor.sigstore.dev+c0d23d6a+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=",
    "example.org/witness+cacf2e50+BGbguFjkYqYJ5m/nE3DIFtiEb/ED1UmaIqf+w3/bxCSn",
    "rome.ct.filippo.io/2024h1+78f4abae+BTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAFzPC3fap+uINc1RQ4eRbYMUt84+bKkA8GDLN8KwVdzAgYhYSv4kS8XSheGLAHCWhIJTJbuC3sL88bNMTtrsBM=",
];

/// A line of note text: any characters but ASCII controls (and so no newline).
fn line() -> impl Strategy<Value = String> {
    "[^\\x00-\\x1f]{0,30}"
}

fn non_empty_line() -> impl Strategy<Value = String> {
    "[^\\x00-\\x1f]{1,30}"
}

fn key_name() -> impl Strategy<Value = KeyName> {
    "[a-zA-Z0-9./_:é-]{1,24}".prop_map(|n| KeyName::new(&n).expect("strategy makes valid names"))
}

/// Text that is almost a note: real structure with random pieces, to get past the first checks.
fn note_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(line(), 0..5),
        prop::collection::vec(
            (
                "[a-zA-Z0-9. +/]{0,12}",
                prop::collection::vec(any::<u8>(), 0..80),
            ),
            0..4,
        ),
        prop::sample::select(vec!["", "\n", "\n\n", "junk"]),
    )
        .prop_map(|(lines, sigs, tail)| {
            let mut out = String::new();
            for l in lines {
                out.push_str(&l);
                out.push('\n');
            }
            out.push('\n');
            for (name, raw) in sigs {
                out.push_str(&format!("\u{2014} {name} {}\n", STANDARD.encode(raw)));
            }
            out.push_str(tail);
            out.into_bytes()
        })
}

/// Text that is almost a checkpoint.
fn checkpoint_like() -> impl Strategy<Value = String> {
    let size = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        "[-+0-9 a]{0,22}",
        Just("18446744073709551616".to_owned()),
    ];
    let root = prop_oneof![
        any::<[u8; 32]>().prop_map(|b| STANDARD.encode(b)),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| STANDARD.encode(b)),
        "[A-Za-z0-9+/=]{40,48}",
    ];
    (
        line(),
        size,
        root,
        prop::collection::vec(line(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(origin, size, root, ext, newline)| {
            let mut out = format!("{origin}\n{size}\n{root}");
            for e in ext {
                out.push('\n');
                out.push_str(&e);
            }
            if newline {
                out.push('\n');
            }
            out
        })
}

fn valid_checkpoint() -> impl Strategy<Value = Checkpoint> {
    (
        non_empty_line(),
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::collection::vec(non_empty_line(), 0..4),
    )
        .prop_map(|(origin, size, root, extensions)| Checkpoint {
            origin,
            size,
            // The empty tree has exactly one root.
            root: if size == 0 {
                Hash::empty_tree()
            } else {
                Hash(root)
            },
            extensions,
        })
}

fn vkey_like() -> impl Strategy<Value = String> {
    (
        "[a-z. +]{0,10}",
        "[0-9a-fA-F]{0,9}",
        0u8..8,
        prop::collection::vec(any::<u8>(), 0..100),
    )
        .prop_map(|(name, id, t, key)| {
            let mut material = vec![t];
            material.extend(key);
            format!("{name}+{id}+{}", STANDARD.encode(material))
        })
}

proptest! {
    #[test]
    fn note_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = Note::parse(&bytes);
    }

    #[test]
    fn note_parse_and_verify_never_panic_on_note_like_input(bytes in note_like()) {
        if let Ok(note) = Note::parse(&bytes) {
            // Whatever parses formats back to the same bytes: one meaning per byte string.
            prop_assert_eq!(note.to_bytes(), bytes);
            let keys: Vec<_> = VKEYS.iter().map(|k| parse_vkey(k).expect("real key")).collect();
            let known: Vec<&dyn NoteVerifier> = keys.iter().map(|k| k as &dyn NoteVerifier).collect();
            let _ = note.verify(&known);
        }
    }

    #[test]
    fn note_sign_then_parse_round_trips(
        lines in prop::collection::vec(line(), 1..6),
        names in prop::collection::btree_set(key_name(), 1..4),
        seed in any::<u8>(),
    ) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        prop_assume!(text != "\n");
        let signers: Vec<Ed25519Signer> = names
            .into_iter()
            .map(|n| Ed25519Signer::from_seed(n, [seed; 32]))
            .collect();
        let refs: Vec<&dyn cairn_verifier::note::NoteSigner> =
            signers.iter().map(|s| s as &dyn cairn_verifier::note::NoteSigner).collect();
        let note = Note::sign(&text, &refs).expect("valid text signs");
        let parsed = Note::parse(&note.to_bytes()).expect("what we sign parses");
        prop_assert_eq!(&parsed, &note);
        prop_assert_eq!(parsed.text(), text.as_str());
        for s in &signers {
            let verified = parsed.verify(&[&s.verifier()]).expect("verifies");
            prop_assert!(verified.is_signed_by(&s.verifier()));
            prop_assert_eq!(verified.verified_signatures()[0].key_id, s.key_id());
        }
    }

    #[test]
    fn checkpoint_parse_never_panics(text in any::<String>()) {
        let _ = Checkpoint::parse(&text);
    }

    #[test]
    fn checkpoint_parse_of_near_checkpoints(text in checkpoint_like()) {
        if let Ok(cp) = Checkpoint::parse(&text) {
            // Parsing accepts only the canonical spelling, so formatting gives the input back.
            prop_assert_eq!(cp.to_text().expect("parsed checkpoints format"), text);
        }
    }

    #[test]
    fn checkpoint_format_then_parse_round_trips(cp in valid_checkpoint()) {
        let text = cp.to_text().expect("valid checkpoint formats");
        prop_assert_eq!(Checkpoint::parse(&text), Ok(cp));
    }

    #[test]
    fn verified_checkpoint_never_panics(bytes in note_like(), origin in line()) {
        for vkey in VKEYS {
            let key = parse_vkey(vkey).expect("real key");
            let _ = VerifiedCheckpoint::verify(&bytes, &origin, &key);
        }
    }

    #[test]
    fn signed_checkpoint_verifies(cp in valid_checkpoint(), seed in any::<[u8; 32]>()) {
        let signer = Ed25519Signer::from_seed(KeyName::new("log.example").expect("name"), seed);
        let note = Note::sign(&cp.to_text().expect("text"), &[&signer]).expect("sign");
        let vc = VerifiedCheckpoint::verify(&note.to_bytes(), &cp.origin, &signer.verifier())
            .expect("verifies");
        prop_assert_eq!(vc.checkpoint(), &cp);
    }

    #[test]
    fn parse_vkey_never_panics(s in any::<String>()) {
        let _ = parse_vkey(&s);
    }

    #[test]
    fn parse_vkey_never_panics_on_vkey_like_input(s in vkey_like()) {
        if let Ok(v) = parse_vkey(&s) {
            prop_assert_eq!(v.to_vkey(), s);
        }
    }

    #[test]
    fn verifiers_never_panic_on_arbitrary_signatures(
        text in prop::collection::vec(any::<u8>(), 0..120),
        sig in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        for vkey in VKEYS {
            let key = parse_vkey(vkey).expect("real key");
            prop_assert!(!key.verify(&text, &sig));
            prop_assert!(!key.verify(SPEC_CHECKPOINT.as_bytes(), &sig));
        }
    }

    #[test]
    fn cosignature_verification_never_panics(
        text in prop_oneof![
            checkpoint_like().prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..120),
        ],
        sig in prop::collection::vec(any::<u8>(), 64..80),
        time in any::<u64>(),
    ) {
        let v = CosignatureVerifier::from_vkey(VKEYS[2]).expect("real key");
        prop_assert!(v.verify_cosignature(&text, &sig).is_err());
        let mut timed = time.to_be_bytes().to_vec();
        timed.extend_from_slice(&sig[..64]);
        prop_assert!(v.verify_cosignature(&text, &timed).is_err());
    }

    #[test]
    fn cosign_then_verify_round_trips(
        cp in valid_checkpoint(),
        seed in any::<[u8; 32]>(),
        time in 0u64..=i64::MAX as u64,
    ) {
        let text = cp.to_text().expect("text");
        let w = CosignatureSigner::from_seed(KeyName::new("witness.example").expect("name"), seed);
        let sig = w.cosign_text(&text, time).expect("cosign");
        let mut note = Note::sign(&text, &[]).expect("text");
        note.push_signature(sig).expect("push");
        let parsed = Note::parse(&note.to_bytes()).expect("parse");
        prop_assert_eq!(w.verifier().cosignature_time(&parsed), Ok(time));
    }
}
