//! What a host's `start` and `stop` do around a plugin that fails or is given up on: a call
//! cut short by a stop the host gave up on says its host stopped it; a plugin failed before
//! its start is released without holding the `start` (nor leaving it half done if dropped).

use std::time::Duration;

use hookwire::PluginHost;
use serde_json::json;

use crate::support::{failure_of, fixture_plugin, manager};

/// A call in flight when its host stops the plugin says so ("... as its host stopped it"),
/// also when the host gives up on the stop before the plugin answered `shutdown` (the host's
/// time limit shorter than the plugin's grace: the process group is then stopped by force).
#[tokio::test]
async fn a_call_cut_short_by_a_stop_its_host_gave_up_on_says_its_host_stopped_it() {
    let name = "review2-given-up";
    let pm = manager();
    let p = fixture_plugin(name, "ignore_shutdown")
        .grace(Duration::from_secs(30))
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    let (out, stop) = tokio::join!(pm.call_json("greet", json!("sleep:5000")), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        host.stop(name, Duration::from_millis(300)).await
    });
    let stop = stop.unwrap();
    let failure = failure_of(&out.unwrap(), name);
    assert!(
        failure.contains("as its host stopped it"),
        "the call's failure: {failure:?}; the stop: {:?}",
        stop.outcome
    );
}

/// A plugin that registers nothing.
struct Quiet;

impl hookwire::Plugin for Quiet {
    fn meta(&self) -> hookwire::PluginMeta {
        hookwire::PluginMeta::new("review2-quiet", "1.0.0")
    }
    fn register(
        self: std::sync::Arc<Self>,
        _: &mut hookwire::Registrar,
    ) -> Result<(), hookwire::RegisterError> {
        Ok(())
    }
}

/// A process plugin failed before its start (a priority override naming a hook it lacks)
/// that does not answer `shutdown` (its stop takes up to twice its grace: `shutdown`, then
/// the exit) is stopped on a task of its own: the host's `start` does not wait for it (with
/// nothing to await there, a `start` dropped by the application's timeout cannot stop half
/// way through wiring the plugins either), and a second `start` finds nothing left to do.
#[tokio::test]
async fn a_plugin_failed_before_its_start_does_not_hold_the_start_for_its_grace() {
    let pm = manager();
    let slow = fixture_plugin("review2-slow", "ignore_shutdown")
        .grace(Duration::from_secs(30))
        .spawn(&pm)
        .await
        .unwrap();
    let config = hookwire::config::HostConfig::parse(
        "[plugins.review2-slow.priority]\nnohook = 5\n",
        "hookwire.toml",
    )
    .unwrap();
    let host = PluginHost::builder()
        .hooks(pm.clone())
        .config(config)
        .build();
    host.add(Quiet).unwrap();
    host.add(slow).unwrap();
    let began = std::time::Instant::now();
    let report = host.start().await.unwrap();
    let took = began.elapsed();
    let again = host.start().await.unwrap();
    let _ = host.shutdown(Duration::from_secs(1)).await;
    assert!(again.started.is_empty(), "{again:?}");
    assert_eq!(
        report.started,
        vec!["review2-quiet".to_owned()],
        "{report:?}"
    );
    assert!(
        took < Duration::from_secs(20),
        "`start` took {took:?} (failed: {:?})",
        report.failed
    );
}
