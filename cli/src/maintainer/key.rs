//! `cairn key root|add|retire|revoke|grant-identity|retire-identity|revoke-identity|
//! sigstore-root|sign|submit`: key-log events, from an unsigned event to a sequenced one
//! (spec/keylog.md).
//!
//! An EVENT file goes through three states. `root`, `add`, `retire` and `revoke` write the
//! unsigned event, which is the bare `cairn/key/v1` note text, on stdout (redirect it to a file).
//! Each root holder then runs `cairn key sign EVENT --key SECRET`, which appends one signature
//! line, turning the file into a signed note; root holders can do that one after another, on
//! different machines, offline. `cairn key submit` replays the key log, says which signatures
//! are still missing for the current threshold (and, for a root change, the new one), and sends
//! the event only when the log would accept it.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cairn_verifier::entry::{
    KeyEvent, MAX_PINNED_TRUSTED_ROOT_SIZE, OidcIssuer, Reason, RootSet, Scope,
    parse_identity_pattern, sigstore_root_event,
};
use cairn_verifier::keylog::KeyState;
use cairn_verifier::note::{
    Ed25519Verifier, MAX_NOTE_SIZE, Note, NoteError, NoteSigner as _, NoteVerifier as _,
};
use cairn_verifier::sigstore_identity::IdentityMatcher;

use crate::atomic_file::{self, Existing};
use crate::maintainer::key_files::{LogKey, load_key, read_verifier};
use crate::maintainer::log_client::{self, LogClient, LogName};
use cairn_client::Error;

/// Arguments of `cairn key`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeyCommand {
    /// Write an unsigned root event (the genesis, or a change of the root set) to stdout.
    Root(RootArgs),
    /// Write an unsigned event adding a release key to stdout.
    Add(AddArgs),
    /// Write an unsigned event retiring a release key (planned end of use) to stdout.
    Retire(EndArgs),
    /// Write an unsigned event revoking a compromised release key to stdout.
    Revoke(EndArgs),
    /// Write an unsigned event granting release names to a Sigstore identity to stdout.
    GrantIdentity(GrantArgs),
    /// Write an unsigned event retiring a Sigstore identity's grant to stdout.
    RetireIdentity(IdentityEndArgs),
    /// Write an unsigned event revoking a Sigstore identity's grant to stdout.
    RevokeIdentity(IdentityEndArgs),
    /// Write an unsigned event pinning a Sigstore trusted root (trusted_root.json) to stdout.
    SigstoreRoot(SigstoreRootArgs),
    /// Add one signature to an EVENT file, in place.
    Sign(SignArgs),
    /// Check an EVENT against the key log, submit it, and print its key-log index.
    Submit(SubmitArgs),
}

#[derive(Debug, clap::Args)]
struct RootArgs {
    /// A root verifier key (vkey or file); give one per root, as `--root-key A --root-key B`
    /// or `--root-key A B`. (Old spelling: --key.)
    #[arg(long = "root-key", alias = "key", value_name = "VKEY", required = true, num_args = 1..)]
    keys: Vec<String>,
    /// How many distinct root keys must sign each later key event.
    #[arg(long, value_name = "K")]
    threshold: usize,
    /// Why (one line), recorded in the log.
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// The release key's verifier key (vkey or file, such as the FILE.pub of `cairn keygen`).
    /// (Old spelling: --key.)
    #[arg(long = "release-key", alias = "key", value_name = "VKEY")]
    key: String,
    /// Which release names the key may sign: a name, or a prefix ending in `/*`.
    #[arg(long, value_name = "GLOB")]
    scope: String,
    /// The log, to read the release log's current size for `from`.
    #[arg(long, value_name = "URL", required_unless_present = "from")]
    log: Option<String>,
    /// First release-log index the key may sign (default: the release log's current size).
    #[arg(long, value_name = "N")]
    from: Option<u64>,
    /// Why (one line), recorded in the log.
    #[arg(long)]
    reason: Option<String>,
    /// The log's verifier key, to verify the checkpoint whose size becomes `from`.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
}

#[derive(Debug, clap::Args)]
struct EndArgs {
    /// The release key's verifier key (vkey or file), exactly as it was added. (Old
    /// spelling: --key.)
    #[arg(long = "release-key", alias = "key", value_name = "VKEY")]
    key: String,
    /// The log, to read the release log's current size for `until`.
    #[arg(long, value_name = "URL", required_unless_present = "until")]
    log: Option<String>,
    /// The key signs nothing at or after this release-log index (default: the release log's
    /// current size). For a compromise, give the first index the attacker may have used.
    #[arg(long, value_name = "N")]
    until: Option<u64>,
    /// Why (one line), recorded in the log.
    #[arg(long)]
    reason: String,
    /// The log's verifier key, to verify the checkpoint whose size becomes `until`.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
}

#[derive(Debug, clap::Args)]
struct GrantArgs {
    /// The OIDC issuer, exactly (for example `https://token.actions.githubusercontent.com`).
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// The certificate identity: exact, or `WORKFLOW@refs/tags/*` for any tag of a workflow.
    #[arg(long, value_name = "ID")]
    identity: String,
    /// Which release names the identity may authorise: a name, or a prefix ending in `/*`.
    #[arg(long, value_name = "GLOB")]
    scope: String,
    /// The log, to read the release log's current size for `from`.
    #[arg(long, value_name = "URL", required_unless_present = "from")]
    log: Option<String>,
    /// First release-log index the identity may authorise (default: the release log's size).
    #[arg(long, value_name = "N")]
    from: Option<u64>,
    /// Why (one line), recorded in the log.
    #[arg(long)]
    reason: Option<String>,
    /// The log's verifier key, to verify the checkpoint whose size becomes `from`.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
}

#[derive(Debug, clap::Args)]
struct IdentityEndArgs {
    /// The grant's OIDC issuer.
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// The grant's identity, spelled exactly as granted.
    #[arg(long, value_name = "ID")]
    identity: String,
    /// The log, to read the release log's current size for `until`.
    #[arg(long, value_name = "URL", required_unless_present = "until")]
    log: Option<String>,
    /// The grant authorises nothing at or after this release-log index (default: the release
    /// log's current size).
    #[arg(long, value_name = "N")]
    until: Option<u64>,
    /// Why (one line), recorded in the log.
    #[arg(long)]
    reason: String,
    /// The log's verifier key, to verify the checkpoint whose size becomes `until`.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
}

#[derive(Debug, clap::Args)]
struct SigstoreRootArgs {
    /// The trusted_root.json to pin (default: the Sigstore public-good production root shipped
    /// with Cairn).
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// The log, to read the release log's current size for `from`.
    #[arg(long, value_name = "URL", required_unless_present = "from")]
    log: Option<String>,
    /// First release-log index the root applies to (default: the release log's current size).
    #[arg(long, value_name = "N")]
    from: Option<u64>,
    /// Why (one line), recorded in the log.
    #[arg(long)]
    reason: Option<String>,
    /// The log's verifier key, to verify the checkpoint whose size becomes `from`.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
}

#[derive(Debug, clap::Args)]
struct SignArgs {
    /// The event file, unsigned or carrying other roots' signatures; rewritten in place.
    #[arg(value_name = "EVENT")]
    event: PathBuf,
    /// A root signing key: a key file (mode 0600), a pkcs11: URI or an ssh-agent: key.
    #[arg(long = "key", value_name = "KEYREF")]
    key: String,
    /// The key's name (as in its verifier key); required when --key is a pkcs11: or ssh-agent:
    /// reference, which stores none.
    #[arg(long, value_name = "NAME")]
    key_name: Option<String>,
}

#[derive(Debug, clap::Args)]
struct SubmitArgs {
    /// The signed event file.
    #[arg(value_name = "EVENT")]
    event: PathBuf,
    /// The log's base URL.
    #[arg(long, value_name = "URL")]
    log: String,
    /// The log's verifier key: verifies the key-log checkpoint and the returned proof.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        KeyCommand::Root(a) => root(a),
        KeyCommand::Add(a) => add(a),
        KeyCommand::Retire(a) => end(a, false),
        KeyCommand::Revoke(a) => end(a, true),
        KeyCommand::GrantIdentity(a) => grant_identity(a),
        KeyCommand::RetireIdentity(a) => end_identity(a, false),
        KeyCommand::RevokeIdentity(a) => end_identity(a, true),
        KeyCommand::SigstoreRoot(a) => sigstore_root(a),
        KeyCommand::Sign(a) => sign(a),
        KeyCommand::Submit(a) => submit(a),
    }
}

fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    Error::Usage(e.to_string()).into()
}

fn reason(value: Option<&str>) -> anyhow::Result<Option<Reason>> {
    value
        .map(|r| Reason::new(r).map_err(|e| usage(format!("--reason: {e}"))))
        .transpose()
}

/// Writes an unsigned event on stdout and tells the user what comes next.
fn emit(event: &KeyEvent) -> anyhow::Result<()> {
    let text = event.to_text();
    // Building the event from validated parts cannot produce text the grammar refuses; check
    // anyway, since root holders will sign exactly these bytes.
    KeyEvent::parse(&text)
        .map_err(|e| anyhow::anyhow!("internal error: built an invalid event: {e}"))?;
    #[allow(clippy::print_stdout)] // The event is this command's data.
    {
        print!("{text}");
    }
    eprintln!(
        "cairn: wrote an unsigned {} event; each root holder signs it with `cairn key sign EVENT --key ROOT.key`",
        event.kind()
    );
    Ok(())
}

fn root(args: &RootArgs) -> anyhow::Result<()> {
    crate::deprecated::warn_if_used("key root", "--key", "--root-key");
    let keys = args
        .keys
        .iter()
        .map(|k| read_verifier(k, "--root-key"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let roots = RootSet::new(keys, args.threshold).map_err(usage)?;
    emit(&KeyEvent::Root {
        roots,
        reason: reason(args.reason.as_deref())?,
    })
}

/// The release log's current size, for a default `from` or `until`. Verified with the log key
/// when given; either way it is only a proposal that every root holder sees in the event text
/// before signing, and the server checks the event against the key log, not against this size.
fn release_log_size(log: Option<&str>, log_key: Option<&str>, field: &str) -> anyhow::Result<u64> {
    let Some(log) = log else {
        return Err(usage(format!("--{field} or --log is required")));
    };
    let client = LogClient::new(log)?;
    let log_key = log_key.map(LogKey::parse).transpose()?;
    let checkpoint = log_client::fetch_checkpoint(&client, LogName::Releases, log_key.as_ref())?;
    log_client::warn_unverified(&checkpoint);
    eprintln!(
        "cairn: release-log size {} ({}); using {field} {}",
        checkpoint.size,
        if checkpoint.verified {
            "checkpoint signed by the log"
        } else {
            "checkpoint NOT signature-checked"
        },
        checkpoint.size
    );
    Ok(checkpoint.size)
}

fn add(args: &AddArgs) -> anyhow::Result<()> {
    crate::deprecated::warn_if_used("key add", "--key", "--release-key");
    let key = read_verifier(&args.key, "--release-key")?;
    let scope = Scope::new(&args.scope).map_err(|e| usage(format!("--scope: {e}")))?;
    let reason = reason(args.reason.as_deref())?;
    let from = match args.from {
        Some(n) => n,
        None => release_log_size(args.log.as_deref(), args.log_key.as_deref(), "from")?,
    };
    emit(&KeyEvent::Add {
        key,
        scope,
        from,
        reason,
    })
}

fn end(args: &EndArgs, revoke: bool) -> anyhow::Result<()> {
    let command = if revoke { "key revoke" } else { "key retire" };
    crate::deprecated::warn_if_used(command, "--key", "--release-key");
    let key = read_verifier(&args.key, "--release-key")?;
    let reason = Reason::new(&args.reason).map_err(|e| usage(format!("--reason: {e}")))?;
    let until = match args.until {
        Some(n) => n,
        None => release_log_size(args.log.as_deref(), args.log_key.as_deref(), "until")?,
    };
    emit(&if revoke {
        KeyEvent::Revoke { key, until, reason }
    } else {
        KeyEvent::Retire { key, until, reason }
    })
}

fn identity_parts(issuer: &str, identity: &str) -> anyhow::Result<(OidcIssuer, IdentityMatcher)> {
    let issuer = OidcIssuer::new(issuer).map_err(|e| usage(format!("--issuer: {e}")))?;
    let identity =
        parse_identity_pattern(identity).map_err(|e| usage(format!("--identity: {e}")))?;
    Ok((issuer, identity))
}

fn grant_identity(args: &GrantArgs) -> anyhow::Result<()> {
    let (issuer, identity) = identity_parts(&args.issuer, &args.identity)?;
    let scope = Scope::new(&args.scope).map_err(|e| usage(format!("--scope: {e}")))?;
    let reason = reason(args.reason.as_deref())?;
    let from = match args.from {
        Some(n) => n,
        None => release_log_size(args.log.as_deref(), args.log_key.as_deref(), "from")?,
    };
    emit(&KeyEvent::AddIdentity {
        issuer,
        identity,
        scope,
        from,
        reason,
    })
}

fn end_identity(args: &IdentityEndArgs, revoke: bool) -> anyhow::Result<()> {
    let (issuer, identity) = identity_parts(&args.issuer, &args.identity)?;
    let reason = Reason::new(&args.reason).map_err(|e| usage(format!("--reason: {e}")))?;
    let until = match args.until {
        Some(n) => n,
        None => release_log_size(args.log.as_deref(), args.log_key.as_deref(), "until")?,
    };
    emit(&if revoke {
        KeyEvent::RevokeIdentity {
            issuer,
            identity,
            until,
            reason,
        }
    } else {
        KeyEvent::RetireIdentity {
            issuer,
            identity,
            until,
            reason,
        }
    })
}

fn sigstore_root(args: &SigstoreRootArgs) -> anyhow::Result<()> {
    let bytes = match &args.trusted_root {
        Some(path) => {
            let meta = std::fs::metadata(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if meta.len() > MAX_PINNED_TRUSTED_ROOT_SIZE as u64 {
                return Err(usage(format!(
                    "--trusted-root {}: {} bytes; the key log pins at most {MAX_PINNED_TRUSTED_ROOT_SIZE}",
                    path.display(),
                    meta.len()
                )));
            }
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => cairn_sigstore::PRODUCTION_TRUSTED_ROOT.to_vec(),
    };
    // Root holders sign what they pin: refuse a root the Sigstore verifier cannot use.
    cairn_sigstore::TrustedRoot::from_json(&bytes)
        .map_err(|e| usage(format!("--trusted-root: {e}")))?;
    let reason = reason(args.reason.as_deref())?;
    let from = match args.from {
        Some(n) => n,
        None => release_log_size(args.log.as_deref(), args.log_key.as_deref(), "from")?,
    };
    emit(
        &sigstore_root_event(from, bytes, reason)
            .map_err(|e| usage(format!("--trusted-root: {e}")))?,
    )
}

/// An EVENT file: the note (with zero signatures when unsigned) and its parsed event.
struct EventFile {
    note: Note,
    event: KeyEvent,
}

fn read_event(path: &Path) -> anyhow::Result<EventFile> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_NOTE_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    let bad = |what: String| usage(format!("{} is not a key event: {what}", path.display()));
    if bytes.len() > MAX_NOTE_SIZE {
        return Err(bad("larger than a note may be".to_owned()));
    }
    // Event text never holds a blank line, so one marks the start of the signature block.
    let note = if bytes.windows(2).any(|w| w == b"\n\n") {
        Note::parse(&bytes).map_err(|e| bad(e.to_string()))?
    } else {
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8".to_owned()))?;
        Note::sign(text, &[]).map_err(|e| bad(e.to_string()))?
    };
    let event = KeyEvent::parse(note.text()).map_err(|e| bad(e.to_string()))?;
    Ok(EventFile { note, event })
}

/// Which keys of `roots` signed `note` with a valid signature, and which did not sign. A root
/// key's signature that does not verify is an error: the log refuses such an event outright.
fn signers_among<'r>(
    note: &Note,
    roots: &'r RootSet,
) -> anyhow::Result<(Vec<&'r Ed25519Verifier>, Vec<&'r Ed25519Verifier>)> {
    let mut signed = Vec::new();
    let mut missing = Vec::new();
    for key in roots.keys() {
        let sig = note
            .signatures()
            .iter()
            .find(|s| &s.name == key.name() && s.key_id == key.key_id());
        match sig {
            Some(sig) if key.verify(note.text().as_bytes(), &sig.signature) => signed.push(key),
            Some(_) => {
                return Err(Error::Refused(format!(
                    "the signature by root key {} does not verify; the log refuses the event \
                     whatever else signed it (was the event edited after signing?)",
                    key.name()
                ))
                .into());
            }
            None => missing.push(key),
        }
    }
    Ok((signed, missing))
}

fn names(keys: &[&Ed25519Verifier]) -> String {
    if keys.is_empty() {
        return "none".to_owned();
    }
    keys.iter()
        .map(|k| k.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reports on stderr how `note` stands against `roots`; returns whether it meets the threshold.
fn report_threshold(note: &Note, roots: &RootSet, which: &str) -> anyhow::Result<bool> {
    let (signed, missing) = signers_among(note, roots)?;
    let needed = roots.threshold().saturating_sub(signed.len());
    if needed == 0 {
        eprintln!(
            "cairn: {which} roots: threshold {} of {} met (signed by {})",
            roots.threshold(),
            roots.keys().len(),
            names(&signed)
        );
    } else {
        eprintln!(
            "cairn: {which} roots: threshold {} of {} NOT met: signed by {}; {needed} more \
             signature(s) needed from: {}",
            roots.threshold(),
            roots.keys().len(),
            names(&signed),
            names(&missing)
        );
    }
    Ok(needed == 0)
}

fn sign(args: &SignArgs) -> anyhow::Result<()> {
    let EventFile { mut note, event } = read_event(&args.event)?;
    let signer = load_key(&args.key, args.key_name.as_deref())?;
    eprintln!(
        "cairn: signing this {} event as {}:\n{}",
        event.kind(),
        signer.name(),
        indent(note.text())
    );
    match note.add_signature(&signer) {
        Ok(()) => {}
        Err(NoteError::DuplicateSignature { name, key_id }) => {
            return Err(usage(format!(
                "{} already carries a signature by {name} (key ID {key_id:08x}); each key signs \
                 an event once",
                args.event.display()
            )));
        }
        Err(e @ NoteError::SigningFailed(_)) => {
            return Err(anyhow::anyhow!("cannot sign {}: {e}", args.event.display()));
        }
        Err(e) => return Err(usage(format!("cannot sign {}: {e}", args.event.display()))),
    }
    let mode = std::fs::metadata(&args.event)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644);
    atomic_file::write(&args.event, &note.to_bytes(), mode, Existing::Replace)?;
    eprintln!(
        "cairn: {} now carries {} signature(s)",
        args.event.display(),
        note.signatures().len()
    );
    if let KeyEvent::Root { roots, .. } = &event {
        // The new root set is in the event itself; the current one is in the key log, which
        // `cairn key submit` reads.
        report_threshold(&note, roots, "new")?;
        eprintln!(
            "cairn: `cairn key submit` also checks the current roots' threshold against the log"
        );
    }
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// Replays the log's key log from its own genesis (entry 0). This is the maintainer's
/// pre-flight check, not a client's verification: it trusts the genesis the log serves rather
/// than pinned roots, and the server enforces the same rules on submission anyway.
fn key_state(
    client: &LogClient,
    log_key: Option<&LogKey>,
) -> anyhow::Result<(KeyState, Vec<Vec<u8>>)> {
    let (checkpoint, entries) = log_client::fetch_all_entries(client, LogName::Keys, log_key)?;
    log_client::warn_unverified(&checkpoint);
    let replay_failed =
        |e: String| Error::Refused(format!("the log's key log does not replay: {e}"));
    let Some(first) = entries.first() else {
        return Err(replay_failed("it is empty (no genesis)".to_owned()).into());
    };
    let genesis = Note::parse(first).map_err(|e| replay_failed(format!("entry 0: {e}")))?;
    let KeyEvent::Root { roots, .. } =
        KeyEvent::parse(genesis.text()).map_err(|e| replay_failed(format!("entry 0: {e}")))?
    else {
        return Err(replay_failed("entry 0 is not a root event".to_owned()).into());
    };
    let (mut state, _) =
        KeyState::genesis(&roots, first).map_err(|e| replay_failed(format!("entry 0: {e}")))?;
    for (i, entry) in entries.iter().enumerate().skip(1) {
        state
            .apply(entry)
            .map_err(|e| replay_failed(format!("entry {i}: {e}")))?;
    }
    Ok((state, entries))
}

fn submit(args: &SubmitArgs) -> anyhow::Result<()> {
    let EventFile { note, event } = read_event(&args.event)?;
    if note.signatures().is_empty() {
        return Err(usage(format!(
            "{} is unsigned; root holders sign it first with `cairn key sign`",
            args.event.display()
        )));
    }
    let client = LogClient::new(&args.log)?;
    let log_key = args.log_key.as_deref().map(LogKey::parse).transpose()?;
    let entry = note.to_bytes();
    let (state, entries) = key_state(&client, log_key.as_ref())?;
    if let Some(index) = entries.iter().position(|e| *e == entry) {
        eprintln!("cairn: this event is already in the key log");
        #[allow(clippy::print_stdout)] // The index is this command's data.
        {
            println!("{index}");
        }
        return Ok(());
    }
    let mut met = report_threshold(&note, state.roots(), "current")?;
    if let KeyEvent::Root { roots, .. } = &event {
        met &= report_threshold(&note, roots, "new")?;
    }
    if !met {
        return Err(Error::Refused(format!(
            "{} does not carry enough root signatures; not submitted. Collect the missing ones \
             with `cairn key sign {} --key ROOT.key`",
            args.event.display(),
            args.event.display()
        ))
        .into());
    }
    // Dry run against the replayed state, so that any other rule the log would enforce is
    // reported before anything is sent.
    state.clone().apply(&entry).map_err(|e| {
        Error::Refused(format!(
            "the log would refuse {}: {e}; not submitted",
            args.event.display()
        ))
    })?;
    let logged = log_client::submit_and_check(&client, LogName::Keys, &entry, log_key.as_ref())?;
    eprintln!(
        "cairn: {} event logged at key-log index {} (key log size {})",
        event.kind(),
        logged.index,
        logged.checkpoint.size
    );
    #[allow(clippy::print_stdout)] // The index is this command's data.
    {
        println!("{}", logged.index);
    }
    Ok(())
}
