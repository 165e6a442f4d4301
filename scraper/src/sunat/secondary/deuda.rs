//! Deuda coactiva (`getInfoDC`): one row per debt, four cells (monto,
//! período tributario, inicio de la cobranza, entidad); or a sentence
//! saying none was sent to the risk centrals. Amounts become decimal
//! strings without thousands separators (`15,482.30` → `15482.30`);
//! periods `YYYY-MM` (SUNAT may write `MM/YYYY`).

use ruc_contract::Deuda;

use super::table::{each_row, required};
use crate::sunat::text::iso_date;

pub(super) fn read(rows: &[Vec<String>], text: &str) -> Result<Vec<Deuda>, String> {
    each_row(rows, 4, (text, Some("no se ha remitido deuda")), |cells| {
        Ok(Deuda {
            monto: amount(&required(cells, 0, "monto")?)?,
            periodo: period(&required(cells, 1, "período")?)?,
            inicio_cobranza: iso_date(&cells[2]),
            entidad: required(cells, 3, "entidad")?,
        })
    })
}

/// `15,482.30` (or `S/ 15,482.30`) as `15482.30`.
fn amount(text: &str) -> Result<String, String> {
    let digits: String = text
        .trim_start_matches("S/")
        .trim()
        .chars()
        .filter(|c| *c != ',')
        .collect();
    let (whole, cents) = digits.split_once('.').unwrap_or((&digits, ""));
    let valid = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && cents.len() <= 2
        && cents.bytes().all(|b| b.is_ascii_digit());
    valid
        .then_some(digits.clone())
        .ok_or_else(|| format!("el monto {text:?} no es un importe"))
}

/// `YYYY-MM`, from that or `MM/YYYY`.
fn period(text: &str) -> Result<String, String> {
    let (year, month) = match (text.split_once('-'), text.split_once('/')) {
        (Some((year, month)), _) => (year, month),
        (None, Some((month, year))) => (year, month),
        _ => return Err(format!("el período {text:?} no es AAAA-MM")),
    };
    let valid = year.len() == 4
        && month.len() == 2
        && year.bytes().chain(month.bytes()).all(|b| b.is_ascii_digit())
        && ("01"..="12").contains(&month);
    valid
        .then(|| format!("{year}-{month}"))
        .ok_or_else(|| format!("el período {text:?} no es AAAA-MM"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ruc, shown};
    use super::super::{read as read_page, Kind, Rows};
    use super::*;

    #[test]
    fn amounts_lose_their_separators_and_periods_become_iso() {
        assert_eq!(amount("15,482.30").as_deref(), Ok("15482.30"));
        assert_eq!(amount("S/ 1,000").as_deref(), Ok("1000"));
        assert!(amount("mil").is_err());
        assert_eq!(period("2023-08").as_deref(), Ok("2023-08"));
        assert_eq!(period("08/2023").as_deref(), Ok("2023-08"));
        assert!(period("2023-13").is_err());
    }

    #[test]
    fn debts_and_their_absence() {
        let page = |body: &str| {
            format!("<html><body><h1>DEUDA COACTIVA REMITIDA A CENTRALES DE RIESGO DE 20131312955 - X</h1>{body}</body></html>")
        };
        let debts = page(
            "<table class=\"table\"><tr><th>Monto</th></tr><tr><td>15,482.30</td><td>2023-08</td><td>12/01/2024</td><td>SUNAT</td></tr></table>",
        );
        let Ok(Rows::Deudas(found)) = read_page(Kind::DeudaCoactiva, &[shown(&debts)], ruc("20131312955")) else {
            panic!("the page reads")
        };
        assert_eq!(
            found,
            [Deuda {
                monto: "15482.30".into(),
                periodo: "2023-08".into(),
                inicio_cobranza: Some("2024-01-12".into()),
                entidad: "SUNAT".into()
            }]
        );
        let none =
            page("<h4>No se ha remitido deuda en cobranza coactiva que corresponda al contribuyente consultado.</h4>");
        assert_eq!(
            read_page(Kind::DeudaCoactiva, &[shown(&none)], ruc("20131312955")),
            Ok(Rows::Deudas(vec![]))
        );
    }
}
