//! Reload primitives of the plugin host, without files: `replace` (a new instance swapped in
//! while the old one serves), `restart` and `stop` (the same instance down and up again),
//! and `remove` refused while required — through the public API.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookwire::deps::DependencyProblem;
use hookwire::error::PluginError;
use hookwire::plugin::{PluginEvent, PluginState, StopOutcome};
use hookwire::{
    async_trait, BoxError, CancellationToken, FutureExt, Plugin, PluginContext, PluginHost,
    PluginMeta, RegisterError, Registrar,
};
use tokio::sync::{broadcast, Notify, Semaphore};

hookwire::hookspec! {
    /// Which version answers? Every impl of the plugin under test answers its tag.
    pub struct Which(()) -> String;
    /// A second hook the plugin under test implements.
    pub struct Also(()) -> String;
}

const GRACE: Duration = Duration::from_secs(5);

/// A shared, ordered log: `"<name>@<tag>:init"`, `":start"`, `":stop"`.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// A configurable plugin: two impls of `Which` and one of `Also`, each answering `tag`.
#[derive(Clone)]
struct Svc {
    name: &'static str,
    version: &'static str,
    tag: &'static str,
    requires: Vec<(&'static str, &'static str)>,
    conflicts: Vec<(&'static str, &'static str)>,
    /// Its host API requirement.
    host_api: Option<&'static str>,
    /// `before` constraint on its `Which` impls.
    before: Option<&'static str>,
    /// Init fails while this is above zero (counted down on each init).
    fail_inits: Arc<AtomicUsize>,
    start_hangs: Arc<std::sync::atomic::AtomicBool>,
    stop_hangs: bool,
    /// When set, the first `Which` impl signals `entered` and waits for a permit.
    gate: Option<(Arc<Notify>, Arc<Semaphore>)>,
    /// The cancellation token of its last context.
    token: Arc<Mutex<Option<CancellationToken>>>,
    log: Log,
}

fn svc(name: &'static str, tag: &'static str, log: &Log) -> Svc {
    Svc {
        name,
        version: "1.0.0",
        tag,
        requires: Vec::new(),
        conflicts: Vec::new(),
        host_api: None,
        before: None,
        fail_inits: Arc::default(),
        start_hangs: Arc::default(),
        stop_hangs: false,
        gate: None,
        token: Arc::default(),
        log: log.clone(),
    }
}

impl Svc {
    fn who(&self) -> String {
        format!("{}@{}", self.name, self.tag)
    }
}

/// A service a plugin provides to its dependents: the tag of the instance that provided it.
struct Provided(&'static str);

#[async_trait]
impl Plugin for Svc {
    fn meta(&self) -> PluginMeta {
        let mut m = PluginMeta::new(self.name, self.version);
        for (dep, req) in &self.requires {
            m = m.requires(*dep, req);
        }
        for (other, req) in &self.conflicts {
            m = m.conflicts(*other, req);
        }
        match self.host_api {
            Some(req) => m.host_api(req),
            None => m,
        }
    }

    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let me = self.clone();
        let first = r.hook_fn::<Which>(move |_| {
            let me = me.clone();
            async move {
                if let Some((entered, permits)) = &me.gate {
                    entered.notify_one();
                    let _permit = permits.acquire().await;
                }
                Ok(Some(me.tag.to_owned()))
            }
            .boxed()
        });
        match self.before {
            Some(other) => first.before(other).add()?,
            None => first.add()?,
        }
        let tag = self.tag;
        let second = r.sync_fn::<Which>(move |_| Ok(Some(tag.to_owned())));
        match self.before {
            Some(other) => second.before(other).add()?,
            None => second.add()?,
        }
        r.sync_fn::<Also>(move |_| Ok(Some(tag.to_owned()))).add()
    }

    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        self.log.push(format!("{}:init", self.who()));
        *self.token.lock().unwrap() = Some(ctx.cancellation().clone());
        let left = self.fail_inits.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_inits.store(left - 1, Ordering::SeqCst);
            return Err(format!("{} is not ready", self.who()).into());
        }
        // Dependents see the service of the instance that serves.
        for (dep, _) in &self.requires {
            if let Ok(p) = ctx.require::<Provided>() {
                self.log.push(format!("{}:uses {dep}@{}", self.who(), p.0));
            }
        }
        ctx.provide(Provided(self.tag))?;
        Ok(())
    }

    async fn start(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.log.push(format!("{}:start", self.who()));
        if self.start_hangs.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.log.push(format!("{}:stop", self.who()));
        if self.stop_hangs {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// The answers of one `Which` call, in call order.
async fn which(pm: &PluginHost) -> Vec<String> {
    let out = pm.hook::<Which>().call(&()).await.unwrap();
    out.values().cloned().collect()
}

fn drain(rx: &mut broadcast::Receiver<PluginEvent>) -> Vec<PluginEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// The `ReloadFailed` events among `events`, as `(plugin, error)`.
fn reload_failures(events: &[PluginEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            PluginEvent::ReloadFailed { plugin, error, .. } => {
                Some((plugin.clone(), error.clone()))
            }
            _ => None,
        })
        .collect()
}

async fn started(plugins: Vec<Svc>) -> PluginHost {
    let pm = PluginHost::builder().environment(false).build();
    for p in plugins {
        pm.add(p).unwrap();
    }
    let report = pm.start().await.unwrap();
    assert!(report.failed.is_empty(), "{report}");
    pm
}

#[tokio::test(start_paused = true)]
async fn a_call_in_flight_during_replace_finishes_on_the_old_impls() {
    let log = Log::default();
    let entered = Arc::new(Notify::new());
    let permits = Arc::new(Semaphore::new(0));
    let old = Svc {
        gate: Some((entered.clone(), permits.clone())),
        ..svc("svc", "v1", &log)
    };
    let pm = started(vec![old]).await;
    let mut events = pm.events();

    let in_flight = tokio::spawn({
        let pm = pm.clone();
        async move { which(&pm).await }
    });
    entered.notified().await;

    let report = pm
        .replace(
            "svc",
            Svc {
                version: "2.0.0",
                ..svc("svc", "v2", &log)
            },
            GRACE,
        )
        .await
        .unwrap();
    assert_eq!(report.old.outcome, StopOutcome::Stopped);
    // A call after `replace` sees only the new impls, on every hook.
    assert_eq!(which(&pm).await, ["v2", "v2"]);
    let also = pm.hook::<Also>().call(&()).await.unwrap();
    assert_eq!(also.into_value().as_deref(), Some("v2"));
    // The call that was running finishes on the old ones, though the old instance stopped.
    permits.add_permits(1);
    assert_eq!(in_flight.await.unwrap(), ["v1", "v1"]);

    assert_eq!(
        log.entries(),
        [
            "svc@v1:init",
            "svc@v1:start",
            "svc@v2:init",
            "svc@v2:start",
            "svc@v1:stop"
        ]
    );
    assert_eq!(pm.state("svc"), Some(PluginState::Started));
    assert_eq!(
        pm.plugins()
            .get("svc")
            .unwrap()
            .meta
            .version
            .as_ref()
            .map(ToString::to_string),
        Some("2.0.0".to_owned())
    );
    // One event for the plugin: the new instance's start-up and the old one's stop are not
    // state changes of the plugin, which stays `Started`.
    assert_eq!(
        drain(&mut events),
        [PluginEvent::Replaced {
            plugin: "svc".into(),
            old_version: "1.0.0".into(),
            new_version: "2.0.0".into(),
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_during_repeated_replaces_never_see_a_mix() {
    let log = Log::default();
    let pm = started(vec![svc("svc", "v1", &log), svc("other", "x", &log)]).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut callers = Vec::new();
    for _ in 0..3 {
        let (pm, stop) = (pm.clone(), stop.clone());
        callers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut calls = 0usize;
            while !stop.load(Ordering::Relaxed) || calls == 0 {
                let answers = which(&pm).await;
                // Two impls of `svc` and one of `other`, in the same order every time.
                let svc_tags: Vec<&String> = answers.iter().filter(|a| *a != "x").collect();
                if svc_tags.len() != 2 || svc_tags[0] != svc_tags[1] {
                    seen.push(answers.clone());
                }
                calls += 1;
                tokio::task::yield_now().await;
            }
            (seen, calls)
        }));
    }
    for round in 0..40 {
        let tag = if round % 2 == 0 { "v2" } else { "v1" };
        pm.replace("svc", svc("svc", tag, &log), GRACE)
            .await
            .unwrap();
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for c in callers {
        let (mixed, calls) = c.await.unwrap();
        assert!(mixed.is_empty(), "calls saw a mix of versions: {mixed:?}");
        total += calls;
    }
    assert!(total > 0);
    // 40 replacements: the last one put v1 back.
    assert_eq!(which(&pm).await, ["x", "x", "v1", "v1"]);
}

#[tokio::test]
async fn a_replacement_keeps_its_place_in_the_call_order() {
    let log = Log::default();
    // Added in this order: `first`'s impls are the oldest, so they run last (LIFO).
    let pm = started(vec![
        svc("first", "a", &log),
        svc("svc", "v1", &log),
        svc("last", "z", &log),
    ])
    .await;
    assert_eq!(which(&pm).await, ["z", "z", "v1", "v1", "a", "a"]);
    pm.replace("svc", svc("svc", "v2", &log), GRACE)
        .await
        .unwrap();
    assert_eq!(which(&pm).await, ["z", "z", "v2", "v2", "a", "a"]);
    let names: Vec<String> = pm
        .hooks()
        .plugins()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(names, ["first", "svc", "last"]);
}

#[tokio::test]
async fn a_failing_init_keeps_the_old_version_serving() {
    let log = Log::default();
    let pm = started(vec![svc("svc", "v1", &log)]).await;
    let mut events = pm.events();
    let broken = Svc {
        fail_inits: Arc::new(AtomicUsize::new(1)),
        ..svc("svc", "v2", &log)
    };
    let err = pm.replace("svc", broken, GRACE).await.unwrap_err();
    assert!(
        matches!(&err, PluginError::Failed { plugin, reason } if plugin == "svc" && reason == "init failed: svc@v2 is not ready"),
        "{err:?}"
    );
    assert_eq!(which(&pm).await, ["v1", "v1"]);
    assert_eq!(pm.state("svc"), Some(PluginState::Started));
    // The old instance was never stopped; the new one never started.
    assert_eq!(
        log.entries(),
        ["svc@v1:init", "svc@v1:start", "svc@v2:init"]
    );
    assert_eq!(
        drain(&mut events),
        [PluginEvent::ReloadFailed {
            plugin: "svc".into(),
            error: "plugin `svc` failed: init failed: svc@v2 is not ready".into(),
        }]
    );
}

#[tokio::test]
async fn a_broken_dependency_keeps_the_old_version_serving() {
    let log = Log::default();
    let pm = started(vec![svc("svc", "v1", &log)]).await;
    let mut events = pm.events();
    let broken = Svc {
        requires: vec![("audit", "^1")],
        ..svc("svc", "v2", &log)
    };
    let err = pm.replace("svc", broken, GRACE).await.unwrap_err();
    let PluginError::Dependencies { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(&error.problems()[0], DependencyProblem::MissingDependency { plugin, dependency, .. } if plugin == "svc" && dependency == "audit"),
        "{error}"
    );
    assert_eq!(which(&pm).await, ["v1", "v1"]);
    // Not even `register` or `init` ran for the new instance.
    assert_eq!(log.entries(), ["svc@v1:init", "svc@v1:start"]);
    let failures = reload_failures(&drain(&mut events));
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].1.contains("plugin `svc` requires `audit` ^1"),
        "{failures:?}"
    );
}

#[tokio::test]
async fn a_version_its_dependents_do_not_accept_keeps_the_old_version_serving() {
    let log = Log::default();
    let api = Svc {
        requires: vec![("svc", "^1")],
        ..svc("api", "a", &log)
    };
    let pm = started(vec![svc("svc", "v1", &log), api]).await;
    let next_major = Svc {
        version: "2.0.0",
        ..svc("svc", "v2", &log)
    };
    let err = pm.replace("svc", next_major, GRACE).await.unwrap_err();
    let PluginError::Dependencies { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(&error.problems()[0], DependencyProblem::VersionMismatch { plugin, dependency, .. } if plugin == "api" && dependency == "svc"),
        "{error}"
    );
    assert_eq!(which(&pm).await, ["a", "a", "v1", "v1"]);
    assert_eq!(pm.state("api"), Some(PluginState::Started));
}

#[tokio::test]
async fn a_new_conflict_keeps_the_old_version_serving() {
    let log = Log::default();
    let pm = started(vec![svc("db", "d", &log), svc("svc", "v1", &log)]).await;
    let mut events = pm.events();
    let conflicting = Svc {
        conflicts: vec![("db", "^1")],
        ..svc("svc", "v2", &log)
    };
    let err = pm.replace("svc", conflicting, GRACE).await.unwrap_err();
    let PluginError::Dependencies { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(&error.problems()[0], DependencyProblem::DeclaredConflict { plugin, other, .. } if plugin == "svc" && other == "db"),
        "{error}"
    );
    assert_eq!(which(&pm).await, ["v1", "v1", "d", "d"]);
    assert_eq!(reload_failures(&drain(&mut events)).len(), 1);
}

#[tokio::test]
async fn an_ordering_cycle_keeps_the_old_version_serving() {
    let log = Log::default();
    let other = Svc {
        before: Some("svc"),
        ..svc("other", "o", &log)
    };
    let pm = started(vec![svc("svc", "v1", &log), other]).await;
    let cyclic = Svc {
        before: Some("other"),
        ..svc("svc", "v2", &log)
    };
    let err = pm.replace("svc", cyclic, GRACE).await.unwrap_err();
    assert!(
        matches!(&err, PluginError::Failed { plugin, reason } if plugin == "svc" && reason.starts_with("registration failed:") && reason.contains("cycle")),
        "{err}"
    );
    assert_eq!(which(&pm).await, ["o", "o", "v1", "v1"]);
    // The new instance never ran.
    assert_eq!(
        log.entries(),
        [
            "other@o:init",
            "other@o:start",
            "svc@v1:init",
            "svc@v1:start"
        ]
    );
}

#[tokio::test]
async fn replace_refuses_an_instance_with_another_name_or_an_unknown_plugin() {
    let log = Log::default();
    let pm = started(vec![svc("svc", "v1", &log)]).await;
    let mut events = pm.events();
    let err = pm
        .replace("svc", svc("imposter", "v2", &log), GRACE)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot replace plugin `svc` by an instance named `imposter`: a replacement keeps the name; give it the same name in its `meta()`, or `remove` `svc` and add the new plugin"
    );
    let err = pm
        .replace("nope", svc("nope", "v2", &log), GRACE)
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Unknown { .. }), "{err:?}");
    assert_eq!(reload_failures(&drain(&mut events)).len(), 2);
    assert_eq!(which(&pm).await, ["v1", "v1"]);
}

#[tokio::test]
async fn a_failed_plugin_is_replaced_by_a_fixed_instance() {
    let log = Log::default();
    let pm = PluginHost::builder().environment(false).build();
    pm.add(Svc {
        fail_inits: Arc::new(AtomicUsize::new(1)),
        ..svc("svc", "v1", &log)
    })
    .unwrap();
    pm.start().await.unwrap();
    assert!(pm.state("svc").unwrap().is_failed());
    let report = pm
        .replace("svc", svc("svc", "v2", &log), GRACE)
        .await
        .unwrap();
    assert!(matches!(
        report.old.outcome,
        StopOutcome::NotStarted(PluginState::Failed(_))
    ));
    assert_eq!(which(&pm).await, ["v2", "v2"]);
    assert_eq!(pm.state("svc"), Some(PluginState::Started));
}

#[tokio::test]
async fn dependents_are_restarted_in_dependency_order() {
    let log = Log::default();
    let auth = Svc {
        requires: vec![("db", "^1")],
        ..svc("auth", "a", &log)
    };
    let api = Svc {
        requires: vec![("auth", "^1")],
        ..svc("api", "p", &log)
    };
    let pm = started(vec![
        api,
        svc("cache", "c", &log),
        auth,
        svc("db", "v1", &log),
    ])
    .await;
    // Last added, first called.
    assert_eq!(which(&pm).await, ["v1", "v1", "a", "a", "c", "c", "p", "p"]);
    log.clear();
    let mut events = pm.events();

    let report = pm
        .replace("db", svc("db", "v2", &log), GRACE)
        .await
        .unwrap();
    assert_eq!(report.restarted, ["auth", "api"]);
    assert!(report.failed.is_empty());
    assert_eq!(
        report.to_string(),
        "replaced db (old instance stopped)\nrestarted 2: auth, api"
    );
    assert_eq!(
        log.entries(),
        [
            // The new instance comes up while the old one serves.
            "db@v2:init",
            "db@v2:start",
            // After the swap: dependents stop (dependents first), then the old instance.
            "api@p:stop",
            "auth@a:stop",
            "db@v1:stop",
            // The dependents start again, in dependency order, wired to the new instance.
            "auth@a:init",
            "auth@a:uses db@v2",
            "auth@a:start",
            "api@p:init",
            "api@p:uses auth@a",
            "api@p:start",
        ]
    );
    let transitions: Vec<String> = drain(&mut events)
        .iter()
        .map(|e| match e {
            PluginEvent::StateChanged {
                plugin, from, to, ..
            } => format!("{plugin}: {from} -> {to}"),
            PluginEvent::Replaced { plugin, .. } => format!("{plugin}: replaced"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        transitions,
        [
            "db: replaced",
            "api: started -> stopped",
            "auth: started -> stopped",
            "auth: stopped -> registered",
            "auth: registered -> initialized",
            "auth: initialized -> started",
            "api: stopped -> registered",
            "api: registered -> initialized",
            "api: initialized -> started",
        ]
    );
    for p in ["db", "auth", "api", "cache"] {
        assert_eq!(pm.state(p), Some(PluginState::Started), "{p}");
    }
    // The restarted dependents kept their places in the call order too.
    assert_eq!(which(&pm).await, ["v2", "v2", "a", "a", "c", "c", "p", "p"]);
    // Shutdown still stops dependents before their dependencies.
    log.clear();
    pm.shutdown(GRACE).await;
    assert_eq!(
        log.entries(),
        ["api@p:stop", "auth@a:stop", "db@v2:stop", "cache@c:stop"]
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_replace_before_the_swap_keeps_the_old_version() {
    let log = Log::default();
    let pm = started(vec![svc("svc", "v1", &log)]).await;
    let hanging = Svc {
        start_hangs: Arc::new(true.into()),
        ..svc("svc", "v2", &log)
    };
    let token = hanging.token.clone();
    let dropped =
        tokio::time::timeout(Duration::from_secs(1), pm.replace("svc", hanging, GRACE)).await;
    assert!(dropped.is_err(), "the new instance's start never ends");
    assert_eq!(which(&pm).await, ["v1", "v1"]);
    assert_eq!(pm.state("svc"), Some(PluginState::Started));
    // The new instance was dropped: its token is cancelled; its `stop` was not called.
    assert!(token.lock().unwrap().as_ref().unwrap().is_cancelled());
    assert_eq!(
        log.entries(),
        ["svc@v1:init", "svc@v1:start", "svc@v2:init", "svc@v2:start"]
    );
    // The host is usable: a replacement goes through now.
    pm.replace("svc", svc("svc", "v3", &log), GRACE)
        .await
        .unwrap();
    assert_eq!(which(&pm).await, ["v3", "v3"]);
}

#[tokio::test]
async fn restart_brings_a_failed_plugin_back() {
    let log = Log::default();
    let pm = PluginHost::builder().environment(false).build();
    pm.add(Svc {
        fail_inits: Arc::new(AtomicUsize::new(2)),
        ..svc("svc", "v1", &log)
    })
    .unwrap();
    pm.start().await.unwrap();
    assert_eq!(
        pm.state("svc"),
        Some(PluginState::Failed(
            "init failed: svc@v1 is not ready".into()
        ))
    );
    assert!(which(&pm).await.is_empty());
    let mut events = pm.events();

    // Fails again: `Failed` with the new reason, and an event.
    let err = pm.restart("svc").await.unwrap_err();
    assert!(matches!(err, PluginError::Failed { .. }), "{err:?}");
    assert!(pm.state("svc").unwrap().is_failed());
    // Then comes back.
    pm.restart("svc").await.unwrap();
    assert_eq!(pm.state("svc"), Some(PluginState::Started));
    assert_eq!(which(&pm).await, ["v1", "v1"]);

    let events = drain(&mut events);
    let moves: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            PluginEvent::StateChanged { from, to, .. } => Some(format!("{from} -> {to}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        moves,
        [
            "failed: init failed: svc@v1 is not ready -> registered",
            "registered -> failed: init failed: svc@v1 is not ready",
            "failed: init failed: svc@v1 is not ready -> registered",
            "registered -> initialized",
            "initialized -> started",
        ]
    );
    assert_eq!(reload_failures(&events).len(), 1);
}

#[tokio::test]
async fn stop_then_restart_runs_the_same_instance_again() {
    let log = Log::default();
    let pm = started(vec![svc("svc", "v1", &log)]).await;
    let stop = pm.stop("svc", GRACE).await.unwrap();
    assert_eq!(stop.outcome, StopOutcome::Stopped);
    assert_eq!(pm.state("svc"), Some(PluginState::Stopped));
    assert!(which(&pm).await.is_empty());
    pm.restart("svc").await.unwrap();
    assert_eq!(which(&pm).await, ["v1", "v1"]);
    assert_eq!(
        log.entries(),
        [
            "svc@v1:init",
            "svc@v1:start",
            "svc@v1:stop",
            "svc@v1:init",
            "svc@v1:start"
        ]
    );
}

#[tokio::test]
async fn restart_is_refused_for_a_running_plugin_or_an_unknown_name() {
    let log = Log::default();
    let pm = started(vec![svc("svc", "v1", &log)]).await;
    let mut events = pm.events();
    let err = pm.restart("svc").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `svc` is started: only a stopped or failed plugin can be restarted; to run a new instance in its place use `PluginHost::replace`, or `PluginHost::stop` it first"
    );
    let err = pm.restart("nope").await.unwrap_err();
    assert_eq!(err.to_string(), "no plugin `nope`; known plugins: svc");
    assert_eq!(reload_failures(&drain(&mut events)).len(), 2);
    assert_eq!(which(&pm).await, ["v1", "v1"]);
    assert_eq!(log.entries(), ["svc@v1:init", "svc@v1:start"]);
}

#[tokio::test]
async fn restart_is_refused_while_a_required_dependency_is_not_running() {
    let log = Log::default();
    let api = Svc {
        requires: vec![("db", "^1")],
        ..svc("api", "p", &log)
    };
    let pm = started(vec![svc("db", "d", &log), api]).await;
    pm.stop("api", GRACE).await.unwrap();
    pm.stop("db", GRACE).await.unwrap();
    let err = pm.restart("api").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `api` requires `db`, which is not running (stopped): start or restart `db` first"
    );
    assert_eq!(pm.state("api"), Some(PluginState::Stopped));
    pm.restart("db").await.unwrap();
    pm.restart("api").await.unwrap();
    assert_eq!(which(&pm).await, ["p", "p", "d", "d"]);
}

#[tokio::test]
async fn remove_and_stop_are_refused_while_a_running_plugin_requires_it() {
    let log = Log::default();
    let api = Svc {
        requires: vec![("db", "^1")],
        ..svc("api", "p", &log)
    };
    let pm = started(vec![svc("db", "d", &log), api]).await;
    let mut events = pm.events();
    let err = pm.remove("db", GRACE).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `db` is required by running plugins api; remove them first"
    );
    assert_eq!(
        drain(&mut events),
        [PluginEvent::RemoveRefused {
            plugin: "db".into(),
            dependents: vec!["api".into()],
        }]
    );
    let err = pm.stop("db", GRACE).await.unwrap_err();
    assert!(matches!(err, PluginError::Required { .. }), "{err:?}");
    assert_eq!(pm.state("db"), Some(PluginState::Started));
    assert_eq!(which(&pm).await, ["p", "p", "d", "d"]);
    // Once its dependent is gone, it goes.
    pm.remove("api", GRACE).await.unwrap();
    pm.remove("db", GRACE).await.unwrap();
    assert!(pm.plugins().is_empty());
    assert!(which(&pm).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_replace_after_the_swap_leaves_the_new_version_serving() {
    let log = Log::default();
    let old = Svc {
        stop_hangs: true,
        ..svc("svc", "v1", &log)
    };
    let old_token = old.token.clone();
    let pm = started(vec![old]).await;
    // The swap is done before the old instance's `stop`, which never ends: the future is
    // dropped while it runs.
    let dropped = tokio::time::timeout(
        Duration::from_secs(1),
        pm.replace("svc", svc("svc", "v2", &log), GRACE),
    )
    .await;
    assert!(dropped.is_err());
    assert_eq!(which(&pm).await, ["v2", "v2"]);
    assert_eq!(pm.state("svc"), Some(PluginState::Started));
    // What the old instance held is released.
    assert!(old_token.lock().unwrap().as_ref().unwrap().is_cancelled());
    assert_eq!(
        log.entries(),
        [
            "svc@v1:init",
            "svc@v1:start",
            "svc@v2:init",
            "svc@v2:start",
            "svc@v1:stop"
        ]
    );
    // Shutdown stops only the new instance.
    log.clear();
    let report = pm.shutdown(GRACE).await;
    assert_eq!(report.plugins.len(), 1);
    assert_eq!(log.entries(), ["svc@v2:stop"]);
}

#[tokio::test]
async fn a_lazy_plugin_never_called_is_replaced_by_a_lazy_one() {
    let log = Log::default();
    let pm = PluginHost::builder().environment(false).build();
    pm.add_lazy(svc("svc", "v1", &log)).unwrap();
    pm.start().await.unwrap();
    let report = pm
        .replace("svc", svc("svc", "v2", &log), GRACE)
        .await
        .unwrap();
    assert_eq!(
        report.old.outcome,
        StopOutcome::NotStarted(PluginState::Registered)
    );
    // Neither instance started: the new one waits for its first call.
    assert!(log.entries().is_empty());
    assert_eq!(pm.state("svc"), Some(PluginState::Registered));
    assert_eq!(which(&pm).await, ["v2", "v2"]);
    assert_eq!(log.entries(), ["svc@v2:init", "svc@v2:start"]);
    assert_eq!(pm.state("svc"), Some(PluginState::Started));
}

#[tokio::test]
async fn a_lazy_dependent_never_called_is_wired_to_the_new_instance() {
    let log = Log::default();
    let pm = PluginHost::builder().environment(false).build();
    pm.add(svc("db", "v1", &log)).unwrap();
    pm.add_lazy(Svc {
        requires: vec![("db", "^1")],
        ..svc("api", "p", &log)
    })
    .unwrap();
    pm.start().await.unwrap();
    let report = pm
        .replace("db", svc("db", "v2", &log), GRACE)
        .await
        .unwrap();
    assert_eq!(report.restarted, ["api"]);
    assert_eq!(pm.state("api"), Some(PluginState::Registered));
    log.clear();
    // Its first call starts it, with the new instance's service.
    assert_eq!(which(&pm).await, ["p", "p", "v2", "v2"]);
    assert_eq!(
        log.entries(),
        ["api@p:init", "api@p:uses db@v2", "api@p:start"]
    );
}

#[tokio::test]
async fn a_dependent_that_fails_to_come_back_is_reported_and_the_replacement_stands() {
    let log = Log::default();
    let api = Svc {
        requires: vec![("db", "^1")],
        // Its first init passes; the one after the replacement fails.
        fail_inits: Arc::new(AtomicUsize::new(0)),
        ..svc("api", "p", &log)
    };
    let api_inits = api.fail_inits.clone();
    let pm = started(vec![svc("db", "v1", &log), api]).await;
    api_inits.store(1, Ordering::SeqCst);
    let report = pm
        .replace("db", svc("db", "v2", &log), GRACE)
        .await
        .unwrap();
    assert!(report.restarted.is_empty());
    assert_eq!(
        report.to_string(),
        "replaced db (old instance stopped)\nfailed 1: api (plugin `api` failed: init failed: api@p is not ready)"
    );
    assert_eq!(
        report.failed,
        [(
            "api".to_owned(),
            "plugin `api` failed: init failed: api@p is not ready".to_owned()
        )]
    );
    assert_eq!(
        pm.state("api"),
        Some(PluginState::Failed(
            "init failed: api@p is not ready".into()
        ))
    );
    assert_eq!(which(&pm).await, ["v2", "v2"]);
    // It can be restarted once the cause is gone.
    pm.restart("api").await.unwrap();
    assert_eq!(which(&pm).await, ["p", "p", "v2", "v2"]);
}

#[tokio::test]
async fn a_restarted_plugin_keeps_its_place_in_the_call_order() {
    let log = Log::default();
    let pm = started(vec![
        svc("first", "a", &log),
        svc("svc", "v1", &log),
        svc("last", "z", &log),
    ])
    .await;
    pm.stop("svc", GRACE).await.unwrap();
    assert_eq!(which(&pm).await, ["z", "z", "a", "a"]);
    pm.restart("svc").await.unwrap();
    assert_eq!(which(&pm).await, ["z", "z", "v1", "v1", "a", "a"]);
}

#[tokio::test(start_paused = true)]
async fn dropping_restart_part_way_fails_the_plugin_and_a_restart_recovers_it() {
    let log = Log::default();
    let p = svc("svc", "v1", &log);
    let (hang, token) = (p.start_hangs.clone(), p.token.clone());
    let pm = started(vec![p]).await;
    pm.stop("svc", GRACE).await.unwrap();
    hang.store(true, Ordering::SeqCst);
    let dropped = tokio::time::timeout(Duration::from_secs(1), pm.restart("svc")).await;
    assert!(dropped.is_err(), "its start never ends");
    assert_eq!(
        pm.state("svc"),
        Some(PluginState::Failed(
            "its start was cancelled: the future of `PluginHost::restart` was dropped while the plugin was starting".into()
        ))
    );
    assert!(token.lock().unwrap().as_ref().unwrap().is_cancelled());
    assert!(which(&pm).await.is_empty());
    hang.store(false, Ordering::SeqCst);
    pm.restart("svc").await.unwrap();
    assert_eq!(which(&pm).await, ["v1", "v1"]);
}

#[tokio::test]
async fn a_host_api_mismatch_keeps_the_old_version_serving() {
    let log = Log::default();
    let pm = PluginHost::builder()
        .environment(false)
        .host_api(semver::Version::new(1, 4, 0))
        .build();
    pm.add(Svc {
        host_api: Some("^1"),
        ..svc("svc", "v1", &log)
    })
    .unwrap();
    pm.start().await.unwrap();
    let err = pm
        .replace(
            "svc",
            Svc {
                host_api: Some("^2"),
                ..svc("svc", "v2", &log)
            },
            GRACE,
        )
        .await
        .unwrap_err();
    let PluginError::Dependencies { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(&error.problems()[0], DependencyProblem::HostApiMismatch { plugin, .. } if plugin == "svc"),
        "{error}"
    );
    assert_eq!(which(&pm).await, ["v1", "v1"]);
}
