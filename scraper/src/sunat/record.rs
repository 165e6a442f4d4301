//! Turns the result page's label/value pairs into the API record
//! (`record.md`), accepting every known spelling of each label.

use ruc_contract::Record;
use tracing::debug;

use super::address;
use super::page::{Pair, Value};
use super::text::{fold, iso_date, label_key, non_empty};

/// The record fields a label can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Ruc,
    Tipo,
    TipoDocumento,
    NombreComercial,
    FechaInscripcion,
    FechaInicioActividades,
    Estado,
    FechaBaja,
    Condicion,
    Domicilio,
    SistEmision,
    ActExterior,
    SistContabilidad,
    ActEconomicas,
    CpPago,
    SistElectronica,
    FechaEmisorFe,
    CpeElectronico,
    FechaPle,
    Padrones,
}

/// Label keys (see [`label_key`]) and their field, including the 2019
/// `jcrS03Alias` labels, the pre-2021 table labels and the 2021 typo.
const LABELS: &[(&str, Field)] = &[
    ("numero de ruc", Field::Ruc),
    ("ruc", Field::Ruc),
    ("tipo contribuyente", Field::Tipo),
    ("tipo de contribuyente", Field::Tipo),
    ("tipo de documento", Field::TipoDocumento),
    ("nombre comercial", Field::NombreComercial),
    ("fecha de inscripcion", Field::FechaInscripcion),
    ("fecha de inicio de actividades", Field::FechaInicioActividades),
    ("estado del contribuyente", Field::Estado),
    ("estado", Field::Estado),
    ("fecha de baja", Field::FechaBaja),
    ("condicion del contribuyente", Field::Condicion),
    ("condicion", Field::Condicion),
    ("domicilio fiscal", Field::Domicilio),
    ("direccion del domicilio fiscal", Field::Domicilio),
    ("sistema emision de comprobante", Field::SistEmision),
    ("sistema de emision de comprobante", Field::SistEmision),
    ("actividad comercio exterior", Field::ActExterior),
    ("actividad de comercio exterior", Field::ActExterior),
    ("sistema contabilidad", Field::SistContabilidad),
    ("sistema contabilidiad", Field::SistContabilidad),
    ("sistema de contabilidad", Field::SistContabilidad),
    ("actividad(es) economica(s)", Field::ActEconomicas),
    ("comprobantes de pago c/aut. de impresion (f. 806 u 816)", Field::CpPago),
    ("sistema de emision electronica", Field::SistElectronica),
    ("emisor electronico desde", Field::FechaEmisorFe),
    ("comprobantes electronicos", Field::CpeElectronico),
    ("afiliado al ple desde", Field::FechaPle),
    ("padrones", Field::Padrones),
];

/// Why a result page could not give a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordError {
    /// No `Número de RUC:` row.
    MissingRuc,
    /// The RUC row is not `<11 digits> - <name>`.
    MalformedRuc(String),
    /// A row every result page has is not there (its label changed?).
    MissingRow(&'static str),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::MissingRuc => f.write_str("la página de resultado no tiene la fila 'Número de RUC'"),
            RecordError::MalformedRuc(text) => write!(f, "fila 'Número de RUC' ilegible: {text:?}"),
            RecordError::MissingRow(label) => write!(f, "la página de resultado no tiene la fila '{label}'"),
        }
    }
}

/// Builds the record; `consultado_en` is when the page was read.
pub(crate) fn from_pairs(pairs: &[Pair], consultado_en: String) -> Result<Record, RecordError> {
    // Each label is normalised once; the first row of a field wins.
    let mut fields: Vec<(Field, &Value)> = Vec::new();
    for pair in pairs {
        match field_of(&pair.label) {
            Some(field) => fields.push((field, &pair.value)),
            None => debug!(label = %pair.label, "ignoring unknown label"),
        }
    }
    let value = |field: Field| fields.iter().find(|(f, _)| *f == field).map(|&(_, value)| value);
    let scalar = |field: Field| value(field).and_then(|v| non_empty(&v.text()));
    let date = |field: Field| value(field).and_then(|v| iso_date(&v.text()));
    let list = |field: Field| value(field).map(list_entries).unwrap_or_default();

    let (ruc, razon_social) = split_ruc_row(&value(Field::Ruc).ok_or(RecordError::MissingRuc)?.text())?;
    // Every result page shows the state and the condition: without them
    // the page is not the one the parser knows.
    let estado = value(Field::Estado).ok_or(RecordError::MissingRow("Estado del Contribuyente"))?;
    let condicion = value(Field::Condicion).ok_or(RecordError::MissingRow("Condición del Contribuyente"))?;
    let (estado, fecha_baja) = estado_and_baja(estado);
    let address = value(Field::Domicilio)
        .map(|v| address::split(&v.text()))
        .unwrap_or_default();
    Ok(Record {
        ruc,
        razon_social,
        tipo: scalar(Field::Tipo),
        tipo_documento: scalar(Field::TipoDocumento),
        nombre_comercial: scalar(Field::NombreComercial),
        fecha_inscripcion: date(Field::FechaInscripcion),
        fecha_inicio_actividades: date(Field::FechaInicioActividades),
        estado,
        fecha_baja: fecha_baja.or_else(|| date(Field::FechaBaja)),
        condicion: first_line(condicion),
        direccion: address.direccion,
        departamento: address.departamento,
        provincia: address.provincia,
        distrito: address.distrito,
        sist_emision: scalar(Field::SistEmision),
        act_exterior: scalar(Field::ActExterior),
        sist_contabilidad: scalar(Field::SistContabilidad),
        act_economicas: list(Field::ActEconomicas),
        cp_pago: list(Field::CpPago),
        sist_electronica: list(Field::SistElectronica),
        fecha_emisor_fe: date(Field::FechaEmisorFe),
        cpe_electronico: value(Field::CpeElectronico).map(comma_separated).unwrap_or_default(),
        fecha_ple: date(Field::FechaPle),
        padrones: list(Field::Padrones),
        consultado_en,
    })
}

fn field_of(label: &str) -> Option<Field> {
    let key = label_key(label);
    LABELS.iter().find(|(k, _)| *k == key).map(|&(_, field)| field)
}

/// `20440374248 - GOBIERNO REGIONAL LA LIBERTAD`: the name may itself
/// contain ` - `, so only the first dash separates.
fn split_ruc_row(text: &str) -> Result<(String, String), RecordError> {
    let malformed = || RecordError::MalformedRuc(text.to_string());
    let (ruc, name) = text.split_once('-').ok_or_else(malformed)?;
    let ruc = ruc.trim();
    if ruc.len() != 11 || !ruc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    Ok((ruc.to_string(), name.trim().to_string()))
}

fn first_line(value: &Value) -> Option<String> {
    value.lines.first().and_then(|line| non_empty(line))
}

/// Estado's first line is the state; a `Fecha de Baja: dd/mm/yyyy` line may
/// follow (or share the line when the page has no `<br>`).
fn estado_and_baja(value: &Value) -> (Option<String>, Option<String>) {
    let text = value.text();
    let folded = fold(&text);
    let Some(at) = folded.find("fecha de baja") else {
        return (first_line(value), None);
    };
    // Text before the marker has the same words in both spellings.
    let words_before = folded[..at].split_whitespace().count();
    let estado: Vec<&str> = text.split_whitespace().take(words_before).collect();
    let after_colon = folded[at..].split_once(':').map(|(_, rest)| rest).unwrap_or("");
    let baja = after_colon.split_whitespace().next().and_then(iso_date);
    (non_empty(&estado.join(" ")), baja)
}

/// A list field: table cells, or the bare text when there is no table.
/// `NINGUNO` and `-` alone mean an empty list.
fn list_entries(value: &Value) -> Vec<String> {
    let entries = match &value.cells {
        Some(cells) => cells.clone(),
        None => value.lines.clone(),
    };
    match entries.as_slice() {
        [only] if only == "-" || only.eq_ignore_ascii_case("ninguno") => Vec::new(),
        _ => entries,
    }
}

/// `FACTURA (desde 01/01/2013),BOLETA (desde 01/01/2013)` → two entries.
fn comma_separated(value: &Value) -> Vec<String> {
    match non_empty(&value.text()) {
        Some(text) => text.split(',').filter_map(non_empty).collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sunat::page::{classify, Page, Snapshot};
    use serde_json::Value as Json;

    const CONSULTADO_EN: &str = "2026-11-26T13:00:00Z";

    fn record_of(html: &str) -> Record {
        let snapshot = Snapshot {
            url: "http://sunat/cl-ti-itmrconsruc/jcrS00Alias".into(),
            ready_state: "complete".into(),
            html: html.into(),
        };
        match classify(&snapshot) {
            Page::Result(pairs) => from_pairs(&pairs, CONSULTADO_EN.into()).expect("a record"),
            other => panic!("not a result page: {other:?}"),
        }
    }

    /// The records `captured/expected.json` gives for the real SUNAT pages.
    fn expected_captured(ruc: &str) -> Json {
        let all: Json = serde_json::from_str(include_str!("../../tests/pages/captured/expected.json")).unwrap();
        let mut record = all["records"][ruc].clone();
        record["consultadoEn"] = CONSULTADO_EN.into();
        record
    }

    fn assert_fields_equal(actual: &Record, expected: &Json) {
        let actual = serde_json::to_value(actual).unwrap();
        for (field, want) in expected.as_object().unwrap() {
            assert_eq!(&actual[field], want, "field {field}");
        }
        assert_eq!(actual.as_object().unwrap().len(), expected.as_object().unwrap().len());
    }

    #[test]
    fn captured_government_body_page_gives_its_record() {
        let record = record_of(include_str!("../../tests/pages/captured/20440374248.html"));
        assert_fields_equal(&record, &expected_captured("20440374248"));
    }

    #[test]
    fn captured_natural_person_page_gives_its_record() {
        let record = record_of(include_str!("../../tests/pages/captured/10401510465.html"));
        assert_fields_equal(&record, &expected_captured("10401510465"));
    }

    #[test]
    fn replica_fixture_gives_its_record() {
        let record = record_of(include_str!("../../tests/pages/result.html"));
        let expected: Json = serde_json::from_str(include_str!("../../tests/expected/20987654326.json")).unwrap();
        let mut expected = expected;
        expected["consultadoEn"] = CONSULTADO_EN.into();
        assert_fields_equal(&record, &expected);
    }

    /// A label, its lines and its table cells, if any.
    type Row<'a> = (&'a str, &'a [&'a str], Option<&'a [&'a str]>);

    fn pairs(rows: &[Row]) -> Vec<Pair> {
        rows.iter()
            .map(|(label, lines, cells)| Pair {
                label: label.to_string(),
                value: Value {
                    lines: lines.iter().map(|l| l.to_string()).collect(),
                    cells: cells.map(|c| c.iter().map(|l| l.to_string()).collect()),
                },
            })
            .collect()
    }

    #[test]
    fn estado_gives_the_state_and_the_date_of_baja() {
        let record = from_pairs(
            &pairs(&[
                ("Número de RUC:", &["20550263948 - ALFA - OMEGA S.A.C."], None),
                (
                    "Estado del Contribuyente:",
                    &["BAJA DE OFICIO", "Fecha de Baja: 31/10/2016"],
                    None,
                ),
                (
                    "Condición del Contribuyente:",
                    &["NO HABIDO", "Deberá declarar el nuevo domicilio fiscal"],
                    None,
                ),
            ]),
            CONSULTADO_EN.into(),
        )
        .unwrap();
        assert_eq!(record.razon_social, "ALFA - OMEGA S.A.C.");
        assert_eq!(record.estado.as_deref(), Some("BAJA DE OFICIO"));
        assert_eq!(record.fecha_baja.as_deref(), Some("2016-10-31"));
        assert_eq!(record.condicion.as_deref(), Some("NO HABIDO"));
    }

    #[test]
    fn fecha_de_baja_on_the_same_line_without_br() {
        let (estado, baja) = estado_and_baja(&Value {
            lines: vec!["BAJA DEFINITIVA Fecha de Baja: 01/02/2020".into()],
            cells: None,
        });
        assert_eq!(estado.as_deref(), Some("BAJA DEFINITIVA"));
        assert_eq!(baja.as_deref(), Some("2020-02-01"));
    }

    #[test]
    fn label_variants_all_match() {
        for label in [
            "Sistema Contabilidad:",
            "Sistema Contabilidiad:",
            "Sistema de Contabilidad:",
            "SISTEMA CONTABILIDAD :",
        ] {
            let record = from_pairs(
                &pairs(&[
                    ("RUC:", &["20131312955 - SUNAT"], None),
                    ESTADO,
                    CONDICION,
                    (label, &["COMPUTARIZADO"], None),
                ]),
                CONSULTADO_EN.into(),
            )
            .unwrap();
            assert_eq!(record.sist_contabilidad.as_deref(), Some("COMPUTARIZADO"), "{label}");
        }
    }

    /// The rows every result page has, besides the RUC's.
    const ESTADO: Row = ("Estado del Contribuyente:", &["ACTIVO"], None);
    const CONDICION: Row = ("Condición del Contribuyente:", &["HABIDO"], None);

    #[test]
    fn missing_labels_give_null_and_empty_lists() {
        let record = from_pairs(
            &pairs(&[("Número de RUC:", &["20131312955 - SUNAT"], None), ESTADO, CONDICION]),
            CONSULTADO_EN.into(),
        )
        .unwrap();
        assert_eq!(record.tipo, None);
        assert_eq!(record.direccion, None);
        assert!(record.act_economicas.is_empty() && record.padrones.is_empty());
    }

    #[test]
    fn unknown_labels_are_ignored() {
        let record = from_pairs(
            &pairs(&[
                ("Número de RUC:", &["20131312955 - SUNAT"], None),
                ESTADO,
                CONDICION,
                ("Profesión u Oficio:", &["ABOGADO"], None),
            ]),
            CONSULTADO_EN.into(),
        );
        assert!(record.is_ok());
    }

    /// A page whose state or condition rows changed their labels is not
    /// read as a record with those fields empty.
    #[test]
    fn a_result_without_the_state_or_condition_row_is_an_error() {
        let ruc: Row = ("Número de RUC:", &["20131312955 - SUNAT"], None);
        let renamed: Row = ("Situación tributaria:", &["ACTIVO"], None);
        assert_eq!(
            from_pairs(&pairs(&[ruc, renamed, CONDICION]), CONSULTADO_EN.into()),
            Err(RecordError::MissingRow("Estado del Contribuyente"))
        );
        assert_eq!(
            from_pairs(&pairs(&[ruc, ESTADO]), CONSULTADO_EN.into()),
            Err(RecordError::MissingRow("Condición del Contribuyente"))
        );
    }

    #[test]
    fn a_page_without_ruc_row_is_an_error() {
        assert_eq!(
            from_pairs(&pairs(&[("Tipo Contribuyente:", &["X"], None)]), CONSULTADO_EN.into()),
            Err(RecordError::MissingRuc)
        );
        assert!(matches!(
            from_pairs(
                &pairs(&[("Número de RUC:", &["2013 - SUNAT"], None)]),
                CONSULTADO_EN.into()
            ),
            Err(RecordError::MalformedRuc(_))
        ));
    }

    #[test]
    fn comprobantes_electronicos_split_on_commas() {
        let value = Value {
            lines: vec!["FACTURA (desde 01/01/2013),BOLETA (desde 01/01/2013)".into()],
            cells: None,
        };
        assert_eq!(
            comma_separated(&value),
            ["FACTURA (desde 01/01/2013)", "BOLETA (desde 01/01/2013)"]
        );
        let dash = Value {
            lines: vec!["-".into()],
            cells: None,
        };
        assert!(comma_separated(&dash).is_empty());
    }

    #[test]
    fn ninguno_and_dash_are_empty_lists() {
        for entries in [vec!["NINGUNO".to_string()], vec!["-".to_string()]] {
            assert!(list_entries(&Value {
                lines: vec![],
                cells: Some(entries.clone())
            })
            .is_empty());
            assert!(list_entries(&Value {
                lines: entries,
                cells: None
            })
            .is_empty());
        }
    }
}
