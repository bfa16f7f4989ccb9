//! Call monitors: nesting order (pluggy's: the last added is outermost) and isolation of a
//! monitor's panics.
//!
//! Every test that makes a monitor panic installs its own scoped subscriber: tracing's callsite
//! interest is global, so the `error` event's callsite must only ever be reached with one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookspecs::Compute;
use hookwire::{
    monitor::CallInfo, monitor::HookMonitor, monitor::ImplReport, outcome::OutcomeKind, FutureExt,
    HookManager,
};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

type Log = Arc<Mutex<Vec<String>>>;

/// Logs `"<name>.before"` and `"<name>.after [plugin=kind, ...]"`.
struct Recorder {
    name: &'static str,
    log: Log,
}

impl HookMonitor for Recorder {
    fn before_call(&self, _call: &CallInfo<'_>) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{}.before", self.name));
    }
    fn after_call(&self, _call: &CallInfo<'_>, results: &[ImplReport], _elapsed: Duration) {
        let r: Vec<String> = results
            .iter()
            .map(|r| format!("{}={}", r.plugin, r.kind))
            .collect();
        self.log
            .lock()
            .unwrap()
            .push(format!("{}.after [{}]", self.name, r.join(",")));
    }
}

fn recorder(name: &'static str, log: &Log) -> Arc<Recorder> {
    Arc::new(Recorder {
        name,
        log: log.clone(),
    })
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// Panics in `before_call` or in `after_call`; named by its type (the default `name`).
struct Boom {
    in_before: bool,
}

impl HookMonitor for Boom {
    fn before_call(&self, _call: &CallInfo<'_>) {
        if self.in_before {
            panic!("boom before");
        }
    }
    fn after_call(&self, _call: &CallInfo<'_>, _results: &[ImplReport], _elapsed: Duration) {
        if !self.in_before {
            panic!("boom after");
        }
    }
}

/// Panics in `after_call`, under a name of its own.
struct Named;

impl HookMonitor for Named {
    fn name(&self) -> &str {
        "audit-monitor"
    }
    fn after_call(&self, _call: &CallInfo<'_>, _results: &[ImplReport], _elapsed: Duration) {
        panic!("audit down");
    }
}

/// The `error` events a call emitted, as field maps (`message` included).
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Errors {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() != tracing::Level::ERROR {
            return;
        }
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(fields);
    }
}

impl Errors {
    /// `(monitor, method, panic)` of each event.
    fn seen(&self) -> Vec<(String, String, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f.get("monitor").cloned().unwrap_or_default(),
                    f.get("method").cloned().unwrap_or_default(),
                    f.get("panic").cloned().unwrap_or_default(),
                )
            })
            .collect()
    }
}

fn two_impls() -> HookManager {
    let pm = HookManager::new();
    pm.register("a", |r| r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).add())
        .unwrap();
    pm.register("b", |r| {
        r.sync_fn::<Compute>(|_| Err("nope".into())).trylast().add()
    })
    .unwrap();
    pm
}

#[tokio::test]
async fn a_panicking_monitor_does_not_change_the_outcome() {
    let errors = Errors::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    let pm = two_impls();
    let log: Log = Arc::default();
    pm.add_monitor(recorder("inner", &log));
    pm.add_monitor(Arc::new(Boom { in_before: true }));
    pm.add_monitor(Arc::new(Named));
    pm.add_monitor(recorder("outer", &log));

    let out = pm.hook::<Compute>().call(&1).await.unwrap();
    let got: Vec<(&str, OutcomeKind)> = out.iter().map(|(p, o)| (p, o.kind())).collect();
    assert_eq!(got, [("a", OutcomeKind::Value), ("b", OutcomeKind::Error)]);
    assert_eq!(out.values().copied().collect::<Vec<_>>(), [2]);
    // The other monitors saw the whole call.
    assert_eq!(
        take(&log),
        [
            "outer.before",
            "inner.before",
            "inner.after [a=value,b=error]",
            "outer.after [a=value,b=error]"
        ]
    );
    // Each panic reported once, naming the monitor (its type name by default) and the method.
    assert_eq!(
        errors.seen(),
        [
            (
                "monitors::Boom".to_owned(),
                "before_call".to_owned(),
                "boom before".to_owned()
            ),
            (
                "audit-monitor".to_owned(),
                "after_call".to_owned(),
                "audit down".to_owned()
            ),
        ]
    );
    let first = errors.0.lock().unwrap()[0].clone();
    assert_eq!(first["hook"], "compute");
    assert!(
        first["message"].contains("hook monitor `monitors::Boom` panicked in before_call"),
        "{first:?}"
    );

    // Fail-fast calls still report the impl's failure, not the monitor's.
    let err = pm.hook::<Compute>().fail_fast().call(&1).await.unwrap_err();
    assert_eq!(err.plugin(), Some("b"));
    assert_eq!(errors.seen().len(), 4);
}

#[tokio::test]
async fn a_monitor_panicking_in_after_call_does_not_lose_the_outcome() {
    let errors = Errors::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    let pm = two_impls();
    pm.add_monitor(Arc::new(Boom { in_before: false }));
    let out = pm.hook::<Compute>().call(&41).await.unwrap();
    assert_eq!(out.answers().collect::<Vec<_>>(), [("a", &42)]);
    assert_eq!(out.errors().next().unwrap().0, "b");
    assert_eq!(
        errors.seen(),
        [(
            "monitors::Boom".to_owned(),
            "after_call".to_owned(),
            "boom after".to_owned()
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn a_monitor_panicking_when_a_call_is_dropped_does_not_unwind() {
    let errors = Errors::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    let pm = HookManager::new();
    pm.register("stuck", |r| {
        r.hook_fn::<Compute>(|_| std::future::pending().boxed())
            .add()
    })
    .unwrap();
    let log: Log = Arc::default();
    pm.add_monitor(recorder("first", &log));
    pm.add_monitor(Arc::new(Named));
    pm.add_monitor(recorder("last", &log));
    let hook = pm.hook::<Compute>();
    // Dropping the call (the timeout gives up) runs the monitors' `after_call` from a `Drop`.
    let r = tokio::time::timeout(Duration::from_millis(10), hook.call(&1)).await;
    assert!(r.is_err());
    assert_eq!(
        take(&log),
        [
            "last.before",
            "first.before",
            "first.after [stuck=cancelled]",
            "last.after [stuck=cancelled]"
        ]
    );
    assert_eq!(
        errors.seen(),
        [(
            "audit-monitor".to_owned(),
            "after_call".to_owned(),
            "audit down".to_owned()
        )]
    );
}

#[test]
fn a_monitors_name_defaults_to_its_type_name() {
    assert_eq!(Boom { in_before: true }.name(), "monitors::Boom");
    assert_eq!(Named.name(), "audit-monitor");
}

#[tokio::test]
async fn monitors_nest_with_the_last_added_outermost() {
    let pm = two_impls();
    let log: Log = Arc::default();
    let a = pm.add_monitor(recorder("A", &log));
    pm.add_monitor(recorder("B", &log));
    pm.hook::<Compute>().call(&1).await.unwrap();
    assert_eq!(
        take(&log),
        [
            "B.before",
            "A.before",
            "A.after [a=value,b=error]",
            "B.after [a=value,b=error]"
        ]
    );
    // Removing the inner one and adding it again makes it the outermost.
    assert!(pm.remove_monitor(&a));
    pm.add_monitor(recorder("A", &log));
    pm.hook::<Compute>().call(&1).await.unwrap();
    assert_eq!(
        take(&log),
        [
            "A.before",
            "B.before",
            "B.after [a=value,b=error]",
            "A.after [a=value,b=error]"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn monitors_of_a_dropped_call_nest_too() {
    let pm = HookManager::new();
    pm.register("done", |r| r.sync_fn::<Compute>(|x| Ok(Some(*x))).add())
        .unwrap();
    pm.register("stuck", |r| {
        r.hook_fn::<Compute>(|_| std::future::pending().boxed())
            .trylast()
            .add()
    })
    .unwrap();
    let log: Log = Arc::default();
    pm.add_monitor(recorder("A", &log));
    pm.add_monitor(recorder("B", &log));
    pm.add_monitor(recorder("C", &log));
    let hook = pm.hook::<Compute>();
    let r = tokio::time::timeout(Duration::from_millis(10), hook.call(&1)).await;
    assert!(r.is_err());
    assert_eq!(
        take(&log),
        [
            "C.before",
            "B.before",
            "A.before",
            "A.after [done=cancelled,stuck=cancelled]",
            "B.after [done=cancelled,stuck=cancelled]",
            "C.after [done=cancelled,stuck=cancelled]"
        ]
    );
}
