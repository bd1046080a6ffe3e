//! One owner per data dir and per listen address. A `parley serve` (or `migrate`) holds an
//! exclusive advisory lock on `<data_dir>/parley.lock` for its whole life, so a second process on
//! the same data dir exits at once naming the holder, and an embedded PostgreSQL found running
//! there is stopped only by the process that holds the lock (its Parley is gone). The listen
//! address is probed with a plain bind (no SO_REUSEPORT) before the shards bind, so a port held by
//! any other socket is refused instead of silently shared.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why this process may not own what it was given.
#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    #[error(
        "the data dir {dir} is in use by another Parley{}; stop it first or use another --data-dir",
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    DataDirInUse { dir: PathBuf, holder: Option<u32> },
    #[error("could not lock the data dir {dir}: {source}")]
    Lock {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr} is already in use by another process; stop it or choose another --listen")]
    AddressInUse { addr: SocketAddr },
    #[error("could not check {addr}: {source}")]
    Probe {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; released when dropped (or when the process dies, however it dies).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Locks `dir` (creating it) for this process, writing this pid into the lock file.
pub fn lock_data_dir(dir: &Path) -> Result<DataDirLock, OwnershipError> {
    let io = |source| OwnershipError::Lock {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join("parley.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(OwnershipError::DataDirInUse {
                dir: dir.to_path_buf(),
                holder: text.trim().parse().ok(),
            });
        }
        Err(TryLockError::Error(error)) => return Err(io(error)),
    }
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(DataDirLock { _file: file, path })
}

/// Refuses `addr` when any socket already listens there (port 0 always picks a free port).
pub fn ensure_free(addr: SocketAddr) -> Result<(), OwnershipError> {
    if addr.port() == 0 {
        return Ok(());
    }
    crate::listener::probe(addr).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            OwnershipError::AddressInUse { addr }
        } else {
            OwnershipError::Probe { addr, source }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = std::env::temp_dir().join(format!("parley-lock-{}", std::process::id()));
        let held = lock_data_dir(&dir).expect("first");
        match lock_data_dir(&dir) {
            Err(OwnershipError::DataDirInUse { holder, .. }) => {
                assert_eq!(holder, Some(std::process::id()));
            }
            other => panic!("{other:?}"),
        }
        drop(held);
        assert!(lock_data_dir(&dir).is_ok(), "released on drop");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_listening_port_is_refused_even_with_reuseport() {
        let taken =
            crate::listener::bind_all(SocketAddr::from(([127, 0, 0, 1], 0)), 1, 16).expect("bind");
        let addr = taken[0].local_addr().expect("addr");
        assert!(matches!(
            ensure_free(addr),
            Err(OwnershipError::AddressInUse { .. })
        ));
        drop(taken);
        assert!(ensure_free(addr).is_ok());
    }
}
