//! `hook/call`: answers, several calls in flight, cancellation, `deadline_ms`.

use std::time::Duration;

use hookwire::ImplOutcome;
use serde_json::{json, Value};

use super::{offering, raw, start, value_of};
use crate::support::{events_of, eventually, failure_of};

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
    // A `traceback` member is logged as its own field, readable as it is.
    let traceback = details[0].field("traceback").unwrap();
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
