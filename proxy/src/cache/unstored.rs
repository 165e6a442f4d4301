//! Answers that could not be stored: a record (or SUNAT's "no such RUC")
//! a lookup fetched while Redis could not be written. Each is a SUNAT
//! visit already paid for, so it is held in memory until Redis takes it:
//! while Redis cannot be read this replica answers the RUC from here
//! instead of asking SUNAT again, and once Redis is back the answer is
//! written there (unless Redis already has one). Bounded by
//! [`MAX_BYTES`]: past it an answer is not held, and the next request for
//! that RUC during the outage is looked up again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::subject::Subject;
use bytes::Bytes;
use pingora_prometheus::prometheus::IntGauge;

use super::admission::Admitted;

/// The bytes of answers held at most (about 16,000 records of 2 KB).
pub(crate) const MAX_BYTES: usize = 32 << 20;

/// The answers waiting for Redis.
pub(crate) struct Unstored {
    held: Mutex<Held>,
    /// `ruc_proxy_cache_unstored`: how many are held.
    count: IntGauge,
}

#[derive(Default)]
struct Held {
    answers: HashMap<Subject, Answer>,
    bytes: usize,
}

/// One answer waiting for Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) admitted: Admitted,
    pub(crate) body: Bytes,
    pub(crate) fetched: Instant,
}

impl Answer {
    pub(crate) fn age(&self) -> Duration {
        self.fetched.elapsed()
    }
}

impl Unstored {
    pub(crate) fn new(count: IntGauge) -> Unstored {
        Unstored {
            held: Mutex::default(),
            count,
        }
    }

    /// Holds `subject`'s answer in place of an older one; `false` when there
    /// is no room for it.
    pub(crate) fn hold(&self, subject: Subject, admitted: Admitted, body: Bytes) -> bool {
        let mut held = self.held.lock().expect("unstored lock");
        let replaced = held.answers.get(&subject).map_or(0, |answer| answer.body.len());
        if held.bytes - replaced + body.len() > MAX_BYTES {
            return false;
        }
        held.bytes = held.bytes - replaced + body.len();
        let answer = Answer {
            admitted,
            body,
            fetched: Instant::now(),
        };
        held.answers.insert(subject, answer);
        self.count.set(held.answers.len() as i64);
        true
    }

    pub(crate) fn get(&self, subject: &Subject) -> Option<Answer> {
        self.held.lock().expect("unstored lock").answers.get(subject).cloned()
    }

    /// Every answer held, to be written to Redis.
    pub(crate) fn all(&self) -> Vec<(Subject, Answer)> {
        let held = self.held.lock().expect("unstored lock");
        held.answers
            .iter()
            .map(|(subject, answer)| (*subject, answer.clone()))
            .collect()
    }

    /// Lets go of `answer` once Redis took it (or had one), unless a newer
    /// one was held meanwhile.
    pub(crate) fn release(&self, subject: &Subject, answer: &Answer) {
        let mut held = self.held.lock().expect("unstored lock");
        if held.answers.get(subject) == Some(answer) {
            held.answers.remove(subject);
            held.bytes -= answer.body.len();
            self.count.set(held.answers.len() as i64);
        }
    }

    /// Drops `subject`'s answer (an operator purged the RUC).
    pub(crate) fn forget(&self, subject: &Subject) {
        let mut held = self.held.lock().expect("unstored lock");
        if let Some(answer) = held.answers.remove(subject) {
            held.bytes -= answer.body.len();
            self.count.set(held.answers.len() as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(text: &str) -> Subject {
        Subject::record(ruc_contract::Ruc::parse(text).unwrap())
    }

    fn unstored() -> Unstored {
        Unstored::new(IntGauge::new("held", "answers held").unwrap())
    }

    #[test]
    fn holds_until_released_and_a_newer_answer_is_not_released_by_an_older() {
        let unstored = unstored();
        let one = subject("20131312955");
        assert!(unstored.hold(one, Admitted::Record, Bytes::from_static(b"old")));
        let old = unstored.get(&one).unwrap();
        assert!(unstored.hold(one, Admitted::Record, Bytes::from_static(b"newer")));
        unstored.release(&one, &old);
        assert_eq!(
            unstored.get(&one).map(|answer| answer.body),
            Some(Bytes::from_static(b"newer"))
        );
        let newer = unstored.get(&one).unwrap();
        unstored.release(&one, &newer);
        assert_eq!((unstored.get(&one), unstored.count.get()), (None, 0));
    }

    #[test]
    fn nothing_is_held_past_the_bytes_bound() {
        let unstored = unstored();
        let half = Bytes::from(vec![b' '; MAX_BYTES / 2]);
        assert!(unstored.hold(subject("20131312955"), Admitted::Record, half.clone()));
        assert!(unstored.hold(subject("20100070970"), Admitted::Record, half.clone()));
        assert!(!unstored.hold(subject("20100047218"), Admitted::Record, Bytes::from_static(b"x")));
        assert!(
            unstored.hold(subject("20100070970"), Admitted::Record, Bytes::from_static(b"x")),
            "a replacement counts what it replaces"
        );
        assert_eq!(unstored.count.get(), 2);
    }
}
