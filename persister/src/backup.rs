//! Backup and restore of the embedded cluster's Parley database with PostgreSQL's own tools:
//! `pg_dump` (custom format, a consistent snapshot taken inside one transaction, safe while Parley
//! serves) and `pg_restore` into a fresh cluster. The dump is written and read by this process;
//! the tools run as the server's user when Parley runs as root. Blocking code, for the CLI.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::embedded::{self, SOCKET_PORT, SUPERUSER};
use crate::error::EmbeddedError;

/// The server tools, found like the embedded server's.
#[derive(Debug)]
pub struct Tools {
    bins: std::path::PathBuf,
    owner: Option<embedded::Owner>,
}

impl Tools {
    /// Looks the tools up (`database.pg_bin_dir`, `pg_config --bindir`, newest Debian version).
    pub fn find(bin_dir: Option<&Path>) -> Result<Self, EmbeddedError> {
        Ok(Self {
            bins: embedded::find_binaries(bin_dir)?,
            owner: embedded::server_owner()?,
        })
    }

    /// Dumps database `dbname` of the embedded cluster rooted at `root` (its socket) into `out`.
    pub fn dump(&self, root: &Path, dbname: &str, out: &Path) -> Result<(), EmbeddedError> {
        let file = File::create(out).map_err(|source| io("create", out, source))?;
        let mut command = self.client(root, "pg_dump")?;
        command
            .args([
                "--format=custom",
                "--compress=6",
                "--no-password",
                "--dbname",
                dbname,
            ])
            .stdout(file);
        run(command, "pg_dump")?;
        File::open(out)
            .and_then(|f| f.sync_all())
            .map_err(|source| io("sync", out, source))
    }

    /// Restores the dump `from` into database `dbname` (which must exist, empty) of the embedded
    /// cluster rooted at `root`.
    pub fn restore(&self, root: &Path, dbname: &str, from: &Path) -> Result<(), EmbeddedError> {
        let file = File::open(from).map_err(|source| io("open", from, source))?;
        let mut command = self.client(root, "pg_restore")?;
        command
            .args([
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
            ])
            .args(["--no-password", "--dbname", dbname])
            .stdin(file);
        run(command, "pg_restore")
    }

    fn client(&self, root: &Path, program: &str) -> Result<Command, EmbeddedError> {
        let socket_dir = embedded::socket_dir_for(&embedded::absolute(root)?)?;
        let mut command = embedded::command_as(&self.bins, program, self.owner);
        command
            .arg("--host")
            .arg(&socket_dir)
            .args(["--port", &SOCKET_PORT.to_string(), "--username", SUPERUSER])
            .stderr(Stdio::piped());
        Ok(command)
    }
}

fn run(mut command: Command, name: &str) -> Result<(), EmbeddedError> {
    let output = command
        .spawn()
        .and_then(|child| child.wait_with_output())
        .map_err(|source| EmbeddedError::Io {
            action: format!("run {name}"),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(EmbeddedError::ToolFailed {
        tool: name.to_owned(),
        output: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn io(action: &str, path: &Path, source: std::io::Error) -> EmbeddedError {
    EmbeddedError::Io {
        action: format!("{action} {}", path.display()),
        source,
    }
}
