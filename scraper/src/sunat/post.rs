//! The search as it travels on the wire when a browser submits the form
//! (`sunat-site.md` §1.2–1.4): the body `FrameCriterioBusquedaWeb.jsp`
//! posts to `jcrS00Alias`, field by field in the form's order, with the
//! token `sunatrecaptcha3.js` makes, and the headers Chrome sends with a
//! navigation. The direct client (`direct`) sends exactly this, so that
//! SUNAT sees the same request whichever way we read it.

use rand::Rng;
use ruc_contract::{Kind, Ruc};

use super::client_hints::ClientHints;
use super::form::FORM_PATH;

/// The servlet the form posts to, under `SUNAT_URL`.
pub(crate) const SERVLET_PATH: &str = "/cl-ti-itmrconsruc/jcrS00Alias";

/// Length of the token `sunatrecaptcha3.js` makes (`generateKey(0x34)`).
const TOKEN_LENGTH: usize = 52;

/// What Chrome accepts for a navigation.
pub(crate) const ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";

/// The compressions Chrome accepts from an HTTPS site (the direct client
/// decodes each)…
const ACCEPT_ENCODING_HTTPS: &str = "gzip, deflate, br, zstd";
/// …and from a plain HTTP one.
const ACCEPT_ENCODING_HTTP: &str = "gzip, deflate";

/// A Spanish-speaking browser in Peru.
pub(crate) const ACCEPT_LANGUAGE: &str = "es-PE,es;q=0.9,en;q=0.8";

/// The body of a search by RUC, in the order the form's fields appear
/// (hidden fields first, then the visible inputs, then `codigo`).
pub(crate) fn search_body(ruc: Ruc) -> String {
    let token = token();
    let ruc = ruc.as_str();
    let fields = [
        ("accion", "consPorRuc"),
        ("razSoc", ""),
        ("nroRuc", ruc),
        ("nrodoc", ""),
        ("token", token.as_str()),
        ("contexto", "ti-it"),
        ("modo", "1"),
        ("rbtnTipo", "1"),
        ("search1", ruc),
        ("tipdoc", "1"),
        ("search2", ""),
        ("search3", ""),
        ("codigo", ""),
    ];
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// A random base-36 key of 52 characters, as `sunatrecaptcha3.js` makes it.
fn token() -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..TOKEN_LENGTH)
        .map(|_| char::from(DIGITS[rng.random_range(0..DIGITS.len())]))
        .collect()
}

/// The body a result page's button posts for the `kind` page of `ruc`
/// (`razon_social` as that page shows it), its fields in the form's order:
/// the representantes' form sends `desRuc` before `nroRuc`. A later page
/// of a paged list (`pagina`, from 0) adds the field an older client sent
/// for it (the current site's paging was never captured).
pub(crate) fn secondary_body(kind: Kind, ruc: Ruc, razon_social: &str, pagina: u32) -> String {
    let ruc = ruc.as_str();
    let mut fields = vec![("accion", kind.accion()), ("contexto", "ti-it"), ("modo", "1")];
    match kind {
        Kind::Representantes => fields.extend([("desRuc", razon_social), ("nroRuc", ruc)]),
        _ => fields.extend([("nroRuc", ruc), ("desRuc", razon_social)]),
    }
    let pagina = pagina.to_string();
    if pagina != "0" {
        fields.push(("pagina", &pagina));
    }
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// The headers Chrome sends with a navigation, in its order, except `Host`,
/// `Cookie` and the body's; with a `referer`, what a form submission adds.
/// `hints` go with a Chrome `user_agent`.
pub(crate) fn navigation_headers<'a>(
    sunat_url: &'a str,
    user_agent: &'a str,
    hints: Option<&'a ClientHints>,
    referer: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    let mut headers = vec![("cache-control", "max-age=0")];
    if let Some(hints) = hints {
        headers.extend([
            ("sec-ch-ua", hints.brands.as_str()),
            ("sec-ch-ua-mobile", hints.mobile),
            ("sec-ch-ua-platform", hints.platform),
        ]);
    }
    headers.push(("upgrade-insecure-requests", "1"));
    if referer.is_some() {
        headers.push(("origin", sunat_url));
        headers.push(("content-type", "application/x-www-form-urlencoded"));
    }
    headers.extend([
        ("user-agent", user_agent),
        ("accept", ACCEPT),
        ("sec-fetch-site", if referer.is_some() { "same-origin" } else { "none" }),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-user", "?1"),
        ("sec-fetch-dest", "document"),
    ]);
    if let Some(referer) = referer {
        headers.push(("referer", referer));
    }
    let accept_encoding = if sunat_url.starts_with("https://") {
        ACCEPT_ENCODING_HTTPS
    } else {
        ACCEPT_ENCODING_HTTP
    };
    headers.push(("accept-encoding", accept_encoding));
    headers.push(("accept-language", ACCEPT_LANGUAGE));
    headers
}

/// The page a browser submits the search from, sent as `Referer`.
pub(crate) fn form_url(sunat_url: &str) -> String {
    format!("{sunat_url}{FORM_PATH}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_forms_fields_in_order() {
        let body = search_body(Ruc::parse("20131312955").unwrap());
        let fields: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "accion", "razSoc", "nroRuc", "nrodoc", "token", "contexto", "modo", "rbtnTipo", "search1", "tipdoc",
                "search2", "search3", "codigo"
            ]
        );
        assert_eq!(fields[0].1, "consPorRuc");
        assert_eq!(fields[2].1, "20131312955");
        assert_eq!(fields[8].1, "20131312955");
        assert_eq!((fields[5].1.as_str(), fields[6].1.as_str()), ("ti-it", "1"));
    }

    #[test]
    fn tokens_are_52_random_base36_characters() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 52);
        assert!(a.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn a_post_carries_origin_referer_and_its_content_type() {
        let hints = ClientHints::for_user_agent("Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0").unwrap();
        let headers = navigation_headers("https://sunat", "UA", Some(&hints), Some("https://sunat/form"));
        let names: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "cache-control",
                "sec-ch-ua",
                "sec-ch-ua-mobile",
                "sec-ch-ua-platform",
                "upgrade-insecure-requests",
                "origin",
                "content-type",
                "user-agent",
                "accept",
                "sec-fetch-site",
                "sec-fetch-mode",
                "sec-fetch-user",
                "sec-fetch-dest",
                "referer",
                "accept-encoding",
                "accept-language"
            ]
        );
        let value = |name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(value("accept-encoding"), Some("gzip, deflate, br, zstd"));
        let plain = navigation_headers("http://sunat", "UA", None, None);
        assert!(
            plain.contains(&("accept-encoding", "gzip, deflate")),
            "only these over HTTP"
        );
        let get = navigation_headers("https://sunat", "UA", None, None);
        assert!(!get
            .iter()
            .any(|(name, _)| ["origin", "referer", "sec-ch-ua"].contains(name)));
    }
}
