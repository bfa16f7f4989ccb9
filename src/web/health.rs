//! `GET /health`: the overall status and each plugin's lifecycle state and health check.
//! The checks run concurrently, each under a time limit ([`HEALTH_CHECK_LIMIT`] unless set),
//! so the endpoint answers in time even when a plugin's check hangs.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::plugin::{Health, PluginState};
use crate::PluginHost;

/// How long `GET /health` ([`health_router`], [`HealthReport::collect`]) gives each plugin's
/// health check by default: 500 ms, below the 1 s a Kubernetes probe waits by default. A check
/// still running then is `Unhealthy` ("health check timed out after 500ms"); the host's step
/// time limit applies instead when it is shorter. Set another with [`health_router_within`]
/// or [`HealthReport::collect_within`].
pub const HEALTH_CHECK_LIMIT: Duration = Duration::from_millis(500);

/// The service as a whole, from its plugins (see [`HealthReport::collect`] for the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OverallStatus {
    /// Every running plugin is healthy and none failed: HTTP 200.
    Ok,
    /// Some health check says [`Health::Degraded`], none is worse: HTTP 200.
    Degraded,
    /// A plugin failed or a health check says [`Health::Unhealthy`]: HTTP 503.
    Unhealthy,
}

/// One plugin in a [`HealthReport`].
///
/// In JSON: `{"name": "auth", "version": "1.0.0", "state": "started", "disabled": false,
/// "health": {"status": "healthy"}}`; a failed plugin has `"state": "failed", "reason":
/// "..."`, a degraded or unhealthy check `{"status": "degraded", "reason": "..."}`, and
/// `health` is `null` for a plugin that is not running (its check is not asked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PluginHealth {
    /// The plugin.
    pub name: String,
    /// Its version (`null` if its metadata has none that parses).
    pub version: Option<String>,
    /// Its lifecycle state (as `state` and, for a failed plugin, `reason`).
    #[serde(flatten)]
    pub state: PluginState,
    /// Whether it is disabled (by configuration, environment or host code).
    pub disabled: bool,
    /// Its own health check, for a started plugin.
    pub health: Option<Health>,
}

/// What `GET /health` answers: `{"status": "ok" | "degraded" | "unhealthy", "plugins": [..]}`
/// with each plugin as a [`PluginHealth`], by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HealthReport {
    /// The overall status.
    pub status: OverallStatus,
    /// Every plugin the host knows, by name.
    pub plugins: Vec<PluginHealth>,
    /// Why a plugin the request layer requires is not running (JSON `required`, left out
    /// when empty): each makes the report unhealthy. Only filled by the router of
    /// [`RequestHooksLayer::health_router`](super::RequestHooksLayer::health_router).
    #[serde(rename = "required", skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl HealthReport {
    /// Asks every started plugin for its health, concurrently, each check given at most
    /// [`HEALTH_CHECK_LIMIT`] (or the host's step time limit when shorter: see
    /// [`PluginHost::health_within`]), and reads every plugin's state.
    ///
    /// The rule: **unhealthy** if any plugin is `Failed` or any check says `Unhealthy`
    /// (a check that panics or runs out of time is `Unhealthy`, with the reason); otherwise **degraded** if any check
    /// says `Degraded`; otherwise **ok**. Plugins that are not running for another reason
    /// (disabled, stopped by an operator, lazy and not called yet, starting) do not count.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use hookwire::plugin::Health;
    /// use hookwire::web::{HealthReport, OverallStatus};
    /// use hookwire::{async_trait, Plugin, PluginHost, PluginMeta, RegisterError, Registrar};
    ///
    /// struct Cache;
    /// #[async_trait]
    /// impl Plugin for Cache {
    ///     fn meta(&self) -> PluginMeta { PluginMeta::new("cache", "1.0.0") }
    ///     fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> { Ok(()) }
    ///     async fn health(&self) -> Health { Health::Degraded("hit rate 3%".into()) }
    /// }
    /// let host = PluginHost::new();
    /// host.add(Cache).unwrap();
    /// host.start().await.unwrap();
    /// let report = HealthReport::collect(&host).await;
    /// assert_eq!(report.status, OverallStatus::Degraded);
    /// assert_eq!(report.http_status(), 200);
    /// let json = serde_json::to_value(&report).unwrap();
    /// assert_eq!(json["plugins"][0]["health"]["reason"], "hit rate 3%");
    /// # });
    /// ```
    ///
    /// # Cancel safety
    /// Cancel safe: it only reads.
    pub async fn collect(host: &PluginHost) -> Self {
        Self::collect_within(host, HEALTH_CHECK_LIMIT).await
    }

    /// [`collect`](Self::collect) with each health check given at most `limit` (or the host's
    /// step time limit when shorter).
    ///
    /// # Cancel safety
    /// Cancel safe: it only reads.
    pub async fn collect_within(host: &PluginHost, limit: Duration) -> Self {
        let mut checks = host.health_within(limit).await.into_iter().peekable();
        let mut plugins = Vec::new();
        for info in host.plugins().iter() {
            // Both lists are in name order.
            while checks.next_if(|(n, _)| n.as_str() < info.name()).is_some() {}
            let health = checks
                .next_if(|(n, _)| n == info.name())
                .map(|(_, h)| h)
                .filter(|_| info.state == PluginState::Started);
            plugins.push(PluginHealth {
                name: info.name().to_owned(),
                version: info.meta.version.as_ref().map(ToString::to_string),
                state: info.state.clone(),
                disabled: info.disabled.is_some(),
                health,
            });
        }
        let unhealthy = plugins
            .iter()
            .any(|p| p.state.is_failed() || matches!(p.health, Some(Health::Unhealthy(_))));
        let degraded = plugins
            .iter()
            .any(|p| matches!(p.health, Some(Health::Degraded(_))));
        let status = if unhealthy {
            OverallStatus::Unhealthy
        } else if degraded {
            OverallStatus::Degraded
        } else {
            OverallStatus::Ok
        };
        HealthReport {
            status,
            plugins,
            missing: Vec::new(),
        }
    }

    /// The report made unhealthy, with the reason, for each of `required` that is not
    /// registered or not running (a lazy plugin not started yet counts as running: its first
    /// call starts it).
    fn requiring(mut self, required: &[Arc<str>]) -> Self {
        for name in required {
            let why = match self.plugins.iter().find(|p| p.name == **name) {
                None => format!(
                    "required plugin `{name}` is not registered: no plugin has that name (check the name given to `require_plugin`)"
                ),
                Some(p) if matches!(p.state, PluginState::Started | PluginState::Registered) => {
                    continue
                }
                Some(p) if p.disabled => {
                    format!("required plugin `{name}` is disabled: requests are answered 503")
                }
                Some(p) => format!(
                    "required plugin `{name}` is not running ({}): requests are answered 503",
                    p.state
                ),
            };
            self.missing.push(why);
        }
        if !self.missing.is_empty() {
            self.status = OverallStatus::Unhealthy;
        }
        self
    }

    /// 200 for `ok` and `degraded`, 503 for `unhealthy`.
    pub fn http_status(&self) -> StatusCode {
        match self.status {
            OverallStatus::Ok | OverallStatus::Degraded => StatusCode::OK,
            OverallStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for HealthReport {
    fn into_response(self) -> Response {
        (self.http_status(), Json(self)).into_response()
    }
}

/// A router serving `GET /health`: a [`HealthReport`] as JSON, with status 200 when the
/// service is `ok` or `degraded` and 503 when it is `unhealthy` (the rule is on
/// [`HealthReport::collect`]). Open to every caller: it names plugins and states, no
/// configuration. Each plugin's check gets at most [`HEALTH_CHECK_LIMIT`] (the checks run
/// concurrently), so a hanging check makes that plugin `Unhealthy`, not the endpoint hang.
pub fn health_router(host: PluginHost) -> Router {
    health_router_within(host, HEALTH_CHECK_LIMIT)
}

/// [`health_router`] with each plugin's health check given at most `limit` (or the host's
/// step time limit when shorter).
pub fn health_router_within(host: PluginHost, limit: Duration) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state((host, limit))
}

async fn health(State((host, limit)): State<(PluginHost, Duration)>) -> HealthReport {
    HealthReport::collect_within(&host, limit).await
}

/// [`health_router`] that is also unhealthy while a plugin of `required` is not running.
pub(super) fn health_router_requiring(host: PluginHost, required: Vec<Arc<str>>) -> Router {
    let required: Arc<[Arc<str>]> = required.into();
    Router::new().route(
        "/health",
        get(move || async move {
            HealthReport::collect_within(&host, HEALTH_CHECK_LIMIT)
                .await
                .requiring(&required)
        }),
    )
}
