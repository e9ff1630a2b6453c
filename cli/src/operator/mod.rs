//! What log and witness operators run: `init`, `migrate-keys`, `serve` (`log`) and `witness`.

pub(crate) mod log;
pub(crate) mod witness;
