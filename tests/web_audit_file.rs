//! With the security feature's audit log attached, the actions an authorised admin request
//! takes reach the audit file. A binary of its own: `web_audit` captures `tracing` events
//! with a scoped subscriber, which a test without one running beside it can make it miss.

use axum::http::request::Parts;
use hookwire::security::{AuditLog, AuditOutcome, AuditRecord};
use hookwire::web::{admin_router, AdminRequest};

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

/// With the security feature's audit log attached, the actions an authorised admin request
/// takes reach the audit file: the host announces its own `disable`/`enable` as `Admin` events.
#[tokio::test]
async fn admin_actions_reach_the_audit_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let audit = AuditLog::open(&path).unwrap();
    let host = host_with([TestPlugin::new("greeter")]).await;
    let task = audit.attach(&host);
    let server = Server::start(admin_router(host.clone(), check)).await;
    let http = reqwest::Client::new();
    for verb in ["disable", "enable"] {
        let answer = http
            .post(server.url(&format!("/admin/plugins/greeter/{verb}")))
            .header("authorization", "Bearer op")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{verb}");
    }
    drop(server);
    drop(host);
    task.await.unwrap();
    let records: Vec<AuditRecord> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(&str, &str, AuditOutcome)> = records
        .iter()
        .map(|r| (r.plugin.as_str(), r.action.as_str(), r.outcome))
        .collect();
    assert!(
        got.contains(&("greeter", "disable", AuditOutcome::Requested)),
        "{got:?}"
    );
    assert!(
        got.contains(&("greeter", "enable", AuditOutcome::Requested)),
        "{got:?}"
    );
}

/// A refused admin request (403) reaches the audit file too, as a `refused` record of the
/// action it asked for; nothing of it is done (no `requested` record, the plugin keeps
/// running). A read (list, inspect) is not an action: allowed or refused, it is only a
/// `tracing` event.
#[tokio::test]
async fn refused_admin_actions_reach_the_audit_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let audit = AuditLog::open(&path).unwrap();
    let host = host_with([TestPlugin::new("greeter")]).await;
    let task = audit.attach(&host);
    let server = Server::start(admin_router(host.clone(), check)).await;
    let http = reqwest::Client::new();
    let refused = http
        .post(server.url("/admin/plugins/greeter/disable"))
        .header("authorization", "Bearer intruder")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let read = http
        .get(server.url("/admin/plugins/greeter"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 403);
    // Refused before any look-up: a name no plugin has is recorded as asked.
    let unknown = http
        .post(server.url("/admin/plugins/ghost/enable"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 403);
    assert_eq!(
        host.plugins().get("greeter").unwrap().state,
        hookwire::plugin::PluginState::Started
    );
    drop(server);
    drop(host);
    task.await.unwrap();
    let records: Vec<AuditRecord> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(&str, Option<&str>, &str, AuditOutcome, &str)> = records
        .iter()
        .map(|r| {
            (
                r.plugin.as_str(),
                r.version.as_deref(),
                r.action.as_str(),
                r.outcome,
                r.detail.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [(
            "greeter",
            Some("1.0.0"),
            "disable",
            AuditOutcome::Refused,
            "the host's admin check refused `POST /admin/plugins/greeter/disable`"
        ),],
        "a refused request naming no plugin of the host is not recorded (only traced): an \
         anonymous client cannot flood the audit log with names"
    );
}
