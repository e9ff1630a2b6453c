//! The `cairn` command: one binary for log operators, maintainers, clients, monitors, mirrors
//! and witnesses. Data goes to stdout, progress and logs to stderr; exit codes are those of
//! `../shared/CLI.md` (see [`exit`]).

// Grouped by role: what a client runs, what a maintainer runs, what log and witness operators
// run, and monitors and mirrors (which run the client library's audit round). The decisions are
// the libraries' (`cairn_client`, `cairn_verifier`, `cairn_log_server`); these modules are the
// command line over them.
mod audit;
mod client;
mod maintainer;
mod operator;

// Shared by every command.
mod atomic_file;
mod deprecated;
mod exit;
#[cfg(test)]
mod flag_rules;
mod output;
mod shell;

use std::process::ExitCode;

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
    Keygen(maintainer::keygen::Args),
    /// Print the verifier key of a signing key: a key file, a pkcs11: URI or an ssh-agent: key.
    Vkey(maintainer::vkey::Args),
    /// Create a log: data directory, git repository, log key, and the genesis key event.
    Init(operator::log::InitArgs),
    /// Give a log made before per-origin keys a separate key for its key log.
    MigrateKeys(operator::log::MigrateKeysArgs),
    /// Serve a log (creates a development log in ./cairn-data when run without --data).
    Serve(operator::log::ServeArgs),
    /// Key-log events: make (root, add, retire, revoke), sign, and submit them.
    Key(maintainer::key::Args),
    /// Hash, sign and log a release; write FILE.tlog-proof beside each file.
    Publish(maintainer::publish::Args),
    /// Log that a released version should no longer be installed.
    Deprecate(maintainer::deprecate::Args),
    /// Client trust policy: `cairn trust init`.
    Trust(client::trust::TrustArgs),
    /// Verify an artifact against the log before using it.
    Verify(client::verify::VerifyArgs),
    /// Download or copy an artifact, verify it, and only then move it into place.
    Install(client::install::InstallArgs),
    /// Install the newest valid release of a name, verified; "up to date" when there is none.
    Update(client::update::UpdateArgs),
    /// The client's copy of the key log: `sync`, `export`.
    Keylog(client::keylog::KeylogArgs),
    /// Follow the log, verify every entry and checkpoint, and alert (JSON lines on stdout).
    Monitor(audit::monitor::Args),
    /// Copy a log into a directory, verifying everything first; serve it with `serve --mirror`.
    Mirror(audit::mirror::Args),
    /// Run a witness: cosign checkpoints of the configured logs after checking consistency
    /// (C2SP tlog-witness).
    Witness(operator::witness::WitnessArgs),
    /// Sigstore bundles: `cairn sigstore verify` checks one offline.
    Sigstore(client::sigstore::Args),
    /// Where this client stands: the log, its verified checkpoints and their witnesses, the
    /// release keys valid now, the last verify or install.
    Status(client::status::Args),
    /// Print a shell completion script (bash, zsh, fish) on stdout.
    Completions(shell::CompletionsArgs),
    /// Write the man pages (cairn.1 and one per subcommand) into a directory.
    Man(shell::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => maintainer::keygen::run(&args),
        Command::Vkey(args) => maintainer::vkey::run(&args),
        Command::Init(args) => operator::log::init(&args),
        Command::MigrateKeys(args) => operator::log::migrate_keys(&args),
        Command::Serve(args) => {
            init_logging();
            operator::log::serve(&args)
        }
        Command::Key(args) => maintainer::key::run(&args),
        Command::Publish(args) => maintainer::publish::run(&args),
        Command::Deprecate(args) => maintainer::deprecate::run(&args),
        Command::Trust(args) => client::trust::run(&args),
        Command::Verify(args) => client::verify::run(&args),
        Command::Install(args) => client::install::run(&args),
        Command::Update(args) => client::update::run(&args),
        Command::Keylog(args) => client::keylog::run(&args),
        Command::Monitor(args) => audit::monitor::run(&args),
        Command::Mirror(args) => audit::mirror::run(&args),
        Command::Witness(args) => {
            init_logging();
            operator::witness::run(&args)
        }
        Command::Sigstore(args) => client::sigstore::run(&args),
        Command::Status(args) => client::status::run(&args),
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
