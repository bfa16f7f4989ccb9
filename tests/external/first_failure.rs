//! A process plugin failed at its start limit while its `start` was failing for another
//! reason: the first failure, the root cause, is the one that stands — in its processes'
//! state (what its health and calls say) and in its host (its state, the event, the error a
//! restart returns).

use std::path::Path;
use std::time::Duration;

use hookwire::external::{ProcessPlugin, RestartPolicy};
use hookwire::plugin::{Health, PluginError, PluginEvent, PluginState};
use hookwire::PluginHost;

use crate::support::{eventually, fixture_plugin, manager, processes_with};

/// Two instances of the fixture in `seq` mode, restarts off; in each life, the first process
/// exits right after its handshake (the start limit at once: the plugin fails), and the
/// second holds its `start` until that failure stops it (`shutdown`), then refuses it: the
/// start fails too, but after, and for another reason.
fn failing_twice(name: &str, dir: &Path) -> ProcessPlugin {
    fixture_plugin(name, "seq")
        .arg(dir)
        .arg("exit_after_handshake,hold_start,exit_after_handshake,hold_start")
        .instances(2)
        .restart(RestartPolicy::never())
        .build()
}

/// The reason of the failure at the start limit (the root cause).
fn root_cause(name: &str) -> String {
    format!("restarts are off; it stays stopped until its host restarts it (last: plugin `{name}` exited with status 5; its last stderr lines: offered: auth,greet,items | config: {{}} | exiting after the handshake)")
}

/// The reasons of the plugin's `StateChanged` events to `Failed`, in order.
fn failures(events: &mut tokio::sync::broadcast::Receiver<PluginEvent>) -> Vec<String> {
    std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            PluginEvent::StateChanged {
                to: PluginState::Failed(reason),
                ..
            } => Some(reason),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_plugin_failed_at_its_start_limit_during_a_failing_start_stays_failed_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let name = "f-undo";
    let p = failing_twice(name, dir.path());
    let host = PluginHost::builder().hooks(manager()).build();
    host.add(p.clone()).unwrap();
    let report = host.start().await.unwrap();
    let reason = root_cause(name);
    assert_eq!(report.failed, [(name.to_owned(), reason.clone())]);
    // Its start's failure (the refusal) undid the start: every process is stopped, and each
    // instance is still failed, with the reason, not merely "not started".
    let health = hookwire::Plugin::health(&p).await;
    let failed = format!("plugin `{name}` failed: {reason}");
    assert_eq!(
        health,
        Health::Unhealthy(format!("instance 0: {failed}; instance 1: {failed}"))
    );
    assert!(!p.is_serving());
    eventually("every process to end", || {
        processes_with(&dir.path().display().to_string()) == 0
    })
    .await;
}

#[tokio::test]
async fn the_first_failure_of_a_plugin_is_its_state_its_event_and_the_error_a_restart_returns() {
    let dir = tempfile::tempdir().unwrap();
    let name = "f-first";
    let host = PluginHost::builder().hooks(manager()).build();
    let mut events = host.events();
    host.add(failing_twice(name, dir.path())).unwrap();
    let report = host.start().await.unwrap();
    let reason = root_cause(name);
    assert_eq!(report.failed, [(name.to_owned(), reason.clone())]);
    assert_eq!(host.state(name), Some(PluginState::Failed(reason.clone())));
    assert_eq!(failures(&mut events), std::slice::from_ref(&reason));

    // Its second life fails the same way: the error `restart` returns is that root cause too,
    // not the refused `start` it caused.
    let err = host.restart(name).await.unwrap_err();
    let PluginError::Failed {
        plugin,
        reason: said,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((plugin.as_str(), said.as_str()), (name, reason.as_str()));
    assert_eq!(host.state(name), Some(PluginState::Failed(reason.clone())));
    assert_eq!(failures(&mut events), [reason]);
    eventually("every process to end", || {
        processes_with(&dir.path().display().to_string()) == 0
    })
    .await;
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}
