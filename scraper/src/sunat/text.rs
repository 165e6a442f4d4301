//! Text rules shared by every field (`record.md`): white space collapsed,
//! labels compared without accents or case, dates turned into ISO form.

use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

/// Collapses runs of white space (spaces, tabs, CR, LF, no-break spaces) to one
/// space and trims the ends.
pub(crate) fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The form a label is matched in: collapsed, accents removed, lower case, and
/// without the trailing colon, so `N&uacute;mero de RUC:`, `Número de RUC:` and
/// `NUMERO DE RUC :` all give `numero de ruc`.
pub(crate) fn label_key(text: &str) -> String {
    let folded = fold(text);
    folded.trim_end_matches([':', ' ']).to_string()
}

/// Collapsed, accents removed, lower case: for comparisons only.
pub(crate) fn fold(text: &str) -> String {
    collapse(text)
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase()
}

/// `Some(collapsed)` unless the value is empty or SUNAT's `-` placeholder.
pub(crate) fn non_empty(text: &str) -> Option<String> {
    let text = collapse(text);
    (!text.is_empty() && text != "-").then_some(text)
}

/// `dd/mm/yyyy` to `YYYY-MM-DD`; `-`, empty or anything that is not a real
/// calendar date gives `None`.
pub(crate) fn iso_date(text: &str) -> Option<String> {
    let format = time::macros::format_description!("[day]/[month]/[year]");
    let date = time::Date::parse(collapse(text).as_str(), format).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

/// Undoes UTF-8 bytes that were decoded as Windows-1252 (what browsers do
/// with `ISO-8859-1`): some SUNAT pages declare Latin-1 and send UTF-8, and
/// Chrome then shows `PROGRAMACIÃ“N` for `PROGRAMACIÓN`. The same page can
/// also hold correct accents written as entities (`N&uacute;mero`), so each
/// garbled sequence is repaired on its own: a lead byte followed by the
/// continuation bytes it announces, decoding to one valid character.
pub(crate) fn repair_mojibake(text: &str) -> Cow<'_, str> {
    if !text.contains(['Ã', 'Â', 'â']) {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut repaired = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        match garbled_char(&chars[i..]) {
            Some((c, length)) => {
                repaired.push(c);
                i += length;
            }
            None => {
                repaired.push(chars[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(repaired)
}

/// The character whose UTF-8 bytes, read as Windows-1252, start `chars`, and
/// how many characters they took.
fn garbled_char(chars: &[char]) -> Option<(char, usize)> {
    let lead = windows_1252_byte(*chars.first()?)?;
    let length = match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => return None,
    };
    let mut bytes = vec![lead];
    for &c in chars.get(1..length)? {
        bytes.push(windows_1252_byte(c).filter(|b| (0x80..=0xBF).contains(b))?);
    }
    let decoded = std::str::from_utf8(&bytes).ok()?.chars().next()?;
    Some((decoded, length))
}

fn windows_1252_byte(c: char) -> Option<u8> {
    if c.is_ascii() {
        return None;
    }
    let mut buffer = [0; 4];
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(c.encode_utf8(&mut buffer));
    (!unmappable && bytes.len() == 1).then(|| bytes[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_every_kind_of_white_space() {
        assert_eq!(
            collapse("\r\n\t DNI  40151046 \r\n - PEREZ\u{a0}, JUAN "),
            "DNI 40151046 - PEREZ , JUAN"
        );
    }

    #[test]
    fn label_keys_ignore_accents_case_and_colon() {
        assert_eq!(label_key("Número de RUC:"), "numero de ruc");
        assert_eq!(label_key(" NUMERO  DE RUC : "), "numero de ruc");
        assert_eq!(label_key("Actividad(es) Económica(s):"), "actividad(es) economica(s)");
        assert_eq!(label_key("Padrones :"), "padrones");
    }

    #[test]
    fn dates_become_iso_or_none() {
        assert_eq!(iso_date(" 09/01/2003 "), Some("2003-01-09".into()));
        assert_eq!(iso_date("29/02/2024"), Some("2024-02-29".into()));
        assert_eq!(iso_date("-"), None);
        assert_eq!(iso_date("31/02/2024"), None);
        assert_eq!(iso_date("2024-02-01"), None);
    }

    #[test]
    fn placeholders_are_empty() {
        assert_eq!(non_empty(" -\r\n "), None);
        assert_eq!(non_empty(""), None);
        assert_eq!(non_empty(" ACME  SAC "), Some("ACME SAC".into()));
    }

    #[test]
    fn repairs_utf8_read_as_latin1() {
        assert_eq!(
            repair_mojibake("PROGRAMACIÃ“N INFORMÃ\u{81}TICA"),
            "PROGRAMACIÓN INFORMÁTICA"
        );
        assert_eq!(repair_mojibake("Número"), "Número");
        assert_eq!(repair_mojibake("JOÃO"), "JOÃO");
    }
}
