//! A real SMTP server for the mail tests: Debian's aiosmtpd (python3-aiosmtpd) on a loopback
//! port with the mailbox of `tests/mail/sink.py`, which parses each message it accepts and
//! writes it to a directory as JSON (envelope sender and recipients as `mail_from` and
//! `rcpt_tos`, `subject`, `message_id`, the decoded `text` and `html` parts). Missing
//! aiosmtpd is a failure in CI and a visible skip elsewhere.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{Must, process::free_port};

pub const PYTHON: &str = "/usr/bin/python3";

/// aiosmtpd on a port, writing each message it accepts to a directory as JSON.
pub struct Sink {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    /// aiosmtpd's TLS options (`--tlscert`/`--tlskey` for STARTTLS, `--smtpscert`/`--smtpskey`
    /// for TLS from the first byte).
    pub tls: Vec<String>,
    /// A user name and password the server requires, after STARTTLS (`sink.py`'s own
    /// launcher, with `tls`' certificate and key as `--tlscert`/`--tlskey`).
    pub auth: Option<String>,
}

/// Whether the real SMTP server is here; in CI it must be.
pub fn smtp_available() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "CI: python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)"
        );
        eprintln!("SKIPPED: no aiosmtpd for {PYTHON} (apt-get install python3-aiosmtpd)");
    }
    ok
}

impl Sink {
    /// A sink on a free port, not started yet (`start`).
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "taskforce-mail-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).must();
        Sink {
            port: free_port(),
            dir,
            child: None,
            tls: Vec::new(),
            auth: None,
        }
    }

    /// Start aiosmtpd and wait until it listens.
    pub fn start(&mut self) {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mail");
        let mut cmd = Command::new(PYTHON);
        match &self.auth {
            None => {
                cmd.args(["-m", "aiosmtpd", "-n", "-l"])
                    .arg(format!("127.0.0.1:{}", self.port))
                    .args(&self.tls)
                    .args(["-c", "sink.JsonSink"])
                    .arg(&self.dir);
            }
            Some(auth) => {
                cmd.arg(here.join("sink.py"))
                    .arg("--listen")
                    .arg(format!("127.0.0.1:{}", self.port))
                    .arg("--dir")
                    .arg(&self.dir)
                    .args(&self.tls)
                    .args(["--auth", auth]);
            }
        }
        let log = std::fs::File::create(self.dir.join("aiosmtpd.log")).must();
        let child = cmd
            .env("PYTHONPATH", &here)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .must();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen: {}",
                std::fs::read_to_string(self.dir.join("aiosmtpd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The messages accepted so far, in the order they arrived.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .must()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).must()).must())
            .collect()
    }

    /// Wait until at least `n` messages arrived (and a moment more, for any extra one).
    pub fn wait_for(&self, n: usize, what: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let m = self.messages();
            if m.len() >= n {
                std::thread::sleep(Duration::from_secs(3));
                return self.messages();
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {} of {n} messages arrived: {m:#?}",
                m.len()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A message's envelope recipients (`RCPT TO`).
pub fn rcpt_tos(m: &Value) -> Vec<String> {
    m["rcpt_tos"]
        .as_array()
        .must()
        .iter()
        .map(|v| v.as_str().must().to_string())
        .collect()
}
