//! A real DNS server on loopback: `dnsmasq` (Debian package `dnsmasq-base`) serving TXT records
//! the test chooses, on 127.0.0.1 and an unused port, killed on drop.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long dnsmasq may take to bind its port.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `dnsmasq` answering only the TXT records it was started with.
#[derive(Debug)]
pub struct Dnsmasq {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

/// The `dnsmasq` binary: on `PATH`, else Debian's `/usr/sbin/dnsmasq`.
fn dnsmasq_bin() -> PathBuf {
    for dir in std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
    {
        let candidate = dir.join("dnsmasq");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("dnsmasq is not installed: apt-get install dnsmasq-base (.ci/run installs it)");
}

impl Dnsmasq {
    /// Starts dnsmasq with one TXT record per `(name, strings)`: the record's value is made of
    /// those character-strings (each at most 255 bytes, no commas). Several entries with the
    /// same name make several records at that name.
    pub fn start(records: &[(&str, &[&str])]) -> Dnsmasq {
        for attempt in 0..5 {
            if let Some(server) = Self::try_start(records) {
                return server;
            }
            eprintln!("dnsmasq did not bind its port (attempt {attempt}); retrying");
        }
        panic!("dnsmasq did not start");
    }

    fn try_start(records: &[(&str, &[&str])]) -> Option<Dnsmasq> {
        let dir = tempfile::tempdir().expect("tempdir");
        // An unused UDP port; dnsmasq binds TCP on it too. The gap between dropping this
        // socket and dnsmasq binding it is covered by retrying.
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free UDP port")
            .port();
        let mut cmd = Command::new(dnsmasq_bin());
        cmd.arg("--keep-in-foreground")
            .arg("--conf-file=/dev/null")
            .arg("--no-resolv")
            .arg("--no-hosts")
            .arg("--no-poll")
            .arg("--bind-interfaces")
            .arg("--listen-address=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-facility={}",
                dir.path().join("log").display()
            ));
        for (name, strings) in records {
            for s in *strings {
                assert!(
                    s.len() <= 255 && !s.contains(','),
                    "a TXT string for dnsmasq: at most 255 bytes, no commas: {s:?}"
                );
            }
            cmd.arg(format!("--txt-record={name},{}", strings.join(",")));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dnsmasq");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                eprintln!("dnsmasq exited ({status}): {err}");
                return None;
            }
            // Bound once dnsmasq holds the port.
            if UdpSocket::bind(("127.0.0.1", port)).is_err() {
                return Some(Dnsmasq {
                    child,
                    port,
                    _dir: dir,
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1:PORT`, for `--dns-server`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
