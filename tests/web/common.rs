//! Specs, a server on 127.0.0.1:0 and a client for the web tests.

use axum::Router;
use hookwire::plugin::StopReport;
use hookwire::web::{
    Decision, HeaderEdits, RequestView, ResponseView, ServeError, Server, ShutdownTrigger,
};
use hookwire::PluginHost;
use tokio::task::JoinHandle;

hookwire::hookspec! {
    #[firstresult]
    pub struct Before(RequestView) -> Decision;
    pub struct After(ResponseView) -> HeaderEdits;
    pub struct Startup(()) -> ();
    pub struct Shutdown(()) -> ();
}

/// A server running in a task of the test's runtime.
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub trigger: ShutdownTrigger,
    pub task: JoinHandle<Result<StopReport, ServeError>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Triggers the shutdown and waits for the run's result.
    pub async fn stop(self) -> Result<StopReport, ServeError> {
        self.trigger.shutdown();
        self.task.await.expect("the server task does not panic")
    }
}

/// Serves `router` for `host` on a free port, without signal handling.
pub async fn serve(host: PluginHost, router: Router) -> Running {
    spawn(Server::new(host, router)).await
}

/// Runs `server` (signals off) on a free port.
pub async fn spawn(server: Server) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = server.signals(false);
    let trigger = server.shutdown_trigger();
    let task = tokio::spawn(server.run(listener));
    Running {
        base,
        trigger,
        task,
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}
