//! The real `git` binary, for what a mirror or an attacker with write access to the repository
//! would do: clone it, read the branch, commit altered files with plumbing commands.

use std::path::Path;
use std::process::{Command, Stdio};

/// The branch Cairn publishes on.
pub const BRANCH: &str = "refs/heads/main";

/// A `git` command with a fixed identity and no user or system configuration.
pub fn git_command() -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Mallory")
        .env("GIT_AUTHOR_EMAIL", "mallory@example.org")
        .env("GIT_COMMITTER_NAME", "Mallory")
        .env("GIT_COMMITTER_EMAIL", "mallory@example.org")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE");
    cmd
}

/// Runs `git --git-dir <repo> <args>` with `stdin`, returning stdout; panics with stderr on
/// failure.
pub fn git_in(repo: &Path, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &Path)]) -> Vec<u8> {
    let mut cmd = git_command();
    cmd.arg("--git-dir").arg(repo).args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    run(
        cmd,
        stdin,
        &format!("git --git-dir {} {args:?}", repo.display()),
    )
}

/// Runs `git <args>` in `dir`, returning stdout; panics with stderr on failure.
pub fn git_at(dir: &Path, args: &[&str]) -> Vec<u8> {
    let mut cmd = git_command();
    cmd.current_dir(dir).args(args);
    run(cmd, None, &format!("git {args:?} in {}", dir.display()))
}

fn run(mut cmd: Command, stdin: Option<&[u8]>, what: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot run git (is it installed?): {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input)
            .expect("write to git");
    }
    let out = child.wait_with_output().expect("git output");
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The bytes of `path` on the branch of the bare repository `repo`.
pub fn read_on_branch(repo: &Path, path: &str) -> Vec<u8> {
    git_in(
        repo,
        &["cat-file", "blob", &format!("{BRANCH}:{path}")],
        None,
        &[],
    )
}

/// Commits `data` as `path` (new or replaced) on the branch of the bare repository `repo`, on
/// top of the current head, with git plumbing only (as someone with write access to the
/// repository could), and moves the branch with a compare-and-swap. `scratch` holds a
/// temporary index.
pub fn commit_on_branch(repo: &Path, scratch: &Path, path: &str, data: &[u8]) {
    commit_files_on_branch(repo, scratch, &[(path, data)], "an innocent update");
}

/// Like [`commit_on_branch`] for several files in one commit with `message`.
pub fn commit_files_on_branch(repo: &Path, scratch: &Path, files: &[(&str, &[u8])], message: &str) {
    let head = text(git_in(repo, &["rev-parse", BRANCH], None, &[]));
    let index = scratch.join("tamper.index");
    let env = [("GIT_INDEX_FILE", index.as_path())];
    git_in(repo, &["read-tree", &head], None, &env);
    for (path, data) in files {
        let blob = text(git_in(
            repo,
            &["hash-object", "-w", "--stdin"],
            Some(data),
            &[],
        ));
        git_in(
            repo,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("100644,{blob},{path}"),
            ],
            None,
            &env,
        );
    }
    let tree = text(git_in(repo, &["write-tree"], None, &env));
    let commit = text(git_in(
        repo,
        &["commit-tree", &tree, "-p", &head, "-m", message],
        None,
        &[],
    ));
    git_in(repo, &["update-ref", BRANCH, &commit, &head], None, &[]);
    let _ = std::fs::remove_file(&index);
}

fn text(out: Vec<u8>) -> String {
    String::from_utf8(out)
        .expect("git prints UTF-8 here")
        .trim_end()
        .to_owned()
}

/// A `git daemon` serving the repositories under a directory read-only over `git://` on
/// 127.0.0.1 and an unused port; killed on drop.
#[derive(Debug)]
pub struct GitDaemon {
    child: std::process::Child,
    port: u16,
}

impl GitDaemon {
    /// Serves every repository under `base` (`--export-all`).
    pub fn start(base: &Path) -> GitDaemon {
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = git_command()
                .arg("daemon")
                .arg("--reuseaddr")
                .arg("--export-all")
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", base.display()))
                .arg(base)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn git daemon");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // Port taken meanwhile: try another.
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return GitDaemon { child, port };
                }
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        panic!("git daemon did not start");
    }

    /// `git://127.0.0.1:PORT/<path under the base>`.
    pub fn url(&self, path: &str) -> String {
        format!("git://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
