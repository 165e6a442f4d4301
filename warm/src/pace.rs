//! `--rate`: at most N new RUCs asked per second. Whether a RUC is new is
//! known only from its answer, so every RUC of a batch takes a token
//! before it is sent (the batch shrinks to the tokens there are), and
//! those answered from the cache give theirs back: the misses never
//! outrun the rate, and cached RUCs go as fast as the proxy answers them.

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket of `rate` tokens per second, holding one second's worth
/// at most; without a rate, no bound.
pub(crate) struct Pace {
    rate: Option<f64>,
    tokens: f64,
    refilled: Instant,
}

impl Pace {
    pub(crate) fn new(rate: Option<f64>) -> Pace {
        Pace {
            rate,
            tokens: rate.map_or(0.0, |rate| rate.max(1.0)),
            refilled: Instant::now(),
        }
    }

    /// How many of `want` RUCs may go now (at least one, after waiting for
    /// its token).
    pub(crate) async fn take(&mut self, want: usize) -> usize {
        let Some(rate) = self.rate else {
            return want;
        };
        loop {
            self.refill(rate);
            if self.tokens >= 1.0 {
                let taken = want.min(self.tokens as usize);
                self.tokens -= taken as f64;
                return taken;
            }
            let wait = (1.0 - self.tokens) / rate;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }

    /// Gives back the tokens of RUCs answered from the cache.
    pub(crate) fn refund(&mut self, cached: usize) {
        if let Some(rate) = self.rate {
            self.tokens = (self.tokens + cached as f64).min(rate.max(1.0));
        }
    }

    fn refill(&mut self, rate: f64) {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * rate;
        self.tokens = (self.tokens + earned).min(rate.max(1.0));
        self.refilled = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn new_rucs_never_outrun_the_rate() {
        let mut pace = Pace::new(Some(10.0));
        let started = Instant::now();
        let mut sent = 0;
        while sent < 100 {
            sent += pace.take(25).await;
        }
        // 10 at once, then 10 a second: 100 take 9 s of (paused) time.
        assert!(started.elapsed() >= Duration::from_secs(9), "{:?}", started.elapsed());
        assert_eq!(pace.take(5).await, 1, "no token left but the one waited for");
        pace.refund(5);
        assert_eq!(pace.take(5).await, 5, "cached RUCs give their tokens back");
        assert_eq!(Pace::new(None).take(7).await, 7);
    }
}
