//! A host with five plugins: dependencies (one optional present, one optional missing), a
//! config file (`examples/examples/config/hookwire.toml`), one plugin disabled by environment, typed
//! services, a background task, lifecycle events, a few hook calls and a graceful shutdown on
//! Ctrl-C (or after a moment, so the example ends by itself).
//!
//! Run: `cargo run -p hookwire-examples --example plugins_app --features plugins_app`

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hookspecs::{
    AfterRequest, AppInfo, AuthRequest, Authenticate, BeforeRequest, Exchange, OnStartup,
    Principal, Request, Response,
};
use hookwire::{
    async_trait,
    config::HostConfig,
    plugin::{PluginEvent, PluginState},
    BoxError, HookManager, HookReturn, Plugin, PluginContext, PluginHost, PluginMeta,
    RegisterError, Registrar,
};

/// Service provided by `storage` to the plugins that depend on it.
struct UserStore(BTreeMap<String, String>);

/// Service provided by `metrics`.
#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    flushed: AtomicU64,
}

// Storage and metrics are written by hand (`impl Plugin`); the other plugins use
// `#[hookwire::plugin]`, which generates the same thing.

// ---- storage: provides the user store, configured from the file ----------------------------
#[derive(serde::Deserialize)]
struct StorageConfig {
    users: BTreeMap<String, String>,
}

struct Storage;
#[async_trait]
impl Plugin for Storage {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("storage", "1.2.0")
            .capability("storage")
            .description("In-memory users")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let config: StorageConfig = ctx.config()?;
        ctx.provide(UserStore(config.users))?;
        Ok(())
    }
}

// ---- metrics: counts requests, flushes them from a tracked background task -----------------
#[derive(serde::Deserialize)]
struct MetricsConfig {
    flush_ms: u64,
}

#[derive(Default)]
struct Metrics {
    counters: Arc<Counters>,
}
#[async_trait]
impl Plugin for Metrics {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("metrics", "0.3.0").capability("metrics")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let counters = self.counters.clone();
        r.sync_fn::<AfterRequest>(move |_| {
            counters.requests.fetch_add(1, Ordering::Relaxed);
            Ok(Some(()))
        })
        .add()
    }
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        ctx.provide_arc(self.counters.clone())?;
        Ok(())
    }
    async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let config: MetricsConfig = ctx.config()?;
        let (token, counters) = (ctx.cancellation().clone(), self.counters.clone());
        ctx.spawn("flush", async move {
            let mut tick = tokio::time::interval(Duration::from_millis(config.flush_ms));
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => { counters.flushed.store(counters.requests.load(Ordering::Relaxed), Ordering::Relaxed); }
                }
            }
        })?;
        Ok(())
    }
}

// ---- token-auth: needs storage, uses metrics when present ----------------------------------
#[derive(Default)]
struct TokenAuth {
    users: OnceLock<Arc<UserStore>>,
    counters: OnceLock<Arc<Counters>>,
}
#[hookwire::plugin(
    name = "token-auth",
    version = "1.0.0",
    capabilities = ["auth"],
    requires = ["storage ^1.2"],
    optional = ["metrics >=0.3"],
    host_api = "^1"
)]
impl TokenAuth {
    #[hookimpl]
    fn authenticate(&self, req: &AuthRequest) -> HookReturn<Principal> {
        let Some(users) = self.users.get() else {
            return Ok(None);
        };
        Ok(users.0.get(&req.token).map(|user| Principal {
            user: user.clone(),
            roles: vec!["customer".into()],
        }))
    }

    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let _ = self.users.set(ctx.require::<UserStore>()?);
        if let Some(c) = ctx.get::<Counters>() {
            let _ = self.counters.set(c);
        }
        Ok(())
    }
}

// ---- rate-limit: answers 429 once a client is over the limit; optional `redis` is absent -----
#[derive(serde::Deserialize)]
struct RateConfig {
    max_requests: u64,
}

#[derive(Default)]
struct RateLimit {
    max: AtomicU64,
    seen: AtomicU64,
}

#[hookwire::plugin(name = "rate-limit", version = "1.0.0", optional = ["redis ^7"])]
impl RateLimit {
    #[hookimpl]
    fn before_request(&self, _: &Request) -> HookReturn<Response> {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        Ok((n > self.max.load(Ordering::Relaxed)).then(|| Response {
            status: 429,
            body: "slow down".into(),
        }))
    }

    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let config: RateConfig = ctx.config()?;
        self.max.store(config.max_requests, Ordering::Relaxed);
        Ok(())
    }
}

// ---- legacy-audit: disabled by the environment ---------------------------------------------
struct LegacyAudit;

#[hookwire::plugin(name = "legacy-audit", version = "0.9.0")]
impl LegacyAudit {
    #[hookimpl]
    fn on_startup(&self, _: &AppInfo) -> HookReturn<String> {
        Ok(Some("legacy audit on".into()))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/config/hookwire.toml");
    let mut config = HostConfig::load(path)?.with_process_env()?;
    println!("config file:      examples/examples/config/hookwire.toml");
    match std::env::var("HOOKWIRE_PLUGINS_DISABLE") {
        Ok(value) => {
            println!("environment:      HOOKWIRE_PLUGINS_DISABLE={value} (from your shell)")
        }
        Err(_) => {
            // What an operator would do in the shell: HOOKWIRE_PLUGINS_DISABLE=legacy-audit.
            config = config.with_env([("HOOKWIRE_PLUGINS_DISABLE", "legacy-audit")])?;
            println!(
                "environment:      HOOKWIRE_PLUGINS_DISABLE is not set in your shell, so this"
            );
            println!("                  example sets HOOKWIRE_PLUGINS_DISABLE=legacy-audit itself");
            println!("                  (as an operator would, to switch a plugin off)");
        }
    }
    let hooks = HookManager::builder()
        .spec::<OnStartup>()
        .spec::<Authenticate>()
        .spec::<BeforeRequest>()
        .spec::<AfterRequest>()
        .build();
    let pm = PluginHost::builder()
        .hooks(hooks)
        .config(config)
        .host_api(semver::Version::new(1, 4, 0))
        .step_timeout(Duration::from_secs(5))
        .build();
    let mut events = pm.events();

    pm.add(TokenAuth::default())?;
    pm.add(RateLimit::default())?;
    pm.add(Metrics::default())?;
    pm.add(LegacyAudit)?;
    pm.add(Storage)?;

    // Dependencies first; what each plugin became, as an operator would log it.
    let report = pm.start().await?;
    println!("start report:");
    println!("  {}", report.to_string().replace('\n', "\n  "));

    // A few calls.
    let app = AppInfo {
        name: "demo-shop".into(),
        version: "1.0.0".into(),
    };
    let greetings = pm.hook::<OnStartup>().call(&app).await?;
    println!(
        "on_startup:       {} answers (its only impl is legacy-audit's, and that plugin is disabled)",
        greetings.values().count()
    );
    for token in ["t-alice", "t-nobody"] {
        let who = pm
            .hook::<Authenticate>()
            .call(&AuthRequest {
                token: token.into(),
            })
            .await?;
        let who = who.into_value().map(|p| p.user);
        println!(
            "authenticate:     {token} -> {}",
            who.as_deref().unwrap_or("(nobody)")
        );
    }
    println!("before_request:   rate-limit answers 429 once over max_requests = 3 (config file)");
    for i in 1..=5 {
        let req = Request {
            method: "GET".into(),
            path: format!("/items/{i}"),
            ..Request::default()
        };
        let answer = pm.hook::<BeforeRequest>().call(&req).await?;
        let response = match answer.answers().next() {
            Some((plugin, r)) => format!("{} from {plugin}", r.status),
            None => "no plugin answered: the app handles it".to_owned(),
        };
        println!("before_request:   {} -> {response}", req.path);
        let exchange = Exchange {
            request: req,
            response: Response {
                status: 200,
                body: String::new(),
            },
        };
        pm.hook::<AfterRequest>().call(&exchange).await?;
    }
    for p in pm.plugins().iter() {
        let version = p
            .meta
            .version
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let state = match &p.disabled {
            Some(by) => format!("disabled by {by}"),
            None => p.state.to_string(),
        };
        let capabilities = if p.meta.capabilities.is_empty() {
            "no capabilities".to_owned()
        } else {
            format!("capabilities: {}", p.meta.capabilities.join(", "))
        };
        println!(
            "plugin:           {:<12} {version:<7} {state}, {capabilities}",
            p.name(),
        );
    }

    println!("running: press Ctrl-C to stop (stopping by itself in 1 s)");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("Ctrl-C: shutting down"),
        _ = tokio::time::sleep(Duration::from_secs(1)) => println!("shutting down"),
    }
    // Dependents before their dependencies; each plugin gets up to 2 s.
    let stopped = pm.shutdown(Duration::from_secs(2)).await;
    println!("stop report:");
    println!("  {}", stopped.to_string().replace('\n', "\n  "));

    // The last state change each plugin went through, from the lifecycle events.
    let mut last: BTreeMap<String, PluginState> = BTreeMap::new();
    while let Ok(e) = events.try_recv() {
        if let PluginEvent::StateChanged { plugin, to, .. } = e {
            last.insert(plugin, to);
        }
    }
    for (plugin, state) in &last {
        println!("final state:      {plugin:<12} {state}");
    }
    // Disabled plugins never change state: they are listed, and register nothing.
    for (plugin, by) in &report.disabled {
        println!("final state:      {plugin:<12} disabled by {by} (never registered)");
    }
    Ok(())
}
