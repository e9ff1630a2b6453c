//! One dependency-boundary check for the crates that must stay small: `cairn-verifier` and
//! `cairn-sigstore` (no I/O crates), `cairn-client` (no command-line crates). Each crate's
//! `tests/boundary.rs` includes this file. It reads the real dependency graph (normal edges
//! only) with `cargo tree`.

use std::process::Command;

/// Asserts that `package`'s normal dependency closure contains every crate of `expected` (so
/// the check cannot pass vacuously) and no crate named in `forbidden` (or `NAME-...`).
pub(crate) fn assert_boundary(
    manifest: &str,
    package: &str,
    expected: &[&str],
    forbidden: &[&str],
) {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--manifest-path",
            manifest,
            "-p",
            package,
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
    for name in expected {
        assert!(
            crates.contains(name),
            "dependency listing of {package} lacks {name}:\n{tree}"
        );
    }
    let offending: Vec<&&str> = crates
        .iter()
        .filter(|name| {
            forbidden
                .iter()
                .any(|f| *name == f || name.starts_with(&format!("{f}-")))
        })
        .collect();
    assert!(
        offending.is_empty(),
        "{package} depends on {offending:?}, which its boundary forbids ({forbidden:?})"
    );
    eprintln!(
        "{package} normal dependency closure: {} crates",
        crates.len()
    );
}
