//! The host's side of a plugin's requests: `host/call` (a hook called through the host, with
//! the call depth, the plugin's deadline and trace context carried along) and `log`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use tracing::Instrument;

use super::peer::{Handler, Peer};
use super::pool::lock;
use super::protocol::{
    codes, HostAnswer, HostCallParams, HostCallResult, HostFailure, LogLevel, LogParams, RpcError,
    MAX_CALL_DEPTH,
};
use crate::error::CallError;
use crate::limits::Quote;
use crate::manager::WeakManager;
use crate::outcome::ImplOutcome;
use crate::plugin::HostLink;

tokio::task_local! {
    /// The `host/call` depth of the call being made on this task (0 outside any).
    pub(super) static CALL_DEPTH: u32;
    /// The W3C trace context of the calls made on this task.
    pub(super) static TRACEPARENT: Arc<str>;
}

/// Runs `fut` with `traceparent` (a W3C `traceparent` header value) set for the hook calls it
/// makes: every `hook/call` sent to a process plugin from inside carries it.
///
/// # Cancel safety
/// As `fut`.
pub async fn with_traceparent<F: std::future::Future>(
    traceparent: impl Into<Arc<str>>,
    fut: F,
) -> F::Output {
    TRACEPARENT.scope(traceparent.into(), fut).await
}

/// Serves a plugin's requests to the host: `host/call` and `log`.
pub(super) struct HostSide {
    pub(super) plugin: Arc<str>,
    pub(super) manager: WeakManager,
    /// The plugin's link to its host (set by its `init`): `host/call` asks the host's gate
    /// through it. None before a host runs the plugin (processes `spawn`ed ahead).
    pub(super) link: Arc<Mutex<Option<HostLink>>>,
}

impl Handler for HostSide {
    fn request(
        &self,
        _peer: Peer,
        method: String,
        params: Value,
    ) -> BoxFuture<'static, Result<Value, RpcError>> {
        match method.as_str() {
            "host/call" => {
                let link = lock(&self.link).clone();
                Box::pin(host_call(
                    self.plugin.clone(),
                    self.manager.clone(),
                    link,
                    params,
                ))
            }
            _ => Box::pin(std::future::ready(Err(RpcError::new(
                codes::METHOD_NOT_FOUND,
                format!("the host has no method `{}`", Quote(&method)),
            )))),
        }
    }

    fn notification(&self, _peer: &Peer, method: String, params: Value) {
        if method != "log" {
            tracing::debug!(target: "hookwire::external", plugin = %self.plugin, method = %Quote(&method), "unknown notification ignored");
            return;
        }
        let Ok(LogParams {
            level,
            message,
            fields,
        }) = serde_json::from_value::<LogParams>(params)
        else {
            tracing::warn!(target: "hookwire::external", plugin = %self.plugin, "malformed `log` notification ignored");
            return;
        };
        let fields = fields.map(|f| Quote(f).to_string()).unwrap_or_default();
        let message = Quote(message);
        let plugin = &*self.plugin;
        match level {
            LogLevel::Error => {
                tracing::error!(target: "hookwire::external::log", plugin, fields, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "hookwire::external::log", plugin, fields, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "hookwire::external::log", plugin, fields, "{message}")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "hookwire::external::log", plugin, fields, "{message}")
            }
            LogLevel::Trace => {
                tracing::trace!(target: "hookwire::external::log", plugin, fields, "{message}")
            }
        }
    }
}

/// A plugin's `host/call`: the hook called through the host like any call, every outcome
/// reported in call order.
async fn host_call(
    plugin: Arc<str>,
    manager: WeakManager,
    link: Option<HostLink>,
    params: Value,
) -> Result<Value, RpcError> {
    let p: HostCallParams = serde_json::from_value(params).map_err(RpcError::invalid_params)?;
    if p.depth > MAX_CALL_DEPTH {
        return Err(RpcError::new(
            codes::CALL_TOO_DEEP,
            format!(
                "call depth {} is above the maximum of {MAX_CALL_DEPTH}: plugin `{plugin}` called hook `{}` from calls nested too deep (plugins calling each other in a loop?)",
                p.depth,
                Quote(&p.hook)
            ),
        ));
    }
    // The gate's check of an impl of the hook: a plugin calls only the guarded hooks it may
    // implement (a sandboxed plugin's calls too).
    if let Some(link) = &link {
        link.check_call(&p.hook)
            .map_err(|message| RpcError::new(codes::REFUSED, message))?;
    }
    let Some(pm) = manager.upgrade() else {
        return Err(RpcError::new(
            codes::INTERNAL_ERROR,
            "the host's hook manager is gone (the host is shutting down)",
        ));
    };
    let span = tracing::debug_span!("host_call", plugin = %plugin, hook = %Quote(&p.hook), depth = p.depth, deadline_ms = p.deadline_ms);
    let limit = p.deadline_ms.map(Duration::from_millis);
    // The call's deadline reaches the `hook/call`s made inside as the engine's (see
    // `hook::call_deadline`), the depth and trace context as task-locals of this task, where
    // the impls run.
    let call = CALL_DEPTH.scope(p.depth, pm.call_json_within(&p.hook, p.args, limit));
    let outcome = match p.traceparent {
        Some(t) => TRACEPARENT.scope(t.into(), call).instrument(span).await,
        None => call.instrument(span).await,
    };
    let outcome = match outcome {
        Ok(o) => o,
        // Not offered: unknown, historic, or typed without a JSON bridge. The plugin is told
        // what it may call (the handshake's list), not the host's own Rust-side advice.
        Err(
            CallError::UnknownHook { .. }
            | CallError::Historic { .. }
            | CallError::Unavailable { .. },
        ) => {
            let offered: Vec<String> = pm
                .json_hooks()
                .iter()
                .map(|s| s.name().to_owned())
                .collect();
            return Err(RpcError::new(
                codes::UNKNOWN_HOOK,
                format!(
                    "plugin `{plugin}` called hook `{}`, which this host does not offer to plugins (offered: {})",
                    Quote(&p.hook),
                    if offered.is_empty() { "none".to_owned() } else { offered.join(", ") }
                ),
            ));
        }
        Err(e @ CallError::BadArgs { .. }) => {
            return Err(RpcError::new(codes::INVALID_PARAMS, e.to_string()))
        }
        Err(e) => return Err(RpcError::new(codes::HOOK_FAILED, e.to_string())),
    };
    let mut result = HostCallResult::default();
    for (who, o) in outcome.iter() {
        match o {
            ImplOutcome::Value(v) => result.answers.push(HostAnswer {
                plugin: who.to_owned(),
                value: v.clone(),
            }),
            ImplOutcome::Failed(f) => result.failures.push(HostFailure {
                plugin: who.to_owned(),
                error: f.to_string(),
            }),
            _ => {}
        }
    }
    serde_json::to_value(result).map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))
}
