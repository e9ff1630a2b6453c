//! The verifier is the trusted core: it must not pull in async runtimes, HTTP stacks or git.

#[path = "support/dependency_boundary.rs"]
mod dependency_boundary;

#[test]
fn verifier_has_no_io_dependencies() {
    dependency_boundary::assert_boundary(
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        "cairn-verifier",
        &["cairn-verifier", "sha2", "ed25519-dalek"],
        &["tokio", "gix", "reqwest", "axum", "hyper"],
    );
}
