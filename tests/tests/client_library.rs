//! The client library's example program (`client/examples/verify_file.rs`) against a real
//! `cairn serve` on loopback: it verifies a published file, and refuses a file the log does
//! not hold and a file whose bytes were changed, with the exit codes `cairn verify` uses.
//!
//! `cargo test --workspace` builds the example with everything else; alone, build it first
//! with `cargo build -p cairn-client --example verify_file`.

mod client_support;

use std::path::PathBuf;
use std::process::Command;

use client_support::*;

fn example() -> PathBuf {
    let bin = cairn_tests::process::cairn_bin();
    let path = bin
        .parent()
        .expect("the cairn binary is in target/<profile>/")
        .join("examples/verify_file");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p cairn-client --example verify_file` (or the \
         whole `cargo test --workspace`)",
        path.display()
    );
    path
}

#[test]
fn example_verifies_a_published_file_and_refuses_others() {
    let log = TestLog::start();
    let (artifact, _) = log.publish("example/os", "1.0", b"the 1.0 image\n");
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let state = client.state();

    let out = Command::new(example())
        .arg(&state)
        .arg(&artifact)
        .output()
        .expect("the example runs");
    assert_exit(&out, 0, "example on the published file");
    assert_eq!(
        text(&out.stdout).trim(),
        "verified example/os 1.0 (index 0)",
        "{}",
        text(&out.stderr)
    );

    // The same name, other bytes: no release names this digest.
    let other = log.scratch().join("image.img");
    std::fs::write(&other, b"the 1.0 image, changed\n").expect("write");
    let out = Command::new(example())
        .arg(&state)
        .arg(&other)
        .output()
        .expect("the example runs");
    assert_exit(&out, 3, "example on a changed file");
    assert!(
        text(&out.stderr).contains("verification failed"),
        "{}",
        text(&out.stderr)
    );

    // The library refuses a state directory others may write, as the command does.
    let mut perms = std::fs::metadata(&state).expect("state").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o777);
    std::fs::set_permissions(&state, perms).expect("chmod");
    let out = Command::new(example())
        .arg(&state)
        .arg(&artifact)
        .output()
        .expect("the example runs");
    assert_exit(&out, 1, "example with a shared state directory");
    assert!(
        text(&out.stderr).contains("state directory"),
        "{}",
        text(&out.stderr)
    );
}
