//! Tracing spans per call and per impl. The only test in its binary: tracing's callsite
//! interest is global, and a concurrent test calling hooks without a subscriber can race with
//! this one installing its scoped subscriber.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hookspecs::Compute;
use hookwire::HookManager;
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

    // A parallel call has the same spans.
    spans.0.lock().unwrap().clear();
    pm.hook::<Compute>().parallel().call(&1).await.unwrap();
    let all = spans.0.lock().unwrap().clone();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["hook_call", "hook_impl", "hook_impl"]);
    assert_eq!(all[0].1["parallel"], "true");
    assert_eq!(all[1].1["plugin"], "adds");
    assert_eq!(all[2].1["plugin"], "fails");
}
