//! Thumbnails of an image: decoded with its dimensions and the decoder's memory bounded (an image
//! past `uploads.max_pixels` never gets here: its header was refused first), its EXIF
//! orientation applied, scaled to each size smaller than it (longest side 320 and 1280), and
//! re-encoded (JPEG, or PNG when it has transparency), which carries no metadata. Blocking code:
//! run it on the blocking pool, at most `THUMBNAIL_DECODES` at once.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageReader, Limits, metadata::Orientation};
use parley_shared::sniff::ImageFormat;

/// The longest side of each thumbnail made (only those smaller than the image).
pub(crate) const SIZES: [u32; 2] = [320, 1280];

/// Decodes that may run at once on one instance (each may hold up to `max_alloc` bytes).
pub(crate) const THUMBNAIL_DECODES: usize = 2;

/// Thumbnails written to temporary files.
#[derive(Debug, Default)]
pub(crate) struct Made {
    /// (size, temporary file) per thumbnail made.
    pub(crate) files: Vec<(u32, PathBuf)>,
    /// `image/jpeg` or `image/png`.
    pub(crate) mime: Option<&'static str>,
}

/// Why no thumbnail could be made (the upload is still kept, shown as a file card).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ThumbError {
    #[error("decoding the image failed: {0}")]
    Decode(#[from] image::ImageError),
    #[error("writing a thumbnail failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What to make thumbnails of.
#[derive(Debug)]
pub(crate) struct Source<'a> {
    pub(crate) path: &'a Path,
    pub(crate) format: ImageFormat,
    pub(crate) orientation: Option<u8>,
    /// Bytes the decoder may hold.
    pub(crate) max_alloc: u64,
    pub(crate) max_dimension: u32,
}

/// Makes the thumbnails of `source` into `scratch` (named after `stem`).
pub(crate) fn make(source: &Source<'_>, scratch: &Path, stem: &str) -> Result<Made, ThumbError> {
    let mut reader = ImageReader::new(BufReader::new(std::fs::File::open(source.path)?));
    reader.set_format(match source.format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Gif => image::ImageFormat::Gif,
        ImageFormat::WebP => image::ImageFormat::WebP,
    });
    let mut limits = Limits::default();
    limits.max_image_width = Some(source.max_dimension);
    limits.max_image_height = Some(source.max_dimension);
    limits.max_alloc = Some(source.max_alloc);
    reader.limits(limits);
    let mut image = reader.decode()?;
    if let Some(orientation) = source.orientation.and_then(Orientation::from_exif) {
        image.apply_orientation(orientation);
    }
    let longest = image.width().max(image.height());
    let alpha = image.color().has_alpha();
    let mut made = Made::default();
    for size in SIZES.into_iter().filter(|size| *size < longest) {
        let small = image.thumbnail(size, size);
        let path = scratch.join(format!("{stem}.t{size}"));
        write(&small, alpha, &path)?;
        made.files.push((size, path));
    }
    if !made.files.is_empty() {
        made.mime = Some(if alpha { "image/png" } else { "image/jpeg" });
    }
    Ok(made)
}

fn write(image: &DynamicImage, alpha: bool, path: &Path) -> Result<(), ThumbError> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    if alpha {
        image
            .to_rgba8()
            .write_with_encoder(PngEncoder::new(&mut out))?;
    } else {
        image
            .to_rgb8()
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 82))?;
    }
    out.flush()?;
    Ok(())
}

/// The dimensions an image is shown at: its stored ones, swapped for orientations that turn it
/// a quarter (5 to 8).
pub(crate) fn shown(dimensions: (u32, u32), orientation: Option<u8>) -> (u32, u32) {
    match orientation {
        Some(5..=8) => (dimensions.1, dimensions.0),
        _ => dimensions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_are_smaller_and_upright() -> Result<(), ThumbError> {
        let dir = std::env::temp_dir().join(format!("parley-thumbs-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir)?;
        let source = dir.join("photo.jpg");
        let picture =
            image::RgbImage::from_fn(2000, 1000, |x, _| image::Rgb([(x % 256) as u8, 0, 0]));
        DynamicImage::ImageRgb8(picture).save_with_format(&source, image::ImageFormat::Jpeg)?;
        let made = make(
            &Source {
                path: &source,
                format: ImageFormat::Jpeg,
                orientation: Some(6),
                max_alloc: 64 << 20,
                max_dimension: 16_384,
            },
            &dir,
            "photo",
        )?;
        assert_eq!(made.mime, Some("image/jpeg"));
        let sizes: Vec<(u32, (u32, u32))> = made
            .files
            .iter()
            .map(|(size, path)| {
                let reader = ImageReader::open(path)?.with_guessed_format()?;
                Ok((*size, reader.into_dimensions()?))
            })
            .collect::<Result<_, ThumbError>>()?;
        // Turned a quarter: taller than wide.
        assert_eq!(sizes, vec![(320, (160, 320)), (1280, (640, 1280))]);
        assert_eq!(shown((2000, 1000), Some(6)), (1000, 2000));
        let refused = make(
            &Source {
                path: &source,
                format: ImageFormat::Jpeg,
                orientation: None,
                max_alloc: 64 << 20,
                max_dimension: 1000,
            },
            &dir,
            "limited",
        );
        assert!(matches!(refused, Err(ThumbError::Decode(_))));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
