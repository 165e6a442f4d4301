//! Text rules shared by every field (`record.md`): white space collapsed,
//! labels compared without accents or case, dates turned into ISO form.

use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

/// Collapses runs of white space (spaces, tabs, CR, LF, no-break spaces) to one
/// space and trims the ends.
pub fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The form a label is matched in: collapsed, accents removed, lower case, and
/// without the trailing colon, so `N&uacute;mero de RUC:`, `Número de RUC:` and
/// `NUMERO DE RUC :` all give `numero de ruc`.
pub fn label_key(text: &str) -> String {
    let folded = fold(text);
    folded.trim_end_matches([':', ' ']).to_string()
}

/// Collapsed, accents removed, lower case: for comparisons only.
pub fn fold(text: &str) -> String {
    collapse(text)
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase()
}

/// `Some(collapsed)` unless the value is empty or SUNAT's `-` placeholder.
pub fn non_empty(text: &str) -> Option<String> {
    let text = collapse(text);
    (!text.is_empty() && text != "-").then_some(text)
}

/// `dd/mm/yyyy` to `YYYY-MM-DD`; `-`, empty or anything that is not a real
/// calendar date gives `None`.
pub fn iso_date(text: &str) -> Option<String> {
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
/// Chrome then shows `PROGRAMACIÃ“N` for `PROGRAMACIÓN`.
///
/// The repair is applied only when the whole text re-encodes to valid UTF-8,
/// which plain Spanish text in Latin-1 essentially never does.
pub fn repair_mojibake(text: &str) -> Cow<'_, str> {
    if !text.contains(['Ã', 'Â']) {
        return Cow::Borrowed(text);
    }
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    if unmappable {
        return Cow::Borrowed(text);
    }
    match String::from_utf8(bytes.into_owned()) {
        Ok(repaired) => Cow::Owned(repaired),
        Err(_) => Cow::Borrowed(text),
    }
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
        assert_eq!(
            label_key("Actividad(es) Económica(s):"),
            "actividad(es) economica(s)"
        );
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
