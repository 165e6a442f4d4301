//! The pages behind the result page's buttons ([`Kind`]), read: which page
//! came back (SUNAT's error page, the firewall, or the page asked for, its
//! heading naming the RUC asked for) and its rows, one module per page.
//! Whitespace, entities and both charsets are handled as for the result
//! page; a page that cannot be read is an unknown page (502, never cached).

mod deuda;
mod establecimientos;
mod representantes;
mod table;
mod trabajadores;

use std::sync::LazyLock;

use html::{Html, Selector};
use ruc_contract::{Kind, Rows, Ruc};

use super::page::{self, Page, Snapshot};
use super::text::{collapse, fold, repair_mojibake};
use crate::failure::{Failure, UnreadableKind};

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("static selector")
}

static HEADINGS: LazyLock<Selector> = LazyLock::new(|| selector("h1, h3"));

/// The rows of the `kind` page SUNAT showed for `ruc`, every page of a
/// paged list together, or the failure one of them showed instead.
pub(crate) fn read(kind: Kind, pages: &[Snapshot], ruc: Ruc) -> Result<Rows, Failure> {
    let mut read = pages.iter().map(|page| read_one(kind, page, ruc));
    let first = read
        .next()
        .unwrap_or_else(|| Err(Failure::SunatError(format!("la página de {} no llegó", kind.segment()))))?;
    read.try_fold(first, |mut all, more| {
        if let (Rows::Establecimientos(all), Rows::Establecimientos(more)) = (&mut all, more?) {
            all.extend(more);
        }
        Ok(all)
    })
}

/// The most pages of a paged list that are read (each one a visit).
pub(crate) const MAX_PAGES: usize = 20;

/// The other pages of a paged list of annexes, as the page links them
/// (`javascript:paginacion(<page>)`, from 0), at most [`MAX_PAGES`] in
/// all; none for another kind or a list on one page.
pub(crate) fn more_pages(kind: Kind, first: &Snapshot) -> Vec<u32> {
    if kind != Kind::Establecimientos {
        return Vec::new();
    }
    let mut pages: Vec<u32> = first
        .html
        .split("paginacion(")
        .skip(1)
        .filter_map(|after| after.split(')').next()?.trim().parse().ok())
        .filter(|&page| page > 0)
        .collect();
    pages.sort_unstable();
    pages.dedup();
    pages.truncate(MAX_PAGES - 1);
    pages
}

fn read_one(kind: Kind, snapshot: &Snapshot, ruc: Ruc) -> Result<Rows, Failure> {
    match page::classify(snapshot) {
        Page::Error(message) if kind == Kind::Establecimientos && fold(&message).contains("locales anexos") => {
            // Asked for annexes it does not have, SUNAT shows its error page.
            return Ok(Rows::Establecimientos(Vec::new()));
        }
        Page::Error(message) => return Err(Failure::SunatError(message)),
        Page::Rejected(_) => return Err(Failure::Rejected("página 'Request Rejected' del firewall".into())),
        Page::NetworkError(code) => return Err(Failure::network(&code)),
        Page::NotFound(sentence) => return Err(Failure::NotFound(sentence)),
        Page::Result(_) | Page::Pending => {}
    }
    let html = repair_mojibake(&snapshot.html);
    let document = Html::parse_document(&html);
    let unreadable = |why: &str| Failure::Unreadable {
        reason: UnreadableKind::PageBehind,
        why: format!("página de {} ilegible: {why}", kind.segment()),
    };
    let shown = heading_ruc(&document).ok_or_else(|| unreadable("sin encabezado con el RUC"))?;
    if shown != ruc.as_str() {
        return Err(Failure::SunatError(format!(
            "la página muestra el RUC {shown} en lugar de {ruc}"
        )));
    }
    let rows = table::rows(&document);
    let text = fold(&document.root_element().text().collect::<String>());
    let read = match kind {
        Kind::Representantes => representantes::read(&rows, &text).map(Rows::Representantes),
        Kind::Trabajadores => trabajadores::read(&rows, &text).map(Rows::Periodos),
        Kind::Establecimientos => establecimientos::read(&rows, &text).map(Rows::Establecimientos),
        Kind::DeudaCoactiva => deuda::read(&rows, &text).map(Rows::Deudas),
    };
    read.map_err(|why| unreadable(&why))
}

/// Whether a tab shows the page of `kind` (or what SUNAT answers instead):
/// the browser waits for this after submitting the button's form.
pub(crate) fn arrived(kind: Kind, snapshot: &Snapshot) -> bool {
    if !matches!(page::classify(snapshot), Page::Result(_) | Page::Pending) {
        return true;
    }
    let heading = fold(&heading_text(&Html::parse_document(&snapshot.html)));
    let marker = match kind {
        Kind::Representantes => "representantes legales de",
        Kind::Trabajadores => "cantidad de trabajadores",
        Kind::Establecimientos => "establecimientos anexos de",
        Kind::DeudaCoactiva => "deuda coactiva",
    };
    snapshot.ready_state == "complete" && heading.contains(marker)
}

fn heading_text(document: &Html) -> String {
    document
        .select(&HEADINGS)
        .map(|heading| collapse(&heading.text().collect::<String>()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The RUC in the page's heading (`… DE 20512081372 - NAME`).
fn heading_ruc(document: &Html) -> Option<String> {
    let heading = heading_text(document);
    let folded = fold(&heading);
    let at = folded.find(" de ")?;
    folded[at + 4..]
        .split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 11)
        .map(str::to_string)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A saved page as the browser would show it.
    pub(crate) fn shown(html: &str) -> Snapshot {
        Snapshot {
            url: "https://e-consultaruc.sunat.gob.pe/cl-ti-itmrconsruc/jcrS00Alias".into(),
            ready_state: "complete".into(),
            html: html.into(),
        }
    }

    pub(crate) fn ruc(text: &str) -> Ruc {
        Ruc::parse(text).unwrap()
    }

    #[test]
    fn the_ruc_in_the_heading_must_be_the_one_asked_for() {
        let html = include_str!("../../../../../shared/docs/sunat-samples/secondary/representantes-20512081372.html");
        let asked = ruc("20131312955");
        let error = read(Kind::Representantes, &[shown(html)], asked).unwrap_err();
        assert_eq!(error.status(), 502);
        assert!(error.detail().contains("20512081372"), "{}", error.detail());
    }

    #[test]
    fn error_pages_and_the_firewall_are_failures_and_missing_annexes_an_empty_list() {
        let error = "<HTML><HEAD><TITLE>.:: Pagina de Error ::.</TITLE></HEAD><BODY><p class=\"error\">Surgieron problemas.</p></BODY></HTML>";
        let asked = ruc("20131312955");
        assert_eq!(
            read(Kind::Trabajadores, &[shown(error)], asked).unwrap_err().status(),
            502
        );
        let no_annexes = error.replace(
            "Surgieron problemas.",
            "No se encontr&oacute; informaci&oacute;n para locales anexos.",
        );
        assert_eq!(
            read(Kind::Establecimientos, &[shown(&no_annexes)], asked),
            Ok(Rows::Establecimientos(vec![]))
        );
        let firewall =
            "<html><head><title>Request Rejected</title></head><body>The requested URL was rejected.</body></html>";
        assert_eq!(
            read(Kind::DeudaCoactiva, &[shown(firewall)], asked)
                .unwrap_err()
                .outcome(),
            "rejected"
        );
        let unknown = "<html><head><title>Documento sin título</title></head><body><div>¿?</div></body></html>";
        assert_eq!(
            read(Kind::Representantes, &[shown(unknown)], asked)
                .unwrap_err()
                .status(),
            502
        );
    }

    #[test]
    fn only_a_paged_list_of_annexes_has_more_pages() {
        let paged = "<h1>ESTABLECIMIENTOS ANEXOS DE 20131312955 - X</h1><div>P&aacute;ginas: \
                     <a href=\"javascript:paginacion(0)\">1</a> <a href=\"javascript:paginacion(1)\">2</a> \
                     <a href=\"javascript:paginacion( 2 )\">3</a></div>";
        assert_eq!(more_pages(Kind::Establecimientos, &shown(paged)), [1, 2]);
        assert_eq!(more_pages(Kind::Representantes, &shown(paged)), Vec::<u32>::new());
        let endless: String = (0..100).map(|page| format!("paginacion({page})")).collect();
        assert_eq!(
            more_pages(Kind::Establecimientos, &shown(&endless)).len(),
            MAX_PAGES - 1
        );
    }

    #[test]
    fn a_page_has_arrived_once_its_heading_shows() {
        let html = include_str!("../../../../../shared/docs/sunat-samples/secondary/trabajadores-20601460913.html");
        assert!(arrived(Kind::Trabajadores, &shown(html)));
        assert!(!arrived(Kind::Representantes, &shown(html)));
        let result = include_str!("../../../tests/pages/result.html");
        assert!(!arrived(Kind::Trabajadores, &shown(result)), "still the result page");
    }
}
