//! Reloads under load: random replacements, stops and restarts of plugins in a dependency
//! chain (with a lazy dependent) while tasks on other threads call their hooks. Every call
//! sees one version of each plugin, each plugin's events form one unbroken chain of state
//! changes, nothing logs a bug, and the host shuts down cleanly at the end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hookwire::plugin::{PluginEvent, PluginState};
use hookwire::{
    async_trait, BoxError, FutureExt, Plugin, PluginContext, PluginHost, PluginMeta, RegisterError,
    Registrar,
};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

hookwire::hookspec! {
    /// Every impl answers `<plugin>@<tag>`.
    pub struct Tags(()) -> String;
}

/// `tracing` errors (illegal state changes, failed re-orderings) in this test binary.
static ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Msg(String);
impl tracing::field::Visit for Msg {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", f.name(), v));
    }
}
struct ErrorLayer;
impl<S: tracing::Subscriber> Layer<S> for ErrorLayer {
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        if *e.metadata().level() == tracing::Level::ERROR {
            let mut m = Msg(String::new());
            e.record(&mut m);
            ERRORS.lock().unwrap().push(m.0);
        }
    }
}
fn install_tracing() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(ErrorLayer),
        );
    });
}

/// A plugin with two impls of `Tags` (one async, one sync) answering the same tag.
struct Node {
    name: &'static str,
    tag: usize,
    requires: Option<&'static str>,
    /// How many instances of any node are initialised and not stopped yet.
    alive: Arc<AtomicUsize>,
}

#[async_trait]
impl Plugin for Node {
    fn meta(&self) -> PluginMeta {
        let m = PluginMeta::new(self.name, "1.0.0");
        match self.requires {
            Some(dep) => m.requires(dep, "^1"),
            None => m,
        }
    }

    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let me = format!("{}@{}", self.name, self.tag);
        let again = me.clone();
        r.hook_fn::<Tags>(move |_| {
            let me = me.clone();
            async move {
                tokio::task::yield_now().await;
                Ok(Some(me))
            }
            .boxed()
        })
        .add()?;
        r.sync_fn::<Tags>(move |_| Ok(Some(again.clone()))).add()
    }

    async fn init(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.alive.fetch_add(1, SeqCst);
        tokio::task::yield_now().await;
        Ok(())
    }

    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        tokio::task::yield_now().await;
        self.alive.fetch_sub(1, SeqCst);
        Ok(())
    }
}

/// A small deterministic generator (xorshift), seeded per round.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const GRACE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_concurrent_calls_keep_every_call_and_event_stream_consistent() {
    install_tracing();
    for seed in 1..=4u64 {
        round(seed).await;
    }
    let errors = ERRORS.lock().unwrap().clone();
    assert!(errors.is_empty(), "tracing errors: {errors:?}");
}

async fn round(seed: u64) {
    let alive = Arc::new(AtomicUsize::new(0));
    let node = |name, tag, requires| Node {
        name,
        tag,
        requires,
        alive: alive.clone(),
    };
    // Room for every event of a round: none is lost to lagging.
    let pm = PluginHost::builder()
        .environment(false)
        .event_capacity(1 << 16)
        .build();
    let mut rx = pm.events();
    pm.add(node("db", 0, None)).unwrap();
    pm.add(node("auth", 0, Some("db"))).unwrap();
    pm.add(node("api", 0, Some("auth"))).unwrap();
    pm.add(node("cache", 0, None)).unwrap();
    pm.add_lazy(node("report", 0, Some("db"))).unwrap();
    let report = pm.start().await.unwrap();
    assert!(report.failed.is_empty(), "{report}");

    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for _ in 0..3 {
        let (pm, stop) = (pm.clone(), stop.clone());
        callers.push(tokio::spawn(async move {
            let mut bad = Vec::new();
            let mut calls = 0usize;
            while !stop.load(SeqCst) || calls == 0 {
                let out = pm.hook::<Tags>().call(&()).await.unwrap();
                // One version per plugin: the answers of each plugin share one tag.
                let mut per_plugin: HashMap<&str, Vec<&str>> = HashMap::new();
                for a in out.values() {
                    let (plugin, tag) = a.split_once('@').unwrap();
                    per_plugin.entry(plugin).or_default().push(tag);
                }
                for (plugin, tags) in &per_plugin {
                    // Both impls of an eager plugin answer; one of the lazy plugin's may
                    // fail instead (below).
                    let complete = tags.len() == 2 || (*plugin == "report" && tags.len() == 1);
                    if !complete || tags.iter().any(|t| *t != tags[0]) {
                        bad.push(format!("{plugin}: {tags:?}"));
                    }
                }
                // Only the lazy plugin fails, when a call waits at its start gate while it is
                // stopped (its gate closes): an error, not a stopping plugin.
                for (plugin, outcome) in out.iter() {
                    if let Some(f) = outcome.failure() {
                        if plugin != "report" {
                            bad.push(format!("{plugin} failed: {f}"));
                        }
                    }
                }
                calls += 1;
            }
            bad
        }));
    }

    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut next_tag = 1;
    for _ in 0..30 {
        match rng.below(5) {
            0 | 1 => {
                let name = ["db", "auth", "cache", "report"][rng.below(4) as usize];
                let requires = match name {
                    "auth" | "report" => Some("db"),
                    _ => None,
                };
                pm.replace(name, node(name, next_tag, requires), GRACE)
                    .await
                    .unwrap();
                next_tag += 1;
            }
            2 => {
                // A plugin without running dependents: down and up again.
                let name = ["api", "cache"][rng.below(2) as usize];
                pm.stop(name, GRACE).await.unwrap();
                pm.restart(name).await.unwrap();
            }
            3 => {
                // Refused: `db` is required.
                assert!(pm.stop("db", GRACE).await.is_err());
                assert!(pm.restart("db").await.is_err());
            }
            _ => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    stop.store(true, SeqCst);
    for c in callers {
        let bad = c.await.unwrap();
        assert!(bad.is_empty(), "seed {seed}: {bad:?}");
    }
    for p in ["db", "auth", "api", "cache"] {
        assert_eq!(pm.state(p), Some(PluginState::Started), "seed {seed}: {p}");
    }
    let stopped = pm.shutdown(GRACE).await;
    assert!(stopped.is_clean(), "seed {seed}: {stopped}");
    assert_eq!(
        alive.load(SeqCst),
        0,
        "seed {seed}: every instance initialised was stopped"
    );

    // Each plugin's state changes chain: every change starts where the one before ended.
    let mut at: HashMap<String, PluginState> = HashMap::new();
    while let Ok(e) = rx.try_recv() {
        if let PluginEvent::StateChanged {
            plugin, from, to, ..
        } = &e
        {
            let before = at.entry(plugin.clone()).or_insert(PluginState::Discovered);
            assert_eq!(before, from, "seed {seed}: {plugin}: {from} -> {to}");
            *before = to.clone();
        }
    }
}
