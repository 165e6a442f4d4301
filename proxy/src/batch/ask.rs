//! What a batch request (`POST /obtener-ruc`) asks for: judged from its
//! head before its body is read (the media types, the body's size), then
//! read from its body (`{"rucs": [...]}`): the RUCs, each once, in the
//! order first asked, the invalid ones among them.

use ruc_contract::{InvalidRuc, RouteError, Ruc};
use serde::Deserialize;

use crate::responses::{self, Reply};

/// The most a batch request's body may weigh.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// How the items go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `application/json`: one array, in request order, once all are done.
    Array,
    /// `application/x-ndjson`: one item per line as each finishes.
    Lines,
}

/// A batch request whose head was accepted; its body is still to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ask {
    pub(crate) format: Format,
}

/// The body a request's head announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Announced {
    Nothing,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunks, of a length known once read.
    Chunked,
}

/// One distinct RUC of a batch, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Asked {
    Valid(Ruc),
    /// Its own 400 item, never looked up.
    Invalid {
        text: String,
        why: InvalidRuc,
    },
}

impl Asked {
    /// The RUC as sent.
    pub(crate) fn text(&self) -> &str {
        match self {
            Asked::Valid(ruc) => ruc.as_str(),
            Asked::Invalid { text, .. } => text,
        }
    }
}

/// The body, as JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    rucs: Vec<String>,
}

/// Judges a batch request's head: JSON sent (else 415), an answer format
/// the client accepts (else 406), a body announced (else 400) and not
/// over [`MAX_BODY_BYTES`] (else 413).
pub(crate) fn judge(content_type: Option<&str>, accept: Option<&str>, body: Announced) -> Result<Ask, Reply> {
    if !content_type.is_some_and(is_json) {
        let detail = "El cuerpo debe ser JSON (Content-Type: application/json).";
        return Err(responses::route_error(
            415,
            &RouteError::new("Unsupported Media Type", detail),
        ));
    }
    let Some(format) = format(accept) else {
        let detail = "La respuesta es application/json o application/x-ndjson (Accept).";
        return Err(responses::route_error(406, &RouteError::new("Not Acceptable", detail)));
    };
    match body {
        Announced::Nothing => Err(bad_request("Falta el cuerpo: {\"rucs\": [\"20131312955\", …]}.")),
        Announced::Length(length) if length > MAX_BODY_BYTES as u64 => Err(too_large()),
        _ => Ok(Ask { format }),
    }
}

/// The distinct RUCs of a whole body, in the order first asked; at most
/// `max_rucs` entries as sent (else 413).
pub(crate) fn read(body: &[u8], max_rucs: usize) -> Result<Vec<Asked>, Reply> {
    let body: Body = serde_json::from_slice(body).map_err(|error| {
        bad_request(format!(
            "El cuerpo no es JSON de la forma {{\"rucs\": [\"20131312955\", …]}}: {error}."
        ))
    })?;
    if body.rucs.len() > max_rucs {
        let detail = format!(
            "La lista tiene {} RUC; el máximo por solicitud es {max_rucs}.",
            body.rucs.len()
        );
        return Err(responses::route_error(
            413,
            &RouteError::new("Content Too Large", detail),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(body.rucs.len());
    let asked = body
        .rucs
        .into_iter()
        .filter(|text| seen.insert(text.clone()))
        .map(|text| match Ruc::parse(&text) {
            Ok(ruc) => Asked::Valid(ruc),
            Err(why) => Asked::Invalid { text, why },
        })
        .collect();
    Ok(asked)
}

/// 413 for a body over [`MAX_BODY_BYTES`].
pub(crate) fn too_large() -> Reply {
    let detail = format!("El cuerpo pasa de {MAX_BODY_BYTES} bytes.");
    responses::route_error(413, &RouteError::new("Content Too Large", detail))
}

fn bad_request(detail: impl Into<String>) -> Reply {
    responses::route_error(400, &RouteError::bad_request(detail))
}

/// `application/json`, with or without parameters (`charset=utf-8`).
fn is_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case("application/json")
}

/// The format the client prefers (RFC 9110 §12.5.1: the highest `q`, the
/// first listed among equals); `None` when it accepts neither.
fn format(accept: Option<&str>) -> Option<Format> {
    let Some(accept) = accept.filter(|accept| !accept.trim().is_empty()) else {
        return Some(Format::Array);
    };
    let mut best: Option<(f32, Format)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let format = if media.eq_ignore_ascii_case("application/x-ndjson") {
            Format::Lines
        } else if ["application/json", "application/*", "*/*"]
            .iter()
            .any(|json| media.eq_ignore_ascii_case(json))
        {
            Format::Array
        } else {
            continue;
        };
        let weight = parts
            .find_map(|part| part.strip_prefix("q=").or_else(|| part.strip_prefix("Q=")))
            .map_or(Some(1.0), |q| q.parse::<f32>().ok())
            .unwrap_or(0.0);
        if weight > 0.0 && best.is_none_or(|(best, _)| weight > best) {
            best = Some((weight, format));
        }
    }
    best.map(|(_, format)| format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_format_follows_accept() {
        assert_eq!(format(None), Some(Format::Array));
        assert_eq!(format(Some("")), Some(Format::Array));
        assert_eq!(format(Some("*/*")), Some(Format::Array));
        assert_eq!(format(Some("application/json")), Some(Format::Array));
        assert_eq!(format(Some("application/x-ndjson")), Some(Format::Lines));
        assert_eq!(format(Some("application/x-ndjson, */*")), Some(Format::Lines));
        assert_eq!(
            format(Some("application/json, application/x-ndjson")),
            Some(Format::Array)
        );
        assert_eq!(
            format(Some("application/json;q=0.5, application/x-ndjson")),
            Some(Format::Lines)
        );
        assert_eq!(format(Some("application/x-ndjson;q=0, */*")), Some(Format::Array));
        assert_eq!(format(Some("text/html")), None);
    }

    #[test]
    fn a_head_is_judged_before_its_body_is_read() {
        let json = Some("application/json; charset=utf-8");
        let status = |content_type, accept, body| judge(content_type, accept, body).map_err(|reply| reply.status);
        let ten = Announced::Length(10);
        assert_eq!(status(json, None, ten), Ok(Ask { format: Format::Array }));
        assert_eq!(status(Some("text/plain"), None, ten), Err(415));
        assert_eq!(status(None, None, ten), Err(415));
        assert_eq!(status(json, Some("text/csv"), ten), Err(406));
        assert_eq!(status(json, None, Announced::Nothing), Err(400));
        assert_eq!(status(json, None, Announced::Length(64 * 1024 + 1)), Err(413));
        assert!(status(json, None, Announced::Chunked).is_ok());
    }

    #[test]
    fn a_body_gives_each_ruc_once_in_the_order_first_asked() {
        let body = br#"{"rucs": ["20131312955", "123", "20131312955", "10401510465", "123"]}"#;
        let asked = read(body, 5).unwrap();
        let texts: Vec<&str> = asked.iter().map(Asked::text).collect();
        assert_eq!(texts, ["20131312955", "123", "10401510465"]);
        assert!(matches!(
            asked[1],
            Asked::Invalid {
                why: InvalidRuc::Format,
                ..
            }
        ));
        assert_eq!(read(body, 4).unwrap_err().status, 413, "duplicates count");
        assert_eq!(read(br#"{"rucs": []}"#, 5).unwrap(), []);
    }

    #[test]
    fn a_body_of_another_shape_is_a_bad_request() {
        for body in [
            &b"not json"[..],
            br#"["20131312955"]"#,
            br#"{"ruc": ["20131312955"]}"#,
            br#"{"rucs": [20131312955]}"#,
            br#"{"rucs": "20131312955"}"#,
            br#"{"rucs": ["20131312955"], "more": 1}"#,
            br#"{"rucs": ["20131312955"]"#,
        ] {
            let reply = read(body, 10).unwrap_err();
            assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(body));
        }
    }
}
