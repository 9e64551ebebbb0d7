//! Wiring: open the store, start the writer and workers, bind the listener, serve until a
//! shutdown signal, then stop in order: stop accepting, finish in-flight requests and
//! commits, stop workers, close the database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use poem::listener::{Acceptor, AcceptorExt, Listener, TcpListener};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::config::{Backend, Config};
use crate::crypto::vault::Vault;
use crate::http::{self, AppState};
use crate::meta::graph::GraphClient;
use crate::metrics::Metrics;
use crate::shutdown::CancellationToken;
use crate::store::writer::Writer;
use crate::store::{Store, StoreOptions};
use crate::workers::sender::Senders;
use crate::workers::{delivery::Dispatcher, maintenance};

/// A built application, bound to its address, not yet serving.
pub struct Application {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    acceptor: poem::listener::BoxAcceptor,
    dispatcher: Arc<Dispatcher>,
    writer_task: tokio::task::JoinHandle<()>,
    writer_stop: CancellationToken,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        crate::crypto::install_tls_provider();
        let acceptor = TcpListener::bind(config.listen)
            .into_acceptor()
            .await
            .map_err(|e| {
                anyhow::anyhow!("METABRIDGE_LISTEN: cannot bind {}: {e}", config.listen)
            })?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| anyhow::anyhow!("listener has no socket address"))?;
        // Tests and embedded uses leave the public URL empty: it is the bound address.
        if config.public_url.is_empty() {
            config.public_url = format!("http://{addr}");
        }
        if config.connect.privacy_url.is_empty() {
            config.connect.privacy_url = format!("{}/privacy", config.public_url);
        }
        let vault = Arc::new(
            Vault::new(&config.fernet_keys)
                .map_err(|p| anyhow::anyhow!("METABRIDGE_FERNET_KEYS: {p}"))?,
        );
        let store = Store::open(
            &config.database_url,
            StoreOptions {
                sqlite_synchronous_full: config.sqlite_synchronous_full,
                sqlite_secure_delete: config.sqlite_secure_delete,
                max_connections: if config.backend == Backend::Sqlite {
                    6
                } else {
                    16
                },
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("DATABASE_URL: cannot open the database: {e}"))?;
        let metrics = Arc::new(Metrics::new());
        let wakeup = Arc::new(Notify::new());
        let horizon_ms = i64::try_from(config.delivery_horizon.as_millis())?;
        let writer_stop = CancellationToken::new();
        let (writer, writer_task) = Writer::spawn(
            store.clone(),
            Arc::clone(&metrics),
            Arc::clone(&wakeup),
            horizon_ms,
            config.connect.app_id.clone(),
            config
                .media
                .enabled
                .then(|| i64::try_from(config.media.retention.as_millis()).unwrap_or(i64::MAX)),
            writer_stop.clone(),
        )
        .map_err(|e| anyhow::anyhow!("cannot start the group-commit writer: {e}"))?;
        // Keyed by the secret's ciphertext: a rotated secret is a new entry, used from the
        // first event claimed after the rotation (the claim reads the ciphertext).
        let secrets: Cache<String, Arc<String>> = Cache::builder()
            .max_capacity(10_000)
            .time_to_live(Duration::from_secs(60))
            .build();
        let bridge_key = match &config.jwt_signing_key {
            Some(pem) => Some(Arc::new(
                crate::crypto::jwt::BridgeKey::from_pkcs8_pem(pem.expose()).map_err(|_| {
                    anyhow::anyhow!("METABRIDGE_JWT_SIGNING_KEY_FILE: not an Ed25519 PKCS#8 key")
                })?,
            )),
            None => None,
        };
        let profile_cache = crate::contacts::ProfileCache::new(config.contact_profile_ttl);
        let dispatcher = Dispatcher::new(
            &config,
            store.clone(),
            writer.clone(),
            Arc::clone(&vault),
            Arc::clone(&metrics),
            Arc::clone(&wakeup),
            secrets,
            bridge_key.clone(),
            profile_cache.clone(),
        )?;
        let shutdown = CancellationToken::new();
        let graph = GraphClient::try_new(
            &config.graph.base_url,
            &config.graph.version,
            config.graph.timeout,
        )
        .map_err(|e| anyhow::anyhow!("META_GRAPH_URL / META_GRAPH_VERSION: {e}"))?;
        // Instagram Login channels hold Instagram User tokens, which only graph.instagram.com
        // accepts (meta::login).
        let ig_graph = GraphClient::try_new(
            &config.connect.instagram_graph_url,
            &config.graph.version,
            config.graph.timeout,
        )
        .map_err(|e| anyhow::anyhow!("INSTAGRAM_GRAPH_URL / META_GRAPH_VERSION: {e}"))?;
        backfill_instagram_login(&store, &vault).await?;
        let channels = crate::store::cache::ChannelCache::new(
            store.clone(),
            Arc::clone(&vault),
            config.token_cache_ttl,
        );
        let profiles = crate::contacts::Profiles::new(
            store.clone(),
            channels.clone(),
            graph.clone(),
            ig_graph.clone(),
            profile_cache,
            config.contact_profile_ttl,
            Arc::clone(&metrics),
        );
        let media = crate::media::MediaCache::new(
            config.media.clone(),
            store.clone(),
            channels.clone(),
            graph.clone(),
            Arc::clone(&metrics),
        );
        let handover = crate::handover::Handover::new(
            store.clone(),
            channels.clone(),
            graph.clone(),
            config.connect.app_id.clone(),
        );
        let senders = Senders::new(
            store.clone(),
            writer.clone(),
            channels.clone(),
            graph.clone(),
            ig_graph,
            config.sending.clone(),
            Arc::clone(&metrics),
            shutdown.clone(),
            config.run_workers,
        );
        let oauth = oauth_client(&config)?;
        let horizon = i64::try_from(config.delivery_horizon.as_millis())?;
        let templates =
            crate::templates::Templates::new(store.clone(), oauth.clone(), Arc::clone(&vault));
        // Leads can be replayed only while the idempotency log still tells them apart.
        let dedup_reach = match config.stale_item_age {
            Some(age) => age.min(config.idempotency_retention),
            None => config.idempotency_retention,
        };
        let leads = crate::leads::Leads::new(
            store.clone(),
            writer.clone(),
            oauth.clone(),
            Arc::clone(&vault),
            dedup_reach,
            horizon,
        );
        let doctor = crate::doctor::Doctor::new(
            store.clone(),
            Arc::clone(&vault),
            oauth.clone(),
            config.connect.app_id.is_some() && !config.app_secrets.is_empty(),
            Some(config.public_url.clone()).filter(|u| !u.is_empty()),
        );
        let connector = crate::connect::flow::Connector {
            store: store.clone(),
            vault: Arc::clone(&vault),
            oauth,
            cfg: config.connect.clone(),
            public_url: config.public_url.clone(),
            horizon_ms: horizon,
            register_retry_ms: 3_600_000,
        };
        let state_signer = crate::connect::StateSigner::derive(
            config
                .fernet_keys
                .first()
                .map(|k| k.expose())
                .unwrap_or_default(),
        );
        let config_limits = (config.api_limit, config.admin_limit);
        let upload_limits = config.uploads;
        let state = Arc::new(AppState {
            config,
            store,
            writer,
            vault,
            metrics,
            verification_keys: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
            unknown_instances: Cache::builder()
                .max_capacity(crate::http::api::UNKNOWN_INSTANCES_REMEMBERED)
                .time_to_live(crate::http::api::UNKNOWN_INSTANCE_TTL)
                .build(),
            delivery_wakeup: wakeup,
            senders,
            channels,
            graph,
            bridge_key,
            pages: http::connect::Pages::new(),
            console: http::console::Console::new(),
            state_signer,
            connector,
            limits: http::ratelimit::ApiLimits::new(config_limits.0, config_limits.1),
            uploads: http::ratelimit::UploadSlots::new(upload_limits),
            templates,
            leads,
            profiles,
            handover,
            doctor,
            media,
        });
        Ok(Self {
            addr,
            state,
            acceptor: acceptor.boxed(),
            dispatcher,
            writer_task,
            writer_stop,
            shutdown,
        })
    }

    /// The delivery dispatcher, to step it with [`Dispatcher::deliver_due`] when the workers are
    /// off (`run_workers = false`).
    pub fn dispatcher(&self) -> Arc<Dispatcher> {
        Arc::clone(&self.dispatcher)
    }

    /// The signal that stops this application (tests call `cancel()` on a clone).
    pub fn shutdown_handle(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            addr,
            state,
            acceptor,
            dispatcher,
            writer_task,
            writer_stop,
            shutdown,
        } = self;
        let cfg = &state.config;
        let mut workers = tokio::task::JoinSet::new();
        if cfg.run_workers {
            workers.spawn(Arc::clone(&dispatcher).run(shutdown.clone()));
            workers.spawn(maintenance::run_retention(
                state.store.clone(),
                cfg.idempotency_retention,
                cfg.content_retention,
                cfg.retention_interval,
                shutdown.clone(),
            ));
            let lifecycle = crate::workers::lifecycle::Lifecycle {
                store: state.store.clone(),
                vault: Arc::clone(&state.vault),
                oauth: state.connector.oauth.clone(),
                cfg: cfg.lifecycle.clone(),
                senders: state.senders.clone(),
                horizon_ms: state.horizon_ms(),
                app_id: cfg.connect.app_id.clone(),
                delivery_wakeup: Arc::clone(&state.delivery_wakeup),
                lead_wakeup: state.writer.lead_wakeup(),
                lead_cache: crate::workers::lifecycle::LeadCache::new(),
                owner: crate::ids::new_id("lc_"),
                templates: state.templates.clone(),
                leads: state.leads.clone(),
            };
            workers.spawn(lifecycle.run(shutdown.clone()));
            let media = state
                .media
                .spawn(state.writer.media_wakeup(), shutdown.clone());
            workers.spawn(async move {
                let _ = media.await;
            });
            let senders = state.senders.spawn();
            workers.spawn(async move {
                let _ = senders.await;
            });
        }
        // Contact profiles are read for the webhooks this replica takes in, workers or not.
        let profile_reader = state.profiles.spawn(shutdown.clone());
        workers.spawn(async move {
            let _ = profile_reader.await;
        });
        if cfg.backend == Backend::Postgres {
            workers.spawn(run_db_listener(Arc::clone(&state), shutdown.clone()));
        }
        if cfg.backend == Backend::Postgres && cfg.run_workers && cfg.pg_vacuum_every > 0 {
            workers.spawn(maintenance::run_vacuum(
                state.store.clone(),
                state.writer.clone(),
                cfg.pg_vacuum_every,
                shutdown.clone(),
            ));
        }
        if cfg.backend == Backend::Sqlite {
            workers.spawn(maintenance::run_checkpoints(
                state.store.clone(),
                shutdown.clone(),
            ));
        }
        workers.spawn(maintenance::run_history(
            state.store.clone(),
            Arc::clone(&state.metrics),
            cfg.console.history_every,
            cfg.console.idle_timeout,
            shutdown.clone(),
        ));
        workers.spawn(maintenance::run_gauges(
            state.store.clone(),
            Arc::clone(&state.metrics),
            shutdown.clone(),
        ));
        // The per-instance rate limiters forget idle instances (bounded memory).
        let pruned = Arc::clone(&state);
        let stop = shutdown.clone();
        workers.spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => pruned.limits.prune(),
                    _ = stop.cancelled() => return,
                }
            }
        });
        drop(dispatcher);
        info!(%addr, backend = ?cfg.backend, "metabridge listening");
        let app = http::app(Arc::clone(&state));
        http::server::serve(
            acceptor,
            app,
            cfg.http_timeouts,
            shutdown.clone(),
            Duration::from_secs(20),
        )
        .await?;
        info!("HTTP server stopped; stopping workers");
        shutdown.cancel();
        while workers.join_next().await.is_some() {}
        let store = state.store.clone();
        drop(state);
        // Server and workers are stopped: the writer commits what is queued and ends.
        writer_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(20), writer_task).await;
        store.close().await;
        info!("metabridge stopped");
        Ok(())
    }
}

/// PostgreSQL: what other replicas' commits announce, on one `LISTEN` connection: cache
/// invalidations ([`crate::store::INVALIDATION_CHANNEL`]), applied to this process's caches,
/// and settled messages ([`crate::store::SETTLED_CHANNEL`]), handed to the sends waiting for
/// them. Whenever the feed was interrupted (connection lost, database restarted) everything
/// cached is dropped and every waiting send reads its message again, since notifications sent
/// meanwhile are lost; the caches' short TTLs and the waits' safety re-read bound the harm in
/// any case.
async fn run_db_listener(state: Arc<AppState>, shutdown: CancellationToken) {
    use sqlx::postgres::PgListener;
    let mut listener: Option<PgListener> = None;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let Some(l) = listener.as_mut() else {
            let connected = async {
                let mut l = PgListener::connect(&state.config.database_url).await?;
                l.listen_all([
                    crate::store::INVALIDATION_CHANNEL,
                    crate::store::SETTLED_CHANNEL,
                ])
                .await?;
                Ok::<_, sqlx::Error>(l)
            };
            tokio::select! {
                r = connected => match r {
                    Ok(l) => {
                        listener = Some(l);
                        state.forget_all_cached();
                        state.store.settled_recheck();
                    }
                    Err(e) => {
                        warn!(error = %e, "cache invalidation feed: cannot listen; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                            _ = shutdown.cancelled() => return,
                        }
                    }
                },
                _ = shutdown.cancelled() => return,
            }
            continue;
        };
        tokio::select! {
            r = l.try_recv() => match r {
                Ok(Some(n)) if n.channel() == crate::store::SETTLED_CHANNEL => {
                    state.store.settled_elsewhere(n.payload());
                }
                Ok(Some(n)) => {
                    if let Some(what) = crate::store::Invalidation::decode(n.payload()) {
                        state.apply_invalidation(&what).await;
                    }
                }
                Ok(None) => {
                    // Reconnects on the next call; what was sent meanwhile is lost.
                    warn!("replica notification feed interrupted; dropping cached rows");
                    state.forget_all_cached();
                    state.store.settled_recheck();
                }
                Err(e) => {
                    warn!(error = %e, "replica notification feed failed; reconnecting");
                    state.forget_all_cached();
                    state.store.settled_recheck();
                    listener = None;
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
            },
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    info!("shutdown signal received");
}

/// Records the login of Instagram channels registered by hand before channels had a `login`
/// (migration 20261202100001 fills in those the connect flows created). The token decides, as
/// for a new channel: an Instagram User token (`IG…`) is Instagram Login (graph.instagram.com),
/// any other token is a Page token (graph.facebook.com — the host every send used before, so
/// what worked keeps working). METABRIDGE_INSTAGRAM_FLOW is not used: it says how *new*
/// accounts connect, not how an existing token was issued. Rows without a readable token are
/// left unset (their login follows their token once they have one); conditional updates make
/// concurrent replicas harmless.
async fn backfill_instagram_login(store: &Store, vault: &Vault) -> anyhow::Result<()> {
    for (id, token_enc) in store.instagram_channels_without_login().await? {
        let Some(token) = token_enc.as_deref().and_then(|enc| vault.decrypt(enc).ok()) else {
            continue;
        };
        let login = crate::meta::login::InstagramLogin::of_token(&token);
        if store
            .set_instagram_login_if_unset(&id, login.as_str())
            .await?
        {
            tracing::info!(channel = %id, login = login.as_str(), "recorded the login of an Instagram channel");
        }
    }
    Ok(())
}

/// The client of Meta's onboarding and token-lifecycle calls, from the configuration (shared by
/// the server and `metabridge doctor`).
pub fn oauth_client(config: &Config) -> anyhow::Result<crate::meta::oauth::OAuthClient> {
    crate::meta::oauth::OAuthClient::new(
        crate::meta::oauth::OAuthEndpoints {
            graph_url: config.graph.base_url.clone(),
            graph_version: config.graph.version.clone(),
            ig_api_url: config.connect.instagram_api_url.clone(),
            ig_graph_url: config.connect.instagram_graph_url.clone(),
        },
        crate::meta::oauth::AppCredentials {
            app_id: config.connect.app_id.clone().unwrap_or_default(),
            app_secret: config
                .app_secrets
                .first()
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
        },
        config.connect.instagram_app_secret.as_ref().map(|secret| {
            crate::meta::oauth::AppCredentials {
                app_id: config
                    .connect
                    .instagram_app_id
                    .clone()
                    .or_else(|| config.connect.app_id.clone())
                    .unwrap_or_default(),
                app_secret: secret.expose().to_string(),
            }
        }),
        config.graph.timeout,
    )
    .map_err(|e| anyhow::anyhow!("Meta OAuth endpoints: {e}"))
}
