//! The cookies SUNAT set on one direct session, sent back as the browser
//! would. SUNAT sets one session cookie (`ITMRCONSRUCSESSION`, `path=/`);
//! path, domain and expiry dates are not tracked, only values and deletions.

use hyper::header::{HeaderMap, SET_COOKIE};

/// Cookie names and values, in the order they were first set.
#[derive(Debug, Default, Clone)]
pub(crate) struct CookieJar {
    cookies: Vec<(String, String)>,
}

impl CookieJar {
    /// Takes in the `Set-Cookie` headers of a response; an empty value or
    /// `Max-Age=0` deletes the cookie.
    pub(crate) fn store(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut parts = text.split(';');
            let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            let deleted = value.is_empty() || parts.any(|attribute| attribute.trim().eq_ignore_ascii_case("max-age=0"));
            self.cookies.retain(|(known, _)| known != name);
            if !deleted {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    /// The `Cookie` header, if there is any cookie.
    pub(crate) fn header(&self) -> Option<String> {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(jar: &mut CookieJar, values: &[&str]) {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(SET_COOKIE, value.parse().unwrap());
        }
        jar.store(&headers);
    }

    #[test]
    fn cookies_are_sent_back_replaced_and_deleted() {
        let mut jar = CookieJar::default();
        assert_eq!(jar.header(), None);
        set(
            &mut jar,
            &["ITMRCONSRUCSESSION=abc!-1!-1; path=/; HttpOnly", "TS01=x; Path=/"],
        );
        assert_eq!(jar.header().unwrap(), "ITMRCONSRUCSESSION=abc!-1!-1; TS01=x");
        set(&mut jar, &["ITMRCONSRUCSESSION=def!-1!-1; path=/"]);
        assert_eq!(jar.header().unwrap(), "TS01=x; ITMRCONSRUCSESSION=def!-1!-1");
        set(&mut jar, &["TS01=gone; Max-Age=0", "ITMRCONSRUCSESSION=; path=/"]);
        assert_eq!(jar.header(), None);
    }
}
