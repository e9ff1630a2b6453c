//! Independent channels (`spec/channels.md`, "Agreement"): `--channel dns:NAME`,
//! `--channel url:URL` and `--channel git+URL` fetch the release log's checkpoint from
//! somewhere other than the log's HTTP API, verify it under the log key, and check that it is
//! consistent with the checkpoint the client verified from the log.
//!
//! Nothing a channel returns is trusted: a compact line is expanded into the note it stands
//! for and verified like any checkpoint, and consistency is proved from the log's tiles,
//! authenticated against one of the two signed roots. A conflict is exit 4 with the evidence
//! file `cairn verify` writes for every inconsistency.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::Context as _;
use cairn_verifier::checkpoint::VerifiedCheckpoint;
use cairn_verifier::compact::{COMPACT_TAG, MAX_COMPACT_SIZE, from_compact};
use cairn_verifier::note::MAX_NOTE_SIZE;
use cairn_verifier::tile::TreeHead;
use serde_json::json;

use crate::Error;
use crate::checkpoints::{check_consistent_as, verify_cosignatures, verify_signature};
use crate::keylog::proof_from_tiles;
use crate::report::Report;
use crate::state::Store;
use crate::trust::{LogName, Trust};
use crate::upstream::{Remote, http_client, read_limited, reason_line};

/// Longest wait for a channel's HTTP reply or for any read of its body.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one DNS query waits for an answer (a server on loopback that is not running
/// drops UDP queries silently, so this is how long an unreachable server costs per attempt).
const DNS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// How many times a DNS query is sent.
const DNS_ATTEMPTS: usize = 2;
/// Longest a DNS lookup may take, retries and the TCP fallback included.
const DNS_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest a `git` command may run (a shallow, blob-less clone and one blob).
const GIT_TIMEOUT: Duration = Duration::from_secs(120);
/// Most compact lines taken from one DNS name (each is verified and compared).
const MAX_TXT_CHECKPOINTS: usize = 8;
/// The branch every Cairn repository publishes (`spec/git-layout.md`).
const GIT_BRANCH: &str = "main";
/// The release log's checkpoint on that branch.
const GIT_CHECKPOINT_PATH: &str = "releases/checkpoint";
/// Longest DNS name (RFC 1035, presentation form without the final dot).
const MAX_DNS_NAME: usize = 253;

/// Where a channel's checkpoint comes from, as given to `--channel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// `dns:NAME`: the TXT record(s) at NAME, compact lines.
    Dns(String),
    /// `url:URL`: a plain GET; a compact line (`update-latest.txt`) or a full checkpoint.
    Url(String),
    /// `git+URL`: `releases/checkpoint` on branch `main` of the repository at URL.
    Git(String),
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Channel::Dns(name) => write!(f, "dns:{name}"),
            Channel::Url(url) => write!(f, "url:{url}"),
            Channel::Git(url) => write!(f, "git+{url}"),
        }
    }
}

/// Parses a `--channel` value (clap value parser; an error is a usage error, exit 2).
pub fn parse_channel(value: &str) -> Result<Channel, String> {
    if let Some(name) = value.strip_prefix("dns:") {
        check_dns_name(name)?;
        return Ok(Channel::Dns(name.to_owned()));
    }
    if let Some(url) = value.strip_prefix("url:") {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("url:{url}: the URL must be http or https"));
        }
        return Ok(Channel::Url(url.to_owned()));
    }
    if let Some(url) = value.strip_prefix("git+") {
        // Handed to `git clone` after `--`; a leading dash or control characters could still
        // confuse a transport helper, and an empty URL means nothing.
        if url.is_empty() || url.starts_with('-') || url.chars().any(char::is_control) {
            return Err(format!("git+{url}: not a repository URL"));
        }
        return Ok(Channel::Git(url.to_owned()));
    }
    Err(format!(
        "{value:?}: a channel is dns:NAME, url:URL or git+URL (for example \
         dns:_cairn.example.org, url:https://example.org/releases/update-latest.txt, \
         git+https://example.org/log.git)"
    ))
}

/// A DNS name in presentation form: dot-separated labels of letters, digits, `-` and `_`,
/// each 1 to 63 bytes, with an optional final dot.
fn check_dns_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    let bad = |why: &str| Err(format!("dns:{name}: {why}"));
    if bare.is_empty() {
        return bad("empty name");
    }
    if bare.len() > MAX_DNS_NAME {
        return bad("a DNS name is at most 253 bytes");
    }
    for label in bare.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("every label must be 1 to 63 bytes");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad("labels hold letters, digits, '-' and '_' only");
        }
    }
    Ok(())
}

/// Independent channels to fetch the release checkpoint from and compare with the log's.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    /// Every channel; every one is checked.
    pub channels: Vec<Channel>,
    /// The DNS server for `dns:` channels (default: the system's resolver configuration).
    pub dns_server: Option<SocketAddr>,
}

impl Channels {
    /// Refuses combinations that cannot work (a usage error).
    pub fn check_usage(&self, offline: bool) -> Result<(), Error> {
        if offline && !self.channels.is_empty() {
            return Err(Error::Usage(
                "--channel fetches from the network; it cannot be combined with --offline"
                    .to_owned(),
            ));
        }
        if self.dns_server.is_some() && !self.channels.iter().any(|c| matches!(c, Channel::Dns(_)))
        {
            return Err(Error::Usage(
                "--dns-server is only used by --channel dns:NAME".to_owned(),
            ));
        }
        Ok(())
    }
}

/// What one run needs to check channels against the log's latest checkpoint.
#[derive(Debug)]
pub struct Context<'a> {
    /// The log (for tiles).
    pub server: &'a Remote,
    /// Where evidence goes.
    pub state: &'a dyn Store,
    /// The log key and the witnesses.
    pub trust: &'a Trust,
    /// `now` of the run.
    pub now: u64,
    /// The release checkpoint the client verified from the log (signature, quorum, freshness).
    pub latest: &'a VerifiedCheckpoint,
}

/// Checks every channel in order: fetch, verify, compare with the log's checkpoint. The first
/// failure stops the run (exit 1 when a channel cannot be read, 3 when what it serves does
/// not verify or cannot be proved consistent, 4 with evidence on a conflict).
pub fn check_all(options: &Channels, cx: &Context<'_>, report: &mut Report) -> crate::Result<()> {
    // Channel checkpoints larger than the log's: each extends the log's, but two of them may
    // still diverge from each other after it, so they are also checked against each other.
    let mut ahead: Vec<VerifiedCheckpoint> = Vec::new();
    for channel in &options.channels {
        let fetched = fetch(channel, options.dns_server).map_err(|e| {
            report.fail("channel", format!("{channel}: {}", e.chain()));
            record_unverified(report, channel, &e);
            e.context(format!("channel {channel}"))
        })?;
        for bytes in fetched {
            check_one(channel, &bytes, cx, &mut ahead, report)?;
        }
    }
    Ok(())
}

/// The `--json` record of a channel that served nothing verifiable.
fn record_unverified(report: &mut Report, channel: &Channel, error: &crate::Error) {
    report.channels.push(json!({
        "channel": channel.to_string(),
        "size": null,
        "root": null,
        "cosigned_by": [],
        "relation": null,
        "log_size": null,
        "result": "failed",
        "error": error.chain(),
    }));
}

/// How a channel's checkpoint relates to the log's.
#[derive(Debug, Clone, Copy)]
enum Relation {
    Same,
    Older,
    Newer,
}

impl Relation {
    fn as_str(self) -> &'static str {
        match self {
            Relation::Same => "same",
            Relation::Older => "older",
            Relation::Newer => "newer",
        }
    }
}

fn check_one(
    channel: &Channel,
    bytes: &[u8],
    cx: &Context<'_>,
    ahead: &mut Vec<VerifiedCheckpoint>,
    report: &mut Report,
) -> crate::Result<()> {
    let what = format!("channel {channel}");
    let verified =
        verify_signature(cx.trust, LogName::Releases, bytes, &what, report).and_then(|cp| {
            let cosigned = verify_cosignatures(cx.trust, &cp, &what, cx.now, report)?;
            Ok((cp, cosigned))
        });
    let (cp, cosigned) = verified.inspect_err(|e| record_unverified(report, channel, e))?;
    let latest = cx.latest;
    let record = |report: &mut Report, relation: Option<Relation>, error: Option<String>| {
        report.channels.push(json!({
            "channel": channel.to_string(),
            "size": cp.size(),
            "root": cp.root().to_base64(),
            "cosigned_by": cosigned.iter().collect::<Vec<_>>(),
            "relation": relation.map(Relation::as_str),
            "log_size": latest.size(),
            "result": if error.is_none() { "consistent" } else { "failed" },
            "error": error,
        }));
    };
    let outcome = compare(channel, &cp, cx, &what, report).and_then(|relation| {
        if let Relation::Newer = relation {
            for other in ahead.iter() {
                check_pair(channel, &cp, other, cx, &what, report)?;
            }
        }
        Ok(relation)
    });
    match outcome {
        Ok(relation) => {
            record(report, Some(relation), None);
            if let Relation::Newer = relation {
                ahead.push(cp.clone());
            }
            let detail = match relation {
                Relation::Same => format!(
                    "{channel}: size {} with the same root as the log's checkpoint",
                    cp.size()
                ),
                Relation::Older => format!(
                    "{channel}: size {} is consistent with the log's size {} (consistency \
                     proof from the log's tiles)",
                    cp.size(),
                    latest.size()
                ),
                Relation::Newer => format!(
                    "{channel}: size {} is ahead of the log's size {} and consistent with it \
                     (the log grew meanwhile; proof from its tiles of size {})",
                    cp.size(),
                    latest.size(),
                    cp.size()
                ),
            };
            report.pass("channel", detail);
            Ok(())
        }
        Err(e) => {
            record(report, None, Some(e.chain()));
            Err(e)
        }
    }
}

/// Compares a verified channel checkpoint with the log's latest. Equal sizes need equal
/// roots; otherwise a consistency proof is computed from the log's tiles authenticated
/// against the larger of the two signed roots, so a failed proof is evidence.
fn compare(
    channel: &Channel,
    cp: &VerifiedCheckpoint,
    cx: &Context<'_>,
    what: &str,
    report: &mut Report,
) -> crate::Result<Relation> {
    let latest = cx.latest;
    let against = format!("{what} against the log's checkpoint");
    match cp.size().cmp(&latest.size()) {
        std::cmp::Ordering::Equal => {
            check_consistent_as("channel", cx.state, latest, cp, &[], &against, report)?;
            Ok(Relation::Same)
        }
        std::cmp::Ordering::Less => {
            let proof = if cp.size() == 0 {
                Vec::new()
            } else {
                proof_from_tiles(cx.server, LogName::Releases, head(latest), cp.size())
                    .inspect_err(|e| record_failure(report, e))?
            };
            check_consistent_as("channel", cx.state, cp, latest, &proof, &against, report)?;
            Ok(Relation::Older)
        }
        std::cmp::Ordering::Greater => {
            // The channel shows a tree the log did not serve us. The log must prove it holds
            // that tree: its tiles for the channel's size, authenticated against the channel's
            // signed root, give the proof. If it cannot, nothing conflicts provably, but the
            // log is withholding a tree it signed (a fork or a freeze) or lags behind its own
            // channel: refuse (exit 3) rather than trust one side.
            let proof = proof_from_tiles(cx.server, LogName::Releases, head(cp), latest.size())
                .map_err(|e| {
                    let detail = format!(
                        "{channel} carries a checkpoint of size {} signed by the log, larger \
                         than the log's latest ({}), and the log does not prove it holds that \
                         tree ({}): the log withholds a tree it signed (a fork or a \
                         freeze), or its front end lags behind this channel; retry later, and \
                         report it if it persists",
                        cp.size(),
                        latest.size(),
                        e.chain()
                    );
                    report.fail("channel", &detail);
                    Error::Refused(detail)
                })?;
            check_consistent_as("channel", cx.state, latest, cp, &proof, &against, report)?;
            Ok(Relation::Newer)
        }
    }
}

/// Checks two channel checkpoints that are both ahead of the log's against each other, with a
/// proof from the log's tiles authenticated against the larger one.
fn check_pair(
    channel: &Channel,
    cp: &VerifiedCheckpoint,
    other: &VerifiedCheckpoint,
    cx: &Context<'_>,
    what: &str,
    report: &mut Report,
) -> crate::Result<()> {
    let (smaller, larger) = if cp.size() <= other.size() {
        (cp, other)
    } else {
        (other, cp)
    };
    let against = format!(
        "{what} against another channel's checkpoint of size {}",
        other.size()
    );
    let proof = if smaller.size() == larger.size() {
        Vec::new()
    } else {
        proof_from_tiles(cx.server, LogName::Releases, head(larger), smaller.size()).map_err(
            |e| {
                let detail = format!(
                    "{channel}: the log does not prove its checkpoint of size {} consistent \
                     with another channel's of size {} ({}); both are ahead of the log's \
                     latest ({})",
                    cp.size(),
                    other.size(),
                    e.chain(),
                    cx.latest.size()
                );
                report.fail("channel", &detail);
                Error::Refused(detail)
            },
        )?
    };
    check_consistent_as(
        "channel", cx.state, smaller, larger, &proof, &against, report,
    )
}

fn head(cp: &VerifiedCheckpoint) -> TreeHead {
    TreeHead::from_verified(cp)
}

/// Records a failure raised while reading tiles as the failure of the check `channel`.
fn record_failure(report: &mut Report, error: &crate::Error) {
    let detail = match Some(error.root()) {
        Some(Error::Refused(message)) => message.clone(),
        _ => error.chain(),
    };
    report.fail("channel", detail);
}

/// The checkpoint notes a channel serves, unverified. A compact line is expanded into the note
/// it stands for; anything else must be a full checkpoint note.
fn fetch(channel: &Channel, dns_server: Option<SocketAddr>) -> crate::Result<Vec<Vec<u8>>> {
    match channel {
        Channel::Dns(name) => {
            let lines = dns_txt(name, dns_server)?;
            lines.iter().map(|l| expand(l.as_bytes())).collect()
        }
        Channel::Url(url) => Ok(vec![expand(&http_get(url)?)?]),
        Channel::Git(url) => Ok(vec![git_checkpoint(url)?]),
    }
}

/// A compact line (with or without its newline) as the note it stands for; any other bytes
/// are taken as a checkpoint note as they are (verification decides).
fn expand(bytes: &[u8]) -> crate::Result<Vec<u8>> {
    let tag = format!("{COMPACT_TAG} ");
    if !bytes.starts_with(tag.as_bytes()) {
        return Ok(bytes.to_vec());
    }
    let line = std::str::from_utf8(bytes)
        .map_err(|_| Error::Refused("the compact checkpoint line is not UTF-8".to_owned()))?;
    let note = from_compact(line).map_err(|e| Error::Refused(e.to_string()))?;
    Ok(note.to_bytes())
}

/// `GET url`, 200 required, at most a checkpoint's size.
fn http_get(url: &str) -> crate::Result<Vec<u8>> {
    let http = http_client(Some(HTTP_TIMEOUT))?;
    let response = http.get(url).send().with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    let body =
        read_limited(response, MAX_NOTE_SIZE).map_err(|e| crate::error::err!("GET {url}: {e}"))?;
    if status != 200 {
        crate::error::bail!("GET {url}: HTTP {status}: {}", reason_line(&body));
    }
    Ok(body)
}

/// The compact lines in the TXT records at `name`: each record's character-strings joined
/// without separator (RFC 1035 splits values longer than 255 bytes), records that do not
/// start with the compact tag ignored.
fn dns_txt(name: &str, server: Option<SocketAddr>) -> crate::Result<Vec<String>> {
    use hickory_resolver::Resolver;
    use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig};
    use hickory_resolver::name_server::TokioConnectionProvider;

    // An absolute name: no search domains appended.
    let fqdn = if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    };
    let mut builder = match server {
        Some(addr) => Resolver::builder_with_config(
            ResolverConfig::from_parts(
                None,
                Vec::new(),
                NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true),
            ),
            TokioConnectionProvider::default(),
        ),
        None => Resolver::builder_tokio().map_err(|e| {
            crate::error::err!(
                "reading the system's DNS configuration: {e}; pass --dns-server ADDR:PORT"
            )
        })?,
    };
    let options = builder.options_mut();
    options.timeout = DNS_ATTEMPT_TIMEOUT;
    options.attempts = DNS_ATTEMPTS;
    options.use_hosts_file = ResolveHosts::Never;
    let resolver = builder.build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the DNS resolver's runtime")?;
    let via = server.map_or_else(|| "the system resolver".to_owned(), |a| a.to_string());
    let lookup = runtime
        .block_on(async {
            tokio::time::timeout(DNS_TIMEOUT, resolver.txt_lookup(fqdn.as_str())).await
        })
        .map_err(|_| {
            crate::error::err!(
                "TXT lookup of {fqdn} via {via}: no answer within {}",
                crate::upstream::human_duration(DNS_TIMEOUT)
            )
        })?
        .map_err(|e| {
            crate::error::err!("TXT lookup of {fqdn} via {via}: {}", dns_error_text(&e))
        })?;
    let tag = format!("{COMPACT_TAG} ");
    let mut lines = Vec::new();
    let mut others = 0usize;
    for txt in lookup.iter() {
        let mut value = Vec::new();
        for part in txt.txt_data() {
            value.extend_from_slice(part);
        }
        if !value.starts_with(tag.as_bytes()) {
            others += 1;
            continue;
        }
        if value.len() > MAX_COMPACT_SIZE {
            return Err(Error::Refused(format!(
                "a TXT record at {fqdn} is longer than {MAX_COMPACT_SIZE} bytes"
            )));
        }
        let line = String::from_utf8(value)
            .map_err(|_| Error::Refused(format!("a TXT record at {fqdn} is not UTF-8")))?;
        lines.push(line);
    }
    if lines.is_empty() {
        crate::error::bail!(
            "no TXT record at {fqdn} (via {via}) holds a compact checkpoint line \
             ({others} other TXT records)"
        );
    }
    if lines.len() > MAX_TXT_CHECKPOINTS {
        return Err(Error::Refused(format!(
            "{} compact checkpoint lines at {fqdn}; at most {MAX_TXT_CHECKPOINTS} are checked",
            lines.len()
        )));
    }
    Ok(lines)
}

/// `releases/checkpoint` on branch `main` of the repository at `url`, read with the `git`
/// program: a shallow clone without blobs into a temporary directory, then the one blob.
fn git_checkpoint(url: &str) -> crate::Result<Vec<u8>> {
    let dir = tempfile::tempdir().context("creating a temporary directory for git")?;
    let repo = dir.path().join("channel.git");
    let repo_arg = repo.display().to_string();
    run_git(
        &[
            "clone",
            "--quiet",
            "--bare",
            "--depth=1",
            "--filter=blob:none",
            "--single-branch",
            &format!("--branch={GIT_BRANCH}"),
            "--",
            url,
            &repo_arg,
        ],
        None,
        64 * 1024,
    )
    .with_context(|| format!("cloning {url} (branch {GIT_BRANCH})"))?;
    run_git(
        &[
            "cat-file",
            "blob",
            &format!("refs/heads/{GIT_BRANCH}:{GIT_CHECKPOINT_PATH}"),
        ],
        Some(&repo),
        MAX_NOTE_SIZE,
    )
    .with_context(|| format!("reading {GIT_CHECKPOINT_PATH} on branch {GIT_BRANCH} of {url}"))
}

/// Runs `git args...` (in `dir`), without prompts, within [`GIT_TIMEOUT`]; returns at most
/// `limit` bytes of stdout (failing if there are more).
fn run_git(args: &[&str], dir: Option<&Path>, limit: usize) -> crate::Result<Vec<u8>> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    let mut child = command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("SSH_ASKPASS", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running git (the git+URL channel needs the git program)")?;
    let stdout = child.stdout.take().context("git's stdout")?;
    let stderr = child.stderr.take().context("git's stderr")?;
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let out = std::thread::spawn(move || {
        let mut stdout = stdout;
        let mut v = Vec::new();
        let _ = (&mut stdout).take(cap).read_to_end(&mut v);
        // Keep draining (and dropping) the rest, so that git never blocks on a full pipe
        // and an oversized answer fails at once as too large, not as a timeout.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        v
    });
    let err = std::thread::spawn(move || {
        let mut stderr = stderr;
        let mut v = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut v);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        v
    });
    let deadline = Instant::now() + GIT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for git")? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            crate::error::bail!(
                "git {} did not finish within {}",
                args[0],
                crate::upstream::human_duration(GIT_TIMEOUT)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if !status.success() {
        crate::error::bail!(
            "git {} failed ({status}): {}",
            args[0],
            String::from_utf8_lossy(&err).trim()
        );
    }
    if out.len() > limit {
        return Err(Error::Refused(format!(
            "git {} printed more than {limit} bytes",
            args[0]
        )));
    }
    Ok(out)
}

/// A resolver error in words: hickory's own text for "no records" is a Rust debug dump of the
/// query (`Query { name: Name(..), .. }`).
fn dns_error_text(e: &hickory_resolver::ResolveError) -> String {
    if e.is_nx_domain() {
        return "the name does not exist (NXDOMAIN)".to_owned();
    }
    if e.is_no_records_found() {
        return "the name has no TXT records".to_owned();
    }
    let text = e.to_string();
    // Anything else that still carries a debug dump is cut before it.
    match text.find(['{', '(']) {
        Some(cut) if text[cut..].contains("Query") || text[cut..].contains("Name(") => {
            text[..cut].trim_end().to_owned()
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_parse_and_print_back() {
        for value in [
            "dns:_cairn.example.org",
            "dns:_cairn.example.org.",
            "url:https://example.org/releases/update-latest.txt",
            "url:http://127.0.0.1:8080/releases/checkpoint",
            "git+https://example.org/log.git",
            "git+file:///srv/cairn/log.git",
        ] {
            let channel = parse_channel(value).expect(value);
            assert_eq!(channel.to_string(), value);
        }
    }

    #[test]
    fn bad_channels_are_usage_errors() {
        for value in [
            "",
            "dns:",
            "dns:.",
            "dns:a..b",
            "dns:has space.example",
            "dns:bad/char.example",
            &format!("dns:{}.example", "a".repeat(64)),
            &format!("dns:{}", ["abcdefghi"; 26].join(".")),
            "url:",
            "url:ftp://example.org/x",
            "url:not a url",
            "git+",
            "git+--upload-pack=evil",
            "git+file:///x\n",
            "https://example.org/releases/update-latest.txt",
            "DNS:_cairn.example.org",
        ] {
            assert!(parse_channel(value).is_err(), "accepted {value:?}");
        }
    }

    #[test]
    fn compact_lines_expand_and_other_bytes_pass_through() {
        let note = b"example.org/releases\n1\nAAAA\n\n\xe2\x80\x94 x\n".to_vec();
        assert_eq!(expand(&note).expect("as is"), note);
        let bad = format!("{COMPACT_TAG} example.org/releases 01 x y z");
        let err = expand(bad.as_bytes()).expect_err("malformed");
        assert!(matches!(Some(err.root()), Some(Error::Refused(_))));
    }
}
