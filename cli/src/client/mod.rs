//! What a client runs: trust, verify, install, update, keylog, status and `sigstore verify`, with the
//! progress bars, installing and flashing the library leaves to its caller.

pub(crate) mod decompress;
pub(crate) mod flash;
pub(crate) mod hashing;
pub(crate) mod install;
pub(crate) mod keylog;
pub(crate) mod sigstore;
pub(crate) mod status;
pub(crate) mod trust;
pub(crate) mod update;
pub(crate) mod verify;
