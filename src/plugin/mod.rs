//! Plugins: a named bundle of impls that registers itself.
//!
//! This is the first slice of the plugin layer: a [`Plugin`] names itself (by default, its
//! type's name) and adds its impls in [`register`](Plugin::register). Metadata, dependencies
//! and lifecycle build on it.

mod config;
mod deps;
mod lifecycle;
mod meta;

use std::sync::Arc;

pub use config::{ConfigError, DisabledBy, Enablement, HostConfig};
pub use deps::{resolve, DependencyError, DependencyProblem, Resolution};
pub use lifecycle::{IllegalTransition, PluginState};
pub use meta::{Conflict, Dependency, MetaError, PluginMeta};

use crate::error::RegisterError;
use crate::manager::registrar::Registrar;
use crate::manager::{HookManager, PluginHandle};

/// A plugin: adds its impls to a [`Registrar`].
///
/// ```
/// use std::sync::Arc;
/// use hookwire::{async_trait, Hook, HookManager, HookReturn, Plugin, Registrar, RegisterError};
/// hookwire::hookspec! { pub struct Greet(String) -> String; }
///
/// struct Polite;
/// #[async_trait]
/// impl Hook<Greet> for Polite {
///     async fn call(&self, name: &String) -> HookReturn<String> {
///         Ok(Some(format!("Good day, {name}")))
///     }
/// }
/// impl Plugin for Polite {
///     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
///         r.hook::<Greet, _>(self).add()
///     }
/// }
///
/// let pm = HookManager::new();
/// let handle = pm.add_plugin(Polite).unwrap();
/// assert_eq!(handle.name(), "Polite");
/// ```
pub trait Plugin: Send + Sync + 'static {
    /// The plugin's name; defaults to the type's name without its module path.
    fn name(&self) -> String {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base).to_owned()
    }

    /// Adds the plugin's impls.
    ///
    /// # Errors
    /// Whatever the impls' [`add`](crate::ImplBuilder::add) calls return, or a
    /// [`RegisterError::Plugin`] of the plugin's own.
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError>;
}

impl HookManager {
    /// Registers a [`Plugin`] under its [`name`](Plugin::name).
    ///
    /// # Errors
    /// As [`HookManager::register`].
    pub fn add_plugin<P: Plugin>(&self, plugin: P) -> Result<PluginHandle, RegisterError> {
        let plugin = Arc::new(plugin);
        let name = plugin.name();
        self.register(&name, |r| plugin.register(r))
    }
}
