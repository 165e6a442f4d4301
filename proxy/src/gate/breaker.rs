//! The circuit breaker: after `BREAKER_FAILURES` failed lookups in a row
//! (a 5xx, no answer, no answer in time), the scraper is left alone for
//! `BREAKER_OPEN_SECS`: SUNAT's firewall only blocks harder when asked
//! again. Then one lookup goes through as a probe; its success closes the
//! breaker, its failure opens it again. `BREAKER_FAILURES=0` turns it off.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// The breaker's state, shared by every lookup of this process.
pub(crate) struct Breaker {
    failures_to_open: u32,
    open_for: Duration,
    state: Mutex<State>,
    metrics: &'static Metrics,
}

/// Closed (counting failures), open (until a time) or probing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is out; everything else is refused until it reports.
    Probing,
}

/// What a lookup may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    /// Go, as the one probe of a half-open breaker.
    Probe,
    /// Do not go; the breaker stays open this long (or a probe is out).
    Refuse(Duration),
}

impl Breaker {
    pub(crate) fn new(failures_to_open: u32, open_for: Duration, metrics: &'static Metrics) -> Breaker {
        Breaker {
            failures_to_open,
            open_for,
            state: Mutex::new(State::Closed { failures: 0 }),
            metrics,
        }
    }

    pub(crate) fn verdict(&self) -> Verdict {
        let mut state = self.state.lock().expect("breaker lock");
        match *state {
            State::Closed { .. } => Verdict::Pass,
            State::Open { until } => match until.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Verdict::Refuse(left),
                _ => {
                    self.set(&mut state, State::Probing);
                    Verdict::Probe
                }
            },
            State::Probing => Verdict::Refuse(Duration::from_secs(1)),
        }
    }

    /// The outcome of a lookup that was let through.
    pub(crate) fn record(&self, ok: bool) {
        let mut state = self.state.lock().expect("breaker lock");
        let next = match (*state, ok) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if self.failures_to_open == 0 => State::Closed { failures },
            (State::Closed { failures }, false) if failures + 1 < self.failures_to_open => {
                State::Closed { failures: failures + 1 }
            }
            (_, false) => {
                self.metrics.breaker_opened.inc();
                State::Open {
                    until: Instant::now() + self.open_for,
                }
            }
        };
        self.set(&mut state, next);
    }

    /// The probe never reached the scraper: let the next lookup probe.
    pub(crate) fn probe_abandoned(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        if *state == State::Probing {
            self.set(&mut state, State::Open { until: Instant::now() });
        }
    }

    fn set(&self, state: &mut State, next: State) {
        *state = next;
        let gauge = match next {
            State::Closed { .. } => 0,
            State::Open { .. } => 1,
            State::Probing => 2,
        };
        self.metrics.breaker_state.set(gauge);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_then_lets_one_probe_through() {
        let breaker = Breaker::new(3, Duration::ZERO, Metrics::get());
        breaker.record(false);
        breaker.record(true);
        breaker.record(false);
        breaker.record(false);
        assert_eq!(breaker.verdict(), Verdict::Pass, "a success reset the count");
        breaker.record(false);
        // Open for zero seconds: the next lookup is the probe, others wait.
        assert_eq!(breaker.verdict(), Verdict::Probe);
        assert!(matches!(breaker.verdict(), Verdict::Refuse(_)));
        breaker.record(false);
        assert_eq!(breaker.verdict(), Verdict::Probe, "a failed probe reopens");
        breaker.record(true);
        assert_eq!(breaker.verdict(), Verdict::Pass, "a good probe closes");
    }

    #[test]
    fn stays_open_for_its_time() {
        let breaker = Breaker::new(1, Duration::from_secs(60), Metrics::get());
        breaker.record(false);
        assert!(matches!(breaker.verdict(), Verdict::Refuse(left) if left > Duration::from_secs(50)));
    }

    #[test]
    fn an_abandoned_probe_hands_over_to_the_next_lookup() {
        let breaker = Breaker::new(1, Duration::ZERO, Metrics::get());
        breaker.record(false);
        assert_eq!(breaker.verdict(), Verdict::Probe);
        breaker.probe_abandoned();
        assert_eq!(breaker.verdict(), Verdict::Probe);
    }

    #[test]
    fn zero_failures_never_opens() {
        let breaker = Breaker::new(0, Duration::from_secs(60), Metrics::get());
        for _ in 0..100 {
            breaker.record(false);
        }
        assert_eq!(breaker.verdict(), Verdict::Pass);
    }
}
