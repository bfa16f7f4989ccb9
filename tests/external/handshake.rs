//! Start and handshake: what the host offers and checks, and the plugins it refuses.

use std::time::Duration;

use hookwire::external::{ProcessError, ProcessPlugin};
use serde_json::json;

use crate::support::{events_of, eventually, fixture_plugin, manager, processes_with, started};

#[tokio::test]
async fn a_plugin_is_offered_the_json_hooks_and_its_declared_impls_are_registered() {
    let pm = manager();
    let plugin = fixture_plugin("hs-ok", "ok")
        .config(json!({"greeting": "Hi"}))
        .spawn(&pm)
        .await
        .unwrap();
    assert_eq!(plugin.version(), "1.2.0");
    let names: Vec<&str> = plugin.hooks().iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["greet", "items", "auth"]);
    assert_eq!(plugin.hooks()[0].priority, 10);
    assert!(plugin.hooks()[2].tryfirst);
    assert_eq!(plugin.hooks()[2].timeout_ms, Some(500));
    // The fixture wrote what it was offered and its config to stderr.
    eventually("the stderr lines", || plugin.stderr_tail().len() >= 2).await;
    let tail = plugin.stderr_tail();
    assert_eq!(tail[0], "offered: auth,greet,items");
    assert_eq!(tail[1], r#"config: {"greeting": "Hi"}"#);
    // An unknown option is logged, not refused.
    let warned = events_of("hs-ok", "hookwire::external");
    assert!(
        warned.iter().any(|e| e.field("fields") == Some("colour")),
        "{warned:?}"
    );
    let host = hookwire::PluginHost::builder().hooks(pm.clone()).build();
    host.add(plugin).unwrap();
    host.start().await.unwrap();
    let registered = pm.plugin("hs-ok").unwrap();
    assert_eq!(
        format!("{registered:?}").matches("greet").count(),
        1,
        "{registered:?}"
    );
    let out = pm.call_json("greet", json!("Ada")).await.unwrap();
    assert_eq!(
        out.get("hs-ok").unwrap().value(),
        Some(&json!("Hello, Ada"))
    );
    let out = pm.call_json("auth", json!({})).await.unwrap();
    assert_eq!(out.into_value(), Some(json!("ada")));
}

#[tokio::test]
async fn an_incompatible_protocol_version_is_refused_naming_both_versions() {
    let err = fixture_plugin("hs-v2", "version2")
        .spawn(&manager())
        .await
        .unwrap_err();
    assert!(matches!(err, ProcessError::Version { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin `hs-v2` speaks protocol 2.1, this host speaks 1.1"
    );
}

#[tokio::test]
async fn a_plugin_answering_another_name_is_refused() {
    let err = fixture_plugin("hs-name", "wrongname")
        .spawn(&manager())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `hs-name` calls itself `someone-else`; make its name the one in its manifest"
    );
}

#[tokio::test]
async fn a_hook_the_host_does_not_offer_is_refused_naming_it_and_the_offered_ones() {
    let err = fixture_plugin("hs-hook", "unknownhook")
        .spawn(&manager())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `hs-hook` implements hook `gret`, which this host does not offer; it offers: auth, greet, items"
    );
}

hookwire::hookspec! {
    /// A typed spec the host has but does not offer to process plugins (no `json_spec`).
    #[name = "gret"]
    pub struct Gret(String) -> String;
}

/// The host has a typed spec of that name, not reachable from JSON: the refusal tells its
/// author how to offer it.
#[tokio::test]
async fn a_hook_the_host_has_but_does_not_offer_is_refused_saying_how_to_offer_it() {
    let pm = manager();
    pm.add_spec::<Gret>().unwrap();
    let err = fixture_plugin("hs-typed", "unknownhook")
        .spawn(&pm)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `hs-typed` implements hook `gret`, which this host does not offer; it offers: auth, greet, items (`gret`: its spec type `external::handshake::Gret` is not reachable from JSON; declare it with `json_spec::<external::handshake::Gret>()` (its argument and answer types must be serde types))"
    );
}

#[tokio::test]
async fn tryfirst_with_trylast_is_an_invalid_option() {
    let err = fixture_plugin("hs-opt", "badoption")
        .spawn(&manager())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `hs-opt` declares hook `greet` with invalid options: both `tryfirst` and `trylast`; choose one"
    );
}

#[tokio::test]
async fn a_plugin_that_refuses_the_host_is_not_loaded() {
    let err = fixture_plugin("hs-refuse", "refuse")
        .spawn(&manager())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `hs-refuse` refused the handshake: I only speak protocol 0.9 (code -32003)"
    );
}

#[tokio::test]
async fn a_plugin_that_never_answers_the_handshake_is_killed_after_the_start_timeout() {
    let token = "token-hs-silent";
    let err = fixture_plugin("hs-silent", "silent")
        .arg(token)
        .start_timeout(Duration::from_millis(500))
        .spawn(&manager())
        .await
        .unwrap_err();
    assert!(matches!(err, ProcessError::StartTimeout { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(
            "plugin `hs-silent` did not answer `initialize` within 500 ms, its start timeout (a manifest's `start_timeout_ms`); it was killed"
        ),
        "{err}"
    );
    eventually("the silent plugin to be gone", || {
        processes_with(token) == 0
    })
    .await;
}

#[tokio::test]
async fn a_plugin_that_writes_garbage_and_exits_is_reported_with_its_status_and_stderr() {
    let err = fixture_plugin("hs-garbage", "garbage_exit")
        .spawn(&manager())
        .await
        .unwrap_err();
    assert!(err.is_exited(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin `hs-garbage` exited with status 2; its last stderr lines: something went badly wrong"
    );
}

/// A program that ends at once with status 0 (a Python plugin that never calls
/// `plugin.run()`): the error says it did not serve, and how a plugin serves.
#[tokio::test]
async fn a_program_that_exits_cleanly_before_the_handshake_is_told_to_serve_the_protocol() {
    let err = ProcessPlugin::builder("hs-noserve", "sh")
        .arg("-c")
        .arg("exit 0")
        .start_timeout(Duration::from_secs(20))
        .spawn(&manager())
        .await
        .unwrap_err();
    assert!(err.is_exited(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin `hs-noserve` exited with status 0 before answering `initialize`: a plugin serves the protocol until its host sends `exit` (the SDKs: Python's `plugin.run()`, Rust's `serve_stdio`); it wrote nothing to stderr"
    );
}

#[tokio::test]
async fn a_program_that_cannot_start_is_a_spawn_error_naming_it() {
    let err = ProcessPlugin::builder("hs-missing", "/nonexistent/plugin")
        .spawn(&manager())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "could not start plugin `hs-missing`: cannot start `/nonexistent/plugin` in `.`: "
        ),
        "{text}"
    );
    assert!(
        text.ends_with("check the command (a program in PATH, or a path relative to the plugin folder) and its limits"),
        "{text}"
    );
}

#[tokio::test]
async fn a_started_plugin_is_a_plugin_of_the_host() {
    let (host, _plugin) = started("hs-host", "ok").await;
    assert_eq!(
        host.state("hs-host"),
        Some(hookwire::plugin::PluginState::Started)
    );
}

#[cfg(feature = "config")]
#[tokio::test]
async fn spawn_in_a_host_sends_the_builders_config_under_the_host_files_section() {
    let file =
        "[plugins.hs-config]\ngreeting = \"Hey\"\n\n[plugins.hs-config.colours]\nfg = \"red\"\n";
    let config = hookwire::config::HostConfig::parse(file, "host.toml").unwrap();
    let host = hookwire::PluginHost::builder()
        .hooks(manager())
        .config(config)
        .build();
    let p = fixture_plugin("hs-config", "ok")
        .config(json!({"greeting": "Hi", "colours": {"bg": "blue"}, "lang": "en"}))
        .spawn_in(&host)
        .await
        .unwrap();
    eventually("the stderr lines", || p.stderr_tail().len() >= 2).await;
    assert_eq!(
        p.stderr_tail()[1],
        r#"config: {"colours": {"bg": "blue", "fg": "red"}, "greeting": "Hey", "lang": "en"}"#
    );
}
