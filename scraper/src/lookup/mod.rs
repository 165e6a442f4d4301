//! One lookup from request to answer: the overall deadline, the wait for a
//! browser, up to `SCRAPER_MAX_ATTEMPTS` attempts with backoff, and the
//! recovery of the browser after a fault. What SUNAT's page means is
//! `sunat::answer`'s business; what a failure tells the client, `failure`'s.
//!
//! Deadlines nest: the lookup deadline bounds the queue wait and every
//! attempt; inside an attempt Chrome's page-load timeout ends a slow page,
//! and a command timeout a little longer than it catches a stuck browser.

use std::time::{Duration, Instant};

use ruc_contract::{Record, Ruc};
use tracing::{info, info_span, warn, Instrument};

use crate::browser::{Fault, Lease, Pool};
use crate::failure::Failure;
use crate::metrics::Metrics;
use crate::sunat::answer;
use crate::sunat::form::{self, Answer, FormConfig};

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

/// Runs lookups on the browser pool.
pub(crate) struct Lookups {
    pool: Pool,
    config: LookupConfig,
    metrics: Metrics,
}

impl Lookups {
    pub(crate) fn new(pool: Pool, config: LookupConfig, metrics: Metrics) -> Lookups {
        Lookups { pool, config, metrics }
    }

    pub(crate) async fn lookup(&self, ruc: Ruc) -> Result<Record, Failure> {
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
            Ok(Ok(answer)) => answer::read(answer, ruc),
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

fn failure_from(fault: Fault) -> Failure {
    match fault {
        Fault::PageTimeout | Fault::Hung => Failure::Timeout(fault.to_string()),
        Fault::Network(code) => answer::network_failure(&code),
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
