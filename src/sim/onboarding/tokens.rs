//! Tokens and codes: what a minted token is and may reach, single-use authorization codes,
//! minting, and the `debug_token` data of a minted token.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sim::graph::{APP_ID, Channel, Inner, Kind, TokenState};

use super::accounts::{SimAccounts, SimLead, SimLeadForm, SimPhone};
use super::{APP_NAME, DAY, now_secs};

/// What a minted token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Facebook user token (short- or long-lived).
    User,
    /// Page token from `me/accounts`.
    Page,
    /// Business integration system user token (Embedded Signup).
    Business,
    /// Instagram Login short-lived token (1 h).
    IgShort,
    /// Instagram Login long-lived token (60 days, refreshable).
    IgLong,
}

impl TokenKind {
    fn debug_type(self) -> &'static str {
        match self {
            TokenKind::User | TokenKind::IgShort | TokenKind::IgLong => "USER",
            TokenKind::Page => "PAGE",
            TokenKind::Business => "SYSTEM_USER",
        }
    }

    pub(super) fn is_ig(self) -> bool {
        matches!(self, TokenKind::IgShort | TokenKind::IgLong)
    }
}

/// A token minted by the connect flows. `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct MintedToken {
    pub token: String,
    pub kind: TokenKind,
    /// App-scoped Facebook user id, or the Instagram account id for Instagram Login tokens.
    pub user_id: String,
    /// Object ids the token is good for: pages, linked Instagram accounts, the business, WABA
    /// and phone numbers, or the Instagram Login account.
    pub assets: Vec<String>,
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds; `None` = never expires.
    pub expires_at: Option<i64>,
    pub long_lived: bool,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("assets", &self.assets)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl MintedToken {
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// Shape of the Instagram Login code-exchange answer (Meta's docs show both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgTokenShape {
    /// `{"access_token","user_id":<number>,"permissions":[...]}`
    Flat,
    /// `{"data":[{"access_token","user_id":"...","permissions":"a,b"}]}`
    Data,
    /// Flat, then data, then flat, ...
    #[default]
    Alternate,
}

#[derive(Debug, Clone)]
pub(super) enum CodeFlow {
    FbLogin {
        redirect_uri: String,
        pages: Vec<String>,
    },
    EmbeddedSignup {
        business_id: String,
        waba_id: String,
    },
    IgLogin {
        redirect_uri: String,
        ig_user_id: String,
    },
}

#[derive(Debug, Clone)]
pub(super) struct AuthCode {
    pub(super) flow: CodeFlow,
    pub(super) client_id: String,
    pub(super) scopes: Vec<String>,
    pub(super) expires: Instant,
    pub(super) used: bool,
}

/// Onboarding state inside the simulator's `Inner`.
#[derive(Default)]
pub(in crate::sim) struct Onboard {
    pub(in crate::sim) accounts: SimAccounts,
    pub(in crate::sim) tokens: HashMap<String, MintedToken>,
    pub(super) order: Vec<String>,
    pub(super) codes: HashMap<String, AuthCode>,
    pub(super) page_tokens: HashMap<(String, String), String>,
    pub(super) subscriptions: BTreeMap<String, Vec<String>>,
    pub(super) leads: HashMap<String, SimLead>,
    pub(super) lead_failures: u32,
    pub(super) forms: HashMap<String, SimLeadForm>,
    /// Scopes granted to tokens besides those they were minted with (and to channel tokens,
    /// which have none otherwise).
    pub(super) extra_scopes: HashMap<String, Vec<String>>,
    pub(super) registered: BTreeSet<String>,
    /// Verification codes sent by `request_code`, per phone number id (what the person reads
    /// on their phone).
    pub(super) verification_codes: HashMap<String, String>,
    /// `(phone number id, sync_type)` of every accepted `smb_app_data` request.
    pub(super) smb_syncs: BTreeSet<(String, String)>,
    /// Two-step verification state of WhatsApp numbers registered by hand as channels
    /// (`add_channel`), which are not part of [`SimAccounts`]; display name approved.
    pub(super) channel_phones: HashMap<String, SimPhone>,
    /// Expiry (unix seconds) set on tokens not minted here (channel tokens).
    pub(super) channel_expiry: HashMap<String, i64>,
    pub(super) es_code_ttl: Option<Duration>,
    pub(super) ig_token_shape: Option<IgTokenShape>,
    pub(super) allow_young_refresh: Option<bool>,
    pub(super) ig_exchanges: u64,
}

impl Onboard {
    /// The token carries `scope` (minted with it, or granted later).
    pub(super) fn has_scope(&self, token: &str, scope: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|m| m.scopes.iter().any(|s| s == scope))
            || self
                .extra_scopes
                .get(token)
                .is_some_and(|l| l.iter().any(|s| s == scope))
    }

    /// The token was minted for `asset` (any kind).
    pub(super) fn grants(&self, token: &str, asset: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|m| m.assets.iter().any(|a| a == asset))
    }

    /// The token may act as `asset` (send, subscribe): minted for it and not a user token.
    pub(in crate::sim) fn covers(&self, token: &str, asset: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|m| m.kind != TokenKind::User && m.assets.iter().any(|a| a == asset))
    }

    /// The channel `me` means for a minted Page or Instagram token.
    pub(in crate::sim) fn me_channel(
        &self,
        token: &str,
        channels: &HashMap<String, Channel>,
    ) -> Option<Channel> {
        let m = self.tokens.get(token)?;
        let wanted = match m.kind {
            TokenKind::IgShort | TokenKind::IgLong => Kind::Instagram,
            TokenKind::Page => Kind::Messenger,
            _ => return None,
        };
        m.assets
            .iter()
            .filter_map(|a| channels.get(a))
            .find(|c| c.kind == wanted)
            .cloned()
    }

    pub(in crate::sim) fn channel_expired(&self, token: &str, now: i64) -> bool {
        self.channel_expiry.get(token).is_some_and(|e| *e <= now)
    }

    fn targets(&self, scope: &str, assets: &[String]) -> Vec<String> {
        let keep: fn(&SimAccounts, &str) -> bool =
            if scope.starts_with("pages_") || scope == "leads_retrieval" {
                |a, x| a.page(x).is_some()
            } else if scope.starts_with("instagram_") {
                |a, x| a.is_ig(x)
            } else if scope.starts_with("whatsapp_") {
                |a, x| a.waba(x).is_some()
            } else if scope == "business_management" {
                |a, x| a.is_business(x)
            } else {
                return Vec::new();
            };
        assets
            .iter()
            .filter(|x| keep(&self.accounts, x))
            .cloned()
            .collect()
    }
}

pub(super) fn random_alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

pub(super) struct Mint<'a> {
    pub(super) kind: TokenKind,
    pub(super) user_id: &'a str,
    pub(super) assets: Vec<String>,
    pub(super) scopes: Vec<String>,
    pub(super) expires_in: Option<i64>,
    pub(super) long_lived: bool,
}

/// Mints a token, registers it, and registers a sending channel for each sending asset that
/// has none yet (user tokens cannot send).
pub(super) fn mint(inner: &mut Inner, m: Mint<'_>) -> String {
    let prefix = match m.kind {
        TokenKind::User => "EAASimU",
        TokenKind::Page => "EAASimP",
        TokenKind::Business => "EAASimB",
        TokenKind::IgShort | TokenKind::IgLong => "IGAASim",
    };
    let token = format!("{prefix}{}", random_alnum(48));
    let now = now_secs();
    if m.kind != TokenKind::User {
        for asset in &m.assets {
            if let Some((kind, waba_id)) = inner.onboard.accounts.channel_kind(asset) {
                inner
                    .channels
                    .entry(asset.clone())
                    .or_insert_with(|| Channel {
                        kind,
                        external_id: asset.clone(),
                        waba_id,
                        token: token.clone(),
                    });
            }
        }
    }
    inner.onboard.order.push(token.clone());
    inner.onboard.tokens.insert(
        token.clone(),
        MintedToken {
            token: token.clone(),
            kind: m.kind,
            user_id: m.user_id.to_owned(),
            assets: m.assets,
            scopes: m.scopes,
            issued_at: now,
            expires_at: m.expires_in.map(|s| now.saturating_add(s)),
            long_lived: m.long_lived,
        },
    );
    token
}

pub(super) fn new_code(
    inner: &mut Inner,
    flow: CodeFlow,
    scopes: Vec<String>,
    ttl: Duration,
) -> String {
    let code = format!("AQSim{}", random_alnum(64));
    inner.onboard.codes.insert(
        code.clone(),
        AuthCode {
            flow,
            client_id: APP_ID.to_owned(),
            scopes,
            // A huge TTL from the control API must not overflow.
            expires: Instant::now()
                .checked_add(ttl)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 86_400)),
            used: false,
        },
    );
    code
}

pub(super) fn split_scopes(s: Option<&str>, default: &[&str]) -> Vec<String> {
    let list: Vec<String> = s
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        default.iter().map(|s| (*s).to_owned()).collect()
    } else {
        list
    }
}

pub(super) const FB_DEFAULT_SCOPES: &[&str] = &[
    "pages_show_list",
    "pages_messaging",
    "pages_manage_metadata",
    "pages_read_engagement",
    "instagram_basic",
    "instagram_manage_messages",
    "leads_retrieval",
    "business_management",
];
pub(super) const ES_SCOPES: &[&str] = &[
    "whatsapp_business_management",
    "whatsapp_business_messaging",
    "business_management",
];
pub(super) const IG_DEFAULT_SCOPES: &[&str] = &[
    "instagram_business_basic",
    "instagram_business_manage_messages",
];

/// The business integration system user a business token was issued to (its business is the
/// token's first asset).
fn system_user_of(inner: &Inner, m: &MintedToken) -> String {
    let business = m.assets.first().map(String::as_str).unwrap_or_default();
    inner
        .onboard
        .accounts
        .businesses
        .iter()
        .find(|b| b.id == business)
        .map(|b| {
            if b.system_user_id.is_empty() {
                format!("{}9", b.id)
            } else {
                b.system_user_id.clone()
            }
        })
        .unwrap_or_else(|| format!("{business}9"))
}

/// The `data` of `debug_token` for a minted token.
pub(in crate::sim) fn debug_data(inner: &Inner, m: &MintedToken) -> Value {
    let now = now_secs();
    let state = inner.token_state(&m.token);
    let mut data = json!({
        "app_id": APP_ID,
        "type": m.kind.debug_type(),
        "application": APP_NAME,
        "data_access_expires_at": if m.kind == TokenKind::User { m.issued_at.saturating_add(90 * DAY) } else { 0 },
        "expires_at": m.expires_at.unwrap_or(0),
        "is_valid": state == TokenState::Valid,
        "issued_at": m.issued_at,
        "user_id": if m.kind == TokenKind::Business { system_user_of(inner, m) } else { m.user_id.clone() },
    });
    if m.kind == TokenKind::Page
        && let Some(page) = m.assets.first()
    {
        data["profile_id"] = json!(page);
    }
    if state == TokenState::Valid {
        let mut scopes = m.scopes.clone();
        if !m.kind.is_ig() && !scopes.iter().any(|s| s == "public_profile") {
            scopes.push("public_profile".into());
        }
        let granular: Vec<Value> = m
            .scopes
            .iter()
            .filter_map(|s| {
                let ids = inner.onboard.targets(s, &m.assets);
                (!ids.is_empty()).then(|| json!({"scope": s, "target_ids": ids}))
            })
            .collect();
        data["scopes"] = json!(scopes);
        data["granular_scopes"] = Value::Array(granular);
    } else {
        let when = m.expires_at.filter(|e| *e <= now).unwrap_or(now);
        data["scopes"] = json!([]);
        data["error"] = json!({
            "code": 190,
            "subcode": 463,
            "message": format!("Error validating access token: Session has expired at unix time {when}."),
        });
    }
    data
}
