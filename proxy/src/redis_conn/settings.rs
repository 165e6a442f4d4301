//! What `REDIS_MODE`, `REDIS_URL`, `REDIS_CA_FILE` and `REDIS_SENTINELS`
//! say, and the client for one server that every deployment builds on.

use redis::{IntoConnectionInfo, RedisResult, TlsCertificates};

/// What the settings say about Redis: `REDIS_MODE`, `REDIS_URL`,
/// `REDIS_CA_FILE`, `REDIS_SENTINELS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedisSettings {
    pub(crate) mode: Mode,
    /// One URL; in a cluster, the seed nodes' URLs; with Sentinel, the
    /// master's URL with the master's name as host.
    pub(crate) urls: Vec<String>,
    /// PEM certificates a TLS server must chain to, instead of the system's.
    pub(crate) ca: Option<Vec<u8>>,
    /// `host:port` of each sentinel.
    pub(crate) sentinels: Vec<String>,
}

/// `REDIS_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Single,
    Cluster,
    Sentinel,
}

/// The client for one server; over TLS (`rediss://`) the server's
/// certificate is verified against `ca` (PEM) when given, else the
/// system's roots.
pub(crate) fn client(server: impl IntoConnectionInfo, ca: Option<&[u8]>) -> RedisResult<redis::Client> {
    match ca {
        None => redis::Client::open(server),
        Some(pem) => redis::Client::build_with_tls(server, certificates(pem)),
    }
}

/// `pem` as the roots a TLS server must chain to.
pub(crate) fn certificates(pem: &[u8]) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }
}
