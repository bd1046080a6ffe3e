//! Blobs in an S3-compatible bucket (`uploads.store = "s3"`: AWS, MinIO, Garage...), which every
//! instance of a deployment shares, through the `object_store` crate. A blob is uploaded from its
//! complete temporary file in 5 MiB parts (a multipart upload: the object appears only when the
//! last part is in, never half), read back as a stream from any offset, and listed for the sweep
//! by its last-modified time. Temporary files stay on the local disk (`scratch`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use parley_shared::config::UploadsConfig;
use tokio::io::AsyncReadExt;

use super::{BlobReader, BlobStore, BoxFuture, valid_key};

/// Bytes per part of a multipart upload (S3's smallest but for the last part).
const PART: usize = 5 * 1024 * 1024;
/// Parts of one blob in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// The bucket.
#[derive(Debug)]
pub(crate) struct S3Store {
    store: Arc<dyn ObjectStore>,
    /// `<uploads.s3_prefix>blobs/`.
    prefix: String,
    scratch: PathBuf,
}

impl S3Store {
    /// The store `config` names, with its temporary files under `scratch` (emptied: what is there
    /// is an upload a crash cut off).
    pub(crate) fn open(config: &UploadsConfig, scratch: &Path) -> io::Result<Self> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.s3_bucket)
            .with_region(&config.s3_region)
            .with_allow_http(config.s3_allow_http);
        if !config.s3_endpoint.is_empty() {
            builder = builder.with_endpoint(&config.s3_endpoint);
        }
        if !config.s3_access_key_id.is_empty() {
            builder = builder
                .with_access_key_id(&config.s3_access_key_id)
                .with_secret_access_key(&config.s3_secret_access_key);
        }
        let store = builder.build().map_err(io::Error::other)?;
        if scratch.exists() {
            std::fs::remove_dir_all(scratch)?;
        }
        std::fs::create_dir_all(scratch)?;
        Ok(Self {
            store: Arc::new(store),
            prefix: format!("{}blobs/", config.s3_prefix),
            scratch: scratch.to_owned(),
        })
    }

    fn path(&self, key: &str) -> io::Result<ObjectPath> {
        if !valid_key(key) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a blob key",
            ));
        }
        Ok(ObjectPath::from(format!(
            "{}{}/{key}",
            self.prefix,
            &key[..2]
        )))
    }
}

fn not_found(error: &object_store::Error) -> bool {
    matches!(error, object_store::Error::NotFound { .. })
}

impl BlobStore for S3Store {
    fn put<'a>(&'a self, temp: &'a Path, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let path = self.path(key)?;
            let mut file = tokio::fs::File::open(temp).await?;
            let upload = self
                .store
                .put_multipart(&path)
                .await
                .map_err(io::Error::other)?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(io::Error::other)?;
                writer.write(&buf[..n]);
            }
            writer.finish().await.map_err(io::Error::other)?;
            tokio::fs::remove_file(temp).await
        })
    }

    fn open<'a>(
        &'a self,
        key: &'a str,
        offset: u64,
    ) -> BoxFuture<'a, io::Result<Option<(u64, BlobReader)>>> {
        Box::pin(async move {
            let path = self.path(key)?;
            let len = match self.store.head(&path).await {
                Ok(meta) => meta.size,
                Err(error) if not_found(&error) => return Ok(None),
                Err(error) => return Err(io::Error::other(error)),
            };
            if offset >= len {
                return Ok(Some((len, Box::pin(tokio::io::empty()) as BlobReader)));
            }
            let options = GetOptions {
                range: (offset > 0).then_some(GetRange::Offset(offset)),
                ..GetOptions::default()
            };
            let got = match self.store.get_opts(&path, options).await {
                Ok(got) => got,
                Err(error) if not_found(&error) => return Ok(None),
                Err(error) => return Err(io::Error::other(error)),
            };
            let stream = got.into_stream().map_err(io::Error::other);
            let reader = tokio_util::io::StreamReader::new(stream);
            Ok(Some((len, Box::pin(reader) as BlobReader)))
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            match self.store.delete(&self.path(key)?).await {
                Err(error) if !not_found(&error) => Err(io::Error::other(error)),
                _ => Ok(()),
            }
        })
    }

    fn older_than(&self, age: Duration, limit: usize) -> BoxFuture<'_, io::Result<Vec<String>>> {
        Box::pin(async move {
            let cutoff = SystemTime::now()
                .checked_sub(age)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let prefix = ObjectPath::from(self.prefix.trim_end_matches('/'));
            let mut listed = self.store.list(Some(&prefix));
            let mut keys = Vec::new();
            while let Some(meta) = listed.next().await {
                let meta = meta.map_err(io::Error::other)?;
                let Some(name) = meta.location.filename() else {
                    continue;
                };
                if valid_key(name) && meta.last_modified.timestamp() < cutoff {
                    keys.push(name.to_owned());
                    if keys.len() >= limit {
                        break;
                    }
                }
            }
            Ok(keys)
        })
    }

    fn scratch(&self) -> &Path {
        &self.scratch
    }
}
