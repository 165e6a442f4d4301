//! The proxy's Prometheus metrics, in the default registry that
//! `pingora-prometheus` serves on `METRICS_LISTEN`. Labels come from small
//! fixed sets (status codes, cache results), never from a RUC.

use std::sync::OnceLock;
use std::time::Duration;

use ruc_contract::Kind;

use pingora_prometheus::prometheus::{
    register_histogram_vec, register_int_counter, register_int_counter_vec, register_int_gauge, register_int_gauge_vec,
    Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
};

/// Every metric of the proxy, registered once (see [`Metrics::get`]).
pub struct Metrics {
    pub(crate) hits: IntCounter,
    pub(crate) l1_hits: IntCounter,
    pub(crate) l1_invalidations: IntCounter,
    pub(crate) l1_tracked: IntGauge,
    pub(crate) l1_tracking_losses: IntCounter,
    pub(crate) unstored: IntGauge,
    pub(crate) not_found_hits: IntCounter,
    pub(crate) stale: IntCounter,
    pub(crate) refreshes: IntCounterVec,
    pub(crate) admin: IntCounterVec,
    pub(crate) upstream_waiting: IntGauge,
    pub(crate) upstream_refused: IntCounterVec,
    pub(crate) breaker_state: IntGauge,
    pub(crate) breaker_opened: IntCounter,
    pub(crate) misses: IntCounter,
    lookups: IntCounterVec,
    pub(crate) batch_requests: IntCounterVec,
    pub(crate) batch_items: IntCounterVec,
    pub(crate) coalesced: IntCounter,
    requests: IntCounterVec,
    duration: HistogramVec,
    /// The children of `requests` for `STATUSES` and of `duration` for each
    /// [`CacheResult`], looked up once: the hit path must not hash labels.
    requests_by_status: Vec<IntCounter>,
    duration_by_cache: Vec<Histogram>,
    /// `lookups` by page, then cache result.
    lookups_by_page: Vec<IntCounter>,
    pub(crate) upstream_errors: IntCounter,
    pub(crate) redis_errors: IntCounter,
    pub(crate) redis_up: IntGauge,
    pub(crate) in_flight: IntGauge,
    pub(crate) fleet_followed: IntCounter,
    pub(crate) fleet_takeovers: IntCounter,
    pub(crate) fleet_fallbacks: IntCounterVec,
    pub(crate) fleet_slots_in_use: IntGauge,
    pub(crate) fleet_slots_waiting: IntGauge,
    pub(crate) scraper_up: IntGaugeVec,
    pub(crate) scraper_lookups: IntCounterVec,
    pub(crate) scraper_failures: IntCounterVec,
}

/// One more on a gauge for as long as it is held, however the holder ends
/// (a wait whose client left is dropped mid-way, and must not stay counted).
pub(crate) struct Counted<'a>(&'a IntGauge);

impl<'a> Counted<'a> {
    pub(crate) fn on(gauge: &'a IntGauge) -> Counted<'a> {
        gauge.inc();
        Counted(gauge)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// How a request was answered, as far as the cache goes: the `cache` label
/// of `ruc_proxy_request_duration_seconds` and of the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheResult {
    /// From the cache: a fresh record or a remembered "no such RUC".
    Hit,
    /// A record past its freshness.
    Stale,
    /// The answer of the lookup this request led.
    Miss,
    /// The answer of a lookup in flight that this request waited for.
    Coalesced,
    /// Nothing to do with the cache: another route, an error of the
    /// request, or a lookup refused before it reached a scraper.
    None,
    /// A batch request (its items count as lookups of their own).
    Batch,
}

impl CacheResult {
    const ALL: [CacheResult; 6] = [
        CacheResult::Hit,
        CacheResult::Stale,
        CacheResult::Miss,
        CacheResult::Coalesced,
        CacheResult::None,
        CacheResult::Batch,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::Stale => "stale",
            CacheResult::Miss => "miss",
            CacheResult::Coalesced => "coalesced",
            CacheResult::None => "none",
            CacheResult::Batch => "batch",
        }
    }
}

/// Statuses of `ruc_proxy_requests_total` registered at zero, so that
/// dashboards and alerts see them before the first occurrence.
const STATUSES: [&str; 13] = [
    "200", "400", "404", "405", "406", "408", "413", "415", "431", "500", "502", "503", "504",
];
const STATUS_CODES: [u16; 13] = [200, 400, 404, 405, 406, 408, 413, 415, 431, 500, 502, 503, 504];

/// `ruc_proxy_batch_requests_total`'s outcomes.
pub(crate) const BATCH_OUTCOMES: [&str; 4] = ["complete", "timed_out", "cancelled", "refused"];
/// `ruc_proxy_batch_items_total`'s outcomes.
pub(crate) const BATCH_ITEM_OUTCOMES: [&str; 5] = ["record", "not_found", "invalid", "failed", "timed_out"];

impl Metrics {
    /// The process-wide metrics (the default registry is process-wide too).
    pub fn get() -> &'static Metrics {
        static METRICS: OnceLock<Metrics> = OnceLock::new();
        METRICS.get_or_init(Metrics::register)
    }

    fn register() -> Metrics {
        let mut metrics = Metrics {
            hits: register_int_counter!(
                "ruc_proxy_cache_hits_total",
                "Lookups answered from the cache (Redis or its in-process copy)"
            )
            .unwrap(),
            not_found_hits: register_int_counter!(
                "ruc_proxy_cache_not_found_hits_total",
                "Hits that were SUNAT's remembered 'no such RUC' answer (a 404)"
            )
            .unwrap(),
            stale: register_int_counter!(
                "ruc_proxy_cache_stale_total",
                "Lookups answered with a record past its freshness (the scraper failed, or it is being refreshed)"
            )
            .unwrap(),
            refreshes: register_int_counter_vec!(
                "ruc_proxy_background_refreshes_total",
                "Background refreshes of stale records, by outcome",
                &["outcome"]
            )
            .unwrap(),
            admin: register_int_counter_vec!(
                "ruc_proxy_admin_requests_total",
                "Cache operations on the admin listener, by result",
                &["result"]
            )
            .unwrap(),
            upstream_waiting: register_int_gauge!(
                "ruc_proxy_upstream_waiting",
                "Lookups waiting for one of the UPSTREAM_MAX_INFLIGHT slots toward the scraper"
            )
            .unwrap(),
            upstream_refused: register_int_counter_vec!(
                "ruc_proxy_upstream_refused_total",
                "Lookups not sent to the scraper, by reason (breaker-open, upstream-queue-full)",
                &["reason"]
            )
            .unwrap(),
            breaker_state: register_int_gauge!(
                "ruc_proxy_breaker_state",
                "The circuit breaker toward the scraper: 0 closed, 1 open, 2 half-open (one probe out)"
            )
            .unwrap(),
            breaker_opened: register_int_counter!(
                "ruc_proxy_breaker_opened_total",
                "Times the circuit breaker opened after consecutive scraper failures"
            )
            .unwrap(),
            l1_hits: register_int_counter!(
                "ruc_proxy_cache_l1_hits_total",
                "Hits answered from the in-process copy of records read from Redis"
            )
            .unwrap(),
            l1_invalidations: register_int_counter!(
                "ruc_proxy_cache_l1_invalidations_total",
                "Invalidation messages from Redis (CLIENT TRACKING) applied to the in-process copy"
            )
            .unwrap(),
            l1_tracking_losses: register_int_counter!(
                "ruc_proxy_cache_l1_tracking_losses_total",
                "Times Redis's tracking of the in-process copy stopped (connection lost, master moved): the copy was dropped"
            )
            .unwrap(),
            l1_tracked: register_int_gauge!(
                "ruc_proxy_cache_l1_tracked",
                "1 while Redis tracks the in-process copy's keys (entries live until invalidated), 0 while they live L1_TTL_MS at most"
            )
            .unwrap(),
            unstored: register_int_gauge!(
                "ruc_proxy_cache_unstored",
                "Answers fetched while Redis could not store them, held in memory until it can"
            )
            .unwrap(),
            lookups: register_int_counter_vec!(
                "ruc_proxy_lookups_total",
                "Answers to GET/HEAD /obtener-ruc/<ruc>[/<kind>], by page (record, representantes, trabajadores, establecimientos, deuda-coactiva) and cache result",
                &["page", "cache"]
            )
            .unwrap(),
            batch_requests: register_int_counter_vec!(
                "ruc_proxy_batch_requests_total",
                "Batch requests (POST /obtener-ruc), by outcome: complete, timed_out (some items 504 at BATCH_TIMEOUT_SECS), cancelled (the client hung up), refused (the whole request an error)",
                &["outcome"]
            )
            .unwrap(),
            batch_items: register_int_counter_vec!(
                "ruc_proxy_batch_items_total",
                "Items of batch answers, by outcome: record, not_found, invalid, failed, timed_out",
                &["outcome"]
            )
            .unwrap(),
            misses: register_int_counter!(
                "ruc_proxy_cache_misses_total",
                "Lookups sent to the scraper (one per coalesced group)"
            )
            .unwrap(),
            coalesced: register_int_counter!(
                "ruc_proxy_coalesced_total",
                "Lookups answered with the answer of an identical lookup already in flight"
            )
            .unwrap(),
            requests: register_int_counter_vec!(
                "ruc_proxy_requests_total",
                "Requests answered by the proxy, by HTTP status",
                &["status"]
            )
            .unwrap(),
            duration: register_histogram_vec!(
                "ruc_proxy_request_duration_seconds",
                "Time from request to the end of the answer, by cache result",
                &["cache"],
                vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0]
            )
            .unwrap(),
            upstream_errors: register_int_counter!(
                "ruc_proxy_upstream_errors_total",
                "Lookups the scraper gave no answer to (refused, timed out, cut short)"
            )
            .unwrap(),
            redis_errors: register_int_counter!(
                "ruc_proxy_redis_errors_total",
                "Redis calls that failed or ran out of time"
            )
            .unwrap(),
            redis_up: register_int_gauge!("ruc_proxy_redis_up", "1 when the last Redis health check succeeded")
                .unwrap(),
            in_flight: register_int_gauge!(
                "ruc_proxy_upstream_in_flight",
                "Distinct RUCs being looked up by the scraper right now"
            )
            .unwrap(),
            fleet_followed: register_int_counter!(
                "ruc_proxy_fleet_followed_total",
                "Lookups that waited for the same lookup led by another replica (its lease was held)"
            )
            .unwrap(),
            fleet_takeovers: register_int_counter!(
                "ruc_proxy_fleet_takeovers_total",
                "Waits for another replica's lookup that ended without its outcome (the leader vanished): looked up again"
            )
            .unwrap(),
            fleet_fallbacks: register_int_counter_vec!(
                "ruc_proxy_fleet_fallbacks_total",
                "Times Redis could not be reached and this process coordinated alone, by part (coalescing, limit, breaker)",
                &["part"]
            )
            .unwrap(),
            fleet_slots_in_use: register_int_gauge!(
                "ruc_proxy_fleet_slots_in_use",
                "Fleet-wide slots toward the scrapers in use (of UPSTREAM_GLOBAL_MAX_INFLIGHT), as last seen by this replica"
            )
            .unwrap(),
            fleet_slots_waiting: register_int_gauge!(
                "ruc_proxy_fleet_slots_waiting",
                "Lookups of this replica waiting for a fleet-wide slot toward the scrapers"
            )
            .unwrap(),
            scraper_up: register_int_gauge_vec!(
                "ruc_proxy_scraper_backend_up",
                "1 while a scraper (an address of SCRAPER_URL) passes its health check and gets lookups",
                &["backend"]
            )
            .unwrap(),
            scraper_lookups: register_int_counter_vec!(
                "ruc_proxy_scraper_backend_lookups_total",
                "Lookups sent to each scraper (by address)",
                &["backend"]
            )
            .unwrap(),
            scraper_failures: register_int_counter_vec!(
                "ruc_proxy_scraper_backend_failures_total",
                "Lookups a scraper did not answer, answered with a 5xx, or refused to connect for (by address)",
                &["backend"]
            )
            .unwrap(),
            requests_by_status: Vec::new(),
            duration_by_cache: Vec::new(),
            lookups_by_page: Vec::new(),
        };
        for outcome in ["stored", "not_stored", "failed"] {
            metrics.refreshes.with_label_values(&[outcome]);
        }
        for reason in ["breaker-open", "upstream-queue-full"] {
            metrics.upstream_refused.with_label_values(&[reason]);
        }
        for part in ["coalescing", "limit", "breaker"] {
            metrics.fleet_fallbacks.with_label_values(&[part]);
        }
        metrics.lookups_by_page = std::iter::once("record")
            .chain(Kind::ALL.map(Kind::segment))
            .flat_map(|page| CacheResult::ALL.map(|cache| (page, cache)))
            .map(|(page, cache)| metrics.lookups.with_label_values(&[page, cache.label()]))
            .collect();
        for outcome in BATCH_OUTCOMES {
            metrics.batch_requests.with_label_values(&[outcome]);
        }
        for outcome in BATCH_ITEM_OUTCOMES {
            metrics.batch_items.with_label_values(&[outcome]);
        }
        for result in ["purged", "refresh", "unauthorized"] {
            metrics.admin.with_label_values(&[result]);
        }
        metrics.requests_by_status = STATUSES
            .iter()
            .map(|s| metrics.requests.with_label_values(&[s]))
            .collect();
        metrics.duration_by_cache = CacheResult::ALL
            .iter()
            .map(|cache| metrics.duration.with_label_values(&[cache.label()]))
            .collect();
        metrics
    }

    /// A lookup answered from the cache: a record, or a remembered "no
    /// such RUC" (`not_found`).
    pub(crate) fn hit(&self, not_found: bool) {
        self.hits.inc();
        if not_found {
            self.not_found_hits.inc();
        }
    }

    /// Counts an answer to a lookup of the record (`kind` `None`) or of a
    /// page behind it, with its cache result.
    pub(crate) fn looked_up(&self, kind: Option<Kind>, cache: CacheResult) {
        let page = kind.map_or(0, |kind| kind.index() + 1);
        self.lookups_by_page[page * CacheResult::ALL.len() + cache as usize].inc();
    }

    /// Counts a batch request by its `outcome` (one of [`BATCH_OUTCOMES`]).
    pub(crate) fn batch_request(&self, outcome: &'static str) {
        self.batch_requests.with_label_values(&[outcome]).inc();
    }

    /// Counts a batch item by its `outcome` (one of
    /// [`BATCH_ITEM_OUTCOMES`]).
    pub(crate) fn batch_item(&self, outcome: &'static str) {
        self.batch_items.with_label_values(&[outcome]).inc();
    }

    /// Counts an answered request: its status and its duration under its
    /// cache result.
    pub(crate) fn answered(&self, status: u16, cache: CacheResult, elapsed: Duration) {
        match STATUS_CODES.iter().position(|&code| code == status) {
            Some(i) => self.requests_by_status[i].inc(),
            None => self.requests.with_label_values(&[&status.to_string()]).inc(),
        }
        self.duration_by_cache[cache as usize].observe(elapsed.as_secs_f64());
    }
}
