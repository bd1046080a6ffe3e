//! Rules for text people type, shared by every entry point: what PostgreSQL cannot store (NUL),
//! and names shown to others (display names, group names), which must not impersonate: NFC
//! normalised, no bidirectional controls (U+202E, the right-to-left override, makes
//! "evil<U+202E>gnp.exe" read as "evilexe.png"), and not made only of invisible characters.

use unicode_normalization::UnicodeNormalization;

/// The problem reported for text with a NUL character.
pub const NUL_PROBLEM: &str = "must not contain the NUL character (U+0000)";

/// Whether PostgreSQL can store `text` in a `text` column (UTF-8 server encoding: anything but
/// NUL; Rust strings are valid UTF-8 already).
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// Characters that change the direction of the text around them (Unicode bidi controls and
/// marks): never allowed in a name.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Characters that render as nothing: whitespace, zero-width and format characters, fillers.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must be 1 to {0} characters")]
    Length(usize),
    #[error("must not contain control characters")]
    Control,
    #[error("must not contain bidirectional control characters")]
    Bidi,
    #[error("must contain a visible character")]
    Invisible,
}

/// A name shown to other people (display name, group name), as stored: NFC-normalised and trimmed,
/// 1 to `max_chars` characters, no control or bidirectional control characters, at least one
/// visible character.
pub fn name(raw: &str, max_chars: usize) -> Result<String, NameError> {
    let normal: String = raw.trim().nfc().collect();
    if normal.chars().any(is_bidi_control) {
        return Err(NameError::Bidi);
    }
    if normal.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    let count = normal.chars().count();
    if count == 0 || count > max_chars {
        return Err(NameError::Length(max_chars));
    }
    if normal.chars().all(is_invisible) {
        return Err(NameError::Invisible);
    }
    Ok(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        let cases: &[(&str, Result<&str, NameError>)] = &[
            ("Alice", Ok("Alice")),
            ("  Alice  ", Ok("Alice")),
            // "é" as e + combining acute becomes the one precomposed character.
            ("Re\u{301}my", Ok("R\u{e9}my")),
            ("\u{5d0}\u{5d1}", Ok("\u{5d0}\u{5d1}")),
            ("evil\u{202E}gnp.exe", Err(NameError::Bidi)),
            ("a\u{2067}b", Err(NameError::Bidi)),
            ("x\u{200F}", Err(NameError::Bidi)),
            ("\u{200B}\u{200B}", Err(NameError::Invisible)),
            ("\u{3164}", Err(NameError::Invisible)),
            ("\u{2800}\u{FEFF}", Err(NameError::Invisible)),
            ("a\u{200D}b", Ok("a\u{200D}b")),
            ("", Err(NameError::Length(64))),
            ("   ", Err(NameError::Length(64))),
            ("tab\there", Err(NameError::Control)),
            ("nul\0", Err(NameError::Control)),
        ];
        for (raw, want) in cases {
            let got = name(raw, 64);
            assert_eq!(got.as_deref().map_err(|e| *e), *want, "{raw:?}");
        }
        assert_eq!(name(&"x".repeat(65), 64), Err(NameError::Length(64)));
        assert!(name(&"é".repeat(64), 64).is_ok());
    }

    #[test]
    fn storable_table() {
        assert!(storable("hello\n\tworld \u{1F600}"));
        assert!(!storable("a\0b"));
    }
}
