//! The inbound media cache (issue 16 §3): a copy of the media of customers' messages, kept for
//! `METABRIDGE_MEDIA_RETENTION_HOURS` and served by `GET /v1/channels/{id}/media/{media_id}`
//! whether or not Meta still has it. A use case over the store, the channel cache and the Graph
//! client, used by its worker ([`MediaCache::spawn`]) and the download API.
//!
//! **When a file is fetched.** The ingest transaction records each file to keep
//! ([`crate::events::media`] decides which) as `pending` in `media_files`, in the same commit as
//! the event: a crash after Meta's 200 still downloads it. Right after the commit the writer
//! wakes the worker, which claims due files (a lease, so another replica does not fetch the same
//! one) and downloads at most `METABRIDGE_MEDIA_CONCURRENCY` at a time: WhatsApp through
//! `GET /{media-id}` and the returned URL with the channel's token, Instagram / Messenger from
//! the attachment's CDN address (no token; only Meta's CDN hosts,
//! [`crate::meta::graph::GraphClient::download_attachment`]). Nothing waits for it: the event is
//! delivered at once and says which files are kept (`cache`).
//!
//! **What is checked.** The size against the kind's limit (a declared `Content-Length` before
//! reading, the bytes while reading), the content type against the kind, and for WhatsApp the
//! webhook's SHA-256 of the file. A file that fails a check is not kept (`failed`, with the
//! reason; the API then answers from Meta while Meta has it). A transient failure (Meta or the
//! network down, a token being refreshed) is tried again after 30 s, 2 min, 10 min and 30 min.
//!
//! **Where and how long.** `METABRIDGE_MEDIA_DIR/<instance>/<channel>/<media id>`, written to a
//! temporary name and renamed when complete, so a reader never sees half a file. The sweep
//! ([`MediaCache::sweep`], every minute) deletes files at their expiry, the directories of
//! channels that were disconnected or deleted and of deleted instances (their rows went in the
//! same transaction as the disconnect), and any file older than the retention whatever the
//! database says (a crash between the two deletes, another replica's file on a shared volume).
//!
//! Never logged: tokens, CDN addresses (they are signed capabilities), file contents.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tracing::{debug, warn};

use crate::channels::{ChannelKind, Connection};
use crate::config::MediaConfig;
use crate::ids::{ChannelId, InstanceId};
use crate::meta::graph::{GraphCallError, GraphClient};
use crate::metrics::Metrics;
use crate::store::cache::ChannelCache;
use crate::store::{MediaFileRow, Store, StoreError};

/// Why a file was not kept, or why its download is tried again: stable strings (the
/// `media_files.error` column, the API's error message, the metric label).
pub mod reasons {
    /// Larger than its kind's limit.
    pub const TOO_LARGE: &str = "too_large";
    /// The answer's content type does not fit the kind (an error page, say).
    pub const TYPE_MISMATCH: &str = "type_mismatch";
    /// The bytes do not match the webhook's SHA-256 (twice).
    pub const DIGEST_MISMATCH: &str = "digest_mismatch";
    /// Meta has no such media any more, or the CDN address expired.
    pub const SOURCE_EXPIRED: &str = "source_expired";
    /// The address is not on Meta's CDN.
    pub const SOURCE_REFUSED: &str = "source_refused";
    /// The channel was disconnected or deleted meanwhile.
    pub const CHANNEL_GONE: &str = "channel_gone";
    /// The channel has no usable token (tried again: it may be refreshed).
    pub const TOKEN_UNAVAILABLE: &str = "token_unavailable";
    /// Meta or the network failed (tried again).
    pub const UPSTREAM: &str = "upstream_error";
    /// The file could not be written (tried again).
    pub const STORAGE: &str = "storage_error";
    /// Tried [`super::MAX_ATTEMPTS`] times.
    pub const GAVE_UP: &str = "gave_up";
}

/// Downloads of one file before it is given up.
pub const MAX_ATTEMPTS: i64 = 5;
/// How long a claimed download may run before another pass may take it over.
const LEASE: Duration = Duration::from_secs(600);
/// How often expired files and directories of gone channels are deleted.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Longest sleep when nothing woke the worker (safety net for another replica's commits).
const IDLE_POLL: Duration = Duration::from_secs(30);
/// Expired rows deleted per sweep step.
const SWEEP_BATCH: i64 = 500;

/// How a download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// On disk.
    Stored,
    /// Not kept, for this reason (see [`reasons`]).
    Failed(&'static str),
    /// Tried again later, for this reason.
    Retry(&'static str),
}

/// What one sweep deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Files (and their rows) past their expiry.
    pub expired: u64,
    /// Files of disconnected or deleted channels and of deleted instances.
    pub withdrawn: u64,
    /// Files older than the retention that no expiry had removed.
    pub stale_files: u64,
}

/// The media cache.
#[derive(Clone)]
pub struct MediaCache {
    inner: Arc<Inner>,
}

struct Inner {
    config: MediaConfig,
    store: Store,
    channels: ChannelCache,
    graph: GraphClient,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for MediaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaCache")
            .field("enabled", &self.inner.config.enabled)
            .field("dir", &self.inner.config.dir)
            .finish_non_exhaustive()
    }
}

impl MediaCache {
    pub fn new(
        config: MediaConfig,
        store: Store,
        channels: ChannelCache,
        graph: GraphClient,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                store,
                channels,
                graph,
                metrics,
            }),
        }
    }

    pub fn config(&self) -> &MediaConfig {
        &self.inner.config
    }

    /// Where the file of `media_id` of a channel lives ([`media_path`]).
    pub fn file_path(
        &self,
        instance_id: &str,
        channel_id: &str,
        media_id: &str,
    ) -> Option<PathBuf> {
        media_path(&self.inner.config.dir, instance_id, channel_id, media_id)
    }

    /// A stored file, opened for reading with its length: `None` when the row is not `stored`
    /// or the file is not on this disk (deleted by a sweep, another replica's volume).
    pub async fn open(&self, row: &MediaFileRow) -> Option<(tokio::fs::File, u64)> {
        if row.state != "stored" {
            return None;
        }
        let path = self.file_path(&row.instance_id, &row.channel_id, &row.media_id)?;
        let file = tokio::fs::File::open(&path).await.ok()?;
        let len = file.metadata().await.ok()?.len();
        Some((file, len))
    }

    /// Claims up to `n` files due for download (a lease each).
    async fn claim(&self, n: usize) -> Result<Vec<MediaFileRow>, StoreError> {
        let now = crate::now_ms();
        let lease_until = now + i64::try_from(LEASE.as_millis()).unwrap_or(600_000);
        self.inner
            .store
            .claim_due_media(now, i64::try_from(n).unwrap_or(1), lease_until)
            .await
    }

    /// One pass, for a caller that steps the cache itself (the worker runs [`MediaCache::spawn`]):
    /// claims the files due and downloads them, at most the configured number at a time.
    /// Returns how many downloads ended (stored, failed or rescheduled).
    pub async fn download_due(&self) -> Result<usize, StoreError> {
        let rows = self.claim(self.inner.config.concurrency).await?;
        let n = rows.len();
        let runs = rows.into_iter().map(|row| {
            let me = self.clone();
            async move { me.download(row).await }
        });
        for outcome in futures_util::future::join_all(runs).await {
            if let Err(e) = outcome {
                warn!(error = %e, "media download not recorded");
            }
        }
        Ok(n)
    }

    /// Downloads one claimed file and records how it ended.
    async fn download(&self, row: MediaFileRow) -> Result<Fetched, StoreError> {
        let store = &self.inner.store;
        let outcome = self.fetch(&row).await;
        let outcome = match outcome {
            Fetched::Retry(reason) if row.attempts >= MAX_ATTEMPTS => {
                debug!(reason, attempts = row.attempts, "media download given up");
                Fetched::Failed(reasons::GAVE_UP)
            }
            other => other,
        };
        match outcome {
            Fetched::Stored => self.inner.metrics.media_download("stored"),
            Fetched::Failed(reason) => {
                self.inner.metrics.media_download(reason);
                store
                    .media_failed(&row.channel_id, &row.media_id, reason)
                    .await?;
            }
            Fetched::Retry(reason) => {
                self.inner.metrics.media_download("retry");
                let backoff = match row.attempts {
                    ..=1 => 30_000,
                    2 => 120_000,
                    3 => 600_000,
                    _ => 1_800_000,
                };
                store
                    .media_retry(
                        &row.channel_id,
                        &row.media_id,
                        reason,
                        crate::now_ms() + backoff,
                    )
                    .await?;
            }
        }
        Ok(outcome)
    }

    /// Fetches the file of `row` onto disk (and marks it stored); what went wrong otherwise.
    async fn fetch(&self, row: &MediaFileRow) -> Fetched {
        let (Ok(channel_id), Ok(instance_id)) = (
            ChannelId::parse(&row.channel_id),
            InstanceId::parse(&row.instance_id),
        ) else {
            return Fetched::Failed(reasons::CHANNEL_GONE);
        };
        let channel = match self
            .inner
            .store
            .get_channel(&channel_id, Some(&instance_id))
            .await
        {
            Ok(Some(c)) if c.status != Connection::Disconnected => c,
            Ok(_) => return Fetched::Failed(reasons::CHANNEL_GONE),
            Err(_) => return Fetched::Retry(reasons::STORAGE),
        };
        let Some(path) = self.file_path(&row.instance_id, &row.channel_id, &row.media_id) else {
            return Fetched::Failed(reasons::SOURCE_REFUSED);
        };
        let limit = crate::events::media::max_bytes(channel.kind, &row.kind);
        let graph = &self.inner.graph;
        let (response, mime) = if channel.kind == ChannelKind::Whatsapp {
            let Ok(token) = self.inner.channels.token_for(&channel).await else {
                return Fetched::Retry(reasons::TOKEN_UNAVAILABLE);
            };
            let info = match graph
                .media_info(&token, &row.media_id, Some(&channel.external_id))
                .await
            {
                Ok(info) => info,
                Err(e) => return classify(&e),
            };
            if info.file_size.is_some_and(|n| n > limit) {
                return Fetched::Failed(reasons::TOO_LARGE);
            }
            match graph.download(&token, &info.url).await {
                Ok(r) => (r, info.mime_type),
                Err(e) => return classify(&e),
            }
        } else {
            let Some(url) = row.source_url.as_deref() else {
                return Fetched::Failed(reasons::SOURCE_EXPIRED);
            };
            match graph.download_attachment(url).await {
                Ok(r) => {
                    let mime = r
                        .headers()
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    (r, mime)
                }
                Err(e) => return classify(&e),
            }
        };
        if !crate::events::media::content_type_fits(&row.kind, &mime) {
            return Fetched::Failed(reasons::TYPE_MISMATCH);
        }
        if response.content_length().is_some_and(|n| n > limit) {
            return Fetched::Failed(reasons::TOO_LARGE);
        }
        let written = match write_file(&path, response, limit).await {
            Ok(w) => w,
            Err(WriteFailure::TooLarge) => return Fetched::Failed(reasons::TOO_LARGE),
            Err(WriteFailure::Upstream) => return Fetched::Retry(reasons::UPSTREAM),
            Err(WriteFailure::Io(e)) => {
                warn!(error = %e, "media file could not be written");
                return Fetched::Retry(reasons::STORAGE);
            }
        };
        if let Some(expected) = row.expected_sha256.as_deref()
            && !digest_matches(expected, &written.digest)
        {
            remove_quietly(&path).await;
            return if row.attempts >= 2 {
                Fetched::Failed(reasons::DIGEST_MISMATCH)
            } else {
                Fetched::Retry(reasons::DIGEST_MISMATCH)
            };
        }
        let essence = mime.split(';').next().unwrap_or("").trim().to_owned();
        match self
            .inner
            .store
            .media_stored(
                &row.channel_id,
                &row.media_id,
                &essence,
                i64::try_from(written.size).unwrap_or(i64::MAX),
                &hex::encode(written.digest),
                crate::now_ms(),
            )
            .await
        {
            Ok(true) => Fetched::Stored,
            // The row went with the channel meanwhile: so does the file.
            Ok(false) => {
                remove_quietly(&path).await;
                Fetched::Failed(reasons::CHANNEL_GONE)
            }
            Err(_) => {
                remove_quietly(&path).await;
                Fetched::Retry(reasons::STORAGE)
            }
        }
    }

    /// Deletes what must go: files past their expiry (file first, then row), the directories
    /// of channels that are disconnected or gone and of deleted instances, and any file older
    /// than the retention.
    pub async fn sweep(&self, now: i64) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let store = &self.inner.store;
        loop {
            let expired = store.expired_media(now, SWEEP_BATCH).await?;
            for (instance, channel, media_id) in &expired {
                if let Some(path) = self.file_path(instance, channel, media_id) {
                    remove_quietly(&path).await;
                }
            }
            report.expired += store.delete_media_rows(&expired).await?;
            if (expired.len() as i64) < SWEEP_BATCH {
                break;
            }
        }
        let dir = &self.inner.config.dir;
        let retention = self.inner.config.retention + Duration::from_secs(3600);
        // Only what the bridge wrote is ever deleted: directories named by an instance id and
        // a channel id, files named by a media id (or a partial download of one). Anything
        // else in the directory (`lost+found` of a volume, an operator's file) is left alone.
        for instance_dir in list_dirs(dir).await {
            let Some(instance) = file_name(&instance_dir).filter(|n| InstanceId::parse(n).is_ok())
            else {
                continue;
            };
            for channel_dir in list_dirs(&instance_dir).await {
                let Some(channel) = file_name(&channel_dir).filter(|n| ChannelId::parse(n).is_ok())
                else {
                    continue;
                };
                if !store.media_channel_live(&instance, &channel).await? {
                    report.withdrawn += remove_own_files(&channel_dir, None).await;
                    let _ = tokio::fs::remove_dir(&channel_dir).await;
                    continue;
                }
                report.stale_files += remove_own_files(&channel_dir, Some(retention)).await;
            }
            // An instance directory left empty (its channels gone) goes too.
            let _ = tokio::fs::remove_dir(&instance_dir).await;
        }
        Ok(report)
    }

    /// Runs the downloads (when the cache is on) and the sweep until `shutdown`. Downloads run
    /// as tasks, at most `METABRIDGE_MEDIA_CONCURRENCY` at once: a slot freed by one (a large
    /// document finishing, say) is filled at once, without waiting for the others. At shutdown
    /// the downloads in flight are dropped: their leases run out and another pass (or replica)
    /// takes them again; a partial file is never renamed into place.
    pub fn spawn(
        &self,
        wakeup: Arc<Notify>,
        shutdown: crate::shutdown::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut last_sweep: Option<tokio::time::Instant> = None;
            let mut running: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
            let slots = me.inner.config.concurrency;
            loop {
                if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
                    last_sweep = Some(tokio::time::Instant::now());
                    match me.sweep(crate::now_ms()).await {
                        Ok(r) if r != SweepReport::default() => {
                            debug!(
                                expired = r.expired,
                                withdrawn = r.withdrawn,
                                stale = r.stale_files,
                                "media sweep"
                            );
                        }
                        Ok(_) => {}
                        Err(e) => warn!(error = %e, "media sweep failed"),
                    }
                }
                while running.try_join_next().is_some() {}
                let free = slots.saturating_sub(running.len());
                if me.inner.config.enabled && free > 0 {
                    match me.claim(free).await {
                        Ok(rows) => {
                            for row in rows {
                                let one = me.clone();
                                running.spawn(async move {
                                    if let Err(e) = one.download(row).await {
                                        warn!(error = %e, "media download not recorded");
                                    }
                                });
                            }
                        }
                        Err(e) => warn!(error = %e, "media downloads not claimed"),
                    }
                }
                // Sleep until the next file is due, but only when a slot could take it: with
                // downloads off (files kept earlier still expire) or every slot busy (a finished
                // download wakes the loop), a due file is no reason to wake.
                let can_start = me.inner.config.enabled && running.len() < slots;
                let wait = match can_start {
                    false => SWEEP_EVERY,
                    true => match me.inner.store.next_media_due().await {
                        Ok(Some(due)) => {
                            let ms = u64::try_from(due - crate::now_ms()).unwrap_or(0);
                            Duration::from_millis(ms.max(50)).min(IDLE_POLL)
                        }
                        _ => IDLE_POLL,
                    },
                };
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    Some(_) = running.join_next(), if !running.is_empty() => {}
                    () = wakeup.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                }
            }
            running.abort_all();
        })
    }
}

/// `dir/<instance>/<channel>/<media id>`; `None` unless all three are ids the bridge makes or
/// accepts (an instance id, a channel id, Meta's digits or `med_…`), so no request can name a
/// path outside the directory.
pub fn media_path(
    dir: &Path,
    instance_id: &str,
    channel_id: &str,
    media_id: &str,
) -> Option<PathBuf> {
    let instance = InstanceId::parse(instance_id).ok()?;
    let channel = ChannelId::parse(channel_id).ok()?;
    let id_ok = crate::events::media::is_kept_id(media_id);
    id_ok.then(|| {
        dir.join(instance.as_str())
            .join(channel.as_str())
            .join(media_id)
    })
}

/// A permanent or transient failure of a Graph or CDN call.
fn classify(e: &GraphCallError) -> Fetched {
    match e {
        GraphCallError::Invalid(_) => Fetched::Failed(reasons::SOURCE_REFUSED),
        GraphCallError::Graph { error, .. } if error.code == 100 => {
            Fetched::Failed(reasons::SOURCE_EXPIRED)
        }
        GraphCallError::Status {
            status: 403 | 404 | 410,
        } => Fetched::Failed(reasons::SOURCE_EXPIRED),
        e if e.is_token_refused() => Fetched::Retry(reasons::TOKEN_UNAVAILABLE),
        _ => Fetched::Retry(reasons::UPSTREAM),
    }
}

/// Whether Meta's `expected` SHA-256 (hex, or base64 with or without padding) is `digest`.
fn digest_matches(expected: &str, digest: &[u8; 32]) -> bool {
    use base64::Engine;
    let expected = expected.trim();
    if expected.eq_ignore_ascii_case(&hex::encode(digest)) {
        return true;
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    expected == b64 || expected == b64.trim_end_matches('=')
}

struct Written {
    size: u64,
    digest: [u8; 32],
}

enum WriteFailure {
    TooLarge,
    Upstream,
    Io(std::io::Error),
}

/// Streams `response` into `path` (through a temporary name in the same directory), at most
/// `limit` bytes.
async fn write_file(
    path: &Path,
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Written, WriteFailure> {
    let dir = path
        .parent()
        .ok_or_else(|| WriteFailure::Io(std::io::Error::other("media path has no directory")))?;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(WriteFailure::Io)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("media");
    let tmp = dir.join(format!(".{name}.{}.part", uuid::Uuid::new_v4().simple()));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(WriteFailure::Io)?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(_) => return Err(WriteFailure::Upstream),
            };
            size += chunk.len() as u64;
            if size > limit {
                return Err(WriteFailure::TooLarge);
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(WriteFailure::Io)?;
        }
        file.sync_all().await.map_err(WriteFailure::Io)?;
        Ok(Written {
            size,
            digest: hasher.finalize().into(),
        })
    }
    .await;
    match result {
        Ok(w) => {
            if let Err(e) = tokio::fs::rename(&tmp, path).await {
                remove_quietly(&tmp).await;
                return Err(WriteFailure::Io(e));
            }
            Ok(w)
        }
        Err(e) => {
            remove_quietly(&tmp).await;
            Err(e)
        }
    }
}

async fn remove_quietly(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        warn!(error = %e, "media file could not be deleted");
    }
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name().and_then(|n| n.to_str()).map(str::to_owned)
}

/// The subdirectories of `dir` (none when it does not exist).
async fn list_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return out;
    };
    while let Ok(Some(e)) = entries.next_entry().await {
        if e.file_type().await.is_ok_and(|t| t.is_dir()) {
            out.push(e.path());
        }
    }
    out
}

/// Whether a file name is one the media cache writes: a media id, or a partial download of
/// one (`.<media id>.<uuid>.part`).
fn is_own_file(name: &str) -> bool {
    let id_ok = crate::events::media::is_kept_id;
    match name.strip_prefix('.').and_then(|n| n.strip_suffix(".part")) {
        Some(partial) => partial.split_once('.').is_some_and(|(id, _)| id_ok(id)),
        None => id_ok(name),
    }
}

/// Deletes the cache's own files in `dir` ([`is_own_file`]): all of them when `age` is
/// `None`, else those last modified more than `age` ago (finished and abandoned partial ones
/// alike). Returns how many.
async fn remove_own_files(dir: &Path, age: Option<Duration>) -> u64 {
    let mut n = 0;
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return 0;
    };
    while let Ok(Some(e)) = entries.next_entry().await {
        let Ok(meta) = e.metadata().await else {
            continue;
        };
        let own = e.file_name().to_str().is_some_and(is_own_file);
        let old = age.is_none_or(|age| {
            meta.modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|elapsed| elapsed > age)
        });
        if meta.is_file() && own && old && tokio::fs::remove_file(e.path()).await.is_ok() {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metas_digest_is_compared_as_hex_or_base64() {
        let digest: [u8; 32] = Sha256::digest(b"abc").into();
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert!(digest_matches(hex, &digest));
        assert!(digest_matches(&hex.to_ascii_uppercase(), &digest));
        assert!(digest_matches(
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
            &digest
        ));
        assert!(digest_matches(
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0",
            &digest
        ));
        assert!(!digest_matches("00", &digest));
    }

    #[test]
    fn refused_ids_never_name_a_path() {
        let dir = Path::new("/srv/media");
        let ins = InstanceId::new().to_string();
        let ch = ChannelId::new().to_string();
        let ok = |m: &str| media_path(dir, &ins, &ch, m);
        assert_eq!(
            ok("1480000000000001"),
            Some(PathBuf::from(format!(
                "/srv/media/{ins}/{ch}/1480000000000001"
            )))
        );
        assert!(media_path(dir, "../x", &ch, "1").is_none());
        assert!(media_path(dir, &ins, "ch_../../", "1").is_none());
        assert!(ok("med_0123456789abcdef0123456789abcdef").is_some());
        assert!(ok("../etc/passwd").is_none());
        assert!(ok("med_../../x").is_none());
        assert!(ok("").is_none());
    }

    #[test]
    fn only_the_caches_own_files_are_ever_deleted() {
        assert!(is_own_file("1480000000000001"));
        assert!(is_own_file("med_0123456789abcdef0123456789abcdef"));
        assert!(is_own_file(
            ".1480000000000001.0193f6a4c8e07a6b9d1e2f3a4b5c6d7e.part"
        ));
        assert!(!is_own_file("lost+found"));
        assert!(!is_own_file("notes.txt"));
        assert!(!is_own_file(".bashrc"));
        assert!(!is_own_file(".x.y.part"));
    }

    #[test]
    fn permanent_and_transient_failures() {
        assert_eq!(
            classify(&GraphCallError::Status { status: 404 }),
            Fetched::Failed(reasons::SOURCE_EXPIRED)
        );
        assert_eq!(
            classify(&GraphCallError::Status { status: 503 }),
            Fetched::Retry(reasons::UPSTREAM)
        );
        assert_eq!(
            classify(&GraphCallError::Transport("reset".into())),
            Fetched::Retry(reasons::UPSTREAM)
        );
        assert_eq!(
            classify(&GraphCallError::Invalid("not cdn".into())),
            Fetched::Failed(reasons::SOURCE_REFUSED)
        );
    }
}
