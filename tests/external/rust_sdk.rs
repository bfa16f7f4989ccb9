//! The Rust SDK's plugin (`examples/plugins/rust-process`, `serve_stdio`) under a real host.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use hookwire::external::{with_traceparent, ProcessPlugin, RestartPolicy};
use hookwire::spec::SpecInfo;
use hookwire::{HookManager, ImplOutcome, PluginHost};
use serde_json::json;

use crate::support::{events_of, failure_of, fixture_plugin, logs};

/// The plugin's executable, built now into this test's target directory with this test's
/// hookwire features (so that cargo reuses the build), once per test binary.
pub(crate) fn plugin_exe() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // <target>/<profile>/deps/<test>
        let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let profile = match profile_dir.file_name().and_then(|p| p.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let features: Vec<&str> = [
            ("hookwire/macros", cfg!(feature = "macros")),
            ("hookwire/config", cfg!(feature = "config")),
            ("hookwire/testing", cfg!(feature = "testing")),
            ("hookwire/discovery", cfg!(feature = "discovery")),
            ("hookwire/cli", cfg!(feature = "cli")),
            ("hookwire/watch", cfg!(feature = "watch")),
        ]
        .into_iter()
        .filter_map(|(f, on)| on.then_some(f))
        .collect();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "--message-format=json-render-diagnostics",
            "--workspace",
            "--bin",
            "rust-process-plugin",
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit());
        if !features.is_empty() {
            cmd.arg("--features").arg(features.join(","));
        }
        let out = cmd.output().expect("cargo runs");
        assert!(out.status.success(), "building rust-process-plugin failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| {
                m["reason"] == "compiler-artifact" && m["target"]["name"] == "rust-process-plugin"
            })
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the plugin's executable")
    })
    .clone()
}

async fn rust_plugin(pm: &HookManager) -> (PluginHost, ProcessPlugin) {
    logs();
    let p = ProcessPlugin::builder("rust-greeter", plugin_exe())
        .restart(RestartPolicy::never())
        .config(json!({"greeting": "Hi"}))
        .grace(Duration::from_millis(500))
        .spawn(pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    (host, p)
}

fn manager() -> HookManager {
    HookManager::builder()
        .dynamic_spec(SpecInfo::json("greet"))
        .dynamic_spec(SpecInfo::json("relay"))
        .build()
}

#[tokio::test]
async fn a_rust_sdk_plugin_serves_typed_impls_with_their_options() {
    let pm = manager();
    let (host, p) = rust_plugin(&pm).await;
    assert_eq!(p.version(), "0.1.0");
    assert_eq!(p.hooks()[0].priority, 5);
    let out = pm.call_json("greet", json!("Ada")).await.unwrap();
    assert_eq!(
        out.get("rust-greeter").unwrap().value(),
        Some(&json!("Hi from Rust, Ada"))
    );
    let out = pm.call_json("greet", json!("nobody")).await.unwrap();
    assert!(matches!(
        out.get("rust-greeter"),
        Some(ImplOutcome::NoAnswer)
    ));
    // Arguments of the wrong type are refused by the SDK, naming what does not fit.
    let out = pm.call_json("greet", json!(42)).await.unwrap();
    let failure = failure_of(&out, "rust-greeter");
    assert!(
        failure.contains("invalid type: integer `42`, expected a string"),
        "{failure}"
    );
    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(p.exit_status().as_deref(), Some("exited with status 0"));
}

/// A stray `println!` in an impl goes to stderr (the host logs it under the plugin's name),
/// not into the protocol on stdout.
#[tokio::test]
async fn a_stray_println_in_a_rust_sdk_plugin_goes_to_the_host_log_not_into_the_protocol() {
    let pm = manager();
    let (host, _p) = rust_plugin(&pm).await;
    let name = "print-stray-stdout-test";
    let out = pm.call_json("greet", json!(name)).await.unwrap();
    assert_eq!(
        out.get("rust-greeter").unwrap().value(),
        Some(&json!(format!("printed {name}")))
    );
    let line = format!("stray output: {name}");
    // The stderr reader logs each line as it comes: give it a moment.
    let logged = || {
        events_of("rust-greeter", "hookwire::external::stderr")
            .iter()
            .any(|e| e.field("message") == Some(line.as_str()))
    };
    for _ in 0..100 {
        if logged() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(logged(), "`{line}` is not in the plugin's stderr log");
    let protocol_errors: Vec<_> = logs()
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.field("line").is_some_and(|l| l.contains(name)))
        .cloned()
        .collect();
    assert!(protocol_errors.is_empty(), "{protocol_errors:?}");
    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test]
async fn a_rust_sdk_plugin_calls_back_into_the_host_and_serves_the_nested_call() {
    let pm = manager();
    pm.register("in-process", |r| {
        r.json_fn("greet", |v| Ok(Some(json!(format!("hey {v}")))))
            .add()
    })
    .unwrap();
    let (_host, _p) = rust_plugin(&pm).await;
    let out = pm.call_json("relay", json!("Bo")).await.unwrap();
    assert_eq!(
        out.get("rust-greeter").unwrap().value(),
        // In call order: the Rust plugin's `greet` has priority 5, the other 0.
        Some(&json!({
            "answers": [
                {"plugin": "rust-greeter", "value": "Hi from Rust, Bo"},
                {"plugin": "in-process", "value": "hey \"Bo\""},
            ],
            "failures": [],
        }))
    );
}

/// Protocol 1.1: a `host/call` made while serving a call carries what is left of the served
/// call's deadline and its trace context; the host passes both on to the `hook/call`s made
/// inside (seen here by the Python fixture's `greet`, which answers what it received).
#[tokio::test]
async fn a_rust_sdk_host_call_passes_on_the_deadline_and_trace_context_of_the_served_call() {
    // The fixture's hooks (`greet`, `auth`, `items`) and the Rust plugin's `relay`.
    let pm = crate::support::manager();
    pm.add_dynamic_spec(SpecInfo::json("relay")).unwrap();
    // The fixture's `greet` declares a 5 s limit; the Rust plugin's calls get 2 s.
    let meta = fixture_plugin("py-meta", "ok").spawn(&pm).await.unwrap();
    let rust = ProcessPlugin::builder("rust-greeter", plugin_exe())
        .restart(RestartPolicy::never())
        .call_timeout(Duration::from_secs(2))
        .grace(Duration::from_millis(500))
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(meta).unwrap();
    host.add(rust).unwrap();
    host.start().await.unwrap();
    let received = |out: &hookwire::HookOutcome<serde_json::Value>| {
        let relayed = out.get("rust-greeter").unwrap().value().unwrap();
        assert_eq!(relayed["failures"], json!([]), "{relayed}");
        let answers = relayed["answers"].as_array().unwrap();
        assert_eq!(answers.len(), 2, "{relayed}");
        assert_eq!(
            answers[1],
            json!({"plugin": "rust-greeter", "value": "Hello from Rust, meta"})
        );
        assert_eq!(answers[0]["plugin"], "py-meta");
        answers[0]["value"].clone()
    };

    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let out = with_traceparent(tp, pm.call_json("relay", json!("meta")))
        .await
        .unwrap();
    let inner = received(&out);
    let deadline = inner["deadline_ms"].as_u64().unwrap();
    assert!(deadline > 0 && deadline <= 2000, "{inner}");
    assert_eq!(inner["depth"], 1);
    assert_eq!(inner["traceparent"], tp);

    // Without a trace context, none is passed on.
    let out = pm.call_json("relay", json!("meta")).await.unwrap();
    let inner = received(&out);
    assert!(inner["deadline_ms"].as_u64().unwrap() <= 2000, "{inner}");
    assert_eq!(inner["traceparent"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_crashed_rust_plugin_fails_its_call_with_its_status() {
    let pm = manager();
    let (_host, p) = rust_plugin(&pm).await;
    let out = pm.call_json("greet", json!("crash")).await.unwrap();
    assert_eq!(
        failure_of(&out, "rust-greeter"),
        "returned an error: plugin `rust-greeter` exited with status 7; it wrote nothing to stderr"
    );
    assert_eq!(p.exit_status().as_deref(), Some("exited with status 7"));
}

#[test]
fn a_rust_plugin_run_by_hand_says_so_and_exits_with_status_1() {
    let out = Command::new(plugin_exe())
        .env_remove("HOOKWIRE_PLUGIN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "this is a hookwire plugin; it is started by its host, not run by hand (see docs/protocol.md)\n"
    );
    assert!(out.stdout.is_empty());
}

/// A host that records each `host/call` and never answers it (but refuses one nested deeper
/// than 8, as a real host does); each request the plugin gives up (`$/cancelRequest`, which
/// drops the request's future here) is counted.
struct SilentHost {
    seen: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    cancelled: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

struct CountDrop(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl hookwire::external::Handler for SilentHost {
    fn request(
        &self,
        _peer: hookwire::external::Peer,
        method: String,
        params: serde_json::Value,
    ) -> futures::future::BoxFuture<
        'static,
        Result<serde_json::Value, hookwire::external::protocol::RpcError>,
    > {
        assert_eq!(method, "host/call");
        let depth = params["depth"].as_u64().unwrap();
        self.seen.lock().unwrap().push(params);
        if depth > 8 {
            return Box::pin(std::future::ready(Err(
                hookwire::external::protocol::RpcError::new(
                    hookwire::external::protocol::codes::CALL_TOO_DEEP,
                    format!("call depth {depth} is above the maximum of 8"),
                ),
            )));
        }
        let guard = CountDrop(self.cancelled.clone());
        Box::pin(async move {
            let _guard = guard;
            std::future::pending().await
        })
    }
}

/// `host_call_with_timeout` in a real Rust SDK process (its `relay` with `relay_timeout_ms`
/// configured), against a host that never answers: the plugin sends the timeout as
/// `deadline_ms`, gives up when it passes, cancels the request at the host and fails its call
/// with the timeout.
#[tokio::test]
async fn a_rust_sdk_host_call_with_a_timeout_gives_up_and_cancels_the_request() {
    use hookwire::external::{Peer, PeerError};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    let mut child = tokio::process::Command::new(plugin_exe())
        .env("HOOKWIRE_PLUGIN", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let cancelled = Arc::new(AtomicU32::new(0));
    let host = SilentHost {
        seen: seen.clone(),
        cancelled: cancelled.clone(),
    };
    let conn = Peer::connect("rust-greeter", stdout, stdin, host, 1 << 20);
    let p = conn.peer();
    p.request(
        "initialize",
        json!({"protocol_version":"1.1","host":{"name":"t","version":"0"},
               "plugin":{"name":"rust-greeter","config":{"relay_timeout_ms":150}},
               "hooks":[{"name":"greet","mode":"collect_all"},{"name":"relay","mode":"collect_all"}],
               "limits":{"max_message_bytes":1000000,"max_call_depth":8}}),
    )
    .await
    .unwrap();
    let asked = std::time::Instant::now();
    let err = p
        .request("hook/call", json!({"hook":"relay","args":"Bo","depth":0}))
        .await
        .unwrap_err();
    let waited = asked.elapsed();
    match err {
        PeerError::Remote(e) => {
            assert_eq!(e.code, -32001);
            assert_eq!(
                e.message,
                "host/call of `greet` got no answer within 0.150 s"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    crate::support::eventually("the host/call to be cancelled", || {
        cancelled.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(
        seen.lock().unwrap().clone(),
        [json!({"hook":"greet","args":"Bo","depth":1,"deadline_ms":150})]
    );
    p.request("shutdown", serde_json::Value::Null)
        .await
        .unwrap();
    p.notify("exit", serde_json::Value::Null);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

/// Through a real host: the timeout is the `host/call`'s deadline when it is the smaller
/// limit, else what is left of the served call's (seen by the Python fixture's `greet`, which
/// answers what it received).
#[tokio::test]
async fn a_rust_sdk_host_call_with_a_timeout_sends_the_smaller_of_it_and_the_time_left() {
    let pm = crate::support::manager();
    pm.add_dynamic_spec(SpecInfo::json("relay")).unwrap();
    let meta = fixture_plugin("py-meta-t", "ok").spawn(&pm).await.unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(meta).unwrap();
    let deadline_seen = |out: &hookwire::HookOutcome<serde_json::Value>| {
        let relayed = out.get("rust-greeter").unwrap().value().unwrap();
        assert_eq!(relayed["failures"], json!([]), "{relayed}");
        let answers = relayed["answers"].as_array().unwrap();
        assert_eq!(answers[0]["plugin"], "py-meta-t", "{relayed}");
        answers[0]["value"]["deadline_ms"].as_u64().unwrap()
    };
    // The timeout (3 s) is below the served call's limit (20 s).
    let rust = ProcessPlugin::builder("rust-greeter", plugin_exe())
        .restart(RestartPolicy::never())
        .config(json!({"relay_timeout_ms": 3000}))
        .call_timeout(Duration::from_secs(20))
        .grace(Duration::from_millis(500))
        .spawn(&pm)
        .await
        .unwrap();
    host.add(rust).unwrap();
    host.start().await.unwrap();
    let out = pm.call_json("relay", json!("meta")).await.unwrap();
    let deadline = deadline_seen(&out);
    assert!(deadline > 2000 && deadline <= 3000, "{deadline}");
    // The served call's limit (2 s) is below the timeout (30 s).
    let rust = ProcessPlugin::builder("rust-greeter", plugin_exe())
        .restart(RestartPolicy::never())
        .config(json!({"relay_timeout_ms": 30000}))
        .call_timeout(Duration::from_secs(2))
        .grace(Duration::from_millis(500))
        .build();
    host.replace("rust-greeter", rust, Duration::from_secs(5))
        .await
        .unwrap();
    let out = pm.call_json("relay", json!("meta")).await.unwrap();
    let deadline = deadline_seen(&out);
    assert!(deadline > 1000 && deadline <= 2000, "{deadline}");
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}

/// A plugin process under a [`SilentHost`], shaken hands with (its configuration: `config`).
async fn under_silent_host(
    mut cmd: tokio::process::Command,
    name: &str,
    config: serde_json::Value,
) -> (tokio::process::Child, hookwire::external::Connection) {
    let mut child = cmd
        .env("HOOKWIRE_PLUGIN", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let host = SilentHost {
        seen: Default::default(),
        cancelled: Default::default(),
    };
    let conn = hookwire::external::Peer::connect(name.to_owned(), stdout, stdin, host, 1 << 20);
    conn.peer()
        .request(
            "initialize",
            json!({"protocol_version":"1.1","host":{"name":"t","version":"0"},
                   "plugin":{"name":name,"config":config},
                   "hooks":[{"name":"greet","mode":"collect_all"},{"name":"relay","mode":"collect_all"},
                            {"name":"nest","mode":"collect_all"}],
                   "limits":{"max_message_bytes":1000000,"max_call_depth":8}}),
        )
        .await
        .unwrap();
    (child, conn)
}

/// The message of a `hook/call` that failed with `-32001` (the impl's error).
async fn impl_error(conn: &hookwire::external::Connection, params: serde_json::Value) -> String {
    match conn.peer().request("hook/call", params).await {
        Err(hookwire::external::PeerError::Remote(e)) if e.code == -32001 => e.message,
        other => panic!("{other:?}"),
    }
}

/// The Python SDK (`host.call`) and the Rust SDK (`host_call*`) fail a `host/call` alike: a
/// refusal for calls nested too deep and a timeout give the same messages (the Python SDK
/// prefixes an impl's uncaught exception with its type, as it does for any).
#[tokio::test]
async fn the_python_and_rust_sdks_fail_a_host_call_alike() {
    let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/python");
    let mut python = tokio::process::Command::new("python3");
    python
        .arg(sdk.join("tests/fixture_plugin.py"))
        .env("PYTHONPATH", &sdk);
    let (_py_child, py) = under_silent_host(python, "fixture", json!({})).await;
    let (_rs_child, rs) = under_silent_host(
        tokio::process::Command::new(plugin_exe()),
        "rust-greeter",
        json!({"relay_timeout_ms": 100}),
    )
    .await;

    // Nested too deep: the host's refusal.
    let py_deep = impl_error(
        &py,
        json!({"hook":"nest","args":{"hook":"greet","args":"Bo"},"depth":8}),
    )
    .await;
    let rs_deep = impl_error(&rs, json!({"hook":"relay","args":"Bo","depth":8})).await;
    assert_eq!(
        rs_deep,
        "host/call failed: call depth 9 is above the maximum of 8 (code -32004)"
    );
    assert_eq!(py_deep, format!("HostCallError: {rs_deep}"));

    // No answer within 100 ms.
    let py_late = impl_error(
        &py,
        json!({"hook":"nest","args":{"hook":"greet","args":"Bo","timeout":0.1},"depth":0}),
    )
    .await;
    let rs_late = impl_error(&rs, json!({"hook":"relay","args":"Bo","depth":0})).await;
    assert_eq!(rs_late, "host/call of `greet` got no answer within 0.100 s");
    assert_eq!(py_late, format!("HostCallTimeout: {rs_late}"));
}
