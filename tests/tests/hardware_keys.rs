//! Keys that never touch the disk (issue 15): every Cairn key in a PKCS#11 token (SoftHSM2) or in
//! ssh-agent (OpenSSH), driven through the real `cairn` binary.
//!
//! - `keys_in_a_token_and_an_agent_end_to_end`: two roots in the token sign the genesis (2-of-2)
//!   and a key event, `init` takes the log key from the token, `serve` signs with it, a witness
//!   whose key is in the token cosigns, a release key held by ssh-agent publishes, and a client
//!   verifies the artifact with a 1-of-1 witness policy.
//! - `refusals_name_the_problem`: wrong PIN, missing object, missing module, a P-256 object, an
//!   agent without the key, a missing agent, and `serve` refusing to start on a wrong PIN.
//! - `token_disappearing_under_the_server_loses_nothing`: the token directory is moved away
//!   under a running server: submissions get 503 and are not logged; nothing acknowledged is
//!   lost; when the directory is back the server signs again by itself.
//!
//! Needs `softhsm2-util` and `pkcs11-tool` (Debian `softhsm2`, `opensc`) and `ssh-agent`,
//! `ssh-add`, `ssh-keygen` (`openssh-client`); `.ci/run` installs them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_tests::fixtures;
use cairn_tests::http::Http;
use cairn_tests::log::{Log, LogView};
use cairn_tests::process::{Server, StartFailure, cairn};
use cairn_verifier::note::{Ed25519Verifier, NoteVerifier as _};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "1234";
const PREFIX: &str = "example.org";

/// A SoftHSM2 token in a temporary directory, and an ssh-agent on a socket in it.
struct Lab {
    dir: tempfile::TempDir,
    agent: Option<Child>,
}

impl Lab {
    fn new() -> Lab {
        for tool in [
            "softhsm2-util",
            "pkcs11-tool",
            "ssh-agent",
            "ssh-add",
            "ssh-keygen",
        ] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                found,
                "{tool} is missing: apt-get install softhsm2 opensc openssh-client (.ci/run does)"
            );
        }
        assert!(
            Path::new(MODULE).is_file(),
            "{MODULE} is missing (softhsm2)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let lab = Lab { dir, agent: None };
        std::fs::create_dir(lab.tokens()).expect("token dir");
        std::fs::write(
            lab.path("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                lab.tokens().display()
            ),
        )
        .expect("softhsm2.conf");
        lab.write_private("pin", &format!("{PIN}\n"));
        lab.tool(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                "cairn",
                "--pin",
                PIN,
                "--so-pin",
                "5678",
            ],
        );
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tokens(&self) -> PathBuf {
        self.path("tokens")
    }

    fn write_private(&self, name: &str, text: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(self.path(name), text).expect("write");
        std::fs::set_permissions(self.path(name), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "SOFTHSM2_CONF".to_owned(),
                self.path("softhsm2.conf").display().to_string(),
            ),
            (
                "SSH_AUTH_SOCK".to_owned(),
                self.path("agent.sock").display().to_string(),
            ),
        ]
    }

    /// `pkcs11:` URI of the object LABEL in the lab's token, PIN from the PIN file.
    fn uri(&self, label: &str) -> String {
        format!(
            "pkcs11:token=cairn;object={label}?module-path={MODULE}&pin-source=file:{}",
            self.path("pin").display()
        )
    }

    /// Runs a helper program with the lab's environment; it must succeed.
    fn tool(&self, program: &str, args: &[&str]) -> Output {
        let out = Command::new(program)
            .args(args)
            .envs(self.env())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `cairn ARGS` in the lab.
    fn cairn(&self, args: &[&str]) -> Output {
        let out = cairn()
            .args(args)
            .envs(self.env())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run cairn");
        eprintln!(
            "=== cairn {args:?} (exit {:?})\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `cairn ARGS`, which must succeed; its stdout, trimmed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cairn(args);
        assert_eq!(out.status.code(), Some(0), "cairn {args:?} failed");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    }

    /// `cairn ARGS`, which must fail with `code` and say `expected` on stderr (on one line).
    fn refused(&self, args: &[&str], code: i32, expected: &str) -> String {
        let out = self.cairn(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "cairn {args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "cairn {args:?}: expected {expected:?} in {stderr}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "one-line error: {stderr}"
        );
        assert!(!stderr.contains("{ "), "debug text in {stderr}");
        stderr
    }

    /// Starts `ssh-agent -D -a SOCKET` and waits for its socket.
    fn start_agent(&mut self) {
        let child = Command::new("ssh-agent")
            .args(["-D", "-a"])
            .arg(self.path("agent.sock"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        self.agent = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.path("agent.sock").exists() {
            assert!(
                Instant::now() < deadline,
                "ssh-agent did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A new ssh-ed25519 key loaded into the agent; the file is deleted afterwards, so the key
    /// lives only in the agent. Returns its public key line.
    fn agent_key(&self, name: &str) -> String {
        let file = self.path(name);
        self.tool(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                name,
                "-f",
                &file.display().to_string(),
            ],
        );
        self.tool("ssh-add", &["-q", &file.display().to_string()]);
        let public = std::fs::read_to_string(format!("{}.pub", file.display())).expect("pub");
        std::fs::remove_file(&file).expect("remove the private key file");
        public.trim().to_owned()
    }

    /// `cairn serve` on DATA with the lab's environment.
    fn serve(&self, data: &Path, extra: &[&str]) -> Result<Server, StartFailure> {
        let mut args: Vec<String> = [
            "serve",
            "--data",
            &data.display().to_string(),
            "--listen",
            "127.0.0.1:0",
            "--batch-interval",
            "5ms",
            "--rate-limit-address",
            "0",
            "--rate-limit-key",
            "0",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Server::spawn_with_env(&args, &env)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
    }
}

fn verifier(vkey: &str) -> Ed25519Verifier {
    Ed25519Verifier::from_vkey(vkey).unwrap_or_else(|e| panic!("{vkey:?}: {e}"))
}

#[test]
fn keys_in_a_token_and_an_agent_end_to_end() {
    let mut lab = Lab::new();
    // Keys made inside the token; `cairn vkey` derives the same verifier key from the token.
    let root1 = lab.ok(&[
        "keygen",
        "--pkcs11",
        &lab.uri("root-1"),
        "--name",
        "example.org/root-1",
    ]);
    let root2 = lab.ok(&[
        "keygen",
        "--pkcs11",
        &lab.uri("root-2"),
        "--name",
        "example.org/root-2",
    ]);
    let releases_vkey = lab.ok(&[
        "keygen",
        "--pkcs11",
        &lab.uri("log"),
        "--name",
        &format!("{PREFIX}/releases"),
    ]);
    let keys_vkey = lab.ok(&[
        "keygen",
        "--pkcs11",
        &lab.uri("log-keys"),
        "--name",
        &format!("{PREFIX}/keys"),
    ]);
    lab.ok(&[
        "keygen",
        "--pkcs11",
        &lab.uri("witness"),
        "--name",
        "witness.example",
    ]);
    assert_eq!(
        lab.ok(&["vkey", &lab.uri("root-1"), "--name", "example.org/root-1"]),
        root1
    );
    assert_eq!(verifier(&root1).name().as_str(), "example.org/root-1");
    // The private keys are sensitive and not extractable: pkcs11-tool cannot read them out.
    let listing = lab.tool(
        "pkcs11-tool",
        &[
            "--module",
            MODULE,
            "--token-label",
            "cairn",
            "--login",
            "--pin",
            PIN,
            "--list-objects",
            "--type",
            "privkey",
        ],
    );
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(listing.contains("label:      root-1"), "{listing}");
    assert!(listing.contains("sensitive"), "{listing}");
    assert!(
        listing.contains("never extractable") || !listing.contains("extractable,"),
        "{listing}"
    );
    // Refused a second key with the same label.
    lab.refused(
        &[
            "keygen",
            "--pkcs11",
            &lab.uri("root-1"),
            "--name",
            "example.org/root-1",
        ],
        1,
        "already holds a key",
    );

    // Genesis: 2-of-2 roots, both in the token.
    let event = lab.ok(&[
        "key",
        "root",
        "--key",
        &root1,
        "--key",
        &root2,
        "--threshold",
        "2",
        "--reason",
        "genesis",
    ]);
    std::fs::write(lab.path("genesis.event"), format!("{event}\n")).expect("write");
    for (label, name) in [
        ("root-1", "example.org/root-1"),
        ("root-2", "example.org/root-2"),
    ] {
        lab.ok(&[
            "key",
            "sign",
            "genesis.event",
            "--key",
            &lab.uri(label),
            "--key-name",
            name,
        ]);
    }

    // The log keys stay in the token: config.toml names them, no key file is written.
    let data = lab.path("log-data");
    let printed = lab.ok(&[
        "init",
        "--data",
        &data.display().to_string(),
        "--origin",
        PREFIX,
        "--genesis",
        "genesis.event",
        "--log-signing-key",
        &lab.uri("log"),
        "--log-signing-key",
        &lab.uri("log-keys"),
    ]);
    assert_eq!(printed, format!("{releases_vkey}\n{keys_vkey}"));
    for file in ["log.key", "releases.key", "keys.key"] {
        assert!(
            !data.join(file).exists(),
            "a log key file was written: {file}"
        );
    }
    let config = std::fs::read_to_string(data.join("config.toml")).expect("config");
    assert!(
        config.contains("releases_key = \"pkcs11:token=cairn;object=log?")
            && config.contains("keys_key = \"pkcs11:token=cairn;object=log-keys?"),
        "{config}"
    );
    let log_vkey = lab.path("log.vkeys").display().to_string();
    std::fs::write(&log_vkey, format!("{printed}\n")).expect("write the log's vkeys");

    // The witness, its key in the token.
    let witness_vkey = lab.ok(&[
        "vkey",
        &lab.uri("witness"),
        "--name",
        "witness.example",
        "--cosignature",
    ]);
    let witness_args: Vec<String> = [
        "witness",
        "--key",
        &lab.uri("witness"),
        "--key-name",
        "witness.example",
        "--data",
        &lab.path("witness-data").display().to_string(),
        "--listen",
        "127.0.0.1:0",
        "--log",
        "example.org/releases",
        &releases_vkey,
        "--log",
        "example.org/keys",
        &keys_vkey,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let env = lab.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let witness = Server::spawn_with_env(&witness_args, &env).unwrap_or_else(|f| panic!("{f}"));

    let server = lab
        .serve(
            &data,
            &[
                "--witness",
                "w1",
                &witness_vkey,
                &witness.base_url(),
                "--witness-timeout",
                "10s",
            ],
        )
        .unwrap_or_else(|f| panic!("{f}"));
    let url = server.base_url();

    // A release key held only by ssh-agent, added by both token roots.
    lab.start_agent();
    let ssh_public = lab.agent_key("release-2027");
    let agent_ref = format!("ssh-agent:{ssh_public}");
    let release_vkey = lab.ok(&["vkey", &agent_ref, "--name", "example.org/release-2027"]);
    let add = lab.ok(&[
        "key",
        "add",
        "--key",
        &release_vkey,
        "--scope",
        "example/*",
        "--log",
        &url,
        "--log-key",
        &log_vkey,
    ]);
    std::fs::write(lab.path("add.event"), format!("{add}\n")).expect("write");
    for (label, name) in [
        ("root-1", "example.org/root-1"),
        ("root-2", "example.org/root-2"),
    ] {
        lab.ok(&[
            "key",
            "sign",
            "add.event",
            "--key",
            &lab.uri(label),
            "--key-name",
            name,
        ]);
    }
    lab.ok(&[
        "key",
        "submit",
        "add.event",
        "--log",
        &url,
        "--log-key",
        &log_vkey,
    ]);

    // Publish through the agent, naming the key by its fingerprint this time.
    let fingerprint = String::from_utf8(
        lab.tool(
            "ssh-keygen",
            &[
                "-l",
                "-E",
                "sha256",
                "-f",
                &format!("{}.pub", lab.path("release-2027").display()),
            ],
        )
        .stdout,
    )
    .expect("utf-8");
    let fingerprint = fingerprint
        .split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_owned();
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    std::fs::write(lab.path("tool.tar"), b"the release artifact\n").expect("write");
    lab.ok(&[
        "publish",
        "tool.tar",
        "--name",
        "example/tool",
        "--version",
        "1.0",
        "--key",
        &format!("ssh-agent:{fingerprint}"),
        "--key-name",
        "example.org/release-2027",
        "--log",
        &url,
        "--log-key",
        &log_vkey,
    ]);

    // A client with the roots, the log key and the witness pinned verifies it.
    let state = lab.path("client-state").display().to_string();
    lab.ok(&[
        "trust",
        "init",
        "--state",
        &state,
        "--log",
        &url,
        "--log-key",
        &log_vkey,
        "--root-key",
        &root1,
        "--root-key",
        &root2,
        "--threshold",
        "2",
        "--witness",
        "w1",
        &witness_vkey,
        "--quorum",
        "1",
        "--max-age",
        "1h",
    ]);
    lab.ok(&[
        "verify",
        "tool.tar",
        "--state",
        &state,
        "--name",
        "example/tool",
    ]);
    lab.ok(&["verify", "tool.tar", "--state", &state, "--offline"]);

    // What the client trusted was signed in the token: the checkpoints verify under the
    // vkey keygen printed, renamed per origin.
    let view = LogView::http(Log::Releases, PREFIX, verifier(&releases_vkey), &url);
    assert_eq!(view.checkpoint().size(), 1);
    drop(server);
    drop(witness);
}

#[test]
fn refusals_name_the_problem() {
    let mut lab = Lab::new();
    lab.ok(&[
        "keygen",
        "--pkcs11",
        &lab.uri("k"),
        "--name",
        "example.org/k",
    ]);
    // A P-256 key made with pkcs11-tool.
    lab.tool(
        "pkcs11-tool",
        &[
            "--module",
            MODULE,
            "--token-label",
            "cairn",
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "p256",
            "--id",
            "99",
        ],
    );
    fn vkey(uri: &str) -> Vec<&str> {
        vec!["vkey", uri, "--name", "example.org/k"]
    }
    let wrong_pin = format!("pkcs11:token=cairn;object=k?module-path={MODULE}&pin-value=9999");
    let stderr = lab.refused(&vkey(&wrong_pin), 1, "wrong PIN for token \"cairn\"");
    assert!(!stderr.contains("9999"), "the PIN was printed: {stderr}");
    lab.refused(
        &vkey(&lab.uri("nope")),
        1,
        "object \"nope\" in token \"cairn\": no such private key",
    );
    lab.refused(
        &vkey("pkcs11:token=cairn;object=k?module-path=/nonexistent/libpkcs11.so&pin-value=1234"),
        1,
        "PKCS#11 module /nonexistent/libpkcs11.so does not exist",
    );
    lab.refused(
        &vkey(&format!(
            "pkcs11:token=other;object=k?module-path={MODULE}&pin-value=1234"
        )),
        1,
        "no token matching",
    );
    lab.refused(&vkey(&lab.uri("p256")), 1, "not Ed25519");
    lab.refused(&vkey("pkcs11:object=k"), 2, "module-path");
    lab.refused(&["vkey", &lab.uri("k")], 2, "--name");
    lab.refused(
        &[
            "vkey",
            "ssh-agent:SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "--name",
            "x",
        ],
        1,
        "cannot reach ssh-agent",
    );
    lab.start_agent();
    let loaded = lab.agent_key("loaded");
    assert!(loaded.starts_with("ssh-ed25519 "));
    // A key the agent does not hold: made, then never added.
    lab.tool(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            &lab.path("other").display().to_string(),
        ],
    );
    let other = std::fs::read_to_string(lab.path("other.pub")).expect("pub");
    lab.refused(
        &[
            "vkey",
            &format!("ssh-agent:{}", other.trim()),
            "--name",
            "x",
        ],
        1,
        "does not hold key SHA256:",
    );
    // publish refuses before hashing or sending anything.
    std::fs::write(lab.path("a.bin"), b"a").expect("write");
    lab.refused(
        &[
            "publish",
            "a.bin",
            "--name",
            "example/a",
            "--version",
            "1",
            "--key",
            &lab.uri("p256"),
            "--key-name",
            "example.org/k",
            "--log",
            "http://127.0.0.1:9",
        ],
        1,
        "not Ed25519",
    );

    // init refuses a log key it cannot use, and leaves nothing behind.
    let roots = fixtures::Keys::new();
    std::fs::write(lab.path("genesis.event"), roots.genesis()).expect("write");
    let data = lab.path("data");
    let data_arg = data.display().to_string();
    let init = |releases: &str, keys: &str| {
        vec![
            "init".to_owned(),
            "--data".to_owned(),
            data_arg.clone(),
            "--origin".to_owned(),
            PREFIX.to_owned(),
            "--genesis".to_owned(),
            "genesis.event".to_owned(),
            "--log-signing-key".to_owned(),
            releases.to_owned(),
            "--log-signing-key".to_owned(),
            keys.to_owned(),
        ]
    };
    lab.ok(&[
        "keygen",
        "--pkcs11",
        &lab.uri("k2"),
        "--name",
        "example.org/k2",
    ]);
    let args = init(&lab.uri("p256"), &lab.uri("k2"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.refused(&args, 1, "not Ed25519");
    assert!(!data.exists(), "init left a data directory behind");
    let args = init(&lab.uri("k"), &lab.uri("k"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.refused(&args, 2, "need different keys");
    assert!(!data.exists(), "init left a data directory behind");
    let args = init(&lab.uri("k"), &lab.uri("k2"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.ok(&args);

    // serve refuses to start when the token refuses the PIN, then starts with the right one.
    lab.write_private("pin", "4321\n");
    match lab.serve(&data, &[]) {
        Ok(server) => panic!("serve started with a wrong PIN on {}", server.addr()),
        Err(StartFailure { status, stderr }) => {
            assert_eq!(status.and_then(|s| s.code()), Some(1), "{stderr}");
            assert!(stderr.contains("wrong PIN for token \"cairn\""), "{stderr}");
            assert!(stderr.contains("log key pkcs11:"), "{stderr}");
        }
    }
    lab.write_private("pin", &format!("{PIN}\n"));
    lab.serve(&data, &[]).unwrap_or_else(|f| panic!("{f}"));
}

#[test]
fn token_disappearing_under_the_server_loses_nothing() {
    let lab = Lab::new();
    let keys = fixtures::Keys::new();
    std::fs::write(lab.path("genesis.event"), keys.genesis()).expect("write");
    let releases_vkey = lab.ok(&[
        "keygen",
        "--pkcs11",
        &lab.uri("log"),
        "--name",
        &format!("{PREFIX}/releases"),
    ]);
    lab.ok(&[
        "keygen",
        "--pkcs11",
        &lab.uri("log-keys"),
        "--name",
        &format!("{PREFIX}/keys"),
    ]);
    let data = lab.path("data");
    lab.ok(&[
        "init",
        "--data",
        &data.display().to_string(),
        "--origin",
        PREFIX,
        "--genesis",
        "genesis.event",
        "--log-signing-key",
        &lab.uri("log"),
        "--log-signing-key",
        &lab.uri("log-keys"),
    ]);
    let server = lab.serve(&data, &[]).unwrap_or_else(|f| panic!("{f}"));
    let http = Http::new();
    let post = |path: &str, body: &[u8]| http.post(&server.url(path), body).expect("POST");
    assert_eq!(post("/keys/add", &keys.add_release_key()).status, 200);
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let entry = fixtures::release("example/tool", &format!("1.{i}"), &keys.release);
        let reply = post("/releases/add", &entry);
        assert_eq!(reply.status, 200, "{}", reply.text());
        acknowledged.push(entry);
    }

    // The token goes away.
    let away = lab.path("tokens-away");
    std::fs::rename(lab.tokens(), &away).expect("remove the token");
    let refused = fixtures::release("example/tool", "2.0", &keys.release);
    let reply = post("/releases/add", &refused);
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(
        reply.text().contains("log key could not sign"),
        "{}",
        reply.text()
    );
    let verifier = verifier(&releases_vkey);
    let view = LogView::http(Log::Releases, PREFIX, verifier, &server.base_url());
    let checkpoint = view.checkpoint();
    assert_eq!(checkpoint.size(), 5, "the refused entry was logged");
    assert_eq!(view.entries(&checkpoint), acknowledged);

    // It comes back: the server signs again by itself, with nothing lost.
    std::fs::rename(&away, lab.tokens()).expect("put the token back");
    let reply = post("/releases/add", &refused);
    assert_eq!(reply.status, 200, "{}", reply.text());
    acknowledged.push(refused);
    let checkpoint = view.checkpoint();
    assert_eq!(checkpoint.size(), 6);
    assert_eq!(view.entries(&checkpoint), acknowledged);
    view.check_inclusion_of_all(&checkpoint, &acknowledged);
    drop(server);
}
