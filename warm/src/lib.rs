//! `ruc-warm`: reads RUCs from a file (or stdin), one per line or from a
//! CSV column, and sends them through the proxy's batch endpoint
//! (`POST /obtener-ruc`, items streamed as NDJSON), so that the cache holds
//! their records. Cached RUCs cost nothing there; `--rate` caps the new
//! ones asked per second. What is done is kept in a state file, so that a
//! stopped run resumes without asking twice. It shows its progress, and
//! ends with a summary and an exit status: 0 every RUC gave a record, 1
//! some were not found or invalid, 2 failures or bad usage.
//!
//! Reading order: [`args`] → [`input`] → [`state`] → [`pace`] →
//! [`client`] → [`tally`] → [`progress`].

mod args;
mod client;
mod input;
mod pace;
mod progress;
mod state;
mod tally;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::Args;
use client::{BatchClient, Item};
use pace::Pace;
use progress::Progress;
use state::State;
use tally::{Outcome, Tally};

/// The binary's entry point (also built by the end-to-end tests).
#[tokio::main(flavor = "current_thread")]
pub async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(tally) => {
            let _ = writeln!(std::io::stdout(), "{}", tally.summary());
            ExitCode::from(tally.exit_status())
        }
        Err(error) => {
            progress::say(&error);
            ExitCode::from(2)
        }
    }
}

/// Warms every RUC of the input not done in an earlier run.
async fn run(args: &Args) -> Result<Tally, String> {
    let rucs = input::read(&args.file, args.column.as_deref())?;
    let mut state = State::open(args.state.as_deref())?;
    let mut tally = Tally::default();
    let todo: Vec<String> = rucs
        .into_iter()
        .filter(|ruc| match state.done(ruc) {
            Some(outcome) => {
                tally.earlier(outcome);
                false
            }
            None => true,
        })
        .collect();
    let client = BatchClient::new(&args.proxy)?;
    let mut pace = Pace::new(args.rate);
    let mut progress = Progress::new(tally.total() + todo.len(), tally.total());
    let mut rest = &todo[..];
    while !rest.is_empty() {
        let size = pace.take(rest.len().min(usize::from(args.batch))).await;
        let (batch, after) = rest.split_at(size);
        rest = after;
        let misses = warm(batch, &client, &mut tally, &mut state, &mut progress).await;
        pace.refund(size.saturating_sub(misses));
        state.flush()?;
    }
    progress.finish(&tally);
    Ok(tally)
}

/// Sends one batch, again for what was not answered when the proxy could
/// not be reached or broke off (it may be restarting), [`ATTEMPTS`] times
/// at most; what is still unanswered then counts as failed. Returns how
/// many of its RUCs were misses (not answered from the cache).
async fn warm(
    batch: &[String],
    client: &BatchClient,
    tally: &mut Tally,
    state: &mut State,
    progress: &mut Progress,
) -> usize {
    let mut unanswered: Vec<String> = batch.to_vec();
    let mut misses = 0;
    for attempt in 1..=ATTEMPTS {
        let mut answered = std::collections::HashSet::new();
        let sent = client
            .send(&unanswered, |item: Item| {
                let outcome = Outcome::of(item.status);
                misses += usize::from(item.cache != "HIT");
                tally.add(outcome);
                state.record(&item.ruc, outcome);
                progress.advance(tally);
                answered.insert(item.ruc);
            })
            .await;
        unanswered.retain(|ruc| !answered.contains(ruc));
        match sent {
            Ok(()) => break,
            Err(error) if attempt < ATTEMPTS => {
                progress.note(&format!("a batch failed ({error}); trying again"));
                tokio::time::sleep(RETRY_PAUSE * attempt).await;
            }
            Err(error) => progress.note(&format!("a batch failed ({error}); its RUCs count as failed")),
        }
    }
    misses += unanswered.len();
    tally.add_failed(unanswered.len());
    misses
}

/// Tries of a batch whose request failed.
const ATTEMPTS: u32 = 3;
/// The pause before the second try, doubled... before the third.
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);
