//! The Sigstore verifier is held to the trusted core's boundary: it must not pull in async
//! runtimes, HTTP stacks or git.

#[path = "../../verifier/tests/support/dependency_boundary.rs"]
mod dependency_boundary;

#[test]
fn sigstore_verifier_has_no_io_dependencies() {
    dependency_boundary::assert_boundary(
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        "cairn-sigstore",
        &["cairn-sigstore", "cairn-verifier", "x509-cert", "p256"],
        &["tokio", "gix", "reqwest", "axum", "hyper"],
    );
}
