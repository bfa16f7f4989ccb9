//! Shared by the tests of this binary: the fixture, a host offering its hooks, log capture.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hookwire::external::{ProcessPlugin, ProcessPluginBuilder};
use hookwire::spec::SpecInfo;
use hookwire::{HookManager, PluginHost};
use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: u64,
}

hookwire::hookspec! {
    /// A typed hook reachable from JSON: the fixture answers `[{"id":1},{"id":"two"}]`.
    #[name = "items"]
    pub struct Items(u32) -> Vec<Item>;
}

pub fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/external/fixtures/plugin.py")
}

/// The fixture in `mode`, as plugin `name` (the fixture answers whatever name it is given).
pub fn fixture_plugin(name: &str, mode: &str) -> ProcessPluginBuilder {
    logs();
    ProcessPlugin::builder(name, "python3")
        .arg(fixture())
        .arg(mode)
        .start_timeout(Duration::from_secs(20))
        .grace(Duration::from_millis(500))
}

/// A manager offering `greet` (dynamic, collect-all), `auth` (dynamic, first-result) and the
/// typed `items`.
pub fn manager() -> HookManager {
    HookManager::builder()
        .json_spec::<Items>()
        .dynamic_spec(SpecInfo::json("greet"))
        .dynamic_spec(SpecInfo::json("auth").firstresult())
        .build()
}

/// A started host with the fixture in `mode` as plugin `name`.
pub async fn started(name: &str, mode: &str) -> (PluginHost, ProcessPlugin) {
    let pm = manager();
    let plugin = fixture_plugin(name, mode)
        .spawn(&pm)
        .await
        .expect("the fixture starts");
    let host = PluginHost::builder().hooks(pm).build();
    host.add(plugin.clone()).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.started, vec![name.to_owned()], "{report:?}");
    (host, plugin)
}

/// One captured event: its target, level and fields (`message` included), as text.
#[derive(Debug, Clone)]
pub struct Event {
    pub target: String,
    pub level: tracing::Level,
    pub fields: Vec<(String, String)>,
}

impl Event {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Capture(Arc<Mutex<Vec<Event>>>);

struct Fields(Vec<(String, String)>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields(Vec::new());
        attrs.record(&mut fields);
        self.0.lock().unwrap().push(Event {
            target: format!("span {}", attrs.metadata().name()),
            level: *attrs.metadata().level(),
            fields: fields.0,
        });
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(Event {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields: fields.0,
        });
    }
}

/// Every event logged so far in this binary (a global subscriber, installed once).
pub fn logs() -> Arc<Mutex<Vec<Event>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<Event>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(logs.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        logs
    })
    .clone()
}

/// The events of plugin `plugin` with `target`.
pub fn events_of(plugin: &str, target: &str) -> Vec<Event> {
    events_where("plugin", plugin, target)
}

/// The events with `target` whose field `field` is `value`.
pub fn events_where(field: &str, value: &str, target: &str) -> Vec<Event> {
    logs()
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.target == target && e.field(field) == Some(value))
        .cloned()
        .collect()
}

/// How many live processes have `token` in their command line (Linux `/proc`).
pub fn processes_with(token: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(token))
                .unwrap_or(false)
        })
        .count()
}

/// Waits (at most 10 s, in real time) until `cond` holds.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The failure message of `plugin` in a JSON call's outcome.
pub fn failure_of(outcome: &hookwire::HookOutcome<serde_json::Value>, plugin: &str) -> String {
    outcome
        .get(plugin)
        .and_then(|o| o.failure())
        .unwrap_or_else(|| panic!("no failure of `{plugin}`: {outcome:?}"))
        .to_string()
}

/// The error `plugin` returned in a JSON call's outcome, whole (a failure's `Display` quotes at
/// most 200 bytes of it).
pub fn error_of(outcome: &hookwire::HookOutcome<serde_json::Value>, plugin: &str) -> String {
    outcome
        .get(plugin)
        .and_then(|o| o.failure())
        .and_then(|f| f.as_error())
        .unwrap_or_else(|| panic!("no error of `{plugin}`: {outcome:?}"))
        .to_string()
}

/// This test process's children that are zombies (exited, not reaped), by `/proc/*/stat`.
pub fn zombie_children() -> usize {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // `pid (comm) state ppid ...`: the fields after the last `)`.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let mut fields = rest.split_whitespace();
            fields.next() == Some("Z") && fields.next() == Some(me.as_str())
        })
        .count()
}
