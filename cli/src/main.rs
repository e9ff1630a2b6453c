//! The `cairn` command: one binary for log operators, maintainers, clients, monitors, mirrors
//! and witnesses. Data goes to stdout, progress and logs to stderr; exit codes are those of
//! `../shared/CLI.md` (see [`exit`]).

mod atomic_file;
mod decompress;
mod deprecate;
mod deprecated;
mod exit;
#[cfg(test)]
mod flag_rules;
mod flash;
mod hashing;
mod install;
mod key;
mod key_files;
mod keygen;
mod keylog_cmd;
mod log_client;
mod mirror;
mod monitor;
mod operator;
mod output;
mod publish;
mod shell;
mod sigstore;
mod status;
mod trust_cmd;
mod update;
mod verify_cmd;
mod vkey;
mod witness;

use std::process::ExitCode;

// The client library's modules, under the names the commands use.
use cairn_client::upstream as fetch;
use cairn_client::{audit, checkpoints, duration, keylog, report, state, trust};

use clap::{Parser, Subcommand};

/// Cairn: a transparency log for software distribution.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an Ed25519 signing key (FILE, mode 0600) and its verifier key (FILE.pub).
    Keygen(keygen::Args),
    /// Print the verifier key of a signing key: a key file, a pkcs11: URI or an ssh-agent: key.
    Vkey(vkey::Args),
    /// Create a log: data directory, git repository, log key, and the genesis key event.
    Init(operator::InitArgs),
    /// Give a log made before per-origin keys a separate key for its key log.
    MigrateKeys(operator::MigrateKeysArgs),
    /// Serve a log (creates a development log in ./cairn-data when run without --data).
    Serve(operator::ServeArgs),
    /// Key-log events: make (root, add, retire, revoke), sign, and submit them.
    Key(key::Args),
    /// Hash, sign and log a release; write FILE.tlog-proof beside each file.
    Publish(publish::Args),
    /// Log that a released version should no longer be installed.
    Deprecate(deprecate::Args),
    /// Client trust policy: `cairn trust init`.
    Trust(trust_cmd::TrustArgs),
    /// Verify an artifact against the log before using it.
    Verify(verify_cmd::VerifyArgs),
    /// Download or copy an artifact, verify it, and only then move it into place.
    Install(install::InstallArgs),
    /// Install the newest valid release of a name, verified; "up to date" when there is none.
    Update(update::UpdateArgs),
    /// The client's copy of the key log: `sync`, `export`.
    Keylog(keylog_cmd::KeylogArgs),
    /// Follow the log, verify every entry and checkpoint, and alert (JSON lines on stdout).
    Monitor(monitor::Args),
    /// Copy a log into a directory, verifying everything first; serve it with `serve --mirror`.
    Mirror(mirror::Args),
    /// Run a witness: cosign checkpoints of the configured logs after checking consistency
    /// (C2SP tlog-witness).
    Witness(witness::WitnessArgs),
    /// Sigstore bundles: `cairn sigstore verify` checks one offline.
    Sigstore(sigstore::Args),
    /// Where this client stands: the log, its verified checkpoints and their witnesses, the
    /// release keys valid now, the last verify or install.
    Status(status::Args),
    /// Print a shell completion script (bash, zsh, fish) on stdout.
    Completions(shell::CompletionsArgs),
    /// Write the man pages (cairn.1 and one per subcommand) into a directory.
    Man(shell::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(&args),
        Command::Vkey(args) => vkey::run(&args),
        Command::Init(args) => operator::init(&args),
        Command::MigrateKeys(args) => operator::migrate_keys(&args),
        Command::Serve(args) => {
            init_logging();
            operator::serve(&args)
        }
        Command::Key(args) => key::run(&args),
        Command::Publish(args) => publish::run(&args),
        Command::Deprecate(args) => deprecate::run(&args),
        Command::Trust(args) => trust_cmd::run(&args),
        Command::Verify(args) => verify_cmd::run(&args),
        Command::Install(args) => install::run(&args),
        Command::Update(args) => update::run(&args),
        Command::Keylog(args) => keylog_cmd::run(&args),
        Command::Monitor(args) => monitor::run(&args),
        Command::Mirror(args) => mirror::run(&args),
        Command::Witness(args) => {
            init_logging();
            witness::run(&args)
        }
        Command::Sigstore(args) => sigstore::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Completions(args) => shell::completions(&args),
        Command::Man(args) => shell::man(&args),
    };
    exit::report(result)
}

/// Structured logs on stderr; `RUST_LOG` selects what (default: info). Colour only when
/// stderr is a terminal and `NO_COLOR` is unset, so logs written to a file or journal carry
/// no escape codes.
fn init_logging() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(use_colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Whether log lines get ANSI colour: on a terminal, unless `NO_COLOR` is set to anything
/// non-empty (no-color.org).
fn use_colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::use_colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("".into())));
        assert!(!use_colour(true, Some("1".into())));
        assert!(!use_colour(false, None));
    }
}
