//! The names a host and a plugin need: `use hookwire::prelude::*;`.
//!
//! ```
//! use hookwire::prelude::*;
//! use std::sync::Arc;
//!
//! hookspec! { pub struct Greet(String) -> String; }
//!
//! struct Polite;
//! impl SyncHook<Greet> for Polite {
//!     fn call(&self, name: &String) -> HookReturn<String> {
//!         Ok(Some(format!("Good day, {name}")))
//!     }
//! }
//! impl Plugin for Polite {
//!     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
//!         r.sync_hook::<Greet>(self).add()
//!     }
//! }
//!
//! let pm = HookManager::new();
//! pm.add_plugin(Polite).unwrap();
//! let outcome = futures::executor::block_on(pm.hook::<Greet>().call(&"Ada".to_string()));
//! assert_eq!(outcome.unwrap().into_values(), ["Good day, Ada"]);
//! ```

pub use crate::{
    async_trait, hookspec, BoxError, CallMode, Hook, HookManager, HookOutcome, HookReturn,
    HookSpec, ImplOutcome, RegisterError, Registrar, SyncHook,
};
#[cfg(feature = "macros")]
pub use crate::{hookimpl, plugin};
#[cfg(feature = "plugins")]
pub use crate::{Plugin, PluginContext, PluginHost, PluginMeta};
