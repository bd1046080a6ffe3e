//! The real `parley` binary as a child process: start it, learn its address from its first line
//! of output, signal it, and collect what it printed.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running `parley serve`. Dropping it kills the process if it is still running.
#[derive(Debug)]
pub struct ParleyProcess {
    child: Child,
    /// Address from the "listening on http://ADDR" line.
    pub addr: SocketAddr,
}

impl ParleyProcess {
    /// Runs `bin serve <args>` with `env` added, and waits (up to `within`) for it to listen.
    pub fn serve(
        bin: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        within: Duration,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().context("starting parley")?;
        let stdout = child.stdout.take().context("parley's stdout")?;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = match receiver.recv_timeout(within) {
            Ok(line) if !line.is_empty() => line,
            _ => {
                let _ = child.kill();
                let mut stderr = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = err.read_to_string(&mut stderr);
                }
                bail!("parley did not start listening within {within:?}; stderr:\n{stderr}");
            }
        };
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .with_context(|| format!("no address in {line:?}"))?;
        Ok(Self { child, addr })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `INT`, ...) with the shell's `kill` builtin (no procps needed).
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -{signal} {}", self.pid()))
            .status()?;
        anyhow::ensure!(status.success(), "kill -{signal} failed");
        Ok(())
    }

    /// Waits up to `within` for the process to exit; returns its status and everything it wrote
    /// to stderr.
    pub fn wait(mut self, within: Duration) -> anyhow::Result<(ExitStatus, String)> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let mut stderr = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    let _ = err.read_to_string(&mut stderr);
                }
                return Ok((status, stderr));
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                bail!("parley did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ParleyProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `bin <args>` to completion with `env` added; returns (exit code, stdout, stderr).
pub fn run(
    bin: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<(i32, String, String)> {
    let mut command = Command::new(bin);
    command.args(args).stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().context("running parley")?;
    Ok((
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// Processes whose command line mentions `needle` (e.g. a data dir), from /proc.
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(needle).then_some(pid)
        })
        .collect()
}

/// Waits up to 10 s for `GET /health/ready` at `addr` to answer 200.
pub async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..100 {
        if let Ok(response) = crate::http::get(addr, "/health/ready").await
            && response.status == 200
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{addr} never became ready")
}
