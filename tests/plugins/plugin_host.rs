//! The plugin manager: dependency order, failures and their blast radius, events, services,
//! lazy start, removal and graceful shutdown — through the public API and the `testing` kit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookwire::testing::{FakePlugin, Journal, PluginHarness, Reply, Script, Step};
use hookwire::{
    async_trait, error::ContextError, error::PluginError, outcome::OutcomeKind, plugin::Health,
    plugin::PluginEvent, plugin::PluginState, plugin::StopOutcome, BoxError, ImplOutcome, Plugin,
    PluginContext, PluginHost, PluginMeta, RegisterError, Registrar,
};

hookwire::hookspec! {
    /// Every plugin says its name.
    pub struct Name(()) -> String;
}

fn fake(name: &str, journal: &Journal) -> FakePlugin {
    fake_meta(PluginMeta::new(name, "1.0.0"), journal)
}

fn fake_meta(meta: PluginMeta, journal: &Journal) -> FakePlugin {
    let name = meta.name.clone();
    FakePlugin::new(meta)
        .journal(journal)
        .hook::<Name>(Script::always(Reply::answer(name)))
}

async fn names(pm: &PluginHost) -> Vec<String> {
    let out = pm.hook::<Name>().call(&()).await.unwrap();
    let mut v: Vec<String> = out.values().cloned().collect();
    v.sort();
    v
}

const GRACE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn starts_in_dependency_order_and_stops_in_reverse() {
    let j = Journal::new();
    let pm = PluginHost::new();
    // Added in an order that is not the start order.
    pm.add(fake_meta(
        PluginMeta::new("api", "1.0.0").requires("auth", "^1"),
        &j,
    ))
    .unwrap();
    pm.add(fake_meta(
        PluginMeta::new("auth", "1.2.0").requires("db", "^1"),
        &j,
    ))
    .unwrap();
    pm.add(fake("db", &j)).unwrap();
    pm.add(fake_meta(
        PluginMeta::new("cache", "0.2.1").optional("metrics", "*"),
        &j,
    ))
    .unwrap();
    assert_eq!(pm.state("api"), Some(PluginState::Discovered));

    let report = pm.start().await.unwrap();
    assert_eq!(report.start_order, ["cache", "db", "auth", "api"]);
    assert_eq!(report.started, ["cache", "db", "auth", "api"]);
    assert!(report.failed.is_empty());
    assert_eq!(
        report.skipped_optional,
        [("cache".to_owned(), "metrics".to_owned())]
    );
    assert_eq!(
        j.entries(),
        [
            "cache:init",
            "cache:start",
            "db:init",
            "db:start",
            "auth:init",
            "auth:start",
            "api:init",
            "api:start"
        ]
    );
    assert_eq!(names(&pm).await, ["api", "auth", "cache", "db"]);

    let stopped = pm.shutdown(GRACE).await;
    let order: Vec<&str> = stopped.plugins.iter().map(|p| p.plugin.as_str()).collect();
    assert_eq!(order, ["api", "auth", "db", "cache"]);
    assert!(stopped.is_clean());
    assert!(stopped
        .plugins
        .iter()
        .all(|p| p.outcome == StopOutcome::Stopped));
    assert!(pm.plugins().is_empty());
    assert!(
        pm.hooks().plugins().is_empty(),
        "every impl is unregistered"
    );
}

#[tokio::test]
async fn a_failed_init_fails_its_dependents_only() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("db", &j).init_step(Step::Fail("connection refused".into())))
        .unwrap();
    pm.add(fake_meta(
        PluginMeta::new("auth", "1.0.0").requires("db", "^1"),
        &j,
    ))
    .unwrap();
    pm.add(fake_meta(
        PluginMeta::new("api", "1.0.0").requires("auth", "^1"),
        &j,
    ))
    .unwrap();
    pm.add(fake("metrics", &j)).unwrap();

    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["metrics"]);
    assert_eq!(
        report.failed,
        [
            (
                "db".to_owned(),
                "init failed: connection refused".to_owned()
            ),
            ("auth".to_owned(), "dependency `db` failed".to_owned()),
            ("api".to_owned(), "dependency `auth` failed".to_owned()),
        ]
    );
    assert_eq!(
        pm.state("db"),
        Some(PluginState::Failed(
            "init failed: connection refused".into()
        ))
    );
    assert_eq!(
        pm.state("auth"),
        Some(PluginState::Failed("dependency `db` failed".into()))
    );
    assert_eq!(pm.state("metrics"), Some(PluginState::Started));
    // Dependents were never called; the failed plugins' impls are gone.
    assert_eq!(j.of("auth"), Vec::<String>::new());
    assert_eq!(j.of("api"), Vec::<String>::new());
    assert_eq!(names(&pm).await, ["metrics"]);
    let list = pm.plugins();
    let failed: Vec<&str> = list
        .in_state(&PluginState::Failed(String::new()))
        .map(|p| p.name())
        .collect();
    assert_eq!(failed, ["api", "auth", "db"]);
}

#[tokio::test(start_paused = true)]
async fn start_errors_panics_and_time_limits_fail_the_plugin() {
    let j = Journal::new();
    let pm = PluginHost::builder()
        .step_timeout(Duration::from_secs(2))
        .build();
    pm.add(fake("erring", &j).start_step(Step::Fail("port in use".into())))
        .unwrap();
    pm.add(fake("panicking", &j).init_step(Step::Panic("bad state".into())))
        .unwrap();
    pm.add(fake("hanging", &j).start_step(Step::Hang)).unwrap();
    pm.add(fake("slow", &j).init_step(Step::Ok.after(Duration::from_secs(1))))
        .unwrap();

    let t0 = tokio::time::Instant::now();
    let report = pm.start().await.unwrap();
    assert_eq!(
        t0.elapsed(),
        Duration::from_secs(3),
        "2 s limit on `hanging` + 1 s of `slow`"
    );
    assert_eq!(report.started, ["slow"]);
    assert_eq!(
        report.failed,
        [
            ("erring".to_owned(), "start failed: port in use".to_owned()),
            ("hanging".to_owned(), "start timed out after 2s".to_owned()),
            (
                "panicking".to_owned(),
                "init panicked: bad state".to_owned()
            ),
        ]
    );
    // A plugin that failed in `start` had been initialised: its impls are removed anyway.
    assert_eq!(names(&pm).await, ["slow"]);
}

#[tokio::test]
async fn unresolvable_dependencies_start_nothing() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake_meta(
        PluginMeta::new("auth", "1.0.0").requires("db", "^2"),
        &j,
    ))
    .unwrap();
    pm.add(fake("db", &j)).unwrap();
    pm.add(fake("metrics", &j)).unwrap();

    let err = pm.start().await.unwrap_err();
    let PluginError::Dependencies { error, disabled } = &err else {
        panic!("expected a dependency error, got {err:?}");
    };
    assert!(disabled.is_empty());
    assert_eq!(error.problems().len(), 1);
    let msg = err.to_string();
    assert!(msg.contains("`auth` requires `db` ^2"), "{msg}");
    assert!(msg.contains("1.0.0"), "names the version found: {msg}");
    for p in pm.plugins().iter() {
        assert_eq!(p.state, PluginState::Discovered, "{} was touched", p.name());
    }
    assert!(j.entries().is_empty());
    assert!(pm.hooks().plugins().is_empty());
    assert!(matches!(
        pm.add(fake("db", &j)),
        Err(PluginError::Duplicate { plugin }) if plugin == "db"
    ));
}

#[tokio::test]
async fn every_kind_of_dependency_error_starts_nothing_and_loses_nothing() {
    let cases: [(&str, Vec<PluginMeta>, &[&str]); 4] = [
        (
            "missing",
            vec![PluginMeta::new("api", "1.0.0").requires("db", "^1")],
            &["`api` requires `db` ^1", "no plugin `db`"],
        ),
        (
            "cycle",
            vec![
                PluginMeta::new("a", "1.0.0").requires("b", "*"),
                PluginMeta::new("b", "1.0.0").requires("c", "*"),
                PluginMeta::new("c", "1.0.0").requires("a", "*"),
            ],
            &["a -> b -> c -> a"],
        ),
        (
            "conflict",
            vec![
                PluginMeta::new("auth", "2.0.0").conflicts("legacy-auth", "<2"),
                PluginMeta::new("legacy-auth", "1.5.0"),
            ],
            &["auth", "legacy-auth", "<2", "1.5.0"],
        ),
        (
            "host api",
            vec![PluginMeta::new("old", "1.0.0").host_api("^0.9")],
            &["old", "^0.9", "1.4.0"],
        ),
    ];
    for (case, metas, fragments) in cases {
        let j = Journal::new();
        let pm = PluginHost::builder()
            .host_api(semver::Version::new(1, 4, 0))
            .build();
        pm.add(fake("bystander", &j)).unwrap();
        for meta in metas {
            pm.add(fake_meta(meta, &j)).unwrap();
        }
        let err = pm.start().await.unwrap_err();
        assert!(
            matches!(err, PluginError::Dependencies { .. }),
            "{case}: {err:?}"
        );
        let msg = err.to_string();
        for fragment in fragments {
            assert!(msg.contains(fragment), "{case}: `{fragment}` not in {msg}");
        }
        // Nothing ran, nothing was registered, every plugin is still there as it was.
        assert!(j.entries().is_empty(), "{case}: {:?}", j.entries());
        assert!(pm.hooks().plugins().is_empty(), "{case}");
        let plugins = pm.plugins();
        assert!(plugins.iter().any(|p| p.name() == "bystander"), "{case}");
        for p in plugins.iter() {
            assert_eq!(p.state, PluginState::Discovered, "{case}: {}", p.name());
        }
        if case == "missing" {
            // Fixed, the same manager starts everything.
            pm.add(fake("db", &j)).unwrap();
            let report = pm.start().await.unwrap();
            assert_eq!(report.started, ["bystander", "db", "api"], "{case}");
        }
    }
}

#[tokio::test]
async fn every_transition_is_an_event() {
    let j = Journal::new();
    let pm = PluginHost::new();
    let mut events = pm.events();
    pm.add(fake("db", &j)).unwrap();
    pm.add(
        fake_meta(PluginMeta::new("auth", "1.0.0").requires("db", "*"), &j)
            .init_step(Step::Fail("no".into())),
    )
    .unwrap();
    pm.start().await.unwrap();
    pm.shutdown(GRACE).await;

    let mut seen = Vec::new();
    while let Ok(PluginEvent::StateChanged {
        plugin, from, to, ..
    }) = events.try_recv()
    {
        seen.push(format!("{plugin}: {from:?} -> {to:?}"));
    }
    assert_eq!(
        seen,
        [
            "db: Discovered -> Registered",
            "auth: Discovered -> Registered",
            "db: Registered -> Initialized",
            "db: Initialized -> Started",
            "auth: Registered -> Failed(\"init failed: no\")",
            "db: Started -> Stopped",
        ]
    );
}

struct Db(&'static str);
#[derive(Debug)]
struct Secret;

#[tokio::test]
async fn services_reach_dependents_only() {
    let j = Journal::new();
    let pm = PluginHost::builder()
        .service(String::from("host-config"))
        .build();
    pm.add(fake("db", &j).on_init(|ctx| {
        ctx.provide(Db("postgres://db"))?;
        Ok(())
    }))
    .unwrap();
    pm.add(fake("vault", &j).on_init(|ctx| {
        ctx.provide(Secret)?;
        // Providing the same type twice is an error naming both.
        let twice = ctx.provide(Secret).unwrap_err();
        assert!(matches!(twice, ContextError::AlreadyProvided { .. }));
        Ok(())
    }))
    .unwrap();
    pm.add(
        fake_meta(PluginMeta::new("api", "1.0.0").requires("db", "^1"), &j).on_init(|ctx| {
            assert_eq!(ctx.require::<Db>()?.0, "postgres://db");
            assert_eq!(
                ctx.get::<String>().as_deref().map(String::as_str),
                Some("host-config")
            );
            // `vault` provides a Secret, but `api` does not depend on it.
            assert!(ctx.get::<Secret>().is_none());
            let err = ctx.require::<Secret>().unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("plugin `api` needs service"), "{msg}");
            assert!(msg.contains("Secret"), "{msg}");
            assert!(msg.contains("dependencies (db)"), "{msg}");
            Ok(())
        }),
    )
    .unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.failed, Vec::<(String, String)>::new());
    assert_eq!(report.started.len(), 3);
}

/// Provides a service from `start`, which is too late.
struct LateProvider;
#[async_trait]
impl Plugin for LateProvider {
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        ctx.provide(Db("late"))?;
        Ok(())
    }
}

#[tokio::test]
async fn providing_outside_init_fails_the_plugin_with_a_clear_reason() {
    let pm = PluginHost::new();
    pm.add(LateProvider).unwrap();
    let report = pm.start().await.unwrap();
    let (name, reason) = &report.failed[0];
    assert_eq!(name, "LateProvider");
    assert!(
        reason.starts_with("start failed: plugin `LateProvider` provided service"),
        "{reason}"
    );
    assert!(reason.contains("outside `init`"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_plugin_starts_once_on_its_first_call_after_its_dependencies() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add_lazy(fake("db", &j).init_step(Step::Ok.after(Duration::from_millis(20))))
        .unwrap();
    pm.add_lazy(fake_meta(
        PluginMeta::new("search", "1.0.0").requires("db", "^1"),
        &j,
    ))
    .unwrap();
    pm.add(fake("eager", &j)).unwrap();

    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["eager"]);
    assert_eq!(report.lazy, ["db", "search"]);
    assert_eq!(pm.state("search"), Some(PluginState::Registered));
    assert_eq!(j.entries(), ["eager:init", "eager:start"]);

    // Ten concurrent first calls: `search` (and `db` before it) start exactly once.
    let calls = (0..10).map(|_| {
        let pm = pm.clone();
        tokio::spawn(async move { names(&pm).await })
    });
    for c in futures::future::join_all(calls).await {
        assert_eq!(c.unwrap(), ["db", "eager", "search"]);
    }
    assert_eq!(j.of("db")[..2], ["init", "start"]);
    assert_eq!(j.of("search")[..2], ["init", "start"]);
    assert_eq!(
        j.entries().iter().filter(|e| e.ends_with(":init")).count(),
        3
    );
    let db_start = j.entries().iter().position(|e| e == "db:start").unwrap();
    let search_init = j.entries().iter().position(|e| e == "search:init").unwrap();
    assert!(
        db_start < search_init,
        "dependencies start first: {:?}",
        j.entries()
    );
    assert_eq!(pm.state("search"), Some(PluginState::Started));

    // Stop order is the real start order reversed.
    let stopped = pm.shutdown(GRACE).await;
    let order: Vec<&str> = stopped.plugins.iter().map(|p| p.plugin.as_str()).collect();
    assert_eq!(order, ["search", "db", "eager"]);
}

#[tokio::test]
async fn a_lazy_plugin_that_cannot_start_fails_its_impls_not_the_call() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add_lazy(fake("flaky", &j).init_step(Step::Fail("no license".into())))
        .unwrap();
    pm.add(fake("steady", &j)).unwrap();
    pm.start().await.unwrap();

    let out = pm.hook::<Name>().call(&()).await.unwrap();
    assert_eq!(out.values().collect::<Vec<_>>(), ["steady"]);
    let (plugin, err) = out.errors().next().unwrap();
    assert_eq!(plugin, "flaky");
    assert_eq!(
        err.to_string(),
        "returned an error: lazy plugin `flaky` could not start: init failed: no license"
    );
    assert_eq!(
        pm.state("flaky"),
        Some(PluginState::Failed("init failed: no license".into()))
    );
    // Its impls are gone: the next call does not try again.
    assert_eq!(names(&pm).await, ["steady"]);
}

/// Spawns two tracked tasks: one that honours cancellation and one that ignores it.
struct Worker {
    stop: Step,
    finished: Arc<AtomicUsize>,
}
#[async_trait]
impl Plugin for Worker {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("worker", "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let token = ctx.cancellation().clone();
        let finished = self.finished.clone();
        ctx.spawn("polite", async move {
            token.cancelled().await;
            finished.fetch_add(1, Ordering::SeqCst);
        })?;
        let finished = self.finished.clone();
        ctx.spawn("stubborn", async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            finished.fetch_add(1, Ordering::SeqCst);
        })?;
        ctx.spawn("crashing", async { panic!("task bug") })?;
        Ok(())
    }
    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        match &self.stop {
            Step::Hang => std::future::pending().await,
            _ => Ok(()),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_aborts_tasks_that_outlive_the_grace_period_and_names_them() {
    let finished = Arc::new(AtomicUsize::new(0));
    let pm = PluginHost::new();
    pm.add(Worker {
        stop: Step::Ok,
        finished: finished.clone(),
    })
    .unwrap();
    pm.start().await.unwrap();
    tokio::task::yield_now().await;

    let t0 = tokio::time::Instant::now();
    let report = pm.shutdown(Duration::from_secs(2)).await;
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    let stop = &report.plugins[0];
    assert_eq!(stop.outcome, StopOutcome::Stopped);
    assert_eq!(stop.aborted_tasks, ["stubborn"]);
    assert_eq!(stop.panicked_tasks, ["crashing"]);
    assert!(!report.is_clean());
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "only the polite task finished; the stubborn one was aborted"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_that_hangs_times_out_and_the_others_still_stop() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("db", &j)).unwrap();
    pm.add(
        fake_meta(PluginMeta::new("api", "1.0.0").requires("db", "*"), &j).stop_step(Step::Hang),
    )
    .unwrap();
    pm.add(fake("logs", &j).stop_step(Step::Fail("disk full".into())))
        .unwrap();
    pm.start().await.unwrap();

    let t0 = tokio::time::Instant::now();
    let report = pm.shutdown(Duration::from_millis(500)).await;
    assert_eq!(t0.elapsed(), Duration::from_millis(500));
    let outcomes: Vec<(&str, &StopOutcome)> = report
        .plugins
        .iter()
        .map(|p| (p.plugin.as_str(), &p.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            (
                "logs",
                &StopOutcome::Failed("stop failed: disk full".into())
            ),
            (
                "api",
                &StopOutcome::TimedOut {
                    limit: Duration::from_millis(500)
                }
            ),
            ("db", &StopOutcome::Stopped),
        ]
    );
    assert_eq!(j.of("db"), ["init", "start", "stop"]);
}

#[tokio::test]
async fn the_manager_is_reusable_after_shutdown() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("db", &j)).unwrap();
    pm.add_lazy(fake("never-called", &j)).unwrap();
    pm.add(fake("broken", &j).init_step(Step::Fail("x".into())))
        .unwrap();
    pm.start().await.unwrap();
    let report = pm.shutdown(GRACE).await;
    let outcomes: Vec<(&str, &StopOutcome)> = report
        .plugins
        .iter()
        .map(|p| (p.plugin.as_str(), &p.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("db", &StopOutcome::Stopped),
            (
                "broken",
                &StopOutcome::NotStarted(PluginState::Failed("init failed: x".into()))
            ),
            (
                "never-called",
                &StopOutcome::NotStarted(PluginState::Registered)
            ),
        ]
    );
    assert!(pm.plugins().is_empty());
    assert!(names(&pm).await.is_empty());

    pm.add(fake("db", &j)).unwrap();
    assert_eq!(pm.start().await.unwrap().started, ["db"]);
    assert_eq!(names(&pm).await, ["db"]);
}

#[tokio::test]
async fn remove_refuses_while_dependents_run_then_stops_and_unregisters() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("db", &j)).unwrap();
    pm.add(fake_meta(
        PluginMeta::new("api", "1.0.0").requires("db", "*"),
        &j,
    ))
    .unwrap();
    pm.start().await.unwrap();

    let err = pm.remove("db", GRACE).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `db` is required by running plugins api; remove them first"
    );
    assert_eq!(pm.state("db"), Some(PluginState::Started));
    let err = pm.remove("nope", GRACE).await.unwrap_err();
    assert_eq!(err.to_string(), "no plugin `nope`; known plugins: api, db");

    let stop = pm.remove("api", GRACE).await.unwrap();
    assert_eq!(stop.outcome, StopOutcome::Stopped);
    assert_eq!(pm.state("api"), None);
    assert_eq!(names(&pm).await, ["db"]);
    pm.remove("db", GRACE).await.unwrap();
    assert!(pm.plugins().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_call_in_flight_finishes_on_its_snapshot_while_the_plugin_is_removed() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(
        FakePlugin::new(PluginMeta::new("slow", "1.0.0"))
            .journal(&j)
            .hook::<Name>(Script::always(
                Reply::answer("slow".into()).after(Duration::from_secs(1)),
            )),
    )
    .unwrap();
    pm.start().await.unwrap();
    let caller = pm.hook::<Name>();
    let call = tokio::spawn(async move { caller.call(&()).await.unwrap() });
    tokio::task::yield_now().await;
    pm.remove("slow", GRACE).await.unwrap();
    assert!(pm.hooks().plugins().is_empty());
    let out = call.await.unwrap();
    assert_eq!(out.into_value().as_deref(), Some("slow"));
    assert_eq!(j.of("slow"), ["init", "start", "Name", "stop"]);
}

#[tokio::test]
async fn plugins_are_queryable_by_capability_name_and_state() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake_meta(
        PluginMeta::new("pg", "1.0.0")
            .capability("storage")
            .capability("sql"),
        &j,
    ))
    .unwrap();
    pm.add(fake_meta(
        PluginMeta::new("s3", "2.0.0").capability("storage"),
        &j,
    ))
    .unwrap();
    pm.add_lazy(fake_meta(
        PluginMeta::new("auth", "1.0.0").capability("auth"),
        &j,
    ))
    .unwrap();
    pm.start().await.unwrap();

    let list = pm.plugins();
    let storage: Vec<&str> = list.with_capability("storage").map(|p| p.name()).collect();
    assert_eq!(storage, ["pg", "s3"]);
    assert_eq!(list.with_capability("nothing").count(), 0);
    assert_eq!(
        list.capabilities().collect::<Vec<_>>(),
        ["auth", "sql", "storage"]
    );
    assert_eq!(
        list.get("s3").unwrap().meta.version,
        Some(semver::Version::new(2, 0, 0))
    );
    assert!(list.get("auth").unwrap().lazy);
    let registered: Vec<&str> = list
        .in_state(&PluginState::Registered)
        .map(|p| p.name())
        .collect();
    assert_eq!(registered, ["auth"]);
    assert_eq!(list.in_state(&PluginState::Started).count(), 2);
}

#[tokio::test]
async fn health_asks_started_plugins() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("ok", &j)).unwrap();
    pm.add(fake("meh", &j).health_report(Health::Degraded("replica lag 3s".into())))
        .unwrap();
    pm.add_lazy(fake("idle", &j)).unwrap();
    pm.start().await.unwrap();
    assert_eq!(
        pm.health().await,
        [
            ("meh".to_owned(), Health::Degraded("replica lag 3s".into())),
            ("ok".to_owned(), Health::Healthy),
        ]
    );
}

#[tokio::test]
async fn the_harness_runs_one_plugin_with_stand_in_dependencies() {
    let j = Journal::new();
    let plugin =
        fake_meta(PluginMeta::new("api", "1.0.0").requires("db", "^1"), &j).on_init(|ctx| {
            ctx.require::<Db>()?;
            Ok(())
        });
    // Without its dependency, the harness says what is missing.
    let err = PluginHarness::new(fake_meta(
        PluginMeta::new("api", "1.0.0").requires("db", "^1"),
        &j,
    ))
    .start()
    .await
    .unwrap_err();
    assert!(err.to_string().contains("requires `db` ^1"), "{err}");

    let stand_in = FakePlugin::new(PluginMeta::new("db", "1.4.0")).on_init(|ctx| {
        ctx.provide(Db("memory"))?;
        Ok(())
    });
    let running = PluginHarness::new(plugin)
        .dependency(stand_in)
        .start()
        .await
        .unwrap();
    assert_eq!(running.state(), PluginState::Started);
    let out = running.hook::<Name>().call(&()).await.unwrap();
    assert_eq!(out.into_value().as_deref(), Some("api"));

    let failing = PluginHarness::new(fake("bad", &j).init_step(Step::Fail("nope".into())))
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        failing.to_string(),
        "plugin `bad` failed: init failed: nope"
    );
}

hookwire::hookspec! {
    /// Same hook name as `Name`, other types: registering it next to `Name` is a mismatch.
    #[name = "Name"]
    pub struct NameClash(u8) -> u8;
}

#[tokio::test]
async fn a_plugin_that_cannot_register_fails_alone_in_its_batch() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("alpha", &j)).unwrap();
    pm.add(
        FakePlugin::new(PluginMeta::new("clash", "1.0.0"))
            .journal(&j)
            .hook::<NameClash>(Script::always(Reply::answer(1))),
    )
    .unwrap();
    pm.add(fake("omega", &j)).unwrap();
    // All three are in the same dependency level, so they register in one batch.
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["alpha", "omega"]);
    let (plugin, reason) = &report.failed[0];
    assert_eq!(plugin, "clash");
    assert!(reason.starts_with("registration failed: "), "{reason}");
    assert!(reason.contains("NameClash"), "{reason}");
    assert!(j.of("clash").is_empty());
    assert_eq!(names(&pm).await, ["alpha", "omega"]);
}

/// Spawns a background task from `start`.
struct Spawner;
#[async_trait]
impl Plugin for Spawner {
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        ctx.spawn("poller", async {})?;
        Ok(())
    }
}

#[test]
fn spawning_without_a_tokio_runtime_fails_the_plugin_with_a_clear_reason() {
    let pm = PluginHost::new();
    pm.add(Spawner).unwrap();
    let report = futures::executor::block_on(pm.start()).unwrap();
    assert_eq!(
        report.failed,
        [(
            "Spawner".to_owned(),
            "start failed: plugin `Spawner` cannot spawn task `poller`: no tokio runtime; call it from async code in a runtime".to_owned()
        )]
    );
    assert_eq!(
        pm.state("Spawner"),
        Some(PluginState::Failed(report.failed[0].1.clone()))
    );
}

/// Calls `Name` from its `start` and keeps what it saw.
struct Prober(Arc<std::sync::Mutex<Vec<String>>>);
#[async_trait]
impl Plugin for Prober {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("prober", "1.0.0")
            .requires("early", "*")
            .requires("peer", "*")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let out = ctx.hooks().hook::<Name>().call(&()).await?;
        *self.0.lock().unwrap() = out.values().cloned().collect();
        Ok(())
    }
}

#[tokio::test]
async fn impls_become_callable_when_start_returns_and_never_for_a_plugin_that_failed() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("early", &j)).unwrap();
    pm.start().await.unwrap();

    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    pm.add(fake("peer", &j)).unwrap();
    pm.add(fake("broken", &j).start_step(Step::Fail("no".into())))
        .unwrap();
    pm.add(Prober(seen.clone())).unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["peer", "prober"]);
    // During this start, only plugins started by an earlier `start` were callable: not `peer`
    // (started, but not yet published), and never `broken`.
    assert_eq!(*seen.lock().unwrap(), ["early"]);
    assert_eq!(names(&pm).await, ["early", "peer"]);
    assert!(!pm.hooks().is_registered("broken"));
}

#[tokio::test]
async fn a_lazy_plugin_whose_dependency_failed_is_failed_at_start() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("db", &j).init_step(Step::Fail("down".into())))
        .unwrap();
    pm.add_lazy(fake_meta(
        PluginMeta::new("search", "1.0.0").requires("db", "*"),
        &j,
    ))
    .unwrap();
    let report = pm.start().await.unwrap();
    assert!(report.lazy.is_empty());
    assert_eq!(
        report.failed,
        [
            ("db".to_owned(), "init failed: down".to_owned()),
            ("search".to_owned(), "dependency `db` failed".to_owned()),
        ]
    );
    assert!(names(&pm).await.is_empty());
}

/// What `metrics` provides before its init fails.
struct Meter;

#[tokio::test]
async fn a_failed_optional_dependency_is_skipped_like_an_absent_one() {
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(fake("metrics", &j).on_init(|ctx| {
        ctx.provide(Meter)?;
        Err("no exporter".into())
    }))
    .unwrap();
    // Uses it if it can: starts without it, and does not see what it provided.
    pm.add(
        fake_meta(
            PluginMeta::new("api", "1.0.0").optional("metrics", "^1"),
            &j,
        )
        .on_init(|ctx| {
            assert!(ctx.get::<Meter>().is_none(), "a failed plugin's service");
            Ok(())
        }),
    )
    .unwrap();
    // Needs it: fails, as before.
    pm.add(fake_meta(
        PluginMeta::new("billing", "1.0.0").requires("metrics", "^1"),
        &j,
    ))
    .unwrap();
    // Lazy and optional: starts on its first call, without it.
    pm.add_lazy(fake_meta(
        PluginMeta::new("search", "1.0.0").optional("metrics", "*"),
        &j,
    ))
    .unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(
        report.failed,
        [
            ("metrics".to_owned(), "init failed: no exporter".to_owned()),
            (
                "billing".to_owned(),
                "dependency `metrics` failed".to_owned()
            ),
        ]
    );
    assert_eq!(report.started, ["api"]);
    assert_eq!(report.lazy, ["search"]);
    assert_eq!(
        report.skipped_optional,
        [("api".to_owned(), "metrics".to_owned())]
    );
    assert_eq!(pm.state("api"), Some(PluginState::Started));
    // The first call starts `search`, without `metrics`.
    assert_eq!(names(&pm).await, ["api", "search"]);
    assert_eq!(pm.state("search"), Some(PluginState::Started));
    assert!(matches!(pm.state("billing"), Some(PluginState::Failed(_))));
}

/// A plugin whose `register` panics.
struct PanicsInRegister;
#[async_trait]
impl Plugin for PanicsInRegister {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("metrics", "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        panic!("no exporter configured")
    }
}

#[tokio::test]
async fn an_optional_dependency_that_failed_earlier_or_in_register_is_skipped_too() {
    // Failed in `register`, in the same start, added before its user.
    let j = Journal::new();
    let pm = PluginHost::new();
    pm.add(PanicsInRegister).unwrap();
    pm.add(fake_meta(
        PluginMeta::new("api", "1.0.0").optional("metrics", "^1"),
        &j,
    ))
    .unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["api"]);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert!(report.failed[0]
        .1
        .starts_with("registration panicked: no exporter configured"));
    assert_eq!(
        report.skipped_optional,
        [("api".to_owned(), "metrics".to_owned())]
    );
    // The failed plugin holds nobody up: it can be removed while `api` runs.
    pm.remove("metrics", GRACE).await.unwrap();
    assert_eq!(pm.state("api"), Some(PluginState::Started));

    // Failed in an earlier start.
    let pm = PluginHost::new();
    pm.add(fake("metrics", &j).init_step(Step::Fail("down".into())))
        .unwrap();
    pm.start().await.unwrap();
    pm.add(fake_meta(
        PluginMeta::new("search", "1.0.0").optional("metrics", "*"),
        &j,
    ))
    .unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["search"]);
    assert_eq!(
        report.skipped_optional,
        [("search".to_owned(), "metrics".to_owned())]
    );

    // Declared both required and optional: required wins.
    let pm = PluginHost::new();
    pm.add(fake("db", &j).init_step(Step::Fail("down".into())))
        .unwrap();
    pm.add(fake_meta(
        PluginMeta::new("billing", "1.0.0")
            .requires("db", "^1")
            .optional("db", "*"),
        &j,
    ))
    .unwrap();
    let report = pm.start().await.unwrap();
    assert!(report.started.is_empty());
    assert_eq!(
        report.failed[1],
        ("billing".to_owned(), "dependency `db` failed".to_owned())
    );
}

#[tokio::test]
async fn the_harness_checks_a_plugin_against_the_hosts_specs_and_records_calls() {
    let host_specs = || hookwire::HookManager::builder().spec::<Name>().build();
    // A plugin built against another version of the spec is refused, naming both types.
    let clash = FakePlugin::new(PluginMeta::new("clash", "1.0.0"))
        .hook::<NameClash>(Script::always(Reply::answer(1)));
    let err = PluginHarness::new(clash)
        .hooks(host_specs())
        .start()
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("plugin `clash` failed: registration failed"),
        "{msg}"
    );
    assert!(msg.contains("NameClash") && msg.contains("Name`"), "{msg}");

    let rec = hookwire::testing::RecordingPlugin::new("rec").records::<Name>();
    let running = PluginHarness::new(rec.clone())
        .hooks(host_specs())
        .start()
        .await
        .unwrap();
    running.hook::<Name>().call(&()).await.unwrap();
    running.hook::<Name>().call(&()).await.unwrap();
    assert_eq!(rec.calls::<Name>(), [(), ()]);
    assert_eq!(rec.hook_names(), ["Name", "Name"]);
}

hookwire::hookspec! {
    /// Doubles a number (for the scripted-replies and recording tests).
    pub struct Double(u32) -> u32;
}

#[tokio::test(start_paused = true)]
async fn a_scripted_fake_answers_declines_errs_panics_and_waits_in_turn() {
    let script = Script::new([
        Reply::answer(1),
        Reply::no_answer(),
        Reply::error("disk full"),
        Reply::panic("bug in fake"),
        Reply::answer(5).after(Duration::from_secs(30)),
    ]);
    let fake = FakePlugin::new(PluginMeta::new("fake", "1.0.0")).hook::<Double>(script);
    let running = PluginHarness::new(fake).start().await.unwrap();
    let hook = running.hook::<Double>();
    let call = || hook.call(&7);

    let out = call().await.unwrap();
    assert_eq!(out.get("fake").and_then(|o| o.value()), Some(&1));
    let out = call().await.unwrap();
    assert!(matches!(out.get("fake"), Some(ImplOutcome::NoAnswer)));
    let out = call().await.unwrap();
    let failure = out.get("fake").and_then(|o| o.failure()).unwrap();
    assert_eq!(out.get("fake").unwrap().kind(), OutcomeKind::Error);
    assert!(failure.to_string().contains("disk full"), "{failure}");
    let out = call().await.unwrap();
    assert_eq!(out.get("fake").unwrap().kind(), OutcomeKind::Panic);
    let failure = out.get("fake").and_then(|o| o.failure()).unwrap();
    assert!(failure.to_string().contains("bug in fake"), "{failure}");
    // The delayed answer takes its 30 s (on the paused clock).
    let t0 = tokio::time::Instant::now();
    let out = call().await.unwrap();
    assert_eq!(out.get("fake").and_then(|o| o.value()), Some(&5));
    assert_eq!(t0.elapsed(), Duration::from_secs(30));
    // The script is used up: the last reply repeats.
    let out = call().await.unwrap();
    assert_eq!(out.get("fake").and_then(|o| o.value()), Some(&5));
}

#[tokio::test]
async fn the_recording_plugin_keeps_each_calls_arguments_in_order() {
    let rec = hookwire::testing::RecordingPlugin::new("rec")
        .records::<Double>()
        .records::<Name>();
    let running = PluginHarness::new(rec.clone()).start().await.unwrap();
    for x in [3, 1, 4] {
        running.hook::<Double>().call(&x).await.unwrap();
    }
    running.hook::<Name>().call(&()).await.unwrap();
    assert_eq!(rec.calls::<Double>(), [3, 1, 4]);
    assert_eq!(rec.calls::<Name>(), [()]);
    assert_eq!(rec.hook_names(), ["Double", "Double", "Double", "Name"]);
}
