//! [`PluginHost::health`] and [`PluginHost::health_within`]: every started plugin's own
//! [`Health`] check, run concurrently, each under a time limit, a panic or a time-out made an
//! `Unhealthy` answer with the reason.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;

use super::{Health, PluginHost, PluginState};
use crate::exec::panic::panic_message;
use crate::limits::Quote;

impl PluginHost {
    /// Asks every started plugin for its [`Health`], and answers in name order. The checks
    /// run concurrently (in the calling task); each runs under the step time limit (see
    /// [`step_timeout`](super::PluginHostBuilder::step_timeout)), without a limit when the
    /// host has none: for a caller that must answer in time (an HTTP health endpoint), use
    /// [`health_within`](Self::health_within). A check that panics or runs out of time is
    /// `Unhealthy`, with the reason.
    ///
    /// # Cancel safety
    /// Cancel safe: it only reads (dropping it drops the checks under way).
    pub async fn health(&self) -> Vec<(String, Health)> {
        self.checks(self.inner.step_timeout).await
    }

    /// [`health`](Self::health) with each check given at most `limit` (or the host's step
    /// time limit, when that is shorter): a check that hangs (a backend that never answers,
    /// a process plugin's request lost) is `Unhealthy` ("health check timed out after ..")
    /// once `limit` passed, and the whole call takes about `limit` at most, as the checks
    /// run concurrently — provided no check blocks its thread (see
    /// [`Plugin::health`](crate::Plugin::health)): the limit ends a check at an `.await`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use hookwire::plugin::Health;
    /// use hookwire::{async_trait, Plugin, PluginHost, PluginMeta, RegisterError, Registrar};
    ///
    /// struct Stuck;
    /// #[async_trait]
    /// impl Plugin for Stuck {
    ///     fn meta(&self) -> PluginMeta { PluginMeta::new("stuck", "1.0.0") }
    ///     fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> { Ok(()) }
    ///     async fn health(&self) -> Health { std::future::pending().await }
    /// }
    /// let host = PluginHost::new();
    /// host.add(Stuck).unwrap();
    /// host.start().await.unwrap();
    /// let checks = host.health_within(Duration::from_millis(500)).await;
    /// assert_eq!(
    ///     checks,
    ///     [("stuck".to_owned(), Health::Unhealthy("health check timed out after 500ms".into()))]
    /// );
    /// # });
    /// ```
    ///
    /// # Cancel safety
    /// Cancel safe: it only reads (dropping it drops the checks under way).
    pub async fn health_within(&self, limit: Duration) -> Vec<(String, Health)> {
        let limit = self
            .inner
            .step_timeout
            .map_or(limit, |step| step.min(limit));
        self.checks(Some(limit)).await
    }

    /// Every started plugin's check, concurrently, each under `limit`, in name order.
    async fn checks(&self, limit: Option<Duration>) -> Vec<(String, Health)> {
        let cells = self.inner.registry().by_name();
        let checks = cells
            .into_iter()
            .filter(|cell| cell.run().state == PluginState::Started)
            .map(|cell| async move {
                let check = AssertUnwindSafe(cell.plugin.health()).catch_unwind();
                let done = match limit {
                    None => Ok(check.await),
                    Some(limit) => tokio::time::timeout(limit, check).await.map_err(|_| limit),
                };
                let health = match done {
                    Ok(Ok(health)) => health,
                    Ok(Err(p)) => Health::Unhealthy(format!(
                        "health check panicked: {}",
                        Quote(panic_message(p))
                    )),
                    Err(limit) => {
                        Health::Unhealthy(format!("health check timed out after {limit:?}"))
                    }
                };
                (String::from(&*cell.name), health)
            });
        futures::future::join_all(checks).await
    }
}
