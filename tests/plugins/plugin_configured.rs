//! A plugin manager driven by a host config file and environment overrides: enabled/disabled
//! with the source of the decision, typed per-plugin config, priority overrides, lazy.

use std::time::Duration;

use hookwire::testing::{FakePlugin, Journal, Reply, Script};
use hookwire::{
    config::DisabledBy, config::HostConfig, error::PluginError, plugin::PluginState,
    plugin::StopOutcome, PluginHost, PluginMeta,
};

hookwire::hookspec! {
    /// Which plugin answers first.
    #[firstresult]
    pub struct Pick(()) -> String;
}

const FILE: &str = r#"
[server]
port = 8080

[plugins.audit]
enabled = false

[plugins.cache]
lazy = true

[plugins.geo]
region = "eu-west"
[plugins.geo.limits]
rate = 10
[plugins.geo.priority]
Pick = 50

[plugins.typo-plugin]
x = 1
"#;

fn fake(name: &str, j: &Journal) -> FakePlugin {
    FakePlugin::new(PluginMeta::new(name, "1.0.0"))
        .journal(j)
        .hook::<Pick>(Script::always(Reply::answer(name.to_owned())))
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct GeoConfig {
    region: String,
    limits: Limits,
}
#[derive(serde::Deserialize, Debug, PartialEq)]
struct Limits {
    rate: u32,
    #[serde(default)]
    burst: u32,
}

fn manager(env: &[(&str, &str)]) -> PluginHost {
    let config = HostConfig::parse(FILE, "hookwire.toml")
        .unwrap()
        .with_env(env.iter().copied())
        .unwrap();
    PluginHost::builder().config(config).build()
}

fn add_all(pm: &PluginHost, j: &Journal) {
    pm.add(fake("audit", j)).unwrap();
    pm.add(fake("cache", j)).unwrap();
    pm.add(fake("metrics", j)).unwrap();
    pm.add(fake("geo", j).on_init(|ctx| {
        let cfg: GeoConfig = ctx.config()?;
        assert_eq!(
            cfg,
            GeoConfig {
                region: "eu-west".into(),
                limits: Limits { rate: 10, burst: 0 }
            }
        );
        Ok(())
    }))
    .unwrap();
}

#[tokio::test]
async fn file_and_env_decide_what_runs_and_say_why() {
    let j = Journal::new();
    let pm = manager(&[("HOOKWIRE_PLUGIN_METRICS_ENABLED", "false")]);
    add_all(&pm, &j);
    let report = pm.start().await.unwrap();

    assert_eq!(report.started, ["geo"]);
    assert_eq!(report.lazy, ["cache"]);
    assert_eq!(
        report.disabled,
        [
            (
                "audit".to_owned(),
                DisabledBy::File {
                    path: "hookwire.toml".into()
                }
            ),
            (
                "metrics".to_owned(),
                DisabledBy::Env {
                    var: "HOOKWIRE_PLUGIN_METRICS_ENABLED".into()
                }
            ),
        ]
    );
    assert_eq!(report.unknown_config_sections, ["typo-plugin"]);
    // geo read its section (reserved keys aside); nothing else started with keys of its own.
    assert!(report.unread_config_keys.is_empty());
    let list = pm.plugins();
    let disabled: Vec<(&str, String)> = list
        .disabled()
        .map(|p| (p.name(), p.disabled.as_ref().unwrap().to_string()))
        .collect();
    assert_eq!(
        disabled,
        [
            ("audit", "`enabled = false` in hookwire.toml".to_owned()),
            (
                "metrics",
                "environment variable HOOKWIRE_PLUGIN_METRICS_ENABLED".to_owned()
            ),
        ]
    );
    assert_eq!(list.get("audit").unwrap().state, PluginState::Discovered);
    // Disabled plugins register nothing and are never called.
    assert!(!pm.hooks().is_registered("audit"));
    assert!(!pm.hooks().is_registered("metrics"));
    assert!(j.of("audit").is_empty() && j.of("metrics").is_empty());

    // `geo`'s priority override puts it before `cache` (registered later, so first by default).
    let out = pm.hook::<Pick>().call(&()).await.unwrap();
    assert_eq!(out.into_value().as_deref(), Some("geo"));
    assert_eq!(
        pm.state("cache"),
        Some(PluginState::Registered),
        "first result came before the lazy plugin"
    );

    let report = pm.shutdown(Duration::from_secs(1)).await;
    let audit = report.plugins.iter().find(|p| p.plugin == "audit").unwrap();
    // Not running because it is disabled, and the report says by what.
    assert_eq!(
        audit.outcome,
        StopOutcome::Disabled(DisabledBy::File {
            path: "hookwire.toml".into()
        })
    );
}

#[tokio::test]
async fn env_wins_over_the_file() {
    let j = Journal::new();
    let pm = manager(&[
        ("HOOKWIRE_PLUGIN_AUDIT_ENABLED", "yes"),
        ("HOOKWIRE_PLUGINS_DISABLE", "geo, cache"),
    ]);
    add_all(&pm, &j);
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["audit", "metrics"]);
    let disabled: Vec<&str> = report.disabled.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(disabled, ["cache", "geo"]);
}

#[tokio::test]
async fn a_dependency_that_is_disabled_is_named_as_such() {
    let j = Journal::new();
    let pm = manager(&[("HOOKWIRE_PLUGINS_DISABLE", "cache")]);
    pm.add(fake("audit", &j)).unwrap();
    pm.add(fake("cache", &j)).unwrap();
    pm.add(FakePlugin::new(
        PluginMeta::new("billing", "1.0.0").requires("audit", "^1"),
    ))
    .unwrap();
    let err = pm.start().await.unwrap_err();
    assert!(matches!(err, PluginError::Dependencies { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("plugin `billing` requires `audit` ^1"),
        "{msg}"
    );
    assert!(
        msg.contains("note: plugin `audit` is disabled by `enabled = false` in hookwire.toml"),
        "{msg}"
    );
    // Only the disabled plugins that a problem names get a note.
    assert!(!msg.contains("`cache`"), "{msg}");
    assert_eq!(pm.state("billing"), Some(PluginState::Discovered));
}

#[tokio::test]
async fn keys_a_plugin_never_reads_are_reported() {
    // A misspelt `enabled` does not disable the plugin; a plugin that takes no configuration
    // never reads its settings: both are listed, the plugin starts.
    let text = "[plugins.audit]\nenabeld = false\n[plugins.cache]\nlazy = false\nttl = 30\n";
    let config = HostConfig::parse(text, "hookwire.toml").unwrap();
    let pm = PluginHost::builder().config(config).build();
    let j = Journal::new();
    pm.add(fake("audit", &j)).unwrap();
    pm.add(fake("cache", &j)).unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["audit", "cache"]);
    assert_eq!(
        report.unread_config_keys,
        [
            ("audit".to_owned(), "enabeld".to_owned()),
            ("cache".to_owned(), "ttl".to_owned()),
        ]
    );
}

#[tokio::test]
async fn bad_plugin_config_fails_that_plugin_naming_key_and_file() {
    let text = "[plugins.geo]\nregion = \"eu\"\n[plugins.geo.limits]\nrate = 10\nbrust = 5\n";
    let config = HostConfig::parse(text, "conf/hookwire.toml").unwrap();
    let pm = PluginHost::builder().config(config).build();
    let j = Journal::new();
    pm.add(fake("geo", &j).on_init(|ctx| {
        let _: GeoConfig = ctx.config()?;
        Ok(())
    }))
    .unwrap();
    pm.add(fake("other", &j)).unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["other"]);
    let (plugin, reason) = &report.failed[0];
    assert_eq!(plugin, "geo");
    assert!(reason.starts_with("init failed: "), "{reason}");
    assert!(reason.contains("limits.brust"), "{reason}");
    assert!(reason.contains("conf/hookwire.toml"), "{reason}");
}

#[tokio::test]
async fn a_priority_override_for_a_hook_the_plugin_lacks_is_a_registration_failure() {
    let config = HostConfig::parse("[plugins.geo.priority]\nPik = 3\n", "hookwire.toml").unwrap();
    let pm = PluginHost::builder().config(config).build();
    let j = Journal::new();
    pm.add(fake("geo", &j)).unwrap();
    let report = pm.start().await.unwrap();
    let (plugin, reason) = &report.failed[0];
    assert_eq!(plugin, "geo");
    assert!(
        reason.contains("a priority override names hook `Pik`"),
        "{reason}"
    );
    assert!(reason.contains("its hooks: Pick"), "{reason}");
    assert!(!pm.hooks().is_registered("geo"));
    assert!(j.entries().is_empty());
}
