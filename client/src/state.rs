//! The client's state directory (`spec/client.md`, "State the client keeps").
//!
//! ```text
//! DIR/trust                              the trust file (`cairn trust init`)
//! DIR/logs/<ID>/releases.checkpoint      last verified release-log checkpoint, verbatim
//! DIR/logs/<ID>/keylog.snapshot          the key log: checkpoint + every entry (snapshot format)
//! DIR/evidence/<time>-<origin>-<sizes>.txt   evidence of log inconsistency
//! ```
//!
//! A client reads and writes this state only through the [`Store`] interface: read a slot,
//! compare-and-swap it, keep evidence. [`StateDir`] is its implementation on a directory; a
//! program embedding the client can bring its own (a database row, a key-value store).
//!
//! `<ID>` is the first 16 hex digits of SHA-256 of the log's verifier key, so two trust files for
//! the same log share one view of it, and a different log never sees another's checkpoints.
//! Every write goes to a temporary file in the same directory, is synced, then renamed.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::error::Context as _;
use cairn_verifier::checkpoint::Inconsistency;
use cairn_verifier::hash::sha256;

use crate::Error;
use crate::trust::Trust;

/// One piece of what a client keeps about a log, named relative to that log's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot(String);

impl Slot {
    /// The last verified release-log checkpoint, verbatim.
    pub fn releases_checkpoint() -> Slot {
        Slot("releases.checkpoint".to_owned())
    }

    /// The verified key log (snapshot format).
    pub fn keylog() -> Slot {
        Slot("keylog.snapshot".to_owned())
    }

    /// A caller's own record, such as `update/example_os.json`: `/`-separated components of
    /// letters, digits, `.`, `-` and `_`, none of them empty, `.` or `..`.
    pub fn named(name: &str) -> crate::Result<Slot> {
        let ok = !name.is_empty()
            && name.len() <= 512
            && name.split('/').all(|c| {
                !c.is_empty()
                    && c != "."
                    && c != ".."
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
        if ok {
            Ok(Slot(name.to_owned()))
        } else {
            Err(Error::Usage(format!(
                "{name:?} is not a valid state slot name"
            )))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Largest value a slot holds: the key log's snapshot limit, and some.
pub const MAX_SLOT_SIZE: usize = 65 << 20;

/// What a compare-and-swap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// The slot held what was expected and now holds the new value.
    Swapped,
    /// The slot changed since it was read (another client sharing the state): what it holds
    /// now. Nothing was written.
    Changed(Option<Vec<u8>>),
}

/// Where a client keeps what it verified, per log (`trust` names the log): the one interface
/// through which the client algorithm reads and writes its state.
pub trait Store: std::fmt::Debug + Send + Sync {
    /// What `slot` holds (at most `limit` bytes), `None` if it was never written.
    fn read(&self, trust: &Trust, slot: &Slot, limit: usize) -> crate::Result<Option<Vec<u8>>>;

    /// Replaces what `slot` holds with `new` if it still holds `expected` (`None`: nothing),
    /// atomically with respect to other clients of the same store.
    fn compare_and_swap(
        &self,
        trust: &Trust,
        slot: &Slot,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> crate::Result<Swap>;

    /// Replaces what `slot` holds with `data`, whatever it was (a caller's own records).
    fn write(&self, trust: &Trust, slot: &Slot, data: &[u8]) -> crate::Result<()>;

    /// Keeps the evidence of an inconsistency; returns where it is (for messages).
    fn write_evidence(&self, inconsistency: &Inconsistency) -> crate::Result<PathBuf>;
}

/// The tree size of a stored checkpoint note (unverified: for ordering what this client
/// itself stored), `None` if it does not parse.
pub fn checkpoint_size(note: &[u8]) -> Option<u64> {
    let note = cairn_verifier::note::Note::parse(note).ok()?;
    cairn_verifier::checkpoint::Checkpoint::parse(note.text())
        .ok()
        .map(|c| c.size)
}

/// Stores `new` in `slot` unless the slot already holds something at least as far along
/// (`size_of` of it is at least `size_of(new)`), by compare-and-swap, so that two clients
/// sharing one state never move it back. Returns whether `new` was written. `size_of` is
/// `None` for bytes it cannot read, which are replaced.
pub fn store_newer(
    store: &dyn Store,
    trust: &Trust,
    slot: &Slot,
    new: &[u8],
    limit: usize,
    size_of: &dyn Fn(&[u8]) -> Option<u64>,
) -> crate::Result<bool> {
    let ours = size_of(new);
    let mut current = store.read(trust, slot, limit)?;
    // Each retry means another client stored a value in between; a few are plenty.
    for _ in 0..8 {
        if let Some(held) = &current
            && let (Some(theirs), Some(ours)) = (size_of(held), ours)
            && theirs >= ours
        {
            return Ok(false);
        }
        match store.compare_and_swap(trust, slot, current.as_deref(), new)? {
            Swap::Swapped => return Ok(true),
            Swap::Changed(now) => current = now,
        }
    }
    Err(crate::error::err!(
        "the state slot {} kept changing while this client stored it (other clients are \
         writing the same state); try again",
        slot.as_str()
    ))
}

/// The client's state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// `--state DIR`, else `$XDG_STATE_HOME/cairn`, else `$HOME/.local/state/cairn`.
    pub fn resolve(explicit: Option<&Path>) -> crate::Result<StateDir> {
        if let Some(dir) = explicit {
            return Ok(StateDir {
                root: dir.to_path_buf(),
            });
        }
        let xdg = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let root = match xdg {
            Some(dir) => dir.join("cairn"),
            None => {
                let home = std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .ok_or_else(|| {
                        Error::Usage(
                            "neither XDG_STATE_HOME nor HOME is set; pass --state DIR".to_owned(),
                        )
                    })?;
                home.join(".local/state/cairn")
            }
        };
        Ok(StateDir { root })
    }

    /// The state directory at `dir`, refused if another user could change it (see
    /// [`StateDir::check`]); created (mode 0700) when first written.
    pub fn open(dir: impl Into<PathBuf>) -> crate::Result<StateDir> {
        let state = StateDir { root: dir.into() };
        state.check()?;
        Ok(state)
    }

    /// A state directory nested in this one (a monitor's or mirror's own).
    pub fn child(&self, name: &str) -> StateDir {
        StateDir {
            root: self.root.join(name),
        }
    }

    /// Takes an exclusive lock on `<dir>/lock` (created if needed), held until the file is
    /// dropped, so that two processes never run the same `what` on this directory at once.
    pub fn lock(&self, what: &str) -> crate::Result<fs::File> {
        self.create()?;
        let path = self.root.join("lock");
        let file = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::Usage(format!(
                "another {what} is running on {} (it holds {})",
                self.root.display(),
                path.display()
            ))),
            Err(e) => {
                Err(std::io::Error::from(e)).with_context(|| format!("locking {}", path.display()))
            }
        }
    }

    /// Creates the directory (mode 0700) if needed.
    pub fn create(&self) -> crate::Result<()> {
        create_private_dir(&self.root)
    }

    /// Where `cairn trust init` writes the trust file.
    pub fn trust_path(&self) -> PathBuf {
        self.root.join("trust")
    }

    /// The directory holding what this client verified of the log `trust` names.
    pub fn log_dir(&self, trust: &Trust) -> PathBuf {
        let digest = sha256(trust.identity().as_bytes());
        let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        self.root.join("logs").join(id)
    }

    /// The last verified release-log checkpoint.
    pub fn releases_checkpoint_path(&self, trust: &Trust) -> PathBuf {
        self.log_dir(trust).join("releases.checkpoint")
    }

    /// The stored key log.
    pub fn keylog_path(&self, trust: &Trust) -> PathBuf {
        self.log_dir(trust).join("keylog.snapshot")
    }

    /// Reads a state file (size-capped, regular files only); `None` if it does not exist.
    pub fn read(&self, path: &Path, limit: usize) -> crate::Result<Option<Vec<u8>>> {
        read_private(path, limit, "state file")
    }

    /// Refuses a state directory another user could change: one that is not a directory,
    /// is writable by group or others, or belongs to another user (root excepted), as ssh
    /// does for its own directory. What it holds decides which checkpoints and keys a client
    /// trusts. A directory that does not exist yet is fine (it is created with mode 0700).
    pub fn check(&self) -> crate::Result<()> {
        match fs::metadata(&self.root) {
            Ok(meta) => check_not_shared(&self.root, &meta, "state directory", true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => {
                Err(e).with_context(|| format!("reading state directory {}", self.root.display()))
            }
        }
    }

    /// Writes a state file atomically, creating its directory.
    pub fn write(&self, path: &Path, data: &[u8]) -> crate::Result<()> {
        if let Some(parent) = path.parent() {
            create_private_dir(parent)?;
        }
        write_atomic(path, data, 0o600)
    }

    /// Writes the evidence of an inconsistency and returns the file's path.
    pub fn write_evidence(&self, inconsistency: &Inconsistency) -> crate::Result<PathBuf> {
        let dir = self.root.join("evidence");
        create_private_dir(&dir)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let origin: String = inconsistency
            .older()
            .origin()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect();
        let base = format!(
            "{now}-{origin}-{}-{}",
            inconsistency.older().size(),
            inconsistency.newer().size()
        );
        let mut path = dir.join(format!("{base}.txt"));
        let mut n = 1;
        while path.exists() {
            path = dir.join(format!("{base}-{n}.txt"));
            n += 1;
        }
        write_atomic(&path, inconsistency.to_evidence().as_bytes(), 0o644)?;
        Ok(path)
    }
}

impl StateDir {
    fn slot_path(&self, trust: &Trust, slot: &Slot) -> PathBuf {
        self.log_dir(trust).join(slot.as_str())
    }
}

impl Store for StateDir {
    fn read(&self, trust: &Trust, slot: &Slot, limit: usize) -> crate::Result<Option<Vec<u8>>> {
        read_private(&self.slot_path(trust, slot), limit, "state file")
    }

    fn compare_and_swap(
        &self,
        trust: &Trust,
        slot: &Slot,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> crate::Result<Swap> {
        let dir = self.log_dir(trust);
        create_private_dir(&dir)?;
        // One lock per log's state, held for the read-compare-write only (blocking: another
        // client holds it for milliseconds).
        let lock_path = dir.join(".swap-lock");
        let lock = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(std::io::Error::from)
            .with_context(|| format!("locking {}", lock_path.display()))?;
        let path = self.slot_path(trust, slot);
        let current = read_private(&path, MAX_SLOT_SIZE, "state file")?;
        if current.as_deref() != expected {
            return Ok(Swap::Changed(current));
        }
        self.write(&path, new)?;
        Ok(Swap::Swapped)
    }

    fn write(&self, trust: &Trust, slot: &Slot, data: &[u8]) -> crate::Result<()> {
        StateDir::write(self, &self.slot_path(trust, slot), data)
    }

    fn write_evidence(&self, inconsistency: &Inconsistency) -> crate::Result<PathBuf> {
        StateDir::write_evidence(self, inconsistency)
    }
}

/// Refuses `path` (described by `meta`) if it is not a regular file (or, with `dir`, a
/// directory), if group or others may write it, or if it belongs to another user than this
/// process's (root-owned files are accepted, as system-wide configuration).
pub fn check_not_shared(
    path: &Path,
    meta: &fs::Metadata,
    what: &str,
    dir: bool,
) -> crate::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let kind = meta.file_type();
    let right_kind = if dir { kind.is_dir() } else { kind.is_file() };
    if !right_kind {
        return Err(Error::Usage(format!(
            "{what} {} is not a {} ({}); refusing to use it",
            path.display(),
            if dir { "directory" } else { "regular file" },
            file_kind(meta)
        )));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Error::Usage(format!(
            "{what} {} has mode {mode:04o}, writable by other users; refusing to use it (run \
             `chmod go-w {}` if nobody changed it, else start over with `cairn trust init`)",
            path.display(),
            path.display()
        )));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(Error::Usage(format!(
            "{what} {} belongs to user {}, not to this user ({me}) or root; refusing to use it",
            path.display(),
            meta.uid()
        )));
    }
    Ok(())
}

fn file_kind(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

/// Reads at most `limit` bytes of the regular file `path` that other users cannot change
/// ([`check_not_shared`]); `None` if it does not exist. The file is opened without blocking
/// and checked again once open, so a FIFO or device swapped in is refused, never waited on
/// or read without end.
pub fn read_private(path: &Path, limit: usize, what: &str) -> crate::Result<Option<Vec<u8>>> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = match fs::File::options()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("opening {what} {}", path.display())),
    };
    let meta = file
        .metadata()
        .with_context(|| format!("reading {what} {}", path.display()))?;
    check_not_shared(path, &meta, what, false)?;
    let mut data = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    std::io::Read::read_to_end(&mut std::io::Read::take(file, cap), &mut data)
        .with_context(|| format!("reading {what} {}", path.display()))?;
    if data.len() > limit {
        return Err(Error::Usage(format!(
            "{what} {} is larger than {limit} bytes; refusing to use it",
            path.display()
        )));
    }
    Ok(Some(data))
}

/// Creates `dir` and its parents, mode 0700, if needed.
pub fn create_private_dir(dir: &Path) -> crate::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting the mode of {}", dir.display()))
}

/// Writes `data` to `path` through a temporary file in the same directory: write, sync,
/// rename, sync the directory. Readers see the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> crate::Result<()> {
    cairn_durable::write_file(path, data, mode, cairn_durable::Existing::Replace)?;
    Ok(())
}

/// Syncs a directory so a rename in it survives a crash. Best effort: some file systems refuse.
pub fn sync_dir(dir: &Path) {
    let _ = cairn_durable::sync_dir(dir);
}

#[cfg(test)]
mod tests {
    use cairn_verifier::note::{Ed25519Signer, KeyName};

    use super::*;

    fn trust() -> Trust {
        let key = |name: &str, seed: u8| {
            Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32])
                .verifier()
                .to_vkey()
        };
        let log = vec![key("t.example/releases", 1), key("t.example/keys", 2)];
        Trust::build(
            &log,
            "http://t.example",
            &[key("t.example/root", 3)],
            1,
            &[],
            0,
            crate::trust::DEFAULT_MAX_AGE,
        )
        .expect("a trust policy")
    }

    fn note(size: u64) -> Vec<u8> {
        let root = cairn_verifier::hash::Hash([size as u8; 32]);
        let text = cairn_verifier::checkpoint::Checkpoint::new("t.example/releases", size, root)
            .to_text()
            .expect("checkpoint text");
        let signer =
            Ed25519Signer::from_seed(KeyName::new("t.example/releases").expect("n"), [1; 32]);
        cairn_verifier::note::Note::sign(&text, &[&signer])
            .expect("signs")
            .to_bytes()
    }

    #[test]
    fn compare_and_swap_writes_only_over_what_was_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (
            StateDir::open(dir.path()).expect("open"),
            StateDir::open(dir.path()).expect("open"),
        );
        let (trust, slot) = (trust(), Slot::releases_checkpoint());
        assert_eq!(Store::read(&a, &trust, &slot, 1024).expect("read"), None);
        assert_eq!(
            a.compare_and_swap(&trust, &slot, None, b"one")
                .expect("cas"),
            Swap::Swapped
        );
        // b read nothing earlier: its swap must not overwrite a's value.
        assert_eq!(
            b.compare_and_swap(&trust, &slot, None, b"two")
                .expect("cas"),
            Swap::Changed(Some(b"one".to_vec()))
        );
        assert_eq!(
            b.compare_and_swap(&trust, &slot, Some(b"one"), b"two")
                .expect("cas"),
            Swap::Swapped
        );
        assert_eq!(
            Store::read(&a, &trust, &slot, 1024).expect("read"),
            Some(b"two".to_vec())
        );
    }

    #[test]
    fn store_newer_never_moves_a_checkpoint_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::open(dir.path()).expect("open");
        let (trust, slot) = (trust(), Slot::releases_checkpoint());
        let store = |n: &[u8]| {
            store_newer(&state, &trust, &slot, n, 4096, &checkpoint_size).expect("store")
        };
        assert!(checkpoint_size(&note(7)) == Some(7), "the test note parses");
        assert!(store(&note(5)));
        assert!(store(&note(9)));
        // Another client verified size 9; this one, slower, verified 7: 9 stays.
        assert!(!store(&note(7)));
        assert!(!store(&note(9)));
        assert_eq!(
            Store::read(&state, &trust, &slot, 4096).expect("read"),
            Some(note(9))
        );
        // Damaged bytes are replaced.
        Store::write(&state, &trust, &slot, b"garbage").expect("write");
        assert!(store(&note(3)));
    }

    #[test]
    fn slot_names_stay_inside_the_log_directory() {
        assert!(Slot::named("update/example/os.json").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "./a",
            "a/",
            "a b",
            "x\0y",
        ] {
            assert!(Slot::named(bad).is_err(), "{bad:?}");
        }
    }
}
