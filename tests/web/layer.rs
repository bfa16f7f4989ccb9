//! The layer's rules without a socket where time matters (a paused clock), and with one
//! where the connection matters.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use hookwire::web::{Decision, HeaderEdits, RequestHooksLayer, RequestView, ResponseView};
use hookwire::{FutureExt, HookManager, HookReturn, PluginHost};
use tower::Service;

use crate::common::{client, serve, After, Before};

async fn send(router: &mut Router, path: &str) -> axum::response::Response {
    let req = Request::get(path).body(Body::empty()).unwrap();
    router.call(req).await.unwrap()
}

async fn body(res: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn hv(s: &'static str) -> HeaderValue {
    HeaderValue::from_static(s)
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_check_answers_503_at_its_timeout() {
    let pm = HookManager::new();
    pm.register("slow", |r| {
        r.hook_fn::<Before>(|_| {
            async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(None)
            }
            .boxed()
        })
        .timeout(Duration::from_millis(250))
        .add()
    })
    .unwrap();
    let mut router = Router::new()
        .route("/", get(|| async { "never" }))
        .layer(RequestHooksLayer::<Before, After>::new(&pm));
    let start = tokio::time::Instant::now();
    let res = send(&mut router, "/").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    assert_eq!(
        body(res).await,
        "service unavailable: the request could not be checked"
    );
}

#[tokio::test]
async fn respond_short_circuits_and_still_gets_the_after_headers() {
    let pm = HookManager::new();
    pm.register("deny", |r| {
        r.sync_fn::<Before>(|req| {
            Ok((req.path() == "/admin")
                .then(|| Decision::respond((StatusCode::FORBIDDEN, "no admin for you"))))
        })
        .add()
    })
    .unwrap();
    pm.register("stamp", |r| {
        r.sync_fn::<After>(|res| {
            let status = HeaderValue::from(res.status().as_u16());
            Ok(Some(
                HeaderEdits::new().insert(HeaderName::from_static("x-status-seen"), status),
            ))
        })
        .add()
    })
    .unwrap();
    let mut router = Router::new()
        .route("/admin", get(|| async { "secret" }))
        .route("/", get(|| async { "open" }))
        .layer(RequestHooksLayer::<Before, After>::new(&pm));
    let denied = send(&mut router, "/admin").await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert_eq!(denied.headers()["x-status-seen"], "403");
    assert_eq!(body(denied).await, "no admin for you");
    let open = send(&mut router, "/").await;
    assert_eq!(open.headers()["x-status-seen"], "200");
    assert_eq!(body(open).await, "open");
}

#[tokio::test]
async fn header_edits_apply_in_call_order_and_a_failing_after_impl_changes_nothing() {
    let pm = HookManager::new();
    pm.register("first", |r| {
        r.sync_fn::<After>(|_| {
            Ok(Some(
                HeaderEdits::new()
                    .insert(HeaderName::from_static("x-who"), hv("first"))
                    .append(HeaderName::from_static("x-trail"), hv("first")),
            ))
        })
        .tryfirst()
        .add()
    })
    .unwrap();
    pm.register("second", |r| {
        r.sync_fn::<After>(|res| {
            // The handler's header is visible before the edits of this call.
            assert_eq!(res.headers()["x-secret"], "s3cret");
            Ok(Some(
                HeaderEdits::new()
                    .insert(HeaderName::from_static("x-who"), hv("second"))
                    .append(HeaderName::from_static("x-trail"), hv("second"))
                    .remove(HeaderName::from_static("x-secret")),
            ))
        })
        .add()
    })
    .unwrap();
    pm.register("broken", |r| {
        r.sync_fn::<After>(|_| -> HookReturn<HeaderEdits> { Err("no headers today".into()) })
            .trylast()
            .add()
    })
    .unwrap();
    let mut router = Router::new()
        .route("/", get(|| async { ([("x-secret", "s3cret")], "body") }))
        // No before impl here: served only because the app says so.
        .layer(RequestHooksLayer::<Before, After>::new(&pm).allow_unchecked_requests());
    let res = send(&mut router, "/").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-who"], "second");
    let trail: Vec<_> = res.headers().get_all("x-trail").iter().collect();
    assert_eq!(trail, [hv("first"), hv("second")]);
    assert!(res.headers().get("x-secret").is_none());
    assert_eq!(body(res).await, "body");
}

/// Method, URI, client address, whether the bearer token was `t0k`.
type Seen = (String, String, Option<SocketAddr>, bool);

#[tokio::test]
async fn the_before_hook_sees_method_path_headers_and_client_address() {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let host = PluginHost::new();
    let log = seen.clone();
    host.hooks()
        .register("observer", move |r| {
            r.sync_fn::<Before>(move |req: &RequestView| {
                log.lock().unwrap().push((
                    req.method().to_string(),
                    req.uri().to_string(),
                    req.remote_addr(),
                    req.bearer_token() == Some("t0k"),
                ));
                Ok(None)
            })
            .add()
        })
        .unwrap();
    let router = Router::new()
        .route("/items", axum::routing::post(|| async { "made" }))
        .layer(RequestHooksLayer::<Before, After>::new(host.hooks()));
    let app = serve(host, router).await;
    let res = client()
        .post(app.url("/items?x=1"))
        .header("authorization", "Bearer t0k")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "made");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (method, uri, remote, token) = &seen[0];
    assert_eq!(
        (method.as_str(), uri.as_str(), *token),
        ("POST", "/items?x=1", true)
    );
    assert_eq!(remote.unwrap().ip().to_string(), "127.0.0.1");
    app.stop().await.unwrap();
}

#[test]
fn a_response_view_reports_what_it_was_built_from() {
    let req = RequestView::new(
        axum::http::Method::GET,
        "/x".parse().unwrap(),
        axum::http::HeaderMap::new(),
        None,
    );
    let res = ResponseView::new(
        req,
        StatusCode::IM_A_TEAPOT,
        Default::default(),
        Duration::from_millis(3),
    );
    assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(res.request().path(), "/x");
    assert_eq!(res.elapsed(), Duration::from_millis(3));
    assert!(res.request().bearer_token().is_none());
}

#[tokio::test]
async fn the_layer_keeps_no_unregistered_plugin_alive() {
    // What an impl owns (here a token its closure holds) is released once its plugin is
    // unregistered, though the layer (built while it was registered) lives on and served
    // requests with it.
    let pm = HookManager::new();
    let token = Arc::new(());
    let weak = Arc::downgrade(&token);
    let handle = pm
        .register("gate", move |r| {
            let token = token.clone();
            r.sync_fn::<Before>(move |_| {
                let _held = &token;
                Ok(None)
            })
            .add()
        })
        .unwrap();
    let mut router = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(RequestHooksLayer::<Before, After>::new(&pm));
    assert_eq!(send(&mut router, "/").await.status(), StatusCode::OK);
    assert!(weak.upgrade().is_some());

    assert!(pm.unregister(&handle));
    assert!(
        weak.upgrade().is_none(),
        "the layer still holds the unregistered plugin's impl"
    );
    // Nothing left to check requests: fail-closed.
    assert_eq!(
        send(&mut router, "/").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}
