//! The token vault: Fernet interoperability with Python's `cryptography` (both directions),
//! and key rotation over many tokens with an interruption (P01, P02).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use metabridge::config::Secret;
use metabridge::crypto::vault::{Vault, generate_key};
use metabridge::store::{Store, StoreOptions};

use crate::both_backends;
use crate::helpers::*;

both_backends!(p02_key_rotation_reencrypts_every_token_and_survives_an_interruption);

/// Runs Python with `cryptography`; in CI its absence is a failure, elsewhere a skip.
fn python(script: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr).to_string();
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
                || !err.contains("No module named")
            {
                panic!("python failed: {err}");
            }
            eprintln!("skipping: python3 has no `cryptography` ({err})");
            None
        }
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
                panic!("python3 is required in CI: {e}");
            }
            None
        }
    }
}

#[test]
fn p01_fernet_tokens_interoperate_with_python_cryptography() {
    // A key Python generates works here, and tokens go both ways.
    let Some(py_key) = python(
        "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())",
        &[],
    ) else {
        return;
    };
    let vault = Vault::new(&[Secret::new(py_key.clone())]).expect("python key accepted");
    let secret = "EAAG-token-çã-🙂-".repeat(20);
    // Python encrypts, Rust decrypts.
    let from_python = python(
        "import sys; from cryptography.fernet import Fernet; print(Fernet(sys.argv[1].encode()).encrypt(sys.argv[2].encode()).decode())",
        &[&py_key, &secret],
    )
    .expect("python encrypt");
    assert_eq!(vault.decrypt(&from_python).expect("rust decrypts"), secret);
    // Rust encrypts, Python decrypts.
    let from_rust = vault.encrypt(&secret);
    let back = python(
        "import sys; from cryptography.fernet import Fernet; print(Fernet(sys.argv[1].encode()).decrypt(sys.argv[2].encode()).decode())",
        &[&py_key, &from_rust],
    )
    .expect("python decrypt");
    assert_eq!(back, secret);
    // A key Rust generates works in Python (MultiFernet order: first encrypts).
    let rust_key = generate_key();
    let rotated = python(
        "import sys; from cryptography.fernet import Fernet, MultiFernet; \
         m = MultiFernet([Fernet(sys.argv[1].encode()), Fernet(sys.argv[2].encode())]); \
         print(m.rotate(sys.argv[3].encode()).decode())",
        &[&rust_key, &py_key, &from_rust],
    )
    .expect("python rotate");
    let new_vault = Vault::new(&[Secret::new(rust_key)]).expect("rust key");
    assert_eq!(
        new_vault
            .decrypt(&rotated)
            .expect("decrypts under the new key"),
        secret
    );
    assert!(
        vault.decrypt(&rotated).is_err(),
        "the old key alone no longer decrypts it"
    );
}

async fn p02_key_rotation_reencrypts_every_token_and_survives_an_interruption(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(db, &dir).await;
    let old_key = generate_key();
    let new_key = generate_key();
    let old = Vault::new(&[Secret::new(old_key.clone())]).expect("vault");
    let store = Store::open(&url, StoreOptions::default())
        .await
        .expect("store");
    // One instance with 1,000 channels, every token under the old key.
    let t = metabridge::instances::create_instance(
        &store,
        &old,
        metabridge::instances::NewInstance {
            name: "Loja",
            callback_url: "https://dsk.example.com/hook",
            event_types: None,
        },
        false,
        "test",
    )
    .await
    .expect("instance");
    let instance_id = t.0.id.clone();
    for i in 0..1000u32 {
        metabridge::instances::add_channel(
            &store,
            &old,
            metabridge::instances::NewChannel {
                instance_id: instance_id.as_str(),
                kind: "messenger",
                external_id: &format!("{}", 900_000_000 + i),
                waba_id: None,
                name: None,
                access_token: &format!("EAAG-token-{i}"),
                login: None,
            },
            "test",
        )
        .await
        .expect("channel");
    }
    // Rotation with [new, old]; interrupted after half the tokens.
    let both = Vault::new(&[Secret::new(new_key.clone()), Secret::new(old_key)]).expect("vault");
    let interrupted = AtomicBool::new(false);
    let stop = || interrupted.load(Ordering::SeqCst);
    let mut progress = |c: &metabridge::store::RotationCounts| {
        if c.rotated >= 500 {
            interrupted.store(true, Ordering::SeqCst);
        }
    };
    let first = metabridge::instances::rotate_keys(&store, &both, 100, &stop, &mut progress)
        .await
        .expect("rotate");
    assert_eq!(first.rotated, 500, "{first:?}");
    // The service keeps working mid-rotation: every token decrypts with the key list.
    let rows = store.list_channels(Some(&instance_id)).await.expect("list");
    for r in &rows {
        both.decrypt(r.token_enc.as_deref().expect("token"))
            .expect("decrypts");
    }
    // A re-run finishes the job and skips what is done.
    let never = || false;
    let second = metabridge::instances::rotate_keys(&store, &both, 100, &never, &mut |_| {})
        .await
        .expect("rotate again");
    assert_eq!(
        second.rotated,
        500 + 1,
        "the other 500 tokens and the instance secret: {second:?}"
    );
    assert_eq!(second.current, 500);
    assert_eq!(second.undecryptable, 0);
    // Now the new key alone decrypts every token, and each is the original.
    let only_new = Vault::new(&[Secret::new(new_key)]).expect("vault");
    let rows = store.list_channels(Some(&instance_id)).await.expect("list");
    assert_eq!(rows.len(), 1000);
    let mut seen = std::collections::HashSet::new();
    for r in &rows {
        let plain = only_new
            .decrypt(r.token_enc.as_deref().expect("token"))
            .expect("new key decrypts");
        assert!(plain.starts_with("EAAG-token-"));
        seen.insert(plain);
    }
    assert_eq!(seen.len(), 1000, "no token lost or duplicated");
    let inst = store
        .get_instance(&instance_id)
        .await
        .expect("get")
        .expect("instance");
    only_new
        .decrypt(&inst.signing_secret_enc)
        .expect("instance secret rotated too");
    store.close().await;
}
