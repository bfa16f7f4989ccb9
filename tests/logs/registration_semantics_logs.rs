//! What `register` logs about historic replays it cannot report otherwise. In its own test
//! binary, one test: a scoped subscriber dropped while another test's subscriber is active can
//! make tracing's global max-level hint briefly wrong for that other test.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookwire::{BoxError, FutureExt, HookManager};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

hookwire::hookspec! {
    #[historic]
    pub struct Loaded(u32) -> u32;
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Every event as `LEVEL hook plugin: message`.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut f = BTreeMap::new();
        event.record(&mut Fields(&mut f));
        let field = |k: &str| f.get(k).cloned().unwrap_or_default();
        self.0.lock().unwrap().push(format!(
            "{} {} {}: {}",
            event.metadata().level(),
            field("hook"),
            field("plugin"),
            field("message")
        ));
    }
}

#[tokio::test(start_paused = true)]
async fn replay_problems_that_register_cannot_return_are_logged_as_errors_naming_hook_and_plugin() {
    let events = Events::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(events.clone()));

    // A panicking `on_result` during a replay inside `register`.
    let pm = HookManager::builder().spec::<Loaded>().build();
    pm.hook::<Loaded>()
        .call_historic(1, |plugin, _| {
            if plugin == "late" {
                panic!("callback bug");
            }
        })
        .await
        .unwrap();
    pm.register("late", |r| r.sync_fn::<Loaded>(|x| Ok(Some(*x))).add())
        .unwrap();
    assert_eq!(
        *events.0.lock().unwrap(),
        ["ERROR Loaded late: the `on_result` callback of a historic call panicked while the call was replayed to this plugin: callback bug; the plugin's registration stands"]
    );
    events.0.lock().unwrap().clear();

    // A fail-fast replay that fails after `register` returned.
    let pm = HookManager::builder().spec::<Loaded>().build();
    pm.hook::<Loaded>()
        .fail_fast()
        .call_historic(1, |_, _| {})
        .await
        .unwrap();
    pm.register("slow", |r| {
        r.hook_fn::<Loaded>(|_| {
            async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Err(BoxError::from("too late"))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    pm.flush().await;
    assert_eq!(
        *events.0.lock().unwrap(),
        ["ERROR Loaded slow: a fail-fast replay of a historic call failed after the registration had returned, so the plugin stays registered: it returned an error: too late"]
    );
}
