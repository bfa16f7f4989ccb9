//! A caller's cached snapshot: the impl list a [`HookCaller`](crate::HookCaller) loaded when it
//! was made, and the slot's generation then. A call uses it after one atomic load shows that
//! the slot's generation has not moved; otherwise it loads the slot's current list, as every
//! call did before this cache (`ArcSwap::load_full`).
//!
//! Why it is correct (no `unsafe`): [`Slot::install`](super::slot::Slot) stores the new list
//! in the slot's `ArcSwap` *before* it bumps the generation (`Release`), and installs are
//! serialised by the registry's mutex. The cache is made by reading the generation
//! (`Acquire`) *before* loading the list, so the cached list is at least as new as the list
//! of the install that set that generation. A call that begins after a registration returned
//! reads a generation at least as new as that registration's bump (coherence of one atomic):
//! if it is the cached one, the cached list is already that new; if not, the call loads the
//! slot's list, which is. A registration still running when the call begins may or may not
//! be seen, as before.
//!
//! The cache holds the list strongly, so that a call on the cached snapshot borrows it from
//! the caller for the whole call (no reference count is touched until the outcome takes its
//! own `Arc`). The price: a caller keeps the snapshot it was made with (the impls of plugins
//! removed since, and what they own) until it is dropped or made again; the calls of such a
//! caller load the slot's current list, as before.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::slot::Slot;
use crate::exec::snapshot::ImplList;
use crate::spec::HookSpec;

/// A snapshot and the slot generation it was loaded at.
pub(crate) struct CachedList<S: HookSpec> {
    generation: u64,
    list: Arc<ImplList<S>>,
}

impl<S: HookSpec> CachedList<S> {
    /// The slot's current snapshot, cached.
    pub(crate) fn new(slot: &Slot<S>) -> Self {
        // The generation first: the list loaded after it is at least as new.
        let generation = slot.generation.load(Ordering::Acquire);
        let list = slot.list.load_full();
        CachedList { generation, list }
    }

    /// The cached snapshot, if a call starting now may run on it: the slot's generation has
    /// not moved since it was loaded.
    #[inline(always)]
    pub(crate) fn fresh(&self, slot: &Slot<S>) -> Option<&Arc<ImplList<S>>> {
        (slot.generation.load(Ordering::Acquire) == self.generation).then_some(&self.list)
    }

    /// The cached snapshot, fresh or not.
    #[inline(always)]
    pub(crate) fn list(&self) -> &Arc<ImplList<S>> {
        &self.list
    }
}
