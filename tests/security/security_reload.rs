//! The policy is checked again on every reload: a new version asking for more is refused, the
//! old one keeps serving, and `ReloadFailed` names the new permission.

use std::time::Duration;

use hookwire::error::PluginError;
use hookwire::plugin::PluginEvent;
use hookwire::security::{SecurityPolicy, TrustLevel};
use hookwire::PluginHost;

use crate::common::{policy, Authenticate, Greet, Probe};

const GRACE: Duration = Duration::from_secs(5);

fn reload_failures(events: &mut tokio::sync::broadcast::Receiver<PluginEvent>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let PluginEvent::ReloadFailed { error, .. } = e {
            out.push(error);
        }
    }
    out
}

async fn greet(host: &PluginHost) -> Option<String> {
    host.hook::<Greet>()
        .call(&"x".to_owned())
        .await
        .unwrap()
        .into_value()
}

#[tokio::test]
async fn a_new_version_implementing_a_hook_it_may_not_is_refused_and_the_old_keeps_serving() {
    let host = PluginHost::builder().gate(policy()).build();
    host.add(Probe::new("greeter")).unwrap();
    host.start().await.unwrap();
    let mut events = host.events();
    let v2 = Probe::new("greeter").version("2.0.0", "v2").auth();
    let err = host.replace("greeter", v2, GRACE).await.unwrap_err();
    let expected = "plugin `greeter` failed: registration refused: plugin `greeter` may not implement hook `Authenticate`: it needs permission `auth`, which it did not declare; add `auth` to the plugin's permissions (its manifest's `permissions`, or `PluginMeta::permission`)";
    assert_eq!(err.to_string(), expected);
    assert_eq!(reload_failures(&mut events), [expected]);
    assert_eq!(greet(&host).await.as_deref(), Some("v1:x"));
    assert!(host.hook::<Authenticate>().impls().is_empty());
    let version = host.plugins().get("greeter").unwrap().meta.version.clone();
    assert_eq!(version.unwrap().to_string(), "1.0.0");
}

#[tokio::test]
async fn a_new_version_declaring_a_permission_its_level_may_not_have_is_refused() {
    let policy = SecurityPolicy::builder()
        .hook::<Authenticate>("auth")
        .permission("net")
        .grant(TrustLevel::Trusted, ["net"])
        .build()
        .unwrap();
    let host = PluginHost::builder().gate(policy).build();
    host.add(Probe::new("greeter").permission("net")).unwrap();
    host.start().await.unwrap();
    let mut events = host.events();
    let v2 = Probe::new("greeter")
        .version("2.0.0", "v2")
        .permission("net")
        .permission("auth")
        .auth();
    let err = host.replace("greeter", v2, GRACE).await.unwrap_err();
    assert!(matches!(&err, PluginError::Refused(r) if r.permission() == Some("auth")));
    let failures = reload_failures(&mut events);
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].contains("declares permission `auth`"),
        "{}",
        failures[0]
    );
    assert_eq!(greet(&host).await.as_deref(), Some("v1:x"));
}

#[tokio::test]
async fn a_new_version_within_its_grants_replaces_the_old() {
    let host = PluginHost::builder().gate(policy()).build();
    host.add(Probe::new("greeter")).unwrap();
    host.start().await.unwrap();
    let v2 = Probe::new("greeter")
        .version("2.0.0", "v2")
        .permission("auth")
        .auth();
    host.replace("greeter", v2, GRACE).await.unwrap();
    assert_eq!(greet(&host).await.as_deref(), Some("v2:x"));
    let who = host
        .hook::<Authenticate>()
        .call(&"t".to_owned())
        .await
        .unwrap();
    assert_eq!(who.into_value().as_deref(), Some("v2:t"));
}
