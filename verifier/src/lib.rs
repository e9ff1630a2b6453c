//! # cairn-verifier: the trusted core of Cairn
//!
//! Pure functions over bytes: no I/O, no async, no network or git code. Everything a client needs
//! to decide whether to install an artifact lives here, and nothing else does:
//!
//! - [`compact`]: the one-line checkpoint form for DNS TXT records and `update-latest.txt`.
//! - [`hash`]: RFC 6962 leaf and node hashing.
//! - [`merkle`]: RFC 6962 / RFC 9162 inclusion and consistency proofs, verified and generated.
//! - [`note`]: C2SP signed notes and Ed25519 note keys.
//! - [`policy`]: C2SP tlog-policy trust policies and k-of-n witness quorums.
//! - [`tile`]: C2SP tlog-tiles paths, hash tiles, entry bundles, and a tile-backed hash reader
//!   that authenticates every tile against a trusted tree head.
//! - [`tlog_proof`]: the C2SP `.tlog-proof` offline proof file.
//!
//! The crate forbids `unsafe` and does not depend on tokio, gix, reqwest, axum or hyper; a test in
//! `tests/boundary.rs` enforces that.

#![forbid(unsafe_code)]

pub mod compact;
pub mod hash;
pub mod merkle;
pub mod note;
pub mod policy;
pub mod tile;
pub mod tlog_proof;

pub use hash::{Hash, leaf_hash, node_hash};
