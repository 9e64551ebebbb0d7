//! Instagram and Messenger contact profiles: what Meta's User Profile API tells the business
//! about a person who wrote to it (a use case over the store, the channel cache and the Graph
//! client, used by the webhook handler, the delivery dispatcher and the API).
//!
//! **When a profile is read.** After a webhook carrying a contact's message (or postback: the
//! person clicked an icebreaker or a menu item, which Meta also counts as consent) was
//! committed, the contact is put on a bounded in-memory queue ([`Profiles::request_soon`]); a
//! background task reads the profile from Meta when the stored one is missing or older than the
//! TTL (`METABRIDGE_CONTACT_PROFILE_TTL_SECS`, default one day: Meta's picture URLs expire
//! "after a few days"), at most [`CONCURRENT_READS`] at a time. The Graph host follows the
//! channel's login: an Instagram Login channel asks graph.instagram.com with its Instagram User
//! token, an Instagram account connected through its Page and a Messenger Page ask
//! graph.facebook.com with the Page token ([`crate::meta::login`]).
//!
//! **Never on the delivery path.** The webhook handler only tries to enqueue (a full queue drops
//! the request, counted in `metabridge_contact_profile_requests_dropped_total`; the next message
//! asks again), and nothing waits for a read. The
//! delivery dispatcher looks the contact up in this process's in-memory cache only
//! ([`ProfileCache`]): an event carries `contact.profile` when the profile is already known
//! here, else the event goes out without it. So a contact's first message is usually delivered
//! before its profile is read; later events carry it, and `GET /v1/channels/{id}/contacts/{contact}`
//! returns it as soon as it is stored. With several replicas the cache is per process: an event
//! delivered by a replica that has not read the profile goes without it (the API reads the
//! table, shared by all).
//!
//! A failed read (Meta refuses, times out, the channel has no token) is recorded with Meta's
//! code and never retried in a loop: the next message of the contact after
//! [`REQUEST_COOLDOWN`] asks again. The last good profile stays until a read replaces it.
//!
//! Never logged: tokens, profile fields (names are personal data), Meta's response bodies.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, mpsc};
use tracing::debug;

use crate::channels::ChannelKind;
use crate::events::parse::{ParsedEvent, Route, types};
use crate::ids::ChannelId;
use crate::meta::graph::{
    GraphCallError, GraphClient, INSTAGRAM_PROFILE_FIELDS, MESSENGER_PROFILE_FIELDS,
};
use crate::meta::login::InstagramLogin;
use crate::store::cache::ChannelCache;
use crate::store::{ChannelRow, ProfileRow, Store, StoreError};

/// Contacts waiting for a read; more are dropped (and asked again by their next message).
pub const QUEUE_LEN: usize = 1024;
/// Profile reads running at once.
pub const CONCURRENT_READS: usize = 4;
/// A contact asked for is not asked again for this long (a burst of messages, Meta's retries).
pub const REQUEST_COOLDOWN: Duration = Duration::from_secs(300);
/// Profiles kept in memory per process.
const CACHE_CAPACITY: u64 = 100_000;

/// A contact whose profile should be read: the channel's Meta id (the webhook's route), the
/// kind, and the contact's IGSID / PSID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProfileRequest {
    pub external_id: String,
    pub kind: ChannelKind,
    pub contact: String,
}

/// The contacts of committed webhook events whose profile may be read: Instagram and Messenger
/// customers who sent a message or a postback (Meta's consent conditions).
pub fn profile_requests(events: &[ParsedEvent]) -> Vec<ProfileRequest> {
    let mut out: Vec<ProfileRequest> = Vec::new();
    for e in events {
        let Some(kind @ (ChannelKind::Instagram | ChannelKind::Messenger)) = e.channel_kind else {
            continue;
        };
        if !matches!(
            e.event_type(),
            types::MESSAGE_RECEIVED | types::MESSAGE_POSTBACK
        ) {
            continue;
        }
        let (Route::Channel(ext), Some(contact)) = (
            &e.route,
            e.contact
                .as_ref()
                .and_then(|c| c.get("id"))
                .and_then(Value::as_str),
        ) else {
            continue;
        };
        if contact.is_empty() || contact == ext {
            continue;
        }
        let r = ProfileRequest {
            external_id: ext.clone(),
            kind,
            contact: contact.to_owned(),
        };
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// The profiles this process knows, by (channel, contact): JSON object text of Meta's fields.
/// Cheap to clone; only in-memory lookups (the delivery path uses it).
#[derive(Clone)]
pub struct ProfileCache {
    profiles: Cache<(ChannelId, String), Arc<str>>,
}

impl std::fmt::Debug for ProfileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileCache")
            .field("entries", &self.profiles.entry_count())
            .finish()
    }
}

impl ProfileCache {
    /// Entries live `ttl` after they were read from Meta or the table.
    pub fn new(ttl: Duration) -> Self {
        Self {
            profiles: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
        }
    }

    /// The known profile of `contact` on `channel` (JSON object text).
    pub async fn get(&self, channel: &ChannelId, contact: &str) -> Option<Arc<str>> {
        self.profiles
            .get(&(channel.clone(), contact.to_owned()))
            .await
    }

    async fn put(&self, channel: &ChannelId, contact: &str, profile: Arc<str>) {
        self.profiles
            .insert((channel.clone(), contact.to_owned()), profile)
            .await;
    }

    /// Forgets every profile of a channel (disconnected, deleted).
    pub fn forget_channel(&self, channel: &ChannelId) {
        let channel = channel.clone();
        // Only fails when the cache was built without invalidation closures (it is not).
        let _ = self
            .profiles
            .invalidate_entries_if(move |(c, _), _| *c == channel);
    }
}

/// What a read came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Read from Meta and stored.
    Read,
    /// The stored profile is younger than the TTL: put in the cache, Meta not asked.
    Fresh,
    /// Meta (or the channel) failed; recorded with the reason.
    Failed(String),
}

/// The profiles use case; cheap to clone.
#[derive(Clone)]
pub struct Profiles {
    store: Store,
    channels: ChannelCache,
    graph: GraphClient,
    ig_graph: GraphClient,
    cache: ProfileCache,
    ttl: Duration,
    queue: mpsc::Sender<ProfileRequest>,
    /// The receiving end, taken by [`Profiles::spawn`].
    pending: Arc<std::sync::Mutex<Option<mpsc::Receiver<ProfileRequest>>>>,
    /// Requests taken in the last [`REQUEST_COOLDOWN`].
    recent: Cache<ProfileRequest, ()>,
    /// Counts requests dropped because the queue was full
    /// (`metabridge_contact_profile_requests_dropped_total`).
    metrics: Arc<crate::metrics::Metrics>,
}

impl std::fmt::Debug for Profiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiles").finish_non_exhaustive()
    }
}

impl Profiles {
    pub fn new(
        store: Store,
        channels: ChannelCache,
        graph: GraphClient,
        ig_graph: GraphClient,
        cache: ProfileCache,
        ttl: Duration,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_LEN);
        Self {
            store,
            channels,
            graph,
            ig_graph,
            cache,
            ttl,
            queue,
            pending: Arc::new(std::sync::Mutex::new(Some(rx))),
            recent: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(REQUEST_COOLDOWN)
                .build(),
            metrics,
        }
    }

    /// The in-memory profiles (what the delivery dispatcher reads).
    pub fn cache(&self) -> &ProfileCache {
        &self.cache
    }

    /// Requests dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.metrics.profile_requests_dropped.get()
    }

    /// Puts these contacts on the read queue, never waiting: a contact asked for in the last
    /// [`REQUEST_COOLDOWN`] is skipped, and when the queue is full the request is dropped.
    pub fn request_soon(&self, requests: Vec<ProfileRequest>) {
        for r in requests {
            if self.recent.contains_key(&r) {
                continue;
            }
            if self.queue.try_send(r).is_err() {
                self.metrics.profile_requests_dropped.inc();
            }
        }
    }

    /// Starts the reader: takes requests off the queue and reads them, [`CONCURRENT_READS`] at
    /// a time, until `shutdown`. Does nothing when started twice.
    pub fn spawn(
        &self,
        shutdown: crate::shutdown::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let rx = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let me = self.clone();
        tokio::spawn(async move {
            let Some(mut rx) = rx else { return };
            let slots = Arc::new(Semaphore::new(CONCURRENT_READS));
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => break,
                    r = rx.recv() => r,
                };
                let Some(r) = next else { break };
                if me.recent.contains_key(&r) {
                    continue;
                }
                me.recent.insert(r.clone(), ()).await;
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    break;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    if let Err(e) = me.read_request(&r).await {
                        debug!(error = %e, "contact profile read not recorded");
                    }
                    drop(slot);
                });
            }
        })
    }

    /// Reads the profile of a queued contact on every connected channel with that Meta id
    /// (one per instance that connected it).
    pub async fn read_request(&self, r: &ProfileRequest) -> Result<Vec<ReadOutcome>, StoreError> {
        let mut out = Vec::new();
        for ch in self
            .store
            .social_channels_by_external_id(&r.external_id)
            .await?
        {
            if ch.kind != r.kind {
                continue;
            }
            out.push(self.read(&ch, &r.contact, false).await?);
        }
        Ok(out)
    }

    /// Reads a contact's profile on a channel from Meta, unless the stored one is younger than
    /// the TTL (and `force` is false); stores the result and puts it in the cache.
    pub async fn read(
        &self,
        ch: &ChannelRow,
        contact: &str,
        force: bool,
    ) -> Result<ReadOutcome, StoreError> {
        let now = crate::now_ms();
        if !force
            && let Some(row) = self
                .store
                .contact_profile(&ch.id, &ch.instance_id, contact)
                .await?
            && let Some(profile) = self.fresh(&row, now)
        {
            self.cache.put(&ch.id, contact, profile).await;
            return Ok(ReadOutcome::Fresh);
        }
        match self.fetch(ch, contact).await {
            Ok(fields) => {
                let text: Arc<str> = Value::Object(fields).to_string().into();
                self.store
                    .store_contact_profile(&ch.id, &ch.instance_id, contact, &text, now)
                    .await?;
                self.cache.put(&ch.id, contact, text).await;
                Ok(ReadOutcome::Read)
            }
            Err(reason) => {
                debug!(channel = %ch.id, reason = %reason, "contact profile read failed");
                self.store
                    .contact_profile_failed(&ch.id, &ch.instance_id, contact, &reason, now)
                    .await?;
                Ok(ReadOutcome::Failed(reason))
            }
        }
    }

    /// The stored profile when it was read within the TTL.
    fn fresh(&self, row: &ProfileRow, now: i64) -> Option<Arc<str>> {
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let fetched = row.fetched_at?;
        (now.saturating_sub(fetched) < ttl)
            .then(|| row.profile.as_deref().map(Arc::from))
            .flatten()
    }

    /// Whether a stored row is due for another read (never read, or older than the TTL).
    pub fn is_stale(&self, row: &ProfileRow, now: i64) -> bool {
        self.fresh(row, now).is_none()
    }

    /// Puts a stored profile in the cache (the API read it from the table).
    pub async fn remember(&self, channel: &ChannelId, contact: &str, profile: &str) {
        self.cache.put(channel, contact, Arc::from(profile)).await;
    }

    /// One call to Meta: the host and fields of the channel's kind and login. The error is a
    /// short reason without Meta's texts (`meta_<code>[_<subcode>]`, `no_token`, ...).
    async fn fetch(&self, ch: &ChannelRow, contact: &str) -> Result<Map<String, Value>, String> {
        let token = self
            .channels
            .token_for(ch)
            .await
            .map_err(|_| "no_token".to_owned())?;
        let (client, fields) = match ch.kind {
            ChannelKind::Messenger => (&self.graph, MESSENGER_PROFILE_FIELDS),
            ChannelKind::Instagram => {
                match InstagramLogin::of_channel(ch.login.as_deref(), &token) {
                    InstagramLogin::Instagram => (&self.ig_graph, INSTAGRAM_PROFILE_FIELDS),
                    InstagramLogin::Facebook => (&self.graph, INSTAGRAM_PROFILE_FIELDS),
                }
            }
            ChannelKind::Whatsapp => return Err("not_applicable".into()),
        };
        client
            .contact_profile(&token, contact, fields)
            .await
            .map_err(|e| reason_of(&e))
    }
}

/// A failed read as recorded: Meta's code, never Meta's message (it may name the person).
fn reason_of(e: &GraphCallError) -> String {
    match e {
        GraphCallError::Graph { error, .. } => match error.subcode {
            Some(s) => format!("meta_{}_{s}", error.code),
            None => format!("meta_{}", error.code),
        },
        GraphCallError::Status { status } => format!("http_{status}"),
        GraphCallError::Transport(_) => "unreachable".into(),
        GraphCallError::Decode(_) => "unreadable_answer".into(),
        GraphCallError::Invalid(_) => "invalid_contact_id".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(body: Value) -> Vec<ParsedEvent> {
        crate::events::parse::parse_webhook(&serde_json::to_vec(&body).expect("json"))
            .expect("parse")
    }

    #[test]
    fn customer_messages_and_postbacks_ask_for_profiles_echoes_do_not() {
        let events = parsed(
            json!({"object": "instagram", "entry": [{"id": "178", "time": 1, "messaging": [
                {"sender": {"id": "61"}, "recipient": {"id": "178"}, "timestamp": 1, "message": {"mid": "m1", "text": "oi"}},
                {"sender": {"id": "61"}, "recipient": {"id": "178"}, "timestamp": 2, "message": {"mid": "m2", "text": "oi de novo"}},
                {"sender": {"id": "178"}, "recipient": {"id": "62"}, "timestamp": 3, "message": {"mid": "m3", "text": "eco", "is_echo": true}},
                {"sender": {"id": "63"}, "recipient": {"id": "178"}, "timestamp": 4, "postback": {"mid": "m4", "title": "Menu", "payload": "MENU"}}
            ]}]}),
        );
        let got = profile_requests(&events);
        let contacts: Vec<&str> = got.iter().map(|r| r.contact.as_str()).collect();
        assert_eq!(contacts, vec!["61", "63"]);
        assert!(
            got.iter()
                .all(|r| r.external_id == "178" && r.kind == ChannelKind::Instagram)
        );
    }

    /// A full queue drops requests (the reader is not running here) and counts each drop in
    /// `metabridge_contact_profile_requests_dropped_total`.
    #[tokio::test]
    async fn requests_over_the_queue_are_dropped_and_counted() {
        crate::crypto::install_tls_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = Store::open(&url, crate::store::StoreOptions::default())
            .await
            .expect("open");
        let key = crate::config::Secret::new(crate::crypto::vault::generate_key());
        let vault = Arc::new(crate::crypto::vault::Vault::new(&[key]).expect("vault"));
        let graph = GraphClient::new("http://127.0.0.1:9", "v27.0", Duration::from_secs(1));
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let profiles = Profiles::new(
            store.clone(),
            ChannelCache::new(store, vault, Duration::from_secs(60)),
            graph.clone(),
            graph,
            ProfileCache::new(Duration::from_secs(60)),
            Duration::from_secs(60),
            Arc::clone(&metrics),
        );
        let requests: Vec<ProfileRequest> = (0..QUEUE_LEN + 7)
            .map(|i| ProfileRequest {
                external_id: "178".into(),
                kind: ChannelKind::Instagram,
                contact: format!("61{i}"),
            })
            .collect();
        profiles.request_soon(requests);
        assert_eq!(profiles.dropped(), 7);
        assert!(
            metrics
                .render()
                .lines()
                .any(|l| l == "metabridge_contact_profile_requests_dropped_total 7"),
            "{}",
            metrics.render()
        );
    }

    #[test]
    fn whatsapp_contacts_are_not_profiled() {
        let events = parsed(
            json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": "1"},
            "contacts": [{"wa_id": "5511"}],
            "messages": [{"from": "5511", "id": "wamid.1", "timestamp": "1", "type": "text", "text": {"body": "oi"}}]}}]}]}),
        );
        assert!(profile_requests(&events).is_empty());
    }

    #[test]
    fn failure_reasons_carry_codes_not_texts() {
        let e = GraphCallError::Graph {
            error: Box::new(crate::meta::graph::GraphError {
                code: 100,
                subcode: Some(33),
                message: "Ana Souza cannot be loaded".into(),
                title: None,
                details: None,
                fbtrace_id: None,
                http_status: 400,
            }),
            class: crate::meta::graph::ErrorClass::Permission,
        };
        assert_eq!(reason_of(&e), "meta_100_33");
        assert_eq!(
            reason_of(&GraphCallError::Transport("timeout".into())),
            "unreachable"
        );
    }
}
