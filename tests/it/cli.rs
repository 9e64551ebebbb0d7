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

#[test]
fn cli_creates_instances_and_channels_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/cli.db", dir.path().display());
    let key = metabridge::crypto::vault::generate_key();
    let ins = run(
        &db,
        &key,
        &[
            "instance",
            "create",
            "--name",
            "Loja",
            "--callback-url",
            "https://dsk.example.com/cb",
            "--json",
        ],
    );
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
