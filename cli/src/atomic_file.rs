//! Writing a file so that readers see the old content or the new, never a torn one: write a
//! temporary file in the same directory, sync it, then rename (or link) it into place and sync
//! the directory.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::exit::Failure;

/// What to do when the destination exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Replace it atomically.
    Replace,
    /// Refuse, leaving it untouched (checked atomically at the final link).
    Refuse,
}

/// Atomically writes `data` to `path` with permission bits `mode`.
pub(crate) fn write(path: &Path, data: &[u8], mode: u32, existing: Existing) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".cairn-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of a temporary file in {}", dir.display()))?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing a temporary file in {}", dir.display()))?;
    match existing {
        Existing::Replace => {
            tmp.persist(path)
                .map_err(|e| e.error)
                .with_context(|| format!("renaming into {}", path.display()))?;
        }
        Existing::Refuse => {
            if let Err(e) = tmp.persist_noclobber(path) {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    return Err(Failure::Usage(format!(
                        "{} already exists; refusing to overwrite it",
                        path.display()
                    ))
                    .into());
                }
                return Err(e.error).with_context(|| format!("linking into {}", path.display()));
            }
        }
    }
    // The rename is durable only once the directory entry is.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}
