//! Property tests of the SUNAT page reader: whatever HTML the browser hands
//! back (arbitrary text, or saved SUNAT pages cut, spliced and garbled),
//! classifying it and building a record from it never panics. Bounded:
//! proptest's default of 256 cases per property.

use super::page::{classify, Page, Snapshot};
use super::record::from_pairs;
use proptest::prelude::*;

const PAGES: [&str; 4] = [
    include_str!("../../tests/pages/captured/20440374248.html"),
    include_str!("../../tests/pages/captured/10401510465.html"),
    include_str!("../../tests/pages/result.html"),
    include_str!("../../tests/pages/notfound.html"),
];

fn read(html: String, url: &str) {
    let snapshot = Snapshot {
        url: url.to_string(),
        ready_state: "complete".into(),
        html,
    };
    if let Page::Result(pairs) = classify(&snapshot) {
        let _ = from_pairs(&pairs, "2026-11-26T13:00:00Z".into());
    }
}

/// `page` with the characters in `range` replaced by `insert`.
fn splice(page: &str, start: prop::sample::Index, len: usize, insert: &str) -> String {
    let chars: Vec<char> = page.chars().collect();
    let start = start.index(chars.len());
    let end = (start + len).min(chars.len());
    chars[..start]
        .iter()
        .chain(insert.chars().collect::<Vec<_>>().iter())
        .chain(&chars[end..])
        .collect()
}

proptest! {
    #[test]
    fn arbitrary_text_is_read_without_panicking(html in "\\PC{0,3000}") {
        read(html, "https://e-consultaruc.sunat.gob.pe/cl-ti-itmrconsruc/jcrS00Alias");
    }

    #[test]
    fn damaged_saved_pages_are_read_without_panicking(
        page in prop::sample::select(PAGES.to_vec()),
        start in any::<prop::sample::Index>(),
        len in 0usize..2000,
        insert in prop::sample::select(vec!["", "<", "</div>", "<div class=\"row\">", "</br>", "Ã©", "\u{0}", "<table><td>", "Número de RUC:"]),
    ) {
        read(splice(page, start, len, insert), "https://e-consultaruc.sunat.gob.pe/cl-ti-itmrconsruc/jcrS00Alias");
    }

    #[test]
    fn chrome_error_pages_of_any_content_are_read_without_panicking(html in "\\PC{0,500}") {
        read(html, "chrome-error://chromewebdata/");
    }
}
