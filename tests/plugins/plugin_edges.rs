//! Edge cases of the plugin lifecycle: lazy starts that are cancelled, re-entered or outlive a
//! shutdown; constraints and failures inside one `start`; wrappers of plugins that cannot
//! start; reference cycles; the test kit's own promises.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use hookwire::testing::{FakePlugin, Journal, PluginHarness, Reply, Script, Step};
use hookwire::{
    async_trait, plugin::PluginState, plugin::StopOutcome, BoxError, HookManager, Plugin,
    PluginContext, PluginHost, PluginMeta, RegisterError, Registrar,
};

hookwire::hookspec! {
    pub struct Name(()) -> String;
    pub struct Undeclared(()) -> u8;
}

fn fake(name: &str, j: &Journal) -> FakePlugin {
    FakePlugin::new(PluginMeta::new(name, "1.0.0"))
        .journal(j)
        .hook::<Name>(Script::always(Reply::answer(name.to_owned())))
}

async fn values(pm: &PluginHost) -> Vec<String> {
    let out = pm.hook::<Name>().call(&()).await.unwrap();
    let mut v: Vec<String> = out.values().cloned().collect();
    v.sort();
    v
}

const GRACE: Duration = Duration::from_secs(1);

struct Svc;

#[tokio::test(start_paused = true)]
async fn a_lazy_start_survives_the_call_that_triggered_it_timing_out() {
    let j = Journal::new();
    let pm = PluginHost::new();
    let lazy = FakePlugin::new(PluginMeta::new("slow", "1.0.0"))
        .journal(&j)
        .on_init(|ctx| {
            ctx.provide(Svc)?;
            Ok(())
        })
        .init_step(Step::Ok.after(Duration::from_millis(50)))
        .hook_with::<Name>(Script::always(Reply::answer("slow".into())), |b| {
            b.timeout(Duration::from_millis(10))
        });
    pm.add_lazy(lazy).unwrap();
    pm.start().await.unwrap();

    let out = pm.hook::<Name>().call(&()).await.unwrap();
    let errors: Vec<String> = out.errors().map(|(p, e)| format!("{p}: {e}")).collect();
    assert_eq!(errors, ["slow: timed out after 10ms"]);
    // The start goes on without the caller, and runs once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pm.state("slow"), Some(PluginState::Started));
    assert_eq!(values(&pm).await, ["slow"]);
    // The first call gave up before the impl ran; the second reached it.
    assert_eq!(j.of("slow"), ["init", "start", "Name"]);
}

/// A lazy plugin whose `init` calls a hook it implements itself.
struct SelfCaller;
#[async_trait]
impl Plugin for SelfCaller {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("selfcaller", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Name>(|_| Ok(Some("self".into()))).add()
    }
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let out = ctx.hooks().hook::<Name>().call(&()).await?;
        let (_, err) = out.errors().next().ok_or("expected an error")?;
        assert!(
            err.to_string().contains("was called while it is starting"),
            "{err}"
        );
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_lazy_plugin_calling_its_own_hook_while_starting_gets_an_error_not_a_deadlock() {
    let pm = PluginHost::new();
    pm.add_lazy(SelfCaller).unwrap();
    pm.start().await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), pm.hook::<Name>().call(&()))
        .await
        .expect("no deadlock")
        .unwrap();
    assert_eq!(out.values().collect::<Vec<_>>(), ["self"]);
    assert_eq!(pm.state("selfcaller"), Some(PluginState::Started));
}

#[tokio::test(start_paused = true)]
async fn a_lazy_start_that_outlives_the_shutdown_grace_stops_itself() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add_lazy(fake("late", &j).init_step(Step::Ok.after(Duration::from_secs(10))))
        .unwrap();
    pm.start().await.unwrap();
    let call = tokio::spawn({
        let pm = pm.clone();
        async move { pm.hook::<Name>().call(&()).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let stop = pm.shutdown(Duration::from_millis(100)).await;
    assert_eq!(
        stop.plugins[0].outcome,
        StopOutcome::NotStarted(PluginState::Registered)
    );
    let out = call.await.unwrap();
    let errors: Vec<String> = out.errors().map(|(_, e)| e.to_string()).collect();
    assert_eq!(
        errors,
        ["returned an error: lazy plugin `late` could not start: the manager stopped the plugin while it was starting"]
    );
    assert_eq!(j.of("late"), ["init", "start", "stop"]);
    assert!(pm.shutdown(GRACE).await.plugins.is_empty());
}

#[tokio::test]
async fn a_constraint_on_a_plugin_that_failed_in_the_same_start_waits_and_orders_nothing() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("a", &j).init_step(Step::Fail("boom".into())))
        .unwrap();
    pm.add(
        FakePlugin::new(PluginMeta::new("b", "1.0.0"))
            .journal(&j)
            .hook_with::<Name>(Script::always(Reply::answer("b".into())), |b| b.after("a")),
    )
    .unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["b"]);
    assert_eq!(
        report.failed,
        [("a".to_owned(), "init failed: boom".to_owned())]
    );
    assert_eq!(values(&pm).await, ["b"]);
}

#[tokio::test]
async fn constraints_may_name_any_plugin_of_the_same_start() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(
        FakePlugin::new(PluginMeta::new("a", "1.0.0"))
            .journal(&j)
            .hook_with::<Name>(Script::always(Reply::answer("a".into())), |b| b.after("b")),
    )
    .unwrap();
    pm.add(fake("b", &j)).unwrap();
    let report = pm.start().await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let out = pm.hook::<Name>().call(&()).await.unwrap();
    assert_eq!(out.values().collect::<Vec<_>>(), ["b", "a"]);
}

#[tokio::test]
async fn a_lazy_dependency_brought_up_by_an_eager_one_is_in_the_report() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add_lazy(fake("db", &j).init_step(Step::Fail("no db".into())))
        .unwrap();
    pm.add_lazy(fake("cache", &j)).unwrap();
    pm.add(FakePlugin::new(PluginMeta::new("app", "1.0.0").requires("db", "^1")).journal(&j))
        .unwrap();
    pm.add(FakePlugin::new(PluginMeta::new("web", "1.0.0").requires("cache", "^1")).journal(&j))
        .unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["cache", "web"]);
    assert_eq!(
        report.failed,
        [
            ("db".to_owned(), "init failed: no db".to_owned()),
            ("app".to_owned(), "dependency `db` failed".to_owned()),
        ]
    );
    assert!(report.lazy.is_empty());
}

/// A lazy plugin with a wrapper, whose init fails.
struct LazyWrapper;
#[async_trait]
impl Plugin for LazyWrapper {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("wrap", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.wrapper_fn::<Name>(|_, next| async move { Ok(next.run().await) }.boxed())
            .add()
    }
    async fn init(&self, _: &PluginContext) -> Result<(), BoxError> {
        Err("no license".into())
    }
}

#[tokio::test]
async fn the_wrapper_of_a_lazy_plugin_that_cannot_start_is_skipped() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add_lazy(LazyWrapper).unwrap();
    pm.add(fake("steady", &j)).unwrap();
    pm.start().await.unwrap();
    assert_eq!(values(&pm).await, ["steady"]);
    assert_eq!(
        pm.state("wrap"),
        Some(PluginState::Failed("init failed: no license".into()))
    );
}

#[tokio::test(start_paused = true)]
async fn a_plugin_added_during_a_shutdown_stays() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("slowstop", &j).stop_step(Step::Ok.after(Duration::from_millis(500))))
        .unwrap();
    pm.start().await.unwrap();
    let shutdown = tokio::spawn({
        let pm = pm.clone();
        async move { pm.shutdown(GRACE).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    pm.add(fake("newcomer", &j)).unwrap();
    let report = shutdown.await.unwrap();
    assert_eq!(report.plugins.len(), 1);
    let names: Vec<String> = pm.plugins().iter().map(|p| p.name().to_owned()).collect();
    assert_eq!(names, ["newcomer"]);
    assert_eq!(pm.start().await.unwrap().started, ["newcomer"]);
}

/// Spawns `n` short tasks from `start`, one of which panics.
struct Spawner(usize);
#[async_trait]
impl Plugin for Spawner {
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        ctx.spawn("boom", async { panic!("task bug") })?;
        for _ in 0..self.0 {
            ctx.spawn("short", async {})?;
            tokio::task::yield_now().await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn finished_tasks_are_collected_and_their_panics_still_reported() {
    let pm = PluginHost::new();
    pm.add(Spawner(1_000)).unwrap();
    pm.start().await.unwrap();
    let report = pm.shutdown(GRACE).await;
    assert_eq!(report.plugins[0].panicked_tasks, ["boom"]);
    assert!(report.plugins[0].aborted_tasks.is_empty());
}

struct DropCount(Arc<AtomicUsize>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
struct Droppy(#[allow(dead_code)] DropCount);
impl Plugin for Droppy {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("droppy", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Name>(|_| Ok(Some("d".into()))).add()
    }
}

#[tokio::test]
async fn dropping_the_manager_drops_its_plugins_lazy_ones_too() {
    for lazy in [false, true] {
        let dropped = Arc::new(AtomicUsize::new(0));
        let pm = PluginHost::new();
        let plugin = Arc::new(Droppy(DropCount(dropped.clone())));
        if lazy {
            pm.add_arc_lazy(plugin).unwrap();
        } else {
            pm.add_arc(plugin).unwrap();
        }
        pm.start().await.unwrap();
        pm.hook::<Name>().call(&()).await.unwrap();
        drop(pm);
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "lazy = {lazy}");
    }
}

#[tokio::test]
async fn an_optional_dependency_added_later_does_not_pin_the_plugin() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(FakePlugin::new(PluginMeta::new("app", "1.0.0").optional("metrics", "*")).journal(&j))
        .unwrap();
    pm.start().await.unwrap();
    pm.add(fake("metrics", &j)).unwrap();
    pm.start().await.unwrap();
    // `app` started without `metrics`, so it does not hold it.
    pm.remove("metrics", GRACE).await.unwrap();
    assert_eq!(pm.state("app"), Some(PluginState::Started));
}

#[tokio::test]
async fn the_fake_plugins_journal_applies_to_impls_added_before_it() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(
        FakePlugin::new(PluginMeta::new("f", "1.0.0"))
            .hook::<Name>(Script::always(Reply::answer("f".into())))
            .journal(&j),
    )
    .unwrap();
    pm.start().await.unwrap();
    pm.hook::<Name>().call(&()).await.unwrap();
    assert_eq!(j.entries(), ["f:init", "f:start", "f:Name"]);
}

#[tokio::test]
async fn the_harness_refuses_an_impl_of_a_hook_the_host_does_not_declare() {
    let host = HookManager::builder().spec::<Name>().build();
    let plugin = FakePlugin::new(PluginMeta::new("typo", "1.0.0"))
        .hook::<Undeclared>(Script::always(Reply::answer(1)));
    let err = PluginHarness::new(plugin)
        .hooks(host)
        .start()
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("plugin `typo` failed: "), "{msg}");
    assert!(msg.contains("Undeclared"), "{msg}");
}

#[tokio::test]
async fn a_harness_that_refuses_a_plugin_leaves_nothing_running_or_registered() {
    let host = HookManager::builder().spec::<Name>().build();
    let j = Journal::new();
    let stand_in = FakePlugin::new(PluginMeta::new("dep", "1.0.0"))
        .journal(&j)
        .hook::<Undeclared>(Script::always(Reply::answer(1)));
    let tested = || {
        FakePlugin::new(PluginMeta::new("typo", "1.0.0").requires("dep", "^1"))
            .journal(&j)
            .hook::<Name>(Script::always(Reply::answer("typo".to_owned())))
    };
    let err = PluginHarness::new(tested())
        .dependency(stand_in)
        .hooks(host.clone())
        .start()
        .await
        .unwrap_err();
    // The stand-in has the undeclared hook: it is the one named.
    let msg = err.to_string();
    assert!(msg.starts_with("plugin `dep` failed: "), "{msg}");
    // Both were started, then stopped again, and nothing stays registered on the host.
    let stops: Vec<String> = j
        .entries()
        .into_iter()
        .filter(|e| e.ends_with(":stop"))
        .collect();
    assert_eq!(stops, ["typo:stop", "dep:stop"]);
    assert!(!host.is_registered("typo") && !host.is_registered("dep"));
    // So a second harness on the same host starts the plugin cleanly.
    let running = PluginHarness::new(tested())
        .dependency(FakePlugin::new(PluginMeta::new("dep", "1.0.0")))
        .hooks(host.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(running.state(), PluginState::Started);
}

struct LazyBlocking;
#[async_trait]
impl Plugin for LazyBlocking {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("lb", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.blocking_fn::<Name>(|_| Ok(Some("lb".into()))).add()
    }
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        ctx.spawn("t", async {})?;
        Ok(())
    }
}

#[tokio::test]
async fn a_lazy_blocking_impl_starts_its_plugin_from_the_blocking_pool() {
    let pm = PluginHost::new();
    pm.add_lazy(LazyBlocking).unwrap();
    pm.start().await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(5), pm.hook::<Name>().call(&()))
        .await
        .expect("no deadlock")
        .unwrap();
    assert_eq!(out.values().collect::<Vec<_>>(), ["lb"]);
    assert_eq!(pm.state("lb"), Some(PluginState::Started));
}

#[tokio::test(start_paused = true)]
async fn dropping_start_part_way_fails_the_plugin_being_started_and_loses_nothing() {
    let j = Journal::new();
    let pm = PluginHost::new();
    let with_dep = |name: &str, dep: &str| {
        FakePlugin::new(PluginMeta::new(name, "1.0.0").requires(dep, "^1"))
            .journal(&j)
            .hook::<Name>(Script::always(Reply::answer(name.to_owned())))
    };
    pm.add(fake("first", &j)).unwrap();
    pm.add(with_dep("slow", "first").init_step(Step::Hang))
        .unwrap();
    pm.add(with_dep("after", "slow")).unwrap();
    // The caller gives up while `slow` is in its `init`.
    let gave_up = tokio::time::timeout(Duration::from_secs(1), pm.start()).await;
    assert!(gave_up.is_err());
    assert_eq!(pm.state("first"), Some(PluginState::Started));
    match pm.state("slow") {
        Some(PluginState::Failed(reason)) => assert!(
            reason.contains("start was cancelled"),
            "unexpected reason: {reason}"
        ),
        other => panic!("`slow` should be Failed, is {other:?}"),
    }
    assert_eq!(pm.state("after"), Some(PluginState::Registered));
    // Nothing became callable, and the shutdown stops what started.
    assert!(values(&pm).await.is_empty());
    let report = pm.shutdown(GRACE).await;
    let outcomes: Vec<(String, bool)> = report
        .plugins
        .iter()
        .map(|p| (p.plugin.clone(), p.outcome == StopOutcome::Stopped))
        .collect();
    assert_eq!(outcomes[0], ("first".to_owned(), true));
    assert!(pm.plugins().is_empty());
    // The manager is reusable afterwards.
    pm.add(fake("again", &j)).unwrap();
    pm.start().await.unwrap();
    assert_eq!(values(&pm).await, ["again"]);
}

#[tokio::test(start_paused = true)]
async fn a_lazy_dependency_being_started_when_start_is_dropped_finishes_on_its_own() {
    let j = Journal::new();
    let pm = PluginHost::new();
    let dep = FakePlugin::new(PluginMeta::new("dep", "1.0.0"))
        .journal(&j)
        .init_step(Step::Ok.after(Duration::from_secs(2)))
        .hook::<Name>(Script::always(Reply::answer("dep".to_owned())));
    pm.add_lazy(dep).unwrap();
    pm.add(
        FakePlugin::new(PluginMeta::new("top", "1.0.0").requires("dep", "^1"))
            .journal(&j)
            .hook::<Name>(Script::always(Reply::answer("top".to_owned()))),
    )
    .unwrap();
    // `top` brings `dep` up; the caller gives up while `dep` is in its `init`.
    assert!(tokio::time::timeout(Duration::from_secs(1), pm.start())
        .await
        .is_err());
    assert!(matches!(pm.state("top"), Some(PluginState::Failed(_))));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pm.state("dep"), Some(PluginState::Started));
    assert_eq!(j.entries(), ["dep:init", "dep:start"]);
    let report = pm.shutdown(GRACE).await;
    let dep = report.plugins.iter().find(|p| p.plugin == "dep").unwrap();
    assert_eq!(dep.outcome, StopOutcome::Stopped);
    assert_eq!(j.entries(), ["dep:init", "dep:start", "dep:stop"]);
}

#[tokio::test]
async fn a_dependency_that_fails_after_starting_fails_its_lazy_dependents() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("a", &j)).unwrap();
    // `squatter` takes the name `a` on the hook manager during its `init`, so `a`'s impls
    // cannot be registered at the end of the start: `a` started, then fails.
    pm.add(fake("squatter", &j).on_init(|ctx| {
        ctx.hooks()
            .register("a", |r| r.sync_fn::<Name>(|_| Ok(None)).add())?;
        Ok(())
    }))
    .unwrap();
    pm.add_lazy(
        FakePlugin::new(PluginMeta::new("lazy", "1.0.0").requires("a", "^1"))
            .journal(&j)
            .hook::<Name>(Script::always(Reply::answer("lazy".to_owned()))),
    )
    .unwrap();
    let report = pm.start().await.unwrap();
    assert!(
        matches!(pm.state("a"), Some(PluginState::Failed(_))),
        "{report:?}"
    );
    // The first call reaches `lazy`, which must not start on top of a failed dependency.
    let out = pm.hook::<Name>().call(&()).await.unwrap();
    let errors: Vec<String> = out.errors().map(|(p, e)| format!("{p}: {e}")).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("dependency `a` failed"), "{errors:?}");
    match pm.state("lazy") {
        Some(PluginState::Failed(reason)) => assert_eq!(reason, "dependency `a` failed"),
        other => panic!("`lazy` should be Failed, is {other:?}"),
    }
    assert!(j.of("lazy").is_empty(), "{:?}", j.entries());
}

/// A service type per provider, so a dependent can tell which dependency it got each from.
struct Numbered<const N: usize>;

fn provider<const N: usize>() -> FakePlugin {
    FakePlugin::new(PluginMeta::new(format!("p{N}"), "1.0.0")).on_init(|ctx| {
        ctx.provide(Numbered::<N>)?;
        Ok(())
    })
}

/// What a dependent saw of its dependencies' services: which of `Numbered<0..5>` it got, and
/// the error for a service nobody provides.
type Seen = Arc<std::sync::Mutex<Option<(Vec<bool>, String)>>>;

fn dependent(name: &str, deps: &[&str], seen: &Seen) -> FakePlugin {
    let meta = deps
        .iter()
        .fold(PluginMeta::new(name, "1.0.0"), |m, d| m.requires(*d, "^1"));
    let seen = seen.clone();
    FakePlugin::new(meta).on_init(move |ctx| {
        let got = vec![
            ctx.get::<Numbered<0>>().is_some(),
            ctx.get::<Numbered<1>>().is_some(),
            ctx.get::<Numbered<2>>().is_some(),
            ctx.get::<Numbered<3>>().is_some(),
            ctx.get::<Numbered<4>>().is_some(),
        ];
        let missing = ctx
            .require::<Svc>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        *seen.lock().unwrap() = Some((got, missing));
        Ok(())
    })
}

#[tokio::test]
async fn a_plugin_sees_the_services_of_each_of_its_dependencies_however_many_it_has() {
    // Dependencies are kept in the plugin's cell up to three, in a list beyond: both ways, a
    // plugin sees exactly its dependencies' services, and errors name them in order.
    let (none, three, five): (Seen, Seen, Seen) = Default::default();
    let pm = PluginHost::new();
    pm.add(provider::<0>()).unwrap();
    pm.add(provider::<1>()).unwrap();
    pm.add(provider::<2>()).unwrap();
    pm.add(provider::<3>()).unwrap();
    pm.add(provider::<4>()).unwrap();
    pm.add(dependent("none", &[], &none)).unwrap();
    pm.add(dependent("three", &["p4", "p0", "p2"], &three))
        .unwrap();
    pm.add(dependent("five", &["p3", "p1", "p4", "p0", "p2"], &five))
        .unwrap();
    let report = pm.start().await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");

    let (got, missing) = none.lock().unwrap().take().unwrap();
    assert_eq!(got, [false; 5]);
    assert!(missing.contains("dependencies (none)"), "{missing}");

    let (got, missing) = three.lock().unwrap().take().unwrap();
    assert_eq!(got, [true, false, true, false, true]);
    assert!(missing.contains("dependencies (p4, p0, p2)"), "{missing}");

    let (got, missing) = five.lock().unwrap().take().unwrap();
    assert_eq!(got, [true; 5]);
    assert!(
        missing.contains("dependencies (p3, p1, p4, p0, p2)"),
        "{missing}"
    );
    pm.shutdown(GRACE).await;
}

hookwire::hookspec! {
    /// Invalid: a historic hook cannot be first-result.
    #[historic]
    #[firstresult]
    pub struct Both(u8) -> u8;
}

/// A plugin whose impl of the hook named like `Both` is a JSON one (no spec yet).
struct JsonFirst;
impl Plugin for JsonFirst {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("a_json", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.json_fn(<Both as hookwire::HookSpec>::NAME, |_| Ok(None))
            .add()
    }
}

/// A plugin with a typed impl of the invalid spec.
struct TypedInvalid;
impl Plugin for TypedInvalid {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("b_typed", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Both>(|_| Ok(None)).add()
    }
}

#[tokio::test]
async fn an_invalid_spec_is_refused_even_after_a_json_impl_of_its_hook_in_the_same_start() {
    // (From a review: staging skipped the spec check for any hook the batch had staged, even
    // one staged by a JSON impl, which has no spec.)
    let pm = PluginHost::new();
    pm.add(JsonFirst).unwrap();
    pm.add(TypedInvalid).unwrap();
    let report = pm.start().await.unwrap();
    let failed: Vec<_> = report.failed.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(failed, ["b_typed"], "{report:?}");
    assert!(
        report.failed[0]
            .1
            .contains("historic hook cannot be first-result"),
        "{report:?}"
    );
}

/// A plugin whose `register` panics.
struct PanicsInRegister;
impl Plugin for PanicsInRegister {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("z_panics", "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        panic!("no impls today")
    }
}

#[tokio::test]
async fn a_panic_in_register_fails_that_plugin_and_the_start_goes_on() {
    // (From a review: the panic unwound out of `start`, leaving the plugins after it wired but
    // `Discovered`.)
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("before", &j)).unwrap();
    pm.add(PanicsInRegister).unwrap();
    pm.add(fake("after", &j)).unwrap();
    pm.add(
        FakePlugin::new(PluginMeta::new("dependent", "1.0.0").requires("z_panics", "^1"))
            .journal(&j),
    )
    .unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["after", "before"]);
    assert_eq!(
        report.failed,
        [
            (
                "z_panics".to_owned(),
                "registration panicked: no impls today".to_owned()
            ),
            (
                "dependent".to_owned(),
                "dependency `z_panics` failed".to_owned()
            ),
        ]
    );
    assert_eq!(values(&pm).await, ["after", "before"]);
    assert!(j.of("dependent").is_empty());
    pm.shutdown(GRACE).await;
}

#[tokio::test]
async fn an_ordering_cycle_inside_one_start_fails_the_plugin_that_closes_it() {
    // The check of a start's impls borrows them (it builds no records): a cycle among them is
    // still found, and pinned on the plugin that closes it, alone.
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(
        FakePlugin::new(PluginMeta::new("a", "1.0.0"))
            .journal(&j)
            .hook_with::<Name>(Script::always(Reply::answer("a".into())), |b| b.before("b")),
    )
    .unwrap();
    pm.add(
        FakePlugin::new(PluginMeta::new("b", "1.0.0"))
            .journal(&j)
            .hook_with::<Name>(Script::always(Reply::answer("b".into())), |b| b.before("a")),
    )
    .unwrap();
    pm.add(fake("c", &j)).unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["a", "c"]);
    let (plugin, reason) = &report.failed[0];
    assert_eq!(plugin, "b");
    assert!(reason.starts_with("registration failed: "), "{reason}");
    assert!(reason.contains("cycle"), "{reason}");
    assert!(j.of("b").is_empty());
    let out = pm.hook::<Name>().call(&()).await.unwrap();
    // `a`'s constraint names `b`, which is not registered: it waits and orders nothing (the
    // later registered runs first).
    assert_eq!(out.values().collect::<Vec<_>>(), ["c", "a"]);
    pm.shutdown(GRACE).await;
}
