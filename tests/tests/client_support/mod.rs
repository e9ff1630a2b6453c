//! Helpers of the client end-to-end tests, on top of the shared harness (`cairn_tests`): a log
//! whose log key the test holds (so it can sign what a compromised log would), releases posted
//! as signed notes, a tiny HTTP server for downloads and for a man-in-the-middle that rewrites
//! answers, and a client state directory driven through the real `cairn` binary.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cairn_tests::fixtures::genesis;
use cairn_tests::git::{commit_files_on_branch, read_on_branch};
use cairn_tests::process::{LogDir, Server};
use cairn_verifier::checkpoint::Checkpoint;
use cairn_verifier::cosignature::CosignatureSigner;
use cairn_verifier::entry::{
    Deprecation, FileName, FileRef, Reason, Release, ReleaseName, Sha256Digest, Version,
};
use cairn_verifier::hash::sha256;
use cairn_verifier::merkle::MemoryTree;
use cairn_verifier::note::{Ed25519Signer, KeyName, Note};
use cairn_verifier::tile::{EntryBundle, TILE_HEIGHT, Tile, encode_entry_bundle};
use cairn_verifier::tlog_proof::TlogProof;

#[allow(unused_imports)] // Each test crate uses a different subset.
pub use cairn_tests::fixtures::{add_key_event, key, revoke_key_event, sign};
pub use cairn_tests::process::cairn_bin;

/// Origin prefix of every test log.
pub const PREFIX: &str = "log.example.org";
/// How long a command may run.
const TIMEOUT: Duration = Duration::from_secs(120);

/// A witness cosigning key.
pub fn witness(label: &str) -> CosignatureSigner {
    let name = KeyName::new(&format!("witness.example/{label}")).expect("key name");
    CosignatureSigner::from_seed(
        name,
        sha256(format!("cairn-client-witness/{label}").as_bytes()),
    )
}

/// The release log's key material, known to the test (named PREFIX; tests rename it to
/// PREFIX/releases, the name the release log signs with).
pub fn log_key() -> Ed25519Signer {
    Ed25519Signer::from_seed(
        KeyName::new(PREFIX).expect("name"),
        sha256(b"cairn-client-tests/log"),
    )
}

/// The key log's signing key (name PREFIX/keys), known to the test.
pub fn keys_log_key() -> Ed25519Signer {
    Ed25519Signer::from_seed(
        KeyName::new(&format!("{PREFIX}/keys")).expect("name"),
        sha256(b"cairn-client-tests/keylog"),
    )
}

/// Runs `cairn args...` to completion with a timeout.
pub fn run_cairn<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    let child = Command::new(cairn_bin())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("XDG_STATE_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cairn");
    wait_output(child)
}

fn wait_output(mut child: Child) -> Output {
    let deadline = Instant::now() + TIMEOUT;
    // Drain both pipes on threads so a chatty child never blocks.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("poll") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cairn did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: t_out.join().expect("stdout thread"),
        stderr: t_err.join().expect("stderr thread"),
    }
}

/// The exit code, with stderr in the panic message when there is none.
pub fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal; stderr:\n{}", text(&out.stderr)))
}

/// Lossy text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts the exit code, showing the output otherwise.
#[track_caller]
pub fn assert_exit(out: &Output, expected: i32, what: &str) {
    assert_eq!(
        code(out),
        expected,
        "{what}: expected exit {expected}\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A log whose keys the test holds: root `root1` (threshold 1), release key `rel1` for
/// `example/*` from 0, log key [`log_key`].
#[derive(Debug)]
pub struct TestLog {
    /// The data directory made by `cairn init` (in a temporary directory).
    pub dir: LogDir,
    /// Holds the log key's file and the test's scratch files.
    pub files: tempfile::TempDir,
    /// The running server.
    pub server: Option<Server>,
    /// The root key.
    pub root: Ed25519Signer,
    /// The release key.
    pub release: Ed25519Signer,
    http: ureq::Agent,
}

impl TestLog {
    /// `cairn init` with the test's log key, `cairn serve`, and the release key added.
    pub fn start() -> TestLog {
        TestLog::start_with(&[])
    }

    /// Like [`TestLog::start`], with `extra` arguments for `cairn serve`.
    pub fn start_with(extra: &[&str]) -> TestLog {
        let files = tempfile::tempdir().expect("tempdir");
        let root = key("root1");
        let release = key("rel1");
        let releases_key =
            log_key().with_name(KeyName::new(&format!("{PREFIX}/releases")).expect("name"));
        let mut skeys = Vec::new();
        for (file, signer) in [("releases.key", releases_key), ("keys.key", keys_log_key())] {
            let skey = files.path().join(file);
            std::fs::write(&skey, format!("{}\n", signer.to_skey())).expect("log key");
            std::fs::set_permissions(&skey, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            skeys.push(skey);
        }
        let skeys: Vec<&std::path::Path> = skeys.iter().map(|p| p.as_path()).collect();
        let dir = LogDir::init_with(PREFIX, &genesis(&[&root], 1, &[&root]), &skeys);
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(TIMEOUT))
            .build()
            .into();
        let log = TestLog {
            server: Some(dir.serve(extra)),
            dir,
            files,
            root,
            release,
            http,
        };
        let add = sign(&add_key_event(&log.release, "example/*", 0), &[&log.root]);
        log.post("keys", &add).expect("add the release key");
        log
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.data()
    }

    /// A scratch directory for the test's files.
    pub fn scratch(&self) -> PathBuf {
        let p = self.files.path().join("scratch");
        std::fs::create_dir_all(&p).expect("scratch");
        p
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        self.server.as_ref().expect("server running").base_url()
    }

    /// Stops the server (SIGKILL; the log is crash-safe).
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Starts a server on `data` (this log's or a copy of it).
    pub fn serve(&mut self, data: &Path) {
        self.server = Some(Server::start(data, &[]).unwrap_or_else(|f| panic!("{f}")));
    }

    /// Starts a server on this log's data directory with `extra` arguments.
    pub fn serve_with(&mut self, extra: &[&str]) {
        self.server = Some(self.dir.serve(extra));
    }

    /// Copies the data directory (server stopped first, restarted after) to `to`.
    pub fn copy_data(&mut self, to: &Path) {
        self.stop();
        let status = Command::new("cp")
            .arg("-a")
            .arg(self.data())
            .arg(to)
            .status()
            .expect("cp");
        assert!(status.success());
        let data = self.data();
        self.serve(&data);
    }

    /// `POST /<log>/add`; the `.tlog-proof` on 200, else the status and reason.
    pub fn post(&self, log: &str, entry: &[u8]) -> Result<Vec<u8>, (u16, String)> {
        let url = format!("{}/{log}/add", self.url());
        let mut response = self
            .http
            .post(&url)
            .header("Content-Type", "text/plain")
            .send(entry)
            .expect("POST");
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec().expect("body");
        if status == 200 {
            Ok(body)
        } else {
            Err((status, text(&body)))
        }
    }

    /// `GET path` (200 expected).
    pub fn get(&self, path: &str) -> Vec<u8> {
        let mut response = self
            .http
            .get(&format!("{}{path}", self.url()))
            .call()
            .expect("GET");
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.body_mut().read_to_vec().expect("body")
    }

    /// Publishes a release of `name` `version` with one artifact `contents` (file name
    /// `image.img`) signed by the release key; writes the artifact and its proof into the scratch
    /// directory and returns (artifact path, release-log index).
    pub fn publish(&self, name: &str, version: &str, contents: &[u8]) -> (PathBuf, u64) {
        let note = sign(
            &release_text(name, version, &[("image.img", contents)]),
            &[&self.release],
        );
        let proof = self.post("releases", &note).expect("publish");
        let index = TlogProof::parse(&proof).expect("proof").index;
        let path = self.scratch().join(format!("{version}.img"));
        std::fs::write(&path, contents).expect("artifact");
        std::fs::write(proof_path(&path), &proof).expect("proof");
        (path, index)
    }
}

/// `FILE.tlog-proof`.
pub fn proof_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".tlog-proof");
    PathBuf::from(s)
}

/// A release text listing `files` (name, contents) as artifacts.
pub fn release_text(name: &str, version: &str, files: &[(&str, &[u8])]) -> String {
    release_text_sized(
        name,
        version,
        &files
            .iter()
            .map(|(n, d)| (*n, Sha256Digest::of(d), d.len() as u64))
            .collect::<Vec<_>>(),
    )
}

/// A release text with explicit digests and sizes.
pub fn release_text_sized(
    name: &str,
    version: &str,
    files: &[(&str, Sha256Digest, u64)],
) -> String {
    Release::new(
        ReleaseName::new(name).expect("name"),
        Version::new(version).expect("version"),
        files
            .iter()
            .map(|(n, digest, size)| FileRef {
                digest: *digest,
                size: *size,
                file_name: FileName::new(n).expect("file name"),
            })
            .collect(),
        Vec::new(),
    )
    .expect("release")
    .to_text()
}

/// A deprecation text.
pub fn deprecation_text(name: &str, version: &str) -> String {
    Deprecation::new(
        ReleaseName::new(name).expect("name"),
        Version::new(version).expect("version"),
        Reason::new("Security fix available").expect("reason"),
        None,
        Some(Version::new("9.9").expect("version")),
    )
    .expect("deprecation")
    .to_text()
}

/// Adds cosignatures (`witness`, POSIX time) to a checkpoint note's bytes.
pub fn cosign(checkpoint: &[u8], cosigners: &[(&CosignatureSigner, u64)]) -> Vec<u8> {
    let mut note = Note::parse(checkpoint).expect("checkpoint note");
    for (w, time) in cosigners {
        let sig = w.cosign_text(note.text(), *time).expect("cosign");
        note.push_signature(sig).expect("push cosignature");
    }
    note.to_bytes()
}

/// Rewrites a `.tlog-proof` file's checkpoint with `f`.
pub fn rewrite_proof_checkpoint(path: &Path, f: impl FnOnce(&[u8]) -> Vec<u8>) {
    let mut proof = TlogProof::parse(&std::fs::read(path).expect("proof")).expect("parse proof");
    proof.checkpoint = f(&proof.checkpoint);
    std::fs::write(path, proof.to_bytes()).expect("write proof");
}

/// Now, POSIX seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A client: a state directory driven through `cairn`.
#[derive(Debug)]
pub struct Client {
    /// Holds the state directory.
    pub dir: tempfile::TempDir,
}

impl Client {
    /// An empty client.
    pub fn new() -> Client {
        Client {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The state directory.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `cairn trust init` for the test log at `url` with `extra` arguments; asserts success.
    pub fn trust(&self, url: &str, log: &TestLog, extra: &[&str]) {
        let out = self.trust_raw(url, log.dir.log_vkey(), log, extra);
        assert_exit(&out, 0, "trust init");
    }

    /// `cairn trust init` with any log key, returning the output.
    pub fn trust_raw(&self, url: &str, log_vkey: &str, log: &TestLog, extra: &[&str]) -> Output {
        let root = log.root.verifier().to_vkey();
        let mut args: Vec<String> = vec![
            "trust".into(),
            "init".into(),
            "--state".into(),
            self.state().display().to_string(),
            "--log".into(),
            url.into(),
            "--log-key".into(),
            log_vkey.into(),
            "--root-key".into(),
            root,
            "--threshold".into(),
            "1".into(),
            "--force".into(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        run_cairn(&args)
    }

    /// `cairn <command> --state STATE args...`.
    pub fn cairn(&self, command: &[&str], args: &[&str]) -> Output {
        let mut all: Vec<String> = command.iter().map(|s| (*s).to_owned()).collect();
        all.push("--state".into());
        all.push(self.state().display().to_string());
        all.extend(args.iter().map(|s| (*s).to_owned()));
        run_cairn(&all)
    }

    /// `cairn verify FILE args...`.
    pub fn verify(&self, file: &Path, args: &[&str]) -> Output {
        let f = file.display().to_string();
        let mut all = vec![f.as_str()];
        all.extend_from_slice(args);
        self.cairn(&["verify"], &all)
    }

    /// The evidence files written so far.
    pub fn evidence(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.state().join("evidence")) {
            Ok(rd) => rd.map(|e| e.expect("entry").path()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// What a [`TinyHttp`] handler answers.
pub enum Answer {
    /// Status and body.
    Full(u16, Vec<u8>),
    /// 200 with `Content-Encoding: gzip` and this (already gzipped) body, whatever the
    /// request's `Accept-Encoding` (a misconfigured or hostile host).
    Gzip(Vec<u8>),
    /// Send the headers announcing `total` bytes and `first` of the body, then stall until the
    /// server stops (a download the test interrupts).
    Stall { total: u64, first: Vec<u8> },
    /// Send the headers announcing `body`, then one byte every `every` until the server stops (a
    /// hostile server trickling its answer).
    Trickle { body: Vec<u8>, every: Duration },
}

type Handler = dyn Fn(&str) -> Answer + Send + Sync;

/// A tiny HTTP/1.1 server on loopback answering GETs with a handler, one connection per
/// request (`Connection: close`). Stops on drop.
pub struct TinyHttp {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for TinyHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TinyHttp({})", self.addr)
    }
}

impl TinyHttp {
    /// Starts the server.
    pub fn start(handler: impl Fn(&str) -> Answer + Send + Sync + 'static) -> TinyHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let handler = Arc::clone(&handler);
                        let stopped = Arc::clone(&stopped);
                        std::thread::spawn(move || serve_one(stream, &*handler, &stopped));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        TinyHttp { addr, stop }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TinyHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_one(stream: TcpStream, handler: &Handler, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
    let mut stream = stream;
    match handler(&path) {
        Answer::Full(status, body) => {
            // Browsers load module scripts and style sheets only with their own types (the
            // explorer's tests put this server between Chromium and the log).
            let content_type = match path.split(['?', '#']).next().unwrap_or("") {
                "/" => "text/html; charset=utf-8",
                p if p.ends_with(".js") => "text/javascript",
                p if p.ends_with(".css") => "text/css",
                _ => "application/octet-stream",
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
        Answer::Gzip(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
        Answer::Stall { total, first } => {
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&first);
            let _ = stream.flush();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Answer::Trickle { body, every } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            for byte in body {
                if stop.load(Ordering::Relaxed) || stream.write_all(&[byte]).is_err() {
                    return;
                }
                let _ = stream.flush();
                std::thread::sleep(every);
            }
        }
    }
    let _ = stream.flush();
}

/// A handler serving the files of `dir` (404 for anything else).
pub fn files(dir: PathBuf) -> impl Fn(&str) -> Answer + Send + Sync + 'static {
    move |path: &str| {
        let name = path.trim_start_matches('/');
        if name.contains("..") || name.is_empty() {
            return Answer::Full(404, b"no\n".to_vec());
        }
        match std::fs::read(dir.join(name)) {
            Ok(data) => Answer::Full(200, data),
            Err(_) => Answer::Full(404, b"not found\n".to_vec()),
        }
    }
}

/// A man-in-the-middle in front of the log at `upstream`: every GET is forwarded, and
/// checkpoint answers pass through `rewrite(log, bytes)` (`log` is `releases` or `keys`).
pub fn mitm(
    upstream: String,
    rewrite: impl Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
) -> impl Fn(&str) -> Answer + Send + Sync + 'static {
    mitm_paths(upstream, move |path, body| match path {
        "/releases/checkpoint" => rewrite("releases", body),
        "/keys/checkpoint" => rewrite("keys", body),
        _ => body,
    })
}

/// A man-in-the-middle that passes every successful answer through `rewrite(path, bytes)`.
pub fn mitm_paths(
    upstream: String,
    rewrite: impl Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
) -> impl Fn(&str) -> Answer + Send + Sync + 'static {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into();
    move |path: &str| {
        let mut response = match agent.get(&format!("{upstream}{path}")).call() {
            Ok(r) => r,
            Err(_) => return Answer::Full(502, b"upstream down\n".to_vec()),
        };
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_default();
        let body = if status == 200 {
            rewrite(path, body)
        } else {
            body
        };
        Answer::Full(status, body)
    }
}

/// The files in `dir` whose names contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(needle))
        .collect()
}

/// The name of the failed check in a `--json` answer (`None` if no check failed).
pub fn failed_check(out: &Output) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["status"] == "fail")
        .map(|c| c["check"].as_str().expect("check name").to_owned())
}

/// Asserts a `--json` run failed with `code` at the check `check`.
#[track_caller]
pub fn assert_refused(out: &Output, code: i32, check: &str, what: &str) {
    assert_exit(out, code, what);
    assert_eq!(
        failed_check(out).as_deref(),
        Some(check),
        "{what}: wrong failing check\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Appends `extra` to the release log directly in the log's git storage (a log operator, or
/// anyone with write access to the repository and the log key): new bundle, tile and
/// checkpoint signed with the log key, plus `files` (path, bytes) in the same commit. The log has
/// fewer than 256 entries.
pub fn plant(log: &TestLog, extra: &[u8], files: &[(&str, &[u8])]) {
    let repo = log.dir.repo();
    let scratch = log.scratch();
    let cp_bytes = read_on_branch(&repo, "releases/checkpoint");
    let note = Note::parse(&cp_bytes).expect("checkpoint note");
    let old = Checkpoint::parse(note.text()).expect("checkpoint");
    let size = old.size;
    let bundle = EntryBundle::for_entry(TILE_HEIGHT, 0, size).expect("bundle");
    let data = read_on_branch(&repo, &format!("releases/{}", bundle.path()));
    let mut entries: Vec<Vec<u8>> = bundle
        .split(&data)
        .expect("bundle")
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    entries.push(extra.to_vec());
    let mut tree = MemoryTree::new();
    for e in &entries {
        tree.append(e);
    }
    let new_size = size + 1;
    let width = u16::try_from(new_size).expect("small log");
    let new_bundle = EntryBundle::new(TILE_HEIGHT, 0, width).expect("bundle");
    let tile = Tile::new(TILE_HEIGHT, 0, 0, width).expect("tile");
    let tile_data: Vec<u8> = (0..new_size)
        .flat_map(|i| cairn_verifier::hash::leaf_hash(&entries[i as usize]).0)
        .collect();
    let signer = log_key().with_name(KeyName::new(&format!("{PREFIX}/releases")).expect("n"));
    let text_cp = Checkpoint::new(format!("{PREFIX}/releases"), new_size, tree.root())
        .to_text()
        .expect("checkpoint");
    let cp = Note::sign(&text_cp, &[&signer]).expect("sign").to_bytes();
    let keys_cp = read_on_branch(&repo, "keys/checkpoint");
    let keys_size = Checkpoint::parse(Note::parse(&keys_cp).expect("note").text())
        .expect("keys checkpoint")
        .size;
    // The server checks that the head commit's subject names the sizes it finds.
    let message = format!(
        "cairn: releases {new_size} keys {keys_size}\n\n{}\n{}",
        String::from_utf8_lossy(&cp),
        String::from_utf8_lossy(&keys_cp)
    );
    let bundle_path = format!("releases/{}", new_bundle.path());
    let tile_path = format!("releases/{}", tile.path());
    let bundle_data = encode_entry_bundle(&entries).expect("encode");
    let mut all: Vec<(&str, &[u8])> = vec![
        (&bundle_path, &bundle_data),
        (&tile_path, &tile_data),
        ("releases/checkpoint", &cp),
    ];
    all.extend_from_slice(files);
    commit_files_on_branch(&repo, &scratch, &all, &message);
}
