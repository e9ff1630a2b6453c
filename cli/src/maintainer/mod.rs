//! What a release maintainer runs: keys (`keygen`, `vkey`, `key`), `publish` and `deprecate`, and
//! the client of the log's write API they share.

pub(crate) mod deprecate;
pub(crate) mod key;
pub(crate) mod key_files;
pub(crate) mod keygen;
pub(crate) mod log_client;
pub(crate) mod publish;
pub(crate) mod vkey;
