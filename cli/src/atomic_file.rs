//! Writing a file so that readers see the old content or the new, never a torn one, through
//! the workspace's one durable-write helper (`cairn_log_server::durable`).

use std::path::Path;

use cairn_client::Error;

pub(crate) use cairn_log_server::durable::Existing;

/// Atomically and durably writes `data` to `path` with permission bits `mode`.
pub(crate) fn write(path: &Path, data: &[u8], mode: u32, existing: Existing) -> anyhow::Result<()> {
    cairn_log_server::durable::write_file(path, data, mode, existing).map_err(|e| {
        if e.is_already_exists() {
            Error::Usage(format!(
                "{} already exists; refusing to overwrite it",
                path.display()
            ))
            .into()
        } else {
            anyhow::Error::new(e)
        }
    })
}
