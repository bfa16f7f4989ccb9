//! A `tracing` layer that keeps the events it is given as `field=value` lines, for the test
//! binaries that check what the library logs (each installs it as its own subscriber:
//! `#[path = "common/log_lines.rs"] mod log_lines;`).

#![allow(dead_code)] // each binary uses a part

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::Metadata;
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// The kept events, one line each (`name=value` fields joined by spaces); `.1` chooses them.
#[derive(Clone)]
pub struct LogLines(pub Arc<Mutex<Vec<String>>>, fn(&Metadata<'_>) -> bool);

impl LogLines {
    /// Keeps the events whose metadata `keep` accepts.
    pub fn new(keep: fn(&Metadata<'_>) -> bool) -> Self {
        LogLines(Arc::default(), keep)
    }

    /// `hookwire`'s `error` events.
    pub fn hookwire_errors() -> Self {
        Self::new(|m| *m.level() == tracing::Level::ERROR && m.target().starts_with("hookwire"))
    }

    /// The events of target `hookwire::audit`.
    pub fn audit() -> Self {
        Self::new(|m| m.target() == "hookwire::audit")
    }
}

/// An event's fields as `name=value`.
pub struct Fields(pub Vec<String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

impl<S: tracing::Subscriber> Layer<S> for LogLines {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if (self.1)(event.metadata()) {
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0.join(" "));
        }
    }
}
