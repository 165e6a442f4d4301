//! One lookup from request to answer: the overall deadline, the wait for a
//! browser, up to `SCRAPER_MAX_ATTEMPTS` attempts with backoff, and the
//! mapping of every way it can fail to what the client is told.
//!
//! Deadlines nest: the lookup deadline bounds the queue wait and every
//! attempt; inside an attempt Chrome's page-load timeout ends a slow page,
//! and a command timeout a little longer than it catches a stuck browser.

use std::time::{Duration, Instant};

use ruc_contract::{Record, Ruc};
use tracing::{info, info_span, warn, Instrument};

use crate::browser::{Fault, Lease, Pool};
use crate::metrics::Metrics;
use crate::sunat::form::{self, Answer, FormConfig};
use crate::sunat::page::Page;
use crate::sunat::record;

#[derive(Debug, Clone)]
pub struct LookupConfig {
    pub max_attempts: u32,
    pub lookup_timeout: Duration,
    pub queue_timeout: Duration,
    /// First pause between attempts; doubles each time, with ±25 % jitter.
    pub retry_backoff: Duration,
    pub form: FormConfig,
}

/// Why a lookup gave no record. Each kind has its HTTP status and the
/// `outcome` label of `ruc_scraper_lookups_total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// SUNAT has no such RUC (404). Never retried.
    NotFound(String),
    /// The firewall rejected us or cut the connection (502).
    Rejected(String),
    /// SUNAT's error page, or a page we cannot read (502).
    SunatError(String),
    /// SUNAT did not answer in time (504).
    Timeout(String),
    /// No browser became free within the queue wait (503). Never retried.
    Overloaded,
    /// The browser could not be started or kept alive (503).
    BrowserUnavailable(String),
}

impl Failure {
    pub fn outcome(&self) -> &'static str {
        match self {
            Failure::NotFound(_) => "not_found",
            Failure::Rejected(_) => "rejected",
            Failure::SunatError(_) | Failure::BrowserUnavailable(_) => "error",
            Failure::Timeout(_) => "timeout",
            Failure::Overloaded => "overloaded",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Failure::NotFound(_) => 404,
            Failure::Rejected(_) | Failure::SunatError(_) => 502,
            Failure::Overloaded | Failure::BrowserUnavailable(_) => 503,
            Failure::Timeout(_) => 504,
        }
    }

    /// The `detail` of the error body, in Spanish.
    pub fn detail(&self) -> String {
        match self {
            Failure::NotFound(sentence) => {
                format!("SUNAT no tiene registrado este RUC: {sentence}")
            }
            Failure::Rejected(why) => format!("SUNAT rechazó la consulta: {why}"),
            Failure::SunatError(why) => format!("SUNAT respondió con un error: {why}"),
            Failure::Timeout(why) => format!("SUNAT no respondió a tiempo: {why}"),
            Failure::Overloaded => "Todos los navegadores están ocupados; reintente en unos segundos.".into(),
            Failure::BrowserUnavailable(why) => format!("El navegador no está disponible: {why}"),
        }
    }

    fn retryable(&self) -> bool {
        !matches!(self, Failure::NotFound(_) | Failure::Overloaded)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail())
    }
}

/// Runs lookups on the browser pool.
pub struct Lookups {
    pool: Pool,
    config: LookupConfig,
    metrics: Metrics,
}

impl Lookups {
    pub fn new(pool: Pool, config: LookupConfig, metrics: Metrics) -> Lookups {
        Lookups { pool, config, metrics }
    }

    pub async fn lookup(&self, ruc: Ruc) -> Result<Record, Failure> {
        let started = Instant::now();
        let span = info_span!("lookup", %ruc);
        let result = self
            .run(ruc, started + self.config.lookup_timeout)
            .instrument(span.clone())
            .await;
        let outcome = result.as_ref().err().map_or("ok", Failure::outcome);
        self.metrics.lookups.with_label_values(&[outcome]).inc();
        self.metrics.lookup_duration.observe(started.elapsed().as_secs_f64());
        span.in_scope(|| info!(outcome, elapsed = ?started.elapsed(), "lookup finished"));
        result
    }

    async fn run(&self, ruc: Ruc, deadline: Instant) -> Result<Record, Failure> {
        let queue_wait = self.config.queue_timeout.min(remaining(deadline));
        let mut lease = self.pool.acquire(queue_wait).await.ok_or(Failure::Overloaded)?;
        let mut attempt = 1;
        loop {
            self.metrics.attempts.inc();
            let span = info_span!("attempt", attempt);
            let failure = match self.attempt(&mut lease, ruc, deadline).instrument(span).await {
                Ok(record) => return Ok(record),
                Err(failure) => failure,
            };
            let pause = backoff(self.config.retry_backoff, attempt);
            if !failure.retryable() || attempt >= self.config.max_attempts || remaining(deadline) <= pause {
                return Err(failure);
            }
            warn!(attempt, %failure, ?pause, "attempt failed; retrying");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, lease: &mut Lease, ruc: Ruc, deadline: Instant) -> Result<Record, Failure> {
        let within = remaining(deadline);
        match tokio::time::timeout(within, search(lease, ruc, &self.config.form)).await {
            Ok(Ok(answer)) => record_from(answer, ruc),
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

async fn search(lease: &mut Lease, ruc: Ruc, config: &FormConfig) -> Result<Answer, Fault> {
    let session = lease.session().await?;
    form::search(session.client(), ruc, config).await
}

fn record_from(answer: Answer, ruc: Ruc) -> Result<Record, Failure> {
    match answer {
        Answer::Page(Page::Result(pairs)) => {
            let record = record::from_pairs(&pairs, now_rfc3339())
                .map_err(|e| Failure::SunatError(format!("página de resultado ilegible: {e}")))?;
            if record.ruc != ruc.as_str() {
                return Err(Failure::SunatError(format!(
                    "la página muestra el RUC {} en lugar de {ruc}",
                    record.ruc
                )));
            }
            Ok(record)
        }
        Answer::Page(Page::NotFound(sentence)) => Err(Failure::NotFound(sentence)),
        Answer::Page(Page::ErrorPage(message)) => Err(Failure::SunatError(message)),
        Answer::Page(Page::Rejected(support_id)) if support_id.is_empty() => {
            Err(Failure::Rejected("página 'Request Rejected' del firewall".into()))
        }
        Answer::Page(Page::Rejected(support_id)) => Err(Failure::Rejected(format!(
            "página 'Request Rejected' del firewall (support ID {support_id})"
        ))),
        Answer::Page(Page::NetworkError(code)) => Err(network_failure(&code)),
        Answer::Page(Page::Pending) | Answer::NoAnswer { loading: true, .. } => {
            Err(Failure::Timeout("la página de resultado no llegó".into()))
        }
        Answer::NoAnswer { loading: false, title } => {
            Err(Failure::SunatError(format!("página inesperada (título {title:?})")))
        }
    }
}

fn failure_from(fault: Fault) -> Failure {
    match fault {
        Fault::PageTimeout | Fault::Hung => Failure::Timeout(fault.to_string()),
        Fault::Network(code) => network_failure(&code),
        Fault::Alert(text) => Failure::SunatError(format!("el formulario rechazó el RUC ({text})")),
        Fault::NoSuchElement | Fault::Navigating => Failure::SunatError(fault.to_string()),
        Fault::SessionLost(_) | Fault::NotCreated(_) | Fault::DriverLost(_) => {
            Failure::BrowserUnavailable(fault.to_string())
        }
    }
}

/// A reset or refused connection is how SUNAT's firewall throttles; a
/// timeout is a timeout; anything else means SUNAT could not be reached.
fn network_failure(code: &str) -> Failure {
    match code {
        "ERR_CONNECTION_RESET" | "ERR_CONNECTION_CLOSED" | "ERR_CONNECTION_REFUSED" | "ERR_EMPTY_RESPONSE" => {
            Failure::Rejected(format!("SUNAT cortó la conexión ({code})"))
        }
        "ERR_TIMED_OUT" | "ERR_CONNECTION_TIMED_OUT" => Failure::Timeout(code.to_string()),
        _ => Failure::SunatError(format!("no se pudo conectar con SUNAT ({code})")),
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

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero is valid");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("UTC time formats as RFC 3339")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruc() -> Ruc {
        Ruc::parse("20131312955").unwrap()
    }

    #[test]
    fn statuses_and_outcomes_follow_the_contract() {
        let cases = [
            (Failure::NotFound("x".into()), 404, "not_found"),
            (Failure::Rejected("x".into()), 502, "rejected"),
            (Failure::SunatError("x".into()), 502, "error"),
            (Failure::Timeout("x".into()), 504, "timeout"),
            (Failure::Overloaded, 503, "overloaded"),
            (Failure::BrowserUnavailable("x".into()), 503, "error"),
        ];
        for (failure, status, outcome) in cases {
            assert_eq!((failure.status(), failure.outcome()), (status, outcome), "{failure:?}");
        }
    }

    #[test]
    fn not_found_and_overloaded_are_never_retried() {
        assert!(!Failure::NotFound("x".into()).retryable());
        assert!(!Failure::Overloaded.retryable());
        assert!(Failure::Rejected("x".into()).retryable());
        assert!(Failure::Timeout("x".into()).retryable());
    }

    #[test]
    fn a_result_for_another_ruc_is_an_error() {
        let html = include_str!("../../tests/pages/captured/20440374248.html");
        let snapshot = crate::sunat::page::Snapshot {
            url: String::new(),
            ready_state: "complete".into(),
            html: html.into(),
        };
        let answer = Answer::Page(crate::sunat::page::classify(&snapshot));
        assert!(matches!(record_from(answer, ruc()), Err(Failure::SunatError(_))));
    }

    #[test]
    fn network_errors_are_classified() {
        assert_eq!(network_failure("ERR_CONNECTION_RESET").outcome(), "rejected");
        assert_eq!(network_failure("ERR_TIMED_OUT").outcome(), "timeout");
        assert_eq!(network_failure("ERR_NAME_NOT_RESOLVED").outcome(), "error");
    }

    #[test]
    fn a_tab_still_loading_is_a_timeout_and_a_strange_page_an_error() {
        let loading = Answer::NoAnswer {
            loading: true,
            title: String::new(),
        };
        assert_eq!(record_from(loading, ruc()).unwrap_err().status(), 504);
        let strange = Answer::NoAnswer {
            loading: false,
            title: "Documento sin título".into(),
        };
        assert_eq!(record_from(strange, ruc()).unwrap_err().status(), 502);
    }

    #[test]
    fn backoff_doubles_within_jitter() {
        let base = Duration::from_millis(400);
        for attempt in 1..=3 {
            let pause = backoff(base, attempt);
            let nominal = 400.0 * f64::from(1 << (attempt - 1));
            assert!(pause.as_millis() as f64 >= nominal * 0.75 && pause.as_millis() as f64 <= nominal * 1.25);
        }
    }

    #[test]
    fn consultado_en_is_rfc3339_utc() {
        let text = now_rfc3339();
        assert!(text.ends_with('Z') && text.len() == 20, "{text}");
    }
}
