//! Validation: options in, one [`Config`] out, each problem named by its variable.

use super::*;

impl StoreArgs {
    /// The database URL and the Fernet keys, for operator commands (dev secrets included).
    pub fn resolve(&self) -> Result<(String, Backend, Vec<Secret>), ConfigError> {
        let backend = Backend::from_url(&self.database_url)
            .ok_or_else(|| cfg_err("DATABASE_URL", "must start with sqlite:// or postgres://"))?;
        let mut dev = load_dev_secrets(&self.data_dir);
        let mut generated = false;
        let keys = resolve_secret(
            self.fernet_keys.as_deref(),
            "METABRIDGE_FERNET_KEYS",
            self.dev,
            &mut dev.fernet_keys,
            fernet::Fernet::generate_key,
            &mut generated,
        )?;
        if generated {
            let path = save_dev_secrets(&self.data_dir, &dev)?;
            eprintln!("dev mode: generated a Fernet key into {}", path.display());
        }
        let keys = split_list(&keys);
        if let Some(problem) = fernet_keys_problem(&keys) {
            return Err(cfg_err("METABRIDGE_FERNET_KEYS", problem));
        }
        Ok((self.database_url.clone(), backend, keys))
    }
}

impl Config {
    /// Validates the server's options. In dev mode, missing secrets are generated and stored
    /// in `<data dir>/dev-secrets.json` (the path is printed, never the values).
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let dev = args.store.dev;
        let (database_url, backend, fernet_keys) = args.store.resolve()?;
        let mut stored = load_dev_secrets(&args.store.data_dir);
        let mut generated = false;
        let app_secret = resolve_secret(
            args.meta_app_secret.as_deref(),
            "META_APP_SECRET",
            dev,
            &mut stored.meta_app_secret,
            || random_token(16),
            &mut generated,
        )?;
        let verify_token = resolve_secret(
            args.meta_verify_token.as_deref(),
            "META_VERIFY_TOKEN",
            dev,
            &mut stored.meta_verify_token,
            || random_token(12),
            &mut generated,
        )?;
        let admin_token = resolve_secret(
            args.admin_token.as_deref(),
            "METABRIDGE_ADMIN_TOKEN",
            dev,
            &mut stored.admin_token,
            || random_token(24),
            &mut generated,
        )?;
        if generated {
            let path = save_dev_secrets(&args.store.data_dir, &stored)?;
            eprintln!(
                "dev mode: generated missing secrets into {} (META_APP_SECRET, META_VERIFY_TOKEN, METABRIDGE_ADMIN_TOKEN)",
                path.display()
            );
        }
        let app_secrets = split_list(&app_secret);
        if app_secrets.is_empty() {
            return Err(cfg_err("META_APP_SECRET", "holds no secret"));
        }
        if admin_token.len() < 16 {
            return Err(cfg_err(
                "METABRIDGE_ADMIN_TOKEN",
                "must be at least 16 characters long",
            ));
        }
        let metrics_token = args.metrics_token.clone().filter(|t| !t.is_empty());
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(cfg_err(
                "METABRIDGE_METRICS_TOKEN",
                "must be at least 16 characters long",
            ));
        }
        let listen: SocketAddr = args.listen.parse().map_err(|_| {
            cfg_err(
                "METABRIDGE_LISTEN",
                "must be an address like 127.0.0.1:8080",
            )
        })?;
        let public_url = args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"));
        let parsed = url::Url::parse(&public_url)
            .map_err(|_| cfg_err("METABRIDGE_PUBLIC_URL", "must be an absolute URL"))?;
        if parsed.scheme() != "https" && !dev && args.public_url.is_some() {
            return Err(cfg_err(
                "METABRIDGE_PUBLIC_URL",
                "must use https outside dev mode",
            ));
        }
        if args.max_body_bytes < 1024 {
            return Err(cfg_err(
                "METABRIDGE_MAX_BODY_BYTES",
                "must be at least 1024",
            ));
        }
        for (var, ms) in [
            ("METABRIDGE_HEADER_TIMEOUT_MS", args.header_timeout_ms),
            ("METABRIDGE_BODY_TIMEOUT_MS", args.body_timeout_ms),
            ("METABRIDGE_IDLE_TIMEOUT_MS", args.idle_timeout_ms),
        ] {
            if !(100..=3_600_000).contains(&ms) {
                return Err(cfg_err(var, "must be between 100 and 3600000"));
            }
        }
        let json_logs = match args.log_format.as_str() {
            "json" => true,
            "text" => false,
            _ => return Err(cfg_err("METABRIDGE_LOG_FORMAT", "must be `text` or `json`")),
        };
        let sqlite_synchronous_full = match args.sqlite_synchronous.to_ascii_lowercase().as_str() {
            "full" => true,
            "normal" => false,
            _ => {
                return Err(cfg_err(
                    "METABRIDGE_SQLITE_SYNCHRONOUS",
                    "must be `full` or `normal`",
                ));
            }
        };
        let sqlite_secure_delete = match args.sqlite_secure_delete.to_ascii_lowercase().as_str() {
            "on" => true,
            "off" => false,
            _ => {
                return Err(cfg_err(
                    "METABRIDGE_SQLITE_SECURE_DELETE",
                    "must be `on` or `off`",
                ));
            }
        };
        if args.idempotency_retention_days == 0 {
            return Err(cfg_err(
                "METABRIDGE_IDEMPOTENCY_RETENTION_DAYS",
                "must be at least 1",
            ));
        }
        if args.delivery_horizon_hours == 0 {
            return Err(cfg_err(
                "METABRIDGE_DELIVERY_HORIZON_HOURS",
                "must be at least 1",
            ));
        }
        if args.delivery_concurrency == 0 || args.delivery_per_instance == 0 {
            return Err(cfg_err(
                "METABRIDGE_DELIVERY_CONCURRENCY",
                "delivery concurrency values must be at least 1",
            ));
        }
        for (var, n) in [
            ("METABRIDGE_UPLOADS_PER_INSTANCE", args.uploads_per_instance),
            ("METABRIDGE_UPLOADS_MAX", args.uploads_max),
        ] {
            if !(1..=1000).contains(&n) {
                return Err(cfg_err(var, "must be between 1 and 1000"));
            }
        }
        if args.delivery_timeout_ms < 100 {
            return Err(cfg_err(
                "METABRIDGE_DELIVERY_TIMEOUT_MS",
                "must be at least 100",
            ));
        }
        let graph_url = url::Url::parse(&args.meta_graph_url)
            .map_err(|_| cfg_err("META_GRAPH_URL", "must be an absolute URL"))?;
        if graph_url.scheme() != "https" && !dev {
            return Err(cfg_err("META_GRAPH_URL", "must use https outside dev mode"));
        }
        let ambiguous_policy = AmbiguousPolicies::parse(&args.ambiguous_send_policy)
            .map_err(|what| cfg_err("METABRIDGE_AMBIGUOUS_SEND_POLICY", what))?;
        for (var, rate) in [
            ("METABRIDGE_WHATSAPP_RATE", args.whatsapp_rate),
            ("METABRIDGE_MESSENGER_RATE", args.messenger_rate),
        ] {
            if rate == 0 || rate > MAX_CHANNEL_RATE {
                return Err(cfg_err(var, "must be between 1 and 1000"));
            }
        }
        if args.graph_timeout_ms < 100 {
            return Err(cfg_err(
                "METABRIDGE_GRAPH_TIMEOUT_MS",
                "must be at least 100",
            ));
        }
        let mut urls = Vec::new();
        for (var, value) in [
            ("META_DIALOG_URL", &args.meta_dialog_url),
            ("META_SDK_URL", &args.meta_sdk_url),
            ("INSTAGRAM_DIALOG_URL", &args.instagram_dialog_url),
            ("INSTAGRAM_API_URL", &args.instagram_api_url),
            ("INSTAGRAM_GRAPH_URL", &args.instagram_graph_url),
        ] {
            let u = url::Url::parse(value).map_err(|_| cfg_err(var, "must be an absolute URL"))?;
            if u.scheme() != "https" && !dev {
                return Err(cfg_err(var, "must use https outside dev mode"));
            }
            urls.push(value.trim_end_matches('/').to_string());
        }
        let instagram_flow = match args.instagram_flow.as_str() {
            "instagram_login" => InstagramFlow::InstagramLogin,
            "facebook_login" => InstagramFlow::FacebookLogin,
            _ => {
                return Err(cfg_err(
                    "METABRIDGE_INSTAGRAM_FLOW",
                    "must be `instagram_login` or `facebook_login`",
                ));
            }
        };
        let app_id = args
            .meta_app_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if let Some(id) = app_id
            && !id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(cfg_err("META_APP_ID", "must be Meta's numeric app id"));
        }
        if !(60..=7 * 86_400).contains(&args.connect_ttl_secs) {
            return Err(cfg_err(
                "METABRIDGE_CONNECT_TTL_SECS",
                "must be between 60 and 604800",
            ));
        }
        if args.token_check_secs < 60 || args.subscription_check_secs < 60 {
            return Err(cfg_err(
                "METABRIDGE_TOKEN_CHECK_SECS",
                "token and subscription check periods must be at least 60 seconds",
            ));
        }
        if args.lead_gap_minutes > 0 && args.lead_gap_minutes < 10 {
            return Err(cfg_err(
                "METABRIDGE_LEAD_GAP_MINUTES",
                "the lead gap must be 0 (off) or at least 10 minutes",
            ));
        }
        let media_on = match args.media_cache.as_deref().map(str::to_ascii_lowercase) {
            None => backend == Backend::Sqlite,
            Some(v) if v == "on" => true,
            Some(v) if v == "off" => false,
            Some(_) => return Err(cfg_err("METABRIDGE_MEDIA_CACHE", "must be `on` or `off`")),
        };
        if !(1..=720).contains(&args.media_retention_hours) {
            return Err(cfg_err(
                "METABRIDGE_MEDIA_RETENTION_HOURS",
                "must be between 1 and 720 hours",
            ));
        }
        if !(1..=32).contains(&args.media_concurrency) {
            return Err(cfg_err(
                "METABRIDGE_MEDIA_CONCURRENCY",
                "must be between 1 and 32",
            ));
        }
        let media = MediaConfig {
            enabled: media_on,
            dir: args
                .media_dir
                .clone()
                .unwrap_or_else(|| args.store.data_dir.join("media")),
            retention: Duration::from_secs(args.media_retention_hours * 3600),
            concurrency: args.media_concurrency,
        };
        if args.contact_profile_ttl_secs < 60 {
            return Err(cfg_err(
                "METABRIDGE_CONTACT_PROFILE_TTL_SECS",
                "the contact profile TTL must be at least 60 seconds",
            ));
        }
        if args.template_sync_secs < 60 {
            return Err(cfg_err(
                "METABRIDGE_TEMPLATE_SYNC_SECS",
                "the template read period must be at least 60 seconds",
            ));
        }
        let privacy_url = match &args.privacy_url {
            Some(u) => {
                url::Url::parse(u)
                    .map_err(|_| cfg_err("METABRIDGE_PRIVACY_URL", "must be an absolute URL"))?;
                u.clone()
            }
            None => format!("{}/privacy", public_url.trim_end_matches('/')),
        };
        let connect = ConnectConfig {
            app_id: app_id.map(str::to_string),
            embedded_signup_config_id: args.meta_embedded_signup_config_id.clone(),
            business_app_onboarding: args.meta_es_business_app_onboarding,
            login_config_id: args.meta_login_config_id.clone(),
            dialog_url: urls[0].clone(),
            sdk_url: urls[1].clone(),
            instagram_app_id: args.instagram_app_id.clone(),
            instagram_app_secret: args.instagram_app_secret.clone().map(Secret::new),
            instagram_flow,
            instagram_dialog_url: urls[2].clone(),
            instagram_api_url: urls[3].clone(),
            instagram_graph_url: urls[4].clone(),
            session_ttl: Duration::from_secs(args.connect_ttl_secs),
            privacy_url,
        };
        let lifecycle = LifecycleConfig {
            token_check_every: Duration::from_secs(args.token_check_secs),
            subscription_check_every: Duration::from_secs(args.subscription_check_secs),
            template_sync_every: Duration::from_secs(args.template_sync_secs),
            refresh_before: Duration::from_secs(args.token_refresh_days * DAY),
            warn_before: Duration::from_secs(args.token_expiry_warning_days * DAY),
            tick: Duration::from_secs(30),
            lead_backoff: Duration::from_secs(5),
            session_retention: Duration::from_secs(
                u64::from(args.idempotency_retention_days) * DAY,
            ),
            lead_gap: (args.lead_gap_minutes > 0)
                .then(|| Duration::from_secs(args.lead_gap_minutes * 60)),
        };
        let jwt_signing_key = match &args.jwt_signing_key_file {
            None => None,
            Some(path) => {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    cfg_err(
                        "METABRIDGE_JWT_SIGNING_KEY_FILE",
                        format!("cannot read the key file: {}", e.kind()),
                    )
                })?;
                // Parsed (and refused naming the variable) where the key is loaded, in `app`.
                Some(Secret::new(pem))
            }
        };
        Ok(Config {
            listen,
            database_url,
            backend,
            app_secrets,
            signed_request_max_age: Duration::from_secs(args.signed_request_max_age_secs.max(60)),
            verify_token: Secret::new(verify_token),
            admin_token: Secret::new(admin_token),
            metrics_token: metrics_token.map(Secret::new),
            public_url: public_url.trim_end_matches('/').to_string(),
            fernet_keys,
            dev,
            max_body_bytes: args.max_body_bytes,
            http_timeouts: HttpTimeouts {
                header: Duration::from_millis(args.header_timeout_ms),
                body: Duration::from_millis(args.body_timeout_ms),
                idle: Duration::from_millis(args.idle_timeout_ms),
            },
            json_logs,
            idempotency_retention: Duration::from_secs(
                u64::from(args.idempotency_retention_days) * DAY,
            ),
            stale_item_age: Some(stale_item_age(Duration::from_secs(
                u64::from(args.idempotency_retention_days) * DAY,
            ))),
            content_retention: Duration::from_secs(u64::from(args.content_retention_days) * DAY),
            delivery_horizon: Duration::from_secs(u64::from(args.delivery_horizon_hours) * 3600),
            delivery_backoff: Duration::from_millis(args.delivery_backoff_ms.max(10)),
            delivery_timeout: Duration::from_millis(args.delivery_timeout_ms),
            delivery_concurrency: args.delivery_concurrency,
            delivery_per_instance: args.delivery_per_instance,
            pg_vacuum_every: args.pg_vacuum_every,
            jwt_audience: args.jwt_audience.clone(),
            jwt_max_lifetime: Duration::from_secs(args.jwt_max_lifetime_secs.max(1)),
            sqlite_synchronous_full,
            sqlite_secure_delete,
            allow_private_callbacks: args.allow_private_callbacks || dev,
            callback_dns_overrides: Vec::new(),
            run_workers: args.workers,
            retention_interval: Duration::from_secs(60),
            dispatch_poll: Duration::from_millis(500),
            graph: GraphConfig {
                base_url: args.meta_graph_url.trim_end_matches('/').to_string(),
                version: args.meta_graph_version.clone(),
                timeout: Duration::from_millis(args.graph_timeout_ms),
            },
            sending: SendConfig {
                whatsapp_rate: args.whatsapp_rate,
                messenger_rate: args.messenger_rate,
                reconcile_window: Duration::from_secs(args.send_reconcile_secs.max(1)),
                ambiguous_policy,
                max_attempts: args.send_max_attempts.max(1),
                backoff: Duration::from_millis(args.send_backoff_ms.max(10)),
                idle_poll: Duration::from_secs(1),
                pause: Duration::from_secs(args.send_pause_secs.clamp(1, 86_400)),
            },
            token_cache_ttl: Duration::from_secs(args.token_cache_secs.clamp(1, 3600)),
            contact_profile_ttl: Duration::from_secs(args.contact_profile_ttl_secs),
            media,
            jwt_signing_key,
            connect,
            lifecycle,
            api_limit: Limit {
                per_second: args.api_rate,
                burst: args.api_burst,
            },
            admin_limit: Limit {
                per_second: args.admin_rate,
                burst: args.admin_burst,
            },
            uploads: UploadLimits {
                per_instance: args.uploads_per_instance,
                total: args.uploads_max,
            },
            console: ConsoleConfig {
                enabled: args.console,
                idle_timeout: Duration::from_secs(args.console_idle_minutes.clamp(1, 1440) * 60),
                history_every: Duration::from_secs(5),
            },
        })
    }

    /// A configuration for tests and the embedded demo: everything explicit, nothing read
    /// from the environment.
    pub fn for_tests(database_url: &str, app_secret: &str, fernet_key: &str) -> Self {
        Config {
            listen: "127.0.0.1:0".parse().expect("static address"),
            database_url: database_url.to_string(),
            backend: Backend::from_url(database_url).expect("test database url"),
            app_secrets: vec![Secret::new(app_secret)],
            signed_request_max_age: Duration::from_secs(86_400),
            verify_token: Secret::new("test-verify-token"),
            admin_token: Secret::new("test-admin-token-0123456789"),
            metrics_token: None,
            // Filled in with the bound address by `Application::build`.
            public_url: String::new(),
            fernet_keys: vec![Secret::new(fernet_key)],
            dev: true,
            max_body_bytes: 4 * 1024 * 1024,
            http_timeouts: HttpTimeouts {
                header: Duration::from_secs(10),
                body: Duration::from_secs(30),
                idle: Duration::from_secs(60),
            },
            json_logs: false,
            idempotency_retention: Duration::from_secs(30 * DAY),
            stale_item_age: None,
            content_retention: Duration::from_secs(7 * DAY),
            delivery_horizon: Duration::from_secs(96 * 3600),
            delivery_backoff: Duration::from_millis(100),
            delivery_timeout: Duration::from_millis(2_000),
            delivery_concurrency: 64,
            delivery_per_instance: 16,
            pg_vacuum_every: 10_000,
            jwt_audience: "metabridge".to_string(),
            jwt_max_lifetime: Duration::from_secs(3600),
            sqlite_synchronous_full: true,
            sqlite_secure_delete: true,
            allow_private_callbacks: true,
            callback_dns_overrides: Vec::new(),
            run_workers: true,
            retention_interval: Duration::from_secs(3600),
            dispatch_poll: Duration::from_millis(200),
            graph: GraphConfig {
                base_url: "http://127.0.0.1:9".to_string(),
                version: "v27.0".to_string(),
                timeout: Duration::from_millis(2_000),
            },
            sending: SendConfig {
                whatsapp_rate: 80,
                messenger_rate: 250,
                reconcile_window: Duration::from_secs(3),
                ambiguous_policy: AmbiguousPolicies::default(),
                max_attempts: 5,
                backoff: Duration::from_millis(100),
                idle_poll: Duration::from_millis(200),
                pause: Duration::from_secs(900),
            },
            token_cache_ttl: Duration::from_secs(60),
            contact_profile_ttl: Duration::from_secs(86_400),
            media: MediaConfig {
                enabled: false,
                dir: std::env::temp_dir().join("metabridge-media-off"),
                retention: Duration::from_secs(168 * 3600),
                concurrency: 4,
            },
            jwt_signing_key: None,
            connect: ConnectConfig {
                app_id: None,
                embedded_signup_config_id: None,
                business_app_onboarding: true,
                login_config_id: None,
                dialog_url: "http://127.0.0.1:9".to_string(),
                sdk_url: "http://127.0.0.1:9/sdk.js".to_string(),
                instagram_app_id: None,
                instagram_app_secret: None,
                instagram_flow: InstagramFlow::InstagramLogin,
                instagram_dialog_url: "http://127.0.0.1:9".to_string(),
                instagram_api_url: "http://127.0.0.1:9".to_string(),
                instagram_graph_url: "http://127.0.0.1:9".to_string(),
                session_ttl: Duration::from_secs(1800),
                privacy_url: String::new(),
            },
            lifecycle: LifecycleConfig {
                token_check_every: Duration::from_secs(6 * 3600),
                subscription_check_every: Duration::from_secs(DAY),
                template_sync_every: Duration::from_secs(3600),
                refresh_before: Duration::from_secs(10 * DAY),
                warn_before: Duration::from_secs(7 * DAY),
                tick: Duration::from_millis(200),
                lead_backoff: Duration::from_millis(100),
                session_retention: Duration::from_secs(30 * DAY),
                lead_gap: None,
            },
            // Off in tests (benchmarks and fuzzers hit the API hard); a test turns them on.
            api_limit: Limit {
                per_second: 0,
                burst: 0,
            },
            admin_limit: Limit {
                per_second: 0,
                burst: 0,
            },
            uploads: UploadLimits {
                per_instance: 2,
                total: 8,
            },
            console: ConsoleConfig {
                enabled: true,
                idle_timeout: Duration::from_secs(1800),
                history_every: Duration::from_secs(1),
            },
        }
    }
}

/// How old a webhook item may be and still be delivered: the idempotency retention minus a
/// margin for the retention pass's schedule and clock skew (one day, or half the retention
/// when that is shorter).
pub fn stale_item_age(retention: Duration) -> Duration {
    retention.saturating_sub(Duration::from_secs(DAY).min(retention / 2))
}
