//! A real Redis Cluster on loopback: three masters made with
//! `redis-cli --cluster create`, without replicas or with replicas that
//! take over, and with `cluster-require-full-coverage no`, so that a killed
//! master without a replica takes only its own slots away.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::redis::RedisServer;
use super::{require_program, wait_until};

pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Three masters sharing the 16384 slots; waits until every node says
    /// `cluster_state:ok`.
    pub async fn start() -> RedisCluster {
        RedisCluster::create(0).await
    }

    /// Three masters, each with `replicas` replicas that take over when it
    /// fails (after the nodes' 2 s timeout).
    pub async fn start_with_replicas(replicas: usize) -> RedisCluster {
        RedisCluster::create(replicas).await
    }

    async fn create(replicas: usize) -> RedisCluster {
        require_program("redis-cli", "redis-tools");
        let nodes: Vec<RedisServer> = (0..3 * (1 + replicas))
            .map(|_| RedisServer::start_cluster_node())
            .collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .expect("redis-cli runs");
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok().await;
        // A replica takes over only once it has synced with its master.
        let synced = || {
            let links = cluster
                .nodes
                .iter()
                .filter(|node| replication_info(node).contains("master_link_status:up"));
            links.count() == 3 * replicas
        };
        wait_until("every replica has synced", synced).await;
        cluster
    }

    /// The value for `REDIS_URL` with `REDIS_MODE=cluster`: every node.
    pub fn urls(&self) -> String {
        let urls: Vec<String> = self.nodes.iter().map(RedisServer::url).collect();
        urls.join(",")
    }

    /// Waits until every running node sees the whole cluster as healthy.
    pub async fn wait_until_ok(&self) {
        for node in self.nodes.iter().filter(|node| node.connection().is_ok()) {
            wait_until("the cluster is ok", || cluster_info(node).contains("cluster_state:ok")).await;
        }
    }

    /// The node that holds `key`'s slot (the others answer `MOVED`).
    pub fn owner(&mut self, key: &str) -> &mut RedisServer {
        let index = self
            .nodes
            .iter()
            .position(|node| {
                let mut connection = node.connection().expect("the node answers");
                redis::cmd("GET")
                    .arg(key)
                    .query::<Option<String>>(&mut connection)
                    .is_ok()
            })
            .expect("one node holds every slot");
        &mut self.nodes[index]
    }

    /// `GET key`, wherever it lives.
    pub fn get(&self, key: &str) -> Option<String> {
        redis::cmd("GET").arg(key).query(&mut self.connection()).expect("GET")
    }

    /// `TTL key` in seconds, wherever it lives.
    pub fn ttl(&self, key: &str) -> i64 {
        redis::cmd("TTL").arg(key).query(&mut self.connection()).expect("TTL")
    }

    /// `SET key value EX seconds`, wherever it lives.
    pub fn set(&self, key: &str, value: &str, expire_secs: u64) {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EX")
            .arg(expire_secs)
            .query::<()>(&mut self.connection())
            .expect("SET works");
    }

    fn connection(&self) -> redis::cluster::ClusterConnection {
        let urls: Vec<String> = self.nodes.iter().map(RedisServer::url).collect();
        redis::cluster::ClusterClient::builder(urls)
            .connection_timeout(Duration::from_secs(1))
            .build()
            .and_then(|client| client.get_connection())
            .expect("the cluster answers")
    }
}

fn replication_info(node: &RedisServer) -> String {
    node.connection()
        .and_then(|mut connection| redis::cmd("INFO").arg("replication").query(&mut connection))
        .unwrap_or_default()
}

fn cluster_info(node: &RedisServer) -> String {
    node.connection()
        .and_then(|mut connection| redis::cmd("CLUSTER").arg("INFO").query(&mut connection))
        .unwrap_or_default()
}
