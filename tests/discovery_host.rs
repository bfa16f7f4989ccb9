//! Applying discovery to a plugin host: what each manifest does to the linked plugin it
//! names (config at three levels, priorities, lazy, dependencies, conditions), and the report.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hookspecs::{AppInfo, OnStartup};
use hookwire::config::{DisabledBy, HostConfig};
use hookwire::discovery::{DiscoveryOptions, DiscoveryStatus, PluginSource};
use hookwire::plugin::PluginError;
use hookwire::{
    async_trait, BoxError, Plugin, PluginContext, PluginHost, PluginMeta, RegisterError, Registrar,
};

/// The config `layered` read in its `init`, per host run (tests run in parallel: keyed by
/// the `tag` they put in the manifest).
static READ: Mutex<Vec<Layers>> = Mutex::new(Vec::new());

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default)]
struct Layers {
    tag: String,
    from_default: String,
    from_manifest: String,
    from_file: String,
}

impl Default for Layers {
    fn default() -> Self {
        Self {
            tag: String::new(),
            from_default: "default".into(),
            from_manifest: "default".into(),
            from_file: "default".into(),
        }
    }
}

#[derive(Default)]
struct Layered;
#[async_trait]
impl Plugin for Layered {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("layered", "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        READ.lock().unwrap().push(ctx.config()?);
        Ok(())
    }
}

/// Answers `on_startup` with its name.
struct Ranked(&'static str);
impl Plugin for Ranked {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new(self.0, "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let name = self.0;
        r.sync_fn::<OnStartup>(move |_| Ok(Some(name.to_owned())))
            .add()
    }
}

hookwire::submit_plugin!(Layered::default);
hookwire::submit_plugin!(|| Ranked("ranked-b"));
hookwire::submit_plugin!(|| Ranked("ranked-a"));

fn write(root: &Path, name: &str, extra: &str) -> PathBuf {
    let path = root.join(name).join("plugin.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text = format!("name = \"{name}\"\nversion = \"1.0.0\"\nkind = \"linked\"\n{extra}");
    std::fs::write(&path, text).unwrap();
    path
}

fn host_with(config: &str) -> PluginHost {
    PluginHost::builder()
        .config(HostConfig::parse(config, "hookwire.toml").unwrap())
        .build()
}

async fn startup_order(host: &PluginHost) -> Vec<String> {
    let app = AppInfo {
        name: "shop".into(),
        version: "1.0.0".into(),
    };
    host.hook::<OnStartup>()
        .call(&app)
        .await
        .unwrap()
        .into_values()
}

#[tokio::test]
async fn a_manifest_config_sits_above_the_plugin_defaults_and_below_the_host_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "layered",
        "[config]\ntag = \"three-levels\"\nfrom_manifest = \"manifest\"\nfrom_file = \"manifest\"\n",
    );
    let host = host_with("[plugins.layered]\nfrom_file = \"file\"\n");
    let report = host.discover(&DiscoveryOptions::new().folder(dir.path()));
    assert!(matches!(
        report.get("layered").unwrap().status,
        DiscoveryStatus::Loaded { lazy: false }
    ));
    host.start().await.unwrap();
    let read = READ.lock().unwrap();
    let got = read.iter().find(|l| l.tag == "three-levels").unwrap();
    assert_eq!(
        (
            got.from_default.as_str(),
            got.from_manifest.as_str(),
            got.from_file.as_str()
        ),
        ("default", "manifest", "file")
    );
}

#[tokio::test]
async fn an_unknown_key_in_a_manifest_config_names_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "layered",
        "[config]\ntag = \"typo\"\nfrom_manifets = \"x\"\n",
    );
    let host = PluginHost::new();
    host.discover(&DiscoveryOptions::new().folder(dir.path()));
    let report = host.start().await.unwrap();
    let (plugin, reason) = &report.failed[0];
    assert_eq!(plugin, "layered");
    assert!(reason.contains(&path.display().to_string()), "{reason}");
    assert!(reason.contains("from_manifets"), "{reason}");
}

#[tokio::test]
async fn manifest_priority_overrides_reorder_impls_and_the_host_file_wins_over_them() {
    // Without overrides: equal priority, LIFO (added in name order: ranked-b answers first).
    let host = PluginHost::new();
    host.discover(&DiscoveryOptions::new());
    host.start().await.unwrap();
    assert_eq!(startup_order(&host).await, ["ranked-b", "ranked-a"]);

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ranked-a", "[priority]\non_startup = 10\n");
    let host = PluginHost::new();
    host.discover(&DiscoveryOptions::new().folder(dir.path()));
    host.start().await.unwrap();
    assert_eq!(startup_order(&host).await, ["ranked-a", "ranked-b"]);

    let host = host_with("[plugins.ranked-a.priority]\non_startup = -10\n");
    host.discover(&DiscoveryOptions::new().folder(dir.path()));
    host.start().await.unwrap();
    assert_eq!(startup_order(&host).await, ["ranked-b", "ranked-a"]);
}

#[tokio::test]
async fn a_manifest_priority_for_a_hook_the_plugin_lacks_fails_that_plugin() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ranked-a", "[priority]\non_shutdown = 10\n");
    let host = PluginHost::new();
    host.discover(&DiscoveryOptions::new().folder(dir.path()));
    let report = host.start().await.unwrap();
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "ranked-a");
    assert!(
        report.failed[0].1.contains("names hook `on_shutdown`"),
        "{:?}",
        report.failed
    );
}

#[tokio::test]
async fn a_lazy_manifest_makes_its_plugin_lazy_unless_the_host_file_says_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ranked-a", "lazy = true\n");
    let host = PluginHost::new();
    let report = host.discover(&DiscoveryOptions::new().folder(dir.path()));
    assert!(matches!(
        report.get("ranked-a").unwrap().status,
        DiscoveryStatus::Loaded { lazy: true }
    ));
    assert_eq!(host.start().await.unwrap().lazy, ["ranked-a"]);

    let host = host_with("[plugins.ranked-a]\nlazy = false\n");
    let report = host.discover(&DiscoveryOptions::new().folder(dir.path()));
    assert!(matches!(
        report.get("ranked-a").unwrap().status,
        DiscoveryStatus::Loaded { lazy: false }
    ));
    assert!(host.start().await.unwrap().lazy.is_empty());
}

#[tokio::test]
async fn manifest_requires_and_conflicts_feed_dependency_resolution() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ranked-a", "[requires]\naudit = \"^1\"\n");
    write(dir.path(), "ranked-b", "[conflicts]\nlayered = \"*\"\n");
    let host = PluginHost::new();
    host.discover(&DiscoveryOptions::new().folder(dir.path()));
    let err = host.start().await.unwrap_err();
    let PluginError::Dependencies { error, .. } = &err else {
        panic!("expected a dependency error, got {err}")
    };
    let text = error.to_string();
    assert!(
        text.contains("plugin `ranked-a` requires `audit` ^1, but no plugin `audit` is present"),
        "{text}"
    );
    assert!(
        text.contains("plugin `ranked-b` is incompatible with `layered`"),
        "{text}"
    );
}

#[tokio::test]
async fn manifest_host_api_adds_to_the_plugin_requirement() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ranked-a", "host_api = \"^2\"\n");
    let host = PluginHost::builder()
        .host_api(semver::Version::new(1, 4, 0))
        .build();
    host.discover(&DiscoveryOptions::new().folder(dir.path()));
    let err = host.start().await.unwrap_err().to_string();
    assert!(
        err.contains("plugin `ranked-a` requires host API ^2, but this host provides API 1.4.0"),
        "{err}"
    );
}

#[test]
fn conditions_that_fail_skip_the_plugin_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let other_os = if std::env::consts::OS == "windows" {
        "linux"
    } else {
        "windows"
    };
    write(
        dir.path(),
        "ranked-a",
        "[conditions]\nenv = { MODE = \"prod\" }\nenv_set = [\"AUTH_KEYS\"]\n",
    );
    write(
        dir.path(),
        "ranked-b",
        "[conditions]\nfeatures = [\"beta\"]\n",
    );
    write(
        dir.path(),
        "layered",
        &format!("[conditions]\nos = [\"{other_os}\"]\n"),
    );
    let host = PluginHost::new();
    let options = DiscoveryOptions::new()
        .folder(dir.path())
        .env([("MODE", "dev"), ("AUTH_KEYS", "k")]);
    let report = host.discover(&options);
    let reason = |name: &str| match &report.get(name).unwrap().status {
        DiscoveryStatus::Skipped(why) => why.clone(),
        other => panic!("{name}: expected skipped, got {other:?}"),
    };
    assert_eq!(
        reason("ranked-a"),
        "environment variable MODE is \"dev\", not \"prod\""
    );
    assert_eq!(
        reason("ranked-b"),
        "the host does not declare feature \"beta\""
    );
    assert_eq!(
        reason("layered"),
        format!(
            "the target OS is {}, not one of {other_os}",
            std::env::consts::OS
        )
    );
    assert!(host.plugins().is_empty(), "no skipped plugin is added");
    assert!(!report.has_problems(), "skipping is not a problem");

    // The same manifests with the conditions met (the OS one aside).
    let host = PluginHost::new();
    let options = DiscoveryOptions::new()
        .folder(dir.path())
        .env([("MODE", "prod"), ("AUTH_KEYS", "k")])
        .features(["beta"]);
    let report = host.discover(&options);
    assert_eq!(
        report.loaded().collect::<Vec<_>>(),
        ["ranked-a", "ranked-b"]
    );
    let host = PluginHost::new();
    let report = host.discover(
        &DiscoveryOptions::new()
            .folder(dir.path())
            .env([("MODE", "prod")]),
    );
    assert_eq!(
        match &report.get("ranked-a").unwrap().status {
            DiscoveryStatus::Skipped(why) => why.as_str(),
            _ => "",
        },
        "environment variable AUTH_KEYS is not set"
    );
}

#[test]
fn every_plugin_found_is_reported_with_its_source_and_why_it_did_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let a = write(root, "ranked-a", "");
    let bad = root.join("layered/plugin.toml");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(
        &bad,
        "name = \"layered\"\nkind = \"linked\"\nversion = \"1.2\"\n",
    )
    .unwrap();
    let ghost = write(root, "ghost", "");
    let runner = root.join("runner/plugin.toml");
    std::fs::create_dir_all(runner.parent().unwrap()).unwrap();
    std::fs::write(
        &runner,
        "name = \"runner\"\nversion = \"0.1.0\"\nkind = \"process\"\n[process]\ncommand = [\"python3\", \"main.py\"]\n",
    )
    .unwrap();

    let host = host_with("[plugins.ranked-b]\nenabled = false\n");
    host.add(Ranked("by-code")).unwrap();
    let report = host.discover(&DiscoveryOptions::new().folder(root));

    let names: Vec<&str> = report.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["by-code", "ghost", "layered", "ranked-a", "ranked-b", "runner"]
    );
    let get = |n: &str| report.get(n).unwrap();
    assert_eq!(get("by-code").source, PluginSource::Code);
    assert!(matches!(
        get("by-code").status,
        DiscoveryStatus::Loaded { lazy: false }
    ));
    assert!(matches!(
        get("ghost").status,
        DiscoveryStatus::NoLinkedPlugin
    ));
    assert!(
        matches!(&get("layered").status, DiscoveryStatus::Invalid(e) if e.position == Some((3, 11)))
    );
    assert!(
        matches!(&get("ranked-a").source, PluginSource::Folder { manifest, linked: Some(_) } if manifest == &a)
    );
    assert!(matches!(
        get("ranked-a").status,
        DiscoveryStatus::Loaded { lazy: false }
    ));
    assert!(matches!(
        get("ranked-b").source,
        PluginSource::Linked { .. }
    ));
    assert!(matches!(
        &get("ranked-b").status,
        DiscoveryStatus::Disabled(DisabledBy::File { path }) if path == "hookwire.toml"
    ));
    // With feature `process`, a process manifest is loaded (not started: `start` does that).
    #[cfg(feature = "process")]
    assert!(matches!(
        get("runner").status,
        DiscoveryStatus::Loaded { lazy: false }
    ));
    #[cfg(not(feature = "process"))]
    assert!(matches!(
        get("runner").status,
        DiscoveryStatus::ProcessNotSupported
    ));
    assert!(report.has_problems());
    // The invalid manifest kept its linked plugin out; the others are in the host.
    assert!(host.plugins().get("layered").is_none());
    let loaded = if cfg!(feature = "process") { 4 } else { 3 };
    assert_eq!(host.plugins().len(), loaded);

    let text = report.to_string();
    let line = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{text}"))
            .trim()
            .to_owned()
    };
    assert!(
        text.starts_with(&format!(
            "6 plugins found, {loaded} loaded; 1 folder scanned, 4 manifests parsed, 0 reused\n"
        )),
        "{text}"
    );
    assert_eq!(line("by-code"), "by-code   loaded  [code]");
    assert_eq!(
        line("ghost"),
        format!("ghost     not loaded: the manifest is of kind \"linked\" but no linked plugin has this name (is its crate linked? a host needs `use plugin_crate as _;`)  [{}]", ghost.display())
    );
    assert_eq!(
        line("layered"),
        format!("layered   invalid manifest: {}:3:11: version \"1.2\" is not semver (expected MAJOR.MINOR.PATCH)", bad.display())
    );
    assert!(line("ranked-b").starts_with("ranked-b  disabled by `enabled = false` in hookwire.toml  [linked (tests/discovery_host.rs:"), "{text}");
    #[cfg(feature = "process")]
    assert_eq!(
        line("runner"),
        format!("runner    loaded  [{}]", runner.display())
    );
    #[cfg(not(feature = "process"))]
    assert_eq!(
        line("runner"),
        format!(
            "runner    found, not loadable: process plugins need hookwire's cargo feature `process`; enable it  [{}]",
            runner.display()
        )
    );

    let json = serde_json::to_value(&report).unwrap();
    let entry = |name: &str| {
        json["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(entry("ranked-a")["status"]["status"], "loaded");
    assert_eq!(entry("ranked-a")["source"]["source"], "folder");
    let runner_status = if cfg!(feature = "process") {
        "loaded"
    } else {
        "process_not_supported"
    };
    assert_eq!(entry("runner")["status"]["status"], runner_status);
    assert_eq!(
        entry("layered")["status"]["reason"],
        format!(
            "{}:3:11: version \"1.2\" is not semver (expected MAJOR.MINOR.PATCH)",
            bad.display()
        )
    );
    assert_eq!(json["scan"]["parsed"], 4);
}

#[test]
fn the_host_keeps_its_scanner_so_discovering_again_re_parses_nothing_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ranked-a", "");
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    let host = PluginHost::new();
    let options = DiscoveryOptions::new().folder(dir.path());
    assert_eq!(host.discover(&options).scan.parsed, 1);
    let again = host.discover(&options);
    assert_eq!((again.scan.parsed, again.scan.reused), (0, 1));
    assert!(matches!(
        again.get("ranked-a").unwrap().status,
        DiscoveryStatus::AlreadyAdded
    ));
}

#[test]
fn linked_plugins_without_a_manifest_can_be_left_out() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ranked-a", "");
    let host = PluginHost::new();
    let report = host.discover(
        &DiscoveryOptions::new()
            .folder(dir.path())
            .linked_without_manifest(false),
    );
    assert_eq!(report.loaded().collect::<Vec<_>>(), ["ranked-a"]);
    assert_eq!(report.plugins.len(), 1);
}
