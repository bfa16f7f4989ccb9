//! A `Server` with two plugins (`accounts` requires `store`) and a shutdown hook, stopped by a
//! real signal sent to this process with `kill`. Shared by `web_signal` (SIGTERM) and
//! `web_signal_int` (SIGINT, i.e. Ctrl-C), each alone in its binary since the signal handler
//! the server installs is process-wide (`#[path = "common/web_signal.rs"] mod web_signal;`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use hookwire::web::Server;
use hookwire::{async_trait, BoxError, Plugin, PluginContext, PluginHost, PluginMeta};
use hookwire::{RegisterError, Registrar};
use tokio::sync::{mpsc, oneshot};

hookwire::hookspec! {
    pub struct Shutdown(()) -> ();
}

type Log = Arc<Mutex<Vec<String>>>;

fn note(log: &Log, line: impl Into<String>) {
    log.lock().unwrap().push(line.into());
}

/// Logs its shutdown hook and its stop.
struct Logged {
    name: &'static str,
    requires: Option<&'static str>,
    log: Log,
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

/// Serves, sends `signal` (`"TERM"` or `"INT"`) to this process while a request is in
/// flight, and checks the graceful shutdown: the request finishes, then the shutdown hook
/// runs, then `accounts` stops before `store`, which it depends on (by name alone `accounts`
/// would start first and stop last).
pub async fn stops_gracefully_on(signal: &str) {
    let log: Log = Arc::default();
    let host = PluginHost::new();
    // Added dependent first: only the dependency puts `store` first.
    host.add(Logged {
        name: "accounts",
        requires: Some("store"),
        log: log.clone(),
    })
    .unwrap();
    host.add(Logged {
        name: "store",
        requires: None,
        log: log.clone(),
    })
    .unwrap();

    let (entered_tx, mut entered) = mpsc::channel::<()>(1);
    let (release, released) = oneshot::channel::<()>();
    let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
    let handler_log = log.clone();
    let router = Router::new().route("/", get(|| async { "up" })).route(
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = Server::new(host.clone(), router).on_shutdown::<Shutdown>(());
    let trigger = server.shutdown_trigger();
    let task = tokio::spawn(server.run(listener));
    let http = reqwest::Client::new();
    // Once a request was served, the server listens for signals.
    let up = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(up.text().await.unwrap(), "up");

    let slow = tokio::spawn(http.get(format!("{base}/slow")).send());
    entered.recv().await.unwrap();
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    // The signal reaches the server (through its trigger) while the request is held.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !trigger.is_triggered() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("SIG{signal} reaches the server's shutdown trigger"));
    // It waits for the request: nothing of the shutdown has run yet.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!task.is_finished());
    assert_eq!(*log.lock().unwrap(), ["request entered"]);

    release.send(()).unwrap();
    let res = slow.await.unwrap().unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "finished");
    let stopped = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap_or_else(|_| panic!("the server stops after SIG{signal}"))
        .unwrap()
        .unwrap();
    assert!(stopped.is_clean(), "{stopped}");
    let names: Vec<_> = stopped.plugins.iter().map(|p| p.plugin.as_str()).collect();
    assert_eq!(names, ["accounts", "store"]);
    // The shutdown hook's impls run LIFO (`store` registered last).
    assert_eq!(
        *log.lock().unwrap(),
        [
            "request entered",
            "request done",
            "shutdown hook store",
            "shutdown hook accounts",
            "stop accounts",
            "stop store",
        ]
    );
    assert!(host.plugins().is_empty());
}
