//! Why a lookup gave no record, and what each reason means for the client:
//! its HTTP status, the `detail` of the error body and the `outcome` label
//! of `ruc_scraper_lookups_total`. SUNAT's pages (`sunat::answer`) and the
//! browser's faults (`lookup`) both end in one of these.

/// Why a lookup gave no record. Each kind has its HTTP status and the
/// `outcome` label of `ruc_scraper_lookups_total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// SUNAT has no such RUC (404). Never retried.
    NotFound(String),
    /// The firewall rejected us or cut the connection (502).
    Rejected(String),
    /// SUNAT's error page, or another page it showed that we can read (502).
    SunatError(String),
    /// A page we cannot read, perhaps because SUNAT changed its site (502):
    /// kept for diagnosis (`unknown_pages`) and counted by `reason`.
    Unreadable { reason: UnreadableKind, why: String },
    /// SUNAT did not answer in time (504).
    Timeout(String),
    /// No browser became free within the queue wait (503). Never retried.
    Overloaded,
    /// The browser could not be started or kept alive (503).
    BrowserUnavailable(String),
}

impl Failure {
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Failure::NotFound(_) => "not_found",
            Failure::Rejected(_) => "rejected",
            Failure::SunatError(_) | Failure::Unreadable { .. } | Failure::BrowserUnavailable(_) => "error",
            Failure::Timeout(_) => "timeout",
            Failure::Overloaded => "overloaded",
        }
    }

    pub(crate) fn status(&self) -> u16 {
        match self {
            Failure::NotFound(_) => 404,
            Failure::Rejected(_) | Failure::SunatError(_) | Failure::Unreadable { .. } => 502,
            Failure::Overloaded | Failure::BrowserUnavailable(_) => 503,
            Failure::Timeout(_) => 504,
        }
    }

    /// The `detail` of the error body, in Spanish.
    pub(crate) fn detail(&self) -> String {
        match self {
            Failure::NotFound(sentence) => {
                format!("SUNAT no tiene registrado este RUC: {sentence}")
            }
            Failure::Rejected(why) => format!("SUNAT rechazó la consulta: {why}"),
            Failure::SunatError(why) => format!("SUNAT respondió con un error: {why}"),
            Failure::Unreadable { why, .. } => format!("SUNAT mostró una página que no sabemos leer: {why}"),
            Failure::Timeout(why) => format!("SUNAT no respondió a tiempo: {why}"),
            Failure::Overloaded => "Todos los navegadores están ocupados; reintente en unos segundos.".into(),
            Failure::BrowserUnavailable(why) => format!("El navegador no está disponible: {why}"),
        }
    }

    /// What a network error (Chrome's `ERR_…` code) means: a reset or
    /// refused connection is how SUNAT's firewall throttles; a timeout is a
    /// timeout; anything else means SUNAT could not be reached.
    pub(crate) fn network(code: &str) -> Failure {
        match code {
            "ERR_CONNECTION_RESET" | "ERR_CONNECTION_CLOSED" | "ERR_CONNECTION_REFUSED" | "ERR_EMPTY_RESPONSE" => {
                Failure::Rejected(format!("SUNAT cortó la conexión ({code})"))
            }
            "ERR_TIMED_OUT" | "ERR_CONNECTION_TIMED_OUT" => Failure::Timeout(code.to_string()),
            _ => Failure::SunatError(format!("no se pudo conectar con SUNAT ({code})")),
        }
    }

    /// Whether another attempt may end otherwise. A whole page that was
    /// read and could not be parsed (a result without its rows, a page
    /// behind it) reads the same the next time: asking SUNAT again only
    /// adds to its traffic. A page that was not SUNAT's at all (a
    /// maintenance or challenge page, the form missing) may pass.
    pub(crate) fn retryable(&self) -> bool {
        !matches!(
            self,
            Failure::NotFound(_)
                | Failure::Overloaded
                | Failure::Unreadable {
                    reason: UnreadableKind::ResultRows | UnreadableKind::PageBehind,
                    ..
                }
        )
    }
}

/// What kind of page could not be read: the `reason` label of
/// `ruc_scraper_unknown_pages_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnreadableKind {
    /// The search form's address showed neither the form nor a known page.
    NoForm,
    /// The search gave none of SUNAT's known pages.
    UnknownPage,
    /// A result page whose rows do not make a record.
    ResultRows,
    /// A page behind the result that its parser cannot read.
    PageBehind,
}

impl UnreadableKind {
    pub(crate) const ALL: [UnreadableKind; 4] = [
        UnreadableKind::NoForm,
        UnreadableKind::UnknownPage,
        UnreadableKind::ResultRows,
        UnreadableKind::PageBehind,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            UnreadableKind::NoForm => "no_form",
            UnreadableKind::UnknownPage => "unknown_page",
            UnreadableKind::ResultRows => "result_unreadable",
            UnreadableKind::PageBehind => "page_unreadable",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_errors_are_classified() {
        assert_eq!(Failure::network("ERR_CONNECTION_RESET").outcome(), "rejected");
        assert_eq!(Failure::network("ERR_TIMED_OUT").outcome(), "timeout");
        assert_eq!(Failure::network("ERR_NAME_NOT_RESOLVED").outcome(), "error");
    }

    #[test]
    fn statuses_and_outcomes_follow_the_contract() {
        let cases = [
            (Failure::NotFound("x".into()), 404, "not_found"),
            (Failure::Rejected("x".into()), 502, "rejected"),
            (Failure::SunatError("x".into()), 502, "error"),
            (
                Failure::Unreadable {
                    reason: UnreadableKind::UnknownPage,
                    why: "x".into(),
                },
                502,
                "error",
            ),
            (Failure::Timeout("x".into()), 504, "timeout"),
            (Failure::Overloaded, 503, "overloaded"),
            (Failure::BrowserUnavailable("x".into()), 503, "error"),
        ];
        for (failure, status, outcome) in cases {
            assert_eq!((failure.status(), failure.outcome()), (status, outcome), "{failure:?}");
        }
    }

    #[test]
    fn not_found_overloaded_and_unparsable_pages_are_never_retried() {
        assert!(!Failure::NotFound("x".into()).retryable());
        assert!(!Failure::Overloaded.retryable());
        let unreadable = |reason| Failure::Unreadable {
            reason,
            why: "x".into(),
        };
        assert!(!unreadable(UnreadableKind::ResultRows).retryable());
        assert!(!unreadable(UnreadableKind::PageBehind).retryable());
        assert!(unreadable(UnreadableKind::UnknownPage).retryable());
        assert!(unreadable(UnreadableKind::NoForm).retryable());
        assert!(Failure::Rejected("x".into()).retryable());
        assert!(Failure::Timeout("x".into()).retryable());
    }
}
