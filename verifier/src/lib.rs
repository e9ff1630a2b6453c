//! # cairn-verifier: the trusted core of Cairn
//!
//! Pure functions over bytes: no I/O, no async, no network or git code. Everything a client needs
//! to decide whether to install an artifact lives here, and nothing else does:
//!
//! - [`hash`]: RFC 6962 leaf and node hashing.
//! - [`merkle`]: RFC 6962 / RFC 9162 inclusion and consistency proofs, verified and generated.
//! - [`tile`]: C2SP tlog-tiles paths, tile data, entry bundles, and a tile-backed hash reader
//!   that authenticates every tile against a trusted tree head.
//!
//! The crate forbids `unsafe` and does not depend on tokio, gix, reqwest, axum or hyper; a test in
//! `tests/boundary.rs` enforces that.

#![forbid(unsafe_code)]

pub mod hash;
pub mod merkle;
pub mod tile;

pub use hash::{Hash, leaf_hash, node_hash};
