//! The processes of a plugin failed before its start are released only when no host runs
//! them: a `ProcessPlugin` handle shared with a host that started it, or added again under a
//! second name, keeps serving when the other copy fails; and a lazy plugin that already ran
//! `init` and `start` is never "released" as if it had not.

use std::time::Duration;

use hookwire::plugin::PluginState;
use hookwire::{PluginHost, PluginMeta};
use serde_json::json;

use super::{offering, raw, value_of, Events, Recording};
use crate::support::processes_with;

/// A ProcessPlugin handle added to two hosts (it is `Clone`): host B fails it before its
/// start (an ordering cycle in B only), and `release_unstarted` stops the processes that
/// serve host A, where the plugin is `Started` and nothing failed.
#[tokio::test]
async fn failing_a_shared_process_plugin_in_a_second_host_leaves_the_first_hosts_processes_running()
{
    let token = "token-review2-shared-host";
    let name = "review2-shared";
    let pm_a = offering();
    let p = raw(name, "ok", json!([{"name": "greet", "before": ["rust-b"]}]))
        .arg(token)
        .build();
    let host_a = PluginHost::builder().hooks(pm_a.clone()).build();
    host_a.add(p.clone()).unwrap();
    let report = host_a.start().await.unwrap();
    assert_eq!(report.started, vec![name.to_owned()], "{report:?}");
    let out = pm_a.call_json("greet", json!("Ada")).await.unwrap();
    assert_eq!(
        value_of(&out, name),
        json!(format!("raw {name}: Hello, Ada"))
    );
    assert_eq!(processes_with(token), 1);

    // Host B: `rust-b` runs before the plugin, the plugin before `rust-b`: a cycle in B only.
    let pm_b = offering();
    pm_b.register("rust-b", |r| {
        r.json_fn("greet", |_| Ok(None)).before(name).add()
    })
    .unwrap();
    let host_b = PluginHost::builder().hooks(pm_b.clone()).build();
    host_b.add(p.clone()).unwrap();
    let report_b = host_b.start().await.unwrap();
    assert_eq!(report_b.failed.len(), 1, "{report_b:?}");

    // Host A never failed its plugin: it is still `Started`, and should still be served.
    assert_eq!(host_a.state(name), Some(PluginState::Started));
    let running = processes_with(token);
    let out = pm_a.call_json("greet", json!("Bo")).await.unwrap();
    let outcome = format!("{:?}", out.get(name));
    let _ = host_a.shutdown(Duration::from_secs(5)).await;
    let _ = host_b.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        running, 1,
        "host A's `Started` plugin has no process once host B failed its own copy \
         (host B's failure: {:?}); host A's next call: {outcome}",
        report_b.failed
    );
    assert!(
        outcome.contains("Hello, Bo"),
        "host A's next call: {outcome}"
    );
}

/// One host. `D` is a process plugin that names its hooks once it runs; it starts, then its
/// late registration fails (its impl is ordered before itself), so it is failed after its
/// start. `L` is lazy and requires `D`; `E` is eager and requires `L`, so `E`'s start brings
/// `L` up (`init`, `start`). The host then fails `L` for its failed dependency as a plugin
/// that started: its `stop` runs, and nothing treats it as never started.
#[tokio::test]
async fn release_unstarted_is_not_called_on_a_lazy_plugin_that_already_started() {
    let token = "token-review2-late-dep";
    let pm = offering();
    let d = raw(
        "review2-d",
        "ok",
        json!([{"name": "greet", "before": ["review2-d"]}]),
    )
    .arg(token)
    .build();
    let l_events = Events::default();
    let e_events = Events::default();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(d).unwrap();
    host.add_lazy(Recording {
        meta: PluginMeta::new("review2-l", "1.0.0").requires("review2-d", "*"),
        events: l_events.clone(),
        fail_init: false,
    })
    .unwrap();
    host.add(Recording {
        meta: PluginMeta::new("review2-e", "1.0.0").requires("review2-l", "*"),
        events: e_events.clone(),
        fail_init: false,
    })
    .unwrap();
    let report = host.start().await.unwrap();
    let states = ["review2-d", "review2-l", "review2-e"].map(|n| (n, host.state(n)));
    let l = l_events.lock().unwrap().clone();
    let _ = host.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        l,
        ["init", "start", "stop"],
        "L's lifecycle calls; states {states:?}; E's calls {:?}; report {report:?}",
        e_events.lock().unwrap()
    );
    assert_eq!(
        states[1].1,
        Some(PluginState::Failed(
            "dependency `review2-d` failed".to_owned()
        ))
    );
}

/// The same in one host: the application adds its `ProcessPlugin` handle a second time under
/// another name (`add_as`) and starts again; the copy fails before its start (an ordering
/// cycle that only the copy is in), and `release_unstarted` stops the processes of the
/// original, which stays `Started`.
#[tokio::test]
async fn failing_a_second_name_of_a_process_plugin_leaves_the_started_one_running() {
    let token = "token-review2-add-as";
    let name = "review2-orig";
    let pm = offering();
    pm.register("rust-b", |r| {
        r.json_fn("greet", |_| Ok(None))
            .before("review2-copy")
            .add()
    })
    .unwrap();
    let p = raw(name, "ok", json!([{"name": "greet", "before": ["rust-b"]}]))
        .arg(token)
        .build();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.started, vec![name.to_owned()], "{report:?}");
    assert_eq!(processes_with(token), 1);

    host.add_as("review2-copy", p.clone()).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(host.state(name), Some(PluginState::Started));
    let running = processes_with(token);
    let out = pm.call_json("greet", json!("Bo")).await.unwrap();
    let outcome = format!("{:?}", out.get(name));
    let _ = host.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        running, 1,
        "the `Started` plugin `{name}` has no process once its copy failed ({:?}); its next \
         call: {outcome}",
        report.failed
    );
}

/// A handle started by one host cannot start in a second one while the first runs it (their
/// shared processes would be stopped by either host): the second host's start fails that
/// copy, saying why, and the first host's plugin keeps serving through the second's shutdown.
#[tokio::test]
async fn a_handle_running_in_one_host_is_refused_by_a_second_host() {
    let token = "token-shared-two-hosts";
    let name = "shared-two";
    let pm_a = offering();
    let p = raw(name, "ok", json!([{"name": "greet"}]))
        .arg(token)
        .build();
    let host_a = PluginHost::builder().hooks(pm_a.clone()).build();
    host_a.add(p.clone()).unwrap();
    assert_eq!(host_a.start().await.unwrap().started, vec![name.to_owned()]);

    let pm_b = offering();
    let host_b = PluginHost::builder().hooks(pm_b.clone()).build();
    host_b.add(p.clone()).unwrap();
    let report = host_b.start().await.unwrap();
    assert_eq!(
        report.failed,
        [(
            name.to_owned(),
            format!("init failed: this `ProcessPlugin` serves as plugin `{name}` (of another host, or still running in this one under that name or as the plugin it would replace); its processes serve one plugin: build a new `ProcessPlugin` for each host, name and replacement")
        )]
    );
    assert!(host_b.shutdown(Duration::from_secs(5)).await.is_clean());

    assert_eq!(processes_with(token), 1);
    let out = pm_a.call_json("greet", json!("Bo")).await.unwrap();
    assert!(
        format!("{:?}", out.get(name)).contains("Hello, Bo"),
        "{out:?}"
    );
    assert!(host_a.shutdown(Duration::from_secs(5)).await.is_clean());
    assert_eq!(processes_with(token), 0);
}
