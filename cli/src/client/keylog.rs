//! `cairn keylog sync|export`.

use std::path::PathBuf;

use cairn_client::Error;
use cairn_client::checkpoints::{Freshness, now};
use cairn_client::keylog::{KeyLog, load_stored, store, sync};
use cairn_client::report::Report;
use cairn_client::state::StateDir;
use cairn_client::trust::{LogName, Trust};
use cairn_client::upstream::Remote;

use crate::client::trust::ClientOptions;

/// `cairn keylog ...`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeylogArgs {
    #[command(subcommand)]
    command: KeylogCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeylogCommand {
    /// Fetch and verify the key log, check it against the stored copy, store it.
    Sync(SyncArgs),
    /// Write a zstd-compressed key-log snapshot for offline machines (syncs first).
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
struct SyncArgs {
    /// Print each check on stderr.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    client: ClientOptions,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// Where to write the snapshot.
    #[arg(long, value_name = "SNAPSHOT")]
    out: PathBuf,
    /// Export the stored copy without contacting the log.
    #[arg(long)]
    offline: bool,
    /// Print each check on stderr.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    client: ClientOptions,
}

/// Runs `cairn keylog ...`.
pub(crate) fn run(args: &KeylogArgs) -> anyhow::Result<()> {
    match &args.command {
        KeylogCommand::Sync(a) => {
            let (state, trust) = a.client.load()?;
            let mut report = crate::output::report(a.verbose);
            let keylog = sync_and_store(&state, &trust, &mut report)?;
            eprintln!(
                "cairn: key log {} verified at size {}: {} release keys",
                trust.origin(LogName::Keys),
                keylog.checkpoint.size(),
                keylog.state.release_keys().len()
            );
            Ok(())
        }
        KeylogCommand::Export(a) => {
            let (state, trust) = a.client.load()?;
            let mut report = crate::output::report(a.verbose);
            let keylog = if a.offline {
                load_stored(&state, &trust, now(), None, &mut report)?.ok_or_else(|| {
                    Error::Usage("no stored key log: run `cairn keylog sync` first".to_owned())
                })?
            } else {
                sync_and_store(&state, &trust, &mut report)?
            };
            let bytes = keylog.snapshot().to_file_bytes()?;
            cairn_client::state::write_atomic(&a.out, &bytes, 0o644)?;
            eprintln!(
                "cairn: wrote key-log snapshot {} (size {}, {} bytes)",
                a.out.display(),
                keylog.checkpoint.size(),
                bytes.len()
            );
            Ok(())
        }
    }
}

fn sync_and_store(state: &StateDir, trust: &Trust, report: &mut Report) -> anyhow::Result<KeyLog> {
    let server = Remote::http(&trust.url)?;
    let (keylog, old) = sync(
        &server,
        state,
        trust,
        now(),
        Some(Freshness::Required),
        report,
    )?;
    let newer = old.is_none_or(|old| old < keylog.checkpoint.size());
    if newer {
        store(state, trust, &keylog)?;
    }
    Ok(keylog)
}
