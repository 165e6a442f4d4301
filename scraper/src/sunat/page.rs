//! Tells which page SUNAT answered with and reads the result's label/value
//! pairs. Pure code: it runs on the HTML the browser hands back, and the unit
//! tests run it on saved pages.
//!
//! SUNAT answers almost everything with HTTP 200, so the page is classified
//! by its content, never by status: the F5 firewall's "Request Rejected"
//! page, the `.:: Pagina de Error ::.` page, the not-found sentence, a Chrome
//! network-error page, or the Bootstrap result list.

use std::sync::LazyLock;

use html::{ElementRef, Html, Node, Selector};

use super::text::{collapse, fold, label_key, repair_mojibake};

/// What the browser showed at one moment: its URL, `document.readyState` and
/// the serialised DOM.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) url: String,
    pub(crate) ready_state: String,
    pub(crate) html: String,
}

/// The kinds of page SUNAT (or Chrome) can show after a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Page {
    /// The result list, as label/value pairs in page order.
    Result(Vec<Pair>),
    /// "El número de RUC … consultado no es válido": SUNAT has no such RUC.
    NotFound(String),
    /// SUNAT's own error or message page, with its message.
    Error(String),
    /// The firewall's "Request Rejected" page, with its support ID if shown.
    Rejected(String),
    /// Chrome could not reach SUNAT; the `ERR_…` code of its error page.
    NetworkError(String),
    /// Nothing recognisable yet: still loading, or the result has not been
    /// inserted by the page's JavaScript.
    Pending,
}

/// One field of the result list: its label and what sits in the value column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair {
    /// The label as displayed, white space collapsed (e.g. `Número de RUC:`).
    pub(crate) label: String,
    pub(crate) value: Value,
}

/// A value column, read two ways because fields use it differently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Value {
    /// The text split at `<br>` (SUNAT writes `</br>`), each line collapsed,
    /// empty lines dropped.
    pub(crate) lines: Vec<String>,
    /// The cells of a `table.tblResultado`, one per row; `None` without table.
    pub(crate) cells: Option<Vec<String>>,
}

impl Value {
    /// All lines joined by one space.
    pub(crate) fn text(&self) -> String {
        self.lines.join(" ")
    }
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("static selector")
}

static TITLE: LazyLock<Selector> = LazyLock::new(|| selector("title"));
static ROWS: LazyLock<Selector> = LazyLock::new(|| selector("div.list-group-item > div.row"));
static HEADING: LazyLock<Selector> = LazyLock::new(|| selector("h4"));
static TABLE: LazyLock<Selector> = LazyLock::new(|| selector("table"));
static CELLS: LazyLock<Selector> = LazyLock::new(|| selector("table td"));
static ERROR_TEXT: LazyLock<Selector> = LazyLock::new(|| selector("p.error"));
static RESULT_FOOTER: LazyLock<Selector> = LazyLock::new(|| selector("div.panel-primary > div.panel-footer"));

/// Classifies what the browser shows.
pub(crate) fn classify(snapshot: &Snapshot) -> Page {
    if snapshot.url.starts_with("chrome-error:") {
        return Page::NetworkError(network_error_code(&snapshot.html));
    }
    let html = repair_mojibake(&snapshot.html);
    let document = Html::parse_document(&html);
    let title = document
        .select(&TITLE)
        .next()
        .map(|t| fold(&t.text().collect::<String>()))
        .unwrap_or_default();
    let body = visible_text(document.root_element());
    let folded_body = fold(&body);

    if title.contains("request rejected")
        || folded_body.contains("the requested url was rejected")
        || folded_body.contains("la url solicitada fue rechazada")
    {
        return Page::Rejected(support_id(&body));
    }
    if title.contains("pagina de error") || title.contains("pagina de mensajes") {
        let message = document
            .select(&ERROR_TEXT)
            .next()
            .map(|p| collapse(&p.text().collect::<String>()))
            .unwrap_or(body);
        return Page::Error(message);
    }
    let pairs = pairs(&document);
    if pairs.iter().any(|p| label_key(&p.label) == "numero de ruc") {
        return result_if_whole(&document, pairs, snapshot);
    }
    if let Some(sentence) = not_found_sentence(&body) {
        return Page::NotFound(sentence);
    }
    Page::Pending
}

/// The result panel's footer (`Fecha consulta: …`) follows its last row:
/// without it the page is still arriving, or arrived cut short (the
/// connection closed early; Chrome shows what it got), and later rows
/// would be missing from the record.
fn result_if_whole(document: &Html, pairs: Vec<Pair>, snapshot: &Snapshot) -> Page {
    if document.select(&RESULT_FOOTER).next().is_some() {
        Page::Result(pairs)
    } else if snapshot.ready_state == "complete" {
        Page::Error("página de resultado incompleta (la respuesta llegó cortada)".into())
    } else {
        Page::Pending
    }
}

/// The razón social of a result page (`Número de RUC: <ruc> - <name>`),
/// as the page's buttons send it; empty when the page does not show it.
pub(crate) fn razon_social(pairs: &[Pair]) -> String {
    pairs
        .iter()
        .find(|pair| label_key(&pair.label) == "numero de ruc")
        .and_then(|pair| pair.value.text().split_once(" - ").map(|(_, name)| name.to_string()))
        .unwrap_or_default()
}

/// The page title, for messages about pages nobody expected.
pub(crate) fn title(html: &str) -> String {
    Html::parse_document(html)
        .select(&TITLE)
        .next()
        .map(|t| collapse(&t.text().collect::<String>()))
        .unwrap_or_default()
}

/// Reads every `h4` label and the column that follows it. Rows hold one or
/// two label/value column pairs; the RUC row's value is an `h4` as well, so
/// columns are consumed two at a time.
fn pairs(document: &Html) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for row in document.select(&ROWS) {
        let columns: Vec<ElementRef> = row.children().filter_map(ElementRef::wrap).collect();
        let mut i = 0;
        while i + 1 < columns.len() {
            match columns[i].select(&HEADING).next() {
                Some(heading) => {
                    pairs.push(Pair {
                        label: collapse(&heading.text().collect::<String>()),
                        value: value(columns[i + 1]),
                    });
                    i += 2;
                }
                None => i += 1,
            }
        }
    }
    pairs
}

fn value(column: ElementRef) -> Value {
    let cells: Vec<String> = column
        .select(&CELLS)
        .map(|cell| collapse(&cell.text().collect::<String>()))
        .filter(|cell| !cell.is_empty())
        .collect();
    let has_table = column.select(&TABLE).next().is_some();
    Value {
        lines: lines(column),
        cells: has_table.then_some(cells),
    }
}

/// The column's text split at `<br>` elements.
fn lines(column: ElementRef) -> Vec<String> {
    let mut lines = vec![String::new()];
    for node in column.descendants() {
        match node.value() {
            Node::Text(text) => lines.last_mut().expect("never empty").push_str(text),
            Node::Element(element) if element.name() == "br" => lines.push(String::new()),
            _ => {}
        }
    }
    lines
        .iter()
        .map(|line| collapse(line))
        .filter(|line| !line.is_empty())
        .collect()
}

/// The element's text without the contents of scripts and styles.
fn visible_text(element: ElementRef) -> String {
    let mut text = String::new();
    for node in element.descendants() {
        let hidden = node
            .parent()
            .and_then(ElementRef::wrap)
            .is_some_and(|parent| matches!(parent.value().name(), "script" | "style"));
        if let (Node::Text(t), false) = (node.value(), hidden) {
            text.push_str(t);
            text.push(' ');
        }
    }
    collapse(&text)
}

/// The sentence SUNAT shows for an unknown RUC, if the page has it.
fn not_found_sentence(body: &str) -> Option<String> {
    let folded = fold(body);
    let end = folded.find("consultado no es valido")? + "consultado no es valido".len();
    let start = folded[..end].rfind("el numero de ruc").unwrap_or(0);
    // `fold` only removes accents, so the same words exist in `body`; cut it by
    // words to stay on character boundaries.
    let words_before = folded[..start].split_whitespace().count();
    let words_in = folded[start..end].split_whitespace().count();
    let sentence: Vec<&str> = body.split_whitespace().skip(words_before).take(words_in).collect();
    Some(format!("{}.", sentence.join(" ").trim_end_matches('.')))
}

fn support_id(body: &str) -> String {
    let folded = fold(body);
    ["support id is:", "id de soporte es:"]
        .iter()
        .find_map(|marker| {
            let at = folded.find(marker)? + marker.len();
            let id: String = folded[at..]
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            (!id.is_empty()).then_some(id)
        })
        .unwrap_or_default()
}

/// Chrome's error page carries the failure in its data as
/// `"errorCode":"ERR_…"` (its template also names other codes, so the
/// first `ERR_` in the page is not the one).
fn network_error_code(html: &str) -> String {
    const MARKER: &str = "\"errorCode\":\"";
    html.find(MARKER)
        .map(|at| {
            html[at + MARKER.len()..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect::<String>()
        })
        .filter(|code| code.starts_with("ERR_"))
        .unwrap_or_else(|| "ERR_UNKNOWN".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn saved(html: &str) -> Snapshot {
        Snapshot {
            url: "https://e-consultaruc.sunat.gob.pe/cl-ti-itmrconsruc/jcrS00Alias".into(),
            ready_state: "complete".into(),
            html: html.into(),
        }
    }

    fn result_pairs(html: &str) -> Vec<Pair> {
        match classify(&saved(html)) {
            Page::Result(pairs) => pairs,
            other => panic!("expected a result page, got {other:?}"),
        }
    }

    fn pair<'a>(pairs: &'a [Pair], label: &str) -> &'a Value {
        &pairs
            .iter()
            .find(|p| p.label == label)
            .unwrap_or_else(|| panic!("no label {label:?} in {pairs:#?}"))
            .value
    }

    #[test]
    fn a_result_page_cut_before_its_footer_is_no_result() {
        let whole = include_str!("../../tests/pages/captured/20440374248.html");
        let cut = &whole[..whole.find("Afiliado al PLE").expect("a late row")];
        assert!(matches!(classify(&saved(cut)), Page::Error(message) if message.contains("incompleta")));
        let loading = Snapshot {
            ready_state: "interactive".into(),
            ..saved(cut)
        };
        assert_eq!(classify(&loading), Page::Pending, "still arriving: wait");
        assert!(matches!(classify(&saved(whole)), Page::Result(_)));
    }

    #[test]
    fn reads_every_label_of_a_captured_page() {
        let pairs = result_pairs(include_str!("../../tests/pages/captured/20440374248.html"));
        let labels: Vec<&str> = pairs.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Número de RUC:",
                "Tipo Contribuyente:",
                "Nombre Comercial:",
                "Fecha de Inscripción:",
                "Fecha de Inicio de Actividades:",
                "Estado del Contribuyente:",
                "Condición del Contribuyente:",
                "Domicilio Fiscal:",
                "Sistema Emisión de Comprobante:",
                "Actividad Comercio Exterior:",
                "Sistema Contabilidiad:",
                "Actividad(es) Económica(s):",
                "Comprobantes de Pago c/aut. de impresión (F. 806 u 816):",
                "Sistema de Emisión Electrónica:",
                "Emisor electrónico desde:",
                "Comprobantes Electrónicos:",
                "Afiliado al PLE desde:",
                "Padrones:",
            ]
        );
        assert_eq!(
            pair(&pairs, "Número de RUC:").text(),
            "20440374248 - GOBIERNO REGIONAL LA LIBERTAD"
        );
        assert_eq!(
            pair(&pairs, "Comprobantes de Pago c/aut. de impresión (F. 806 u 816):").cells,
            Some(vec![
                "FACTURA".into(),
                "BOLETA DE VENTA".into(),
                "COMPROBANTE DE RETENCION".into()
            ])
        );
    }

    #[test]
    fn bare_dash_without_table_has_no_cells() {
        let pairs = result_pairs(include_str!("../../tests/pages/captured/10401510465.html"));
        let value = pair(&pairs, "Sistema de Emisión Electrónica:");
        assert_eq!(value.cells, None);
        assert_eq!(value.lines, ["-"]);
    }

    #[test]
    fn splits_values_at_br() {
        let html = "<div class=\"panel panel-primary\"><div class=\"list-group\"><div class=\"list-group-item\"><div class=\"row\">\
            <div class=\"col-sm-5\"><h4>Número de RUC:</h4></div><div class=\"col-sm-7\"><h4>20550263948 - X</h4></div></div></div>\
            <div class=\"list-group-item\"><div class=\"row\"><div class=\"col-sm-5\"><h4>Estado del Contribuyente:</h4></div>\
            <div class=\"col-sm-7\"><p>BAJA DE OFICIO\r\n   </br>\r\n  Fecha de Baja: \r\n 31/10/2016</p></div></div></div></div>\
            <div class=\"panel-footer\">Fecha consulta</div></div>";
        let pairs = result_pairs(html);
        assert_eq!(
            pair(&pairs, "Estado del Contribuyente:").lines,
            ["BAJA DE OFICIO", "Fecha de Baja: 31/10/2016"]
        );
    }

    #[test]
    fn recognises_the_not_found_page() {
        assert_eq!(
            classify(&saved(include_str!("../../tests/pages/notfound.html"))),
            Page::NotFound("El número de RUC 20000000001 consultado no es válido.".into())
        );
    }

    #[test]
    fn recognises_the_error_page() {
        let html = "<HTML><HEAD><TITLE>.:: Pagina de Error ::.</TITLE></HEAD><BODY>\
                    <p class=\"error\">Surgieron problemas al procesar la consulta por n&uacute;mero de ruc.</p></BODY></HTML>";
        assert_eq!(
            classify(&saved(html)),
            Page::Error("Surgieron problemas al procesar la consulta por número de ruc.".into())
        );
    }

    #[test]
    fn recognises_the_firewall_page_and_its_support_id() {
        let html = "<html><head><title>Request Rejected</title></head><body>The requested URL was rejected. \
                    Please consult with your administrator.<br><br>Your support ID is: 1234567890123<br><br>\
                    <a href='javascript:history.back();'>[Go Back]</a></body></html>";
        assert_eq!(classify(&saved(html)), Page::Rejected("1234567890123".into()));
        let spanish = "<html><body>La URL solicitada fue rechazada. Consulte con su administrador.</body></html>";
        assert_eq!(classify(&saved(spanish)), Page::Rejected(String::new()));
    }

    #[test]
    fn chrome_error_pages_carry_the_network_code() {
        let snapshot = Snapshot {
            url: "chrome-error://chromewebdata/".into(),
            ready_state: "complete".into(),
            html: r#"<div class="error-code">${data.errorCode}</div><script>var loadTimeDataRaw = {"details":"ERR_INTERNET_DISCONNECTED","errorCode":"ERR_CONNECTION_RESET"};</script>"#.into(),
        };
        assert_eq!(classify(&snapshot), Page::NetworkError("ERR_CONNECTION_RESET".into()));
    }

    #[test]
    fn an_empty_result_shell_is_still_pending() {
        let html = r#"<title>SUNAT - Consulta RUC</title><div class="panel panel-primary">
            <div class="panel-heading">Resultado de la Búsqueda</div><div class="list-group"></div></div>"#;
        assert_eq!(classify(&saved(html)), Page::Pending);
    }

    #[test]
    fn the_search_form_is_pending() {
        let html = r#"<title>SUNAT - Consulta RUC</title><input id="txtRuc"><button id="btnAceptar">Buscar</button>"#;
        assert_eq!(classify(&saved(html)), Page::Pending);
    }
}
