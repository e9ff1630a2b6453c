//! The log server attacked from outside (issue 12): idle and slow-header sockets against a
//! server with a small file-descriptor limit, HTTP/2 prior knowledge, an oversized declared
//! body with `Expect: 100-continue`, rate-limit budgets spent by replays or dodged through a
//! forged `X-Forwarded-For`, and a backdated key. Every request is written by hand on a raw
//! TCP socket, as an attacker would.
//!
//! Build the binary first: `cargo build -p cairn-cli`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use cairn_tests::fixtures::{Keys, add_key_event, key, release, sign};
use cairn_tests::log::Log;
use cairn_tests::process::{LogDir, Server, cairn_bin};
use cairn_tests::{TestLog, assert_refused};

/// Sends `request` on a fresh connection and reads the reply until the server closes it or
/// `timeout` passes; returns what arrived.
fn raw(addr: SocketAddr, request: &[u8], timeout: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    stream.write_all(request).expect("write");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    reply
}

/// `POST /<log>/add` with `body` and extra header lines, on its own connection; the status.
fn post(addr: SocketAddr, log: &str, headers: &str, body: &[u8]) -> (u16, String) {
    let mut request = format!(
        "POST /{log}/add HTTP/1.1\r\nHost: cairn\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let reply = raw(addr, &request, Duration::from_secs(60));
    let text = String::from_utf8_lossy(&reply).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP/1.1 reply: {text:?}"));
    (status, text)
}

fn get_status(addr: SocketAddr, path: &str) -> u16 {
    let reply = raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: cairn\r\nConnection: close\r\n\r\n").as_bytes(),
        Duration::from_secs(60),
    );
    let text = String::from_utf8_lossy(&reply);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: not an HTTP/1.1 reply: {text:?}"))
}

/// A log with the release key added (before any release, so `from 0` is not backdated).
fn log_with_release_key(extra: &[&str]) -> (TestLog, Keys) {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), extra);
    log.publish(Log::Keys, &keys.add_release_key());
    (log, keys)
}

/// 300 idle connections and 200 that send their request head one byte a second, against a
/// server whose open-file limit is 256 (soft and hard), held for 20 s: reads and appends keep
/// working during the attack and after it, the log never turns "broken until restart".
/// Before the fix the server accepted sockets until EMFILE, kept them forever, and the next
/// commit failed for want of a descriptor.
#[test]
fn idle_and_slow_header_sockets_do_not_stop_a_server_with_256_descriptors() {
    let keys = Keys::new();
    let dir = LogDir::init(cairn_tests::fixtures::PREFIX, &keys.genesis());
    let mut command = Command::new("bash");
    command.arg("-c").arg("ulimit -n 256 && exec \"$0\" \"$@\"");
    command.arg(cairn_bin());
    command.env("NO_COLOR", "1").env_remove("RUST_LOG");
    command.args([
        "serve",
        "--data",
        &dir.data().display().to_string(),
        "--listen",
        "127.0.0.1:0",
        "--batch-interval",
        "5ms",
        "--rate-limit-address",
        "0",
        "--rate-limit-key",
        "0",
        "--header-timeout",
        "2s",
    ]);
    let server = Server::spawn_command(command).unwrap_or_else(|f| panic!("{f}"));
    let addr = server.addr();
    assert!(
        server.stderr().contains("open-file limit 256"),
        "the limit was not applied:\n{}",
        server.stderr()
    );
    let (status, text) = post(addr, "keys", "", &keys.add_release_key());
    assert_eq!(status, 200, "{text}");

    let attack_for = Duration::from_secs(20);
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).expect("idle connection"));
    }
    let slow: Vec<_> = (0..200)
        .map(|i| {
            std::thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(addr) else {
                    return;
                };
                let head = format!("GET /releases/checkpoint HTTP/1.1\r\nX-Slow-{i}: ");
                let _ = s.write_all(head.as_bytes());
                while started.elapsed() < attack_for {
                    if s.write_all(b"a").is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
        })
        .collect();

    // During the attack: a read and an append, each answered (the client waits at most a
    // minute; what it may wait for is the attackers ahead of it timing out).
    std::thread::sleep(Duration::from_secs(1));
    let during = Instant::now();
    assert_eq!(get_status(addr, "/releases/checkpoint"), 200);
    let (status, text) = post(
        addr,
        "releases",
        "",
        &release("example/app", "1.0", &keys.release),
    );
    assert_eq!(
        status,
        200,
        "append during the attack: {text}\n{}",
        server.stderr()
    );
    let waited = during.elapsed();

    for t in slow {
        t.join().expect("slow sender");
    }
    drop(idle);
    // After: the log works at once, and is healthy.
    let (status, text) = post(
        addr,
        "releases",
        "",
        &release("example/app", "2.0", &keys.release),
    );
    assert_eq!(
        status,
        200,
        "append after the attack: {text}\n{}",
        server.stderr()
    );
    assert_eq!(get_status(addr, "/healthz"), 200);
    assert_eq!(get_status(addr, "/releases/checkpoint"), 200);
    eprintln!("read and append during the attack took {waited:?}");
}

/// HTTP/1.1 only (docs/decisions.md): the HTTP/2 connection preface is refused, never
/// answered with HTTP/2 frames.
#[test]
fn http2_prior_knowledge_is_refused() {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), &[]);
    let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // An empty SETTINGS frame, as every HTTP/2 client sends next.
    preface.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let reply = raw(log.server.addr(), &preface, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || text.starts_with("HTTP/1.1 4") || text.starts_with("HTTP/1.1 5"),
        "the server spoke HTTP/2 (or something else): {reply:?}"
    );
    // The server is still fine.
    assert_eq!(get_status(log.server.addr(), "/healthz"), 200);
}

/// A declared Content-Length over the entry limit is refused with 413 before the body is
/// read, and the client that asked `Expect: 100-continue` never gets `100 Continue`.
#[test]
fn an_oversized_declared_body_is_refused_without_100_continue() {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), &[]);
    let request = "POST /releases/add HTTP/1.1\r\nHost: cairn\r\nContent-Length: 10000000\r\n\
                   Expect: 100-continue\r\n\r\n";
    let reply = raw(
        log.server.addr(),
        request.as_bytes(),
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "expected 413 first: {text:?}"
    );
    assert!(!text.contains("100 Continue"), "{text:?}");
    assert!(text.contains("larger than 65535 bytes"), "{text:?}");
    // The same without Expect, body never sent: refused at once, not after a body timeout.
    let started = Instant::now();
    let reply = raw(
        log.server.addr(),
        b"POST /keys/add HTTP/1.1\r\nHost: cairn\r\nContent-Length: 70000\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 413"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A body that does not arrive within `--body-timeout` is refused with 408.
#[test]
fn a_body_that_trickles_is_cut_off() {
    let keys = Keys::new();
    let log = TestLog::start(&keys.genesis(), &["--body-timeout", "2s"]);
    let started = Instant::now();
    let reply = raw(
        log.server.addr(),
        b"POST /releases/add HTTP/1.1\r\nHost: cairn\r\nContent-Length: 100\r\n\r\nonly this",
        Duration::from_secs(20),
    );
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Replaying an entry that is already logged (anyone can: it is public) answers with its proof
/// and does not spend the budget of the key that signed it.
#[test]
fn replays_do_not_spend_the_signers_budget() {
    let (log, keys) = log_with_release_key(&["--rate-limit-key", "1"]);
    let addr = log.server.addr();
    // The burst is 2: the first release takes one token.
    let first = release("example/app", "1.0", &keys.release);
    let (status, proof) = post(addr, "releases", "", &first);
    assert_eq!(status, 200, "{proof}");
    for n in 0..6 {
        let (status, text) = post(addr, "releases", "", &first);
        assert_eq!(status, 200, "replay {n} was refused: {text}");
    }
    // The key still has its second token for a new release.
    let (status, text) = post(
        addr,
        "releases",
        "",
        &release("example/app", "2.0", &keys.release),
    );
    assert_eq!(status, 200, "a new release after the replays: {text}");
    // New releases in quick succession still reach the limit: it works, it is just not
    // spent by replays.
    let statuses: Vec<u16> = (3..13)
        .map(|v| {
            post(
                addr,
                "releases",
                "",
                &release("example/app", &format!("{v}.0"), &keys.release),
            )
            .0
        })
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
}

/// Behind a trusted reverse proxy, the per-address limit counts the address the proxy
/// forwarded; the same header from anyone else is ignored.
#[test]
fn the_per_address_limit_uses_forwarded_addresses_only_from_trusted_proxies() {
    let junk = b"not a note";
    // Burst 2 per address; junk bodies spend tokens (the limit applies before parsing).
    let trusted = TestLog::start(
        &Keys::new().genesis(),
        &[
            "--rate-limit-address",
            "1",
            "--trusted-proxy",
            "127.0.0.0/8",
        ],
    );
    let addr = trusted.server.addr();
    let client_a = "X-Forwarded-For: 203.0.113.1\r\n";
    assert_eq!(post(addr, "releases", client_a, junk).0, 400);
    assert_eq!(post(addr, "releases", client_a, junk).0, 400);
    assert_eq!(post(addr, "releases", client_a, junk).0, 429);
    // Another client behind the same proxy has its own budget, whichever header names it.
    let client_b = "Forwarded: for=198.51.100.7;proto=https\r\n";
    assert_eq!(post(addr, "releases", client_b, junk).0, 400);
    // A client-written first entry cannot dodge the limit: the proxy's entry counts.
    let spoofed = "X-Forwarded-For: 192.0.2.99, 203.0.113.1\r\n";
    assert_eq!(post(addr, "releases", spoofed, junk).0, 429);

    // Without the setting, the header is ignored: every request is the loopback peer's.
    let untrusted = TestLog::start(&Keys::new().genesis(), &["--rate-limit-address", "1"]);
    let addr = untrusted.server.addr();
    for n in 1..=2 {
        let header = format!("X-Forwarded-For: 203.0.113.{n}\r\n");
        assert_eq!(post(addr, "releases", &header, junk).0, 400);
    }
    assert_eq!(
        post(addr, "releases", "X-Forwarded-For: 203.0.113.3\r\n", junk).0,
        429,
        "a forged X-Forwarded-For must not buy a fresh budget"
    );

    // A malformed setting is refused at start with the reason.
    let failure = Server::start(
        &LogDir::init(cairn_tests::fixtures::PREFIX, &Keys::new().genesis()).data(),
        &["--trusted-proxy", "10.0.0.0/40"],
    )
    .expect_err("a bad CIDR block");
    assert!(
        failure.stderr.contains("prefix length must be 0 to 32"),
        "{}",
        failure.stderr
    );
}

/// An `add` whose `from` lies before the release log's size is refused (spec/keylog.md 4.4)
/// with a one-line 422 reason, unless the operator allows it.
#[test]
fn a_backdated_key_is_refused_unless_allowed() {
    for (setting, allowed) in [("refuse", false), ("allow", true)] {
        let (log, keys) = log_with_release_key(&["--backdated-from", setting]);
        log.publish(Log::Releases, &release("example/app", "1.0", &keys.release));
        let b = key("release-b");
        let backdated = sign(&add_key_event(&b, "example/*", 0), &[&keys.root]);
        let reply = log.submit(Log::Keys, &backdated);
        if allowed {
            assert_eq!(reply.status, 200, "{}", reply.text());
            continue;
        }
        let reason = assert_refused(&reply, 422, "a backdated add");
        assert!(
            reason.contains("from 0 lies before the release log's size 1"),
            "{reason}"
        );
        // The same key from the current size is accepted.
        let current = sign(&add_key_event(&b, "example/*", 1), &[&keys.root]);
        log.publish(Log::Keys, &current);
    }
}
