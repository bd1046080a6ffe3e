//! libpq connection strings (`host=h user=u password='two words'`): the `key=value` pairs, values
//! optionally single-quoted with `\'` and `\\` escapes, each with its text as written, so
//! callers can drop, replace or redact pairs and keep the rest as they were.

/// One pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub key: String,
    /// Unquoted and unescaped.
    pub value: String,
    /// The pair as written.
    pub raw: String,
}

/// The pairs of `text`, in order; a word without `=` is a pair with an empty value.
pub fn pairs(text: &str) -> Vec<Pair> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let start = i;
        while i < chars.len() && chars[i] != '=' && !chars[i].is_whitespace() {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() || chars[i] != '=' {
            if !key.is_empty() {
                out.push(Pair {
                    key: key.clone(),
                    value: String::new(),
                    raw: key,
                });
            }
            continue;
        }
        i += 1;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if chars.get(i) == Some(&'\'') {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                value.push(chars[i]);
                i += 1;
            }
            i += 1;
        } else {
            while i < chars.len() && !chars[i].is_whitespace() {
                value.push(chars[i]);
                i += 1;
            }
        }
        let raw: String = chars[start..i.min(chars.len())].iter().collect();
        out.push(Pair { key, value, raw });
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pairs_table() {
        let found = super::pairs("host=/tmp  password = 'it\\'s a b' flag dbname=d");
        let got: Vec<(&str, &str)> = found
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("host", "/tmp"),
                ("password", "it's a b"),
                ("flag", ""),
                ("dbname", "d")
            ]
        );
        assert_eq!(found[1].raw, "password = 'it\\'s a b'");
    }
}
