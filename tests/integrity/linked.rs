//! Linked plugins without a manifest are the host's own code: discovery requiring signatures
//! loads them without one, and the security policy still checks the permissions they declare.
//! A `kind = "linked"` manifest, a file an attacker could edit, is signature-checked.

use std::sync::Arc;

use hookwire::discovery::{DiscoveryOptions, DiscoveryStatus};
use hookwire::security::{SecurityPolicy, SignatureError, SignaturePolicy, TrustLevel};
use hookwire::{Plugin, PluginHost, PluginMeta, RegisterError, Registrar};

use crate::{key, write};

macro_rules! linked {
    ($ty:ident, $name:literal, $permission:literal) => {
        #[derive(Default)]
        struct $ty;
        impl Plugin for $ty {
            fn meta(&self) -> PluginMeta {
                PluginMeta::new($name, "1.0.0").permission($permission)
            }
            fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
                Ok(())
            }
        }
        hookwire::submit_plugin!($ty::default);
    };
}

linked!(Fetcher, "fetcher", "net");
linked!(Rooter, "rooter", "root");

#[test]
fn without_a_manifest_a_linked_plugin_loads_unsigned_and_its_permissions_are_still_checked() {
    let trusted = key();
    let root = tempfile::tempdir().unwrap();
    // `unsigned` (a linked plugin of `discovery`) also has an unsigned manifest here.
    write(
        root.path(),
        "unsigned/plugin.toml",
        "name = \"unsigned\"\nversion = \"1.0.0\"\nkind = \"linked\"\n",
    );
    // The host's code is `trusted`; that level may be granted `net`, not `root`.
    let policy = SecurityPolicy::builder()
        .permission("net")
        .permission("root")
        .grant(TrustLevel::Trusted, ["net"])
        .build()
        .unwrap();
    let host = PluginHost::builder().gate(policy).build();
    let report = host.discover(
        &DiscoveryOptions::new()
            .folder(root.path())
            .linked_without_manifest(true)
            .signatures(
                SignaturePolicy::new()
                    .require(true)
                    .trust(trusted.public_key()),
            ),
    );
    assert_eq!(
        report.loaded().collect::<Vec<_>>(),
        ["fetcher", "signed", "stranger", "tampered"],
        "the linked plugins without a manifest, none signed"
    );
    for name in ["fetcher", "signed", "stranger", "tampered"] {
        assert_eq!(report.get(name).unwrap().signed_by, None, "{name}");
    }
    assert_eq!(
        host.plugins().get("fetcher").unwrap().meta.permissions,
        ["net"]
    );
    // The policy refuses the permission `root` to the host's own code.
    let DiscoveryStatus::Skipped(why) = &report.get("rooter").unwrap().status else {
        panic!("rooter: {}", report.get("rooter").unwrap().status)
    };
    assert_eq!(
        why,
        "plugin `rooter` is refused: it declares permission `root`, which its trust level `trusted` (from the host's code) may not be granted; grant it in the policy (`grants = { trusted = [\"root\"] }`) or remove it from the plugin's permissions"
    );
    // The manifest of `unsigned` is checked: its plugin is not loaded, with or without it.
    assert!(matches!(
        report.get("unsigned").unwrap().status,
        DiscoveryStatus::SignatureRejected(SignatureError::Unsigned { .. })
    ));
    let mut names: Vec<String> = host.plugins().iter().map(|s| s.meta.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["fetcher", "signed", "stranger", "tampered"]);
}
