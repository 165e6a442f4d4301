//! The state file: one line per RUC finished (`<ruc>\t<outcome>`),
//! appended as answers come and flushed after each batch, so that a run
//! stopped at any moment resumes where it was. Failures are not written:
//! they are asked again.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::tally::Outcome;

/// What earlier runs finished, and where this one writes.
pub(crate) struct State {
    done: HashMap<String, Outcome>,
    file: Option<(PathBuf, BufWriter<File>)>,
    /// The first write that failed, reported at the next flush.
    failed: Option<std::io::Error>,
}

impl State {
    /// Reads `path` (if it exists) and opens it to append; no path: a run
    /// that keeps nothing.
    pub(crate) fn open(path: Option<&Path>) -> Result<State, String> {
        let Some(path) = path else {
            return Ok(State {
                done: HashMap::new(),
                file: None,
                failed: None,
            });
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(format!("cannot read the state file {}: {error}", path.display())),
        };
        // A line cut short by a stop is not whole: it ends without '\n'.
        let whole = text.rsplit_once('\n').map_or("", |(whole, _)| whole);
        let done = whole
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .filter_map(|(ruc, outcome)| Some((ruc.to_string(), Outcome::parse(outcome)?)))
            .collect();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|error| format!("cannot write the state file {}: {error}", path.display()))?;
        if !text.is_empty() && !text.ends_with('\n') {
            // Ends the line cut short, so that the next one starts whole.
            let _ = file.write_all(b"\n");
        }
        Ok(State {
            done,
            file: Some((path.to_path_buf(), BufWriter::new(file))),
            failed: None,
        })
    }

    /// How an earlier run finished `ruc`, if it did.
    pub(crate) fn done(&self, ruc: &str) -> Option<Outcome> {
        self.done.get(ruc).copied()
    }

    /// Notes that `ruc` ended with `outcome` (failures are not kept).
    pub(crate) fn record(&mut self, ruc: &str, outcome: Outcome) {
        if outcome == Outcome::Failed {
            return;
        }
        if let (Some((_, file)), None) = (&mut self.file, &self.failed) {
            if let Err(error) = writeln!(file, "{ruc}\t{}", outcome.name()) {
                self.failed = Some(error);
            }
        }
    }

    /// Writes what was noted to the disk.
    pub(crate) fn flush(&mut self) -> Result<(), String> {
        let Some((path, file)) = &mut self.file else {
            return Ok(());
        };
        match self.failed.take().map_or_else(|| file.flush(), Err) {
            Ok(()) => Ok(()),
            Err(error) => Err(format!("cannot write the state file {}: {error}", path.display())),
        }
    }
}
