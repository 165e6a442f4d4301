//! The fleet-wide circuit breaker: `BREAKER_FAILURES` failed lookups in a
//! row anywhere in the fleet open it for every replica for
//! `BREAKER_OPEN_SECS`; then exactly one replica sends a probe, holding a
//! lease on being the probe (so a prober that dies hands over). A success
//! anywhere closes it. The rules are those of the process's own breaker
//! ([`super::breaker`]), which stands in while Redis is unreachable.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;

use super::breaker::Verdict;
use crate::fleet::keys::BREAKER_KEYS;
use crate::fleet::{owner_token, Fleet};

/// How long the failure count is kept without a new failure.
const FAILURES_KEPT: Duration = Duration::from_secs(3600);
/// How long the breaker stays tripped without anybody asking: long enough
/// to outlive any open period.
const TRIPPED_KEPT: Duration = Duration::from_secs(86_400);

/// Open: refuse for its time left. Tripped: one probe (a lease), others
/// refused. Else pass. KEYS: the breaker's. ARGV: token, probe lease ms.
/// Returns {0 pass | 1 probe | 2 open | 3 another's probe is out, ms left}.
static VERDICT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local left = redis.call('PTTL', KEYS[2])
        if left > 0 then return {2, left} end
        if redis.call('EXISTS', KEYS[3]) == 0 then return {0, 0} end
        if redis.call('SET', KEYS[4], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, 0} end
        return {3, 1000}",
    )
});

/// Records an outcome. A success closes; a failure counts, and opens at the
/// threshold or when it was the probe's. KEYS: the breaker's. ARGV: ok
/// (0/1), token, threshold, open ms, failures kept ms, tripped kept ms.
/// Returns 1 when it opened.
static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if ARGV[1] == '1' then
            redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
            return 0
        end
        local failures = redis.call('INCR', KEYS[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        local probe = redis.call('GET', KEYS[4]) == ARGV[2]
        if failures >= tonumber(ARGV[3]) or probe then
            redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
            redis.call('SET', KEYS[3], '1', 'PX', ARGV[6])
            redis.call('DEL', KEYS[1])
            if probe then redis.call('DEL', KEYS[4]) end
            return 1
        end
        return 0",
    )
});

/// Gives up the probe, if it is still the caller's. KEYS: the breaker's.
/// ARGV: token.
static ABANDON: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
        return 1",
    )
});

/// The fleet's breaker.
pub(crate) struct FleetBreaker {
    fleet: Arc<Fleet>,
    failures_to_open: u32,
    open_for: Duration,
    /// How long a probe may take before another replica may probe.
    probe_lease: Duration,
}

/// What the fleet's breaker said: a verdict, with the probe's token.
pub(crate) struct Said {
    pub(crate) verdict: Verdict,
    pub(crate) probe: Option<String>,
}

impl FleetBreaker {
    pub(crate) fn new(fleet: Arc<Fleet>, failures_to_open: u32, open_for: Duration, probe_lease: Duration) -> Self {
        FleetBreaker {
            fleet,
            failures_to_open,
            open_for,
            probe_lease,
        }
    }

    /// May a lookup go; `None` when Redis could not be reached.
    pub(crate) async fn verdict(&self) -> Option<Said> {
        if self.failures_to_open == 0 {
            return Some(Said {
                verdict: Verdict::Pass,
                probe: None,
            });
        }
        let token = owner_token();
        let probe_ms = self.probe_lease.as_millis() as u64;
        let (code, left_ms) = {
            let token = &token;
            self.fleet
                .redis
                .call(|mut connection| async move {
                    breaker_keys(&VERDICT)
                        .arg(token)
                        .arg(probe_ms)
                        .invoke_async::<(u8, u64)>(&mut connection)
                        .await
                })
                .await?
        };
        let said = match code {
            0 => Said {
                verdict: Verdict::Pass,
                probe: None,
            },
            1 => Said {
                verdict: Verdict::Probe,
                probe: Some(token),
            },
            _ => Said {
                verdict: Verdict::Refuse(Duration::from_millis(left_ms)),
                probe: None,
            },
        };
        // As `ruc_proxy_breaker_state` says it: 0 closed, 1 open, 2 half-open.
        self.fleet.metrics.breaker_state.set(match code {
            0 => 0,
            2 => 1,
            _ => 2,
        });
        Some(said)
    }

    /// Records how a lookup went (`probe`: it was the probe); `None` when
    /// Redis could not be reached.
    pub(crate) async fn record(&self, ok: bool, probe: Option<&str>) -> Option<()> {
        if self.failures_to_open == 0 {
            return Some(());
        }
        let (threshold, open_ms) = (self.failures_to_open, self.open_for.as_millis() as u64);
        let opened = self
            .fleet
            .redis
            .call(|mut connection| async move {
                breaker_keys(&RECORD)
                    .arg(u8::from(ok))
                    .arg(probe.unwrap_or(""))
                    .arg(threshold)
                    .arg(open_ms)
                    .arg(FAILURES_KEPT.as_millis() as u64)
                    .arg(TRIPPED_KEPT.as_millis() as u64)
                    .invoke_async::<bool>(&mut connection)
                    .await
            })
            .await?;
        if opened {
            self.fleet.metrics.breaker_opened.inc();
            self.fleet.metrics.breaker_state.set(1);
        } else if ok {
            self.fleet.metrics.breaker_state.set(0);
        }
        Some(())
    }

    /// The probe never reached the scraper: let another lookup probe.
    pub(crate) async fn abandon_probe(&self, token: &str) {
        self.fleet
            .redis
            .call(|mut connection| async move {
                breaker_keys(&ABANDON)
                    .arg(token)
                    .invoke_async::<()>(&mut connection)
                    .await
            })
            .await;
    }
}

/// An invocation of `script` with the breaker's keys.
fn breaker_keys(script: &Script) -> redis::ScriptInvocation<'_> {
    let mut invocation = script.prepare_invoke();
    for key in BREAKER_KEYS {
        invocation.key(key);
    }
    invocation
}
