//! Calls from a plugin to the host: `log`, `host/call`, nesting and its bound.

use serde_json::json;

use crate::support::{events_of, fixture_plugin, manager, started};
use hookwire::spec::SpecInfo;
use hookwire::PluginHost;

#[tokio::test]
async fn log_notifications_go_to_tracing_under_the_plugins_name() {
    let (host, _p) = started("h-log", "ok").await;
    let out = host.hooks().call_json("greet", json!("log")).await.unwrap();
    assert_eq!(out.get("h-log").unwrap().value(), Some(&json!("logged")));
    let logs = events_of("h-log", "hookwire::external::log");
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(logs[0].level, tracing::Level::WARN);
    assert_eq!(logs[0].field("message"), Some("cache cold"));
    assert_eq!(logs[0].field("fields"), Some(r#"{"entries":0}"#));
    assert_eq!(logs[1].level, tracing::Level::INFO);
    assert_eq!(logs[1].field("message"), Some("cache warmed"));
}

#[tokio::test]
async fn a_plugin_calls_a_hook_through_the_host_and_gets_every_outcome_in_call_order() {
    let pm = manager();
    pm.add_dynamic_spec(SpecInfo::json("audit")).unwrap();
    pm.register("audit-db", |r| {
        r.json_fn("audit", |v| Ok(Some(json!(v["event"] == "login"))))
            .add()
    })
    .unwrap();
    pm.register("audit-s3", |r| {
        r.json_fn("audit", |_| Err("bucket unreachable".into()))
            .add()
    })
    .unwrap();
    let p = fixture_plugin("h-call", "ok").spawn(&pm).await.unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p).unwrap();
    host.start().await.unwrap();
    let out = pm
        .call_json("greet", json!(r#"host:audit:{"event":"login"}"#))
        .await
        .unwrap();
    let answer = out.get("h-call").unwrap().value().unwrap().clone();
    assert_eq!(
        answer["result"],
        json!({
            "answers": [{"plugin": "audit-db", "value": true}],
            "failures": [{"plugin": "audit-s3", "error": "returned an error: bucket unreachable"}],
        })
    );
    let out = pm.call_json("greet", json!("host:nope:1")).await.unwrap();
    let answer = out.get("h-call").unwrap().value().unwrap().clone();
    assert_eq!(answer["error"]["code"], json!(-32002), "{answer}");
}

#[tokio::test]
async fn calls_nest_from_host_to_plugin_to_host_to_the_same_plugin() {
    let (host, _p) = started("h-nest", "ok").await;
    let out = host
        .hooks()
        .call_json("greet", json!(r#"host:greet:"inner""#))
        .await
        .unwrap();
    let answer = out.get("h-nest").unwrap().value().unwrap().clone();
    assert_eq!(
        answer["result"],
        json!({"answers": [{"plugin": "h-nest", "value": "Hello, inner"}], "failures": []})
    );
}

#[tokio::test]
async fn a_call_nested_deeper_than_8_is_refused_with_32004() {
    let (host, p) = started("h-deep", "ok").await;
    let out = host
        .hooks()
        .call_json("greet", json!("recurse"))
        .await
        .unwrap();
    let mut level = out.get("h-deep").unwrap().value().unwrap().clone();
    // Depth 0 (the application's call) to 8, each a value wrapping the next one's answer.
    for depth in 0..=8 {
        assert_eq!(level["depth"], json!(depth), "{level}");
        let inner = level["inner"].clone();
        if depth < 8 {
            level = inner["result"]["answers"][0]["value"].clone();
        } else {
            assert_eq!(inner["error"]["code"], json!(-32004), "{inner}");
            assert!(
                inner["error"]["message"].as_str().unwrap().starts_with(
                    "call depth 9 is above the maximum of 8: plugin `h-deep` called hook `greet`"
                ),
                "{inner}"
            );
        }
    }
    assert!(p
        .stderr_tail()
        .iter()
        .any(|l| l.starts_with("refused at depth 9: -32004")));
}

/// Protocol 1.1: a plugin's `host/call` gives the time left to the call it serves
/// (`deadline_ms`) and its trace context; the host calls the hook within it, and the
/// `hook/call`s made inside carry what is left of it and the trace context.
#[tokio::test]
async fn a_host_call_runs_within_the_deadline_the_plugin_gives_and_passes_it_on() {
    let pm = manager();
    pm.add_dynamic_spec(SpecInfo::json("slow")).unwrap();
    pm.register("sleepy", |r| {
        r.json_async_fn("slow", |_| {
            Box::pin(async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                Ok(Some(json!("late")))
            })
        })
        .add()
    })
    .unwrap();
    // Registered last: called first (pluggy's LIFO order).
    pm.register("quick", |r| {
        r.json_fn("slow", |_| Ok(Some(json!("quick")))).add()
    })
    .unwrap();
    let p = fixture_plugin("h-deadline", "ok").spawn(&pm).await.unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p).unwrap();
    host.start().await.unwrap();

    let began = std::time::Instant::now();
    let out = pm
        .call_json("greet", json!("host_deadline:slow:300:null"))
        .await
        .unwrap();
    assert!(
        began.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    let answer = out.get("h-deadline").unwrap().value().unwrap().clone();
    let result = &answer["result"];
    assert_eq!(
        result["answers"],
        json!([{"plugin": "quick", "value": "quick"}])
    );
    assert_eq!(result["failures"][0]["plugin"], "sleepy", "{answer}");
    let error = result["failures"][0]["error"].as_str().unwrap();
    assert!(error.contains("deadline"), "{error}");

    // Nested: the host calls `greet` back on the same plugin, with what is left of 300 ms.
    let out = pm
        .call_json("greet", json!(r#"host_deadline:greet:300:"meta""#))
        .await
        .unwrap();
    let answer = out.get("h-deadline").unwrap().value().unwrap().clone();
    let inner = &answer["result"]["answers"][0]["value"];
    let deadline = inner["deadline_ms"].as_u64().unwrap();
    assert!(deadline > 0 && deadline <= 300, "{inner}");
    assert_eq!(inner["depth"], 1);
    assert_eq!(
        inner["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
}
