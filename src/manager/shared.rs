//! What every slot of one [`HookManager`](super::HookManager) shares (monitors, background
//! replays, the statistics switch), and the maps from spec type and hook name to slots.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

#[cfg(feature = "json")]
use super::json::JsonCall;
use crate::monitor::HookMonitor;

/// Hashes a `TypeId` by its own (already random) bits.
#[derive(Default)]
pub(crate) struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_ne_bytes(buf);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

pub(crate) type TypedMap =
    HashMap<TypeId, Arc<dyn Any + Send + Sync>, BuildHasherDefault<TypeIdHasher>>;
#[cfg(feature = "json")]
pub(crate) type NameMap = HashMap<Arc<str>, Arc<dyn JsonCall>>;

/// State every slot of a manager shares.
pub(crate) struct Shared {
    pub(crate) monitors: ArcSwap<Vec<Arc<dyn HookMonitor>>>,
    pub(crate) has_monitors: AtomicBool,
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Whether impls registered from now on keep statistics.
    pub(crate) stats: bool,
}

impl Shared {
    pub(crate) fn new(stats: bool) -> Self {
        Shared {
            monitors: ArcSwap::default(),
            has_monitors: AtomicBool::new(false),
            background: Mutex::new(Vec::new()),
            stats,
        }
    }
}

impl Shared {
    /// The tracked background tasks (historic replays that went pending).
    pub(crate) fn background(&self) -> MutexGuard<'_, Vec<tokio::task::JoinHandle<()>>> {
        self.background.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether any monitor is installed (one relaxed load).
    #[inline]
    pub(crate) fn monitored(&self) -> bool {
        self.has_monitors.load(Ordering::Relaxed)
    }

    /// The installed monitors, or `None` (one relaxed load) when there are none.
    #[inline]
    pub(crate) fn monitors(&self) -> Option<Arc<Vec<Arc<dyn HookMonitor>>>> {
        if self.has_monitors.load(Ordering::Relaxed) {
            Some(self.monitors.load_full())
        } else {
            None
        }
    }
}
