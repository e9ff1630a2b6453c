//! Monitors and mirrors: the commands around the client library's audit round
//! (`cairn_client::audit`).

pub(crate) mod mirror;
pub(crate) mod monitor;
