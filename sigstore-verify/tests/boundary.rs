//! The Sigstore verifier is held to the trusted core's boundary: it must not pull in async runtimes, HTTP stacks or git.
//! This test reads the real dependency graph (normal edges only) with `cargo tree`.

use std::process::Command;

const FORBIDDEN: &[&str] = &["tokio", "gix", "reqwest", "axum", "hyper"];

#[test]
fn sigstore_verifier_has_no_io_dependencies() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--manifest-path",
            manifest,
            "-p",
            "cairn-sigstore",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).expect("cargo tree prints UTF-8");
    let mut crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    crates.sort_unstable();
    crates.dedup();
    // Guard against a vacuous pass: the listing must contain the crates we know are there.
    for expected in ["cairn-sigstore", "cairn-verifier", "x509-cert", "p256"] {
        assert!(
            crates.contains(&expected),
            "dependency listing lacks {expected}:\n{tree}"
        );
    }
    let offending: Vec<&&str> = crates
        .iter()
        .filter(|name| {
            FORBIDDEN
                .iter()
                .any(|f| *name == f || name.starts_with(&format!("{f}-")))
        })
        .collect();
    assert!(
        offending.is_empty(),
        "cairn-sigstore depends on {offending:?}; the trusted core must stay free of I/O crates"
    );
    eprintln!(
        "cairn-sigstore normal dependency closure: {} crates",
        crates.len()
    );
}
