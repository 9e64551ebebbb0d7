//! The database behind one interface: SQLite (embedded default, one process) or PostgreSQL
//! (several replicas share it). Both run through sqlx's `Any` driver with the same SQL where
//! the dialects agree (numbered `$N` placeholders, `ON CONFLICT … DO NOTHING RETURNING`), and
//! branch where they do not (`FOR UPDATE SKIP LOCKED`, `BEGIN IMMEDIATE`). Migrations are per
//! backend under `migrations/`. Times are unix milliseconds bound from Rust; every query on
//! tenant data filters by instance id where a tenant asks.

mod audit;
pub mod cache;
mod callbacks;
mod channel_state;
mod connect;
mod console;
mod events;
mod export;
mod ingest;
mod instances;
mod leads;
mod leases;
mod lifecycle;
mod media;
mod messages;
mod outbox;
mod profiles;
pub mod settled;
mod templates;
mod threads;
mod windows;
pub mod writer;

pub use audit::*;
pub use callbacks::*;
pub use channel_state::*;
pub use connect::*;
pub use console::*;
pub use events::*;
pub use export::*;
pub use ingest::*;
pub use instances::*;
pub use leads::*;
pub use lifecycle::*;
pub use media::*;
pub use messages::*;
pub use outbox::*;
pub use profiles::*;
pub use settled::{SETTLED_CHANNEL, SettledNotice};
pub use templates::*;
pub use threads::*;
pub use windows::*;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Executor};

use crate::config::Backend;

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Other(String),
}

impl From<crate::channels::UnknownName> for StoreError {
    fn from(e: crate::channels::UnknownName) -> Self {
        StoreError::Other(e.to_string())
    }
}

impl From<crate::ids::InvalidId> for StoreError {
    fn from(e: crate::ids::InvalidId) -> Self {
        StoreError::Other(e.to_string())
    }
}

impl StoreError {
    /// A unique constraint was hit (maps to 409 at the API boundary).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Self::Db(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }

    /// A failure that says nothing about the write itself, so the same transaction tried
    /// again may commit: PostgreSQL chose it as a deadlock victim (SQLSTATE 40P01) or could not
    /// serialize it (40001), SQLite was busy or locked past `busy_timeout` (result codes 5, 6
    /// and their extended forms 261, 517, 262), or the connection broke under it (I/O error:
    /// a server restart leaves dead connections in the pool). Not a full disk, a constraint or
    /// a pool that cannot connect at all: those fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Db(sqlx::Error::Database(e)) => matches!(
                e.code().as_deref(),
                Some("40001" | "40P01" | "5" | "6" | "261" | "262" | "517")
            ),
            Self::Db(sqlx::Error::Io(_)) => true,
            _ => false,
        }
    }

    /// The database's own error code (SQLSTATE on PostgreSQL, the result code on SQLite),
    /// for logs: it names the cause without any of the statement's values.
    pub fn code(&self) -> Option<String> {
        match self {
            Self::Db(sqlx::Error::Database(e)) => e.code().map(|c| c.into_owned()),
            _ => None,
        }
    }

    /// The database refused a text value it cannot hold (PostgreSQL: a NUL character,
    /// SQLSTATE 22021, or a character outside its encoding, 22P05). Only a caller's input can
    /// carry one: the API answers 400, not 503.
    pub fn is_invalid_text(&self) -> bool {
        match self {
            Self::Db(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("22021" | "22P05"))
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct Store {
    pub backend: Backend,
    pool: AnyPool,
    /// The group-commit writer's own connection (a pool of one, used from the writer's
    /// thread only, [`writer`]). On SQLite its page cache stays warm between commits: a commit
    /// on whichever pooled connection comes next finds its cache stale (another connection
    /// wrote last) and reads its pages from the OS again.
    group_pool: AnyPool,
    /// This process's waiters for settled messages ([`settled`]).
    settled: settled::SettledHub,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

/// Longest wait for a connection, including (re)connecting to a database that refuses or does
/// not answer. When the database is down, a webhook waits for at most the commit in progress
/// and its own: a 503 within a few seconds (Meta retries it), never a hang past Meta's timeout.
/// Waiting this long for a free connection of a reachable database already means overload.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// SQLite page cache of each pooled connection (KiB). Halved with the writer's on 2026-12-03
/// (peak RSS of the bench 121–130 → 77–78 MB with the allocator change, throughput unchanged
/// within the machine's spread: docs/benchmark.md, "Memory, apportioned").
const READ_CACHE_KIB: u32 = 2048;
/// SQLite page cache of the group-commit writer's own connection (KiB): the indexes every
/// commit updates (idempotency keys, conversation heads) stay in memory between commits.
const WRITER_CACHE_KIB: u32 = 8192;

/// Options for opening the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// SQLite: fsync the WAL at every commit (`synchronous=FULL`), so an acknowledged webhook
    /// survives a power cut, not only a process crash.
    pub sqlite_synchronous_full: bool,
    /// SQLite: `secure_delete = ON` — content purged (P05) is overwritten with zeros rather
    /// than left in the file's free space. Off only on request (its cost: docs/benchmark.md).
    pub sqlite_secure_delete: bool,
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            sqlite_synchronous_full: true,
            sqlite_secure_delete: true,
            max_connections: 8,
        }
    }
}

fn sqlite_file_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Why the PostgreSQL server of `url` cannot be reached, in words a person can act on
/// ("connection refused to 127.0.0.1:5432"); `None` when it answers on TCP (the pool's own error
/// then says what went wrong) or the URL names no TCP host (a Unix socket).
async fn postgres_unreachable(url: &str) -> Option<StoreError> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?.to_string();
    let port = parsed.port().unwrap_or(5432);
    let addr = format!("{host}:{port}");
    let attempt = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        tokio::net::TcpStream::connect(addr.as_str()),
    )
    .await;
    let why = match attempt {
        Ok(Ok(_)) => return None,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused to {addr} (is PostgreSQL running and listening there?)")
        }
        Ok(Err(e)) => format!("cannot reach {addr}: {e}"),
        Err(_) => format!("no answer from {addr} within 3 s"),
    };
    Some(StoreError::Other(why))
}

impl Store {
    /// Connects, creates the SQLite file (and its directory) if missing, and applies the
    /// embedded migrations of the backend.
    pub async fn open(url: &str, opts: StoreOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)
            .ok_or_else(|| StoreError::Other("unsupported DATABASE_URL scheme".into()))?;
        let mut url = url.to_string();
        if backend == Backend::Sqlite {
            if let Some(path) = sqlite_file_path(&url)
                && let Some(parent) = Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Other(format!("cannot create database directory: {e}"))
                })?;
            }
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
        }
        let connect = AnyConnectOptions::from_str(&url)?;
        let sync_full = opts.sqlite_synchronous_full;
        let secure_delete = opts.sqlite_secure_delete;
        // `cache_kib`: SQLite's page cache of each connection of the pool.
        let pool_options = move |max_connections: u32, cache_kib: u32| {
            AnyPoolOptions::new()
                .max_connections(max_connections)
                .min_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // A SQLite connection is a thread of this process, not a socket that a server
                // or a network can close: a ping before each use is a round trip for nothing
                // (one that failed is closed on release, below). PostgreSQL keeps the check.
                .test_before_acquire(backend == Backend::Postgres)
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            // Checkpoints run in their own task, off the commit path.
                            conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                            conn.execute("PRAGMA temp_store = MEMORY").await?;
                            conn.execute(sqlx::AssertSqlSafe(format!(
                                "PRAGMA cache_size = -{cache_kib}"
                            )))
                            .await?;
                            // Purged content (P05) is overwritten with zeros, not left in free
                            // space of the file where a copy of the database would still hold it
                            // (issue 17). The WAL's old page images go with TRUNCATE checkpoints
                            // ([`Store::checkpoint_truncate`]).
                            if secure_delete {
                                conn.execute("PRAGMA secure_delete = ON").await?;
                            } else {
                                conn.execute("PRAGMA secure_delete = OFF").await?;
                            }
                            if sync_full {
                                conn.execute("PRAGMA synchronous = FULL").await?;
                            } else {
                                conn.execute("PRAGMA synchronous = NORMAL").await?;
                            }
                        }
                        Ok(())
                    })
                })
                // A SQLite connection whose transaction SQLite itself ended (it rolls back on a
                // full disk or an I/O error) keeps sqlx's transaction depth at 1, because the
                // ROLLBACK that sqlx sends when the transaction is dropped then fails ("no
                // transaction is active"). Every later BEGIN on that connection fails, so a writer
                // that got it back from the pool would never commit again, even once the disk has
                // room. The ping runs the queued rollback; a connection still marked as in a
                // transaction after it is closed instead of reused.
                .after_release(|conn, _meta| {
                    Box::pin(async move {
                        if !conn.backend_name().eq_ignore_ascii_case("sqlite") {
                            return Ok(true);
                        }
                        // sqlx lowers the depth only once its worker has run a COMMIT or
                        // ROLLBACK: at depth 0 nothing is queued and the connection is clean
                        // (no round trip for every release on the hot path).
                        if !conn.is_in_transaction() {
                            return Ok(true);
                        }
                        conn.ping().await?;
                        Ok(!conn.is_in_transaction())
                    })
                })
        };
        let pool = pool_options(opts.max_connections, READ_CACHE_KIB)
            .connect_with(connect.clone())
            .await;
        let pool = match pool {
            Ok(pool) => pool,
            // The pool only says it timed out; say which address refused (issue 15).
            Err(e) if backend == Backend::Postgres => {
                return Err(postgres_unreachable(&url)
                    .await
                    .unwrap_or(StoreError::Db(e)));
            }
            Err(e) => return Err(e.into()),
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let group_pool = pool_options(1, WRITER_CACHE_KIB)
            .connect_with(connect)
            .await?;
        Ok(Self {
            backend,
            pool,
            group_pool,
            settled: settled::SettledHub::default(),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The group-commit writer's transaction ([`writer`]), on its own connection (SQLite:
    /// `BEGIN IMMEDIATE`), whose page cache stays warm from one commit to the next.
    pub async fn begin_group_commit(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.group_pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.group_pool.begin().await?,
        })
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads first never fails to upgrade while
    /// another process (the CLI) writes.
    pub async fn begin_write(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Database reachable and every embedded migration applied.
    pub async fn ready(&self) -> Result<bool> {
        let expected = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.iter().count(),
            Backend::Postgres => POSTGRES_MIGRATIONS.iter().count(),
        } as i64;
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await?;
        Ok(applied >= expected)
    }

    /// SQLite only: moves the WAL into the database file without blocking writers. Returns
    /// how many frames the WAL holds (SQLite's "size of WAL log in frames"; 0 on PostgreSQL).
    pub async fn checkpoint(&self) -> Result<i64> {
        if self.backend == Backend::Sqlite {
            let (_busy, frames, _copied): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_one(&self.pool)
                    .await?;
            return Ok(frames.max(0));
        }
        Ok(0)
    }

    /// SQLite: a checkpoint after which the next commit writes the WAL from its start again
    /// (`RESTART`). A passive checkpoint never gets there while commits keep coming: the WAL
    /// starts over only at a write that finds every frame copied and no reader in it, and
    /// with checkpoints off the commit path a commit always lands first. Under sustained load
    /// the file then grew by every commit's pages (2.8 GB in a 40 s benchmark), and the
    /// minute's TRUNCATE that finally emptied it held writers for most of a second
    /// (docs/benchmark.md, 2026-12-04). RESTART holds new writers while it copies the frames
    /// the passive checkpoint just before left (a moment of commits) and waits for readers
    /// to leave the WAL ("SQLITE_CHECKPOINT_RESTART: … after checkpointing the log file it
    /// blocks … until all readers are reading from the database file only. This ensures that
    /// the next writer will restart the log file from the beginning",
    /// https://www.sqlite.org/c3ref/wal_checkpoint_v2.html, read 2026-12-04).
    pub async fn checkpoint_restart(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            self.pool.execute("PRAGMA wal_checkpoint(RESTART)").await?;
        }
        Ok(())
    }

    /// SQLite: a checkpoint that also empties the WAL file (`TRUNCATE`), so page images of
    /// rows since purged do not stay in it. It waits for readers and holds writers while it
    /// copies what the last one-second passive checkpoint left (a second of writes at most), so
    /// the maintenance worker runs it once a minute, not at every tick.
    pub async fn checkpoint_truncate(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            self.pool.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        }
        Ok(())
    }

    /// PostgreSQL: `VACUUM` of the events table, so that a long drain does not slow down as
    /// it goes. Every delivery rewrites its event's row twice (the claim's lease, then the
    /// outcome) and PostgreSQL keeps each old version, with its entry in every index, until a
    /// vacuum ("VACUUM reclaims storage occupied by dead tuples … they remain present until a
    /// VACUUM is done", https://www.postgresql.org/docs/current/sql-vacuum.html, read
    /// 2026-12-04); the claim's walk of conversation heads steps over those entries, and
    /// autovacuum visits a database at most once a minute (`autovacuum_naptime`). Measured
    /// (docs/benchmark.md, 2026-12-04): a 100,000-event drain fell from ~2,900 to ~1,600
    /// events/s without it. `SKIP_LOCKED`: another replica's or autovacuum's vacuum of the
    /// table makes this one a no-op instead of a wait; `TRUNCATE false`: never the brief
    /// exclusive lock that giving empty end pages back to the OS takes. A plain VACUUM runs
    /// beside reads and writes. SQLite rewrites rows in place: nothing to do.
    pub async fn vacuum_events(&self) -> Result<()> {
        if self.backend == Backend::Postgres {
            self.pool
                .execute("VACUUM (SKIP_LOCKED, TRUNCATE false) events")
                .await?;
        }
        Ok(())
    }

    /// SQLite only: lets the query planner refresh its statistics where they are stale.
    pub async fn optimize(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            self.pool.execute("PRAGMA optimize = 0x10002").await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.group_pool.close().await;
        self.pool.close().await;
    }

    /// PostgreSQL: tells every replica (each LISTENs on [`INVALIDATION_CHANNEL`]) that a
    /// cached object changed, so its caches drop it at once instead of after their TTL. Called
    /// after the change is committed. SQLite: nothing (one process; local caches are dropped
    /// by the caller). Best effort: the caches' short TTLs bound staleness if it is lost.
    pub async fn publish_invalidation(&self, what: &Invalidation) {
        if self.backend != Backend::Postgres {
            return;
        }
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(INVALIDATION_CHANNEL)
            .bind(what.encode())
            .execute(&self.pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not notify other replicas of a cache invalidation");
        }
    }

    /// Writes an audit record (P17): who did what to which object. The instance concerned is
    /// the target itself (an instance) or its owner (a channel or an event).
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail, instance_id) VALUES ($1, $2, $3, $4, $5, \
             COALESCE(CASE WHEN substr($4, 1, 4) = 'ins_' THEN $4 END, \
             (SELECT instance_id FROM channels WHERE id = $4), (SELECT instance_id FROM events WHERE id = $4)))",
        )
        .bind(crate::now_ms())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The PostgreSQL notification channel of cache invalidations between replicas.
pub const INVALIDATION_CHANNEL: &str = "metabridge_cache";

/// What a replica changed, for the others' caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// A channel row (status, token, rate, …): drop it from the channel cache.
    Channel(crate::ids::ChannelId),
    /// An instance's signing secret or verification keys.
    Instance(crate::ids::InstanceId),
}

impl Invalidation {
    pub fn encode(&self) -> String {
        match self {
            Self::Channel(id) => format!("channel:{id}"),
            Self::Instance(id) => format!("instance:{id}"),
        }
    }

    pub fn decode(payload: &str) -> Option<Self> {
        let (kind, id) = payload.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        match kind {
            "channel" => crate::ids::ChannelId::parse(id).ok().map(Self::Channel),
            "instance" => crate::ids::InstanceId::parse(id).ok().map(Self::Instance),
            _ => None,
        }
    }
}

/// Placeholders for `n` parameters bound in order, starting at number `start` (PostgreSQL
/// `$N`). SQLite gets anonymous `?`: SQLite resolves each named `$N` by a linear search over
/// the names seen so far, which makes a statement with thousands of them quadratic to prepare.
pub(crate) fn placeholders(backend: Backend, start: usize, n: usize) -> Vec<String> {
    match backend {
        Backend::Sqlite => vec!["?".to_string(); n],
        Backend::Postgres => (start..start + n).map(|i| format!("${i}")).collect(),
    }
}

/// `($1, $2, …), ($k, …)` (PostgreSQL) or `(?, ?, …), …` (SQLite) for `rows` rows of `cols`
/// columns, bound row-major.
pub(crate) fn values_placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let all = placeholders(backend, 1, rows * cols);
    all.chunks(cols.max(1))
        .map(|row| format!("({})", row.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite really answers (not a hand-built error): a writer finding the database
    /// locked by another is transient, a unique violation is not.
    #[tokio::test]
    async fn a_locked_sqlite_database_is_transient_and_a_constraint_is_not() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let mut holder = <sqlx::AnyConnection as Connection>::connect(&url)
            .await
            .expect("connect");
        holder
            .execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .await
            .expect("create");
        holder
            .execute("INSERT INTO t VALUES ('a')")
            .await
            .expect("insert");
        holder
            .execute("BEGIN IMMEDIATE")
            .await
            .expect("hold the write lock");
        let mut other = <sqlx::AnyConnection as Connection>::connect(&url)
            .await
            .expect("connect");
        other
            .execute("PRAGMA busy_timeout = 0")
            .await
            .expect("no wait");
        let locked = StoreError::from(
            other
                .execute("BEGIN IMMEDIATE")
                .await
                .expect_err("locked by the holder"),
        );
        assert!(locked.is_transient(), "{locked} ({:?})", locked.code());
        holder.execute("ROLLBACK").await.expect("release");
        let unique = StoreError::from(
            other
                .execute("INSERT INTO t VALUES ('a')")
                .await
                .expect_err("duplicate key"),
        );
        assert!(unique.is_unique_violation());
        assert!(!unique.is_transient(), "{unique}");
    }

    #[test]
    fn placeholders_are_numbered_row_major() {
        assert_eq!(
            values_placeholders(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(values_placeholders(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }

    #[test]
    fn invalidations_round_trip_and_garbage_is_ignored() {
        for i in [
            Invalidation::Channel(crate::ids::ChannelId::new()),
            Invalidation::Instance(crate::ids::InstanceId::new()),
        ] {
            assert_eq!(Invalidation::decode(&i.encode()), Some(i));
        }
        for bad in ["", "channel", "channel:", "token:abc", ":x", "channel:ch_1"] {
            assert_eq!(Invalidation::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn sqlite_path_is_extracted() {
        assert_eq!(
            sqlite_file_path("sqlite://data/m.db?mode=rwc"),
            Some("data/m.db")
        );
        assert_eq!(sqlite_file_path("sqlite::memory:"), None);
    }
}
