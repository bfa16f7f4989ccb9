//! Protocol conformance: `fixtures/raw_protocol_plugin.py` is a plugin written from
//! `docs/protocol.md` alone (Python's standard library, no SDK). These tests run it with the
//! real host and check every behaviour the document describes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookwire::external::{with_traceparent, ProcessError, ProcessPlugin, ProcessPluginBuilder};
use hookwire::plugin::Health;
use hookwire::spec::SpecInfo;
use hookwire::{HookManager, ImplOutcome, PluginHost};
use serde_json::{json, Value};

use crate::support::{events_of, eventually, failure_of, logs, processes_with};

fn raw_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/external/fixtures/raw_protocol_plugin.py")
}

/// The raw plugin as `name`, in handshake `mode`, implementing `hooks` (handshake entries).
fn raw(name: &str, mode: &str, hooks: Value) -> ProcessPluginBuilder {
    logs();
    ProcessPlugin::builder(name, "python3")
        .arg(raw_fixture())
        .arg(name)
        .arg(mode)
        .config(json!({ "hooks": hooks }))
        .host("conform-app", "9.8.7")
        .start_timeout(Duration::from_secs(20))
        .grace(Duration::from_millis(500))
}

/// A manager offering `greet` (collect-all), `auth` (first-result), `audit` (collect-all) and
/// `timed` (collect-all, a 300 ms deadline on every call).
fn offering() -> HookManager {
    HookManager::builder()
        .dynamic_spec(SpecInfo::json("greet"))
        .dynamic_spec(SpecInfo::json("auth").firstresult())
        .dynamic_spec(SpecInfo::json("audit"))
        .dynamic_spec(SpecInfo::json("timed").deadline(Duration::from_millis(300)))
        .build()
}

/// A started host with `plugin` added to `pm`.
async fn start(pm: &HookManager, plugin: ProcessPluginBuilder) -> (PluginHost, ProcessPlugin) {
    let plugin = plugin.spawn(pm).await.expect("the raw plugin starts");
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(plugin.clone()).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.started, vec![plugin.name().to_owned()], "{report:?}");
    (host, plugin)
}

/// The value `plugin` answered in a JSON call's outcome.
fn value_of(out: &hookwire::HookOutcome<Value>, plugin: &str) -> Value {
    out.get(plugin)
        .and_then(|o| o.value())
        .unwrap_or_else(|| panic!("no value of `{plugin}`: {out:?}"))
        .clone()
}

#[test]
fn run_by_hand_it_says_it_is_a_plugin_and_exits_with_1() {
    for marker in [None, Some("0")] {
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(raw_fixture())
            .arg("by-hand")
            .env_remove("HOOKWIRE_PLUGIN");
        if let Some(m) = marker {
            cmd.env("HOOKWIRE_PLUGIN", m);
        }
        let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "this is a hookwire plugin; it is started by its host, not run by hand (see docs/protocol.md)\n"
        );
    }
}

#[tokio::test]
async fn the_handshake_carries_identity_offered_hooks_config_limits_and_start_comes_first() {
    let pm = offering();
    let hooks = json!([{"name": "greet", "priority": 3}, {"name": "auth", "tryfirst": true, "timeout_ms": 900}]);
    let (host, p) = start(&pm, raw("k-hello", "ok", hooks.clone())).await;
    assert_eq!(p.version(), "0.4.2");
    let declared: Vec<_> = p
        .hooks()
        .iter()
        .map(|h| (h.name.as_str(), h.priority, h.tryfirst, h.timeout_ms))
        .collect();
    assert_eq!(
        declared,
        [("greet", 3, false, None), ("auth", 0, true, Some(900))]
    );

    let meta = value_of(
        &pm.call_json("greet", json!({"op": "meta"})).await.unwrap(),
        "k-hello",
    );
    assert_eq!(meta["protocol_version"], "1.1");
    assert_eq!(
        meta["host"],
        json!({"name": "conform-app", "version": "9.8.7"})
    );
    assert_eq!(meta["config"], json!({ "hooks": hooks }));
    assert_eq!(
        meta["offered"],
        json!([
            {"name": "audit", "mode": "collect_all", "args_schema": null, "result_schema": null},
            {"name": "auth", "mode": "first_result", "args_schema": null, "result_schema": null},
            {"name": "greet", "mode": "collect_all", "args_schema": null, "result_schema": null},
            {"name": "timed", "mode": "collect_all", "args_schema": null, "result_schema": null},
        ])
    );
    assert_eq!(
        meta["limits"],
        json!({"max_message_bytes": 16_777_216, "max_call_depth": 8})
    );
    assert_eq!(meta["marker"], "1");
    // `start` came before the first call, and its log reached the host.
    assert_eq!(meta["started"], true);
    assert_eq!(meta["depth"], 0);
    assert_eq!(meta["id_type"], "int");
    let started = events_of("k-hello", "hookwire::external::log");
    assert_eq!(started[0].field("message"), Some("started"));
    assert_eq!(
        started[0].field("fields"),
        Some(r#"{"hooks":["auth","greet"]}"#)
    );
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}

#[tokio::test]
async fn the_host_refuses_an_incompatible_or_invalid_handshake_naming_what_to_fix() {
    let greet = json!([{"name": "greet"}]);
    let err = raw("k-v2", "v2", greet.clone())
        .spawn(&offering())
        .await
        .unwrap_err();
    assert!(matches!(err, ProcessError::Version { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin `k-v2` speaks protocol 2.0, this host speaks 1.1"
    );

    let err = raw("k-refuse", "refuse", greet.clone())
        .spawn(&offering())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-refuse` refused the handshake: plugin `k-refuse` speaks protocol 9.0 only, the host speaks 1.1 (code -32003)"
    );

    let err = raw("k-gret", "unknown_hook", greet.clone())
        .spawn(&offering())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-gret` implements hook `gret`, which this host does not offer; it offers: audit, auth, greet, timed"
    );

    let err = raw("k-tiers", "both_tiers", greet.clone())
        .spawn(&offering())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-tiers` declares hook `greet` with invalid options: both `tryfirst` and `trylast`; choose one"
    );

    let err = raw("k-zero", "ok", json!([{"name": "greet", "timeout_ms": 0}]))
        .spawn(&offering())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("plugin `k-zero` declares hook `greet` with invalid options: "),
        "{err}"
    );

    // The name in the answer must be the host's: here the command line names another.
    let err = ProcessPlugin::builder("k-named", "python3")
        .arg(raw_fixture())
        .arg("k-other")
        .config(json!({"hooks": greet}))
        .spawn(&offering())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-named` calls itself `k-other`; make its name the one in its manifest"
    );
}

#[tokio::test]
async fn answers_are_a_value_no_answer_or_the_plugins_error() {
    let pm = offering();
    let (_host, _p) = start(&pm, raw("k-answers", "ok", json!([{"name": "greet"}]))).await;
    let out = pm.call_json("greet", json!("Ada")).await.unwrap();
    assert_eq!(value_of(&out, "k-answers"), "raw k-answers: Hello, Ada");
    let out = pm.call_json("greet", json!({"op": "none"})).await.unwrap();
    assert!(
        matches!(out.get("k-answers"), Some(ImplOutcome::NoAnswer)),
        "{out:?}"
    );
    let out = pm
        .call_json(
            "greet",
            json!({"op": "fail", "message": "no greeting for `xx`"}),
        )
        .await
        .unwrap();
    assert_eq!(
        failure_of(&out, "k-answers"),
        "returned an error: plugin `k-answers` failed hook `greet`: no greeting for `xx`"
    );
    // The error's `data` (here a Python traceback) is logged at debug.
    let details = events_of("k-answers", "hookwire::external");
    let details: Vec<_> = details
        .iter()
        .filter(|e| e.field("message") == Some("the plugin's error details"))
        .collect();
    assert_eq!(details.len(), 1, "{details:?}");
    assert_eq!(details[0].level, tracing::Level::DEBUG);
    assert_eq!(details[0].field("code"), Some("-32001"));
    let data: Value = serde_json::from_str(details[0].field("data").unwrap()).unwrap();
    let traceback = data["traceback"].as_str().unwrap();
    assert!(
        traceback.starts_with("Traceback (most recent call last):"),
        "{traceback}"
    );
    assert!(
        traceback.ends_with("RuntimeError: no greeting for `xx`\n"),
        "{traceback}"
    );
}

#[tokio::test]
async fn hook_options_place_the_plugin_among_the_other_impls() {
    let pm = offering();
    for name in ["rust-a", "rust-b"] {
        pm.register(name, move |r| {
            r.json_fn("greet", move |_| Ok(Some(json!(name)))).add()?;
            r.json_fn("auth", move |_| Ok(Some(json!(name)))).add()?;
            r.json_fn("audit", move |_| Ok(Some(json!(name)))).add()?;
            r.json_fn("timed", move |_| Ok(Some(json!(name)))).add()
        })
        .unwrap();
    }
    pm.register("rust-high", |r| {
        r.json_fn("audit", |_| Ok(Some(json!("rust-high"))))
            .priority(10)
            .add()
    })
    .unwrap();
    let hooks = json!([
        {"name": "greet", "trylast": true},
        {"name": "auth", "tryfirst": true},
        {"name": "audit", "priority": 5, "before": ["rust-a"], "after": ["rust-b"]},
        {"name": "timed"},
    ]);
    let (_host, _p) = start(&pm, raw("k-order", "ok", hooks)).await;
    // Plain impls run last registered first (pluggy's LIFO); `trylast` after them.
    let out = pm.call_json("greet", json!("x")).await.unwrap();
    let order: Vec<_> = out.iter().map(|(plugin, _)| plugin.to_owned()).collect();
    assert_eq!(order, ["rust-b", "rust-a", "k-order"]);
    // `tryfirst` answers a first-result hook before the others.
    let out = pm.call_json("auth", json!("x")).await.unwrap();
    assert_eq!(out.into_value(), Some(json!("raw k-order: Hello, x")));
    // Higher priority first; `before` and `after` constrain the order whatever the priorities.
    let out = pm.call_json("audit", json!("x")).await.unwrap();
    let order: Vec<_> = out.iter().map(|(plugin, _)| plugin.to_owned()).collect();
    assert_eq!(order, ["rust-high", "rust-b", "k-order", "rust-a"]);
    // No options: added last, it runs first.
    let out = pm.call_json("timed", json!("x")).await.unwrap();
    let order: Vec<_> = out.iter().map(|(plugin, _)| plugin.to_owned()).collect();
    assert_eq!(order, ["k-order", "rust-b", "rust-a"]);
}

#[tokio::test]
async fn an_ordering_cycle_fails_the_plugins_registration_naming_it() {
    let pm = offering();
    pm.register("rust-a", |r| {
        r.json_fn("greet", |_| Ok(None)).before("k-cycle").add()
    })
    .unwrap();
    let p = raw(
        "k-cycle",
        "ok",
        json!([{"name": "greet", "before": ["rust-a"]}]),
    )
    .arg("token-k-cycle")
    .spawn(&pm)
    .await
    .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(
        report.failed,
        [(
            "k-cycle".to_owned(),
            "registration failed: impls of hook `greet` have an ordering cycle: k-cycle -> rust-a -> k-cycle; remove one of these before/after constraints".to_owned()
        )]
    );
    assert!(!pm.is_registered("k-cycle"));
    // A plugin spawned before its host started it keeps its process while it is Failed; the
    // host's shutdown ends it.
    assert_eq!(processes_with("token-k-cycle"), 1);
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
    eventually("the process to be gone", || {
        processes_with("token-k-cycle") == 0
    })
    .await;
}

#[tokio::test]
async fn several_calls_are_in_flight_at_once_and_answered_out_of_order() {
    let pm = offering();
    let (_host, _p) = start(&pm, raw("k-flight", "ok", json!([{"name": "greet"}]))).await;
    // The first call waits for the second: on one process, answered in reverse order.
    let (waited, signalled) = tokio::join!(
        pm.call_json("greet", json!({"op": "wait", "for": "go"})),
        async {
            tokio::task::yield_now().await;
            pm.call_json("greet", json!({"op": "signal", "name": "go"}))
                .await
        }
    );
    assert_eq!(value_of(&waited.unwrap(), "k-flight"), "waited for go");
    assert_eq!(value_of(&signalled.unwrap(), "k-flight"), "signalled go");
}

#[tokio::test]
async fn a_timeout_or_a_dropped_call_sends_cancel_request_and_the_late_answer_is_ignored() {
    let pm = offering();
    let hooks = json!([{"name": "greet"}, {"name": "audit", "timeout_ms": 100}]);
    let (_host, p) = start(&pm, raw("k-cancel", "ok", hooks)).await;
    // The impl's `timeout_ms` passes.
    let out = pm.call_json("audit", json!({"op": "block"})).await.unwrap();
    assert_eq!(failure_of(&out, "k-cancel"), "timed out after 100ms");
    // The caller drops the call.
    let dropped = tokio::time::timeout(
        Duration::from_millis(100),
        pm.call_json("greet", json!({"op": "block"})),
    )
    .await;
    assert!(dropped.is_err());
    // Both reached the plugin as `$/cancelRequest` with the ids of their `hook/call`s.
    eventually("both cancellations", || {
        p.stderr_tail()
            .iter()
            .filter(|l| l.starts_with("cancelled "))
            .count()
            == 2
    })
    .await;
    let out = pm
        .call_json("greet", json!({"op": "cancelled"}))
        .await
        .unwrap();
    let ids = value_of(&out, "k-cancel");
    assert_eq!(ids.as_array().map(Vec::len), Some(2), "{ids}");
    assert!(ids.as_array().unwrap().iter().all(Value::is_u64), "{ids}");
    // Its late `-32800` answers were ignored without counting as protocol errors.
    assert_eq!(p.protocol_errors(), 0);
}

#[tokio::test]
async fn deadline_ms_is_the_time_left_and_the_plugin_gives_up_when_it_passes() {
    let pm = offering();
    let (_host, _p) = start(
        &pm,
        raw(
            "k-deadline",
            "ok",
            json!([{"name": "timed"}, {"name": "greet"}]),
        ),
    )
    .await;
    let meta = value_of(
        &pm.call_json("timed", json!({"op": "meta"})).await.unwrap(),
        "k-deadline",
    );
    let left = meta["deadline_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("an integer deadline_ms: {meta}"));
    assert!(left > 0 && left <= 300, "{meta}");
    let began = std::time::Instant::now();
    let out = pm
        .call_json("timed", json!({"op": "until_deadline"}))
        .await
        .unwrap();
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // `deadline_ms` is rounded down: the plugin may give up a moment before the host does.
    let failure = failure_of(&out, "k-deadline");
    assert!(
        [
            "was cut off by the call's deadline of 300ms",
            "returned an error: plugin `k-deadline` failed hook `timed`: gave up: the deadline passed"
        ]
        .contains(&failure.as_str()),
        "{failure}"
    );
    // The plugin saw the deadline pass (or the cancellation that comes with it) and said so.
    eventually("the plugin to give up", || {
        events_of("k-deadline", "hookwire::external::log")
            .iter()
            .any(|e| {
                matches!(
                    e.field("message"),
                    Some("gave up at the deadline" | "cancelled before the deadline")
                )
            })
    })
    .await;
}

#[tokio::test]
async fn log_notifications_reach_tracing_at_their_level_with_their_fields() {
    let pm = offering();
    let (_host, _p) = start(&pm, raw("k-log", "ok", json!([{"name": "greet"}]))).await;
    let out = pm.call_json("greet", json!({"op": "log"})).await.unwrap();
    assert_eq!(value_of(&out, "k-log"), "logged");
    let logged = events_of("k-log", "hookwire::external::log");
    // The first is the log `start` sent.
    let seen: Vec<_> = logged[1..logged.len() - 1]
        .iter()
        .map(|e| (e.level, e.field("message").unwrap_or(""), e.field("fields")))
        .collect();
    use tracing::Level;
    assert_eq!(
        seen,
        [
            (
                Level::ERROR,
                "raw error",
                Some(r#"{"level_name":"error","n":1}"#)
            ),
            (
                Level::WARN,
                "raw warn",
                Some(r#"{"level_name":"warn","n":1}"#)
            ),
            (
                Level::INFO,
                "raw info",
                Some(r#"{"level_name":"info","n":1}"#)
            ),
            (
                Level::DEBUG,
                "raw debug",
                Some(r#"{"level_name":"debug","n":1}"#)
            ),
            (
                Level::TRACE,
                "raw trace",
                Some(r#"{"level_name":"trace","n":1}"#)
            ),
            (Level::INFO, "no fields", Some("")),
        ]
    );
    // The host's log keeps the first 200 bytes of a message and of the fields' JSON.
    let long = logged.last().unwrap();
    assert_eq!(
        long.field("message").unwrap(),
        format!("{}… (300 bytes)", "x".repeat(200))
    );
    let fields = long.field("fields").unwrap();
    assert!(fields.starts_with(r#"{"long":"yyy"#), "{fields}");
    assert!(fields.ends_with("… (311 bytes)"), "{fields}");
}

#[tokio::test]
async fn a_nested_host_call_reaches_the_other_impls_and_the_same_plugin() {
    let pm = offering();
    pm.register("audit-db", |r| {
        r.json_fn("audit", |v| Ok(Some(json!(v["event"] == "login"))))
            .add()
    })
    .unwrap();
    pm.register("audit-quiet", |r| r.json_fn("audit", |_| Ok(None)).add())
        .unwrap();
    pm.register("audit-s3", |r| {
        r.json_fn("audit", |_| Err("bucket unreachable".into()))
            .add()
    })
    .unwrap();
    let (_host, _p) = start(
        &pm,
        raw(
            "k-nest",
            "ok",
            json!([{"name": "greet"}, {"name": "timed"}]),
        ),
    )
    .await;
    let call = |hook: &str, args: Value| json!({"op": "host_call", "hook": hook, "args": args});

    // Every outcome, in call order (LIFO); "no answer" is in neither list.
    let out = pm
        .call_json("greet", call("audit", json!({"event": "login"})))
        .await
        .unwrap();
    assert_eq!(
        value_of(&out, "k-nest"),
        json!({"result": {
            "answers": [{"plugin": "audit-db", "value": true}],
            "failures": [{"plugin": "audit-s3", "error": "returned an error: bucket unreachable"}],
        }})
    );

    // Host → plugin → host → the same plugin, with the depth, deadline and trace passed on.
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let out = with_traceparent(
        tp,
        pm.call_json("timed", call("greet", json!({"op": "meta"}))),
    )
    .await
    .unwrap();
    let inner = &value_of(&out, "k-nest")["result"]["answers"][0];
    assert_eq!(inner["plugin"], "k-nest");
    let meta = &inner["value"];
    assert_eq!(meta["depth"], 1);
    assert_eq!(meta["traceparent"], tp);
    let left = meta["deadline_ms"].as_u64().unwrap();
    assert!(left > 0 && left <= 300, "{meta}");

    // A hook the host does not offer: -32002.
    let out = pm.call_json("greet", call("nope", json!(1))).await.unwrap();
    let error = &value_of(&out, "k-nest")["error"];
    assert_eq!(error["code"], -32002, "{error}");
}

#[tokio::test]
async fn health_is_what_the_plugin_answers() {
    let pm = offering();
    let (host, _p) = start(&pm, raw("k-health", "ok", json!([{"name": "greet"}]))).await;
    assert_eq!(
        host.health().await,
        [("k-health".to_owned(), Health::Healthy)]
    );
    pm.call_json(
        "greet",
        json!({"op": "health", "status": "degraded", "message": "cache cold"}),
    )
    .await
    .unwrap();
    assert_eq!(
        host.health().await,
        [("k-health".to_owned(), Health::Degraded("cache cold".into()))]
    );
    pm.call_json(
        "greet",
        json!({"op": "health", "status": "unhealthy", "message": "disk full"}),
    )
    .await
    .unwrap();
    assert_eq!(
        host.health().await,
        [("k-health".to_owned(), Health::Unhealthy("disk full".into()))]
    );
}

#[tokio::test]
async fn shutdown_then_exit_ends_the_process_with_status_0_and_leaves_none() {
    let token = "token-k-stop";
    let pm = offering();
    let (host, p) = start(
        &pm,
        raw("k-stop", "ok", json!([{"name": "greet"}])).arg(token),
    )
    .await;
    assert_eq!(processes_with(token), 1);
    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(p.exit_status().as_deref(), Some("exited with status 0"));
    let tail = p.stderr_tail();
    assert_eq!(
        &tail[tail.len() - 2..],
        ["shutdown received", "exit received"]
    );
    assert_eq!(processes_with(token), 0);
}

#[tokio::test]
async fn a_host_call_the_plugin_cancels_is_dropped_with_the_impls_it_started() {
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let pm = offering();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    pm.register("audit-slow", move |r| {
        r.json_async_fn("audit", move |_| {
            let guard = Dropped(flag.clone());
            Box::pin(async move {
                let _guard = guard;
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(Some(json!("late")))
            })
        })
        .add()
    })
    .unwrap();
    let (_host, p) = start(&pm, raw("k-hcancel", "ok", json!([{"name": "greet"}]))).await;
    let asked = json!({"op": "host_call", "hook": "audit", "args": 1, "wait_ms": 100});
    let out = pm.call_json("greet", asked).await.unwrap();
    // The plugin gave up after 100 ms and sent `$/cancelRequest` for its (string) id.
    let answer = value_of(&out, "k-hcancel");
    assert_eq!(answer["error"]["code"], -32800, "{answer}");
    assert_eq!(answer["id"], "raw-1");
    eventually("the host to drop the impl", || {
        dropped.load(Ordering::SeqCst)
    })
    .await;
    // The host does not answer a request cancelled by its sender.
    let out = pm.call_json("greet", json!("after")).await.unwrap();
    assert_eq!(value_of(&out, "k-hcancel"), "raw k-hcancel: Hello, after");
    assert!(
        !p.stderr_tail()
            .iter()
            .any(|l| l.starts_with("response to an unknown id")),
        "{:?}",
        p.stderr_tail()
    );
}

#[tokio::test]
async fn a_host_call_without_depth_counts_as_depth_1() {
    let pm = offering();
    let (_host, _p) = start(&pm, raw("k-depth", "ok", json!([{"name": "greet"}]))).await;
    let asked =
        json!({"op": "host_call", "hook": "greet", "args": {"op": "meta"}, "omit_depth": true});
    let out = pm.call_json("greet", asked).await.unwrap();
    let meta = &value_of(&out, "k-depth")["result"]["answers"][0]["value"];
    assert_eq!(meta["depth"], 1, "{meta}");
}

#[tokio::test]
async fn a_log_at_an_unknown_level_is_dropped_with_a_warning() {
    let pm = offering();
    let (_host, _p) = start(&pm, raw("k-loud", "ok", json!([{"name": "greet"}]))).await;
    let out = pm
        .call_json("greet", json!({"op": "log_bad"}))
        .await
        .unwrap();
    assert_eq!(value_of(&out, "k-loud"), "logged");
    eventually("the warning", || {
        events_of("k-loud", "hookwire::external").iter().any(|e| {
            e.level == tracing::Level::WARN
                && e.field("message") == Some("malformed `log` notification ignored")
        })
    })
    .await;
    // Only the log of `start` went through.
    assert_eq!(events_of("k-loud", "hookwire::external::log").len(), 1);
}

#[tokio::test]
async fn what_the_host_checks_in_a_handshake_beyond_the_options() {
    // A hook named twice.
    let err = raw(
        "k-twice",
        "ok",
        json!([{"name": "greet"}, {"name": "greet", "priority": 1}]),
    )
    .spawn(&offering())
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-twice` declares hook `greet` with invalid options: the hook is named twice; implement each hook once"
    );
    // A priority outside a 32-bit signed integer.
    let err = raw(
        "k-prio",
        "ok",
        json!([{"name": "greet", "priority": 2_147_483_648_u64}]),
    )
    .spawn(&offering())
    .await
    .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "plugin `k-prio` answered `initialize` with a malformed result: `hooks[0].priority`: "
        ),
        "{err}"
    );
    // A version that is not semver (MAJOR.MINOR.PATCH).
    let p = ProcessPlugin::builder("k-semver", "python3")
        .arg(raw_fixture())
        .arg("k-semver")
        .config(json!({"hooks": [{"name": "greet"}], "version": "1.2"}))
        .spawn(&offering())
        .await;
    let err = p.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `k-semver` answered `initialize` with a malformed result: `plugin.version`: `1.2` is not a semver version (MAJOR.MINOR.PATCH, such as `1.2.0`): unexpected end of input while parsing minor version number"
    );
}
