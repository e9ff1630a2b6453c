//! The data directory of a log server and its configuration file.
//!
//! ```text
//! DIR/config.toml   origin prefix, sequencer and limit settings, witnesses
//! DIR/log.key       the log's Ed25519 signing key (PRIVATE+KEY+PREFIX+...), mode 0600; absent
//!                   when config.toml's `log_key` names a key in a PKCS#11 token or ssh-agent
//! DIR/repo.git      the bare git repository (spec/git-layout.md)
//! ```

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_keys::KeyRef;
use cairn_verifier::note::{Ed25519Signer, KeyName, NoteSigner as _};
use cairn_verifier::signer::KeySigner;
use serde::{Deserialize, Serialize};

/// Name of the configuration file inside the data directory.
pub const CONFIG_FILE: &str = "config.toml";
/// Name of the log key file inside the data directory.
pub const LOG_KEY_FILE: &str = "log.key";
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
    /// The log key named by config.toml's `log_key` (a token or agent) cannot be used.
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
    /// The log key when it is not `log.key`: a `pkcs11:` URI or an `ssh-agent:` key.
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
    /// The log's signing key, named after the origin prefix.
    pub log_key: KeySigner,
}

impl DataDir {
    /// Creates `path` (which must not hold a log) with a configuration and the log key. The
    /// repository itself is created by the storage layer.
    pub fn create(
        path: &Path,
        config: Config,
        log_key: Ed25519Signer,
    ) -> Result<DataDir, ConfigError> {
        DataDir::create_inner(path, config, NewLogKey::File(log_key))
    }

    /// Creates `path` like [`DataDir::create`], with the log key in a token or an agent:
    /// `config.log_key` holds its reference and no key file is written. `log_key` is that key,
    /// already opened.
    pub fn create_with_reference(
        path: &Path,
        config: Config,
        log_key: KeySigner,
    ) -> Result<DataDir, ConfigError> {
        if config.log_key.is_none() {
            return Err(ConfigError::BadConfig {
                path: path.join(CONFIG_FILE),
                message: "log_key must name the key's reference".to_owned(),
            });
        }
        DataDir::create_inner(path, config, NewLogKey::Reference(log_key))
    }

    fn create_inner(
        path: &Path,
        config: Config,
        log_key: NewLogKey,
    ) -> Result<DataDir, ConfigError> {
        check_origin_prefix(&config.origin).map_err(|message| ConfigError::BadConfig {
            path: path.join(CONFIG_FILE),
            message,
        })?;
        let name = match &log_key {
            NewLogKey::File(signer) => signer.name().as_str(),
            NewLogKey::Reference(signer) => signer.name().as_str(),
        };
        if name != config.origin {
            return Err(ConfigError::BadKey {
                path: path.join(LOG_KEY_FILE),
                message: format!(
                    "log key is named {name:?} but the origin prefix is {:?}",
                    config.origin
                ),
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
        let log_key = match log_key {
            NewLogKey::File(signer) => {
                write_new(
                    &path.join(LOG_KEY_FILE),
                    &format!("{}\n", signer.to_skey()),
                    0o600,
                )?;
                KeySigner::from(signer)
            }
            NewLogKey::Reference(signer) => signer,
        };
        write_new(&path.join(CONFIG_FILE), &text, 0o644)?;
        Ok(DataDir {
            path: path.to_owned(),
            config,
            log_key,
        })
    }

    /// Opens an existing data directory, refusing a malformed configuration, a key that does
    /// not belong to the configured origin, or a key file others can read.
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
        let log_key = open_log_key(path, &config)?;
        Ok(DataDir {
            path: path.to_owned(),
            config,
            log_key,
        })
    }

    /// Path of the bare repository.
    pub fn repo_path(&self) -> PathBuf {
        self.path.join(REPO_DIR)
    }
}

/// The log key given to [`DataDir::create_inner`].
enum NewLogKey {
    /// Written to `log.key`.
    File(Ed25519Signer),
    /// Named by `config.log_key`.
    Reference(KeySigner),
}

/// Opens the log key of data directory `path`: the token or agent key that config.toml's
/// `log_key` names, or else `log.key`. The only place a serving log's key is loaded.
pub fn open_log_key(path: &Path, config: &Config) -> Result<KeySigner, ConfigError> {
    let Some(reference) = &config.log_key else {
        return read_log_key_file(path, config).map(KeySigner::from);
    };
    if path.join(LOG_KEY_FILE).exists() {
        return Err(ConfigError::BadConfig {
            path: path.join(CONFIG_FILE),
            message: format!(
                "log_key names a key but {} exists too; keep one of them",
                path.join(LOG_KEY_FILE).display()
            ),
        });
    }
    let unavailable = |message: String| ConfigError::KeyUnavailable {
        reference: match KeyRef::parse(reference) {
            Ok(KeyRef::Pkcs11(uri)) => uri.to_string(),
            _ => reference.clone(),
        },
        message,
    };
    let key = KeyRef::parse(reference).map_err(|e| unavailable(e.to_string()))?;
    if !key.is_external() {
        return Err(ConfigError::BadConfig {
            path: path.join(CONFIG_FILE),
            message: format!(
                "log_key must be a pkcs11: URI or an ssh-agent: key (a key file is {LOG_KEY_FILE})"
            ),
        });
    }
    key.open_named(&config.origin)
        .map_err(|e| unavailable(e.to_string()))
}

fn read_log_key_file(path: &Path, config: &Config) -> Result<Ed25519Signer, ConfigError> {
    let key_path = path.join(LOG_KEY_FILE);
    let meta = fs::metadata(&key_path).map_err(|source| ConfigError::Io {
        what: "reading",
        path: key_path.clone(),
        source,
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(ConfigError::BadKey {
            path: key_path,
            message: format!(
                "mode {:04o} lets other users read the log key; run chmod 600",
                meta.permissions().mode() & 0o7777
            ),
        });
    }
    let skey = fs::read_to_string(&key_path).map_err(|source| ConfigError::Io {
        what: "reading",
        path: key_path.clone(),
        source,
    })?;
    let log_key = Ed25519Signer::from_skey(skey.trim_end()).map_err(|e| ConfigError::BadKey {
        path: key_path.clone(),
        message: e.to_string(),
    })?;
    if log_key.name().as_str() != config.origin {
        return Err(ConfigError::BadKey {
            path: key_path,
            message: format!(
                "log key is named {:?} but config.toml says origin {:?}",
                log_key.name().as_str(),
                config.origin
            ),
        });
    }
    Ok(log_key)
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

    fn key(name: &str) -> Ed25519Signer {
        Ed25519Signer::from_seed(KeyName::new(name).expect("name"), [9; 32])
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
        }
    }

    #[test]
    fn log_key_reference_in_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data");
        DataDir::create(&path, config("example.org"), key("example.org")).expect("create");
        let original = fs::read_to_string(path.join(CONFIG_FILE)).expect("config");
        let with = |reference: &str| {
            fs::write(
                path.join(CONFIG_FILE),
                format!("log_key = {reference:?}\n{original}"),
            )
            .expect("write config");
            DataDir::open(&path).expect_err("refused").to_string()
        };
        let uri = "pkcs11:object=log?module-path=/nonexistent/module.so&pin-value=secret";
        let err = with(uri);
        assert!(err.contains("exists too"), "{err}");
        fs::remove_file(path.join(LOG_KEY_FILE)).expect("remove log.key");
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
        DataDir::create(&path, config("example.org"), key("example.org")).expect("create");
        let mode = fs::metadata(path.join(LOG_KEY_FILE))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let opened = DataDir::open(&path).expect("open");
        assert_eq!(opened.config, config("example.org"));
        assert_eq!(opened.log_key.verifier(), key("example.org").verifier());
        assert!(matches!(
            DataDir::create(&path, config("example.org"), key("example.org")),
            Err(ConfigError::AlreadyExists(_))
        ));
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
                key("other.org")
            )
            .is_err()
        );
        assert!(
            DataDir::create(
                &dir.path().join("b"),
                config("example.org/"),
                key("example.org/")
            )
            .is_err()
        );
        let path = dir.path().join("c");
        DataDir::create(&path, config("example.org"), key("example.org")).expect("create");
        fs::set_permissions(path.join(LOG_KEY_FILE), fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let err = DataDir::open(&path).expect_err("loose key mode");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        fs::set_permissions(path.join(LOG_KEY_FILE), fs::Permissions::from_mode(0o600))
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
