//! The pages the scraper could not read, kept for diagnosis. When SUNAT
//! changes its site, the first page that breaks a parser is what an
//! engineer needs to fix it, and it is gone by the time a customer
//! complains. The last `SCRAPER_UNKNOWN_PAGES_KEEP` lookups that met one
//! are kept, a JSON file each in `SCRAPER_UNKNOWN_PAGES_DIR` (the request,
//! the time, why, and the pages: at most [`MAX_PAGE_BYTES`] in all), and
//! deleted after `SCRAPER_UNKNOWN_PAGES_MAX_AGE_SECS`. `api` lists and
//! reads them at `GET /debug/unknown-pages`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::failure::UnreadableKind;
use crate::metrics::Metrics;
use crate::sunat::page::Snapshot;

/// The most page text kept per lookup.
pub(crate) const MAX_PAGE_BYTES: usize = 1 << 20;
/// How often files past their age are looked for, besides at each keep.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// `SCRAPER_UNKNOWN_PAGES_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownPagesConfig {
    /// `SCRAPER_UNKNOWN_PAGES_DIR`.
    pub(crate) dir: PathBuf,
    /// `SCRAPER_UNKNOWN_PAGES_KEEP`, default 20; 0 keeps none.
    pub(crate) keep: usize,
    /// `SCRAPER_UNKNOWN_PAGES_MAX_AGE_SECS`, default 7 days.
    pub(crate) max_age: Duration,
}

/// What a lookup met that it could not read: why, and every page of the
/// attempt (the search's answer, then the pages behind it).
#[derive(Debug, Clone)]
pub(crate) struct Unread {
    pub(crate) reason: UnreadableKind,
    pub(crate) why: String,
    pub(crate) pages: Vec<Snapshot>,
}

/// One kept lookup, as its file holds it and `GET
/// /debug/unknown-pages/<id>` answers it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Kept {
    pub(crate) id: String,
    pub(crate) kept_at: String,
    pub(crate) reason: String,
    pub(crate) why: String,
    /// The request: `GET /obtener-ruc/<ruc>[/<page>]`, and the method
    /// (`http` or `browser`) that met the page.
    pub(crate) ruc: String,
    pub(crate) page: String,
    pub(crate) method: String,
    pub(crate) pages: Vec<KeptPage>,
}

/// One page of a kept lookup.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeptPage {
    pub(crate) url: String,
    pub(crate) html: String,
    /// Whether `html` was cut at the size bound.
    pub(crate) truncated: bool,
}

/// The kept pages' directory and its bounds.
pub(crate) struct UnknownPages {
    config: UnknownPagesConfig,
    metrics: Metrics,
    /// One writer or pruner at a time.
    busy: tokio::sync::Mutex<()>,
}

impl UnknownPages {
    /// Creates the directory (when pages are kept) and checks that it is
    /// writable; removes what is past its age or count.
    pub(crate) fn open(config: UnknownPagesConfig, metrics: Metrics) -> Result<UnknownPages, String> {
        if config.keep > 0 {
            writable(&config.dir).map_err(|e| format!("SCRAPER_UNKNOWN_PAGES_DIR {}: {e}", config.dir.display()))?;
            prune(&config);
        }
        Ok(UnknownPages {
            config,
            metrics,
            busy: tokio::sync::Mutex::new(()),
        })
    }

    /// Removes files past their age every [`PRUNE_EVERY`], for as long as
    /// the process runs.
    pub(crate) fn prune_periodically(self: std::sync::Arc<Self>) {
        if self.config.keep == 0 {
            return;
        }
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PRUNE_EVERY).await;
                let _busy = self.busy.lock().await;
                let config = self.config.clone();
                let _ = tokio::task::spawn_blocking(move || prune(&config)).await;
            }
        });
    }

    /// Counts a lookup that met a page it could not read and keeps it,
    /// dropping the oldest beyond the count; a failure to write is logged.
    pub(crate) async fn keep(&self, unread: Unread, ruc: &str, page: &str, method: &str) {
        let reason = unread.reason.label();
        self.metrics.unknown_pages.with_label_values(&[reason]).inc();
        warn!(reason, why = %unread.why, page, method, "SUNAT showed a page the scraper cannot read");
        if self.config.keep == 0 {
            return;
        }
        let kept = Kept {
            id: new_id(),
            kept_at: crate::sunat::answer::now_rfc3339(),
            reason: reason.to_string(),
            why: unread.why,
            ruc: ruc.to_string(),
            page: page.to_string(),
            method: method.to_string(),
            pages: bounded(unread.pages),
        };
        let _busy = self.busy.lock().await;
        let config = self.config.clone();
        let written = tokio::task::spawn_blocking(move || {
            let written = write(&config.dir, &kept).map(|()| kept.id);
            prune(&config);
            written
        })
        .await;
        match written {
            Ok(Ok(id)) => info!(id, "unreadable page kept: GET /debug/unknown-pages/{id}"),
            Ok(Err(e)) => warn!("cannot keep the unreadable page: {e}"),
            Err(e) => warn!("cannot keep the unreadable page: {e}"),
        }
    }

    /// The kept lookups, newest first, without their pages.
    pub(crate) async fn list(&self) -> Vec<serde_json::Value> {
        let _busy = self.busy.lock().await;
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || {
            prune(&config);
            ids(&config.dir)
                .into_iter()
                .filter_map(|id| read(&config.dir, &id))
                .map(|kept| {
                    let bytes: usize = kept.pages.iter().map(|p| p.html.len()).sum();
                    let mut summary = serde_json::to_value(&kept).expect("serialises");
                    summary["pages"] = serde_json::json!(kept.pages.len());
                    summary["bytes"] = serde_json::json!(bytes);
                    summary
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// One kept lookup, by its id.
    pub(crate) async fn get(&self, id: &str) -> Option<Kept> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return None;
        }
        let (dir, id) = (self.config.dir.clone(), id.to_string());
        tokio::task::spawn_blocking(move || read(&dir, &id))
            .await
            .ok()
            .flatten()
    }
}

/// Creates `dir` if needed and writes and removes a file in it.
fn writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// Sortable by time: milliseconds since the epoch, then a random part.
fn new_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("{millis:013}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// When `id` was made, from its first part.
fn made_at(id: &str) -> Option<SystemTime> {
    let millis: u64 = id.split('-').next()?.parse().ok()?;
    Some(UNIX_EPOCH + Duration::from_millis(millis))
}

/// The pages, cut so that their text is [`MAX_PAGE_BYTES`] at most.
fn bounded(pages: Vec<Snapshot>) -> Vec<KeptPage> {
    let mut left = MAX_PAGE_BYTES;
    pages
        .into_iter()
        .map(|page| {
            let mut html = page.html;
            let truncated = html.len() > left;
            if truncated {
                let mut end = left;
                while !html.is_char_boundary(end) {
                    end -= 1;
                }
                html.truncate(end);
            }
            left -= html.len();
            KeptPage {
                url: page.url,
                html,
                truncated,
            }
        })
        .collect()
}

/// Writes to a temporary name first, so that a reader never sees half a file.
fn write(dir: &Path, kept: &Kept) -> std::io::Result<()> {
    let partial = dir.join(format!(".{}.partial", kept.id));
    std::fs::write(&partial, serde_json::to_vec(kept).expect("serialises"))?;
    std::fs::rename(&partial, dir.join(format!("{}.json", kept.id)))
}

fn read(dir: &Path, id: &str) -> Option<Kept> {
    let bytes = std::fs::read(dir.join(format!("{id}.json"))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The ids in `dir`, newest first.
fn ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            entry
                .ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(String::from)
        })
        .filter(|id| made_at(id).is_some())
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

/// Removes the files beyond the newest `keep` and those past `max_age`.
fn prune(config: &UnknownPagesConfig) {
    let now = SystemTime::now();
    for (rank, id) in ids(&config.dir).into_iter().enumerate() {
        let too_old = made_at(&id)
            .and_then(|made| now.duration_since(made).ok())
            .is_some_and(|age| age > config.max_age);
        if rank >= config.keep || too_old {
            let _ = std::fs::remove_file(config.dir.join(format!("{id}.json")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str) -> Snapshot {
        Snapshot {
            url: "https://sunat/x".into(),
            ready_state: "complete".into(),
            html: html.into(),
        }
    }

    fn store(keep: usize, max_age: Duration) -> (UnknownPages, PathBuf) {
        let dir = std::env::temp_dir().join(format!("unknown-pages-test-{}", new_id()));
        let config = UnknownPagesConfig {
            dir: dir.clone(),
            keep,
            max_age,
        };
        (UnknownPages::open(config, Metrics::new()).unwrap(), dir)
    }

    fn unread(html: &str) -> Unread {
        Unread {
            reason: UnreadableKind::ResultRows,
            why: "sin filas".into(),
            pages: vec![page(html)],
        }
    }

    #[tokio::test]
    async fn keeps_the_newest_and_counts_every_one() {
        let (store, dir) = store(2, Duration::from_secs(3600));
        for html in ["a", "b", "c"] {
            store.keep(unread(html), "20131312955", "record", "http").await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let listed = store.list().await;
        assert_eq!(listed.len(), 2);
        let newest = store.get(listed[0]["id"].as_str().unwrap()).await.unwrap();
        assert_eq!(
            (newest.pages[0].html.as_str(), newest.reason.as_str()),
            ("c", "result_unreadable")
        );
        assert_eq!(listed[1]["pages"], 1);
        let text = store.metrics.render();
        assert!(text.contains("ruc_scraper_unknown_pages_total{reason=\"result_unreadable\"} 3"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn old_pages_go_and_ids_cannot_leave_the_directory() {
        let (store, dir) = store(20, Duration::from_secs(60));
        std::fs::write(dir.join("0000000000001-abcdef.json"), b"{}").unwrap();
        store.keep(unread("x"), "20131312955", "record", "browser").await;
        assert_eq!(ids(&dir).len(), 1, "the page made in 1970 is gone");
        for id in ["../etc/passwd", "", "a/b", "..", "0000000000001-abcdef"] {
            assert!(store.get(id).await.is_none(), "{id}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pages_are_cut_to_the_bound_on_a_character_boundary() {
        let big = "é".repeat(MAX_PAGE_BYTES);
        let kept = bounded(vec![page("<p>first</p>"), page(&big), page("after")]);
        let total: usize = kept.iter().map(|p| p.html.len()).sum();
        assert!(total <= MAX_PAGE_BYTES && total > MAX_PAGE_BYTES - 4);
        assert_eq!(
            kept.iter().map(|p| p.truncated).collect::<Vec<_>>(),
            [false, true, true]
        );
    }

    #[test]
    fn an_unwritable_directory_is_refused_at_start() {
        let config = UnknownPagesConfig {
            dir: PathBuf::from("/proc/no-such-place"),
            keep: 20,
            max_age: Duration::from_secs(60),
        };
        let error = UnknownPages::open(config, Metrics::new()).err().unwrap();
        assert!(error.contains("SCRAPER_UNKNOWN_PAGES_DIR"), "{error}");
    }
}
