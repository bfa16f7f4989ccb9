//! [`HookManager`]: owns the specs and impls, registers and unregisters plugins, hands out
//! callers.
//!
//! Registration takes a mutex that calls never touch: each hook's snapshot lives in an
//! `ArcSwap`, replaced whole after every change (then the slot's generation is bumped, which
//! callers' cached snapshots are checked against: `cached.rs`), so a call runs on the impl
//! list as it was when the call started and never waits for registration (and registration
//! never waits for calls).

// Without the JSON layer an impl record is always typed: its `if let RecordFn::Typed` match.
#![cfg_attr(not(feature = "json"), allow(irrefutable_let_patterns))]

mod builder;
pub(crate) mod cached;
mod declare;
pub(crate) mod gate;
#[cfg(feature = "json")]
mod json;
pub(crate) mod record;
pub(crate) mod registrar;
pub(crate) mod registry;
pub(crate) mod shared;
pub(crate) mod slot;

use std::any::TypeId;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};

use arc_swap::ArcSwap;

use crate::caller::{HookCaller, ImplInfo};
use crate::error::{PendingImplsError, RegisterError};
use crate::exec::stats::{HookStats, StatsSnapshot};
use crate::monitor::HookMonitor;
#[cfg(feature = "json")]
use crate::spec::DynamicHook;
use crate::spec::{HookSpec, SpecInfo};
pub use builder::HookManagerBuilder;
use registrar::Registrar;
pub(crate) use registry::SeqsByHook as Places;
use registry::{Registry, Replays, Verdict};
#[cfg(feature = "json")]
use shared::NameMap;
pub(crate) use shared::Shared;
use shared::TypedMap;
use slot::{ErasedSlot, ReplayFailure, ReplayLedger, Slot};

struct Inner {
    /// This manager's identity, carried by the [`PluginHandle`]s it hands out.
    id: u64,
    registry: Mutex<Registry>,
    typed: ArcSwap<TypedMap>,
    /// The hooks reachable from JSON, by name (feature `json`).
    #[cfg(feature = "json")]
    by_name: ArcSwap<NameMap>,
    shared: Arc<Shared>,
}

/// A registered plugin, as returned by [`HookManager::register`].
///
/// A handle identifies both the plugin and the manager that registered it: another manager
/// refuses it ([`HookManager::unregister`] returns `false` and changes nothing), even when it
/// has a plugin registered under the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginHandle {
    /// The manager that registered the plugin (its `Inner::id`).
    manager: u64,
    /// The plugin's number in that manager.
    id: u64,
    name: Arc<str>,
}

/// Numbers managers, so that a handle names the one it came from. (A manager's address is
/// not enough: it can be reused once a manager is dropped.)
static NEXT_MANAGER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl PluginHandle {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A registered plugin and its impls, as listed by [`HookManager::plugins`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginImpls {
    /// The plugin's name.
    pub name: Arc<str>,
    /// Its impls, grouped by hook name.
    pub impls: Vec<ImplInfo>,
}

/// Which side of its target a `before`/`after` constraint puts the impl on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConstraintRelation {
    /// [`ImplBuilder::before`](crate::hook::ImplBuilder::before): run before the target's impl.
    Before,
    /// [`ImplBuilder::after`](crate::hook::ImplBuilder::after): run after the target's impl.
    After,
}

impl std::fmt::Display for ConstraintRelation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConstraintRelation::Before => "before",
            ConstraintRelation::After => "after",
        })
    }
}

/// A `before`/`after` constraint of a registered impl whose target plugin is not registered,
/// as listed by [`HookManager::waiting_constraints`]. It takes effect when the target
/// registers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct WaitingConstraint {
    /// The plugin that declared the constraint.
    pub plugin: String,
    /// The hook whose impl carries it.
    pub hook: String,
    /// Before or after the target.
    pub relation: ConstraintRelation,
    /// The plugin it names, not registered.
    pub target: String,
}

impl std::fmt::Display for WaitingConstraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "impl of hook `{}` in plugin `{}` runs {} `{}`, which is not registered",
            self.hook, self.plugin, self.relation, self.target
        )
    }
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
    /// What this handle may change, when it is not the owner's (see [`Restriction`]).
    restriction: Option<Arc<dyn Restriction>>,
}

/// What a handle on the manager that is not its owner's may change: the handle a plugin's
/// context hands out when its host has a gate. Registration ([`HookManager::register`],
/// `add_plugin`) asks [`register`](Self::register); unregistering, blocking and unblocking a
/// name ask [`may_remove`](Self::may_remove). Calls, specs and monitors are not restricted.
pub(crate) trait Restriction: Send + Sync {
    /// Whether impls of `hooks` may be registered under `name`.
    fn register(&self, name: &str, hooks: &[&str]) -> Result<(), RegisterError>;
    /// `name` was registered through this handle.
    fn registered(&self, name: &str);
    /// Whether what is registered under `name` may be unregistered, blocked or unblocked
    /// through this handle (a refusal is the restriction's to report).
    fn may_remove(&self, name: &str, action: &str) -> bool;
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

/// A handle on a manager that does not keep it alive (a process plugin's way back to its
/// host, which must not hold the host's impls, and so itself, in a cycle).
#[derive(Clone)]
#[cfg_attr(not(feature = "process"), allow(dead_code))]
pub(crate) struct WeakManager(std::sync::Weak<Inner>);

#[cfg_attr(not(feature = "process"), allow(dead_code))]
impl WeakManager {
    pub(crate) fn upgrade(&self) -> Option<HookManager> {
        self.0.upgrade().map(|inner| HookManager {
            inner,
            restriction: None,
        })
    }
}

impl HookManager {
    /// Another handle on this manager, whose changes `restriction` checks.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))]
    pub(crate) fn restricted(&self, restriction: Arc<dyn Restriction>) -> HookManager {
        HookManager {
            inner: self.inner.clone(),
            restriction: Some(restriction),
        }
    }

    fn may_remove(&self, name: &str, action: &str) -> bool {
        self.restriction
            .as_ref()
            .is_none_or(|r| r.may_remove(name, action))
    }

    /// A handle that does not keep the manager alive.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn downgrade(&self) -> WeakManager {
        WeakManager(Arc::downgrade(&self.inner))
    }

    /// An empty manager (without statistics; see [`HookManagerBuilder::stats`]).
    pub fn new() -> Self {
        Self::with_shared(Shared::new(false))
    }

    pub(crate) fn with_shared(shared: Shared) -> Self {
        HookManager {
            inner: Arc::new(Inner {
                id: NEXT_MANAGER_ID.fetch_add(1, Ordering::Relaxed),
                registry: Mutex::new(Registry::default()),
                typed: ArcSwap::from_pointee(TypedMap::default()),
                #[cfg(feature = "json")]
                by_name: ArcSwap::from_pointee(NameMap::default()),
                shared: Arc::new(shared),
            }),
            restriction: None,
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
        #[cfg(feature = "json")]
        let mut by_name = NameMap::default();
        #[cfg_attr(not(feature = "json"), allow(unused_variables))]
        for (name, rec) in &reg.hooks {
            let Some(slot) = &rec.slot else { continue };
            #[cfg(feature = "json")]
            {
                if let Some(j) = slot.clone().json_call() {
                    by_name.insert(name.clone(), j);
                }
                if slot.types() == crate::spec::TypeKey::of::<DynamicHook>() {
                    continue;
                }
            }
            typed.insert(slot.types().spec, slot.clone().as_any());
        }
        self.inner.typed.store(Arc::new(typed));
        #[cfg(feature = "json")]
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

    /// A caller for hook `S`. Declares `S` if it is not declared yet. Keep the caller for hot
    /// paths: this lookup costs a hash-map probe, and the caller caches the hook's current
    /// snapshot (see [`HookCaller`]: make it once the plugins are registered).
    pub fn hook<S: HookSpec>(&self) -> HookCaller<S> {
        #[cfg(feature = "json")]
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
    /// together or not at all.
    ///
    /// A `before`/`after` constraint may name a plugin that is not registered: it waits for
    /// it (see [`waiting_constraints`](Self::waiting_constraints)) and applies whenever that
    /// plugin is registered, for as long as this one is.
    ///
    /// # Historic hooks
    /// Every stored call of a historic hook this plugin implements is replayed to its impls
    /// (see [`HookCaller::call_historic`]) inside `register`, after the impls are in place
    /// (calls from other tasks may reach them from then on). Each replay runs with the
    /// stored call's policy (the caller's overrides, else the spec's):
    /// - **isolation** (the default): every outcome, failures included, goes to the call's
    ///   `on_result`; `register` succeeds;
    /// - **fail-fast**: a replay that fails *before `register` returns* makes `register`
    ///   fail with [`RegisterError::ReplayFailed`] and rolls the registration back (pluggy
    ///   leaves the plugin registered; we do not). That run passes nothing to `on_result`,
    ///   the stored calls after it are not replayed to the plugin, and the outcomes of the
    ///   calls replayed before it have already gone to `on_result`.
    ///
    /// A replay runs inline as far as it can without waiting. One that has to wait (an async
    /// impl that goes pending) continues on a task of the current tokio runtime, and
    /// `register` returns without it; [`flush`](Self::flush) waits for such tasks (outside
    /// any runtime, `register` finishes the replay itself before returning). A replay still
    /// running when `register` has returned can no longer fail it, whatever the policy: its
    /// outcomes, failures included, go to `on_result`, a fail-fast failure is also logged
    /// (`tracing` error), and the plugin stays registered.
    ///
    /// `on_result` runs inside the registration; if it panics, the panic is caught and logged
    /// (`tracing` error naming the hook and the plugin) and the registration stands.
    ///
    /// # Errors
    /// [`RegisterError`]: a duplicate or blocked name, an ordering cycle (the registration
    /// that would close it is refused, naming it), an impl whose types do not match the
    /// hook's spec, a wrapper on a historic hook, the error `f` returned, or a fail-fast
    /// historic replay that failed. The manager is unchanged after any of them (a failed
    /// replay's registration is rolled back).
    pub fn register(
        &self,
        name: &str,
        f: impl FnOnce(&mut Registrar) -> Result<(), RegisterError>,
    ) -> Result<PluginHandle, RegisterError> {
        if name.is_empty() {
            return Err(RegisterError::EmptyName);
        }
        let name: Arc<str> = Arc::from(name);
        let mut r = Registrar::new(name.clone());
        f(&mut r)?;
        if let Some(restriction) = &self.restriction {
            let hooks: Vec<&str> = r.hook_names().collect();
            restriction.register(&name, &hooks)?;
        }
        let ledger = Arc::default();
        let (id, replays) = {
            let mut reg = self.registry();
            let done = reg.register(&name, &r.pending, &self.inner.shared, &ledger)?;
            self.publish(&reg);
            done
        };
        if let Some(failure) = self.drive(replays, &ledger).into_iter().next() {
            self.roll_back(&HashSet::from([id]));
            return Err(failure.into_error());
        }
        if let Some(restriction) = &self.restriction {
            restriction.registered(&name);
        }
        Ok(PluginHandle {
            manager: self.inner.id,
            id,
            name,
        })
    }

    /// Registers several plugins (each prepared in its own [`Registrar`]), each all or nothing,
    /// rebuilding each touched hook's snapshot once for the whole batch. Results in input order.
    /// A plugin whose historic replay fails under fail-fast is rolled back, as in
    /// [`register`](Self::register).
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host
    pub(crate) fn register_batch(&self, plugins: &[&Registrar]) -> Vec<Verdict<PluginHandle>> {
        let items: Vec<_> = plugins
            .iter()
            .map(|r| (r.plugin_ref(), r.pending.as_slice()))
            .collect();
        let ledger = Arc::default();
        let (mut results, replays) = {
            let mut reg = self.registry();
            let done = reg.register_batch(&items, &self.inner.shared, &ledger);
            self.publish(&reg);
            done
        };
        let failures = self.drive(replays, &ledger);
        if !failures.is_empty() {
            let ids: HashSet<u64> = failures.iter().map(|f| f.plugin_id).collect();
            self.roll_back(&ids);
            for failure in failures {
                let pos = results
                    .iter()
                    .position(|r| r.as_ref().is_ok_and(|&id| id == failure.plugin_id));
                if let Some(pos) = pos {
                    results[pos] = Err(Box::new(failure.into_error()));
                }
            }
        }
        results
            .into_iter()
            .zip(plugins)
            .map(|(r, p)| {
                r.map(|id| PluginHandle {
                    manager: self.inner.id,
                    id,
                    name: p.plugin_ref().clone(),
                })
            })
            .collect()
    }

    /// What [`register_batch`](Self::register_batch) would answer for each plugin, without
    /// registering anything.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host
    pub(crate) fn check_batch(&self, plugins: &[Registrar]) -> Vec<Verdict<()>> {
        let items: Vec<_> = plugins
            .iter()
            .map(|r| (r.plugin_ref(), r.pending.as_slice()))
            .collect();
        self.registry().check_batch(&items, &self.inner.shared)
    }

    /// Whether [`replace`](Self::replace) would accept `new` in place of `old` (`None`: a
    /// plugin not registered), changing nothing.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    pub(crate) fn check_replacement(
        &self,
        old: Option<&PluginHandle>,
        new: &Registrar,
    ) -> Result<(), RegisterError> {
        let old = self.own_id(old);
        self.registry()
            .check_replacement(old, new.plugin_ref(), &new.pending, &self.inner.shared)
    }

    /// Replaces plugin `old`'s impls by `new`'s (registered under the same name) in one swap:
    /// every touched hook's snapshot is rebuilt once and all are stored under the registry
    /// lock, so each call runs either the old impls or the new ones, never some of each. The
    /// new impls take the old ones' places in the registration order. With `old` no longer
    /// registered, a plain registration.
    ///
    /// Historic calls are replayed to the new impls (a new instance has seen none of them); a
    /// fail-fast replay that fails does not undo the swap: it is logged.
    ///
    /// # Errors
    /// As [`register`](Self::register) (except replay failures); the old impls stay then.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    pub(crate) fn replace(
        &self,
        old: &PluginHandle,
        new: &Registrar,
    ) -> Result<PluginHandle, RegisterError> {
        let old = self.own_id(Some(old));
        let name = new.plugin_ref();
        let ledger = Arc::default();
        let (id, replays) = {
            let mut reg = self.registry();
            let done = reg.replace(old, name, &new.pending, &self.inner.shared, &ledger)?;
            self.publish(&reg);
            done
        };
        self.log_replay_failures(replays, &ledger);
        Ok(PluginHandle {
            manager: self.inner.id,
            id,
            name: name.clone(),
        })
    }

    /// Unregisters `plugin` like [`unregister`](Self::unregister), and returns the places its
    /// impls had in the registration order (`None` if it was not registered), so that
    /// [`register_in_places`](Self::register_in_places) can put a plugin's impls back where
    /// they were: a restarted plugin keeps its place in the call order.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    pub(crate) fn unregister_keeping_places(&self, plugin: &PluginHandle) -> Option<Places> {
        if plugin.manager != self.inner.id {
            return None;
        }
        let mut reg = self.registry();
        let places = reg.unregister_keeping_places(plugin.id);
        self.publish(&reg);
        places
    }

    /// Registers `new`'s impls in `places` (each takes the next place its hook has left, in
    /// order; the others count as registered now). Historic replays as in
    /// [`replace`](Self::replace).
    ///
    /// # Errors
    /// As [`register`](Self::register) (except replay failures).
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    pub(crate) fn register_in_places(
        &self,
        places: Places,
        new: &Registrar,
    ) -> Result<PluginHandle, RegisterError> {
        let name = new.plugin_ref();
        let ledger = Arc::default();
        let (id, replays) = {
            let mut reg = self.registry();
            let done =
                reg.register_in_places(name, &new.pending, &self.inner.shared, &ledger, places)?;
            self.publish(&reg);
            done
        };
        self.log_replay_failures(replays, &ledger);
        Ok(PluginHandle {
            manager: self.inner.id,
            id,
            name: name.clone(),
        })
    }

    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    fn log_replay_failures(&self, replays: Replays, ledger: &ReplayLedger) {
        for failure in self.drive(replays, ledger) {
            tracing::warn!(plugin = %failure.plugin, hook = %failure.hook, detail = %failure.detail, "a historic call replayed to a reloaded plugin failed; the reload stands");
        }
    }

    /// The registry's number for `handle` if it is one of this manager's (`u64::MAX`, which
    /// no plugin has, otherwise).
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    fn own_id(&self, handle: Option<&PluginHandle>) -> u64 {
        handle
            .filter(|h| h.manager == self.inner.id)
            .map_or(u64::MAX, |h| h.id)
    }

    /// Unregisters several plugins, rebuilding each touched hook's snapshot once.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host
    pub(crate) fn unregister_many(&self, plugins: &[PluginHandle]) {
        let ids: HashSet<u64> = plugins
            .iter()
            .filter(|p| p.manager == self.inner.id)
            .map(|p| p.id)
            .collect();
        let mut reg = self.registry();
        reg.unregister_many(&ids);
        self.publish(&reg);
    }

    /// Unregisters plugins whose registration a fail-fast replay failed.
    fn roll_back(&self, ids: &HashSet<u64>) {
        let mut reg = self.registry();
        reg.unregister_many(ids);
        self.publish(&reg);
    }

    /// Runs historic replays: inline as far as they go without waiting; whatever is still
    /// pending continues on a tracked task of the current tokio runtime (or, outside any
    /// runtime, is finished right here on a runtime of its own, so that timeouts and deadlines
    /// have a timer). Returns the fail-fast failures of the part run here:
    /// the registration fails for them. (The ledger is settled before any task is spawned,
    /// so what counts does not depend on how fast a task runs.)
    fn drive(&self, replays: Replays, ledger: &ReplayLedger) -> Vec<ReplayFailure> {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            // Even a replay's first poll may arm a timer, which needs a runtime.
            finish_outside_runtime(replays);
            return ledger.settle();
        };
        let mut waiting = Vec::new();
        for mut fut in replays {
            let mut cx = Context::from_waker(Waker::noop());
            if fut.as_mut().poll(&mut cx).is_pending() {
                waiting.push(fut);
            }
        }
        let failures = ledger.settle();
        if !waiting.is_empty() {
            let mut bg = self.inner.shared.background();
            bg.retain(|t| !t.is_finished());
            bg.extend(waiting.into_iter().map(|fut| handle.spawn(fut)));
        }
        failures
    }

    /// Waits for historic replays that went pending during registration (see
    /// [`register`](Self::register)): every task running one when `flush` is called, and any
    /// started while it waits. Their outcomes have all gone to their `on_result` when it
    /// returns.
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
    /// Returns `false`, changing nothing, if it is not registered (any more), or if `plugin`
    /// is a handle from another manager.
    pub fn unregister(&self, plugin: &PluginHandle) -> bool {
        if plugin.manager != self.inner.id || !self.may_remove(&plugin.name, "unregister") {
            return false;
        }
        let mut reg = self.registry();
        let done = reg.unregister(plugin.id).is_some();
        self.publish(&reg);
        done
    }

    /// Unregisters the plugin registered under `name`. Returns `false` if there is none.
    pub fn unregister_name(&self, name: &str) -> bool {
        if !self.may_remove(name, "unregister") {
            return false;
        }
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
        if !self.may_remove(name, "block") {
            return;
        }
        let mut reg = self.registry();
        if let Some(id) = reg.id_of(name) {
            reg.unregister(id);
            self.publish(&reg);
        }
        reg.blocked.insert(name.to_owned());
    }

    /// Allows a blocked name again. Returns `false` if it was not blocked.
    pub fn unblock(&self, name: &str) -> bool {
        self.may_remove(name, "unblock") && self.registry().blocked.remove(name)
    }

    /// Whether `name` is blocked.
    pub fn is_blocked(&self, name: &str) -> bool {
        self.registry().blocked.contains(name)
    }

    /// The names blocked with [`block`](Self::block), sorted (pluggy's blocked entries of
    /// `list_name_plugin`).
    pub fn blocked(&self) -> Vec<String> {
        self.registry().blocked.iter().cloned().collect()
    }

    /// The plugin registered under `name`, with its impls (pluggy's `get_plugin`), or `None`
    /// if no plugin of that name is registered (see [`is_blocked`](Self::is_blocked) for a
    /// blocked name).
    ///
    /// ```
    /// use hookwire::HookManager;
    /// hookwire::hookspec! { pub struct Ping(()) -> u8; }
    ///
    /// let pm = HookManager::builder().spec::<Ping>().build();
    /// pm.register("pong", |r| r.sync_fn::<Ping>(|_| Ok(Some(1))).add()).unwrap();
    /// let info = pm.plugin("pong").unwrap();
    /// assert_eq!(info.impls[0].hook.as_ref(), "Ping");
    /// assert!(pm.plugin("nobody").is_none());
    /// ```
    pub fn plugin(&self, name: &str) -> Option<PluginImpls> {
        let reg = self.registry();
        let id = reg.id_of(name)?;
        let (name, impls) = reg.plugin_info(id)?;
        Some(PluginImpls { name, impls })
    }

    /// Every registered plugin with its impls, in registration order. Blocked names are
    /// listed by [`blocked`](Self::blocked).
    pub fn plugins(&self) -> Vec<PluginImpls> {
        self.registry()
            .plugin_infos()
            .into_iter()
            .map(|(name, impls)| PluginImpls { name, impls })
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
    /// declared, unless the impl is `optional`. (Constraints waiting for a plugin that is not
    /// registered are not an error; [`waiting_constraints`](Self::waiting_constraints) lists
    /// them.)
    ///
    /// # Errors
    /// [`PendingImplsError`] listing every `(plugin, hook)` pair.
    pub fn check_pending(&self) -> Result<(), PendingImplsError> {
        self.registry().check_pending()
    }

    /// The `before`/`after` constraints that wait for their target: those of registered impls
    /// naming a plugin that is not registered (not yet, or not any more), sorted. A waiting
    /// constraint is not an error (the target may be optional, lazy or discovered later); it
    /// takes effect when the target registers, and lasts as long as the plugin that declared
    /// it.
    ///
    /// ```
    /// use hookwire::{hook::ConstraintRelation, HookManager};
    /// hookwire::hookspec! { pub struct Ping(()) -> u8; }
    ///
    /// let pm = HookManager::builder().spec::<Ping>().build();
    /// pm.register("late-logger", |r| r.sync_fn::<Ping>(|_| Ok(Some(1))).after("auth").add())
    ///     .unwrap();
    /// let waiting = pm.waiting_constraints();
    /// assert_eq!(waiting[0].target, "auth");
    /// assert_eq!(waiting[0].relation, ConstraintRelation::After);
    /// pm.register("auth", |r| r.sync_fn::<Ping>(|_| Ok(Some(2))).add()).unwrap();
    /// assert!(pm.waiting_constraints().is_empty());
    /// ```
    pub fn waiting_constraints(&self) -> Vec<WaitingConstraint> {
        self.registry().waiting_constraints()
    }

    /// Installs a monitor that sees every call of every hook (pluggy's
    /// `add_hookcall_monitoring`). Returns a handle for
    /// [`remove_monitor`](Self::remove_monitor).
    ///
    /// Monitors nest as in pluggy: the monitor added last is the outermost. With monitors `A`
    /// then `B`, a call runs `B.before_call`, `A.before_call`, the impls, `A.after_call`,
    /// `B.after_call` (a call dropped part-way gets its `after_call`s in that same order).
    /// A monitor that panics is reported as a tracing `error` event naming it
    /// ([`HookMonitor::name`]) and does not change the call's outcome or stop the other
    /// monitors.
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
}

/// Identifies a monitor added with [`HookManager::add_monitor`].
#[derive(Clone)]
pub struct MonitorHandle(Arc<dyn HookMonitor>);

impl std::fmt::Debug for MonitorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MonitorHandle")
            .field(&self.0.name())
            .finish()
    }
}

/// Finishes replays while no tokio runtime runs: one after the other, in order, on one
/// current-thread runtime of their own with a time driver (the engine's timeouts, deadlines
/// and retry backoffs need one; `futures`' executor has none, and the engine would panic
/// arming a timer).
fn finish_outside_runtime(replays: Replays) {
    if replays.is_empty() {
        return;
    }
    let all = async move {
        for fut in replays {
            fut.await;
        }
    };
    match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt.block_on(all),
        Err(e) => {
            tracing::error!(
                error = %e,
                "could not build a runtime to finish historic replays outside any runtime; running them without a timer"
            );
            futures::executor::block_on(all);
        }
    }
}
