//! One item of a batch answer: `{"ruc", "status", "cache", "record"}` for
//! a record, `{"ruc", "status", "cache", "error"}` otherwise, with the
//! status, body and `X-Cache` value that the RUC's own `GET` would have.

use serde::de::IgnoredAny;

use crate::lookup::outcome::Answered;
use crate::metrics::CacheResult;
use crate::responses;

/// What became of an item, for `ruc_proxy_batch_items_total{outcome}`
/// (the labels of [`crate::metrics::BATCH_ITEM_OUTCOMES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemOutcome {
    Record,
    NotFound,
    Invalid,
    /// Any other error: the scraper's or SUNAT's, a refusal of the gate.
    Failed,
    /// Not answered by the batch's deadline.
    TimedOut,
}

impl ItemOutcome {
    pub(crate) fn label(self) -> &'static str {
        match self {
            ItemOutcome::Record => "record",
            ItemOutcome::NotFound => "not_found",
            ItemOutcome::Invalid => "invalid",
            ItemOutcome::Failed => "failed",
            ItemOutcome::TimedOut => "timed_out",
        }
    }

    fn of(status: u16) -> ItemOutcome {
        match status {
            200 => ItemOutcome::Record,
            404 => ItemOutcome::NotFound,
            400 => ItemOutcome::Invalid,
            _ => ItemOutcome::Failed,
        }
    }
}

/// The item of `ruc` (as sent) answered with `answered`, as JSON, and
/// what became of it.
pub(crate) fn encode(ruc: &str, answered: &Answered) -> (Vec<u8>, ItemOutcome) {
    let reply = &answered.reply;
    let body = if answered.cache == CacheResult::Hit || is_json(&reply.body) {
        reply.body.clone()
    } else {
        // A scraper's body that is not JSON would break the whole answer.
        responses::error_body("El servicio de consulta respondió algo que no es JSON.", ruc)
    };
    let cache = match answered.cache {
        CacheResult::Hit => "HIT",
        CacheResult::Stale => "STALE",
        _ => "MISS",
    };
    let field = if reply.status == 200 { "record" } else { "error" };
    let mut item = Vec::with_capacity(body.len() + 64);
    item.extend_from_slice(b"{\"ruc\":");
    serde_json::to_writer(&mut item, ruc).expect("a string serialises");
    item.extend_from_slice(b",\"status\":");
    item.extend_from_slice(itoa::Buffer::new().format(reply.status).as_bytes());
    item.extend_from_slice(b",\"cache\":\"");
    item.extend_from_slice(cache.as_bytes());
    item.extend_from_slice(b"\",\"");
    item.extend_from_slice(field.as_bytes());
    item.extend_from_slice(b"\":");
    item.extend_from_slice(&body);
    item.push(b'}');
    (item, ItemOutcome::of(reply.status))
}

/// Whether `body` is one JSON value.
fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<IgnoredAny>(body).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responses::Reply;
    use bytes::Bytes;
    use serde_json::{json, Value};

    fn answered(status: u16, body: &'static str, cache: CacheResult) -> Answered {
        Answered {
            reply: Reply::json(status, Bytes::from_static(body.as_bytes())),
            cache,
        }
    }

    fn value(item: (Vec<u8>, ItemOutcome)) -> (Value, ItemOutcome) {
        (serde_json::from_slice(&item.0).unwrap(), item.1)
    }

    #[test]
    fn a_record_and_an_error_are_items_with_their_status_and_cache() {
        let record = answered(200, r#"{"ruc":"20131312955","estado":"ACTIVO"}"#, CacheResult::Hit);
        assert_eq!(
            value(encode("20131312955", &record)),
            (
                json!({"ruc": "20131312955", "status": 200, "cache": "HIT",
                       "record": {"ruc": "20131312955", "estado": "ACTIVO"}}),
                ItemOutcome::Record
            )
        );
        let error = r#"{"message":"Error al consultar RUC","detail":"x","ruc":"20000000001"}"#;
        let (item, outcome) = value(encode("20000000001", &answered(404, error, CacheResult::Coalesced)));
        assert_eq!(
            (item["status"].clone(), item["cache"].clone()),
            (json!(404), json!("MISS"))
        );
        assert_eq!(item["error"]["detail"], "x");
        assert_eq!(outcome, ItemOutcome::NotFound);
        let stale = answered(200, r#"{"ruc":"1"}"#, CacheResult::Stale);
        assert_eq!(value(encode("1", &stale)).0["cache"], "STALE");
    }

    #[test]
    fn a_body_that_is_not_json_becomes_an_error_body() {
        let (item, outcome) = value(encode("20131312955", &answered(502, "<html>", CacheResult::Miss)));
        assert_eq!(item["error"]["ruc"], "20131312955");
        assert_eq!(outcome, ItemOutcome::Failed);
    }
}
