//! Durable whole-file writes, the one helper every Cairn file write goes through (the git
//! storage's own fsyncs are in `storage::durable`): readers see the old content or the new,
//! never a torn file, and a write that returned survives a crash or a power loss.
//!
//! Each write goes to a temporary file in the destination's directory, which gets the final
//! permission bits before any data is written, is fsynced, then renamed over the destination
//! (or hard-linked to it when an existing file must not be replaced, which fails atomically
//! if it exists), and the directory is fsynced so the new name is durable too.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// What to do when the destination exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it atomically.
    Replace,
    /// Refuse, leaving it untouched ([`DurableError::is_already_exists`]).
    Refuse,
}

/// A durable write that failed: which step, on which path.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct DurableError {
    /// The step that failed ("creating a temporary file in", "writing", "renaming into", ...).
    pub op: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

impl DurableError {
    /// Whether the write was refused because the destination exists ([`Existing::Refuse`]).
    pub fn is_already_exists(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::AlreadyExists
    }
}

/// Writes `data` to `path` with permission bits `mode`, durably and atomically.
pub fn write_file(
    path: &Path,
    data: &[u8],
    mode: u32,
    existing: Existing,
) -> Result<(), DurableError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let fail = |op, path: &Path| {
        let path = path.to_owned();
        move |source| DurableError { op, path, source }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".cairn-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail("creating a temporary file in", dir))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(fail("setting the mode of a temporary file in", dir))?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(fail("writing", path))?;
    match existing {
        Existing::Replace => tmp
            .persist(path)
            .map(drop)
            .map_err(|e| fail("renaming into", path)(e.error))?,
        Existing::Refuse => tmp
            .persist_noclobber(path)
            .map(drop)
            .map_err(|e| fail("creating", path)(e.error))?,
    }
    sync_dir(dir)
}

/// fsyncs a directory, so that the creation, rename or removal of an entry in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), DurableError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| DurableError {
            op: "syncing directory",
            path: dir.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn replace_refuse_and_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        write_file(&path, b"one", 0o600, Existing::Refuse).expect("new file");
        assert_eq!(std::fs::read(&path).expect("read"), b"one");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = write_file(&path, b"two", 0o600, Existing::Refuse).expect_err("exists");
        assert!(err.is_already_exists(), "{err}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            b"one",
            "left untouched"
        );
        write_file(&path, b"three", 0o644, Existing::Replace).expect("replace");
        assert_eq!(std::fs::read(&path).expect("read"), b"three");
        let leftovers = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter(|e| {
                e.as_ref()
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".cairn-")
            })
            .count();
        assert_eq!(leftovers, 0, "no temporary file left behind");
    }
}
