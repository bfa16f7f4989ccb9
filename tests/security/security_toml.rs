//! The `[security]` table of the host's configuration file: what it sets, and errors naming
//! the line and what was expected.

use std::any::TypeId;

use hookwire::config::HostConfig;
use hookwire::plugin::{GateSubject, Isolation, PluginGate, TrustSource};
use hookwire::security::{PolicyError, SandboxLimits, SecurityPolicy, TrustLevel};
use hookwire::PluginMeta;

use crate::common::{tree, Db};

const FILE: &str = r#"
[plugins.auth]
enabled = true

[security]
permissions = ["net"]
hooks = { Authenticate = "auth" }
services = { "security::common::Db" = "db" }
folders = { "/opt/plugins" = "sandboxed", "/opt/plugins/core" = "trusted" }
keys = { "3f2a9c0d1e4b5a6f" = "trusted" }
grants = { sandboxed = ["net", "db"] }

[security.sandbox]
memory_mb = 512
cpu_seconds = 3600
"#;

#[test]
fn the_security_table_sets_hooks_services_folders_keys_and_grants() {
    // Folders are compared once resolved: they must exist.
    let root = tree(&["opt/plugins/x", "opt/plugins/core/x"]);
    let file = FILE.replace("\"/opt/", &format!("\"{}/opt/", root.path().display()));
    let policy = SecurityPolicy::from_toml(&file, "host.toml").unwrap();
    // The host's own config reader ignores the table.
    assert!(HostConfig::parse(&file, "host.toml").is_ok());

    let folder = |p: &str| TrustSource::Folder(root.path().join(p));
    assert_eq!(
        policy.level(&folder("opt/plugins/x")),
        TrustLevel::Sandboxed
    );
    assert_eq!(
        policy.level(&folder("opt/plugins/core/x")),
        TrustLevel::Trusted
    );
    assert_eq!(
        policy.level(&TrustSource::SignedBy("3f2a9c0d1e4b5a6f".into())),
        TrustLevel::Trusted
    );
    assert!(policy.grants(TrustLevel::Sandboxed, "net"));
    assert!(policy.grants(TrustLevel::Sandboxed, "db"));
    assert!(!policy.grants(TrustLevel::Sandboxed, "auth"));
    assert!(policy.grants(TrustLevel::Trusted, "auth"));

    let sandboxed = folder("opt/plugins/x");
    let meta = PluginMeta::new("x", "1.0.0").permission("db");
    let subject = GateSubject::new(&meta, &sandboxed).with_isolation(Isolation::Sandboxed);
    assert_eq!(policy.admit(&subject), Ok(()));
    // The sandbox's limits: the file's, and the default for what it does not set.
    assert_eq!(
        policy.sandbox_limits(),
        SandboxLimits::default().memory_mb(512).cpu_seconds(3600)
    );
    assert_eq!(policy.sandbox_limits().open_files, Some(256));
    let hook = policy.check_hook(&subject, "Authenticate").unwrap_err();
    assert_eq!(hook.permission(), Some("auth"));
    // The service, named by its type name.
    assert_eq!(
        policy.check_service(&subject, TypeId::of::<Db>(), std::any::type_name::<Db>()),
        Ok(())
    );
    let bare = PluginMeta::new("y", "1.0.0");
    let refused = policy
        .check_service(
            &GateSubject::new(&bare, &sandboxed),
            TypeId::of::<Db>(),
            std::any::type_name::<Db>(),
        )
        .unwrap_err();
    assert_eq!(refused.permission(), Some("db"));
}

#[test]
fn a_file_without_a_security_table_is_an_empty_policy() {
    let policy = SecurityPolicy::from_toml("[plugins.a]\nenabled = true\n", "host.toml").unwrap();
    assert_eq!(policy.level(&TrustSource::Code), TrustLevel::Trusted);
    assert_eq!(
        policy.level(&TrustSource::Folder("/opt/plugins/a".into())),
        TrustLevel::Untrusted
    );
}

#[test]
fn an_unknown_trust_level_names_the_line_and_the_levels() {
    let text = "[security]\nfolders = { \"/opt/plugins\" = \"sandbox\" }\n";
    let err = SecurityPolicy::from_toml(text, "host.toml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "host.toml, line 2: `security.folders.\"/opt/plugins\"`: unknown trust level `sandbox`; expected `trusted`, `sandboxed` or `untrusted`"
    );
}

#[test]
fn a_grant_of_an_unknown_permission_names_the_line_and_the_known_ones() {
    let text = "[security]\nhooks = { Authenticate = \"auth\" }\n\ngrants = { sandboxed = [\"auth\", \"nett\"] }\n";
    let err = SecurityPolicy::from_toml(text, "host.toml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "host.toml, line 4: `security.grants.sandboxed`: unknown permission `nett`; known permissions: auth; tie it to a hook or service, or list it in `security.permissions`"
    );
}

#[test]
fn a_grant_to_untrusted_or_to_an_unknown_level_is_an_error() {
    let text = "[security]\npermissions = [\"net\"]\ngrants = { untrusted = [\"net\"] }\n";
    let err = SecurityPolicy::from_toml(text, "host.toml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "host.toml, line 3: `security.grants.untrusted`: `untrusted` plugins are never loaded and cannot be granted `net`; grant it to `trusted` or `sandboxed`"
    );
    let text = "[security]\npermissions = [\"net\"]\ngrants = { everyone = [\"net\"] }\n";
    let err = SecurityPolicy::from_toml(text, "host.toml").unwrap_err();
    assert!(
        matches!(&err, PolicyError::Invalid { line: 3, key, .. } if key == "grants.everyone"),
        "{err}"
    );
    assert!(err
        .to_string()
        .ends_with("unknown trust level `everyone`; expected `trusted` or `sandboxed`"));
}

#[test]
fn a_value_of_the_wrong_type_or_an_unknown_key_names_the_line_and_what_was_expected() {
    let text = "[security]\nhooks = { Authenticate = 3 }\n";
    let err = SecurityPolicy::from_toml(text, "host.toml").unwrap_err();
    let PolicyError::Parse { line, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, 2);
    assert!(message.contains("expected a string"), "{message}");

    let text = "[security]\n\nfolder = {}\n";
    let err = SecurityPolicy::from_toml(text, "host.toml").unwrap_err();
    let PolicyError::Parse { line, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, 3);
    assert!(message.contains("unknown field `folder`"), "{message}");
    assert!(message.contains("folders"), "{message}");
}

#[test]
fn a_policy_file_that_cannot_be_read_is_an_error_naming_it() {
    let err = SecurityPolicy::load("/nonexistent/hookwire/host.toml").unwrap_err();
    assert!(err
        .to_string()
        .starts_with("cannot read security policy `/nonexistent/hookwire/host.toml`: "));
}

#[test]
fn an_unknown_key_in_the_sandbox_table_names_its_line_and_the_known_ones() {
    let text = "[security]\n[security.sandbox]\nmemory_mb = 64\nmemory = 3\n";
    let err = SecurityPolicy::from_toml(text, "host.toml").unwrap_err();
    let PolicyError::Parse { line, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, 4);
    assert!(message.contains("unknown field `memory`"), "{message}");
    assert!(message.contains("memory_mb"), "{message}");
}

#[test]
fn the_signature_settings_of_the_same_table_are_the_policys_and_the_signature_policys() {
    let key = "noCFqDmccGCvKQe4S84SqDkiYYSXd0jadle4H6pYTOo=";
    let text = format!(
        "[security]\nrequire_signatures = true\ntrusted_keys = [\"{key}\"]\ntrusted_key_files = []\nkeys = {{ \"9d02056a8a8ee95c\" = \"trusted\" }}\n"
    );
    let policy = SecurityPolicy::from_toml(&text, "host.toml").unwrap();
    assert_eq!(
        policy.level(&TrustSource::SignedBy("9d02056a8a8ee95c".into())),
        TrustLevel::Trusted
    );
    // The security policy holds them (discovery applies them), read as `from_config` reads.
    let config = HostConfig::parse(&text, "host.toml").unwrap();
    let signatures = hookwire::security::SignaturePolicy::from_config(&config).unwrap();
    assert!(signatures.is_required());
    assert_eq!(signatures.trusted().len(), 1);
    assert_eq!(policy.signatures(), &signatures);
}

#[test]
fn a_bad_signature_setting_in_the_policy_file_is_an_error_naming_it() {
    let text = "[security]\nrequire_signatures = \"yes\"\n";
    let err = SecurityPolicy::from_toml(text, "host.toml").unwrap_err();
    assert!(matches!(err, PolicyError::Signatures(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "host.toml: security.require_signatures: is not a boolean (expected true or false)"
    );
    let text = "[security]\ntrusted_keys = [\"not a key\"]\n";
    let err = SecurityPolicy::from_toml(text, "host.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("host.toml: security.trusted_keys[0]: "),
        "{err}"
    );
}
