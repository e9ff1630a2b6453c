//! The data directory of a log server and its configuration file.
//!
//! ```text
//! DIR/config.toml   origin prefix, sequencer and limit settings, witnesses
//! DIR/releases.key  the release log's Ed25519 signing key (PRIVATE+KEY+PREFIX/releases+...), 0600;
//!                   absent when config.toml's `releases_key` names a key in a PKCS#11 token or
//!                   ssh-agent
//! DIR/keys.key      the key log's Ed25519 signing key (PRIVATE+KEY+PREFIX/keys+...), 0600; absent
//!                   when config.toml's `keys_key` names one
//! DIR/log.key       before the migration to per-origin keys: the one key (named PREFIX) both
//!                   logs were signed with; kept after the migration while old trust files are in
//!                   use, so checkpoints also carry its signature (docs/operators.md); config.toml's
//!                   `log_key` names it instead when it is in a token or an agent
//! DIR/repo.git      the bare git repository (spec/git-layout.md)
//! ```

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_keys::KeyRef;
use cairn_verifier::note::{Ed25519Signer, KeyName, NoteSigner as _};
use cairn_verifier::signer::KeySigner;
use serde::{Deserialize, Serialize};

/// Name of the configuration file inside the data directory.
pub const CONFIG_FILE: &str = "config.toml";
/// Name of the pre-migration single log key file (named PREFIX) inside the data directory.
pub const LOG_KEY_FILE: &str = "log.key";
/// Name of the release log's key file (named PREFIX/releases).
pub const RELEASES_KEY_FILE: &str = "releases.key";
/// Name of the key log's key file (named PREFIX/keys).
pub const KEYS_KEY_FILE: &str = "keys.key";
/// Name of the bare repository inside the data directory.
pub const REPO_DIR: &str = "repo.git";

/// Why a data directory could not be created or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Reading or writing a file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration file does not parse.
    #[error("{path}: {message}")]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The log key file is malformed or does not belong to this log.
    #[error("{path}: {message}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A log key named in config.toml (a token or agent key) cannot be used.
    #[error("log key {reference}: {message}")]
    KeyUnavailable {
        /// The reference (any PIN value hidden).
        reference: String,
        /// What failed, one line.
        message: String,
    },
    /// The directory already holds a log.
    #[error("{0} already holds a Cairn log; refusing to overwrite it")]
    AlreadyExists(PathBuf),
    /// The directory does not hold a log.
    #[error("{0} is not a Cairn data directory (no {CONFIG_FILE}); create one with `cairn init`")]
    NotADataDir(PathBuf),
}

/// Settings of the sequencer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SequencerConfig {
    /// Shortest time between the starts of two batch commits, in milliseconds. An idle log
    /// commits a submission at once; under load this bounds the commits per second.
    pub batch_interval_ms: u64,
    /// Most entries in one batch.
    pub batch_max_entries: usize,
}

impl Default for SequencerConfig {
    fn default() -> SequencerConfig {
        SequencerConfig {
            batch_interval_ms: 10,
            batch_max_entries: 4096,
        }
    }
}

/// Submission limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Submissions per second per client address (0: unlimited).
    pub per_address_per_second: u32,
    /// Submissions per second per verified signing key (0: unlimited).
    pub per_key_per_second: u32,
    /// Reverse proxies (addresses or CIDR blocks, e.g. `127.0.0.1/32`) whose `Forwarded` or
    /// `X-Forwarded-For` header names the client for the per-address limit. The header of any
    /// other peer is ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            per_address_per_second: 50,
            per_key_per_second: 20,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Connection limits of the HTTP server (docs/operators.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// A request head must arrive within this, and an idle keep-alive connection is closed
    /// after it; in seconds.
    pub header_timeout_secs: u64,
    /// A request body must arrive whole within this; in seconds.
    pub body_timeout_secs: u64,
    /// Most connections served at once (lowered at start to what the open-file limit allows).
    pub max_connections: usize,
}

impl Default for ConnectionsConfig {
    fn default() -> ConnectionsConfig {
        ConnectionsConfig {
            header_timeout_secs: crate::listener::DEFAULT_HEADER_TIMEOUT.as_secs(),
            body_timeout_secs: crate::listener::DEFAULT_BODY_TIMEOUT.as_secs(),
            max_connections: crate::listener::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// What the log accepts beyond the entry grammar and the key log's rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AcceptConfig {
    /// Accept an `add` key event whose `from` lies before the release log's current size
    /// (spec/keylog.md 4.4: it would make releases already logged valid after the fact).
    pub allow_backdated_from: bool,
}

/// A witness the log asks for cosignatures (c2sp.org/tlog-witness).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Local name of the witness.
    pub name: String,
    /// The witness's cosignature verifier key.
    pub vkey: String,
    /// The witness's submission prefix URL.
    pub url: String,
}

/// How the log asks its witnesses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WitnessingConfig {
    /// Longest wait for one witness's answer (both attempts), in milliseconds.
    pub timeout_ms: u64,
    /// When no new checkpoint was made for this long, ask again for the current one, so that
    /// cosignature timestamps stay fresh for clients' max-age checks; in seconds.
    pub refresh_secs: u64,
}

impl Default for WitnessingConfig {
    fn default() -> WitnessingConfig {
        WitnessingConfig {
            timeout_ms: 5_000,
            refresh_secs: 3_600,
        }
    }
}

/// An operator command run after each new release-log checkpoint is published.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// The command, run with `/bin/sh -c` (docs/channels.md lists its environment).
    pub command: String,
    /// Longest a run may take before it is killed, in seconds.
    #[serde(default = "default_hook_timeout")]
    pub timeout_secs: u64,
}

fn default_hook_timeout() -> u64 {
    60
}

/// The contents of `config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The log's identity: origins are `PREFIX/releases` and `PREFIX/keys`.
    pub origin: String,
    /// The release log's key when it is not `releases.key`: a `pkcs11:` URI or an `ssh-agent:`
    /// key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releases_key: Option<String>,
    /// The key log's key when it is not `keys.key`: a `pkcs11:` URI or an `ssh-agent:` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_key: Option<String>,
    /// The single key of a log made before per-origin keys, when it is not `log.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_key: Option<String>,
    /// Sequencer settings.
    #[serde(default)]
    pub sequencer: SequencerConfig,
    /// Submission limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Connection timeouts and cap.
    #[serde(default)]
    pub connections: ConnectionsConfig,
    /// What the log accepts.
    #[serde(default)]
    pub accept: AcceptConfig,
    /// Witnesses. Not written when empty, so that the `[[witness]]` tables of
    /// docs/operators.md can be appended to the file `cairn init` wrote.
    #[serde(default, rename = "witness", skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<WitnessConfig>,
    /// Witness request timeout and refresh.
    #[serde(default)]
    pub witnessing: WitnessingConfig,
    /// The publication hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<HookConfig>,
}

impl Config {
    /// The batch interval as a duration.
    pub fn batch_interval(&self) -> Duration {
        Duration::from_millis(self.sequencer.batch_interval_ms)
    }
}

/// An opened data directory: configuration, the log's key, and where the repository is.
#[derive(Debug)]
pub struct DataDir {
    /// The directory.
    pub path: PathBuf,
    /// Its configuration.
    pub config: Config,
    /// The log's signing keys.
    pub keys: LogKeys,
}

/// The log's signing keys: one per origin, so that each log's published verifier key is named
/// after its origin and no two logs share a public key (c2sp.org/tlog-policy refuses two `log`
/// lines wrapping the same public key). Each may be a key file or a token or agent key.
#[derive(Debug, Clone)]
pub struct LogKeys {
    /// Signs the release log's checkpoints; named `PREFIX/releases`.
    pub releases: KeySigner,
    /// Signs the key log's checkpoints; named `PREFIX/keys`.
    pub keys: KeySigner,
    /// The pre-migration single key, named `PREFIX`, when `log.key` (or config.toml's
    /// `log_key`) is still present. A log whose checkpoint key differs from it also signs that
    /// log's checkpoints with it (under the origin's name), so trust files made from the old
    /// `PREFIX` verifier key keep verifying.
    pub legacy: Option<KeySigner>,
}

fn public_key(key: &KeySigner) -> [u8; 32] {
    key.key().public_key()
}

impl LogKeys {
    /// The keys of a log that has not migrated: both origins signed with `key` (named PREFIX).
    pub fn single(key: &KeySigner, prefix: &str) -> Result<LogKeys, String> {
        let name = |log: &str| {
            KeyName::new(&format!("{prefix}/{log}")).map_err(|e| format!("origin: {e}"))
        };
        Ok(LogKeys {
            releases: key.with_name(name("releases")?),
            keys: key.with_name(name("keys")?),
            legacy: Some(key.clone()),
        })
    }

    /// Whether both origins are signed with one public key (a log that has not migrated to
    /// per-origin keys).
    pub fn is_single_key(&self) -> bool {
        public_key(&self.releases) == public_key(&self.keys)
    }

    /// The signer named after `log`'s origin (`"releases"` or `"keys"`).
    pub fn primary(&self, log: &str) -> &KeySigner {
        if log == "keys" {
            &self.keys
        } else {
            &self.releases
        }
    }

    /// Every key a checkpoint of `log` is signed with: its own, then the legacy key under the
    /// origin's name if that is a different public key.
    pub fn signers(&self, log: &str) -> Vec<KeySigner> {
        let primary = self.primary(log);
        let mut out = vec![primary.clone()];
        if let Some(legacy) = &self.legacy {
            if public_key(legacy) != public_key(primary) {
                out.push(legacy.with_name(primary.name().clone()));
            }
        }
        out
    }

    /// Every key a stored checkpoint of `log` may be signed with when the log opens: the keys
    /// it signs with now ([`LogKeys::signers`]), and any other key of this data directory under
    /// the origin's name. Right after `cairn migrate-keys` the stored key-log checkpoint
    /// carries only the old key's signature (made with what is now the release log's key); if
    /// `log.key` was deleted before the server started again, that signature still proves the
    /// checkpoint is this log's own. [`crate::log::Log::open`] then re-signs it.
    pub fn accepted(&self, log: &str) -> Vec<KeySigner> {
        let name = self.primary(log).name().clone();
        let mut out = self.signers(log);
        for key in [&self.releases, &self.keys]
            .into_iter()
            .chain(self.legacy.as_ref())
        {
            if out.iter().all(|k| public_key(k) != public_key(key)) {
                out.push(key.with_name(name.clone()));
            }
        }
        out
    }

    /// The per-origin verifier keys, one line each (release log first): what `cairn init`
    /// prints, what `cairn-log.vkey` holds and what clients and witnesses take.
    /// A log that has not migrated keeps naming its one key `PREFIX` there.
    pub fn vkeys(&self) -> String {
        if let (true, Some(legacy)) = (self.is_single_key(), &self.legacy) {
            return format!("{}\n", legacy.verifier().to_vkey());
        }
        format!(
            "{}\n{}\n",
            self.releases.verifier().to_vkey(),
            self.keys.verifier().to_vkey()
        )
    }
}

/// A new log's signing key, given to [`DataDir::create`].
#[derive(Debug)]
pub enum NewKey {
    /// Written to the data directory (`releases.key` or `keys.key`, mode 0600).
    File(Ed25519Signer),
    /// A key in a PKCS#11 token or an ssh-agent: its reference is recorded in config.toml and
    /// no key file is written.
    Reference {
        /// The `pkcs11:` URI or `ssh-agent:` key, as the operator gave it.
        reference: String,
        /// The key, already opened and named after its origin.
        key: KeySigner,
    },
}

impl NewKey {
    fn signer(&self) -> KeySigner {
        match self {
            NewKey::File(signer) => KeySigner::from(signer.with_name(signer.name().clone())),
            NewKey::Reference { key, .. } => key.clone(),
        }
    }
}

/// The two signing keys of a new log.
#[derive(Debug)]
pub struct NewLogKeys {
    /// The release log's key, named `PREFIX/releases`.
    pub releases: NewKey,
    /// The key log's key, named `PREFIX/keys`.
    pub keys: NewKey,
}

impl DataDir {
    /// Creates `path` (which must not hold a log) with a configuration and the per-origin log
    /// keys. The repository itself is created by the storage layer.
    pub fn create(
        path: &Path,
        mut config: Config,
        new_keys: NewLogKeys,
    ) -> Result<DataDir, ConfigError> {
        check_origin_prefix(&config.origin).map_err(|message| ConfigError::BadConfig {
            path: path.join(CONFIG_FILE),
            message,
        })?;
        let keys = LogKeys {
            releases: new_keys.releases.signer(),
            keys: new_keys.keys.signer(),
            legacy: None,
        };
        for (file, key, log) in [
            (RELEASES_KEY_FILE, &keys.releases, "releases"),
            (KEYS_KEY_FILE, &keys.keys, "keys"),
        ] {
            let origin = format!("{}/{log}", config.origin);
            if key.name().as_str() != origin {
                return Err(ConfigError::BadKey {
                    path: path.join(file),
                    message: format!(
                        "the {log} log's key is named {:?} but its origin is {origin:?}",
                        key.name().as_str()
                    ),
                });
            }
        }
        if keys.is_single_key() {
            return Err(ConfigError::BadKey {
                path: path.join(KEYS_KEY_FILE),
                message: "the release log and the key log need different keys".to_owned(),
            });
        }
        if path.join(CONFIG_FILE).exists() || path.join(REPO_DIR).exists() {
            return Err(ConfigError::AlreadyExists(path.to_owned()));
        }
        config.log_key = None;
        config.releases_key = match &new_keys.releases {
            NewKey::Reference { reference, .. } => Some(reference.clone()),
            NewKey::File(_) => None,
        };
        config.keys_key = match &new_keys.keys {
            NewKey::Reference { reference, .. } => Some(reference.clone()),
            NewKey::File(_) => None,
        };
        fs::create_dir_all(path).map_err(|source| ConfigError::Io {
            what: "creating",
            path: path.to_owned(),
            source,
        })?;
        let text = toml::to_string(&config).map_err(|e| ConfigError::BadConfig {
            path: path.join(CONFIG_FILE),
            message: e.to_string(),
        })?;
        for (file, key) in [
            (RELEASES_KEY_FILE, &new_keys.releases),
            (KEYS_KEY_FILE, &new_keys.keys),
        ] {
            if let NewKey::File(signer) = key {
                write_key(&path.join(file), signer)?;
            }
        }
        write_new(&path.join(CONFIG_FILE), &text, 0o644)?;
        Ok(DataDir {
            path: path.to_owned(),
            config,
            keys,
        })
    }

    /// Opens an existing data directory, refusing a malformed configuration, a key that does
    /// not belong to the configured origin, or a key file others can read. A directory with
    /// only `log.key` (made before per-origin keys) opens with that key for both logs.
    pub fn open(path: &Path) -> Result<DataDir, ConfigError> {
        let config_path = path.join(CONFIG_FILE);
        if !config_path.exists() {
            return Err(ConfigError::NotADataDir(path.to_owned()));
        }
        let text = fs::read_to_string(&config_path).map_err(|source| ConfigError::Io {
            what: "reading",
            path: config_path.clone(),
            source,
        })?;
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::BadConfig {
            path: config_path.clone(),
            message: e.to_string(),
        })?;
        check_origin_prefix(&config.origin).map_err(|message| ConfigError::BadConfig {
            path: config_path,
            message,
        })?;
        let prefix = config.origin.clone();
        let legacy = open_key(
            path,
            config.log_key.as_deref(),
            LOG_KEY_FILE,
            "log_key",
            &prefix,
        )?;
        let releases = open_key(
            path,
            config.releases_key.as_deref(),
            RELEASES_KEY_FILE,
            "releases_key",
            &format!("{prefix}/releases"),
        )?;
        let keys = open_key(
            path,
            config.keys_key.as_deref(),
            KEYS_KEY_FILE,
            "keys_key",
            &format!("{prefix}/keys"),
        )?;
        let missing = |file: &str| ConfigError::Io {
            what: "reading",
            path: path.join(file),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let keys = match (releases, keys, legacy) {
            (Some(releases), Some(keys), legacy) => {
                if public_key(&releases) == public_key(&keys) {
                    return Err(ConfigError::BadKey {
                        path: path.join(KEYS_KEY_FILE),
                        message: format!(
                            "the key log's key is the release log's key; they must differ \
                             (a tlog-policy file cannot list two logs with one key): \
                             replace {KEYS_KEY_FILE} with `cairn migrate-keys`"
                        ),
                    });
                }
                LogKeys {
                    releases,
                    keys,
                    legacy,
                }
            }
            (None, None, Some(key)) => {
                LogKeys::single(&key, &prefix).map_err(|message| ConfigError::BadKey {
                    path: path.join(LOG_KEY_FILE),
                    message,
                })?
            }
            (None, _, _) => return Err(missing(RELEASES_KEY_FILE)),
            (_, None, _) => return Err(missing(KEYS_KEY_FILE)),
        };
        Ok(DataDir {
            path: path.to_owned(),
            config,
            keys,
        })
    }

    /// Moves a data directory made before per-origin keys to them: `releases.key` gets the
    /// old key's material under the name `PREFIX/releases` (so the release log's signatures do
    /// not change), `keys.key` a new key `new_keys_key` named `PREFIX/keys`. `log.key` stays:
    /// while it is present the key log's checkpoints also carry its signature, so old trust
    /// files keep verifying; delete it once clients have the new keys. A log whose single key
    /// is in a token or an agent (`log_key` in config.toml) is migrated by hand
    /// (docs/operators.md): this function refuses it rather than copy a key it cannot read.
    pub fn migrate(path: &Path, new_keys_key: &Ed25519Signer) -> Result<LogKeys, ConfigError> {
        let data = DataDir::open(path)?;
        if data.config.releases_key.is_some()
            || data.config.keys_key.is_some()
            || path.join(RELEASES_KEY_FILE).exists()
            || path.join(KEYS_KEY_FILE).exists()
        {
            return Err(ConfigError::BadKey {
                path: path.join(KEYS_KEY_FILE),
                message: "this data directory already has per-origin keys".to_owned(),
            });
        }
        if data.config.log_key.is_some() {
            return Err(ConfigError::BadConfig {
                path: path.join(CONFIG_FILE),
                message: "the log key is in a token or an agent (log_key): set releases_key to \
                          the same reference and keys_key to a new key's reference in \
                          config.toml instead (docs/operators.md)"
                    .to_owned(),
            });
        }
        let old = read_key(&path.join(LOG_KEY_FILE), &data.config.origin)?;
        if new_keys_key.name().as_str() != format!("{}/keys", data.config.origin)
            || new_keys_key.public_key() == old.public_key()
        {
            return Err(ConfigError::BadKey {
                path: path.join(KEYS_KEY_FILE),
                message: "the new key log key must be a fresh key named PREFIX/keys".to_owned(),
            });
        }
        let releases = old.with_name(data.keys.releases.name().clone());
        // The key log's key first: a crash in between leaves releases.key missing, which
        // `open` reports, and the migration can be redone after removing keys.key.
        write_key(&path.join(KEYS_KEY_FILE), new_keys_key)?;
        write_key(&path.join(RELEASES_KEY_FILE), &releases)?;
        Ok(LogKeys {
            releases: KeySigner::from(releases),
            keys: KeySigner::from(new_keys_key.with_name(new_keys_key.name().clone())),
            legacy: Some(KeySigner::from(old)),
        })
    }

    /// Path of the bare repository.
    pub fn repo_path(&self) -> PathBuf {
        self.path.join(REPO_DIR)
    }
}

/// Opens one log key of data directory `path`: the token or agent key that config.toml's
/// `field` names, else the key file `file`, else none. Both present is an error (which one
/// signs would be a guess). The only place a serving log's keys are loaded.
fn open_key(
    path: &Path,
    reference: Option<&str>,
    file: &str,
    field: &str,
    name: &str,
) -> Result<Option<KeySigner>, ConfigError> {
    let Some(reference) = reference else {
        if !path.join(file).exists() {
            return Ok(None);
        }
        return read_key(&path.join(file), name).map(|k| Some(KeySigner::from(k)));
    };
    if path.join(file).exists() {
        return Err(ConfigError::BadConfig {
            path: path.join(CONFIG_FILE),
            message: format!(
                "{field} names a key but {} exists too; keep one of them",
                path.join(file).display()
            ),
        });
    }
    let unavailable = |message: String| ConfigError::KeyUnavailable {
        reference: match KeyRef::parse(reference) {
            Ok(KeyRef::Pkcs11(uri)) => uri.to_string(),
            _ => reference.to_owned(),
        },
        message,
    };
    let key = KeyRef::parse(reference).map_err(|e| unavailable(e.to_string()))?;
    if !key.is_external() {
        return Err(ConfigError::BadConfig {
            path: path.join(CONFIG_FILE),
            message: format!(
                "{field} must be a pkcs11: URI or an ssh-agent: key (a key file is {file})"
            ),
        });
    }
    key.open_named(name)
        .map(Some)
        .map_err(|e| unavailable(e.to_string()))
}

fn write_key(path: &Path, key: &Ed25519Signer) -> Result<(), ConfigError> {
    write_new(path, &format!("{}\n", key.to_skey()), 0o600)
}

/// Reads a 0600 signing key file and checks its name.
fn read_key(key_path: &Path, name: &str) -> Result<Ed25519Signer, ConfigError> {
    let meta = fs::metadata(key_path).map_err(|source| ConfigError::Io {
        what: "reading",
        path: key_path.to_owned(),
        source,
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(ConfigError::BadKey {
            path: key_path.to_owned(),
            message: format!(
                "mode {:04o} lets other users read the log key; run chmod 600",
                meta.permissions().mode() & 0o7777
            ),
        });
    }
    let skey = fs::read_to_string(key_path).map_err(|source| ConfigError::Io {
        what: "reading",
        path: key_path.to_owned(),
        source,
    })?;
    let key = Ed25519Signer::from_skey(skey.trim_end()).map_err(|e| ConfigError::BadKey {
        path: key_path.to_owned(),
        message: e.to_string(),
    })?;
    if key.name().as_str() != name {
        return Err(ConfigError::BadKey {
            path: key_path.to_owned(),
            message: format!(
                "log key is named {:?} but config.toml's origin makes it {name:?}",
                key.name().as_str()
            ),
        });
    }
    Ok(key)
}

/// An origin prefix is a key name (no spaces, no `+`) without a trailing slash; the two
/// origins append `/releases` and `/keys` to it.
pub fn check_origin_prefix(prefix: &str) -> Result<(), String> {
    KeyName::new(prefix).map_err(|e| format!("origin prefix: {e}"))?;
    if prefix.ends_with('/') {
        return Err(format!("origin prefix {prefix:?} must not end with '/'"));
    }
    if prefix.len() > 200 {
        return Err("origin prefix is longer than 200 bytes".to_owned());
    }
    Ok(())
}

fn write_new(path: &Path, data: &str, mode: u32) -> Result<(), ConfigError> {
    crate::durable::write_file(
        path,
        data.as_bytes(),
        mode,
        crate::durable::Existing::Refuse,
    )
    .map_err(|e| ConfigError::Io {
        what: e.op,
        path: e.path,
        source: e.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, seed: u8) -> Ed25519Signer {
        Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32])
    }

    fn keys(prefix: &str) -> NewLogKeys {
        NewLogKeys {
            releases: NewKey::File(key(&format!("{prefix}/releases"), 9)),
            keys: NewKey::File(key(&format!("{prefix}/keys"), 10)),
        }
    }

    fn vkey(prefix: &str, log: &str) -> String {
        key(
            &format!("{prefix}/{log}"),
            if log == "keys" { 10 } else { 9 },
        )
        .verifier()
        .to_vkey()
    }

    fn config(origin: &str) -> Config {
        Config {
            origin: origin.to_owned(),
            sequencer: SequencerConfig::default(),
            limits: LimitsConfig::default(),
            connections: ConnectionsConfig::default(),
            accept: AcceptConfig::default(),
            witnesses: vec![],
            witnessing: WitnessingConfig::default(),
            hook: None,
            log_key: None,
            releases_key: None,
            keys_key: None,
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("key").permissions().mode() & 0o777
    }

    #[test]
    fn log_key_reference_in_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data");
        DataDir::create(&path, config("example.org"), keys("example.org")).expect("create");
        let original = fs::read_to_string(path.join(CONFIG_FILE)).expect("config");
        let with = |reference: &str| {
            fs::write(
                path.join(CONFIG_FILE),
                format!("keys_key = {reference:?}\n{original}"),
            )
            .expect("write config");
            DataDir::open(&path).expect_err("refused").to_string()
        };
        let uri = "pkcs11:object=log?module-path=/nonexistent/module.so&pin-value=secret";
        let err = with(uri);
        assert!(err.contains("exists too"), "{err}");
        fs::remove_file(path.join(KEYS_KEY_FILE)).expect("remove keys.key");
        let err = with(uri);
        assert!(
            err.contains("/nonexistent/module.so does not exist"),
            "{err}"
        );
        assert!(!err.contains("secret"), "PIN shown: {err}");
        let err = with("/etc/cairn/log.key");
        assert!(err.contains("must be a pkcs11: URI"), "{err}");
    }

    #[test]
    fn create_then_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data");
        DataDir::create(&path, config("example.org"), keys("example.org")).expect("create");
        assert_eq!(mode(&path.join(RELEASES_KEY_FILE)), 0o600);
        assert_eq!(mode(&path.join(KEYS_KEY_FILE)), 0o600);
        assert!(!path.join(LOG_KEY_FILE).exists());
        let opened = DataDir::open(&path).expect("open");
        assert_eq!(opened.config, config("example.org"));
        assert_eq!(
            opened.keys.releases.verifier().to_vkey(),
            vkey("example.org", "releases")
        );
        assert_eq!(
            opened.keys.keys.verifier().to_vkey(),
            vkey("example.org", "keys")
        );
        assert!(opened.keys.legacy.is_none());
        assert!(!opened.keys.is_single_key());
        assert_eq!(
            opened.keys.vkeys().lines().collect::<Vec<_>>(),
            vec![vkey("example.org", "releases"), vkey("example.org", "keys")]
        );
        assert!(matches!(
            DataDir::create(&path, config("example.org"), keys("example.org")),
            Err(ConfigError::AlreadyExists(_))
        ));
    }

    #[test]
    fn a_single_key_directory_opens_and_migrates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old");
        fs::create_dir_all(&path).expect("mkdir");
        fs::write(path.join(CONFIG_FILE), "origin = \"example.org\"\n").expect("config");
        let old = key("example.org", 3);
        write_key(&path.join(LOG_KEY_FILE), &old).expect("log.key");
        let opened = DataDir::open(&path).expect("open the old layout");
        assert!(opened.keys.is_single_key());
        assert_eq!(public_key(&opened.keys.releases), old.public_key());
        assert_eq!(
            opened.keys.signers("keys").len(),
            1,
            "one key: one signature"
        );

        let fresh = key("example.org/keys", 4);
        let migrated = DataDir::migrate(&path, &fresh).expect("migrate");
        assert_eq!(mode(&path.join(KEYS_KEY_FILE)), 0o600);
        let opened = DataDir::open(&path).expect("open after the migration");
        assert!(!opened.keys.is_single_key());
        assert_eq!(public_key(&opened.keys.releases), old.public_key());
        assert_eq!(opened.keys.releases.name().as_str(), "example.org/releases");
        assert_eq!(opened.keys.keys.verifier(), fresh.verifier());
        assert_eq!(opened.keys.vkeys(), migrated.vkeys());
        // While log.key stays, key-log checkpoints are also signed by it; the release log's
        // key is the old material already.
        assert_eq!(opened.keys.signers("releases").len(), 1);
        let signers = opened.keys.signers("keys");
        assert_eq!(signers.len(), 2);
        assert_eq!(public_key(&signers[1]), old.public_key());
        assert_eq!(signers[1].name().as_str(), "example.org/keys");
        // Twice is refused; without log.key the legacy signature is gone.
        assert!(DataDir::migrate(&path, &key("example.org/keys", 5)).is_err());
        fs::remove_file(path.join(LOG_KEY_FILE)).expect("rm log.key");
        assert_eq!(
            DataDir::open(&path)
                .expect("open")
                .keys
                .signers("keys")
                .len(),
            1
        );
    }

    #[test]
    fn refusals() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            DataDir::open(dir.path()),
            Err(ConfigError::NotADataDir(_))
        ));
        assert!(
            DataDir::create(
                &dir.path().join("a"),
                config("example.org"),
                keys("other.org")
            )
            .is_err()
        );
        assert!(
            DataDir::create(
                &dir.path().join("b"),
                config("example.org/"),
                keys("example.org/")
            )
            .is_err()
        );
        let same = NewLogKeys {
            releases: NewKey::File(key("example.org/releases", 1)),
            keys: NewKey::File(key("example.org/keys", 1)),
        };
        let err = DataDir::create(&dir.path().join("s"), config("example.org"), same)
            .expect_err("one key for both");
        assert!(err.to_string().contains("different keys"), "{err}");
        let path = dir.path().join("c");
        DataDir::create(&path, config("example.org"), keys("example.org")).expect("create");
        fs::set_permissions(path.join(KEYS_KEY_FILE), fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let err = DataDir::open(&path).expect_err("loose key mode");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        fs::set_permissions(path.join(KEYS_KEY_FILE), fs::Permissions::from_mode(0o600))
            .expect("chmod");
        fs::write(
            path.join(CONFIG_FILE),
            "origin = \"example.org\"\nsurprise = 1\n",
        )
        .expect("write");
        let err = DataDir::open(&path).expect_err("unknown field");
        assert!(err.to_string().contains("surprise"), "{err}");
    }
}
