//! The keys of the cache: a RUC's record, the pages behind it, and its
//! remembered "no such RUC". Existing runbooks and tools read the record's
//! (`redis-cli GET sunat:ruc:<ruc>`), so it must never change, and nothing
//! but a record may ever be stored under it; a page behind it lives under
//! `sunat:ruc:<ruc>:<kind>`. The fleet's own keys are in
//! [`crate::fleet::keys`].

use ruc_contract::{Kind, Ruc};

use crate::subject::Subject;

/// What every record's and page's key starts with (`CLIENT TRACKING …
/// PREFIX`).
pub(crate) const RECORD_PREFIX: &str = "sunat:ruc:";

pub(crate) fn redis_key(subject: &Subject) -> String {
    match subject.kind {
        None => format!("{RECORD_PREFIX}{}", subject.ruc),
        Some(kind) => format!("{RECORD_PREFIX}{}:{}", subject.ruc, kind.segment()),
    }
}

/// The subject of a record's or page's key, as Redis names it in an
/// invalidation.
pub(crate) fn subject_of_key(key: &[u8]) -> Option<Subject> {
    let text = std::str::from_utf8(key.strip_prefix(RECORD_PREFIX.as_bytes())?).ok()?;
    let (ruc, kind) = match text.split_once(':') {
        None => (text, None),
        Some((ruc, segment)) => (ruc, Some(Kind::parse(segment)?)),
    };
    Some(Subject {
        ruc: Ruc::parse(ruc).ok()?,
        kind,
    })
}

/// Where SUNAT's "no such RUC" answer is remembered: apart from the
/// records, so that it can never be mistaken for one; one per RUC, which
/// answers its record and every page behind it.
pub(crate) fn not_found_key(ruc: &Ruc) -> String {
    format!("sunat:notfound:{ruc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Subject {
        Subject::record(Ruc::parse("20131312955").unwrap())
    }

    #[test]
    fn a_key_gives_its_subject_back() {
        let page = Subject {
            kind: Some(Kind::Representantes),
            ..record()
        };
        for subject in [record(), page] {
            assert_eq!(subject_of_key(redis_key(&subject).as_bytes()), Some(subject));
        }
        assert_eq!(subject_of_key(not_found_key(&record().ruc).as_bytes()), None);
        assert_eq!(subject_of_key(b"sunat:ruc:123"), None);
        assert_eq!(subject_of_key(b"sunat:ruc:20131312955:historico"), None);
    }

    #[test]
    fn the_record_keeps_the_original_services_key_and_a_page_its_own() {
        assert_eq!(redis_key(&record()), "sunat:ruc:20131312955");
        let page = Subject {
            kind: Some(Kind::DeudaCoactiva),
            ..record()
        };
        assert_eq!(redis_key(&page), "sunat:ruc:20131312955:deuda-coactiva");
    }

    #[test]
    fn not_found_answers_live_outside_the_records_namespace() {
        assert_eq!(not_found_key(&record().ruc), "sunat:notfound:20131312955");
    }
}
