//! `cairn update NAME --base URL|DIR --to PATH`: install the newest valid release of NAME
//! (spec/client.md, "Updating").
//!
//! "Newest" never rests on the log's lookups: every release-log entry added since the last
//! run is read from entry bundles authenticated against the verified checkpoint (the first
//! run reads the whole log), and the releases and deprecations of NAME found there are kept
//! in the state directory. Each run re-judges them against the current key log, drops the
//! deprecated ones, and picks the newest by [`cairn_verifier::version_order`]. The log's
//! `_versions` lookup is then compared with what the entries show: a lookup that hides or
//! invents a release is refused (exit 3), as a log or mirror withholding releases from
//! updaters would be.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::entry::{Entry, Release, ReleaseName, Version};
use cairn_verifier::keylog::{KeyState, deprecation_is_valid, release_is_valid};
use cairn_verifier::lookup;
use cairn_verifier::note::Note;
use cairn_verifier::tile::{EntryBundle, TILE_HEIGHT, TileHashReader, TreeHead};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::fetch::{Remote, RemoteTiles, Upstream as _, verify_bundle};
use crate::install::{Target, install_target};
use crate::report::Report;
use crate::trust::LogName;
use crate::trust_cmd::ClientOptions;
use crate::verify_cmd::ChannelOptions;
use crate::verify_cmd::{CheckOptions, print_outcome, print_start_failure};
use cairn_client::Error;
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

/// Most releases and deprecations of one name the state keeps (each is re-read every run).
const MAX_KNOWN: usize = 4096;

/// What `cairn update` keeps per name, in `<log dir>/update/<name>.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct UpdateState {
    /// The release-log size up to which every entry was read.
    scanned: u64,
    /// Every release of the name: (version, index).
    releases: Vec<(String, u64)>,
    /// Every deprecation of the name: (version, index).
    deprecations: Vec<(String, u64)>,
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

fn state_path(run: &Run, name: &ReleaseName) -> PathBuf {
    run.state
        .log_dir(&run.trust)
        .join("update")
        .join(format!("{}.json", name.as_str()))
}

fn load_state(run: &Run, path: &Path) -> anyhow::Result<UpdateState> {
    match run.state.read(path, 4 << 20)? {
        None => Ok(UpdateState::default()),
        Some(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a cairn update state file", path.display())),
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
            let run = crate::verify_cmd::start_run(
                &args.client,
                &checks,
                crate::output::report(args.verbose),
            )?;
            Ok((name, run))
        });
    let (name, mut run) = started.inspect_err(|e| print_start_failure(e, &checks))?;
    let _lock = run.state.child("update-lock").lock("cairn update")?;
    let result = update(&mut run, args, &checks, &name);
    match result {
        Ok(Outcome::UpToDate(installed)) => {
            print_up_to_date(&run.report, &name, &installed, args.json);
            Ok(())
        }
        Ok(Outcome::Installed(verified)) => {
            let result = Ok(*verified);
            print_outcome(
                &run.report,
                &result,
                args.json,
                &args.to.display().to_string(),
            );
            crate::verify_cmd::record_last_result(
                &run,
                &result,
                "update",
                &args.to.display().to_string(),
            );
            Ok(())
        }
        Err(e) => {
            let result: anyhow::Result<Verified> = Err(e);
            print_outcome(
                &run.report,
                &result,
                args.json,
                &args.to.display().to_string(),
            );
            crate::verify_cmd::record_last_result(
                &run,
                &result,
                "update",
                &args.to.display().to_string(),
            );
            result.map(|_| ())
        }
    }
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

/// One release or deprecation of the name, read from an authenticated entry.
struct Found {
    version: String,
    index: u64,
    entry: Vec<u8>,
}

fn update(
    run: &mut Run,
    args: &UpdateArgs,
    checks: &CheckOptions,
    name: &ReleaseName,
) -> anyhow::Result<Outcome> {
    let server = run
        .server
        .clone()
        .ok_or_else(|| anyhow::anyhow!("cairn update needs the log"))?;
    let keylog = run.key_state(&checks.to_options())?;
    let (stored, latest) = run.latest(&server, &checks.to_options())?;
    if stored.as_ref().is_none_or(|s| latest.size() > s.size()) {
        run.state.write(
            &run.state.releases_checkpoint_path(&run.trust),
            latest.note_bytes(),
        )?;
    }
    let path = state_path(run, name);
    let mut saved = load_state(run, &path)?;
    if saved.scanned > latest.size() {
        let detail = format!(
            "{} says the release log was read up to size {}, but the log's verified checkpoint \
             has size {}",
            path.display(),
            saved.scanned,
            latest.size()
        );
        run.report.fail("scan", &detail);
        return Err(Error::Refused(detail).into());
    }
    let reader = server.hash_reader(LogName::Releases, TreeHead::from_verified(&latest));
    let (new_releases, new_deprecations) =
        scan(&server, &reader, name, saved.scanned, latest.size())?;
    run.report.pass(
        "scan",
        format!(
            "read release-log entries {}..{} from bundles authenticated against the checkpoint: \
             {} new release(s) and {} new deprecation(s) of {name}",
            saved.scanned,
            latest.size(),
            new_releases.len(),
            new_deprecations.len()
        ),
    );
    let releases = known(&server, &reader, &saved.releases, new_releases)?;
    let deprecations = known(&server, &reader, &saved.deprecations, new_deprecations)?;
    if releases.len() > MAX_KNOWN || deprecations.len() > MAX_KNOWN {
        anyhow::bail!("{name} has more than {MAX_KNOWN} releases or deprecations in the log");
    }
    saved.scanned = latest.size();
    saved.releases = releases
        .iter()
        .map(|f| (f.version.clone(), f.index))
        .collect();
    saved.deprecations = deprecations
        .iter()
        .map(|f| (f.version.clone(), f.index))
        .collect();
    run.state
        .write(&path, &serde_json::to_vec_pretty(&saved)?)
        .context("saving the update state")?;

    check_lookup(run, &server, name, &latest, &saved.releases)?;
    let candidates = judge(run, name, &releases, &deprecations, &keylog.state);
    let Some((version, index)) = cairn_verifier::version_order::newest(&candidates).cloned() else {
        let detail = format!(
            "the release log (size {}) holds no valid, non-deprecated release of {name}",
            latest.size()
        );
        run.report.fail("newest", &detail);
        return Err(Error::Refused(detail).into());
    };
    run.report.pass(
        "newest",
        format!(
            "{name} {version} (index {index}) is the newest of {} valid, non-deprecated release(s)",
            candidates.len()
        ),
    );
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

    let entry = releases
        .iter()
        .find(|f| f.index == index)
        .map(|f| f.entry.clone())
        .ok_or_else(|| anyhow::anyhow!("release at index {index} vanished"))?;
    let release =
        release_of(&entry).ok_or_else(|| anyhow::anyhow!("entry {index} is not a release"))?;
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
        sha256: artifact
            .map(|a| hex(a.digest.as_bytes()))
            .unwrap_or_default(),
        size: artifact.map_or(0, |a| a.size),
        path: args.to.display().to_string(),
    });
    run.state
        .write(&path, &serde_json::to_vec_pretty(&saved)?)
        .context("saving the update state")?;
    Ok(Outcome::Installed(Box::new(verified)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn release_of(entry: &[u8]) -> Option<Release> {
    let note = Note::parse(entry).ok()?;
    match Entry::parse(note.text()).ok()? {
        Entry::Release(r) => Some(r),
        _ => None,
    }
}

/// Reads entries `from..size` from bundles authenticated against the checkpoint and returns
/// the releases and deprecations of `name` among them.
fn scan(
    server: &Remote,
    reader: &TileHashReader<RemoteTiles>,
    name: &ReleaseName,
    from: u64,
    size: u64,
) -> anyhow::Result<(Vec<Found>, Vec<Found>)> {
    let (mut releases, mut deprecations) = (Vec::new(), Vec::new());
    let mut next = from;
    while next < size {
        let bundle = EntryBundle::for_entry(TILE_HEIGHT, next, size)
            .map_err(|e| anyhow::anyhow!("planning entry bundles: {e}"))?;
        let entries = server.bundle(LogName::Releases, &bundle)?;
        verify_bundle(LogName::Releases, &bundle, &entries, reader)?;
        for (k, entry) in entries.into_iter().enumerate() {
            let index = bundle.first_entry() + k as u64;
            if index < next {
                continue;
            }
            let Ok(note) = Note::parse(&entry) else {
                continue;
            };
            match Entry::parse(note.text()) {
                Ok(Entry::Release(r)) if r.name() == name => releases.push(Found {
                    version: r.version().as_str().to_owned(),
                    index,
                    entry,
                }),
                Ok(Entry::Deprecation(d)) if d.name() == name => deprecations.push(Found {
                    version: d.version().as_str().to_owned(),
                    index,
                    entry,
                }),
                _ => {}
            }
        }
        next = bundle.first_entry() + u64::from(bundle.width());
    }
    Ok((releases, deprecations))
}

/// The entries the state remembers (read again, authenticated) followed by the new ones.
fn known(
    server: &Remote,
    reader: &TileHashReader<RemoteTiles>,
    remembered: &[(String, u64)],
    new: Vec<Found>,
) -> anyhow::Result<Vec<Found>> {
    let mut out = Vec::with_capacity(remembered.len() + new.len());
    for (version, index) in remembered {
        let entry = server.entry(LogName::Releases, reader, *index)?;
        out.push(Found {
            version: version.clone(),
            index: *index,
            entry,
        });
    }
    out.extend(new);
    Ok(out)
}

/// The releases that are validly signed now and not validly deprecated: (version, index).
fn judge(
    run: &mut Run,
    name: &ReleaseName,
    releases: &[Found],
    deprecations: &[Found],
    keys: &KeyState,
) -> Vec<(String, u64)> {
    let deprecated: BTreeSet<&str> = deprecations
        .iter()
        .filter(|d| {
            Note::parse(&d.entry)
                .ok()
                .is_some_and(|note| deprecation_is_valid(&note, d.index, keys).is_ok())
        })
        .map(|d| d.version.as_str())
        .collect();
    let mut candidates = Vec::new();
    for r in releases {
        let valid = Note::parse(&r.entry)
            .map_err(|e| e.to_string())
            .and_then(|note| {
                release_is_valid(&note, r.index, keys)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
        match valid {
            Err(why) => run.report.skip(
                "newest",
                format!(
                    "{name} {} (index {}): not validly signed: {why}",
                    r.version, r.index
                ),
            ),
            Ok(()) if deprecated.contains(r.version.as_str()) => run.report.skip(
                "newest",
                format!("{name} {} (index {}): deprecated", r.version, r.index),
            ),
            Ok(()) => candidates.push((r.version.clone(), r.index)),
        }
    }
    candidates
}

/// Compares the log's `_versions` lookup with the releases the entries show: a lookup that
/// hides or invents one is refused.
fn check_lookup(
    run: &mut Run,
    server: &Remote,
    name: &ReleaseName,
    latest: &VerifiedCheckpoint,
    releases: &[(String, u64)],
) -> anyhow::Result<()> {
    let size = latest.size();
    if let Err(why) = crate::log_client::lookups_cover(server, size) {
        run.report.skip(
            "lookup",
            format!("{why}; the newest release was found from the entries alone"),
        );
        return Ok(());
    }
    let path = lookup::versions_path(name);
    let body = server
        .get(&path, 1 << 20)
        .map_err(|e| anyhow::anyhow!("fetching {path}: {e}"))?;
    let answered: BTreeMap<u64, String> = match body {
        None => BTreeMap::new(),
        Some(bytes) => {
            let parsed = std::str::from_utf8(&bytes)
                .ok()
                .and_then(lookup::parse_versions_body);
            let Some(parsed) = parsed else {
                let detail = format!("{path}: the answer is not `<version> <index>` lines");
                run.report.fail("lookup", &detail);
                return Err(Error::Refused(detail).into());
            };
            parsed
                .into_iter()
                .filter(|(_, i)| *i < size)
                .map(|(v, i)| (i, v.as_str().to_owned()))
                .collect()
        }
    };
    let shown: BTreeMap<u64, String> = releases.iter().map(|(v, i)| (*i, v.clone())).collect();
    let hidden: Vec<String> = shown
        .iter()
        .filter(|(i, v)| answered.get(i) != Some(v))
        .map(|(i, v)| format!("{v} (index {i})"))
        .collect();
    let invented: Vec<String> = answered
        .iter()
        .filter(|(i, v)| shown.get(i) != Some(v))
        .map(|(i, v)| format!("{v} (index {i})"))
        .collect();
    if hidden.is_empty() && invented.is_empty() {
        run.report.pass(
            "lookup",
            format!(
                "the log's version lookup for {name} matches the {} release(s) the entries show",
                shown.len()
            ),
        );
        return Ok(());
    }
    let mut detail = format!("the log's version lookup for {name} (log size {size})");
    if !hidden.is_empty() {
        detail.push_str(&format!(
            " hides {} that the authenticated entries show",
            hidden.join(", ")
        ));
    }
    if !invented.is_empty() {
        if !hidden.is_empty() {
            detail.push_str(" and");
        }
        detail.push_str(&format!(
            " names {} that the entries do not",
            invented.join(", ")
        ));
    }
    detail.push_str(": the log or mirror is not telling updaters the truth");
    run.report.fail("lookup", &detail);
    Err(Error::Refused(detail).into())
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
