//! Property tests for the parsers of this module set that take untrusted bytes: arbitrary input
//! never panics, and formatting then parsing gives back the same value.

use cairn_verifier::compact::{from_compact, to_compact};
use cairn_verifier::hash::{Hash, leaf_hash};
use cairn_verifier::note::{Ed25519Signer, Ed25519Verifier, KeyName, Note};
use cairn_verifier::policy::Policy;
use cairn_verifier::tlog_proof::TlogProof;
use proptest::prelude::*;

fn signer(seed: u8) -> Ed25519Signer {
    Ed25519Signer::from_seed(
        KeyName::new(&format!("example.org/w{seed}")).expect("valid name"),
        [seed; 32],
    )
}

/// Text lines built from the alphabet the policy grammar uses, so the parser is driven deep
/// rather than refusing at the first byte.
fn policy_like() -> impl Strategy<Value = Vec<u8>> {
    let vkeys: Vec<String> = (1..5u8).map(|s| signer(s).verifier().to_vkey()).collect();
    let token = prop_oneof![
        Just("log".to_owned()),
        Just("witness".to_owned()),
        Just("group".to_owned()),
        Just("quorum".to_owned()),
        Just("all".to_owned()),
        Just("any".to_owned()),
        Just("none".to_owned()),
        Just("#".to_owned()),
        "[a-c0-3]{1,2}",
        proptest::sample::select(vkeys),
    ];
    let line = proptest::collection::vec(token, 0..6).prop_map(|t| t.join(" "));
    proptest::collection::vec(line, 0..10).prop_map(|lines| {
        let mut text = lines.join("\n");
        text.push('\n');
        text.into_bytes()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn policy_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Policy::parse(&bytes);
    }

    #[test]
    fn policy_grammar_like_input(bytes in policy_like()) {
        if let Ok(policy) = Policy::parse(&bytes) {
            // Whatever parses has a canonical form that parses to the same policy.
            let again = Policy::parse(policy.to_text().as_bytes()).expect("canonical form parses");
            prop_assert_eq!(again, policy);
        }
    }

    #[test]
    fn tlog_proof_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = TlogProof::parse(&bytes);
    }

    #[test]
    fn tlog_proof_mutations_never_panic(
        index in any::<u64>(),
        hashes in 0usize..8,
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let proof = TlogProof {
            extra: Some(b"entry\n".to_vec()),
            index,
            proof: (0..hashes).map(|i| leaf_hash(&[i as u8])).collect(),
            checkpoint: Note::sign("o\n1\nAAAA\n", &[&signer(1)]).expect("sign").to_bytes(),
        };
        let mut bytes = proof.to_bytes();
        prop_assert_eq!(TlogProof::parse(&bytes), Ok(proof));
        let i = flip.index(bytes.len());
        bytes[i] = byte;
        let _ = TlogProof::parse(&bytes);
    }

    #[test]
    fn note_round_trip(text in "[ -~]{1,40}(\n[ -~]{1,40}){0,3}\n", seeds in proptest::collection::btree_set(1u8..20, 1..4)) {
        let signers: Vec<Ed25519Signer> = seeds.iter().map(|&s| signer(s)).collect();
        let refs: Vec<&dyn cairn_verifier::note::NoteSigner> =
            signers.iter().map(|s| s as &dyn cairn_verifier::note::NoteSigner).collect();
        let note = Note::sign(&text, &refs).expect("sign");
        let parsed = Note::parse(&note.to_bytes()).expect("parse");
        prop_assert_eq!(&parsed, &note);
        let verifier = signers[0].verifier();
        prop_assert!(parsed.verify(&[&verifier]).is_ok());
    }

    #[test]
    fn hash_base64_never_panics(text in "\\PC{0,60}") {
        if let Ok(h) = Hash::from_base64(&text) {
            prop_assert_eq!(h.to_base64(), text);
        }
    }
}

// ---- Signed notes -------------------------------------------------------------------------

/// Fragments of note syntax and its look-alikes, so that random concatenations reach the
/// signature-line parser instead of failing at the first byte.
fn note_like() -> impl Strategy<Value = String> {
    let sig = Note::sign("hi\n", &[&signer(1)])
        .expect("sign")
        .signatures()[0]
        .to_line();
    let frag = prop_oneof![
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just("\u{2014} ".to_owned()),
        Just("\u{2014}".to_owned()),
        Just("\u{2013} ".to_owned()),
        Just(" ".to_owned()),
        Just("\u{a0}".to_owned()),
        Just("\r".to_owned()),
        Just("+".to_owned()),
        Just("=".to_owned()),
        Just("hi\n".to_owned()),
        Just("example.org/w1".to_owned()),
        Just(sig),
        "[A-Za-z0-9+/]{0,12}",
        "\\PC{0,4}",
    ];
    proptest::collection::vec(frag, 0..24).prop_map(|f| f.concat())
}

/// Key names: letters, digits, punctuation and symbols (never white space, `+` or controls).
fn key_name() -> impl Strategy<Value = KeyName> {
    "[\\p{L}\\p{N}\\p{P}\\p{S}&&[^+]]{1,30}"
        .prop_map(|name| KeyName::new(&name).expect("the strategy makes valid names"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn note_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = Note::parse(&bytes);
    }

    #[test]
    fn note_parse_is_canonical_on_note_like_input(text in note_like()) {
        // Whatever parses encodes back to the very same bytes: one byte string, one meaning.
        if let Ok(note) = Note::parse(text.as_bytes()) {
            prop_assert_eq!(note.to_bytes(), text.into_bytes());
        }
    }

    #[test]
    fn note_round_trip_any_text_and_names(
        text in "(\\PC{0,20}\n){1,4}",
        names in proptest::collection::btree_set(key_name(), 1..4),
    ) {
        prop_assume!(text != "\n");
        let signers: Vec<Ed25519Signer> = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| Ed25519Signer::from_seed(name, [i as u8 + 1; 32]))
            .collect();
        let refs: Vec<&dyn cairn_verifier::note::NoteSigner> =
            signers.iter().map(|s| s as &dyn cairn_verifier::note::NoteSigner).collect();
        let note = Note::sign(&text, &refs).expect("sign");
        let bytes = note.to_bytes();
        let parsed = Note::parse(&bytes).expect("parse");
        prop_assert_eq!(&parsed, &note);
        prop_assert_eq!(parsed.text(), text.as_str());
        let verifiers: Vec<_> = signers.iter().map(|s| s.verifier()).collect();
        let known: Vec<&dyn cairn_verifier::note::NoteVerifier> =
            verifiers.iter().map(|v| v as &dyn cairn_verifier::note::NoteVerifier).collect();
        let verified = parsed.verify(&known).expect("verify");
        prop_assert_eq!(verified.verified_signatures().len(), signers.len());
        for v in &verifiers {
            prop_assert!(verified.is_signed_by(v));
        }
    }

    #[test]
    fn one_byte_changed_in_signed_parts_never_verifies(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        // No second spelling of the text or of the known key's signature line verifies: not in
        // the text, the separator, the name, the key ID or the base64 of the signature (strict
        // Ed25519, canonical base64). The unknown key's line may change: it is ignored.
        let a = signer(1);
        let original = Note::sign("example.org/log\n5\nAAAA\n", &[&a, &signer(2)])
            .expect("sign");
        let mut bytes = original.to_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        if let Ok(verified) = Note::parse(&bytes).and_then(|n| n.verify(&[&a.verifier()])) {
            prop_assert_eq!(verified.text(), original.text());
            prop_assert_eq!(verified.verified_signatures(), &original.signatures()[..1]);
            let unknown_line_start = original.to_bytes().len()
                - original.signatures()[1].to_line().len();
            prop_assert!(i >= unknown_line_start, "byte {} changed", i);
        }
    }

    #[test]
    fn vkey_parse_never_panics_and_is_canonical(text in "\\PC{0,80}") {
        let _ = cairn_verifier::note::split_vkey(&text);
        if let Ok(v) = Ed25519Verifier::from_vkey(&text) {
            prop_assert_eq!(v.to_vkey(), text);
        }
    }

    #[test]
    fn vkey_round_trip(name in key_name(), seed in any::<[u8; 32]>()) {
        let verifier = Ed25519Signer::from_seed(name, seed).verifier();
        prop_assert_eq!(Ed25519Verifier::from_vkey(&verifier.to_vkey()), Ok(verifier));
    }
}

// ---- Compact checkpoint lines -------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn compact_parse_never_panics_and_is_canonical(
        line in "(cairn-checkpoint/v1 )?[ -~\u{2014}\u{a0}]{0,200}\n?",
    ) {
        if let Ok(note) = from_compact(&line) {
            // An accepted line is the one spelling to_compact writes for its note.
            prop_assert_eq!(to_compact(&note).expect("compacts"), line.trim_end_matches('\n'));
        }
    }

    #[test]
    fn compact_changed_byte_never_verifies(
        size in any::<u64>(),
        at in any::<prop::sample::Index>(),
        byte in 0x20u8..0x7f,
    ) {
        let log = Ed25519Signer::from_seed(KeyName::new("example.org/log").expect("name"), [9; 32]);
        let text = format!("example.org/log\n{size}\n{}\n", leaf_hash(b"r").to_base64());
        let line = to_compact(&Note::sign(&text, &[&log]).expect("sign")).expect("compact");
        let mut bytes = line.into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let mutated = String::from_utf8(bytes).expect("ASCII");
        if let Ok(note) = from_compact(&mutated) {
            prop_assert_eq!(to_compact(&note).expect("compacts"), mutated.as_str());
            prop_assert!(note.verify(&[&log.verifier()]).is_err(), "{}", mutated);
        }
    }

    #[test]
    fn compact_round_trip_keeps_text_and_log_signature(
        origin in key_name(),
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        witnesses in proptest::collection::btree_set(1u8..20, 0..4),
        newline in any::<bool>(),
    ) {
        let log = Ed25519Signer::from_seed(origin.clone(), [0xaa; 32]);
        let text = format!("{origin}\n{size}\n{}\n", Hash(root).to_base64());
        let cosigners: Vec<Ed25519Signer> = witnesses.iter().map(|&s| signer(s)).collect();
        let mut note = Note::sign(&text, &[&log]).expect("sign");
        for w in &cosigners {
            note.add_signature(w).expect("fits");
        }
        let line = to_compact(&note).expect("compact");
        let line = if newline { format!("{line}\n") } else { line };
        let expanded = from_compact(&line).expect("expand");
        prop_assert_eq!(expanded.text(), note.text());
        prop_assert_eq!(expanded.signatures(), &note.signatures()[..1]);
        let verified = expanded.verify(&[&log.verifier()]).expect("log signature verifies");
        prop_assert!(verified.is_signed_by(&log.verifier()));
    }
}

// ---- tlog-proof and hashes ----------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tlog_proof_round_trip(
        extra in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..300)),
        index in any::<u64>(),
        proof in proptest::collection::vec(any::<[u8; 32]>(), 0..=64),
        checkpoint in "\\PC{1,200}",
    ) {
        let proof = TlogProof {
            extra,
            index,
            proof: proof.into_iter().map(Hash).collect(),
            checkpoint: checkpoint.into_bytes(),
        };
        let bytes = proof.to_bytes();
        prop_assert_eq!(TlogProof::parse(&bytes), Ok(proof));
    }

    #[test]
    fn tlog_proof_parse_is_canonical(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("c2sp.org/tlog-proof@v1".to_owned()),
                Just("extra AAAA".to_owned()),
                Just("extra ".to_owned()),
                Just("index 0".to_owned()),
                Just("index 01".to_owned()),
                Just(String::new()),
                Just(leaf_hash(b"h").to_base64()),
                "index [0-9]{1,3}",
                "[A-Za-z0-9+/=]{0,48}",
                "\\PC{0,6}",
            ],
            0..10,
        ),
        newline in any::<bool>(),
    ) {
        let mut text = lines.join("\n");
        if newline {
            text.push('\n');
        }
        if let Ok(proof) = TlogProof::parse(text.as_bytes()) {
            prop_assert_eq!(proof.to_bytes(), text.into_bytes());
        }
    }

    #[test]
    fn hash_round_trip(bytes in any::<[u8; 32]>()) {
        let hash = Hash(bytes);
        prop_assert_eq!(Hash::from_base64(&hash.to_base64()), Ok(hash));
        prop_assert_eq!(Hash::from_slice(&bytes), Ok(hash));
    }

    #[test]
    fn hash_base64_is_canonical(text in "[A-Za-z0-9+/]{42,44}={0,2}") {
        // Near-miss spellings: only the one that to_base64 writes is accepted.
        if let Ok(h) = Hash::from_base64(&text) {
            prop_assert_eq!(h.to_base64(), text);
        }
    }
}

/// `add-checkpoint` bodies: arbitrary bytes, and bodies shaped like the real thing (an `old`
/// line, proof lines, a signed checkpoint) with mutations.
mod add_checkpoint {
    use cairn_verifier::checkpoint::Checkpoint;
    use cairn_verifier::hash::{Hash, leaf_hash};
    use cairn_verifier::note::Note;
    use cairn_verifier::witness::{AddCheckpoint, decide};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            if let Ok(req) = AddCheckpoint::parse(&bytes) {
                // What parses encodes back to the same bytes: one spelling per request.
                prop_assert_eq!(req.to_bytes(), bytes);
            }
        }

        #[test]
        fn shaped_bodies_round_trip_and_decide_without_panicking(
            old in 0u64..20,
            size in 0u64..20,
            proof_len in 0usize..8,
            flip in proptest::option::of((0usize..400, any::<u8>())),
        ) {
            let signer = super::signer(1);
            let origin = signer.verifier().to_vkey();
            let origin = origin.split('+').next().expect("name").to_owned();
            let root = if size == 0 { Hash::empty_tree() } else { leaf_hash(&size.to_be_bytes()) };
            let text = Checkpoint::new(origin.as_str(), size, root).to_text().expect("text");
            let req = AddCheckpoint {
                old_size: old,
                proof: (0..proof_len).map(|i| leaf_hash(&[i as u8])).collect(),
                checkpoint: Note::sign(&text, &[&signer]).expect("sign").to_bytes(),
            };
            let mut body = req.to_bytes();
            let parsed = AddCheckpoint::parse(&body);
            prop_assert_eq!(parsed, Ok(req));
            if let Some((at, byte)) = flip {
                let at = at % body.len();
                body[at] = byte;
            }
            if let Ok(parsed) = AddCheckpoint::parse(&body) {
                let _ = decide(&parsed, &origin, &[&signer.verifier()], None);
            }
        }
    }
}
