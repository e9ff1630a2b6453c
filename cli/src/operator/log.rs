//! The log operator's commands: `cairn init` and `cairn serve`.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use cairn_keys::KeyRef;
use cairn_log_server::batcher::BatchLimits;
use cairn_log_server::config::{
    Config, DataDir, LOG_KEY_FILE, LimitsConfig, NewKey, NewLogKeys, SequencerConfig,
    check_origin_prefix,
};
use cairn_log_server::listener::{ConnectionLimits, effective_max_connections, raise_fd_limit};
use cairn_log_server::log::{Log, MAX_ENTRY_SIZE};
use cairn_log_server::metrics::Metrics;
use cairn_log_server::ratelimit::TrustedProxies;
use cairn_log_server::server::{ServeOptions, run};
use cairn_log_server::storage::GitStorage;
use cairn_log_server::witness_client::{Hook, PublisherOptions, WitnessClient};
use cairn_verifier::compact::to_compact;
use cairn_verifier::cosignature::CosignatureVerifier;
use cairn_verifier::entry::{KeyEvent, Reason, RootSet};
use cairn_verifier::keylog::KeyState;
use cairn_verifier::note::{Ed25519Signer, KeyName, Note, NoteVerifier as _};
use rand_core::{OsRng, RngCore as _};

use crate::client::trust::vkey_arg;
use crate::maintainer::key_files::{key_error, parse_keyref};
use crate::maintainer::keygen::write_new;
use cairn_client::Error;
use cairn_client::duration::parse_duration;

/// Arguments of `cairn init`.
#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// Data directory to create (must not hold a log yet).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The log's identity; origins are PREFIX/releases and PREFIX/keys.
    #[arg(long, value_name = "PREFIX")]
    origin: String,
    /// The genesis key event: a `cairn/key/v1` root event signed by its threshold of roots.
    #[arg(long, value_name = "GENESIS.note")]
    genesis: PathBuf,
    /// Use these signing keys instead of generating them: give the option twice, one key named
    /// PREFIX/releases and one named PREFIX/keys (`cairn keygen --name ...`). Each is a key
    /// file (copied into DIR), or a pkcs11: URI or ssh-agent: key (recorded in DIR/config.toml
    /// as `releases_key`/`keys_key`; the key never touches the disk). (Old spelling: --log-key,
    /// which every other command uses for a verifier key.)
    #[arg(long = "log-signing-key", alias = "log-key", value_name = "KEYREF")]
    log_keys: Vec<String>,
    /// Print `{"vkeys": [RELEASES, KEYS], "origin": ..., "data": ...}` instead of one verifier
    /// key a line.
    #[arg(long)]
    json: bool,
}

/// Arguments of `cairn migrate-keys`.
#[derive(Debug, clap::Args)]
pub(crate) struct MigrateKeysArgs {
    /// Data directory made before per-origin keys (it has `log.key` only). Stop the server first.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Print `{"vkeys": [RELEASES, KEYS]}` instead of one verifier key a line.
    #[arg(long)]
    json: bool,
}

/// Arguments of `cairn serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Data directory. Without it, ./cairn-data is used, and created as a development log if
    /// it does not exist.
    #[arg(long, value_name = "DIR", conflicts_with = "mirror")]
    data: Option<PathBuf>,
    /// Serve a mirror's copy (made by `cairn mirror --mirror-dir DIR`) read-only instead of a log.
    /// (Old spelling: --mirror, which `cairn monitor` uses for a mirror's URL.)
    #[arg(long = "mirror-dir", alias = "mirror", value_name = "DIR")]
    mirror: Option<PathBuf>,
    /// Print the log's verifier keys (one per origin: PREFIX/releases, PREFIX/keys; what
    /// clients give as --log-key) on stdout and exit.
    #[arg(long, conflicts_with = "mirror")]
    print_vkey: bool,
    /// Address to listen on (port 0 picks a free port; the address is printed on stderr).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Shortest time between the starts of two batch commits (for example 10ms); an idle log
    /// commits a submission at once.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    batch_interval: Option<Duration>,
    /// Most entries per batch.
    #[arg(long, value_name = "N")]
    batch_max: Option<usize>,
    /// Submissions per second per client address (0: unlimited).
    #[arg(long, value_name = "N")]
    rate_limit_address: Option<u32>,
    /// Submissions per second per verified signing key (0: unlimited).
    #[arg(long, value_name = "N")]
    rate_limit_key: Option<u32>,
    /// A witness to ask for cosignatures of every new checkpoint: a name for logs and metrics,
    /// its cosignature/v1 verifier key (or a file holding it), and its submission URL prefix
    /// (requests go to URL/add-checkpoint). Repeatable; added to config.toml's `[[witness]]`
    /// table.
    #[arg(long = "witness", value_names = ["NAME", "VKEY", "URL"], num_args = 3, action = clap::ArgAction::Append)]
    witnesses: Vec<String>,
    /// Longest wait for one witness's answer (for example 5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    witness_timeout: Option<Duration>,
    /// Ask the witnesses again for an unchanged checkpoint after this long (for example 1h),
    /// so cosignatures stay fresh for clients' max-age.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    witness_refresh: Option<Duration>,
    /// Command run (with /bin/sh -c) after each new release-log checkpoint is published, with
    /// CAIRN_CHECKPOINT_FILE, CAIRN_UPDATE_LATEST_FILE, CAIRN_DNS_TXT, CAIRN_ORIGIN and
    /// CAIRN_TREE_SIZE set (docs/channels.md). Overrides config.toml's [hook].
    #[arg(long, value_name = "COMMAND")]
    hook: Option<String>,
    /// Kill a hook run after this long (default 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    hook_timeout: Option<Duration>,
    /// Close a connection that does not send a complete request head within this (also the
    /// idle keep-alive timeout; default 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    header_timeout: Option<Duration>,
    /// Refuse (408) a request whose body does not arrive whole within this (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    body_timeout: Option<Duration>,
    /// Most connections served at once (default 1024; lowered to what the open-file limit
    /// allows).
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// A reverse proxy (address or CIDR block) whose Forwarded or X-Forwarded-For header names
    /// the client for the per-address rate limit. Repeatable; replaces config.toml's
    /// limits.trusted_proxies.
    #[arg(long = "trusted-proxy", value_name = "CIDR", action = clap::ArgAction::Append)]
    trusted_proxies: Vec<String>,
    /// Whether an `add` key event whose `from` lies before the release log's size is refused
    /// (the default, spec/keylog.md 4.4) or accepted; overrides config.toml's
    /// accept.allow_backdated_from.
    #[arg(long, value_name = "refuse|allow")]
    backdated_from: Option<BackdatedFrom>,
}

/// `--backdated-from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BackdatedFrom {
    /// Refuse it with 422.
    Refuse,
    /// Accept it.
    Allow,
}

/// The witnesses of config.toml and of `--witness`, keys parsed.
fn witness_clients(config: &Config, args: &ServeArgs) -> anyhow::Result<Vec<WitnessClient>> {
    let mut out: Vec<WitnessClient> = Vec::new();
    let from_config = config.witnesses.iter().map(|w| {
        (
            w.name.clone(),
            w.vkey.clone(),
            w.url.clone(),
            "config.toml [[witness]]",
        )
    });
    let from_args = args.witnesses.chunks(3).map(|c| {
        (
            c[0].clone(),
            c[1].clone(),
            c.get(2).cloned().unwrap_or_default(),
            "--witness",
        )
    });
    for (name, vkey, url, source) in from_config.chain(from_args) {
        let vkey = vkey_arg(&vkey)?;
        let verifier = CosignatureVerifier::from_vkey(&vkey).map_err(|e| {
            Error::Usage(format!(
                "{source} {name}: not a cosignature/v1 verifier key (`cairn witness --print-vkey` \
                 prints it): {e}"
            ))
        })?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::Usage(format!(
                "{source} {name}: URL {url:?} must start with http:// or https://"
            ))
            .into());
        }
        if out.iter().any(|w| w.name == name || w.verifier == verifier) {
            return Err(Error::Usage(format!(
                "{source} {name}: this witness (name or key) is configured twice"
            ))
            .into());
        }
        out.push(WitnessClient {
            name,
            verifier,
            url,
        });
    }
    Ok(out)
}

fn read_signer(path: &Path) -> anyhow::Result<Ed25519Signer> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::Usage(format!(
            "{} is readable by other users (mode {:04o}); run chmod 600 on it",
            path.display(),
            meta.permissions().mode() & 0o7777
        ))
        .into());
    }
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ed25519Signer::from_skey(text.trim_end())
        .map_err(|e| Error::Usage(format!("{}: {e}", path.display())).into())
}

fn random_signer(name: &str) -> anyhow::Result<Ed25519Signer> {
    let name = KeyName::new(name).map_err(|e| Error::Usage(format!("{name:?}: {e}")))?;
    let mut seed = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut seed)
        .context("reading randomness from the operating system")?;
    Ok(Ed25519Signer::from_seed(name, seed))
}

/// Checks the genesis before anything is created: a root event, signed by its own threshold.
fn check_genesis(bytes: &[u8]) -> anyhow::Result<()> {
    let note = Note::parse(bytes).map_err(|e| Error::Usage(format!("genesis: {e}")))?;
    let event = KeyEvent::parse(note.text()).map_err(|e| Error::Usage(format!("genesis: {e}")))?;
    let KeyEvent::Root { roots, .. } = event else {
        return Err(Error::Usage(format!(
            "genesis must be a root event, not {}",
            event.kind()
        ))
        .into());
    };
    KeyState::genesis(&roots, bytes).map_err(|e| Error::Usage(format!("genesis: {e}")))?;
    Ok(())
}

fn create_log(
    dir: &Path,
    origin: &str,
    log_keys: NewLogKeys,
    genesis: &[u8],
) -> anyhow::Result<Log> {
    let config = Config {
        origin: origin.to_owned(),
        sequencer: SequencerConfig::default(),
        limits: LimitsConfig::default(),
        connections: Default::default(),
        accept: Default::default(),
        witnesses: Vec::new(),
        witnessing: Default::default(),
        hook: None,
        log_key: None,
        releases_key: None,
        keys_key: None,
    };
    let data = DataDir::create(dir, config, log_keys)?;
    let created = (|| -> anyhow::Result<Log> {
        let storage = GitStorage::init(data.repo_path())?;
        Ok(Log::create(
            origin,
            &data.keys,
            Arc::new(storage),
            genesis,
            Arc::new(Metrics::default()),
        )?)
    })();
    if created.is_err() {
        // Leave nothing half-made behind: the directory did not hold a log before.
        let _ = fs::remove_dir_all(dir);
    }
    created
}

pub(crate) fn init(args: &InitArgs) -> anyhow::Result<()> {
    crate::deprecated::warn_if_used("init", "--log-key", "--log-signing-key");
    check_origin_prefix(&args.origin).map_err(Error::Usage)?;
    let genesis =
        fs::read(&args.genesis).with_context(|| format!("reading {}", args.genesis.display()))?;
    check_genesis(&genesis)?;
    let log_keys = init_keys(&args.origin, &args.log_keys)?;
    let log = create_log(&args.data, &args.origin, log_keys, &genesis)?;
    eprintln!(
        "cairn: created log {} in {} (key log: genesis at index 0)",
        args.origin,
        args.data.display()
    );
    let vkeys: Vec<String> = log.log_vkeys().lines().map(str::to_owned).collect();
    crate::output::print_vkeys(
        &vkeys,
        args.json,
        serde_json::json!({ "origin": args.origin, "data": args.data.display().to_string() }),
    );
    Ok(())
}

/// The per-origin signing keys for `cairn init`: generated, or the two given with `--log-key`.
fn init_keys(prefix: &str, given: &[String]) -> anyhow::Result<NewLogKeys> {
    // A token or agent key carries no name: it is the key of the log it is given for, in the
    // order releases, keys. Key files are named and may come in either order.
    let open = |keyref: &str, log: &str| -> anyhow::Result<NewKey> {
        Ok(match parse_keyref(keyref)? {
            KeyRef::File(path) => NewKey::File(read_signer(&path)?),
            external => NewKey::Reference {
                key: external
                    .open_named(&format!("{prefix}/{log}"))
                    .map_err(key_error)?,
                reference: keyref.to_owned(),
            },
        })
    };
    let name = |key: &NewKey| match key {
        NewKey::File(signer) => signer.verifier().name().as_str().to_owned(),
        NewKey::Reference { key, .. } => key.verifier().name().as_str().to_owned(),
    };
    let public = |key: &NewKey| match key {
        NewKey::File(signer) => signer.public_key(),
        NewKey::Reference { key, .. } => key.key().public_key(),
    };
    let (releases, keys) = match given {
        [] => (
            NewKey::File(random_signer(&format!("{prefix}/releases"))?),
            NewKey::File(random_signer(&format!("{prefix}/keys"))?),
        ),
        [a, b] => {
            let (a, b) = (open(a, "releases")?, open(b, "keys")?);
            if name(&a).ends_with("/keys") {
                (b, a)
            } else {
                (a, b)
            }
        }
        _ => bail!(Error::Usage(format!(
            "--log-signing-key was given {} times; give it twice, one key for {prefix}/releases and \
             one for {prefix}/keys (or leave it out to generate both)",
            given.len()
        ))),
    };
    for (key, log) in [(&releases, "releases"), (&keys, "keys")] {
        let want = format!("{prefix}/{log}");
        if name(key) != want {
            bail!(Error::Usage(format!(
                "--log-signing-key: a key is named {:?}; the {log} log's key must be named {want:?} \
                 (one key per origin, as c2sp.org/tlog-checkpoint asks)",
                name(key)
            )));
        }
    }
    if public(&releases) == public(&keys) {
        bail!(Error::Usage(
            "--log-signing-key: the two logs need different keys (a tlog-policy file refuses two logs \
             with one public key)"
                .to_owned()
        ));
    }
    Ok(NewLogKeys { releases, keys })
}

/// `cairn migrate-keys`: gives a data directory made before per-origin keys a key of its own
/// for the key log (docs/operators.md, "Migrating to per-origin verifier keys").
pub(crate) fn migrate_keys(args: &MigrateKeysArgs) -> anyhow::Result<()> {
    let data = DataDir::open(&args.data)?;
    let prefix = data.config.origin.clone();
    let fresh = random_signer(&format!("{prefix}/keys"))?;
    let keys = DataDir::migrate(&args.data, &fresh)?;
    eprintln!(
        "cairn: {} now has per-origin keys: the release log keeps its key, the key log has a new \
         one. While {} stays, checkpoints also carry the old key's signature, so existing trust \
         files keep working; restart `cairn serve`, publish the keys below, and delete {} once \
         clients and witnesses use them.",
        args.data.display(),
        args.data.join(LOG_KEY_FILE).display(),
        args.data.join(LOG_KEY_FILE).display()
    );
    let vkeys: Vec<String> = keys.vkeys().lines().map(str::to_owned).collect();
    crate::output::print_vkeys(&vkeys, args.json, serde_json::Value::Null);
    Ok(())
}

/// The development log's data directory when `serve` runs without --data.
const DEV_DATA_DIR: &str = "cairn-data";
/// The development log's only root key, beside the log (never do this for a real log).
const DEV_ROOT_KEY_FILE: &str = "root.key";
/// Its verifier key, for `cairn trust init --root-key`.
const DEV_ROOT_VKEY_FILE: &str = "root.key.pub";

/// Creates ./cairn-data for development: fresh log keys and a local 1-of-1 root key.
fn create_dev_log(dir: &Path) -> anyhow::Result<()> {
    let origin = "localhost/cairn-dev";
    let root = random_signer("localhost/cairn-dev-root")?;
    let roots = RootSet::new(vec![root.verifier()], 1)?;
    let event = KeyEvent::Root {
        roots,
        reason: Some(Reason::new("development log created by cairn serve")?),
    };
    let genesis = Note::sign(&event.to_text(), &[&root])?.to_bytes();
    create_log(dir, origin, init_keys(origin, &[])?, &genesis)?;
    let root_path = dir.join(DEV_ROOT_KEY_FILE);
    write_new(
        &root_path,
        format!("{}\n", root.to_skey()).as_bytes(),
        0o600,
    )?;
    write_new(
        &dir.join(DEV_ROOT_VKEY_FILE),
        format!("{}\n", root.verifier().to_vkey()).as_bytes(),
        0o644,
    )?;
    eprintln!("cairn: created a DEVELOPMENT log in {}", dir.display());
    eprintln!(
        "cairn: WARNING: the only root key is stored next to the log, in {}. Anyone who can read \
         it controls every key event. Use `cairn init` with offline root keys for a real log.",
        root_path.display()
    );
    Ok(())
}

pub(crate) fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.mirror {
        crate::deprecated::warn_if_used("serve", "--mirror", "--mirror-dir");
        return serve_mirror(dir, args.listen);
    }
    let development = args.data.is_none();
    let dir = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            let dir = PathBuf::from(DEV_DATA_DIR);
            if !dir.exists() {
                if args.print_vkey {
                    return Err(Error::Usage(format!(
                        "./{DEV_DATA_DIR} does not exist: run `cairn serve` once to create the \
                         development log, or give --data DIR"
                    ))
                    .into());
                }
                create_dev_log(&dir)?;
            }
            dir
        }
    };
    let data = DataDir::open(&dir)?;
    if args.print_vkey {
        #[allow(clippy::print_stdout)] // The log's verifier keys are this option's data.
        {
            print!("{}", data.keys.vkeys());
        }
        return Ok(());
    }
    // Printed on every start, so a client's --log-key is never more than a scroll away.
    for vkey in data.keys.vkeys().lines() {
        eprintln!("cairn: log verifier key (clients' --log-key): {vkey}");
    }
    let next_steps = development.then(|| DevHints::new(&dir));
    if data.keys.is_single_key() {
        eprintln!(
            "cairn: warning: {} signs both logs with one key (log.key, deprecated): a tlog-policy \
             file cannot list both logs; stop the server and run `cairn migrate-keys --data {}` \
             (docs/operators.md)",
            dir.display(),
            dir.display()
        );
    }
    let storage = GitStorage::open(data.repo_path())?;
    let metrics = Arc::new(Metrics::default());
    let log = Log::open(
        &data.config.origin,
        &data.keys,
        Arc::new(storage),
        Arc::clone(&metrics),
    )
    .with_context(|| format!("opening the log in {}", dir.display()))?;
    let mut limits = data.config.limits.clone();
    if let Some(n) = args.rate_limit_address {
        limits.per_address_per_second = n;
    }
    if let Some(n) = args.rate_limit_key {
        limits.per_key_per_second = n;
    }
    if !args.trusted_proxies.is_empty() {
        limits.trusted_proxies = args.trusted_proxies.clone();
    }
    TrustedProxies::parse(&limits.trusted_proxies).map_err(Error::Usage)?;
    log.set_allow_backdated_from(match args.backdated_from {
        Some(choice) => choice == BackdatedFrom::Allow,
        None => data.config.accept.allow_backdated_from,
    });
    let configured = &data.config.connections;
    let fd_limit = raise_fd_limit();
    let connections = ConnectionLimits {
        header_timeout: args
            .header_timeout
            .unwrap_or(Duration::from_secs(configured.header_timeout_secs)),
        body_timeout: args
            .body_timeout
            .unwrap_or(Duration::from_secs(configured.body_timeout_secs)),
        max_connections: effective_max_connections(
            args.max_connections.unwrap_or(configured.max_connections),
            fd_limit,
        ),
        max_body: MAX_ENTRY_SIZE,
    };
    if connections.header_timeout.is_zero() || connections.body_timeout.is_zero() {
        return Err(Error::Usage("connection timeouts must be longer than 0".to_owned()).into());
    }
    eprintln!(
        "cairn: at most {} connections (open-file limit {}), header timeout {:?}, body timeout {:?}",
        connections.max_connections,
        fd_limit.map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
        connections.header_timeout,
        connections.body_timeout
    );
    let options = ServeOptions {
        batch: BatchLimits {
            interval: args.batch_interval.unwrap_or(data.config.batch_interval()),
            max_entries: args
                .batch_max
                .unwrap_or(data.config.sequencer.batch_max_entries),
        },
        limits,
        publisher: PublisherOptions {
            witnesses: witness_clients(&data.config, args)?,
            timeout: args
                .witness_timeout
                .unwrap_or(Duration::from_millis(data.config.witnessing.timeout_ms)),
            refresh: args
                .witness_refresh
                .unwrap_or(Duration::from_secs(data.config.witnessing.refresh_secs))
                .max(Duration::from_secs(1)),
            hook: hook(&data, args),
        },
        connections,
    };
    for w in &options.publisher.witnesses {
        eprintln!(
            "cairn: witness {} at {} ({})",
            w.name,
            w.url,
            w.verifier.to_vkey()
        );
    }
    // Witness URLs may be https: reqwest is built without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    {
        let state = log.read();
        eprintln!(
            "cairn: serving {} (releases: {} entries, keys: {} entries)",
            log.prefix(),
            state.releases.size(),
            state.keys.size()
        );
        if let Some(line) = Note::parse(&state.releases.checkpoint())
            .ok()
            .and_then(|n| to_compact(&n).ok())
        {
            eprintln!(
                "cairn: DNS TXT record of the current release checkpoint (zone line; \
                 GET /releases/dns-txt has the latest value):\n{}",
                zone_line("_cairn", &line)
            );
        }
    }
    serve_on(args.listen, move |listener| async move {
        if let Some(hints) = next_steps {
            eprint!("{}", hints.text(listener.local_addr()?));
        }
        run(Arc::new(log), metrics, options, listener, shutdown_signal()).await?;
        Ok(())
    })
}

/// What the development `serve` prints once it listens: the README's quickstart with this
/// log's URL and paths filled in.
struct DevHints {
    data: PathBuf,
    root_vkey: Option<String>,
}

impl DevHints {
    fn new(dir: &Path) -> DevHints {
        let data = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        // Logs made before root.key.pub existed: derive it from root.key.
        let root_vkey = fs::read_to_string(data.join(DEV_ROOT_VKEY_FILE))
            .ok()
            .map(|s| s.trim_end().to_owned())
            .or_else(|| {
                let skey = fs::read_to_string(data.join(DEV_ROOT_KEY_FILE)).ok()?;
                let signer = Ed25519Signer::from_skey(skey.trim_end()).ok()?;
                Some(signer.verifier().to_vkey())
            });
        DevHints { data, root_vkey }
    }

    fn text(&self, addr: SocketAddr) -> String {
        let data = self.data.display();
        let mut out = String::new();
        if let Some(vkey) = &self.root_vkey {
            out.push_str(&format!(
                "cairn: root key (verifier; DEVELOPMENT only, its secret is {data}/{DEV_ROOT_KEY_FILE}): {vkey}\n"
            ));
        }
        out.push_str(&format!(
            "cairn: next, in another terminal: log a release key, publish a file, verify and install \
             it (README.md, \"Quickstart\"):\n\
             \x20   export CAIRN_LOG=http://{addr}\n\
             \x20   mkdir demo && cd demo && export XDG_STATE_HOME=\"$PWD/state\"\n\
             \x20   cairn serve --data {data} --print-vkey > log.vkeys\n\
             \x20   cairn keygen --name localhost/release-demo --out release.key\n\
             \x20   cairn key add --release-key release.key.pub --scope 'demo/*' --log \"$CAIRN_LOG\" --log-key log.vkeys > add.event\n\
             \x20   cairn key sign add.event --key {data}/{DEV_ROOT_KEY_FILE}\n\
             \x20   cairn key submit add.event --log \"$CAIRN_LOG\" --log-key log.vkeys\n\
             \x20   echo \"hello, transparency\" > hello.txt\n\
             \x20   cairn publish hello.txt --name demo/hello --version 1.0 --key release.key --log \"$CAIRN_LOG\" --log-key log.vkeys\n\
             \x20   cairn trust init --log \"$CAIRN_LOG\" --log-key log.vkeys --root-key {data}/{DEV_ROOT_VKEY_FILE} --threshold 1\n\
             \x20   cairn verify hello.txt --name demo/hello\n\
             \x20   cairn install hello.txt --to hello-installed.txt --name demo/hello\n"
        ));
        out
    }
}

/// Runs `serve` on a multi-threaded tokio runtime with a listener bound to `listen`: prints
/// the `listening on` line operators and the tests wait for, and `stopped` when `serve`
/// returns (after the shutdown signal).
pub(crate) fn serve_on<F, Fut>(listen: SocketAddr, serve: F) -> anyhow::Result<()>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Every server here holds one descriptor per connection: start from the hard limit.
    raise_fd_limit();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        eprintln!("cairn: listening on http://{}", listener.local_addr()?);
        serve(listener).await?;
        eprintln!("cairn: stopped");
        anyhow::Ok(())
    })
}

/// `cairn serve --mirror DIR`.
fn serve_mirror(dir: &Path, listen: SocketAddr) -> anyhow::Result<()> {
    if !dir.join("releases/checkpoint").is_file() || !dir.join("keys/checkpoint").is_file() {
        return Err(Error::Usage(format!(
            "{} holds no mirrored log (no releases/checkpoint and keys/checkpoint); run \
             `cairn mirror --mirror-dir {}` first",
            dir.display(),
            dir.display()
        ))
        .into());
    }
    eprintln!("cairn: serving the mirror in {} read-only", dir.display());
    let dir = dir.to_path_buf();
    serve_on(listen, move |listener| async move {
        cairn_log_server::mirror::run(dir, listener, shutdown_signal()).await?;
        Ok(())
    })
}

/// The publication hook of `--hook` or config.toml; files for it go to DIR/hook.
fn hook(data: &DataDir, args: &ServeArgs) -> Option<Hook> {
    let config = data.config.hook.as_ref();
    let command = args
        .hook
        .clone()
        .or_else(|| config.map(|h| h.command.clone()))?;
    let timeout = args
        .hook_timeout
        .unwrap_or(Duration::from_secs(config.map_or(60, |h| h.timeout_secs)));
    Some(Hook {
        command,
        timeout,
        dir: data.path.join("hook"),
    })
}

/// A zone-file line for a TXT record holding `value`, split into strings of at most 255 bytes
/// as RFC 1035 requires (the compact line is ASCII without quotes or backslashes).
pub(crate) fn zone_line(owner: &str, value: &str) -> String {
    let strings: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!("{owner} 300 IN TXT {}", strings.join(" "))
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_line_splits_long_values() {
        assert_eq!(zone_line("_cairn", "abc"), "_cairn 300 IN TXT \"abc\"");
        let long = "x".repeat(300);
        let line = zone_line("_cairn", &long);
        assert_eq!(
            line,
            format!(
                "_cairn 300 IN TXT \"{}\" \"{}\"",
                "x".repeat(255),
                "x".repeat(45)
            )
        );
    }
}
