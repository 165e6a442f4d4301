//! Establecimientos anexos (`getLocAnex`): one row per establishment, four
//! cells (código, tipo, dirección, actividad económica); the tipo is a
//! code, a dot and a description (`SU.SUCURSAL`), of which the description
//! is kept. A taxpayer without annexes gets SUNAT's error page instead
//! (read as an empty list by [`super::read`]). Whether SUNAT pages a long
//! list ("Páginas:") is not known; only the first page is read.

use ruc_contract::Establecimiento;

use super::table::{each_row, required};
use crate::sunat::text::non_empty;

pub(super) fn read(rows: &[Vec<String>], text: &str) -> Result<Vec<Establecimiento>, String> {
    each_row(rows, 4, (text, None), |cells| {
        let tipo = required(cells, 1, "tipo")?;
        Ok(Establecimiento {
            codigo: required(cells, 0, "código")?,
            tipo: tipo
                .split_once('.')
                .map_or(tipo.as_str(), |(_, name)| name)
                .trim()
                .to_string(),
            direccion: non_empty(&cells[2]),
            actividad_economica: non_empty(&cells[3]),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ruc, shown};
    use super::super::*;

    #[test]
    fn the_tipo_is_the_description_after_the_code() {
        let html = "<html><body><h1>ESTABLECIMIENTOS ANEXOS DE 20131312955 - X</h1><div class=\"list-group-item\">\
                    <table class=\"table\"><thead><tr><th>C&oacute;digo</th></tr></thead>\
                    <tr><td>0001</td><td>SU.SUCURSAL</td><td>AV. ESPA&Ntilde;A NRO. 1800  </td><td>-</td></tr></table></div></body></html>";
        let Ok(Rows::Establecimientos(found)) = read(Kind::Establecimientos, &[shown(html)], ruc("20131312955")) else {
            panic!("the page reads")
        };
        assert_eq!(found[0].tipo, "SUCURSAL");
        assert_eq!(found[0].direccion.as_deref(), Some("AV. ESPAÑA NRO. 1800"));
        assert_eq!(found[0].actividad_economica, None);
    }
}
