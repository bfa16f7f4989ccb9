//! Each admin request is reported as a `tracing` event with target `hookwire::audit`.
//!
//! A binary of its own: tracing caches callsite interest process-wide, so a test without a
//! subscriber that reaches the audit callsite first (the other web tests) could make this
//! test miss its events.

#[path = "common/log_lines.rs"]
mod log_lines;

use log_lines::LogLines;

use axum::http::request::Parts;
use hookwire::web::{admin_router, AdminRequest};
use tracing_subscriber::layer::SubscriberExt;

#[allow(dead_code)] // this binary uses a few of the fixtures
#[path = "web/fixture.rs"]
mod fixture;

use fixture::{host_with, Server, TestPlugin};

fn check(parts: &Parts, _: &AdminRequest) -> bool {
    parts
        .headers
        .get("authorization")
        .is_some_and(|v| v == "Bearer op")
}

#[tokio::test]
async fn each_admin_request_goes_to_the_audit_target() {
    let log = LogLines::audit();
    // The test's runtime is single-threaded: the server's tasks run on this thread.
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(log.clone()));
    let host = host_with([TestPlugin::new("greeter")]).await;
    let server = Server::start(admin_router(host.clone(), check)).await;
    let http = reqwest::Client::new();
    let refused = http
        .post(server.url("/admin/plugins/greeter/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let allowed = http
        .post(server.url("/admin/plugins/greeter/disable"))
        .header("authorization", "Bearer op")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        *log.0.lock().unwrap(),
        [
            "message=admin request action=disable plugin=greeter method=POST allowed=false status=403",
            "message=admin request action=disable plugin=greeter method=POST allowed=true status=200",
        ]
    );
}
