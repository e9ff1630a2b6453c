//! # cairn-verifier: the trusted core of Cairn
//!
//! Pure functions over bytes: no I/O, no async, no network or git code. Everything a client needs
//! to decide whether to install an artifact lives here, and nothing else does:
//!
//! - [`decimal`]: canonical decimals, the one spelling of a number every format accepts.
//! - [`hash`]: RFC 6962 leaf and node hashing.
//! - [`merkle`]: RFC 6962 / RFC 9162 inclusion and consistency proofs, verified and generated.
//! - [`note`]: C2SP signed notes and Ed25519 note keys.
//! - [`checkpoint`]: C2SP tlog-checkpoint bodies, [`checkpoint::VerifiedCheckpoint`] and the
//!   evidence of an inconsistent log.
//! - [`cosignature`]: C2SP tlog-cosignature `cosignature/v1` witness cosignatures (type 0x04).
//! - [`note_ecdsa`]: ECDSA P-256 note signatures (type 0x02), verification only.
//! - [`note_rfc6962`]: RFC 6962 tree head signatures from static-ct-api (type 0x05),
//!   verification only.
//! - [`sigstore_identity`]: Sigstore certificate identities and the any-tag workflow pattern.
//! - [`signer`]: the interface of Ed25519 keys held in tokens or agents (signing can fail).
//! - [`keys`]: one parser for verifier keys of every supported type.
//! - [`tile`]: C2SP tlog-tiles paths, tile data, entry bundles, and a tile-backed hash reader
//!   that authenticates every tile against a trusted tree head.
//! - [`entry`]: strict grammars of Cairn's entries (`cairn/release/v1`, `cairn/deprecate/v1`,
//!   `cairn/key/v1`) and validated newtypes for names, versions, digests and scopes.
//! - [`keylog`]: key-log replay from pinned roots, and whether a release is valid at its index.
//! - [`policy`]: C2SP tlog-policy trust policies and k-of-n witness quorums.
//! - [`tlog_proof`]: the C2SP `.tlog-proof` offline proof file, and its verification against the
//!   log's key ([`tlog_proof::TlogProof::verify`]).
//! - [`lookup`]: paths and bodies of the release log's static lookups (a mirror writes them as
//!   files).
//! - [`compact`]: the one-line checkpoint form for DNS TXT records and `update-latest.txt`.
//! - [`witness`]: C2SP tlog-witness `add-checkpoint` request bodies and the witness's decision
//!   (which status to answer), without I/O.
//!
//! The crate forbids `unsafe` and does not depend on tokio, gix, reqwest, axum or hyper; a test in
//! `tests/boundary.rs` enforces that.

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod compact;
pub mod cosignature;
pub mod decimal;
pub mod entry;
pub mod hash;
pub mod keylog;
pub mod keys;
pub mod lookup;
pub mod merkle;
pub mod note;
pub mod note_ecdsa;
pub mod note_rfc6962;
pub mod policy;
pub mod security;
pub mod signer;
pub mod sigstore_identity;
pub mod tile;
pub mod tlog_proof;
pub mod version_order;
pub mod witness;

pub use checkpoint::{Checkpoint, VerifiedCheckpoint};
pub use hash::{Hash, leaf_hash, node_hash};
pub use keys::{AnyVerifier, parse_vkey};
pub use policy::{Policy, WitnessedCheckpoint};
pub use security::SecurityError;
pub use tile::TreeHead;
