//! What both services do at start: read their settings from environment
//! variables, where every bad value is reported with the variable's name,
//! and set up `tracing` logs; the rules of an operator's bearer token.

mod admin_token;
mod env;

pub use admin_token::AdminToken;
pub use env::{ConfigError, Env};

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

/// Sets up logs and reads the configuration. A bad setting is logged and
/// becomes exit code 2, the same for every binary.
pub fn begin<C>(read_config: impl FnOnce() -> Result<C, ConfigError>) -> Result<C, ExitCode> {
    init_logs();
    read_config().map_err(|e| {
        tracing::error!("{e}");
        ExitCode::from(2)
    })
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), coloured only on
/// a terminal so that log files and parsers get plain text. The redis
/// client's own lines are kept to errors unless `RUST_LOG` names it: it logs
/// every reconnect attempt while a server is down (thousands a second),
/// where the proxy says once that Redis went down and once that it is back.
pub fn init_logs() {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if !std::env::var("RUST_LOG").unwrap_or_default().contains("redis") {
        filter = filter.add_directive("redis=error".parse().expect("a valid directive"));
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
