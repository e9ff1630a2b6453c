//! The `cairn` command: one binary for log operators, maintainers, clients, monitors, mirrors
//! and witnesses. Data goes to stdout, progress and logs to stderr; exit codes are those of
//! `../shared/CLI.md` (see [`exit`]).

mod exit;
mod keygen;

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
    Keygen(keygen::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(&args),
    };
    exit::report(result)
}
