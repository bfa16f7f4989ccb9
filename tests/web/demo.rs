//! The `web_app` demo as written (`examples/examples/web_app.rs`), over real HTTP.

use std::time::Duration;

use reqwest::StatusCode;

use hookwire::web::Server;

use crate::common::{client, spawn, Running};

#[path = "../../examples/examples/web_app.rs"]
#[allow(dead_code)]
mod web_app;

use web_app::{build, DemoConfig, OnShutdown, OnStartup};

const TOKEN: &str = "Bearer demo-token";

/// The demo served as its `main` serves it (the plugins' routes kept up to date).
async fn demo(config: &DemoConfig) -> Running {
    let (host, routes, router) = build(config);
    spawn(Server::new(host, router).plugin_routes(routes)).await
}

fn config(limit: u32) -> DemoConfig {
    DemoConfig {
        limit,
        window: Duration::from_secs(600),
        ..DemoConfig::default()
    }
}

#[tokio::test]
async fn auth_refuses_without_a_valid_token_and_passes_the_principal() {
    let app = demo(&config(100)).await;
    let http = client();
    let url = app.url("/plugins/greeter/hello");

    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        none.text().await.unwrap(),
        "a valid `Authorization: Bearer <token>` header is required\n"
    );
    for bad in [
        "Bearer nope",
        "Basic ZGVtbzp0b2tlbg==",
        "Bearer",
        "demo-token",
    ] {
        let res = http
            .get(&url)
            .header("authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }

    // The token's user reaches the plugin's handler (`Principal<User>`).
    let ok = http
        .get(&url)
        .header("authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "Hello, ada!\n");
    let lower = http
        .get(&url)
        .header("authorization", "bearer demo-token")
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), StatusCode::OK);
    // The app's own handler gets the greeter plugin's service (`Service<Greeting>`).
    let app_hello = http
        .get(app.url("/hello"))
        .header("authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(app_hello.status(), StatusCode::OK);
    assert_eq!(app_hello.text().await.unwrap(), "Hello, ada!\n");

    let stopped = app.stop().await.unwrap();
    assert!(stopped.is_clean(), "{stopped}");
}

#[tokio::test]
async fn rate_limit_answers_429_after_the_configured_count() {
    let app = demo(&config(3)).await;
    let http = client();
    let url = app.url("/plugins/greeter/hello");
    // Refused requests count too: the limiter runs before authentication.
    let first = http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    for _ in 0..2 {
        let res = http
            .get(&url)
            .header("authorization", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    for _ in 0..2 {
        let res = http
            .get(&url)
            .header("authorization", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()["retry-after"], "600");
        assert_eq!(res.text().await.unwrap(), "more than 3 requests in 600s\n");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn after_hook_adds_request_id_and_timing_to_every_response() {
    let app = demo(&config(100)).await;
    let http = client();
    let url = app.url("/plugins/greeter/hello");

    let refused = http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["x-request-id"], "1");
    let ok = http
        .get(&url)
        .header("authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.headers()["x-request-id"], "2");
    let timing = ok.headers()["server-timing"].to_str().unwrap();
    let millis: f64 = timing.strip_prefix("app;dur=").unwrap().parse().unwrap();
    assert!((0.0..10_000.0).contains(&millis), "{timing}");
    // A client's own request id is kept.
    let traced = http
        .get(&url)
        .header("authorization", TOKEN)
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(traced.headers()["x-request-id"], "trace-42");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn demo_stops_its_plugins_in_reverse_start_order() {
    let (host, routes, router) = build(&config(100));
    let app = spawn(Server::new(host.clone(), router).plugin_routes(routes)).await;
    let res = client()
        .get(app.url("/"))
        .header("authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "hookwire web demo\n");
    let stopped = app.stop().await.unwrap();
    // Started in dependency order, ties by name; stopped in reverse.
    let names: Vec<_> = stopped.plugins.iter().map(|p| p.plugin.as_str()).collect();
    assert_eq!(
        names,
        ["token-auth", "request-ids", "rate-limit", "greeter"]
    );
    assert!(host.plugins().is_empty());
}

/// README.md's "Web services" `curl` sequence, in order, against the demo as `main` runs it
/// (`DemoConfig::default()`: 5 requests per 10 s), asserting what the README shows.
#[tokio::test]
async fn the_readme_curl_sequence() {
    let (host, routes, router) = build(&DemoConfig::default());
    let server = Server::new(host, router)
        .on_startup::<OnStartup>(())
        .on_shutdown::<OnShutdown>(())
        .plugin_routes(routes);
    let app = spawn(server).await;
    let http = client();
    let hello = app.url("/plugins/greeter/hello");

    // curl -i .../plugins/greeter/hello  → 401 Unauthorized
    let res = http.get(&hello).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(res.headers()["x-request-id"], "1");

    // curl -i -H 'Authorization: Bearer demo-token' .../plugins/greeter/hello
    //   → 200 OK, x-request-id: 2, server-timing: app;dur=0.090, "Hello, ada!"
    let res = http
        .get(&hello)
        .header("authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-request-id"], "2");
    let timing = res.headers()["server-timing"].to_str().unwrap().to_owned();
    let millis = timing.strip_prefix("app;dur=").expect(&timing);
    assert_eq!(
        millis.split_once('.').map(|(_, d)| d.len()),
        Some(3),
        "{timing}"
    );
    assert!(millis.parse::<f64>().unwrap() >= 0.0, "{timing}");
    assert_eq!(res.text().await.unwrap(), "Hello, ada!\n");

    // curl -i -H 'x-request-id: trace-42' -H 'Authorization: Bearer demo-token' .../
    //   → the client's request id is kept
    let res = http
        .get(app.url("/"))
        .header("x-request-id", "trace-42")
        .header("authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-request-id"], "trace-42");
    assert_eq!(res.text().await.unwrap(), "hookwire web demo\n");

    // for i in 1 2 3; do curl ... .../; done  → 200, 200, then 429 (the 6th request in
    // 10 s; Retry-After says when)
    let mut codes = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let res = http
            .get(app.url("/"))
            .header("authorization", TOKEN)
            .send()
            .await
            .unwrap();
        codes.push(res.status().as_u16());
        last = Some(res);
    }
    assert_eq!(codes, [200, 200, 429]);
    let refused = last.unwrap();
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "Retry-After: {retry}");
    assert_eq!(
        refused.text().await.unwrap(),
        "more than 5 requests in 10s\n"
    );

    // Stopping it: `stopped 4: token-auth, request-ids, rate-limit, greeter`.
    let stopped = app.stop().await.unwrap();
    assert_eq!(
        stopped.to_string(),
        "stopped 4: token-auth, request-ids, rate-limit, greeter"
    );
}
