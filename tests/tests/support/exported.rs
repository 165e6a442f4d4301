//! What the running services export: every metric family of a proxy (with a
//! scraper behind it, so that the per-scraper families exist) and of a
//! scraper (direct mode, against the replica), with the label names its
//! samples carry. The alert rules and the dashboard may query only these.

use std::collections::{BTreeMap, BTreeSet};

use super::proxy::Proxy;
use super::redis::RedisServer;
use super::scraper::Scraper;
use super::stub::StubScraper;

/// Family name → the label names of its samples (`le` of a histogram's
/// buckets included, under the family's own name).
pub type Families = BTreeMap<String, BTreeSet<String>>;

/// Starts a proxy and a scraper, reads their `/metrics`, stops them.
pub async fn from_running_services() -> Families {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let proxy_page = proxy.metrics_page().await;
    assert!(proxy.stop().await.success());
    let replica = super::replica().await;
    let scraper = Scraper::start_without_browser(&replica, &[]).await;
    let (status, _, scraper_page) = scraper.get_raw("/metrics").await;
    assert_eq!(status, 200);
    scraper.stop().await;
    let mut families = families(&proxy_page);
    families.extend(self::families(&scraper_page));
    families
}

/// The families of one text-format page.
pub fn families(page: &str) -> Families {
    let mut families = Families::new();
    for line in page.lines() {
        if let Some(name) = line.strip_prefix("# TYPE ").and_then(|rest| rest.split(' ').next()) {
            families.entry(name.to_string()).or_default();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let family = family_of(&line[..name_end]);
        let labels = line[name_end..]
            .strip_prefix('{')
            .and_then(|rest| rest.split_once('}'))
            .map(|(set, _)| {
                set.split(',')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, _)| k.to_string())
            })
            .into_iter()
            .flatten();
        families.entry(family.to_string()).or_default().extend(labels);
    }
    families
}

/// The family a sample belongs to: a histogram's `_bucket`, `_sum` and
/// `_count` belong to the histogram.
pub fn family_of(sample: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| sample.strip_suffix(suffix))
        .unwrap_or(sample)
}

/// Checks that every metric `expr` reads (a name starting with `ruc_` or
/// `process_`) is in `families`, with every label it matches on (`job` and
/// `instance` are Prometheus's own); `reader` names the rule or panel in a
/// failure. Returns the names read.
pub fn assert_exported(families: &Families, expr: &str, reader: &str) -> Vec<String> {
    let read = queried(expr, &["ruc_", "process_"]);
    for (name, labels) in &read {
        let has = families
            .get(family_of(name))
            .unwrap_or_else(|| panic!("{reader}: {name} is exported by neither service"));
        for label in labels.iter().filter(|l| !["job", "instance"].contains(&l.as_str())) {
            assert!(
                has.contains(label),
                "{reader}: {name} has no label {label}; it has {has:?}"
            );
        }
    }
    read.into_iter().map(|(name, _)| name).collect()
}

/// The metrics a PromQL expression reads, each with the label names it
/// matches on (`name{a="x",b=~"y"}` → `name`, {a, b}): names that start
/// with one of `prefixes`.
pub fn queried(expr: &str, prefixes: &[&str]) -> Vec<(String, BTreeSet<String>)> {
    let mut found = Vec::new();
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut at = 0;
    while at < expr.len() {
        let rest = &expr[at..];
        let len = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
        if len == 0 {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let name = &rest[..len];
        at += len;
        if !prefixes.iter().any(|p| name.starts_with(p)) || name.contains(':') {
            continue;
        }
        let mut labels = BTreeSet::new();
        if let Some(matchers) = expr[at..]
            .strip_prefix('{')
            .and_then(|m| m.split_once('}'))
            .map(|(m, _)| m)
        {
            labels.extend(
                matchers
                    .split(',')
                    .filter_map(|m| m.split(['=', '!']).next())
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty()),
            );
        }
        found.push((name.to_string(), labels));
    }
    found
}
