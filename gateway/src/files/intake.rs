//! One upload received: the request body streamed to a temporary file (never held in memory:
//! one body chunk and the first 64 KiB, for sniffing, at a time), refused past `max_bytes` or
//! when it stalls, hashed on the way; then, for an image, its header checked against the pixel
//! bounds before anything is decoded, its metadata stripped into a second file (hashed again: the
//! stripped bytes are what is stored and served), and its thumbnails made on the blocking pool.
//! The temporary files are removed whatever happens (`Scratch`); nothing reaches the blob store
//! until it is complete.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use parley_shared::sniff::{self, HEAD_BYTES, ImageFormat, Sniffed};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::strip::{self, StripError};
use super::thumbs::{self, ThumbError};

/// How a body must arrive and what an image may be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) max_bytes: u64,
    /// Longest pause between two pieces of the body.
    pub(crate) pause: Duration,
    /// Slowest rate over the whole body, bytes per second (the deadline: `pause` plus the
    /// declared or largest length at this rate).
    pub(crate) min_rate: u64,
    pub(crate) max_pixels: u64,
    pub(crate) max_dimension: u32,
    /// Bytes a thumbnail decode may hold.
    pub(crate) decode_memory: u64,
}

/// A complete upload, in temporary files, ready for the blob store.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) sha256: String,
    pub(crate) size: u64,
    pub(crate) sniffed: Sniffed,
    /// An image's size as shown (orientation applied).
    pub(crate) dimensions: Option<(u32, u32)>,
    /// The bytes to store.
    pub(crate) file: PathBuf,
    pub(crate) thumbnails: thumbs::Made,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IntakeError {
    #[error("the upload exceeds {max} bytes")]
    TooLarge { max: u64 },
    #[error("the upload arrived too slowly")]
    TooSlow,
    #[error("the upload is empty")]
    Empty,
    #[error("the body could not be read")]
    Aborted,
    #[error(
        "the image is {width}x{height}, past the {max_pixels} pixels or {max_dimension} per side allowed"
    )]
    ImageTooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
        max_dimension: u32,
    },
    #[error("the image is malformed: {0}")]
    Malformed(&'static str),
    #[error("storing the upload failed: {0}")]
    Io(#[from] io::Error),
}

/// Temporary files removed when dropped (an upload cut off, refused, or moved in).
#[derive(Debug, Default)]
pub(crate) struct Scratch(Vec<PathBuf>);

impl Scratch {
    fn add(&mut self, path: PathBuf) -> PathBuf {
        self.0.push(path.clone());
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for path in &self.0 {
            // Moved into the store already, or never created: nothing to remove.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Receives `body` into `scratch_dir`, its files listed in `scratch`.
pub(crate) async fn receive(
    body: Incoming,
    declared: Option<u64>,
    bounds: Bounds,
    scratch_dir: &Path,
    scratch: &mut Scratch,
    decodes: &tokio::sync::Semaphore,
) -> Result<Received, IntakeError> {
    if declared.is_some_and(|len| len > bounds.max_bytes) {
        return Err(IntakeError::TooLarge {
            max: bounds.max_bytes,
        });
    }
    let stem = uuid::Uuid::now_v7().simple().to_string();
    let raw = scratch.add(scratch_dir.join(format!("{stem}.part")));
    let (size, head, digest) = stream_to(body, declared, bounds, &raw).await?;
    if size == 0 {
        return Err(IntakeError::Empty);
    }
    let sniffed = sniff::sniff(&head);
    let Some(format) = sniffed.image else {
        return Ok(Received {
            sha256: hex(&digest),
            size,
            sniffed,
            dimensions: None,
            file: raw,
            thumbnails: thumbs::Made::default(),
        });
    };
    if let Some(dimensions) = sniffed.dimensions {
        check_pixels(dimensions, bounds)?;
    }
    let clean = scratch.add(scratch_dir.join(format!("{stem}.clean")));
    let (from, to) = (raw.clone(), clean.clone());
    let (stripped, sha256, size) =
        tokio::task::spawn_blocking(move || strip_file(format, &from, &to))
            .await
            .map_err(io::Error::other)??;
    let stored = stripped
        .dimensions
        .or(sniffed.dimensions)
        .ok_or(IntakeError::Malformed("no dimensions in its header"))?;
    check_pixels(stored, bounds)?;
    let dimensions = thumbs::shown(stored, stripped.orientation);
    let made = {
        let _permit = decodes.acquire().await.map_err(io::Error::other)?;
        let source = clean.clone();
        let dir = scratch_dir.to_owned();
        let orientation = stripped.orientation;
        let result = tokio::task::spawn_blocking(move || {
            thumbs::make(
                &thumbs::Source {
                    path: &source,
                    format,
                    orientation,
                    max_alloc: bounds.decode_memory,
                    max_dimension: bounds.max_dimension,
                },
                &dir,
                &stem,
            )
        })
        .await
        .map_err(io::Error::other)?;
        match result {
            Ok(made) => made,
            Err(ThumbError::Io(error)) => return Err(IntakeError::Io(error)),
            Err(error) => {
                // Still stored and served (sniffed as an image, but no thumbnail to show).
                tracing::info!(%error, "no thumbnails for an upload");
                thumbs::Made::default()
            }
        }
    };
    for (_, path) in &made.files {
        scratch.add(path.clone());
    }
    Ok(Received {
        sha256,
        size,
        sniffed,
        dimensions: Some(dimensions),
        file: clean,
        thumbnails: made,
    })
}

fn check_pixels((width, height): (u32, u32), bounds: Bounds) -> Result<(), IntakeError> {
    if u64::from(width) * u64::from(height) > bounds.max_pixels
        || width > bounds.max_dimension
        || height > bounds.max_dimension
    {
        return Err(IntakeError::ImageTooLarge {
            width,
            height,
            max_pixels: bounds.max_pixels,
            max_dimension: bounds.max_dimension,
        });
    }
    Ok(())
}

/// Streams the body into `path`: (bytes, the first `HEAD_BYTES`, SHA-256).
async fn stream_to(
    body: Incoming,
    declared: Option<u64>,
    bounds: Bounds,
    path: &Path,
) -> Result<(u64, Vec<u8>, [u8; 32]), IntakeError> {
    let mut file = tokio::fs::File::create(path).await?;
    let allowance = bounds.pause
        + Duration::from_secs_f64(
            declared.unwrap_or(bounds.max_bytes) as f64 / bounds.min_rate.max(1) as f64,
        );
    let deadline = tokio::time::Instant::now() + allowance;
    let mut body = body;
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(HEAD_BYTES.min(declared.unwrap_or(0) as usize));
    let mut size: u64 = 0;
    loop {
        let pause = tokio::time::Instant::now() + bounds.pause;
        let frame = match tokio::time::timeout_at(pause.min(deadline), body.frame()).await {
            Err(_) => return Err(IntakeError::TooSlow),
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                tracing::debug!(%error, "reading an upload failed");
                return Err(IntakeError::Aborted);
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        size += data.len() as u64;
        if size > bounds.max_bytes {
            return Err(IntakeError::TooLarge {
                max: bounds.max_bytes,
            });
        }
        if head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - head.len()).min(data.len());
            head.extend_from_slice(&data[..take]);
        }
        hasher.update(&data);
        file.write_all(&data).await?;
    }
    file.flush().await?;
    Ok((size, head, hasher.finalize().into()))
}

/// Strips `from` into `to`; (what was found, SHA-256 of `to`, its length).
fn strip_file(
    format: ImageFormat,
    from: &Path,
    to: &Path,
) -> Result<(strip::Stripped, String, u64), IntakeError> {
    let mut input = io::BufReader::new(std::fs::File::open(from)?);
    let mut output = io::BufWriter::new(std::fs::File::create(to)?);
    let stripped = strip::strip(format, &mut input, &mut output).map_err(|error| match error {
        StripError::Io(error) => IntakeError::Io(error),
        StripError::Malformed(what) => IntakeError::Malformed(what),
    })?;
    io::Write::flush(&mut output)?;
    drop(output);
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(to)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((stripped, hex(&hasher.finalize().into()), size))
}

fn hex(digest: &[u8; 32]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
