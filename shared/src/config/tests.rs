//! Table tests for configuration loading: layering, key-naming errors, and the documented file.

use std::time::Duration;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn flag(key: &str, value: &str) -> Override {
    Override {
        key: key.to_owned(),
        value: value.to_owned(),
        origin: format!("flag for {key}"),
    }
}

#[test]
fn documented_file_matches_defaults_and_lists_every_key() {
    let text = include_str!("../../../config/parley.toml");
    let loaded = Config::load(Some(("parley.toml", text)), env(&[]), vec![]).expect("loads");
    assert_eq!(loaded, Config::default());
    let documented: toml::Table = text.parse().expect("valid toml");
    let defaults = toml::Value::try_from(Config::default()).expect("serialises");
    for (section, keys) in defaults.as_table().expect("table") {
        for key in keys.as_table().expect("section").keys() {
            assert!(
                documented.get(section).and_then(|s| s.get(key)).is_some(),
                "config/parley.toml does not document {section}.{key}"
            );
        }
    }
}

#[test]
fn layers_apply_in_order() {
    let file = "[server]\nbacklog = 10\nshards = 3\n[log]\nformat = \"json\"\n";
    let config = Config::load(
        Some(("f.toml", file)),
        env(&[
            ("PARLEY_SERVER__SHARDS", "5"),
            ("PARLEY_SERVER__SHUTDOWN_GRACE", "250ms"),
            ("PARLEY_DATABASE__ALLOW_UNSAFE_DURABILITY", "true"),
            ("PARLEY_LISTEN", "ignored: belongs to a flag"),
            ("HOME", "/root"),
        ]),
        vec![flag("server.shards", "7")],
    )
    .expect("loads");
    assert_eq!(config.server.backlog, 10);
    assert_eq!(config.server.shards, 7);
    assert_eq!(config.server.shutdown_grace, Duration::from_millis(250));
    assert!(config.database.allow_unsafe_durability);
    assert_eq!(config.log.format, LogFormat::Json);
}

#[test]
fn errors_name_the_key_and_origin() {
    struct Case {
        file: Option<&'static str>,
        env: &'static [(&'static str, &'static str)],
        flags: Vec<Override>,
        key: &'static str,
        origin: &'static str,
    }
    let cases = vec![
        Case {
            file: Some("[server]\nlisen = \"x\"\n"),
            env: &[],
            flags: vec![],
            key: "server.lisen",
            origin: "config file",
        },
        Case {
            file: Some("[serverr]\nlisten = \"x\"\n"),
            env: &[],
            flags: vec![],
            key: "serverr",
            origin: "config file",
        },
        Case {
            file: Some("[server]\nshards = \"many\"\n"),
            env: &[],
            flags: vec![],
            key: "server.shards",
            origin: "config file",
        },
        Case {
            file: Some("[server]\nlisten = \"nowhere\"\n"),
            env: &[],
            flags: vec![],
            key: "server.listen",
            origin: "config file",
        },
        Case {
            file: Some("[server]\nshutdown_grace = \"5 parsecs\"\n"),
            env: &[],
            flags: vec![],
            key: "server.shutdown_grace",
            origin: "config file",
        },
        Case {
            file: Some("[log]\nformat = \"xml\"\n"),
            env: &[],
            flags: vec![],
            key: "log.format",
            origin: "config file",
        },
        Case {
            file: None,
            env: &[("PARLEY_SERVER__SHARDS", "abc")],
            flags: vec![],
            key: "server.shards",
            origin: "PARLEY_SERVER__SHARDS",
        },
        Case {
            file: None,
            env: &[("PARLEY_SERVER__NOPE", "1")],
            flags: vec![],
            key: "server.nope",
            origin: "PARLEY_SERVER__NOPE",
        },
        Case {
            file: None,
            env: &[("PARLEY_DATABASE__ALLOW_UNSAFE_DURABILITY", "maybe")],
            flags: vec![],
            key: "database.allow_unsafe_durability",
            origin: "PARLEY_DATABASE__ALLOW_UNSAFE_DURABILITY",
        },
        Case {
            file: None,
            env: &[],
            flags: vec![flag("server.listen", "localhost")],
            key: "server.listen",
            origin: "flag for server.listen",
        },
        Case {
            file: None,
            env: &[],
            flags: vec![flag("server.backlog", "0")],
            key: "server.backlog",
            origin: "configuration",
        },
        Case {
            file: None,
            env: &[("PARLEY_DATABASE__POOL_SIZE", "0")],
            flags: vec![],
            key: "database.pool_size",
            origin: "configuration",
        },
    ];
    for case in cases {
        let err = Config::load(case.file.map(|t| ("f.toml", t)), env(case.env), case.flags)
            .expect_err("must be refused");
        let text = err.to_string();
        assert!(
            text.contains(&format!("`{}`", case.key)),
            "{text:?} should name {}",
            case.key
        );
        assert!(
            text.contains(case.origin),
            "{text:?} should name {}",
            case.origin
        );
    }
}

#[test]
fn syntax_errors_give_a_line() {
    let err = Config::load(Some(("f.toml", "[server]\nlisten = \n")), env(&[]), vec![])
        .expect_err("bad toml");
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn database_url_password_is_redacted() {
    let cases = [
        (
            "postgres://u:secret@h:5432/db",
            "postgres://u:***@h:5432/db",
        ),
        ("postgres://u@h/db", "postgres://u@h/db"),
        (
            "host=/tmp user=u password=secret",
            "host=/tmp user=u password=***",
        ),
        (
            "postgres://u@h/db?password=secret&sslmode=require",
            "postgres://u@h/db?password=***&sslmode=require",
        ),
        (
            "postgresql://u:p%40ss@h:5432/db?sslmode=verify-full&PASSWORD=x",
            "postgresql://u:***@h:5432/db?sslmode=verify-full&PASSWORD=***",
        ),
        (
            "postgres://u:secret@h/db?application_name=a@b",
            "postgres://u:***@h/db?application_name=a@b",
        ),
        (
            "host=h password='two words' dbname=d",
            "host=h password=*** dbname=d",
        ),
        (
            "host=h password = 'it\\'s' dbname=d",
            "host=h password=*** dbname=d",
        ),
        ("user=mypassword host=h", "user=mypassword host=h"),
        ("", ""),
    ];
    for (url, want) in cases {
        assert_eq!(redact_url(url), want);
    }
    let mut config = Config::default();
    config.database.url = "postgres://u:hunter2@h/db".to_owned();
    config.auth.jwt_secret = "k".repeat(40);
    config.metrics.token = "m".repeat(20);
    for shown in [format!("{config:?}"), config.to_redacted_toml()] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(&"k".repeat(40)), "{shown}");
        assert!(!shown.contains(&"m".repeat(20)), "{shown}");
    }
}
