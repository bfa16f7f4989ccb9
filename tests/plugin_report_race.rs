//! The start report when calls bring lazy plugins up while `start` runs: a lazy plugin of an
//! earlier start brought up meanwhile is not reported as started by this one, and a lazy
//! plugin of this start that reached `Started` a moment before it was listed is. (Its own
//! test binary: it installs a global tracing subscriber that holds the thread moving
//! `late-lazy` to `Started` between the state change and the started list.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookwire::{
    async_trait, BoxError, Plugin, PluginContext, PluginHost, PluginMeta, RegisterError,
    Registrar,
};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

hookwire::hookspec! {
    pub struct OldHook(()) -> u8;
    pub struct LateHook(()) -> u8;
}
hookwire::hookspec! {
    #[historic]
    pub struct Replayed(()) -> ();
}

/// `late-lazy` moved to `Started`.
static LATE_STARTED: AtomicBool = AtomicBool::new(false);

/// Holds the thread that moves `late-lazy` to `Started` for a while, right after the state
/// change (the transition's tracing event) and before the plugin is listed as started.
struct Stall;

#[derive(Default)]
struct Fields {
    plugin: String,
    to: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "plugin" => self.plugin = format!("{value:?}"),
            "to" => self.to = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Stall {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        if f.plugin == "late-lazy" && f.to == "Started" {
            LATE_STARTED.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Lazy, added to the first start.
struct Old;

impl Plugin for Old {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("old-lazy", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<OldHook>(|_| Ok(Some(1))).add()
    }
}

/// Eager, second start: its `start` calls `old-lazy` (bringing it up during the second
/// start); its impl of a historic hook is replayed while the second start registers its
/// batch, and waits there until `late-lazy` is `Started`.
struct Eager;

#[async_trait]
impl Plugin for Eager {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("eager", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Replayed>(|_| {
            let t = Instant::now();
            while !LATE_STARTED.load(Ordering::SeqCst) && t.elapsed() < Duration::from_secs(5) {
                std::hint::spin_loop();
            }
            Ok(Some(()))
        })
        .add()
    }
    async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        ctx.hooks().hook::<OldHook>().call(&()).await?;
        Ok(())
    }
}

/// Lazy, second start: a call brings it up as soon as its impl is registered.
struct Late;

impl Plugin for Late {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("late-lazy", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<LateHook>(|_| Ok(Some(2))).add()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_lists_exactly_the_plugins_of_this_start_that_started() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Stall))
        .expect("the only subscriber of this binary");
    let pm = Arc::new(PluginHost::new());
    pm.add_lazy(Old).unwrap();
    pm.start().await.unwrap();
    pm.hook::<Replayed>()
        .call_historic((), |_, _| {})
        .await
        .unwrap();

    pm.add(Eager).unwrap();
    pm.add_lazy(Late).unwrap();
    // Calls `late-lazy`'s hook until it answers: the first call that reaches it brings it up.
    let caller = {
        let pm = pm.clone();
        tokio::spawn(async move {
            for _ in 0..5000 {
                let out = pm.hook::<LateHook>().call(&()).await.unwrap();
                if out.values().next().is_some() {
                    return;
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };
    let report = pm.start().await.unwrap();
    caller.await.unwrap();
    assert_eq!(report.start_order, ["eager", "late-lazy"]);
    assert_eq!(report.started, ["eager", "late-lazy"], "{report:?}");
    assert!(report.lazy.is_empty(), "{report:?}");
}
