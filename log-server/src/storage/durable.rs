//! fsync helpers.
//!
//! gix 0.87 (gix-odb 0.84, gix-pack 0.74, gix-ref 0.67, gix-lock/gix-tempfile 24) never calls
//! `fsync`: it writes to a temporary or lock file and renames it into place, which is atomic against a
//! process crash but not durable against power loss (the rename can reach the disk before the data,
//! leaving an empty or garbage object or ref file). Git itself only fsyncs when `core.fsync` asks. So
//! the git storage does it itself: data files before they are renamed into place, and the directory
//! after a rename, so that the new name survives too.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::StorageError;

/// Create (or truncate) `path`, write `data` and fsync it before returning.
pub(crate) fn write_synced(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    let io = |source| StorageError::Io {
        op: "write",
        path: path.to_owned(),
        source,
    };
    let mut file = File::create(path).map_err(io)?;
    file.write_all(data).map_err(io)?;
    file.sync_all().map_err(io)
}

/// fsync a file someone else wrote (a ref lock file written by gix). On Linux an fd opened read-only
/// may be fsynced; the flush applies to the file, not to the descriptor.
pub(crate) fn sync_file(path: &Path) -> Result<(), StorageError> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|source| StorageError::Io {
            op: "fsync file",
            path: path.to_owned(),
            source,
        })
}

/// fsync a directory, making the creation, rename or removal of its entries durable.
pub(crate) fn sync_dir(path: &Path) -> Result<(), StorageError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| StorageError::Io {
            op: "fsync directory",
            path: path.to_owned(),
            source,
        })
}

/// Rename `from` to `to` (same directory `dir`) and fsync `dir`, so the new name is durable.
pub(crate) fn rename_synced(from: &Path, to: &Path, dir: &Path) -> Result<(), StorageError> {
    std::fs::rename(from, to).map_err(|source| StorageError::Io {
        op: "rename",
        path: to.to_owned(),
        source,
    })?;
    sync_dir(dir)
}

/// fsync several files at once, one thread each, returning when all are durable (or the first
/// error). The disk can merge concurrent flushes into one journal commit, so this costs about one
/// fsync, not one per file.
pub(crate) fn sync_files(paths: &[&Path]) -> Result<(), StorageError> {
    let Some((first, rest)) = paths.split_first() else {
        return Ok(());
    };
    std::thread::scope(|scope| {
        let mut result = Ok(());
        let mut others = Vec::with_capacity(rest.len());
        for path in rest {
            // A thread that cannot be started (out of threads or memory) is no reason to fail
            // the commit: that file is fsynced here instead, one after the other.
            match std::thread::Builder::new().spawn_scoped(scope, move || sync_file(path)) {
                Ok(handle) => others.push(handle),
                Err(_) => result = result.and_then(|()| sync_file(path)),
            }
        }
        result = result.and_then(|()| sync_file(first));
        for handle in others {
            let outcome = handle.join().unwrap_or_else(|_| {
                Err(StorageError::Io {
                    op: "fsync file",
                    path: first.to_path_buf(),
                    source: std::io::Error::other("an fsync thread panicked"),
                })
            });
            result = result.and(outcome);
        }
        result
    })
}
