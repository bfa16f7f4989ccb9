//! What the registry keeps per impl, before it is turned into a typed snapshot entry.

use std::any::Any;
use std::sync::Arc;

#[cfg(feature = "json")]
use futures::future::BoxFuture;
#[cfg(feature = "json")]
use serde_json::Value;

use super::slot::{ErasedSlot, Slot};
use super::Shared;
use crate::exec::run::ImplPolicy;
use crate::exec::stats::ImplStats;
#[cfg(feature = "json")]
use crate::hookimpl::HookReturn;
use crate::hookimpl::{ImplFn, ImplOptions};
use crate::spec::{HookSpec, SpecInfo, TypeKey};

/// A sync JSON impl.
#[cfg(feature = "json")]
pub(crate) type JsonSyncFn = Arc<dyn Fn(&Value) -> HookReturn<Value> + Send + Sync>;
/// An async JSON impl.
#[cfg(feature = "json")]
pub(crate) type JsonAsyncFn =
    Arc<dyn for<'a> Fn(&'a Value) -> BoxFuture<'a, HookReturn<Value>> + Send + Sync>;

/// An impl of a JSON (dynamic) hook, or of a typed hook reached through JSON.
#[cfg(feature = "json")]
#[derive(Clone)]
pub(crate) enum JsonImpl {
    Sync(JsonSyncFn),
    Async(JsonAsyncFn),
}

/// How a typed impl's spec builds its slot, when the impl is the first to name the hook.
#[derive(Clone, Copy)]
pub(crate) struct SlotMaker {
    pub(crate) info: fn() -> SpecInfo,
    pub(crate) make: fn(SpecInfo, Arc<Shared>) -> Arc<dyn ErasedSlot>,
}

impl SlotMaker {
    pub(crate) fn of<S: HookSpec>() -> Self {
        SlotMaker {
            info: S::info,
            make: |spec, shared| Arc::new(Slot::<S>::new(spec, shared)),
        }
    }
}

/// The callable part of a registered impl.
#[derive(Clone)]
pub(crate) enum RecordFn {
    /// A typed impl: `func` holds an `ImplFn<S>` for the spec type `types`.
    Typed {
        types: TypeKey,
        func: Arc<dyn Any + Send + Sync>,
        maker: SlotMaker,
    },
    /// A JSON impl (feature `json`).
    #[cfg(feature = "json")]
    Json(JsonImpl),
}

impl RecordFn {
    pub(crate) fn typed<S: HookSpec>(f: ImplFn<S>) -> Self {
        RecordFn::Typed {
            types: TypeKey::of::<S>(),
            func: Arc::new(f),
            maker: SlotMaker::of::<S>(),
        }
    }
}

/// One registered impl.
#[derive(Clone)]
pub(crate) struct ImplRecord {
    pub(crate) plugin: Arc<str>,
    pub(crate) plugin_id: u64,
    pub(crate) seq: u64,
    pub(crate) options: Arc<ImplOptions>,
    /// Live policy state, created once at registration so it outlives snapshot rebuilds.
    pub(crate) policy: Option<Arc<ImplPolicy>>,
    /// Live statistics, likewise.
    pub(crate) stats: Option<Arc<ImplStats>>,
    pub(crate) func: RecordFn,
}
