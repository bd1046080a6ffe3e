//! Mentions in message text: `@username` (3 to 32 of `[a-z0-9_]`, matched case-insensitively)
//! and `@everyone`, where the `@` starts the text or follows a character that cannot be part of
//! a name or an address (so `ann@example.com` mentions nobody). Who a name is, and whether the
//! sender may mention everyone, is decided on the stored data when the message commits.

/// Most distinct names taken from one message; later ones stay plain text.
pub const MAX_MENTIONS: usize = 50;

/// The word that mentions every member of a group.
pub const EVERYONE: &str = "everyone";

/// What a message's text names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentioned {
    /// Distinct lowercase usernames, in order of first appearance (at most [`MAX_MENTIONS`]).
    pub names: Vec<String>,
    /// `@everyone` appears.
    pub everyone: bool,
}

impl Mentioned {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && !self.everyone
    }
}

fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The mentions in `text`.
pub fn parse(text: &str) -> Mentioned {
    let bytes = text.as_bytes();
    let mut found = Mentioned::default();
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'@') {
        let start = at + offset;
        at = start + 1;
        // Not inside a word, an address or a run of `@`s.
        if start > 0 {
            let before = bytes[start - 1];
            if name_byte(before) || matches!(before, b'@' | b'.' | b'-' | b'+' | b'/') {
                continue;
            }
        }
        let len = bytes[at..].iter().take_while(|&&b| name_byte(b)).count();
        if !(3..=32).contains(&len) {
            at += len;
            continue;
        }
        let name = text[at..at + len].to_ascii_lowercase();
        at += len;
        if name == EVERYONE {
            found.everyone = true;
        } else if found.names.len() < MAX_MENTIONS && !found.names.contains(&name) {
            found.names.push(name);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_everyone() {
        let cases: &[(&str, &[&str], bool)] = &[
            ("@ann hi", &["ann"], false),
            ("hi @Ann and @bob_2!", &["ann", "bob_2"], false),
            ("(@ann) @ann, @ANN", &["ann"], false),
            ("mail ann@example.com", &[], false),
            ("@@ann", &[], false),
            ("@an is too short", &[], false),
            ("@everyone look", &[], true),
            ("@everyones_friend", &["everyones_friend"], false),
            ("end @ann", &["ann"], false),
            ("@", &[], false),
            ("ünïcode @ann…", &["ann"], false),
            ("x.@ann a/@bob", &[], false),
            ("@a_name_that_is_far_too_long_for_anyone", &[], false),
        ];
        for (text, names, everyone) in cases {
            let found = parse(text);
            assert_eq!(found.names, names.to_vec(), "{text}");
            assert_eq!(found.everyone, *everyone, "{text}");
        }
    }

    #[test]
    fn bounded() {
        let text: String = (0..200).map(|i| format!("@user{i:03} ")).collect();
        assert_eq!(parse(&text).names.len(), MAX_MENTIONS);
    }
}
