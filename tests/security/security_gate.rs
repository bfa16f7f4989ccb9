//! The host's gate with a `SecurityPolicy`: refusals at add, at registration and at
//! `ctx.get`, each with its exact message and nothing of the plugin registered; trust levels.

use std::any::TypeId;
use std::path::PathBuf;

use hookwire::error::PluginError;
use hookwire::plugin::{
    GateSubject, Isolation, PluginEvent, PluginGate, PluginState, Refusal, TrustSource,
};
use hookwire::security::{PolicyError, SecurityPolicy, TrustLevel};
use hookwire::{PluginHost, PluginMeta};

use crate::common::{policy, tree, Authenticate, Db, Greet, Probe};

fn refusals(
    events: &mut tokio::sync::broadcast::Receiver<PluginEvent>,
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let PluginEvent::Refused {
            plugin, permission, ..
        } = e
        {
            out.push((plugin, permission));
        }
    }
    out
}

#[tokio::test]
async fn a_plugin_implementing_a_hook_it_did_not_declare_fails_and_registers_nothing() {
    let host = PluginHost::builder().gate(policy()).build();
    let mut events = host.events();
    host.add(Probe::new("sneaky").auth()).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(
        report.failed,
        [(
            "sneaky".to_owned(),
            "registration refused: plugin `sneaky` may not implement hook `Authenticate`: it needs permission `auth`, which it did not declare; add `auth` to the plugin's permissions (its manifest's `permissions`, or `PluginMeta::permission`)".to_owned()
        )]
    );
    // Nothing of it: not its `Greet` impl either, which needs no permission.
    assert!(host.hook::<Greet>().impls().is_empty());
    assert!(host.hook::<Authenticate>().impls().is_empty());
    assert!(matches!(host.state("sneaky"), Some(PluginState::Failed(_))));
    assert_eq!(
        refusals(&mut events),
        [("sneaky".to_owned(), Some("auth".to_owned()))]
    );
}

#[tokio::test]
async fn a_granted_plugin_works() {
    let host = PluginHost::builder().gate(policy()).build();
    host.add(Probe::new("auth").auth().permission("auth"))
        .unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.started, ["auth"]);
    assert!(report.failed.is_empty());
    let who = host
        .hook::<Authenticate>()
        .call(&"tok".to_owned())
        .await
        .unwrap();
    assert_eq!(who.into_value().as_deref(), Some("v1:tok"));
}

#[tokio::test]
async fn without_a_gate_everything_is_allowed() {
    let host = PluginHost::new();
    host.add(Probe::new("auth").auth().permission("anything"))
        .unwrap();
    assert_eq!(host.start().await.unwrap().started, ["auth"]);
    let who = host
        .hook::<Authenticate>()
        .call(&"tok".to_owned())
        .await
        .unwrap();
    assert_eq!(who.into_value().as_deref(), Some("v1:tok"));
}

#[tokio::test]
async fn a_plugin_declaring_an_unknown_permission_is_not_added() {
    let host = PluginHost::builder().gate(policy()).build();
    let mut events = host.events();
    let err = host.add(Probe::new("odd").permission("nett")).unwrap_err();
    assert!(matches!(&err, PluginError::Refused(r) if r.permission() == Some("nett")));
    assert_eq!(
        err.to_string(),
        "plugin `odd` is refused: it declares the unknown permission `nett` (known permissions: auth, db, net); fix its name, or define it in the security policy"
    );
    assert!(host.plugins().is_empty());
    assert_eq!(
        refusals(&mut events),
        [("odd".to_owned(), Some("nett".to_owned()))]
    );
}

#[tokio::test]
async fn a_plugin_declaring_a_permission_its_level_may_not_be_granted_is_not_added() {
    let policy = SecurityPolicy::builder()
        .hook::<Authenticate>("auth")
        .permission("net")
        .grant(TrustLevel::Trusted, ["net"])
        .build()
        .unwrap();
    let host = PluginHost::builder().gate(policy).build();
    let err = host
        .add(Probe::new("auth").auth().permission("auth"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `auth` is refused: it declares permission `auth`, which its trust level `trusted` (from the host's code) may not be granted; grant it in the policy (`grants = { trusted = [\"auth\"] }`) or remove it from the plugin's permissions"
    );
    assert!(host.plugins().is_empty());
    assert!(host.start().await.unwrap().started.is_empty());
    assert!(host.hook::<Greet>().impls().is_empty());
}

#[tokio::test]
async fn a_service_not_granted_is_refused_by_get_and_require_with_the_permission() {
    let host = PluginHost::builder()
        .gate(policy())
        .service(Db("postgres://"))
        .build();
    let mut events = host.events();
    let denied = Probe::new("reports").wants_db();
    let allowed = Probe::new("billing").wants_db().permission("db");
    host.add(denied.clone()).unwrap();
    host.add(allowed.clone()).unwrap();
    host.start().await.unwrap();
    assert_eq!(
        denied.seen.entries(),
        [
            "get: None".to_owned(),
            "require: Err(\"plugin `reports` may not use service `security::common::Db`: it needs permission `db`, which it did not declare; add `db` to the plugin's permissions (its manifest's `permissions`, or `PluginMeta::permission`)\")".to_owned(),
        ]
    );
    assert_eq!(
        allowed.seen.entries(),
        ["get: Some(\"postgres://\")", "require: Ok(\"postgres://\")"]
    );
    assert_eq!(
        refusals(&mut events),
        [
            ("reports".to_owned(), Some("db".to_owned())),
            ("reports".to_owned(), Some("db".to_owned()))
        ]
    );
}

#[test]
fn the_host_assigns_levels_from_where_a_plugin_came_from() {
    // Folders are compared once resolved: they must exist.
    let root = tree(&[
        "plugins/auth",
        "plugins/core/auth",
        "plugins/core/bad/x",
        "plugins-extra/x",
        "plugins/a",
        "plugins/core/a",
    ]);
    let at = |rel: &str| root.path().join(rel);
    let policy = SecurityPolicy::builder()
        .folder(at("plugins"), TrustLevel::Sandboxed)
        .folder(at("plugins/core"), TrustLevel::Trusted)
        .folder(at("plugins/core/bad"), TrustLevel::Untrusted)
        .key("3f2a9c0d1e4b5a6f", TrustLevel::Trusted)
        .build()
        .unwrap();
    let folder = |p: &str| TrustSource::Folder(at(p));
    assert_eq!(policy.level(&TrustSource::Code), TrustLevel::Trusted);
    assert_eq!(policy.level(&folder("plugins/auth")), TrustLevel::Sandboxed);
    assert_eq!(
        policy.level(&folder("plugins/core/auth")),
        TrustLevel::Trusted
    );
    assert_eq!(
        policy.level(&folder("plugins/core/bad/x")),
        TrustLevel::Untrusted
    );
    // Components, not string prefixes.
    assert_eq!(
        policy.level(&folder("plugins-extra/x")),
        TrustLevel::Untrusted
    );
    assert_eq!(policy.level(&folder("/srv/x")), TrustLevel::Untrusted);
    assert_eq!(
        policy.level(&TrustSource::SignedBy("3f2a9c0d1e4b5a6f".into())),
        TrustLevel::Trusted
    );
    assert_eq!(
        policy.level(&TrustSource::SignedBy("0000000000000000".into())),
        TrustLevel::Untrusted
    );
    // A verified signature: the more trusted of the folder's level and the key's.
    let signed = |folder: &str, key: &str| TrustSource::Signed {
        folder: at(folder),
        key: key.into(),
    };
    let trusted_key = "3f2a9c0d1e4b5a6f";
    let unlisted_key = "0000000000000000";
    assert_eq!(
        policy.level(&signed("/srv/x", trusted_key)),
        TrustLevel::Trusted
    );
    assert_eq!(
        policy.level(&signed("plugins/a", trusted_key)),
        TrustLevel::Trusted
    );
    assert_eq!(
        policy.level(&signed("plugins/core/bad/x", trusted_key)),
        TrustLevel::Trusted
    );
    assert_eq!(
        policy.level(&signed("plugins/a", unlisted_key)),
        TrustLevel::Sandboxed
    );
    assert_eq!(
        policy.level(&signed("plugins/core/a", unlisted_key)),
        TrustLevel::Trusted
    );
    assert_eq!(
        policy.level(&signed("/srv/x", unlisted_key)),
        TrustLevel::Untrusted
    );
    assert_eq!(
        signed("/opt/p", trusted_key).to_string(),
        "folder `/opt/p`, signed by key `3f2a9c0d1e4b5a6f`"
    );
}

#[test]
fn an_untrusted_plugin_is_refused_and_a_sandboxed_one_gets_only_its_grants() {
    let root = tree(&["plugins/auth"]);
    let at = |rel: &str| root.path().join(rel);
    let policy = SecurityPolicy::builder()
        .hook::<Authenticate>("auth")
        .permission("net")
        .folder(at("plugins"), TrustLevel::Sandboxed)
        .grant(TrustLevel::Sandboxed, ["net"])
        .build()
        .unwrap();
    let sandboxed = TrustSource::Folder(at("plugins/auth"));
    let auth_dir = at("plugins/auth").display().to_string();
    let unknown = TrustSource::Folder(PathBuf::from("/tmp/auth"));

    let net = PluginMeta::new("fetch", "1.0.0").permission("net");
    let confined = |meta| GateSubject::new(meta, &sandboxed).with_isolation(Isolation::Sandboxed);
    assert_eq!(policy.admit(&confined(&net)), Ok(()));
    // Only as a process under the sandbox and limits.
    for isolation in [Isolation::InProcess, Isolation::Process] {
        let refusal = policy
            .admit(&GateSubject::new(&net, &sandboxed).with_isolation(isolation))
            .unwrap_err();
        assert_eq!(refusal.permission(), None);
        assert_eq!(
            refusal.to_string(),
            format!("plugin `fetch` is refused: it comes from folder `{auth_dir}`, which the security policy gives trust level `sandboxed`, and it would run {isolation}: a sandboxed plugin runs only as a process plugin under a Landlock sandbox and resource limits; ship it as a `kind = \"process\"` plugin, or give its folder (or signing key) level `trusted`")
        );
    }

    let auth = PluginMeta::new("auth", "1.0.0").permission("auth");
    let refusal = policy
        .admit(&GateSubject::new(&auth, &sandboxed))
        .unwrap_err();
    assert_eq!(refusal.permission(), Some("auth"));
    assert_eq!(
        refusal.to_string(),
        format!("plugin `auth` is refused: it declares permission `auth`, which its trust level `sandboxed` (from folder `{auth_dir}`) may not be granted; grant it in the policy (`grants = {{ sandboxed = [\"auth\"] }}`) or remove it from the plugin's permissions")
    );

    let refusal = policy.admit(&GateSubject::new(&net, &unknown)).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::Plugin {
            plugin: "fetch".into(),
            permission: None,
            reason: "it comes from folder `/tmp/auth`, which the security policy gives trust level `untrusted`; list its folder (or signing key) in the policy with level `trusted` or `sandboxed`".into(),
        }
    );

    // A sandboxed plugin that did not declare `auth` may not implement `Authenticate`.
    let refusal = policy
        .check_hook(&GateSubject::new(&net, &sandboxed), "Authenticate")
        .unwrap_err();
    assert_eq!(refusal.permission(), Some("auth"));
    // Services no rule names are free.
    assert_eq!(
        policy.check_service(
            &GateSubject::new(&net, &sandboxed),
            TypeId::of::<Db>(),
            "Db"
        ),
        Ok(())
    );
}

#[test]
fn a_policy_granting_an_unknown_permission_or_granting_untrusted_is_an_error() {
    let err = SecurityPolicy::builder()
        .hook::<Authenticate>("auth")
        .grant(TrustLevel::Sandboxed, ["nett"])
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the policy grants trust level `sandboxed` the unknown permission `nett`; known permissions: auth; tie it to a hook or service, or list it in the policy's permissions"
    );
    let err = SecurityPolicy::builder()
        .permission("net")
        .grant(TrustLevel::Untrusted, ["net"])
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        PolicyError::GrantToUntrusted {
            permission: "net".into()
        }
    );
}

/// Declared with `#[hookwire::plugin(permissions = [..])]`.
struct MacroAuth;

#[hookwire::plugin(name = "macro-auth", version = "1.0.0", permissions = ["auth"])]
impl MacroAuth {
    #[hookimpl(spec = Authenticate)]
    fn authenticate(&self, token: &String) -> hookwire::HookReturn<String> {
        Ok(Some(format!("macro:{token}")))
    }
}

#[tokio::test]
async fn permissions_declared_in_the_plugin_macro_are_granted() {
    assert_eq!(hookwire::Plugin::meta(&MacroAuth).permissions, ["auth"]);
    let host = PluginHost::builder().gate(policy()).build();
    host.add(MacroAuth).unwrap();
    assert_eq!(host.start().await.unwrap().started, ["macro-auth"]);
    let who = host
        .hook::<Authenticate>()
        .call(&"t".to_owned())
        .await
        .unwrap();
    assert_eq!(who.into_value().as_deref(), Some("macro:t"));
}

/// Review 12's probe: trust by folder compares resolved paths. `core/../inbox/evil` and a
/// symbolic link in `core` pointing at `inbox/evil` are in `inbox` (sandboxed), not `core`
/// (trusted); a folder that does not exist is in none.
#[test]
fn a_plugin_outside_the_trusted_folder_is_not_trusted() {
    let root = tree(&["core", "inbox/evil"]);
    let core = root.path().join("core");
    let inbox = root.path().join("inbox");
    #[cfg(unix)]
    std::os::unix::fs::symlink(inbox.join("evil"), core.join("linked-evil")).unwrap();
    let policy = SecurityPolicy::builder()
        .folder(&core, TrustLevel::Trusted)
        .folder(&inbox, TrustLevel::Sandboxed)
        .build()
        .unwrap();
    let level = |dir: PathBuf| policy.level(&TrustSource::Folder(dir));
    assert_eq!(level(core.join("../inbox/evil")), TrustLevel::Sandboxed);
    #[cfg(unix)]
    assert_eq!(level(core.join("linked-evil")), TrustLevel::Sandboxed);
    assert_eq!(level(core.join("gone")), TrustLevel::Untrusted);
    assert_eq!(level(core.clone()), TrustLevel::Trusted);
}
