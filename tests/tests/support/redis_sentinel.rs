//! Redis Sentinel on loopback: a master, one replica, and three sentinels
//! (quorum 2, a master is down after 2 s) that fail over to the replica
//! when the master dies.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::redis::RedisServer;
use super::{free_port, unique_tmpdir, wait_until};

/// The name the sentinels know the master by.
pub const MASTER_NAME: &str = "ruc";

pub struct RedisSentinel {
    pub master: RedisServer,
    pub replica: RedisServer,
    sentinels: Vec<(u16, Child)>,
    dir: PathBuf,
}

impl RedisSentinel {
    /// Master, replica and sentinels, once the sentinels see both servers.
    pub async fn start() -> RedisSentinel {
        let master = RedisServer::start();
        let replica = RedisServer::start_replica_of(&master);
        let dir = unique_tmpdir();
        let sentinels = (0..3).map(|i| start_sentinel(&dir, i, master.port())).collect();
        let set = RedisSentinel {
            master,
            replica,
            sentinels,
            dir,
        };
        wait_until("the sentinels see the replica", || set.replicas_seen() >= 1).await;
        set
    }

    /// The value for `REDIS_SENTINELS`.
    pub fn addresses(&self) -> String {
        let addresses: Vec<String> = self
            .sentinels
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect();
        addresses.join(",")
    }

    /// The master's port, as the first sentinel names it now.
    pub fn master_port(&self) -> Option<u16> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.sentinels[0].0)).ok()?;
        let mut connection = client.get_connection().ok()?;
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(MASTER_NAME)
            .query(&mut connection)
            .ok()?;
        Some(port)
    }

    fn replicas_seen(&self) -> usize {
        let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{}", self.sentinels[0].0)) else {
            return 0;
        };
        let Ok(mut connection) = client.get_connection() else {
            return 0;
        };
        redis::cmd("SENTINEL")
            .arg("replicas")
            .arg(MASTER_NAME)
            .query::<Vec<redis::Value>>(&mut connection)
            .map_or(0, |replicas| replicas.len())
    }
}

/// One sentinel on a free port, watching the master on `master_port`.
fn start_sentinel(dir: &std::path::Path, index: usize, master_port: u16) -> (u16, Child) {
    let port = free_port();
    let conf = dir.join(format!("sentinel-{index}.conf"));
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} 2000\n\
             sentinel failover-timeout {MASTER_NAME} 10000\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server --sentinel runs");
    (port, child)
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        for (_, child) in &mut self.sentinels {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
