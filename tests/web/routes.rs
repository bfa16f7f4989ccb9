//! Plugin routes under `/plugins/{name}`: present, gone and back without a restart; refused
//! when they overlap; a request in flight during a swap finishes.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use hookwire::config::HostConfig;
use hookwire::web::{admin_router, AdminRequest, PluginRouter, RouteError};
use tokio::sync::{Notify, Semaphore};

use crate::fixture::{
    get_text, host_configured, host_with, next_swap, plugin_router, Routes, Server, TestPlugin,
};

fn operator(parts: &axum::http::request::Parts, _: &AdminRequest) -> bool {
    parts
        .headers
        .get("authorization")
        .is_some_and(|v| v == "Bearer op")
}

#[tokio::test]
async fn a_plugin_route_goes_with_disable_and_comes_back_with_enable() {
    let host = host_with([
        TestPlugin::new("greeter").route("/hello", "hello from greeter"),
        TestPlugin::new("other").route("/", "other root"),
    ])
    .await;
    let plugins = plugin_router(&host).await;
    assert_eq!(plugins.mounted(), ["greeter", "other"]);
    tokio::spawn(plugins.follow());
    let mut changes = plugins.changes();
    let app = plugins.router().merge(admin_router(host.clone(), operator));
    let server = Server::start(app).await;
    let http = reqwest::Client::new();

    let hello = server.url("/plugins/greeter/hello");
    assert_eq!(
        get_text(&http, &hello).await,
        (200, "hello from greeter".into())
    );
    assert_eq!(
        get_text(&http, &server.url("/plugins/other")).await,
        (200, "other root".into())
    );
    assert_eq!(
        get_text(&http, &server.url("/plugins/nobody/x")).await.0,
        404
    );

    let disable = http
        .post(server.url("/admin/plugins/greeter/disable"))
        .header("authorization", "Bearer op")
        .send()
        .await
        .unwrap();
    assert_eq!(disable.status(), 200);
    next_swap(&mut changes).await;
    assert_eq!(get_text(&http, &hello).await.0, 404);
    assert_eq!(plugins.mounted(), ["other"]);
    // The other plugin's routes never went away.
    assert_eq!(get_text(&http, &server.url("/plugins/other")).await.0, 200);

    let enable = http
        .post(server.url("/admin/plugins/greeter/enable"))
        .header("authorization", "Bearer op")
        .send()
        .await
        .unwrap();
    assert_eq!(enable.status(), 200);
    next_swap(&mut changes).await;
    assert_eq!(
        get_text(&http, &hello).await,
        (200, "hello from greeter".into())
    );
}

#[tokio::test]
async fn a_plugin_disabled_by_the_configuration_gets_its_routes_when_enabled() {
    let config =
        HostConfig::parse("[plugins.greeter]\nenabled = false\n", "hookwire.toml").unwrap();
    let host = host_configured(
        config,
        [
            TestPlugin::new("greeter").route("/hello", "hello from greeter"),
            TestPlugin::new("other").route("/", "other root"),
        ],
    )
    .await;
    let plugins = plugin_router(&host).await;
    assert_eq!(plugins.mounted(), ["other"]);
    tokio::spawn(plugins.follow());
    let mut changes = plugins.changes();
    let app = plugins.router().merge(admin_router(host.clone(), operator));
    let server = Server::start(app).await;
    let http = reqwest::Client::new();
    let hello = server.url("/plugins/greeter/hello");
    assert_eq!(get_text(&http, &hello).await.0, 404);

    let enable = http
        .post(server.url("/admin/plugins/greeter/enable"))
        .header("authorization", "Bearer op")
        .send()
        .await
        .unwrap();
    assert_eq!(enable.status(), 200);
    next_swap(&mut changes).await;
    assert_eq!(plugins.mounted(), ["greeter", "other"]);
    assert_eq!(
        get_text(&http, &hello).await,
        (200, "hello from greeter".into())
    );

    let disable = http
        .post(server.url("/admin/plugins/greeter/disable"))
        .header("authorization", "Bearer op")
        .send()
        .await
        .unwrap();
    assert_eq!(disable.status(), 200);
    next_swap(&mut changes).await;
    assert_eq!(get_text(&http, &hello).await.0, 404);
    assert_eq!(plugins.mounted(), ["other"]);
}

#[tokio::test]
async fn a_lazy_plugin_enabled_at_run_time_gets_its_routes() {
    let config = HostConfig::parse("[plugins.lazy]\nenabled = false\n", "hookwire.toml").unwrap();
    let host = hookwire::PluginHost::builder()
        .config(config)
        .environment(false)
        .build();
    host.add_lazy(TestPlugin::new("lazy").route("/hi", "lazy hi"))
        .unwrap();
    host.start().await.unwrap();
    let plugins = plugin_router(&host).await;
    assert!(plugins.mounted().is_empty());
    tokio::spawn(plugins.follow());
    let mut changes = plugins.changes();
    let server = Server::start(plugins.router()).await;
    let http = reqwest::Client::new();

    assert!(host.enable("lazy").await.unwrap());
    next_swap(&mut changes).await;
    assert_eq!(plugins.mounted(), ["lazy"]);
    assert_eq!(
        get_text(&http, &server.url("/plugins/lazy/hi")).await,
        (200, "lazy hi".into())
    );
    // The rebuild's call started it.
    assert_eq!(host.state("lazy").unwrap().to_string(), "started");
}

#[tokio::test]
async fn removing_and_replacing_a_plugin_change_its_routes() {
    let host = host_with([
        TestPlugin::new("greeter").route("/hello", "v1"),
        TestPlugin::new("gone").route("/x", "soon gone"),
    ])
    .await;
    let plugins = plugin_router(&host).await;
    tokio::spawn(plugins.follow());
    let mut changes = plugins.changes();
    let server = Server::start(plugins.router()).await;
    let http = reqwest::Client::new();
    let hello = server.url("/plugins/greeter/hello");
    assert_eq!(get_text(&http, &hello).await, (200, "v1".into()));

    // A hot reload replaces the instance: the new router serves.
    let mut v2 = TestPlugin::new("greeter").route("/hello", "v2");
    v2.version = "1.1.0";
    host.replace("greeter", v2, Duration::from_secs(1))
        .await
        .unwrap();
    next_swap(&mut changes).await;
    assert_eq!(get_text(&http, &hello).await, (200, "v2".into()));

    host.remove("gone", Duration::from_secs(1)).await.unwrap();
    next_swap(&mut changes).await;
    assert_eq!(get_text(&http, &server.url("/plugins/gone/x")).await.0, 404);
    assert_eq!(plugins.mounted(), ["greeter"]);
}

#[tokio::test]
async fn overlapping_plugin_routes_are_refused_and_the_old_routes_stay() {
    let host = host_with([TestPlugin::new("shop").route("/admin/orders", "shop's orders")]).await;
    let plugins = plugin_router(&host).await;
    let server = Server::start(plugins.router()).await;
    let http = reqwest::Client::new();
    let orders = server.url("/plugins/shop/admin/orders");
    assert_eq!(
        get_text(&http, &orders).await,
        (200, "shop's orders".into())
    );

    // `shop/admin` serving `/orders` would be `/plugins/shop/admin/orders` too.
    host.add(TestPlugin::new("shop/admin").route("/orders", "impostor"))
        .unwrap();
    host.add(TestPlugin::new("blog").route("/posts", "posts"))
        .unwrap();
    host.start().await.unwrap();
    let err = plugins.rebuild().await.unwrap_err();
    match &err {
        RouteError::Conflict {
            plugin,
            others,
            message,
        } => {
            assert_eq!(plugin, "shop/admin");
            assert_eq!(others, &["shop"]);
            assert!(message.contains("Overlapping method route"), "{message}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with("the routes of plugin `shop/admin` overlap those of plugin `shop`: "),
        "{text}"
    );
    assert!(text.ends_with("; the previous routes stay"), "{text}");

    // Nothing changed: the old router serves, the new plugins are not mounted.
    assert_eq!(plugins.mounted(), ["shop"]);
    assert_eq!(
        get_text(&http, &orders).await,
        (200, "shop's orders".into())
    );
    assert_eq!(
        get_text(&http, &server.url("/plugins/blog/posts")).await.0,
        404
    );

    // Once the overlapping plugin is gone the rebuild succeeds.
    host.remove("shop/admin", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(plugins.rebuild().await.unwrap(), ["blog", "shop"]);
    assert_eq!(
        get_text(&http, &server.url("/plugins/blog/posts")).await.0,
        200
    );
}

#[tokio::test]
async fn a_request_in_flight_finishes_on_the_router_it_started_with() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Semaphore::new(0));
    let (e, r) = (entered.clone(), release.clone());
    let slow = TestPlugin::new("slow").router(move || {
        let (e, r) = (e.clone(), r.clone());
        Router::new().route(
            "/wait",
            get(move || async move {
                e.notify_one();
                let _permit = r.acquire().await.unwrap();
                "finished on the old router"
            }),
        )
    });
    let host = host_with([slow, TestPlugin::new("fast").route("/", "fast")]).await;
    let plugins = plugin_router(&host).await;
    let server = Server::start(plugins.router()).await;
    let http = reqwest::Client::new();

    let in_flight = tokio::spawn({
        let (http, url) = (http.clone(), server.url("/plugins/slow/wait"));
        async move { get_text(&http, &url).await }
    });
    entered.notified().await;
    // The swap: `slow` stops and its routes go while its request waits.
    host.stop("slow", Duration::from_secs(1)).await.unwrap();
    assert_eq!(plugins.rebuild().await.unwrap(), ["fast"]);
    assert_eq!(
        get_text(&http, &server.url("/plugins/slow/wait")).await.0,
        404
    );

    release.add_permits(1);
    let done = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done, (200, "finished on the old router".into()));
}

#[tokio::test]
async fn a_failing_routes_impl_is_left_out_and_the_others_are_mounted() {
    let host = host_with([TestPlugin::new("ok").route("/", "fine")]).await;
    host.hooks()
        .register("broken", |r| {
            r.sync_fn::<Routes>(|_| Err("no routes today".into())).add()
        })
        .unwrap();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    assert_eq!(plugins.rebuild().await.unwrap(), ["ok"]);
}

#[tokio::test]
async fn a_name_that_cannot_be_a_path_is_refused() {
    let host = host_with([TestPlugin::new("ok").route("/", "fine")]).await;
    let plugins = plugin_router(&host).await;
    host.hooks()
        .register("{id}", |r| {
            r.sync_fn::<Routes>(|_| Ok(Some(Router::new().into())))
                .add()
        })
        .unwrap();
    let err = plugins.rebuild().await.unwrap_err();
    assert!(
        matches!(&err, RouteError::InvalidName { plugin, .. } if plugin == "{id}"),
        "{err:?}"
    );
    assert_eq!(plugins.mounted(), ["ok"]);
}

#[tokio::test]
async fn no_plugin_name_shadows_the_admin_routes() {
    // A plugin named `admin` serving `/plugins` lands at `/plugins/admin/plugins`.
    let host = host_with([TestPlugin::new("admin").route("/plugins", "a plugin's page")]).await;
    let plugins = plugin_router(&host).await;
    let app = plugins.router().merge(admin_router(host.clone(), operator));
    let server = Server::start(app).await;
    let http = reqwest::Client::new();
    assert_eq!(
        get_text(&http, &server.url("/plugins/admin/plugins")).await,
        (200, "a plugin's page".into())
    );
    let admin = http
        .get(server.url("/admin/plugins"))
        .header("authorization", "Bearer op")
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    let list: serde_json::Value = admin.json().await.unwrap();
    assert_eq!(list[0]["name"], "admin");
    assert_eq!(list[0]["hooks"][0]["hook"], "Routes");
}

#[tokio::test]
async fn follow_ends_once_the_plugin_router_is_dropped() {
    let host = host_with([
        TestPlugin::new("a").route("/", "a"),
        TestPlugin::new("b").route("/", "b"),
    ])
    .await;
    let plugins = plugin_router(&host).await;
    let follower = tokio::spawn(plugins.follow());
    let mut changes = plugins.changes();
    host.stop("a", Duration::from_secs(1)).await.unwrap();
    next_swap(&mut changes).await;
    assert_eq!(plugins.mounted(), ["b"]);

    drop(plugins);
    // The next event finds no router to rebuild: the future returns.
    host.stop("b", Duration::from_secs(1)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .expect("follow() did not end")
        .unwrap();
}
