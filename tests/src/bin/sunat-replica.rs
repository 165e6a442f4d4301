//! Runs the SUNAT replica on its own, for the offline demo and benchmarks.
//!
//! `REPLICA_LISTEN` (default `127.0.0.1:8002`) is where it listens; point
//! the scraper's `SUNAT_URL` at it. Switch failure modes with
//! `curl -X PUT localhost:8002/__replica/behaviour -d '{"errorPages":2}'`.

use std::net::SocketAddr;
use std::process::ExitCode;

use ruc_tests::replica::Replica;
use startup::Env;
use tracing::{error, info};

#[tokio::main]
async fn main() -> ExitCode {
    startup::init_logs();
    let var = |name: &str| std::env::var(name).ok();
    let addr: SocketAddr =
        match Env::new(&var).parse("REPLICA_LISTEN", "127.0.0.1:8002", "an address such as 127.0.0.1:8002") {
            Ok(addr) => addr,
            Err(e) => {
                error!("{e}");
                return ExitCode::from(2);
            }
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
