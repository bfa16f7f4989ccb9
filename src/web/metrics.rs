//! `GET /metrics`: the hook manager's per-impl statistics in the Prometheus text format,
//! read at scrape time by a `prometheus_client` [`Collector`].

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::stats::ImplStatsSnapshot;
use crate::PluginHost;

/// A [`Collector`] that reads the host's hook statistics ([`HookManager::stats`]) at each
/// scrape: nothing is counted twice, the engine's counters are the only ones. Register it
/// in a registry of your own (`registry.register_collector(Box::new(collector))`) or use
/// [`metrics_router`].
///
/// Per impl, labelled `plugin` and `hook`:
///
/// | metric | type | from |
/// |---|---|---|
/// | `hookwire_impl_calls_total` | counter | calls that reached the impl |
/// | `hookwire_impl_answers_total` | counter | calls it answered |
/// | `hookwire_impl_no_answers_total` | counter | calls it declined |
/// | `hookwire_impl_errors_total` | counter | its errors |
/// | `hookwire_impl_timeouts_total` | counter | its timeouts (own or the call's deadline) |
/// | `hookwire_impl_panics_total` | counter | its panics |
/// | `hookwire_impl_circuit_open_total` | counter | calls its open circuit breaker refused |
/// | `hookwire_impl_cancelled_total` | counter | calls dropped before it finished |
/// | `hookwire_impl_retries_total` | counter | attempts beyond the first |
/// | `hookwire_impl_latency_samples_total` | counter | calls whose latency was measured |
/// | `hookwire_impl_latency_seconds` | gauge, label `quantile` = `0.5`, `0.99` | sampled latency (upper bound of its histogram bucket) |
///
/// And per plugin: `hookwire_plugin_state{plugin, state}` = 1 for its lifecycle state
/// (`started`, `stopped`, `failed`, ...).
///
/// The impl metrics are empty unless the hook manager was built with `.stats(true)`
/// ([`HookManagerBuilder::stats`]).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use prometheus_client::registry::Registry;
/// use hookwire::web::StatsCollector;
/// use hookwire::{HookManager, PluginHost};
/// hookwire::hookspec! { pub struct Ping(()) -> u8; }
///
/// let hooks = HookManager::builder().stats(true).build();
/// let host = PluginHost::builder().hooks(hooks).build();
/// host.hooks().register("pong", |r| r.sync_fn::<Ping>(|_| Ok(Some(1))).add()).unwrap();
/// host.hook::<Ping>().call(&()).await.unwrap();
///
/// let mut registry = Registry::default();
/// registry.register_collector(Box::new(StatsCollector::new(host)));
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
/// assert!(text.contains("hookwire_impl_calls_total{plugin=\"pong\",hook=\"Ping\"} 1\n"));
/// # });
/// ```
///
/// [`HookManager::stats`]: crate::HookManager::stats
/// [`HookManagerBuilder::stats`]: crate::HookManagerBuilder::stats
#[derive(Debug, Clone)]
pub struct StatsCollector {
    host: PluginHost,
}

impl StatsCollector {
    /// A collector over `host`'s plugins and hook manager.
    pub fn new(host: PluginHost) -> Self {
        StatsCollector { host }
    }
}

type Counter = fn(&ImplStatsSnapshot) -> u64;

/// An impl's `plugin` and `hook` labels.
type Labels<'a> = [(&'static str, Cow<'a, str>); 2];

/// The counters, by name (without `_total`), help text and field.
const COUNTERS: [(&str, &str, Counter); 10] = [
    ("hookwire_impl_calls", "Calls that reached the impl.", |s| {
        s.calls
    }),
    ("hookwire_impl_answers", "Calls the impl answered.", |s| {
        s.answers
    }),
    (
        "hookwire_impl_no_answers",
        "Calls the impl declined (no answer).",
        |s| s.no_answers,
    ),
    (
        "hookwire_impl_errors",
        "Calls that ended in the impl's own error.",
        |s| s.errors,
    ),
    (
        "hookwire_impl_timeouts",
        "Calls that overran the impl's timeout or the call's deadline.",
        |s| s.timeouts,
    ),
    (
        "hookwire_impl_panics",
        "Calls in which the impl panicked.",
        |s| s.panics,
    ),
    (
        "hookwire_impl_circuit_open",
        "Calls the impl's open circuit breaker refused (the impl was not called).",
        |s| s.circuit_open,
    ),
    (
        "hookwire_impl_cancelled",
        "Calls dropped before the impl finished.",
        |s| s.cancelled,
    ),
    (
        "hookwire_impl_retries",
        "Retries of the impl (attempts beyond the first).",
        |s| s.retries,
    ),
    (
        "hookwire_impl_latency_samples",
        "Calls of the impl whose latency was measured.",
        |s| s.latency_samples,
    ),
];

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.host.hooks().stats();
        // Label values escaped here: `prometheus_client` 0.23 writes them as given.
        let rows: Vec<(Labels<'_>, &ImplStatsSnapshot)> = stats
            .hooks
            .iter()
            .flat_map(|h| {
                h.impls.iter().map(move |i| {
                    let labels = [("plugin", escape(&i.plugin)), ("hook", escape(&h.hook))];
                    (labels, i)
                })
            })
            .collect();
        for (name, help, field) in COUNTERS {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (labels, s) in &rows {
                ConstCounter::new(field(s)).encode(metric.encode_family(labels)?)?;
            }
        }
        let mut latency = encoder.encode_descriptor(
            "hookwire_impl_latency_seconds",
            "Sampled latency of the impl at a quantile (upper bound of its histogram bucket).",
            None,
            MetricType::Gauge,
        )?;
        for ([plugin, hook], s) in &rows {
            for (quantile, us) in [("0.5", s.p50_us), ("0.99", s.p99_us)] {
                let Some(us) = us else { continue };
                let labels = [plugin.clone(), hook.clone(), ("quantile", quantile.into())];
                ConstGauge::new(us as f64 / 1e6).encode(latency.encode_family(&labels)?)?;
            }
        }
        let plugins = self.host.plugins();
        let mut states = encoder.encode_descriptor(
            "hookwire_plugin_state",
            "1 for the plugin's lifecycle state.",
            None,
            MetricType::Gauge,
        )?;
        for p in plugins.iter() {
            let labels = [
                ("plugin", escape(p.name())),
                ("state", p.state.name().into()),
            ];
            ConstGauge::new(1i64).encode(states.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// A label value as the text format wants it: `\\`, `"` and line feeds escaped.
fn escape(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A router serving `GET /metrics`: a [`StatsCollector`] over `host`, encoded by
/// `prometheus_client` in the OpenMetrics text format (which Prometheus scrapes), content
/// type `application/openmetrics-text; version=1.0.0; charset=utf-8`. Open to every caller
/// (put it behind the host's own auth layer or on an internal port if that matters).
pub fn metrics_router(host: PluginHost) -> Router {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(StatsCollector::new(host)));
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Arc::new(registry))
}

async fn scrape(State(registry): State<Arc<Registry>>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics could not be encoded");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics could not be encoded",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("greeter"), "greeter");
        assert_eq!(escape("say \"hi\"\\n\nx"), "say \\\"hi\\\"\\\\n\\nx");
    }
}
