//! The lookup as a person does it on the real site: open the search form,
//! type the RUC into `#txtRuc`, click `#btnAceptar`, and watch the tab until
//! SUNAT's answer is recognisable. The page is read whole, in one `execute()`
//! per look, and classified by [`page::classify`] in Rust.

use std::future::Future;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use ruc_contract::{Kind, Ruc};
use serde_json::Value;
use startup::telemetry;
use tracing::{debug, info_span, Instrument};

use super::page::{self, Page, Snapshot};
use super::secondary;
use crate::browser::Fault;

/// Path of the search form under `SUNAT_URL`.
pub(crate) const FORM_PATH: &str = "/cl-ti-itmrconsruc/FrameCriterioBusquedaWeb.jsp";

/// How often the tab is read while waiting for the answer.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Returns what the browser shows in one round trip. A document without a
/// root element (seen while Chrome replaces a page that arrived cut short)
/// reads as an empty page, still pending, not as a script error that would
/// condemn a healthy browser session.
const SNAPSHOT_SCRIPT: &str = "return [location.href, document.readyState, \
    document.documentElement ? document.documentElement.outerHTML : ''];";

/// Where the site is and how long its pages may take.
#[derive(Debug, Clone)]
pub(crate) struct FormConfig {
    /// `SUNAT_URL`, without a trailing slash.
    pub(crate) sunat_url: String,
    /// How long to wait for the answer page after the click (the result may
    /// be inserted late by the page's JavaScript).
    pub(crate) result_timeout: Duration,
    /// Bound on one WebDriver command. Longer than Chrome's page-load
    /// timeout, so that it only fires when the browser itself is stuck.
    pub(crate) command_timeout: Duration,
}

/// What SUNAT answered, once recognisable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A page classified as something other than [`Page::Pending`].
    Page(Page),
    /// Nothing recognisable within the wait; `loading` when the tab was
    /// still loading or still on the form (SUNAT did not answer).
    Unrecognised { loading: bool, title: String },
    /// The form's address showed neither the form nor a page we know.
    FormMissing { title: String },
}

/// An answer and the page it was read from (none when the tab never
/// settled): a page that cannot be read is kept for diagnosis.
pub(crate) type Shown = (Answer, Option<Snapshot>);

/// Runs one search for `ruc` in the session's tab.
/// Spans (when traces are exported): `form` (its page loaded and found),
/// `search` (typed, submitted, the answer waited for).
pub(crate) async fn search(client: &Client, ruc: Ruc, config: &FormConfig) -> Result<Shown, Fault> {
    let form_url = format!("{}{FORM_PATH}", config.sunat_url);
    let loading = async {
        command(config, client.goto(&form_url)).await?;
        command(config, client.find(Locator::Id("txtRuc"))).await
    };
    let input = match loading.instrument(telemetry::span(|| info_span!("form"))).await {
        Ok(input) => input,
        // Not the form: the firewall or an error page came instead.
        Err(Fault::NoSuchElement) => return not_the_form(client, config).await,
        Err(fault) => return Err(fault),
    };
    let searching = async {
        command(config, input.send_keys(ruc.as_str())).await?;
        let button = command(config, client.find(Locator::Id("btnAceptar"))).await?;
        command(config, button.click()).await?;
        debug!("search submitted");
        wait_for_answer(client, config, config.result_timeout).await
    };
    searching.instrument(telemetry::span(|| info_span!("search"))).await
}

/// Submits the result page's form of a page behind it, as its button
/// does; where the page has no such form (SUNAT shows the buttons that
/// apply), the same POST, built in the page. Arguments: the form's name,
/// `accion`, the RUC, the razón social.
const OPEN_SCRIPT: &str = "var f = document.forms[arguments[0]];
if (!f) {
  f = document.createElement('form');
  f.method = 'post';
  f.action = '/cl-ti-itmrconsruc/jcrS00Alias';
  [['accion', arguments[1]], ['contexto', 'ti-it'], ['modo', '1'], ['nroRuc', arguments[2]], ['desRuc', arguments[3]]]
    .forEach(function (field) {
      var input = document.createElement('input');
      input.type = 'hidden'; input.name = field[0]; input.value = field[1];
      f.appendChild(input);
    });
  document.body.appendChild(f);
}
f.submit();
return true;";

/// Opens the `kind` page of `ruc` (named `razon_social`) from the result
/// page in the tab, and returns the tab once that page (or what SUNAT
/// answers instead) shows, within the result wait.
pub(crate) async fn open(
    client: &Client,
    kind: Kind,
    ruc: Ruc,
    razon_social: &str,
    config: &FormConfig,
) -> Result<Snapshot, Fault> {
    let arguments = vec![
        Value::from(kind.form()),
        Value::from(kind.accion()),
        Value::from(ruc.as_str()),
        Value::from(razon_social),
    ];
    command(config, client.execute(OPEN_SCRIPT, arguments)).await?;
    debug!(page = kind.segment(), "secondary page requested");
    let until = Instant::now() + config.result_timeout;
    loop {
        match snapshot(client, config).await {
            Ok(look) if secondary::arrived(kind, &look) => return Ok(look),
            Ok(_) | Err(Fault::Navigating) => {}
            Err(fault) => return Err(fault),
        }
        if Instant::now() >= until {
            return Err(Fault::PageTimeout);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Opens page `pagina` of the paged list the tab shows, by its own link
/// (`javascript:paginacion(<pagina>)`), and returns the tab once a page
/// other than `shown` has arrived, within the result wait.
pub(crate) async fn turn_page(
    client: &Client,
    kind: Kind,
    pagina: u32,
    shown: &Snapshot,
    config: &FormConfig,
) -> Result<Snapshot, Fault> {
    let script = "paginacion(arguments[0]); return true;";
    command(config, client.execute(script, vec![Value::from(pagina)])).await?;
    let until = Instant::now() + config.result_timeout;
    loop {
        match snapshot(client, config).await {
            Ok(look) if look.html != shown.html && secondary::arrived(kind, &look) => return Ok(look),
            Ok(_) | Err(Fault::Navigating) => {}
            Err(fault) => return Err(fault),
        }
        if Instant::now() >= until {
            return Err(Fault::PageTimeout);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Reads the tab until the page is recognisable or `wait` has passed.
async fn wait_for_answer(client: &Client, config: &FormConfig, wait: Duration) -> Result<Shown, Fault> {
    let until = Instant::now() + wait;
    loop {
        let last = match snapshot(client, config).await {
            Ok(snapshot) => match page::classify(&snapshot) {
                Page::Pending => Some(snapshot),
                recognised => return Ok((Answer::Page(recognised), Some(snapshot))),
            },
            Err(Fault::Navigating) => None,
            Err(fault) => return Err(fault),
        };
        if Instant::now() >= until {
            return Ok((no_answer(last.as_ref()), last));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

async fn not_the_form(client: &Client, config: &FormConfig) -> Result<Shown, Fault> {
    let snapshot = snapshot(client, config).await?;
    Ok((not_the_form_answer(&snapshot), Some(snapshot)))
}

/// What the form's address showed instead of the form: a page we know
/// (the firewall, an error page) or [`Answer::FormMissing`].
pub(crate) fn not_the_form_answer(snapshot: &Snapshot) -> Answer {
    match page::classify(snapshot) {
        Page::Pending => Answer::FormMissing {
            title: page::title(&snapshot.html),
        },
        recognised => Answer::Page(recognised),
    }
}

fn no_answer(last: Option<&Snapshot>) -> Answer {
    match last {
        Some(snapshot) => Answer::Unrecognised {
            loading: snapshot.ready_state != "complete" || snapshot.url.contains(FORM_PATH),
            title: page::title(&snapshot.html),
        },
        None => Answer::Unrecognised {
            loading: true,
            title: String::new(),
        },
    }
}

async fn snapshot(client: &Client, config: &FormConfig) -> Result<Snapshot, Fault> {
    let value = command(config, client.execute(SNAPSHOT_SCRIPT, Vec::new())).await?;
    let text = |i: usize| value.get(i).and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(Snapshot {
        url: text(0),
        ready_state: text(1),
        html: text(2),
    })
}

/// Bounds one WebDriver command; see [`FormConfig::command_timeout`].
async fn command<T, E: Into<Fault>>(
    config: &FormConfig,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, Fault> {
    match tokio::time::timeout(config.command_timeout, future).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(Fault::Hung),
    }
}
