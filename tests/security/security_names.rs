//! The names a `SecurityPolicy` gives hooks and services are checked against what the host
//! declares when it starts: a misspelt name (which would guard nothing) fails the start,
//! naming the entry, its file and line, and the closest declared name.

use std::sync::Arc;

use hookwire::error::PluginError;
use hookwire::plugin::PluginState;
use hookwire::security::{PolicyError, SecurityPolicy};
use hookwire::spec::SpecInfo;
use hookwire::{HookManager, Plugin, PluginHost, PluginMeta, RegisterError, Registrar};

use crate::common::{Authenticate, Db, Probe};

/// Implements `Authenticate` (answers `root`) and declares no permission.
struct Sneaky;

impl Plugin for Sneaky {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("sneaky", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Authenticate>(|_| Ok(Some("root".to_owned())))
            .add()
    }
}

/// Review 12's probe: the README wrote `hooks = { authenticate = "auth" }` for a spec
/// `pub struct Authenticate`, a rule that guarded nothing. The start now fails, naming the
/// entry and the spec's real name, and the plugin without `auth` never answers.
#[tokio::test]
async fn a_misspelt_hook_in_the_policy_file_fails_the_start_naming_the_entry() {
    let text = "[security]\nhooks = { authenticate = \"auth\" }\n";
    let policy = SecurityPolicy::from_toml(text, "app.toml").expect("the policy parses");
    let host = PluginHost::builder().gate(policy).build();
    host.add(Sneaky).unwrap();
    let err = host.start().await.unwrap_err();
    let PluginError::Gate(e) = &err else {
        panic!("{err:?}")
    };
    let policy_error = e.downcast_ref::<PolicyError>().expect("a PolicyError");
    let PolicyError::UnknownNames(names) = policy_error else {
        panic!("{policy_error:?}")
    };
    assert_eq!(names.len(), 1);
    assert_eq!(names[0].kind, "hook");
    assert_eq!(names[0].name, "authenticate");
    assert_eq!(names[0].suggestion.as_deref(), Some("Authenticate"));
    assert_eq!(
        err.to_string(),
        "app.toml, line 2: `security.hooks.authenticate`: the host declares no hook `authenticate`, so this rule guards nothing; did you mean `Authenticate`? (a hook is named as its spec names it: `HookSpec::NAME`, the spec struct's name unless `#[name = \"..\"]` gives another, or a JSON hook's name; declared hooks: Authenticate)"
    );
    // Nothing of the start ran: the plugin failed with the same message, no impl registered.
    let Some(PluginState::Failed(why)) = host.state("sneaky") else {
        panic!("{:?}", host.state("sneaky"))
    };
    assert!(why.contains("did you mean `Authenticate`?"), "{why}");
    let answer = host
        .hook::<Authenticate>()
        .call(&"any token".to_owned())
        .await
        .unwrap()
        .into_value();
    assert_eq!(answer, None);
}

/// The same policy with the spec's real name refuses the plugin, naming the plugin, the hook
/// and the permission (review 12's probe, unchanged).
#[tokio::test]
async fn the_policy_with_the_specs_exact_name_refuses_the_plugin() {
    let text = "[security]\nhooks = { Authenticate = \"auth\" }\n";
    let host = PluginHost::builder()
        .gate(SecurityPolicy::from_toml(text, "app.toml").unwrap())
        .build();
    host.add(Sneaky).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.failed.len(), 1);
    let (plugin, why) = &report.failed[0];
    assert_eq!(plugin, "sneaky");
    assert!(
        why.contains("Authenticate") && why.contains("`auth`"),
        "{why}"
    );
    assert!(host.hook::<Authenticate>().impls().is_empty());
}

/// A hook the host declares (here a JSON hook of its manager) passes even when no plugin
/// implements it yet; a service must be the host's, by its full type name.
#[tokio::test]
async fn declared_hooks_and_host_services_pass_a_misspelt_service_fails() {
    let hooks = HookManager::builder()
        .dynamic_spec(SpecInfo::json("payroll"))
        .build();
    let good = "[security]\nhooks = { payroll = \"payroll\" }\nservices = { \"security::common::Db\" = \"db\" }\n";
    let host = PluginHost::builder()
        .hooks(hooks.clone())
        .service(Db("main"))
        .gate(SecurityPolicy::from_toml(good, "app.toml").unwrap())
        .build();
    host.add(Probe::new("greeter")).unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.started, ["greeter"]);

    // `my_app::Db` for a type whose path is `my_app::db::Db`: the last segment is the hint.
    let bad = "[security]\nhooks = { payroll = \"payroll\" }\n\n services = { \"security::Db\" = \"db\" }\n";
    let host = PluginHost::builder()
        .hooks(hooks)
        .service(Db("main"))
        .gate(SecurityPolicy::from_toml(bad, "app.toml").unwrap())
        .build();
    host.add(Probe::new("greeter")).unwrap();
    let err = host.start().await.unwrap_err().to_string();
    assert!(
        err.starts_with("app.toml, line 4: `security.services.\"security::Db\"`: the host declares no service `security::Db`, so this rule guards nothing; did you mean `security::common::Db`?"),
        "{err}"
    );
    assert!(
        err.contains("guard it with `SecurityPolicyBuilder::service::<T>()`"),
        "{err}"
    );
}

/// Names given to the builder by string are checked too (every unknown one listed, each with
/// where it was given); names given by type are right by construction.
#[tokio::test]
async fn names_given_to_the_builder_are_checked_and_all_listed() {
    let policy = SecurityPolicy::builder()
        .hook::<Authenticate>("auth")
        .hook_named("Authentcate", "auth")
        .service_named("Database", "db")
        .build()
        .unwrap();
    let host = PluginHost::builder().gate(policy).build();
    host.add(Probe::new("auth").auth().permission("auth"))
        .unwrap();
    let err = host.start().await.unwrap_err().to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("security policy: `SecurityPolicyBuilder::hook_named(\"Authentcate\", ..)`: the host declares no hook `Authentcate`, so this rule guards nothing; did you mean `Authenticate`?"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("security policy: `SecurityPolicyBuilder::service_named(\"Database\", ..)`: the host declares no service `Database`"),
        "{err}"
    );
    assert!(matches!(host.state("auth"), Some(PluginState::Failed(_))));
}
