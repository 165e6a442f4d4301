//! Start-up and shutdown: configuration, logs, the readers the mode asks
//! for (chromedriver and the browser pool; the direct client), the HTTP
//! server, and the orderly way down on SIGTERM/SIGINT (in-flight lookups
//! first, then browsers, then chromedriver's group).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use startup::healthcheck;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::api::App;
use crate::browser::guard;
use crate::browser::session::SessionConfig;
use crate::browser::{Browser, Driver};
use crate::config::{Config, DEFAULT_LISTEN};
use crate::direct::{Direct, DirectConfig};
use crate::lookup::mode::{Mode, Suspension};
use crate::lookup::slots::Slots;
use crate::lookup::{LookupConfig, Lookups, Readers};
use crate::metrics::Metrics;
use crate::server;
use crate::sunat::form::FormConfig;
use crate::unknown_pages::UnknownPages;

/// Chrome's script timeout: the page snapshot script returns at once.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Margin of the command timeout over Chrome's own page-load timeout.
const COMMAND_MARGIN: Duration = Duration::from_secs(5);

/// The binary's entry point; started with [`guard::ARG`], a process
/// group's guard instead, and with [`healthcheck::ARG`], a health check.
pub fn main() -> ExitCode {
    match std::env::args_os().nth(1) {
        Some(arg) if arg == guard::ARG => return guard::run(),
        Some(arg) if arg == healthcheck::ARG => return healthcheck::run("SCRAPER_LISTEN", DEFAULT_LISTEN),
        _ => {}
    }
    let config = match startup::begin("ruc-scraper", Config::from_env) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ran = runtime.block_on(run(config));
    startup::finish();
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (SCRAPER_LISTEN): {e}", config.listen))?;
    let metrics = Metrics::new();
    // `stopping`: /health answers 503; `stop`: no new connections.
    let (stopping, stop) = (CancellationToken::new(), CancellationToken::new());
    let browser = match &config.driver {
        Some(driver) => Some(
            Browser::start(
                driver,
                session_config(&config),
                config.sessions,
                config.recycle_after,
                metrics.clone(),
            )
            .await?,
        ),
        None => None,
    };
    let watchdog = browser
        .as_ref()
        .map(|b| tokio::spawn(b.driver.clone().watch(stop.clone())));
    let readers = Readers {
        mode: config.mode,
        browser: browser.as_ref().map(|b| b.pool.clone()),
        direct: match config.mode {
            Mode::Browser => None,
            Mode::Http | Mode::Auto => Some(Direct::new(direct_config(&config))?),
        },
        suspension: Suspension::new(config.suspend, metrics.clone()),
    };
    let slots = Slots::new(config.sessions, metrics.clone());
    let unknown_pages = Arc::new(UnknownPages::open(config.unknown_pages.clone(), metrics.clone())?);
    unknown_pages.clone().prune_periodically();
    let kill_browsers = browser.as_ref().map(|b| b.driver.clone());
    let app = Arc::new(App {
        lookups: Lookups::new(
            slots,
            readers,
            lookup_config(&config),
            metrics.clone(),
            unknown_pages.clone(),
        ),
        unknown_pages,
        admin_token: config.admin_token.clone(),
        browser: browser.clone(),
        metrics,
        tasks: TaskTracker::new(),
        stopping: stopping.clone(),
        instance: config.instance.clone(),
    });
    tokio::spawn(stop_on_signals(stopping, stop.clone(), config.drain, kill_browsers));
    info!(addr = %listener.local_addr()?, sunat = %config.sunat_url, mode = config.mode.as_str(), "scraper listening");

    server::serve(listener, app.clone(), stop, config.shutdown_timeout).await;
    let stopping_since = Instant::now();
    app.tasks.close();
    let left = config.shutdown_timeout.saturating_sub(stopping_since.elapsed());
    if tokio::time::timeout(left, app.tasks.wait()).await.is_err() {
        warn!("lookups still running at shutdown; their browsers are killed");
    }
    if let (Some(browser), Some(watchdog)) = (browser, watchdog) {
        browser.shutdown().await;
        let _ = watchdog.await;
    }
    info!("scraper stopped");
    Ok(())
}

fn session_config(config: &Config) -> SessionConfig {
    SessionConfig {
        chrome_binary: config.chrome_binary.clone(),
        page_load_timeout: config.page_load_timeout,
        script_timeout: SCRIPT_TIMEOUT,
    }
}

fn direct_config(config: &Config) -> DirectConfig {
    DirectConfig {
        sunat_url: config.sunat_url.clone(),
        user_agent: config.user_agent.clone(),
        page_load_timeout: config.page_load_timeout,
        recycle_after: config.recycle_after,
        sessions: config.sessions,
    }
}

fn lookup_config(config: &Config) -> LookupConfig {
    LookupConfig {
        max_attempts: config.max_attempts,
        lookup_timeout: config.lookup_timeout,
        queue_timeout: config.queue_timeout,
        retry_backoff: config.retry_backoff,
        form: FormConfig {
            sunat_url: config.sunat_url.clone(),
            result_timeout: config.result_timeout,
            command_timeout: config.page_load_timeout + COMMAND_MARGIN,
        },
    }
}

/// The first SIGTERM or SIGINT starts a graceful shutdown: `/health`
/// answers 503 at once, lookups are still accepted for `drain` (balancers
/// notice meanwhile), then no new connection is accepted and the lookups in
/// flight finish. A second signal kills the browsers and exits at once.
async fn stop_on_signals(
    stopping: CancellationToken,
    stop: CancellationToken,
    drain: Duration,
    driver: Option<Arc<Driver>>,
) {
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        error!("cannot install signal handlers");
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    info!(
        ?drain,
        "shutting down: /health answers 503; lookups still accepted while balancers notice"
    );
    stopping.cancel();
    let second_signal = tokio::select! {
        _ = tokio::time::sleep(drain) => false,
        _ = term.recv() => true,
        _ = int.recv() => true,
    };
    if !second_signal {
        info!("no new connections: finishing in-flight lookups");
        stop.cancel();
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    }
    warn!("second signal: killing browsers and exiting now");
    if let Some(driver) = driver {
        driver.kill_now();
    }
    std::process::exit(130);
}
