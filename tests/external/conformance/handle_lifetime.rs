//! The life of a `ProcessPlugin` handle: it serves the host that first runs it (a second
//! host, even once the first is gone, is refused), no copy of it runs beside its running
//! plugin (a replacement with the same handle is refused), and a host that fails it before its
//! `init` releases processes that no running host owns.

use std::time::Duration;

use hookwire::plugin::PluginState;
use hookwire::{PluginHost, PluginMeta};
use serde_json::json;

use super::{offering, raw, Events, Recording};
use crate::support::{eventually, processes_with};

const REFUSED: &str = "init failed: this `ProcessPlugin` serves as plugin `{name}` (of another host, or still running in this one under that name or as the plugin it would replace); its processes serve one plugin: build a new `ProcessPlugin` for each host, name and replacement";

fn refused(name: &str) -> String {
    REFUSED.replace("{name}", name)
}

/// A handle run by host A, which then shut down, is refused by host B: its processes (and
/// their restarts) belong to A's hooks.
#[tokio::test]
async fn a_handle_is_refused_by_a_second_host_even_once_the_first_is_gone() {
    let token = "token-life-moved";
    let name = "life-moved";
    let p = raw(name, "ok", json!([{"name": "greet"}]))
        .arg(token)
        .build();
    {
        let pm_a = offering();
        let host_a = PluginHost::builder().hooks(pm_a.clone()).build();
        host_a.add(p.clone()).unwrap();
        assert_eq!(host_a.start().await.unwrap().started, vec![name.to_owned()]);
        assert!(host_a.shutdown(Duration::from_secs(5)).await.is_clean());
    }
    let pm_b = offering();
    let host_b = PluginHost::builder().hooks(pm_b.clone()).build();
    host_b.add(p.clone()).unwrap();
    let report = host_b.start().await.unwrap();
    assert_eq!(report.failed, [(name.to_owned(), refused(name))]);
    assert!(host_b.shutdown(Duration::from_secs(5)).await.is_clean());
    assert_eq!(processes_with(token), 0);
}

/// `replace` with the plugin's own handle is refused at the replacement's `init` (the old and
/// new instance would share processes, and stopping the old one would stop both): the old
/// instance keeps serving.
#[tokio::test]
async fn replacing_a_plugin_with_its_own_handle_is_refused_and_the_old_one_serves_on() {
    let token = "token-life-replace-same";
    let name = "life-replace-same";
    let pm = offering();
    let p = raw(name, "ok", json!([{"name": "greet"}]))
        .arg(token)
        .build();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    assert_eq!(host.start().await.unwrap().started, vec![name.to_owned()]);

    let err = host
        .replace(name, p.clone(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("build a new `ProcessPlugin`"),
        "{err}"
    );
    assert_eq!(host.state(name), Some(PluginState::Started));
    let out = pm.call_json("greet", json!("Ada")).await.unwrap();
    assert_eq!(
        out.get(name).and_then(|o| o.value()),
        Some(&json!(format!("raw {name}: Hello, Ada"))),
        "{out:?}"
    );
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
    assert_eq!(processes_with(token), 0);
}

/// Host A dropped without shutdown leaves the handle's processes running; host B fails the
/// plugin before its `init`, and no running host owns them: they are stopped.
#[tokio::test]
async fn a_handle_failed_before_start_in_a_second_host_releases_processes_a_dropped_host_left() {
    let token = "token-life-dropped";
    let name = "life-dropped";
    let p = raw(name, "ok", json!([{"name": "greet", "before": ["rust-b"]}]))
        .arg(token)
        .build();
    {
        let pm_a = offering();
        let host_a = PluginHost::builder().hooks(pm_a.clone()).build();
        host_a.add(p.clone()).unwrap();
        assert_eq!(host_a.start().await.unwrap().started, vec![name.to_owned()]);
        // Dropped without shutdown: nothing stops the processes.
    }
    assert!(p.is_serving());
    assert_eq!(processes_with(token), 1);

    // Host B: an ordering cycle fails the plugin before its `init` (registration failed).
    let pm_b = offering();
    pm_b.register("rust-b", |r| {
        r.json_fn("greet", |_| Ok(None)).before(name).add()
    })
    .unwrap();
    let host_b = PluginHost::builder().hooks(pm_b.clone()).build();
    host_b.add(p.clone()).unwrap();
    let report = host_b.start().await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    // The release runs on a task of its own: give it the plugin's grace and more.
    let start = std::time::Instant::now();
    while processes_with(token) > 0 && start.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = processes_with(token);
    let serving = p.is_serving();
    let _ = host_b.shutdown(Duration::from_secs(5)).await;
    drop(p);
    eventually("the handle's processes to be killed", || {
        processes_with(token) == 0
    })
    .await;
    assert_eq!(
        (left, serving),
        (0, false),
        "host B failed the plugin before its start ({:?}) but no running host owns its processes",
        report.failed
    );
}

/// A lazy plugin whose `init` failed (brought up by an eager dependent) is not "released" as
/// if it had never run: only `init` is called.
#[tokio::test]
async fn release_unstarted_is_not_called_after_a_failed_init() {
    let pm = offering();
    let d = raw(
        "life-d2",
        "ok",
        json!([{"name": "greet", "before": ["life-d2"]}]),
    )
    .arg("token-life-late-dep2")
    .build();
    let l_events = Events::default();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(d).unwrap();
    host.add_lazy(Recording {
        meta: PluginMeta::new("life-l2", "1.0.0").requires("life-d2", "*"),
        events: l_events.clone(),
        fail_init: true,
    })
    .unwrap();
    host.add(Recording {
        meta: PluginMeta::new("life-e2", "1.0.0").requires("life-l2", "*"),
        events: Events::default(),
        fail_init: false,
    })
    .unwrap();
    let report = host.start().await.unwrap();
    // The release runs on a task of its own.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let l = l_events.lock().unwrap().clone();
    let _ = host.shutdown(Duration::from_secs(5)).await;
    assert_eq!(l, ["init"], "L's lifecycle calls; report {report:?}");
}
