//! The `taskforce` binary as an operator runs it: `taskforce serve` in a child process on a
//! loopback port, ready once it answers /readyz, stopped as systemd stops it (SIGTERM, then
//! waiting for it to exit) or killed when dropped.

use std::{
    fs::OpenOptions,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use super::Http;

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A `taskforce serve` process; SIGKILLed when dropped if it is still running.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub port: u16,
    args: Vec<String>,
    dir: PathBuf,
    log: Option<PathBuf>,
}

impl Server {
    /// Start `taskforce serve --bind 127.0.0.1:PORT ARGS…` in `dir` (outside `TASKFORCE_DB`),
    /// without waiting for it. Its output goes to `log` (appended: a replica restarted with the
    /// same log keeps one file), else nowhere.
    pub fn spawn(port: u16, args: &[&str], dir: &Path, log: Option<&Path>) -> Self {
        Server {
            child: spawn_child(port, args, dir, log),
            port,
            args: args.iter().map(|a| (*a).to_string()).collect(),
            dir: dir.to_path_buf(),
            log: log.map(Path::to_path_buf),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn http(&self) -> Http {
        Http { base: self.base() }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait (at most `within`) until it answers /readyz 200 (what a balancer or an operator's
    /// rolling restart waits for). A process that exited instead fails the test, with the end
    /// of its log.
    pub fn wait_ready(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        let ready = format!("{}/readyz", self.base());
        loop {
            let up = Http::agent()
                .get(&ready)
                .call()
                .is_ok_and(|r| r.status() == 200);
            if up {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "taskforce serve on port {} exited ({status}) before it was ready{}",
                    self.port,
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "taskforce serve did not answer {ready} within {within:?}{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop it gracefully, as `systemctl stop` does: SIGTERM, then wait (at most `within`)
    /// for it to exit. Its exit status and how long it took; past `within` it is SIGKILLed
    /// and this panics.
    pub fn terminate(&mut self, within: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("run kill -TERM: {e}"));
        assert!(sent.success(), "kill -TERM {} failed: {sent}", self.pid());
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return (status, started.elapsed()),
                Ok(None) if started.elapsed() < within => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "taskforce serve on port {} did not exit within {within:?} of SIGTERM{}",
                        self.port,
                        self.log_tail()
                    );
                }
                Err(e) => panic!("waiting for taskforce serve: {e}"),
            }
        }
    }

    /// Start it again, after it stopped, on the same port with the same arguments, and wait
    /// until it answers.
    pub fn restart(&mut self, within: Duration) {
        assert!(!self.running(), "restart: it is still running");
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.child = spawn_child(self.port, &args, &self.dir, self.log.as_deref());
        self.wait_ready(within);
    }

    /// The end of its log, for a failure's message (empty without a log).
    fn log_tail(&self) -> String {
        let Some(log) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("; the end of {}:\n{tail}", log.display())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_child(port: u16, args: &[&str], dir: &Path, log: Option<&Path>) -> Child {
    let (stdout, stderr) = match log {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
            let copy = file
                .try_clone()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (Stdio::from(file), Stdio::from(copy))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    Command::new(env!("CARGO_BIN_EXE_taskforce"))
        .arg("serve")
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(args)
        .current_dir(dir)
        .env_remove("TASKFORCE_DB")
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn taskforce: {e}"))
}

/// `taskforce serve ARGS…` in `dir` on a free port, once it answers /healthz: the process and
/// its base URL.
pub fn serve(args: &[&str], dir: &Path) -> (Server, String) {
    let server = serve_on(free_port(), args, dir, None);
    let base = server.base();
    (server, base)
}

/// `taskforce serve ARGS…` in `dir` on `port`, once it answers /healthz.
pub fn serve_on(port: u16, args: &[&str], dir: &Path, log: Option<&Path>) -> Server {
    let mut server = Server::spawn(port, args, dir, log);
    server.wait_ready(Duration::from_secs(60));
    server
}
