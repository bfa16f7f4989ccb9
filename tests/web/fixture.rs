//! Shared by the web tests: specs, a configurable plugin, a server on 127.0.0.1:0.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use hookwire::plugin::Health;
use hookwire::web::{PluginRouter, PluginRoutes};
use hookwire::{
    async_trait, BoxError, HookManager, Plugin, PluginContext, PluginHost, PluginMeta,
    RegisterError, Registrar,
};
use tokio::task::JoinHandle;

hookwire::hookspec! {
    /// Each plugin's routes, mounted under `/plugins/{name}`.
    pub struct Routes(()) -> PluginRoutes;
    /// A plain hook, to have statistics.
    pub struct Greet(String) -> String;
}

/// A `Greet` impl.
pub type GreetFn = fn(&str) -> Result<Option<String>, BoxError>;

/// A plugin with routes (or none), a `Greet` impl (or none) and a health answer.
pub struct TestPlugin {
    pub name: &'static str,
    pub version: &'static str,
    pub routes: Option<Arc<dyn Fn() -> Router + Send + Sync>>,
    pub greet: Option<(i32, GreetFn)>,
    pub health: Health,
    pub fail_start: bool,
    pub requires: Option<&'static str>,
}

impl TestPlugin {
    pub fn new(name: &'static str) -> Self {
        TestPlugin {
            name,
            version: "1.0.0",
            routes: None,
            greet: None,
            health: Health::Healthy,
            fail_start: false,
            requires: None,
        }
    }

    /// Serves `GET path` answering `body`.
    pub fn route(mut self, path: &'static str, body: &'static str) -> Self {
        self.routes = Some(Arc::new(move || {
            Router::new().route(path, get(move || async move { body }))
        }));
        self
    }

    pub fn router(mut self, make: impl Fn() -> Router + Send + Sync + 'static) -> Self {
        self.routes = Some(Arc::new(make));
        self
    }

    pub fn greet(mut self, priority: i32, f: GreetFn) -> Self {
        self.greet = Some((priority, f));
        self
    }

    pub fn health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }
}

#[async_trait]
impl Plugin for TestPlugin {
    fn meta(&self) -> PluginMeta {
        let meta = PluginMeta::new(self.name, self.version);
        match self.requires {
            Some(dep) => meta.requires(dep, "^1"),
            None => meta,
        }
    }

    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        if let Some(make) = self.routes.clone() {
            r.sync_fn::<Routes>(move |_| Ok(Some(PluginRoutes(make()))))
                .add()?;
        }
        if let Some((priority, f)) = self.greet {
            r.sync_fn::<Greet>(move |who| f(who))
                .priority(priority)
                .add()?;
        }
        Ok(())
    }

    async fn start(&self, _: &PluginContext) -> Result<(), BoxError> {
        if self.fail_start {
            return Err("the database is unreachable".into());
        }
        Ok(())
    }

    async fn health(&self) -> Health {
        self.health.clone()
    }
}

/// A started host (statistics on) with `plugins`.
pub async fn host_with(plugins: impl IntoIterator<Item = TestPlugin>) -> PluginHost {
    let hooks = HookManager::builder().stats(true).build();
    let host = PluginHost::builder().hooks(hooks).build();
    for p in plugins {
        host.add(p).unwrap();
    }
    host.start().await.unwrap();
    host
}

/// A server for `app` on 127.0.0.1:0: its base URL and task (aborted on drop).
pub struct Server {
    pub base: String,
    task: JoinHandle<()>,
}

impl Server {
    pub async fn start(app: Router) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).into_future().await.unwrap();
        });
        Server { base, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits (at most 5 s) for the plugin router's next swap.
pub async fn next_swap(changes: &mut tokio::sync::watch::Receiver<u64>) {
    tokio::time::timeout(Duration::from_secs(5), changes.changed())
        .await
        .expect("the plugin routes were not rebuilt within 5 s")
        .unwrap();
}

/// A plugin router over `Routes`, rebuilt once.
pub async fn plugin_router(host: &PluginHost) -> PluginRouter {
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    plugins.rebuild().await.unwrap();
    plugins
}

/// GET `url`: status and body.
pub async fn get_text(client: &reqwest::Client, url: &str) -> (u16, String) {
    let resp = client.get(url).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}
