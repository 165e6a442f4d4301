//! What a read of the cache and the end of a lookup mean, decided here and
//! nowhere else, without I/O, so that every combination is a unit test:
//! which answer the client gets, what the followers get, what is stored,
//! what the breaker hears, whether the scraper counts as failed, and when
//! a stale record is served instead.

use std::time::Duration;

use crate::subject::Subject;

use crate::cache::admission::{self, Admitted, NotStored};
use crate::cache::cached::Cached;
use crate::cache::store::Held;
use crate::coalesce::local::Followed;
use crate::gate::Refusal;
use crate::metrics::CacheResult;
use crate::responses::{self, Came, OwnError, Reply, Stale};
use crate::scrapers::answer::Answer;
use crate::scrapers::client::Fetched;

/// What a request for a record gets, and its `cache` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answered {
    pub(crate) reply: Reply,
    pub(crate) cache: CacheResult,
}

/// What a request does after reading the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AfterRead {
    /// Answer from the cache: a record, or a remembered "no such RUC"
    /// (`not_found`).
    Hit { reply: Reply, not_found: bool },
    /// Answer at once with a stale record: one within
    /// `STALE_WHILE_REVALIDATE_SECONDS`, then refreshed in the background
    /// (`refresh`); or, Redis unreadable, what this replica holds of it.
    Stale { reply: Reply, refresh: bool },
    /// Ask a scraper; `stale` is what to serve if that fails, and
    /// `store_down` says Redis could not be read.
    Fetch { stale: Option<Cached>, store_down: bool },
}

/// What the cache held decides what comes next.
pub(crate) fn after_read(held: Held, stale_while_revalidate: Duration) -> AfterRead {
    match held {
        Held::Fresh(cached) => AfterRead::Hit {
            reply: responses::hit(200, &cached),
            not_found: false,
        },
        Held::NotFound(cached) => AfterRead::Hit {
            reply: responses::hit(404, &cached),
            not_found: true,
        },
        Held::Stale(cached) if cached.ttl_ms.unsigned_abs() as u128 <= stale_while_revalidate.as_millis() => {
            AfterRead::Stale {
                reply: responses::stale(&cached, Stale::WhileRevalidate),
                refresh: true,
            }
        }
        Held::Stale(cached) => AfterRead::Fetch {
            stale: Some(cached),
            store_down: false,
        },
        Held::Absent => AfterRead::Fetch {
            stale: None,
            store_down: false,
        },
        Held::Kept { cached, not_found } => AfterRead::Stale {
            reply: responses::kept(if not_found { 404 } else { 200 }, &cached),
            refresh: false,
        },
        Held::Unavailable => AfterRead::Fetch {
            stale: None,
            store_down: true,
        },
    }
}

/// The one rule for serving a stale record: there is one, and the scraper
/// gave no answer to pass on (`status` is `None`: no answer, none in time,
/// one too large, or not asked) or a 5xx.
pub(crate) fn stale_instead(stale: Option<&Cached>, status: Option<u16>) -> bool {
    stale.is_some() && status.is_none_or(|status| status >= 500)
}

/// How a lookup this request led ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The gate did not let it go: no scraper was asked.
    NotSent(Refusal),
    /// What the scraper asked did.
    Fetched(Fetched),
}

/// How a lookup ends: every consequence, for the lifecycle to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Told to the breaker through the pass: `true` when the scraper
    /// answered (anything but a 5xx, an oversized answer included); `None`
    /// when no scraper was asked.
    pub(crate) breaker: Option<bool>,
    /// Counted against the scraper asked (its failures metric): a 5xx, a
    /// broken connection, no answer in time. One that refused the
    /// connection was counted when it did.
    pub(crate) scraper_failed: bool,
    /// Counted in `ruc_proxy_upstream_errors_total`: the scraper gave no
    /// answer.
    pub(crate) upstream_error: bool,
    /// What the followers' answer is stored as, or why it is not.
    pub(crate) store: Result<Admitted, NotStored>,
    /// What the lookups that waited for this one receive.
    pub(crate) followers: Answer,
    /// What the client of this lookup receives, and its `cache` label.
    pub(crate) client: Answered,
}

/// Decides how the lookup of `subject` ends after `ended`, with `stale` the
/// record to serve if it failed and `detail` why Redis was not used, if it
/// was not.
pub(crate) fn decide(
    subject: &Subject,
    ended: Ended,
    stale: Option<&Cached>,
    detail: Option<&'static str>,
    max_body_bytes: usize,
) -> Decision {
    let own = |why: OwnError| responses::own_answer(why, subject.ruc.as_str());
    // What everyone gets, the status the scraper answered with (for the
    // stale rule), what the breaker hears, whether the scraper failed, and
    // whether it gave no answer at all.
    let (answer, answered, breaker, scraper_failed, upstream_error) = match ended {
        Ended::NotSent(refusal) => (
            responses::refused_answer(refusal, subject.ruc.as_str()),
            None,
            None,
            false,
            false,
        ),
        Ended::Fetched(Fetched::Answered(answer)) => {
            let status = answer.status;
            (answer, Some(status), Some(status < 500), status >= 500, false)
        }
        Ended::Fetched(Fetched::TooLarge(_)) => (own(OwnError::AnswerTooLarge), None, Some(true), false, false),
        Ended::Fetched(Fetched::Refused) => (own(OwnError::ScraperUnreachable), None, Some(false), false, true),
        Ended::Fetched(Fetched::Reset) => (own(OwnError::ScraperUnreachable), None, Some(false), true, true),
        Ended::Fetched(Fetched::TimedOut) => (own(OwnError::ScraperTimeout), None, Some(false), true, true),
    };
    // A lookup no scraper was asked for is no miss.
    let cache = if breaker.is_some() {
        CacheResult::Miss
    } else {
        CacheResult::None
    };
    let reply = responses::shared(&answer, Came::Led { detail });
    Decision {
        breaker,
        scraper_failed,
        upstream_error,
        store: admission::check(subject, answer.status, &answer.body, max_body_bytes),
        client: stale_or(stale, answered, Answered { reply, cache }),
        followers: answer,
    }
}

/// The stale record when [`stale_instead`] says so, else `answered`.
fn stale_or(stale: Option<&Cached>, status: Option<u16>, answered: Answered) -> Answered {
    match stale {
        Some(cached) if stale_instead(stale, status) => Answered {
            reply: responses::stale(cached, Stale::IfError),
            cache: CacheResult::Stale,
        },
        _ => answered,
    }
}

/// What a follower answers; `None` when the leader vanished and the
/// follower must look up again.
pub(crate) fn for_follower(followed: Followed, stale: Option<&Cached>, subject: &Subject) -> Option<Answered> {
    let (answered, status) = match followed {
        Followed::Answer(answer) => {
            let reply = responses::shared(&answer, Came::Followed);
            (
                Answered {
                    reply,
                    cache: CacheResult::Coalesced,
                },
                Some(answer.status),
            )
        }
        Followed::TimedOut => {
            let reply = responses::own_error(OwnError::LeaderTimeout, subject.ruc.as_str(), None);
            (
                Answered {
                    reply,
                    cache: CacheResult::None,
                },
                None,
            )
        }
        Followed::Abandoned => return None,
    };
    Some(stale_or(stale, status, answered))
}

/// The `outcome` label of a background refresh.
pub(crate) fn refresh_outcome(decision: &Decision, stored: bool) -> &'static str {
    match (stored, decision.followers.status) {
        (true, _) => "stored",
        (false, 500..) => "failed",
        (false, _) => "not_stored",
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;

    const RUC: &str = "20131312955";
    const SWR: Duration = Duration::from_secs(3600);
    const MAX_BODY: usize = 65_536;

    fn subject() -> Subject {
        Subject::record(ruc_contract::Ruc::parse(RUC).unwrap())
    }

    fn record(subject: &str) -> Bytes {
        Bytes::from(format!(
            r#"{{"ruc":"{subject}","razonSocial":"SUNAT","tipo":null,"tipoDocumento":null,"nombreComercial":null,
            "fechaInscripcion":null,"fechaInicioActividades":null,"estado":"ACTIVO","fechaBaja":null,
            "condicion":"HABIDO","direccion":null,"departamento":null,"provincia":null,"distrito":null,
            "sistEmision":null,"actExterior":null,"sistContabilidad":null,"actEconomicas":[],"cpPago":[],
            "sistElectronica":[],"fechaEmisorFe":null,"cpeElectronico":[],"fechaPle":null,"padrones":[],
            "consultadoEn":"2026-11-26T13:00:00Z"}}"#
        ))
    }

    fn cached(ttl_ms: i64) -> Cached {
        Cached {
            body: record(RUC),
            age: Duration::from_secs(60),
            ttl_ms,
        }
    }

    /// What the cache held, as a test names it.
    #[derive(Debug, Clone, Copy)]
    enum State {
        Nothing,
        Fresh,
        StaleWithinSwr,
        StaleBeyond,
    }

    impl State {
        fn held(self) -> Held {
            match self {
                State::Nothing => Held::Absent,
                State::Fresh => Held::Fresh(cached(60_000)),
                State::StaleWithinSwr => Held::Stale(cached(-60_000)),
                State::StaleBeyond => Held::Stale(cached(-7_200_000)),
            }
        }
    }

    fn answer(status: u16, body: Bytes) -> Answer {
        Answer {
            status,
            headers: vec![("Content-Type", "application/json".to_string())],
            body,
        }
    }

    fn scraper(status: u16, body: Bytes) -> Ended {
        Ended::Fetched(Fetched::Answered(answer(status, body)))
    }

    fn decide(ended: Ended) -> Decision {
        super::decide(&subject(), ended, None, None, MAX_BODY)
    }

    /// One row: what the client sees (status, X-Cache, start of
    /// Cache-Status), what is stored, and the followers' status. A fresh
    /// or stale-within-SWR record is answered before the lookup, which then
    /// runs in the background (as a refresh), with no stale to fall back on.
    fn row(held: State, ended: Ended) -> (u16, String, String, Option<Admitted>, u16) {
        let (client, decision) = match after_read(held.held(), SWR) {
            AfterRead::Hit { reply, .. } | AfterRead::Stale { reply, .. } => (reply, decide(ended)),
            AfterRead::Fetch { stale, .. } => {
                let decision = super::decide(&subject(), ended, stale.as_ref(), None, MAX_BODY);
                (decision.client.reply.clone(), decision)
            }
        };
        let cache_status = client.header("Cache-Status").unwrap();
        let cache_status = cache_status.split("; ttl=").next().unwrap().to_string();
        (
            client.status,
            client.header("X-Cache").unwrap().to_string(),
            cache_status,
            decision.store.ok(),
            decision.followers.status,
        )
    }

    #[test]
    fn what_the_replica_holds_is_served_as_stale_while_redis_cannot_be_read() {
        for (not_found, status) in [(false, 200), (true, 404)] {
            let held = Held::Kept {
                cached: cached(-5_000),
                not_found,
            };
            let AfterRead::Stale { reply, refresh: false } = after_read(held, SWR) else {
                panic!("served without a lookup")
            };
            assert_eq!(
                (reply.status, reply.header("X-Cache"), reply.header("Cache-Status")),
                (
                    status,
                    Some("STALE"),
                    Some("ruc-proxy; hit; ttl=-5; detail=redis-unavailable")
                )
            );
        }
    }

    #[test]
    fn every_cached_state_and_scraper_outcome() {
        let not_found = Bytes::from(format!(
            r#"{{"message":"Error al consultar RUC","detail":"no existe","ruc":"{RUC}"}}"#
        ));
        let outcomes = [
            ("200 record", scraper(200, record(RUC))),
            ("200 other RUC", scraper(200, record("20100070970"))),
            ("404", scraper(404, not_found)),
            ("5xx", scraper(502, Bytes::from_static(b"{}"))),
            ("refused", Ended::Fetched(Fetched::Refused)),
            ("reset", Ended::Fetched(Fetched::Reset)),
            ("timed out", Ended::Fetched(Fetched::TimedOut)),
            ("too large", Ended::Fetched(Fetched::TooLarge(200))),
            ("not sent", Ended::NotSent(Refusal::QueueFull)),
        ];
        let miss = |status: u16| (status, "MISS", format!("ruc-proxy; fwd=miss; fwd-status={status}"));
        let own = |status: u16, detail: &str| (status, "MISS", format!("ruc-proxy; fwd=miss; detail={detail}"));
        let stale = (200, "STALE", "ruc-proxy; fwd=stale".to_string());
        let hit = (200, "HIT", "ruc-proxy; hit".to_string());
        let swr = (200, "STALE", "ruc-proxy; hit".to_string());
        let refused = (503, "MISS", "ruc-proxy; detail=upstream-queue-full".to_string());
        let stored = [
            Some(Admitted::Record),
            None,
            Some(Admitted::NotFound),
            None,
            None,
            None,
            None,
            None,
            None,
        ];
        let followers = [200, 200, 404, 502, 502, 502, 504, 502, 503];
        let clients = |held: State| -> [(u16, &str, String); 9] {
            match held {
                State::Nothing => [
                    miss(200),
                    miss(200),
                    miss(404),
                    miss(502),
                    own(502, "scraper-unreachable"),
                    own(502, "scraper-unreachable"),
                    own(504, "scraper-timeout"),
                    own(502, "scraper-answer-too-large"),
                    refused.clone(),
                ],
                State::Fresh => std::array::from_fn(|_| hit.clone()),
                State::StaleWithinSwr => std::array::from_fn(|_| swr.clone()),
                State::StaleBeyond => [
                    miss(200),
                    miss(200),
                    miss(404),
                    stale.clone(),
                    stale.clone(),
                    stale.clone(),
                    stale.clone(),
                    stale.clone(),
                    stale.clone(),
                ],
            }
        };
        for held in [State::Nothing, State::Fresh, State::StaleWithinSwr, State::StaleBeyond] {
            for (i, (name, ended)) in outcomes.iter().enumerate() {
                let (status, x_cache, cache_status) = clients(held)[i].clone();
                let expected = (status, x_cache.to_string(), cache_status, stored[i], followers[i]);
                assert_eq!(row(held, ended.clone()), expected, "{held:?}, scraper {name}");
            }
        }
    }

    /// Each outcome ends the same way for the breaker, the scraper's health
    /// and the upstream error count, whichever request led it.
    #[test]
    fn the_breaker_and_the_scrapers_health_hear_of_every_outcome() {
        let heard = |ended| {
            let decision = decide(ended);
            (decision.breaker, decision.scraper_failed, decision.upstream_error)
        };
        assert_eq!(heard(scraper(404, Bytes::new())), (Some(true), false, false));
        assert_eq!(heard(scraper(503, Bytes::new())), (Some(false), true, false));
        assert_eq!(
            heard(Ended::Fetched(Fetched::TooLarge(200))),
            (Some(true), false, false)
        );
        assert_eq!(heard(Ended::Fetched(Fetched::Refused)), (Some(false), false, true));
        assert_eq!(heard(Ended::Fetched(Fetched::Reset)), (Some(false), true, true));
        assert_eq!(heard(Ended::Fetched(Fetched::TimedOut)), (Some(false), true, true));
        let breaker_open = Ended::NotSent(Refusal::BreakerOpen(Duration::from_secs(9)));
        assert_eq!(heard(breaker_open.clone()), (None, false, false));
        let refused = decide(breaker_open);
        assert_eq!(refused.client.cache, CacheResult::None);
        assert_eq!(
            refused.followers.headers.last().unwrap(),
            &("Retry-After", "9".to_string())
        );
    }

    #[test]
    fn an_answer_above_the_cache_limit_is_passed_on_and_not_stored() {
        let decision = super::decide(&subject(), scraper(200, record(RUC)), None, None, 100);
        assert_eq!(decision.store, Err(NotStored::TooLarge));
        assert_eq!((decision.client.reply.status, decision.followers.status), (200, 200));
        assert_eq!(decision.client.reply.body, record(RUC));
        assert_eq!(decision.breaker, Some(true));
    }

    #[test]
    fn a_leader_says_why_redis_was_not_used() {
        let decision = super::decide(
            &subject(),
            scraper(200, record(RUC)),
            None,
            Some("redis-unavailable"),
            MAX_BODY,
        );
        assert_eq!(
            decision.client.reply.header("Cache-Status"),
            Some("ruc-proxy; fwd=miss; fwd-status=200; detail=redis-unavailable")
        );
    }

    #[test]
    fn followers_get_the_leaders_answer_or_their_stale_record() {
        let stale = cached(-7_200_000);
        let answer = |status| Followed::Answer(Arc::new(answer(status, record(RUC))));
        let followed = for_follower(answer(200), Some(&stale), &subject()).unwrap();
        assert_eq!(
            (followed.reply.status, followed.reply.header("X-Cache"), followed.cache),
            (200, Some("MISS"), CacheResult::Coalesced)
        );
        assert!(followed.reply.header("Cache-Status").unwrap().ends_with("; collapsed"));
        let followed = for_follower(answer(502), Some(&stale), &subject()).unwrap();
        assert_eq!(
            (followed.reply.header("X-Cache"), followed.cache),
            (Some("STALE"), CacheResult::Stale)
        );
        let followed = for_follower(answer(502), None, &subject()).unwrap();
        assert_eq!((followed.reply.status, followed.cache), (502, CacheResult::Coalesced));
        let failed = Followed::Answer(Arc::new(responses::own_answer(OwnError::ScraperTimeout, RUC)));
        let followed = for_follower(failed, None, &subject()).unwrap();
        assert_eq!(
            (followed.reply.status, followed.reply.header("Cache-Status")),
            (504, Some("ruc-proxy; fwd=miss; detail=scraper-timeout; collapsed")),
            "a follower hears why the lookup failed, as its leader's client did"
        );
        let timed_out = for_follower(Followed::TimedOut, None, &subject()).unwrap();
        assert_eq!(
            (timed_out.reply.status, timed_out.reply.header("Cache-Status")),
            (504, Some("ruc-proxy; fwd=miss; collapsed; detail=leader-timeout"))
        );
        assert_eq!(for_follower(Followed::Abandoned, Some(&stale), &subject()), None);
    }

    #[test]
    fn a_refresh_is_stored_failed_or_not_stored() {
        assert_eq!(refresh_outcome(&decide(scraper(200, record(RUC))), true), "stored");
        assert_eq!(
            refresh_outcome(&decide(Ended::Fetched(Fetched::Reset)), false),
            "failed"
        );
        assert_eq!(
            refresh_outcome(&decide(Ended::NotSent(Refusal::QueueFull)), false),
            "failed"
        );
        assert_eq!(
            refresh_outcome(&decide(scraper(200, record("20100070970"))), false),
            "not_stored"
        );
    }

    #[test]
    fn stale_is_served_only_for_failures() {
        let stale = cached(-1000);
        assert!(stale_instead(Some(&stale), None));
        assert!(stale_instead(Some(&stale), Some(500)));
        assert!(!stale_instead(Some(&stale), Some(404)));
        assert!(!stale_instead(None, None));
    }
}
