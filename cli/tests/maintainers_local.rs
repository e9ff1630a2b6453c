//! Maintainer commands' refusals that happen before anything is sent, and the offline steps of
//! key events (`key root|add|retire|revoke` with explicit indexes, `key sign`). No server runs:
//! `--log` points at a closed loopback port, so a command that tried to connect would fail
//! with a network error (exit 1) instead of the refusal each test expects.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use cairn_verifier::entry::KeyEvent;
use cairn_verifier::note::{Ed25519Verifier, Note};

/// Nothing listens here (port 9, discard, is not served on loopback in test environments), and
/// none of these tests should get as far as connecting anyway.
const NO_LOG: &str = "http://127.0.0.1:9";

fn cairn(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("cairn runs")
}

fn keygen(dir: &Path, name: &str) {
    let out = cairn(
        dir,
        &[
            "keygen",
            "--name",
            &format!("example.org/{name}"),
            "--out",
            &format!("{name}.key"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
}

fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    keygen(dir.path(), "release");
    std::fs::write(dir.path().join("a.img"), b"artifact").expect("write");
    dir
}

fn publish_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "publish",
        "--name",
        "example/a",
        "--version",
        "1.0",
        "--key",
        "release.key",
        "--log",
        NO_LOG,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn publish_refuses_a_key_file_others_can_read() {
    let dir = setup();
    let key = dir.path().join("release.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = cairn(dir.path(), &publish_args(&["a.img"]));
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(err(&out).contains("mode 0644"), "{}", err(&out));
    assert!(!dir.path().join("a.img.tlog-proof").exists());
}

#[test]
fn publish_refuses_an_unreadable_file() {
    let dir = setup();
    let out = cairn(dir.path(), &publish_args(&["missing.img"]));
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    assert!(
        err(&out).contains("cannot read missing.img"),
        "{}",
        err(&out)
    );
}

#[test]
fn publish_refuses_names_and_versions_outside_the_grammar() {
    let dir = setup();
    for (flag, value) in [
        ("--name", "Example/A"),
        ("--name", "example/../a"),
        ("--version", "1.0 beta"),
        ("--version", ""),
    ] {
        let mut args = publish_args(&["a.img"]);
        let at = args.iter().position(|a| *a == flag).expect("flag") + 1;
        args[at] = value;
        let out = cairn(dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {value:?}: {}",
            err(&out)
        );
        assert!(err(&out).contains(flag), "{flag} {value:?}: {}", err(&out));
    }
}

#[test]
fn publish_refuses_to_overwrite_a_proof() {
    let dir = setup();
    std::fs::write(dir.path().join("a.img.tlog-proof"), b"precious").expect("write");
    let out = cairn(dir.path(), &publish_args(&["a.img"]));
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(err(&out).contains("--force"), "{}", err(&out));
    assert_eq!(
        std::fs::read(dir.path().join("a.img.tlog-proof")).expect("read"),
        b"precious"
    );
    // With --force the refusal is gone, and the network is the next thing to fail.
    let out = cairn(dir.path(), &publish_args(&["a.img", "--force"]));
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    assert!(err(&out).contains("127.0.0.1:9"), "{}", err(&out));
}

#[test]
fn deprecate_refuses_bad_fields_before_sending() {
    let dir = setup();
    let out = cairn(
        dir.path(),
        &[
            "deprecate",
            "--name",
            "example/a",
            "--version",
            "1.0",
            "--reason",
            "broken",
            "--replacement",
            "1.0",
            "--key",
            "release.key",
            "--log",
            NO_LOG,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
}

#[test]
fn key_events_are_made_and_signed_offline() {
    let dir = setup();
    let d = dir.path();
    for name in ["root-a", "root-b", "root-c"] {
        keygen(d, name);
    }
    // A root event lists the keys in canonical order whatever the order given.
    let out = cairn(
        d,
        &[
            "key",
            "root",
            "--key",
            "root-c.key.pub",
            "root-a.key.pub",
            "--key",
            "root-b.key.pub",
            "--threshold",
            "2",
        ],
    );
    assert!(out.status.success(), "{}", err(&out));
    let text = String::from_utf8(out.stdout).expect("utf8");
    let KeyEvent::Root { roots, .. } = KeyEvent::parse(&text).expect("a root event") else {
        panic!("not a root event: {text}");
    };
    assert_eq!(roots.threshold(), 2);
    assert_eq!(roots.keys().len(), 3);
    std::fs::write(d.join("roots.event"), &text).expect("write");

    // Threshold above the number of keys: usage error.
    let out = cairn(
        d,
        &["key", "root", "--key", "root-a.key.pub", "--threshold", "2"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));

    // Explicit --from / --until need no log.
    let out = cairn(
        d,
        &[
            "key",
            "add",
            "--key",
            "release.key.pub",
            "--scope",
            "example/*",
            "--from",
            "7",
        ],
    );
    assert!(out.status.success(), "{}", err(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\nfrom 7\n"));
    let out = cairn(
        d,
        &[
            "key",
            "revoke",
            "--key",
            "release.key.pub",
            "--until",
            "0",
            "--reason",
            "never used",
        ],
    );
    assert!(out.status.success(), "{}", err(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("event revoke\n"));
    // Without either, --log is required (clap usage error).
    let out = cairn(
        d,
        &["key", "retire", "--key", "release.key.pub", "--reason", "x"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));

    // Signing: one signature per key, in place; the file stays a valid signed note.
    let out = cairn(d, &["key", "sign", "roots.event", "--key", "root-a.key"]);
    assert!(out.status.success(), "{}", err(&out));
    assert!(
        err(&out).contains("new roots: threshold 2 of 3 NOT met"),
        "{}",
        err(&out)
    );
    let signed_once = std::fs::read(d.join("roots.event")).expect("read");
    let note = Note::parse(&signed_once).expect("a signed note");
    assert_eq!(note.text(), text);
    let a = Ed25519Verifier::from_vkey(
        std::fs::read_to_string(d.join("root-a.key.pub"))
            .expect("pub")
            .trim_end(),
    )
    .expect("vkey");
    note.verify(&[&a]).expect("root-a's signature verifies");

    let out = cairn(d, &["key", "sign", "roots.event", "--key", "root-a.key"]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(
        err(&out).contains("already carries a signature"),
        "{}",
        err(&out)
    );
    assert_eq!(
        std::fs::read(d.join("roots.event")).expect("read"),
        signed_once
    );

    let out = cairn(d, &["key", "sign", "roots.event", "--key", "root-b.key"]);
    assert!(out.status.success(), "{}", err(&out));
    assert!(
        err(&out).contains("new roots: threshold 2 of 3 met"),
        "{}",
        err(&out)
    );
    assert_eq!(
        Note::parse(&std::fs::read(d.join("roots.event")).expect("read"))
            .expect("note")
            .signatures()
            .len(),
        2
    );

    // A loose root key is refused; the event is untouched.
    let before = std::fs::read(d.join("roots.event")).expect("read");
    std::fs::set_permissions(d.join("root-c.key"), std::fs::Permissions::from_mode(0o640))
        .expect("chmod");
    let out = cairn(d, &["key", "sign", "roots.event", "--key", "root-c.key"]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert_eq!(std::fs::read(d.join("roots.event")).expect("read"), before);

    // Something that is not a key event is refused.
    std::fs::write(d.join("junk.event"), b"cairn/release/v1\nname x\n").expect("write");
    let out = cairn(d, &["key", "sign", "junk.event", "--key", "root-b.key"]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));

    // Submitting an unsigned event is refused before any request.
    std::fs::write(d.join("unsigned.event"), &text).expect("write");
    let out = cairn(d, &["key", "submit", "unsigned.event", "--log", NO_LOG]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(err(&out).contains("unsigned"), "{}", err(&out));
}

#[test]
fn an_unreachable_https_log_is_an_operational_error() {
    // Builds the rustls client (ring provider) and fails to connect, without a panic.
    let dir = setup();
    let mut args = publish_args(&["a.img"]);
    let at = args.iter().position(|a| *a == NO_LOG).expect("--log");
    args[at] = "https://127.0.0.1:9";
    let out = cairn(dir.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    assert!(
        err(&out).contains("cannot connect to https://127.0.0.1:9/releases/add; nothing was sent"),
        "{}",
        err(&out)
    );
    assert!(!err(&out).contains("panicked"), "{}", err(&out));
    assert!(!dir.path().join("a.img.tlog-proof").exists());
}
