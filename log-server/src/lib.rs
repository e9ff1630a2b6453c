//! Cairn's log server: sequencing, git storage and the tlog-tiles HTTP API.
//!
//! The HTTP API is specified in `spec/http-api.md`, the repository layout in `spec/git-layout.md`.

#![warn(missing_docs)]

pub mod batcher;
pub mod config;
pub use cairn_durable as durable;
pub mod explorer;
pub mod http;
pub mod listener;
pub mod log;
pub mod metrics;
pub mod mirror;
pub mod ratelimit;
pub mod server;
pub mod sigstore_check;
pub mod storage;
pub mod tile_cache;
pub mod witness_client;
pub mod witness_server;
