//! `GET /metrics`: Prometheus text, parsed; counters after a known number of calls, read from
//! the manager's statistics at scrape time (a second scrape counts nothing twice).

use std::collections::BTreeMap;

use hookwire::web::metrics_router;

use crate::fixture::{host_with, Greet, Server, TestPlugin};

/// `name{labels}` → value, for every sample line.
fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').expect("a sample line is `name value`");
            (key.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

#[tokio::test]
async fn counters_match_the_calls_made() {
    let host = host_with([
        TestPlugin::new("polite").greet(1, |who| Ok(Some(format!("good day {who}")))),
        TestPlugin::new("grumpy").greet(0, |_| Err("no".into())),
        TestPlugin::new("shy").greet(-1, |_| Ok(None)),
        TestPlugin::new("wild").greet(-2, |_| panic!("boom")),
    ])
    .await;
    for i in 0..7 {
        host.hook::<Greet>()
            .call(&format!("user{i}"))
            .await
            .unwrap();
    }
    let server = Server::start(metrics_router(host.clone())).await;
    let resp = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("# TYPE hookwire_impl_calls counter\n"),
        "{text}"
    );
    let m = parse(&text);
    let at = |name: &str, plugin: &str| {
        m.get(&format!("{name}{{plugin=\"{plugin}\",hook=\"Greet\"}}"))
            .copied()
            .unwrap_or_else(|| panic!("no {name} for {plugin} in\n{text}"))
    };
    for plugin in ["polite", "grumpy", "shy", "wild"] {
        assert_eq!(at("hookwire_impl_calls_total", plugin), 7.0, "{plugin}");
    }
    assert_eq!(at("hookwire_impl_answers_total", "polite"), 7.0);
    assert_eq!(at("hookwire_impl_errors_total", "polite"), 0.0);
    assert_eq!(at("hookwire_impl_errors_total", "grumpy"), 7.0);
    assert_eq!(at("hookwire_impl_no_answers_total", "shy"), 7.0);
    assert_eq!(at("hookwire_impl_panics_total", "wild"), 7.0);
    assert_eq!(at("hookwire_impl_timeouts_total", "wild"), 0.0);
    // No breaker here: none refused a call.
    assert_eq!(at("hookwire_impl_circuit_open_total", "grumpy"), 0.0);
    assert!(!text.contains("skipped"), "{text}");
    assert_eq!(
        m["hookwire_plugin_state{plugin=\"polite\",state=\"started\"}"],
        1.0
    );
    // Latency samples exist for at least the first call of each impl.
    let sampled = at("hookwire_impl_latency_samples_total", "polite");
    assert!(sampled >= 1.0, "{text}");
    // A sync closure takes well under a microsecond: its bucket's upper bound may be 0 µs.
    let quantile = |q: &str| {
        m[&format!(
            "hookwire_impl_latency_seconds{{plugin=\"polite\",hook=\"Greet\",quantile=\"{q}\"}}"
        )]
    };
    let (p50, p99) = (quantile("0.5"), quantile("0.99"));
    assert!(
        (0.0..0.1).contains(&p50) && p50 <= p99 && p99 < 0.1,
        "{p50} {p99}"
    );

    // Read at scrape time: three more calls show, nothing is counted twice.
    for i in 0..3 {
        host.hook::<Greet>()
            .call(&format!("late{i}"))
            .await
            .unwrap();
    }
    let again = parse(
        &reqwest::get(server.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(
        again["hookwire_impl_calls_total{plugin=\"polite\",hook=\"Greet\"}"],
        10.0
    );
    assert_eq!(
        again["hookwire_impl_panics_total{plugin=\"wild\",hook=\"Greet\"}"],
        10.0
    );
}

#[tokio::test]
async fn label_values_are_escaped_so_a_plugin_name_cannot_forge_lines() {
    let host = host_with([
        TestPlugin::new("evil\"} 999\nhookwire_fake{x=\"").greet(0, |_| Ok(Some("ok".into())))
    ])
    .await;
    host.hook::<Greet>().call(&"x".to_owned()).await.unwrap();
    let server = Server::start(metrics_router(host)).await;
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.lines().any(|l| l.starts_with("hookwire_fake")),
        "{text}"
    );
    let m = parse(&text);
    assert_eq!(
        m[r#"hookwire_impl_calls_total{plugin="evil\"} 999\nhookwire_fake{x=\"",hook="Greet"}"#],
        1.0,
        "{text}"
    );
}
