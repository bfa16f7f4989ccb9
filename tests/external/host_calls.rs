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
