//! What a plugin may call and what a failed plugin keeps: a `host/call` of a hook the host
//! does not offer (unknown, typed without `json_spec`, historic) fails with `-32002` listing
//! the offered hooks (`docs/protocol.md` §4); a process plugin failed before its start holds
//! no process; the Python SDK refuses a request whose id is `null` (§1).

use hookwire::spec::SpecInfo;
use hookwire::HookManager;
use serde_json::json;

use super::{raw, start, value_of};

hookwire::hookspec! {
    /// A typed hook the host does not reach from JSON.
    #[name = "typed"]
    pub struct Typed(u32) -> u32;
    /// A historic hook reachable from JSON (never offered: historic).
    #[historic]
    #[name = "remembered"]
    pub struct Remembered(u32) -> u32;
}

#[tokio::test]
async fn a_host_call_of_a_hook_the_host_does_not_offer_fails_with_32002() {
    let pm = HookManager::builder()
        .dynamic_spec(SpecInfo::json("greet"))
        .spec::<Typed>()
        .json_spec::<Remembered>()
        .build();
    let (_host, _p) = start(&pm, raw("k-offer", "ok", json!([{"name": "greet"}]))).await;
    let call = |hook: &str| json!({"op": "host_call", "hook": hook, "args": 1});
    let mut seen = Vec::new();
    for hook in ["nope", "typed", "remembered"] {
        let out = pm.call_json("greet", call(hook)).await.unwrap();
        let error = value_of(&out, "k-offer")["error"].clone();
        seen.push((hook, error["code"].clone(), error["message"].clone()));
    }
    for (hook, code, message) in &seen {
        assert_eq!(*code, json!(-32002), "{hook}: {message} (all: {seen:?})");
        assert!(
            message.as_str().unwrap_or("").contains("greet"),
            "{hook}: the message lists the offered hooks: {message}"
        );
    }
}

/// A process plugin spawned ahead of its start whose registration fails (an ordering cycle)
/// at its host's start is `Failed` and holds no process, even while the application keeps a
/// handle to the plugin (`host.add(p.clone())`).
#[tokio::test]
async fn a_process_plugin_failed_at_registration_leaves_no_process_running() {
    let token = "token-probe-k-cycle";
    let pm = super::offering();
    pm.register("rust-a", |r| {
        r.json_fn("greet", |_| Ok(None))
            .before("probe-k-cycle")
            .add()
    })
    .unwrap();
    let p = raw(
        "probe-k-cycle",
        "ok",
        json!([{"name": "greet", "before": ["rust-a"]}]),
    )
    .arg(token)
    .spawn(&pm)
    .await
    .unwrap();
    let host = hookwire::PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    // Stopped by the host on a task of its own, while the plugin is `Failed` and the
    // application still holds its handle.
    crate::support::eventually("the failed plugin's process to be gone", || {
        crate::support::processes_with(token) == 0
    })
    .await;
    assert!(host
        .shutdown(std::time::Duration::from_secs(5))
        .await
        .is_clean());
}

/// `docs/protocol.md` §1: "A request's `id` is a number or a string (JSON-RPC 2.0; `null` or
/// any other type makes the line invalid)", answered (by the Python SDK) with `-32600` and a
/// `null` id.
#[test]
fn the_python_sdk_refuses_a_request_whose_id_is_null() {
    use std::io::Write;
    let sdk = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/python");
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg("from hookwire_plugin import Plugin\nPlugin('nullid', '1.0.0').run()\n")
        .env("HOOKWIRE_PLUGIN", "1")
        .env("PYTHONPATH", sdk)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"health\"}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one answer line");
    assert_eq!(
        answer["error"]["code"],
        -32600,
        "answer: {answer}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The same for a plugin the host launches itself (`build`, no `spawn`): its hooks are named
/// once it runs, the registration after `init` fails on the cycle, and no process outlives
/// that failed start.
#[tokio::test]
async fn a_host_launched_process_plugin_failed_at_registration_leaves_no_process_running() {
    let token = "token-probe-k-cycle-late";
    let pm = super::offering();
    pm.register("rust-a", |r| {
        r.json_fn("greet", |_| Ok(None))
            .before("probe-k-cycle-late")
            .add()
    })
    .unwrap();
    let p = raw(
        "probe-k-cycle-late",
        "ok",
        json!([{"name": "greet", "before": ["rust-a"]}]),
    )
    .arg(token)
    .build();
    let host = hookwire::PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let started = std::time::Instant::now();
    while crate::support::processes_with(token) > 0
        && started.elapsed() < std::time::Duration::from_secs(2)
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        crate::support::processes_with(token),
        0,
        "{:?}; exit status: {:?}",
        report.failed,
        p.exit_status()
    );
}
