//! The Prometheus recorder and `GET /metrics`.
//!
//! A `metrics` recorder is global to the process and can be set once. [`install`] sets ours
//! the first time and hands every later caller the same handle, so the binary and any number
//! of in-process test servers share one. The exporter runs no HTTP listener of its own:
//! [`router`] serves [`PrometheusHandle::render`] on the metrics address
//! (`--metrics-listen`), under the same connection limits as the API but never on the
//! partners' address: `pingpost_bids_total{buyer}` and `pingpost_sales_total{buyer}` move
//! when a partner's own lead is sold, which is exactly what `disclosure = "payout"` hides.

use crate::error::ApiError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
pub use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};
use std::sync::OnceLock;
use std::time::Duration;

/// Counter of error answers, labelled `code` (the JSON error code) and `status`.
pub const ERRORS_TOTAL: &str = "pingpost_errors_total";

/// Bucket bounds, in seconds, of every `*_seconds` histogram: 25 µs to 10 s. The bottom
/// resolves the ping path (a store round trip is ~30 µs, a decision a few hundred), the top
/// covers buyers' delivery timeouts. Fixed buckets, not summaries, so that nodes aggregate.
pub const SECONDS_BUCKETS: [f64; 20] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 7.5, 10.0,
];

/// How often the binary should call [`PrometheusHandle::run_upkeep`]: histogram samples
/// recorded between scrapes are drained into their buckets then, bounding their memory.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

#[derive(Debug, Clone, thiserror::Error)]
#[error("metrics recorder not installed: {0}")]
pub struct InstallError(String);

/// Installs pingpost's recorder as the process's global recorder, once; later calls answer
/// the same handle (or the same error: another recorder was installed first).
pub fn install() -> Result<PrometheusHandle, InstallError> {
    HANDLE
        .get_or_init(|| builder().and_then(PrometheusBuilder::install_recorder).map_err(|e| e.to_string()))
        .clone()
        .map_err(InstallError)
}

/// The installed recorder's handle, if [`install`] succeeded.
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE.get().and_then(|h| h.as_ref().ok()).cloned()
}

fn builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
}

/// The metrics address's one route, `GET /metrics`; anything else is a JSON 404.
pub fn router() -> Router {
    Router::new()
        .route("/metrics", get(render))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "only /metrics is served here") })
}

/// Prometheus text (exposition format 0.0.4).
async fn render() -> Response {
    match handle() {
        Some(handle) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
        }
        None => {
            ApiError::new(StatusCode::NOT_FOUND, "metrics_disabled", "no metrics recorder is installed").into_response()
        }
    }
}

/// Counts an error answer. Called where every [`crate::error::ApiError`] becomes a response,
/// so no handler can forget it.
pub(crate) fn error_answered(code: &'static str, status: u16) {
    metrics::counter!(ERRORS_TOTAL, "code" => code, "status" => status.to_string()).increment(1);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn histograms_are_rendered_with_buckets_and_install_is_idempotent() {
        let first = install().unwrap();
        let again = install().unwrap();
        metrics::histogram!("pingpost_unit_test_seconds").record(0.000_3);
        let text = again.render();
        assert!(text.contains("pingpost_unit_test_seconds_bucket{le=\"0.0005\"} 1"), "{text}");
        assert!(!text.contains("quantile="), "summaries would not aggregate across nodes: {text}");
        assert_eq!(first.render().lines().count(), text.lines().count());
    }
}
