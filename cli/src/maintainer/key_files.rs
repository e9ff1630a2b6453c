//! Key material named on the command line: signing keys (SECRET: a file, which must be private)
//! and verifier keys (PUB, VKEY: a C2SP vkey given inline or the path of a file holding one).

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use cairn_keys::{KeyError, KeyRef};
use cairn_verifier::cosignature::CosignatureSigner;
use cairn_verifier::note::{
    Ed25519Signer, Ed25519Verifier, KeyName, NoteSigner, NoteVerifier as _,
};
use cairn_verifier::signer::KeySigner;

use cairn_client::Error;

/// What to say when a secret key is given where a verifier key is expected.
pub(crate) const SECRET_KEY_GIVEN: &str = "this is a secret (signing) key; pass the verifier key (the .pub file) instead, and keep \
     the secret key private";

/// Whether `text` looks like a C2SP signed-note secret key (`PRIVATE+KEY+...`).
pub(crate) fn is_secret_key(text: &str) -> bool {
    text.trim_start().starts_with("PRIVATE+KEY+")
}

/// Longest key file read: a signing key is one short line; anything larger is not one.
const MAX_KEY_FILE_SIZE: u64 = 4096;

/// Loads a signing key from `path`, refusing a file that other users can read or write (mode
/// looser than 0600), as ssh does: a key others could read may already be someone else's.
pub(crate) fn load_signer(path: &Path) -> anyhow::Result<Ed25519Signer> {
    let text = read_secret(path)?;
    Ed25519Signer::from_skey(text.trim_end_matches('\n')).map_err(|e| {
        Error::Usage(format!(
            "{} is not a cairn signing key (made by `cairn keygen`): {e}",
            path.display()
        ))
        .into()
    })
}

/// Reads a secret key file after refusing one that is not a regular file or that other users
/// can read or write.
fn read_secret(path: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("reading signing key {}", path.display()))?;
    if !meta.is_file() {
        return Err(Error::Usage(format!(
            "signing key {} is not a regular file",
            path.display()
        ))
        .into());
    }
    // Name the kind of key before judging its permissions: a verifier key is public, so
    // its mode says nothing, and the user needs to hear that it is the wrong file.
    if let Ok(text) = read_small(path, "signing key")
        && Ed25519Verifier::from_vkey(text.lines().next().unwrap_or_default().trim()).is_ok()
    {
        return Err(Error::Usage(format!(
            "{} is a verifier key (public); pass the signing key (the file `cairn keygen` \
             wrote without .pub)",
            path.display()
        ))
        .into());
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::Usage(format!(
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
    if is_secret_key(arg) {
        return Err(Error::Usage(format!("{what}: {SECRET_KEY_GIVEN}")).into());
    }
    let path = Path::new(arg);
    if !path.exists() {
        return Err(Error::Usage(format!(
            "{what} {arg:?} is neither a verifier key (name+keyid+base64) nor an existing file"
        ))
        .into());
    }
    let text = read_small(path, what)?;
    let line = text.lines().next().unwrap_or_default().trim();
    if is_secret_key(line) {
        return Err(Error::Usage(format!(
            "{what} file {}: {SECRET_KEY_GIVEN}",
            path.display()
        ))
        .into());
    }
    Ed25519Verifier::from_vkey(line).map_err(|e| {
        Error::Usage(format!(
            "{what} file {} does not hold an Ed25519 verifier key: {e}",
            path.display()
        ))
        .into()
    })
}

/// The log's verifier keys (`--log-key`): a vkey, or a file holding the two per-origin keys
/// `cairn init` prints (`PREFIX/releases+...` and `PREFIX/keys+...`, one a line). A single key
/// named `PREFIX` (logs made before per-origin keys) stands for both origins, with a warning.
#[derive(Debug, Clone)]
pub(crate) struct LogKey {
    keys: Vec<Ed25519Verifier>,
}

impl LogKey {
    pub(crate) fn parse(arg: &str) -> anyhow::Result<LogKey> {
        let mut keys = Vec::new();
        for line in crate::client::trust::vkey_lines(arg)? {
            keys.push(Ed25519Verifier::from_vkey(&line).map_err(|e| {
                Error::Usage(format!(
                    "--log-key: {line:?} is not an Ed25519 verifier key: {e}"
                ))
            })?);
        }
        if let [key] = keys.as_slice() {
            let name = key.name().as_str();
            if !name.ends_with("/releases") && !name.ends_with("/keys") {
                eprintln!(
                    "cairn: warning: --log-key {name:?} is a single log key (deprecated); pass \
                     the file with the log's two per-origin keys (PREFIX/releases and \
                     PREFIX/keys) that `cairn init` printed"
                );
            }
        }
        Ok(LogKey { keys })
    }

    /// The origin of one of the two logs, `PREFIX/releases` or `PREFIX/keys`.
    pub(crate) fn origin(&self, log: &str) -> String {
        for key in &self.keys {
            let name = key.name().as_str();
            if name.ends_with(&format!("/{log}")) {
                return name.to_owned();
            }
            if let Some(prefix) = name
                .strip_suffix("/releases")
                .or_else(|| name.strip_suffix("/keys"))
            {
                return format!("{prefix}/{log}");
            }
        }
        let prefix = self.keys.first().map(|k| k.name().as_str()).unwrap_or("");
        format!("{prefix}/{log}")
    }

    /// The verifier of that log's checkpoints.
    pub(crate) fn verifier_for(&self, log: &str) -> anyhow::Result<Ed25519Verifier> {
        let origin = self.origin(log);
        if let Some(key) = self.keys.iter().find(|k| k.name().as_str() == origin) {
            return Ok(key.clone());
        }
        let single = self.keys.iter().find(|k| {
            let name = k.name().as_str();
            !name.ends_with("/releases") && !name.ends_with("/keys")
        });
        match single {
            Some(key) => {
                let name = KeyName::new(&origin)
                    .map_err(|e| Error::Usage(format!("--log-key: origin prefix too long: {e}")))?;
                Ok(key.with_name(name))
            }
            None => Err(Error::Usage(format!(
                "--log-key has no key named {origin}: pass the file with both of the log's \
                 verifier keys"
            ))
            .into()),
        }
    }
}

fn read_small(path: &Path, what: &str) -> anyhow::Result<String> {
    let bytes = read_small_file(path, what)?;
    String::from_utf8(bytes).map_err(|_| {
        Error::Usage(format!("{what} file {} is not UTF-8 text", path.display())).into()
    })
}

/// Reads a key file: a regular file (a FIFO or device is refused without blocking on it) of
/// at most [`MAX_KEY_FILE_SIZE`] bytes.
pub(crate) fn read_small_file(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .with_context(|| format!("opening {what} {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("reading {what} {}", path.display()))?;
    if !meta.is_file() {
        return Err(
            Error::Usage(format!("{what} {} is not a regular file", path.display())).into(),
        );
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {what} {}", path.display()))?;
    if bytes.len() as u64 > MAX_KEY_FILE_SIZE {
        return Err(Error::Usage(format!(
            "{what} file {} is larger than a key file can be",
            path.display()
        ))
        .into());
    }
    Ok(bytes)
}

/// Opens the signing key KEYREF (`--key`): a key file (as [`load_signer`]), a `pkcs11:` URI or
/// an `ssh-agent:` key. A token or agent key carries no name, so `name` (`--key-name`) must be
/// given for it; for a key file, a given name must be the file's.
pub(crate) fn load_key(keyref: &str, name: Option<&str>) -> anyhow::Result<KeySigner> {
    match parse_keyref(keyref)? {
        KeyRef::File(path) => {
            let signer = load_signer(&path)?;
            if let Some(name) = name {
                let own = NoteSigner::name(&signer).as_str();
                if own != name {
                    return Err(Error::Usage(format!(
                        "--key-name {name:?} does not match the name {own:?} in key file {}",
                        path.display()
                    ))
                    .into());
                }
            }
            Ok(KeySigner::from(signer))
        }
        external => {
            let name = required_key_name(name)?;
            external.open_named(name).map_err(key_error)
        }
    }
}

/// Opens a witness's key (`cairn witness --key`): an Ed25519 key file (cosignature/v1), an
/// ML-DSA-44 key file (`cairn keygen --alg ml-dsa-44`, subtree/v1), or an Ed25519 key in a
/// token or an agent, named `name`.
pub(crate) fn load_cosigner(keyref: &str, name: Option<&str>) -> anyhow::Result<CosignatureSigner> {
    match parse_keyref(keyref)? {
        KeyRef::File(path) => {
            // Ed25519 (type 0x01 or 0x04) or ML-DSA-44 (type 0x06) key files.
            let text = read_secret(&path)?;
            let signer =
                CosignatureSigner::from_skey(text.trim_end_matches('\n')).map_err(|e| {
                    Error::Usage(format!(
                        "{} is not a cairn witness key (made by `cairn keygen`): {e}",
                        path.display()
                    ))
                })?;
            if let Some(name) = name
                && signer.name().as_str() != name
            {
                return Err(Error::Usage(format!(
                    "--key-name {name:?} does not match the name {:?} in key file {}",
                    signer.name().as_str(),
                    path.display()
                ))
                .into());
            }
            Ok(signer)
        }
        external => {
            let name = cairn_keys::key_name(required_key_name(name)?).map_err(key_error)?;
            let key = external.open_external().map_err(key_error)?;
            CosignatureSigner::from_key(name, key)
                .map_err(|e| anyhow::anyhow!("--key {keyref}: {e}"))
        }
    }
}

/// Parses KEYREF, a malformed one being a usage error.
pub(crate) fn parse_keyref(keyref: &str) -> anyhow::Result<KeyRef> {
    KeyRef::parse(keyref).map_err(key_error)
}

fn required_key_name(name: Option<&str>) -> anyhow::Result<&str> {
    name.ok_or_else(|| {
        Error::Usage(
            "a key name is required with a pkcs11: or ssh-agent: key (--key-name NAME; --name \
             NAME for `cairn vkey`): the name its verifier key carries, which a token or an \
             agent does not store"
                .to_owned(),
        )
        .into()
    })
}

/// A reference or name error is a usage error (exit 2); a device that fails is operational.
pub(crate) fn key_error(e: KeyError) -> anyhow::Error {
    match e {
        KeyError::BadReference { .. } | KeyError::BadName { .. } => {
            Error::Usage(e.to_string()).into()
        }
        other => anyhow::Error::new(other),
    }
}
