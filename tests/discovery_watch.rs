//! Hot reload from plugin folders (`PluginHost::watch`): real temp folders, real file-system
//! events, every wait bounded by a timeout on the host's event stream.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hookwire::discovery::{DiscoveryOptions, Watcher};
use hookwire::plugin::{PluginEvent, PluginState};
use hookwire::{
    async_trait, BoxError, Plugin, PluginContext, PluginHost, PluginMeta, RegisterError, Registrar,
};
use tokio::sync::broadcast;

hookwire::hookspec! {
    /// Every plugin answers `<name>: <greeting from its config>`.
    pub struct Greet(()) -> String;
}

const NAMES: [&str; 12] = [
    "w0",
    "w1",
    "w2",
    "w3",
    "w4",
    "w5",
    "w6",
    "w7",
    "w8",
    "w9",
    "base",
    "needs-base",
];

#[derive(serde::Deserialize, Default)]
struct Config {
    #[serde(default)]
    greeting: String,
    /// `init` fails when set: a reload whose `init` fails.
    #[serde(default)]
    fail_init: bool,
}

/// A linked plugin named `NAMES[N]` that greets with its manifest's `config.greeting`.
#[derive(Default)]
struct Greeter<const N: usize> {
    greeting: OnceLock<String>,
}

#[async_trait]
impl<const N: usize> Plugin for Greeter<N> {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new(NAMES[N], "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Greet>(move |()| {
            let greeting = self.greeting.get().map_or("", String::as_str);
            Ok(Some(format!("{}: {greeting}", NAMES[N])))
        })
        .add()
    }
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let config: Config = ctx.config()?;
        if config.fail_init {
            return Err("told to fail by its config".into());
        }
        let _ = self.greeting.set(config.greeting);
        Ok(())
    }
}

hookwire::submit_plugin!(Greeter::<0>::default);
hookwire::submit_plugin!(Greeter::<1>::default);
hookwire::submit_plugin!(Greeter::<2>::default);
hookwire::submit_plugin!(Greeter::<3>::default);
hookwire::submit_plugin!(Greeter::<4>::default);
hookwire::submit_plugin!(Greeter::<5>::default);
hookwire::submit_plugin!(Greeter::<6>::default);
hookwire::submit_plugin!(Greeter::<7>::default);
hookwire::submit_plugin!(Greeter::<8>::default);
hookwire::submit_plugin!(Greeter::<9>::default);
hookwire::submit_plugin!(Greeter::<10>::default);
hookwire::submit_plugin!(Greeter::<11>::default);

/// Short enough for tests, long enough for a write + rename to land in one batch.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// The bound on every wait for an event.
const WAIT: Duration = Duration::from_secs(5);

fn manifest(name: &str, greeting: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = \"1.0.0\"\nkind = \"linked\"\n{extra}\n[config]\ngreeting = \"{greeting}\"\n"
    )
}

fn write(root: &Path, name: &str, text: &str) -> PathBuf {
    let path = root.join(name).join("plugin.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// A started host with the plugins of `root`, watched; its event stream subscribed before.
async fn watched(root: &Path) -> (PluginHost, Watcher, broadcast::Receiver<PluginEvent>) {
    let options = DiscoveryOptions::new()
        .folder(root)
        .linked_without_manifest(false)
        .debounce(DEBOUNCE)
        .grace(Duration::from_secs(1));
    let host = PluginHost::new();
    host.discover(&options);
    host.start().await.unwrap();
    let events = host.events();
    let watcher = host.watch(&options).unwrap();
    (host, watcher, events)
}

/// The next event that `pick` accepts, within [`WAIT`].
async fn next<T>(
    events: &mut broadcast::Receiver<PluginEvent>,
    mut pick: impl FnMut(&PluginEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("the host's event stream ended");
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    })
    .await
    .expect("no matching event within 5 s")
}

fn replaced(event: &PluginEvent) -> Option<String> {
    match event {
        PluginEvent::Replaced { plugin, .. } => Some(plugin.clone()),
        _ => None,
    }
}

/// The events that come within a quiet period (several debounces).
async fn quiet(events: &mut broadcast::Receiver<PluginEvent>) -> Vec<PluginEvent> {
    let mut got = Vec::new();
    while let Ok(Ok(event)) = tokio::time::timeout(DEBOUNCE * 5, events.recv()).await {
        got.push(event);
    }
    got
}

/// Waits (within [`WAIT`]) until `check` holds: a plugin's `Started`/`Stopped` event comes
/// just before its impls are registered / it leaves the host's list.
async fn eventually(mut check: impl AsyncFnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("not settled within 5 s");
}

async fn greetings(host: &PluginHost) -> Vec<String> {
    let mut got = host.hook::<Greet>().call(&()).await.unwrap().into_values();
    got.sort();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_manifest_replaces_its_plugin_once_and_calls_see_the_new_config() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w0", &manifest("w0", "hello", ""));
    let (host, _watcher, mut events) = watched(dir.path()).await;
    assert_eq!(greetings(&host).await, ["w0: hello"]);

    write(dir.path(), "w0", &manifest("w0", "bonjour", ""));
    assert_eq!(next(&mut events, replaced).await, "w0");
    assert_eq!(greetings(&host).await, ["w0: bonjour"]);
    let more: Vec<_> = quiet(&mut events)
        .await
        .into_iter()
        .filter(|e| replaced(e).is_some())
        .collect();
    assert!(more.is_empty(), "one edit, one reload; then {more:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_save_by_temporary_file_and_rename_gives_exactly_one_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "w1", &manifest("w1", "hello", ""));
    let (host, _watcher, mut events) = watched(dir.path()).await;

    // What editors do: write a new file beside the old one, then rename it over.
    let tmp = path.with_file_name("plugin.toml.tmp");
    std::fs::write(&tmp, manifest("w1", "saved", "")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();

    assert_eq!(next(&mut events, replaced).await, "w1");
    let more: Vec<_> = quiet(&mut events)
        .await
        .into_iter()
        .filter(|e| replaced(e).is_some() || matches!(e, PluginEvent::ReloadFailed { .. }))
        .collect();
    assert!(more.is_empty(), "one save, one reload; then {more:?}");
    assert_eq!(greetings(&host).await, ["w1: saved"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_edit_is_reported_and_the_old_config_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w2", &manifest("w2", "hello", ""));
    let (host, _watcher, mut events) = watched(dir.path()).await;

    // Not a valid manifest: an unknown field.
    write(
        dir.path(),
        "w2",
        &manifest("w2", "broken", "colour = \"red\""),
    );
    let error = next(&mut events, |e| match e {
        PluginEvent::ReloadFailed { plugin, error } if plugin == "w2" => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(error.contains("colour"), "{error}");
    assert_eq!(greetings(&host).await, ["w2: hello"]);

    // An `init` that fails: the old instance keeps serving too.
    write(
        dir.path(),
        "w2",
        &manifest("w2", "hello\"\nfail_init = true\n#", ""),
    );
    let error = next(&mut events, |e| match e {
        PluginEvent::ReloadFailed { plugin, error } if plugin == "w2" => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(error.contains("told to fail by its config"), "{error}");
    assert_eq!(greetings(&host).await, ["w2: hello"]);

    // Fixed: it reloads.
    write(dir.path(), "w2", &manifest("w2", "fixed", ""));
    assert_eq!(next(&mut events, replaced).await, "w2");
    assert_eq!(greetings(&host).await, ["w2: fixed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_to_ten_plugins_gives_one_reload_each() {
    let dir = tempfile::tempdir().unwrap();
    let ten = &NAMES[..10];
    for name in ten {
        write(dir.path(), name, &manifest(name, "v1", ""));
    }
    let (host, _watcher, mut events) = watched(dir.path()).await;

    for name in ten {
        write(dir.path(), name, &manifest(name, "v2", ""));
    }
    let mut reloaded = Vec::new();
    while reloaded.len() < 10 {
        reloaded.push(next(&mut events, replaced).await);
    }
    reloaded.extend(quiet(&mut events).await.iter().filter_map(replaced));
    reloaded.sort();
    assert_eq!(reloaded, ten);
    let want: Vec<String> = ten.iter().map(|n| format!("{n}: v2")).collect();
    assert_eq!(greetings(&host).await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_plugin_folder_loads_its_plugin() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w3", &manifest("w3", "first", ""));
    let (host, _watcher, mut events) = watched(dir.path()).await;
    assert_eq!(greetings(&host).await, ["w3: first"]);

    write(dir.path(), "w4", &manifest("w4", "new", ""));
    next(&mut events, |e| match e {
        PluginEvent::StateChanged { plugin, to, .. }
            if plugin == "w4" && *to == PluginState::Started =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    eventually(async || greetings(&host).await.len() == 2).await;
    assert_eq!(greetings(&host).await, ["w3: first", "w4: new"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_plugin_folder_unloads_its_plugin_but_not_while_another_requires_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base", &manifest("base", "base", ""));
    write(
        dir.path(),
        "needs-base",
        &manifest("needs-base", "top", "[requires]\nbase = \"^1\""),
    );
    let (host, _watcher, mut events) = watched(dir.path()).await;
    assert_eq!(greetings(&host).await, ["base: base", "needs-base: top"]);

    // Required by `needs-base`: refused, and `base` keeps answering.
    std::fs::remove_dir_all(dir.path().join("base")).unwrap();
    let dependents = next(&mut events, |e| match e {
        PluginEvent::RemoveRefused { plugin, dependents } if plugin == "base" => {
            Some(dependents.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(dependents, ["needs-base"]);
    assert_eq!(greetings(&host).await, ["base: base", "needs-base: top"]);

    // Its dependent's folder goes: `needs-base` is unloaded, and `base` with it (retried).
    std::fs::remove_dir_all(dir.path().join("needs-base")).unwrap();
    next(&mut events, |e| match e {
        PluginEvent::StateChanged { plugin, to, .. }
            if plugin == "base" && *to == PluginState::Stopped =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    eventually(async || host.plugins().is_empty()).await;
    assert!(greetings(&host).await.is_empty());
    let left: Vec<String> = host.plugins().iter().map(|s| s.meta.name.clone()).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_watcher_stops_reloads() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w5", &manifest("w5", "hello", ""));
    let (host, watcher, mut events) = watched(dir.path()).await;
    drop(watcher);
    write(dir.path(), "w5", &manifest("w5", "ignored", ""));
    let got: Vec<_> = quiet(&mut events).await;
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(greetings(&host).await, ["w5: hello"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_whose_dependency_does_not_resolve_is_reported_and_the_old_version_serves() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w6", &manifest("w6", "hello", ""));
    let (host, _watcher, mut events) = watched(dir.path()).await;

    write(
        dir.path(),
        "w6",
        &manifest("w6", "orphan", "[requires]\nnowhere = \"^1\""),
    );
    let error = next(&mut events, |e| match e {
        PluginEvent::ReloadFailed { plugin, error } if plugin == "w6" => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(error.contains("nowhere"), "{error}");
    assert_eq!(greetings(&host).await, ["w6: hello"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_lazy_setting_applies_to_the_new_instance() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w2", &manifest("w2", "hello", "lazy = true"));
    let (host, _watcher, mut events) = watched(dir.path()).await;
    let info = |host: &PluginHost| {
        let list = host.plugins();
        let w2 = list.get("w2").expect("w2 is listed");
        (w2.lazy, w2.state.clone())
    };
    assert_eq!(
        info(&host),
        (true, PluginState::Registered),
        "lazy, not called yet"
    );

    // Eager now: the new instance starts at once, without waiting for a call.
    write(dir.path(), "w2", &manifest("w2", "eager", "lazy = false"));
    assert_eq!(next(&mut events, replaced).await, "w2");
    assert_eq!(info(&host), (false, PluginState::Started));
    assert_eq!(greetings(&host).await, ["w2: eager"]);

    // Lazy again while it serves: the new instance is lazy and keeps serving.
    write(
        dir.path(),
        "w2",
        &manifest("w2", "lazy again", "lazy = true"),
    );
    assert_eq!(next(&mut events, replaced).await, "w2");
    assert_eq!(info(&host), (true, PluginState::Started));
    assert_eq!(greetings(&host).await, ["w2: lazy again"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_saved_with_the_same_content_reloads_nothing_and_a_later_edit_still_does() {
    let dir = tempfile::tempdir().unwrap();
    let text = manifest("w2", "hello", "");
    write(dir.path(), "w2", &text);
    write(dir.path(), "w3", &manifest("w3", "hi", ""));
    let (host, _watcher, mut events) = watched(dir.path()).await;

    // Saved again unchanged (a new modification time, the same bytes), and a neighbour
    // touched: the scanner hands out the same parsed manifests, so nothing reloads.
    write(dir.path(), "w2", &text);
    write(dir.path(), "w3", &manifest("w3", "hi", ""));
    let reloads: Vec<_> = quiet(&mut events)
        .await
        .into_iter()
        .filter(|e| replaced(e).is_some() || matches!(e, PluginEvent::ReloadFailed { .. }))
        .collect();
    assert!(reloads.is_empty(), "nothing changed, yet {reloads:?}");

    write(dir.path(), "w2", &manifest("w2", "changed", ""));
    assert_eq!(next(&mut events, replaced).await, "w2");
    assert_eq!(greetings(&host).await, ["w2: changed", "w3: hi"]);
}
