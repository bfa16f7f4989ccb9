//! The dynamic (JSON) layer's own items: string-named hooks called with `serde_json::Value`s,
//! for out-of-process plugins and config-driven events.
//!
//! A hook is reachable from JSON when its spec is declared with
//! [`HookManagerBuilder::json_spec`](crate::HookManagerBuilder::json_spec) (a typed spec whose
//! types are serde types) or is a [`DynamicHook`](crate::spec::DynamicHook); call it with
//! [`HookManager::call_json`](crate::HookManager::call_json). JSON from outside is bounded:
//! nested at most [`MAX_JSON_DEPTH`] deep; an answer that does not fit the spec is a
//! [`JsonMismatch`] failure naming the plugin.

pub use crate::error::JsonMismatch;
pub use crate::limits::MAX_JSON_DEPTH;
