//! The updater's question, answered from authenticated entries (`spec/client.md`,
//! "Updating"): which is the newest valid release of a name?
//!
//! "Newest" never rests on the log's lookups: every release-log entry added since the last
//! run is read from entry bundles authenticated against the verified checkpoint (the first run
//! reads the whole log), and the releases and deprecations of the name found there are kept in
//! a [`History`] the caller stores between runs. Each run re-judges them against the current
//! key log, drops the deprecated ones, and picks the newest by
//! [`cairn_verifier::version_order`]. The log's `_versions` lookup is then compared with what
//! the entries show: a lookup that hides or invents a release is a refusal, as a log or mirror
//! withholding releases from updaters would be.

use std::collections::{BTreeMap, BTreeSet};

use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::entry::{Entry, Release, ReleaseName};
use cairn_verifier::keylog::{KeyState, deprecation_is_valid, release_is_valid};
use cairn_verifier::lookup;
use cairn_verifier::note::{MAX_NOTE_SIZE, Note};
use cairn_verifier::tile::{EntryBundle, TILE_HEIGHT, TileHashReader, TreeHead};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::error::{bail, err};
use crate::state::{Slot, checkpoint_size, store_newer};
use crate::trust::LogName;
use crate::upstream::{Remote, RemoteTiles, Upstream as _, verify_bundle};
use crate::verify::{Options, Run};

/// Most releases and deprecations of one name a history keeps (each is re-read every run).
pub const MAX_KNOWN: usize = 4096;

/// What a client remembers about one name between runs.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The release-log size up to which every entry was read.
    pub scanned: u64,
    /// Every release of the name: (version, index).
    pub releases: Vec<(String, u64)>,
    /// Every deprecation of the name: (version, index).
    pub deprecations: Vec<(String, u64)>,
}

/// The newest valid, non-deprecated release of a name.
#[derive(Debug, Clone)]
pub struct Newest {
    /// Its version.
    pub version: String,
    /// Its release-log index.
    pub index: u64,
    /// The release entry.
    pub release: Release,
    /// How many valid, non-deprecated releases there were to choose from.
    pub candidates: usize,
}

/// One release or deprecation of the name, read from an authenticated entry.
struct Found {
    version: String,
    index: u64,
    entry: Vec<u8>,
}

/// Finds the newest valid release of `name`: syncs the key log, verifies the log's latest
/// checkpoint (stored when newer), reads every entry after `history.scanned` from
/// authenticated bundles, calls `save` with the updated history (so the next run starts
/// there, whatever happens next), checks the version lookup against the entries, and picks
/// the newest release that is validly signed and not validly deprecated.
pub fn find_newest(
    run: &mut Run,
    name: &ReleaseName,
    history: &mut History,
    options: &Options,
    save: &mut dyn FnMut(&History) -> crate::Result<()>,
) -> crate::Result<Newest> {
    let server = run
        .server
        .clone()
        .ok_or_else(|| Error::usage("finding the newest release needs the log (not offline)"))?;
    let keylog = run.key_state(options)?;
    let (stored, latest) = run.latest(&server, options)?;
    if stored.as_ref().is_none_or(|s| latest.size() > s.size()) {
        store_newer(
            &*run.store,
            &run.trust,
            &Slot::releases_checkpoint(),
            latest.note_bytes(),
            MAX_NOTE_SIZE,
            &checkpoint_size,
        )?;
    }
    if history.scanned > latest.size() {
        let detail = format!(
            "the stored history of {name} says the release log was read up to size {}, but the \
             log's verified checkpoint has size {}",
            history.scanned,
            latest.size()
        );
        run.report.fail("scan", &detail);
        return Err(Error::Refused(detail));
    }
    let reader = server.hash_reader(LogName::Releases, TreeHead::from_verified(&latest));
    let (new_releases, new_deprecations) =
        scan(&server, &reader, name, history.scanned, latest.size())?;
    run.report.pass(
        "scan",
        format!(
            "read release-log entries {}..{} from bundles authenticated against the checkpoint: \
             {} new release(s) and {} new deprecation(s) of {name}",
            history.scanned,
            latest.size(),
            new_releases.len(),
            new_deprecations.len()
        ),
    );
    let releases = known(&server, &reader, &history.releases, new_releases)?;
    let deprecations = known(&server, &reader, &history.deprecations, new_deprecations)?;
    if releases.len() > MAX_KNOWN || deprecations.len() > MAX_KNOWN {
        bail!("{name} has more than {MAX_KNOWN} releases or deprecations in the log");
    }
    history.scanned = latest.size();
    history.releases = releases
        .iter()
        .map(|f| (f.version.clone(), f.index))
        .collect();
    history.deprecations = deprecations
        .iter()
        .map(|f| (f.version.clone(), f.index))
        .collect();
    save(history)?;

    check_lookup(run, &server, name, &latest, &history.releases)?;
    let candidates = judge(run, &server, name, &releases, &deprecations, &keylog.state);
    let Some((version, index)) = cairn_verifier::version_order::newest(&candidates).cloned() else {
        let detail = format!(
            "the release log (size {}) holds no valid, non-deprecated release of {name}",
            latest.size()
        );
        run.report.fail("newest", &detail);
        return Err(Error::Refused(detail));
    };
    run.report.pass(
        "newest",
        format!(
            "{name} {version} (index {index}) is the newest of {} valid, non-deprecated release(s)",
            candidates.len()
        ),
    );
    let release = releases
        .iter()
        .find(|f| f.index == index)
        .and_then(|f| release_of(&f.entry))
        .ok_or_else(|| err!("the release at index {index} is not a release entry"))?;
    Ok(Newest {
        version,
        index,
        release,
        candidates: candidates.len(),
    })
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
) -> crate::Result<(Vec<Found>, Vec<Found>)> {
    let (mut releases, mut deprecations) = (Vec::new(), Vec::new());
    let mut next = from;
    while next < size {
        let bundle = EntryBundle::for_entry(TILE_HEIGHT, next, size)
            .map_err(|e| err!("planning entry bundles: {e}"))?;
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

/// The entries the history remembers (read again, authenticated) followed by the new ones.
fn known(
    server: &Remote,
    reader: &TileHashReader<RemoteTiles>,
    remembered: &[(String, u64)],
    new: Vec<Found>,
) -> crate::Result<Vec<Found>> {
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
    server: &Remote,
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
            .and_then(|note| judge_release(server, &note, r.index, keys));
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

/// Whether a release is valid at its index: by its release-key signatures, or, for a Sigstore
/// release, by its bundle, fetched from the log and verified here (spec/keylog.md 5.1).
fn judge_release(server: &Remote, note: &Note, index: u64, keys: &KeyState) -> Result<(), String> {
    let sigstore = match cairn_verifier::entry::Release::parse(note.text()) {
        Ok(release) => release.sigstore().cloned(),
        Err(e) => return Err(e.to_string()),
    };
    let Some(signer) = sigstore else {
        return release_is_valid(note, index, keys)
            .map(|_| ())
            .map_err(|e| e.to_string());
    };
    let path = crate::verify::sigstore_bundle_log_path(&signer.bundle);
    let bundle = server
        .get(&path, cairn_sigstore::MAX_BUNDLE_SIZE)
        .map_err(|e| format!("fetching its Sigstore bundle: {e}"))?
        .ok_or_else(|| {
            format!(
                "the log does not serve its Sigstore bundle {}",
                signer.bundle
            )
        })?;
    cairn_sigstore::judge_release(note, index, keys, &bundle)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Compares the log's `_versions` lookup with the releases the entries show: a lookup that
/// hides or invents one is refused.
fn check_lookup(
    run: &mut Run,
    server: &Remote,
    name: &ReleaseName,
    latest: &VerifiedCheckpoint,
    releases: &[(String, u64)],
) -> crate::Result<()> {
    let size = latest.size();
    if let Err(why) = crate::lookups::lookups_cover(server, size) {
        run.report.skip(
            "lookup",
            format!("{why}; the newest release was found from the entries alone"),
        );
        return Ok(());
    }
    let path = lookup::versions_path(name);
    let body = server
        .get(&path, 1 << 20)
        .map_err(|e| err!("fetching {path}: {e}"))?;
    let answered: BTreeMap<u64, String> = match body {
        None => BTreeMap::new(),
        Some(bytes) => {
            let parsed = std::str::from_utf8(&bytes)
                .ok()
                .and_then(lookup::parse_versions_body);
            let Some(parsed) = parsed else {
                let detail = format!("{path}: the answer is not `<version> <index>` lines");
                run.report.fail("lookup", &detail);
                return Err(Error::Refused(detail));
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
    Err(Error::Refused(detail))
}
