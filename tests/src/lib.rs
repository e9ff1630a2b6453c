//! Helpers for Cairn's end-to-end tests, which start the real `cairn` binary on loopback.
//!
//! - [`process`]: find the binary, `cairn init` a temporary data directory, run `cairn serve` on
//!   port 0 and parse its address from stderr; SIGKILL it on demand or on drop.
//! - [`http`]: a blocking HTTP client that returns refusals as data.
//! - [`fixtures`]: deterministic keys; genesis, key events and releases built with the
//!   verifier's entry builders.
//! - [`dns`]: a real DNS server (`dnsmasq`) on loopback serving the TXT records a test chooses.
//! - [`git`]: the real `git` binary, to clone the repository or tamper with it.
//! - [`log`]: the client's side: verified checkpoints, tiles authenticated against them, entry
//!   bundles, `.tlog-proof` files and consistency proofs.
//!
//! The binary must be built first: `cargo build -p cairn-cli` (or set `CAIRN_BIN`).

pub mod dns;
pub mod fixtures;
pub mod git;
pub mod http;
pub mod log;
pub mod process;

use std::time::{Duration, Instant};

use cairn_verifier::checkpoint::VerifiedCheckpoint;

use crate::http::{Http, Reply};
use crate::log::{Log, LogView};
use crate::process::{LogDir, Server};

/// A log made by `cairn init` and served by `cairn serve`.
#[derive(Debug)]
pub struct TestLog {
    /// The data directory (kept for restarts).
    pub dir: LogDir,
    /// The running server.
    pub server: Server,
    /// A client for the test's own requests.
    pub http: Http,
}

impl TestLog {
    /// `cairn init` with `genesis` (prefix [`fixtures::PREFIX`]), then `cairn serve` with
    /// `extra` arguments.
    pub fn start(genesis: &[u8], extra: &[&str]) -> TestLog {
        let dir = LogDir::init(fixtures::PREFIX, genesis);
        let server = dir.serve(extra);
        TestLog {
            dir,
            server,
            http: Http::new(),
        }
    }

    /// Kills the server with SIGKILL and starts a new one on the same data directory.
    pub fn restart(&mut self, extra: &[&str]) {
        self.server.sigkill();
        self.server = self.dir.serve(extra);
    }

    /// A client view of `log` on the running server.
    pub fn view(&self, log: Log) -> LogView {
        LogView::http(
            log,
            self.dir.prefix(),
            self.dir.log_verifier(log.name()),
            &self.server.base_url(),
        )
    }

    /// `POST /<log>/add` with `entry`.
    pub fn submit(&self, log: Log, entry: &[u8]) -> Reply {
        self.http
            .must_post(&self.server.url(&format!("/{}/add", log.name())), entry)
    }

    /// Submits `entry`, requires 200 and a valid `.tlog-proof` for exactly that entry, and
    /// returns its index and the proof's checkpoint.
    pub fn publish(&self, log: Log, entry: &[u8]) -> (u64, VerifiedCheckpoint) {
        let reply = self.submit(log, entry);
        assert_eq!(
            reply.status,
            200,
            "POST /{}/add refused a valid entry: {}\nentry:\n{}\nserver stderr:\n{}",
            log.name(),
            reply.text(),
            String::from_utf8_lossy(entry),
            self.server.stderr()
        );
        self.view(log).verify_proof(&reply.body, entry)
    }

    /// `GET path` on the server.
    pub fn get(&self, path: &str) -> Reply {
        self.http.must_get(&self.server.url(path))
    }
}

/// Asserts that `reply` is a refusal with `status` whose body is one line of text (the reason
/// and a newline), and returns the reason.
#[track_caller]
pub fn assert_refused(reply: &Reply, status: u16, what: &str) -> String {
    let text = reply.text();
    assert_eq!(
        reply.status, status,
        "{what}: expected {status}, got {} with body {text:?}",
        reply.status
    );
    let reason = text.strip_suffix('\n').unwrap_or_else(|| {
        panic!("{what}: a refusal body is one line ending in a newline, got {text:?}")
    });
    assert!(
        !reason.is_empty() && !reason.contains('\n'),
        "{what}: a refusal body is exactly one non-empty line, got {text:?}"
    );
    reason.to_owned()
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
#[track_caller]
pub fn poll_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = f() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A small deterministic PRNG (xorshift64*) for choosing kill moments. The seed comes from
/// `CAIRN_TEST_SEED` when set, else from the clock, and is printed so a failure can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `CAIRN_TEST_SEED` or the clock; prints the seed on stderr.
    pub fn from_env_or_clock(test: &str) -> Rng {
        let seed = std::env::var("CAIRN_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| u64::try_from(d.as_nanos() & u128::from(u64::MAX)).unwrap_or(1))
                    .unwrap_or(1)
            });
        eprintln!("{test}: CAIRN_TEST_SEED={seed}");
        Rng(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `lo..hi` (`lo < hi`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// The `main` of a `harness = false` benchmark binary (`tests/benches/NAME.rs`): parses the
/// options (`Ok(None)` means "not asked to run", as under `cargo test --benches`, and prints
/// that it was skipped), runs it, and exits 2 on a usage error or 1 when the run failed.
#[allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
pub fn bench_main<O>(
    name: &str,
    parse_options: fn() -> Result<Option<O>, String>,
    run: fn(&O) -> Result<(), String>,
) {
    let options = match parse_options() {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!(
                "{name} benchmark skipped: run it with `cargo bench -p cairn-tests --bench {name}`"
            );
            return;
        }
        Err(e) => {
            eprintln!("usage error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&options) {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}
