//! A plugin's request over the host's maximum message size is answered at once with an error
//! naming the size and the maximum, instead of being left unanswered.

use std::time::{Duration, Instant};

use hookwire::PluginHost;
use serde_json::json;

use crate::support::{fixture_plugin, manager};

#[tokio::test]
async fn a_host_call_over_the_hosts_message_limit_is_answered_with_an_invalid_request_error() {
    let pm = manager();
    // The call's limit: what a plugin waiting for an answer that never comes would wait.
    let p = fixture_plugin("o-long", "ok")
        .max_message_bytes(1000)
        .call_timeout(Duration::from_secs(2))
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();

    // `greet` with `host:items:<args>` makes the fixture call `items` through the host with
    // those args, and answer what the host answered: here, its `host/call` line is over the
    // host's 1000 bytes.
    let big = "x".repeat(5000);
    let asked = Instant::now();
    let out = pm
        .call_json("greet", json!(format!("host:items:{}", json!(big))))
        .await
        .unwrap();
    let waited = asked.elapsed();
    // The fixture's line (Python's `json.dumps`: `", "` and `": "` between items; its first
    // request's id is 1001).
    let line = format!(
        r#"{{"id": 1001, "method": "host/call", "params": {{"hook": "items", "args": "{big}", "depth": 1}}, "jsonrpc": "2.0"}}"#
    );
    let answer = out.get("o-long").unwrap().value().cloned();
    assert_eq!(
        answer,
        Some(json!({"jsonrpc": "2.0", "id": 1001, "error": {
            "code": -32600,
            "message": format!("invalid request: the message is {} bytes, above the limit of 1000 bytes", line.len()),
        }})),
        "{out:?}"
    );
    assert!(waited < Duration::from_secs(1), "answered in {waited:?}");
    assert_eq!(p.protocol_errors(), 1);

    // The connection goes on: a call through the host within the limit is served.
    let out = pm
        .call_json("greet", json!(r#"host:greet:"Bo""#))
        .await
        .unwrap();
    let answer = out.get("o-long").unwrap().value().unwrap();
    assert_eq!(
        answer["result"]["answers"],
        json!([{"plugin": "o-long", "value": "Hello, Bo"}]),
        "{answer}"
    );
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}
