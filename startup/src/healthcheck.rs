//! `proxy --healthcheck` and `scraper --healthcheck`: the images'
//! `HEALTHCHECK` without curl (the small http-mode image holds nothing but
//! the binary and the libraries it links, and no image needs a client it
//! would only use for this). Asks the service of this container for
//! `/health`, on the address its listen variable says, and exits 0 on a
//! 200, 1 otherwise, within [`WITHIN`] for each step.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

/// The argument that makes a service's binary a health check.
pub const ARG: &str = "--healthcheck";

/// Bound on connecting, and on each write and read.
const WITHIN: Duration = Duration::from_secs(3);

/// Checks the service listening where `variable` (default `default`) says.
pub fn run(variable: &str, default: &str) -> ExitCode {
    let listen = std::env::var(variable).unwrap_or_else(|_| default.to_string());
    match listen
        .parse()
        .map(reachable)
        .ok()
        .and_then(|address| status(address).ok())
    {
        Some(200) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// Where a server listening on `listen` answers from inside its container.
fn reachable(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// The status of `GET /health` at `address`.
fn status(address: SocketAddr) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&address, WITHIN)?;
    stream.set_read_timeout(Some(WITHIN))?;
    stream.set_write_timeout(Some(WITHIN))?;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_asked_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:8001".parse().unwrap();
        assert_eq!(reachable(v4), "127.0.0.1:8001".parse().unwrap());
        let v6: SocketAddr = "[::]:9000".parse().unwrap();
        assert_eq!(reachable(v6), "[::1]:9000".parse().unwrap());
        let given: SocketAddr = "10.1.2.3:8001".parse().unwrap();
        assert_eq!(reachable(given), given);
    }
}
