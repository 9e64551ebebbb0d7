//! Operator commands against the same database as the server.

use std::process::Command;

fn run(db: &str, key: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_metabridge"))
        .args(args)
        .env("DATABASE_URL", db)
        .env("METABRIDGE_FERNET_KEYS", key)
        .env_remove("METABRIDGE_DEV")
        .output()
        .expect("run metabridge");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?} printed no JSON: {e}"))
}

fn create_instance(db: &str, key: &str) -> serde_json::Value {
    run(
        db,
        key,
        &[
            "instance",
            "create",
            "--name",
            "Loja",
            "--callback-url",
            "https://dsk.example.com/cb",
            "--json",
        ],
    )
}

#[test]
fn cli_creates_instances_and_channels_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/cli.db", dir.path().display());
    let key = metabridge::crypto::vault::generate_key();
    let ins = create_instance(&db, &key);
    let id = ins["id"].as_str().expect("id");
    assert_eq!(ins["signing_secret"].as_str().map(str::len), Some(64));
    let ch = run(
        &db,
        &key,
        &[
            "channel",
            "add",
            "--instance",
            id,
            "--kind",
            "whatsapp",
            "--external-id",
            "106000000000001",
            "--waba-id",
            "102000000000001",
            "--token",
            "EAAG-cli-token",
            "--json",
        ],
    );
    assert_eq!(ch["has_token"], true);
    assert!(!ch.to_string().contains("EAAG"));
    let list = run(&db, &key, &["channel", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let list = run(&db, &key, &["instance", "list", "--json"]);
    assert_eq!(list[0]["name"], "Loja");
    assert!(list[0].get("signing_secret").is_none());
    // A bad value is a clear error naming the problem, exit code 1.
    let out = Command::new(env!("CARGO_BIN_EXE_metabridge"))
        .args([
            "channel",
            "add",
            "--instance",
            id,
            "--kind",
            "fax",
            "--external-id",
            "1",
            "--token",
            "t",
        ])
        .env("DATABASE_URL", &db)
        .env("METABRIDGE_FERNET_KEYS", &key)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kind"));
    // Without a Fernet key outside dev mode: a start-up error naming the variable.
    let out = Command::new(env!("CARGO_BIN_EXE_metabridge"))
        .args(["instance", "list"])
        .env("DATABASE_URL", &db)
        .env_remove("METABRIDGE_FERNET_KEYS")
        .env_remove("METABRIDGE_DEV")
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("METABRIDGE_FERNET_KEYS"));
}

#[test]
fn cli_keys_rotate_reencrypts_under_the_new_key_and_reports_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/cli.db", dir.path().display());
    let old = metabridge::crypto::vault::generate_key();
    let ins = create_instance(&db, &old);
    let id = ins["id"].as_str().expect("id").to_string();
    for n in 0..3 {
        run(
            &db,
            &old,
            &[
                "channel",
                "add",
                "--instance",
                &id,
                "--kind",
                "messenger",
                "--external-id",
                &format!("10500000000000{n}"),
                "--token",
                "EAAG-cli-token",
                "--json",
            ],
        );
    }
    // The new key first, the old one kept: 3 tokens and 1 instance secret re-encrypted.
    let new = metabridge::crypto::vault::generate_key();
    let both = format!("{new},{old}");
    let report = run(&db, &both, &["keys", "rotate", "--json"]);
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["counts"]["rotated"], 4, "{report}");
    assert_eq!(report["counts"]["undecryptable"], 0);
    // Again: nothing left to do.
    let report = run(&db, &both, &["keys", "rotate", "--json"]);
    assert_eq!(report["counts"]["rotated"], 0, "{report}");
    assert_eq!(report["counts"]["current"], 4, "{report}");
    // The new key alone now reads everything.
    let list = run(&db, &new, &["channel", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(3));
    // With only a key that decrypts nothing: counted, exit code 1, no value printed.
    let stranger = metabridge::crypto::vault::generate_key();
    let out = Command::new(env!("CARGO_BIN_EXE_metabridge"))
        .args(["keys", "rotate", "--json"])
        .env("DATABASE_URL", &db)
        .env("METABRIDGE_FERNET_KEYS", &stranger)
        .env_remove("METABRIDGE_DEV")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json report");
    assert_eq!(report["counts"]["undecryptable"], 4, "{stdout}");
    assert!(!stdout.contains("EAAG"));
}

/// Issue 17: `--help` prints every option with its environment variable, and the values of
/// those that carry a secret (the PostgreSQL password in `DATABASE_URL`, the app secret, the
/// admin token, the Fernet keys) must not appear.
#[test]
fn help_never_prints_secret_values() {
    let secrets = [
        (
            "DATABASE_URL",
            "postgres://bridge:pw-9f2c41@db.internal:5432/mb",
        ),
        ("META_APP_SECRET", "app-secret-77d0a1"),
        ("META_VERIFY_TOKEN", "verify-token-31aa"),
        ("METABRIDGE_ADMIN_TOKEN", "admin-token-5b6c7d8e9f"),
        ("METABRIDGE_FERNET_KEYS", "fernet-key-value-c0ffee"),
        ("INSTAGRAM_APP_SECRET", "ig-secret-4e4e4e"),
        ("METABRIDGE_METRICS_TOKEN", "metrics-token-a1b2c3d4e5"),
    ];
    for sub in [&["serve", "--help"][..], &["demo", "--help"][..]] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_metabridge"));
        cmd.args(sub);
        for (k, v) in secrets {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run metabridge");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("DATABASE_URL"), "{sub:?} lists its variables");
        for (k, v) in secrets {
            assert!(!text.contains(v), "{sub:?} printed the value of {k}");
        }
        assert!(
            !text.contains("pw-9f2c41"),
            "{sub:?} printed the database password"
        );
    }
}

/// Issue 15: a bad value from the environment names the variable, not only the flag.
#[test]
fn a_bad_environment_value_names_its_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_metabridge"))
        .args(["serve"])
        .env("METABRIDGE_DEV", "yes")
        .output()
        .expect("run metabridge");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("METABRIDGE_DEV"), "{err}");
    assert!(err.contains("'yes'"), "{err}");
    // Typed on the command line, the flag is what the person sees.
    let out = Command::new(env!("CARGO_BIN_EXE_metabridge"))
        .args(["serve", "--dev=yes"])
        .env_remove("METABRIDGE_DEV")
        .output()
        .expect("run metabridge");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dev"));
}

/// `channel add --kind instagram --login instagram|facebook`: explicit, or from the token
/// (Instagram User tokens start with `IG`); a bad value names `login` and stores nothing.
#[test]
fn cli_channel_add_records_the_instagram_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/cli.db", dir.path().display());
    let key = metabridge::crypto::vault::generate_key();
    let ins = create_instance(&db, &key);
    let id = ins["id"].as_str().expect("id");
    let add = |external_id: &str, token: &str, login: Option<&str>| {
        let mut args = vec![
            "channel",
            "add",
            "--instance",
            id,
            "--kind",
            "instagram",
            "--external-id",
            external_id,
            "--token",
            token,
            "--json",
        ];
        if let Some(l) = login {
            args.extend(["--login", l]);
        }
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run_args = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&db, &key, &refs)
    };
    let ch = run_args(add("178410000000301", "IGAAcli-ig-user-token", None));
    assert_eq!(ch["login"], "instagram", "{ch}");
    let ch = run_args(add("178410000000302", "EAAGcli-page-token", None));
    assert_eq!(ch["login"], "facebook", "{ch}");
    let ch = run_args(add(
        "178410000000303",
        "EAAGcli-page-token-2",
        Some("facebook"),
    ));
    assert_eq!(ch["login"], "facebook", "{ch}");
    let ch = run_args(add(
        "178410000000304",
        "IGAAcli-ig-user-token-2",
        Some("instagram"),
    ));
    assert_eq!(ch["login"], "instagram", "{ch}");
    for (login, token) in [("tiktok", "IGAAx"), ("instagram", "EAAGx")] {
        let out = Command::new(env!("CARGO_BIN_EXE_metabridge"))
            .args(add("178410000000399", token, Some(login)))
            .env("DATABASE_URL", &db)
            .env("METABRIDGE_FERNET_KEYS", &key)
            .env_remove("METABRIDGE_DEV")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{login}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("login"), "{login}: {err}");
        assert!(!err.contains(token), "the token is not echoed: {err}");
    }
    let list = run(&db, &key, &["channel", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(4), "{list}");
}

/// Issue 15: an unreachable PostgreSQL is named by its address, not reported as a pool timeout.
#[test]
fn an_unreachable_postgres_says_connection_refused_to_its_address() {
    // Port 1 on loopback: nothing listens there.
    let out = Command::new(env!("CARGO_BIN_EXE_metabridge"))
        .args(["instance", "list"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/test")
        .env(
            "METABRIDGE_FERNET_KEYS",
            metabridge::crypto::vault::generate_key(),
        )
        .env_remove("METABRIDGE_DEV")
        .output()
        .expect("run metabridge");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connection refused to 127.0.0.1:1"), "{err}");
}

crate::both_backends!(
    cli_rotate_secret_with_no_grace_revokes_the_old_secret_in_the_running_service_at_once
);

/// `instance rotate-secret --grace-seconds 0` run by an operator from the binary (another
/// process than the service, as on a server) holds in the running service from its next
/// request: the old secret is refused (401), the new one accepted, and the next event is
/// signed with the new secret — although the service had both the keys and the secret cached
/// (it checks the instance's key version on every request; its signing-secret cache is keyed
/// by the ciphertext the claim reads). The same for a grace period that is later cut, and for
/// an instance deleted from the CLI (issue 17 item 3).
async fn cli_rotate_secret_with_no_grace_revokes_the_old_secret_in_the_running_service_at_once(
    db: crate::helpers::Db,
) {
    use crate::helpers::*;
    use std::time::Duration;
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("tempdir"));
    let url = fresh_database(db, &dir).await;
    let key = metabridge::crypto::vault::generate_key();
    let app = spawn_app_on(db, dir.clone(), url.clone(), key.clone(), |c| {
        c.delivery_backoff = Duration::from_millis(100);
    })
    .await;
    let t = app.tenant("Loja", None).await;
    app.channel(&t, "whatsapp", "106000000000001", Some("102000000000001"))
        .await;
    let status = |secret: &str| {
        let token = app.jwt(&Tenant {
            instance_id: t.instance_id.clone(),
            secret: secret.to_string(),
        });
        let req = app
            .http
            .get(format!("{}/v1/events", app.url))
            .bearer_auth(token);
        async move { req.send().await.expect("get").status().as_u16() }
    };
    let cli = |args: Vec<String>| {
        let (url, key) = (url.clone(), key.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run(&url, &key, &args)
            })
            .await
            .expect("cli")
        }
    };
    let rotate = |grace: u32| {
        cli(vec![
            "instance".into(),
            "rotate-secret".into(),
            t.instance_id.clone(),
            "--grace-seconds".into(),
            grace.to_string(),
            "--json".into(),
        ])
    };
    // Everything cached: the keys (two calls) and the signing secret (one delivery).
    assert_eq!(status(&t.secret).await, 200);
    assert_eq!(status(&t.secret).await, 200);
    app.deliver_sentinel().await;

    let first = rotate(0).await;
    let first = first["signing_secret"]
        .as_str()
        .expect("new secret")
        .to_string();
    assert_eq!(status(&t.secret).await, 401, "the old secret, at once");
    assert_eq!(status(&first).await, 200, "the new secret");
    app.receiver.state.add_instance(&t.instance_id, &first);
    app.deliver_sentinel().await;
    assert_eq!(
        app.receiver.state.rejected_jwt(),
        0,
        "events after the rotation are signed with the new secret"
    );

    // A grace period keeps the previous secret; a rotation without one ends it at once.
    let second = rotate(3600).await;
    let second = second["signing_secret"]
        .as_str()
        .expect("new secret")
        .to_string();
    assert_eq!(
        status(&first).await,
        200,
        "the previous secret during its grace"
    );
    assert_eq!(status(&second).await, 200);
    let third = rotate(0).await;
    let third = third["signing_secret"]
        .as_str()
        .expect("new secret")
        .to_string();
    assert_eq!(status(&first).await, 401);
    assert_eq!(status(&second).await, 401);
    assert_eq!(status(&third).await, 200);

    // Deleted from the CLI: its tokens stop at once too.
    let deleted = cli(vec![
        "instance".into(),
        "delete".into(),
        t.instance_id.clone(),
        "--json".into(),
    ])
    .await;
    assert_eq!(deleted["deleted"], t.instance_id.as_str());
    assert_eq!(status(&third).await, 401, "a deleted instance's token");
    app.stop().await;
}
