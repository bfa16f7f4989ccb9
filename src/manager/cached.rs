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
//! The cache holds the list weakly: a caller kept for a long time does not keep the impls of
//! unregistered plugins alive (nor their resources); once the slot moves on and the last call
//! on the old list ends, the old list is dropped and the cache simply misses.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::slot::Slot;
use crate::exec::snapshot::ImplList;
use crate::spec::HookSpec;

/// A snapshot and the slot generation it was loaded at.
pub(crate) struct CachedList<S: HookSpec> {
    generation: u64,
    list: Weak<ImplList<S>>,
}

impl<S: HookSpec> CachedList<S> {
    /// The slot's current snapshot, cached.
    pub(crate) fn new(slot: &Slot<S>) -> Self {
        // The generation first: the list loaded after it is at least as new.
        let generation = slot.generation.load(Ordering::Acquire);
        let list = slot.list.load_full();
        CachedList {
            generation,
            list: Arc::downgrade(&list),
        }
    }

    /// A cache that always misses (a caller without a slot).
    pub(crate) fn none() -> Self {
        CachedList {
            generation: u64::MAX,
            list: Weak::new(),
        }
    }

    /// The snapshot a call starting now must run on: the cached one while the slot's
    /// generation has not moved, else the slot's current one.
    #[inline(always)]
    pub(crate) fn load(&self, slot: &Slot<S>) -> Arc<ImplList<S>> {
        if slot.generation.load(Ordering::Acquire) == self.generation {
            if let Some(list) = self.list.upgrade() {
                return list;
            }
        }
        load_current(slot)
    }
}

/// The slot's current list (the cache missed).
#[cold]
#[inline(never)]
fn load_current<S: HookSpec>(slot: &Slot<S>) -> Arc<ImplList<S>> {
    slot.list.load_full()
}
