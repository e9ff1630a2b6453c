//! Key material named on the command line: signing keys (SECRET: a file, which must be private)
//! and verifier keys (PUB, VKEY: a C2SP vkey given inline or the path of a file holding one).

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use cairn_verifier::note::{Ed25519Signer, Ed25519Verifier, KeyName, NoteVerifier as _};

use crate::exit::Failure;

/// Longest key file read: a signing key is one short line; anything larger is not one.
const MAX_KEY_FILE_SIZE: u64 = 4096;

/// Loads a signing key from `path`, refusing a file that other users can read or write (mode
/// looser than 0600), as ssh does: a key others could read may already be someone else's.
pub(crate) fn load_signer(path: &Path) -> anyhow::Result<Ed25519Signer> {
    let text = read_secret(path)?;
    Ed25519Signer::from_skey(text.trim_end_matches('\n')).map_err(|e| {
        Failure::Usage(format!(
            "{} is not a cairn signing key (made by `cairn keygen`): {e}",
            path.display()
        ))
        .into()
    })
}

/// Reads a witness key: an Ed25519 key (`cairn keygen`) or an ML-DSA-44 one
/// (`cairn keygen --alg ml-dsa-44`), with the same permission checks as [`load_signer`].
pub(crate) fn load_cosigner(
    path: &Path,
) -> anyhow::Result<cairn_verifier::cosignature::CosignatureSigner> {
    let text = read_secret(path)?;
    cairn_verifier::cosignature::CosignatureSigner::from_skey(text.trim_end_matches('\n')).map_err(
        |e| {
            Failure::Usage(format!(
                "{} is not a cairn witness key (made by `cairn keygen`): {e}",
                path.display()
            ))
            .into()
        },
    )
}

/// Reads a secret key file after refusing one that is not a regular file or that other users
/// can read or write.
fn read_secret(path: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("reading signing key {}", path.display()))?;
    if !meta.is_file() {
        return Err(Failure::Usage(format!(
            "signing key {} is not a regular file",
            path.display()
        ))
        .into());
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::Usage(format!(
            "signing key {} has mode {mode:04o}, readable or writable by other users; \
             refusing to use it (run `chmod 600 {}` if it was not exposed, else treat it as \
             compromised)",
            path.display(),
            path.display()
        ))
        .into());
    }
    read_small(path, "signing key")
}

pub(crate) fn read_verifier(arg: &str, what: &str) -> anyhow::Result<Ed25519Verifier> {
    if let Ok(key) = Ed25519Verifier::from_vkey(arg) {
        return Ok(key);
    }
    let path = Path::new(arg);
    if !path.exists() {
        return Err(Failure::Usage(format!(
            "{what} {arg:?} is neither a verifier key (name+keyid+base64) nor an existing file"
        ))
        .into());
    }
    let text = read_small(path, what)?;
    let line = text.lines().next().unwrap_or_default().trim();
    Ed25519Verifier::from_vkey(line).map_err(|e| {
        Failure::Usage(format!(
            "{what} file {} does not hold an Ed25519 verifier key: {e}",
            path.display()
        ))
        .into()
    })
}

/// The log's verifier key (`--log-key`): its key name is the log's origin prefix, and the log
/// signs each checkpoint under the per-log origin `PREFIX/releases` or `PREFIX/keys` with the
/// same key material.
#[derive(Debug, Clone)]
pub(crate) struct LogKey {
    prefix: String,
    key: Ed25519Verifier,
}

impl LogKey {
    pub(crate) fn parse(arg: &str) -> anyhow::Result<LogKey> {
        let key = read_verifier(arg, "--log-key")?;
        Ok(LogKey {
            prefix: key.name().as_str().to_owned(),
            key,
        })
    }

    /// The origin of one of the two logs, `PREFIX/releases` or `PREFIX/keys`.
    pub(crate) fn origin(&self, log: &str) -> String {
        format!("{}/{log}", self.prefix)
    }

    /// The verifier of that log's checkpoints.
    pub(crate) fn verifier_for(&self, log: &str) -> anyhow::Result<Ed25519Verifier> {
        let name = KeyName::new(&self.origin(log))
            .map_err(|e| Failure::Usage(format!("--log-key: origin prefix too long: {e}")))?;
        Ok(self.key.with_name(name))
    }
}

fn read_small(path: &Path, what: &str) -> anyhow::Result<String> {
    let file =
        std::fs::File::open(path).with_context(|| format!("opening {what} {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {what} {}", path.display()))?;
    if bytes.len() as u64 > MAX_KEY_FILE_SIZE {
        return Err(Failure::Usage(format!(
            "{what} file {} is larger than a key file can be",
            path.display()
        ))
        .into());
    }
    String::from_utf8(bytes).map_err(|_| {
        Failure::Usage(format!("{what} file {} is not UTF-8 text", path.display())).into()
    })
}
