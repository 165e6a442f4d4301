//! nginx in front of proxy replicas, with the fleet's own configuration
//! (`conf/fleet/nginx.conf`): only the replicas' addresses, the port and
//! the paths of this run are changed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{free_port, read_repo_file, require_program, unique_tmpdir, START_WITHIN};

pub struct Balancer {
    child: Child,
    dir: PathBuf,
    pub base: String,
}

impl Balancer {
    /// nginx balancing over `replicas` (`host:port` each); waits until it
    /// listens.
    pub async fn start(replicas: &[String]) -> Balancer {
        require_program("nginx", "nginx");
        let dir = unique_tmpdir();
        std::fs::create_dir_all(&dir).expect("nginx's directory");
        let port = free_port();
        let conf = fleet_conf(replicas, port, &dir);
        std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf written");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx runs");
        let balancer = Balancer {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < START_WITHIN, "nginx never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        balancer
    }
}

/// `conf/fleet/nginx.conf` for this run: in the foreground, its files under
/// `dir`, listening on `port`, the replicas in place of Compose's.
fn fleet_conf(replicas: &[String], port: u16, dir: &std::path::Path) -> String {
    let shipped = read_repo_file("conf/fleet/nginx.conf");
    let mut conf = format!(
        "daemon off;\npid {dir}/nginx.pid;\nerror_log stderr warn;\n",
        dir = dir.display()
    );
    for line in shipped.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("server proxy") {
            continue;
        }
        if trimmed.starts_with("keepalive ") {
            for replica in replicas {
                conf.push_str(&format!("        server {replica} {};\n", server_options(&shipped)));
            }
        }
        if trimmed.starts_with("listen ") {
            conf.push_str(&format!("        listen 127.0.0.1:{port};\n"));
            continue;
        }
        conf.push_str(line);
        conf.push('\n');
        if trimmed == "http {" {
            for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
                conf.push_str(&format!("    {temp}_temp_path {}/{temp};\n", dir.display()));
            }
            conf.push_str("    access_log off;\n");
        }
    }
    conf
}

/// What follows a replica's address on the shipped `server` lines.
fn server_options(shipped: &str) -> &str {
    let line = shipped
        .lines()
        .find(|line| line.trim_start().starts_with("server proxy"))
        .expect("the shipped configuration lists the replicas");
    line.trim().trim_end_matches(';').splitn(3, ' ').nth(2).unwrap_or("")
}

impl Drop for Balancer {
    /// SIGTERM: nginx's master stops its workers, then itself.
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
