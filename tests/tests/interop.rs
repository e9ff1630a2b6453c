//! Interoperability with other C2SP implementations:
//! - Go's golang.org/x/mod `sumdb/note` and `sumdb/tlog` (Debian's golang-golang-x-mod-dev, built
//!   by the helper in tests/go/xmodcheck) open every checkpoint the server publishes with the
//!   verifier keys `cairn init` printed, and agree with the log's tiles on tree hashes,
//!   consistency and inclusion proofs; the single `PREFIX` key of earlier versions verifies
//!   nothing there.
//! - A tlog-policy written by hand to c2sp.org/tlog-policy (comments, free whitespace, the two
//!   `log` lines in any order, a URL on one of them) works with `cairn verify`; two `log` lines
//!   wrapping one public key are refused, as the spec says.
//! - A static host that gzips entry bundles (nginx `gzip on`) serves a mirror that `cairn verify`
//!   and `cairn mirror` accept, and the log server gzips bundles for clients that ask.
//!
//! Needs `go` with golang-golang-x-mod-dev, and `nginx` (`.ci/run` installs them). Build the
//! binary first: `cargo build -p cairn-cli`.

mod client_support;

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_verifier::note::KeyName;
use client_support::*;

/// Builds tests/go/xmodcheck with Debian's Go and x/mod (GOPATH mode, no network).
fn xmodcheck(work: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("go/xmodcheck");
    let bin = work.join("xmodcheck");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOFLAGS", "")
        .env("GOCACHE", work.join("gocache"))
        .output()
        .expect("run `go` (install golang-go and golang-golang-x-mod-dev; bash .ci/run does)");
    assert!(
        out.status.success(),
        "go build xmodcheck failed (is golang-golang-x-mod-dev installed?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run xmodcheck")
}

#[test]
fn go_x_mod_opens_every_checkpoint_and_agrees_on_every_proof() {
    let log = TestLog::start();
    let work = log.scratch();
    let bin = xmodcheck(&work);
    let saved_dir = work.join("checkpoints");
    std::fs::create_dir_all(&saved_dir).expect("mkdir");
    let mut saved = Vec::new();
    let mut save = |name: String, bytes: Vec<u8>| {
        let path = saved_dir.join(name);
        std::fs::write(&path, bytes).expect("save checkpoint");
        saved.push(path.display().to_string());
    };
    // Several batches, past the first full tile (256) of the release log.
    let mut n = 0;
    for batch in 0..5 {
        for _ in 0..60 {
            n += 1;
            log.publish("example/os", &format!("1.{n}"), format!("{n}\n").as_bytes());
        }
        for which in ["releases", "keys"] {
            save(
                format!("{which}-{batch}"),
                log.get(&format!("/{which}/checkpoint")),
            );
        }
    }
    let mut args = vec!["-url".to_owned(), log.url(), "-vkeys".to_owned()];
    args.push(log.dir.log_vkey().to_owned());
    args.extend(saved.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&bin, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "x/mod disagrees with the log:\n{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "{PREFIX}/releases size 300 consistency 5 inclusion 300"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{PREFIX}/keys size 2 consistency 5 inclusion 2")),
        "{stdout}"
    );

    // The single key named PREFIX that earlier versions published verifies nothing in Go.
    let legacy = work.join("legacy.vkey");
    std::fs::write(&legacy, format!("{}\n", log_key().verifier().to_vkey())).expect("write");
    let out = run(
        &bin,
        &["-url", &log.url(), "-vkeys", &legacy.display().to_string()],
    );
    assert!(!out.status.success(), "the PREFIX key opened a checkpoint");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("note.Open"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A trust file whose policy part is written by hand, to the spec.
fn hand_written_trust(log: &TestLog, policy: &str) -> PathBuf {
    let path = log.scratch().join(format!("trust-{}", policy.len()));
    let text = format!(
        "cairn-trust/v1\nroot {}\nthreshold 1\nmax-age 86400\n\n{policy}",
        log.root.verifier().to_vkey()
    );
    std::fs::write(&path, text).expect("write trust");
    path
}

#[test]
fn a_hand_written_tlog_policy_works_with_cairn_verify() {
    let log = TestLog::start();
    let (artifact, _) = log.publish("example/os", "1.0", b"one\n");
    let proof = proof_path(&artifact).display().to_string();
    let releases = log.dir.log_verifier("releases").to_vkey();
    let keys = log.dir.log_verifier("keys").to_vkey();
    let policy = format!(
        "# Cairn log {PREFIX}, written by hand from c2sp.org/tlog-policy.\n\
         \n\
         \t log {keys}   {url}\n\
         # the release log; its URL is the same base\n\
         log\t{releases}\n\
         quorum none\n",
        url = log.url()
    );
    let trust = hand_written_trust(&log, &policy);
    let client = Client::new();
    let trust_arg = trust.display().to_string();
    for (args, what) in [
        (
            vec!["--trust", &trust_arg, "--proof", &proof],
            "offline proof",
        ),
        (vec!["--trust", &trust_arg], "online lookup"),
    ] {
        let out = client.verify(&artifact, &args);
        assert_exit(&out, 0, what);
        assert!(
            !text(&out.stderr).contains("deprecated"),
            "{}",
            text(&out.stderr)
        );
    }

    // Two log lines wrapping one public key are duplicates (tlog-policy): refused.
    let same = log_key()
        .with_name(KeyName::new(&format!("{PREFIX}/keys")).expect("name"))
        .verifier()
        .to_vkey();
    let dup = hand_written_trust(
        &log,
        &format!("log {releases} {}\nlog {same}\nquorum none\n", log.url()),
    );
    let out = client.verify(&artifact, &["--trust", &dup.display().to_string()]);
    assert_exit(&out, 2, "duplicate log keys");
    // A policy naming only the release log cannot describe a Cairn log.
    let one = hand_written_trust(
        &log,
        &format!("log {releases} {}\nquorum none\n", log.url()),
    );
    let out = client.verify(&artifact, &["--trust", &one.display().to_string()]);
    assert_exit(&out, 2, "one log line");
    assert!(
        text(&out.stderr).contains("two log lines"),
        "{}",
        text(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// nginx, killed on drop.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx serving `root` with the static-host configuration of docs/mirrors.md: `checkpoint` as
/// text/plain, entry bundles gzipped for clients that ask.
fn nginx_gzip(root: &Path, work: &Path) -> (Nginx, String) {
    let port = free_port();
    std::fs::create_dir_all(work.join("logs")).expect("nginx dir");
    let conf = work.join("nginx.conf");
    let mime = ["/etc/nginx/mime.types"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| format!("include {p};"))
        .unwrap_or_default();
    let mut f = std::fs::File::create(&conf).expect("nginx.conf");
    write!(
        f,
        "worker_processes 1;\n\
         error_log {work}/logs/error.log;\n\
         pid {work}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
           {mime}\n\
           default_type application/octet-stream;\n\
           access_log off;\n\
           client_body_temp_path {work}/body;\n\
           proxy_temp_path {work}/proxy;\n\
           fastcgi_temp_path {work}/fastcgi;\n\
           uwsgi_temp_path {work}/uwsgi;\n\
           scgi_temp_path {work}/scgi;\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             root {root};\n\
             location ~ /\\. {{ deny all; }}\n\
             location ~ /checkpoint$ {{\n\
               default_type \"text/plain; charset=utf-8\";\n\
               types {{ }}\n\
               add_header Cache-Control no-cache;\n\
             }}\n\
             location ~ /tile/entries/ {{\n\
               types {{ }}\n\
               default_type application/octet-stream;\n\
               gzip on;\n\
               gzip_min_length 0;\n\
               gzip_types application/octet-stream;\n\
             }}\n\
           }}\n\
         }}\n",
        work = work.display(),
        root = root.display(),
    )
    .expect("write nginx.conf");
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .find(|p| Path::new(p).exists())
        .copied()
        .unwrap_or("nginx");
    let mut child = Command::new(nginx)
        .arg("-p")
        .arg(work)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nginx (is nginx installed?)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("nginx exited with {status}");
        }
        assert!(Instant::now() < deadline, "nginx did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Nginx(child), format!("http://127.0.0.1:{port}"))
}

/// A raw HTTP/1.1 GET with `Accept-Encoding: gzip`: the reply's head, lowercased.
fn get_gzip(url: &str, path: &str) -> String {
    let addr = url.strip_prefix("http://").expect("http URL");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut reply = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut reply).expect("read");
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    assert!(
        reply[..split].starts_with(b"HTTP/1.1 200"),
        "GET {path}: {}",
        String::from_utf8_lossy(&reply[..split])
    );
    String::from_utf8_lossy(&reply[..split]).to_lowercase()
}

#[test]
fn gzip_from_a_static_host_and_from_the_log_server() {
    let log = TestLog::start();
    let (first, _) = log.publish("example/os", "1.0", b"one\n");
    for i in 0..20 {
        log.publish(
            "example/os",
            &format!("1.{}", i + 1),
            format!("{i}\n").as_bytes(),
        );
    }
    let (last, _) = log.publish("example/os", "2.0", b"two\n");
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);

    // The log server gzips entry bundles for clients that ask, and only those.
    let size = 22;
    let bundle = format!("/releases/tile/entries/000.p/{size}");
    let head = get_gzip(&log.url(), &bundle);
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let head = get_gzip(&log.url(), "/releases/tile/0/000.p/22");
    assert!(
        !head.contains("content-encoding"),
        "hash tiles are not gzipped: {head}"
    );
    // And the client reads them: online verification fetches bundles.
    assert_exit(
        &client.verify(&last, &[]),
        0,
        "verify online against the gzipping log server",
    );

    // A mirror directory served by nginx with gzip on for bundles.
    let work = log.scratch();
    let dir = work.join("mirror");
    let to = dir.display().to_string();
    assert_exit(
        &client.cairn(
            &["mirror"],
            &["--upstream", &log.url(), "--mirror-dir", &to, "--once"],
        ),
        0,
        "mirror from the log",
    );
    let (_nginx, url) = nginx_gzip(&dir, &work.join("nginx"));
    let head = get_gzip(&url, &bundle);
    assert!(
        head.contains("content-encoding: gzip"),
        "nginx gzips bundles: {head}"
    );
    let head = get_gzip(&url, "/releases/checkpoint");
    assert!(
        head.contains("content-type: text/plain; charset=utf-8"),
        "checkpoint as text: {head}"
    );
    let static_client = Client::new();
    static_client.trust(&url, &log, &[]);
    for artifact in [&first, &last] {
        let proof = proof_path(artifact).display().to_string();
        assert_exit(
            &static_client.verify(artifact, &["--proof", &proof]),
            0,
            "verify against gzipping nginx",
        );
    }
    let copy = work.join("mirror-of-nginx").display().to_string();
    assert_exit(
        &static_client.cairn(
            &["mirror"],
            &["--upstream", &url, "--mirror-dir", &copy, "--once"],
        ),
        0,
        "mirror from gzipping nginx",
    );
    assert_eq!(
        std::fs::read(work.join("mirror-of-nginx/releases/tile/entries/000.p/22")).expect("bundle"),
        log.get(&bundle),
        "the mirror stored the decoded bundle"
    );
}

/// A gzip bomb: 32 MiB of zeros, gzipped with the system's `gzip` to a body smaller than the
/// smallest cap (a note, 64 KiB), so only a cap on the decoded bytes can refuse it.
fn gzip_bomb() -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-c", "-9", "-n"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run gzip");
    let mut stdin = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || {
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..32 {
            stdin.write_all(&zeros).expect("feed gzip");
        }
    });
    let out = child.wait_with_output().expect("gzip output");
    feeder.join().expect("feeder");
    assert!(out.status.success(), "gzip failed");
    assert!(
        out.stdout.len() < cairn_verifier::note::MAX_NOTE_SIZE,
        "the bomb ({} bytes) must be smaller than every cap",
        out.stdout.len()
    );
    out.stdout
}

#[test]
fn a_gzip_bomb_is_cut_at_the_decoded_size_cap() {
    let log = TestLog::start();
    let (artifact, _) = log.publish("example/os", "1.0", b"one\n");
    let bomb = gzip_bomb();
    let note_cap = format!("larger than {} bytes", cairn_verifier::note::MAX_NOTE_SIZE);
    let bundle_cap = format!(
        "larger than {} bytes",
        cairn_verifier::tile::MAX_BUNDLE_SIZE
    );

    // A host whose every answer is the bomb: the checkpoint is refused at the note cap.
    let hostile = {
        let bomb = bomb.clone();
        TinyHttp::start(move |_| Answer::Gzip(bomb.clone()))
    };
    let client = Client::new();
    client.trust(&hostile.url(), &log, &[]);
    let out = client.verify(&artifact, &[]);
    assert_ne!(code(&out), 0, "verify accepted a gzip bomb");
    assert!(
        text(&out.stderr).contains(&note_cap),
        "{}",
        text(&out.stderr)
    );
    let to = log.scratch().join("bombed-mirror").display().to_string();
    let out = client.cairn(
        &["mirror"],
        &["--upstream", &hostile.url(), "--mirror-dir", &to, "--once"],
    );
    assert_ne!(code(&out), 0, "mirror accepted a gzip bomb");
    assert!(
        text(&out.stderr).contains(&note_cap),
        "{}",
        text(&out.stderr)
    );

    // The real log's answers, but every entry bundle is the bomb: refused at the bundle cap
    // (16 MiB), half the bomb's decoded size.
    let forward = mitm_paths(log.url(), |_, body| body);
    let bundles = TinyHttp::start(move |path| {
        if path.contains("/tile/entries/") {
            Answer::Gzip(bomb.clone())
        } else {
            forward(path)
        }
    });
    let client = Client::new();
    client.trust(&bundles.url(), &log, &[]);
    let out = client.verify(&artifact, &[]);
    assert_ne!(code(&out), 0, "verify accepted a gzipped bundle bomb");
    assert!(
        text(&out.stderr).contains(&bundle_cap),
        "{}",
        text(&out.stderr)
    );
}

/// `gzip -c -n` of `data`.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-c", "-n"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run gzip");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("feed gzip");
    let out = child.wait_with_output().expect("gzip output");
    assert!(out.status.success(), "gzip failed");
    out.stdout
}

#[test]
fn install_keeps_a_gzip_file_that_the_host_labels_content_encoding_gzip() {
    // Apache's `AddEncoding x-gzip .gz` serves a .tar.gz with `Content-Encoding: gzip`: the
    // release's digest is that of the compressed file, so install must not decode it.
    let log = TestLog::start();
    let tarball = gzip(b"a tar archive, say\n");
    let (artifact, _) = log.publish("example/os", "1.0", &tarball);
    let proof = std::fs::read(proof_path(&artifact)).expect("proof");
    let served = tarball.clone();
    let host = TinyHttp::start(move |path| match path {
        "/os.tar.gz" => Answer::Gzip(served.clone()),
        "/os.tar.gz.tlog-proof" => Answer::Full(200, proof.clone()),
        _ => Answer::Full(404, b"not found\n".to_vec()),
    });
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let dest = tempfile::tempdir().expect("dest");
    let to = dest.path().join("os.tar.gz");
    let out = client.cairn(
        &["install"],
        &[
            &format!("{}/os.tar.gz", host.url()),
            "--to",
            &to.display().to_string(),
        ],
    );
    assert_exit(
        &out,
        0,
        "install a .tar.gz served with Content-Encoding: gzip",
    );
    assert_eq!(std::fs::read(&to).expect("installed"), tarball);
}

/// A data directory in the layout of versions before per-origin keys: `log.key` (named PREFIX,
/// the test's `log_key()`) signs both logs. Made with the log server's library, as those
/// versions' `cairn init` did.
fn old_single_key_data_dir(dir: &Path, root: &cairn_verifier::note::Ed25519Signer) {
    use cairn_log_server::config::LogKeys;
    use cairn_log_server::log::Log;
    use cairn_log_server::metrics::Metrics;
    use cairn_log_server::storage::GitStorage;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("config.toml"), format!("origin = \"{PREFIX}\"\n")).expect("config");
    let key = dir.join("log.key");
    std::fs::write(&key, format!("{}\n", log_key().to_skey())).expect("log.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let storage = GitStorage::init(dir.join("repo.git")).expect("git init");
    Log::create(
        PREFIX,
        &LogKeys::single(&log_key().into(), PREFIX).expect("keys"),
        std::sync::Arc::new(storage),
        &cairn_tests::fixtures::genesis(&[root], 1, &[root]),
        std::sync::Arc::new(Metrics::default()),
    )
    .expect("create the old log");
}

#[test]
fn migrate_keys_keeps_old_trust_files_working_until_log_key_is_deleted() {
    let mut log = TestLog::start();
    let old_dir = log.scratch().join("old-data");
    old_single_key_data_dir(&old_dir, &log.root);
    log.serve(&old_dir);
    let add = sign(&add_key_event(&log.release, "example/*", 0), &[&log.root]);
    log.post("keys", &add).expect("add the release key");
    let (first, _) = log.publish("example/os", "1.0", b"one\n");

    // A client of the old log: its trust file names the single PREFIX key.
    let client = Client::new();
    let single = log_key().verifier().to_vkey();
    let out = client.trust_raw(&log.url(), &single, &log, &[]);
    assert_exit(&out, 0, "trust init with the single key");
    assert!(
        text(&out.stderr).contains("deprecated"),
        "{}",
        text(&out.stderr)
    );
    let out = client.verify(&first, &[]);
    assert_exit(&out, 0, "old trust file, old log");
    assert!(
        text(&out.stderr).contains("deprecated") && text(&out.stderr).contains("trust init"),
        "the warning names the command to run: {}",
        text(&out.stderr)
    );

    // The migration.
    log.stop();
    let old_dir_arg = old_dir.display().to_string();
    let out = run_cairn(&["migrate-keys", "--data", &old_dir_arg]);
    assert_exit(&out, 0, "cairn migrate-keys");
    let vkeys = text(&out.stdout);
    let lines: Vec<&str> = vkeys.lines().collect();
    assert_eq!(lines.len(), 2, "{vkeys}");
    let releases_vkey = log_key()
        .with_name(KeyName::new(&format!("{PREFIX}/releases")).expect("name"))
        .verifier()
        .to_vkey();
    assert_eq!(lines[0], releases_vkey, "the release log keeps its key");
    assert!(lines[1].starts_with(&format!("{PREFIX}/keys+")), "{vkeys}");
    let new_keys = cairn_verifier::note::Ed25519Verifier::from_vkey(lines[1]).expect("vkey");
    assert_ne!(
        *new_keys.public_key(),
        log_key().public_key(),
        "the key log has a new key"
    );
    let again = run_cairn(&["migrate-keys", "--data", &old_dir_arg]);
    assert_ne!(code(&again), 0, "a second migrate-keys");
    assert!(
        text(&again.stderr).contains("already has per-origin keys"),
        "{}",
        text(&again.stderr)
    );
    let vkeys_file = log.scratch().join("log.vkey");
    std::fs::write(&vkeys_file, &vkeys).expect("write log.vkey");
    let vkeys_arg = vkeys_file.display().to_string();

    log.serve(&old_dir);
    assert_eq!(
        text(&cairn_tests::git::read_on_branch(
            &old_dir.join("repo.git"),
            "cairn-log.vkey"
        )),
        vkeys,
        "the server published the new keys on the branch"
    );
    // The old trust file still verifies, old and new releases (the key log is dual-signed).
    // (Re-made only because the restarted server listens on another port.)
    assert_exit(
        &client.trust_raw(&log.url(), &single, &log, &[]),
        0,
        "the same old trust file, new port",
    );
    let (second, _) = log.publish("example/os", "2.0", b"two\n");
    for artifact in [&first, &second] {
        assert_exit(
            &client.verify(artifact, &[]),
            0,
            "old trust file, migrated log",
        );
    }
    // Go opens both logs' checkpoints with the published keys.
    let bin = xmodcheck(&log.scratch());
    let out = run(&bin, &["-url", &log.url(), "-vkeys", &vkeys_arg]);
    assert!(
        out.status.success(),
        "x/mod after the migration: {}",
        text(&out.stderr)
    );
    // The client moves to the new keys and keeps what it verified (one state per log).
    let out = client.trust_raw(&log.url(), &vkeys_arg, &log, &[]);
    assert_exit(&out, 0, "trust init with the per-origin keys");
    let out = client.verify(&second, &[]);
    assert_exit(&out, 0, "new trust file");
    assert!(
        !text(&out.stderr).contains("deprecated"),
        "{}",
        text(&out.stderr)
    );
    let states = std::fs::read_dir(client.state().join("logs"))
        .expect("state")
        .count();
    assert_eq!(states, 1, "the new trust file names the same log state");

    // log.key deleted: the old signature is gone, old trust files stop verifying the key log.
    log.stop();
    std::fs::remove_file(old_dir.join("log.key")).expect("rm log.key");
    log.serve(&old_dir);
    assert_exit(
        &client.trust_raw(&log.url(), &vkeys_arg, &log, &[]),
        0,
        "the same new trust file, new port",
    );
    let (third, _) = log.publish("example/os", "3.0", b"three\n");
    assert_exit(
        &client.verify(&third, &[]),
        0,
        "new trust file after log.key is gone",
    );
    let keys_checkpoint = log.get("/keys/checkpoint");
    let note = cairn_verifier::note::Note::parse(&keys_checkpoint).expect("note");
    assert_eq!(note.signatures().len(), 1, "only the new key-log key signs");
    // `trust init` checks the roots against the key log's genesis, which it authenticates
    // with the key log's checkpoint: the single key no longer verifies it.
    let old_client = Client::new();
    let out = old_client.trust_raw(&log.url(), &single, &log, &[]);
    assert_ne!(
        code(&out),
        0,
        "the single key no longer verifies the key log"
    );
    assert!(
        text(&out.stderr).contains("not signed by any known key"),
        "{}",
        text(&out.stderr)
    );
}
