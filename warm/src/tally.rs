//! What became of the RUCs: counts by outcome, the summary and the exit
//! status.

/// How one RUC ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Record,
    NotFound,
    Invalid,
    /// Anything else: an error, no answer in time, no answer at all.
    Failed,
}

impl Outcome {
    /// The outcome of an item's status.
    pub(crate) fn of(status: u16) -> Outcome {
        match status {
            200 => Outcome::Record,
            404 => Outcome::NotFound,
            400 => Outcome::Invalid,
            _ => Outcome::Failed,
        }
    }

    /// Its name in the state file.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Outcome::Record => "record",
            Outcome::NotFound => "not_found",
            Outcome::Invalid => "invalid",
            Outcome::Failed => "failed",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Outcome> {
        [Outcome::Record, Outcome::NotFound, Outcome::Invalid]
            .into_iter()
            .find(|outcome| outcome.name() == name)
    }
}

/// The counts of a run, earlier runs' included.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) records: usize,
    pub(crate) not_found: usize,
    pub(crate) invalid: usize,
    pub(crate) failed: usize,
    /// Of those, finished by an earlier run (from the state file).
    pub(crate) earlier: usize,
}

impl Tally {
    pub(crate) fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Record => self.records += 1,
            Outcome::NotFound => self.not_found += 1,
            Outcome::Invalid => self.invalid += 1,
            Outcome::Failed => self.failed += 1,
        }
    }

    pub(crate) fn add_failed(&mut self, count: usize) {
        self.failed += count;
    }

    /// An outcome read from the state file.
    pub(crate) fn earlier(&mut self, outcome: Outcome) {
        self.add(outcome);
        self.earlier += 1;
    }

    pub(crate) fn total(&self) -> usize {
        self.records + self.not_found + self.invalid + self.failed
    }

    /// One line for the end of the run.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{} RUCs: {} records, {} not found, {} invalid, {} failed ({} from an earlier run)",
            self.total(),
            self.records,
            self.not_found,
            self.invalid,
            self.failed,
            self.earlier
        )
    }

    /// 0: every RUC gave a record; 1: some were not found or invalid; 2:
    /// some failed.
    pub(crate) fn exit_status(&self) -> u8 {
        match (self.failed, self.not_found + self.invalid) {
            (0, 0) => 0,
            (0, _) => 1,
            _ => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_status_says_the_worst_outcome() {
        let mut tally = Tally::default();
        tally.add(Outcome::Record);
        assert_eq!(tally.exit_status(), 0);
        tally.add(Outcome::of(404));
        assert_eq!(tally.exit_status(), 1);
        tally.add(Outcome::of(504));
        assert_eq!(tally.exit_status(), 2);
        assert_eq!(Outcome::parse("invalid"), Some(Outcome::Invalid));
        assert_eq!(Outcome::parse("failed"), None, "failures are asked again");
    }
}
