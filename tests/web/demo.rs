//! The `web_app` demo as written (`examples/examples/web_app.rs`), over real HTTP.

use std::time::Duration;

use reqwest::StatusCode;

use hookwire::web::Server;

use crate::common::{client, spawn, Running};

#[path = "../../examples/examples/web_app.rs"]
#[allow(dead_code)]
mod web_app;

use web_app::{build, DemoConfig};

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
