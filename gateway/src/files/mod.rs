//! Uploaded files: where their bytes live (`BlobStore`: the local disk under the data dir, by
//! default, or an S3-compatible bucket, `s3`), how an upload is received (`intake`: streamed to a temporary file, hashed, sniffed,
//! metadata stripped, thumbnails made, then moved in whole), and the sweep of what nothing holds.
//! A blob's key is the hex SHA-256 of its bytes (a thumbnail's: that and `.t<width>`), so a file
//! is written once however often it is uploaded, and a key never names other bytes.

pub(crate) mod intake;
pub(crate) mod s3;
pub(crate) mod strip;
pub(crate) mod sweep;
pub(crate) mod thumbs;

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncSeekExt};

/// A boxed future (the store is chosen at start, behind `dyn`).
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A blob's bytes from some offset.
pub(crate) type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// Where blobs live.
pub(crate) trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Takes the complete temporary file `temp` (in `scratch`) as blob `key`, atomically: a crash
    /// leaves no blob or the whole one, never part of it.
    fn put<'a>(&'a self, temp: &'a Path, key: &'a str) -> BoxFuture<'a, io::Result<()>>;
    /// Blob `key`'s length and its bytes from `offset`; `None` when there is no such blob.
    fn open<'a>(
        &'a self,
        key: &'a str,
        offset: u64,
    ) -> BoxFuture<'a, io::Result<Option<(u64, BlobReader)>>>;
    /// Removes blob `key` (gone already is fine).
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>>;
    /// Up to `limit` keys of blobs last written more than `age` ago, for the sweep.
    fn older_than(&self, age: Duration, limit: usize) -> BoxFuture<'_, io::Result<Vec<String>>>;
    /// A local directory for the temporary files of uploads being received.
    fn scratch(&self) -> &Path;
}

/// A key Parley made: lowercase hex, optionally `.t` and digits.
fn valid_key(key: &str) -> bool {
    let (sha, suffix) = key.split_once('.').unwrap_or((key, ""));
    sha.len() == 64
        && sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && (suffix.is_empty()
            || suffix.strip_prefix('t').is_some_and(|n| {
                !n.is_empty() && n.len() <= 5 && n.bytes().all(|b| b.is_ascii_digit())
            }))
}

/// The blob a key names' SHA-256 (what `uploads.sha256` holds).
pub(crate) fn sha_of(key: &str) -> &str {
    key.split_once('.').map_or(key, |(sha, _)| sha)
}

/// The store `config.uploads.store` names: local files under `<data_dir>/files`, or the bucket
/// (its temporary files still under `<data_dir>/files/tmp`).
pub(crate) fn open(config: &parley_shared::Config) -> io::Result<std::sync::Arc<dyn BlobStore>> {
    let root = config.server.data_dir.join("files");
    Ok(match config.uploads.store.as_str() {
        "s3" => std::sync::Arc::new(s3::S3Store::open(&config.uploads, &root.join("tmp"))?),
        _ => std::sync::Arc::new(LocalStore::open(&root)?),
    })
}

/// No store: every call fails (the state before `Gateway::start` opens the configured one).
#[derive(Debug)]
pub(crate) struct NoStore;

fn no_store() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "no file store")
}

impl BlobStore for NoStore {
    fn put<'a>(&'a self, _: &'a Path, _: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async { Err(no_store()) })
    }
    fn open<'a>(
        &'a self,
        _: &'a str,
        _: u64,
    ) -> BoxFuture<'a, io::Result<Option<(u64, BlobReader)>>> {
        Box::pin(async { Err(no_store()) })
    }
    fn remove<'a>(&'a self, _: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async { Err(no_store()) })
    }
    fn older_than(&self, _: Duration, _: usize) -> BoxFuture<'_, io::Result<Vec<String>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn scratch(&self) -> &Path {
        Path::new("/nonexistent")
    }
}

/// Blobs as files under a directory: `blobs/<first two hex digits>/<key>`, temporary files in
/// `tmp/` (emptied at start: what is there is an upload a crash cut off).
#[derive(Debug)]
pub(crate) struct LocalStore {
    blobs: PathBuf,
    scratch: PathBuf,
}

impl LocalStore {
    /// The store under `root` (created if missing), with leftover temporary files removed.
    pub(crate) fn open(root: &Path) -> io::Result<Self> {
        let blobs = root.join("blobs");
        let scratch = root.join("tmp");
        std::fs::create_dir_all(&blobs)?;
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)?;
        }
        std::fs::create_dir_all(&scratch)?;
        Ok(Self { blobs, scratch })
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        if !valid_key(key) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a blob key",
            ));
        }
        Ok(self.blobs.join(&key[..2]).join(key))
    }
}

impl BlobStore for LocalStore {
    fn put<'a>(&'a self, temp: &'a Path, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let path = self.path(key)?;
            let temp = temp.to_owned();
            tokio::task::spawn_blocking(move || -> io::Result<()> {
                let dir = path.parent().ok_or(io::ErrorKind::InvalidInput)?;
                std::fs::create_dir_all(dir)?;
                std::fs::File::open(&temp)?.sync_all()?;
                std::fs::rename(&temp, &path)?;
                std::fs::File::open(dir)?.sync_all()
            })
            .await
            .map_err(io::Error::other)?
        })
    }

    fn open<'a>(
        &'a self,
        key: &'a str,
        offset: u64,
    ) -> BoxFuture<'a, io::Result<Option<(u64, BlobReader)>>> {
        Box::pin(async move {
            let path = self.path(key)?;
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(file) => file,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(error),
            };
            let len = file.metadata().await?.len();
            if offset > 0 {
                file.seek(io::SeekFrom::Start(offset.min(len))).await?;
            }
            Ok(Some((len, Box::pin(file) as BlobReader)))
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)?).await {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            }
        })
    }

    fn older_than(&self, age: Duration, limit: usize) -> BoxFuture<'_, io::Result<Vec<String>>> {
        let blobs = self.blobs.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || -> io::Result<Vec<String>> {
                let cutoff = SystemTime::now() - age;
                let mut keys = Vec::new();
                for dir in std::fs::read_dir(&blobs)? {
                    for entry in std::fs::read_dir(dir?.path())? {
                        let entry = entry?;
                        let name = entry.file_name().to_string_lossy().into_owned();
                        let modified = entry.metadata()?.modified()?;
                        if valid_key(&name) && modified < cutoff {
                            keys.push(name);
                            if keys.len() >= limit {
                                return Ok(keys);
                            }
                        }
                    }
                }
                Ok(keys)
            })
            .await
            .map_err(io::Error::other)?
        })
    }

    fn scratch(&self) -> &Path {
        &self.scratch
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[test]
    fn keys_table() {
        let sha = "a".repeat(64);
        for (key, ok) in [
            (sha.clone(), true),
            (format!("{sha}.t320"), true),
            (format!("{sha}.t"), false),
            (format!("{sha}.x320"), false),
            ("../../etc/passwd".to_owned(), false),
            ("A".repeat(64), false),
            (format!("{}/x", "a".repeat(62)), false),
        ] {
            assert_eq!(valid_key(&key), ok, "{key}");
        }
        assert_eq!(sha_of(&format!("{sha}.t320")), sha);
    }

    #[tokio::test]
    async fn put_open_remove_and_leftovers() -> io::Result<()> {
        let root = std::env::temp_dir().join(format!("parley-files-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(root.join("tmp"))?;
        std::fs::write(root.join("tmp/half"), b"cut off")?;
        let store = LocalStore::open(&root)?;
        assert!(
            !root.join("tmp/half").exists(),
            "a crash's temporary file is removed"
        );
        let temp = store.scratch().join("upload");
        std::fs::write(&temp, b"hello world")?;
        let key = "b".repeat(64);
        store.put(&temp, &key).await?;
        assert!(!temp.exists());
        let (len, mut reader) = store.open(&key, 6).await?.expect("stored");
        let mut rest = String::new();
        reader.read_to_string(&mut rest).await?;
        assert_eq!((len, rest.as_str()), (11, "world"));
        assert_eq!(
            store.older_than(Duration::ZERO, 10).await?,
            vec![key.clone()]
        );
        assert!(
            store
                .older_than(Duration::from_secs(3600), 10)
                .await?
                .is_empty()
        );
        store.remove(&key).await?;
        store.remove(&key).await?;
        assert!(store.open(&key, 0).await?.is_none());
        assert!(store.open("../x", 0).await.is_err());
        std::fs::remove_dir_all(&root)
    }
}
