//! A plugin crate that registers itself at link time: one `hookwire::submit_plugin!` line,
//! and a host that links this crate finds the plugin with `PluginHost::discover_linked` (or
//! `discover`, which also applies a `plugins/greeter/plugin.toml` manifest).
//!
//! The trap: a host that only lists this crate in its `Cargo.toml` does not link it (nothing
//! refers to it), so the plugin is not found. The host writes `use greeter_linked as _;`.

use std::sync::{Arc, OnceLock};

use hookspecs::{AppInfo, OnStartup};
use hookwire::{
    async_trait, BoxError, Plugin, PluginContext, PluginMeta, RegisterError, Registrar,
};

/// The plugin's configuration: from its manifest's `config` table and the host's
/// `[plugins.greeter]` section (the host's file wins), else these defaults.
#[derive(Debug, serde::Deserialize)]
#[serde(default)]
pub struct GreeterConfig {
    /// How to greet (default `Hello`).
    pub greeting: String,
    /// What ends the line (default `!`).
    pub punctuation: String,
}

impl Default for GreeterConfig {
    fn default() -> Self {
        Self {
            greeting: "Hello".to_owned(),
            punctuation: "!".to_owned(),
        }
    }
}

/// Greets the application at start-up ([`OnStartup`]).
#[derive(Default)]
pub struct Greeter {
    config: OnceLock<GreeterConfig>,
}

#[async_trait]
impl Plugin for Greeter {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("greeter", "1.0.0").description("Greets the application at start-up")
    }

    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<OnStartup>(move |app: &AppInfo| {
            let c = self.config.get_or_init(GreeterConfig::default);
            Ok(Some(format!(
                "{}, {}{}",
                c.greeting, app.name, c.punctuation
            )))
        })
        .add()
    }

    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let _ = self.config.set(ctx.config()?);
        Ok(())
    }
}

hookwire::submit_plugin!(Greeter::default);
