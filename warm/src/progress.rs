//! What the tool shows while it runs: on a terminal, a progress bar with
//! the rate and the time left; otherwise (a log, a pipe) a plain line
//! every few seconds. Both on standard error: standard output carries the
//! summary alone.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::tally::Tally;

/// How often a plain line is written.
const EVERY: Duration = Duration::from_secs(5);

/// The display of one run.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
    /// Done when this run started (from the state file): not in the rate.
    earlier: usize,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// A display of `total` RUCs, `done` of them already.
    pub(crate) fn new(total: usize, done: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64).with_position(done as u64);
            let style = ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} ETA {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.reset_eta();
            bar
        });
        Progress {
            bar,
            total,
            done,
            earlier: done,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    /// One more RUC answered.
    pub(crate) fn advance(&mut self, tally: &Tally) {
        self.done += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.done as u64);
                bar.set_message(counts(tally));
            }
            None if self.last_line.elapsed() >= EVERY => self.line(tally),
            None => {}
        }
    }

    /// A message, above the bar or as a line.
    pub(crate) fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("ruc-warm: {message}")),
            None => say(message),
        }
    }

    /// The end of the run.
    pub(crate) fn finish(&mut self, tally: &Tally) {
        self.done = tally.total();
        match &self.bar {
            Some(bar) => bar.finish_with_message(counts(tally)),
            None => self.line(tally),
        }
    }

    fn line(&mut self, tally: &Tally) {
        self.last_line = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (self.done - self.earlier) as f64 / elapsed;
        let left = self.total.saturating_sub(self.done);
        let eta = if rate > 0.0 {
            format!("{:.0} s", left as f64 / rate)
        } else {
            "?".to_string()
        };
        let percent = 100 * self.done / self.total.max(1);
        say(&format!(
            "{}/{} ({percent} %), {rate:.1}/s, ETA {eta}; {}",
            self.done,
            self.total,
            counts(tally)
        ));
    }
}

/// A line on standard error.
pub(crate) fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "ruc-warm: {message}");
}

fn counts(tally: &Tally) -> String {
    format!(
        "records {} · not found {} · invalid {} · failed {}",
        tally.records, tally.not_found, tally.invalid, tally.failed
    )
}
