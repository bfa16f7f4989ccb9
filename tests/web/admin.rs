//! `/admin/plugins`: refused without authorisation, allowed with it; list, inspect (with
//! statistics), enable and disable. (The audit events: `tests/web_audit.rs`, a binary of its
//! own, as it captures logs.)

use axum::http::request::Parts;
use hookwire::web::{admin_router, AdminRequest, DenyAll};
use serde_json::{json, Value};

use hookwire::config::HostConfig;

use crate::fixture::{host_configured, host_with, Greet, Server, TestPlugin};

/// Reads for `Bearer viewer`, everything for `Bearer op`.
fn check(parts: &Parts, request: &AdminRequest) -> bool {
    match parts.headers.get("authorization") {
        Some(v) if v == "Bearer op" => true,
        Some(v) if v == "Bearer viewer" => request.is_read_only(),
        _ => false,
    }
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn without_authorisation_every_admin_request_is_refused() {
    let host = host_with([TestPlugin::new("greeter")]).await;
    let server = Server::start(admin_router(host.clone(), check)).await;
    let http = reqwest::Client::new();

    let (status, body) = send(http.get(server.url("/admin/plugins"))).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"error": "not authorised to list plugins: the host's admin check refused this request"})
    );
    let (status, body) = send(http.post(server.url("/admin/plugins/greeter/disable"))).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"],
        "not authorised to disable plugin `greeter`: the host's admin check refused this request"
    );
    // A reader may not change anything either.
    let (status, _) = send(
        http.post(server.url("/admin/plugins/greeter/disable"))
            .header("authorization", "Bearer viewer"),
    )
    .await;
    assert_eq!(status, 403);
    // An unknown plugin is not revealed to an unauthorised caller: 403, not 404.
    let (status, _) = send(http.get(server.url("/admin/plugins/nobody"))).await;
    assert_eq!(status, 403);
    assert_eq!(host.state("greeter").unwrap().to_string(), "started");

    // `DenyAll` refuses even the operator's token.
    let closed = Server::start(admin_router(host.clone(), DenyAll)).await;
    let (status, _) = send(
        http.get(closed.url("/admin/plugins"))
            .header("authorization", "Bearer op"),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_list_shows_versions_states_and_hooks_with_priorities() {
    let mut old = TestPlugin::new("legacy").greet(-3, |_| Ok(None));
    old.version = "0.9.1";
    let host = host_with([
        TestPlugin::new("greeter")
            .route("/hello", "hi")
            .greet(7, |who| Ok(Some(format!("hello {who}")))),
        old,
    ])
    .await;
    host.stop("legacy", std::time::Duration::from_secs(1))
        .await
        .unwrap();
    let server = Server::start(admin_router(host.clone(), check)).await;
    let http = reqwest::Client::new();
    let (status, body) = send(
        http.get(server.url("/admin/plugins"))
            .header("authorization", "Bearer viewer"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([
            {"name": "greeter", "version": "1.0.0", "state": "started", "disabled": false, "lazy": false,
             "hooks": [
                {"hook": "Greet", "placement": "normal", "priority": 7, "wrapper": false},
                {"hook": "Routes", "placement": "normal", "priority": 0, "wrapper": false},
             ]},
            {"name": "legacy", "version": "0.9.1", "state": "stopped", "disabled": false, "lazy": false,
             "hooks": []},
        ])
    );
}

#[tokio::test]
async fn a_plugin_s_page_has_its_statistics() {
    let host = host_with([TestPlugin::new("greeter").greet(0, |who| {
        if who == "nobody" {
            Err("who is that?".into())
        } else {
            Ok(Some(format!("hello {who}")))
        }
    })])
    .await;
    for who in ["ada", "bob", "nobody"] {
        host.hook::<Greet>().call(&who.to_owned()).await.unwrap();
    }
    let server = Server::start(admin_router(host.clone(), check)).await;
    let http = reqwest::Client::new();
    let (status, body) = send(
        http.get(server.url("/admin/plugins/greeter"))
            .header("authorization", "Bearer viewer"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "greeter");
    assert_eq!(body["state"], "started");
    let stats = body["stats"].as_array().unwrap();
    assert_eq!(stats.len(), 1, "{body}");
    assert_eq!(stats[0]["hook"], "Greet");
    assert_eq!(stats[0]["plugin"], "greeter");
    assert_eq!(stats[0]["calls"], 3);
    assert_eq!(stats[0]["answers"], 2);
    assert_eq!(stats[0]["errors"], 1);
    assert_eq!(stats[0]["last_error"], "returned an error: who is that?");

    let (status, body) = send(
        http.get(server.url("/admin/plugins/nobody"))
            .header("authorization", "Bearer viewer"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": "no plugin `nobody`; known plugins: greeter"})
    );
}

#[tokio::test]
async fn enable_and_disable_change_the_state_and_say_whether_anything_changed() {
    let mut needs = TestPlugin::new("needs-db");
    needs.requires = Some("db");
    let host = host_with([TestPlugin::new("db"), needs, TestPlugin::new("greeter")]).await;
    let server = Server::start(admin_router(host.clone(), check)).await;
    let http = reqwest::Client::new();
    let post = |path: &str| {
        http.post(server.url(path))
            .header("authorization", "Bearer op")
    };

    let (status, body) = send(post("/admin/plugins/greeter/disable")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"plugin": "greeter", "action": "disable", "changed": true, "state": "stopped", "disabled": true})
    );
    // Kept off: a later start leaves it stopped.
    host.start().await.unwrap();
    assert_eq!(host.state("greeter").unwrap().to_string(), "stopped");
    let (_, body) = send(post("/admin/plugins/greeter/disable")).await;
    assert_eq!(body["changed"], false);
    let (status, body) = send(post("/admin/plugins/greeter/enable")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"plugin": "greeter", "action": "enable", "changed": true, "state": "started", "disabled": false})
    );
    let (_, body) = send(post("/admin/plugins/greeter/enable")).await;
    assert_eq!(body["changed"], false);

    // A plugin that running plugins require cannot be disabled: 409 with the host's message.
    let (status, body) = send(post("/admin/plugins/db/disable")).await;
    assert_eq!(status, 409);
    assert_eq!(
        body["error"],
        "plugin `db` is required by running plugins needs-db; remove them first"
    );
    assert_eq!(host.state("db").unwrap().to_string(), "started");

    let (status, body) = send(post("/admin/plugins/nobody/enable")).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "no plugin `nobody`; known plugins: db, greeter, needs-db"
    );
    let (status, _) = send(post("/admin/plugins/greeter/explode")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_plugin_disabled_by_the_configuration_is_enabled_at_run_time() {
    let config = HostConfig::parse("[plugins.legacy]\nenabled = false\n", "hookwire.toml").unwrap();
    let host = host_configured(
        config,
        [TestPlugin::new("legacy").greet(0, |who| Ok(Some(format!("hi {who}"))))],
    )
    .await;
    let server = Server::start(admin_router(host.clone(), check)).await;
    let http = reqwest::Client::new();
    let post = |path: &str| {
        http.post(server.url(path))
            .header("authorization", "Bearer op")
    };
    let out = host.hook::<Greet>().call(&"ada".to_owned()).await.unwrap();
    assert_eq!(out.into_value(), None);

    let (status, body) = send(post("/admin/plugins/legacy/enable")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"plugin": "legacy", "action": "enable", "changed": true, "state": "started", "disabled": false})
    );
    let out = host.hook::<Greet>().call(&"ada".to_owned()).await.unwrap();
    assert_eq!(out.into_value().as_deref(), Some("hi ada"));

    // Disabled at run time, then enabled again.
    let (_, body) = send(post("/admin/plugins/legacy/disable")).await;
    assert_eq!(body["disabled"], true);
    let (status, body) = send(post("/admin/plugins/legacy/enable")).await;
    assert_eq!((status, &body["state"]), (200, &json!("started")));
}

#[tokio::test]
async fn enabling_a_plugin_whose_dependency_is_disabled_is_a_conflict() {
    let config = HostConfig::parse(
        "[plugins.db]\nenabled = false\n[plugins.needs-db]\nenabled = false\n",
        "hookwire.toml",
    )
    .unwrap();
    let mut needs = TestPlugin::new("needs-db");
    needs.requires = Some("db");
    let host = host_configured(config, [TestPlugin::new("db"), needs]).await;
    let server = Server::start(admin_router(host.clone(), check)).await;
    let http = reqwest::Client::new();
    let post = |path: &str| {
        http.post(server.url(path))
            .header("authorization", "Bearer op")
    };

    let (status, body) = send(post("/admin/plugins/needs-db/enable")).await;
    assert_eq!(status, 409);
    assert_eq!(
        body["error"],
        "plugin `needs-db` requires `db`, which is disabled by `enabled = false` in hookwire.toml: enable `db` first"
    );
    assert_eq!(host.state("needs-db").unwrap().to_string(), "discovered");
    let (status, _) = send(post("/admin/plugins/db/enable")).await;
    assert_eq!(status, 200);
    let (status, body) = send(post("/admin/plugins/needs-db/enable")).await;
    assert_eq!(status, 200);
    assert_eq!(body["state"], "started");
    // Now `db` is required by a running plugin.
    let (status, body) = send(post("/admin/plugins/db/disable")).await;
    assert_eq!(status, 409);
    assert_eq!(
        body["error"],
        "plugin `db` is required by running plugins needs-db; remove them first"
    );
}
