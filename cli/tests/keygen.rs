//! `cairn keygen` as a user runs it. (Having an integration test here also makes
//! `cargo test --workspace` build the real `cairn` binary that the end-to-end tests start.)

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use cairn_verifier::note::{Ed25519Signer, Ed25519Verifier, Note, NoteSigner as _};

fn cairn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
}

#[test]
fn keygen_writes_a_private_key_and_its_verifier_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("release.key");
    let result = cairn()
        .args(["keygen", "--name", "example.org/release-2026", "--out"])
        .arg(&out)
        .output()
        .expect("cairn runs");
    assert!(result.status.success(), "{result:?}");
    let mode = std::fs::metadata(&out)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "signing key must be private");
    let skey = std::fs::read_to_string(&out).expect("read key");
    let signer = Ed25519Signer::from_skey(skey.trim_end()).expect("key parses");
    assert_eq!(signer.name().as_str(), "example.org/release-2026");
    let vkey = std::fs::read_to_string(dir.path().join("release.key.pub")).expect("pub");
    let verifier = Ed25519Verifier::from_vkey(vkey.trim_end()).expect("vkey parses");
    assert_eq!(verifier, signer.verifier());
    assert_eq!(
        String::from_utf8_lossy(&result.stdout),
        vkey,
        "stdout is the vkey"
    );
    // The pair works: a note signed with the file verifies with the .pub.
    let note = Note::sign("hello\n", &[&signer]).expect("sign");
    note.verify(&[&verifier]).expect("verifies");
}

#[test]
fn keygen_refuses_to_overwrite_and_bad_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("k");
    std::fs::write(&out, "precious\n").expect("write");
    let result = cairn()
        .args(["keygen", "--name", "example.org/k", "--out"])
        .arg(&out)
        .output()
        .expect("cairn runs");
    assert_eq!(result.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "precious\n");
    assert!(!dir.path().join("k.pub").exists(), "nothing half-written");
    assert!(String::from_utf8_lossy(&result.stderr).contains("refusing to overwrite"));

    let result = cairn()
        .args(["keygen", "--name", "has space", "--out"])
        .arg(dir.path().join("other"))
        .output()
        .expect("cairn runs");
    assert_eq!(result.status.code(), Some(2));
    assert!(!dir.path().join("other").exists());
}
