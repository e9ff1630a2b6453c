//! Running the real `cairn` binary: `cairn init` into a temporary data directory and `cairn serve`
//! on an ephemeral loopback port, with its stderr kept for failure messages.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use cairn_verifier::note::Ed25519Verifier;

/// How long a server may take to start listening (or to refuse to start). Generous: the suite
/// runs debug builds on two shared cores.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The line `cairn serve` prints on stderr once it accepts connections.
pub const LISTENING_MARKER: &str = "listening on http://";

/// The `cairn` binary under test: `$CAIRN_BIN`, else `target/debug/cairn` beside the test
/// executable (which lives in `target/debug/deps/`).
pub fn cairn_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CAIRN_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "CAIRN_BIN={} is not a file: build it with `cargo build -p cairn-cli`",
            path.display()
        );
        return path;
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("cairn"))
        .expect("the test executable lives in target/<profile>/deps/");
    assert!(
        candidate.is_file(),
        "the cairn binary is not at {}: run `cargo build -p cairn-cli` first (same profile as the \
         tests), or set CAIRN_BIN to its path",
        candidate.display()
    );
    candidate
}

/// A `cairn` command with a quiet, colourless environment.
pub fn cairn() -> Command {
    let mut cmd = Command::new(cairn_bin());
    cmd.env("NO_COLOR", "1").env_remove("RUST_LOG");
    cmd
}

/// Runs `cairn` with `args` to completion, with a timeout, and returns its output.
pub fn run_cairn(args: &[&std::ffi::OsStr]) -> Output {
    let mut child = cairn()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cairn");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if child.try_wait().expect("poll cairn").is_some() {
            return child.wait_with_output().expect("collect cairn output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect cairn output");
            panic!(
                "cairn {args:?} did not finish within {START_TIMEOUT:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A data directory made by `cairn init`, in a temporary directory removed on drop.
#[derive(Debug)]
pub struct LogDir {
    dir: tempfile::TempDir,
    prefix: String,
    /// What `cairn init` printed: the per-origin verifier keys, release log first.
    vkeys: [String; 2],
    /// A file holding them, as `--log-key` takes it.
    vkeys_file: String,
}

impl LogDir {
    /// `cairn init --data DIR --origin prefix --genesis <genesis>`; panics with the output if
    /// it fails or does not print the two per-origin verifier keys.
    pub fn init(prefix: &str, genesis: &[u8]) -> LogDir {
        LogDir::init_with(prefix, genesis, &[])
    }

    /// Like [`LogDir::init`], with `--log-key <secret>` for each of `log_keys`.
    pub fn init_with(prefix: &str, genesis: &[u8], log_keys: &[&Path]) -> LogDir {
        let dir = tempfile::tempdir().expect("temporary directory");
        let out = init_raw(dir.path(), prefix, genesis, log_keys);
        assert!(
            out.status.success(),
            "cairn init failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).expect("init prints UTF-8");
        let lines: Vec<&str> = stdout.lines().collect();
        let [releases, keys] = lines.as_slice() else {
            panic!("cairn init prints the log's two per-origin verifier keys; got {stdout:?}");
        };
        for (vkey, log) in [(releases, "releases"), (keys, "keys")] {
            let verifier = Ed25519Verifier::from_vkey(vkey)
                .unwrap_or_else(|e| panic!("cairn init printed {vkey:?}, not a vkey: {e}"));
            assert_eq!(&verifier.to_vkey(), vkey, "the printed vkey is canonical");
            assert_eq!(
                cairn_verifier::note::NoteVerifier::name(&verifier).as_str(),
                format!("{prefix}/{log}"),
                "each log's key is named after its origin"
            );
        }
        let vkeys_file = dir.path().join("log.vkeys");
        std::fs::write(&vkeys_file, &stdout).expect("write the verifier keys");
        LogDir {
            prefix: prefix.to_owned(),
            vkeys: [(*releases).to_owned(), (*keys).to_owned()],
            vkeys_file: vkeys_file.to_str().expect("UTF-8 temp path").to_owned(),
            dir,
        }
    }

    /// The data directory (`--data`).
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The bare git repository inside the data directory.
    pub fn repo(&self) -> PathBuf {
        self.data().join("repo.git")
    }

    /// A scratch directory beside the data directory, removed with it.
    pub fn scratch(&self) -> PathBuf {
        let path = self.dir.path().join("scratch");
        std::fs::create_dir_all(&path).expect("scratch directory");
        path
    }

    /// The origin prefix given to `cairn init`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The file holding the verifier keys `cairn init` printed (what `--log-key` takes).
    pub fn log_vkey(&self) -> &str {
        &self.vkeys_file
    }

    /// The verifier keys `cairn init` printed, one a line, as `cairn-log.vkey` holds them.
    pub fn log_vkeys_text(&self) -> String {
        format!("{}\n{}\n", self.vkeys[0], self.vkeys[1])
    }

    /// The log's verifier key for `log` (`"releases"` or `"keys"`), named after its origin.
    pub fn log_verifier(&self, log: &str) -> Ed25519Verifier {
        let vkey = if log == "keys" {
            &self.vkeys[1]
        } else {
            &self.vkeys[0]
        };
        let verifier = Ed25519Verifier::from_vkey(vkey).expect("checked at init");
        assert_eq!(
            cairn_verifier::note::NoteVerifier::name(&verifier).as_str(),
            format!("{}/{log}", self.prefix)
        );
        verifier
    }

    /// Starts `cairn serve` on this data directory with unlimited rates and a short batch
    /// interval, plus `extra` arguments; panics with its stderr if it does not start.
    pub fn serve(&self, extra: &[&str]) -> Server {
        Server::start(&self.data(), extra).unwrap_or_else(|f| panic!("{f}"))
    }
}

/// Runs `cairn init` into `parent/data`, returning its output whatever it is.
pub fn init_raw(parent: &Path, prefix: &str, genesis: &[u8], log_keys: &[&Path]) -> Output {
    let genesis_path = parent.join("genesis.note");
    std::fs::write(&genesis_path, genesis).expect("write genesis");
    let data = parent.join("data");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "init".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--origin".as_ref(),
        prefix.as_ref(),
        "--genesis".as_ref(),
        genesis_path.as_os_str(),
    ];
    for key in log_keys {
        args.push("--log-signing-key".as_ref());
        args.push(key.as_os_str());
    }
    run_cairn(&args)
}

#[derive(Debug, Default)]
struct StderrState {
    text: String,
    closed: bool,
}

/// The stderr of a child, drained by a thread into a buffer.
#[derive(Debug, Clone, Default)]
struct StderrLog(Arc<(Mutex<StderrState>, Condvar)>);

impl StderrLog {
    fn spawn_drain(&self, stderr: std::process::ChildStderr) {
        let log = self.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let (lock, cvar) = &*log.0;
                        let mut state = lock.lock().expect("stderr buffer");
                        state.text.push_str(&String::from_utf8_lossy(&line));
                        cvar.notify_all();
                    }
                }
            }
            let (lock, cvar) = &*log.0;
            lock.lock().expect("stderr buffer").closed = true;
            cvar.notify_all();
        });
    }

    fn text(&self) -> String {
        self.0.0.lock().expect("stderr buffer").text.clone()
    }

    /// Waits until `find` finds something in the text, stderr closes, or the deadline passes.
    fn wait_for<T>(&self, deadline: Instant, find: impl Fn(&str) -> Option<T>) -> Option<T> {
        let (lock, cvar) = &*self.0;
        let mut state = lock.lock().expect("stderr buffer");
        loop {
            if let Some(found) = find(&state.text) {
                return Some(found);
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = cvar
                .wait_timeout(state, deadline - now)
                .expect("stderr buffer")
                .0;
        }
    }
}

/// Why `cairn serve` did not start.
#[derive(Debug)]
pub struct StartFailure {
    /// The exit status, if it exited (`None`: it hung and was killed).
    pub status: Option<ExitStatus>,
    /// Everything it wrote on stderr.
    pub stderr: String,
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "cairn serve exited ({status}) before listening")?,
            None => write!(f, "cairn serve did not listen within {START_TIMEOUT:?}")?,
        }
        write!(f, "; stderr:\n{}", self.stderr)
    }
}

/// A running `cairn serve`, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    stderr: StderrLog,
}

impl Server {
    /// Starts `cairn serve --data DATA --listen 127.0.0.1:0 --batch-interval 5ms` with both rate
    /// limits off, plus `extra` (later flags override earlier ones only if the CLI allows it, so
    /// tests that set a limit pass it here and it is not repeated).
    pub fn start(data: &Path, extra: &[&str]) -> Result<Server, StartFailure> {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--data".into(),
            data.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        let has = |flag: &str| extra.contains(&flag);
        for (flag, default) in [
            ("--batch-interval", "5ms"),
            ("--rate-limit-address", "0"),
            ("--rate-limit-key", "0"),
            // Most tests add release keys from index 0 after releases exist; the refusal
            // itself is tested with `--backdated-from refuse` (tests/tests/hardening.rs).
            ("--backdated-from", "allow"),
        ] {
            if !has(flag) {
                args.push(flag.into());
                args.push(default.into());
            }
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        Server::spawn(&args)
    }

    /// Starts `cairn serve --mirror DIR --listen 127.0.0.1:0` (a mirror's copy, read-only).
    pub fn start_mirror(dir: &Path) -> Result<Server, StartFailure> {
        let args: Vec<String> = vec![
            "serve".into(),
            "--mirror-dir".into(),
            dir.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        Server::spawn(&args)
    }

    /// Starts `cairn witness --key KEY --data DATA --listen 127.0.0.1:0` with a `--log ORIGIN
    /// VKEY` per entry of `logs`; panics with its stderr if it does not start.
    pub fn witness(key: &Path, data: &Path, logs: &[(&str, &str)]) -> Server {
        let mut args: Vec<String> = vec![
            "witness".into(),
            "--key".into(),
            key.display().to_string(),
            "--data".into(),
            data.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        for (origin, vkey) in logs {
            args.extend([
                "--witness-log".to_owned(),
                (*origin).to_owned(),
                (*vkey).to_owned(),
            ]);
        }
        Server::spawn(&args).unwrap_or_else(|f| panic!("{f}"))
    }

    /// Spawns `cairn ARGS` (a command that prints [`LISTENING_MARKER`] once it accepts
    /// connections) and waits for it to listen.
    pub fn spawn(args: &[String]) -> Result<Server, StartFailure> {
        Server::spawn_with_env(args, &[])
    }

    /// [`Server::spawn`] with extra environment variables (a PKCS#11 module's configuration,
    /// an ssh-agent socket).
    pub fn spawn_with_env(args: &[String], env: &[(&str, &str)]) -> Result<Server, StartFailure> {
        let mut command = cairn();
        command.args(args).envs(env.iter().copied());
        Server::spawn_command(command)
    }

    /// Like [`Server::spawn`], with a command the test built (for example `bash -c 'ulimit -n
    /// 256; exec cairn serve ...'`).
    pub fn spawn_command(mut command: Command) -> Result<Server, StartFailure> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cairn serve");
        let stderr = StderrLog::default();
        stderr.spawn_drain(child.stderr.take().expect("piped stderr"));
        let deadline = Instant::now() + START_TIMEOUT;
        match stderr.wait_for(deadline, parse_listening) {
            Some(addr) => Ok(Server {
                child: Some(child),
                addr,
                stderr,
            }),
            None => {
                // Stderr closed (it exited) or the deadline passed (kill it).
                let status = match child.try_wait().expect("poll cairn serve") {
                    Some(status) => Some(status),
                    None => wait_with_deadline(&mut child, Duration::from_secs(5)),
                };
                if status.is_none() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                // Let the drain thread take the last lines.
                let _ = stderr.wait_for(Instant::now() + Duration::from_secs(2), |_| None::<()>);
                Err(StartFailure {
                    status,
                    stderr: stderr.text(),
                })
            }
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Kills the server with SIGKILL (no chance to clean up) and reaps it.
    pub fn sigkill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` is SIGKILL on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGHUP (a witness re-reads its configuration).
    pub fn sighup(&self) {
        let child = self.child.as_ref().expect("running");
        let status = Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP failed");
    }

    /// Whether the process has exited (it should not, while the test runs).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().expect("poll cairn serve").is_some(),
            None => true,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.sigkill();
    }
}

fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Finds `listening on http://127.0.0.1:PORT` and parses the address.
fn parse_listening(text: &str) -> Option<SocketAddr> {
    let at = text.find(LISTENING_MARKER)? + LISTENING_MARKER.len();
    let rest = &text[at..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    // The address must be followed by something (at least the newline): until then the port
    // may still be arriving.
    if end == rest.len() {
        return None;
    }
    rest[..end].parse().ok()
}

/// Runs `cairn serve` on `data` expecting it to refuse to start: returns its exit status and
/// stderr, and panics if it starts listening instead.
pub fn serve_expecting_refusal(data: &Path) -> (ExitStatus, String) {
    match Server::start(data, &[]) {
        Ok(server) => panic!(
            "cairn serve started on {} although the data directory is bad; stderr:\n{}",
            server.addr(),
            server.stderr()
        ),
        Err(StartFailure {
            status: Some(status),
            stderr,
        }) => (status, stderr),
        Err(f @ StartFailure { status: None, .. }) => panic!("{f}"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_listening;

    #[test]
    fn parses_the_listening_line() {
        let text = "2026 INFO cairn: listening on http://127.0.0.1:40123\n";
        assert_eq!(
            parse_listening(text).map(|a| a.port()),
            Some(40123),
            "plain line"
        );
        assert_eq!(
            parse_listening("listening on http://127.0.0.1:4012"),
            None,
            "incomplete line"
        );
        assert_eq!(
            parse_listening("x listening on http://127.0.0.1:8/ y\n").map(|a| a.port()),
            Some(8)
        );
    }
}
