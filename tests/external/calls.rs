//! Calls to a process plugin: answers, bad answers, concurrency, cancellation, crashes.

use std::time::{Duration, Instant};

use hookwire::external::{with_traceparent, RestartPolicy};
use hookwire::plugin::PluginState;
use hookwire::{ImplOutcome, PluginHost};
use serde_json::{json, Value};

use crate::support::{
    events_of, events_where, eventually, failure_of, fixture_plugin, manager, processes_with,
    started, Items,
};

#[tokio::test]
async fn answers_are_a_value_no_answer_or_the_plugins_error() {
    let (host, _p) = started("c-answers", "ok").await;
    let pm = host.hooks();
    let out = pm.call_json("greet", json!("Ada")).await.unwrap();
    assert_eq!(
        out.get("c-answers").unwrap().value(),
        Some(&json!("Hello, Ada"))
    );
    let out = pm.call_json("greet", json!("none")).await.unwrap();
    assert!(
        matches!(out.get("c-answers"), Some(ImplOutcome::NoAnswer)),
        "{out:?}"
    );
    let out = pm.call_json("greet", json!("fail")).await.unwrap();
    assert_eq!(
        failure_of(&out, "c-answers"),
        "returned an error: plugin `c-answers` failed hook `greet`: no greeting for `fail`"
    );
}

/// An error's `data` (the Python SDK's traceback) is logged at debug, as the protocol says.
#[tokio::test]
async fn the_details_of_a_plugins_error_go_to_the_debug_log() {
    let (host, _p) = started("c-traceback", "ok").await;
    let out = host
        .hooks()
        .call_json("greet", json!("fail_traceback"))
        .await
        .unwrap();
    assert_eq!(
        failure_of(&out, "c-traceback"),
        "returned an error: plugin `c-traceback` failed hook `greet`: ValueError: boom"
    );
    let logged = events_of("c-traceback", "hookwire::external");
    let details = logged
        .iter()
        .find(|e| e.field("message") == Some("the plugin's error details"))
        .unwrap_or_else(|| panic!("{logged:?}"));
    assert_eq!(details.level, tracing::Level::DEBUG);
    assert_eq!(details.field("hook"), Some("greet"));
    assert_eq!(details.field("code"), Some("-32001"));
    assert_eq!(
        details.field("traceback"),
        Some("Traceback (most recent call last):\n  File \"main.py\", line 3, in greet\nValueError: boom\n")
    );
}

#[tokio::test]
async fn a_mistyped_answer_is_the_plugins_error_naming_the_json_path() {
    let (host, _p) = started("c-typed", "ok").await;
    let out = host.hook::<Items>().call(&1).await.unwrap();
    let failure = out.get("c-typed").unwrap().failure().unwrap().to_string();
    assert_eq!(
        failure,
        "returned an error: malformed JSON for hook `items`: answer does not fit the hook's output type: $[1].id: invalid type: string \"two\", expected u64"
    );
}

#[tokio::test]
async fn an_answer_of_the_wrong_shape_is_that_plugins_error() {
    let (host, _p) = started("c-shape", "ok").await;
    let out = host
        .hooks()
        .call_json("greet", json!("wrongshape"))
        .await
        .unwrap();
    let failure = failure_of(&out, "c-shape");
    assert!(
        failure.starts_with("returned an error: plugin `c-shape` answered hook `greet` with a malformed result: unknown variant `weird`"),
        "{failure}"
    );
}

#[tokio::test]
async fn lines_that_are_not_protocol_are_logged_counted_and_ignored() {
    let (host, p) = started("c-garbage", "ok").await;
    let out = host
        .hooks()
        .call_json("greet", json!("garbage"))
        .await
        .unwrap();
    assert_eq!(
        out.get("c-garbage").unwrap().value(),
        Some(&json!("Hello, garbage"))
    );
    // Not JSON, JSON but not JSON-RPC (twice).
    assert_eq!(p.protocol_errors(), 3);
    let logged = events_where("peer", "c-garbage", "hookwire::external");
    let lines: Vec<_> = logged.iter().filter_map(|e| e.field("line")).collect();
    assert_eq!(
        lines,
        [
            "this is not JSON",
            r#"{"jsonrpc":"2.0","whatever":1}"#,
            "[1,2,3]"
        ]
    );
}

#[tokio::test]
async fn unknown_and_duplicate_answers_are_ignored() {
    let (host, p) = started("c-dup", "ok").await;
    let out = host.hooks().call_json("greet", json!("dup")).await.unwrap();
    assert_eq!(out.get("c-dup").unwrap().value(), Some(&json!("first")));
    eventually("both stray answers counted", || p.protocol_errors() == 2).await;
    let out = host.hooks().call_json("greet", json!("Bo")).await.unwrap();
    assert_eq!(out.get("c-dup").unwrap().value(), Some(&json!("Hello, Bo")));
}

#[tokio::test]
async fn an_over_long_answer_fails_that_call_and_the_plugin_serves_on() {
    let pm = manager();
    let p = fixture_plugin("c-long", "ok")
        .max_message_bytes(1000)
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    let out = host
        .hooks()
        .call_json("greet", json!("long"))
        .await
        .unwrap();
    let failure = failure_of(&out, "c-long");
    assert!(
        failure.starts_with("returned an error: plugin `c-long` answered with a message of 50"),
        "{failure}"
    );
    assert!(
        failure.ends_with("bytes; the maximum is 1000 bytes (`max_message_bytes`)"),
        "{failure}"
    );
    let out = host.hooks().call_json("greet", json!("Cy")).await.unwrap();
    assert_eq!(
        out.get("c-long").unwrap().value(),
        Some(&json!("Hello, Cy"))
    );
}

#[tokio::test]
async fn several_calls_are_in_flight_at_once_on_one_process() {
    let (host, _p) = started("c-parallel", "ok").await;
    let pm = host.hooks();
    let start = Instant::now();
    let (a, b, c, d) = tokio::join!(
        pm.call_json("greet", json!("sleep:400")),
        pm.call_json("greet", json!("sleep:400")),
        pm.call_json("greet", json!("sleep:400")),
        pm.call_json("greet", json!("sleep:400")),
    );
    let elapsed = start.elapsed();
    for out in [a, b, c, d] {
        assert_eq!(
            out.unwrap().get("c-parallel").unwrap().value(),
            Some(&json!("slept 400"))
        );
    }
    assert!(
        elapsed < Duration::from_millis(1200),
        "took {elapsed:?}: not concurrent"
    );
}

#[tokio::test]
async fn a_dropped_call_sends_cancel_request_and_a_late_answer_is_ignored() {
    let (host, p) = started("c-cancel", "ok").await;
    let pm = host.hooks();
    let r = tokio::time::timeout(
        Duration::from_millis(100),
        pm.call_json("greet", json!("sleep:300")),
    )
    .await;
    assert!(r.is_err());
    eventually("the plugin to see the cancellation", || {
        p.stderr_tail().iter().any(|l| l.starts_with("cancelled "))
    })
    .await;
    assert_eq!(p.protocol_errors(), 0);
    let out = pm.call_json("greet", json!("Di")).await.unwrap();
    assert_eq!(
        out.get("c-cancel").unwrap().value(),
        Some(&json!("Hello, Di"))
    );
}

#[tokio::test]
async fn a_crash_fails_only_that_plugins_calls_in_flight_with_its_status_and_stderr() {
    let pm = manager();
    pm.register("steady", |r| {
        r.json_fn("greet", |_| Ok(Some(json!("steady")))).add()
    })
    .unwrap();
    let p = fixture_plugin("c-crash", "ok")
        .restart(RestartPolicy::never())
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    let (waiting, crashing) = tokio::join!(pm.call_json("greet", json!("sleep:5000")), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        pm.call_json("greet", json!("crash")).await
    });
    let expected = "returned an error: plugin `c-crash` exited with status 3; its last stderr lines: offered: auth,greet,items | config: {} | about to crash | last words";
    for out in [waiting.unwrap(), crashing.unwrap()] {
        assert_eq!(failure_of(&out, "c-crash"), expected);
        assert_eq!(out.get("steady").unwrap().value(), Some(&json!("steady")));
    }
    assert_eq!(p.exit_status().as_deref(), Some("exited with status 3"));
    // Without restarts, the plugin has failed: its host says so, and its impls are no longer
    // called; the other impls answer.
    let reason = "restarts are off; it stays stopped until its host restarts it (last: plugin `c-crash` exited with status 3; its last stderr lines: offered: auth,greet,items | config: {} | about to crash | last words)";
    eventually("the host to fail the plugin", || {
        host.state("c-crash") == Some(PluginState::Failed(reason.to_owned()))
    })
    .await;
    assert!(!p.is_serving());
    let out = pm.call_json("greet", json!("Ed")).await.unwrap();
    assert!(out.get("c-crash").is_none(), "{out:?}");
    assert_eq!(out.get("steady").unwrap().value(), Some(&json!("steady")));
    // The process that is gone is not asked to shut down: no warning that `shutdown` failed
    // on a closed connection beside the crash's own.
    host.shutdown(Duration::from_secs(2)).await;
    let warnings: Vec<_> = crate::support::events_of("c-crash", "hookwire::external")
        .into_iter()
        .filter(|e| e.level == tracing::Level::WARN)
        .collect();
    assert!(
        warnings
            .iter()
            .all(|e| e.field("message") != Some("`shutdown` failed")),
        "{warnings:?}"
    );
}

/// A call in flight when its host stops the plugin fails saying so, not as a crash.
#[tokio::test]
async fn a_call_cut_short_by_its_host_stopping_the_plugin_says_so() {
    let (host, _p) = started("c-stopping", "ok").await;
    let pm = host.hooks();
    let (out, report) = tokio::join!(pm.call_json("greet", json!("sleep:5000")), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        host.shutdown(Duration::from_secs(5)).await
    });
    assert!(report.is_clean(), "{report:?}");
    let failure = failure_of(&out.unwrap(), "c-stopping");
    assert!(
        failure.starts_with(
            "returned an error: plugin `c-stopping` exited with status 0 as its host stopped it; its last stderr lines: "
        ),
        "{failure}"
    );
}

#[tokio::test]
async fn a_plugin_that_closes_stdout_but_keeps_running_fails_its_calls_and_is_killed() {
    let token = "token-c-closeout";
    let pm = manager();
    let p = fixture_plugin("c-closeout", "ok")
        .arg(token)
        .restart(RestartPolicy::never())
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    let out = pm.call_json("greet", json!("closeout")).await.unwrap();
    let failure = failure_of(&out, "c-closeout");
    assert!(
        failure.starts_with(
            "returned an error: plugin `c-closeout` closed its stdout but kept running; it was killed"
        ),
        "{failure}"
    );
    eventually("the exit status", || p.exit_status().is_some()).await;
    assert_eq!(p.exit_status().as_deref(), Some("was killed by SIGTERM"));
    eventually("the process to be gone", || processes_with(token) == 0).await;
}

#[tokio::test]
async fn a_plugin_flooding_stderr_keeps_its_last_lines_logs_them_all_and_serves() {
    let (host, p) = started("c-flood", "flood").await;
    let out = host.hooks().call_json("greet", json!("Flo")).await.unwrap();
    assert_eq!(
        out.get("c-flood").unwrap().value(),
        Some(&json!("Hello, Flo"))
    );
    eventually("every stderr line logged", || {
        events_of("c-flood", "hookwire::external::stderr").len() >= 20_002
    })
    .await;
    let tail = p.stderr_tail();
    assert_eq!(tail.len(), 20);
    assert_eq!(tail[17], "flood line 19999");
    assert_eq!(tail[18], "offered: auth,greet,items");
}

#[tokio::test]
async fn calls_carry_depth_deadline_and_traceparent_and_the_environment_is_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let pm = manager();
    let p = fixture_plugin("c-meta", "ok")
        .current_dir(dir.path())
        .env("GREETING", "Hi")
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p).unwrap();
    host.start().await.unwrap();
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let out = with_traceparent(tp, pm.call_json("greet", json!("meta")))
        .await
        .unwrap();
    let meta = out.get("c-meta").unwrap().value().unwrap().clone();
    assert_eq!(meta["deadline_ms"], json!(5000));
    assert_eq!(meta["depth"], json!(0));
    assert_eq!(meta["traceparent"], json!(tp));
    assert_eq!(meta["env"], json!("1"));
    // The environment is cleared: cargo's variables, set for this test, do not reach the
    // plugin (an interpreter's wrapper, such as pyenv's shim, may add its own).
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
    let keys: Vec<&str> = meta["env_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(!keys.contains(&"CARGO_PKG_NAME"), "{keys:?}");
    assert!(keys.contains(&"GREETING"), "{keys:?}");
    assert!(keys.contains(&"PATH"), "{keys:?}");
    assert_eq!(
        std::fs::canonicalize(meta["cwd"].as_str().unwrap()).unwrap(),
        std::fs::canonicalize(dir.path()).unwrap()
    );
    // Without a trace context, none is sent.
    let out = pm.call_json("greet", json!("meta")).await.unwrap();
    assert_eq!(
        out.get("c-meta").unwrap().value().unwrap()["traceparent"],
        Value::Null
    );
}

#[tokio::test]
async fn a_process_call_has_its_own_span() {
    let (host, _p) = started("c-span", "ok").await;
    let out = host.hooks().call_json("greet", json!("Sp")).await.unwrap();
    assert_eq!(
        out.get("c-span").unwrap().value(),
        Some(&json!("Hello, Sp"))
    );
    let spans = events_of("c-span", "span process_call");
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].field("hook"), Some("greet"));
    assert_eq!(spans[0].level, tracing::Level::DEBUG);
}

#[tokio::test]
async fn a_parallel_call_runs_process_plugins_concurrently() {
    let pm = hookwire::HookManager::builder()
        .json_spec::<Items>()
        .dynamic_spec(hookwire::spec::SpecInfo::json("greet").parallel())
        .dynamic_spec(hookwire::spec::SpecInfo::json("auth").firstresult())
        .build();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    for name in ["c-par-a", "c-par-b"] {
        host.add(fixture_plugin(name, "ok").spawn(&pm).await.unwrap())
            .unwrap();
    }
    host.start().await.unwrap();
    let start = Instant::now();
    let out = pm.call_json("greet", json!("sleep:400")).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(
        out.values().collect::<Vec<_>>(),
        [&json!("slept 400"), &json!("slept 400")]
    );
    assert!(
        elapsed < Duration::from_millis(750),
        "took {elapsed:?}: not in parallel"
    );
}
