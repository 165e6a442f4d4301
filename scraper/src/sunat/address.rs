//! Splits "Domicilio Fiscal" into street, region, province and district.
//!
//! SUNAT prints `<street> <REGION><padding>- <PROVINCE><padding>- <DISTRICT>`.
//! The padding is gone once a browser collapses white space, so the split
//! works from the right: the last two ` - ` pieces are district and province,
//! and the region is recognised as the suffix of what remains. The street may
//! itself contain ` - `.

use super::text::{collapse, fold};

/// Peru's 25 regions as SUNAT spells them, plus `CALLAO`, which older pages
/// print instead of the constitutional province's full name.
const REGIONS: [(&str, &str); 26] = [
    ("AMAZONAS", "AMAZONAS"),
    ("ANCASH", "ANCASH"),
    ("APURIMAC", "APURIMAC"),
    ("AREQUIPA", "AREQUIPA"),
    ("AYACUCHO", "AYACUCHO"),
    ("CAJAMARCA", "CAJAMARCA"),
    ("PROV. CONST. DEL CALLAO", "PROV. CONST. DEL CALLAO"),
    ("CALLAO", "PROV. CONST. DEL CALLAO"),
    ("CUSCO", "CUSCO"),
    ("HUANCAVELICA", "HUANCAVELICA"),
    ("HUANUCO", "HUANUCO"),
    ("ICA", "ICA"),
    ("JUNIN", "JUNIN"),
    ("LA LIBERTAD", "LA LIBERTAD"),
    ("LAMBAYEQUE", "LAMBAYEQUE"),
    ("LIMA", "LIMA"),
    ("LORETO", "LORETO"),
    ("MADRE DE DIOS", "MADRE DE DIOS"),
    ("MOQUEGUA", "MOQUEGUA"),
    ("PASCO", "PASCO"),
    ("PIURA", "PIURA"),
    ("PUNO", "PUNO"),
    ("SAN MARTIN", "SAN MARTIN"),
    ("TACNA", "TACNA"),
    ("TUMBES", "TUMBES"),
    ("UCAYALI", "UCAYALI"),
];

/// The four address fields of the record; all `None` when SUNAT prints `-`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Address {
    pub(crate) direccion: Option<String>,
    pub(crate) departamento: Option<String>,
    pub(crate) provincia: Option<String>,
    pub(crate) distrito: Option<String>,
}

pub(crate) fn split(raw: &str) -> Address {
    let text = collapse(raw);
    if text.is_empty() || text == "-" {
        return Address::default();
    }
    let mut pieces = text.rsplitn(3, " - ");
    let (Some(distrito), Some(provincia), Some(rest)) = (pieces.next(), pieces.next(), pieces.next()) else {
        return Address {
            direccion: Some(text),
            ..Address::default()
        };
    };
    let (street, region) = split_region(rest);
    Address {
        direccion: street,
        departamento: region.map(str::to_string),
        provincia: Some(provincia.to_string()),
        distrito: Some(distrito.to_string()),
    }
}

/// Finds the region at the end of `rest` (longest name first, whole words,
/// accents ignored) and returns the street before it and the region's name.
fn split_region(rest: &str) -> (Option<String>, Option<&'static str>) {
    let words: Vec<&str> = rest.split(' ').collect();
    let best = REGIONS
        .iter()
        .filter_map(|&(spelling, name)| {
            let region_words: Vec<&str> = spelling.split(' ').collect();
            let start = words.len().checked_sub(region_words.len())?;
            let matches = words[start..]
                .iter()
                .zip(&region_words)
                .all(|(word, expected)| fold(word) == fold(expected));
            matches.then_some((start, name))
        })
        .min_by_key(|&(start, _)| start);
    match best {
        Some((start, name)) => {
            let street = words[..start].join(" ");
            let street = (!street.is_empty() && street != "-").then_some(street);
            (street, Some(name))
        }
        None => (Some(rest.to_string()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(direccion: &str, departamento: &str, provincia: &str, distrito: &str) -> Address {
        Address {
            direccion: Some(direccion.into()),
            departamento: Some(departamento.into()),
            provincia: Some(provincia.into()),
            distrito: Some(distrito.into()),
        }
    }

    #[test]
    fn splits_the_padded_server_text() {
        let raw = format!(
            "CAL.LOS BRILLANTES NRO. 650 URB.  SANTA INES  LA LIBERTAD{}- TRUJILLO{}- TRUJILLO",
            " ".repeat(120),
            " ".repeat(123)
        );
        assert_eq!(
            split(&raw),
            address(
                "CAL.LOS BRILLANTES NRO. 650 URB. SANTA INES",
                "LA LIBERTAD",
                "TRUJILLO",
                "TRUJILLO"
            )
        );
    }

    #[test]
    fn prefers_the_longest_region_name() {
        assert_eq!(
            split("AV. SAENZ PEÑA NRO. 123 PROV. CONST. DEL CALLAO - PROV. CONST. DEL CALLAO - BELLAVISTA"),
            address(
                "AV. SAENZ PEÑA NRO. 123",
                "PROV. CONST. DEL CALLAO",
                "PROV. CONST. DEL CALLAO",
                "BELLAVISTA"
            )
        );
        assert_eq!(
            split("JR. LOS PINOS NRO. 9 MADRE DE DIOS - TAMBOPATA - TAMBOPATA"),
            address("JR. LOS PINOS NRO. 9", "MADRE DE DIOS", "TAMBOPATA", "TAMBOPATA")
        );
    }

    #[test]
    fn keeps_a_dash_inside_the_street() {
        assert_eq!(
            split("MZA. B LOTE 4 - SECTOR 2 LIMA - LIMA - ATE"),
            address("MZA. B LOTE 4 - SECTOR 2", "LIMA", "LIMA", "ATE")
        );
    }

    #[test]
    fn a_region_named_like_a_street_word_is_only_taken_at_the_end() {
        assert_eq!(
            split("AV. LIMA NRO. 5 ICA - ICA - ICA"),
            address("AV. LIMA NRO. 5", "ICA", "ICA", "ICA")
        );
    }

    #[test]
    fn dash_means_no_address() {
        assert_eq!(split(" - "), Address::default());
    }

    #[test]
    fn text_without_separators_is_kept_as_the_street() {
        assert_eq!(
            split("FUNDO SAN JOSE"),
            Address {
                direccion: Some("FUNDO SAN JOSE".into()),
                ..Address::default()
            }
        );
    }

    #[test]
    fn unknown_region_keeps_the_rest_as_street() {
        assert_eq!(
            split("CALLE 1 ATLANTIDA - X - Y"),
            Address {
                direccion: Some("CALLE 1 ATLANTIDA".into()),
                departamento: None,
                provincia: Some("X".into()),
                distrito: Some("Y".into()),
            }
        );
    }
}
