//! What the launcher adds to a process plugin: its process group dies with it, and a crash
//! under a resource limit names the limit.

use hookwire::external::{ResourceLimits, RestartPolicy};
use hookwire::PluginHost;
use serde_json::json;

use crate::support::{eventually, failure_of, fixture_plugin, manager, processes_with};

#[tokio::test]
async fn a_grandchild_left_by_a_crashed_plugin_does_not_survive_it() {
    let token = "token-l-grandchild";
    let pm = manager();
    let p = fixture_plugin("l-fork", "ok")
        .restart(RestartPolicy::never())
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();

    let out = pm
        .call_json("greet", json!(format!("fork:{token}")))
        .await
        .unwrap();
    let failure = failure_of(&out, "l-fork");
    assert!(
        failure.starts_with("returned an error: plugin `l-fork` exited with status 4"),
        "{failure}"
    );
    // The grandchild ran in the plugin's process group, which is killed once the plugin
    // exited.
    eventually("the grandchild to be gone", || processes_with(token) == 0).await;
}

#[tokio::test]
async fn a_crash_under_a_memory_limit_names_the_limit() {
    let pm = manager();
    let p = fixture_plugin("l-alloc", "ok")
        .limits(ResourceLimits::new().address_space_mib(512))
        .restart(RestartPolicy::never())
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();

    let out = pm.call_json("greet", json!("alloc")).await.unwrap();
    let failure = failure_of(&out, "l-alloc");
    assert!(
        failure.starts_with(
            "returned an error: plugin `l-alloc` exited with status 1 while limited to 512 MiB of address space; it may have run out of memory"
        ),
        "{failure}"
    );
}

#[tokio::test]
async fn a_grandchild_of_a_process_dropped_after_a_failed_start_does_not_survive_it() {
    // Two instances: process 0 leaves a grandchild (`sleep`, naming the folder) and answers
    // its handshake, process 1 refuses its handshake. The spawn fails, and process 0 is
    // dropped, never having crashed or been stopped: its group goes with it.
    let dir = tempfile::tempdir().unwrap();
    let err = fixture_plugin("l-drop-group", "seq")
        .arg(dir.path())
        .arg("grandchild,refuse")
        .instances(2)
        .spawn(&manager())
        .await
        .unwrap_err();
    assert!(
        matches!(err, hookwire::external::ProcessError::Refused { .. }),
        "{err:?}"
    );
    eventually("the grandchild to be gone", || {
        processes_with(&dir.path().display().to_string()) == 0
    })
    .await;
}
