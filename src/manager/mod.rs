//! [`HookManager`]: owns the specs and impls, registers and unregisters plugins, hands out
//! callers.
//!
//! Registration takes a mutex that calls never touch: each hook's snapshot lives in an
//! `ArcSwap`, replaced whole after every change, so a call runs on the impl list as it was when
//! the call started and never waits for registration (and registration never waits for calls).

mod builder;
mod declare;
pub(crate) mod gate;
pub(crate) mod record;
pub(crate) mod registrar;
pub(crate) mod registry;
pub(crate) mod shared;
pub(crate) mod slot;

use std::any::TypeId;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::caller::{HookCaller, ImplInfo};
use crate::error::{CallError, PendingImplsError, RegisterError};
use crate::exec::stats::{HookStats, StatsSnapshot};
use crate::limits::{dismantle, quote, too_deep, too_deep_detail};
use crate::monitor::HookMonitor;
use crate::outcome::HookOutcome;
use crate::spec::{DynamicHook, HookSpec, SpecInfo, TypeKey};
pub use builder::HookManagerBuilder;
use registrar::Registrar;
use registry::{Registry, Replays, Verdict};
pub(crate) use shared::Shared;
use shared::{NameMap, TypedMap};
use slot::{json_bridge, AsIs, ErasedSlot, JsonBridge, Serde, Slot};

struct Inner {
    registry: Mutex<Registry>,
    typed: ArcSwap<TypedMap>,
    by_name: ArcSwap<NameMap>,
    shared: Arc<Shared>,
}

/// A registered plugin, as returned by [`HookManager::register`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginHandle {
    id: u64,
    name: Arc<str>,
}

impl PluginHandle {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A registered plugin and its impls, as listed by [`HookManager::plugins`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginInfo {
    /// The plugin's name.
    pub name: Arc<str>,
    /// Its impls, grouped by hook name.
    pub impls: Vec<ImplInfo>,
}

/// Owns hook specs and plugins' impls; hands out [`HookCaller`]s. Cheap to clone (shared).
///
/// ```
/// use hookwire::HookManager;
/// hookwire::hookspec! {
///     #[firstresult]
///     pub struct Lookup(String) -> u32;
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let pm = HookManager::builder().spec::<Lookup>().build();
/// pm.register("fallback", |r| r.sync_fn::<Lookup>(|_| Ok(Some(0))).trylast().add()).unwrap();
/// pm.register("table", |r| r.sync_fn::<Lookup>(|k| Ok((k == "x").then_some(42))).add()).unwrap();
///
/// let answer = pm.hook::<Lookup>().call(&"x".to_owned()).await.unwrap();
/// assert_eq!(answer.answers().next(), Some(("table", &42)));
/// # });
/// ```
#[derive(Clone)]
pub struct HookManager {
    inner: Arc<Inner>,
}

impl Default for HookManager {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HookManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reg = self.registry();
        f.debug_struct("HookManager")
            .field("hooks", &reg.hooks.keys().collect::<Vec<_>>())
            .field(
                "plugins",
                &reg.plugins.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl HookManager {
    /// An empty manager (without statistics; see [`HookManagerBuilder::stats`]).
    pub fn new() -> Self {
        Self::with_shared(Shared::new(false))
    }

    pub(crate) fn with_shared(shared: Shared) -> Self {
        HookManager {
            inner: Arc::new(Inner {
                registry: Mutex::new(Registry::default()),
                typed: ArcSwap::from_pointee(TypedMap::default()),
                by_name: ArcSwap::from_pointee(NameMap::default()),
                shared: Arc::new(shared),
            }),
        }
    }

    /// Per-impl statistics of every hook: calls, answers, errors, timeouts, panics, retries,
    /// breaker state, last error and sampled latency percentiles. Serialisable (it backs a
    /// health endpoint). Empty unless the manager was built with `.stats(true)`. Wrappers
    /// have no row: they wrap a whole call, and the impls they wrap are what is counted.
    pub fn stats(&self) -> StatsSnapshot {
        let reg = self.registry();
        StatsSnapshot {
            hooks: reg
                .hooks
                .iter()
                .filter_map(|(name, rec)| {
                    let impls = rec.slot.as_ref()?.stats();
                    (!impls.is_empty()).then(|| HookStats {
                        hook: name.to_string(),
                        impls,
                    })
                })
                .collect(),
        }
    }

    /// A builder to declare specs.
    pub fn builder() -> HookManagerBuilder {
        HookManagerBuilder::default()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Rebuilds the call-side lookup maps from the registry (under its lock).
    fn publish(&self, reg: &Registry) {
        let mut typed = TypedMap::default();
        let mut by_name = NameMap::default();
        for (name, rec) in &reg.hooks {
            let Some(slot) = &rec.slot else { continue };
            if slot.types() != TypeKey::of::<DynamicHook>() {
                typed.insert(slot.types().spec, slot.clone().as_any());
            }
            if let Some(j) = slot.clone().json_call() {
                by_name.insert(name.clone(), j);
            }
        }
        self.inner.typed.store(Arc::new(typed));
        self.inner.by_name.store(Arc::new(by_name));
    }

    fn declare(
        &self,
        spec: SpecInfo,
        make: impl FnOnce(SpecInfo) -> Arc<dyn ErasedSlot>,
        setup: impl FnOnce(&Arc<dyn ErasedSlot>),
    ) -> Result<(), RegisterError> {
        let mut reg = self.registry();
        reg.declare(spec, make, setup)?;
        self.publish(&reg);
        Ok(())
    }

    /// Declares typed spec `S`. Impls registered earlier for its name are checked now.
    ///
    /// # Errors
    /// [`RegisterError::SpecMismatch`] if the name is declared by another spec type, or impls
    /// already registered under it are for another spec type.
    pub fn add_spec<S: HookSpec>(&self) -> Result<(), RegisterError> {
        let shared = self.inner.shared.clone();
        self.declare(
            S::info(),
            |spec| Arc::new(Slot::<S>::new(spec, shared)),
            |_| {},
        )
    }

    /// Declares typed spec `S`, reachable by name from JSON; see
    /// [`HookManagerBuilder::json_spec`].
    ///
    /// # Errors
    /// As [`add_spec`](Self::add_spec), and when JSON impls already registered under the name
    /// cannot be checked.
    pub fn add_json_spec<S>(&self) -> Result<(), RegisterError>
    where
        S: HookSpec,
        S::Args: serde::Serialize + serde::de::DeserializeOwned,
        S::Output: serde::Serialize + serde::de::DeserializeOwned,
    {
        let shared = self.inner.shared.clone();
        self.declare(
            S::info(),
            |spec| Arc::new(Slot::<S>::new(spec, shared)),
            |slot| install_bridge(slot, json_bridge::<S, Serde>),
        )
    }

    /// Declares a dynamic (JSON) hook, e.g. `SpecInfo::dynamic("user.login")`.
    ///
    /// # Errors
    /// [`RegisterError::SpecMismatch`] if the name is taken by a typed spec.
    pub fn add_dynamic_spec(&self, spec: SpecInfo) -> Result<(), RegisterError> {
        let shared = self.inner.shared.clone();
        self.declare(
            spec,
            |spec| Arc::new(Slot::<DynamicHook>::new(spec, shared)),
            |slot| install_bridge(slot, json_bridge::<DynamicHook, AsIs>),
        )
    }

    /// A caller for hook `S`. Declares `S` if it is not declared yet. Keep the caller for hot
    /// paths: this lookup costs a hash-map probe and an `Arc` clone.
    pub fn hook<S: HookSpec>(&self) -> HookCaller<S> {
        if TypeId::of::<S>() == TypeId::of::<DynamicHook>() {
            return HookCaller::new(Err(RegisterError::SpecMismatch {
                hook: DynamicHook::NAME.to_owned(),
                detail: "dynamic hooks are called by name: use `call_json(\"<hook name>\", args)`"
                    .into(),
            }));
        }
        if let Some(slot) = self.lookup::<S>() {
            // A slot an impl created is not declared yet: declare it below.
            if slot.declared.load(Ordering::Relaxed) {
                return HookCaller::new(Ok(slot));
            }
        }
        match self.add_spec::<S>() {
            Ok(()) => match self.lookup::<S>() {
                Some(slot) => HookCaller::new(Ok(slot)),
                None => unreachable!("a declared typed spec is published"),
            },
            Err(e) => HookCaller::new(Err(e)),
        }
    }

    fn lookup<S: HookSpec>(&self) -> Option<Arc<Slot<S>>> {
        let map = self.inner.typed.load();
        map.get(&TypeId::of::<S>())
            .and_then(|s| s.clone().downcast::<Slot<S>>().ok())
    }

    /// Registers a plugin: `f` adds its impls to the [`Registrar`]; they are registered all
    /// together or not at all. Historic calls are replayed to the new impls during the
    /// registration; a replay that has to wait finishes on a background task (await
    /// [`flush`](Self::flush) to be sure; see [`HookCaller::call_historic`]).
    ///
    /// # Errors
    /// [`RegisterError`]: a duplicate or blocked name, a `before`/`after` naming a plugin that
    /// is not registered, an ordering cycle, an impl whose types do not match the hook's spec,
    /// or the error `f` returned. The manager is unchanged after any of them.
    pub fn register(
        &self,
        name: &str,
        f: impl FnOnce(&mut Registrar) -> Result<(), RegisterError>,
    ) -> Result<PluginHandle, RegisterError> {
        let name: Arc<str> = Arc::from(name);
        let mut r = Registrar::new(name.clone());
        f(&mut r)?;
        let (id, replays) = {
            let mut reg = self.registry();
            let constrained = r.has_constraints();
            let done = reg.register(&name, &r.pending, constrained, &self.inner.shared)?;
            self.publish(&reg);
            done
        };
        self.drive(replays);
        Ok(PluginHandle { id, name })
    }

    /// Registers several plugins (each prepared in its own [`Registrar`]), each all or nothing,
    /// rebuilding each touched hook's snapshot once for the whole batch. Results in input order.
    pub(crate) fn register_batch(&self, plugins: &[&Registrar]) -> Vec<Verdict<PluginHandle>> {
        let constrained = plugins.iter().any(|r| r.has_constraints());
        let items: Vec<_> = plugins
            .iter()
            .map(|r| (r.plugin_ref(), r.pending.as_slice()))
            .collect();
        let (results, replays) = {
            let mut reg = self.registry();
            let done = reg.register_batch(&items, constrained, &self.inner.shared);
            self.publish(&reg);
            done
        };
        self.drive(replays);
        results
            .into_iter()
            .zip(plugins)
            .map(|(r, p)| {
                r.map(|id| PluginHandle {
                    id,
                    name: p.plugin_ref().clone(),
                })
            })
            .collect()
    }

    /// What [`register_batch`](Self::register_batch) would answer for each plugin, without
    /// registering anything.
    pub(crate) fn check_batch(&self, plugins: &[Registrar]) -> Vec<Verdict<()>> {
        let items: Vec<_> = plugins
            .iter()
            .map(|r| (r.plugin_ref(), r.pending.as_slice()))
            .collect();
        let constrained = plugins.iter().any(Registrar::has_constraints);
        self.registry()
            .check_batch(&items, constrained, &self.inner.shared)
    }

    /// Unregisters several plugins, rebuilding each touched hook's snapshot once.
    pub(crate) fn unregister_many(&self, plugins: &[PluginHandle]) {
        let ids: std::collections::HashSet<u64> = plugins.iter().map(|p| p.id).collect();
        let mut reg = self.registry();
        reg.unregister_many(&ids);
        self.publish(&reg);
    }

    /// Runs historic replays: inline as far as they go without waiting; whatever is still
    /// pending continues on a tracked task of the current tokio runtime (or, outside any
    /// runtime, is finished right here).
    fn drive(&self, replays: Replays) {
        for mut fut in replays {
            let mut cx = Context::from_waker(Waker::noop());
            if let Poll::Ready(()) = fut.as_mut().poll(&mut cx) {
                continue;
            }
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    let task = handle.spawn(fut);
                    let mut bg = self.inner.shared.background();
                    bg.retain(|t| !t.is_finished());
                    bg.push(task);
                }
                Err(_) => futures::executor::block_on(fut),
            }
        }
    }

    /// Waits for historic replays that went pending during registration.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future leaves the remaining replays running.
    pub async fn flush(&self) {
        loop {
            let tasks: Vec<_> = std::mem::take(&mut *self.inner.shared.background());
            if tasks.is_empty() {
                return;
            }
            for t in tasks {
                // A replay that panicked already reported through its callback's absence.
                let _ = t.await;
            }
        }
    }

    /// Unregisters a plugin and all its impls. Calls already running finish on their snapshot.
    /// Returns `false` if it was not registered.
    pub fn unregister(&self, plugin: &PluginHandle) -> bool {
        let mut reg = self.registry();
        let done = reg.unregister(plugin.id).is_some();
        self.publish(&reg);
        done
    }

    /// Unregisters the plugin registered under `name`. Returns `false` if there is none.
    pub fn unregister_name(&self, name: &str) -> bool {
        let mut reg = self.registry();
        let Some(id) = reg.id_of(name) else {
            return false;
        };
        let done = reg.unregister(id).is_some();
        self.publish(&reg);
        done
    }

    /// Whether a plugin is registered under `name`.
    pub fn is_registered(&self, name: &str) -> bool {
        self.registry().is_registered(name)
    }

    /// Blocks a plugin name: unregisters it if registered, and refuses it from now on (until
    /// [`unblock`](Self::unblock)).
    pub fn block(&self, name: &str) {
        let mut reg = self.registry();
        if let Some(id) = reg.id_of(name) {
            reg.unregister(id);
            self.publish(&reg);
        }
        reg.blocked.insert(name.to_owned());
    }

    /// Allows a blocked name again. Returns `false` if it was not blocked.
    pub fn unblock(&self, name: &str) -> bool {
        self.registry().blocked.remove(name)
    }

    /// Whether `name` is blocked.
    pub fn is_blocked(&self, name: &str) -> bool {
        self.registry().blocked.contains(name)
    }

    /// Every registered plugin with its impls, in registration order.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.registry()
            .plugin_infos()
            .into_iter()
            .map(|(name, impls)| PluginInfo { name, impls })
            .collect()
    }

    /// The names of every known hook (declared, or named by an impl), sorted.
    pub fn hook_names(&self) -> Vec<String> {
        self.registry()
            .hooks
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    /// pluggy's `check_pending`: fails if any impl is registered for a hook the host never
    /// declared, unless the impl is `optional`.
    ///
    /// # Errors
    /// [`PendingImplsError`] listing every `(plugin, hook)` pair.
    pub fn check_pending(&self) -> Result<(), PendingImplsError> {
        self.registry().check_pending()
    }

    /// Installs a monitor that sees every call of every hook (pluggy's
    /// `add_hookcall_monitoring`). Returns a handle for
    /// [`remove_monitor`](Self::remove_monitor).
    pub fn add_monitor(&self, monitor: Arc<dyn HookMonitor>) -> MonitorHandle {
        let _reg = self.registry();
        let mut all = (**self.inner.shared.monitors.load()).clone();
        all.push(monitor.clone());
        self.inner.shared.monitors.store(Arc::new(all));
        self.inner
            .shared
            .has_monitors
            .store(true, Ordering::Relaxed);
        MonitorHandle(monitor)
    }

    /// Removes a monitor. Returns `false` if it was not installed.
    pub fn remove_monitor(&self, handle: &MonitorHandle) -> bool {
        let _reg = self.registry();
        let mut all = (**self.inner.shared.monitors.load()).clone();
        let before = all.len();
        all.retain(|m| !Arc::ptr_eq(m, &handle.0));
        let removed = all.len() != before;
        self.inner
            .shared
            .has_monitors
            .store(!all.is_empty(), Ordering::Relaxed);
        self.inner.shared.monitors.store(Arc::new(all));
        removed
    }

    /// Calls a hook by name with JSON arguments: a dynamic hook, or a typed hook declared with
    /// `json_spec` (its answers are converted to JSON).
    ///
    /// `args` is untrusted input: arguments nested deeper than [`MAX_JSON_DEPTH`](crate::MAX_JSON_DEPTH) are refused
    /// (and dropped without recursion, so no depth overflows the stack), and error messages
    /// quote at most 200 bytes of the name or the value (then `… (N bytes)`). A dynamic hook's
    /// arguments reach its JSON impls as they are, without a copy. An answer nested too deep
    /// (a JSON impl's, or a typed impl's once converted) is that impl's error
    /// ([`JsonMismatch`](crate::JsonMismatch)).
    ///
    /// # Errors
    /// [`CallError::UnknownHook`] for an unknown name, [`CallError::BadArgs`] when `args` nests
    /// too deep or does not fit the hook's argument type, and the errors of
    /// [`HookCaller::call`].
    ///
    /// # Cancel safety
    /// As [`HookCaller::call`].
    pub async fn call_json(
        &self,
        hook: &str,
        args: Value,
    ) -> Result<HookOutcome<Value>, CallError> {
        if too_deep(&args) {
            dismantle(args);
            return Err(CallError::BadArgs {
                hook: quote(hook),
                detail: too_deep_detail("the value"),
            });
        }
        let target = self.inner.by_name.load().get(hook).cloned();
        match target {
            Some(t) => t.call_json(args).await,
            None => {
                // A typed spec of that name, not reachable from JSON: say how to make it so.
                let typed = self
                    .registry()
                    .hooks
                    .get(hook)
                    .and_then(|r| r.spec.as_ref())
                    .map(|spec| spec.types.spec_name);
                if let Some(spec_type) = typed {
                    return Err(CallError::Unavailable {
                        hook: quote(hook),
                        detail: format!(
                            "its spec type `{spec_type}` is not reachable from JSON; declare it with `json_spec::<{spec_type}>()` (its argument and answer types must be serde types)"
                        ),
                    });
                }
                let map = self.inner.by_name.load();
                let mut known: Vec<&str> = map.keys().map(|k| &**k).collect();
                known.sort_unstable();
                Err(CallError::UnknownHook {
                    hook: quote(hook),
                    known: if known.is_empty() {
                        "none".to_owned()
                    } else {
                        quote(known.join(", "))
                    },
                })
            }
        }
    }
}

fn install_bridge<S: HookSpec>(slot: &Arc<dyn ErasedSlot>, bridge: fn() -> JsonBridge<S>) {
    if let Ok(slot) = slot.clone().as_any().downcast::<Slot<S>>() {
        let _ = slot.json.set(bridge());
    }
}

/// Identifies a monitor added with [`HookManager::add_monitor`].
#[derive(Clone)]
pub struct MonitorHandle(Arc<dyn HookMonitor>);
