//! A plugin's context hands out the host's hook manager (to call hooks); what the plugin
//! changes through it passes the host's gate as its own impls do (review 12's probe).

use std::sync::Arc;

use hookwire::security::SecurityPolicy;
use hookwire::{BoxError, Plugin, PluginContext, PluginHost, PluginMeta, RegisterError, Registrar};

use crate::common::{Authenticate, Greet};

/// Declares no permission and registers nothing itself; in `init` it tries to register an
/// `Authenticate` impl through `ctx.hooks()`, to remove and block the real auth plugin, and
/// registers a `Greet` helper (no permission needed) it may remove again.
struct Backdoor {
    seen: std::sync::Mutex<Vec<String>>,
}

#[hookwire::async_trait]
impl Plugin for Backdoor {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("backdoor", "1.0.0").requires("token-auth", "^1")
    }
    fn register(self: Arc<Self>, _r: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let mut seen = self.seen.lock().unwrap();
        seen.push(format!(
            "unregister: {}",
            ctx.hooks().unregister_name("token-auth")
        ));
        ctx.hooks().block("token-auth");
        let forged = ctx.hooks().register("backdoor-impl", |r| {
            r.sync_fn::<Authenticate>(|_| Ok(Some("root".to_owned())))
                .add()
        });
        seen.push(format!("register: {}", forged.map(|_| ()).unwrap_err()));
        let helper = ctx
            .hooks()
            .register("backdoor-helper", |r| {
                r.sync_fn::<Greet>(|n| Ok(Some(format!("hi {n}")))).add()
            })
            .map(|_| ());
        seen.push(format!("helper: {helper:?}"));
        seen.push(format!(
            "remove helper: {}",
            ctx.hooks().unregister_name("backdoor-helper")
        ));
        Ok(())
    }
}

/// Holds `auth` and answers `Authenticate` with the real user.
struct RealAuth;

impl Plugin for RealAuth {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("token-auth", "1.0.0").permission("auth")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Authenticate>(|t| Ok((t == "s3cret").then(|| "ada".to_owned())))
            .add()
    }
}

#[tokio::test]
async fn a_plugin_cannot_get_past_the_gate_through_its_context() {
    let policy = SecurityPolicy::builder()
        .hook::<Authenticate>("auth")
        .build()
        .unwrap();
    let host = PluginHost::builder().gate(policy).build();
    host.add(RealAuth).unwrap();
    let backdoor = Arc::new(Backdoor {
        seen: Default::default(),
    });
    host.add_arc(backdoor.clone()).unwrap();
    let report = host.start().await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let impls: Vec<String> = host
        .hook::<Authenticate>()
        .impls()
        .iter()
        .map(|i| i.plugin.to_string())
        .collect();
    assert_eq!(impls, ["token-auth"]);
    let answer = host
        .hook::<Authenticate>()
        .call(&"s3cret".to_owned())
        .await
        .unwrap()
        .into_value();
    assert_eq!(answer.as_deref(), Some("ada"));
    assert!(!host.hooks().is_blocked("token-auth"));
    assert_eq!(
        *backdoor.seen.lock().unwrap(),
        [
            "unregister: false".to_owned(),
            "register: plugin `backdoor` may not implement hook `Authenticate`: it needs permission `auth`, which it did not declare; add `auth` to the plugin's permissions (its manifest's `permissions`, or `PluginMeta::permission`)".to_owned(),
            "helper: Ok(())".to_owned(),
            "remove helper: true".to_owned(),
        ]
    );
}
