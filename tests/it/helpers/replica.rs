//! The real binary as a child process (`metabridge serve`), and a TCP load balancer in front
//! of several of them: the harness of the SIGKILL tests (`cluster.rs`, `process.rs`).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use super::{ADMIN, APP_SECRET, free_port};

/// One `metabridge serve` process.
pub struct Replica {
    pub port: u16,
    env: Vec<(&'static str, String)>,
    child: Option<Child>,
    /// Its stderr (appended across restarts), shown when it does not become ready.
    log: std::path::PathBuf,
}

impl Replica {
    pub fn new(dir: &std::path::Path, database_url: &str, fernet: &str, graph_url: &str) -> Self {
        let port = free_port();
        let env = vec![
            // Dev mode only for the plain-HTTP simulator URL; every secret is given.
            ("METABRIDGE_DEV", "true".to_string()),
            ("METABRIDGE_DATA_DIR", dir.display().to_string()),
            ("DATABASE_URL", database_url.to_string()),
            ("METABRIDGE_FERNET_KEYS", fernet.to_string()),
            ("META_APP_SECRET", APP_SECRET.to_string()),
            ("META_VERIFY_TOKEN", "verify".to_string()),
            ("METABRIDGE_ADMIN_TOKEN", ADMIN.to_string()),
            ("METABRIDGE_LISTEN", format!("127.0.0.1:{port}")),
            ("METABRIDGE_ALLOW_PRIVATE_CALLBACKS", "true".to_string()),
            ("METABRIDGE_DELIVERY_BACKOFF_MS", "100".to_string()),
            ("METABRIDGE_DELIVERY_TIMEOUT_MS", "2000".to_string()),
            ("META_GRAPH_URL", graph_url.to_string()),
            ("METABRIDGE_GRAPH_TIMEOUT_MS", "2000".to_string()),
            ("METABRIDGE_SEND_BACKOFF_MS", "100".to_string()),
            // An interrupted send waits this long for Meta's status echo before it is retried.
            ("METABRIDGE_SEND_RECONCILE_SECS", "3".to_string()),
            ("METABRIDGE_AMBIGUOUS_SEND_POLICY", "retry".to_string()),
            ("METABRIDGE_SQLITE_SYNCHRONOUS", "normal".to_string()),
            ("METABRIDGE_API_RATE", "100000".to_string()),
            ("METABRIDGE_ADMIN_RATE", "100000".to_string()),
            ("RUST_LOG", "error".to_string()),
        ];
        Self {
            port,
            env,
            child: None,
            log: dir.join(format!("replica-{port}.log")),
        }
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What the process wrote to stderr so far (for an assertion's message).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn start(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_metabridge"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("replica log");
        cmd.arg("serve").stdout(Stdio::null()).stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("start metabridge"));
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    pub async fn wait_ready(&self, http: &reqwest::Client) {
        let url = format!("{}/readyz", self.base());
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        panic!("replica on port {} not ready; its log:\n{log}", self.port);
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP load balancer: each connection goes to the next backend that accepts it (round
/// robin), like a cloud load balancer whose health check has not noticed a dead replica yet.
pub struct Balancer {
    pub addr: SocketAddr,
    /// Connections handed to each backend.
    pub served: Arc<Vec<AtomicU64>>,
}

pub async fn start_balancer(backends: Vec<SocketAddr>) -> Balancer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind lb");
    let addr = listener.local_addr().expect("lb addr");
    let served: Arc<Vec<AtomicU64>> =
        Arc::new(backends.iter().map(|_| AtomicU64::new(0)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let counts = Arc::clone(&served);
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            let backends = backends.clone();
            let counts = Arc::clone(&counts);
            let start = next.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                for i in 0..backends.len() {
                    let n = (start + i) % backends.len();
                    let connect = TcpStream::connect(backends[n]);
                    if let Ok(Ok(mut out)) =
                        tokio::time::timeout(Duration::from_millis(500), connect).await
                    {
                        counts[n].fetch_add(1, Ordering::Relaxed);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                }
            });
        }
    });
    Balancer { addr, served }
}

/// Resident memory of a process (VmRSS), in bytes; 0 when it cannot be read.
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
