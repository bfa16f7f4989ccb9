//! The process environment applies to a `PluginHost` by default. The only test in its
//! binary: it sets process environment variables.

use hookwire::testing::FakePlugin;
use hookwire::{config::DisabledBy, error::PluginError, PluginHost, PluginMeta};

#[tokio::test]
async fn the_process_environment_applies_by_default() {
    std::env::set_var("HOOKWIRE_PLUGINS_DISABLE", "metrics");
    let pm = PluginHost::new();
    pm.add(FakePlugin::new(PluginMeta::new("metrics", "1.0.0")))
        .unwrap();
    pm.add(FakePlugin::new(PluginMeta::new("audit", "1.0.0")))
        .unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["audit"]);
    assert_eq!(
        report.disabled,
        [(
            "metrics".to_owned(),
            DisabledBy::Env {
                var: "HOOKWIRE_PLUGINS_DISABLE".into()
            }
        )]
    );

    // A host can opt out.
    let pm = PluginHost::builder().environment(false).build();
    pm.add(FakePlugin::new(PluginMeta::new("metrics", "1.0.0")))
        .unwrap();
    assert_eq!(pm.start().await.unwrap().started, ["metrics"]);

    // A malformed value stops `start` with the variable named; nothing starts.
    std::env::set_var("HOOKWIRE_PLUGIN_AUDIT_ENABLED", "maybe");
    let pm = PluginHost::new();
    pm.add(FakePlugin::new(PluginMeta::new("audit", "1.0.0")))
        .unwrap();
    let err = pm.start().await.unwrap_err();
    assert!(matches!(err, PluginError::Config(_)));
    let msg = err.to_string();
    assert!(msg.contains("HOOKWIRE_PLUGIN_AUDIT_ENABLED"), "{msg}");
    assert!(msg.contains("maybe"), "{msg}");
    assert_eq!(
        pm.state("audit"),
        Some(hookwire::plugin::PluginState::Discovered)
    );
}
