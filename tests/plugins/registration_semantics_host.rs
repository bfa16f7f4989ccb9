//! Registration semantics through the `PluginHost`, whose `start` registers a whole start's
//! impls in one batch (`check_batch`/`register_batch`): constraints on plugins of a later
//! start wait for them, and a fail-fast historic replay fails only the plugin that failed it.

use std::sync::{Arc, Mutex};

use hookwire::testing::{FakePlugin, Journal, Reply, Script};
use hookwire::{ImplOutcome, PluginHost, PluginMeta};

hookwire::hookspec! {
    pub struct Name(()) -> String;
    #[historic]
    pub struct Ready(u32) -> String;
}

fn fake(name: &str, j: &Journal) -> FakePlugin {
    FakePlugin::new(PluginMeta::new(name, "1.0.0"))
        .journal(j)
        .hook::<Name>(Script::always(Reply::answer(name.to_owned())))
}

async fn order(pm: &PluginHost) -> Vec<String> {
    let out = pm.hook::<Name>().call(&()).await.unwrap();
    out.into_values()
}

#[tokio::test]
async fn a_constraint_on_a_plugin_of_a_later_start_waits_and_applies_when_it_starts() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(
        FakePlugin::new(PluginMeta::new("b", "1.0.0"))
            .journal(&j)
            .hook_with::<Name>(Script::always(Reply::answer("b".into())), |b| b.before("a")),
    )
    .unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["b"]);
    assert_eq!(pm.hooks().waiting_constraints().len(), 1);

    // `a` arrives in a second start (discovered later): registered after `b`, it would run
    // first (LIFO); `b`'s waiting constraint puts `b` first.
    pm.add(fake("a", &j)).unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["a"]);
    assert_eq!(order(&pm).await, ["b", "a"]);
    assert!(pm.hooks().waiting_constraints().is_empty());
}

#[tokio::test]
async fn a_start_that_would_close_a_cycle_through_a_waiting_constraint_fails_that_plugin() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(
        FakePlugin::new(PluginMeta::new("b", "1.0.0"))
            .journal(&j)
            .hook_with::<Name>(Script::always(Reply::answer("b".into())), |b| b.before("a")),
    )
    .unwrap();
    pm.start().await.unwrap();
    pm.add(
        FakePlugin::new(PluginMeta::new("a", "1.0.0"))
            .journal(&j)
            .hook_with::<Name>(Script::always(Reply::answer("a".into())), |b| b.before("b")),
    )
    .unwrap();
    pm.add(fake("c", &j)).unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["c"]);
    let (plugin, reason) = &report.failed[0];
    assert_eq!(plugin, "a");
    assert!(
        reason.starts_with("registration failed: impls of hook `Name` have an ordering cycle"),
        "{reason}"
    );
    assert!(!pm.hooks().is_registered("a"));
    assert_eq!(order(&pm).await, ["c", "b"]);
}

#[tokio::test]
async fn a_fail_fast_replay_failure_in_a_start_fails_only_that_plugin() {
    let j = Journal::new();
    let pm = PluginHost::new();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    pm.hooks()
        .hook::<Ready>()
        .fail_fast()
        .call_historic(1, move |plugin, o: ImplOutcome<String>| {
            log.lock().unwrap().push(format!("{plugin}: {}", o.kind()));
        })
        .await
        .unwrap();
    // Started together, registered in one batch; `bad` comes first in call order (LIFO).
    pm.add(fake("good", &j).hook::<Ready>(Script::always(Reply::answer("ok".into()))))
        .unwrap();
    pm.add(fake("bad", &j).hook::<Ready>(Script::always(Reply::error("not ready"))))
        .unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["good"]);
    assert_eq!(report.failed.len(), 1);
    let (plugin, reason) = &report.failed[0];
    assert_eq!(plugin, "bad");
    assert!(
        reason.contains("the replay of a stored call of historic hook `Ready` failed under fail-fast: the impl returned an error: not ready"),
        "{reason}"
    );
    assert!(!pm.hooks().is_registered("bad"));
    // `good` got the replay although `bad`'s failed first.
    assert_eq!(*seen.lock().unwrap(), ["good: value"]);
    assert_eq!(order(&pm).await, ["good"]);
}
