//! On Linux a plugin dies with its host (`PR_SET_PDEATHSIG`), even when the host is killed and
//! runs no cleanup. The test binary itself plays the host: run with `HOOKWIRE_LAUNCH_TEST_HOST`
//! set, the test below starts a plugin, prints its pid and blocks; the test (run normally)
//! starts that host, kills it with SIGKILL and checks that the plugin is gone.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use hookwire::external::__launch::spawn;
use hookwire::external::LaunchSpec;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{alive, PATIENCE};

const HOST_ENV: &str = "HOOKWIRE_LAUNCH_TEST_HOST";

#[cfg(target_os = "linux")]
#[test]
fn a_plugin_dies_when_its_host_dies() {
    if std::env::var_os(HOST_ENV).is_some() {
        act_as_host();
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(kill_a_host_and_check_its_plugin());
}

/// The host: starts a plugin, says its pid, and waits to be killed.
fn act_as_host() -> ! {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let folder = std::env::temp_dir();
    let child = runtime
        .block_on(async { spawn(&LaunchSpec::new("sleep", &folder).arg("1000")) })
        .unwrap();
    println!("PLUGIN {}", child.id().unwrap());
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::park();
    }
}

async fn kill_a_host_and_check_its_plugin() {
    let mut host = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "pdeathsig::a_plugin_dies_when_its_host_dies",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOST_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(host.stdout.take().unwrap()).lines();
    let plugin: u32 = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // The harness may print "test … ... " on the same line first.
            if let Some((_, pid)) = line.split_once("PLUGIN ") {
                return pid.trim().parse().unwrap();
            }
        }
        panic!("the host ended without starting its plugin");
    })
    .await
    .expect("the host starts its plugin in time");
    assert!(alive(plugin), "the plugin runs while its host does");

    host.kill().await.unwrap(); // SIGKILL: the host runs no cleanup at all

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while alive(plugin) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let survived = alive(plugin);
    if survived {
        let _ = std::process::Command::new("kill")
            .args(["-9", &plugin.to_string()])
            .status();
    }
    assert!(!survived, "the plugin outlived its host");
}
