//! One WebDriver session (one headless Chrome), and the classification of
//! WebDriver errors into faults that say how to recover.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::error::{CmdError, ErrorStatus, NewSessionError};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Map, Value};
use tracing::{debug, warn};

/// Chrome flags that work as root in a container (`webdriver.md` §2). The
/// background-networking flags keep a deployment from calling Google.
const CHROME_ARGS: [&str; 11] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,800",
];

/// How sessions are created: the browser binary and the timeouts Chrome
/// enforces itself (the only timeouts that end a WebDriver command).
#[derive(Debug, Clone)]
pub(crate) struct SessionConfig {
    /// `None` lets the driver pick its browser (always so for a remote grid).
    pub(crate) chrome_binary: Option<PathBuf>,
    pub(crate) page_load_timeout: Duration,
    pub(crate) script_timeout: Duration,
}

impl SessionConfig {
    fn capabilities(&self) -> Map<String, Value> {
        let mut chrome_options = json!({ "args": CHROME_ARGS });
        if let Some(binary) = &self.chrome_binary {
            chrome_options["binary"] = json!(binary);
        }
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {
                "pageLoad": self.page_load_timeout.as_millis() as u64,
                "script": self.script_timeout.as_millis() as u64,
                "implicit": 0,
            },
            "goog:chromeOptions": chrome_options,
        });
        match capabilities {
            Value::Object(map) => map,
            _ => unreachable!("built as an object"),
        }
    }
}

/// A live browser session.
pub(crate) struct Session {
    client: Client,
    /// The browser's PID (`goog:processID`), to end a hung command by killing
    /// the browser. Only meaningful when we run the driver ourselves.
    browser_pid: Option<u32>,
    /// The driver generation the session was created on: a driver restart
    /// kills every browser, and sessions of older generations are dead.
    pub(crate) generation: u64,
    /// Lookups served, for recycling.
    pub(crate) lookups: u32,
}

impl Session {
    pub(crate) async fn open(webdriver_url: &str, config: &SessionConfig, generation: u64) -> Result<Session, Fault> {
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(config.capabilities())
            .connect(webdriver_url)
            .await
            .map_err(Fault::from)?;
        let browser_pid = client
            .capabilities()
            .and_then(|caps| caps.get("goog:processID"))
            .and_then(Value::as_u64)
            .and_then(|pid| u32::try_from(pid).ok());
        debug!(?browser_pid, generation, "browser session opened");
        Ok(Session {
            client,
            browser_pid,
            generation,
            lookups: 0,
        })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn browser_pid(&self) -> Option<u32> {
        self.browser_pid
    }

    /// Ends the session with DELETE, the only reliable way to close a browser
    /// through WebDriver. Bounded: a DELETE waits behind a pending command.
    pub(crate) async fn close(self, within: Duration) {
        match tokio::time::timeout(within, self.client.close()).await {
            Ok(Ok(())) => debug!("browser session closed"),
            Ok(Err(error)) => debug!(%error, "closing a browser session failed"),
            Err(_) => warn!(?within, "closing a browser session timed out"),
        }
    }
}

/// What went wrong in a WebDriver command, sorted by what it means for the
/// session (`webdriver.md` §4.3 and §4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Chrome's `pageLoad` timeout fired: SUNAT did not answer. Session fine.
    PageTimeout,
    /// Chrome could not reach SUNAT (`net::ERR_…` code). Session fine.
    Network(String),
    /// A JavaScript `alert()` was open (the form rejected the RUC). Session fine.
    Alert(String),
    /// The element is not on the page. Session fine.
    NoSuchElement,
    /// The page navigated while we read it. Session fine; read again.
    Navigating,
    /// The tab crashed, the session is gone, or an unexpected WebDriver
    /// error: replace the session.
    SessionLost(String),
    /// Chrome would not start (`session not created`): replace and report.
    NotCreated(String),
    /// The WebDriver endpoint does not answer: restart the driver we own, or
    /// start over with a new session on a remote one.
    DriverLost(String),
    /// A command did not return in time. Dropping the future does not cancel
    /// it, so the browser must be killed.
    Hung,
}

/// What the pool must do with a session after a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    Keep,
    Replace,
    Kill,
    RestartDriver,
}

impl Fault {
    pub(crate) fn recovery(&self) -> Recovery {
        match self {
            Fault::PageTimeout | Fault::Network(_) | Fault::Alert(_) | Fault::NoSuchElement | Fault::Navigating => {
                Recovery::Keep
            }
            Fault::SessionLost(_) | Fault::NotCreated(_) => Recovery::Replace,
            Fault::Hung => Recovery::Kill,
            Fault::DriverLost(_) => Recovery::RestartDriver,
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::PageTimeout => f.write_str("la página no cargó a tiempo"),
            Fault::Network(code) => write!(f, "error de red del navegador: {code}"),
            Fault::Alert(text) => write!(f, "alerta del formulario: {text}"),
            Fault::NoSuchElement => f.write_str("elemento no encontrado en la página"),
            Fault::Navigating => f.write_str("la página cambió durante la lectura"),
            Fault::SessionLost(why) => write!(f, "sesión del navegador perdida: {why}"),
            Fault::NotCreated(why) => write!(f, "el navegador no pudo iniciar: {why}"),
            Fault::DriverLost(why) => write!(f, "WebDriver no responde: {why}"),
            Fault::Hung => f.write_str("el navegador no respondió a tiempo"),
        }
    }
}

impl From<CmdError> for Fault {
    fn from(error: CmdError) -> Fault {
        match error {
            CmdError::Standard(wd) => {
                let message = wd.message.to_string();
                match wd.error {
                    ErrorStatus::Timeout | ErrorStatus::ScriptTimeout => Fault::PageTimeout,
                    ErrorStatus::UnexpectedAlertOpen => Fault::Alert(message),
                    ErrorStatus::NoSuchElement => Fault::NoSuchElement,
                    ErrorStatus::StaleElementReference => Fault::Navigating,
                    _ if message.contains("net::ERR_") => Fault::Network(net_error_code(&message)),
                    _ => Fault::SessionLost(message),
                }
            }
            CmdError::NotW3C(Value::String(code)) if code == "aborted by navigation" => Fault::Navigating,
            CmdError::NotW3C(other) => Fault::SessionLost(other.to_string()),
            CmdError::Failed(e) => Fault::DriverLost(e.to_string()),
            CmdError::FailedC(e) => Fault::DriverLost(e.to_string()),
            CmdError::Lost(e) => Fault::DriverLost(e.to_string()),
            CmdError::WaitTimeout => Fault::PageTimeout,
            other => Fault::SessionLost(other.to_string()),
        }
    }
}

impl From<NewSessionError> for Fault {
    fn from(error: NewSessionError) -> Fault {
        match error {
            NewSessionError::Failed(e) => Fault::DriverLost(e.to_string()),
            NewSessionError::FailedC(e) => Fault::DriverLost(e.to_string()),
            NewSessionError::Lost(e) => Fault::DriverLost(e.to_string()),
            NewSessionError::SessionNotCreated(wd) => Fault::NotCreated(wd.message.to_string()),
            other => Fault::NotCreated(other.to_string()),
        }
    }
}

/// `unknown error: net::ERR_CONNECTION_REFUSED` → `ERR_CONNECTION_REFUSED`.
fn net_error_code(message: &str) -> String {
    let start = message.find("ERR_").unwrap_or(0);
    message[start..]
        .chars()
        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fantoccini::error::WebDriver;

    fn standard(status: ErrorStatus, message: &str) -> CmdError {
        CmdError::Standard(WebDriver::new(status, message.to_string()))
    }

    #[test]
    fn faults_that_keep_the_session() {
        assert_eq!(
            Fault::from(standard(
                ErrorStatus::Timeout,
                "timeout: Timed out receiving message from renderer"
            )),
            Fault::PageTimeout
        );
        assert_eq!(
            Fault::from(standard(
                ErrorStatus::UnknownError,
                "unknown error: net::ERR_CONNECTION_RESET"
            )),
            Fault::Network("ERR_CONNECTION_RESET".into())
        );
        assert_eq!(
            Fault::from(CmdError::NotW3C(Value::String("aborted by navigation".into()))),
            Fault::Navigating
        );
        assert_eq!(
            Fault::from(standard(ErrorStatus::UnexpectedAlertOpen, "RUC inválido")).recovery(),
            Recovery::Keep
        );
    }

    #[test]
    fn crashed_tabs_and_lost_sessions_are_replaced() {
        let crashed = Fault::from(CmdError::NotW3C(Value::String("tab crashed".into())));
        assert_eq!(crashed.recovery(), Recovery::Replace);
        let invalid = Fault::from(standard(ErrorStatus::InvalidSessionId, "invalid session id"));
        assert_eq!(invalid.recovery(), Recovery::Replace);
    }

    #[test]
    fn a_closed_connection_means_the_driver_is_gone() {
        let lost = Fault::from(CmdError::Lost(std::io::Error::from(std::io::ErrorKind::BrokenPipe)));
        assert_eq!(lost.recovery(), Recovery::RestartDriver);
    }

    #[test]
    fn capabilities_set_timeouts_and_binary() {
        let config = SessionConfig {
            chrome_binary: Some("/usr/bin/chromium".into()),
            page_load_timeout: Duration::from_secs(15),
            script_timeout: Duration::from_secs(10),
        };
        let caps = config.capabilities();
        assert_eq!(caps["timeouts"]["pageLoad"], 15000);
        assert_eq!(caps["timeouts"]["script"], 10000);
        assert_eq!(caps["goog:chromeOptions"]["binary"], "/usr/bin/chromium");
        assert_eq!(caps["goog:chromeOptions"]["args"][1], "--no-sandbox");
    }
}
