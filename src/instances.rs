//! Instances and channels as operators manage them: validation and the operations shared by
//! the admin API and the CLI (so both apply the same rules). Secrets are generated here,
//! encrypted through the vault before they reach the store, and returned in clear only once.

use std::net::IpAddr;

use crate::channels::ChannelKind;
use crate::crypto::vault::Vault;
use crate::events::parse::types;
use crate::ids::{ChannelId, InstanceId};
use crate::meta::login::InstagramLogin;
use crate::store::{ChannelRow, InstancePatch, InstanceRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> OpError {
    OpError::Invalid {
        field,
        message: message.into(),
    }
}

/// A person-readable name: 1–200 characters, no control characters.
pub fn validate_name(field: &'static str, name: &str) -> Result<String, OpError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid(field, "must be 1 to 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(name.to_string())
}

/// Whether an address is not a public unicast address: loopback, private, link-local (the
/// cloud metadata service at 169.254.169.254), CGNAT, "this network", benchmarking, reserved,
/// multicast, documentation, IPv6 unique-local, and IPv6 forms that embed such an IPv4
/// address (mapped, compatible, NAT64, 6to4). The SSRF guard of callback URLs: checked when a
/// URL is stored and again on every address a callback host resolves to.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0 // "this network"
                || a == 100 && (64..128).contains(&b) // CGNAT
                || a == 192 && b == 0 && c == 0 // IETF protocol assignments
                || a == 198 && (b == 18 || b == 19) // benchmarking
                || a >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                let [h1, h2] = hi.to_be_bytes();
                let [l1, l2] = lo.to_be_bytes();
                is_private(IpAddr::V4(std::net::Ipv4Addr::new(h1, h2, l1, l2)))
            };
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
                // IPv4-compatible (deprecated) ::a.b.c.d
                || (s[..6].iter().all(|&x| x == 0) && embedded(s[6], s[7]))
                // NAT64 64:ff9b::a.b.c.d
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0) && embedded(s[6], s[7]))
                // 6to4 2002:a.b.c.d::
                || (s[0] == 0x2002 && embedded(s[1], s[2]))
        }
    }
}

/// Whether a host name is a name for this machine or a local network (`localhost`,
/// `*.localhost`, `*.local`, `*.internal`; a trailing dot is the same name).
pub fn is_local_name(host: &str) -> bool {
    let d = host.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost"
        || d.ends_with(".localhost")
        || d.ends_with(".local")
        || d.ends_with(".internal")
}

/// Whether a URL's host is a private address literal or a local name (see [`is_private`]
/// and [`is_local_name`]).
pub fn is_private_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(v4) => is_private(IpAddr::V4(*v4)),
        url::Host::Ipv6(v6) => is_private(IpAddr::V6(*v6)),
        url::Host::Domain(d) => is_local_name(d),
    }
}

/// A callback URL: absolute http(s), no credentials; HTTPS and a public host unless private
/// callbacks are allowed (dev mode, tests), so the bridge cannot be aimed at internal services.
pub fn validate_callback_url(url: &str, allow_private: bool) -> Result<String, OpError> {
    const F: &str = "callback_url";
    if url.len() > 2048 {
        return Err(invalid(F, "must be at most 2048 characters"));
    }
    let parsed = url::Url::parse(url).map_err(|_| invalid(F, "must be an absolute URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err(invalid(F, "must use https")),
        _ => return Err(invalid(F, "must be an http(s) URL")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(F, "must not contain credentials"));
    }
    let Some(host) = parsed.host() else {
        return Err(invalid(F, "must have a host"));
    };
    if !allow_private && is_private_host(&host) {
        return Err(invalid(
            F,
            "must not point at a loopback or private address",
        ));
    }
    Ok(parsed.to_string())
}

/// Event types to subscribe to: each must be a known type; empty means none is allowed.
pub fn validate_event_types(list: &[String]) -> Result<Vec<String>, OpError> {
    if list.is_empty() {
        return Err(invalid(
            "event_types",
            "must name at least one type (omit it to receive all)",
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for t in list {
        if !types::ALL.contains(&t.as_str()) && !types::BRIDGE.contains(&t.as_str()) {
            return Err(invalid(
                "event_types",
                format!(
                    "unknown event type `{}`",
                    t.chars().take(64).collect::<String>()
                ),
            ));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// A Meta object id: 1–32 digits.
pub fn validate_meta_id(field: &'static str, id: &str) -> Result<String, OpError> {
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, "must be a Meta id (1 to 32 digits)"));
    }
    Ok(id.to_string())
}

fn validate_token(token: &str) -> Result<(), OpError> {
    if token.is_empty()
        || token.len() > 4096
        || token
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(invalid(
            "access_token",
            "must be 1 to 4096 characters without whitespace",
        ));
    }
    Ok(())
}

/// A new random HS256 secret (32 bytes, hex).
pub fn new_signing_secret() -> String {
    use rand::RngCore;
    let mut buf = [0u8; 32];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

pub struct NewInstance<'a> {
    pub name: &'a str,
    pub callback_url: &'a str,
    pub event_types: Option<&'a [String]>,
}

/// Creates an instance; returns the row and its signing secret (shown once).
pub async fn create_instance(
    store: &Store,
    vault: &Vault,
    req: NewInstance<'_>,
    allow_private: bool,
    actor: &str,
) -> Result<(InstanceRow, String), OpError> {
    let name = validate_name("name", req.name)?;
    let callback_url = validate_callback_url(req.callback_url, allow_private)?;
    let event_types = req.event_types.map(validate_event_types).transpose()?;
    let secret = new_signing_secret();
    let now = crate::now_ms();
    let row = InstanceRow {
        id: InstanceId::new(),
        name,
        callback_url,
        signing_secret_enc: vault.encrypt(&secret),
        event_types: event_types.map(|t| serde_json::to_string(&t).unwrap_or_default()),
        delivery_paused_reason: None,
        created_at: now,
        updated_at: now,
    };
    store.insert_instance(&row).await?;
    store
        .audit(actor, "instance.created", row.id.as_str(), None)
        .await?;
    Ok((row, secret))
}

#[derive(Debug, Clone, Copy)]
pub struct InstanceUpdate<'a> {
    pub name: Option<&'a str>,
    pub callback_url: Option<&'a str>,
    pub event_types: Option<Option<&'a [String]>>,
    pub resume_delivery: bool,
}

pub async fn update_instance(
    store: &Store,
    id: &InstanceId,
    req: InstanceUpdate<'_>,
    allow_private: bool,
    actor: &str,
) -> Result<InstanceRow, OpError> {
    let patch = instance_patch(req, allow_private)?;
    let row = store
        .update_instance(id, &patch)
        .await?
        .ok_or(OpError::NotFound("instance"))?;
    store
        .audit(actor, "instance.updated", id.as_str(), None)
        .await?;
    Ok(row)
}

/// Why delivery is paused when an operator paused it (a receiver's 410 Gone pauses it with
/// `receiver_gone`).
pub const PAUSED_BY_OPERATOR: &str = "paused_by_operator";

/// Pauses an instance's delivery by hand: its events are kept and wait, as after a 410 Gone,
/// until delivery is resumed ([`InstanceUpdate::resume_delivery`]).
pub async fn pause_delivery(
    store: &Store,
    id: &InstanceId,
    actor: &str,
) -> Result<InstanceRow, OpError> {
    let patch = InstancePatch {
        delivery_paused_reason: Some(Some(PAUSED_BY_OPERATOR.to_string())),
        ..InstancePatch::default()
    };
    let row = store
        .update_instance(id, &patch)
        .await?
        .ok_or(OpError::NotFound("instance"))?;
    store
        .audit(actor, "instance.delivery_paused", id.as_str(), None)
        .await?;
    Ok(row)
}

/// The checked change an update asks for (checked before the instance is looked up).
pub fn instance_patch(
    req: InstanceUpdate<'_>,
    allow_private: bool,
) -> Result<InstancePatch, OpError> {
    Ok(InstancePatch {
        name: req.name.map(|n| validate_name("name", n)).transpose()?,
        callback_url: req
            .callback_url
            .map(|u| validate_callback_url(u, allow_private))
            .transpose()?,
        event_types: match req.event_types {
            None => None,
            Some(None) => Some(None),
            Some(Some(list)) => Some(Some(validate_event_types(list)?)),
        },
        delivery_paused_reason: req.resume_delivery.then_some(None),
    })
}

/// Replaces an instance's signing secret; returns the new one (shown once).
/// How long the previous HS256 secret keeps verifying an instance's tokens after a rotation,
/// unless the rotation says otherwise (0 revokes it at once, e.g. after a leak).
pub const DEFAULT_SECRET_GRACE_SECS: u64 = 24 * 3600;

/// The grace period of a secret rotation: at most 7 days (checked before the instance is
/// looked up).
pub fn check_grace(grace_secs: u64) -> Result<(), OpError> {
    if grace_secs > 7 * 24 * 3600 {
        return Err(invalid("grace_seconds", "must be at most 604800 (7 days)"));
    }
    Ok(())
}

pub async fn rotate_instance_secret(
    store: &Store,
    vault: &Vault,
    id: &InstanceId,
    grace_secs: u64,
    actor: &str,
) -> Result<String, OpError> {
    check_grace(grace_secs)?;
    let secret = new_signing_secret();
    let until = crate::now_ms() + i64::try_from(grace_secs).unwrap_or(0) * 1000;
    if !store
        .set_instance_secret(id, &vault.encrypt(&secret), until)
        .await?
    {
        return Err(OpError::NotFound("instance"));
    }
    store
        .audit(actor, "instance.secret_rotated", id.as_str(), None)
        .await?;
    Ok(secret)
}

/// Deletes an instance and everything of it (see [`Store::delete_instance`]); the ids of its
/// channels, gone with it.
pub async fn delete_instance(
    store: &Store,
    id: &InstanceId,
    actor: &str,
) -> Result<Vec<ChannelId>, OpError> {
    let Some(channels) = store.delete_instance(id).await? else {
        return Err(OpError::NotFound("instance"));
    };
    store
        .audit(actor, "instance.deleted", id.as_str(), None)
        .await?;
    Ok(channels)
}

pub struct NewChannel<'a> {
    /// As given (API body, CLI argument): one that is not an instance id names no instance.
    pub instance_id: &'a str,
    pub kind: &'a str,
    pub external_id: &'a str,
    pub waba_id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub access_token: &'a str,
    /// Instagram only: `instagram` (Instagram Login) or `facebook` (through the linked Page);
    /// `None` derives it from the token (Instagram User tokens start with `IG`).
    pub login: Option<&'a str>,
}

/// The login of a hand-registered channel: only Instagram channels have one; given
/// explicitly it must be `instagram` or `facebook` and fit the token (an Instagram User token
/// — `IG…` — works only with Instagram Login, any other only through a Facebook Page);
/// absent, it follows the token.
fn instagram_login(
    kind: ChannelKind,
    login: Option<&str>,
    token: &str,
) -> Result<Option<InstagramLogin>, OpError> {
    if kind != ChannelKind::Instagram {
        return match login {
            Some(_) => Err(invalid("login", "only applies to Instagram channels")),
            None => Ok(None),
        };
    }
    let of_token = InstagramLogin::of_token(token);
    let Some(given) = login else {
        return Ok(Some(of_token));
    };
    let login = InstagramLogin::parse(given)
        .ok_or_else(|| invalid("login", "must be instagram or facebook"))?;
    if login != of_token {
        return Err(invalid(
            "login",
            match login {
                InstagramLogin::Instagram => {
                    "instagram needs an Instagram User token (from Instagram Login, starting with IG)"
                }
                InstagramLogin::Facebook => {
                    "facebook needs the linked Page's token; a token starting with IG is an Instagram User token (use login instagram)"
                }
            },
        ));
    }
    Ok(Some(login))
}

/// Registers a channel by hand; its token is stored only encrypted (P01).
pub async fn add_channel(
    store: &Store,
    vault: &Vault,
    req: NewChannel<'_>,
    actor: &str,
) -> Result<ChannelRow, OpError> {
    let kind = ChannelKind::parse(req.kind)
        .ok_or_else(|| invalid("kind", "must be whatsapp, instagram or messenger"))?;
    let external_id = validate_meta_id("external_id", req.external_id)?;
    let waba_id = req
        .waba_id
        .map(|w| validate_meta_id("waba_id", w))
        .transpose()?;
    if kind == ChannelKind::Whatsapp && waba_id.is_none() {
        return Err(invalid("waba_id", "is required for a WhatsApp channel"));
    }
    if kind != ChannelKind::Whatsapp && waba_id.is_some() {
        return Err(invalid("waba_id", "only applies to WhatsApp channels"));
    }
    let name = req.name.map(|n| validate_name("name", n)).transpose()?;
    validate_token(req.access_token)?;
    let login = instagram_login(kind, req.login, req.access_token)?;
    let Ok(instance_id) = InstanceId::parse(req.instance_id) else {
        return Err(OpError::NotFound("instance"));
    };
    if store.get_instance(&instance_id).await?.is_none() {
        return Err(OpError::NotFound("instance"));
    }
    let now = crate::now_ms();
    let row = ChannelRow {
        id: ChannelId::new(),
        instance_id,
        kind,
        external_id,
        waba_id,
        name,
        token_enc: Some(vault.encrypt(req.access_token)),
        status: crate::channels::Connection::Active,
        status_reason: None,
        rate_limit: None,
        created_at: now,
        updated_at: now,
        send_state: crate::channels::SendState::Sending,
        send_reason: None,
        send_paused_until: None,
        send_pauses: 0,
        quality_event: None,
        messaging_limit_tier: None,
        login: login.map(|l| l.as_str().to_string()),
    };
    match store.insert_channel(&row).await {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => {
            return Err(OpError::Conflict(
                "a channel with this Meta id is already registered".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    store
        .audit(
            actor,
            "channel.created",
            row.id.as_str(),
            Some(row.instance_id.as_str()),
        )
        .await?;
    Ok(row)
}

/// Stores a new token for a channel (encrypted, P01) and reactivates it.
pub async fn replace_channel_token(
    store: &Store,
    vault: &Vault,
    id: &ChannelId,
    token: &str,
    actor: &str,
    horizon_ms: i64,
) -> Result<(), OpError> {
    validate_token(token)?;
    if !store
        .replace_channel_token(
            id,
            &vault.encrypt(token),
            // A new token may come from the other login: its host follows it (meta::login).
            InstagramLogin::of_token(token).as_str(),
            horizon_ms,
        )
        .await?
    {
        return Err(OpError::NotFound("channel"));
    }
    store
        .audit(actor, "channel.token_replaced", id.as_str(), None)
        .await?;
    Ok(())
}

/// Who ends a channel's connection; decides the reason the instance is told and the audit
/// entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectBy<'a> {
    /// The instance, through `DELETE /v1/channels/{id}`.
    Instance,
    /// An operator: the admin API or the CLI (named as the audit actor).
    Operator(&'a str),
    /// Meta's deauthorize or data-deletion callback: the person removed the app's access.
    MetaCallback,
}

impl DisconnectBy<'_> {
    fn reason(self) -> &'static str {
        match self {
            DisconnectBy::Instance => "disconnected by the instance",
            DisconnectBy::Operator(_) => "disconnected by an operator",
            DisconnectBy::MetaCallback => {
                "the person who connected it removed the app's access at Meta"
            }
        }
    }

    fn actor(&self) -> &str {
        match self {
            DisconnectBy::Instance => "instance",
            DisconnectBy::Operator(actor) => actor,
            DisconnectBy::MetaCallback => "meta",
        }
    }

    fn detail(self) -> Option<&'static str> {
        (self == DisconnectBy::MetaCallback).then_some("Meta app callback")
    }
}

/// Disconnects a channel (P03): deletes its token, stops routing and sending, fails waiting
/// sends, records `channel.disconnected` and the audit entry. Removing Meta's webhook
/// subscription (P13) is the caller's part before this ([`crate::connect::flow::Connector`]
/// does both); the CLI has no Graph client and only does this.
pub async fn remove_channel(
    store: &Store,
    id: &ChannelId,
    instance_id: Option<&InstanceId>,
    by: DisconnectBy<'_>,
    horizon_ms: i64,
) -> Result<crate::store::Disconnected, OpError> {
    let Some(done) = store
        .disconnect_channel(id, instance_id, by.reason(), horizon_ms)
        .await?
    else {
        return Err(OpError::NotFound("channel"));
    };
    store
        .audit(by.actor(), "channel.disconnected", id.as_str(), by.detail())
        .await?;
    Ok(done)
}

/// Re-encrypts every stored token and instance secret under the first Fernet key
/// (`metabridge keys rotate`), `batch` rows per transaction. Stops between batches when
/// `stop` returns true (an interruption); a re-run finishes the job (rows already under the
/// first key are skipped). `progress` sees the running totals after each batch.
pub async fn rotate_keys(
    store: &Store,
    vault: &Vault,
    batch: i64,
    stop: &(dyn Fn() -> bool + Sync),
    progress: &mut (dyn FnMut(&crate::store::RotationCounts) + Send),
) -> Result<crate::store::RotationCounts, StoreError> {
    use crate::store::{EncryptedColumn, RotationCounts};
    let reencrypt = |old: &str| vault.reencrypt(old).map_err(|_| ());
    let mut total = RotationCounts::default();
    for column in [
        EncryptedColumn::ChannelTokens,
        EncryptedColumn::InstanceSecrets,
    ] {
        let mut after = String::new();
        loop {
            if stop() {
                return Ok(total);
            }
            let (counts, last) = store
                .rotate_batch(column, &after, batch.max(1), &reencrypt)
                .await?;
            total += counts;
            progress(&total);
            match last {
                Some(id) => after = id,
                None => break,
            }
        }
    }
    store
        .audit(
            "cli",
            "keys.rotated",
            "vault",
            Some(&format!(
                "rotated={} current={} undecryptable={}",
                total.rotated, total.current, total.undecryptable
            )),
        )
        .await?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls_refuse_private_targets_unless_allowed() {
        for bad in [
            "http://example.com/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://192.168.0.1/",
            "https://[::1]/",
            "https://localhost:8443/",
            "https://169.254.169.254/latest",
            "https://user:pw@example.com/",
            "ftp://example.com/",
            "not a url",
            "https://[::ffff:127.0.0.1]/",
            "https://localhost./",
            "https://LOCALHOST/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://0.0.0.0/",
            "https://[::]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:a00:1::]/",
            "https://[fd00::1]/",
            "https://224.0.0.1/",
            "https://metadata.google.internal/",
        ] {
            assert!(
                validate_callback_url(bad, false).is_err(),
                "{bad} must be refused"
            );
        }
        assert!(validate_callback_url("https://dsk.example.com/hooks/meta", false).is_ok());
        assert!(validate_callback_url("https://93.184.215.14/hooks", false).is_ok());
        assert!(validate_callback_url("https://[2606:4700::1111]/hooks", false).is_ok());
        assert!(validate_callback_url("http://127.0.0.1:9000/cb", true).is_ok());
    }

    #[test]
    fn meta_ids_names_and_types_are_checked() {
        assert!(validate_meta_id("external_id", "106000000000001").is_ok());
        assert!(validate_meta_id("external_id", "1' OR '1'='1").is_err());
        assert!(validate_meta_id("external_id", "").is_err());
        assert!(validate_name("name", "Loja\u{0}").is_err());
        assert!(validate_name("name", "  Loja Ana  ").is_ok_and(|n| n == "Loja Ana"));
        assert!(validate_event_types(&["message.received".into()]).is_ok());
        assert!(validate_event_types(&["nope".into()]).is_err());
        assert!(validate_event_types(&[]).is_err());
    }
}
