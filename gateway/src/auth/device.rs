//! A short label for a login session's device, from its `User-Agent` ("Chrome on Linux",
//! "Safari on iPhone"), for the sessions list a user reviews. Best effort by design: an unknown
//! agent is labelled by its first product token, a missing one "Unknown device".

/// The label for `user_agent`.
pub(crate) fn label(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()) else {
        return "Unknown device".to_owned();
    };
    let browser = browser(ua);
    let os = os(ua);
    match (browser, os) {
        (Some(browser), Some(os)) => format!("{browser} on {os}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(os)) => os.to_owned(),
        (None, None) => product(ua),
    }
}

/// Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari".
fn browser(ua: &str) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("HeadlessChrome/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ];
    first_in(ua, TABLE)
}

fn os(ua: &str) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ];
    first_in(ua, TABLE)
}

/// The name of the first `(needle, name)` whose needle `ua` contains.
fn first_in(ua: &str, table: &[(&str, &'static str)]) -> Option<&'static str> {
    table
        .iter()
        .find(|(needle, _)| ua.contains(needle))
        .map(|(_, name)| *name)
}

/// The first product token (`curl/8.1` -> `curl`), at most 40 characters.
fn product(ua: &str) -> String {
    let first = ua.split([' ', '/']).next().unwrap_or(ua);
    first.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_table() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:120.0) Gecko/20100101 Firefox/120.0",
                "Firefox on macOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.1.2", "curl"),
            ("parley-loadtest", "parley-loadtest"),
            ("", "Unknown device"),
        ];
        for (ua, want) in cases {
            assert_eq!(super::label(Some(ua)), want, "{ua}");
        }
        assert_eq!(super::label(None), "Unknown device");
    }
}
