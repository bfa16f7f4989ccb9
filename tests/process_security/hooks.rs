//! A process plugin's hooks pass the same gate as an in-process plugin's impls: declared in
//! its manifest (checked before its process runs) or named by its handshake (checked once it
//! answered), each needs the permission the policy ties to it.

use hookwire::discovery::{DiscoveryOptions, DiscoveryStatus};
use hookwire::plugin::{PluginEvent, PluginState};
use hookwire::security::{SecurityPolicy, TrustLevel};

use crate::{discover, greet, host, plugin, status};

/// How many processes run in folder `dir`.
fn processes_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd == dir))
        .count()
}

fn policy(root: &std::path::Path) -> SecurityPolicy {
    SecurityPolicy::builder()
        .hook_named("auth", "auth")
        .folder(root, TrustLevel::Trusted)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_process_plugin_implementing_a_hook_it_did_not_declare_the_permission_of_fails() {
    let root = tempfile::tempdir().unwrap();
    // Hooks listed in the manifest: registered (and refused) before any process runs.
    plugin(
        root.path(),
        "listed",
        "",
        "hooks = [\"greet\", \"items\", \"auth\"]",
        None,
    );
    // Hooks named by the handshake: refused once the process answered.
    plugin(root.path(), "answered", "", "", None);
    // Declares `auth`: allowed.
    plugin(root.path(), "granted", "permissions = [\"auth\"]", "", None);
    let host = host(policy(root.path()));
    let mut events = host.events();
    let report = discover(&host, root.path(), DiscoveryOptions::new());
    for name in ["listed", "answered", "granted"] {
        assert!(
            matches!(status(&report, name), DiscoveryStatus::Loaded { .. }),
            "{name}"
        );
    }
    let started = host.start().await.unwrap();
    assert_eq!(started.started, ["granted"], "{started:?}");
    // `answered` ran to shake hands, and was stopped when refused; `listed` never ran.
    for name in ["answered", "listed"] {
        assert_eq!(processes_in(&root.path().join(name)), 0, "{name}");
    }
    assert_eq!(processes_in(&root.path().join("granted")), 1);
    let refusal = |name: &str| {
        format!("registration refused: plugin `{name}` may not implement hook `auth`: it needs permission `auth`, which it did not declare; add `auth` to the plugin's permissions (its manifest's `permissions`, or `PluginMeta::permission`)")
    };
    for name in ["answered", "listed"] {
        let (_, why) = started.failed.iter().find(|(p, _)| p == name).unwrap();
        assert_eq!(*why, refusal(name));
        let info = host.plugins();
        let info = info.get(name).unwrap();
        // Nothing of it is registered.
        assert!(info.impls.is_empty(), "{name}: {:?}", info.impls);
        assert!(matches!(info.state, PluginState::Failed(_)), "{name}");
        assert_eq!(
            greet(&host, name, "ada").await,
            Err(format!("no outcome of `{name}`"))
        );
    }
    assert_eq!(
        greet(&host, "granted", "ada").await,
        Ok(serde_json::json!("Hello, ada"))
    );
    // Each refusal is an event (what the audit log records).
    let mut refused = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let PluginEvent::Refused {
            plugin, permission, ..
        } = event
        {
            refused.push((plugin, permission));
        }
    }
    refused.sort();
    let auth = Some("auth".to_owned());
    assert_eq!(
        refused,
        [
            ("answered".to_owned(), auth.clone()),
            ("listed".to_owned(), auth)
        ]
    );
    host.shutdown(std::time::Duration::from_secs(5)).await;
}

/// Review 12's probe: the policy guards hook `payroll` with permission `payroll`. A process
/// plugin without it calls `payroll` through `host/call` (docs/protocol.md §4): the host asks
/// the same gate as for an impl and answers error -32005 naming the plugin, the hook and the
/// permission (and announces the refusal); a plugin that declares `payroll` gets the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_without_a_hooks_permission_cannot_call_it_through_the_host() {
    use hookwire::spec::SpecInfo;
    use hookwire::{HookManager, PluginHost};
    let root = tempfile::tempdir().unwrap();
    plugin(root.path(), "caller", "", "", None);
    plugin(
        root.path(),
        "clerk",
        "permissions = [\"payroll\"]",
        "",
        None,
    );
    let policy = SecurityPolicy::builder()
        .folder(root.path(), TrustLevel::Trusted)
        .hook_named("payroll", "payroll")
        .build()
        .unwrap();
    let hooks = HookManager::builder()
        .dynamic_spec(SpecInfo::json("greet"))
        .dynamic_spec(SpecInfo::json("auth").firstresult())
        .dynamic_spec(SpecInfo::json("items"))
        .dynamic_spec(SpecInfo::json("payroll"))
        .build();
    let host = PluginHost::builder().hooks(hooks).gate(policy).build();
    host.hooks()
        .register("payroll-service", |r| {
            r.json_fn("payroll", |_| Ok(Some(serde_json::json!({"ada": 123456}))))
                .add()
        })
        .unwrap();
    let mut events = host.events();
    let report = discover(&host, root.path(), DiscoveryOptions::new());
    assert!(status(&report, "caller").is_loaded(), "{report}");
    let started = host.start().await.unwrap();
    assert!(started.failed.is_empty(), "{started:?}");

    let refused = greet(&host, "caller", "host:payroll:null").await.unwrap();
    assert_eq!(refused["error"]["code"], -32005, "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "plugin `caller` may not call hook `payroll` through the host: it needs permission `payroll`, which it did not declare; add `payroll` to the plugin's permissions (its manifest's `permissions`, or `PluginMeta::permission`)"
    );
    assert!(!refused.to_string().contains("123456"), "{refused}");
    // Unguarded hooks stay callable; a plugin holding the permission reads the answer.
    let unguarded = greet(&host, "caller", "host:greet:\"bob\"").await.unwrap();
    assert!(unguarded.to_string().contains("Hello, bob"), "{unguarded}");
    let allowed = greet(&host, "clerk", "host:payroll:null").await.unwrap();
    assert_eq!(
        allowed["result"]["answers"][0]["value"]["ada"], 123456,
        "{allowed}"
    );
    host.shutdown(std::time::Duration::from_secs(5)).await;
    let mut refusals = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let PluginEvent::Refused {
            plugin, permission, ..
        } = e
        {
            refusals.push((plugin, permission));
        }
    }
    // One per refused call (`greet` reaches both plugins, and `caller` asked twice).
    let caller = ("caller".to_owned(), Some("payroll".to_owned()));
    assert_eq!(refusals, [caller.clone(), caller]);
}
