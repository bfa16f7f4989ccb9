//! The admin endpoints under `/admin/plugins`: list and inspect plugins, enable and disable
//! them, each request guarded by a host-provided [`Authorize`] check (refused unless it says
//! yes).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use tracing::Instrument;

use crate::hook::ImplInfo;
use crate::plugin::{AdminAction, PluginError, PluginInfo, PluginState};
use crate::stats::ImplStatsSnapshot;
use crate::PluginHost;

/// How long a disabled plugin's `stop` (and its tasks) may take.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What an admin HTTP request asks for, as [`Authorize::authorize`] sees it (what the host
/// then does is announced as a [`PluginEvent::Admin`](crate::plugin::PluginEvent::Admin) with
/// its [`plugin::AdminAction`](crate::plugin::AdminAction)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminRequest {
    /// `GET /admin/plugins`.
    List,
    /// `GET /admin/plugins/{name}`.
    Inspect(String),
    /// `POST /admin/plugins/{name}/enable`.
    Enable(String),
    /// `POST /admin/plugins/{name}/disable`.
    Disable(String),
}

impl AdminRequest {
    /// The plugin the request is about (`None` for [`List`](Self::List)).
    pub fn plugin(&self) -> Option<&str> {
        match self {
            AdminRequest::List => None,
            AdminRequest::Inspect(p) | AdminRequest::Enable(p) | AdminRequest::Disable(p) => {
                Some(p)
            }
        }
    }

    /// Whether the request only reads (`List`, `Inspect`).
    pub fn is_read_only(&self) -> bool {
        matches!(self, AdminRequest::List | AdminRequest::Inspect(_))
    }

    fn verb(&self) -> &'static str {
        match self {
            AdminRequest::List => "list",
            AdminRequest::Inspect(_) => "inspect",
            AdminRequest::Enable(_) => "enable",
            AdminRequest::Disable(_) => "disable",
        }
    }
}

/// The host's authorisation check for admin requests: `true` lets the request through,
/// `false` answers 403. It sees the request's head (method, URI, headers, extensions such as
/// a principal an auth layer put there) and the [`AdminRequest`].
///
/// Any `Fn(&Parts, &AdminRequest) -> bool` is one:
///
/// ```
/// use axum::http::request::Parts;
/// use hookwire::web::AdminRequest;
///
/// // Reads for anyone with a token, changes for the operator only.
/// let check = |parts: &Parts, request: &AdminRequest| match parts.headers.get("authorization") {
///     Some(v) if v == "Bearer operator" => true,
///     Some(v) if v == "Bearer viewer" => request.is_read_only(),
///     _ => false,
/// };
/// # let _ = hookwire::web::admin_router(hookwire::PluginHost::new(), check);
/// ```
pub trait Authorize: Send + Sync + 'static {
    /// Whether the request whose head is `head` may do what it asks (`request`).
    fn authorize(&self, head: &Parts, request: &AdminRequest) -> bool;
}

impl<F> Authorize for F
where
    F: Fn(&Parts, &AdminRequest) -> bool + Send + Sync + 'static,
{
    fn authorize(&self, head: &Parts, request: &AdminRequest) -> bool {
        self(head, request)
    }
}

/// The check that refuses every request: the admin routes answer 403 to all.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAll;

impl Authorize for DenyAll {
    fn authorize(&self, _: &Parts, _: &AdminRequest) -> bool {
        false
    }
}

struct Admin {
    host: PluginHost,
    auth: Box<dyn Authorize>,
}

type AdminState = State<Arc<Admin>>;

/// A router serving the admin endpoints, each request first put to `auth` (403 when it says
/// no; pass [`DenyAll`] to refuse all):
///
/// - `GET /admin/plugins`: every plugin, by name, with its version, state (`state`, and
///   `reason` for a failed one), `disabled`, `lazy` and `hooks` (each impl's `hook`,
///   `placement`, `priority`, `wrapper`);
/// - `GET /admin/plugins/{name}`: the same for one plugin plus `stats`, its impls'
///   statistics ([`ImplStatsSnapshot`] with the `hook`; empty unless the hook manager was
///   built with `.stats(true)`);
/// - `POST /admin/plugins/{name}/disable`: [`PluginHost::disable`] (10 s grace): stopped
///   and kept off, until enabled (a later [`PluginHost::start`] leaves it off);
///   `POST /admin/plugins/{name}/enable`: [`PluginHost::enable`], also for a plugin the
///   configuration disabled (file or environment). Each answers
///   `{"plugin", "action", "changed", "state", "disabled"}`; `changed` is `false` when the
///   plugin was already so (disabling a disabled plugin, enabling a running one).
///
/// Unknown plugins answer 404; an action the plugin's dependencies or dependents forbid
/// (disabling a plugin running plugins require, enabling one whose dependency is missing,
/// disabled or not running) 409; an `init`/`start` that fails on enable 500. Errors are
/// `{"error": "..."}` with the host's message. Plugin names may contain `/`
/// (`/admin/plugins/acme/auth/disable`).
///
/// Each request is reported, allowed or refused, as a `tracing` event with target
/// `hookwire::audit` (fields `action`, `plugin`, `method`, `allowed`, and `status` for
/// the answer). A `disable` or `enable` is also a plugin event when the host announces
/// administrators' requests ([`PluginHostBuilder::admin_events`](crate::plugin::PluginHostBuilder::admin_events),
/// or an audit log attached): [`PluginEvent::Admin`](crate::plugin::PluginEvent::Admin) when
/// allowed, [`PluginEvent::AdminRefused`](crate::plugin::PluginEvent::AdminRefused) when
/// the check refused it, so that the audit log records both.
pub fn admin_router(host: PluginHost, auth: impl Authorize) -> Router {
    let admin = Arc::new(Admin {
        host,
        auth: Box::new(auth),
    });
    Router::new()
        .route("/admin/plugins", get(list))
        .route("/admin/plugins/{*rest}", get(inspect).post(change))
        .with_state(admin)
}

/// An error answer: `{"error": message}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Puts `action` to the host's check; `Some` is the 403 answer.
fn refusal(admin: &Admin, parts: &Parts, action: &AdminRequest) -> Option<Response> {
    if admin.auth.authorize(parts, action) {
        return None;
    }
    audit(parts, action, false, StatusCode::FORBIDDEN);
    let acted = match action {
        AdminRequest::Enable(_) => Some(AdminAction::Enable),
        AdminRequest::Disable(_) => Some(AdminAction::Disable),
        AdminRequest::List | AdminRequest::Inspect(_) => None,
    };
    // Only for a plugin the host has: a refused request naming none changes nothing, and an
    // anonymous client must not flood the host's events (and its audit log) with names.
    if let (Some(acted), Some(plugin)) = (acted, action.plugin()) {
        if admin.host.state(plugin).is_none() {
            return Some(forbidden(action));
        }
        let reason = format!(
            "the host's admin check refused `{} {}`",
            parts.method,
            parts.uri.path()
        );
        admin.host.inner.admin_refused(plugin, acted, reason);
    }
    Some(forbidden(action))
}

/// The 403 answer to `action`.
fn forbidden(action: &AdminRequest) -> Response {
    let what = match action.plugin() {
        Some(p) => format!("{} plugin `{p}`", action.verb()),
        None => "list plugins".to_owned(),
    };
    error(
        StatusCode::FORBIDDEN,
        format!("not authorised to {what}: the host's admin check refused this request"),
    )
}

/// Reports an admin request.
///
/// Every request, allowed or refused, is a `tracing` event with target `hookwire::audit`.
/// What an allowed request does reaches the security feature's audit log by itself: the
/// host announces its own `disable` and `enable` as [`PluginEvent::Admin`](crate::plugin::PluginEvent::Admin)
/// events, which an attached `AuditLog` records. A refused `disable` or `enable` is announced
/// by [`refusal`] ([`PluginEvent::AdminRefused`](crate::plugin::PluginEvent::AdminRefused)).
fn audit(parts: &Parts, action: &AdminRequest, allowed: bool, status: StatusCode) {
    tracing::info!(
        target: "hookwire::audit",
        action = action.verb(),
        plugin = action.plugin().unwrap_or(""),
        method = %parts.method,
        allowed,
        status = status.as_u16(),
        "admin request"
    );
}

#[derive(Serialize)]
struct HookEntry<'a> {
    hook: &'a str,
    placement: crate::hook::Placement,
    priority: i32,
    wrapper: bool,
}

#[derive(Serialize)]
struct PluginEntry<'a> {
    name: &'a str,
    version: Option<String>,
    #[serde(flatten)]
    state: &'a PluginState,
    disabled: bool,
    lazy: bool,
    hooks: Vec<HookEntry<'a>>,
}

impl<'a> PluginEntry<'a> {
    fn new(info: &'a PluginInfo) -> Self {
        PluginEntry {
            name: info.name(),
            version: info.meta.version.as_ref().map(ToString::to_string),
            state: &info.state,
            disabled: info.disabled.is_some(),
            lazy: info.lazy,
            hooks: info.impls.iter().map(hook_entry).collect(),
        }
    }
}

fn hook_entry(i: &ImplInfo) -> HookEntry<'_> {
    HookEntry {
        hook: &i.hook,
        placement: i.options.placement,
        priority: i.options.priority,
        wrapper: i.options.wrapper,
    }
}

#[derive(Serialize)]
struct HookStatsEntry {
    hook: String,
    #[serde(flatten)]
    stats: ImplStatsSnapshot,
}

async fn list(State(admin): AdminState, parts: Parts) -> Response {
    let action = AdminRequest::List;
    if let Some(refused) = refusal(&admin, &parts, &action) {
        return refused;
    }
    let plugins = admin.host.plugins();
    let body: Vec<PluginEntry<'_>> = plugins.iter().map(PluginEntry::new).collect();
    audit(&parts, &action, true, StatusCode::OK);
    Json(body).into_response()
}

async fn inspect(State(admin): AdminState, Path(name): Path<String>, parts: Parts) -> Response {
    let action = AdminRequest::Inspect(name);
    if let Some(refused) = refusal(&admin, &parts, &action) {
        return refused;
    }
    let name = action.plugin().unwrap_or_default();
    let plugins = admin.host.plugins();
    let Some(info) = plugins.get(name) else {
        audit(&parts, &action, true, StatusCode::NOT_FOUND);
        return error(StatusCode::NOT_FOUND, unknown(&admin.host, name));
    };
    let stats: Vec<HookStatsEntry> = admin
        .host
        .hooks()
        .stats()
        .hooks
        .into_iter()
        .flat_map(|h| {
            let hook = h.hook;
            h.impls
                .into_iter()
                .filter(|i| i.plugin == name)
                .map(move |stats| HookStatsEntry {
                    hook: hook.clone(),
                    stats,
                })
        })
        .collect();
    let mut body = serde_json::to_value(PluginEntry::new(info)).unwrap_or_default();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("stats".to_owned(), json!(stats));
    }
    audit(&parts, &action, true, StatusCode::OK);
    Json(body).into_response()
}

async fn change(State(admin): AdminState, Path(rest): Path<String>, parts: Parts) -> Response {
    let action = match rest.rsplit_once('/') {
        Some((name, "enable")) => AdminRequest::Enable(name.to_owned()),
        Some((name, "disable")) => AdminRequest::Disable(name.to_owned()),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no admin action at `/admin/plugins/{rest}`: use `POST /admin/plugins/{{name}}/enable` or `/disable`"),
            )
        }
    };
    if let Some(refused) = refusal(&admin, &parts, &action) {
        return refused;
    }
    let name = action.plugin().unwrap_or_default();
    let span = tracing::info_span!("hookwire.web.admin", action = action.verb(), plugin = %name);
    let result = match &action {
        AdminRequest::Enable(_) => enable(&admin.host, name).instrument(span).await,
        _ => disable(&admin.host, name).instrument(span).await,
    };
    let response = match result {
        Ok(changed) => {
            let plugins = admin.host.plugins();
            let info = plugins.get(name);
            (
                StatusCode::OK,
                Json(json!({
                    "plugin": name,
                    "action": action.verb(),
                    "changed": changed,
                    "state": info.map(|i| i.state.to_string()),
                    "disabled": info.is_some_and(|i| i.disabled.is_some()),
                })),
            )
                .into_response()
        }
        Err(e) => {
            let status = match &e {
                PluginError::Unknown { .. } => StatusCode::NOT_FOUND,
                PluginError::Failed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::CONFLICT,
            };
            error(status, e.to_string())
        }
    };
    audit(&parts, &action, true, response.status());
    response
}

/// Enables `name` and brings it up unless it runs already; `Ok(changed)`.
async fn enable(host: &PluginHost, name: &str) -> Result<bool, PluginError> {
    host.enable(name).await
}

/// Stops `name` if it runs and keeps it off; `Ok(changed)`.
async fn disable(host: &PluginHost, name: &str) -> Result<bool, PluginError> {
    Ok(host.disable(name, STOP_GRACE).await?.is_some())
}

fn unknown(host: &PluginHost, name: &str) -> String {
    PluginError::Unknown {
        plugin: name.to_owned(),
        known: host.plugins().iter().map(|p| p.name().to_owned()).collect(),
    }
    .to_string()
}
