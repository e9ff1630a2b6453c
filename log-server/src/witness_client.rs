//! The witnesses' client, in the log (the witness server is `witness_server`): the publisher.
//! After the sequencer durably commits a batch, it asks every configured witness
//! for a cosignature of each new checkpoint (C2SP tlog-witness, in parallel, each bounded by a
//! timeout), attaches those it gets and publishes the cosigned checkpoint (one more commit
//! that changes only the checkpoint file, then HTTP), then runs the operator's hook for a new
//! release-log checkpoint.
//!
//! It runs beside the sequencer, never in its path: submissions are acknowledged as soon as
//! their batch is committed, whatever the witnesses do. A witness that is down costs one
//! timeout per round in this task only; the log keeps serving what it has (the log-signed
//! checkpoint, plus any cosignatures already attached to it). When the log is idle, the current
//! checkpoints are sent again every `refresh` so cosignature timestamps stay fresh.
//!
//! Under load, commits may outpace witness round trips: a round's cosignatures are published
//! only if their checkpoint is still the latest, and the next round starts at once with the new
//! latest checkpoint, so the published checkpoint is cosigned as soon as one round completes
//! between two commits.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use cairn_verifier::compact::to_compact;
use cairn_verifier::cosignature::CosignatureVerifier;
use cairn_verifier::decimal::parse_canonical_u64;
use cairn_verifier::note::{Note, NoteSignature, NoteVerifier as _};
use cairn_verifier::witness::{AddCheckpoint, parse_cosignature_lines};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::log::{Log, LogKind};
use crate::metrics::Metrics;

/// A witness the log asks.
#[derive(Debug, Clone)]
pub struct WitnessClient {
    /// The operator's name for it (logs and metrics).
    pub name: String,
    /// Its `cosignature/v1` key.
    pub verifier: CosignatureVerifier,
    /// Its submission prefix: requests go to `<url>/add-checkpoint`.
    pub url: String,
}

/// What the publisher does.
#[derive(Debug, Clone)]
pub struct PublisherOptions {
    /// Witnesses to ask (none: no cosigning).
    pub witnesses: Vec<WitnessClient>,
    /// Longest wait for one witness (both attempts of a round).
    pub timeout: Duration,
    /// Ask again for an unchanged checkpoint after this long.
    pub refresh: Duration,
    /// The publication hook.
    pub hook: Option<Hook>,
}

impl PublisherOptions {
    /// Whether there is anything to do after a commit.
    pub fn is_active(&self) -> bool {
        !self.witnesses.is_empty() || self.hook.is_some()
    }
}

/// The operator's command run after each new release-log checkpoint.
#[derive(Debug, Clone)]
pub struct Hook {
    /// Run with `/bin/sh -c`.
    pub command: String,
    /// Killed after this long.
    pub timeout: Duration,
    /// Where the checkpoint and update files handed to it are written.
    pub dir: PathBuf,
}

/// What one witness said about one checkpoint.
enum Answer {
    Cosigned(NoteSignature),
    Failed(String),
}

/// Runs until the log's commit channel closes. `witnessed` is told the release and key sizes
/// after each round, so `add` handlers can wait for the cosigned checkpoint.
pub async fn run(
    log: Arc<Log>,
    metrics: Arc<Metrics>,
    options: PublisherOptions,
    witnessed: watch::Sender<(u64, u64)>,
) {
    let mut commits = log.subscribe_commits();
    let client = match reqwest::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client for witnesses; not cosigning");
            return;
        }
    };
    let hook = options
        .hook
        .clone()
        .map(|h| HookRunner::start(h, Arc::clone(&metrics)));
    // What each witness last cosigned per log (learned from 200 and 409 replies).
    let mut known: BTreeMap<(usize, &'static str), u64> = BTreeMap::new();
    let mut backoff = Backoff::default();
    let mut last_round: BTreeMap<&'static str, (String, Instant)> = BTreeMap::new();
    // Per log, the witnesses whose cosignature the published checkpoint lacks: they are asked
    // again as soon as their backoff ends, not only at the next commit or refresh (a 2-of-2
    // client must not wait an hour for a witness that came back).
    let mut missing: BTreeMap<&'static str, BTreeSet<usize>> = BTreeMap::new();
    let mut last_hook: Option<Vec<u8>> = None;
    let mut first = true;
    // The sizes of the checkpoints whose last round finished: (releases, keys).
    let mut rounds_done = (0u64, 0u64);
    loop {
        if !first {
            let mut wake = tokio::time::Instant::now() + options.refresh;
            if let Some(retry) = missing
                .values()
                .flatten()
                .filter_map(|i| backoff.until(*i))
                .min()
            {
                // Never a busy loop, even if a retry ended without a verdict.
                let soonest = tokio::time::Instant::now() + Duration::from_millis(50);
                wake = wake.min(tokio::time::Instant::from_std(retry).max(soonest));
            }
            tokio::select! {
                changed = commits.changed() => if changed.is_err() { break },
                () = tokio::time::sleep_until(wake) => {},
            }
        }
        first = false;
        for kind in [LogKind::Keys, LogKind::Releases] {
            if options.witnesses.is_empty() {
                break;
            }
            let note = match log.plain_checkpoint(kind) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the checkpoint to witness");
                    continue;
                }
            };
            let due = match last_round.get(kind.name()) {
                Some((text, at)) => text != note.text() || at.elapsed() >= options.refresh,
                None => true,
            };
            // Not due: only the witnesses that failed on this very checkpoint and whose
            // backoff is over are asked; the others' cosignatures stay attached.
            let retry: BTreeSet<usize> = if due {
                BTreeSet::new()
            } else {
                missing
                    .get(kind.name())
                    .map(|m| m.iter().copied().filter(|i| !backoff.waiting(*i)).collect())
                    .unwrap_or_default()
            };
            if !due && retry.is_empty() {
                continue;
            }
            if due {
                last_round.insert(kind.name(), (note.text().to_owned(), Instant::now()));
            }
            let cosignatures = cosign_round(
                &log,
                &client,
                &options,
                &metrics,
                (&mut known, &mut backoff),
                (kind, &note),
                (!due).then_some(&retry),
            )
            .await;
            let lacking: BTreeSet<usize> = options
                .witnesses
                .iter()
                .enumerate()
                .filter(|(_, w)| {
                    !cosignatures
                        .iter()
                        .any(|s| s.name == *w.verifier.name() && s.key_id == w.verifier.key_id())
                })
                .map(|(i, _)| i)
                .collect();
            missing.insert(kind.name(), lacking);
            let size = cairn_verifier::Checkpoint::parse(note.text()).map_or(0, |c| c.size);
            {
                // Published even with no cosignature: the log keeps working with what it has.
                let publish_log = Arc::clone(&log);
                let text = note.text().to_owned();
                let published = tokio::task::spawn_blocking(move || {
                    publish_log.publish_witnessed(kind, &text, cosignatures)
                })
                .await;
                match published {
                    Ok(Ok(true)) => {
                        metrics
                            .cosigned_checkpoints_published
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, log = kind.name(), "publishing the cosigned checkpoint failed")
                    }
                    Err(e) => tracing::error!(error = %e, "publishing task failed"),
                }
            }
            match kind {
                LogKind::Releases => rounds_done.0 = size,
                LogKind::Keys => rounds_done.1 = size,
            }
        }
        let (releases, keys, checkpoint) = {
            let state = log.read();
            (
                state.releases.published_size(),
                state.keys.published_size(),
                state.releases.checkpoint(),
            )
        };
        witnessed.send_replace(if options.witnesses.is_empty() {
            (releases, keys)
        } else {
            rounds_done
        });
        if let Some(hook) = &hook {
            // A new release-log checkpoint (its text changed), published with what it got.
            let text_of = |b: &[u8]| Note::parse(b).ok().map(|n| n.text().to_owned());
            let changed = match &last_hook {
                Some(previous) => text_of(previous) != text_of(&checkpoint),
                None => true,
            };
            if changed {
                last_hook = Some(checkpoint.to_vec());
                hook.submit(
                    log.read().releases.origin().to_owned(),
                    releases,
                    &checkpoint,
                );
            }
        }
    }
    if let Some(hook) = hook {
        hook.stop();
    }
}

/// Asks every witness for a cosignature of `note` at once, and returns the cosignature set to
/// publish: the new ones, plus still-valid ones already on the published checkpoint from
/// witnesses that did not answer this time (same text, so they still vouch for it). Empty when
/// no witness cosigned. With `only`, just those witnesses are asked (a retry after backoff).
async fn cosign_round(
    log: &Arc<Log>,
    client: &reqwest::Client,
    options: &PublisherOptions,
    metrics: &Metrics,
    (known, backoff): (&mut BTreeMap<(usize, &'static str), u64>, &mut Backoff),
    (kind, note): (LogKind, &Note),
    only: Option<&BTreeSet<usize>>,
) -> Vec<NoteSignature> {
    let mut tasks = JoinSet::new();
    for (i, witness) in options.witnesses.iter().enumerate() {
        if backoff.waiting(i) || only.is_some_and(|only| !only.contains(&i)) {
            continue;
        }
        let old = known.get(&(i, kind.name())).copied().unwrap_or(0);
        let (log, client, witness, note) = (
            Arc::clone(log),
            client.clone(),
            witness.clone(),
            note.clone(),
        );
        let timeout = options.timeout;
        tasks.spawn(async move {
            let answer = tokio::time::timeout(
                timeout,
                ask_witness(&log, &client, &witness, kind, &note, old),
            )
            .await
            .unwrap_or_else(|_| {
                (
                    Answer::Failed(format!("no answer within {timeout:?}")),
                    None,
                )
            });
            (i, answer)
        });
    }
    let mut fresh: BTreeMap<usize, NoteSignature> = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let Ok((i, (answer, learned))) = joined else {
            continue;
        };
        let witness = &options.witnesses[i];
        if let Some(size) = learned {
            known.insert((i, kind.name()), size);
        }
        match answer {
            Answer::Cosigned(sig) => {
                metrics.witness_result(&witness.name, true);
                backoff.succeeded(i);
                fresh.insert(i, sig);
            }
            Answer::Failed(reason) => {
                metrics.witness_result(&witness.name, false);
                let pause = backoff.failed(i, options.refresh);
                tracing::warn!(
                    witness = witness.name,
                    log = kind.name(),
                    %reason,
                    retry_in = ?pause,
                    "no cosignature"
                );
            }
        }
    }
    let published = Note::parse(&log.read().log(kind).checkpoint()).ok();
    let mut out = Vec::new();
    for (i, witness) in options.witnesses.iter().enumerate() {
        if let Some(sig) = fresh.remove(&i) {
            out.push(sig);
        } else if let Some(old) = published
            .as_ref()
            .filter(|p| p.text() == note.text())
            .and_then(|p| {
                p.signatures()
                    .iter()
                    .find(|s| {
                        s.name == *witness.verifier.name() && s.key_id == witness.verifier.key_id()
                    })
                    .cloned()
            })
            && witness
                .verifier
                .verify_cosignature(note.text().as_bytes(), &old.signature)
                .is_ok()
        {
            out.push(old);
        }
    }
    out
}

/// Witnesses that failed are left out of rounds for a while (1 s, doubling per consecutive
/// failure, at most the refresh interval or 5 minutes), so that a hanging witness costs one
/// timeout per pause instead of one per round: rounds, and the `add` replies that wait for
/// them, stay fast with a witness down. Its cosignatures already attached stay attached.
#[derive(Debug, Default)]
struct Backoff(BTreeMap<usize, (u32, Instant)>);

impl Backoff {
    fn waiting(&self, witness: usize) -> bool {
        self.0
            .get(&witness)
            .is_some_and(|(_, until)| Instant::now() < *until)
    }

    /// When `witness`'s pause ends, if it is paused.
    fn until(&self, witness: usize) -> Option<Instant> {
        self.0.get(&witness).map(|(_, until)| *until)
    }

    fn succeeded(&mut self, witness: usize) {
        self.0.remove(&witness);
    }

    fn failed(&mut self, witness: usize, refresh: Duration) -> Duration {
        let failures = self.0.get(&witness).map_or(0, |(n, _)| *n) + 1;
        let cap = refresh.min(Duration::from_secs(300));
        let pause = Duration::from_secs(1u64 << (failures - 1).min(20)).min(cap);
        self.0.insert(witness, (failures, Instant::now() + pause));
        pause
    }
}

/// One witness, one checkpoint: a request with the size the witness is believed to have; on a
/// 409, one more with the size it says it has. Returns the answer and the witness's size if it
/// was learned.
async fn ask_witness(
    log: &Log,
    client: &reqwest::Client,
    witness: &WitnessClient,
    kind: LogKind,
    note: &Note,
    mut old: u64,
) -> (Answer, Option<u64>) {
    let size = match cairn_verifier::Checkpoint::parse(note.text()) {
        Ok(c) => c.size,
        Err(e) => return (Answer::Failed(format!("our own checkpoint: {e}")), None),
    };
    let url = format!("{}/add-checkpoint", witness.url.trim_end_matches('/'));
    let mut learned = None;
    for attempt in 0..2 {
        if old > size {
            return (
                Answer::Failed(format!(
                    "the witness has cosigned size {old}, larger than this log's {size}: \
                     was the log rolled back?"
                )),
                learned,
            );
        }
        let Some(proof) = log.read().log(kind).consistency(old, size) else {
            return (
                Answer::Failed(format!("no consistency proof from {old} to {size}")),
                learned,
            );
        };
        let body = AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: note.to_bytes(),
        }
        .to_bytes();
        let reply = match client.post(&url).body(body).send().await {
            Ok(r) => r,
            Err(e) => return (Answer::Failed(format!("POST {url}: {e}")), learned),
        };
        let status = reply.status().as_u16();
        let bytes = match read_limited(reply).await {
            Ok(b) => b,
            Err(e) => return (Answer::Failed(e), learned),
        };
        match status {
            200 => {
                learned = Some(size);
                return (check_reply(witness, note, &bytes), learned);
            }
            409 if attempt == 0 => {
                let text = String::from_utf8_lossy(&bytes);
                let Some(theirs) = text.strip_suffix('\n').and_then(parse_canonical_u64) else {
                    return (
                        Answer::Failed(format!("409 with a malformed size {text:?}")),
                        learned,
                    );
                };
                if theirs == old {
                    // Same size, different root: the witness saw another tree of this size.
                    return (
                        Answer::Failed(format!(
                            "409: the witness holds a different checkpoint of size {theirs}"
                        )),
                        learned,
                    );
                }
                learned = Some(theirs);
                old = theirs;
            }
            _ => {
                let text = String::from_utf8_lossy(&bytes);
                return (
                    Answer::Failed(format!("{status}: {}", text.trim_end())),
                    learned,
                );
            }
        }
    }
    (
        Answer::Failed("409 twice: the witness's size keeps changing".to_owned()),
        learned,
    )
}

/// Most bytes read from a witness's reply: a cosignature line is about 150 bytes, and the spec
/// allows several; anything near this is not a witness speaking tlog-witness.
const MAX_WITNESS_REPLY: usize = 16 * 1024;

/// Reads a reply body, refusing one larger than [`MAX_WITNESS_REPLY`] before it is all in memory
/// (a broken or hostile witness must not exhaust the log server's memory).
async fn read_limited(mut reply: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match reply.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_WITNESS_REPLY {
                    return Err(format!(
                        "reply larger than {MAX_WITNESS_REPLY} bytes; not read"
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(format!("reading the reply: {e}")),
        }
    }
}

/// The witness's cosignature in a 200 reply, verified; other lines are ignored (the spec).
fn check_reply(witness: &WitnessClient, note: &Note, reply: &[u8]) -> Answer {
    let sigs = match parse_cosignature_lines(note.text(), reply) {
        Ok(s) => s,
        Err(e) => return Answer::Failed(format!("malformed reply: {e}")),
    };
    let Some(sig) = sigs
        .into_iter()
        .find(|s| s.name == *witness.verifier.name() && s.key_id == witness.verifier.key_id())
    else {
        return Answer::Failed("the reply carries no cosignature by the configured key".to_owned());
    };
    match witness
        .verifier
        .verify_cosignature(note.text().as_bytes(), &sig.signature)
    {
        Ok(_) => Answer::Cosigned(sig),
        Err(e) => Answer::Failed(format!("cosignature does not verify: {e}")),
    }
}

/// One pending hook run: only the newest matters, so a run that finds several queued takes the
/// last.
struct HookJob {
    origin: String,
    size: u64,
    checkpoint: Vec<u8>,
}

#[derive(Default)]
struct HookQueue {
    job: Option<HookJob>,
    stop: bool,
}

/// Runs the hook on its own thread, one run at a time, so a slow or stuck hook delays only
/// later hook runs (bounded by its timeout), never the sequencer or the witnesses.
struct HookRunner {
    queue: Arc<(Mutex<HookQueue>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HookRunner {
    fn start(hook: Hook, metrics: Arc<Metrics>) -> HookRunner {
        let queue: Arc<(Mutex<HookQueue>, Condvar)> = Arc::default();
        let q = Arc::clone(&queue);
        let thread = std::thread::Builder::new()
            .name("cairn-hook".to_owned())
            .spawn(move || {
                loop {
                    let job = {
                        let (lock, cvar) = &*q;
                        let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
                        loop {
                            if let Some(job) = state.job.take() {
                                break job;
                            }
                            if state.stop {
                                return;
                            }
                            state = cvar.wait(state).unwrap_or_else(|p| p.into_inner());
                        }
                    };
                    metrics.hook_runs.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = run_hook(&hook, &job) {
                        metrics.hook_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(size = job.size, error = %e, "publication hook failed");
                    }
                }
            })
            .ok();
        if thread.is_none() {
            tracing::error!("cannot start the hook thread; the hook will not run");
        }
        HookRunner { queue, thread }
    }

    fn submit(&self, origin: String, size: u64, checkpoint: &[u8]) {
        let (lock, cvar) = &*self.queue;
        let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
        state.job = Some(HookJob {
            origin,
            size,
            checkpoint: checkpoint.to_vec(),
        });
        cvar.notify_one();
    }

    fn stop(mut self) {
        {
            let (lock, cvar) = &*self.queue;
            lock.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
            cvar.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes the files the hook reads, runs it, and waits for it (killing it after the timeout).
fn run_hook(hook: &Hook, job: &HookJob) -> Result<(), String> {
    let note = Note::parse(&job.checkpoint).map_err(|e| format!("checkpoint: {e}"))?;
    let compact = to_compact(&note).map_err(|e| format!("compact checkpoint: {e}"))?;
    std::fs::create_dir_all(&hook.dir).map_err(|e| format!("{}: {e}", hook.dir.display()))?;
    let write = |name: &str, data: &[u8]| -> Result<PathBuf, String> {
        let path = hook.dir.join(name);
        let tmp = hook.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, data)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };
    let checkpoint_file = write("checkpoint", &job.checkpoint)?;
    let update_file = write("update-latest.txt", format!("{compact}\n").as_bytes())?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&hook.command)
        .env("CAIRN_ORIGIN", &job.origin)
        .env("CAIRN_TREE_SIZE", job.size.to_string())
        .env("CAIRN_CHECKPOINT_FILE", &checkpoint_file)
        .env("CAIRN_UPDATE_LATEST_FILE", &update_file)
        .env("CAIRN_DNS_TXT", &compact)
        .stdin(Stdio::null())
        // Its own process group, so a timeout kills whatever the shell started too.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting /bin/sh: {e}"))?;
    let deadline = Instant::now() + hook.timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}")),
            Ok(None) if Instant::now() >= deadline => {
                let group = rustix::process::Pid::from_child(&child);
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("killed after {:?}", hook.timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for it: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_resets() {
        let mut b = Backoff::default();
        assert!(!b.waiting(0));
        let refresh = Duration::from_secs(10);
        assert_eq!(b.failed(0, refresh), Duration::from_secs(1));
        assert!(b.waiting(0));
        assert!(!b.waiting(1), "per witness");
        assert_eq!(b.failed(0, refresh), Duration::from_secs(2));
        assert_eq!(b.failed(0, refresh), Duration::from_secs(4));
        assert_eq!(b.failed(0, refresh), Duration::from_secs(8));
        assert_eq!(
            b.failed(0, refresh),
            refresh,
            "capped at the refresh interval"
        );
        for _ in 0..100 {
            b.failed(0, Duration::from_secs(3600));
        }
        assert_eq!(
            b.failed(0, Duration::from_secs(3600)),
            Duration::from_secs(300),
            "and at 5 minutes"
        );
        b.succeeded(0);
        assert!(!b.waiting(0));
    }
}
