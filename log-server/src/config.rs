//! The data directory of a log server and its configuration file.
//!
//! ```text
//! DIR/config.toml   origin prefix, sequencer and limit settings, witnesses
//! DIR/releases.key  the release log's Ed25519 signing key (PRIVATE+KEY+PREFIX/releases+...), 0600
//! DIR/keys.key      the key log's Ed25519 signing key (PRIVATE+KEY+PREFIX/keys+...), 0600
//! DIR/log.key       before the migration to per-origin keys: the one key (named PREFIX) both
//!                   logs were signed with; kept after the migration while old trust files are in
//!                   use, so checkpoints also carry its signature (docs/operators.md)
//! DIR/repo.git      the bare git repository (spec/git-layout.md)
//! ```

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_verifier::note::{Ed25519Signer, KeyName, NoteSigner as _};
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
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            per_address_per_second: 50,
            per_key_per_second: 20,
        }
    }
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
    /// Sequencer settings.
    #[serde(default)]
    pub sequencer: SequencerConfig,
    /// Submission limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Witnesses.
    #[serde(default, rename = "witness")]
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
/// lines wrapping the same public key).
#[derive(Debug)]
pub struct LogKeys {
    /// Signs the release log's checkpoints; named `PREFIX/releases`.
    pub releases: Ed25519Signer,
    /// Signs the key log's checkpoints; named `PREFIX/keys`.
    pub keys: Ed25519Signer,
    /// The pre-migration single key, named `PREFIX`, when `log.key` is still present. A log
    /// whose checkpoint key differs from it also signs that log's checkpoints with it (under the
    /// origin's name), so trust files made from the old `PREFIX` verifier key keep verifying.
    pub legacy: Option<Ed25519Signer>,
}

/// A second handle on a signing key. `Ed25519Signer` is deliberately not `Clone` (a copy of
/// a secret should be visible in the code); the log needs one per origin and per thread.
pub fn copy_signer(key: &Ed25519Signer) -> Ed25519Signer {
    key.with_name(key.name().clone())
}

impl Clone for LogKeys {
    fn clone(&self) -> LogKeys {
        LogKeys {
            releases: copy_signer(&self.releases),
            keys: copy_signer(&self.keys),
            legacy: self.legacy.as_ref().map(copy_signer),
        }
    }
}

impl LogKeys {
    /// The keys of a log that has not migrated: both origins signed with `key` (named PREFIX).
    pub fn single(key: &Ed25519Signer, prefix: &str) -> Result<LogKeys, String> {
        let name = |log: &str| {
            KeyName::new(&format!("{prefix}/{log}")).map_err(|e| format!("origin: {e}"))
        };
        Ok(LogKeys {
            releases: key.with_name(name("releases")?),
            keys: key.with_name(name("keys")?),
            legacy: Some(copy_signer(key)),
        })
    }

    /// Whether both origins are signed with one public key (a log that has not migrated to
    /// per-origin keys).
    pub fn is_single_key(&self) -> bool {
        self.releases.public_key() == self.keys.public_key()
    }

    /// The signer named after `log`'s origin (`"releases"` or `"keys"`).
    pub fn primary(&self, log: &str) -> &Ed25519Signer {
        if log == "keys" {
            &self.keys
        } else {
            &self.releases
        }
    }

    /// Every key a checkpoint of `log` is signed with: its own, then the legacy key under the
    /// origin's name if that is a different public key.
    pub fn signers(&self, log: &str) -> Vec<Ed25519Signer> {
        let primary = self.primary(log);
        let mut out = vec![copy_signer(primary)];
        if let Some(legacy) = &self.legacy {
            if legacy.public_key() != primary.public_key() {
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
    pub fn accepted(&self, log: &str) -> Vec<Ed25519Signer> {
        let name = self.primary(log).name().clone();
        let mut out = self.signers(log);
        for key in [&self.releases, &self.keys]
            .into_iter()
            .chain(self.legacy.as_ref())
        {
            if out.iter().all(|k| k.public_key() != key.public_key()) {
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

impl DataDir {
    /// Creates `path` (which must not hold a log) with a configuration and the per-origin log
    /// keys. The repository itself is created by the storage layer.
    pub fn create(path: &Path, config: Config, keys: LogKeys) -> Result<DataDir, ConfigError> {
        check_origin_prefix(&config.origin).map_err(|message| ConfigError::BadConfig {
            path: path.join(CONFIG_FILE),
            message,
        })?;
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
        fs::create_dir_all(path).map_err(|source| ConfigError::Io {
            what: "creating",
            path: path.to_owned(),
            source,
        })?;
        let text = toml::to_string(&config).map_err(|e| ConfigError::BadConfig {
            path: path.join(CONFIG_FILE),
            message: e.to_string(),
        })?;
        write_key(&path.join(RELEASES_KEY_FILE), &keys.releases)?;
        write_key(&path.join(KEYS_KEY_FILE), &keys.keys)?;
        write_new(&path.join(CONFIG_FILE), &text, 0o644)?;
        Ok(DataDir {
            path: path.to_owned(),
            config,
            keys: LogKeys {
                legacy: None,
                ..keys
            },
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
        let legacy = if path.join(LOG_KEY_FILE).exists() {
            Some(read_key(&path.join(LOG_KEY_FILE), &prefix)?)
        } else {
            None
        };
        let keys = if path.join(RELEASES_KEY_FILE).exists() || path.join(KEYS_KEY_FILE).exists() {
            let releases = read_key(&path.join(RELEASES_KEY_FILE), &format!("{prefix}/releases"))?;
            let keys = read_key(&path.join(KEYS_KEY_FILE), &format!("{prefix}/keys"))?;
            if releases.public_key() == keys.public_key() {
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
        } else {
            match legacy {
                Some(key) => {
                    LogKeys::single(&key, &prefix).map_err(|message| ConfigError::BadKey {
                        path: path.join(LOG_KEY_FILE),
                        message,
                    })?
                }
                None => {
                    return Err(ConfigError::Io {
                        what: "reading",
                        path: path.join(RELEASES_KEY_FILE),
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    });
                }
            }
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
    /// files keep verifying; delete it once clients have the new keys.
    pub fn migrate(path: &Path, new_keys_key: &Ed25519Signer) -> Result<LogKeys, ConfigError> {
        let data = DataDir::open(path)?;
        if path.join(RELEASES_KEY_FILE).exists() || path.join(KEYS_KEY_FILE).exists() {
            return Err(ConfigError::BadKey {
                path: path.join(KEYS_KEY_FILE),
                message: "this data directory already has per-origin keys".to_owned(),
            });
        }
        let keys = LogKeys {
            releases: copy_signer(&data.keys.releases),
            keys: copy_signer(new_keys_key),
            legacy: data.keys.legacy.as_ref().map(copy_signer),
        };
        if new_keys_key.name().as_str() != format!("{}/keys", data.config.origin)
            || keys.is_single_key()
        {
            return Err(ConfigError::BadKey {
                path: path.join(KEYS_KEY_FILE),
                message: "the new key log key must be a fresh key named PREFIX/keys".to_owned(),
            });
        }
        // The key log's key first: a crash in between leaves releases.key missing, which
        // `open` reports, and the migration can be redone after removing keys.key.
        write_key(&path.join(KEYS_KEY_FILE), &keys.keys)?;
        write_key(&path.join(RELEASES_KEY_FILE), &keys.releases)?;
        Ok(keys)
    }

    /// Path of the bare repository.
    pub fn repo_path(&self) -> PathBuf {
        self.path.join(REPO_DIR)
    }
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
    let io = |source| ConfigError::Io {
        what: "writing",
        path: path.to_owned(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(data.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, seed: u8) -> Ed25519Signer {
        Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [seed; 32])
    }

    fn keys(prefix: &str) -> LogKeys {
        LogKeys {
            releases: key(&format!("{prefix}/releases"), 9),
            keys: key(&format!("{prefix}/keys"), 10),
            legacy: None,
        }
    }

    fn config(origin: &str) -> Config {
        Config {
            origin: origin.to_owned(),
            sequencer: SequencerConfig::default(),
            limits: LimitsConfig::default(),
            witnesses: vec![],
            witnessing: WitnessingConfig::default(),
            hook: None,
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("key").permissions().mode() & 0o777
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
            opened.keys.releases.verifier(),
            keys("example.org").releases.verifier()
        );
        assert_eq!(
            opened.keys.keys.verifier(),
            keys("example.org").keys.verifier()
        );
        assert!(opened.keys.legacy.is_none());
        assert!(!opened.keys.is_single_key());
        assert_eq!(
            opened.keys.vkeys().lines().collect::<Vec<_>>(),
            vec![
                keys("example.org").releases.verifier().to_vkey(),
                keys("example.org").keys.verifier().to_vkey()
            ]
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
        assert_eq!(opened.keys.releases.public_key(), old.public_key());
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
        assert_eq!(opened.keys.releases.public_key(), old.public_key());
        assert_eq!(opened.keys.releases.name().as_str(), "example.org/releases");
        assert_eq!(opened.keys.keys.verifier(), fresh.verifier());
        assert_eq!(opened.keys.vkeys(), migrated.vkeys());
        // While log.key stays, key-log checkpoints are also signed by it; the release log's
        // key is the old material already.
        assert_eq!(opened.keys.signers("releases").len(), 1);
        let signers = opened.keys.signers("keys");
        assert_eq!(signers.len(), 2);
        assert_eq!(signers[1].public_key(), old.public_key());
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
        let same = LogKeys {
            releases: key("example.org/releases", 1),
            keys: key("example.org/keys", 1),
            legacy: None,
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
