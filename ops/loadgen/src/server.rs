//! The server of its own: a child `taskforce serve` on a temporary SQLite file (or on `--db`),
//! started from the `taskforce` binary, with the load generator's admin created before it.
//! The load generator talks to it only as any client would: its command line and its HTTP API.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use anyhow::{Context, bail};

use crate::args::LoadgenArgs;

/// A child `taskforce serve`, killed on drop.
#[derive(Debug)]
pub struct OwnServer {
    pub child: Child,
    pub exe: PathBuf,
    pub base: String,
    pub db: String,
    pub dir: Option<TempDir>,
    /// The catalogue with the test units, when more units were asked for than the bundled
    /// directive has (`crate::units`), and the directory holding it.
    pub catalogue: Option<(PathBuf, TempDir)>,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> anyhow::Result<Self> {
        let mut n = [0u8; 8];
        getrandom::fill(&mut n).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let dir = std::env::temp_dir().join(format!(
            "taskforce-{what}-{}-{:x}",
            std::process::id(),
            u64::from_le_bytes(n)
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `taskforce` binary: `--taskforce-bin` (or `TASKFORCE_BIN`) when given, else the one
/// next to this program (cargo puts both in the same target directory), else the first on
/// `PATH`.
pub fn taskforce_bin(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let name = format!("taskforce{}", std::env::consts::EXE_SUFFIX);
    if let Some(path) = given {
        if is_executable(path) {
            return Ok(path.to_path_buf());
        }
        bail!(
            "--taskforce-bin (or TASKFORCE_BIN) {}: no such executable",
            path.display()
        );
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(&name)));
    if let Some(path) = beside.as_ref().filter(|p| is_executable(p)) {
        return Ok(path.clone());
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    if let Some(path) = std::env::split_paths(&path_var)
        .map(|dir| dir.join(&name))
        .find(|p| is_executable(p))
    {
        return Ok(path);
    }
    bail!(
        "cannot find the taskforce binary: none at {} and none on PATH; build it with the \
         same profile (`cargo build [--release] -p taskforce-server`) or pass \
         --taskforce-bin PATH (or set TASKFORCE_BIN)",
        beside.map_or_else(
            || "the load generator's own directory".to_string(),
            |p| p.display().to_string()
        )
    )
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

pub fn start_own_server(
    args: &LoadgenArgs,
    admin: &str,
    admin_password: &str,
) -> anyhow::Result<OwnServer> {
    let exe = taskforce_bin(args.taskforce_bin.as_deref())?;
    eprintln!("taskforce-loadgen: server binary {}", exe.display());
    let (db, dir) = match &args.db {
        Some(db) => (db.clone(), None),
        None => {
            let dir = TempDir::new("loadgen")?;
            let db = format!("sqlite://{}?mode=rwc", dir.0.join("taskforce.db").display());
            (db, Some(dir))
        }
    };
    // The admin, before the server starts (migrations first: `user add` runs them).
    let status = Command::new(&exe)
        .args(["user", "add", "--db", &db, admin, "--role", "admin"])
        .env("TASKFORCE_PASSWORD", admin_password)
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("{} user add", exe.display()))?;
    if !status.success() {
        bail!("could not create the load generator's admin on {db}");
    }
    let bundled = crate::units::bundled_units()?;
    let catalogue = if args.units > bundled {
        let files = TempDir::new("loadgen-units")?;
        let path = crate::units::provision(&exe, &db, &files.0, args.units - bundled)?;
        eprintln!(
            "taskforce-loadgen: {} test units besides the bundled directive's {bundled} \
             (directive {})",
            args.units - bundled,
            crate::units::DIRECTIVE_ID
        );
        Some((path, files))
    } else {
        None
    };
    let (child, base) = serve(
        &exe,
        args,
        &db,
        None,
        catalogue.as_ref().map(|c| c.0.as_path()),
    )?;
    Ok(OwnServer {
        child,
        exe,
        base,
        db,
        dir,
        catalogue,
    })
}

/// A `taskforce serve` on `db` (with `config`, a TOML file, and `catalogue` when given): the
/// child and the address it listens on.
fn serve(
    exe: &Path,
    args: &LoadgenArgs,
    db: &str,
    config: Option<&Path>,
    catalogue: Option<&Path>,
) -> anyhow::Result<(Child, String)> {
    let mut cmd = Command::new(exe);
    if let Some(config) = config {
        cmd.arg("serve").arg("--config").arg(config);
        cmd.args(["--db", db, "--bind", "127.0.0.1:0"]);
    } else {
        cmd.args(["serve", "--db", db, "--bind", "127.0.0.1:0"]);
    }
    if let Some(catalogue) = catalogue {
        cmd.arg("--catalogue").arg(catalogue);
    }
    cmd.env("RUST_LOG", "warn")
        // Every phone signs in from 127.0.0.1: one address standing for thousands.
        .env("TASKFORCE_LOGIN_PER_ADDRESS_BURST", "1000000")
        // And a unit's phones share its one account: as many devices as phones, and the fresh
        // phone per unit that checks convergence (at least the default's 10).
        .env(
            "TASKFORCE_DEVICES_PER_USER",
            (args.devices + args.units).max(10).to_string(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(w) = args.server_workers {
        cmd.args(["--workers", &w.to_string()]);
    }
    if let Some(q) = args.server_writer_queue {
        cmd.args(["--writer-queue", &q.to_string()]);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {} serve", exe.display()))?;
    let stdout = child.stdout.take().context("no stdout from the server")?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.strip_prefix("taskforce listening on ") {
                    break rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                }
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the server stopped before listening");
            }
        }
    };
    // Keep draining its stdout so it never blocks.
    std::thread::spawn(move || for _ in lines {});
    Ok((child, base))
}

impl OwnServer {
    /// Stop the server and start it again on the same database with its document cache off
    /// (`doc_cache_entries = 0`): every answer is then read from the database. The seconds
    /// from the start to its first answer.
    pub fn restart_without_cache(&mut self, args: &LoadgenArgs) -> anyhow::Result<f64> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = TempDir::new("loadgen-config")?;
        let config = dir.0.join("taskforce.toml");
        std::fs::write(&config, "doc_cache_entries = 0\n")
            .with_context(|| format!("write {}", config.display()))?;
        let t = std::time::Instant::now();
        let catalogue = self.catalogue.as_ref().map(|c| c.0.as_path());
        let (child, base) = serve(&self.exe, args, &self.db, Some(&config), catalogue)?;
        self.child = child;
        self.base = base;
        Ok(t.elapsed().as_secs_f64())
    }
}
