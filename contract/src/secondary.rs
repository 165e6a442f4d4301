//! The pages behind SUNAT's result page that the service reads, besides
//! the record: who may sign for a taxpayer (representantes legales), how
//! large it is (trabajadores), where it operates (establecimientos anexos)
//! and its debt in coercive collection (deuda coactiva). Each is the body
//! of `GET /obtener-ruc/<ruc>/<kind>`: `{"ruc", "<list>": [...],
//! "consultadoEn"}`, an empty list when SUNAT shows nothing. Field names
//! follow the record's camelCase, and those of peru-consult and the
//! commercial SUNAT APIs where they have one (`tipoDocumento`,
//! `numeroDocumento`, `nombre`, `cargo`, `desde`; `periodo`).

use serde::{Deserialize, Serialize};

/// Which page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Representantes,
    Trabajadores,
    Establecimientos,
    DeudaCoactiva,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Representantes,
        Kind::Trabajadores,
        Kind::Establecimientos,
        Kind::DeudaCoactiva,
    ];

    /// Its place in [`Kind::ALL`], for tables indexed by kind.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its path segment after the RUC, and its name in Redis keys and
    /// metric labels.
    pub fn segment(self) -> &'static str {
        match self {
            Kind::Representantes => "representantes",
            Kind::Trabajadores => "trabajadores",
            Kind::Establecimientos => "establecimientos",
            Kind::DeudaCoactiva => "deuda-coactiva",
        }
    }

    /// The kind a path segment names.
    pub fn parse(segment: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.segment() == segment)
    }

    /// A lookup's path after the prefix, `<ruc>` or `<ruc>/<kind>`, split:
    /// the RUC as given and the kind; `None` for an unknown kind.
    pub fn split_path(path: &str) -> Option<(&str, Option<Kind>)> {
        match path.split_once('/') {
            None => Some((path, None)),
            Some((ruc, segment)) => Some((ruc, Some(Kind::parse(segment)?))),
        }
    }

    /// The `accion` of the result page's form that opens it.
    pub fn accion(self) -> &'static str {
        match self {
            Kind::Representantes => "getRepLeg",
            Kind::Trabajadores => "getCantTrab",
            Kind::Establecimientos => "getLocAnex",
            Kind::DeudaCoactiva => "getInfoDC",
        }
    }

    /// The name of its list in the body.
    pub fn list(self) -> &'static str {
        match self {
            Kind::Representantes => "representantes",
            Kind::Trabajadores => "periodos",
            Kind::Establecimientos => "establecimientos",
            Kind::DeudaCoactiva => "deudas",
        }
    }

    /// The name of that form on the result page.
    pub fn form(self) -> &'static str {
        match self {
            Kind::Representantes => "formRepLeg",
            Kind::Trabajadores => "formNumTrabajd",
            Kind::Establecimientos => "formLocAnex",
            Kind::DeudaCoactiva => "formInfoDeudaCoactiva",
        }
    }
}

/// A page read: its list, of the kind's rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Rows {
    Representantes(Vec<Representante>),
    Periodos(Vec<Periodo>),
    Establecimientos(Vec<Establecimiento>),
    Deudas(Vec<Deuda>),
}

/// The body of `GET /obtener-ruc/<ruc>/<kind>`: the list under the kind's
/// own name (`representantes`, `periodos`, `establecimientos`, `deudas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secondary {
    pub ruc: String,
    pub rows: Rows,
    /// RFC 3339, UTC.
    pub consultado_en: String,
}

/// A legal representative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Representante {
    /// `DNI`, `CE`, … as SUNAT writes it.
    pub tipo_documento: String,
    pub numero_documento: String,
    pub nombre: String,
    pub cargo: String,
    /// ISO 8601 date; `null` when SUNAT shows none.
    pub desde: Option<String>,
}

/// One period of declared workers; a count SUNAT shows as `NE` (not
/// declared) is `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Periodo {
    /// `YYYY-MM`.
    pub periodo: String,
    pub trabajadores: Option<u32>,
    pub pensionistas: Option<u32>,
    pub prestadores: Option<u32>,
}

/// An establishment besides the fiscal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Establecimiento {
    pub codigo: String,
    /// The description after SUNAT's code: `SU.SUCURSAL` is `SUCURSAL`.
    pub tipo: String,
    pub direccion: Option<String>,
    pub actividad_economica: Option<String>,
}

/// A debt in coercive collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deuda {
    /// A decimal string without thousands separators: `"15482.30"`.
    pub monto: String,
    /// `YYYY-MM`.
    pub periodo: String,
    /// ISO 8601 date.
    pub inicio_cobranza: Option<String>,
    pub entidad: String,
}

impl Secondary {
    /// The kind this page is.
    pub fn kind(&self) -> Kind {
        match self.rows {
            Rows::Representantes(_) => Kind::Representantes,
            Rows::Periodos(_) => Kind::Trabajadores,
            Rows::Establecimientos(_) => Kind::Establecimientos,
            Rows::Deudas(_) => Kind::DeudaCoactiva,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        let rows = serde_json::to_value(&self.rows).expect("rows serialise");
        serde_json::json!({ "ruc": self.ruc, self.kind().list(): rows, "consultadoEn": self.consultado_en })
    }

    /// A body of `kind`, checked: its three fields, nothing else.
    pub fn parse(kind: Kind, body: &[u8]) -> Result<Secondary, String> {
        use serde_json::Value;
        let Ok(Value::Object(mut fields)) = serde_json::from_slice(body) else {
            return Err("not a JSON object".into());
        };
        let mut text = |name: &str| match fields.remove(name) {
            Some(Value::String(text)) => Ok(text),
            _ => Err(format!("no {name}")),
        };
        let (ruc, consultado_en) = (text("ruc")?, text("consultadoEn")?);
        let list = fields
            .remove(kind.list())
            .ok_or_else(|| format!("no {}", kind.list()))?;
        if !fields.is_empty() {
            return Err("fields besides ruc, the list and consultadoEn".into());
        }
        let rows = match kind {
            Kind::Representantes => serde_json::from_value(list).map(Rows::Representantes),
            Kind::Trabajadores => serde_json::from_value(list).map(Rows::Periodos),
            Kind::Establecimientos => serde_json::from_value(list).map(Rows::Establecimientos),
            Kind::DeudaCoactiva => serde_json::from_value(list).map(Rows::Deudas),
        }
        .map_err(|error| error.to_string())?;
        Ok(Secondary {
            ruc,
            rows,
            consultado_en,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_a_segment_an_accion_and_a_form() {
        for kind in Kind::ALL {
            assert_eq!(Kind::ALL[kind.index()], kind);
            assert_eq!(Kind::parse(kind.segment()), Some(kind));
            assert!(kind.accion().starts_with("get") && kind.form().starts_with("form"));
        }
        assert_eq!(Kind::parse("deuda-coactiva"), Some(Kind::DeudaCoactiva));
        assert_eq!(Kind::split_path("123"), Some(("123", None)));
        assert_eq!(
            Kind::split_path("123/trabajadores"),
            Some(("123", Some(Kind::Trabajadores)))
        );
        assert_eq!(Kind::split_path("123/historico"), None);
        assert_eq!(Kind::parse("historico"), None);
    }

    #[test]
    fn a_body_names_its_list_and_reads_back_only_as_its_own_kind() {
        let page = Secondary {
            ruc: "20131312955".into(),
            rows: Rows::Periodos(vec![Periodo {
                periodo: "2025-06".into(),
                trabajadores: Some(7),
                pensionistas: None,
                prestadores: Some(6),
            }]),
            consultado_en: "2026-12-02T10:00:00Z".into(),
        };
        let json = page.to_json();
        assert_eq!(json["periodos"][0]["pensionistas"], serde_json::Value::Null);
        let bytes = json.to_string().into_bytes();
        assert_eq!(Secondary::parse(Kind::Trabajadores, &bytes).unwrap(), page);
        assert!(Secondary::parse(Kind::Representantes, &bytes).is_err());
        let empty = br#"{"ruc":"20131312955","deudas":[],"consultadoEn":"x"}"#;
        assert_eq!(
            Secondary::parse(Kind::DeudaCoactiva, empty).unwrap().rows,
            Rows::Deudas(vec![])
        );
        let extra = br#"{"ruc":"20131312955","deudas":[],"consultadoEn":"x","more":1}"#;
        assert!(Secondary::parse(Kind::DeudaCoactiva, extra).is_err());
    }
}
