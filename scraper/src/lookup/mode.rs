//! How lookups read SUNAT: `SCRAPER_MODE` picks browser, direct HTTP, or
//! direct first with the browser as fallback; in that last mode, repeated
//! direct failures suspend the direct path for a while, because SUNAT
//! changes its site and its firewall without notice and each failed direct
//! request is one more request SUNAT sees.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::metrics::Metrics;

/// `SCRAPER_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Chrome through WebDriver for every lookup (the default).
    Browser,
    /// Plain HTTP only; no browser is started.
    Http,
    /// Plain HTTP first; Chrome for a lookup whose direct answer is not a
    /// result or "not found" page.
    Auto,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Browser => "browser",
            Mode::Http => "http",
            Mode::Auto => "auto",
        }
    }
}

impl FromStr for Mode {
    type Err = ();

    fn from_str(text: &str) -> Result<Mode, ()> {
        match text {
            "browser" => Ok(Mode::Browser),
            "http" => Ok(Mode::Http),
            "auto" => Ok(Mode::Auto),
            _ => Err(()),
        }
    }
}

/// `SCRAPER_DIRECT_FAILURES` and `SCRAPER_DIRECT_SUSPEND_SECS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SuspendPolicy {
    /// Direct failures in a row that suspend the direct path.
    pub(crate) after_failures: u32,
    /// How long it stays suspended.
    pub(crate) suspend_for: Duration,
}

/// The direct path's state in `auto` mode. After a suspension ends, the
/// next direct failure suspends it again at once (as a breaker's probe).
pub(crate) struct Suspension {
    policy: SuspendPolicy,
    state: Mutex<State>,
    metrics: Metrics,
}

/// Failures in a row and the end of the current suspension.
#[derive(Default)]
struct State {
    failures_in_row: u32,
    suspended_until: Option<Instant>,
}

impl Suspension {
    pub(crate) fn new(policy: SuspendPolicy, metrics: Metrics) -> Suspension {
        Suspension {
            policy,
            state: Mutex::new(State::default()),
            metrics,
        }
    }

    /// Whether direct lookups are suspended now; ends a suspension whose
    /// time is up.
    pub(crate) fn is_suspended(&self) -> bool {
        let mut state = self.state.lock().expect("suspension lock");
        match state.suspended_until {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                state.suspended_until = None;
                state.failures_in_row = self.policy.after_failures.saturating_sub(1);
                self.metrics.direct_suspended.set(0);
                info!("direct lookups resumed");
                false
            }
            None => false,
        }
    }

    /// A direct lookup gave a result or "not found".
    pub(crate) fn succeeded(&self) {
        self.state.lock().expect("suspension lock").failures_in_row = 0;
    }

    /// A direct lookup needed the browser.
    pub(crate) fn failed(&self, reason: &str) {
        let mut state = self.state.lock().expect("suspension lock");
        state.failures_in_row += 1;
        if state.failures_in_row < self.policy.after_failures || state.suspended_until.is_some() {
            return;
        }
        state.suspended_until = Some(Instant::now() + self.policy.suspend_for);
        self.metrics.direct_suspensions.inc();
        self.metrics.direct_suspended.set(1);
        warn!(
            failures = state.failures_in_row,
            last_reason = reason,
            suspend_for = ?self.policy.suspend_for,
            "direct lookups suspended: the browser reads SUNAT meanwhile"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suspension(after_failures: u32, suspend_for: Duration) -> Suspension {
        let policy = SuspendPolicy {
            after_failures,
            suspend_for,
        };
        Suspension::new(policy, Metrics::new())
    }

    #[test]
    fn modes_parse_by_their_names() {
        for mode in [Mode::Browser, Mode::Http, Mode::Auto] {
            assert_eq!(mode.as_str().parse(), Ok(mode));
        }
        assert_eq!("HTTP".parse::<Mode>(), Err(()));
    }

    #[test]
    fn failures_in_a_row_suspend_and_a_success_resets_the_count() {
        let suspension = suspension(3, Duration::from_secs(60));
        suspension.failed("firewall");
        suspension.failed("firewall");
        suspension.succeeded();
        suspension.failed("firewall");
        suspension.failed("firewall");
        assert!(!suspension.is_suspended());
        suspension.failed("unknown_page");
        assert!(suspension.is_suspended());
        assert_eq!(suspension.metrics.direct_suspensions.get(), 1);
        assert_eq!(suspension.metrics.direct_suspended.get(), 1);
    }

    #[test]
    fn a_suspension_ends_and_one_more_failure_renews_it() {
        let suspension = suspension(2, Duration::ZERO);
        suspension.failed("firewall");
        suspension.failed("firewall");
        assert!(!suspension.is_suspended(), "a zero-length suspension is over at once");
        assert_eq!(suspension.metrics.direct_suspended.get(), 0);
        suspension.failed("firewall");
        assert_eq!(suspension.metrics.direct_suspensions.get(), 2);
    }
}
