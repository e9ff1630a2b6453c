//! `cairn update NAME --base URL|DIR --to PATH`: install the newest valid release of NAME
//! (spec/client.md, "Updating"). Which release is newest is the client library's decision
//! ([`cairn_client::newest`]); this command keeps its history and what it installed in the
//! state directory, downloads the artifact and installs it as `cairn install` does.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cairn_verifier::entry::{Release, ReleaseName, Version};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::install::{Target, install_target};
use crate::client::trust::ClientOptions;
use crate::client::verify::ChannelOptions;
use crate::client::verify::{CheckOptions, print_outcome, print_start_failure};
use cairn_client::Error;
use cairn_client::newest::{History, find_newest};
use cairn_client::report::Report;
use cairn_client::state::Slot;
use cairn_client::verify::{Expected, Run, Verified};

/// Arguments of `cairn update`.
#[derive(Debug, clap::Args)]
pub(crate) struct UpdateArgs {
    /// The release name to keep up to date.
    name: String,
    /// Where the release files are: an http(s) URL or a local directory holding each file
    /// under the name its release entry gives it (`BASE/NAME`, and `BASE/NAME.tlog-proof`
    /// when there is one).
    #[arg(long, value_name = "URL|DIR")]
    base: String,
    /// Where to install the artifact.
    #[arg(long, value_name = "PATH")]
    to: PathBuf,
    /// Which artifact of the release, when it has more than one (its file name).
    #[arg(long, value_name = "NAME")]
    file_name: Option<String>,
    /// The artifact is a zstd or xz image: install its decompressed content (as `install
    /// --decompress`: to a file, sparse, or to a block device, read back and verified).
    #[arg(long)]
    decompress: bool,
    /// Print one JSON object with every check on stdout.
    #[arg(long)]
    json: bool,
    /// Print each check on stderr.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    channels: ChannelOptions,
    #[command(flatten)]
    client: ClientOptions,
}

/// What `cairn update` keeps per name, in `<log dir>/update/<name>.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct UpdateState {
    /// The name's history in the release log (the library's; its fields sit at the top level
    /// of the file).
    #[serde(flatten)]
    history: History,
    /// What was installed last.
    installed: Option<Installed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Installed {
    index: u64,
    version: String,
    file: String,
    sha256: String,
    size: u64,
    path: String,
}

/// What a run ended with.
enum Outcome {
    /// Nothing newer than what is installed.
    UpToDate(Installed),
    /// A release was installed.
    Installed(Box<Verified>),
}

/// Where `cairn update` keeps what it knows of `name`: `<log dir>/update/<name>.json`.
fn state_slot(name: &ReleaseName) -> anyhow::Result<Slot> {
    Ok(Slot::named(&format!("update/{}.json", name.as_str()))?)
}

fn load_state(run: &Run, slot: &Slot) -> anyhow::Result<UpdateState> {
    match run.store.read(&run.trust, slot, 4 << 20)? {
        None => Ok(UpdateState::default()),
        Some(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "the state file {} is not a cairn update state file",
                slot.as_str()
            )
        }),
    }
}

/// Runs `cairn update`.
pub(crate) fn run(args: &UpdateArgs) -> anyhow::Result<()> {
    let checks = CheckOptions {
        name: Some(args.name.clone()),
        version: None,
        offline: false,
        keylog: None,
        refuse_deprecated: true,
        json: args.json,
        verbose: args.verbose,
        channels: args.channels.clone(),
    };
    let started = ReleaseName::new(&args.name)
        .map_err(|e| anyhow::Error::new(Error::Usage(format!("NAME: {e}"))))
        .and_then(|name| {
            checks.expected()?;
            let run = crate::client::verify::start_run(
                &args.client,
                &checks,
                crate::output::report(args.verbose),
            )?;
            Ok((name, run))
        });
    let (name, mut run) = started.inspect_err(|e| print_start_failure(e, &checks))?;
    let _lock = args
        .client
        .state_dir()?
        .child("update-lock")
        .lock("cairn update")?;
    let result = update(&mut run, args, &checks, &name);
    match result {
        Ok(Outcome::UpToDate(installed)) => {
            print_up_to_date(&run.report, &name, &installed, args.json);
            Ok(())
        }
        Ok(Outcome::Installed(verified)) => finish(&run, args, Ok(*verified)),
        Err(e) => finish(&run, args, Err(e)),
    }
}

/// Prints and records the outcome of an install (or a failure), as `cairn install` does.
fn finish(run: &Run, args: &UpdateArgs, result: anyhow::Result<Verified>) -> anyhow::Result<()> {
    let to = args.to.display().to_string();
    print_outcome(&run.report, &result, args.json, &to);
    crate::client::verify::record_last_result(run, &result, "update", &to);
    result.map(|_| ())
}

#[allow(clippy::print_stdout)] // The verdict is this command's data.
fn print_up_to_date(report: &Report, name: &ReleaseName, installed: &Installed, json_out: bool) {
    if json_out {
        let mut value = report.to_json("up-to-date", 0, None);
        value["installed"] = json!(installed);
        value["name"] = json!(name.as_str());
        println!("{value}");
    } else {
        println!(
            "up to date: {} {} {} (release-log index {}) at {}",
            name, installed.version, installed.file, installed.index, installed.path
        );
    }
}

fn update(
    run: &mut Run,
    args: &UpdateArgs,
    checks: &CheckOptions,
    name: &ReleaseName,
) -> anyhow::Result<Outcome> {
    let slot = state_slot(name)?;
    let mut saved = load_state(run, &slot)?;
    let (store, trust) = (run.store.clone(), run.trust.clone());
    let installed = saved.installed.clone();
    let newest = {
        let mut save = |history: &History| -> cairn_client::Result<()> {
            let record = UpdateState {
                history: history.clone(),
                installed: installed.clone(),
            };
            store
                .write(&trust, &slot, &serde_json::to_vec_pretty(&record)?)
                .map_err(|e| e.context("saving the update state"))
        };
        find_newest(
            run,
            name,
            &mut saved.history,
            &checks.to_options(),
            &mut save,
        )?
    };
    let (version, index) = (newest.version.clone(), newest.index);
    if let Some(installed) = &saved.installed
        && installed.index == index
        && Path::new(&installed.path) == args.to
        && args.to.exists()
    {
        return Ok(Outcome::UpToDate(installed.clone()));
    }
    if let Some(installed) = &saved.installed
        && installed.index != index
        && cairn_verifier::version_order::compare(&version, &installed.version)
            .is_some_and(|o| o.is_lt())
    {
        run.report.warn(
            "newest",
            format!(
                "the installed {} {} is no longer valid or was deprecated; installing the older {version}",
                name, installed.version
            ),
        );
    }

    let release = newest.release;
    let file = pick_artifact(&release, args.file_name.as_deref())?;
    let source = source_for(&args.base, &file)?;
    let check_options = CheckOptions {
        version: Some(version.clone()),
        ..checks.clone()
    };
    let expected = Expected::release(
        name.clone(),
        Version::new(&version).map_err(|e| anyhow::anyhow!("version {version:?}: {e}"))?,
    );
    let target = Target {
        source: &source,
        to: &args.to,
        proof: None,
        checks: &check_options,
        decompress: args.decompress,
    };
    let verified = install_target(run, &target, &expected)?;
    if verified.index != index {
        anyhow::bail!(
            "installed the entry at index {} instead of {index}: the log holds two releases of \
             {name} {version}",
            verified.index
        );
    }
    let artifact = release
        .artifacts()
        .iter()
        .find(|a| a.file_name.as_str() == verified.file_name);
    saved.installed = Some(Installed {
        index,
        version,
        file: verified.file_name.clone(),
        sha256: artifact.map(|a| a.digest.to_hex()).unwrap_or_default(),
        size: artifact.map_or(0, |a| a.size),
        path: args.to.display().to_string(),
    });
    run.store
        .write(&run.trust, &slot, &serde_json::to_vec_pretty(&saved)?)
        .context("saving the update state")?;
    Ok(Outcome::Installed(Box::new(verified)))
}

fn pick_artifact(release: &Release, wanted: Option<&str>) -> anyhow::Result<String> {
    let names: Vec<&str> = release
        .artifacts()
        .iter()
        .map(|a| a.file_name.as_str())
        .collect();
    match wanted {
        Some(w) if names.contains(&w) => Ok(w.to_owned()),
        Some(w) => Err(Error::Usage(format!(
            "--file-name {w}: {} {} has no such artifact (it has {})",
            release.name(),
            release.version(),
            names.join(", ")
        ))
        .into()),
        None => match names.as_slice() {
            [one] => Ok((*one).to_owned()),
            _ => Err(Error::Usage(format!(
                "{} {} has {} artifacts ({}); choose one with --file-name NAME",
                release.name(),
                release.version(),
                names.len(),
                names.join(", ")
            ))
            .into()),
        },
    }
}

/// `BASE/NAME`: a URL (the name as one path segment) or a path.
fn source_for(base: &str, file: &str) -> anyhow::Result<String> {
    if base.starts_with("http://") || base.starts_with("https://") {
        let mut url = reqwest::Url::parse(base)
            .map_err(|e| Error::Usage(format!("--base {base:?} is not a URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| Error::Usage(format!("--base {base:?} cannot hold a path")))?
            .pop_if_empty()
            .push(file);
        return Ok(url.to_string());
    }
    if base.contains("://") {
        return Err(Error::Usage(format!(
            "--base {base:?}: only http, https and local directories are supported"
        ))
        .into());
    }
    Ok(Path::new(base).join(file).display().to_string())
}

#[cfg(test)]
mod tests {
    use super::source_for;

    #[test]
    fn base_and_file_name_make_the_source() {
        assert_eq!(
            source_for("https://example.org/dl", "a b.img").expect("url"),
            "https://example.org/dl/a%20b.img"
        );
        assert_eq!(
            source_for("https://example.org/dl/", "x.img").expect("url"),
            "https://example.org/dl/x.img"
        );
        assert_eq!(
            source_for("/srv/dl", "x.img").expect("path"),
            "/srv/dl/x.img"
        );
        assert!(source_for("ftp://x/", "x.img").is_err());
    }
}
