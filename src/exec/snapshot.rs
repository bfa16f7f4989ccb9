//! The impl list a call runs on: an immutable snapshot, swapped whole on registration.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::run::ImplPolicy;
use super::stats::{ImplStats, ImplStatsSnapshot, ListTally};
use crate::hookimpl::{ImplFn, ImplOptions};
use crate::outcome::NameTable;
use crate::spec::{CallMode, HookSpec, SpecInfo};

/// One registered impl, ready to call. Kept small (the call loop walks a slice of these):
/// the options live behind an `Arc`.
pub(crate) struct ImplEntry<S: HookSpec> {
    pub(crate) plugin: Arc<str>,
    pub(crate) plugin_id: u64,
    pub(crate) options: Arc<ImplOptions>,
    /// Live policies (breaker, retry budget), shared across snapshots; `None` on the fast path.
    pub(crate) policy: Option<Arc<ImplPolicy>>,
    /// Live statistics, shared across snapshots; `None` when the manager keeps none.
    pub(crate) stats: Option<Arc<ImplStats>>,
    pub(crate) func: ImplFn<S>,
}

impl<S: HookSpec> Clone for ImplEntry<S> {
    fn clone(&self) -> Self {
        ImplEntry {
            plugin: self.plugin.clone(),
            plugin_id: self.plugin_id,
            options: self.options.clone(),
            policy: self.policy.clone(),
            stats: self.stats.clone(),
            func: self.func.clone(),
        }
    }
}

/// The impls of one hook in call order: wrappers (outermost first), then plain impls.
pub(crate) struct ImplList<S: HookSpec> {
    pub(crate) spec: SpecInfo,
    pub(crate) entries: Vec<ImplEntry<S>>,
    pub(crate) n_wrappers: usize,
    /// Whether the sequential loop can run the plain impls in one tight loop.
    pub(crate) sync_loop: SyncLoop,
    /// Whether any impl keeps statistics (the loops then look up the thread's lane).
    pub(crate) counted: bool,
    /// No wrappers, every impl a sync or async impl with no policy (not even a timeout),
    /// a spec that is sequential, without deadline and not historic, and not a collect-all
    /// list of several sync impls (the tight loops are cheaper for those): calls may take the
    /// ready path ([`super::ready`]) unless the caller overrides those. Decided once per
    /// snapshot, so that a call tests one flag.
    pub(crate) ready: bool,
    /// The spec's mode is first-result.
    pub(crate) firstresult: bool,
    /// With [`SyncLoop::Counted`]: the calls that ran every plain impl, counted once per call
    /// (created on the list's second tight-loop call, so a list used once — `call_extra` —
    /// never registers one with its impls).
    tally: OnceLock<Arc<ListTally>>,
    used: AtomicBool,
}

/// Which tight loop, if any, runs every plain impl of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncLoop {
    /// Some impl needs the per-impl loop (async, blocking, a policy beyond a timeout, or
    /// statistics on some impls and not on others).
    No,
    /// All sync, no policy beyond a timeout, no statistics: `run::run_all_sync`.
    Plain,
    /// All sync, no policy beyond a timeout, all with statistics: `run::run_all_sync_tallied`
    /// (collect-all calls, one count per call) or `run::run_all_sync_counted` (calls that may
    /// stop early, and a list's first call: one count per impl).
    Counted,
}

impl<S: HookSpec> ImplList<S> {
    pub(crate) fn new(spec: SpecInfo, entries: Vec<ImplEntry<S>>) -> Self {
        let n_wrappers = entries
            .iter()
            .take_while(|e| matches!(e.func, ImplFn::Wrapper(_)))
            .count();
        debug_assert!(entries[n_wrappers..]
            .iter()
            .all(|e| !matches!(e.func, ImplFn::Wrapper(_))));
        let plain = &entries[n_wrappers..];
        let sync_loop = if !plain.iter().all(|e| {
            matches!(e.func, ImplFn::Sync(_)) && e.policy.as_ref().is_none_or(|p| p.timeout_only())
        }) {
            SyncLoop::No
        } else if plain.iter().all(|e| e.stats.is_none()) {
            SyncLoop::Plain
        } else if plain.iter().all(|e| e.stats.is_some()) {
            SyncLoop::Counted
        } else {
            SyncLoop::No
        };
        let counted = entries.iter().any(|e| e.stats.is_some());
        let firstresult = spec.mode == CallMode::FirstResult;
        let ready = n_wrappers == 0
            && (firstresult || sync_loop == SyncLoop::No || entries.len() <= 1)
            && !spec.parallel
            && spec.deadline.is_none()
            && !spec.historic
            && entries.iter().all(|e| {
                matches!(e.func, ImplFn::Sync(_) | ImplFn::Async(_)) && e.policy.is_none()
            });
        ImplList {
            spec,
            entries,
            n_wrappers,
            sync_loop,
            counted,
            ready,
            firstresult,
            tally: OnceLock::new(),
            used: AtomicBool::new(false),
        }
    }

    pub(crate) fn empty(spec: SpecInfo) -> Self {
        let ready = !spec.parallel && spec.deadline.is_none() && !spec.historic;
        let firstresult = spec.mode == CallMode::FirstResult;
        ImplList {
            spec,
            entries: Vec::new(),
            n_wrappers: 0,
            sync_loop: SyncLoop::Plain,
            counted: false,
            ready,
            firstresult,
            tally: OnceLock::new(),
            used: AtomicBool::new(false),
        }
    }

    /// The list's tally for a [`SyncLoop::Counted`] call, `None` on its first such call (which
    /// counts per impl instead). Creating it registers it with every plain impl's statistics.
    #[inline]
    pub(crate) fn tally(&self) -> Option<&ListTally> {
        if let Some(t) = self.tally.get() {
            return Some(t);
        }
        self.first_tally()
    }

    /// The list's tally, if it has one already.
    #[inline(always)]
    pub(crate) fn existing_tally(&self) -> Option<&ListTally> {
        self.tally.get().map(|t| &**t)
    }

    #[cold]
    fn first_tally(&self) -> Option<&ListTally> {
        if !self.used.swap(true, Ordering::Relaxed) {
            return None;
        }
        let tally = self.tally.get_or_init(|| {
            let tally = Arc::new(ListTally::default());
            for e in &self.entries[self.n_wrappers..] {
                if let Some(stats) = &e.stats {
                    stats.add_tally(&tally);
                }
            }
            tally
        });
        Some(tally)
    }
}

impl<S: HookSpec> Drop for ImplList<S> {
    fn drop(&mut self) {
        // No call runs on the list any more: what its tally counted is final.
        if let Some(tally) = self.tally.get() {
            for e in &self.entries[self.n_wrappers..] {
                if let Some(stats) = &e.stats {
                    stats.fold_tally(tally);
                }
            }
        }
    }
}

impl<S: HookSpec> ImplList<S> {
    /// Statistics of every impl that keeps them, in call order.
    pub(crate) fn stats(&self) -> Vec<ImplStatsSnapshot> {
        self.entries
            .iter()
            .filter_map(|e| {
                let breaker = e
                    .policy
                    .as_ref()
                    .and_then(|p| p.breaker.as_ref())
                    .map(|b| b.state());
                e.stats.as_ref().map(|s| s.snapshot(&e.plugin, breaker))
            })
            .collect()
    }
}

impl<S: HookSpec> NameTable for ImplList<S> {
    fn hook_name(&self) -> &Arc<str> {
        &self.spec.name
    }
    fn plugin_name(&self, index: u32) -> &Arc<str> {
        &self.entries[index as usize].plugin
    }
    fn impl_count(&self) -> usize {
        self.entries.len()
    }
    fn wrapper_count(&self) -> usize {
        self.n_wrappers
    }
}
