//! [`Server`]: an axum app's life around a [`PluginHost`] — plugins started and the host's
//! start-up hooks called before the first request; on SIGTERM, Ctrl-C or a
//! [`ShutdownTrigger`], in-flight requests finish, the shutdown hooks run and the plugins stop
//! in reverse dependency order ([`PluginHost::shutdown`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::plugin::{PluginError, StopReport};
use crate::spec::HookSpec;
use crate::PluginHost;

/// A hook call made at start-up or shutdown: its failures as `(plugin, message)`.
type Step = Box<dyn FnOnce(PluginHost) -> StepFuture + Send>;
type StepFuture = Pin<Box<dyn Future<Output = (&'static str, Vec<(String, String)>)> + Send>>;

/// A problem bringing the app up or serving it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The plugins could not be started ([`PluginHost::start`]); nothing was served.
    #[error("the plugins could not be started, so the server was not started: {0}")]
    Start(#[source] PluginError),
    /// An impl of a start-up hook failed; nothing was served and the plugins were stopped.
    #[error("start-up hook `{hook}` failed in {}; the server was not started and the plugins were stopped: fix or disable the plugin", list(.failures))]
    StartupHook {
        /// The hook's name.
        hook: &'static str,
        /// Each failing impl: `(plugin, failure)`; the plugin is empty when the call
        /// itself failed (a fail-fast spec).
        failures: Vec<(String, String)>,
    },
    /// Reading the listener's address or accepting connections failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

fn list(failures: &[(String, String)]) -> String {
    let parts: Vec<String> = failures
        .iter()
        .map(|(plugin, failure)| match plugin.as_str() {
            "" => format!("the call itself ({failure})"),
            plugin => format!("plugin `{plugin}` ({failure})"),
        })
        .collect();
    parts.join(", ")
}

/// Ends a [`Server`]'s run from code, as SIGTERM or Ctrl-C would: no new connections, the
/// requests in flight finish, then the shutdown hooks and plugin stops. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ShutdownTrigger(CancellationToken);

impl ShutdownTrigger {
    /// Starts the graceful shutdown (again: nothing more).
    pub fn shutdown(&self) {
        self.0.cancel();
    }

    /// Whether the shutdown started (by this trigger or a signal).
    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// Serves an axum [`Router`] for a [`PluginHost`]: plugins started and start-up hooks called
/// before the first request; on SIGTERM, Ctrl-C or a [`ShutdownTrigger`], the requests in
/// flight finish, the shutdown hooks run and the plugins stop in reverse dependency order
/// (see [`run`](Self::run)).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{routing::get, Router};
/// use hookwire::web::Server;
/// use hookwire::PluginHost;
///
/// hookwire::hookspec! {
///     pub struct OnStartup(()) -> ();
///     pub struct OnShutdown(()) -> ();
/// }
///
/// let host = PluginHost::new();
/// // host.add(..) the plugins
/// let app = Router::new().route("/", get(|| async { "hello" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// let stopped = Server::new(host, app)
///     .on_startup::<OnStartup>(())
///     .on_shutdown::<OnShutdown>(())
///     .run(listener) // until SIGTERM or Ctrl-C
///     .await?;
/// assert!(stopped.is_clean());
/// # Ok(()) }
/// ```
pub struct Server {
    host: PluginHost,
    router: Router,
    startup: Vec<Step>,
    shutdown: Vec<Step>,
    grace: Duration,
    drain: Option<Duration>,
    signals: bool,
    trigger: ShutdownTrigger,
    routes: Option<super::PluginRouter>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("startup_hooks", &self.startup.len())
            .field("shutdown_hooks", &self.shutdown.len())
            .field("grace", &self.grace)
            .field("drain", &self.drain)
            .field("signals", &self.signals)
            .field("plugin_routes", &self.routes.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Serves `router` (with its state applied) for `host`. Defaults: SIGTERM and Ctrl-C
    /// shut down, in-flight requests are waited for without a limit, each plugin gets 10 s
    /// to stop.
    pub fn new(host: PluginHost, router: Router) -> Self {
        Server {
            host,
            router,
            startup: Vec::new(),
            shutdown: Vec::new(),
            grace: Duration::from_secs(10),
            drain: None,
            signals: true,
            trigger: ShutdownTrigger::default(),
            routes: None,
        }
    }

    /// Keeps `routes` (whose [`router`](super::PluginRouter::router) the app merged) up to
    /// date: [`run`](Self::run) rebuilds it once the plugins started and the start-up hooks
    /// ran, before the first request (so the plugins' routes are there from the start; a
    /// refused rebuild is logged at `warn` and the app is served without them), then follows
    /// the host's events ([`PluginRouter::follow`](super::PluginRouter::follow)) until the
    /// server stops.
    pub fn plugin_routes(mut self, routes: super::PluginRouter) -> Self {
        self.routes = Some(routes);
        self
    }

    /// Calls hook `S` with `args` after the plugins started and before the first request
    /// (in the order these calls were made). An impl that fails (error, panic, timeout)
    /// stops the start: [`run`](Self::run) stops the plugins and returns
    /// [`ServeError::StartupHook`].
    pub fn on_startup<S: HookSpec>(mut self, args: S::Args) -> Self {
        self.startup.push(step::<S>(args));
        self
    }

    /// Calls hook `S` with `args` once the requests in flight finished, before the plugins
    /// stop. A failing impl is logged (`warn`); the shutdown goes on.
    pub fn on_shutdown<S: HookSpec>(mut self, args: S::Args) -> Self {
        self.shutdown.push(step::<S>(args));
        self
    }

    /// The time each plugin gets to stop (see [`PluginHost::shutdown`]); default 10 s.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long [`run`](Self::run) waits for the requests in flight once the shutdown
    /// started; then it goes on with the shutdown hooks and plugin stops without them (their
    /// connections' tasks end when the runtime shuts down). Default: no limit.
    pub fn drain_timeout(mut self, limit: Duration) -> Self {
        self.drain = Some(limit);
        self
    }

    /// Whether SIGTERM (Unix) and Ctrl-C start the shutdown; default `true`. Off, only a
    /// [`ShutdownTrigger`] does (tests, or a host with its own signal handling).
    pub fn signals(mut self, on: bool) -> Self {
        self.signals = on;
        self
    }

    /// A handle that starts the shutdown from code.
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        self.trigger.clone()
    }

    /// Starts the plugins ([`PluginHost::start`]: each one that fails is logged at `error`,
    /// with its reason, and the app is served without it: a
    /// [`RequestHooksLayer`](super::RequestHooksLayer) answers 503, fail-closed, when no impl
    /// of its before hook is left or when the plugin is
    /// [required](super::RequestHooksLayer::require_plugin), and `GET /health` says
    /// `unhealthy`), calls the start-up hooks, serves on
    /// `listener` until a signal or the [`ShutdownTrigger`], waits for the requests in flight
    /// (up to the [`drain_timeout`](Self::drain_timeout)), calls the shutdown hooks and stops
    /// the plugins, in reverse dependency order. Returns how each plugin stopped.
    ///
    /// The connections get axum's [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo),
    /// so [`RequestView::remote_addr`](super::RequestView::remote_addr) is known.
    ///
    /// # Errors
    /// [`ServeError::Start`] if the plugins could not be started; [`ServeError::StartupHook`]
    /// if a start-up hook impl failed (the plugins are stopped); [`ServeError::Io`] if the
    /// listener's address cannot be read.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future while serving closes every connection and leaves
    /// the plugins running; call [`PluginHost::shutdown`] to stop them.
    pub async fn run(self, listener: TcpListener) -> Result<StopReport, ServeError> {
        let Server {
            host,
            router,
            startup,
            shutdown,
            grace,
            drain,
            signals,
            trigger,
            routes,
        } = self;
        let report = host.start().await.map_err(ServeError::Start)?;
        for (plugin, reason) in &report.failed {
            tracing::error!(plugin = %plugin, reason = %reason, "plugin failed to start: serving without it (its impls are not registered: a `RequestHooksLayer` whose before hook it implemented answers 503 while no impl is left or while it is required; GET /health says `unhealthy`)");
        }
        for call in startup {
            let (hook, failures) = call(host.clone()).await;
            if !failures.is_empty() {
                let stopped = host.shutdown(grace).await;
                tracing::info!(%stopped, "plugins stopped after a failed start-up hook");
                return Err(ServeError::StartupHook { hook, failures });
            }
        }
        // Aborted when `run` ends, however it ends.
        let _follow = match routes {
            Some(routes) => {
                if let Err(e) = routes.rebuild().await {
                    tracing::warn!(error = %e, "the plugins' routes were refused; serving without them");
                }
                Some(AbortOnDrop(tokio::spawn(routes.follow())))
            }
            None => None,
        };
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "serving");
        let token = trigger.0.clone();
        let serving = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(wait_for_shutdown(token.clone(), signals));
        let drained = async {
            token.cancelled().await;
            match drain {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            served = serving => served?,
            () = drained => tracing::warn!(?drain, "requests still in flight after the drain timeout; shutting down without waiting for them"),
        }
        tracing::info!(%addr, "stopped serving; running the shutdown hooks");
        for call in shutdown {
            let (hook, failures) = call(host.clone()).await;
            for (plugin, failure) in failures {
                tracing::warn!(hook, plugin, failure, "shutdown hook impl failed");
            }
        }
        let stopped = host.shutdown(grace).await;
        tracing::info!(%stopped, "plugins stopped");
        Ok(stopped)
    }
}

/// A call of `S` with `args`, reporting its failures.
fn step<S: HookSpec>(args: S::Args) -> Step {
    Box::new(move |host: PluginHost| {
        Box::pin(async move {
            let failures = match host.hook::<S>().call(&args).await {
                Ok(outcome) => outcome
                    .errors()
                    .map(|(plugin, failure)| (plugin.to_owned(), failure.to_string()))
                    .collect(),
                // A fail-fast spec's first failure (its message names the plugin), or a
                // spec the manager refused.
                Err(error) => vec![(String::new(), error.to_string())],
            };
            (S::NAME, failures)
        })
    })
}

/// Completes when `token` is cancelled or, with `signals`, at SIGTERM or Ctrl-C (which then
/// cancel `token`).
async fn wait_for_shutdown(token: CancellationToken, signals: bool) {
    if signals {
        tokio::select! {
            () = token.cancelled() => {}
            () = os_signal() => tracing::info!("shutdown signal received"),
        }
        token.cancel();
    } else {
        token.cancelled().await;
    }
}

/// SIGTERM (Unix) or Ctrl-C; never, if neither can be listened to (logged).
async fn os_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
