//! End-to-end tests of `cairn mirror` and `cairn serve --mirror`: mirrors made over HTTP, from
//! `git daemon` (git://), from `git http-backend` (smart HTTP, behind a small CGI bridge) and from
//! a file:// repository all serve the log, and `cairn verify`
//! succeeds against each and against nginx serving a mirror's directory; an upstream that serves
//! a tampered entry bundle or hash tile, or a history inconsistent with the mirror's, is refused
//! and the mirror keeps serving its last verified state.
//!
//! Needs `git` and `nginx` (`.ci/run` installs them). Build the binary first:
//! `cargo build -p cairn-cli`.

mod client_support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_tests::git::{commit_files_on_branch, git_at};
use cairn_tests::http::Http;
use cairn_tests::process::Server;
use client_support::*;

/// `cairn mirror --from FROM --to DIR --once` with the client's trust policy.
fn mirror(client: &Client, from: &str, to: &Path) -> Output {
    let to = to.display().to_string();
    client.cairn(
        &["mirror"],
        &["--upstream", from, "--mirror-dir", &to, "--once"],
    )
}

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `git daemon` exporting the repositories under `base` on a loopback port.
fn git_daemon(base: &Path) -> (Daemon, u16) {
    let port = free_port();
    let mut child = Command::new("git")
        .args([
            "daemon",
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", base.display()),
            &base.display().to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn git daemon (is git installed?)");
    wait_for_port(port, &mut child, "git daemon");
    (Daemon(child), port)
}

/// `git http-backend` (smart HTTP) behind a minimal CGI bridge on a loopback port, serving the
/// repositories under `root`. One request per connection.
fn git_http(root: &Path) -> u16 {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let mut parts = request.split_whitespace();
                let method = parts.next().unwrap_or("GET").to_owned();
                let target = parts.next().unwrap_or("/").to_owned();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let mut headers = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                    }
                }
                let header = |name: &str| {
                    headers
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                };
                let mut body = Vec::new();
                if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
                    body.resize(n, 0);
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
                    loop {
                        let mut size = String::new();
                        if reader.read_line(&mut size).unwrap_or(0) == 0 {
                            return;
                        }
                        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                        let mut chunk = vec![0; n + 2];
                        if reader.read_exact(&mut chunk).is_err() {
                            return;
                        }
                        if n == 0 {
                            break;
                        }
                        body.extend_from_slice(&chunk[..n]);
                    }
                }
                let mut cgi = Command::new("git");
                cgi.arg("http-backend")
                    .env("GIT_PROJECT_ROOT", &root)
                    .env("GIT_HTTP_EXPORT_ALL", "1")
                    .env("GATEWAY_INTERFACE", "CGI/1.1")
                    .env("SERVER_PROTOCOL", "HTTP/1.1")
                    .env("REQUEST_METHOD", &method)
                    .env("PATH_INFO", path)
                    .env("QUERY_STRING", query)
                    .env("REMOTE_ADDR", "127.0.0.1")
                    .env("CONTENT_LENGTH", body.len().to_string())
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null());
                for (name, env) in [
                    ("content-type", "CONTENT_TYPE"),
                    ("content-encoding", "HTTP_CONTENT_ENCODING"),
                    ("git-protocol", "GIT_PROTOCOL"),
                ] {
                    if let Some(v) = header(name) {
                        cgi.env(env, v);
                    }
                }
                let mut child = cgi.spawn().expect("git http-backend");
                let mut stdin = child.stdin.take().expect("stdin");
                std::thread::spawn(move || {
                    let _ = stdin.write_all(&body);
                });
                let out = child.wait_with_output().expect("http-backend output");
                let split = out
                    .stdout
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|i| (i, 4))
                    .or_else(|| {
                        out.stdout
                            .windows(2)
                            .position(|w| w == b"\n\n")
                            .map(|i| (i, 2))
                    });
                let Some((end, skip)) = split else { return };
                let head = String::from_utf8_lossy(&out.stdout[..end]).into_owned();
                let mut status = "200 OK".to_owned();
                let mut response = Vec::new();
                for line in head.lines() {
                    match line.split_once(':') {
                        Some((k, v)) if k.eq_ignore_ascii_case("status") => {
                            status = v.trim().to_owned();
                        }
                        _ => response.extend_from_slice(format!("{line}\r\n").as_bytes()),
                    }
                }
                let payload = &out.stdout[end + skip..];
                let mut all = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    payload.len()
                )
                .into_bytes();
                all.extend_from_slice(&response);
                all.extend_from_slice(b"\r\n");
                all.extend_from_slice(payload);
                let _ = stream.write_all(&all);
            });
        }
    });
    port
}

fn nginx_bin() -> PathBuf {
    for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    PathBuf::from("nginx")
}

/// nginx serving `root` as static files on a loopback port (its own prefix and config in
/// `work`).
fn nginx(root: &Path, work: &Path) -> (Daemon, u16) {
    let port = free_port();
    std::fs::create_dir_all(work.join("logs")).expect("nginx dir");
    let conf = work.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1;\n\
             error_log {work}/logs/error.log;\n\
             pid {work}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
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
               }}\n\
             }}\n",
            work = work.display(),
            root = root.display(),
        ),
    )
    .expect("nginx.conf");
    let mut child = Command::new(nginx_bin())
        .arg("-p")
        .arg(work)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nginx (is nginx installed?)");
    wait_for_port(port, &mut child, "nginx");
    (Daemon(child), port)
}

/// `cairn verify ARTIFACT --proof ARTIFACT.tlog-proof` with a fresh client trusting `url`.
fn verify_against(url: &str, log: &TestLog, artifact: &Path) -> Output {
    let client = Client::new();
    client.trust(url, log, &[]);
    let proof = proof_path(artifact).display().to_string();
    client.verify(artifact, &["--proof", &proof])
}

#[test]
fn mirrors_over_http_git_daemon_git_http_and_file_serve_the_log_and_nginx_serves_a_copy() {
    let log = TestLog::start();
    let (first, _) = log.publish("example/os", "1.0", b"one\n");
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let work = log.scratch();

    let repo = log.dir.repo();
    let (_daemon, port) = git_daemon(repo.parent().expect("data dir"));
    let repo_name = repo
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let http_port = git_http(repo.parent().expect("data dir"));
    let sources = [
        ("http", log.url()),
        (
            "git-http",
            format!("git+http://127.0.0.1:{http_port}/{repo_name}"),
        ),
        (
            "git-daemon",
            format!("git+git://127.0.0.1:{port}/{repo_name}"),
        ),
        ("git-file", format!("git+file://{}", repo.display())),
    ];
    let mut dirs = Vec::new();
    for (name, from) in &sources {
        let dir = work.join(format!("mirror-{name}"));
        assert_exit(&mirror(&client, from, &dir), 0, &format!("mirror {name}"));
        dirs.push(dir);
    }
    // The copies are byte for byte what the log serves.
    for dir in &dirs {
        assert_eq!(
            std::fs::read(dir.join("releases/checkpoint")).expect("checkpoint"),
            log.get("/releases/checkpoint")
        );
    }

    // Grow the release log past its first full tile and bundle (256 entries), then update
    // every mirror: the rounds are incremental, and the first bundle's known prefix is checked.
    for i in 0..300 {
        log.publish(
            "example/os",
            &format!("1.{}", i + 1),
            format!("{i}\n").as_bytes(),
        );
    }
    let (last, _) = log.publish("example/os", "2.0", b"two\n");
    for ((name, from), dir) in sources.iter().zip(&dirs) {
        assert_exit(&mirror(&client, from, dir), 0, &format!("update {name}"));
        assert_eq!(
            std::fs::read(dir.join("releases/checkpoint")).expect("checkpoint"),
            log.get("/releases/checkpoint"),
            "{name}"
        );
        let server = Server::start_mirror(dir).unwrap_or_else(|f| panic!("{f}"));
        for artifact in [&first, &last] {
            assert_exit(
                &verify_against(&server.base_url(), &log, artifact),
                0,
                &format!("verify against cairn serve --mirror ({name})"),
            );
        }
        // Read-only: a submission is refused.
        let http = Http::new();
        let reply = http.must_post(&format!("{}/releases/add", server.base_url()), b"x");
        assert_eq!(reply.status, 405, "{name}");
        let get = |path: &str| {
            http.must_get(&format!("{}{path}", server.base_url()))
                .status
        };
        assert_eq!(get("/releases/tile/0/x001"), 400, "{name}: not a tile path");
        assert_eq!(get("/releases/tile/0/999"), 404, "{name}: no such tile");
        assert_eq!(
            get("/releases/lookup/name/example/os/1.0"),
            404,
            "{name}: no lookups"
        );
        assert_eq!(get("/releases/tile/0/000"), 200, "{name}: full tile");
    }

    // nginx serving the git daemon mirror's directory as plain files.
    let (_nginx, port) = nginx(&dirs[2], &work.join("nginx"));
    let url = format!("http://127.0.0.1:{port}");
    assert_exit(
        &verify_against(&url, &log, &last),
        0,
        "verify against nginx",
    );
    assert_exit(
        &verify_against(&url, &log, &first),
        0,
        "verify against nginx",
    );
}

#[test]
fn a_tampered_or_inconsistent_upstream_is_refused_and_the_mirror_keeps_its_state() {
    let mut log = TestLog::start();
    let (first, _) = log.publish("example/os", "1.0", b"one\n");
    let fork = log.files.path().join("fork-data");
    log.copy_data(&fork);
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let dir = log.scratch().join("mirror");
    assert_exit(&mirror(&client, &log.url(), &dir), 0, "first mirror round");
    let held = std::fs::read(dir.join("releases/checkpoint")).expect("checkpoint");
    log.publish("example/os", "1.1", b"one more\n");

    for (what, target) in [
        ("entry bundle", "/releases/tile/entries/"),
        ("hash tile", "/releases/tile/0/"),
    ] {
        let evil = TinyHttp::start(mitm_paths(log.url(), move |path, mut body| {
            if path.starts_with(target) && body.len() > 40 {
                body[40] ^= 1;
            }
            body
        }));
        let out = mirror(&client, &evil.url(), &dir);
        assert_exit(&out, 3, &format!("tampered {what}"));
        assert!(
            text(&out.stderr).contains("keeps its last verified state"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(
            std::fs::read(dir.join("releases/checkpoint")).expect("checkpoint"),
            held,
            "{what}: the mirror's checkpoint is untouched"
        );
        assert!(
            !dir.join(".cairn-staging").exists(),
            "{what}: no staging left"
        );
        let server = Server::start_mirror(&dir).unwrap_or_else(|f| panic!("{f}"));
        assert_exit(
            &verify_against(&server.base_url(), &log, &first),
            0,
            &format!("{what}: the mirror still serves its verified state"),
        );
    }

    // The fork logs a different 1.1: the same key signs another tree of size 2.
    let fork_server = Server::start(&fork, &[]).unwrap_or_else(|f| panic!("{f}"));
    let forked = sign(
        &release_text("example/os", "1.1", &[("image.img", b"forked\n")]),
        &[&log.release],
    );
    Http::new()
        .must_post(&format!("{}/releases/add", fork_server.base_url()), &forked)
        .expect_ok("logging the fork's release");
    assert_exit(&mirror(&client, &log.url(), &dir), 0, "honest update");
    let out = mirror(&client, &fork_server.base_url(), &dir);
    assert_exit(&out, 4, "inconsistent upstream");
    assert_eq!(
        std::fs::read(dir.join("releases/checkpoint")).expect("checkpoint"),
        log.get("/releases/checkpoint"),
        "the mirror keeps the log's history"
    );
    let evidence: Vec<_> = std::fs::read_dir(dir.join(".cairn-mirror/evidence"))
        .expect("evidence dir")
        .collect();
    assert_eq!(evidence.len(), 1);
}

/// A git upstream whose tree nests deeper than a log's layout (what an attacker would use to
/// exhaust the mirror's stack, or to multiply paths with one shared subtree) is refused before
/// anything is read from it, and nothing is written to the mirror's directory.
#[test]
fn a_git_upstream_nested_deeper_than_a_log_is_refused() {
    let log = TestLog::start();
    log.publish("example/os", "1.0", b"one\n");
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let work = log.scratch();
    let evil = work.join("evil.git");
    let from = log.dir.repo().display().to_string();
    let to = evil.display().to_string();
    git_at(&work, &["clone", "--quiet", "--bare", &from, &to]);
    commit_files_on_branch(
        &evil,
        &work,
        &[("releases/a/b/c/d/e/f/g/h/i/j/deep", b"x\n")],
        "a tree deeper than any log's",
    );
    let dir = work.join("mirror");
    let out = mirror(&client, &format!("git+file://{}", evil.display()), &dir);
    assert_exit(&out, 3, "a tree deeper than a log's layout");
    assert!(
        text(&out.stderr).contains("nests deeper than a log's layout"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.join("releases/checkpoint").exists());
}

/// A git upstream that accepts the connection and then says nothing cannot hold the mirror
/// forever: after `--fetch-timeout` it ends with exit 1 and a message, its copy unchanged.
#[test]
fn a_silent_git_upstream_is_given_up_after_the_fetch_timeout() {
    let log = TestLog::start();
    log.publish("example/os", "1.0", b"one\n");
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let dir = log.scratch().join("mirror");
    assert_exit(&mirror(&client, &log.url(), &dir), 0, "first mirror round");
    let held = std::fs::read(dir.join("releases/checkpoint")).expect("checkpoint");

    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let accepted = std::thread::spawn(move || silent.accept().map(|(conn, _)| conn));
    let to = dir.display().to_string();
    let from = format!("git+git://127.0.0.1:{port}/log.git");
    let started = Instant::now();
    let out = client.cairn(
        &["mirror"],
        &[
            "--upstream",
            &from,
            "--mirror-dir",
            &to,
            "--once",
            "--fetch-timeout",
            "1s",
        ],
    );
    let took = started.elapsed();
    assert_exit(&out, 1, "silent upstream");
    assert!(
        text(&out.stderr).contains("did not finish within"),
        "{}",
        text(&out.stderr)
    );
    assert!(took < Duration::from_secs(30), "gave up after {took:?}");
    assert_eq!(
        std::fs::read(dir.join("releases/checkpoint")).expect("checkpoint"),
        held,
        "the copy is unchanged"
    );
    drop(accepted.join().expect("accept thread"));
}

/// Copies `artifact` into a directory of its own, without its `.tlog-proof`: what a user who
/// downloaded only the image from a mirror site has.
fn without_proof(artifact: &Path, work: &Path) -> PathBuf {
    let dir = work.join(format!(
        "download-{}",
        artifact.file_name().expect("name").to_string_lossy()
    ));
    std::fs::create_dir_all(&dir).expect("download dir");
    let to = dir.join(artifact.file_name().expect("name"));
    std::fs::copy(artifact, &to).expect("copy artifact");
    to
}

/// Through `cairn serve --mirror` and through nginx serving a `cairn mirror` directory, a user
/// with only the image verifies it (the digest lookup is a file the mirror wrote), a deprecated
/// release is refused under `--refuse-deprecated` (the deprecation lookup is a file too), and
/// the mirror's `update-latest.txt` is a channel that agrees with it. The mirror's `--json`
/// prints one object per round, and `serve --mirror` answers its round metrics.
#[test]
fn a_mirror_answers_lookups_deprecations_and_update_latest_like_the_log() {
    let log = TestLog::start();
    let (old, _) = log.publish("example/os", "1.0", b"one\n");
    // A second name (the release key's scope is `example/*`; names nested under another name
    // are covered by the unit tests of `cairn_verifier::lookup`).
    let (nested, _) = log.publish("example/tools", "1.0-t", b"tools one\n");
    let dep = sign(&deprecation_text("example/os", "1.0"), &[&log.release]);
    log.post("releases", &dep).expect("deprecate 1.0");
    let (current, _) = log.publish("example/os", "2.0", b"two\n");
    let client = Client::new();
    client.trust(&log.url(), &log, &[]);
    let work = log.scratch();
    let dir = work.join("mirror");
    let to = dir.display().to_string();
    let out = client.cairn(
        &["mirror"],
        &[
            "--upstream",
            &log.url(),
            "--mirror-dir",
            &to,
            "--once",
            "--json",
        ],
    );
    assert_exit(&out, 0, "mirror --json");
    let rounds: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(rounds.len(), 1, "{}", text(&out.stdout));
    assert_eq!(rounds[0]["outcome"], "ok");
    assert_eq!(rounds[0]["releases_size"], 4);
    assert_eq!(rounds[0]["new_entries"], 4);
    // The static lookups answer what the log server answers for the same paths.
    for path in [
        "/releases/lookup/name/example/os/_release/2.0",
        "/releases/lookup/name/example/os/_deprecations/1.0",
        "/releases/lookup/name/example/os/_versions",
        "/releases/lookup/name/example/tools/_versions",
        "/releases/update-latest.txt",
    ] {
        assert_eq!(
            std::fs::read(dir.join(&path[1..])).expect(path),
            log.get(path),
            "{path}"
        );
    }
    assert_eq!(
        log.get("/releases/lookup/name/example/os/_versions"),
        b"1.0 0\n2.0 3\n"
    );

    let served = Server::start_mirror(&dir).unwrap_or_else(|f| panic!("{f}"));
    let (_nginx, port) = nginx(&dir, &work.join("nginx"));
    let metrics = Http::new().must_get(&format!("{}/metrics", served.base_url()));
    assert_eq!(metrics.status, 200);
    assert!(
        String::from_utf8_lossy(&metrics.body)
            .contains("cairn_mirror_rounds_total{outcome=\"ok\"} 1"),
        "{}",
        String::from_utf8_lossy(&metrics.body)
    );
    for (kind, url) in [
        ("serve --mirror", served.base_url()),
        ("nginx", format!("http://127.0.0.1:{port}")),
    ] {
        let user = Client::new();
        user.trust(&url, &log, &[]);
        for artifact in [&current, &nested] {
            let lone = without_proof(artifact, &work.join(kind.replace(' ', "-")));
            let out = user.verify(&lone, &["--refuse-deprecated"]);
            assert_exit(&out, 0, &format!("{kind}: verify without a proof file"));
        }
        let lone = without_proof(&old, &work.join(format!("{}-old", kind.replace(' ', "-"))));
        let out = user.verify(&lone, &[]);
        assert_exit(&out, 0, &format!("{kind}: deprecated, warning only"));
        assert!(
            text(&out.stdout).contains("DEPRECATED"),
            "{}",
            text(&out.stdout)
        );
        assert_refused(
            &user.verify(&lone, &["--refuse-deprecated", "--json"]),
            3,
            "deprecation",
            &format!("{kind}: --refuse-deprecated through the mirror"),
        );
        let channel = format!("url:{url}/releases/update-latest.txt");
        let out = user.verify(&current, &["--channel", &channel]);
        assert_exit(&out, 0, &format!("{kind}: update-latest.txt channel"));
        assert!(
            text(&out.stdout).contains("agrees with the log"),
            "{}",
            text(&out.stdout)
        );
    }
}

/// A copy that answers no lookups (static files over a plain checkout of the log's branch):
/// without a proof file the client says the server answers no lookups and asks for the proof
/// file, never "not logged"; with the proof file the deprecation check is reported skipped, and
/// `--refuse-deprecated` fails instead of passing.
#[test]
fn a_copy_without_lookups_asks_for_the_proof_file_and_never_passes_a_deprecation_check() {
    let log = TestLog::start();
    let (artifact, _) = log.publish("example/os", "1.0", b"one\n");
    let work = log.scratch();
    let checkout = work.join("checkout");
    let from = log.dir.repo().display().to_string();
    let to = checkout.display().to_string();
    git_at(&work, &["clone", "--quiet", &from, &to]);
    assert!(checkout.join("releases/checkpoint").exists());
    let plain = TinyHttp::start(files(checkout));
    let client = Client::new();
    client.trust(&plain.url(), &log, &[]);

    let lone = without_proof(&artifact, &work);
    let out = client.verify(&lone, &[]);
    assert_exit(&out, 3, "no proof file, no lookups");
    let err = text(&out.stderr);
    assert!(err.contains("answers no lookups"), "{err}");
    assert!(err.contains(".tlog-proof"), "{err}");
    assert!(!err.contains("not logged"), "{err}");

    let proof = proof_path(&artifact).display().to_string();
    let out = client.verify(&artifact, &["--proof", &proof, "--json"]);
    assert_exit(&out, 0, "with the proof file");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let dep = json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["check"] == "deprecation")
        .expect("a deprecation check")
        .clone();
    assert_eq!(dep["status"], "skip", "{dep}");
    let out = client.verify(&artifact, &["--proof", &proof]);
    assert!(
        text(&out.stdout).contains("deprecation not checked"),
        "{}",
        text(&out.stdout)
    );
    assert_refused(
        &client.verify(
            &artifact,
            &["--proof", &proof, "--refuse-deprecated", "--json"],
        ),
        3,
        "deprecation",
        "--refuse-deprecated without lookups",
    );
}
