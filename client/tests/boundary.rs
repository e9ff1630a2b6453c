//! The client library is for updaters, package-manager hooks and other programs: it must not
//! pull in the command line's crates (argument parsing, progress bars, `anyhow`), and it must
//! not depend on the log server.

#[path = "../../verifier/tests/support/dependency_boundary.rs"]
mod dependency_boundary;

#[test]
fn client_library_has_no_command_line_dependencies() {
    dependency_boundary::assert_boundary(
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        "cairn-client",
        &["cairn-client", "cairn-verifier", "reqwest", "thiserror"],
        &[
            "clap",
            "indicatif",
            "anyhow",
            "cairn-cli",
            "cairn-log-server",
            "axum",
        ],
    );
}
