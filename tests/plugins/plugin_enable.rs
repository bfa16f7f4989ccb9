//! Enabling and disabling plugins while the host runs (`PluginHost::enable`/`disable`),
//! whatever the configuration said — through the public API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookwire::config::{DisabledBy, HostConfig};
use hookwire::error::PluginError;
use hookwire::plugin::{PluginEvent, PluginState, StopOutcome};
use hookwire::{
    async_trait, BoxError, Plugin, PluginContext, PluginHost, PluginMeta, RegisterError, Registrar,
};
use tokio::sync::broadcast;

hookwire::hookspec! {
    /// Who answers? Every plugin answers its name.
    pub struct Who(()) -> String;
}

const GRACE: Duration = Duration::from_secs(5);

/// A shared, ordered log: `"<name>:init"`, `":start"`, `":stop"`.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A plugin answering `Who` with its name.
#[derive(Clone)]
struct Svc {
    name: &'static str,
    requires: Option<&'static str>,
    /// `init` fails while this is set.
    broken: Arc<AtomicBool>,
    stop_hangs: bool,
    log: Log,
}

fn svc(name: &'static str, log: &Log) -> Svc {
    Svc {
        name,
        requires: None,
        broken: Arc::default(),
        stop_hangs: false,
        log: log.clone(),
    }
}

fn needs(name: &'static str, dep: &'static str, log: &Log) -> Svc {
    Svc {
        requires: Some(dep),
        ..svc(name, log)
    }
}

#[async_trait]
impl Plugin for Svc {
    fn meta(&self) -> PluginMeta {
        let meta = PluginMeta::new(self.name, "1.0.0");
        match self.requires {
            Some(dep) => meta.requires(dep, "^1"),
            None => meta,
        }
    }

    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let name = self.name;
        r.sync_fn::<Who>(move |_| Ok(Some(name.to_owned()))).add()
    }

    async fn init(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.log.push(format!("{}:init", self.name));
        if self.broken.load(Ordering::SeqCst) {
            return Err("the disk is full".into());
        }
        Ok(())
    }

    async fn start(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.log.push(format!("{}:start", self.name));
        Ok(())
    }

    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.log.push(format!("{}:stop", self.name));
        if self.stop_hangs {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// The answers of one `Who` call, in call order.
async fn who(pm: &PluginHost) -> Vec<String> {
    let out = pm.hook::<Who>().call(&()).await.unwrap();
    out.values().cloned().collect()
}

fn drain(rx: &mut broadcast::Receiver<PluginEvent>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(match e {
            PluginEvent::StateChanged {
                plugin, from, to, ..
            } => format!("{plugin}: {from} -> {to}"),
            PluginEvent::Admin { plugin, action } => format!("{plugin}: asked to {action}"),
            other => format!("{other:?}"),
        });
    }
    out
}

/// A host with admin events on, the environment ignored, and `config`.
fn host(config: HostConfig) -> PluginHost {
    PluginHost::builder()
        .config(config)
        .environment(false)
        .admin_events(true)
        .build()
}

fn disabled_by(pm: &PluginHost, name: &str) -> Option<DisabledBy> {
    pm.plugins().get(name).unwrap().disabled.clone()
}

#[tokio::test]
async fn a_plugin_disabled_by_the_file_or_the_environment_is_enabled_at_run_time() {
    let log = Log::default();
    let config = HostConfig::parse("[plugins.audit]\nenabled = false\n", "hookwire.toml")
        .unwrap()
        .with_env([("HOOKWIRE_PLUGINS_DISABLE", "metrics")])
        .unwrap();
    let pm = host(config);
    for p in [svc("core", &log), svc("audit", &log), svc("metrics", &log)] {
        pm.add(p).unwrap();
    }
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["core"]);
    assert_eq!(
        report.to_string(),
        "started 1: core\n\
         disabled 2: audit (by `enabled = false` in hookwire.toml), metrics (by environment variable HOOKWIRE_PLUGINS_DISABLE)"
    );
    assert_eq!(who(&pm).await, ["core"]);
    log.take();

    let mut events = pm.events();
    assert!(pm.enable("audit").await.unwrap());
    assert_eq!(pm.state("audit"), Some(PluginState::Started));
    assert_eq!(disabled_by(&pm, "audit"), None);
    assert_eq!(who(&pm).await, ["audit", "core"]);
    assert_eq!(log.take(), ["audit:init", "audit:start"]);
    assert_eq!(
        drain(&mut events),
        [
            "audit: asked to enable",
            "audit: discovered -> registered",
            "audit: registered -> initialized",
            "audit: initialized -> started",
        ]
    );
    // Enabling a running plugin changes nothing.
    assert!(!pm.enable("audit").await.unwrap());
    assert!(log.take().is_empty());

    // The environment's disable is lifted the same way.
    assert_eq!(
        disabled_by(&pm, "metrics"),
        Some(DisabledBy::Env {
            var: "HOOKWIRE_PLUGINS_DISABLE".into()
        })
    );
    assert!(pm.enable("metrics").await.unwrap());
    assert_eq!(who(&pm).await, ["metrics", "audit", "core"]);
    assert_eq!(pm.plugins().disabled().count(), 0);
    // A later start has nothing left to do.
    let report = pm.start().await.unwrap();
    assert_eq!(report.to_string(), "started none");

    // A plugin added since the last start is brought up alone.
    pm.add(svc("late", &log)).unwrap();
    log.take();
    assert!(pm.enable("late").await.unwrap());
    assert_eq!(log.take(), ["late:init", "late:start"]);
    assert_eq!(pm.start().await.unwrap().to_string(), "started none");
}

#[tokio::test]
async fn disable_stops_a_running_plugin_and_a_dependent_refuses_it() {
    let log = Log::default();
    let pm = host(HostConfig::new());
    for p in [svc("db", &log), needs("api", "db", &log), svc("web", &log)] {
        pm.add(p).unwrap();
    }
    pm.start().await.unwrap();
    let before = who(&pm).await;
    assert_eq!(before, ["web", "api", "db"]);
    log.take();
    let mut events = pm.events();

    // `api` runs and requires `db`: refused, nothing changes.
    let err = pm.disable("db", GRACE).await.unwrap_err();
    assert!(matches!(err, PluginError::Required { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin `db` is required by running plugins api; remove them first"
    );
    assert_eq!(pm.state("db"), Some(PluginState::Started));
    assert_eq!(disabled_by(&pm, "db"), None);

    let stop = pm.disable("api", GRACE).await.unwrap().unwrap();
    assert_eq!(stop.outcome, StopOutcome::Stopped);
    assert_eq!(log.take(), ["api:stop"]);
    assert_eq!(who(&pm).await, ["web", "db"]);
    assert_eq!(pm.state("api"), Some(PluginState::Stopped));
    assert_eq!(disabled_by(&pm, "api"), Some(DisabledBy::Runtime));
    // Disabled already: nothing to do.
    assert_eq!(pm.disable("api", GRACE).await.unwrap(), None);
    // A disabled dependent holds nothing up.
    let stop = pm.disable("db", GRACE).await.unwrap().unwrap();
    assert_eq!(stop.outcome, StopOutcome::Stopped);
    assert_eq!(log.take(), ["db:stop"]);
    assert_eq!(who(&pm).await, ["web"]);
    assert_eq!(
        drain(&mut events),
        [
            "db: asked to disable",
            "api: asked to disable",
            "api: started -> stopped",
            "api: asked to disable",
            "db: asked to disable",
            "db: started -> stopped",
        ]
    );

    // `restart` leaves a disabled plugin off, saying how to turn it on.
    let err = pm.restart("api").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `api` is disabled at run time: enable it first (`PluginHost::enable`)"
    );
    // Enabling `api` before `db`: refused, naming the dependency to enable.
    let err = pm.enable("api").await.unwrap_err();
    assert!(
        matches!(&err, PluginError::DependencyNotRunning { dependency, disabled: Some(DisabledBy::Runtime), .. } if dependency == "db"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "plugin `api` requires `db`, which is disabled at run time: enable `db` first"
    );
    assert_eq!(disabled_by(&pm, "api"), Some(DisabledBy::Runtime));
    assert!(log.take().is_empty());

    // Enabled again, in dependency order: their impls are back in their places.
    assert!(pm.enable("db").await.unwrap());
    assert!(pm.enable("api").await.unwrap());
    assert_eq!(who(&pm).await, before);
    assert_eq!(log.take(), ["db:init", "db:start", "api:init", "api:start"]);
    assert_eq!(
        drain(&mut events),
        [
            "api: asked to restart",
            "ReloadFailed { plugin: \"api\", error: \"plugin `api` is disabled at run time: enable it first (`PluginHost::enable`)\" }",
            "api: asked to enable",
            "db: asked to enable",
            "db: stopped -> registered",
            "db: registered -> initialized",
            "db: initialized -> started",
            "api: asked to enable",
            "api: stopped -> registered",
            "api: registered -> initialized",
            "api: initialized -> started",
        ]
    );
}

#[tokio::test]
async fn a_start_does_not_revive_a_plugin_disabled_at_run_time() {
    let log = Log::default();
    let pm = host(HostConfig::new());
    pm.add(svc("svc", &log)).unwrap();
    pm.start().await.unwrap();
    pm.disable("svc", GRACE).await.unwrap();
    log.take();

    pm.add(svc("late", &log)).unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["late"]);
    assert_eq!(report.disabled, [("svc".to_owned(), DisabledBy::Runtime)]);
    assert_eq!(
        report.to_string(),
        "started 1: late\ndisabled 1: svc (at run time)"
    );
    assert_eq!(pm.state("svc"), Some(PluginState::Stopped));
    assert_eq!(log.take(), ["late:init", "late:start"]);
    assert_eq!(who(&pm).await, ["late"]);

    // A plugin added later that requires it does not resolve, and the error says why.
    pm.add(needs("api", "svc", &log)).unwrap();
    let err = pm.start().await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("\n  note: plugin `svc` is disabled at run time"),
        "{err}"
    );
    pm.remove("api", GRACE).await.unwrap();

    // The shutdown report says it is disabled, and by what.
    let report = pm.shutdown(GRACE).await;
    assert!(report.is_clean(), "{report}");
    let svc_stop = report.plugins.iter().find(|p| p.plugin == "svc").unwrap();
    assert_eq!(svc_stop.outcome, StopOutcome::Disabled(DisabledBy::Runtime));
    assert_eq!(
        report.to_string(),
        "stopped 1: late\nnot running 1: svc (disabled at run time)"
    );
    assert_eq!(log.take(), ["late:stop"]);
}

#[tokio::test]
async fn enable_errors_name_what_to_fix() {
    let log = Log::default();
    let mut config = HostConfig::new();
    config.disable("api");
    config.disable("flaky");
    let pm = host(config);
    let flaky = svc("flaky", &log);
    flaky.broken.store(true, Ordering::SeqCst);
    let broken = flaky.broken.clone();
    for p in [needs("api", "db", &log), flaky] {
        pm.add(p).unwrap();
    }
    pm.start().await.unwrap();

    let err = pm.enable("nope").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no plugin `nope`; known plugins: api, flaky"
    );
    let err = pm.disable("nope", GRACE).await.unwrap_err();
    assert!(matches!(err, PluginError::Unknown { .. }), "{err:?}");

    // A dependency that was never added: nothing changes.
    let err = pm.enable("api").await.unwrap_err();
    assert!(matches!(err, PluginError::Dependencies { .. }), "{err:?}");
    assert!(
        err.to_string().contains("`api`") && err.to_string().contains("`db`"),
        "{err}"
    );
    assert_eq!(pm.state("api"), Some(PluginState::Discovered));
    assert_eq!(disabled_by(&pm, "api"), Some(DisabledBy::Host));

    // A failing `init`: enabled, failed with the reason; enabling again retries.
    let err = pm.enable("flaky").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `flaky` failed: init failed: the disk is full"
    );
    assert_eq!(
        pm.state("flaky"),
        Some(PluginState::Failed("init failed: the disk is full".into()))
    );
    assert_eq!(disabled_by(&pm, "flaky"), None);
    broken.store(false, Ordering::SeqCst);
    assert!(pm.enable("flaky").await.unwrap());
    assert_eq!(who(&pm).await, ["flaky"]);
}

#[tokio::test]
async fn a_lazy_plugin_is_enabled_behind_its_gate() {
    let log = Log::default();
    let config = HostConfig::parse("[plugins.lazy]\nenabled = false\n", "hookwire.toml").unwrap();
    let pm = host(config);
    pm.add_lazy(svc("lazy", &log)).unwrap();
    pm.start().await.unwrap();

    assert!(pm.enable("lazy").await.unwrap());
    assert_eq!(pm.state("lazy"), Some(PluginState::Registered));
    assert!(log.take().is_empty(), "not started before its first call");
    // Disabled before its first call: nothing to stop, its gate gone with its impls.
    let stop = pm.disable("lazy", GRACE).await.unwrap().unwrap();
    assert_eq!(
        stop.outcome,
        StopOutcome::NotStarted(PluginState::Registered)
    );
    assert!(who(&pm).await.is_empty());
    assert!(log.take().is_empty());
    assert!(pm.enable("lazy").await.unwrap());
    assert_eq!(pm.state("lazy"), Some(PluginState::Registered));
    assert_eq!(who(&pm).await, ["lazy"]);
    assert_eq!(pm.state("lazy"), Some(PluginState::Started));
    assert_eq!(log.take(), ["lazy:init", "lazy:start"]);

    // Disabled and enabled again: back behind its gate, started by the next call.
    pm.disable("lazy", GRACE).await.unwrap();
    assert!(who(&pm).await.is_empty());
    assert!(pm.enable("lazy").await.unwrap());
    assert_eq!(pm.state("lazy"), Some(PluginState::Registered));
    assert_eq!(who(&pm).await, ["lazy"]);
    assert_eq!(log.take(), ["lazy:stop", "lazy:init", "lazy:start"]);
}

#[tokio::test(start_paused = true)]
async fn a_disable_dropped_while_the_plugin_stops_fails_it_and_can_be_repeated() {
    let log = Log::default();
    let pm = host(HostConfig::new());
    pm.add(Svc {
        stop_hangs: true,
        ..svc("stuck", &log)
    })
    .unwrap();
    pm.start().await.unwrap();

    let dropped = tokio::time::timeout(Duration::from_millis(10), pm.disable("stuck", GRACE)).await;
    assert!(dropped.is_err(), "its stop hangs: the disable was dropped");
    assert_eq!(
        pm.state("stuck"),
        Some(PluginState::Failed(
            "its stop was cancelled: the future of `PluginHost::disable` was dropped".into()
        ))
    );
    assert_eq!(disabled_by(&pm, "stuck"), None);
    assert!(who(&pm).await.is_empty());

    // Again: nothing to stop, now disabled.
    let stop = pm.disable("stuck", GRACE).await.unwrap().unwrap();
    assert!(
        matches!(
            stop.outcome,
            StopOutcome::NotStarted(PluginState::Failed(_))
        ),
        "{stop:?}"
    );
    assert_eq!(disabled_by(&pm, "stuck"), Some(DisabledBy::Runtime));
}
