//! The embedded PostgreSQL cluster: find server binaries, `initdb` once, run `postgres` on a Unix
//! socket inside the data dir (no TCP port), stop it cleanly. Blocking code, used at startup and by
//! the test kit; it never runs on a shard's event loop.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::EmbeddedError;

/// The port number names the socket file (`.s.PGSQL.5432`); no TCP port is opened.
pub(crate) const SOCKET_PORT: u16 = 5432;
/// The superuser `initdb` creates, and the role Parley connects as.
pub const SUPERUSER: &str = "parley";
/// Unix socket paths are limited to about 107 bytes; stay well under.
const MAX_SOCKET_PATH: usize = 100;

/// How to bring up an embedded cluster.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Directory that holds everything of the cluster: `data/`, `run/`, `postgres.log`.
    pub root: PathBuf,
    /// Directory with `initdb`, `postgres` and `pg_ctl`; `None` looks it up.
    pub bin_dir: Option<PathBuf>,
    /// Time the server has to become ready.
    pub start_timeout: Duration,
    /// On first start, copy this initialised data directory instead of running `initdb`
    /// (the test kit keeps one template per run).
    pub template: Option<PathBuf>,
    /// The port number: it names the socket file, and is the TCP port if `settings` opens one.
    pub port: u16,
    /// More server settings (`-c key=value`), after Parley's own (e.g. `listen_addresses` and
    /// `ssl` for a test of TLS).
    pub settings: Vec<(String, String)>,
}

impl EmbeddedOptions {
    /// The defaults for a cluster in `root`: binaries looked up, 60 s to start, port 5432 (on a
    /// Unix socket only), no template, no extra settings.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            bin_dir: None,
            start_timeout: Duration::from_secs(60),
            template: None,
            port: SOCKET_PORT,
            settings: Vec::new(),
        }
    }
}

/// A running PostgreSQL server owned by this process. Dropping it stops the server.
#[derive(Debug)]
pub struct EmbeddedPg {
    bins: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    owner: Option<Owner>,
    port: u16,
    settings: Vec<(String, String)>,
    child: Option<Child>,
}

/// The unprivileged account the server runs as when Parley runs as root.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner {
    uid: u32,
    gid: u32,
}

impl EmbeddedPg {
    /// Initialises the cluster if needed, starts it and waits until it accepts connections.
    pub fn start(options: &EmbeddedOptions) -> Result<Self, EmbeddedError> {
        let bins = find_binaries(options.bin_dir.as_deref())?;
        let owner = server_owner()?;
        let root = absolute(&options.root)?;
        create_dir(&root, owner, 0o700)?;
        if let Some(owner) = owner {
            ensure_traversable(&root, owner)?;
        }
        let data = root.join("data");
        let initialised = data.join("PG_VERSION").exists();
        if !initialised {
            match &options.template {
                Some(template) => copy_template(template, &data)?,
                None => run_initdb(&bins, &data, owner, false)?,
            }
        }
        let socket_dir = socket_dir_for(&root)?;
        create_dir(&socket_dir, owner, 0o700)?;
        let log_path = root.join("postgres.log");
        let mut pg = EmbeddedPg {
            bins,
            data,
            socket_dir,
            log_path,
            owner,
            port: options.port,
            settings: options.settings.clone(),
            child: None,
        };
        pg.stop_stale_server();
        pg.spawn(options.start_timeout)?;
        Ok(pg)
    }

    /// Runs `initdb` into `data` for use as a template by [`EmbeddedOptions::template`].
    /// Skips fsync, as a throwaway test template may.
    pub fn init_template(bin_dir: Option<&Path>, data: &Path) -> Result<(), EmbeddedError> {
        let bins = find_binaries(bin_dir)?;
        let owner = server_owner()?;
        let data = absolute(data)?;
        // initdb, running as the server's user, fills a directory that user owns.
        create_dir(&data, owner, 0o700)?;
        if let Some(owner) = owner {
            ensure_traversable(&data, owner)?;
        }
        run_initdb(&bins, &data, owner, true)
    }

    /// Connection settings for database `dbname` on this server, as the superuser.
    pub fn connect_config(&self, dbname: &str) -> crate::PgConfig {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.socket_dir)
            .port(self.port)
            .user(SUPERUSER)
            .dbname(dbname)
            .application_name("parley");
        crate::PgConfig::plain(config)
    }

    /// Directory of the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Directory of the cluster's data.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Whether the server process is still alive.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Stops the server with a fast shutdown (open transactions roll back, nothing committed is
    /// lost) and waits for it to exit. Stopping a stopped server does nothing.
    pub fn stop(&mut self) -> Result<(), EmbeddedError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        let status = self
            .command("pg_ctl")
            .args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
            .arg(&self.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            tracing::warn!("pg_ctl stop failed; killing the embedded PostgreSQL");
            let _ = child.kill();
        }
        child.wait().map_err(|source| EmbeddedError::Io {
            action: "wait for the embedded PostgreSQL to exit".to_owned(),
            source,
        })?;
        tracing::info!(data = %self.data.display(), "embedded PostgreSQL stopped");
        Ok(())
    }

    /// After the server died (a crash, the OOM killer, `kill -9`): reaps it and starts a new one on
    /// the same data; PostgreSQL's crash recovery replays the WAL, so nothing committed is lost.
    /// Fails (retry later) while the dead server's backends still hold its shared memory.
    pub fn respawn(&mut self, start_timeout: Duration) -> Result<(), EmbeddedError> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.spawn(start_timeout)
    }

    /// Starts the server again after [`stop`](Self::stop), on the same data.
    pub fn restart(&mut self, start_timeout: Duration) -> Result<(), EmbeddedError> {
        self.stop()?;
        self.spawn(start_timeout)
    }

    fn spawn(&mut self, start_timeout: Duration) -> Result<(), EmbeddedError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|source| io_error("open the PostgreSQL log", &self.log_path, source))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log_err = log
            .try_clone()
            .map_err(|source| io_error("open the PostgreSQL log", &self.log_path, source))?;
        let mut command = self.command("postgres");
        command
            .arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg("listen_addresses=")
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.socket_dir.display()
            ))
            .arg("-c")
            .arg("unix_socket_permissions=0700")
            .args(
                self.settings
                    .iter()
                    .flat_map(|(key, value)| ["-c".to_owned(), format!("{key}={value}")]),
            )
            // Its own process group: a Ctrl-C in the terminal reaches Parley, which then stops
            // the server in order instead of both racing.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = command.spawn().map_err(|source| EmbeddedError::Io {
            action: format!("start {}", self.bins.join("postgres").display()),
            source,
        })?;
        self.child = Some(child);
        let deadline = Instant::now() + start_timeout;
        loop {
            if self.server_ready() {
                tracing::info!(
                    data = %self.data.display(),
                    socket = %self.socket_dir.display(),
                    "embedded PostgreSQL is ready"
                );
                return Ok(());
            }
            if !self.is_running() {
                self.child = None;
                return Err(EmbeddedError::StartFailed {
                    log: self.log_path.clone(),
                    tail: log_tail(&self.log_path, log_start),
                });
            }
            if Instant::now() >= deadline {
                let _ = self.stop();
                return Err(EmbeddedError::StartTimeout {
                    after: start_timeout,
                    log: self.log_path.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `postmaster.pid` line 8 reads `ready` once the server accepts connections, and the socket
    /// file exists.
    fn server_ready(&self) -> bool {
        let Ok(pid_file) = fs::read_to_string(self.data.join("postmaster.pid")) else {
            return false;
        };
        let ready = pid_file.lines().nth(7).map(str::trim) == Some("ready");
        ready
            && self
                .socket_dir
                .join(format!(".s.PGSQL.{}", self.port))
                .exists()
    }

    /// A server left running by a Parley that was killed holds the data dir; stop it first.
    fn stop_stale_server(&self) {
        let Ok(pid_file) = fs::read_to_string(self.data.join("postmaster.pid")) else {
            return;
        };
        let Some(pid) = pid_file
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok())
        else {
            return;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return;
        }
        tracing::warn!(
            pid,
            "a PostgreSQL from an earlier run still holds the data dir; stopping it"
        );
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
            .arg(&self.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn command(&self, program: &str) -> Command {
        command_as(&self.bins, program, self.owner)
    }
}

impl Drop for EmbeddedPg {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            tracing::warn!(%error, "could not stop the embedded PostgreSQL");
        }
    }
}

pub(crate) fn command_as(bins: &Path, program: &str, owner: Option<Owner>) -> Command {
    let mut command = Command::new(bins.join(program));
    if let Some(owner) = owner {
        command.uid(owner.uid).gid(owner.gid);
    }
    command.env("LC_ALL", "C.UTF-8");
    command
}

fn run_initdb(
    bins: &Path,
    data: &Path,
    owner: Option<Owner>,
    no_sync: bool,
) -> Result<(), EmbeddedError> {
    let mut command = command_as(bins, "initdb", owner);
    command
        .arg("-D")
        .arg(data)
        .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8"])
        .args(["--lc-collate=C", "--lc-ctype=C.UTF-8"]);
    if no_sync {
        command.arg("--no-sync");
    }
    let output = command.output().map_err(|source| EmbeddedError::Io {
        action: format!("run {}", bins.join("initdb").display()),
        source,
    })?;
    if !output.status.success() {
        return Err(EmbeddedError::InitdbFailed {
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    tracing::info!(data = %data.display(), "initialised the embedded PostgreSQL cluster");
    Ok(())
}

fn copy_template(template: &Path, data: &Path) -> Result<(), EmbeddedError> {
    // `cp -a` keeps owners and modes (PostgreSQL insists on a 0700 data dir it owns).
    let status = Command::new("cp")
        .arg("-a")
        .arg(template)
        .arg(data)
        .status()
        .map_err(|source| io_error("copy the cluster template", template, source))?;
    if status.success() {
        Ok(())
    } else {
        Err(EmbeddedError::Io {
            action: format!("copy {} to {}", template.display(), data.display()),
            source: std::io::Error::other(format!("cp exited with {status}")),
        })
    }
}

/// Finds a directory holding both `initdb` and `postgres`.
pub fn find_binaries(configured: Option<&Path>) -> Result<PathBuf, EmbeddedError> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let mut searched = Vec::new();
    if let Some(dir) = configured {
        if has_server(dir) {
            return Ok(dir.to_path_buf());
        }
        searched.push(dir.to_path_buf());
        return Err(EmbeddedError::NoBinaries { searched });
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_server(&dir) {
            return Ok(dir);
        }
        searched.push(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    while let Some((_, dir)) = versions.pop() {
        if has_server(&dir) {
            return Ok(dir);
        }
        searched.push(dir);
    }
    searched.push(PathBuf::from("/usr/lib/postgresql/*/bin"));
    Err(EmbeddedError::NoBinaries { searched })
}

/// The `(uid, gid)` the embedded server runs as, when it is not the current user (Parley runs as
/// root): files the server must own (a TLS key) are handed to it.
pub fn server_account() -> Result<Option<(u32, u32)>, EmbeddedError> {
    Ok(server_owner()?.map(|o| (o.uid, o.gid)))
}

/// `None` when the server can run as the current user; the `postgres` account when we are root
/// (PostgreSQL refuses to run as root).
pub(crate) fn server_owner() -> Result<Option<Owner>, EmbeddedError> {
    let uid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|source| io_error("read the current user", Path::new("/proc/self"), source))?;
    if uid != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd")
        .map_err(|source| io_error("read", Path::new("/etc/passwd"), source))?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres") && fields.len() > 3).then(|| {
                Some(Owner {
                    uid: fields[2].parse().ok()?,
                    gid: fields[3].parse().ok()?,
                })
            })?
        })
        .map(Some)
        .ok_or(EmbeddedError::NoServerUser)
}

fn create_dir(dir: &Path, owner: Option<Owner>, mode: u32) -> Result<(), EmbeddedError> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|source| io_error("create", dir, source))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .map_err(|source| io_error("set permissions of", dir, source))?;
    }
    if let Some(owner) = owner {
        std::os::unix::fs::chown(dir, Some(owner.uid), Some(owner.gid))
            .map_err(|source| io_error("hand over to the postgres user", dir, source))?;
    }
    Ok(())
}

/// The server, running as `postgres`, must be able to reach `dir` through every ancestor.
fn ensure_traversable(dir: &Path, owner: Owner) -> Result<(), EmbeddedError> {
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(ancestor) else {
            continue;
        };
        let mode = meta.permissions().mode();
        let reachable = if meta.uid() == owner.uid {
            mode & 0o100 != 0
        } else if meta.gid() == owner.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !reachable {
            return Err(EmbeddedError::NotTraversable {
                dir: ancestor.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Connection settings for database `dbname` on the server another process runs for the cluster
/// in `root` (a Parley serving that data dir), as the superuser, over its Unix socket.
pub fn connect_running(root: &Path, dbname: &str) -> Result<crate::PgConfig, EmbeddedError> {
    let socket_dir = socket_dir_for(&absolute(root)?)?;
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(&socket_dir)
        .port(SOCKET_PORT)
        .user(SUPERUSER)
        .dbname(dbname)
        .application_name("parley-admin");
    Ok(crate::PgConfig::plain(config))
}

/// `<root>/run`, or a short directory under /tmp when that path is too long for a Unix socket.
pub(crate) fn socket_dir_for(root: &Path) -> Result<PathBuf, EmbeddedError> {
    let preferred = root.join("run");
    let socket_len = preferred.as_os_str().len() + ".s.PGSQL.5432".len() + 1;
    if socket_len <= MAX_SOCKET_PATH {
        return Ok(preferred);
    }
    let hash = root
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
    Ok(std::env::temp_dir().join(format!("parley-pg-{hash:016x}")))
}

pub(crate) fn absolute(path: &Path) -> Result<PathBuf, EmbeddedError> {
    std::path::absolute(path).map_err(|source| io_error("resolve", path, source))
}

fn io_error(action: &str, path: &Path, source: std::io::Error) -> EmbeddedError {
    EmbeddedError::Io {
        action: format!("{action} {}", path.display()),
        source,
    }
}

/// The last lines PostgreSQL wrote since `from`, to explain a failed start.
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.seek(SeekFrom::Start(from));
        let _ = file.take(64 * 1024).read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
