//! Start and handshake: identity, what the host offers and checks, how options place the
//! plugin among the other impls.

use std::time::Duration;

use hookwire::external::{ProcessError, ProcessPlugin};
use hookwire::PluginHost;
use serde_json::json;

use super::{offering, raw, raw_fixture, start, value_of};
use crate::support::{events_of, eventually, processes_with};

#[tokio::test]
async fn the_handshake_carries_identity_offered_hooks_config_limits_and_start_comes_first() {
    let pm = offering();
    let hooks = json!([{"name": "greet", "priority": 3}, {"name": "auth", "tryfirst": true, "timeout_ms": 900}]);
    let (host, p) = start(&pm, raw("k-hello", "ok", hooks.clone())).await;
    assert_eq!(p.version(), "0.4.2");
    let declared: Vec<_> = p
        .hooks()
        .iter()
        .map(|h| (h.name.as_str(), h.priority, h.tryfirst, h.timeout_ms))
        .collect();
    assert_eq!(
        declared,
        [("greet", 3, false, None), ("auth", 0, true, Some(900))]
    );

    let meta = value_of(
        &pm.call_json("greet", json!({"op": "meta"})).await.unwrap(),
        "k-hello",
    );
    assert_eq!(meta["protocol_version"], "1.1");
    assert_eq!(
        meta["host"],
        json!({"name": "conform-app", "version": "9.8.7"})
    );
    assert_eq!(meta["config"], json!({ "hooks": hooks }));
    assert_eq!(
        meta["offered"],
        json!([
            {"name": "audit", "mode": "collect_all", "args_schema": null, "result_schema": null},
            {"name": "auth", "mode": "first_result", "args_schema": null, "result_schema": null},
            {"name": "greet", "mode": "collect_all", "args_schema": null, "result_schema": null},
            {"name": "timed", "mode": "collect_all", "args_schema": null, "result_schema": null},
        ])
    );
    assert_eq!(
        meta["limits"],
        json!({"max_message_bytes": 16_777_216, "max_call_depth": 8})
    );
    assert_eq!(meta["marker"], "1");
    // `start` came before the first call, and its log reached the host.
    assert_eq!(meta["started"], true);
    assert_eq!(meta["depth"], 0);
    assert_eq!(meta["id_type"], "int");
    let started = events_of("k-hello", "hookwire::external::log");
    assert_eq!(started[0].field("message"), Some("started"));
    assert_eq!(
        started[0].field("fields"),
        Some(r#"{"hooks":["auth","greet"]}"#)
    );
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}

#[tokio::test]
async fn the_host_refuses_an_incompatible_or_invalid_handshake_naming_what_to_fix() {
    let greet = json!([{"name": "greet"}]);
    let err = raw("k-v2", "v2", greet.clone())
        .spawn(&offering())
        .await
        .unwrap_err();
    assert!(matches!(err, ProcessError::Version { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin `k-v2` speaks protocol 2.0, this host speaks 1.1"
    );

    let err = raw("k-refuse", "refuse", greet.clone())
        .spawn(&offering())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-refuse` refused the handshake: plugin `k-refuse` speaks protocol 9.0 only, the host speaks 1.1 (code -32003)"
    );

    let err = raw("k-gret", "unknown_hook", greet.clone())
        .spawn(&offering())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-gret` implements hook `gret`, which this host does not offer; it offers: audit, auth, greet, timed"
    );

    let err = raw("k-tiers", "both_tiers", greet.clone())
        .spawn(&offering())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-tiers` declares hook `greet` with invalid options: both `tryfirst` and `trylast`; choose one"
    );

    let err = raw("k-zero", "ok", json!([{"name": "greet", "timeout_ms": 0}]))
        .spawn(&offering())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("plugin `k-zero` declares hook `greet` with invalid options: "),
        "{err}"
    );

    // The name in the answer must be the host's: here the command line names another.
    let err = ProcessPlugin::builder("k-named", "python3")
        .arg(raw_fixture())
        .arg("k-other")
        .config(json!({"hooks": greet}))
        .spawn(&offering())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-named` calls itself `k-other`; make its name the one in its manifest"
    );
}

#[tokio::test]
async fn what_the_host_checks_in_a_handshake_beyond_the_options() {
    // A hook named twice.
    let err = raw(
        "k-twice",
        "ok",
        json!([{"name": "greet"}, {"name": "greet", "priority": 1}]),
    )
    .spawn(&offering())
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-twice` declares hook `greet` with invalid options: the hook is named twice; implement each hook once"
    );
    // A priority outside a 32-bit signed integer.
    let err = raw(
        "k-prio",
        "ok",
        json!([{"name": "greet", "priority": 2_147_483_648_u64}]),
    )
    .spawn(&offering())
    .await
    .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "plugin `k-prio` answered `initialize` with a malformed result: `hooks[0].priority`: "
        ),
        "{err}"
    );
    // A version that is not semver (MAJOR.MINOR.PATCH).
    let p = ProcessPlugin::builder("k-semver", "python3")
        .arg(raw_fixture())
        .arg("k-semver")
        .config(json!({"hooks": [{"name": "greet"}], "version": "1.2"}))
        .spawn(&offering())
        .await;
    let err = p.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-semver` answered `initialize` with a malformed result: `plugin.version`: `1.2` is not a semver version (MAJOR.MINOR.PATCH, such as `1.2.0`): unexpected end of input while parsing minor version number"
    );
}

#[tokio::test]
async fn hook_options_place_the_plugin_among_the_other_impls() {
    let pm = offering();
    for name in ["rust-a", "rust-b"] {
        pm.register(name, move |r| {
            r.json_fn("greet", move |_| Ok(Some(json!(name)))).add()?;
            r.json_fn("auth", move |_| Ok(Some(json!(name)))).add()?;
            r.json_fn("audit", move |_| Ok(Some(json!(name)))).add()?;
            r.json_fn("timed", move |_| Ok(Some(json!(name)))).add()
        })
        .unwrap();
    }
    pm.register("rust-high", |r| {
        r.json_fn("audit", |_| Ok(Some(json!("rust-high"))))
            .priority(10)
            .add()
    })
    .unwrap();
    let hooks = json!([
        {"name": "greet", "trylast": true},
        {"name": "auth", "tryfirst": true},
        {"name": "audit", "priority": 5, "before": ["rust-a"], "after": ["rust-b"]},
        {"name": "timed"},
    ]);
    let (_host, _p) = start(&pm, raw("k-order", "ok", hooks)).await;
    // Plain impls run last registered first (pluggy's LIFO); `trylast` after them.
    let out = pm.call_json("greet", json!("x")).await.unwrap();
    let order: Vec<_> = out.iter().map(|(plugin, _)| plugin.to_owned()).collect();
    assert_eq!(order, ["rust-b", "rust-a", "k-order"]);
    // `tryfirst` answers a first-result hook before the others.
    let out = pm.call_json("auth", json!("x")).await.unwrap();
    assert_eq!(out.into_value(), Some(json!("raw k-order: Hello, x")));
    // Higher priority first; `before` and `after` constrain the order whatever the priorities.
    let out = pm.call_json("audit", json!("x")).await.unwrap();
    let order: Vec<_> = out.iter().map(|(plugin, _)| plugin.to_owned()).collect();
    assert_eq!(order, ["rust-high", "rust-b", "k-order", "rust-a"]);
    // No options: added last, it runs first.
    let out = pm.call_json("timed", json!("x")).await.unwrap();
    let order: Vec<_> = out.iter().map(|(plugin, _)| plugin.to_owned()).collect();
    assert_eq!(order, ["k-order", "rust-b", "rust-a"]);
}

#[tokio::test]
async fn an_ordering_cycle_fails_the_plugins_registration_naming_it() {
    let pm = offering();
    pm.register("rust-a", |r| {
        r.json_fn("greet", |_| Ok(None)).before("k-cycle").add()
    })
    .unwrap();
    let p = raw(
        "k-cycle",
        "ok",
        json!([{"name": "greet", "before": ["rust-a"]}]),
    )
    .arg("token-k-cycle")
    .spawn(&pm)
    .await
    .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(
        report.failed,
        [(
            "k-cycle".to_owned(),
            "registration failed: impls of hook `greet` have an ordering cycle: k-cycle -> rust-a -> k-cycle; remove one of these before/after constraints".to_owned()
        )]
    );
    assert!(!pm.is_registered("k-cycle"));
    // A plugin spawned before its host started it holds no process once it failed before
    // its start: the host stops it (on a task of its own, so `start` does not wait).
    eventually("the process to be gone", || {
        processes_with("token-k-cycle") == 0
    })
    .await;
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}
