//! From the plugin to the host: `log`, nested `host/call`s, and their cancellation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookwire::external::with_traceparent;
use serde_json::{json, Value};

use super::{offering, raw, start, value_of};
use crate::support::{events_of, eventually};

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
