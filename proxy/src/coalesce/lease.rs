//! The lease of the replica that leads the lookup of a RUC:
//! `sunat:lease:{sunat:ruc:<ruc>}` holds the leader's owner token (and,
//! after a space, the `traceparent` of its request when its trace is
//! exported, which the followers' spans link to), expires
//! `FLEET_LEASE_SECS` after its last renewal, and is released only by its
//! owner. When the lookup ends, the leader leaves its outcome (what its
//! followers get, errors included) in `sunat:outcome:{…}` for a little
//! while and announces it on `sunat:landed:{…}`: the replicas that waited
//! get that same answer, so a failed lookup costs SUNAT one visit too.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::subject::Subject;
use redis::Script;
use startup::TraceParent;

use crate::fleet::keys::{landed_channel, lease_key, outcome_key};
use crate::fleet::{owner_token, Fleet, Renewal};
use crate::scrapers::answer::Answer;

/// How long an outcome waits for the replicas that followed the lookup:
/// they are woken at once, or poll well within this.
const OUTCOME_KEPT: Duration = Duration::from_secs(10);

/// Takes the lease unless someone holds it; a new lease clears the previous
/// lookup's outcome, so that nobody mistakes it for this one's.
/// KEYS: lease, outcome. ARGV: token, lease ms. Returns 1 when taken, else
/// the holder's token (nil if the lease lapsed meanwhile).
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
            redis.call('DEL', KEYS[2])
            return 1
        end
        return redis.call('GET', KEYS[1])",
    )
});

/// Extends the lease if it is still the caller's. KEYS: lease. ARGV: token,
/// lease ms.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0",
    )
});

/// Leaves the outcome (when there is one) and releases the lease if it is
/// still the caller's. KEYS: lease, outcome. ARGV: token, outcome (empty:
/// none), outcome ms.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if ARGV[2] ~= '' then
            redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
        end
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            redis.call('DEL', KEYS[1])
        end
        return 1",
    )
});

/// Whether a RUC's lookup is led by this replica.
pub(crate) enum Taken {
    /// By this replica: the lease is ours until released or dropped.
    Here(Lease),
    /// By another replica, which holds the lease; `leader` is the trace of
    /// its request, if it is exported.
    Elsewhere { leader: Option<TraceParent> },
}

/// What a replica waiting for another's lookup finds.
pub(crate) enum Found {
    /// The lookup's outcome.
    Landed(Answer),
    /// Neither a lease nor an outcome: the leader vanished.
    Vanished,
    /// Redis could not be reached.
    Unreachable,
}

/// A lease held by this replica, renewed until it is released or dropped;
/// dropped unreleased (the lookup was abandoned), it is given up at once
/// so that a waiting replica can lead.
pub(crate) struct Lease {
    subject: Subject,
    token: String,
    fleet: Arc<Fleet>,
    _renewal: Renewal,
    released: bool,
}

impl Lease {
    /// Takes the lease of `subject`'s lookup for the request traced as
    /// `trace`; `None` when Redis could not be reached.
    pub(crate) async fn take(fleet: &Arc<Fleet>, subject: &Subject, trace: Option<TraceParent>) -> Option<Taken> {
        let token = match trace {
            Some(trace) => format!("{} {}", owner_token(), trace.as_str()),
            None => owner_token(),
        };
        let (lease, outcome, lease_ms) = (lease_key(subject), outcome_key(subject), fleet.lease_ms());
        let taken = fleet
            .redis
            .call(|mut connection| async move {
                TAKE.key(&lease)
                    .key(&outcome)
                    .arg(&token)
                    .arg(lease_ms)
                    .invoke_async::<redis::Value>(&mut connection)
                    .await
                    .map(|taken| (taken, token))
            })
            .await?;
        let token = match taken {
            (redis::Value::Int(1), token) => token,
            (holder, _) => {
                return Some(Taken::Elsewhere {
                    leader: leader_of(&holder),
                })
            }
        };
        let renewal = {
            let (fleet, subject, token) = (fleet.clone(), *subject, token.clone());
            Renewal::start(fleet.lease, move || {
                let (fleet, token) = (fleet.clone(), token.clone());
                async move { renew(&fleet, &subject, &token).await }
            })
        };
        Some(Taken::Here(Lease {
            subject: *subject,
            token,
            fleet: fleet.clone(),
            _renewal: renewal,
            released: false,
        }))
    }

    /// Ends the lookup: leaves its outcome for the waiting replicas and
    /// gives the lease up.
    pub(crate) async fn land(mut self, answer: &Answer) {
        self.released = true;
        release(&self.fleet, &self.subject, &self.token, Some(answer)).await;
    }
}

/// The trace in a lease holder's token, if it has one.
fn leader_of(holder: &redis::Value) -> Option<TraceParent> {
    let redis::Value::BulkString(token) = holder else {
        return None;
    };
    let (_owner, trace) = std::str::from_utf8(token).ok()?.split_once(' ')?;
    TraceParent::parse(trace.as_bytes())
}

/// Extends `token`'s lease of `subject`, if it still holds it.
async fn renew(fleet: &Fleet, subject: &Subject, token: &str) -> bool {
    let (lease, lease_ms) = (lease_key(subject), fleet.lease_ms());
    fleet
        .redis
        .call(|mut connection| async move {
            RENEW
                .key(&lease)
                .arg(token)
                .arg(lease_ms)
                .invoke_async::<bool>(&mut connection)
                .await
        })
        .await
        .unwrap_or(false)
}

/// Leaves `outcome` (if any), releases the lease if it is `token`'s and
/// wakes the waiting replicas.
async fn release(fleet: &Fleet, subject: &Subject, token: &str, outcome: Option<&Answer>) {
    let (lease, outcome_key, channel) = (lease_key(subject), outcome_key(subject), landed_channel(subject));
    let outcome = outcome.map(Answer::encode).unwrap_or_default();
    let kept_ms = OUTCOME_KEPT.as_millis() as u64;
    let publish = fleet.redis.publish_command();
    fleet
        .redis
        .call(|mut connection| async move {
            RELEASE
                .key(&lease)
                .key(&outcome_key)
                .arg(token)
                .arg(outcome.as_ref())
                .arg(kept_ms)
                .invoke_async::<()>(&mut connection)
                .await?;
            redis::cmd(publish)
                .arg(&channel)
                .arg("landed")
                .query_async::<()>(&mut connection)
                .await
        })
        .await;
}

/// The outcome of `subject`'s lookup, if it landed, or whether its leader
/// vanished; `None` while it runs.
pub(crate) async fn outcome(fleet: &Fleet, subject: &Subject) -> Option<Found> {
    let (lease, outcome) = (lease_key(subject), outcome_key(subject));
    let read = fleet
        .redis
        .call(|mut connection| async move {
            redis::pipe()
                .get(&outcome)
                .exists(&lease)
                .query_async::<(Option<Vec<u8>>, bool)>(&mut connection)
                .await
        })
        .await;
    match read {
        None => Some(Found::Unreachable),
        Some((Some(wire), _)) => Some(Answer::decode(&wire).map_or(Found::Vanished, Found::Landed)),
        Some((None, false)) => Some(Found::Vanished),
        Some((None, true)) => None,
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (fleet, subject, token) = (self.fleet.clone(), self.subject, std::mem::take(&mut self.token));
        tokio::spawn(async move { release(&fleet, &subject, &token, None).await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    #[test]
    fn a_holders_token_names_its_trace_when_it_has_one() {
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let traced = Value::BulkString(format!("host:1:2:3 {trace}").into_bytes());
        assert_eq!(
            leader_of(&traced).map(|leader| leader.as_str().to_string()),
            Some(trace.to_string())
        );
        for untraced in [
            Value::BulkString(b"host:1:2:3".to_vec()),
            Value::BulkString(b"host:1:2:3 not-a-traceparent".to_vec()),
            Value::Nil,
        ] {
            assert_eq!(leader_of(&untraced), None, "{untraced:?}");
        }
    }
}
