//! Representantes legales (`getRepLeg`): one row per person, five cells
//! (documento, número, nombre, cargo, fecha desde), values padded with
//! spaces; or a sentence saying there is no one.

use ruc_contract::Representante;

use super::table::{each_row, required};
use crate::sunat::text::{iso_date, non_empty};

pub(super) fn read(rows: &[Vec<String>], text: &str) -> Result<Vec<Representante>, String> {
    each_row(rows, 5, (text, Some("no se encontro informacion")), |cells| {
        Ok(Representante {
            tipo_documento: required(cells, 0, "documento")?,
            numero_documento: required(cells, 1, "número de documento")?,
            nombre: required(cells, 2, "nombre")?,
            cargo: required(cells, 3, "cargo")?,
            desde: non_empty(&cells[4]).and_then(|date| iso_date(&date)),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ruc, shown};
    use super::super::*;

    #[test]
    fn the_captured_page_gives_five_people_with_their_documents_and_iso_dates() {
        let html = include_str!("../../../../../shared/docs/sunat-samples/secondary/representantes-20512081372.html");
        let Ok(Rows::Representantes(people)) = read(Kind::Representantes, &[shown(html)], ruc("20512081372")) else {
            panic!("the captured page reads")
        };
        assert_eq!(people.len(), 5);
        assert_eq!(
            (
                people[0].tipo_documento.as_str(),
                people[0].cargo.as_str(),
                people[0].desde.as_deref()
            ),
            ("DNI", "GERENTE GENERAL", Some("2005-11-22"))
        );
        assert!(people[1..]
            .iter()
            .all(|p| p.cargo == "APODERADO" && p.desde.as_deref() == Some("2023-10-03")));
        for person in &people {
            assert_eq!(person.numero_documento.len(), 8, "padding trimmed");
            assert!(!person.nombre.ends_with(' ') && person.nombre.split(' ').count() >= 3);
        }
    }

    #[test]
    fn no_representative_is_an_empty_list_and_a_short_row_unreadable() {
        let page =
            |body: &str| format!("<html><body><h1>REPRESENTANTES LEGALES DE 20131312955 - X</h1>{body}</body></html>");
        let nobody = page("<h4>No se encontr&oacute; informaci&oacute;n para representantes legales.</h4>");
        assert_eq!(
            read(Kind::Representantes, &[shown(&nobody)], ruc("20131312955")),
            Ok(Rows::Representantes(vec![]))
        );
        let short = page("<table class=\"table\"><tr><td>DNI</td><td>1</td></tr></table>");
        let error = read(Kind::Representantes, &[shown(&short)], ruc("20131312955")).unwrap_err();
        assert_eq!(error.status(), 502);
    }
}
