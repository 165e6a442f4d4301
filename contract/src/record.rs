//! The taxpayer record: the 200 body of `GET /obtener-ruc/<ruc>` and the value
//! the proxy stores under `sunat:ruc:<ruc>`.

use serde::{Deserialize, Deserializer, Serialize};

/// One taxpayer as SUNAT's result page shows it, normalised.
///
/// Every field is always serialised (absent values are `null` or `[]`), and
/// deserialising requires every field: a body missing one is not a record.
/// Dates are ISO `YYYY-MM-DD`; `consultado_en` is RFC 3339 in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    pub ruc: String,
    pub razon_social: String,
    #[serde(deserialize_with = "required")]
    pub tipo: Option<String>,
    #[serde(deserialize_with = "required")]
    pub tipo_documento: Option<String>,
    #[serde(deserialize_with = "required")]
    pub nombre_comercial: Option<String>,
    #[serde(deserialize_with = "required")]
    pub fecha_inscripcion: Option<String>,
    #[serde(deserialize_with = "required")]
    pub fecha_inicio_actividades: Option<String>,
    #[serde(deserialize_with = "required")]
    pub estado: Option<String>,
    #[serde(deserialize_with = "required")]
    pub fecha_baja: Option<String>,
    #[serde(deserialize_with = "required")]
    pub condicion: Option<String>,
    #[serde(deserialize_with = "required")]
    pub direccion: Option<String>,
    #[serde(deserialize_with = "required")]
    pub departamento: Option<String>,
    #[serde(deserialize_with = "required")]
    pub provincia: Option<String>,
    #[serde(deserialize_with = "required")]
    pub distrito: Option<String>,
    #[serde(deserialize_with = "required")]
    pub sist_emision: Option<String>,
    #[serde(deserialize_with = "required")]
    pub act_exterior: Option<String>,
    #[serde(deserialize_with = "required")]
    pub sist_contabilidad: Option<String>,
    pub act_economicas: Vec<String>,
    pub cp_pago: Vec<String>,
    pub sist_electronica: Vec<String>,
    #[serde(deserialize_with = "required")]
    pub fecha_emisor_fe: Option<String>,
    pub cpe_electronico: Vec<String>,
    #[serde(deserialize_with = "required")]
    pub fecha_ple: Option<String>,
    pub padrones: Vec<String>,
    pub consultado_en: String,
}

/// Makes an `Option` field required on input: serde would otherwise read a
/// missing field as `None`, and a truncated body would pass as a record.
fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::deserialize(deserializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            ruc: "20131312955".into(),
            razon_social: "SUPERINTENDENCIA NACIONAL DE ADUANAS Y DE ADMINISTRACION TRIBUTARIA - SUNAT".into(),
            tipo: Some("INSTITUCIONES PUBLICAS".into()),
            tipo_documento: None,
            nombre_comercial: None,
            fecha_inscripcion: Some("1993-01-01".into()),
            fecha_inicio_actividades: None,
            estado: Some("ACTIVO".into()),
            fecha_baja: None,
            condicion: Some("HABIDO".into()),
            direccion: Some("AV. GARCILASO DE LA VEGA NRO. 1472".into()),
            departamento: Some("LIMA".into()),
            provincia: Some("LIMA".into()),
            distrito: Some("LIMA".into()),
            sist_emision: None,
            act_exterior: None,
            sist_contabilidad: None,
            act_economicas: vec![],
            cp_pago: vec![],
            sist_electronica: vec![],
            fecha_emisor_fe: None,
            cpe_electronico: vec![],
            fecha_ple: None,
            padrones: vec![],
            consultado_en: "2026-11-26T13:00:00Z".into(),
        }
    }

    #[test]
    fn serialises_every_field_in_camel_case_with_nulls() {
        let json = serde_json::to_value(sample()).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object.len(), 25);
        assert_eq!(json["razonSocial"], sample().razon_social.as_str());
        assert!(json["tipoDocumento"].is_null());
        assert_eq!(json["actEconomicas"], serde_json::json!([]));
        assert_eq!(json["consultadoEn"], "2026-11-26T13:00:00Z");
    }

    #[test]
    fn a_body_missing_a_field_is_not_a_record() {
        let mut json = serde_json::to_value(sample()).unwrap();
        for field in ["padrones", "tipoDocumento", "consultadoEn"] {
            let mut partial = json.clone();
            partial.as_object_mut().unwrap().remove(field);
            assert!(serde_json::from_value::<Record>(partial).is_err(), "{field}");
        }
        json["extra"] = serde_json::json!(1);
        assert!(serde_json::from_value::<Record>(json).is_err());
    }

    #[test]
    fn round_trips() {
        let text = serde_json::to_string(&sample()).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), sample());
    }
}
