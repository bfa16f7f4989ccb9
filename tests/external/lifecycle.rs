//! Start, health, stop: `shutdown` then `exit`, a kill after the grace period, and no process
//! left behind.

use std::time::Duration;

use hookwire::plugin::Health;
use hookwire::PluginHost;

use crate::support::{
    eventually, fixture_plugin, manager, processes_with, started, zombie_children,
};

#[tokio::test]
async fn stop_sends_shutdown_then_exit_and_the_process_exits() {
    let (host, p) = started("l-stop", "ok").await;
    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(p.exit_status().as_deref(), Some("exited with status 0"));
    let tail = p.stderr_tail();
    assert_eq!(
        &tail[tail.len() - 2..],
        ["shutdown received", "exit received"]
    );
}

#[tokio::test]
async fn a_plugin_that_ignores_shutdown_is_killed_after_the_grace_period() {
    let pm = manager();
    let p = fixture_plugin("l-stubborn", "ignore_shutdown")
        .grace(Duration::from_millis(200))
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(p.exit_status().as_deref(), Some("was killed by SIGTERM"));
}

/// A host that stops waiting for a plugin's stop (its own grace period is shorter than the
/// plugin's) leaves no process running: the plugin's group is stopped by force.
#[tokio::test]
async fn a_stop_its_host_gives_up_on_still_stops_the_process() {
    let token = "token-l-given-up";
    let pm = manager();
    let p = fixture_plugin("l-given-up", "ignore_shutdown")
        .arg(token)
        .grace(Duration::from_secs(30))
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    assert_eq!(processes_with(token), 1);
    let stop = host
        .stop("l-given-up", Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(
        stop.outcome,
        hookwire::plugin::StopOutcome::TimedOut {
            limit: Duration::from_millis(300)
        }
    );
    eventually("the process to be gone", || processes_with(token) == 0).await;
    eventually("its exit to be known", || p.exit_status().is_some()).await;
    assert_eq!(p.exit_status().as_deref(), Some("was killed by SIGTERM"));
}

/// A Python SDK plugin whose plain impls hang past their timeout keeps its worker threads
/// busy (a thread cannot be stopped): its health says so, degraded then unhealthy, instead of
/// answering healthy while it serves nothing.
#[tokio::test]
async fn a_python_plugin_whose_workers_are_held_by_abandoned_calls_is_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.py"),
        "import time\nfrom hookwire_plugin import Plugin\nplugin = Plugin(\"l-workers\", \"1.0.0\", max_workers=2)\n\n@plugin.hookimpl\ndef greet(name):\n    if name == \"hang\":\n        time.sleep(30)\n    return \"hi \" + name\n\nif __name__ == \"__main__\":\n    plugin.run()\n",
    )
    .unwrap();
    let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/python");
    let pm = manager();
    let p = hookwire::external::ProcessPlugin::builder("l-workers", "python3")
        .arg("main.py")
        .current_dir(dir.path())
        .env("PYTHONPATH", sdk.display().to_string())
        .call_timeout(Duration::from_millis(200))
        .grace(Duration::from_millis(500))
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p).unwrap();
    host.start().await.unwrap();
    let health = |host: PluginHost| async move { host.health().await.remove(0).1 };
    assert_eq!(health(host.clone()).await, Health::Healthy);

    let out = pm
        .call_json("greet", serde_json::json!("hang"))
        .await
        .unwrap();
    assert!(
        matches!(
            out.get("l-workers"),
            Some(hookwire::ImplOutcome::Failed(
                hookwire::HookFailure::TimedOut { .. }
            ))
        ),
        "{out:?}"
    );
    assert_eq!(
        health(host.clone()).await,
        Health::Degraded("1 of 2 worker threads still run calls the host gave up on (`greet` x1); make long impls return when plugin.cancelled()".into())
    );
    pm.call_json("greet", serde_json::json!("hang"))
        .await
        .unwrap();
    assert_eq!(
        health(host.clone()).await,
        Health::Unhealthy("2 of 2 worker threads still run calls the host gave up on (`greet` x2); make long impls return when plugin.cancelled(); no plain impl can run until one returns".into())
    );
    host.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn health_asks_the_plugin() {
    let (host, _p) = started("l-health", "ok").await;
    let health = host.health().await;
    assert_eq!(
        health,
        vec![("l-health".to_owned(), Health::Degraded("cache cold".into()))]
    );
}

#[tokio::test]
async fn dropping_the_host_and_the_plugin_kills_the_process() {
    let token = "token-l-drop";
    let pm = manager();
    let p = fixture_plugin("l-drop", "ok")
        .arg(token)
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p).unwrap();
    host.start().await.unwrap();
    assert_eq!(processes_with(token), 1);
    drop(host);
    drop(pm);
    eventually("the process to be gone", || processes_with(token) == 0).await;
    eventually("no zombie", || zombie_children() == 0).await;
}

/// Linux's parent-death signal follows the thread that forked the child: a plugin started
/// from a thread that then ends must not die with it (hookwire forks from a thread of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_started_from_a_thread_that_ends_keeps_running_and_answering() {
    let token = "token-l-thread";
    let pm = manager();
    let (runtime, hooks) = (tokio::runtime::Handle::current(), pm.clone());
    let builder = fixture_plugin("l-thread", "ok").arg(token);
    let starter = std::thread::spawn(move || runtime.block_on(builder.spawn(&hooks)));
    let plugin = starter.join().unwrap().unwrap();
    // The thread that asked for the start is gone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(processes_with(token), 1);
    assert_eq!(plugin.exit_status(), None);
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(plugin.clone()).unwrap();
    host.start().await.unwrap();
    let out = pm
        .call_json("greet", serde_json::json!("Ada"))
        .await
        .unwrap();
    assert_eq!(
        out.get("l-thread").unwrap().value(),
        Some(&serde_json::json!("Hello, Ada"))
    );
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
    assert_eq!(processes_with(token), 0);
}
