//! Lifecycle transitions are tracing events, and a plugin's lifecycle methods and tracked tasks
//! run inside its span. The only test in its binary (tracing's callsite interest is global).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookwire::{
    async_trait, BoxError, Plugin, PluginContext, PluginHost, PluginMeta, RegisterError, Registrar,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Event;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// An event: its message and fields, and the `plugin` field of the span it happened in.
#[derive(Debug, Clone)]
struct Seen {
    fields: BTreeMap<String, String>,
    in_plugin_span: Option<String>,
}

#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<Seen>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// The `plugin` field of a `plugin` span, kept in the span's extensions.
struct PluginField(String);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Events {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() == "plugin" {
            let mut fields = BTreeMap::new();
            attrs.record(&mut Fields(&mut fields));
            if let (Some(span), Some(name)) = (ctx.span(id), fields.remove("plugin")) {
                span.extensions_mut().insert(PluginField(name));
            }
        }
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let in_plugin_span = ctx.event_scope(event).and_then(|scope| {
            scope
                .from_root()
                .find_map(|s| s.extensions().get::<PluginField>().map(|p| p.0.clone()))
        });
        self.0.lock().unwrap().push(Seen {
            fields,
            in_plugin_span,
        });
    }
}

struct Chatty;
#[async_trait]
impl Plugin for Chatty {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("chatty", "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn init(&self, _: &PluginContext) -> Result<(), BoxError> {
        tracing::info!("hello from init");
        Ok(())
    }
    async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        ctx.spawn("worker", async { tracing::info!("hello from a task") })?;
        Ok(())
    }
}

#[tokio::test]
async fn transitions_are_events_and_plugin_code_runs_in_its_span() {
    let events = Events::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(events.clone()));
    let pm = PluginHost::new();
    pm.add(Chatty).unwrap();
    pm.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    pm.shutdown(Duration::from_secs(1)).await;

    let seen = events.0.lock().unwrap().clone();
    let transitions: Vec<String> = seen
        .iter()
        .filter(|e| e.fields.get("message").map(String::as_str) == Some("plugin state"))
        .map(|e| {
            format!(
                "{} {} -> {}",
                e.fields["plugin"], e.fields["from"], e.fields["to"]
            )
        })
        .collect();
    assert_eq!(
        transitions,
        [
            "chatty Discovered -> Registered",
            "chatty Registered -> Initialized",
            "chatty Initialized -> Started",
            "chatty Started -> Stopped",
        ]
    );
    for message in ["hello from init", "hello from a task"] {
        let e = seen
            .iter()
            .find(|e| e.fields.get("message").map(String::as_str) == Some(message))
            .unwrap_or_else(|| panic!("no event {message:?} in {seen:?}"));
        assert_eq!(e.in_plugin_span.as_deref(), Some("chatty"), "{message}");
    }
}
