//! [`PluginGate`]: what a [`PluginHost`](super::PluginHost) asks before it lets a plugin in,
//! registers one of its impls or hands it a service.
//!
//! The host knows nothing of how a gate decides: it calls the gate at three points and turns a
//! [`Refusal`] into an error and a [`PluginEvent::Refused`](super::PluginEvent::Refused).
//! Without a gate (the default) everything is allowed and nothing is checked. With one, the
//! checks run when a plugin is added or replaced, when its impls are collected (start,
//! restart, replace, hot reload), on each [`PluginContext::get`](super::PluginContext::get)
//! and on each hook a process plugin calls through the host (`host/call`, asked as
//! [`check_hook`](PluginGate::check_hook): a plugin calls only the guarded hooks it may
//! implement) — never on a hook call made by the host's code.
//!
//! The host, never the plugin, says where a plugin comes from ([`TrustSource`]): a plugin
//! added in code is [`TrustSource::Code`]; one found through a manifest is
//! [`TrustSource::Folder`] (its folder), or [`TrustSource::Signed`] when its manifest's
//! signature was verified — a gate maps that to a trust level. It also says how the plugin
//! runs ([`Isolation`]): in the host's process, or as a process of its own, confined or not.
//! `hookwire::security::SecurityPolicy` (feature `security`) is the gate this crate ships.

use std::any::TypeId;
use std::path::PathBuf;

use super::meta::PluginMeta;

/// Where a plugin came from, as the host saw it (the plugin cannot choose it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "source", content = "at")]
#[non_exhaustive]
pub enum TrustSource {
    /// Added by the host's own code ([`PluginHost::add`](super::PluginHost::add) and its
    /// siblings, linked plugins without a manifest): compiled into the host.
    #[default]
    Code,
    /// Described by a manifest in this folder (the plugin's own folder, holding its
    /// `plugin.toml`).
    Folder(PathBuf),
    /// Described by a manifest signed by the key with this id (the first 16 hex digits of the
    /// sha256 of the public key), whatever its folder. Discovery sets
    /// [`Signed`](Self::Signed) instead; this is for gates and hosts that know only the key.
    SignedBy(String),
    /// Described by a manifest in folder `folder` whose signature by the key with id `key`
    /// was verified (discovery with a signature policy sets it): a gate may trust the
    /// folder, the key, or both.
    Signed {
        /// The plugin's own folder (holding its `plugin.toml`).
        folder: PathBuf,
        /// The id of the key that signed its `plugin.toml`.
        key: String,
    },
}

impl std::fmt::Display for TrustSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrustSource::Code => f.write_str("the host's code"),
            TrustSource::Folder(p) => write!(f, "folder `{}`", p.display()),
            TrustSource::SignedBy(k) => write!(f, "a manifest signed by key `{k}`"),
            TrustSource::Signed { folder, key } => {
                write!(f, "folder `{}`, signed by key `{key}`", folder.display())
            }
        }
    }
}

/// How a plugin runs, as the host will start it (the plugin cannot choose it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Isolation {
    /// In the host's process, with the host's rights (linked plugins). Plugins added in code
    /// are reported so whatever they are: the host's code chose to run them as they are.
    #[default]
    InProcess,
    /// A process of its own, not confined beyond a cleared environment.
    Process,
    /// A process of its own under a Landlock sandbox and resource limits.
    Sandboxed,
}

impl Isolation {
    /// Its name: `in_process`, `process`, `sandboxed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::InProcess => "in_process",
            Isolation::Process => "process",
            Isolation::Sandboxed => "sandboxed",
        }
    }
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isolation::InProcess => "in the host's process",
            Isolation::Process => "as an unconfined process",
            Isolation::Sandboxed => "as a sandboxed process",
        })
    }
}

/// The plugin a gate is asked about.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct GateSubject<'a> {
    /// Its metadata: the name it has in the host, version, and the permissions it declares
    /// ([`PluginMeta::permissions`], with those of its manifest added).
    pub meta: &'a PluginMeta,
    /// Where it came from.
    pub source: &'a TrustSource,
    /// How it runs.
    pub isolation: Isolation,
}

impl<'a> GateSubject<'a> {
    /// A subject running in the host's process (for gates tested on their own).
    pub fn new(meta: &'a PluginMeta, source: &'a TrustSource) -> Self {
        GateSubject {
            meta,
            source,
            isolation: Isolation::InProcess,
        }
    }

    /// The same subject, running as `isolation` says.
    #[must_use]
    pub fn with_isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.meta.name
    }
}

/// The checks a [`PluginHost`](super::PluginHost) makes, installed with
/// [`PluginHostBuilder::gate`](super::PluginHostBuilder::gate).
///
/// Each method is called outside the host's locks and must not block for long: they run while
/// a plugin is added, collected or asks for a service. A gate is `Any`, so that code above the
/// host that knows a gate's type (discovery knows `SecurityPolicy`) can ask it more.
///
/// ```
/// use std::any::TypeId;
/// use hookwire::plugin::{GateSubject, PluginGate, Refusal};
/// use hookwire::PluginHost;
///
/// /// Lets nobody implement `shutdown`.
/// #[derive(Debug)]
/// struct NoShutdown;
/// impl PluginGate for NoShutdown {
///     fn admit(&self, _: &GateSubject<'_>) -> Result<(), Refusal> { Ok(()) }
///     fn check_hook(&self, p: &GateSubject<'_>, hook: &str) -> Result<(), Refusal> {
///         if hook != "shutdown" { return Ok(()) }
///         Err(Refusal::Hook {
///             plugin: p.name().to_owned(),
///             hook: hook.to_owned(),
///             permission: "admin".to_owned(),
///             reason: "no plugin is granted it".to_owned(),
///         })
///     }
///     fn check_service(&self, _: &GateSubject<'_>, _: TypeId, _: &'static str) -> Result<(), Refusal> {
///         Ok(())
///     }
/// }
/// let host = PluginHost::builder().gate(NoShutdown).build();
/// # let _ = host;
/// ```
pub trait PluginGate: std::any::Any + Send + Sync + std::fmt::Debug {
    /// Whether the plugin may be added at all (its trust level, the permissions it declares).
    /// Called by `add` (and its siblings) and by `replace` for the new instance.
    ///
    /// # Errors
    /// A [`Refusal`]: the plugin is not added (or the replacement not made).
    fn admit(&self, plugin: &GateSubject<'_>) -> Result<(), Refusal>;

    /// Whether the plugin may register an impl of hook `hook` (its name, as in
    /// [`SpecInfo::name`](crate::spec::SpecInfo::name)). Called for each impl the plugin's
    /// `register` collected, before any of them is registered.
    ///
    /// # Errors
    /// A [`Refusal`]: the plugin fails with it and none of its impls is registered.
    fn check_hook(&self, plugin: &GateSubject<'_>, hook: &str) -> Result<(), Refusal>;

    /// Whether the plugin may get the service of type `service` (`type_name` is
    /// `std::any::type_name` of it). Called by each
    /// [`PluginContext::get`](super::PluginContext::get) and `require`.
    ///
    /// # Errors
    /// A [`Refusal`]: `get` returns `None`, `require` the refusal.
    fn check_service(
        &self,
        plugin: &GateSubject<'_>,
        service: TypeId,
        type_name: &'static str,
    ) -> Result<(), Refusal>;

    /// Whether the hook and service names the gate refers to are ones the host declares (a
    /// rule for a name nothing uses guards nothing). Called by each
    /// [`PluginHost::start`](super::PluginHost::start) once the new plugins' impls are
    /// collected, before any of them is registered or started. The default accepts every
    /// name (a gate that decides by rules rather than names).
    ///
    /// # Errors
    /// What the gate names that the host does not declare, and what to write instead: the
    /// start fails with [`PluginError::Gate`](super::PluginError::Gate).
    fn check_names(&self, declared: &DeclaredNames<'_>) -> Result<(), crate::BoxError> {
        let _ = declared;
        Ok(())
    }
}

/// The hooks and services a host declares, for [`PluginGate::check_names`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DeclaredNames<'a> {
    /// Every hook the host knows, sorted: declared on its [`HookManager`](crate::HookManager),
    /// named by a registered impl, or named by an impl of a plugin being started.
    pub hooks: &'a [String],
    /// The type names (`std::any::type_name`) of the services plugins can get, sorted: the
    /// host's own and those its running plugins provide.
    pub services: &'a [&'static str],
}

impl<'a> DeclaredNames<'a> {
    /// Names to check a gate against (for gates tested on their own).
    pub fn new(hooks: &'a [String], services: &'a [&'static str]) -> Self {
        DeclaredNames { hooks, services }
    }
}

/// A [`PluginGate`] said no. Each names the plugin and, where one is missing, the permission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "refused")]
#[non_exhaustive]
pub enum Refusal {
    /// The plugin may not be loaded at all.
    #[error("plugin `{plugin}` is refused: {reason}")]
    Plugin {
        /// The plugin.
        plugin: String,
        /// The permission at fault, if one is.
        permission: Option<String>,
        /// Why, and what to change.
        reason: String,
    },
    /// The plugin may not implement a hook.
    #[error("plugin `{plugin}` may not implement hook `{hook}`: it needs permission `{permission}`, which {reason}")]
    Hook {
        /// The plugin.
        plugin: String,
        /// The hook's name.
        hook: String,
        /// The permission the hook needs.
        permission: String,
        /// Why the plugin does not have it, and what to change.
        reason: String,
    },
    /// The plugin may not get a service.
    #[error("plugin `{plugin}` may not use service `{service}`: it needs permission `{permission}`, which {reason}")]
    Service {
        /// The plugin.
        plugin: String,
        /// The service's type name.
        service: String,
        /// The permission the service needs.
        permission: String,
        /// Why the plugin does not have it, and what to change.
        reason: String,
    },
}

impl Refusal {
    /// The plugin refused.
    pub fn plugin(&self) -> &str {
        match self {
            Refusal::Plugin { plugin, .. }
            | Refusal::Hook { plugin, .. }
            | Refusal::Service { plugin, .. } => plugin,
        }
    }

    /// The permission at fault, if one is.
    pub fn permission(&self) -> Option<&str> {
        match self {
            Refusal::Plugin { permission, .. } => permission.as_deref(),
            Refusal::Hook { permission, .. } | Refusal::Service { permission, .. } => {
                Some(permission)
            }
        }
    }
}

/// Asks `gate` whether the names it refers to are declared: the hooks of the host's manager,
/// of the impls collected in `batch` and of `more` (impls the gate refused), the host's
/// services and those of its running plugins.
pub(crate) fn check_names(
    gate: &dyn PluginGate,
    host: &super::cell::Host,
    batch: &[crate::manager::registrar::Registrar],
    more: Vec<String>,
) -> Result<(), crate::BoxError> {
    let mut hooks: std::collections::BTreeSet<String> =
        host.hooks.hook_names().into_iter().collect();
    hooks.extend(more);
    for r in batch {
        for hook in r.hook_names() {
            if !hooks.contains(hook) {
                hooks.insert(hook.to_owned());
            }
        }
    }
    let hooks: Vec<String> = hooks.into_iter().collect();
    let mut services = host.services.names();
    for cell in &host.registry().started {
        services.extend(cell.provided.names());
    }
    services.sort_unstable();
    services.dedup();
    gate.check_names(&DeclaredNames::new(&hooks, &services))
}
