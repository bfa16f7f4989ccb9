//! The impl list a call runs on: an immutable snapshot, swapped whole on registration.

use std::sync::Arc;

use super::run::ImplPolicy;
use super::stats::{ImplStats, ImplStatsSnapshot};
use crate::hookimpl::{ImplFn, ImplOptions};
use crate::outcome::NameTable;
use crate::spec::{HookSpec, SpecInfo};

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
    /// Every plain impl is sync, with no policy and no statistics: the sequential loop can
    /// run them in one tight loop.
    pub(crate) all_plain_sync: bool,
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
        let all_plain_sync = entries[n_wrappers..]
            .iter()
            .all(|e| matches!(e.func, ImplFn::Sync(_)) && e.policy.is_none() && e.stats.is_none());
        ImplList {
            spec,
            entries,
            n_wrappers,
            all_plain_sync,
        }
    }

    pub(crate) fn empty(spec: SpecInfo) -> Self {
        ImplList {
            spec,
            entries: Vec::new(),
            n_wrappers: 0,
            all_plain_sync: true,
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
}
