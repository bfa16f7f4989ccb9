//! Deprecated specs warn (through `tracing`) when implemented. In its own test binary: a
//! scoped subscriber dropped while another test's subscriber is active can make tracing's
//! global max-level hint briefly wrong for that other test.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hookwire::HookManager;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
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
