//! The command line.

use std::path::PathBuf;

use clap::Parser;

/// `ruc-warm [--proxy URL] [--rate N] [--column N|NAME] [--state PATH] FILE|-`
#[derive(Debug, Parser)]
#[command(version, about = "Warms the RUC cache through the proxy's batch endpoint")]
pub(crate) struct Args {
    /// The proxy's API.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub(crate) proxy: String,
    /// At most this many new RUCs (not in the cache) asked per second, on
    /// average; unset: as fast as the proxy's fleet limit lets them go.
    #[arg(long, value_parser = positive_rate)]
    pub(crate) rate: Option<f64>,
    /// Read RUCs from this CSV column: its number (1 is the first) or its
    /// name in the header row. Unset: one RUC per line.
    #[arg(long)]
    pub(crate) column: Option<String>,
    /// Keep progress here: a run with the same file skips what an earlier
    /// one finished (records, not found, invalid; failures are asked again).
    #[arg(long)]
    pub(crate) state: Option<PathBuf>,
    /// RUCs per batch request (the proxy takes at most BATCH_MAX_RUCS,
    /// default 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub(crate) batch: u16,
    /// The RUCs: a file, or `-` for standard input.
    pub(crate) file: String,
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("{text:?} is not a number of RUCs per second above 0")),
    }
}
