//! What a read of the cache and the end of a lookup mean, decided here and
//! nowhere else, without I/O, so that every combination is a unit test:
//! which answer the client gets, what the followers get, what is stored,
//! what the breaker is told, and when a stale record is served instead.

use std::time::Duration;

use ruc_contract::Ruc;

use crate::cache::admission::{self, Admitted};
use crate::cache::cached::Cached;
use crate::cache::coalesce::{Answer, Followed};
use crate::cache::store::Lookup;
use crate::responses::{self, OwnError, Reply, Stale};
use crate::upstream::Refusal;

/// What a request does after reading the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Read {
    /// Answer from the cache: a record, or a remembered "no such RUC"
    /// (`not_found`).
    Hit { reply: Reply, not_found: bool },
    /// Answer with the stale record at once, and refresh it in the
    /// background (within `STALE_WHILE_REVALIDATE_SECONDS`).
    StaleAndRefresh(Reply),
    /// Look it up; `stale` is what to serve if the lookup fails.
    LookUp {
        stale: Option<Cached>,
        store_unavailable: bool,
    },
}

/// What the cache held decides what comes next.
pub(crate) fn after_read(found: Lookup, stale_while_revalidate: Duration) -> Read {
    match found {
        Lookup::Hit(cached) => Read::Hit {
            reply: responses::hit(200, &cached),
            not_found: false,
        },
        Lookup::NotFound(cached) => Read::Hit {
            reply: responses::hit(404, &cached),
            not_found: true,
        },
        Lookup::Stale(cached) if cached.ttl_ms.unsigned_abs() as u128 <= stale_while_revalidate.as_millis() => {
            Read::StaleAndRefresh(responses::stale(&cached, Stale::WhileRevalidate))
        }
        Lookup::Stale(cached) => Read::LookUp {
            stale: Some(cached),
            store_unavailable: false,
        },
        Lookup::Miss => Read::LookUp {
            stale: None,
            store_unavailable: false,
        },
        Lookup::Unavailable => Read::LookUp {
            stale: None,
            store_unavailable: true,
        },
    }
}

/// The one rule for serving a stale record: there is one, and the scraper
/// answered with a 5xx or not at all (`status` is `None`: no answer, no
/// answer in time, or not asked).
pub(crate) fn stale_instead(stale: Option<&Cached>, status: Option<u16>) -> bool {
    stale.is_some() && status.is_none_or(|status| status >= 500)
}

/// What the scraper did for a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fetched {
    /// Its whole answer.
    Answered(Answer),
    /// An answer with this status, larger than what is kept: passed on to
    /// this client as it arrived, never shared or stored.
    TooLarge(u16),
    /// A 5xx whose body was not read, since a stale record is served
    /// instead.
    FailedWith(u16),
    /// No complete answer: refused or reset connection, or no answer within
    /// `UPSTREAM_TIMEOUT_SECS` (`timed_out`).
    NoAnswer { timed_out: bool },
    /// The gate did not let it go: the scraper was not asked.
    Refused(Refusal),
}

/// How a lookup ends: the steps the lifecycle takes, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Told to the breaker through the pass: `true` unless a 5xx or no
    /// answer; `None` when the scraper was not asked.
    pub(crate) breaker: Option<bool>,
    /// Counted in `ruc_proxy_upstream_errors_total`.
    pub(crate) upstream_error: bool,
    /// What the followers' answer is stored as, if at all.
    pub(crate) store: Option<Admitted>,
    /// What the lookups that waited for this one receive.
    pub(crate) followers: Answer,
    /// What the client of this lookup receives.
    pub(crate) client: Reply,
    /// The `cache` label of that answer: `miss`, `stale` or `none`.
    pub(crate) cache: &'static str,
}

/// Decides how the lookup of `ruc` ends after `fetched`, with `stale` the
/// record to serve if it failed.
pub(crate) fn decide(ruc: &Ruc, fetched: Fetched, stale: Option<&Cached>, max_body_bytes: usize) -> Decision {
    let ruc_text = ruc.as_str();
    // What the scraper told the breaker, whether it counts as an error, what
    // the followers get, the status the scraper answered (none: it did not),
    // and the proxy's own error when it did not.
    let (breaker, upstream_error, followers, answered, own) = match fetched {
        Fetched::Answered(answer) => {
            let status = answer.status;
            (status < 500, false, answer, Some(status), None)
        }
        Fetched::TooLarge(status) => {
            let body = responses::error_body("La respuesta del scraper es demasiado grande.", ruc_text);
            (status < 500, false, Answer::json(502, body), Some(status), None)
        }
        Fetched::FailedWith(status) => {
            let body = responses::error_body("El servicio de consulta (scraper) falló.", ruc_text);
            (false, true, Answer::json(status, body), Some(status), None)
        }
        Fetched::NoAnswer { timed_out } => {
            let (status, detail, why) = responses::no_answer(timed_out);
            let answer = Answer::json(status, responses::error_body(detail, ruc_text));
            (false, true, answer, None, Some(why))
        }
        Fetched::Refused(refusal) => {
            let reply = responses::refused(refusal, ruc_text);
            let (client, cache) = stale_or(stale, None, reply, "none");
            return Decision {
                breaker: None,
                upstream_error: false,
                store: None,
                followers: responses::refused_answer(refusal, ruc_text),
                client,
                cache,
            };
        }
    };
    let reply = match own {
        Some(why) => responses::own_error(followers.status, followers.body.clone(), why),
        None => responses::shared(&followers, false),
    };
    let (client, cache) = stale_or(stale, answered, reply, "miss");
    let store = admission::check(ruc, followers.status, &followers.body, max_body_bytes).ok();
    Decision {
        breaker: Some(breaker),
        upstream_error,
        store,
        followers,
        client,
        cache,
    }
}

/// The stale record when [`stale_instead`] says so, else `reply`.
fn stale_or(stale: Option<&Cached>, status: Option<u16>, reply: Reply, cache: &'static str) -> (Reply, &'static str) {
    match stale {
        Some(cached) if stale_instead(stale, status) => (responses::stale(cached, Stale::IfError), "stale"),
        _ => (reply, cache),
    }
}

/// What a follower answers, with its `cache` label; `None` when the leader
/// vanished and the follower must look up again.
pub(crate) fn for_follower(followed: Followed, stale: Option<&Cached>, ruc: &Ruc) -> Option<(Reply, &'static str)> {
    match followed {
        Followed::Answer(answer) => Some(stale_or(
            stale,
            Some(answer.status),
            responses::shared(&answer, true),
            "coalesced",
        )),
        Followed::TimedOut => {
            let detail = "La consulta en curso para este RUC no terminó a tiempo.";
            let reply = responses::own_error(
                504,
                responses::error_body(detail, ruc.as_str()),
                OwnError::LeaderTimeout,
            );
            Some(stale_or(stale, None, reply, "none"))
        }
        Followed::Abandoned => None,
    }
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

    fn ruc() -> Ruc {
        Ruc::parse(RUC).unwrap()
    }

    fn record(ruc: &str) -> Bytes {
        Bytes::from(format!(
            r#"{{"ruc":"{ruc}","razonSocial":"SUNAT","tipo":null,"tipoDocumento":null,"nombreComercial":null,
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

    /// What the cache held.
    #[derive(Debug, Clone, Copy)]
    enum Held {
        Nothing,
        Fresh,
        StaleWithinSwr,
        StaleBeyond,
    }

    impl Held {
        fn lookup(self) -> Lookup {
            match self {
                Held::Nothing => Lookup::Miss,
                Held::Fresh => Lookup::Hit(cached(60_000)),
                Held::StaleWithinSwr => Lookup::Stale(cached(-60_000)),
                Held::StaleBeyond => Lookup::Stale(cached(-7_200_000)),
            }
        }
    }

    fn scraper(status: u16, body: Bytes) -> Fetched {
        Fetched::Answered(Answer::json(status, body))
    }

    /// One row: what the client sees (status, X-Cache, start of
    /// Cache-Status), what is stored, and the followers' status. A fresh
    /// or stale-within-SWR record is answered before the lookup, which then
    /// runs in the background (as a refresh), with no stale to fall back on.
    fn row(held: Held, fetched: Fetched) -> (u16, String, String, Option<Admitted>, u16) {
        let (client, decision) = match after_read(held.lookup(), SWR) {
            Read::Hit { reply, .. } | Read::StaleAndRefresh(reply) => (reply, decide(&ruc(), fetched, None, MAX_BODY)),
            Read::LookUp { stale, .. } => {
                let decision = decide(&ruc(), fetched, stale.as_ref(), MAX_BODY);
                (decision.client.clone(), decision)
            }
        };
        let cache_status = client.header("Cache-Status").unwrap();
        let cache_status = cache_status.split("; ttl=").next().unwrap().to_string();
        (
            client.status,
            client.header("X-Cache").unwrap().to_string(),
            cache_status,
            decision.store,
            decision.followers.status,
        )
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
            ("no answer", Fetched::NoAnswer { timed_out: false }),
            ("refused", Fetched::Refused(Refusal::QueueFull)),
        ];
        let miss = |status: u16| (status, "MISS", format!("ruc-proxy; fwd=miss; fwd-status={status}"));
        let stale = (200, "STALE", "ruc-proxy; fwd=stale".to_string());
        let hit = (200, "HIT", "ruc-proxy; hit".to_string());
        let swr = (200, "STALE", "ruc-proxy; hit".to_string());
        let unreachable = (
            502,
            "MISS",
            "ruc-proxy; fwd=miss; detail=scraper-unreachable".to_string(),
        );
        let refused = (503, "MISS", "ruc-proxy; detail=upstream-queue-full".to_string());
        let stored = [Some(Admitted::Record), None, Some(Admitted::NotFound), None, None, None];
        let followers = [200, 200, 404, 502, 502, 503];
        let clients = |held: Held| -> [(u16, &str, String); 6] {
            match held {
                Held::Nothing => [
                    miss(200),
                    miss(200),
                    miss(404),
                    miss(502),
                    unreachable.clone(),
                    refused.clone(),
                ],
                Held::Fresh => std::array::from_fn(|_| hit.clone()),
                Held::StaleWithinSwr => std::array::from_fn(|_| swr.clone()),
                Held::StaleBeyond => [
                    miss(200),
                    miss(200),
                    miss(404),
                    stale.clone(),
                    stale.clone(),
                    stale.clone(),
                ],
            }
        };
        for held in [Held::Nothing, Held::Fresh, Held::StaleWithinSwr, Held::StaleBeyond] {
            for (i, (name, fetched)) in outcomes.iter().enumerate() {
                let (status, x_cache, cache_status) = clients(held)[i].clone();
                let expected = (status, x_cache.to_string(), cache_status, stored[i], followers[i]);
                assert_eq!(row(held, fetched.clone()), expected, "{held:?}, scraper {name}");
            }
        }
    }

    #[test]
    fn the_breaker_hears_of_every_answer_and_errors_are_counted() {
        let decide = |fetched| decide(&ruc(), fetched, None, MAX_BODY);
        assert_eq!(decide(scraper(404, Bytes::new())).breaker, Some(true));
        assert_eq!(decide(scraper(503, Bytes::new())).breaker, Some(false));
        let no_answer = decide(Fetched::NoAnswer { timed_out: true });
        assert_eq!((no_answer.breaker, no_answer.upstream_error), (Some(false), true));
        assert_eq!(no_answer.client.status, 504);
        let refused = decide(Fetched::Refused(Refusal::BreakerOpen(Duration::from_secs(9))));
        assert_eq!((refused.breaker, refused.cache), (None, "none"));
        assert_eq!(
            refused.followers.headers.last().unwrap(),
            &("Retry-After", "9".to_string())
        );
        let too_large = decide(Fetched::TooLarge(200));
        assert_eq!(
            (too_large.breaker, too_large.store, too_large.followers.status),
            (Some(true), None, 502)
        );
        let failed = decide(Fetched::FailedWith(500));
        assert_eq!((failed.breaker, failed.upstream_error), (Some(false), true));
    }

    #[test]
    fn followers_get_the_leaders_answer_or_their_stale_record() {
        let stale = cached(-7_200_000);
        let answer = |status| Followed::Answer(Arc::new(Answer::json(status, record(RUC))));
        let (reply, cache) = for_follower(answer(200), Some(&stale), &ruc()).unwrap();
        assert_eq!(
            (reply.status, reply.header("X-Cache"), cache),
            (200, Some("MISS"), "coalesced")
        );
        assert!(reply.header("Cache-Status").unwrap().ends_with("; collapsed"));
        let (reply, cache) = for_follower(answer(502), Some(&stale), &ruc()).unwrap();
        assert_eq!((reply.header("X-Cache"), cache), (Some("STALE"), "stale"));
        let (reply, cache) = for_follower(answer(502), None, &ruc()).unwrap();
        assert_eq!((reply.status, cache), (502, "coalesced"));
        let (reply, _) = for_follower(Followed::TimedOut, None, &ruc()).unwrap();
        assert_eq!(
            (reply.status, reply.header("Cache-Status")),
            (504, Some("ruc-proxy; fwd=miss; collapsed; detail=leader-timeout"))
        );
        assert_eq!(for_follower(Followed::Abandoned, Some(&stale), &ruc()), None);
    }

    #[test]
    fn a_refresh_is_stored_failed_or_not_stored() {
        let decision = |fetched| decide(&ruc(), fetched, None, MAX_BODY);
        assert_eq!(refresh_outcome(&decision(scraper(200, record(RUC))), true), "stored");
        assert_eq!(
            refresh_outcome(&decision(Fetched::NoAnswer { timed_out: false }), false),
            "failed"
        );
        assert_eq!(
            refresh_outcome(&decision(Fetched::Refused(Refusal::QueueFull)), false),
            "failed"
        );
        assert_eq!(
            refresh_outcome(&decision(scraper(200, record("20100070970"))), false),
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
