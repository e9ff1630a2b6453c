//! `cairn completions SHELL` and `cairn man --out-dir DIR`: shell completions and man pages
//! generated from the same clap definitions the parser uses, so they cannot drift from it
//! (docs/cli.md, "Completions and man pages").

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::Cli;

/// Arguments of `cairn completions`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write a completion script for (on stdout).
    #[arg(value_enum)]
    shell: Shell,
}

/// The shells `cairn completions` supports.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Shell {
    /// Bash (bash-completion).
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

/// Arguments of `cairn man`.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Directory to write cairn.1 and one cairn-COMMAND.1 per subcommand into (created if
    /// needed; existing pages are replaced).
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
}

pub(crate) fn completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "cairn", &mut script);
    std::io::stdout()
        .lock()
        .write_all(&script)
        .context("writing the completion script to stdout")
}

pub(crate) fn man(args: &ManArgs) -> anyhow::Result<()> {
    fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    // Built, so that each subcommand's display name is `cairn-SUB` (the page's file name).
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let written = write_pages(&command, &args.out_dir)?;
    eprintln!(
        "cairn: wrote {written} man pages to {} (try `man -l {}`)",
        args.out_dir.display(),
        args.out_dir.join("cairn.1").display()
    );
    Ok(())
}

/// Writes the page of `command` and, recursively, of each visible subcommand; returns how
/// many pages it wrote.
fn write_pages(command: &clap::Command, dir: &Path) -> anyhow::Result<usize> {
    let mut written = 0;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        written += write_pages(sub, dir)?;
    }
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    man.render(&mut page)
        .with_context(|| format!("rendering the man page of {}", command.get_name()))?;
    let path = dir.join(man.get_filename());
    crate::atomic_file::write(&path, &page, 0o644, crate::atomic_file::Existing::Replace)?;
    Ok(written + 1)
}
