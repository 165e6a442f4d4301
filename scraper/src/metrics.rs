//! Prometheus metrics of the scraper, served on `GET /metrics`. No label ever
//! carries a RUC: label values come from small fixed sets.

use crate::failure::UnreadableKind;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// How one lookup (or attempt) read SUNAT: the `method` label of metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Http,
    Browser,
}

impl Method {
    pub(crate) const ALL: [Method; 2] = [Method::Http, Method::Browser];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Method::Http => "http",
            Method::Browser => "browser",
        }
    }
}

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

/// Every `reason` a direct lookup falls back to the browser for.
pub(crate) const FALLBACK_REASONS: [&str; 6] = [
    "firewall",
    "error_page",
    "unknown_page",
    "network",
    "timeout",
    "session",
];

/// The scraper's metrics, in its own registry; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub(crate) lookups: IntCounterVec,
    pub(crate) lookup_duration: HistogramVec,
    pub(crate) fallbacks: IntCounterVec,
    pub(crate) direct_suspensions: IntCounter,
    pub(crate) direct_suspended: IntGauge,
    pub(crate) attempts: IntCounter,
    pub(crate) session_restarts: IntCounter,
    pub(crate) driver_restarts: IntCounter,
    pub(crate) sessions: IntGaugeVec,
    pub(crate) queue_depth: IntGauge,
    pub(crate) unknown_pages: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let lookups = IntCounterVec::new(
            Opts::new(
                "ruc_scraper_lookups_total",
                "RUC lookups answered, by outcome and by the method (http or browser) that gave the answer",
            ),
            &["method", "outcome"],
        )
        .expect("valid metric");
        let lookup_duration = HistogramVec::new(
            HistogramOpts::new(
                "ruc_scraper_lookup_duration_seconds",
                "Time from request to answer of a lookup, queue wait and retries included, by method",
            )
            .buckets(vec![
                0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0,
            ]),
            &["method"],
        )
        .expect("valid metric");
        let fallbacks = IntCounterVec::new(
            Opts::new(
                "ruc_scraper_fallbacks_total",
                "Direct lookups that went on in the browser (auto mode), by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let direct_suspensions = IntCounter::new(
            "ruc_scraper_direct_suspensions_total",
            "Times direct lookups were suspended after failures in a row (auto mode)",
        )
        .expect("valid metric");
        let direct_suspended = IntGauge::new(
            "ruc_scraper_direct_suspended",
            "1 while direct lookups are suspended and the browser reads every lookup",
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
            IntGauge::new("ruc_scraper_queue_depth", "Lookups waiting for a free slot").expect("valid metric");

        let unknown_pages = IntCounterVec::new(
            Opts::new(
                "ruc_scraper_unknown_pages_total",
                "Lookups that met a page the scraper cannot read (perhaps a change of SUNAT's site), by reason: no_form, unknown_page, result_unreadable, page_unreadable",
            ),
            &["reason"],
        )
        .expect("valid metric");

        let registry = Registry::new();
        for collector in [
            Box::new(lookups.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(lookup_duration.clone()),
            Box::new(fallbacks.clone()),
            Box::new(direct_suspensions.clone()),
            Box::new(direct_suspended.clone()),
            Box::new(attempts.clone()),
            Box::new(session_restarts.clone()),
            Box::new(driver_restarts.clone()),
            Box::new(sessions.clone()),
            Box::new(queue_depth.clone()),
            Box::new(unknown_pages.clone()),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        // process_start_time_seconds and the like (restarts, memory, files).
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("unique metric names");
        for method in Method::ALL {
            lookup_duration.with_label_values(&[method.label()]);
            for outcome in OUTCOMES {
                lookups.with_label_values(&[method.label(), outcome]);
            }
        }
        for reason in FALLBACK_REASONS {
            fallbacks.with_label_values(&[reason]);
        }
        for reason in UnreadableKind::ALL {
            unknown_pages.with_label_values(&[reason.label()]);
        }
        for state in ["idle", "busy"] {
            sessions.with_label_values(&[state]);
        }
        Metrics {
            registry,
            lookups,
            lookup_duration,
            fallbacks,
            direct_suspensions,
            direct_suspended,
            attempts,
            session_restarts,
            driver_restarts,
            sessions,
            queue_depth,
            unknown_pages,
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
            "ruc_scraper_direct_suspensions_total 0",
            "ruc_scraper_direct_suspended 0",
            "ruc_scraper_fallbacks_total{reason=\"firewall\"} 0",
            "process_start_time_seconds",
            "ruc_scraper_unknown_pages_total{reason=\"no_form\"} 0",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
        for method in ["http", "browser"] {
            for outcome in OUTCOMES {
                let sample = format!("ruc_scraper_lookups_total{{method=\"{method}\",outcome=\"{outcome}\"}} 0");
                assert!(text.contains(&sample), "{sample} missing");
            }
        }
    }
}
