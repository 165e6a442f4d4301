//! Prometheus metrics of the scraper, served on `GET /metrics`. No label ever
//! carries a RUC: label values come from small fixed sets.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every `outcome` label value, registered at zero so dashboards see them.
pub(crate) const OUTCOMES: [&str; 7] = [
    "ok",
    "not_found",
    "invalid",
    "rejected",
    "error",
    "timeout",
    "overloaded",
];

/// The scraper's metrics, in its own registry; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub(crate) lookups: IntCounterVec,
    pub(crate) lookup_duration: Histogram,
    pub(crate) attempts: IntCounter,
    pub(crate) session_restarts: IntCounter,
    pub(crate) driver_restarts: IntCounter,
    pub(crate) sessions: IntGaugeVec,
    pub(crate) queue_depth: IntGauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let lookups = IntCounterVec::new(
            Opts::new("ruc_scraper_lookups_total", "RUC lookups answered, by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let lookup_duration = Histogram::with_opts(
            HistogramOpts::new(
                "ruc_scraper_lookup_duration_seconds",
                "Time from request to answer of a lookup, queue wait and retries included",
            )
            .buckets(vec![0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0]),
        )
        .expect("valid metric");
        let attempts = IntCounter::new(
            "ruc_scraper_attempts_total",
            "Searches run on SUNAT's site, retries included",
        )
        .expect("valid metric");
        let session_restarts = IntCounter::new(
            "ruc_scraper_session_restarts_total",
            "Browser sessions replaced (broken, hung, recycled or lost with the driver)",
        )
        .expect("valid metric");
        let driver_restarts = IntCounter::new(
            "ruc_scraper_driver_restarts_total",
            "Restarts of the embedded chromedriver",
        )
        .expect("valid metric");
        let sessions = IntGaugeVec::new(
            Opts::new("ruc_scraper_sessions", "Pool slots by state (idle or busy)"),
            &["state"],
        )
        .expect("valid metric");
        let queue_depth =
            IntGauge::new("ruc_scraper_queue_depth", "Lookups waiting for a free browser").expect("valid metric");

        let registry = Registry::new();
        for collector in [
            Box::new(lookups.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(lookup_duration.clone()),
            Box::new(attempts.clone()),
            Box::new(session_restarts.clone()),
            Box::new(driver_restarts.clone()),
            Box::new(sessions.clone()),
            Box::new(queue_depth.clone()),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        for outcome in OUTCOMES {
            lookups.with_label_values(&[outcome]);
        }
        for state in ["idle", "busy"] {
            sessions.with_label_values(&[state]);
        }
        Metrics {
            registry,
            lookups,
            lookup_duration,
            attempts,
            session_restarts,
            driver_restarts,
            sessions,
            queue_depth,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding to memory cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_every_metric_with_outcomes_at_zero() {
        let text = Metrics::new().render();
        for name in [
            "ruc_scraper_lookup_duration_seconds_bucket",
            "ruc_scraper_attempts_total 0",
            "ruc_scraper_session_restarts_total 0",
            "ruc_scraper_driver_restarts_total 0",
            "ruc_scraper_queue_depth 0",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
        for outcome in OUTCOMES {
            assert!(text.contains(&format!("ruc_scraper_lookups_total{{outcome=\"{outcome}\"}} 0")));
        }
    }
}
