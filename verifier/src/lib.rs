//! # cairn-verifier: the trusted core of Cairn
//!
//! Pure functions over bytes: no I/O, no async, no network or git code. Everything a client needs
//! to decide whether to install an artifact lives here, and nothing else does:
//!
//! - [`hash`]: RFC 6962 leaf and node hashing.
//! - [`note`]: C2SP signed notes and Ed25519 note keys.
//! - [`entry`]: the strict grammars of release, deprecation and key-log entries.
//! - [`keylog`]: key-log replay from pinned roots, and release validity against it.
//!
//! The crate forbids `unsafe` and does not depend on tokio, gix, reqwest, axum or hyper; a test in
//! `tests/boundary.rs` enforces that.

#![forbid(unsafe_code)]

pub mod entry;
pub mod hash;
pub mod keylog;
pub mod note;

pub use hash::{Hash, leaf_hash, node_hash};
