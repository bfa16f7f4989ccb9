//! Linked plugins: Rust's counterpart of Python entry points. A plugin crate submits a
//! constructor with [`submit_plugin!`](crate::submit_plugin) (link-time registration through
//! `inventory`); the host lists them with [`linked_plugins`] or adds them all with
//! [`PluginHost::discover_linked`].

use std::collections::BTreeMap;
use std::sync::Arc;

use super::DiscoveryError;
use crate::{Plugin, PluginHost, PluginMeta};

/// A plugin constructor submitted with [`submit_plugin!`](crate::submit_plugin), and where.
pub struct LinkedPlugin {
    make: fn() -> Arc<dyn Plugin>,
    location: &'static str,
}

impl std::fmt::Debug for LinkedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedPlugin")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl LinkedPlugin {
    /// What [`submit_plugin!`](crate::submit_plugin) builds; not a public API.
    #[doc(hidden)]
    pub const fn __new(make: fn() -> Arc<dyn Plugin>, location: &'static str) -> Self {
        Self { make, location }
    }

    /// Where it was submitted: `file:line` of the `submit_plugin!`.
    pub fn location(&self) -> &'static str {
        self.location
    }

    /// A new instance of the plugin (calls its constructor).
    pub fn instantiate(&self) -> Arc<dyn Plugin> {
        (self.make)()
    }
}

inventory::collect!(LinkedPlugin);

/// Every plugin submitted with [`submit_plugin!`](crate::submit_plugin) in the crates linked
/// into this binary, in no particular order (link order; see
/// [`PluginHost::discover_linked`] for a deterministic one).
pub fn linked_plugins() -> impl Iterator<Item = &'static LinkedPlugin> {
    inventory::iter::<LinkedPlugin>.into_iter()
}

/// Registers a plugin constructor at link time, for [`PluginHost::discover_linked`] and
/// [`PluginHost::discover`] (feature `discovery`).
///
/// The argument is any `fn() -> P` where `P: Plugin` (`TokenAuth::default`, `TokenAuth::new`,
/// a closure without captures). Write it once, at the top level of the plugin's crate:
///
/// ```
/// use std::sync::Arc;
/// use hookwire::{Plugin, PluginMeta, Registrar, RegisterError};
///
/// #[derive(Default)]
/// pub struct TokenAuth;
/// impl Plugin for TokenAuth {
///     fn meta(&self) -> PluginMeta { PluginMeta::new("token-auth", "1.2.0") }
///     fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> { Ok(()) }
/// }
/// hookwire::submit_plugin!(TokenAuth::default);
///
/// assert!(hookwire::discovery::linked_plugins()
///     .any(|p| p.instantiate().meta().name == "token-auth"));
/// ```
///
/// # The trap: a crate only in `Cargo.toml` is not linked
/// The linker drops a crate that the binary never refers to, and its submissions with it. A
/// host that depends on a plugin crate only to have it discovered must name it once:
///
/// ```ignore
/// use greeter_linked as _; // links the crate: its submit_plugin! is seen
/// ```
#[macro_export]
macro_rules! submit_plugin {
    ($make:expr $(,)?) => {
        $crate::discovery::__private::inventory::submit! {
            $crate::discovery::LinkedPlugin::__new(
                || -> ::std::sync::Arc<dyn $crate::discovery::__private::Plugin> {
                    ::std::sync::Arc::new(($make)())
                },
                ::core::concat!(::core::file!(), ":", ::core::line!()),
            )
        }
    };
}

/// One linked plugin, instantiated.
pub(crate) struct Instance {
    pub(crate) plugin: Arc<dyn Plugin>,
    pub(crate) meta: PluginMeta,
    pub(crate) location: &'static str,
}

/// The linked plugins by name (each name with every instance of that name, in location
/// order, so that a duplicate is reported the same way every run).
pub(crate) fn instances() -> BTreeMap<String, Vec<Instance>> {
    let mut by_name: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
    for linked in linked_plugins() {
        let plugin = linked.instantiate();
        let meta = plugin.meta();
        by_name
            .entry(meta.name.clone())
            .or_default()
            .push(Instance {
                plugin,
                meta,
                location: linked.location,
            });
    }
    for list in by_name.values_mut() {
        list.sort_unstable_by_key(|i| i.location);
    }
    by_name
}

impl PluginHost {
    /// Adds every plugin submitted with [`submit_plugin!`](crate::submit_plugin) in the crates
    /// linked into this binary, in name order (never link order, which changes between
    /// builds), as [`add`](Self::add) does; returns their names in that order. Call
    /// [`start`](Self::start) next.
    ///
    /// A plugin crate that the binary does not refer to is not linked, so not found: see the
    /// trap in [`submit_plugin!`](crate::submit_plugin).
    ///
    /// # Errors
    /// Nothing is added when
    /// - two linked plugins have the same name: [`DiscoveryError::DuplicateLinked`] names
    ///   both places (rename one, or link only one of the crates);
    /// - a linked plugin's name is empty or was added already:
    ///   [`DiscoveryError::Plugin`].
    ///
    /// # Panics
    /// If a plugin's constructor panics.
    pub fn discover_linked(&self) -> Result<Vec<String>, DiscoveryError> {
        let mut chosen = Vec::new();
        for (name, mut list) in instances() {
            if list.len() > 1 {
                return Err(DiscoveryError::DuplicateLinked {
                    name,
                    locations: list.iter().map(|i| i.location).collect(),
                });
            }
            if let Some(one) = list.pop() {
                chosen.push(one);
            }
        }
        let present = self.plugins();
        for i in &chosen {
            if i.meta.name.is_empty() {
                return Err(DiscoveryError::Plugin(
                    crate::plugin::PluginError::EmptyName,
                ));
            }
            if present.get(&i.meta.name).is_some() {
                return Err(DiscoveryError::Plugin(
                    crate::plugin::PluginError::Duplicate {
                        plugin: i.meta.name.clone(),
                    },
                ));
            }
        }
        let mut added = Vec::with_capacity(chosen.len());
        for i in chosen {
            let name = i.meta.name.clone();
            self.add_layered(i.plugin, false, i.meta, None)?;
            added.push(name);
        }
        Ok(added)
    }
}
