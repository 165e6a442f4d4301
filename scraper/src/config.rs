//! Configuration from environment variables, each with a documented default
//! (README, "Configuration"). A bad value stops the program at start with a
//! message that names the variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::header::HeaderValue;
use startup::{AdminToken, ConfigError, Env};

use crate::browser::driver::DriverConfig;
use crate::lookup::mode::{Mode, SuspendPolicy};
use crate::unknown_pages::UnknownPagesConfig;

/// Browsers Debian, Ubuntu and Google ship, tried in order when
/// `CHROME_BINARY` is not set.
const CHROME_CANDIDATES: [&str; 4] = [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
];

/// The Chrome version the direct client names when no Chromium is
/// installed to take the version from.
const DEFAULT_CHROME_MAJOR: u32 = 156;

/// `SCRAPER_LISTEN`'s default.
pub(crate) const DEFAULT_LISTEN: &str = "0.0.0.0:8001";

/// Every setting of the scraper, checked at start.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `SCRAPER_LISTEN`, default `0.0.0.0:8001`.
    pub(crate) listen: SocketAddr,
    /// `SUNAT_URL`, default `https://e-consultaruc.sunat.gob.pe`, no trailing slash.
    pub(crate) sunat_url: String,
    /// `SCRAPER_MODE`, default `browser`.
    pub(crate) mode: Mode,
    /// `WEBDRIVER_URL` (remote) or `CHROMEDRIVER` (embedded, default from
    /// `PATH`); `None` in `http` mode, which needs no browser.
    pub(crate) driver: Option<DriverConfig>,
    /// `CHROME_BINARY`, default auto-detected; never sent to a remote endpoint.
    pub(crate) chrome_binary: Option<PathBuf>,
    /// `SCRAPER_USER_AGENT`, default the installed Chromium's (direct lookups).
    pub(crate) user_agent: HeaderValue,
    /// `SCRAPER_DIRECT_FAILURES` (3) and `SCRAPER_DIRECT_SUSPEND_SECS` (300).
    pub(crate) suspend: SuspendPolicy,
    /// `SCRAPER_SESSIONS`, default 2.
    pub(crate) sessions: usize,
    /// `SCRAPER_RECYCLE_AFTER`, default 100 lookups.
    pub(crate) recycle_after: u32,
    /// `SCRAPER_QUEUE_TIMEOUT_SECS`, default 30.
    pub(crate) queue_timeout: Duration,
    /// `SCRAPER_MAX_ATTEMPTS`, default 3.
    pub(crate) max_attempts: u32,
    /// `SCRAPER_LOOKUP_TIMEOUT_SECS`, default 45: the whole lookup, queue included.
    pub(crate) lookup_timeout: Duration,
    /// `SCRAPER_PAGE_LOAD_TIMEOUT_SECS`, default 15: Chrome's `pageLoad`.
    pub(crate) page_load_timeout: Duration,
    /// `SCRAPER_RESULT_TIMEOUT_SECS`, default 10: wait for the answer page.
    pub(crate) result_timeout: Duration,
    /// `SCRAPER_RETRY_BACKOFF_MS`, default 500: first pause between attempts.
    pub(crate) retry_backoff: Duration,
    /// `SCRAPER_INSTANCE`, default the host name: sent as
    /// `X-Scraper-Instance` with every answer.
    pub(crate) instance: HeaderValue,
    /// `SCRAPER_DRAIN_SECS`, default 5: after SIGTERM, how long `/health`
    /// answers 503 while lookups are still accepted, so that the proxies'
    /// health checks (every `SCRAPER_HEALTH_INTERVAL_SECS`, 2) stop sending
    /// new ones before connections are refused.
    pub drain: Duration,
    /// `SCRAPER_SHUTDOWN_TIMEOUT_SECS`, default 50: how long SIGTERM then
    /// waits for in-flight lookups.
    pub shutdown_timeout: Duration,
    /// `SCRAPER_UNKNOWN_PAGES_DIR` (default `$TMPDIR/ruc-scraper-unknown-pages`),
    /// `_KEEP` (20) and `_MAX_AGE_SECS` (7 days): the pages kept for diagnosis.
    pub(crate) unknown_pages: UnknownPagesConfig,
    /// `SCRAPER_ADMIN_TOKEN`, unset by default: turns on `GET
    /// /debug/unknown-pages` for requests that carry it.
    pub(crate) admin_token: Option<AdminToken>,
}

impl Config {
    pub(crate) fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `var`, so tests need no real environment.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let vars = Env::new(&var);
        let page_load_timeout = vars.seconds("SCRAPER_PAGE_LOAD_TIMEOUT_SECS", 15, 1..=300)?;
        let lookup_timeout = vars.seconds("SCRAPER_LOOKUP_TIMEOUT_SECS", 45, 1..=600)?;
        if lookup_timeout <= page_load_timeout {
            return Err(ConfigError::new(
                "SCRAPER_LOOKUP_TIMEOUT_SECS",
                format!(
                    "{} s must be longer than SCRAPER_PAGE_LOAD_TIMEOUT_SECS ({} s), or no page could ever load",
                    lookup_timeout.as_secs(),
                    page_load_timeout.as_secs()
                ),
            ));
        }
        let mode = vars.parse("SCRAPER_MODE", "browser", "browser, http or auto")?;
        let driver = match vars.text("WEBDRIVER_URL") {
            _ if mode == Mode::Http => None,
            Some(url) => Some(DriverConfig::Remote {
                url: http_url("WEBDRIVER_URL", &url, true)?,
            }),
            None => Some(DriverConfig::Embedded {
                chromedriver: chromedriver(vars.text("CHROMEDRIVER"), var("PATH"))?,
                work_dir: std::env::temp_dir().join(format!("ruc-scraper-{}", std::process::id())),
            }),
        };
        let chrome_binary = match &driver {
            Some(DriverConfig::Remote { .. }) => None,
            _ => chrome_binary(vars.text("CHROME_BINARY"))?,
        };
        let user_agent = match vars.text("SCRAPER_USER_AGENT") {
            Some(text) => header_value("SCRAPER_USER_AGENT", &text)?,
            None => HeaderValue::from_str(&installed_user_agent(chrome_binary.as_deref())).expect("ASCII"),
        };
        Ok(Config {
            mode,
            user_agent,
            suspend: SuspendPolicy {
                after_failures: vars.number("SCRAPER_DIRECT_FAILURES", 3, 1..=1000)? as u32,
                suspend_for: vars.seconds("SCRAPER_DIRECT_SUSPEND_SECS", 300, 1..=86_400)?,
            },
            listen: vars.parse("SCRAPER_LISTEN", DEFAULT_LISTEN, "an address such as 0.0.0.0:8001")?,
            sunat_url: http_url(
                "SUNAT_URL",
                &vars.text_or("SUNAT_URL", "https://e-consultaruc.sunat.gob.pe"),
                false,
            )?,
            driver,
            chrome_binary,
            sessions: vars.number("SCRAPER_SESSIONS", 2, 1..=16)? as usize,
            recycle_after: vars.number("SCRAPER_RECYCLE_AFTER", 100, 1..=1_000_000)? as u32,
            queue_timeout: vars.seconds("SCRAPER_QUEUE_TIMEOUT_SECS", 30, 0..=600)?,
            max_attempts: vars.number("SCRAPER_MAX_ATTEMPTS", 3, 1..=10)? as u32,
            lookup_timeout,
            page_load_timeout,
            result_timeout: vars.seconds("SCRAPER_RESULT_TIMEOUT_SECS", 10, 1..=300)?,
            retry_backoff: vars.millis("SCRAPER_RETRY_BACKOFF_MS", 500, 0..=60_000)?,
            instance: instance(&vars.text_or("SCRAPER_INSTANCE", &host_name()))?,
            drain: vars.seconds("SCRAPER_DRAIN_SECS", 5, 0..=300)?,
            shutdown_timeout: vars.seconds("SCRAPER_SHUTDOWN_TIMEOUT_SECS", 50, 0..=600)?,
            unknown_pages: UnknownPagesConfig {
                dir: vars
                    .text("SCRAPER_UNKNOWN_PAGES_DIR")
                    .map_or_else(|| std::env::temp_dir().join("ruc-scraper-unknown-pages"), PathBuf::from),
                keep: vars.number("SCRAPER_UNKNOWN_PAGES_KEEP", 20, 0..=1000)? as usize,
                max_age: vars.seconds("SCRAPER_UNKNOWN_PAGES_MAX_AGE_SECS", 7 * 86_400, 60..=365 * 86_400)?,
            },
            admin_token: vars.token("SCRAPER_ADMIN_TOKEN")?,
        })
    }
}

/// This machine's (or container's) name.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "scraper".to_string())
}

/// A name that can be a header value: visible ASCII, at most 253 bytes.
fn instance(name: &str) -> Result<HeaderValue, ConfigError> {
    let valid = !name.is_empty() && name.len() <= 253 && name.bytes().all(|b| b.is_ascii_graphic());
    let value = valid.then(|| HeaderValue::from_str(name).ok()).flatten();
    value.ok_or_else(|| ConfigError::new("SCRAPER_INSTANCE", format!("{name:?}: use letters, digits and -._")))
}

/// Any visible ASCII and spaces, as a header value must be.
fn header_value(variable: &'static str, text: &str) -> Result<HeaderValue, ConfigError> {
    let valid = !text.trim().is_empty() && text.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    let value = valid.then(|| HeaderValue::from_str(text).ok()).flatten();
    value.ok_or_else(|| ConfigError::new(variable, format!("{text:?} is not a valid header value")))
}

/// Chrome's User-Agent for the version of `chrome` (`--version` prints
/// `Chromium 156.0.8078.114 built on …`); the default one without it.
fn installed_user_agent(chrome: Option<&Path>) -> String {
    let version = chrome
        .and_then(|binary| std::process::Command::new(binary).arg("--version").output().ok())
        .and_then(|output| chrome_major_version(&String::from_utf8_lossy(&output.stdout)));
    chrome_user_agent(version.unwrap_or(DEFAULT_CHROME_MAJOR))
}

/// Chrome's reduced User-Agent on Linux: only the major version is real.
fn chrome_user_agent(major: u32) -> String {
    format!("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36")
}

/// `Chromium 156.0.8078.114 built on Debian` → 156.
fn chrome_major_version(text: &str) -> Option<u32> {
    text.split_whitespace()
        .find(|word| word.contains('.') && word.starts_with(|c: char| c.is_ascii_digit()))?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// An `http(s)://` URL; `trailing_slash` for WebDriver URLs, which fantoccini
/// joins with `session` (without it `/wd/hub` would lose its last segment).
fn http_url(variable: &'static str, value: &str, trailing_slash: bool) -> Result<String, ConfigError> {
    let url =
        url::Url::parse(value).map_err(|e| ConfigError::new(variable, format!("{value:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(
            variable,
            format!("{value:?} is not an http:// or https:// URL"),
        ));
    }
    let text = value.trim_end_matches('/');
    Ok(if trailing_slash {
        format!("{text}/")
    } else {
        text.to_string()
    })
}

fn chromedriver(configured: Option<String>, path: Option<String>) -> Result<PathBuf, ConfigError> {
    let name = configured.unwrap_or_else(|| "chromedriver".into());
    let error = |message: String| ConfigError::new("CHROMEDRIVER", message);
    if name.contains('/') {
        return match is_executable(Path::new(&name)) {
            true => Ok(PathBuf::from(name)),
            false => Err(error(format!("{name} is not an executable file"))),
        };
    }
    std::env::split_paths(&path.unwrap_or_default())
        .map(|dir| dir.join(&name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            error(format!(
                "{name} is not in PATH (install Debian's chromium-driver, or set WEBDRIVER_URL to use a remote one)"
            ))
        })
}

fn chrome_binary(configured: Option<String>) -> Result<Option<PathBuf>, ConfigError> {
    match configured {
        Some(path) if is_executable(Path::new(&path)) => Ok(Some(PathBuf::from(path))),
        Some(path) => Err(ConfigError::new(
            "CHROME_BINARY",
            format!("{path} is not an executable file"),
        )),
        None => Ok(CHROME_CANDIDATES.iter().map(PathBuf::from).find(|p| is_executable(p))),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut vars: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // A remote endpoint keeps these tests independent of installed binaries.
        vars.entry("WEBDRIVER_URL".into())
            .or_insert_with(|| "http://127.0.0.1:9515".into());
        Config::from_vars(move |name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_documentation() {
        let config = config(&[]).unwrap();
        assert_eq!(config.listen, "0.0.0.0:8001".parse().unwrap());
        assert_eq!(config.sunat_url, "https://e-consultaruc.sunat.gob.pe");
        assert_eq!(
            config.driver,
            Some(DriverConfig::Remote {
                url: "http://127.0.0.1:9515/".into()
            })
        );
        assert_eq!(config.mode, Mode::Browser);
        assert_eq!(config.user_agent, chrome_user_agent(DEFAULT_CHROME_MAJOR).as_str());
        assert_eq!(config.suspend.after_failures, 3);
        assert_eq!(config.suspend.suspend_for, Duration::from_secs(300));
        assert_eq!(config.sessions, 2);
        assert_eq!(config.recycle_after, 100);
        assert_eq!(config.queue_timeout, Duration::from_secs(30));
        assert_eq!(config.max_attempts, 3);
        assert_eq!(config.lookup_timeout, Duration::from_secs(45));
        assert_eq!(config.page_load_timeout, Duration::from_secs(15));
        assert_eq!(config.chrome_binary, None);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (variable, value) in [
            ("SCRAPER_SESSIONS", "0"),
            ("SCRAPER_SESSIONS", "two"),
            ("SCRAPER_MAX_ATTEMPTS", "-1"),
            ("SCRAPER_LISTEN", "localhost"),
            ("SUNAT_URL", "ftp://sunat"),
            ("WEBDRIVER_URL", "not a url"),
            ("SCRAPER_QUEUE_TIMEOUT_SECS", "1.5"),
            ("SCRAPER_RECYCLE_AFTER", "0"),
            ("SCRAPER_INSTANCE", "scraper one"),
            ("SCRAPER_DRAIN_SECS", "301"),
            ("SCRAPER_MODE", "direct"),
            ("SCRAPER_USER_AGENT", "Chrome/156 señor"),
            ("SCRAPER_DIRECT_FAILURES", "0"),
            ("SCRAPER_DIRECT_SUSPEND_SECS", "0"),
            ("SCRAPER_ADMIN_TOKEN", "changeme"),
            ("SCRAPER_ADMIN_TOKEN", "${SCRAPER_ADMIN_TOKEN:-}"),
            ("SCRAPER_UNKNOWN_PAGES_KEEP", "1001"),
            ("SCRAPER_UNKNOWN_PAGES_MAX_AGE_SECS", "0"),
        ] {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "{value}");
            assert!(error.to_string().starts_with(&format!("invalid {variable}: ")));
        }
    }

    #[test]
    fn the_lookup_deadline_must_outlast_a_page_load() {
        let error = config(&[
            ("SCRAPER_LOOKUP_TIMEOUT_SECS", "10"),
            ("SCRAPER_PAGE_LOAD_TIMEOUT_SECS", "10"),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "SCRAPER_LOOKUP_TIMEOUT_SECS");
    }

    #[test]
    fn urls_are_normalised() {
        let config = config(&[
            ("SUNAT_URL", "http://127.0.0.1:8002/"),
            ("WEBDRIVER_URL", "http://grid:4444/wd/hub"),
        ])
        .unwrap();
        assert_eq!(config.sunat_url, "http://127.0.0.1:8002");
        assert_eq!(
            config.driver,
            Some(DriverConfig::Remote {
                url: "http://grid:4444/wd/hub/".into()
            })
        );
    }

    #[test]
    fn http_mode_needs_no_chromedriver() {
        let vars: HashMap<&str, &str> = [("SCRAPER_MODE", "http"), ("PATH", "/nonexistent")].into();
        let config = Config::from_vars(|name| vars.get(name).map(|v| v.to_string())).unwrap();
        assert_eq!((config.mode, config.driver), (Mode::Http, None));
    }

    #[test]
    fn the_user_agent_follows_the_installed_chromium() {
        let version = "Chromium 156.0.8078.114 built on Debian GNU/Linux 12 (bookworm)\n";
        assert_eq!(chrome_major_version(version), Some(156));
        assert_eq!(chrome_major_version("Google Chrome 142.0.7444.59 \n"), Some(142));
        assert_eq!(chrome_major_version("command not found"), None);
        let configured = config(&[("SCRAPER_USER_AGENT", "ruc-lookup/1.0 (+ops@example.pe)")]).unwrap();
        assert_eq!(configured.user_agent, "ruc-lookup/1.0 (+ops@example.pe)");
    }

    #[test]
    fn a_missing_chromedriver_is_reported() {
        let vars: HashMap<&str, &str> = [("CHROMEDRIVER", "/nonexistent/chromedriver")].into();
        let error = Config::from_vars(|name| vars.get(name).map(|v| v.to_string())).unwrap_err();
        assert_eq!(error.variable, "CHROMEDRIVER");
        let vars: HashMap<&str, &str> = [("PATH", "/nonexistent")].into();
        let error = Config::from_vars(|name| vars.get(name).map(|v| v.to_string())).unwrap_err();
        assert_eq!(error.variable, "CHROMEDRIVER");
    }
}
