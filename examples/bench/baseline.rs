//! The durable baseline (issue 14): the least work a service must do to acknowledge a webhook
//! durably, built the way metabridge would be if it did nothing else. `POST /webhooks/meta`
//! reads the raw body, verifies `X-Hub-Signature-256`, parses the JSON and hands the body to
//! one writer task; the writer takes everything queued and commits it in one transaction (group
//! commit: one multi-row INSERT of the raw bodies); each request is answered 200 only after its
//! batch committed. SQLite: WAL, `synchronous=FULL`, checkpoints every second off the commit
//! path (as the service does). PostgreSQL: one `INSERT … SELECT unnest($1)` per batch, default
//! `synchronous_commit=on`. No routing, no idempotency log, no outbox, no deliveries.
//!
//! `examples/bench.rs` runs it as a child process of itself (see [`serve`]).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use metabridge::config::Secret;
use metabridge::crypto::signature;
use poem::http::{HeaderMap, StatusCode};
use poem::listener::TcpListener;
use poem::web::Data;
use poem::{EndpointExt, Route, handler};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use tokio::sync::{mpsc, oneshot};

/// Port the child listens on; when set, `bench` runs as the baseline.
pub const PORT_ENV: &str = "BENCH_DURABLE_PORT";
/// Database of the baseline: `sqlite://…` or `postgres://…`.
pub const URL_ENV: &str = "BENCH_DURABLE_URL";

/// Most requests committed together (SQLite allows 32,766 bound parameters).
const MAX_BATCH: usize = 1024;

/// A request's body and where to say whether its batch committed.
type Job = (Bytes, oneshot::Sender<bool>);

enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

struct State {
    secrets: Vec<Secret>,
    queue: mpsc::Sender<Job>,
}

#[handler]
async fn ingest(state: Data<&Arc<State>>, headers: &HeaderMap, body: Bytes) -> StatusCode {
    let header = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if signature::verify(&state.secrets, header, &body).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        return StatusCode::BAD_REQUEST;
    }
    let (done, committed) = oneshot::channel();
    if state.queue.send((body, done)).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match committed.await {
        Ok(true) => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn connect(url: &str) -> anyhow::Result<Db> {
    if url.starts_with("postgres") {
        let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS raw_webhooks (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL)")
            .execute(&pool)
            .await?;
        return Ok(Db::Postgres(pool));
    }
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .pragma("wal_autocheckpoint", "0");
    // One connection for the writer, one for the checkpoints.
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS raw_webhooks (id INTEGER PRIMARY KEY, body BLOB NOT NULL)",
    )
    .execute(&pool)
    .await?;
    let checkpoints = pool.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&checkpoints)
                .await;
        }
    });
    Ok(Db::Sqlite(pool))
}

/// Commits `bodies` in one transaction.
async fn commit(db: &Db, bodies: &[&[u8]]) -> Result<(), sqlx::Error> {
    match db {
        Db::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let sql = format!(
                "INSERT INTO raw_webhooks (body) VALUES {}",
                vec!["(?)"; bodies.len()].join(",")
            );
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
            for body in bodies {
                insert = insert.bind(*body);
            }
            insert.execute(&mut *tx).await?;
            tx.commit().await
        }
        // One statement, so one transaction, and one WAL flush at its commit.
        Db::Postgres(pool) => {
            sqlx::query("INSERT INTO raw_webhooks (body) SELECT * FROM unnest($1::bytea[])")
                .bind(bodies)
                .execute(pool)
                .await
                .map(drop)
        }
    }
}

/// The one writer: waits for a request, takes every request queued behind it, commits them
/// together and then answers them all.
async fn writer(db: Db, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let bodies: Vec<&[u8]> = jobs.iter().map(|(body, _)| body.as_ref()).collect();
        let ok = match commit(&db, &bodies).await {
            Ok(()) => true,
            Err(e) => {
                eprintln!("durable baseline: commit failed: {e}");
                false
            }
        };
        for (_, done) in jobs.drain(..) {
            let _ = done.send(ok);
        }
    }
}

/// Runs the baseline on `127.0.0.1:port` until the process is killed.
pub async fn serve(port: &str, url: &str, secret: &str) -> anyhow::Result<()> {
    let db = connect(url).await?;
    let (queue, jobs) = mpsc::channel(4 * MAX_BATCH);
    tokio::spawn(writer(db, jobs));
    let state = Arc::new(State {
        secrets: vec![Secret::new(secret)],
        queue,
    });
    let app = Route::new()
        .at("/webhooks/meta", poem::post(ingest))
        .data(state);
    poem::Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
        .run(app)
        .await?;
    Ok(())
}
