//! What an upload is, from its first bytes, never from what the client says: the MIME type Parley
//! serves it as, whether it is an image shown inline (PNG, JPEG, GIF, WebP only; never SVG or
//! HTML, which can run script), and an image's dimensions where its header holds them (a JPEG's
//! come from its frame header, found by the metadata stripper). Anything unknown is
//! `application/octet-stream`.

/// How many leading bytes `sniff` looks at (at most).
pub const HEAD_BYTES: usize = 64 * 1024;

/// The image formats shown inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Gif,
    WebP,
}

impl ImageFormat {
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Gif => "image/gif",
            ImageFormat::WebP => "image/webp",
        }
    }
}

/// What the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub mime: &'static str,
    /// An image format shown inline.
    pub image: Option<ImageFormat>,
    /// Width and height, when the header holds them.
    pub dimensions: Option<(u32, u32)>,
}

/// Sniffs `head` (the first bytes of the upload, up to `HEAD_BYTES`).
pub fn sniff(head: &[u8]) -> Sniffed {
    let image = |format: ImageFormat, dimensions| Sniffed {
        mime: format.mime(),
        image: Some(format),
        dimensions,
    };
    let file = |mime| Sniffed {
        mime,
        image: None,
        dimensions: None,
    };
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return image(ImageFormat::Png, png_dimensions(head));
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return image(ImageFormat::Jpeg, None);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        let dims = (head.len() >= 10)
            .then(|| (u16le(head, 6).into(), u16le(head, 8).into()))
            .filter(|&(w, h): &(u32, u32)| w > 0 && h > 0);
        return image(ImageFormat::Gif, dims);
    }
    if head.len() >= 16 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return image(ImageFormat::WebP, webp_dimensions(head));
    }
    let magic: [(&[u8], &'static str); 12] = [
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
        (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
        (b"Rar!\x1a\x07", "application/vnd.rar"),
        (b"\x7fELF", "application/x-executable"),
        (b"MZ", "application/x-msdownload"),
        (b"OggS", "audio/ogg"),
        (b"ID3", "audio/mpeg"),
        (b"fLaC", "audio/flac"),
        (b"\x1a\x45\xdf\xa3", "video/webm"),
        (b"%!PS", "application/postscript"),
    ];
    if let Some((_, mime)) = magic.iter().find(|(magic, _)| head.starts_with(magic)) {
        return file(mime);
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return file("video/mp4");
    }
    if is_text(head) {
        return file("text/plain; charset=utf-8");
    }
    file("application/octet-stream")
}

fn u16le(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32be(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// IHDR is the first chunk: width and height at bytes 16 and 20.
fn png_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    (head.len() >= 24 && &head[12..16] == b"IHDR")
        .then(|| (u32be(head, 16), u32be(head, 20)))
        .filter(|&(w, h)| w > 0 && h > 0)
}

/// The first chunk of a WebP: `VP8 ` (lossy), `VP8L` (lossless) or `VP8X` (extended).
fn webp_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    let chunk = head.get(12..16)?;
    let data = head.get(20..)?;
    let dims = match chunk {
        b"VP8 " if data.len() >= 10 && data[3..6] == [0x9d, 0x01, 0x2a] => (
            u32::from(u16le(data, 6) & 0x3fff),
            u32::from(u16le(data, 8) & 0x3fff),
        ),
        b"VP8L" if data.len() >= 5 && data[0] == 0x2f => {
            let bits = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
            ((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1)
        }
        b"VP8X" if data.len() >= 10 => {
            let w = u32::from_le_bytes([data[4], data[5], data[6], 0]) + 1;
            let h = u32::from_le_bytes([data[7], data[8], data[9], 0]) + 1;
            (w, h)
        }
        _ => return None,
    };
    Some(dims).filter(|&(w, h)| w > 0 && h > 0)
}

/// UTF-8 without NUL or other control characters than whitespace (a cut multi-byte character at
/// the end of the head is fine).
fn is_text(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    let valid = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(error) if error.error_len().is_none() => {
            // Only the last character is cut off by the head's end.
            match std::str::from_utf8(&head[..error.valid_up_to()]) {
                Ok(text) => text,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    !valid
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

/// A file name fit to show and to put in a `Content-Disposition` header: the last path segment,
/// control characters, quotes and backslashes replaced, at most 255 characters; `file` when
/// nothing is left.
pub fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '"' | '\\') {
                '_'
            } else {
                c
            }
        })
        .take(255)
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        "file".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend_from_slice(&width.to_be_bytes());
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&[8, 6, 0, 0, 0]);
        bytes
    }

    #[test]
    fn sniffing_table() {
        let gif = b"GIF89a\x40\x01\xf0\x00rest".to_vec();
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        webp.extend_from_slice(&[0x3f, 0x01, 0x00, 0xef, 0x00, 0x00]);
        type Case = (Vec<u8>, &'static str, Option<(u32, u32)>);
        let cases: Vec<Case> = vec![
            (png(640, 480), "image/png", Some((640, 480))),
            (png(100_000, 100_000), "image/png", Some((100_000, 100_000))),
            (vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16], "image/jpeg", None),
            (gif, "image/gif", Some((320, 240))),
            (webp, "image/webp", Some((320, 240))),
            (b"%PDF-1.7\n".to_vec(), "application/pdf", None),
            (
                b"\x7fELF\x02\x01".to_vec(),
                "application/x-executable",
                None,
            ),
            (b"MZ\x90\0".to_vec(), "application/x-msdownload", None),
            (
                b"hello, world\n".to_vec(),
                "text/plain; charset=utf-8",
                None,
            ),
            (
                b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"
                    .to_vec(),
                "text/plain; charset=utf-8",
                None,
            ),
            (
                b"<html><script>alert(1)</script></html>".to_vec(),
                "text/plain; charset=utf-8",
                None,
            ),
            (
                "caf\u{e9}".as_bytes()[..4].to_vec(),
                "text/plain; charset=utf-8",
                None,
            ),
            (b"bin\0ary".to_vec(), "application/octet-stream", None),
            (Vec::new(), "application/octet-stream", None),
        ];
        for (bytes, mime, dims) in cases {
            let sniffed = sniff(&bytes);
            assert_eq!(
                (sniffed.mime, sniffed.dimensions),
                (mime, dims),
                "{bytes:?}"
            );
            assert_eq!(sniffed.image.is_some(), mime.starts_with("image/"));
        }
    }

    #[test]
    fn names_table() {
        for (given, want) in [
            ("photo.jpg", "photo.jpg"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\me\\report.pdf", "report.pdf"),
            ("a\"b\r\n.txt", "a_b__.txt"),
            ("", "file"),
            ("..", "file"),
            ("  spaced  ", "spaced"),
        ] {
            assert_eq!(clean_name(given), want, "{given:?}");
        }
        assert_eq!(clean_name(&"x".repeat(300)).chars().count(), 255);
    }
}
