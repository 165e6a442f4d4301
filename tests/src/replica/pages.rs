//! The replica's pages, with SUNAT's quirks: CRLF line endings, leading
//! blank lines, entity and literal accents side by side, `</br>` inside
//! values, the space-padded address, tables for lists and a bare `-` for an
//! empty one. Result pages reuse the saved fixture's shell, so everything
//! around the data is SUNAT's own markup.

use super::dataset::{Domicilio, Source, Taxpayer};
use super::secondary;

const FIXTURE: &str = include_str!("../../../scraper/tests/pages/result.html");
const FIXTURE_RUC: &str = "20987654326";
const FIXTURE_NAME: &str = "EMPRESA DE PRUEBA REPLICA S.A.C.";
const LIST_START: &str = "<div class=\"list-group\">";
const LIST_END: &str = "</div><!-- fin list-group -->";
/// SUNAT pads the region and the province of an address to this width.
const ADDRESS_PADDING: usize = 131;

/// The search form, with SUNAT's element ids and a script that does what
/// the real one does: check the digit (`alert()` when wrong), make a random
/// 52-character token (the fake reCAPTCHA), and post the form.
pub fn form_page() -> String {
    crlf(include_str!("../../../scraper/tests/pages/form.html"))
}

/// The result page of a known taxpayer.
pub fn result_page(source: &Source) -> String {
    match source {
        Source::Verbatim(html) => html.to_string(),
        Source::Rendered(taxpayer) => rendered_result(taxpayer),
    }
}

/// Moves the result rows into a script that inserts them `delay_ms` after
/// the page loads, as SUNAT's page sometimes does.
pub fn insert_late(page: &str, delay_ms: u64) -> String {
    let (Some(start), Some(end)) = (page.find(LIST_START), page.find(LIST_END)) else {
        return page.to_string();
    };
    let start = start + LIST_START.len();
    let rows = serde_json::to_string(&page[start..end])
        .expect("strings serialise")
        .replace("</", "<\\/");
    let script = format!(
        "<script>setTimeout(function () {{ document.querySelector('.panel-primary .list-group').innerHTML = {rows}; }}, {delay_ms});</script>\r\n"
    );
    let body_end = page.rfind("</body>").unwrap_or(page.len());
    format!(
        "{}{}{}{}",
        &page[..start],
        &page[end..body_end],
        script,
        &page[body_end..]
    )
}

/// The answer for a RUC SUNAT does not have (valid check digit, unknown).
pub fn not_found_page(ruc: &str) -> String {
    include_str!("../../../scraper/tests/pages/notfound.html").replace("20000000001", ruc)
}

/// SUNAT's server error page (also for a missing `token`).
pub fn error_page() -> String {
    error_page_saying("Surgieron problemas al procesar la consulta por n&uacute;mero de ruc.")
}

/// SUNAT's error page with its `message` (HTML).
pub fn error_page_saying(message: &str) -> String {
    crlf(&format!(
        "<HTML>\n<HEAD>\n<TITLE>.:: Pagina de Error ::.</TITLE>\n<META http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">\n</HEAD>\n\
         <BODY>\n<p class=\"error\">{message}</p>\n</BODY>\n</HTML>\n",
    ))
}

/// A page no client knows: what a changed site or a bot challenge looks
/// like to a client that expects SUNAT's pages.
pub fn unknown_page() -> String {
    crlf(
        "<!DOCTYPE html>\n<html><head><title>Documento sin t&iacute;tulo</title></head>\n\
         <body><div id=\"challenge\">Un momento, por favor&hellip;</div></body></html>\n",
    )
}

/// A result page after a change of SUNAT's site: the rows of the state
/// and the condition carry other labels, which no client knows yet.
pub fn changed_layout(result_page: &str) -> String {
    result_page
        .replace("Estado del Contribuyente:", "Situaci&oacute;n tributaria:")
        .replace("Condici&oacute;n del Contribuyente:", "Condici&oacute;n de domicilio:")
}

/// The F5 firewall's ~245-byte rejection page.
pub fn firewall_page(support_id: u64) -> String {
    format!(
        "<html><head><title>Request Rejected</title></head><body>The requested URL was rejected. \
         Please consult with your administrator.<br><br>Your support ID is: {support_id}<br><br>\
         <a href='javascript:history.back();'>[Go Back]</a></body></html>"
    )
}

/// The "Relación de contribuyentes" list of a name search.
pub fn list_page(entries: &[(&str, &str)]) -> String {
    let mut items = String::new();
    for (ruc, name) in entries {
        items.push_str(&format!(
            "<a href=\"#\" class=\"list-group-item clearfix aRucs\" data-ruc=\"{ruc}\">\n\
             \t<h4 class=\"list-group-item-heading\">RUC: {ruc}</h4>\n\
             \t<h4 class=\"list-group-item-heading\">{}</h4>\n\
             \t<p class=\"list-group-item-text\">Estado: <strong><span class=\"text-success\">ACTIVO</span></strong></p>\n</a>\n",
            escape(name)
        ));
    }
    crlf(&format!(
        "\n\n<!DOCTYPE html>\n<html lang=\"es\"><head><meta charset=\"utf-8\"><title>SUNAT - Consulta RUC</title></head><body>\n\
         <div class=\"panel panel-primary\"><div class=\"panel-heading\">Relaci&oacute;n de contribuyentes</div>\n\
         <div class=\"list-group\">\n{items}</div></div></body></html>\n"
    ))
}

fn rendered_result(t: &Taxpayer) -> String {
    let start = FIXTURE.find(LIST_START).expect("fixture list start") + LIST_START.len();
    let end = FIXTURE.find(LIST_END).expect("fixture list end");
    let tail = FIXTURE[end..]
        .replace(FIXTURE_RUC, t.ruc)
        .replace(FIXTURE_NAME, &escape(t.razon_social));
    let page = format!("{}\r\n{}\t\t\t\t  {}", &FIXTURE[..start], rows(t), tail);
    without_unused_buttons(page, t.ruc)
}

/// The result page without the annexes' button (its form) for a taxpayer
/// that has none, as on the real site.
fn without_unused_buttons(page: String, ruc: &str) -> String {
    if secondary::has_button(ruc, "getLocAnex") {
        return page;
    }
    let Some(start) = page.find("<form name=\"formLocAnex\"") else {
        return page;
    };
    let end = page[start..]
        .find("</form>")
        .map_or(page.len(), |end| start + end + "</form>".len());
    format!("{}{}", &page[..start], &page[end..])
}

fn rows(t: &Taxpayer) -> String {
    let mut rows = String::new();
    if t.estado == "BAJA DE OFICIO" {
        rows.push_str(&banner(t.estado));
    }
    rows.push_str(&row(
        "",
        &[(
            "N&uacute;mero de RUC:",
            heading_value(&format!("{} - {}", t.ruc, escape(t.razon_social))),
        )],
    ));
    rows.push_str(&row("", &[("Tipo Contribuyente:", text(t.tipo))]));
    if let Some(document) = t.tipo_documento {
        rows.push_str(&row(
            "",
            &[("Tipo de Documento:", text(&format!("{document}\r\n\t\t\t\t")))],
        ));
    }
    rows.push_str(&row(
        "",
        &[(
            "Nombre Comercial:",
            text(&format!(
                "{}\r\n\t\t\t\t\t              \r\n\t\t\t\t\t            ",
                escape(t.nombre_comercial)
            )),
        )],
    ));
    rows.push_str(&row(
        "",
        &[
            ("Fecha de Inscripci&oacute;n:", text(t.fecha_inscripcion)),
            ("Fecha de Inicio de Actividades:", text(t.fecha_inicio)),
        ],
    ));
    let estado = match t.fecha_baja {
        Some(date) => format!(
            "{}\r\n\t\t\t\t\t\t\t</br>\r\n\t\t\t\t\t\t\tFecha de Baja: \t\t\r\n\t\t\t\t\t\t\t{date}\r\n\t\t\t\t\t\t",
            t.estado
        ),
        None => format!(
            "{}\r\n\t                         \t\r\n\t\t\t\t\t                 \r\n",
            t.estado
        ),
    };
    rows.push_str(&row(
        status_class(t.estado),
        &[("Estado del Contribuyente:", text(&estado))],
    ));
    let condicion = match t.condicion_nota {
        Some(note) => format!("\r\n\t\t\t\t\t\t{} \r\n\t\t\t\t\t\t</br>\r\n\t\t\t\t\t\t{}\r\n", t.condicion, escape(note)),
        None => format!("\r\n\t\t                         \t\r\n\t\t\t\t\t\t              \t{}\r\n\t\t\t\t\t\t              \r\n\r\n\t\t\t\t\t\t\t\t", t.condicion),
    };
    rows.push_str(&row(
        status_class(t.condicion),
        &[("Condici&oacute;n del Contribuyente:", text(&condicion))],
    ));
    rows.push_str(&row("", &[("Domicilio Fiscal:", text(&address(t.domicilio.as_ref())))]));
    rows.push_str(&row(
        "",
        &[
            ("Sistema Emisión de Comprobante:", text(t.sist_emision)),
            ("Actividad Comercio Exterior:", text(t.act_exterior)),
        ],
    ));
    rows.push_str(&row("", &[(t.contabilidad_label, text(t.sist_contabilidad))]));
    rows.push_str(&row(
        "",
        &[("Actividad(es) Econ&oacute;mica(s):", table(t.actividades, true))],
    ));
    rows.push_str(&row(
        "",
        &[(
            "Comprobantes de Pago c/aut. de impresión (F. 806 u 816):",
            table(t.cp_pago, false),
        )],
    ));
    let electronica = match t.sist_electronica {
        [] => "\r\n\t\t\t\t                -\r\n\t\t\t\t                ".to_string(),
        rows => table(rows, false),
    };
    rows.push_str(&row(
        "",
        &[("Sistema de Emisi&oacute;n Electr&oacute;nica:", electronica)],
    ));
    rows.push_str(&row("", &[("Emisor electr&oacute;nico desde:", text(t.emisor_desde))]));
    rows.push_str(&row("", &[("Comprobantes Electr&oacute;nicos:", text(t.cpe))]));
    rows.push_str(&row("", &[("Afiliado al PLE desde:", text(t.ple))]));
    rows.push_str(&row("", &[("Padrones:", raw_table(t.padrones))]));
    rows.push_str(
        "\t\t\t        <!-- <div class=\"list-group-item\">\r\n\t\t\t\t    \t<div class=\"row\">\r\n\
         \t\t\t\t    \t\t<div class=\"col-sm-5\"><h4 class=\"list-group-item-heading\">Razón Social:</h4></div>\r\n\
         \t\t\t\t    \t\t<div class=\"col-sm-7\"><p class=\"list-group-item-text\">eeee</p></div>\r\n\
         \t\t\t\t    \t</div>\r\n\t\t\t        </div> -->\r\n",
    );
    rows
}

/// One `div.list-group-item`: one label/value pair in `col-sm-5`/`col-sm-7`,
/// or two pairs in four `col-sm-3` columns.
fn row(class: &str, pairs: &[(&str, String)]) -> String {
    let width = if pairs.len() == 1 { ["5", "7"] } else { ["3", "3"] };
    let mut columns = String::new();
    for (label, value) in pairs {
        columns.push_str(&format!(
            "\t\t\t\t    \t\t<div class=\"col-sm-{}\">\r\n\t                         \t<h4 class=\"list-group-item-heading\">{label}</h4>\r\n\t                         </div>\r\n\
             \t                         <div class=\"col-sm-{}\">\r\n\t                         \t{value}\r\n\t                         </div>\r\n",
            width[0], width[1]
        ));
    }
    format!(
        "\t\t\t        <div class=\"list-group-item{class}\">\r\n\t\t\t\t    \t<div class=\"row\">\r\n{columns}\t\t\t\t    \t</div>  \r\n\t\t\t        </div>\r\n\t\t\t        \r\n"
    )
}

/// The red IMPORTANTE banner SUNAT puts first for BAJA DE OFICIO.
fn banner(estado: &str) -> String {
    format!(
        "\t\t\t        <div class=\"list-group-item list-group-item-danger\">\r\n\t\t\t\t    \t<div class=\"row\">\r\n\
         \t\t\t\t    \t\t<div class=\"col-sm-12\">\r\n\t\t\t\t    \t\t\t<p class=\"list-group-item-text\"><strong>IMPORTANTE:</strong> \
         Los comprobantes de pago o notas de d&eacute;bito emitidos por este contribuyente no dan derecho a cr&eacute;dito fiscal del IGV, \
         en tanto se encuentra con estado de <strong>{estado}</strong></p>\r\n\t\t\t\t    \t\t</div>\r\n\t\t\t\t    \t</div>\r\n\t\t\t        </div>\r\n"
    )
}

fn status_class(value: &str) -> &'static str {
    match value {
        "ACTIVO" | "HABIDO" => " list-group-item-success",
        v if v.starts_with("BAJA") || v == "SUSPENSION TEMPORAL" || v == "NO HABIDO" || v == "NO HALLADO" => {
            " list-group-item-danger"
        }
        _ => "",
    }
}

fn heading_value(value: &str) -> String {
    format!("<h4 class=\"list-group-item-heading\">{value}</h4>")
}

fn text(value: &str) -> String {
    format!("<p class=\"list-group-item-text\">{value}</p>")
}

/// `street  REGION<pad>- PROVINCE<pad>- DISTRICT`, exactly as SUNAT pads it.
fn address(domicilio: Option<&Domicilio>) -> String {
    match domicilio {
        None => "-".to_string(),
        Some(d) => format!(
            "{}  {:<width$}- {:<width$}- {}",
            d.street,
            d.departamento,
            d.provincia,
            d.distrito,
            width = ADDRESS_PADDING
        ),
    }
}

/// A `table.tblResultado` with one `td` per row, with SUNAT's comments
/// between activity rows.
fn table(entries: &[&str], comments: bool) -> String {
    let separator = if comments {
        "\t\t                <!--SC003-2015 Inicio-->\r\n\t\t                \r\n\t\t                <!--SC003-2015 Fin-->\r\n"
    } else {
        ""
    };
    let rows: String = entries
        .iter()
        .map(|entry| format!("\t\t                <tr><td>{}</td></tr>\r\n{separator}", escape(entry)))
        .collect();
    format!("<table class=\"table tblResultado\">\r\n\t                                <tbody>\r\n{rows}\t\t\t\t\t\t\t\t\t</tbody>\r\n\t                            </table>")
}

/// Like [`table`] for entries already written with HTML entities.
fn raw_table(entries: &[&str]) -> String {
    let rows: String = entries
        .iter()
        .map(|entry| format!("\t\t\t\t\t\t\t                \t<tr><td>{entry}</td></tr>\r\n"))
        .collect();
    format!(
        " <table class=\"table tblResultado\">\r\n                               \t\t<tbody>\r\n\t\t\t\t\t\t                \r\n\
         \t\t\t\t\t\t\t\t\t\t<!-- JRR - 20/09/2010 - Se añade cambio de Igor -->\r\n{rows}\t\t\t\t\t                </tbody>\r\n\t                            </table>"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Converts bare LF line endings to CRLF, as SUNAT's servers send.
pub(super) fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::dataset;

    fn rendered(ruc: &str) -> String {
        result_page(&dataset::find(ruc).expect("in the dataset"))
    }

    #[test]
    fn rendered_pages_keep_the_real_quirks() {
        let page = rendered("20550263948");
        assert!(page.starts_with("\r\n\r\n\r\n\r\n\r\n<!DOCTYPE html>"));
        assert!(!page.replace("\r\n", "").contains('\n'), "only CRLF line endings");
        assert!(page.contains("N&uacute;mero de RUC:") && page.contains("Sistema Emisión de Comprobante:"));
        assert!(page.contains("</br>"));
        assert!(page.contains(&format!("PROV. CONST. DEL CALLAO{}- BELLAVISTA", " ".repeat(131 - 23))));
        assert!(page.contains("list-group-item-danger"));
        assert!(page.contains("CONSTRUCTORA LOS ANDES &amp; ASOCIADOS"));
        assert!(!page.contains(FIXTURE_RUC), "the fixture's RUC is replaced everywhere");
    }

    #[test]
    fn an_empty_electronic_system_is_a_bare_dash() {
        let page = rendered("20493919271");
        let at = page.find("Sistema de Emisi&oacute;n Electr&oacute;nica:").unwrap();
        let next_label = page[at..].find("Emisor electr").unwrap();
        assert!(!page[at..at + next_label].contains("<table"));
    }

    #[test]
    fn late_insertion_leaves_the_list_empty_until_the_script_runs() {
        let page = insert_late(&rendered("20146806679"), 700);
        let start = page.find(LIST_START).unwrap() + LIST_START.len();
        assert!(page[start..].starts_with(LIST_END));
        assert!(page.contains("setTimeout") && page.contains("DISTRIBUIDORA COMERCIAL NORTE"));
        assert!(
            !page.contains("</td></tr>"),
            "rows only inside the script, with escaped closing tags"
        );
    }
}
