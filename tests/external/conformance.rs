//! Protocol conformance: `fixtures/raw_protocol_plugin.py` is a plugin written from
//! `docs/protocol.md` alone (Python's standard library, no SDK). These tests run it with the
//! real host and check every behaviour the document describes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookwire::external::{ProcessPlugin, ProcessPluginBuilder};
use hookwire::spec::SpecInfo;
use hookwire::{
    async_trait, BoxError, HookManager, Plugin, PluginContext, PluginHost, PluginMeta,
    RegisterError, Registrar,
};
use serde_json::{json, Value};

use crate::support::logs;

mod calls;
mod handle_lifetime;
mod handshake;
mod host_calls;
mod lifecycle;
mod offers_and_release;
mod shared_handles;

fn raw_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/external/fixtures/raw_protocol_plugin.py")
}

/// The raw plugin as `name`, in handshake `mode`, implementing `hooks` (handshake entries).
fn raw(name: &str, mode: &str, hooks: Value) -> ProcessPluginBuilder {
    logs();
    ProcessPlugin::builder(name, "python3")
        .arg(raw_fixture())
        .arg(name)
        .arg(mode)
        .config(json!({ "hooks": hooks }))
        .host("conform-app", "9.8.7")
        .start_timeout(Duration::from_secs(20))
        .grace(Duration::from_millis(500))
}

/// A manager offering `greet` (collect-all), `auth` (first-result), `audit` (collect-all) and
/// `timed` (collect-all, a 300 ms deadline on every call).
fn offering() -> HookManager {
    HookManager::builder()
        .dynamic_spec(SpecInfo::json("greet"))
        .dynamic_spec(SpecInfo::json("auth").firstresult())
        .dynamic_spec(SpecInfo::json("audit"))
        .dynamic_spec(SpecInfo::json("timed").deadline(Duration::from_millis(300)))
        .build()
}

/// A started host with `plugin` added to `pm`.
async fn start(pm: &HookManager, plugin: ProcessPluginBuilder) -> (PluginHost, ProcessPlugin) {
    let plugin = plugin.spawn(pm).await.expect("the raw plugin starts");
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(plugin.clone()).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.started, vec![plugin.name().to_owned()], "{report:?}");
    (host, plugin)
}

/// The value `plugin` answered in a JSON call's outcome.
fn value_of(out: &hookwire::HookOutcome<Value>, plugin: &str) -> Value {
    out.get(plugin)
        .and_then(|o| o.value())
        .unwrap_or_else(|| panic!("no value of `{plugin}`: {out:?}"))
        .clone()
}

pub type Events = Arc<Mutex<Vec<&'static str>>>;

/// Records its lifecycle calls (`release_unstarted` included); `fail_init` makes its `init`
/// fail.
pub struct Recording {
    pub meta: PluginMeta,
    pub events: Events,
    pub fail_init: bool,
}

#[async_trait]
impl Plugin for Recording {
    fn meta(&self) -> PluginMeta {
        self.meta.clone()
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.json_fn("audit", |_| Ok(None)).add()
    }
    async fn init(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.events.lock().unwrap().push("init");
        if self.fail_init {
            return Err("init refused".into());
        }
        Ok(())
    }
    async fn start(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.events.lock().unwrap().push("start");
        Ok(())
    }
    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.events.lock().unwrap().push("stop");
        Ok(())
    }
    async fn release_unstarted(&self) {
        self.events.lock().unwrap().push("release_unstarted");
    }
}
