//! Turns a page's bytes into text the way Chrome does, so that the direct
//! path hands `sunat::page` the same text the browser would: the charset of
//! `Content-Type` first, then a `<meta>` near the top, then UTF-8 when the
//! bytes are valid UTF-8, else Windows-1252. `ISO-8859-1` means
//! Windows-1252 (WHATWG), and a page that declares it but sends UTF-8 comes
//! out garbled exactly as in Chrome, which `sunat::text::repair_mojibake`
//! then undoes for both paths alike.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// How far into the page a `<meta charset>` is looked for (as browsers do).
const META_WITHIN: usize = 1024;

/// The page as text.
pub(crate) fn decode(content_type: Option<&str>, body: &[u8]) -> String {
    let declared = content_type
        .and_then(charset_of_content_type)
        .or_else(|| charset_of_meta(body));
    let encoding = declared.unwrap_or_else(|| match std::str::from_utf8(body) {
        Ok(_) => UTF_8,
        Err(_) => WINDOWS_1252,
    });
    encoding.decode(body).0.into_owned()
}

/// `text/html; charset=ISO-8859-1` → Windows-1252.
fn charset_of_content_type(value: &str) -> Option<&'static Encoding> {
    value.split(';').skip(1).find_map(|parameter| {
        let (name, label) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| Encoding::for_label(label.trim().trim_matches('"').as_bytes()))?
    })
}

/// `<meta charset="utf-8">` or `<meta http-equiv=… content="…; charset=…">`.
fn charset_of_meta(body: &[u8]) -> Option<&'static Encoding> {
    let head = String::from_utf8_lossy(&body[..body.len().min(META_WITHIN)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let label: String = head[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        .collect();
    Encoding::for_label(label.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_wins_over_the_page() {
        let latin1 = b"<meta charset=\"utf-8\">N\xfamero";
        assert_eq!(
            decode(Some("text/html; charset=ISO-8859-1"), latin1),
            "<meta charset=\"utf-8\">Número"
        );
    }

    #[test]
    fn a_meta_declares_when_the_header_does_not() {
        let latin1 = b"<META http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">N\xfamero";
        assert!(decode(Some("text/html"), latin1).ends_with("Número"));
    }

    #[test]
    fn undeclared_pages_are_utf8_when_they_can_be() {
        assert_eq!(decode(None, "Número".as_bytes()), "Número");
        assert_eq!(decode(None, b"N\xfamero"), "Número");
    }

    #[test]
    fn utf8_declared_as_latin1_is_garbled_as_in_chrome() {
        let text = decode(Some("text/html; charset=ISO-8859-1"), "PROGRAMACIÓN".as_bytes());
        assert_eq!(text, "PROGRAMACIÃ“N");
    }
}
