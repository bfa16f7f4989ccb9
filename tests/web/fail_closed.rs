//! Fail-closed: a before-request impl ranked ahead of the first answer that fails, panics or
//! times out never lets the request through; the server answers 503 and keeps serving.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use hookwire::web::{Decision, Principal, RequestHooksLayer, RequestView};
use hookwire::{FutureExt, HookReturn, PluginHost};
use reqwest::StatusCode;

use crate::common::{client, serve, After, Before};

const UNAVAILABLE: &str = "service unavailable: the request could not be checked";

#[derive(Clone)]
struct User(&'static str);

fn mode(req: &RequestView) -> &str {
    req.headers()
        .get("x-mode")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// An app whose `checks` and `slow-check` plugins (ranked first) panic, fail or hang on request, ahead of
/// an `auth` plugin that lets everyone through; counts the requests that reach the handler.
fn app(hits: Arc<AtomicUsize>) -> (PluginHost, Router) {
    let host = PluginHost::new();
    host.hooks()
        .register("checks", |r| {
            r.sync_fn::<Before>(|req| -> HookReturn<Decision> {
                match mode(req) {
                    "panic" => panic!("auth backend exploded"),
                    "error" => Err("auth backend is down".into()),
                    _ => Ok(None),
                }
            })
            .tryfirst()
            .add()
        })
        .unwrap();
    host.hooks()
        .register("slow-check", |r| {
            r.hook_fn::<Before>(|req| {
                async move {
                    if mode(req) == "slow" {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Ok(None)
                }
                .boxed()
            })
            .tryfirst()
            .timeout(Duration::from_millis(50))
            .add()
        })
        .unwrap();
    host.hooks()
        .register("auth", |r| {
            r.sync_fn::<Before>(|_| Ok(Some(Decision::proceed_with(User("ada")))))
                .add()
        })
        .unwrap();
    let router = Router::new()
        .route(
            "/",
            get(move |Principal(user): Principal<User>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                user.0
            }),
        )
        .layer(RequestHooksLayer::<Before, After>::new(host.hooks()));
    (host, router)
}

#[tokio::test]
async fn failing_panicking_or_timed_out_check_answers_503_and_the_server_keeps_serving() {
    let hits = Arc::new(AtomicUsize::new(0));
    let (host, router) = app(hits.clone());
    let app = serve(host, router).await;
    let http = client();
    for mode in ["panic", "error", "slow", "panic"] {
        let refused = http
            .get(app.url("/"))
            .header("x-mode", mode)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE, "{mode}");
        assert_eq!(refused.text().await.unwrap(), UNAVAILABLE);
        // The next request is served as usual.
        let ok = http.get(app.url("/")).send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK, "after {mode}");
        assert_eq!(ok.text().await.unwrap(), "ada");
    }
    // Only the four ordinary requests reached the handler.
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_failure_ranked_after_the_first_answer_does_not_matter() {
    let hits = Arc::new(AtomicUsize::new(0));
    let (host, router) = app(hits.clone());
    // Ranked last: the call stops at `auth`'s answer before reaching it.
    host.hooks()
        .register("late", |r| {
            r.sync_fn::<Before>(|_| -> HookReturn<Decision> { panic!("never called") })
                .trylast()
                .add()
        })
        .unwrap();
    let app = serve(host, router).await;
    let res = client().get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn no_answer_at_all_lets_the_request_through() {
    let host = PluginHost::new();
    host.hooks()
        .register("silent", |r| r.sync_fn::<Before>(|_| Ok(None)).add())
        .unwrap();
    let router = Router::new()
        .route("/", get(|| async { "through" }))
        .layer(RequestHooksLayer::<Before, After>::new(host.hooks()));
    let app = serve(host, router).await;
    let res = client().get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "through");
    app.stop().await.unwrap();
}
