//! One lookup from request to answer: the overall deadline, the wait for a
//! slot, the method (`mode`), up to `SCRAPER_MAX_ATTEMPTS` attempts with
//! backoff, the fallback from direct HTTP to the browser, and the recovery
//! of the browser after a fault. What SUNAT's page means is
//! `sunat::answer`'s business; what a failure tells the client, `failure`'s.
//!
//! Deadlines nest: the lookup deadline bounds the queue wait and every
//! attempt; inside an attempt the page-load timeout ends a slow page (in
//! Chrome, or the direct client's request), and for the browser a command
//! timeout a little longer than it catches a stuck browser.

pub(crate) mod mode;
pub(crate) mod slots;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ruc_contract::{Kind, Record, Ruc, Secondary};
use startup::{telemetry, TraceParent};
use tracing::{info, info_span, warn, Instrument};

use crate::browser::{Fault, Lease, Pool};
use crate::direct::{Direct, DirectFault, Searched};
use crate::failure::Failure;
use crate::metrics::{Method, Metrics};
use crate::sunat::answer;
use crate::sunat::form::{self, Answer, FormConfig};
use crate::sunat::page::{self, Page, Snapshot};
use crate::sunat::secondary;
use crate::unknown_pages::{UnknownPages, Unread};
use mode::{Mode, Suspension};
use slots::Slots;

/// The settings of a lookup, from `SCRAPER_*` (see `config`).
#[derive(Debug, Clone)]
pub(crate) struct LookupConfig {
    pub(crate) max_attempts: u32,
    pub(crate) lookup_timeout: Duration,
    pub(crate) queue_timeout: Duration,
    /// First pause between attempts; doubles each time, with ±25 % jitter.
    pub(crate) retry_backoff: Duration,
    pub(crate) form: FormConfig,
}

/// The ways to read SUNAT that the mode asks for.
pub(crate) struct Readers {
    pub(crate) mode: Mode,
    /// The browser pool (modes `browser` and `auto`).
    pub(crate) browser: Option<Pool>,
    /// The direct client (modes `http` and `auto`).
    pub(crate) direct: Option<Arc<Direct>>,
    /// When direct lookups are suspended (mode `auto`).
    pub(crate) suspension: Suspension,
}

/// Runs lookups, `SCRAPER_SESSIONS` at a time.
pub(crate) struct Lookups {
    slots: Slots,
    readers: Readers,
    config: LookupConfig,
    metrics: Metrics,
    unknown_pages: Arc<UnknownPages>,
}

/// What a lookup found: the record, or the page behind it that was asked
/// for (`GET /obtener-ruc/<ruc>/<kind>`).
pub(crate) enum Found {
    Record(Box<Record>),
    Page(Secondary),
}

impl Found {
    /// The 200 body.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Found::Record(record) => serde_json::to_value(record).expect("a record serialises"),
            Found::Page(page) => page.to_json(),
        }
    }
}

/// A direct attempt that gave no record: the failure, and why it calls for
/// the browser (a fallback reason label) unless it is a "not found".
struct DirectMiss {
    failure: Failure,
    reason: &'static str,
}

impl Lookups {
    pub(crate) fn new(
        slots: Slots,
        readers: Readers,
        config: LookupConfig,
        metrics: Metrics,
        unknown_pages: Arc<UnknownPages>,
    ) -> Lookups {
        Lookups {
            slots,
            readers,
            config,
            metrics,
            unknown_pages,
        }
    }

    pub(crate) fn slots(&self) -> &Slots {
        &self.slots
    }

    /// Whether direct lookups are suspended now (`auto` mode only).
    pub(crate) fn direct_suspended(&self) -> bool {
        self.readers.mode == Mode::Auto && self.readers.suspension.is_suspended()
    }

    pub(crate) fn mode(&self) -> Mode {
        self.readers.mode
    }

    /// Counts a request that was not a valid RUC.
    pub(crate) fn count_invalid(&self) {
        let method = self.first_method().label();
        self.metrics.lookups.with_label_values(&[method, "invalid"]).inc();
    }

    /// Looks `ruc` up: its record, or (`kind`) the page behind its result
    /// page, which costs SUNAT the search it needs and that page. The pages
    /// of the first attempt that met one it could not read are kept before
    /// the answer goes out. Its spans are children of `trace`, the
    /// caller's, when traces are exported; its log line names the trace
    /// either way.
    pub(crate) async fn lookup(
        &self,
        ruc: Ruc,
        kind: Option<Kind>,
        trace: Option<TraceParent>,
    ) -> Result<Found, Failure> {
        let started = Instant::now();
        let page = kind.map_or("record", Kind::segment);
        let span = info_span!("lookup", %ruc, page);
        if let Some(trace) = &trace {
            trace.adopt(&span);
        }
        let mut unread = None;
        let (result, method) = self
            .run(ruc, kind, started + self.config.lookup_timeout, &mut unread)
            .instrument(span.clone())
            .await;
        if let Some((unread, method)) = unread {
            let keep = self.unknown_pages.keep(unread, ruc.as_str(), page, method.label());
            keep.instrument(span.clone()).await;
        }
        let outcome = result.as_ref().err().map_or("ok", Failure::outcome);
        let method = method.label();
        self.metrics.lookups.with_label_values(&[method, outcome]).inc();
        self.metrics
            .lookup_duration
            .with_label_values(&[method])
            .observe(started.elapsed().as_secs_f64());
        let trace = TraceParent::of_span(&span).or(trace);
        let trace_id = trace.as_ref().map(|trace| tracing::field::display(trace.trace_id()));
        span.in_scope(|| info!(outcome, method, elapsed = ?started.elapsed(), trace_id, "lookup finished"));
        result
    }

    /// The lookup's result and the method that gave it; the first
    /// attempt's pages that could not be read go to `unread`.
    async fn run(
        &self,
        ruc: Ruc,
        kind: Option<Kind>,
        deadline: Instant,
        unread: &mut Option<(Unread, Method)>,
    ) -> (Result<Found, Failure>, Method) {
        let mut method = self.first_method();
        let queue_wait = self.config.queue_timeout.min(remaining(deadline));
        let waiting = self.slots.acquire(queue_wait);
        let Some(_slot) = waiting.instrument(telemetry::span(|| info_span!("queue"))).await else {
            return (Err(Failure::Overloaded), method);
        };
        let mut lease = None;
        let mut attempt = 1;
        loop {
            self.metrics.attempts.inc();
            let span = info_span!("attempt", attempt, method = method.label());
            let failure = match method {
                Method::Browser => {
                    let attempt = self.by_browser(&mut lease, ruc, kind, deadline, unread);
                    attempt.instrument(span).await
                }
                Method::Http => match self.by_http(ruc, kind, deadline, unread).instrument(span).await {
                    Err(miss) if self.falls_back(&miss) => {
                        method = Method::Browser;
                        continue;
                    }
                    other => other.map_err(|miss| miss.failure),
                },
            };
            let failure = match failure {
                Ok(found) => return (Ok(found), method),
                Err(failure) => failure,
            };
            let pause = backoff(self.config.retry_backoff, attempt);
            if !failure.retryable() || attempt >= self.config.max_attempts || remaining(deadline) <= pause {
                return (Err(failure), method);
            }
            warn!(attempt, %failure, ?pause, "attempt failed; retrying");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// Direct first unless the mode or a suspension says otherwise.
    fn first_method(&self) -> Method {
        match self.readers.mode {
            Mode::Browser => Method::Browser,
            Mode::Http => Method::Http,
            Mode::Auto if self.readers.suspension.is_suspended() => Method::Browser,
            Mode::Auto => Method::Http,
        }
    }

    /// In `auto` mode, whether a direct miss sends this lookup to the
    /// browser (anything but "not found"); such a miss counts towards a
    /// suspension of the direct path.
    fn falls_back(&self, miss: &DirectMiss) -> bool {
        if self.readers.mode != Mode::Auto || matches!(miss.failure, Failure::NotFound(_)) {
            return false;
        }
        warn!(reason = miss.reason, failure = %miss.failure, "direct lookup failed; reading with the browser");
        self.metrics.fallbacks.with_label_values(&[miss.reason]).inc();
        self.readers.suspension.failed(miss.reason);
        true
    }

    async fn by_http(
        &self,
        ruc: Ruc,
        kind: Option<Kind>,
        deadline: Instant,
        unread: &mut Option<(Unread, Method)>,
    ) -> Result<Found, DirectMiss> {
        let Some(direct) = &self.readers.direct else {
            let failure = Failure::SunatError("el modo no incluye consultas directas".into());
            return Err(DirectMiss {
                failure,
                reason: "unknown_page",
            });
        };
        let searched = tokio::time::timeout(remaining(deadline), direct.search(ruc, kind))
            .await
            .unwrap_or(Err(DirectFault::Timeout));
        let read = match &searched {
            Ok(searched) => read_noting_unread(searched, ruc, kind, unread, Method::Http),
            Err(fault) => Err(fault.failure()),
        };
        if matches!(read, Ok(_) | Err(Failure::NotFound(_))) {
            self.readers.suspension.succeeded();
        }
        // Only a miss needs its reason (which classifies the pages again).
        read.map_err(|failure| DirectMiss {
            failure,
            reason: fallback_reason(&searched),
        })
    }

    /// One attempt in a browser; the slot's browser lease is taken on the
    /// first browser attempt and kept for the lookup's others.
    async fn by_browser(
        &self,
        lease: &mut Option<Lease>,
        ruc: Ruc,
        kind: Option<Kind>,
        deadline: Instant,
        unread: &mut Option<(Unread, Method)>,
    ) -> Result<Found, Failure> {
        let Some(pool) = &self.readers.browser else {
            return Err(Failure::BrowserUnavailable("el modo http no usa navegador".into()));
        };
        if lease.is_none() {
            *lease = pool.acquire(remaining(deadline)).await;
        }
        let Some(lease) = lease.as_mut() else {
            return Err(Failure::Overloaded);
        };
        let within = remaining(deadline);
        match tokio::time::timeout(within, search(lease, ruc, kind, &self.config.form)).await {
            Ok(Ok(searched)) => read_noting_unread(&searched, ruc, kind, unread, Method::Browser),
            Ok(Err(fault)) => {
                lease.recover(&fault).await;
                Err(failure_from(fault))
            }
            Err(_) => {
                // A command may still be pending: only killing the browser ends it.
                lease.recover(&Fault::Hung).await;
                Err(Failure::Timeout(format!(
                    "se agotó el plazo de la consulta ({} s)",
                    self.config.lookup_timeout.as_secs()
                )))
            }
        }
    }
}

/// What a search shows (see [`found`]); when it cannot be read, and no
/// earlier attempt of the lookup met such a page, its pages go to `unread`.
fn read_noting_unread(
    searched: &Searched,
    ruc: Ruc,
    kind: Option<Kind>,
    unread: &mut Option<(Unread, Method)>,
    method: Method,
) -> Result<Found, Failure> {
    let parse = telemetry::span(|| info_span!("parse"));
    let read = parse.in_scope(|| found(&searched.answer, &searched.pages, ruc, kind));
    if let (Err(Failure::Unreadable { reason, why }), None) = (&read, &unread) {
        let pages = searched.shown.iter().chain(&searched.pages).cloned().collect();
        let why = why.clone();
        *unread = Some((
            Unread {
                reason: *reason,
                why,
                pages,
            },
            method,
        ));
    }
    read
}

/// What the search's answer and, if one was asked for, the page behind
/// it say: the record, that page, or the failure either shows.
fn found(answer: &Answer, pages: &[Snapshot], ruc: Ruc, kind: Option<Kind>) -> Result<Found, Failure> {
    let record = answer::read(answer, ruc)?;
    let Some(kind) = kind else {
        return Ok(Found::Record(Box::new(record)));
    };
    let rows = secondary::read(kind, pages, ruc)?;
    Ok(Found::Page(Secondary {
        ruc: record.ruc,
        rows,
        consultado_en: record.consultado_en,
    }))
}

/// Why a direct answer that gave no record calls for the browser: the
/// `reason` label of `ruc_scraper_fallbacks_total`; for a page behind the
/// result, what that page was.
fn fallback_reason(searched: &Result<Searched, DirectFault>) -> &'static str {
    let shown = match searched {
        Err(DirectFault::Timeout) => return "timeout",
        Err(DirectFault::Network(_)) => return "network",
        Err(DirectFault::SessionDropped) => return "session",
        Ok(Searched {
            answer: Answer::Page(Page::Result(_)),
            pages,
            ..
        }) => pages
            .iter()
            .map(page::classify)
            .find(|shown| !matches!(shown, Page::Result(_) | Page::Pending))
            .unwrap_or(Page::Pending),
        Ok(Searched {
            answer: Answer::Page(shown),
            ..
        }) => shown.clone(),
        Ok(_) => Page::Pending,
    };
    match shown {
        Page::Rejected(_) => "firewall",
        Page::Error(_) => "error_page",
        _ => "unknown_page",
    }
}

/// The search in the lease's browser, then the page behind the result
/// when one is asked for and the search found the RUC.
async fn search(lease: &mut Lease, ruc: Ruc, kind: Option<Kind>, config: &FormConfig) -> Result<Searched, Fault> {
    let session = lease.session().await?;
    let (answer, shown) = form::search(session.client(), ruc, config).await?;
    let mut pages = Vec::new();
    if let (Answer::Page(Page::Result(pairs)), Some(kind)) = (&answer, kind) {
        let razon_social = page::razon_social(pairs);
        let opening = async {
            let mut shown = form::open(session.client(), kind, ruc, &razon_social, config).await?;
            for pagina in secondary::more_pages(kind, &shown) {
                let next = form::turn_page(session.client(), kind, pagina, &shown, config).await?;
                pages.push(std::mem::replace(&mut shown, next));
            }
            pages.push(shown);
            Ok::<(), Fault>(())
        };
        opening.instrument(telemetry::span(|| info_span!("page"))).await?;
    }
    Ok(Searched { answer, shown, pages })
}

fn failure_from(fault: Fault) -> Failure {
    match fault {
        Fault::PageTimeout | Fault::Hung => Failure::Timeout(fault.to_string()),
        Fault::Network(code) => Failure::network(&code),
        Fault::Alert(text) => Failure::SunatError(format!("el formulario rechazó el RUC ({text})")),
        Fault::NoSuchElement | Fault::Navigating => Failure::SunatError(fault.to_string()),
        Fault::SessionLost(_) | Fault::NotCreated(_) | Fault::DriverLost(_) => {
            Failure::BrowserUnavailable(fault.to_string())
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// `base × 2^(attempt-1)`, ±25 %, so that retries of several lookups spread out.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exponential = base.saturating_mul(1 << (attempt - 1).min(10));
    exponential.mul_f64(rand::random_range(0.75..1.25))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter() {
        let base = Duration::from_millis(400);
        for attempt in 1..=3 {
            let pause = backoff(base, attempt);
            let nominal = 400.0 * f64::from(1 << (attempt - 1));
            assert!(pause.as_millis() as f64 >= nominal * 0.75 && pause.as_millis() as f64 <= nominal * 1.25);
        }
    }
}
