//! Host configuration: the `[plugins]` table of a TOML file plus environment overrides.

use std::collections::BTreeMap;

use hookwire::{config::DisabledBy, config::HostConfig, error::ConfigError};
use proptest::prelude::*;
use serde::Deserialize;

const FILE: &str = r#"
[server]
port = 8080
name = "demo"

[plugins.token-auth]
enabled = true
lazy = false
tokens = ["abc", "def"]
[plugins.token-auth.limits]
rate = 5
[plugins.token-auth.priority]
authenticate = 10
on_startup = -3

[plugins.audit]
enabled = false
lazy = true
"#;

#[derive(Debug, Deserialize, PartialEq)]
struct TokenAuth {
    tokens: Vec<String>,
    limits: Limits,
    #[serde(default)]
    realm: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Limits {
    rate: u32,
    #[serde(default = "default_burst")]
    burst: u32,
}

fn default_burst() -> u32 {
    7
}

#[derive(Debug, Deserialize, PartialEq, Default)]
#[serde(default)]
struct Audit {
    level: String,
}

fn parse(text: &str) -> HostConfig {
    HostConfig::parse(text, "hookwire.toml").expect("valid config")
}

fn parse_err(text: &str) -> ConfigError {
    HostConfig::parse(text, "bad.toml").expect_err("invalid config")
}

fn file(path: &str) -> Option<DisabledBy> {
    Some(DisabledBy::File {
        path: path.to_owned(),
    })
}

fn env(var: &str) -> Option<DisabledBy> {
    Some(DisabledBy::Env {
        var: var.to_owned(),
    })
}

#[test]
fn parses_host_keys_and_plugin_sections() {
    let config = parse(FILE);
    assert_eq!(config.source(), Some("hookwire.toml"));
    let names: Vec<&str> = config.section_names().collect();
    assert_eq!(names, ["audit", "token-auth"]);
    assert!(config.has_section("audit") && !config.has_section("nope"));

    let host = config.host_table();
    assert_eq!(host.keys().collect::<Vec<_>>(), ["server"]);
    assert_eq!(host["server"]["port"].as_integer(), Some(8080));
    assert_eq!(host["server"]["name"].as_str(), Some("demo"));

    assert_eq!(config.disabled_by("token-auth"), None);
    assert_eq!(config.disabled_by("audit"), file("hookwire.toml"));
    assert_eq!(config.disabled_by("unconfigured"), None);
    assert_eq!(config.lazy("token-auth"), Some(false));
    assert_eq!(config.lazy("audit"), Some(true));
    assert_eq!(config.lazy("unconfigured"), None);
}

#[test]
fn empty_config_enables_everything() {
    let config = HostConfig::new();
    assert_eq!(config.source(), None);
    assert_eq!(config.section_names().count(), 0);
    assert!(config.host_table().is_empty());
    assert_eq!(config.disabled_by("any"), None);
    assert_eq!(
        config.plugin_config::<Audit>("any").unwrap(),
        Audit::default()
    );
    let config = parse("");
    assert_eq!(config.section_names().count(), 0);
    assert_eq!(config.priority_overrides("any"), None);
}

#[test]
fn typed_config_roundtrip() {
    let config = parse(FILE);
    let auth: TokenAuth = config.plugin_config("token-auth").unwrap();
    assert_eq!(
        auth,
        TokenAuth {
            tokens: vec!["abc".into(), "def".into()],
            limits: Limits { rate: 5, burst: 7 },
            realm: None,
        }
    );
    // Reserved keys are not part of the plugin's own config, and a missing section is empty.
    assert_eq!(
        config.plugin_config::<Audit>("audit").unwrap(),
        Audit::default()
    );
    assert_eq!(
        config.plugin_config::<Audit>("missing").unwrap(),
        Audit::default()
    );
    let raw: toml::Table = config.plugin_config("token-auth").unwrap();
    assert_eq!(raw.keys().collect::<Vec<_>>(), ["limits", "tokens"]);
}

#[test]
fn unknown_top_level_key_is_an_error() {
    let config = parse("[plugins.token-auth]\ntokens = []\nlimits = { rate = 1 }\ntokenz = 1\n");
    let err = config.plugin_config::<TokenAuth>("token-auth").unwrap_err();
    let ConfigError::UnknownKey {
        path,
        plugin,
        key,
        line,
    } = &err
    else {
        panic!("expected UnknownKey, got {err:?}");
    };
    assert_eq!(
        (path.as_str(), plugin.as_str(), key.as_str()),
        ("hookwire.toml", "token-auth", "tokenz")
    );
    assert_eq!(*line, Some(4));
    let msg = err.to_string();
    for part in [
        "hookwire.toml",
        "line 4",
        "`tokenz`",
        "`token-auth`",
        "remove it",
    ] {
        assert!(msg.contains(part), "{msg:?} lacks {part:?}");
    }
}

#[test]
fn unknown_nested_key_names_the_full_path() {
    let text =
        "[plugins.token-auth]\ntokens = []\n[plugins.token-auth.limits]\nrate = 1\nbrust = 2\n";
    let err = parse(text)
        .plugin_config::<TokenAuth>("token-auth")
        .unwrap_err();
    let ConfigError::UnknownKey { key, line, .. } = &err else {
        panic!("expected UnknownKey, got {err:?}");
    };
    assert_eq!((key.as_str(), *line), ("limits.brust", Some(5)));
    let msg = err.to_string();
    assert!(
        msg.contains("`limits.brust`")
            && msg.contains("token-auth")
            && msg.contains("hookwire.toml"),
        "{msg}"
    );
}

#[test]
fn type_mismatch_names_plugin_file_and_key() {
    let text =
        "[plugins.token-auth]\ntokens = []\n\n[plugins.token-auth.limits]\nrate = \"fast\"\n";
    let err = parse(text)
        .plugin_config::<TokenAuth>("token-auth")
        .unwrap_err();
    let ConfigError::InvalidPluginConfig {
        path,
        plugin,
        key,
        line,
        message,
    } = &err
    else {
        panic!("expected InvalidPluginConfig, got {err:?}");
    };
    assert_eq!(
        (path.as_str(), plugin.as_str()),
        ("hookwire.toml", "token-auth")
    );
    assert_eq!(key.as_deref(), Some("limits.rate"));
    assert_eq!(*line, Some(5));
    assert!(
        message.contains("invalid type: string \"fast\""),
        "{message}"
    );
    let msg = err.to_string();
    for part in [
        "hookwire.toml, line 5",
        "`token-auth`",
        "`limits.rate`",
        "expected u32",
    ] {
        assert!(msg.contains(part), "{msg:?} lacks {part:?}");
    }

    let err =
        parse("[plugins.token-auth]\ntokens = [1]\n").plugin_config::<TokenAuth>("token-auth");
    let Err(ConfigError::InvalidPluginConfig { key, message, .. }) = err else {
        panic!("expected InvalidPluginConfig, got {err:?}");
    };
    assert_eq!(key.as_deref(), Some("tokens.0"));
    assert!(message.contains("expected a string"), "{message}");

    let err = parse("[plugins.token-auth]\ntokens = []\n").plugin_config::<TokenAuth>("token-auth");
    let Err(ConfigError::InvalidPluginConfig { message, .. }) = err else {
        panic!("expected InvalidPluginConfig, got {err:?}");
    };
    assert!(message.contains("missing field `limits`"), "{message}");
}

#[test]
fn reserved_key_type_errors() {
    let cases: &[(&str, &str, Option<&str>, &str, &str)] = &[
        (
            "[plugins.a]\nenabled = \"no\"\n",
            "plugins.a.enabled",
            Some("a"),
            "a boolean",
            "string \"no\"",
        ),
        (
            "[plugins.a]\nlazy = 1\n",
            "plugins.a.lazy",
            Some("a"),
            "a boolean",
            "integer 1",
        ),
        (
            "[plugins.a]\npriority = 5\n",
            "plugins.a.priority",
            Some("a"),
            "a table",
            "integer 5",
        ),
        (
            "[plugins.a.priority]\nx = 1.5\n",
            "plugins.a.priority.x",
            Some("a"),
            "an integer",
            "float 1.5",
        ),
        (
            "[plugins.a.priority]\nx = 3000000000\n",
            "plugins.a.priority.x",
            Some("a"),
            "-2147483648",
            "3000000000",
        ),
        ("plugins = 3\n", "plugins", None, "a table", "integer 3"),
        (
            "[plugins]\na = true\n",
            "plugins.a",
            Some("a"),
            "a table",
            "boolean true",
        ),
        (
            "[[plugins]]\nx = 1\n",
            "plugins",
            None,
            "a table",
            "an array",
        ),
    ];
    for (text, want_key, want_plugin, expected_part, found_part) in cases {
        let err = parse_err(text);
        let ConfigError::InvalidValue {
            path,
            plugin,
            key,
            expected,
            found,
            line,
        } = &err
        else {
            panic!("{text:?}: expected InvalidValue, got {err:?}");
        };
        assert_eq!(path, "bad.toml");
        assert_eq!(key, want_key, "{text:?}");
        assert_eq!(plugin.as_deref(), *want_plugin, "{text:?}");
        assert!(expected.contains(expected_part), "{text:?}: {expected}");
        assert!(found.contains(found_part), "{text:?}: {found}");
        assert!(line.is_some(), "{text:?}");
        let msg = err.to_string();
        for part in ["bad.toml", want_key, expected_part, found_part] {
            assert!(msg.contains(part), "{msg:?} lacks {part:?}");
        }
    }
    let err = parse_err("\n[plugins.a]\nlazy = \"yes\"\n");
    assert!(
        err.to_string()
            .starts_with("bad.toml, line 3: `plugins.a.lazy` must be a boolean"),
        "{err}"
    );
}

#[test]
fn priority_overrides() {
    let config = parse(FILE);
    let expected = BTreeMap::from([
        ("authenticate".to_owned(), 10),
        ("on_startup".to_owned(), -3),
    ]);
    assert_eq!(config.priority_overrides("token-auth"), Some(&expected));
    assert_eq!(config.priority_overrides("audit"), None);
    let config = parse("[plugins.x.priority]\nmax = 2147483647\nmin = -2147483648\n");
    let overrides = config.priority_overrides("x").unwrap();
    assert_eq!((overrides["max"], overrides["min"]), (i32::MAX, i32::MIN));
}

#[test]
fn env_precedence() {
    // (file `enabled`, host disable(), HOOKWIRE_PLUGINS_DISABLE lists it, _ENABLED value, expected)
    const VAR: &str = "HOOKWIRE_PLUGIN_TOKEN_AUTH_ENABLED";
    const LIST: &str = "HOOKWIRE_PLUGINS_DISABLE";
    let on = None;
    let host = Some(DisabledBy::Host);
    let cases = [
        (None, false, false, None, on.clone()),
        (Some(true), false, false, None, on.clone()),
        (Some(false), false, false, None, file("hookwire.toml")),
        (None, true, false, None, host.clone()),
        (Some(true), true, false, None, host.clone()),
        (Some(false), true, false, None, host.clone()),
        (None, false, true, None, env(LIST)),
        (Some(true), false, true, None, env(LIST)),
        (Some(false), true, true, None, env(LIST)),
        (None, false, false, Some("false"), env(VAR)),
        (Some(true), false, false, Some("off"), env(VAR)),
        (Some(false), false, false, Some("true"), on.clone()),
        (Some(false), true, false, Some("1"), on.clone()),
        (Some(false), true, true, Some("yes"), on.clone()),
        (None, false, true, Some("on"), on.clone()),
        (Some(true), true, true, Some("0"), env(VAR)),
    ];
    for (i, (enabled, host_disable, listed, switch, expected)) in cases.into_iter().enumerate() {
        let text = match enabled {
            Some(e) => format!("[plugins.token-auth]\nenabled = {e}\n"),
            None => String::new(),
        };
        let mut config = parse(&text);
        if host_disable {
            config.disable("token-auth");
        }
        let mut vars = vec![("PATH", "/bin"), ("HOOKWIRE_OTHER", "x")];
        if listed {
            vars.push((LIST, " other , token-auth,,"));
        }
        if let Some(value) = switch {
            vars.push((VAR, value));
        }
        let config = config.with_env(vars).unwrap();
        assert_eq!(config.disabled_by("token-auth"), expected, "case {i}");
        assert_eq!(
            config.disabled_by("other"),
            if listed { env(LIST) } else { on.clone() },
            "case {i}"
        );
        assert_eq!(config.disabled_by("bystander"), None, "case {i}");
    }
}

#[test]
fn disable_after_env_still_loses_to_env() {
    let mut config = HostConfig::new()
        .with_env([("HOOKWIRE_PLUGIN_X_ENABLED", "TRUE")])
        .unwrap();
    config.disable("x");
    config.disable("y");
    assert_eq!(config.disabled_by("x"), None);
    assert_eq!(config.disabled_by("y"), Some(DisabledBy::Host));
    // Later layers override earlier ones.
    let config = config
        .with_env([("HOOKWIRE_PLUGIN_X_ENABLED", "no")])
        .unwrap();
    assert_eq!(config.disabled_by("x"), env("HOOKWIRE_PLUGIN_X_ENABLED"));
}

#[test]
fn bad_env_value_is_an_error() {
    for value in ["maybe", "", "2", "truee"] {
        let err = HostConfig::new()
            .with_env([("HOOKWIRE_PLUGIN_TOKEN_AUTH_ENABLED", value)])
            .unwrap_err();
        let ConfigError::Env { var, value: got } = &err else {
            panic!("expected Env, got {err:?}");
        };
        assert_eq!(
            (var.as_str(), got.as_str()),
            ("HOOKWIRE_PLUGIN_TOKEN_AUTH_ENABLED", value)
        );
        let msg = err.to_string();
        for part in [
            "HOOKWIRE_PLUGIN_TOKEN_AUTH_ENABLED",
            &format!("{value:?}"),
            "true, false, 1, 0, yes, no, on, off",
        ] {
            assert!(msg.contains(part), "{msg:?} lacks {part:?}");
        }
    }
    // Unrelated HOOKWIRE_* variables are ignored whatever their value.
    let vars = [
        ("HOOKWIRE_PLUGIN_ENABLED", "??"),
        ("HOOKWIRE_PLUGIN__ENABLED", "??"),
        ("HOOKWIRE_X", "??"),
    ];
    assert!(HostConfig::new().with_env(vars).is_ok());
}

#[test]
fn plugin_names_are_normalized_for_env_lookups() {
    let config =
        parse("[plugins.token-auth]\nenabled = false\n[plugins.\"my.plugin\"]\nenabled = false\n")
            .with_env([
                ("HOOKWIRE_PLUGIN_TOKEN_AUTH_ENABLED", "true"),
                ("HOOKWIRE_PLUGIN_MY_PLUGIN_ENABLED", "Yes"),
                ("HOOKWIRE_PLUGINS_DISABLE", "Cache-Layer"),
            ])
            .unwrap();
    assert_eq!(config.disabled_by("token-auth"), None);
    assert_eq!(config.disabled_by("my.plugin"), None);
    assert_eq!(
        config.disabled_by("cache-layer"),
        env("HOOKWIRE_PLUGINS_DISABLE")
    );
    assert_eq!(
        config.disabled_by("cache_layer"),
        env("HOOKWIRE_PLUGINS_DISABLE")
    );
    assert_eq!(config.disabled_by("token"), None);
}

#[test]
fn load_reads_a_real_file() {
    let unique = format!(
        "hookwire-config-{}-{:?}.toml",
        std::process::id(),
        std::thread::current().id()
    );
    let path = std::env::temp_dir().join(unique.replace(['(', ')'], ""));
    std::fs::write(&path, FILE).unwrap();
    let loaded = HostConfig::load(&path);
    std::fs::remove_file(&path).unwrap();
    let config = loaded.unwrap();
    let shown = path.display().to_string();
    assert_eq!(config.source(), Some(shown.as_str()));
    assert_eq!(config.disabled_by("audit"), file(&shown));
    assert_eq!(
        config
            .plugin_config::<TokenAuth>("token-auth")
            .unwrap()
            .limits
            .rate,
        5
    );
}

#[test]
fn load_of_a_missing_file_names_the_path() {
    let path = std::env::temp_dir().join(format!("hookwire-missing-{}.toml", std::process::id()));
    let err = HostConfig::load(&path).unwrap_err();
    let ConfigError::Io { path: got, source } = &err else {
        panic!("expected Io, got {err:?}");
    };
    assert_eq!(got, &path.display().to_string());
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn malformed_toml_names_file_and_line() {
    let err = parse_err("[server]\nport = 8080\n\n[plugins.a\nenabled = true\n");
    let ConfigError::Parse {
        path,
        line,
        column,
        message,
    } = &err
    else {
        panic!("expected Parse, got {err:?}");
    };
    assert_eq!((path.as_str(), *line), ("bad.toml", 4));
    assert!(*column > 1 && !message.is_empty(), "{column} {message}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("bad.toml: invalid TOML at line 4, column "),
        "{msg}"
    );
    let err = parse_err("a = 1\na = 2\n");
    assert!(matches!(err, ConfigError::Parse { line: 2, .. }), "{err:?}");
}

#[test]
fn disabled_by_display() {
    assert_eq!(
        DisabledBy::File {
            path: "h.toml".into()
        }
        .to_string(),
        "`enabled = false` in h.toml"
    );
    assert_eq!(
        DisabledBy::Env { var: "V".into() }.to_string(),
        "environment variable V"
    );
    assert_eq!(DisabledBy::Host.to_string(), "the host");
}

proptest! {
    #[test]
    fn parse_never_panics(text in "\\PC*") {
        if let Ok(config) = HostConfig::parse(&text, "p.toml") {
            for name in config.section_names().map(str::to_owned).collect::<Vec<_>>() {
                let _ = config.plugin_config::<toml::Table>(&name);
                let _ = config.plugin_config::<TokenAuth>(&name);
            }
        }
    }

    #[test]
    fn parse_never_panics_on_toml_like_text(text in "(\\[plugins(\\.[a-z\"]{1,3}){0,3}\\]\n|[a-z]{1,3} = (true|1|\"x\"|\\[1\\]|\\{\\})\n){0,8}") {
        if let Ok(config) = HostConfig::parse(&text, "p.toml") {
            for name in config.section_names().map(str::to_owned).collect::<Vec<_>>() {
                let _ = config.plugin_config::<TokenAuth>(&name);
                let _ = config.disabled_by(&name);
            }
        }
    }

    #[test]
    fn enabled_round_trips(name in "[a-z][a-z0-9_-]{0,12}", enabled: bool, lazy: Option<bool>) {
        let lazy_line = lazy.map(|l| format!("lazy = {l}\n")).unwrap_or_default();
        let config = HostConfig::parse(&format!("[plugins.{name}]\nenabled = {enabled}\n{lazy_line}"), "p.toml").unwrap();
        let expected = if enabled { None } else { file("p.toml") };
        prop_assert_eq!(config.disabled_by(&name), expected);
        prop_assert_eq!(config.lazy(&name), lazy);
        prop_assert_eq!(config.section_names().collect::<Vec<_>>(), vec![name.as_str()]);
    }
}

#[test]
fn a_config_file_that_is_not_utf8_says_so() {
    let path = std::env::temp_dir().join(format!("hookwire-latin1-{}.toml", std::process::id()));
    // "[plugins.caf\xe9]" in Latin-1.
    std::fs::write(&path, b"[plugins.caf\xe9]\n").unwrap();
    let err = HostConfig::load(&path).unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("not UTF-8 text: save it as UTF-8"), "{msg}");
    assert!(!msg.contains("permissions"), "{msg}");
}
