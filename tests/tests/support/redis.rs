//! A real `redis-server` on a free loopback port, without persistence (or
//! with an fsync'd append-only file, as in production), in its own process
//! group; killed when dropped. It can be killed and restarted on the same
//! port to test the proxy's fail-open behaviour.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::{free_port, require_program, unique_tmpdir, START_WITHIN};

pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// `appendonly yes` with `appendfsync always`: survives a SIGKILL.
    persistent: bool,
    /// TLS only, with a certificate of the test's own CA.
    tls: bool,
    /// A node of a Redis Cluster (see `support::redis_cluster`).
    cluster_node: bool,
    /// The port of the master this server replicates.
    replica_of: Option<u16>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::on_a_free_port(|port| RedisServer::new(port, false))
    }

    /// A server on `port`, which may be one a proxy already points at.
    pub fn on_port(port: u16) -> RedisServer {
        RedisServer::launch(port, false)
    }

    /// A server that keeps its data across a SIGKILL and restart.
    pub fn start_persistent() -> RedisServer {
        RedisServer::on_a_free_port(|port| RedisServer::new(port, true))
    }

    /// A server that speaks TLS only, with a certificate for 127.0.0.1
    /// signed by a CA made for it ([`RedisServer::ca_file`]).
    pub fn start_tls() -> RedisServer {
        RedisServer::on_a_free_port(|port| {
            let mut server = RedisServer::new(port, false);
            server.tls = true;
            make_certificates(&server.dir);
            server
        })
    }

    fn launch(port: u16, persistent: bool) -> RedisServer {
        let mut server = RedisServer::new(port, persistent);
        server.restart();
        server
    }

    fn new(port: u16, persistent: bool) -> RedisServer {
        require_program("redis-server", "redis-server");
        RedisServer {
            port,
            dir: unique_tmpdir(),
            child: None,
            persistent,
            tls: false,
            cluster_node: false,
            replica_of: None,
        }
    }

    /// A replica of `master` (see `support::redis_sentinel`).
    pub fn start_replica_of(master: &RedisServer) -> RedisServer {
        RedisServer::on_a_free_port(|port| {
            let mut server = RedisServer::new(port, false);
            server.replica_of = Some(master.port);
            server
        })
    }

    /// A node for a Redis Cluster, not yet part of one; it keeps its
    /// cluster configuration across a restart.
    pub fn start_cluster_node() -> RedisServer {
        // A node also listens on its port + 10000, so the port must be at
        // most 55535.
        RedisServer::on_a_free_port(|_| {
            let port = std::iter::repeat_with(free_port).find(|&port| port <= 55_535).unwrap();
            let mut server = RedisServer::new(port, false);
            server.cluster_node = true;
            server
        })
    }

    /// A server made by `make` for a port free when chosen, started; on
    /// another port when a server of another test took that one first
    /// (tests run in parallel), so that no two tests share a Redis.
    fn on_a_free_port(make: impl Fn(u16) -> RedisServer) -> RedisServer {
        for _ in 0..5 {
            let mut server = make(free_port());
            if server.start_as_ours() {
                return server;
            }
        }
        panic!("redis-server found its port taken five times");
    }

    /// The value for `REDIS_URL`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The CA certificate of a TLS server, for `REDIS_CA_FILE`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILL, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        assert!(
            self.start_as_ours(),
            "redis-server could not listen on port {}: another server has it",
            self.port
        );
    }

    /// Starts on its port and waits until it answers; `false` when it
    /// exited or another server answers there (its port was taken).
    fn start_as_ours(&mut self) -> bool {
        self.kill();
        let mut command = Command::new("redis-server");
        if self.tls {
            command
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &self.port.to_string(),
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(self.dir.join("server.crt"))
                .arg("--tls-key-file")
                .arg(self.dir.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(self.ca_file());
        } else {
            command.args(["--port", &self.port.to_string()]);
        }
        if let Some(master) = self.replica_of {
            command.args(["--replicaof", "127.0.0.1", &master.to_string()]);
        }
        if self.cluster_node {
            command.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
                "--cluster-require-full-coverage",
                "no",
            ]);
        }
        let child = command
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                if self.persistent { "yes" } else { "no" },
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Ok(mut connection) = self.connection() {
                // The server's own directory tells it from another's.
                let dir: Vec<String> = redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("dir")
                    .query(&mut connection)
                    .unwrap_or_default();
                let ours = std::fs::canonicalize(&self.dir).ok();
                if dir.get(1).map(std::path::PathBuf::from) == ours {
                    return true;
                }
            }
            if self
                .child
                .as_mut()
                .is_some_and(|child| child.try_wait().ok().flatten().is_some())
            {
                self.child = None;
                return false;
            }
            assert!(started.elapsed() < START_WITHIN, "redis-server never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client connection, as `redis-cli` would use.
    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let client = if self.tls {
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(self.ca_file())?),
            };
            redis::Client::build_with_tls(self.url(), certificates)?
        } else {
            redis::Client::open(self.url())?
        };
        let mut connection = client.get_connection_with_timeout(Duration::from_secs(1))?;
        redis::cmd("PING").query::<String>(&mut connection)?;
        Ok(connection)
    }

    /// `GET key`.
    pub fn get(&self, key: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(key)
            .query(&mut self.connection().expect("Redis answers"))
            .expect("GET")
    }

    /// `SET key value`, with `EX seconds` when given.
    pub fn set(&self, key: &str, value: &str, expire_secs: Option<u64>) {
        let mut set = redis::cmd("SET");
        set.arg(key).arg(value);
        if let Some(seconds) = expire_secs {
            set.arg("EX").arg(seconds);
        }
        set.query::<()>(&mut self.connection().expect("Redis answers"))
            .expect("SET works");
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query(&mut self.connection().expect("Redis answers"))
            .expect("KEYS works");
        keys.sort();
        keys
    }

    /// The keys of records and remembered "not found" answers, sorted (the
    /// fleet's coordination keys aside).
    pub fn cache_keys(&self) -> Vec<String> {
        let mut keys = self.keys();
        keys.retain(|key| key.starts_with("sunat:ruc:") || key.starts_with("sunat:notfound:"));
        keys
    }

    /// Every command Redis runs from now on, as `MONITOR` shows it.
    pub fn monitor(&self) -> Monitor {
        let mut connection = self.connection().expect("Redis answers");
        let _: String = redis::cmd("MONITOR").query(&mut connection).expect("MONITOR works");
        connection
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("a read timeout");
        let (lines, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (seen, stopped) = (lines.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match connection.recv_response() {
                    Ok(redis::Value::SimpleString(line)) => seen.lock().unwrap().push(line),
                    Ok(_) => {}
                    Err(e) if e.is_timeout() => {}
                    Err(_) => return,
                }
            }
        });
        Monitor {
            lines,
            stop,
            thread: Some(thread),
        }
    }

    /// `TTL key` in seconds (-2: no key).
    pub fn ttl(&self, key: &str) -> i64 {
        redis::cmd("TTL")
            .arg(key)
            .query(&mut self.connection().expect("Redis answers"))
            .expect("TTL")
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made by
/// `openssl` in `dir`: `ca.crt`, `server.crt`, `server.key`.
fn make_certificates(dir: &Path) {
    require_program("openssl", "openssl");
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for args in [
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=ruc-test-ca",
            ],
        ]
        .concat(),
        &[
            &["req"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        ]
        .concat(),
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ][..]
            .to_vec(),
    ] {
        let made = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(made.success(), "openssl {args:?} failed");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The commands a Redis server ran while this watched (see
/// [`RedisServer::monitor`]); stops watching when dropped.
pub struct Monitor {
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// How many commands clients sent (not scripts) whose arguments, as
    /// `MONITOR` quotes them, contain `quoted` (e.g. `"GET" "key"`).
    pub fn sent(&self, quoted: &str) -> usize {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|line| !line.contains(" lua]") && line.contains(quoted))
            .count()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
