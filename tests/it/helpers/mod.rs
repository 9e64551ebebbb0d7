//! `spawn_app()` and friends: the service in-process on a fresh database ([`TestApp`]); the
//! Graph API simulator and a tenant with one channel of each kind ([`graph`]); the real binary
//! as a child process and a load balancer ([`replica`]); checks on what Meta sees of a
//! channel's sends and seeded randomness ([`rate`]).

use std::sync::Arc;
use std::time::Duration;

use metabridge::app::Application;
use metabridge::config::Config;
use metabridge::crypto::signature;
use metabridge::http::AppState;
use metabridge::shutdown::CancellationToken;
use metabridge::sim::receiver::{self, Receiver};
use serde_json::{Value, json};

pub mod console;
pub mod graph;
pub mod rate;
pub mod replica;

pub use console::*;
pub use rate::*;
pub use replica::*;

pub const APP_SECRET: &str = "test-app-secret";
pub const ADMIN: &str = "test-admin-token-0123456789";
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/meta/");

/// Which database a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Generates `<name>_sqlite` and `<name>_postgres` tests from `async fn <name>(db: Db)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            $crate::paste_free_tests!($name);
        )*
    };
}

#[macro_export]
macro_rules! paste_free_tests {
    ($name:ident) => {
        pub mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::helpers::postgres_url().is_some() {
                    super::$name($crate::helpers::Db::Postgres).await;
                }
            }
        }
    };
}

/// The PostgreSQL server URL for tests; in CI its absence is a failure, not a skip.
pub fn postgres_url() -> Option<String> {
    match std::env::var("METABRIDGE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => {
            panic!(
                "CI is set but METABRIDGE_TEST_POSTGRES_URL is not: PostgreSQL tests must not be skipped in CI"
            )
        }
        _ => None,
    }
}

/// A fresh database URL: a temp SQLite file, or a new PostgreSQL database.
pub async fn fresh_database(db: Db, dir: &tempfile::TempDir) -> String {
    metabridge::crypto::install_tls_provider();
    match db {
        Db::Sqlite => format!("sqlite://{}/metabridge.db", dir.path().display()),
        Db::Postgres => {
            let base = postgres_url().expect("postgres url");
            // The creation time in the name lets a later run drop what this one leaves.
            let name = format!(
                "mb_{}_{}",
                metabridge::now_ms() / 1000,
                uuid::Uuid::new_v4().simple()
            );
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
                .await
                .expect("connect to postgres");
            SWEPT.get_or_init(|| drop_old_test_databases(&base)).await;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create database");
            let (prefix, _) = base.rsplit_once('/').expect("url has a database");
            format!("{prefix}/{name}")
        }
    }
}

static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// How old a test database is before a later run drops it: no run of the suite is that long,
/// so a run going on beside this one never loses its databases.
const TEST_DATABASE_MAX_AGE_SECS: i64 = 6 * 3600;

/// Drops, once per test process, the databases earlier runs left on the server (each test makes
/// its own and none outlives its run): those named `mb_<created, unix seconds>_<uuid>` and older
/// than [`TEST_DATABASE_MAX_AGE_SECS`], and those of the older naming `mb_<uuid>`. Without it
/// every run of the suite left ~170 databases (~1.3 GB) behind.
async fn drop_old_test_databases(base: &str) {
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(base)
        .await
        .expect("connect to postgres");
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'mb\\_%'")
            .fetch_all(&mut conn)
            .await
            .expect("list databases");
    let now = metabridge::now_ms() / 1000;
    for name in names {
        let parts: Vec<&str> = name.split('_').collect();
        let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let stale = match parts.as_slice() {
            ["mb", id] => hex(id),
            ["mb", created, id] => {
                hex(id)
                    && created
                        .parse::<i64>()
                        .is_ok_and(|t| now - t > TEST_DATABASE_MAX_AGE_SECS)
            }
            _ => false,
        };
        if stale {
            // A database of a crashed run may still have a connection: FORCE ends it.
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

pub struct TestApp {
    pub url: String,
    pub state: Arc<AppState>,
    pub receiver: Receiver,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Steps delivery when the app runs with its workers off ([`TestApp::deliver_due`]).
    pub dispatcher: Arc<metabridge::workers::delivery::Dispatcher>,
    _dir: Arc<tempfile::TempDir>,
}

impl TestApp {
    /// Delivers what is due now and waits until every attempt is recorded (for apps built
    /// with `run_workers = false`); how many events were attempted.
    pub async fn deliver_due(&self) -> usize {
        self.dispatcher
            .deliver_due()
            .await
            .expect("deliver due events")
    }
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

pub async fn spawn_app_with(db: Db, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let database_url = fresh_database(db, &dir).await;
    let fernet_key = metabridge::crypto::vault::generate_key();
    spawn_app_on(db, dir, database_url, fernet_key, tweak).await
}

pub async fn spawn_app_on(
    _db: Db,
    dir: Arc<tempfile::TempDir>,
    database_url: String,
    fernet_key: String,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = Config::for_tests(&database_url, APP_SECRET, &fernet_key);
    tweak(&mut config);
    let app = Application::build(config).await.expect("build app");
    let url = format!("http://{}", app.addr);
    let state = Arc::clone(&app.state);
    let shutdown = app.shutdown_handle();
    let dispatcher = app.dispatcher();
    let server = tokio::spawn(app.run_until_stopped());
    let receiver = receiver::start("127.0.0.1:0".parse().expect("addr"), false)
        .await
        .expect("receiver");
    TestApp {
        url,
        state,
        receiver,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        shutdown,
        server,
        dispatcher,
        _dir: dir,
    }
}

/// A TCP port nothing listens on right now (for a process started later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Creates an instance through a running service's admin API; returns (id, signing secret).
pub async fn create_instance(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    callback_url: &str,
) -> (String, String) {
    let v: Value = http
        .post(format!("{base}/admin/v1/instances"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": name, "callback_url": callback_url}))
        .send()
        .await
        .expect("create instance")
        .json()
        .await
        .expect("json");
    (
        v["instance"]["id"].as_str().expect("id").to_string(),
        v["signing_secret"].as_str().expect("secret").to_string(),
    )
}

/// A `/v1` JWT of an instance (HS256 with its signing secret), valid for five minutes.
pub fn instance_jwt(instance_id: &str, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": instance_id, "aud": "metabridge", "iat": now, "exp": now + 300}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("jwt")
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Another fake DSK receiver (for a second instance).
pub async fn start_receiver() -> Receiver {
    receiver::start("127.0.0.1:0".parse().expect("addr"), false)
        .await
        .expect("receiver")
}

pub struct Tenant {
    pub instance_id: String,
    pub secret: String,
}

impl TestApp {
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.server).await;
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("admin request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// An instance whose callback is this test's receiver.
    pub async fn tenant(&self, name: &str, event_types: Option<Vec<&str>>) -> Tenant {
        self.tenant_at(name, event_types, &self.receiver).await
    }

    /// An instance whose callback is `receiver`, which learns the instance's secret.
    pub async fn tenant_at(
        &self,
        name: &str,
        event_types: Option<Vec<&str>>,
        receiver: &Receiver,
    ) -> Tenant {
        let mut body = json!({"name": name, "callback_url": receiver.url()});
        if let Some(t) = event_types {
            body["event_types"] = json!(t);
        }
        let (status, v) = self
            .admin(reqwest::Method::POST, "/admin/v1/instances", Some(body))
            .await;
        assert_eq!(status, 201, "{v}");
        let t = Tenant {
            instance_id: v["instance"]["id"].as_str().expect("id").to_string(),
            secret: v["signing_secret"].as_str().expect("secret").to_string(),
        };
        receiver.state.add_instance(&t.instance_id, &t.secret);
        t
    }

    /// Moves every stored time back by `by_ms` (retention tests).
    pub async fn backdate(&self, by_ms: i64) {
        for sql in [
            "UPDATE webhook_log SET received_at = received_at - $1",
            "UPDATE events SET received_at = received_at - $1, dead_at = dead_at - $1",
            "UPDATE delivery_attempts SET attempted_at = attempted_at - $1",
        ] {
            sqlx::query(sql)
                .bind(by_ms)
                .execute(self.state.store.pool())
                .await
                .expect("backdate");
        }
    }

    pub async fn channel(
        &self,
        tenant: &Tenant,
        kind: &str,
        external_id: &str,
        waba_id: Option<&str>,
    ) -> String {
        self.channel_with_token(tenant, kind, external_id, waba_id, "EAAG-test-token-secret")
            .await
    }

    /// [`TestApp::channel`] with its own access token.
    pub async fn channel_with_token(
        &self,
        tenant: &Tenant,
        kind: &str,
        external_id: &str,
        waba_id: Option<&str>,
        token: &str,
    ) -> String {
        let mut body = json!({"instance_id": tenant.instance_id, "kind": kind, "external_id": external_id,
            "access_token": token, "name": "Loja"});
        if let Some(w) = waba_id {
            body["waba_id"] = json!(w);
        }
        let (status, v) = self
            .admin(reqwest::Method::POST, "/admin/v1/channels", Some(body))
            .await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().expect("channel id").to_string()
    }

    /// Disconnects a channel through the admin API (`DELETE /admin/v1/channels/{id}`), which
    /// must succeed.
    pub async fn disconnect_channel(&self, channel_id: &str) {
        let (status, v) = self
            .admin(
                reqwest::Method::DELETE,
                &format!("/admin/v1/channels/{channel_id}"),
                None,
            )
            .await;
        assert!((200..300).contains(&status), "disconnect: {status} {v}");
    }

    /// Deletes an instance and all it holds through the admin API, which must succeed.
    pub async fn delete_instance(&self, tenant: &Tenant) {
        let (status, v) = self
            .admin(
                reqwest::Method::DELETE,
                &format!("/admin/v1/instances/{}", tenant.instance_id),
                None,
            )
            .await;
        assert!(
            (200..300).contains(&status),
            "delete instance: {status} {v}"
        );
    }

    /// A tenant owning the fixtures' first WhatsApp number, Instagram account and page.
    pub async fn fixture_tenant(&self) -> Tenant {
        let t = self.tenant("Loja Ana", None).await;
        self.channel(&t, "whatsapp", "106000000000001", Some("102000000000001"))
            .await;
        self.channel(&t, "instagram", "17841400000000001", None)
            .await;
        self.channel(&t, "messenger", "105000000000001", None).await;
        t
    }

    pub async fn post_webhook(&self, body: &[u8]) -> u16 {
        self.post_webhook_signed(body, Some(&signature::sign(APP_SECRET, body)))
            .await
    }

    pub async fn post_webhook_signed(&self, body: &[u8], sig: Option<&str>) -> u16 {
        let mut req = self
            .http
            .post(format!("{}/webhooks/meta", self.url))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = sig {
            req = req.header("x-hub-signature-256", s);
        }
        req.send().await.expect("post webhook").status().as_u16()
    }

    pub fn jwt(&self, tenant: &Tenant) -> String {
        instance_jwt(&tenant.instance_id, &tenant.secret)
    }

    pub async fn v1(&self, tenant: &Tenant, method: reqwest::Method, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(self.jwt(tenant))
            .send()
            .await
            .expect("v1 request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `GET /v1/export` as a client reads it ([`read_export`]).
    pub async fn export(&self, tenant: &Tenant) -> ExportBody {
        read_export(&self.http, &self.url, &self.jwt(tenant)).await
    }

    /// One labelled series of a metric: `name{label="value"}`.
    pub async fn metric_with(&self, name: &str, label: &str, value: &str) -> f64 {
        self.metric(&format!("{name}{{{label}=\"{value}\"}}")).await
    }

    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Posts a new message of the fixtures' contact (Ana, on the fixtures' first WhatsApp
    /// number: a copy of `wa-text.json` under a fresh wamid) and waits until this test's
    /// receiver accepted it; returns its wamid. A conversation's events are delivered in order,
    /// so whatever that conversation had to deliver before (a duplicate, a retry) has been
    /// delivered by then: "nothing more" proven without a fixed sleep.
    pub async fn deliver_sentinel(&self) -> String {
        let mut v: Value = serde_json::from_slice(&fixture("wa-text.json")).expect("json");
        let wamid = format!("wamid.SENTINEL{}", uuid::Uuid::new_v4().simple());
        v["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!(wamid);
        let body = serde_json::to_vec(&v).expect("json");
        assert_eq!(self.post_webhook(&body).await, 200, "the sentinel webhook");
        let r = &self.receiver.state;
        wait_until(
            Duration::from_secs(20),
            "the sentinel delivered",
            || async {
                r.accepted()
                    .iter()
                    .any(|e| e.body["raw"]["id"] == wamid.as_str())
            },
        )
        .await;
        wamid
    }

    /// Counts rows with a SQL query returning one integer.
    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(self.state.store.pool())
            .await
            .expect("count")
    }
}

/// Checks that `check` keeps holding for `period`, polling, and fails at the first poll where
/// it does not: "nothing more arrives" observed up to a deadline instead of one look after a
/// fixed sleep (a violation fails at once, with what was seen).
pub async fn holds_for<F, Fut>(period: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + period;
    loop {
        assert!(check().await, "no longer holds: {what}");
        if tokio::time::Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until `check` holds, polling; panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// What a client got from `GET /v1/export`: the status, the content type, the body as text and
/// its NDJSON lines parsed, and how many chunks the body arrived in.
pub struct ExportBody {
    pub status: u16,
    pub content_type: String,
    pub text: String,
    pub lines: Vec<Value>,
    pub chunks: usize,
}

impl ExportBody {
    /// The lines whose `record` is `record`, in order.
    pub fn of(&self, record: &str) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|l| l["record"] == record)
            .collect()
    }

    /// The `record` of every line, in order.
    pub fn kinds(&self) -> Vec<&str> {
        self.lines
            .iter()
            .map(|l| l["record"].as_str().unwrap_or("?"))
            .collect()
    }
}

/// Reads `GET {base}/v1/export` chunk by chunk; every line of a 200 must be a JSON object.
pub async fn read_export(http: &reqwest::Client, base: &str, jwt: &str) -> ExportBody {
    use futures_util::StreamExt;
    let resp = http
        .get(format!("{base}/v1/export"))
        .bearer_auth(jwt)
        .send()
        .await
        .expect("export request");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut body = Vec::new();
    let mut chunks = 0;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.expect("export body chunk"));
        chunks += 1;
    }
    let text = String::from_utf8(body).expect("UTF-8 body");
    let lines = if status == 200 {
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "the last line ends with a newline"
        );
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("each line is JSON");
                assert!(v.is_object(), "each line is an object: {l}");
                v
            })
            .collect()
    } else {
        vec![serde_json::from_str(&text).unwrap_or(Value::Null)]
    };
    ExportBody {
        status,
        content_type,
        text,
        lines,
        chunks,
    }
}
