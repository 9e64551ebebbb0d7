use super::*;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn parse(args: &[&str]) -> ServeArgs {
    let mut all = vec!["metabridge"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).expect("parse").serve
}

#[test]
fn missing_secret_outside_dev_names_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = fernet::Fernet::generate_key();
    let args = parse(&[
        // `=`: a generated key may start with `-` (url-safe base64).
        &format!("--fernet-keys={key}"),
        "--data-dir",
        dir.path().to_str().expect("utf8"),
        "--meta-verify-token",
        "x",
        "--admin-token",
        "0123456789abcdef0123",
    ]);
    let err = Config::from_args(&args).expect_err("must fail");
    assert_eq!(err.variable, "META_APP_SECRET");
}

#[test]
fn bad_fernet_key_is_a_config_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = parse(&[
        "--fernet-keys",
        "not-a-key",
        "--data-dir",
        dir.path().to_str().expect("utf8"),
    ]);
    let err = Config::from_args(&args).expect_err("must fail");
    assert_eq!(err.variable, "METABRIDGE_FERNET_KEYS");
    assert!(
        !err.to_string().contains("not-a-key"),
        "value must not be echoed"
    );
}

#[test]
fn dev_mode_generates_and_reuses_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let args = parse(&["--dev", "--data-dir", d]);
    let a = Config::from_args(&args).expect("dev config");
    let b = Config::from_args(&args).expect("dev config again");
    assert_eq!(a.admin_token, b.admin_token);
    assert_eq!(a.fernet_keys, b.fernet_keys);
    assert!(format!("{a:?}").contains("Secret(***)"));
    assert!(!format!("{a:?}").contains(a.admin_token.expose()));
}

/// The ambiguous-send policy is per channel kind; by default WhatsApp retries (Meta echoes
/// the bridge's id in statuses) and Instagram/Messenger fail (no idempotency there).
#[test]
fn ambiguous_send_policy_per_kind() {
    use AmbiguousPolicy::{Fail, Retry};
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let policies = |extra: &[&str]| {
        let mut a = vec!["--dev", "--data-dir", d];
        a.extend_from_slice(extra);
        Config::from_args(&parse(&a)).map(|c| {
            let p = c.sending.ambiguous_policy;
            (
                p.for_kind("whatsapp"),
                p.for_kind("instagram"),
                p.for_kind("messenger"),
            )
        })
    };
    assert_eq!(policies(&[]).expect("default"), (Retry, Fail, Fail));
    let set = |v: &str| policies(&["--ambiguous-send-policy", v]);
    assert_eq!(set("retry").expect("bare retry"), (Retry, Fail, Fail));
    assert_eq!(set("fail").expect("bare fail"), (Fail, Fail, Fail));
    assert_eq!(
        set("whatsapp=fail, messenger=retry").expect("pairs"),
        (Fail, Fail, Retry)
    );
    assert_eq!(
        set("fail,instagram=retry").expect("mixed"),
        (Fail, Retry, Fail)
    );
    for bad in [
        "",
        "sometimes",
        "telegram=retry",
        "whatsapp=maybe",
        "whatsapp",
    ] {
        let err = set(bad).expect_err(bad);
        assert_eq!(err.variable, "METABRIDGE_AMBIGUOUS_SEND_POLICY");
    }
    assert_eq!(AmbiguousPolicies::default().for_kind("other"), Fail);
}

#[test]
fn rotated_app_secrets_are_all_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let args = parse(&["--dev", "--data-dir", d, "--meta-app-secret", "old, new"]);
    let c = Config::from_args(&args).expect("config");
    assert_eq!(c.app_secrets, vec![Secret::new("old"), Secret::new("new")]);
}

/// The upload caps default to 2 per instance and 8 in all; zero is refused, naming the
/// variable.
#[test]
fn upload_caps_default_and_refuse_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let config = Config::from_args(&parse(&["--dev", "--data-dir", d])).expect("dev config");
    assert_eq!(
        config.uploads,
        UploadLimits {
            per_instance: 2,
            total: 8
        }
    );
    let config = Config::from_args(&parse(&[
        "--dev",
        "--data-dir",
        d,
        "--uploads-per-instance",
        "3",
        "--uploads-max",
        "20",
    ]))
    .expect("dev config");
    assert_eq!(
        config.uploads,
        UploadLimits {
            per_instance: 3,
            total: 20
        }
    );
    for (flag, var) in [
        ("--uploads-per-instance", "METABRIDGE_UPLOADS_PER_INSTANCE"),
        ("--uploads-max", "METABRIDGE_UPLOADS_MAX"),
    ] {
        let err = Config::from_args(&parse(&["--dev", "--data-dir", d, flag, "0"]))
            .expect_err("zero refused");
        assert_eq!(err.variable, var);
    }
}

#[test]
fn short_metrics_token_names_the_variable_and_a_good_one_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = fernet::Fernet::generate_key();
    let base = |token: &str| {
        parse(&[
            &format!("--fernet-keys={key}"),
            "--data-dir",
            dir.path().to_str().expect("utf8"),
            "--meta-app-secret",
            "app-secret",
            "--meta-verify-token",
            "x",
            "--admin-token",
            "0123456789abcdef0123",
            &format!("--metrics-token={token}"),
        ])
    };
    let err = Config::from_args(&base("short")).expect_err("must fail");
    assert_eq!(err.variable, "METABRIDGE_METRICS_TOKEN");
    assert!(
        !err.to_string().contains("short"),
        "value must not be echoed"
    );
    let config = Config::from_args(&base("scrape-token-0123456789")).expect("valid");
    assert_eq!(
        config.metrics_token.as_ref().map(Secret::expose),
        Some("scrape-token-0123456789")
    );
}

/// `secure_delete` is on unless asked off; anything else names the variable.
#[test]
fn sqlite_secure_delete_defaults_on_and_names_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let config = Config::from_args(&parse(&["--dev", "--data-dir", d])).expect("dev config");
    assert!(config.sqlite_secure_delete);
    let config = Config::from_args(&parse(&[
        "--dev",
        "--data-dir",
        d,
        "--sqlite-secure-delete",
        "OFF",
    ]))
    .expect("off");
    assert!(!config.sqlite_secure_delete);
    let err = Config::from_args(&parse(&[
        "--dev",
        "--data-dir",
        d,
        "--sqlite-secure-delete",
        "fast",
    ]))
    .expect_err("refused");
    assert_eq!(err.variable, "METABRIDGE_SQLITE_SECURE_DELETE");
}

#[test]
fn template_read_period_defaults_to_an_hour_and_refuses_less_than_a_minute() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let config = Config::from_args(&parse(&["--dev", "--data-dir", d])).expect("dev config");
    assert_eq!(
        config.lifecycle.template_sync_every,
        std::time::Duration::from_secs(3600)
    );
    let err = Config::from_args(&parse(&[
        "--dev",
        "--data-dir",
        d,
        "--template-sync-secs",
        "59",
    ]))
    .expect_err("under a minute refused");
    assert_eq!(err.variable, "METABRIDGE_TEMPLATE_SYNC_SECS");
}

/// The media cache is on by default with the embedded SQLite database, off with PostgreSQL,
/// writes under the data directory unless told otherwise, and each bad value names its variable.
#[test]
fn media_cache_defaults_follow_the_database_and_bad_values_name_their_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let config = Config::from_args(&parse(&["--dev", "--data-dir", d])).expect("dev config");
    assert!(config.media.enabled);
    assert_eq!(config.media.dir, dir.path().join("media"));
    assert_eq!(config.media.retention, Duration::from_secs(168 * 3600));
    assert_eq!(config.media.concurrency, 4);
    let pg = Config::from_args(&parse(&[
        "--dev",
        "--data-dir",
        d,
        "--database-url",
        "postgres://postgres@127.0.0.1:5432/test",
    ]))
    .expect("postgres config");
    assert!(!pg.media.enabled);
    let on = Config::from_args(&parse(&[
        "--dev",
        "--data-dir",
        d,
        "--database-url",
        "postgres://postgres@127.0.0.1:5432/test",
        "--media-cache",
        "ON",
        "--media-dir",
        "/srv/shared/media",
        "--media-retention-hours",
        "24",
    ]))
    .expect("postgres with the cache");
    assert!(on.media.enabled);
    assert_eq!(on.media.dir, std::path::PathBuf::from("/srv/shared/media"));
    assert_eq!(on.media.retention, Duration::from_secs(24 * 3600));
    for (flag, value, variable) in [
        ("--media-cache", "maybe", "METABRIDGE_MEDIA_CACHE"),
        (
            "--media-retention-hours",
            "0",
            "METABRIDGE_MEDIA_RETENTION_HOURS",
        ),
        (
            "--media-retention-hours",
            "721",
            "METABRIDGE_MEDIA_RETENTION_HOURS",
        ),
        ("--media-concurrency", "0", "METABRIDGE_MEDIA_CONCURRENCY"),
    ] {
        let err = Config::from_args(&parse(&["--dev", "--data-dir", d, flag, value]))
            .expect_err("refused");
        assert_eq!(err.variable, variable, "{flag} {value}");
    }
}

/// P12: outside dev mode the Graph API and the public URL must be https; dev mode allows http
/// (the simulator, a local demo).
#[test]
fn p12_plain_http_graph_and_public_urls_are_refused_outside_dev() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let key = fernet::Fernet::generate_key();
    let fernet = format!("--fernet-keys={key}");
    let base = [
        fernet.as_str(),
        "--data-dir",
        d,
        "--meta-app-secret",
        "an-app-secret",
        "--meta-verify-token",
        "a-verify-token",
        "--admin-token",
        "0123456789abcdef0123",
    ];
    let with = |extra: &[&str]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        Config::from_args(&parse(&all))
    };
    assert!(with(&[]).is_ok());
    let err = with(&["--meta-graph-url", "http://graph.example"]).expect_err("http Graph");
    assert_eq!(err.variable, "META_GRAPH_URL");
    let err = with(&["--public-url", "http://bridge.example"]).expect_err("http public URL");
    assert_eq!(err.variable, "METABRIDGE_PUBLIC_URL");
    let mut dev = vec!["--dev", "--data-dir", d];
    dev.extend_from_slice(&["--meta-graph-url", "http://127.0.0.1:9"]);
    assert!(Config::from_args(&parse(&dev)).is_ok());
}
