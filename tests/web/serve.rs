//! `Server`: plugins and start-up hooks before serving; on shutdown the requests in flight
//! finish, then the shutdown hooks, then the plugins stop in reverse dependency order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use futures::FutureExt;
use hookwire::web::{ServeError, Server};
use hookwire::{async_trait, BoxError, HookReturn, Plugin, PluginContext, PluginHost, PluginMeta};
use hookwire::{RegisterError, Registrar};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::common::{client, spawn, Shutdown, Startup};

type Log = Arc<Mutex<Vec<String>>>;

fn note(log: &Log, line: impl Into<String>) {
    log.lock().unwrap().push(line.into());
}

/// A plugin that logs its start-up and shutdown hooks and its stop.
struct Logged {
    name: &'static str,
    requires: Option<&'static str>,
    log: Log,
    fail_startup: bool,
}

#[async_trait]
impl Plugin for Logged {
    fn meta(&self) -> PluginMeta {
        let meta = PluginMeta::new(self.name, "1.0.0");
        match self.requires {
            Some(dep) => meta.requires(dep, "^1"),
            None => meta,
        }
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let me = self.clone();
        r.sync_fn::<Startup>(move |_| -> HookReturn<()> {
            note(&me.log, format!("startup {}", me.name));
            if me.fail_startup {
                return Err("the cache is unreachable".into());
            }
            Ok(None)
        })
        .add()?;
        r.sync_fn::<Shutdown>(move |_| {
            note(&self.log, format!("shutdown hook {}", self.name));
            Ok(None)
        })
        .add()
    }
    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        note(&self.log, format!("stop {}", self.name));
        Ok(())
    }
}

fn host(log: &Log, fail_startup: bool) -> PluginHost {
    let host = PluginHost::new();
    host.add(Logged {
        name: "store",
        requires: None,
        log: log.clone(),
        fail_startup,
    })
    .unwrap();
    host.add(Logged {
        name: "api",
        requires: Some("store"),
        log: log.clone(),
        fail_startup: false,
    })
    .unwrap();
    host
}

#[tokio::test]
async fn shutdown_waits_for_the_request_in_flight_then_runs_hooks_and_stops_plugins() {
    let log: Log = Arc::default();
    let (entered_tx, mut entered) = mpsc::channel::<()>(1);
    let (release, released) = oneshot::channel::<()>();
    let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
    let handler_log = log.clone();
    let router = Router::new().route(
        "/slow",
        get(move || {
            let (entered_tx, released, log) =
                (entered_tx.clone(), released.clone(), handler_log.clone());
            async move {
                note(&log, "request entered");
                entered_tx.send(()).await.unwrap();
                let rx = released.lock().await.take().unwrap();
                rx.await.unwrap();
                note(&log, "request done");
                "finished"
            }
        }),
    );
    let server = Server::new(host(&log, false), router)
        .on_startup::<Startup>(())
        .on_shutdown::<Shutdown>(());
    let app = spawn(server).await;
    // Sent right after spawning: it waits in the listener's queue until the start-up hooks ran.
    let request = tokio::spawn(client().get(app.url("/slow")).send());
    entered.recv().await.unwrap();

    app.trigger.shutdown();
    assert!(app.trigger.is_triggered());
    // The server waits for the request: nothing of the shutdown has run yet.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!app.task.is_finished());
    assert_eq!(
        *log.lock().unwrap(),
        ["startup api", "startup store", "request entered"]
    );

    release.send(()).unwrap();
    let res = request.await.unwrap().unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "finished");
    let stopped = app.task.await.unwrap().unwrap();
    assert!(stopped.is_clean(), "{stopped}");
    // LIFO for the hooks (`api` was registered last); `api` stops before `store`, which it
    // depends on.
    assert_eq!(
        *log.lock().unwrap(),
        [
            "startup api",
            "startup store",
            "request entered",
            "request done",
            "shutdown hook api",
            "shutdown hook store",
            "stop api",
            "stop store",
        ]
    );
}

#[tokio::test]
async fn a_request_waiting_during_the_start_up_hook_is_handled_after_it() {
    let log: Log = Arc::default();
    let (hook_entered_tx, hook_entered) = oneshot::channel::<()>();
    let (open, opened) = oneshot::channel::<()>();
    let gate = Arc::new(Mutex::new(Some((hook_entered_tx, opened))));
    let host = PluginHost::new();
    let hook_log = log.clone();
    host.hooks()
        .register("warm-up", move |r| {
            r.hook_fn::<Startup>(move |_| {
                let (gate, log) = (gate.clone(), hook_log.clone());
                async move {
                    note(&log, "startup entered");
                    let (entered, opened) = gate.lock().unwrap().take().unwrap();
                    entered.send(()).unwrap();
                    opened.await.unwrap();
                    note(&log, "startup done");
                    Ok(None)
                }
                .boxed()
            })
            .add()
        })
        .unwrap();
    let handler_log = log.clone();
    let router = Router::new().route(
        "/",
        get(move || {
            let log = handler_log.clone();
            async move {
                note(&log, "request entered");
                "served"
            }
        }),
    );
    let app = spawn(Server::new(host, router).on_startup::<Startup>(())).await;
    hook_entered.await.unwrap();
    // While the start-up hook runs, a client connects and sends its whole request (the
    // listener is bound, so the connection waits in its queue).
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(*log.lock().unwrap(), ["startup entered"]);
    open.send(()).unwrap();

    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nserved"), "{response}");
    assert_eq!(
        *log.lock().unwrap(),
        ["startup entered", "startup done", "request entered"]
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_startup_hook_stops_the_plugins_and_serves_nothing() {
    let log: Log = Arc::default();
    let host = host(&log, true);
    let server = Server::new(host.clone(), Router::new()).on_startup::<Startup>(());
    let app = spawn(server).await;
    let error = app.task.await.unwrap().unwrap_err();
    assert!(matches!(
        error,
        ServeError::StartupHook {
            hook: "Startup",
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "start-up hook `Startup` failed in plugin `store` (returned an error: the cache is unreachable); the server was not started and the plugins were stopped: fix or disable the plugin"
    );
    assert!(host.plugins().is_empty());
    assert_eq!(log.lock().unwrap().last().unwrap(), "stop store");
}

#[tokio::test]
async fn plugins_that_cannot_start_are_an_error() {
    let log: Log = Arc::default();
    let host = PluginHost::new();
    host.add(Logged {
        name: "api",
        requires: Some("store"),
        log,
        fail_startup: false,
    })
    .unwrap();
    let app = spawn(Server::new(host, Router::new())).await;
    let error = app.task.await.unwrap().unwrap_err();
    assert!(matches!(error, ServeError::Start(_)), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("the plugins could not be started, so the server was not started: "),
        "{error}"
    );
}

#[tokio::test]
async fn the_drain_timeout_stops_waiting_for_requests_that_do_not_finish() {
    let log: Log = Arc::default();
    let (entered_tx, mut entered) = mpsc::channel::<()>(1);
    let router = Router::new().route(
        "/hang",
        get(move || {
            let entered_tx = entered_tx.clone();
            async move {
                entered_tx.send(()).await.unwrap();
                std::future::pending::<&str>().await
            }
        }),
    );
    let server = Server::new(host(&log, false), router)
        .on_shutdown::<Shutdown>(())
        .drain_timeout(Duration::from_millis(50));
    let app = spawn(server).await;
    let request = tokio::spawn(client().get(app.url("/hang")).send());
    entered.recv().await.unwrap();
    let started = std::time::Instant::now();
    let stopped = app.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(stopped.plugins.len(), 2);
    assert_eq!(log.lock().unwrap().last().unwrap(), "stop store");
    assert!(
        !request.is_finished(),
        "the hanging request was left behind"
    );
    request.abort();
}

hookwire::hookspec! {
    #[fail_fast]
    pub struct StrictStartup(()) -> ();
}

#[tokio::test]
async fn a_fail_fast_startup_hook_reports_the_call_failure() {
    let host = PluginHost::new();
    host.hooks()
        .register("cache", |r| {
            r.sync_fn::<StrictStartup>(|_| Err("cold".into())).add()
        })
        .unwrap();
    let server = Server::new(host, Router::new()).on_startup::<StrictStartup>(());
    let error = spawn(server).await.task.await.unwrap().unwrap_err();
    let ServeError::StartupHook { hook, failures } = &error else {
        panic!("{error}");
    };
    assert_eq!(*hook, "StrictStartup");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, "");
    let text = error.to_string();
    assert!(
        text.starts_with("start-up hook `StrictStartup` failed in the call itself ("),
        "{text}"
    );
    assert!(text.contains("cache") && text.contains("cold"), "{text}");
}
