//! Dev mode's generated secrets, kept in `<data dir>/dev-secrets.json` so the server and the
//! operator commands agree on them, and the helpers that resolve a secret option.

use super::*;

/// Secrets that dev mode generates when they are missing, kept in a file so the server and
/// the operator commands agree on them.
#[derive(serde::Serialize, serde::Deserialize, Default)]
pub(super) struct DevSecrets {
    pub(super) meta_app_secret: Option<String>,
    pub(super) meta_verify_token: Option<String>,
    pub(super) admin_token: Option<String>,
    pub(super) fernet_keys: Option<String>,
}

pub(super) fn random_token(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

pub(super) fn dev_secrets_path(data_dir: &Path) -> PathBuf {
    data_dir.join("dev-secrets.json")
}

pub(super) fn load_dev_secrets(data_dir: &Path) -> DevSecrets {
    std::fs::read(dev_secrets_path(data_dir))
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .unwrap_or_default()
}

pub(super) fn save_dev_secrets(
    data_dir: &Path,
    secrets: &DevSecrets,
) -> Result<PathBuf, ConfigError> {
    let path = dev_secrets_path(data_dir);
    std::fs::create_dir_all(data_dir).map_err(|e| {
        cfg_err(
            "METABRIDGE_DATA_DIR",
            format!("cannot create directory: {e}"),
        )
    })?;
    let body = serde_json::to_vec_pretty(secrets).unwrap_or_default();
    std::fs::write(&path, body).map_err(|e| {
        cfg_err(
            "METABRIDGE_DATA_DIR",
            format!("cannot write dev secrets: {e}"),
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(path)
}

/// Resolves a secret: the given value, else (dev mode) the stored or a new generated one,
/// else a start-up error naming the variable.
pub(super) fn resolve_secret(
    given: Option<&str>,
    variable: &'static str,
    dev: bool,
    stored: &mut Option<String>,
    generate: impl FnOnce() -> String,
    generated: &mut bool,
) -> Result<String, ConfigError> {
    if let Some(v) = given.map(str::trim).filter(|v| !v.is_empty()) {
        return Ok(v.to_string());
    }
    if !dev {
        return Err(cfg_err(
            variable,
            "is required (set it, or run with METABRIDGE_DEV=true for local use)",
        ));
    }
    if let Some(v) = stored.as_ref() {
        return Ok(v.clone());
    }
    let v = generate();
    *stored = Some(v.clone());
    *generated = true;
    Ok(v)
}

pub(super) fn split_list(value: &str) -> Vec<Secret> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect()
}
