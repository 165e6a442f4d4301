//! Which scraper answers are stored: only a complete record of the RUC that
//! was asked for. Anything else (errors, a body cut short, another RUC's
//! record, an oversized body) is passed to the client but never cached, so a
//! bad answer cannot be served for a week.

use ruc_contract::{Record, Ruc};

/// Why an answer is not stored, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotOk,
    TooLarge,
    NotARecord,
    OtherRuc,
}

pub fn check(ruc: &Ruc, status: u16, body: &[u8], max_bytes: usize) -> Result<(), Refusal> {
    if status != 200 {
        return Err(Refusal::NotOk);
    }
    if body.len() > max_bytes {
        return Err(Refusal::TooLarge);
    }
    let record: Record = serde_json::from_slice(body).map_err(|_| Refusal::NotARecord)?;
    if record.ruc != ruc.as_str() {
        return Err(Refusal::OtherRuc);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"ruc":"20131312955","razonSocial":"SUNAT","tipo":null,"tipoDocumento":null,
        "nombreComercial":null,"fechaInscripcion":null,"fechaInicioActividades":null,"estado":"ACTIVO",
        "fechaBaja":null,"condicion":"HABIDO","direccion":null,"departamento":null,"provincia":null,
        "distrito":null,"sistEmision":null,"actExterior":null,"sistContabilidad":null,"actEconomicas":[],
        "cpPago":[],"sistElectronica":[],"fechaEmisorFe":null,"cpeElectronico":[],"fechaPle":null,
        "padrones":[],"consultadoEn":"2026-11-26T13:00:00Z"}"#;

    fn ruc() -> Ruc {
        Ruc::parse("20131312955").unwrap()
    }

    #[test]
    fn stores_a_complete_record_of_the_requested_ruc() {
        assert_eq!(check(&ruc(), 200, RECORD.as_bytes(), 65_536), Ok(()));
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(check(&ruc(), 404, RECORD.as_bytes(), 65_536), Err(Refusal::NotOk));
        assert_eq!(check(&ruc(), 200, RECORD.as_bytes(), 100), Err(Refusal::TooLarge));
        assert_eq!(
            check(&ruc(), 200, &RECORD.as_bytes()[..200], 65_536),
            Err(Refusal::NotARecord)
        );
        assert_eq!(
            check(&ruc(), 200, br#"{"message":"x"}"#, 65_536),
            Err(Refusal::NotARecord)
        );
        let other = RECORD.replace("20131312955", "20100070970");
        assert_eq!(check(&ruc(), 200, other.as_bytes(), 65_536), Err(Refusal::OtherRuc));
    }
}
