//! Cantidad de trabajadores y/o prestadores de servicio (`getCantTrab`):
//! up to twelve periods, oldest first, `YYYY-MM` and three counts, `NE`
//! when not declared; or a sentence saying nothing was declared.

use ruc_contract::Periodo;

use super::table::{each_row, required};

pub(super) fn read(rows: &[Vec<String>], text: &str) -> Result<Vec<Periodo>, String> {
    each_row(rows, 4, (text, Some("no existen declaraciones")), |cells| {
        let periodo = required(cells, 0, "período")?;
        if !is_period(&periodo) {
            return Err(format!("el período {periodo:?} no es AAAA-MM"));
        }
        Ok(Periodo {
            periodo,
            trabajadores: count(&cells[1])?,
            pensionistas: count(&cells[2])?,
            prestadores: count(&cells[3])?,
        })
    })
}

/// `YYYY-MM`.
fn is_period(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 7
        && bytes[4] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || b.is_ascii_digit())
        && ("01"..="12").contains(&&text[5..7])
}

/// A count, or `None` for SUNAT's `NE` (no declarado).
fn count(cell: &str) -> Result<Option<u32>, String> {
    match cell {
        "NE" | "-" => Ok(None),
        digits => digits
            .parse()
            .map(Some)
            .map_err(|_| format!("la cantidad {digits:?} no es un número")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ruc, shown};
    use super::super::{read as read_page, Kind, Rows};
    use super::*;

    #[test]
    fn the_captured_page_gives_twelve_periods_oldest_first() {
        let html = include_str!("../../../../../shared/docs/sunat-samples/secondary/trabajadores-20601460913.html");
        let Ok(Rows::Periodos(periods)) = read_page(Kind::Trabajadores, &[shown(html)], ruc("20601460913")) else {
            panic!("the captured page reads")
        };
        assert_eq!(periods.len(), 12);
        assert_eq!(
            periods[0],
            Periodo {
                periodo: "2024-07".into(),
                trabajadores: Some(8),
                pensionistas: Some(0),
                prestadores: Some(12)
            }
        );
        assert_eq!(periods[11].periodo, "2025-06");
        assert_eq!((periods[11].trabajadores, periods[11].prestadores), (Some(7), Some(6)));
    }

    #[test]
    fn ne_is_null_and_no_declaration_an_empty_list() {
        assert_eq!(count("NE"), Ok(None));
        assert_eq!(count("12"), Ok(Some(12)));
        assert!(count("doce").is_err());
        assert!(is_period("2025-09") && !is_period("2025-13") && !is_period("09/2025"));
        let none = "<html><body><h3>CANTIDAD DE TRABAJADORES Y/O PRESTADORES DE SERVICIO DE 20131312955 -  X </h3>\
                    <h5>No existen declaraciones presentadas por el contribuyente consultado.</h5></body></html>";
        assert_eq!(
            read_page(Kind::Trabajadores, &[shown(none)], ruc("20131312955")),
            Ok(Rows::Periodos(vec![]))
        );
    }
}
