//! Metadata out of images before anyone sees them: a JPEG loses its APP1 (EXIF, XMP: camera,
//! time, GPS position), APP13 (IPTC) and comment segments, a PNG its `eXIf`, text and time chunks,
//! a WebP its `EXIF` and `XMP ` chunks. Everything else is copied byte for byte (no re-encoding,
//! so the picture is untouched), streaming, with memory bounded by one segment (at most 64 KiB
//! for JPEG) or a copy buffer; a WebP's RIFF size is patched at the end (the output seeks). A JPEG's dimensions come from its frame header on the way.
//! Blocking code: run it on the blocking pool.

use std::io::{self, Read, Seek, SeekFrom, Write};

use parley_shared::sniff::ImageFormat;

/// What stripping found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Stripped {
    /// Width and height, from a JPEG's frame header (other formats' come from `sniff`).
    pub(crate) dimensions: Option<(u32, u32)>,
    /// Metadata segments or chunks removed.
    pub(crate) removed: u32,
    /// A JPEG's EXIF orientation (1 to 8), the one tag kept (in a minimal EXIF segment of its
    /// own), so that a photo taken sideways is still shown upright.
    pub(crate) orientation: Option<u8>,
}

/// Why an image could not be copied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StripError {
    #[error("reading or writing failed: {0}")]
    Io(#[from] io::Error),
    #[error("the image is malformed: {0}")]
    Malformed(&'static str),
}

/// Copies `input` to `output` (at its start) without its metadata.
pub(crate) fn strip(
    format: ImageFormat,
    input: &mut impl Read,
    output: &mut (impl Write + Seek),
) -> Result<Stripped, StripError> {
    match format {
        ImageFormat::Jpeg => strip_jpeg(input, output),
        ImageFormat::Png => strip_png(input, output),
        ImageFormat::WebP => strip_webp(input, output),
        ImageFormat::Gif => {
            io::copy(input, output)?;
            Ok(Stripped::default())
        }
    }
}

fn read_exact_or(
    input: &mut impl Read,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), StripError> {
    input.read_exact(buf).map_err(|error| match error.kind() {
        io::ErrorKind::UnexpectedEof => StripError::Malformed(what),
        _ => StripError::Io(error),
    })
}

/// Skips `len` bytes of `input`.
fn skip(input: &mut impl Read, len: u64, what: &'static str) -> Result<(), StripError> {
    let skipped = io::copy(&mut input.take(len), &mut io::sink())?;
    if skipped == len {
        Ok(())
    } else {
        Err(StripError::Malformed(what))
    }
}

fn strip_jpeg(input: &mut impl Read, output: &mut impl Write) -> Result<Stripped, StripError> {
    let mut found = Stripped::default();
    let mut soi = [0u8; 2];
    read_exact_or(input, &mut soi, "no start of image")?;
    if soi != [0xFF, 0xD8] {
        return Err(StripError::Malformed("no start of image"));
    }
    output.write_all(&soi)?;
    loop {
        let mut marker = [0u8; 2];
        read_exact_or(input, &mut marker, "truncated before the scan")?;
        if marker[0] != 0xFF {
            return Err(StripError::Malformed("a segment without a marker"));
        }
        // Fill bytes (0xFF repeated) may precede a marker.
        while marker[1] == 0xFF {
            let mut next = [0u8; 1];
            read_exact_or(input, &mut next, "truncated before the scan")?;
            marker[1] = next[0];
        }
        let code = marker[1];
        if code == 0xD9 {
            output.write_all(&marker)?;
            return Ok(found);
        }
        // Markers without a length: TEM and RSTn.
        if code == 0x01 || (0xD0..=0xD7).contains(&code) {
            output.write_all(&marker)?;
            continue;
        }
        let mut len = [0u8; 2];
        read_exact_or(input, &mut len, "truncated segment length")?;
        let length = u16::from_be_bytes(len);
        if length < 2 {
            return Err(StripError::Malformed(
                "a segment shorter than its length field",
            ));
        }
        let body_len = usize::from(length - 2);
        let mut body = vec![0u8; body_len];
        read_exact_or(input, &mut body, "truncated segment")?;
        if code == 0xE1 || code == 0xED || code == 0xFE {
            found.removed += 1;
            if found.orientation.is_none()
                && let Some(orientation) = exif_orientation(&body)
            {
                found.orientation = Some(orientation);
                output.write_all(&orientation_segment(orientation))?;
            }
            continue;
        }
        // SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
        let frame = (0xC0..=0xCF).contains(&code) && !matches!(code, 0xC4 | 0xC8 | 0xCC);
        if frame && body.len() >= 5 {
            let height = u32::from(u16::from_be_bytes([body[1], body[2]]));
            let width = u32::from(u16::from_be_bytes([body[3], body[4]]));
            if width > 0 && height > 0 {
                found.dimensions = Some((width, height));
            }
        }
        output.write_all(&marker)?;
        output.write_all(&len)?;
        output.write_all(&body)?;
        if code == 0xDA {
            // Start of scan: the entropy-coded data and whatever follows are copied as they are
            // (metadata segments after the first scan are rare and hold no EXIF).
            io::copy(input, output)?;
            return Ok(found);
        }
    }
}

/// The Orientation tag (0x0112) of IFD0 in an APP1 `Exif` segment's TIFF data.
fn exif_orientation(body: &[u8]) -> Option<u8> {
    let tiff = body.strip_prefix(b"Exif\0\0")?;
    let big = match tiff.get(..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = tiff.get(at..at + 2)?;
        Some(if big {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b = tiff.get(at..at + 4)?;
        let b = [b[0], b[1], b[2], b[3]];
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let count = usize::from(u16_at(ifd)?);
    (0..count.min(512)).find_map(|i| {
        let entry = ifd + 2 + i * 12;
        (u16_at(entry)? == 0x0112 && u16_at(entry + 2)? == 3)
            .then(|| u16_at(entry + 8))
            .flatten()
            .and_then(|v| u8::try_from(v).ok())
            .filter(|v| (1..=8).contains(v))
    })
}

/// An APP1 segment holding only the orientation: big-endian TIFF, one IFD0 entry.
fn orientation_segment(orientation: u8) -> Vec<u8> {
    let mut tiff = b"Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    tiff.extend_from_slice(&[0, orientation, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    let mut segment = vec![0xFF, 0xE1];
    let length = u16::try_from(tiff.len() + 2).expect("a fixed small segment");
    segment.extend_from_slice(&length.to_be_bytes());
    segment.extend_from_slice(&tiff);
    segment
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

fn strip_png(input: &mut impl Read, output: &mut impl Write) -> Result<Stripped, StripError> {
    let mut found = Stripped::default();
    let mut signature = [0u8; 8];
    read_exact_or(input, &mut signature, "no PNG signature")?;
    if &signature != PNG_SIGNATURE {
        return Err(StripError::Malformed("no PNG signature"));
    }
    output.write_all(&signature)?;
    loop {
        let mut header = [0u8; 8];
        match input.read(&mut header[..1])? {
            0 => return Ok(found),
            _ => read_exact_or(input, &mut header[1..], "truncated chunk header")?,
        }
        let length = u64::from(u32::from_be_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let kind = [header[4], header[5], header[6], header[7]];
        // Data and CRC.
        let rest = length + 4;
        if matches!(&kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME") {
            skip(input, rest, "truncated chunk")?;
            found.removed += 1;
            continue;
        }
        output.write_all(&header)?;
        let copied = io::copy(&mut input.take(rest), output)?;
        if copied != rest {
            return Err(StripError::Malformed("truncated chunk"));
        }
        if &kind == b"IEND" {
            return Ok(found);
        }
    }
}

/// A WebP is a RIFF container: its chunks are copied but `EXIF` and `XMP `; then the RIFF size
/// and the `VP8X` flags (the first chunk's first byte, at offset 20) are rewritten to match.
fn strip_webp(
    input: &mut impl Read,
    output: &mut (impl Write + Seek),
) -> Result<Stripped, StripError> {
    let mut found = Stripped::default();
    let mut header = [0u8; 12];
    read_exact_or(input, &mut header, "no RIFF header")?;
    if &header[..4] != b"RIFF" || &header[8..12] != b"WEBP" {
        return Err(StripError::Malformed("no RIFF header"));
    }
    output.write_all(&header)?;
    let mut size: u64 = 4;
    // The first chunk's flags, when it is `VP8X`.
    let mut flags: Option<u8> = None;
    loop {
        let mut chunk = [0u8; 8];
        match input.read(&mut chunk[..1])? {
            0 => break,
            _ => read_exact_or(input, &mut chunk[1..], "truncated chunk header")?,
        }
        let kind = [chunk[0], chunk[1], chunk[2], chunk[3]];
        let length = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        let padded = u64::from(length) + u64::from(length & 1);
        if matches!(&kind, b"EXIF" | b"XMP ") {
            skip(input, padded, "truncated chunk")?;
            found.removed += 1;
            continue;
        }
        output.write_all(&chunk)?;
        if size == 4 && &kind == b"VP8X" && length >= 10 {
            let mut first = [0u8; 1];
            read_exact_or(input, &mut first, "truncated chunk")?;
            output.write_all(&first)?;
            flags = Some(first[0]);
            let copied = io::copy(&mut input.take(padded - 1), output)?;
            if copied != padded - 1 {
                return Err(StripError::Malformed("truncated chunk"));
            }
        } else {
            let copied = io::copy(&mut input.take(padded), output)?;
            if copied != padded {
                return Err(StripError::Malformed("truncated chunk"));
            }
        }
        size += 8 + padded;
    }
    let size = u32::try_from(size).map_err(|_| StripError::Malformed("too large for RIFF"))?;
    output.seek(SeekFrom::Start(4))?;
    output.write_all(&size.to_le_bytes())?;
    if let Some(flags) = flags.filter(|_| found.removed > 0) {
        // Clear EXIF (bit 3) and XMP (bit 2).
        output.seek(SeekFrom::Start(20))?;
        output.write_all(&[flags & !0b0000_1100])?;
    }
    output.seek(SeekFrom::End(0))?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(code: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, code];
        out.extend_from_slice(&u16::try_from(body.len() + 2).expect("small").to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn jpeg_loses_exif_and_keeps_the_picture() {
        let exif = segment(0xE1, b"Exif\0\0GPS 51.5N 0.1W");
        let jfif = segment(0xE0, b"JFIF\0\x01\x02");
        let sof = segment(0xC0, &[8, 0x01, 0xE0, 0x02, 0x80, 3]);
        let sos = segment(0xDA, &[1, 2, 3]);
        let scan = [0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9];
        let input = [
            &[0xFF, 0xD8][..],
            &jfif,
            &exif,
            &segment(0xFE, b"comment"),
            &sof,
            &sos,
            &scan,
        ]
        .concat();
        let mut out = io::Cursor::new(Vec::new());
        let found = strip(ImageFormat::Jpeg, &mut &input[..], &mut out).expect("strips");
        let out = out.into_inner();
        assert_eq!(found.dimensions, Some((640, 480)));
        assert_eq!((found.removed, found.orientation), (2, None));
        let want = [&[0xFF, 0xD8][..], &jfif, &sof, &sos, &scan].concat();
        assert_eq!(out, want);
        assert!(!out.windows(3).any(|w| w == b"GPS"));
    }

    #[test]
    fn jpeg_keeps_only_its_orientation() {
        // Little-endian TIFF: IFD0 with Make ("Cam") and Orientation 6, then a GPS pointer.
        let mut tiff = b"II*\0\x08\0\0\0\x03\0".to_vec();
        tiff.extend_from_slice(&[0x0f, 0x01, 2, 0, 4, 0, 0, 0, b'C', b'a', b'm', 0]);
        tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
        tiff.extend_from_slice(&[0x25, 0x88, 4, 0, 1, 0, 0, 0, 0x40, 0, 0, 0]);
        tiff.extend_from_slice(b"\0\0\0\0GPS 51.5N");
        let exif = segment(0xE1, &[&b"Exif\0\0"[..], &tiff].concat());
        let sof = segment(0xC0, &[8, 0, 10, 0, 20, 3]);
        let input = [
            &[0xFF, 0xD8][..],
            &exif,
            &sof,
            &segment(0xDA, &[0]),
            &[0xFF, 0xD9],
        ]
        .concat();
        let mut out = io::Cursor::new(Vec::new());
        let found = strip(ImageFormat::Jpeg, &mut &input[..], &mut out).expect("strips");
        let out = out.into_inner();
        assert_eq!(
            (found.orientation, found.dimensions),
            (Some(6), Some((20, 10)))
        );
        assert!(!out.windows(3).any(|w| w == b"GPS" || w == b"Cam"));
        // The kept segment reads back as the same orientation.
        let kept = &out[2..];
        let length = usize::from(u16::from_be_bytes([kept[2], kept[3]]));
        assert_eq!(exif_orientation(&kept[4..2 + length]), Some(6));
    }

    #[test]
    fn png_loses_text_and_exif_chunks() {
        let chunk = |kind: &[u8; 4], data: &[u8]| {
            let mut out = u32::try_from(data.len())
                .expect("small")
                .to_be_bytes()
                .to_vec();
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            out.extend_from_slice(&[0, 0, 0, 0]);
            out
        };
        let ihdr = chunk(b"IHDR", &[0, 0, 0, 2, 0, 0, 0, 3, 8, 6, 0, 0, 0]);
        let idat = chunk(b"IDAT", b"pixels");
        let iend = chunk(b"IEND", b"");
        let input = [
            &PNG_SIGNATURE[..],
            &ihdr,
            &chunk(b"tEXt", b"Author\0me"),
            &chunk(b"eXIf", b"MM\0*GPS"),
            &idat,
            &iend,
        ]
        .concat();
        let mut out = io::Cursor::new(Vec::new());
        let found = strip(ImageFormat::Png, &mut &input[..], &mut out).expect("strips");
        let out = out.into_inner();
        assert_eq!(found.removed, 2);
        assert_eq!(out, [&PNG_SIGNATURE[..], &ihdr, &idat, &iend].concat());
    }

    #[test]
    fn webp_loses_exif_and_its_flag() {
        let chunk = |kind: &[u8; 4], data: &[u8]| {
            let mut out = kind.to_vec();
            out.extend_from_slice(&u32::try_from(data.len()).expect("small").to_le_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(0);
            }
            out
        };
        let vp8x = chunk(b"VP8X", &[0b0000_1000, 0, 0, 0, 1, 0, 0, 1, 0, 0]);
        let image = chunk(b"VP8L", b"\x2fdata");
        let body = [&b"WEBP"[..], &vp8x, &chunk(b"EXIF", b"GPS!!"), &image].concat();
        let mut input = b"RIFF".to_vec();
        input.extend_from_slice(&u32::try_from(body.len()).expect("small").to_le_bytes());
        input.extend_from_slice(&body);
        let mut out = io::Cursor::new(Vec::new());
        let found = strip(ImageFormat::WebP, &mut &input[..], &mut out).expect("strips");
        let out = out.into_inner();
        assert_eq!(found.removed, 1);
        assert!(!out.windows(4).any(|w| w == b"GPS!"));
        let size = u32::from_le_bytes([out[4], out[5], out[6], out[7]]) as usize;
        assert_eq!(size + 8, out.len());
        assert_eq!(out[20], 0, "the EXIF flag is cleared");
    }

    #[test]
    fn malformed_images_are_refused_not_copied() {
        for (format, bytes) in [
            (ImageFormat::Jpeg, &b"\xFF\xD8\xFF\xE1\x00"[..]),
            (ImageFormat::Jpeg, &b"\xFF\xD8\x00\x00"[..]),
            (ImageFormat::Png, &b"\x89PNG\r\n\x1a\n\0\0\0\x10IHDR"[..]),
            (ImageFormat::WebP, &b"RIFF\0\0\0\0WEBPVP8 \x10\0\0\0ab"[..]),
        ] {
            let result = strip(format, &mut &bytes[..], &mut io::Cursor::new(Vec::new()));
            assert!(matches!(result, Err(StripError::Malformed(_))), "{bytes:?}");
        }
    }
}
