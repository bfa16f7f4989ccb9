//! `remove` and `shutdown` while a lazy plugin is still starting: exactly one `stop`, the real
//! outcome in the report, and what a plugin still starting after the grace holds (token,
//! tracked tasks) released; `health` under the step time limit; tracing subscribers that read
//! the manager from their events.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hookwire::{
    async_trait, config::HostConfig, plugin::Health, plugin::StopOutcome, BoxError,
    CancellationToken, Plugin, PluginContext, PluginHost, PluginMeta, RegisterError, Registrar,
};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

hookwire::hookspec! {
    pub struct Name(()) -> String;
}

/// A lazy plugin whose `start` and `stop` take a while; `stop` may fail; counts its stops.
struct Slow {
    start: Duration,
    stop: Duration,
    stop_fails: bool,
    stops: Arc<AtomicUsize>,
}

#[async_trait]
impl Plugin for Slow {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("slow", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Name>(|_| Ok(Some("slow".into()))).add()
    }
    async fn start(&self, _: &PluginContext) -> Result<(), BoxError> {
        tokio::time::sleep(self.start).await;
        Ok(())
    }
    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.stops.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.stop).await;
        if self.stop_fails {
            return Err("flush failed".into());
        }
        Ok(())
    }
}

fn slow(start_ms: u64, stop_ms: u64, stop_fails: bool) -> (Slow, Arc<AtomicUsize>) {
    let stops = Arc::new(AtomicUsize::new(0));
    let plugin = Slow {
        start: Duration::from_millis(start_ms),
        stop: Duration::from_millis(stop_ms),
        stop_fails,
        stops: stops.clone(),
    };
    (plugin, stops)
}

/// Starts the lazy plugin with a call on another task, and lets that call begin.
async fn trigger(pm: &PluginHost) {
    tokio::spawn({
        let pm = pm.clone();
        async move {
            let _ = pm.hook::<Name>().call(&()).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(1)).await;
}

const GRACE: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn a_lazy_start_that_ends_within_the_grace_is_stopped_once_by_shutdown() {
    let (plugin, stops) = slow(500, 300, false);
    let pm = PluginHost::builder().environment(false).build();
    pm.add_lazy(plugin).unwrap();
    pm.start().await.unwrap();
    trigger(&pm).await;
    let report = pm.shutdown(GRACE).await;
    assert_eq!(report.plugins.len(), 1);
    assert_eq!(report.plugins[0].outcome, StopOutcome::Stopped);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        stops.load(Ordering::SeqCst),
        1,
        "stop must run exactly once"
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_for_a_start_and_the_stop_share_one_grace_and_stop_runs_once() {
    // The start takes half the grace, the stop would take 0.8 of it: `remove` gives up at
    // the grace, not later.
    let (plugin, stops) = slow(500, 800, false);
    let pm = PluginHost::builder().environment(false).build();
    pm.add_lazy(plugin).unwrap();
    pm.start().await.unwrap();
    trigger(&pm).await;
    let t0 = tokio::time::Instant::now();
    let stop = pm.remove("slow", GRACE).await.unwrap();
    assert!(t0.elapsed() <= GRACE, "took {:?}", t0.elapsed());
    assert_eq!(stop.outcome, StopOutcome::TimedOut { limit: GRACE });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        stops.load(Ordering::SeqCst),
        1,
        "stop must run exactly once"
    );
}

#[tokio::test(start_paused = true)]
async fn the_failed_stop_of_a_plugin_that_was_starting_is_reported() {
    let (plugin, stops) = slow(100, 0, true);
    let pm = PluginHost::builder().environment(false).build();
    pm.add_lazy(plugin).unwrap();
    pm.start().await.unwrap();
    trigger(&pm).await;
    let report = pm.shutdown(GRACE).await;
    assert_eq!(stops.load(Ordering::SeqCst), 1);
    assert_eq!(
        report.plugins[0].outcome,
        StopOutcome::Failed("stop failed: flush failed".into())
    );
    assert!(!report.is_clean());
}

/// A lazy plugin: `init` spawns a tracked ticker; `start` takes 10 s.
struct Ticker {
    token: Arc<Mutex<Option<CancellationToken>>>,
    ticks: Arc<AtomicUsize>,
}

#[async_trait]
impl Plugin for Ticker {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("ticker", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Name>(|_| Ok(Some("ticker".into()))).add()
    }
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        *self.token.lock().unwrap() = Some(ctx.cancellation().clone());
        let ticks = self.ticks.clone();
        ctx.spawn("tick", async move {
            loop {
                ticks.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })?;
        Ok(())
    }
    async fn start(&self, _: &PluginContext) -> Result<(), BoxError> {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_plugin_still_starting_after_the_grace_has_its_token_cancelled_and_tasks_aborted() {
    let token = Arc::new(Mutex::new(None));
    let ticks = Arc::new(AtomicUsize::new(0));
    let pm = PluginHost::builder().environment(false).build();
    pm.add_lazy(Ticker {
        token: token.clone(),
        ticks: ticks.clone(),
    })
    .unwrap();
    pm.start().await.unwrap();
    trigger(&pm).await;
    let report = pm.shutdown(GRACE).await;
    let stop = &report.plugins[0];
    assert!(
        matches!(stop.outcome, StopOutcome::NotStarted(_)),
        "{stop:?}"
    );
    assert_eq!(stop.aborted_tasks, ["tick"]);
    assert!(!report.is_clean());
    assert!(token.lock().unwrap().as_ref().unwrap().is_cancelled());
    let before = ticks.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ticks.load(Ordering::SeqCst), before, "the task was aborted");
    assert!(pm.plugins().is_empty());
}

/// A lazy plugin that first asks for its cancellation token at the end of a 10 s `start`.
struct LateAsker {
    cancelled_when_asked: Arc<Mutex<Option<bool>>>,
}

#[async_trait]
impl Plugin for LateAsker {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("late-asker", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Name>(|_| Ok(Some("late-asker".into()))).add()
    }
    async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        tokio::time::sleep(Duration::from_secs(10)).await;
        *self.cancelled_when_asked.lock().unwrap() = Some(ctx.cancellation().is_cancelled());
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_token_first_asked_for_after_the_manager_gave_up_on_the_plugin_is_cancelled() {
    // The token is only created when a plugin asks for it: one created after the plugin was
    // cancelled must start cancelled.
    let asked = Arc::new(Mutex::new(None));
    let pm = PluginHost::builder().environment(false).build();
    pm.add_lazy(LateAsker {
        cancelled_when_asked: asked.clone(),
    })
    .unwrap();
    pm.start().await.unwrap();
    trigger(&pm).await;
    let report = pm.shutdown(GRACE).await;
    assert!(
        matches!(report.plugins[0].outcome, StopOutcome::NotStarted(_)),
        "{report:?}"
    );
    assert_eq!(*asked.lock().unwrap(), None, "still starting");
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(*asked.lock().unwrap(), Some(true));
}

/// An eager plugin whose health check never answers.
struct Hung;

#[async_trait]
impl Plugin for Hung {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("hung", "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn health(&self) -> Health {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_health_check_runs_under_the_step_time_limit() {
    let pm = PluginHost::builder()
        .environment(false)
        .step_timeout(Duration::from_secs(1))
        .build();
    pm.add(Hung).unwrap();
    pm.start().await.unwrap();
    let health = tokio::time::timeout(Duration::from_secs(3600), pm.health())
        .await
        .expect("pm.health() returns");
    assert_eq!(
        health,
        [(
            "hung".to_owned(),
            Health::Unhealthy("health check timed out after 1s".into())
        )]
    );
}

/// A layer that looks at the plugin manager on every event (to add plugin states, say).
struct Inspect(Arc<OnceLock<PluginHost>>);

impl<S: tracing::Subscriber> Layer<S> for Inspect {
    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        if let Some(pm) = self.0.get() {
            let _ = pm.plugins().len();
        }
    }
}

struct Quiet(&'static str);

impl Plugin for Quiet {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new(self.0, "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
}

/// Runs `f` on its own thread; `false` if it has not finished after 5 s (a deadlock).
fn finishes(f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(5)).is_ok()
}

#[test]
fn a_subscriber_may_read_the_manager_from_the_events_of_add_and_start() {
    let done = finishes(|| {
        let seen = Arc::new(OnceLock::new());
        let subscriber = tracing_subscriber::registry().with(Inspect(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let mut config = HostConfig::parse("[plugins.typo]\nx = 1\n", "h.toml").unwrap();
            config.disable("off");
            let pm = PluginHost::builder()
                .environment(false)
                .config(config)
                .build();
            let _ = seen.set(pm.clone());
            pm.add(Quiet("off")).unwrap();
            pm.add(Quiet("on")).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let report = rt.block_on(pm.start()).unwrap();
            assert_eq!(report.unknown_config_sections, ["typo"]);
        });
    });
    assert!(
        done,
        "add or start deadlocked: an event was emitted under the registry lock"
    );
}

hookwire::hookspec! {
    pub struct Ping(()) -> String;
    pub struct Pong(()) -> String;
}

#[derive(Default)]
struct Counts {
    starts: AtomicUsize,
    stops: AtomicUsize,
    /// Calls of the impl that began after `stop` had begun.
    after_stop: AtomicUsize,
}

/// A plugin implementing `Ping` (`Pong` if named `z`) with timed `start`/`stop`.
struct Timed {
    name: &'static str,
    deps: Vec<&'static str>,
    fail_init: bool,
    start: Duration,
    stop: Duration,
    counts: Arc<Counts>,
}

#[async_trait]
impl Plugin for Timed {
    fn meta(&self) -> PluginMeta {
        self.deps
            .iter()
            .fold(PluginMeta::new(self.name, "1.0.0"), |m, d| {
                m.requires(*d, "^1")
            })
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let n = self.name;
        if n == "z" {
            return r.sync_fn::<Pong>(move |_| Ok(Some(n.into()))).add();
        }
        let counts = self.counts.clone();
        r.sync_fn::<Ping>(move |_| {
            if counts.stops.load(Ordering::SeqCst) > 0 {
                counts.after_stop.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Some(n.into()))
        })
        .add()
    }
    async fn init(&self, _: &PluginContext) -> Result<(), BoxError> {
        if self.fail_init {
            return Err("boom".into());
        }
        Ok(())
    }
    async fn start(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.counts.starts.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.start).await;
        Ok(())
    }
    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.counts.stops.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.stop).await;
        Ok(())
    }
}

fn timed(
    name: &'static str,
    deps: &[&'static str],
    start_ms: u64,
    stop_ms: u64,
) -> (Timed, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let plugin = Timed {
        name,
        deps: deps.to_vec(),
        fail_init: false,
        start: Duration::from_millis(start_ms),
        stop: Duration::from_millis(stop_ms),
        counts: counts.clone(),
    };
    (plugin, counts)
}

/// Collects the messages of ERROR events (such as "bug: illegal plugin state change").
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Errors {
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        if *e.metadata().level() == tracing::Level::ERROR {
            self.0.lock().unwrap().push(format!("{e:?}"));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_plugin_given_up_on_while_starting_is_stopped_once_by_itself_only() {
    let errors = Errors::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    let pm = PluginHost::builder().environment(false).build();
    // `a`'s start outlives the grace, ends while `shutdown` still waits for slower `z`, and
    // `a` then stops itself; `shutdown` must not stop it a second time.
    let (a, counts) = timed("a", &[], 30, 100);
    let (z, _) = timed("z", &[], 1000, 0);
    pm.add_lazy(a).unwrap();
    pm.add_lazy(z).unwrap();
    pm.start().await.unwrap();
    for call in [0, 1] {
        let pm = pm.clone();
        tokio::spawn(async move {
            if call == 0 {
                let _ = pm.hook::<Ping>().call(&()).await;
            } else {
                let _ = pm.hook::<Pong>().call(&()).await;
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    let report = pm.shutdown(Duration::from_millis(20)).await;
    let a = report.plugins.iter().find(|p| p.plugin == "a").unwrap();
    assert!(matches!(a.outcome, StopOutcome::NotStarted(_)), "{a:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(counts.starts.load(Ordering::SeqCst), 1);
    assert_eq!(
        counts.stops.load(Ordering::SeqCst),
        1,
        "stop runs at most once"
    );
    assert!(
        errors.0.lock().unwrap().is_empty(),
        "{:?}",
        errors.0.lock().unwrap()
    );
}

#[tokio::test]
async fn a_lazy_plugin_whose_dependency_failed_is_failed_once() {
    let errors = Errors::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    let pm = PluginHost::builder().environment(false).build();
    let (mut d, _) = timed("d", &[], 0, 0);
    d.fail_init = true;
    pm.add(d).unwrap();
    pm.add_lazy(timed("l", &["d"], 0, 0).0).unwrap();
    pm.add(timed("e", &["l"], 0, 0).0).unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.failed.len(), 3, "{report:?}");
    assert!(
        errors.0.lock().unwrap().is_empty(),
        "{:?}",
        errors.0.lock().unwrap()
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_waiting_at_a_lazy_gate_never_runs_a_plugin_that_is_stopping() {
    let (a, counts) = timed("a", &[], 30, 10);
    let pm = PluginHost::builder().environment(false).build();
    pm.add_lazy(a).unwrap();
    pm.start().await.unwrap();
    // Calls wait at `a`'s gate while it starts; the shutdown stops it when its start ends.
    // Each call either runs before the stop or gets an error: never during or after it.
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let pm = pm.clone();
            tokio::spawn(async move { pm.hook::<Ping>().call(&()).await.unwrap() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let report = pm.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.plugins[0].outcome, StopOutcome::Stopped);
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(counts.stops.load(Ordering::SeqCst), 1);
    assert_eq!(counts.after_stop.load(Ordering::SeqCst), 0);
}
