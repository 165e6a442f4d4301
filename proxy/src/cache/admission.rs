//! Which scraper answers are stored: a complete record (or page behind it)
//! of the RUC that was asked for, or SUNAT's "no such RUC" (a 404 with the
//! error body of that RUC), kept apart and briefly. Anything else (other errors, a body cut
//! short, another RUC's answer, an oversized body) is passed to the client
//! but never cached, so a bad answer cannot be served for a week.

use ruc_contract::{ErrorBody, Record, Secondary};

use crate::subject::Subject;

/// What an answer may be stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admitted {
    /// The record, or the page behind it, that was asked for.
    Record,
    NotFound,
}

/// Why an answer is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotStored {
    /// Neither 200 nor 404: failures are never cached.
    NotOk,
    TooLarge,
    NotARecord,
    NotAnErrorBody,
    OtherRuc,
}

pub(crate) fn check(subject: &Subject, status: u16, body: &[u8], max_bytes: usize) -> Result<Admitted, NotStored> {
    let admitted = match status {
        200 => Admitted::Record,
        404 => Admitted::NotFound,
        _ => return Err(NotStored::NotOk),
    };
    if body.len() > max_bytes {
        return Err(NotStored::TooLarge);
    }
    let about = match admitted {
        Admitted::Record => match subject.kind {
            None => serde_json::from_slice::<Record>(body).map(|record| record.ruc).ok(),
            Some(kind) => Secondary::parse(kind, body).map(|page| page.ruc).ok(),
        }
        .ok_or(NotStored::NotARecord)?,
        Admitted::NotFound => {
            serde_json::from_slice::<ErrorBody>(body)
                .map_err(|_| NotStored::NotAnErrorBody)?
                .ruc
        }
    };
    if about != subject.ruc.as_str() {
        return Err(NotStored::OtherRuc);
    }
    Ok(admitted)
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

    fn ruc() -> Subject {
        Subject::record(ruc_contract::Ruc::parse("20131312955").unwrap())
    }

    #[test]
    fn stores_a_complete_record_of_the_requested_ruc() {
        assert_eq!(check(&ruc(), 200, RECORD.as_bytes(), 65_536), Ok(Admitted::Record));
    }

    #[test]
    fn stores_sunats_not_found_answer_for_the_requested_ruc() {
        let body = br#"{"message":"Error al consultar RUC","detail":"no existe","ruc":"20131312955"}"#;
        assert_eq!(check(&ruc(), 404, body, 65_536), Ok(Admitted::NotFound));
        let other = br#"{"message":"Error al consultar RUC","detail":"no existe","ruc":"20100070970"}"#;
        assert_eq!(check(&ruc(), 404, other, 65_536), Err(NotStored::OtherRuc));
        assert_eq!(check(&ruc(), 404, b"Not Found", 65_536), Err(NotStored::NotAnErrorBody));
        assert_eq!(check(&ruc(), 404, body, 10), Err(NotStored::TooLarge));
    }

    #[test]
    fn refuses_everything_else() {
        for status in [400, 500, 502, 503, 504] {
            assert_eq!(check(&ruc(), status, RECORD.as_bytes(), 65_536), Err(NotStored::NotOk));
        }
        assert_eq!(check(&ruc(), 200, RECORD.as_bytes(), 100), Err(NotStored::TooLarge));
        assert_eq!(
            check(&ruc(), 200, &RECORD.as_bytes()[..200], 65_536),
            Err(NotStored::NotARecord)
        );
        assert_eq!(
            check(&ruc(), 200, br#"{"message":"x"}"#, 65_536),
            Err(NotStored::NotARecord)
        );
        let other = RECORD.replace("20131312955", "20100070970");
        assert_eq!(check(&ruc(), 200, other.as_bytes(), 65_536), Err(NotStored::OtherRuc));
    }
}
