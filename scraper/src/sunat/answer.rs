//! What SUNAT's answer means for a lookup: the record of the RUC that was
//! asked for (cross-checked against the page, stamped with the time it was
//! read), or the failure the page shows: no such RUC, SUNAT's error page,
//! the firewall, a network error, or no answer at all.

use ruc_contract::{Record, Ruc};

use super::form::Answer;
use super::page::Page;
use super::record;
use crate::failure::{Failure, UnreadableKind};

/// The record of `ruc` that SUNAT's answer shows, stamped with the time it
/// was read, or the failure it shows instead.
pub(crate) fn read(answer: &Answer, ruc: Ruc) -> Result<Record, Failure> {
    match answer {
        Answer::Page(Page::Result(pairs)) => {
            let record = record::from_pairs(pairs, now_rfc3339()).map_err(|e| Failure::Unreadable {
                reason: UnreadableKind::ResultRows,
                why: format!("página de resultado ilegible: {e}"),
            })?;
            if record.ruc != ruc.as_str() {
                return Err(Failure::SunatError(format!(
                    "la página muestra el RUC {} en lugar de {ruc}",
                    record.ruc
                )));
            }
            Ok(record)
        }
        Answer::Page(Page::NotFound(sentence)) => Err(Failure::NotFound(sentence.clone())),
        Answer::Page(Page::Error(message)) => Err(Failure::SunatError(message.clone())),
        Answer::Page(Page::Rejected(support_id)) if support_id.is_empty() => {
            Err(Failure::Rejected("página 'Request Rejected' del firewall".into()))
        }
        Answer::Page(Page::Rejected(support_id)) => Err(Failure::Rejected(format!(
            "página 'Request Rejected' del firewall (support ID {support_id})"
        ))),
        Answer::Page(Page::NetworkError(code)) => Err(Failure::network(code)),
        Answer::Page(Page::Pending) | Answer::Unrecognised { loading: true, .. } => {
            Err(Failure::Timeout("la página de resultado no llegó".into()))
        }
        Answer::Unrecognised { loading: false, title } => Err(Failure::Unreadable {
            reason: UnreadableKind::UnknownPage,
            why: format!("página inesperada (título {title:?})"),
        }),
        Answer::FormMissing { title } => Err(Failure::Unreadable {
            reason: UnreadableKind::NoForm,
            why: format!("el formulario de búsqueda no está en su página (título {title:?})"),
        }),
    }
}

/// Now, in UTC to the second: when a page was read.
pub(crate) fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero is valid");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("UTC time formats as RFC 3339")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruc() -> Ruc {
        Ruc::parse("20131312955").unwrap()
    }

    #[test]
    fn a_result_for_another_ruc_is_an_error() {
        let html = include_str!("../../tests/pages/captured/20440374248.html");
        let snapshot = crate::sunat::page::Snapshot {
            url: String::new(),
            ready_state: "complete".into(),
            html: html.into(),
        };
        let answer = Answer::Page(crate::sunat::page::classify(&snapshot));
        assert!(matches!(read(&answer, ruc()), Err(Failure::SunatError(_))));
    }

    #[test]
    fn a_tab_still_loading_is_a_timeout_and_a_strange_page_an_error() {
        let loading = Answer::Unrecognised {
            loading: true,
            title: String::new(),
        };
        assert_eq!(read(&loading, ruc()).unwrap_err().status(), 504);
        let strange = Answer::Unrecognised {
            loading: false,
            title: "Documento sin título".into(),
        };
        assert_eq!(read(&strange, ruc()).unwrap_err().status(), 502);
    }

    #[test]
    fn consultado_en_is_rfc3339_utc() {
        let text = now_rfc3339();
        assert!(text.ends_with('Z') && text.len() == 20, "{text}");
    }
}
