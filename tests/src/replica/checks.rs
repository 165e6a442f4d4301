//! What the replica checks on a request before answering it, as strictly as
//! SUNAT is known to (`sunat-site.md` §1.3–1.4, §4): the form's fields on a
//! search, the session cookie it issued, and, when switched on, a browser
//! check that only clients running the form page's script pass (the kind of
//! JavaScript challenge F5's bot defence puts in front of a site) and a
//! check that a post's headers agree with the browser it claims to be
//! (F5's ASM "checks that headers are consistent", §1.4).

use std::collections::HashMap;

use hyper::header::{HeaderMap, CONTENT_TYPE, COOKIE, USER_AGENT};
use serde::{Deserialize, Serialize};

/// The session cookie SUNAT (WebLogic) sets.
pub const SESSION_COOKIE: &str = "ITMRCONSRUCSESSION";

/// The cookie the browser check's script sets, and its value.
const CHECK_COOKIE: (&str, &str) = ("TSbc01", "7-14-21");

/// Sets [`CHECK_COOKIE`] by running code, so that only a client that runs
/// the page's scripts has it.
const CHECK_SCRIPT: &str = "<script>document.cookie = \"TSbc01=\" + [1, 2, 3].map(function (n) { return n * 7; }).join(\"-\") + \"; path=/\";</script>\r\n";

/// What a search without the browser check's cookie gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BrowserCheck {
    /// The firewall's "Request Rejected" page.
    Firewall,
    /// A page nobody has seen before (new markup, a challenge page).
    UnknownPage,
}

/// The cookies a request carries.
pub(crate) fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect()
}

/// Whether the request carries the cookie only the check's script sets.
pub(crate) fn passes_browser_check(cookies: &HashMap<String, String>) -> bool {
    cookies.get(CHECK_COOKIE.0).is_some_and(|value| value == CHECK_COOKIE.1)
}

/// The form page with the browser check's script in its head.
pub(crate) fn with_check_script(form_page: &str) -> String {
    form_page.replacen("</head>", &format!("{CHECK_SCRIPT}</head>"), 1)
}

/// Whether a post's headers agree with its `User-Agent`: one that claims
/// Chrome must come with the client hints of that Chrome version and with
/// the fetch metadata of a navigation, as Chrome sends them; any other
/// agent (an honest non-browser one) passes.
pub(crate) fn consistent_headers(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or("");
    let Some(major) = text(USER_AGENT.as_str())
        .split_once("Chrome/")
        .and_then(|(_, version)| version.split('.').next())
    else {
        return true;
    };
    text("sec-ch-ua").contains(&format!("\"Chromium\";v=\"{major}\""))
        && !text("sec-ch-ua-mobile").is_empty()
        && !text("sec-ch-ua-platform").is_empty()
        && text("sec-fetch-mode") == "navigate"
        && text("sec-fetch-dest") == "document"
}

/// A body the form could have sent: form-encoded.
pub(crate) fn is_form_post(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

/// A search by RUC carries what the form sends and SUNAT needs: the RUC,
/// `modo=1` and a token as `sunatrecaptcha3.js` makes it (52 base-36
/// characters). SUNAT is only known to reject a missing or empty token; the
/// replica also rejects a malformed one, so that our clients cannot drift.
pub(crate) fn is_complete_search(field: impl Fn(&str) -> String) -> bool {
    let token = field("token");
    let token_ok = token.len() == 52 && token.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    token_ok && !field("nroRuc").is_empty() && field("modo") == "1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_need_the_token_the_ruc_and_modo() {
        let complete = |pairs: &[(&str, &str)]| {
            let map: HashMap<&str, &str> = pairs.iter().copied().collect();
            is_complete_search(|name| map.get(name).unwrap_or(&"").to_string())
        };
        let token = "a".repeat(52);
        assert!(complete(&[("nroRuc", "20131312955"), ("modo", "1"), ("token", &token)]));
        assert!(!complete(&[("nroRuc", "20131312955"), ("modo", "1")]));
        assert!(!complete(&[("nroRuc", "20131312955"), ("modo", "1"), ("token", "")]));
        assert!(!complete(&[("nroRuc", "20131312955"), ("modo", "1"), ("token", "abc")]));
        assert!(!complete(&[("nroRuc", "20131312955"), ("token", &token)]));
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "ITMRCONSRUCSESSION=abc; TSbc01=7-14-21".parse().unwrap());
        let cookies = cookies(&headers);
        assert_eq!(cookies[SESSION_COOKIE], "abc");
        assert!(passes_browser_check(&cookies));
    }

    #[test]
    fn a_chrome_user_agent_needs_its_hints_and_a_navigations_metadata() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        let navigation = [
            (
                "sec-ch-ua",
                r#""Not:A-Brand";v="8", "Chromium";v="156", "Google Chrome";v="156""#,
            ),
            ("sec-ch-ua-mobile", "?0"),
            ("sec-ch-ua-platform", "\"Linux\""),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
        ];
        assert!(consistent_headers(&headers(
            &[&[("user-agent", chrome)], &navigation[..]].concat()
        )));
        assert!(!consistent_headers(&headers(&[("user-agent", chrome)])));
        let other_version = [("user-agent", chrome.replace("156", "120"))];
        let other_version: Vec<(&str, &str)> = other_version.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert!(!consistent_headers(&headers(
            &[&other_version[..], &navigation[..]].concat()
        )));
        assert!(consistent_headers(&headers(&[("user-agent", "ruc-lookup/1.0")])));
    }
}
