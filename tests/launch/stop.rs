//! Stopping a plugin stops its whole process group, gracefully then by force, and reaps it.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use hookwire::external::__launch::{spawn, stop};
use hookwire::external::LaunchSpec;

use crate::support::{
    alive, first_line, group_members, live_members_after_settling, plugin_folder, stat,
};

#[tokio::test]
async fn a_plugin_runs_in_its_own_process_group() {
    let folder = plugin_folder();
    let mut child =
        spawn(&LaunchSpec::new("sh", folder.path()).args(["-c", "echo ready; exec sleep 1000"]))
            .unwrap();
    let pid = child.id().unwrap();
    assert_eq!(first_line(&mut child).await, "ready");
    assert_eq!(stat(pid).map(|(_, group)| group), Some(pid));
    assert_ne!(stat(std::process::id()).map(|(_, group)| group), Some(pid));
    stop(&mut child, pid, Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_grandchild_that_ignores_sigterm_does_not_survive_the_stop_of_a_plugin_that_exited() {
    let folder = plugin_folder();
    // The plugin forks a grandchild that ignores SIGTERM, prints its pid and exits.
    let script = "(trap '' TERM; exec sleep 1000) & echo $!; exit 0";
    let mut child = spawn(&LaunchSpec::new("sh", folder.path()).args(["-c", script])).unwrap();
    let pgid = child.id().unwrap();
    let grandchild: u32 = first_line(&mut child).await.parse().unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0));
    // Before the stop the grandchild lives on in the plugin's group.
    assert!(alive(grandchild));
    assert_eq!(stat(grandchild).map(|(_, group)| group), Some(pgid));

    let status = stop(&mut child, pgid, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "the plugin's own status");
    assert_eq!(live_members_after_settling(pgid).await, Vec::<u32>::new());
    assert!(!alive(grandchild));
}

#[tokio::test]
async fn a_plugin_that_exits_on_sigterm_is_stopped_within_the_grace_period_and_reaped() {
    let folder = plugin_folder();
    let script = "trap 'exit 7' TERM; echo ready; sleep 1000 & wait";
    let mut child = spawn(&LaunchSpec::new("sh", folder.path()).args(["-c", script])).unwrap();
    let pid = child.id().unwrap();
    assert_eq!(first_line(&mut child).await, "ready");
    let started = Instant::now();
    let status = stop(&mut child, pid, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(7), "it ran its SIGTERM handler");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it did not wait out the grace"
    );
    // Reaped: no zombie left behind, nothing of its group alive.
    assert_eq!(stat(pid), None, "the plugin was reaped");
    assert_eq!(live_members_after_settling(pid).await, Vec::<u32>::new());
}

#[tokio::test]
async fn a_plugin_that_ignores_sigterm_is_killed_after_the_grace_period_and_reaped() {
    let folder = plugin_folder();
    let script = "trap '' TERM; sleep 1000 & echo ready; wait";
    let mut child = spawn(&LaunchSpec::new("sh", folder.path()).args(["-c", script])).unwrap();
    let pid = child.id().unwrap();
    assert_eq!(first_line(&mut child).await, "ready");
    let members_before = group_members(pid).len();
    assert!(members_before >= 2, "sh and its sleep: {members_before}");
    let started = Instant::now();
    let status = stop(&mut child, pid, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the grace was given"
    );
    assert_eq!(status.signal(), Some(9), "SIGKILL: {status:?}");
    assert_eq!(stat(pid), None, "the plugin was reaped");
    assert_eq!(live_members_after_settling(pid).await, Vec::<u32>::new());
}

#[tokio::test]
async fn dropping_a_stop_half_way_kills_the_group() {
    let folder = plugin_folder();
    let script = "trap '' TERM; sleep 1000 & echo ready; wait";
    let mut child = spawn(&LaunchSpec::new("sh", folder.path()).args(["-c", script])).unwrap();
    let pid = child.id().unwrap();
    assert_eq!(first_line(&mut child).await, "ready");
    // The stop is dropped while it waits out a long grace period.
    let dropped = tokio::time::timeout(
        Duration::from_millis(200),
        stop(&mut child, pid, Duration::from_secs(600)),
    )
    .await;
    assert!(dropped.is_err());
    assert_eq!(live_members_after_settling(pid).await, Vec::<u32>::new());
    let status = child.wait().await.unwrap();
    assert_eq!(status.signal(), Some(9));
}
