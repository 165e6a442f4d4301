//! What a lookup is for: a RUC's record (`GET /obtener-ruc/<ruc>`), or one
//! of the pages behind it (`GET /obtener-ruc/<ruc>/<kind>`). Everything
//! that serves the record serves these pages, keyed by this: the cache,
//! its in-process copy, the coalescing across replicas, the one client to
//! the scrapers.

use std::fmt;

use ruc_contract::{Kind, Ruc, LOOKUP_PREFIX};

/// A RUC and, for a page behind its record, the page's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Subject {
    pub(crate) ruc: Ruc,
    /// `None`: the record.
    pub(crate) kind: Option<Kind>,
}

impl Subject {
    /// The record of `ruc`.
    pub(crate) fn record(ruc: Ruc) -> Subject {
        Subject { ruc, kind: None }
    }

    /// Its path on the API, the proxy's and the scraper's.
    pub(crate) fn path(&self) -> String {
        format!("{LOOKUP_PREFIX}{self}")
    }

    /// Its `kind` label in metrics: `record`, or the page's segment.
    pub(crate) fn label(&self) -> &'static str {
        self.kind.map_or("record", Kind::segment)
    }
}

/// `<ruc>` or `<ruc>/<kind>`, as in its path.
impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            None => write!(f, "{}", self.ruc),
            Some(kind) => write!(f, "{}/{}", self.ruc, kind.segment()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_names_its_path_and_label() {
        let ruc = Ruc::parse("20131312955").unwrap();
        assert_eq!(Subject::record(ruc).path(), "/obtener-ruc/20131312955");
        let page = Subject {
            ruc,
            kind: Some(Kind::DeudaCoactiva),
        };
        assert_eq!(page.path(), "/obtener-ruc/20131312955/deuda-coactiva");
        assert_eq!(
            (Subject::record(ruc).label(), page.label()),
            ("record", "deuda-coactiva")
        );
    }
}
