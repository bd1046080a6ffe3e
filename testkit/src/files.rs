//! Files for upload tests: real images (a JPEG carrying EXIF with a GPS position, a PNG with text
//! chunks), and hostile ones (a PNG whose header claims 100,000 × 100,000 pixels, an SVG with
//! script, an executable named like a photo).

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// The GPS text every EXIF fixture carries (a download must not contain it).
pub const GPS_MARK: &[u8] = b"GPS-51.5007N-0.1246W";

/// A `width` × `height` JPEG with an APP1 EXIF segment (orientation 1 and a GPS mark).
pub fn jpeg_with_gps(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let picture = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut plain = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(picture).write_to(&mut plain, ImageFormat::Jpeg)?;
    let plain = plain.into_inner();
    // Big-endian TIFF: IFD0 with Orientation 1, then the mark.
    let mut tiff =
        b"Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x01\0\0\0\0\0\0".to_vec();
    tiff.extend_from_slice(GPS_MARK);
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&u16::try_from(tiff.len() + 2)?.to_be_bytes());
    segment.extend_from_slice(&tiff);
    Ok([&plain[..2], &segment, &plain[2..]].concat())
}

/// A `width` × `height` PNG with transparency and a `tEXt` chunk holding the GPS mark.
pub fn png_with_text(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let picture = RgbaImage::from_fn(width, height, |x, _| Rgba([0, 0, 255, (x % 256) as u8]));
    let mut plain = Cursor::new(Vec::new());
    DynamicImage::ImageRgba8(picture).write_to(&mut plain, ImageFormat::Png)?;
    let plain = plain.into_inner();
    // After the signature (8) and IHDR (25).
    let mut chunk = u32::try_from(GPS_MARK.len() + 8)?.to_be_bytes().to_vec();
    chunk.extend_from_slice(b"tEXtComment\0");
    chunk.extend_from_slice(GPS_MARK);
    chunk.extend_from_slice(&[0, 0, 0, 0]);
    Ok([&plain[..33], &chunk, &plain[33..]].concat())
}

/// A PNG header for 100,000 × 100,000 pixels (40 GB as RGBA) and a little data: a bomb.
pub fn png_bomb() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bytes.extend_from_slice(&100_000u32.to_be_bytes());
    bytes.extend_from_slice(&100_000u32.to_be_bytes());
    bytes.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&[0, 0, 0, 16]);
    bytes.extend_from_slice(b"IDAT");
    bytes.extend_from_slice(&[0x78, 0x9c].repeat(8));
    bytes
}

/// An SVG that would run script if a browser rendered it in Parley's origin.
pub const SVG_WITH_SCRIPT: &[u8] =
    b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>fetch('/api/users/me')</script></svg>";

/// The start of an ELF executable.
pub fn executable() -> Vec<u8> {
    let mut bytes = b"\x7fELF\x02\x01\x01\0".to_vec();
    bytes.resize(4096, 0x90);
    bytes
}

/// A small PDF.
pub fn pdf() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    bytes.extend_from_slice(&b"1 0 obj << /Type /Catalog >> endobj\n".repeat(100));
    bytes.extend_from_slice(b"%%EOF\n");
    bytes
}

/// The dimensions `bytes` decode to (sniffing the format).
pub fn dimensions(bytes: &[u8]) -> anyhow::Result<(u32, u32)> {
    let reader = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    Ok(reader.into_dimensions()?)
}
