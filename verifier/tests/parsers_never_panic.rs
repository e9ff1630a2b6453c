//! Property tests for the parsers of this module set that take untrusted bytes: arbitrary input
//! never panics, and formatting then parsing gives back the same value.

use cairn_verifier::hash::{Hash, leaf_hash};
use cairn_verifier::note::{Ed25519Signer, KeyName, Note};
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
