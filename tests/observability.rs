//! Tracing spans per call and per impl, and call monitors (pluggy's hookcall monitoring).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookspecs::Compute;
use hookwire::{CallInfo, HookManager, HookMonitor, ImplReport, OutcomeKind};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<SpanRecord>>>);

/// A span's name and its fields.
type SpanRecord = (String, BTreeMap<String, String>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.0
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), fields));
    }
    fn on_record(&self, _id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        // Spans of one call are recorded in order; attach to the last impl span.
        let mut all = self.0.lock().unwrap();
        if let Some((_, fields)) = all.iter_mut().rev().find(|(n, _)| n == "hook_impl") {
            values.record(&mut Fields(fields));
        }
    }
}

#[tokio::test]
async fn a_span_per_call_and_per_impl_with_outcome_and_duration() {
    let spans = Spans::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let pm = HookManager::new();
    pm.register("fails", |r| {
        r.sync_fn::<Compute>(|_| Err("nope".into())).add()
    })
    .unwrap();
    pm.register("adds", |r| r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).add())
        .unwrap();
    pm.hook::<Compute>().call(&1).await.unwrap();

    let all = spans.0.lock().unwrap().clone();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["hook_call", "hook_impl", "hook_impl"]);
    assert_eq!(all[0].1["hook"], "compute");
    assert_eq!(all[0].1["mode"], "CollectAll");
    assert_eq!(all[0].1["impls"], "2");
    assert_eq!(all[1].1["plugin"], "adds");
    assert_eq!(all[1].1["outcome"], "value");
    assert!(all[1].1.contains_key("duration_us"));
    assert_eq!(all[2].1["plugin"], "fails");
    assert_eq!(all[2].1["outcome"], "error");
}

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
}

impl HookMonitor for Recorder {
    fn before_call(&self, call: &CallInfo<'_>) {
        let arg = call.args.downcast_ref::<u64>().copied();
        self.seen
            .lock()
            .unwrap()
            .push(format!("before {} {:?} {:?}", call.hook, call.plugins, arg));
    }
    fn after_call(&self, call: &CallInfo<'_>, results: &[ImplReport], _elapsed: Duration) {
        let r: Vec<String> = results
            .iter()
            .map(|r| {
                format!(
                    "{}={}{}",
                    r.plugin,
                    r.kind,
                    r.error
                        .as_deref()
                        .map(|e| format!("({e})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        self.seen
            .lock()
            .unwrap()
            .push(format!("after {} {}", call.hook, r.join(",")));
    }
}

#[tokio::test]
async fn monitors_see_every_call_and_outcome_until_removed() {
    let pm = HookManager::new();
    pm.register("a", |r| r.sync_fn::<Compute>(|x| Ok(Some(*x))).add())
        .unwrap();
    pm.register("b", |r| {
        r.sync_fn::<Compute>(|_| panic!("bad")).trylast().add()
    })
    .unwrap();
    let rec = Arc::new(Recorder::default());
    let handle = pm.add_monitor(rec.clone());
    pm.hook::<Compute>().call(&5).await.unwrap();
    assert_eq!(
        *rec.seen.lock().unwrap(),
        [
            "before compute [\"a\", \"b\"] Some(5)".to_owned(),
            "after compute a=value,b=panic(panicked: bad)".to_owned()
        ]
    );
    assert_eq!(OutcomeKind::Panic.to_string(), "panic");
    assert!(pm.remove_monitor(&handle));
    assert!(!pm.remove_monitor(&handle));
    pm.hook::<Compute>().call(&5).await.unwrap();
    assert_eq!(rec.seen.lock().unwrap().len(), 2);
}

#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(format!(
            "{} {}",
            event.metadata().level(),
            fields["message"]
        ));
    }
}

#[test]
fn deprecated_specs_warn_when_implemented_and_carry_their_version() {
    use hookwire::HookSpec;
    hookwire::hookspec! {
        #[version = 3]
        #[warn_on_impl = "use `compute` instead"]
        pub struct OldCompute(u64) -> u64;
    }
    assert_eq!(OldCompute::VERSION, 3);
    assert_eq!(OldCompute::info().version(), 3);
    assert_eq!(
        OldCompute::info().warn_on_impl(),
        Some("use `compute` instead")
    );

    let events = Events::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(events.clone()));
    let pm = HookManager::new();
    pm.register("legacy", |r| {
        r.sync_fn::<OldCompute>(|x| Ok(Some(*x))).add()
    })
    .unwrap();
    assert_eq!(
        *events.0.lock().unwrap(),
        ["WARN impl of deprecated hook: use `compute` instead"]
    );
}
