//! What both services do at start: read their settings from environment
//! variables, where every bad value is reported with the variable's name,
//! and set up `tracing` logs and OpenTelemetry traces ([`telemetry`], with
//! the W3C [`traceparent`] they pass on); the rules of an operator's
//! bearer token; the images' health check ([`healthcheck`]).

mod admin_token;
mod env;
pub mod healthcheck;
pub mod telemetry;
pub mod traceparent;

pub use admin_token::AdminToken;
pub use env::{ConfigError, Env};
pub use traceparent::TraceParent;

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use telemetry::TraceSettings;

/// Sets up logs and traces (named `service` unless `OTEL_SERVICE_NAME`
/// says otherwise), then reads the configuration. A bad setting is logged
/// and becomes exit code 2, the same for every binary. Call [`finish`]
/// before the process exits.
pub fn begin<C>(service: &str, read_config: impl FnOnce() -> Result<C, ConfigError>) -> Result<C, ExitCode> {
    let var = |name: &str| std::env::var(name).ok();
    let traces = TraceSettings::from_env(&Env::new(&var), service);
    let (layer, unusable) = match traces.as_ref().map(|settings| settings.as_ref().map(telemetry::layer)) {
        Ok(Some(Ok(layer))) => (Some(layer), None),
        Ok(Some(Err(why))) => (None, Some(why)),
        _ => (None, None),
    };
    tracing_subscriber::registry().with(log_layer()).with(layer).init();
    let refused = |message: String| {
        tracing::error!("{message}");
        ExitCode::from(2)
    };
    if let Some(why) = unusable {
        return Err(refused(format!("invalid OTEL_EXPORTER_OTLP_ENDPOINT: {why}")));
    }
    traces.map_err(|e| refused(e.to_string()))?;
    read_config().map_err(|e| refused(e.to_string()))
}

/// Exports what is left of the traces; the last thing a binary does.
pub fn finish() {
    telemetry::finish();
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), coloured only on
/// a terminal so that log files and parsers get plain text. The redis
/// client's own lines are kept to errors unless `RUST_LOG` names it: it logs
/// every reconnect attempt while a server is down (thousands a second),
/// where the proxy says once that Redis went down and once that it is back.
pub fn init_logs() {
    tracing_subscriber::registry().with(log_layer()).init();
}

/// The log lines: stderr, `RUST_LOG` (see [`init_logs`]).
fn log_layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if !std::env::var("RUST_LOG").unwrap_or_default().contains("redis") {
        filter = filter.add_directive("redis=error".parse().expect("a valid directive"));
    }
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter)
}
