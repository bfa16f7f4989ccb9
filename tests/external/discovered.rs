//! Process plugins the host starts itself: built (not spawned) and added, started in `init`,
//! lazily on their first call, and found in plugin folders by `discover` (and the watcher).
//! Processes are counted by a token on their command line.

use std::path::Path;
use std::time::Duration;

use hookwire::config::HostConfig;
use hookwire::discovery::{DiscoveryOptions, DiscoveryStatus};
use hookwire::external::ProcessPlugin;
use hookwire::PluginHost;
use serde_json::json;

use crate::support::{
    error_of, events_of, eventually, failure_of, fixture, fixture_plugin, logs, manager,
    processes_with,
};

fn host() -> PluginHost {
    logs();
    PluginHost::builder().hooks(manager()).build()
}

/// A `kind = "process"` manifest for the fixture in mode `ok`, with `token` on its command
/// line, and `extra` TOML after the `[process]` table's command.
fn write_manifest(folder: &Path, name: &str, token: &str, top: &str, process: &str, rest: &str) {
    let dir = folder.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "name = \"{name}\"\nversion = \"1.2.0\"\nkind = \"process\"\n{top}\n[process]\ncommand = [\"python3\", {fixture:?}, \"ok\", \"{token}\"]\nstart_timeout_ms = 20000\n{process}\n{rest}\n",
        fixture = fixture().display().to_string(),
    );
    std::fs::write(dir.join("plugin.toml"), text).unwrap();
}

#[tokio::test]
async fn a_built_process_plugin_starts_in_init_and_registers_the_hooks_its_handshake_declared() {
    let token = "token-d-built";
    let host = host();
    let plugin = fixture_plugin("d-built", "ok").arg(token).build();
    host.add(plugin.clone()).unwrap();
    // Added, not started: no process yet.
    assert_eq!(processes_with(token), 0);
    assert!(!plugin.is_serving());

    let report = host.start().await.unwrap();
    assert_eq!(report.started, ["d-built"], "{report:?}");
    assert_eq!(processes_with(token), 1);
    assert_eq!(plugin.version(), "1.2.0");
    // The impls are the hooks of the handshake, with its options (greet: priority 10,
    // timeout 5 s; auth: tryfirst).
    let info = host.plugins();
    let impls = &info.get("d-built").unwrap().impls;
    let mut hooks: Vec<&str> = impls.iter().map(|i| &*i.hook).collect();
    hooks.sort_unstable();
    assert_eq!(hooks, ["auth", "greet", "items"]);
    let greet = impls.iter().find(|i| &*i.hook == "greet").unwrap();
    assert_eq!(greet.options.priority, 10);
    assert_eq!(greet.options.timeout, Some(Duration::from_secs(5)));

    let out = host.hooks().call_json("greet", json!("ada")).await.unwrap();
    assert_eq!(
        out.get("d-built").unwrap().value(),
        Some(&json!("Hello, ada"))
    );

    host.shutdown(Duration::from_secs(5)).await;
    eventually("the process to end", || processes_with(token) == 0).await;
}

#[tokio::test]
async fn a_handshake_failure_in_init_is_the_plugins_start_failure() {
    let host = host();
    host.add(fixture_plugin("d-refuse", "refuse").build())
        .unwrap();
    let report = host.start().await.unwrap();
    assert!(report.started.is_empty(), "{report:?}");
    let (name, reason) = &report.failed[0];
    assert_eq!(name, "d-refuse");
    assert!(
        reason.contains("plugin `d-refuse` refused the handshake")
            && reason.contains("I only speak protocol 0.9"),
        "{reason}"
    );
    assert!(host.plugins().get("d-refuse").unwrap().impls.is_empty());
}

#[tokio::test]
async fn a_lazy_process_plugin_starts_its_process_on_the_first_call() {
    let token = "token-d-lazy";
    let host = host();
    let plugin = fixture_plugin("d-lazy", "ok")
        .arg(token)
        .hooks(["greet", "items", "auth"])
        .build();
    host.add_lazy(plugin.clone()).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.lazy, ["d-lazy"], "{report:?}");
    // Registered before its process runs.
    assert_eq!(host.plugins().get("d-lazy").unwrap().impls.len(), 3);
    assert_eq!(processes_with(token), 0);

    let out = host.hooks().call_json("greet", json!("bob")).await.unwrap();
    assert_eq!(
        out.get("d-lazy").unwrap().value(),
        Some(&json!("Hello, bob"))
    );
    assert_eq!(processes_with(token), 1);
    let out = host.hooks().call_json("auth", json!({})).await.unwrap();
    assert_eq!(out.into_value(), Some(json!("ada")));
    assert_eq!(processes_with(token), 1);

    host.shutdown(Duration::from_secs(5)).await;
    eventually("the process to end", || processes_with(token) == 0).await;
}

#[tokio::test]
async fn a_lazy_process_plugin_whose_handshake_names_other_hooks_fails_naming_the_difference() {
    let host = host();
    host.add_lazy(
        fixture_plugin("d-differ", "ok")
            .hooks(["greet", "items", "farewell"])
            .build(),
    )
    .unwrap();
    host.start().await.unwrap();
    let out = host.hooks().call_json("greet", json!("bob")).await.unwrap();
    let failure = error_of(&out, "d-differ");
    assert!(
        failure.contains(
            "plugin `d-differ` declared other hooks than its manifest's `[process] hooks`: the process does not implement `farewell`; the manifest does not list `auth`; make the two lists the same"
        ),
        "{failure}"
    );
}

#[tokio::test]
async fn a_lazy_process_plugin_without_declared_hooks_is_refused_clearly() {
    let host = host();
    host.add_lazy(fixture_plugin("d-undeclared", "ok").build())
        .unwrap();
    let report = host.start().await.unwrap();
    let (name, reason) = &report.failed[0];
    assert_eq!(name, "d-undeclared");
    assert!(
        reason.contains("it cannot start lazily") && reason.contains("`[process] hooks`"),
        "{reason}"
    );
}

#[tokio::test]
async fn discover_loads_a_process_manifest_with_its_config_priority_and_call_timeout() {
    let token = "token-d-found";
    let dir = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        "d-found",
        token,
        "",
        "restart = \"never\"\n[process.limits]\ncall_timeout_ms = 300",
        "[config]\ngreeting = \"Hello\"\npunctuation = \"!\"\n[priority]\ngreet = 42",
    );
    logs();
    let config = HostConfig::parse("[plugins.d-found]\ngreeting = \"Hi\"\n", "host.toml").unwrap();
    let host = PluginHost::builder()
        .hooks(manager())
        .config(config)
        .build();
    let report = host.discover(&DiscoveryOptions::new().folder(dir.path()));
    assert!(
        matches!(
            report.get("d-found").unwrap().status,
            DiscoveryStatus::Loaded { lazy: false }
        ),
        "{report}"
    );
    assert_eq!(processes_with(token), 0);
    let started = host.start().await.unwrap();
    assert_eq!(started.started, ["d-found"], "{started:?}");
    assert_eq!(processes_with(token), 1);

    // Its config: the manifest's `[config]` under the host file's section.
    let config_line = events_of("d-found", "hookwire::external::stderr")
        .iter()
        .filter_map(|e| e.field("message").map(str::to_owned))
        .find(|m| m.starts_with("config: "))
        .unwrap();
    assert_eq!(
        config_line,
        r#"config: {"greeting": "Hi", "punctuation": "!"}"#
    );
    // `[priority]` over the handshake's 10; `call_timeout_ms` under the handshake's 5 s.
    let info = host.plugins();
    let greet = info
        .get("d-found")
        .unwrap()
        .impls
        .iter()
        .find(|i| &*i.hook == "greet")
        .unwrap()
        .clone();
    assert_eq!(greet.options.priority, 42);
    assert_eq!(greet.options.timeout, Some(Duration::from_millis(300)));
    let out = host
        .hooks()
        .call_json("greet", json!("sleep:3000"))
        .await
        .unwrap();
    assert_eq!(failure_of(&out, "d-found"), "timed out after 300ms");

    // `restart = "never"`: a crash leaves it failed.
    let out = host
        .hooks()
        .call_json("greet", json!("crash"))
        .await
        .unwrap();
    assert!(error_of(&out, "d-found").contains("exited with status 3"));
    eventually("the host to fail the plugin", || {
        host.state("d-found").is_some_and(|s| s.is_failed())
    })
    .await;
    let state = host.state("d-found").unwrap().to_string();
    assert!(state.starts_with("failed: restarts are off; "), "{state}");
    let out = host.hooks().call_json("greet", json!("ada")).await.unwrap();
    assert!(out.get("d-found").is_none(), "{out:?}");
}

#[tokio::test]
async fn a_lazy_process_manifest_starts_its_process_on_the_first_call() {
    let token = "token-d-found-lazy";
    let dir = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        "d-found-lazy",
        token,
        "lazy = true",
        "hooks = [\"greet\", \"items\", \"auth\"]",
        "",
    );
    let host = host();
    let report = host.discover(&DiscoveryOptions::new().folder(dir.path()));
    assert!(matches!(
        report.get("d-found-lazy").unwrap().status,
        DiscoveryStatus::Loaded { lazy: true }
    ));
    assert_eq!(host.start().await.unwrap().lazy, ["d-found-lazy"]);
    assert_eq!(processes_with(token), 0);
    let out = host.hooks().call_json("greet", json!("cy")).await.unwrap();
    assert_eq!(
        out.get("d-found-lazy").unwrap().value(),
        Some(&json!("Hello, cy"))
    );
    assert_eq!(processes_with(token), 1);
    host.shutdown(Duration::from_secs(5)).await;
    eventually("the process to end", || processes_with(token) == 0).await;
}

#[tokio::test]
async fn a_manifest_with_instances_runs_that_many_processes_behind_one_plugin() {
    let token = "token-d-pool";
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), "d-pool", token, "", "instances = 3", "");
    let host = host();
    let report = host.discover(&DiscoveryOptions::new().folder(dir.path()));
    assert!(matches!(
        report.get("d-pool").unwrap().status,
        DiscoveryStatus::Loaded { lazy: false }
    ));
    let started = host.start().await.unwrap();
    assert_eq!(started.started, ["d-pool"], "{started:?}");
    assert_eq!(processes_with(token), 3);
    // One plugin: one set of impls, one answer per call.
    let out = host.hooks().call_json("greet", json!("ada")).await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out.get("d-pool").unwrap().value(),
        Some(&json!("Hello, ada"))
    );
    let stop = host.shutdown(Duration::from_secs(5)).await;
    assert!(stop.is_clean(), "{stop:?}");
    assert_eq!(processes_with(token), 0);
}

#[tokio::test]
async fn process_manifests_the_host_cannot_run_are_refused_saying_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        "d-lazy-undeclared",
        "token-d-lazy-undeclared",
        "lazy = true",
        "",
        "",
    );
    let host = host();
    let report = host.discover(&DiscoveryOptions::new().folder(dir.path()));
    let lazy = report.get("d-lazy-undeclared").unwrap().status.to_string();
    assert!(
        lazy.starts_with("not loaded: lazy = true: a lazy process plugin is registered before its process runs, so its manifest must list the hooks it implements: `[process] hooks = [\"...\"]`"),
        "{lazy}"
    );
    assert!(report.has_problems());
    assert!(host.plugins().is_empty());
}

/// What an operator reads when a plugin cannot start keeps the cause, which comes last: the
/// exception at the end of a Python traceback, the advice after the operating system's error.
#[tokio::test]
async fn a_start_failure_keeps_the_end_of_what_the_process_wrote_and_the_advice() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("d-traceback");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("plugin.toml"),
        "name = \"d-traceback\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\ncommand = [\"python3\", \"main.py\"]\n",
    )
    .unwrap();
    std::fs::write(
        broken.join("main.py"),
        "import json\nimport hookwire_plugin_that_is_not_installed\n",
    )
    .unwrap();
    let missing = dir.path().join("d-no-exe");
    std::fs::create_dir_all(&missing).unwrap();
    std::fs::write(
        missing.join("plugin.toml"),
        "name = \"d-no-exe\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\ncommand = [\"./d-no-exe-is-not-here\"]\n",
    )
    .unwrap();
    let host = host();
    let found = host.discover(&DiscoveryOptions::new().folder(dir.path()));
    assert!(!found.has_problems(), "{found}");
    let report = host.start().await.unwrap();
    let reason = |name: &str| {
        report
            .failed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, why)| why.clone())
            .unwrap_or_else(|| panic!("{name} did not fail: {report}"))
    };
    let traceback = reason("d-traceback");
    assert!(
        traceback.starts_with(
            "init failed: plugin `d-traceback` exited with status 1; its last stderr lines: Traceback (most recent call last):"
        ),
        "{traceback}"
    );
    assert!(
        traceback.ends_with(
            "ModuleNotFoundError: No module named 'hookwire_plugin_that_is_not_installed'"
        ),
        "{traceback}"
    );
    let no_exe = reason("d-no-exe");
    assert!(
        no_exe.starts_with("init failed: could not start plugin `d-no-exe`: cannot start `./d-no-exe-is-not-here` in "),
        "{no_exe}"
    );
    assert!(
        no_exe.ends_with(": No such file or directory (os error 2); check the command (a program in PATH, or a path relative to the plugin folder) and its limits"),
        "{no_exe}"
    );
    host.shutdown(Duration::from_secs(5)).await;
}

/// A plugin that cannot start under a too small open files limit: the failure names the
/// limit, as it does for memory.
#[tokio::test]
async fn a_start_failure_under_a_too_small_open_files_limit_names_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        "d-nofile",
        "token-d-nofile",
        "",
        "",
        "[process.limits]\nopen_files = 3",
    );
    let host = host();
    host.discover(&DiscoveryOptions::new().folder(dir.path()));
    let report = host.start().await.unwrap();
    let (name, reason) = &report.failed[0];
    assert_eq!(name, "d-nofile");
    assert!(
        reason.starts_with("init failed: plugin `d-nofile` exited with status "),
        "{reason}"
    );
    assert!(
        reason.contains(" while limited to 3 open files; it may have run out of file descriptors; its last stderr lines: "),
        "{reason}"
    );
    assert_eq!(processes_with("token-d-nofile"), 0);
}

/// A manifest with a typo is a warning in the host's log (a host that logs warnings only
/// sees it); a plugin skipped by its conditions is information.
#[tokio::test]
async fn an_invalid_process_manifest_is_logged_as_a_warning_and_a_skipped_one_as_information() {
    let dir = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        "d-typo",
        "token-d-typo",
        "",
        "start_timeout = 1000",
        "",
    );
    write_manifest(
        dir.path(),
        "d-skipped",
        "token-d-skipped",
        "",
        "",
        "[conditions]\nfeatures = [\"d-never-declared\"]",
    );
    let host = host();
    let report = host.discover(&DiscoveryOptions::new().folder(dir.path()));
    assert!(report.has_problems(), "{report}");
    let logged = |name: &str| {
        let events = events_of(name, "hookwire::discovery");
        assert_eq!(events.len(), 1, "{events:?}");
        (
            events[0].level,
            events[0].field("status").unwrap().to_owned(),
        )
    };
    let (level, status) = logged("d-typo");
    assert_eq!(level, tracing::Level::WARN);
    assert!(
        status.contains("process.start_timeout: unknown field `start_timeout`, expected one of"),
        "{status}"
    );
    let (level, status) = logged("d-skipped");
    assert_eq!(level, tracing::Level::INFO);
    assert!(status.contains("d-never-declared"), "{status}");
    assert_eq!(processes_with("token-d-typo"), 0);
}

#[cfg(feature = "watch")]
#[tokio::test]
async fn a_changed_process_manifest_replaces_the_process_and_stops_the_old_one() {
    let (old, new) = ("token-d-watch-1", "token-d-watch-2");
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), "d-watch", old, "", "", "");
    let host = host();
    let options = DiscoveryOptions::new()
        .folder(dir.path())
        .debounce(Duration::from_millis(50));
    host.discover(&options);
    host.start().await.unwrap();
    assert_eq!(processes_with(old), 1);
    let _watcher = host.watch(&options).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    write_manifest(dir.path(), "d-watch", new, "", "", "");
    eventually("the new process", || processes_with(new) == 1).await;
    eventually("the old process to end", || processes_with(old) == 0).await;
    // Calls reach the new process.
    eventually("the swap", || {
        host.plugins()
            .get("d-watch")
            .is_some_and(|p| p.impls.len() == 3)
    })
    .await;
    let out = host.hooks().call_json("greet", json!("dee")).await.unwrap();
    assert_eq!(
        out.get("d-watch").unwrap().value(),
        Some(&json!("Hello, dee"))
    );
    host.shutdown(Duration::from_secs(5)).await;
    eventually("no process left", || processes_with(new) == 0).await;
}

#[cfg(feature = "watch")]
#[tokio::test]
async fn a_hot_reload_whose_new_process_crashes_while_it_starts_reports_the_crash() {
    // The new version runs two instances (`fixtures/plugin.py`, `seq` mode): process 0 exits
    // after its handshake, process 1 answers `start` once process 0's restart exists, so the
    // crash comes while the new version starts, before it takes over.
    let dir = tempfile::tempdir().unwrap();
    let seq = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        "d-watch-crash",
        "token-d-watch-crash",
        "",
        "",
        "",
    );
    let host = host();
    let options = DiscoveryOptions::new()
        .folder(dir.path())
        .debounce(Duration::from_millis(50));
    host.discover(&options);
    host.start().await.unwrap();
    let mut events = host.events();
    let _watcher = host.watch(&options).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let text = format!(
        "name = \"d-watch-crash\"\nversion = \"1.3.0\"\nkind = \"process\"\n[process]\ncommand = [\"python3\", {fixture:?}, \"seq\", {seq:?}, \"exit_after_handshake,start@2\"]\nstart_timeout_ms = 20000\ninstances = 2\n",
        fixture = fixture().display().to_string(),
        seq = seq.path().display().to_string(),
    );
    std::fs::write(dir.path().join("d-watch-crash/plugin.toml"), text).unwrap();
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|e| matches!(e, hookwire::plugin::PluginEvent::Restarted { .. }))
        || !seen
            .iter()
            .any(|e| matches!(e, hookwire::plugin::PluginEvent::Replaced { .. }))
    {
        let next = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
        seen.push(next.expect("the reload's events").unwrap());
    }
    let crashed: Vec<&hookwire::plugin::PluginEvent> = seen
        .iter()
        .filter(|e| matches!(e, hookwire::plugin::PluginEvent::Crashed { .. }))
        .collect();
    assert_eq!(crashed.len(), 1, "{seen:?}");
    let hookwire::plugin::PluginEvent::Crashed { plugin, detail, .. } = crashed[0] else {
        unreachable!()
    };
    assert_eq!(plugin, "d-watch-crash");
    assert!(
        detail.ends_with("exited with status 5; its last stderr lines: offered: auth,greet,items | config: {} | exiting after the handshake"),
        "{detail}"
    );
    host.shutdown(Duration::from_secs(5)).await;
    eventually("no process left", || {
        processes_with(&seq.path().display().to_string()) == 0
    })
    .await;
}

#[test]
fn a_built_process_plugin_starts_nothing_until_its_host_starts_it() {
    // No runtime needed: `build` starts nothing.
    let p = ProcessPlugin::builder("d-idle", "python3").build();
    assert_eq!(p.version(), "0.0.0");
    assert!(p.hooks().is_empty());
    assert_eq!(p.pid(), None);
}
