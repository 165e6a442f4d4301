//! Runs the SUNAT replica on its own, for the offline demo and benchmarks.
//!
//! `REPLICA_LISTEN` (default `127.0.0.1:8002`) is where it listens; point
//! the scraper's `SUNAT_URL` at it. Switch failure modes with
//! `curl -X PUT localhost:8002/__replica/behaviour -d '{"errorPages":2}'`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;

use ruc_tests::replica::Replica;
use tracing::{error, info};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let listen = std::env::var("REPLICA_LISTEN").unwrap_or_else(|_| "127.0.0.1:8002".into());
    let Ok(addr) = listen.parse::<SocketAddr>() else {
        error!("invalid REPLICA_LISTEN: {listen:?} is not an address such as 127.0.0.1:8002");
        return ExitCode::from(2);
    };
    let replica = match Replica::start(addr).await {
        Ok(replica) => replica,
        Err(e) => {
            error!("cannot listen on {addr} (REPLICA_LISTEN): {e}");
            return ExitCode::FAILURE;
        }
    };
    info!(addr = %replica.addr(), "SUNAT replica listening");
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
