//! The connect flows of the Graph simulator ([`super::graph`]): every Meta host the onboarding
//! of a channel touches, served by the one simulator under path prefixes, so the whole flow runs
//! locally (meta-platform.md §5, §11):
//!
//! * `/dialog-fb/{v}/dialog/oauth` — the Facebook Login dialog (HTML: the simulated user's
//!   Pages as checkboxes, Allow / Cancel → redirect with `code` + `state` or `error=...`);
//! * `/dialog-fb/{v}/dialog/embedded_signup` — the Embedded Signup popup opened by `/sdk.js`
//!   (a stand-in for Meta's JS SDK: `FB.init`, `FB.login`, `fbAsyncInit`), which posts the
//!   `WA_EMBEDDED_SIGNUP` session message and hands the code to the SDK callback;
//! * `/dialog-ig/oauth/authorize` — the Instagram Login dialog (`code=...#_`);
//! * Graph (at `/`, versioned or not): `oauth/access_token` (code exchange, `fb_exchange_token`),
//!   `me`, `me/accounts`, `{waba}/phone_numbers`, `{id}/subscribed_apps`, `{phone}/register`,
//!   `{leadgen_id}` and `{form_id}` (Lead Ads: the lead, its ad-level fields only with an ads
//!   permission, the form's questions), and `debug_token` of every token minted here;
//! * `/ig-api/oauth/access_token` (api.instagram.com) and `/ig-graph/...` (graph.instagram.com):
//!   Instagram Login tokens, refresh, `me`, `me/subscribed_apps`, `me/messages`.
//!
//! Every token minted here is registered for its assets, so sends, media and `debug_token`
//! accept it; tokens expire (user and Instagram long-lived: 60 days, short-lived: 1–2 h, Page
//! and business tokens: never) and can be expired or revoked from the control API. Codes are
//! single-use (Facebook Login: 10 min, Embedded Signup: 30 s by default, Instagram: 1 h).
//!
//! Nothing here records a token, secret, code or PIN in the request log.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::Method;
use poem::{Request, RequestBody};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::graph::{
    APP_ID, Channel, GraphSim, Handled, Host, Inner, Kind, Reply, State, TokenState, err_token,
    err_unknown_object, graph_error, host_refuses, is_version, lock, messages, query_param,
    unknown_path,
};

/// Path prefixes (first segment) served by [`route_hosts`].
pub(super) const HOST_PREFIXES: &[&str] =
    &["dialog-fb", "dialog-ig", "ig-api", "ig-graph", "sdk.js"];

const APP_NAME: &str = "Metabridge Graph Simulator";
/// Long-lived user and Instagram tokens (what Meta answers as `expires_in`).
pub const LONG_LIVED_SECS: i64 = 5_183_944;
/// Short-lived Facebook user token.
pub const SHORT_USER_SECS: i64 = 7_200;
/// Short-lived Instagram Login token.
pub const SHORT_IG_SECS: i64 = 3_600;
const FB_CODE_TTL: Duration = Duration::from_secs(600);
const IG_CODE_TTL: Duration = Duration::from_secs(3600);
const FORM_LIMIT: usize = 64 * 1024;
const DAY: i64 = 86_400;

/// Unix seconds now.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---------------------------------------------------------------------------------------
// Simulated accounts

/// The simulated Meta side of the connect flows: one Facebook user with businesses (WABAs and
/// phone numbers) and Pages (optionally linked to an Instagram account), and Instagram Login
/// professional accounts. Readable and replaceable over `/_sim/accounts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimAccounts {
    pub user: SimUser,
    pub businesses: Vec<SimBusiness>,
    pub pages: Vec<SimPage>,
    pub instagram_logins: Vec<SimIgLogin>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimUser {
    /// App-scoped user id.
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimBusiness {
    pub id: String,
    pub name: String,
    pub wabas: Vec<SimWaba>,
    /// The business integration system user Embedded Signup creates for the app in this
    /// business: `debug_token` of an Embedded Signup business token names it as `user_id`,
    /// while `/me` with that token answers the person who ran the flow. Empty = derived from
    /// the business id.
    pub system_user_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimWaba {
    pub id: String,
    pub name: String,
    pub phone_numbers: Vec<SimPhone>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimPhone {
    pub id: String,
    pub display_phone_number: String,
    pub verified_name: String,
    /// `APPROVED` / `AVAILABLE_WITHOUT_REVIEW` register; anything else (`PENDING_REVIEW`,
    /// `DECLINED`) is refused with 133015 ("wait before registering", retryable).
    pub name_status: String,
    pub quality_rating: String,
    /// The two-step verification PIN once set (`POST /{phone}` `{"pin"}`, or the first
    /// successful `/register`); `/register` with a different PIN then answers 133005.
    pub two_step_pin: Option<String>,
    /// `code_verification_status` (`NOT_VERIFIED`, `EXPIRED`, ...); `None` = `VERIFIED`.
    /// `request_code` + `verify_code` with the right code make it `VERIFIED`.
    pub code_verification_status: Option<String>,
    /// In use with the WhatsApp Business app: Embedded Signup offers it only under
    /// `featureType: whatsapp_business_app_onboarding` (coexistence) and finishes with
    /// `FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING`.
    pub on_biz_app: bool,
    /// Registered with the Cloud API before the simulation starts (`platform_type`
    /// CLOUD_API), e.g. through another provider.
    pub cloud_api_registered: bool,
    /// Fault: Meta refuses to change this number's PIN (`POST /{phone}` answers `(#200)
    /// Permissions error`), so only its current PIN registers it.
    pub refuse_pin_change: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimPage {
    pub id: String,
    pub name: String,
    pub instagram: Option<SimIgAccount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimIgAccount {
    pub id: String,
    pub username: String,
}

/// An Instagram professional account reachable through Instagram Login (no Page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimIgLogin {
    /// The professional account id (`user_id`, `entry.id` of the webhooks).
    pub user_id: String,
    pub username: String,
    pub name: String,
}

impl Default for SimAccounts {
    fn default() -> Self {
        let phone = |id: &str, display: &str, name: &str, status: &str| SimPhone {
            id: id.into(),
            display_phone_number: display.into(),
            verified_name: name.into(),
            name_status: status.into(),
            quality_rating: "GREEN".into(),
            two_step_pin: None,
            code_verification_status: None,
            on_biz_app: false,
            cloud_api_registered: false,
            refuse_pin_change: false,
        };
        Self {
            user: SimUser {
                id: "122100000000000001".into(),
                name: "Sim Tester".into(),
            },
            businesses: vec![SimBusiness {
                id: "101000000000001".into(),
                name: "Sim Business".into(),
                system_user_id: "129000000000001".into(),
                wabas: vec![SimWaba {
                    id: "102000000000001".into(),
                    name: "Sim Shop WABA".into(),
                    phone_numbers: vec![
                        phone("106000000000001", "+1 555-0100", "Sim Shop", "APPROVED"),
                        phone(
                            "106000000000002",
                            "+1 555-0101",
                            "Sim Shop Two",
                            "PENDING_REVIEW",
                        ),
                    ],
                }],
            }],
            pages: vec![
                SimPage {
                    id: "105000000000001".into(),
                    name: "Sim Page".into(),
                    instagram: Some(SimIgAccount {
                        id: "178410000000001".into(),
                        username: "sim.shop".into(),
                    }),
                },
                SimPage {
                    id: "105000000000002".into(),
                    name: "Sim Second Page".into(),
                    instagram: None,
                },
            ],
            instagram_logins: vec![SimIgLogin {
                user_id: "178410000000009".into(),
                username: "sim.direct".into(),
                name: "Sim Direct".into(),
            }],
        }
    }
}

impl SimAccounts {
    fn waba(&self, id: &str) -> Option<(&SimBusiness, &SimWaba)> {
        self.businesses
            .iter()
            .find_map(|b| b.wabas.iter().find(|w| w.id == id).map(|w| (b, w)))
    }

    fn phone(&self, id: &str) -> Option<(&SimBusiness, &SimWaba, &SimPhone)> {
        self.businesses.iter().find_map(|b| {
            b.wabas.iter().find_map(|w| {
                w.phone_numbers
                    .iter()
                    .find(|p| p.id == id)
                    .map(|p| (b, w, p))
            })
        })
    }

    fn phone_mut(&mut self, id: &str) -> Option<&mut SimPhone> {
        self.businesses
            .iter_mut()
            .flat_map(|b| b.wabas.iter_mut())
            .flat_map(|w| w.phone_numbers.iter_mut())
            .find(|p| p.id == id)
    }

    fn page(&self, id: &str) -> Option<&SimPage> {
        self.pages.iter().find(|p| p.id == id)
    }

    fn ig_login(&self, id: &str) -> Option<&SimIgLogin> {
        self.instagram_logins.iter().find(|i| i.user_id == id)
    }

    fn is_ig(&self, id: &str) -> bool {
        self.ig_login(id).is_some()
            || self
                .pages
                .iter()
                .any(|p| p.instagram.as_ref().is_some_and(|i| i.id == id))
    }

    fn is_business(&self, id: &str) -> bool {
        self.businesses.iter().any(|b| b.id == id)
    }

    /// The channel an asset id sends as, if it is a sending account.
    fn channel_kind(&self, id: &str) -> Option<(Kind, Option<String>)> {
        if let Some((_, waba, _)) = self.phone(id) {
            Some((Kind::WhatsApp, Some(waba.id.clone())))
        } else if self.page(id).is_some() {
            Some((Kind::Messenger, None))
        } else if self.is_ig(id) {
            Some((Kind::Instagram, None))
        } else {
            None
        }
    }
}

/// A lead of the Lead Ads registry (`GET /{leadgen_id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimLead {
    pub leadgen_id: String,
    pub page_id: String,
    pub form_id: String,
    #[serde(default)]
    pub ad_id: Option<String>,
    #[serde(default)]
    pub adset_id: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// ISO-8601 with `+0000`, like Meta.
    #[serde(default = "default_created_time")]
    pub created_time: String,
    /// `[{"name": "email", "values": ["a@b.com"]}, ...]`
    #[serde(default)]
    pub field_data: Value,
    #[serde(default)]
    pub is_organic: bool,
    #[serde(default = "default_platform")]
    pub platform: String,
}

fn default_created_time() -> String {
    "2026-11-17T12:00:00+0000".into()
}

fn default_platform() -> String {
    "fb".into()
}

impl SimLead {
    /// A paid lead (`ad_id` 120210000000001) created 2026-11-17T12:00:00+0000 on Facebook.
    pub fn new(leadgen_id: &str, page_id: &str, form_id: &str, field_data: Value) -> Self {
        Self {
            leadgen_id: leadgen_id.into(),
            page_id: page_id.into(),
            form_id: form_id.into(),
            ad_id: Some("120210000000001".into()),
            adset_id: Some("120210000000002".into()),
            campaign_id: Some("120210000000003".into()),
            created_time: default_created_time(),
            field_data,
            is_organic: false,
            platform: default_platform(),
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.leadgen_id,
            "created_time": self.created_time,
            "form_id": self.form_id,
            "field_data": if self.field_data.is_array() { self.field_data.clone() } else { json!([]) },
            "is_organic": self.is_organic,
            "platform": self.platform,
        });
        for (k, val) in [
            ("ad_id", &self.ad_id),
            ("adset_id", &self.adset_id),
            ("campaign_id", &self.campaign_id),
        ] {
            if let Some(val) = val {
                v[k] = json!(val);
            }
        }
        v
    }
}

/// The lead fields Meta gives only to a token with an ads permission ("Retrieving Leads",
/// <https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving>, read
/// 2026-12-02: "To read ad specific fields, such as `ad_id` or `campaign_id`, you will need …
/// the `ads_management` permission").
const LEAD_AD_FIELDS: &[&str] = &[
    "ad_id",
    "ad_name",
    "adset_id",
    "adset_name",
    "campaign_id",
    "campaign_name",
];

/// A Lead Ads form (`GET /{form_id}?fields=questions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimLeadForm {
    pub form_id: String,
    pub page_id: String,
    #[serde(default)]
    pub name: String,
    /// `[{"key": "email", "label": "Email", "type": "EMAIL", "id": "…"}, ...]` (Meta's
    /// `LeadGenQuestion`).
    #[serde(default)]
    pub questions: Value,
}

impl SimLeadForm {
    /// A form with `(key, label, type)` questions.
    pub fn new(form_id: &str, page_id: &str, questions: &[(&str, &str, &str)]) -> Self {
        Self {
            form_id: form_id.into(),
            page_id: page_id.into(),
            name: "Lead form".into(),
            questions: Value::Array(
                questions
                    .iter()
                    .enumerate()
                    .map(|(i, (key, label, kind))| {
                        json!({"key": key, "label": label, "type": kind, "id": format!("{}{i}", form_id)})
                    })
                    .collect(),
            ),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.form_id,
            "name": self.name,
            "status": "ACTIVE",
            "locale": "en_US",
            "questions": if self.questions.is_array() { self.questions.clone() } else { json!([]) },
        })
    }
}

// ---------------------------------------------------------------------------------------
// Tokens and codes

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

    fn is_ig(self) -> bool {
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
enum CodeFlow {
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
struct AuthCode {
    flow: CodeFlow,
    client_id: String,
    scopes: Vec<String>,
    expires: Instant,
    used: bool,
}

/// Onboarding state inside the simulator's `Inner`.
#[derive(Default)]
pub(super) struct Onboard {
    pub(super) accounts: SimAccounts,
    pub(super) tokens: HashMap<String, MintedToken>,
    order: Vec<String>,
    codes: HashMap<String, AuthCode>,
    page_tokens: HashMap<(String, String), String>,
    subscriptions: BTreeMap<String, Vec<String>>,
    leads: HashMap<String, SimLead>,
    lead_failures: u32,
    forms: HashMap<String, SimLeadForm>,
    /// Scopes granted to tokens besides those they were minted with (and to channel tokens,
    /// which have none otherwise).
    extra_scopes: HashMap<String, Vec<String>>,
    registered: BTreeSet<String>,
    /// Verification codes sent by `request_code`, per phone number id (what the person reads
    /// on their phone).
    verification_codes: HashMap<String, String>,
    /// `(phone number id, sync_type)` of every accepted `smb_app_data` request.
    smb_syncs: BTreeSet<(String, String)>,
    /// Two-step verification state of WhatsApp numbers registered by hand as channels
    /// (`add_channel`), which are not part of [`SimAccounts`]; display name approved.
    channel_phones: HashMap<String, SimPhone>,
    /// Expiry (unix seconds) set on tokens not minted here (channel tokens).
    channel_expiry: HashMap<String, i64>,
    es_code_ttl: Option<Duration>,
    ig_token_shape: Option<IgTokenShape>,
    allow_young_refresh: Option<bool>,
    ig_exchanges: u64,
}

impl Onboard {
    /// The token carries `scope` (minted with it, or granted later).
    fn has_scope(&self, token: &str, scope: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|m| m.scopes.iter().any(|s| s == scope))
            || self
                .extra_scopes
                .get(token)
                .is_some_and(|l| l.iter().any(|s| s == scope))
    }

    /// The token was minted for `asset` (any kind).
    fn grants(&self, token: &str, asset: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|m| m.assets.iter().any(|a| a == asset))
    }

    /// The token may act as `asset` (send, subscribe): minted for it and not a user token.
    pub(super) fn covers(&self, token: &str, asset: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|m| m.kind != TokenKind::User && m.assets.iter().any(|a| a == asset))
    }

    /// The channel `me` means for a minted Page or Instagram token.
    pub(super) fn me_channel(
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

    pub(super) fn channel_expired(&self, token: &str, now: i64) -> bool {
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

fn random_alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

struct Mint<'a> {
    kind: TokenKind,
    user_id: &'a str,
    assets: Vec<String>,
    scopes: Vec<String>,
    expires_in: Option<i64>,
    long_lived: bool,
}

/// Mints a token, registers it, and registers a sending channel for each sending asset that
/// has none yet (user tokens cannot send).
fn mint(inner: &mut Inner, m: Mint<'_>) -> String {
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

fn new_code(inner: &mut Inner, flow: CodeFlow, scopes: Vec<String>, ttl: Duration) -> String {
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

fn split_scopes(s: Option<&str>, default: &[&str]) -> Vec<String> {
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

const FB_DEFAULT_SCOPES: &[&str] = &[
    "pages_show_list",
    "pages_messaging",
    "pages_manage_metadata",
    "pages_read_engagement",
    "instagram_basic",
    "instagram_manage_messages",
    "leads_retrieval",
    "business_management",
];
const ES_SCOPES: &[&str] = &[
    "whatsapp_business_management",
    "whatsapp_business_messaging",
    "business_management",
];
const IG_DEFAULT_SCOPES: &[&str] = &[
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
pub(super) fn debug_data(inner: &Inner, m: &MintedToken) -> Value {
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

// ---------------------------------------------------------------------------------------
// Helpers

fn app_secret(state: &State) -> String {
    lock(&state.secret_override)
        .clone()
        .unwrap_or_else(|| state.opts.app_secret.clone())
}

/// An empty simulator secret accepts any non-empty `client_secret`.
pub(super) fn secret_ok(state: &State, given: Option<&str>) -> bool {
    let secret = app_secret(state);
    match given {
        Some(g) if !g.is_empty() => secret.is_empty() || g == secret,
        _ => false,
    }
}

fn ok(reply: Reply) -> Handled {
    let mut h = Handled::new(reply);
    h.authorization_ok = true;
    h
}

fn ok_json(v: &Value) -> Handled {
    ok(Reply::json(200, v))
}

fn fail(reply: Reply) -> Handled {
    Handled::new(reply)
}

fn oauth_err(status: u16, code: u32, subcode: Option<u32>, message: &str) -> Handled {
    fail(graph_error(status, code, subcode, message, None, None))
}

fn param_err(message: &str) -> Handled {
    oauth_err(400, 100, None, message)
}

/// api.instagram.com's flat error shape.
fn ig_api_err(message: &str) -> Handled {
    fail(Reply::json(
        400,
        &json!({"error_type": "OAuthException", "code": 400, "error_message": message}),
    ))
}

fn redirect(location: String) -> Reply {
    let mut r = Reply::html(
        302,
        "<!DOCTYPE html><html><head><title>Redirecting</title></head><body>Redirecting…</body></html>",
    );
    r.headers.push(("location", location));
    r
}

/// `http://{Host}` of the request (the simulator's own origin as the browser sees it).
fn origin_of(state: &State, req: &Request) -> String {
    req.headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
        .map_or_else(|| state.base_url.clone(), |h| format!("http://{h}"))
}

fn query_pairs(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

async fn read_form(body: RequestBody) -> Vec<(String, String)> {
    let mut body = body;
    let Ok(body) = body.take() else {
        return Vec::new();
    };
    match body.into_bytes_limit(FORM_LIMIT).await {
        Ok(bytes) => url::form_urlencoded::parse(&bytes).into_owned().collect(),
        Err(_) => Vec::new(),
    }
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn all<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// HTML-escapes text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe to put inside a `<script>` element.
fn script_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn hidden(name: &str, value: Option<&str>) -> String {
    value.map_or_else(String::new, |v| {
        format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(name),
            esc(v)
        )
    })
}

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
<meta name=\"viewport\" content=\"width=device-width\">\
<style>body{{font-family:sans-serif;max-width:34em;margin:2em auto;padding:0 1em}}\
.box{{border:1px solid #ccc;border-radius:8px;padding:1em 1.5em}}label{{display:block;margin:.4em 0}}\
button{{margin:.8em .5em 0 0;padding:.4em 1.2em}}.err{{color:#a00}}</style></head>\
<body><div class=\"box\"><h1>{}</h1>{body}</div></body></html>",
        esc(title),
        esc(title)
    )
}

fn error_page(title: &str, message: &str) -> Handled {
    fail(Reply::html(
        400,
        &html_page(title, &format!("<p class=\"err\">{}</p>", esc(message))),
    ))
}

/// An absolute http(s) redirect URI without a fragment.
fn parse_redirect(uri: Option<&str>) -> Result<url::Url, &'static str> {
    let uri = uri
        .filter(|u| !u.is_empty())
        .ok_or("The redirect_uri parameter is missing.")?;
    let url = url::Url::parse(uri)
        .map_err(|_| "URL blocked: This redirect failed because the redirect URI is not valid.")?;
    if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() {
        return Err(
            "URL blocked: This redirect failed because the redirect URI is not whitelisted in the app's client OAuth settings.",
        );
    }
    Ok(url)
}

fn with_params(mut url: url::Url, params: &[(&str, Option<&str>)]) -> url::Url {
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    url
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

fn fields_param(req: &Request) -> Option<Vec<String>> {
    query_param(req, "fields").map(|f| {
        f.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// Keeps only the requested fields (and `id`) of an object answer.
fn only_fields(mut v: Value, fields: Option<&[String]>) -> Value {
    if let (Some(fields), Some(obj)) = (fields, v.as_object_mut()) {
        obj.retain(|k, _| k == "id" || fields.iter().any(|f| f == k));
    }
    v
}

// ---------------------------------------------------------------------------------------
// Hosts under path prefixes

pub(super) async fn route_hosts(
    state: &Arc<State>,
    req: &Request,
    segs: &[&str],
    token: Option<&str>,
    body: RequestBody,
    at: Instant,
) -> Handled {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let (prefix, rest) = match segs.split_first() {
        Some((p, rest)) => (*p, rest),
        None => return unknown_path(&path),
    };
    // A version segment after the host prefix is optional everywhere.
    let rest = match rest.split_first() {
        Some((v, tail)) if is_version(v) => tail,
        _ => rest,
    };
    match (prefix, rest) {
        ("sdk.js", []) if method == Method::GET => sdk_js(state, req),
        ("dialog-fb", ["dialog", "oauth"]) => {
            let pairs = if method == Method::POST {
                read_form(body).await
            } else {
                query_pairs(req)
            };
            fb_dialog(state, &pairs, method == Method::POST)
        }
        ("dialog-fb", ["dialog", "embedded_signup"]) => {
            let pairs = if method == Method::POST {
                read_form(body).await
            } else {
                query_pairs(req)
            };
            es_dialog(state, &pairs, method == Method::POST)
        }
        ("dialog-ig", ["oauth", "authorize"]) => {
            let pairs = if method == Method::POST {
                read_form(body).await
            } else {
                query_pairs(req)
            };
            ig_dialog(state, &pairs, method == Method::POST)
        }
        ("ig-api", ["oauth", "access_token"]) if method == Method::POST => {
            let pairs = read_form(body).await;
            ig_exchange(state, &pairs)
        }
        ("ig-graph", ["access_token"]) if method == Method::GET => ig_long_lived(state, req),
        ("ig-graph", ["refresh_access_token"]) if method == Method::GET => ig_refresh(state, req),
        ("ig-graph", ["me"]) if method == Method::GET => ig_me(state, req, token),
        ("ig-graph", ["me", "subscribed_apps"]) => ig_subscribed_apps(state, req, token),
        ("ig-graph", [object, "messages"]) if method == Method::POST => {
            messages(state, Host::Instagram, object, token, body, at).await
        }
        _ => unknown_path(&path),
    }
}

// ---------------------------------------------------------------------------------------
// Dialogs

fn fb_dialog(state: &Arc<State>, p: &[(String, String)], submit: bool) -> Handled {
    const TITLE: &str = "Simulated Facebook Login";
    let client_id = first(p, "client_id");
    if client_id != Some(APP_ID) {
        return error_page(
            TITLE,
            "Invalid App ID: The provided app ID does not look like a valid app ID.",
        );
    }
    let redirect_uri = match parse_redirect(first(p, "redirect_uri")) {
        Ok(u) => u,
        Err(e) => return error_page(TITLE, e),
    };
    if first(p, "response_type").is_some_and(|r| r != "code") {
        return error_page(TITLE, "The simulator only supports response_type=code.");
    }
    let state_param = first(p, "state");
    let scopes = split_scopes(first(p, "scope"), FB_DEFAULT_SCOPES);
    if !submit {
        let accounts = lock(&state.inner).onboard.accounts.clone();
        let pages: String = accounts
            .pages
            .iter()
            .map(|pg| {
                let ig = pg.instagram.as_ref().map_or_else(String::new, |i| {
                    format!(" — Instagram @{} ({})", esc(&i.username), esc(&i.id))
                });
                format!(
                    "<label><input type=\"checkbox\" name=\"page\" value=\"{}\" checked> {} ({}){ig}</label>",
                    esc(&pg.id),
                    esc(&pg.name),
                    esc(&pg.id)
                )
            })
            .collect();
        let perms: String = scopes
            .iter()
            .map(|s| format!("<li>{}</li>", esc(s)))
            .collect();
        let body = format!(
            "<p>Logged in as <b>{}</b> ({}).</p><p>App <b>{}</b> ({}) asks for:</p><ul>{perms}</ul>\
<form method=\"post\"><fieldset><legend>Pages to share</legend>{pages}</fieldset>{}{}{}{}{}{}\
<button type=\"submit\" name=\"action\" value=\"allow\" id=\"allow\">Allow</button>\
<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button></form>",
            esc(&accounts.user.name),
            esc(&accounts.user.id),
            APP_NAME,
            APP_ID,
            hidden("client_id", client_id),
            hidden("redirect_uri", first(p, "redirect_uri")),
            hidden("state", state_param),
            hidden("scope", first(p, "scope")),
            hidden("config_id", first(p, "config_id")),
            hidden("response_type", first(p, "response_type")),
        );
        return ok(Reply::html(200, &html_page(TITLE, &body)));
    }
    if first(p, "action") != Some("allow") {
        let url = with_params(
            redirect_uri,
            &[
                ("error", Some("access_denied")),
                ("error_code", Some("200")),
                ("error_description", Some("Permissions error")),
                ("error_reason", Some("user_denied")),
                ("state", state_param),
            ],
        );
        return ok(redirect(url.to_string()));
    }
    // A person may decline single permissions in Meta's dialog ("Edit access"): they are
    // then missing from the token (`debug_token` scopes) and from what it may do.
    let declined = all(p, "decline");
    let scopes: Vec<String> = scopes
        .into_iter()
        .filter(|s| !declined.contains(&s.as_str()))
        .collect();
    let mut inner = lock(&state.inner);
    let pages: Vec<String> = all(p, "page")
        .into_iter()
        .filter(|id| inner.onboard.accounts.page(id).is_some())
        .map(str::to_owned)
        .collect();
    let code = new_code(
        &mut inner,
        CodeFlow::FbLogin {
            redirect_uri: first(p, "redirect_uri").unwrap_or_default().to_owned(),
            pages,
        },
        scopes,
        FB_CODE_TTL,
    );
    let url = with_params(
        redirect_uri,
        &[("code", Some(code.as_str())), ("state", state_param)],
    );
    ok(redirect(url.to_string()))
}

fn ig_dialog(state: &Arc<State>, p: &[(String, String)], submit: bool) -> Handled {
    const TITLE: &str = "Simulated Instagram Login";
    let client_id = first(p, "client_id");
    if client_id != Some(APP_ID) {
        return error_page(TITLE, "Invalid platform app");
    }
    let redirect_uri = match parse_redirect(first(p, "redirect_uri")) {
        Ok(u) => u,
        Err(e) => return error_page(TITLE, e),
    };
    let state_param = first(p, "state");
    let scopes = split_scopes(first(p, "scope"), IG_DEFAULT_SCOPES);
    if !submit {
        let accounts = lock(&state.inner).onboard.accounts.clone();
        let choices: String = accounts
            .instagram_logins
            .iter()
            .enumerate()
            .map(|(i, a)| {
                format!(
                    "<label><input type=\"radio\" name=\"account\" value=\"{}\"{}> @{} — {} ({})</label>",
                    esc(&a.user_id),
                    if i == 0 { " checked" } else { "" },
                    esc(&a.username),
                    esc(&a.name),
                    esc(&a.user_id)
                )
            })
            .collect();
        let perms: String = scopes
            .iter()
            .map(|s| format!("<li>{}</li>", esc(s)))
            .collect();
        let body = format!(
            "<p>App <b>{APP_NAME}</b> ({APP_ID}) asks for:</p><ul>{perms}</ul>\
<form method=\"post\"><fieldset><legend>Professional account</legend>{choices}</fieldset>{}{}{}{}\
<button type=\"submit\" name=\"action\" value=\"allow\" id=\"allow\">Allow</button>\
<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button></form>",
            hidden("client_id", client_id),
            hidden("redirect_uri", first(p, "redirect_uri")),
            hidden("state", state_param),
            hidden("scope", first(p, "scope")),
        );
        return ok(Reply::html(200, &html_page(TITLE, &body)));
    }
    if first(p, "action") != Some("allow") {
        let url = with_params(
            redirect_uri,
            &[
                ("error", Some("access_denied")),
                ("error_reason", Some("user_denied")),
                ("error_description", Some("The user denied your request.")),
                ("state", state_param),
            ],
        );
        return ok(redirect(url.to_string()));
    }
    let mut inner = lock(&state.inner);
    let chosen = first(p, "account")
        .filter(|id| inner.onboard.accounts.ig_login(id).is_some())
        .map(str::to_owned)
        .or_else(|| {
            inner
                .onboard
                .accounts
                .instagram_logins
                .first()
                .map(|a| a.user_id.clone())
        });
    let Some(ig_user_id) = chosen else {
        drop(inner);
        return error_page(TITLE, "No Instagram professional account to log in with.");
    };
    let code = new_code(
        &mut inner,
        CodeFlow::IgLogin {
            redirect_uri: first(p, "redirect_uri").unwrap_or_default().to_owned(),
            ig_user_id,
        },
        scopes,
        IG_CODE_TTL,
    );
    let mut url = with_params(
        redirect_uri,
        &[("code", Some(code.as_str())), ("state", state_param)],
    );
    url.set_fragment(Some("_"));
    ok(redirect(url.to_string()))
}

/// The Embedded Signup popup (v4). What it posts to the opener is the session-info message of
/// "Implementation" (Embedded Signup v4),
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/implementation
/// (read 2026-12-02), as a JSON string: `{data, type: "WA_EMBEDDED_SIGNUP", event}` with
/// `event` one of `FINISH` (`data`: `phone_number_id`, `waba_id`, `business_id`),
/// `FINISH_ONLY_WABA` (no phone number), `FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING` (`data`:
/// `waba_id` only, `version: 3` — "Onboard WhatsApp Business app users",
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users),
/// `CANCEL` with `current_step` (abandoned) or with `error_message`, `error_code`,
/// `session_id`, `timestamp` (an error the person reported), and `ERROR`. Every finish hands
/// the SDK a code; a cancel hands none.
///
/// `extras` (JSON, as `FB.login` got it): `featureType` may only be absent, empty or
/// `whatsapp_business_app_onboarding` (v3+ removed the others, "Version 3",
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/version-3);
/// only with it are WhatsApp Business app numbers offered (and only that way).
fn es_dialog(state: &Arc<State>, p: &[(String, String)], submit: bool) -> Handled {
    const TITLE: &str = "Simulated WhatsApp Embedded Signup";
    if first(p, "app_id").or_else(|| first(p, "client_id")) != Some(APP_ID) {
        return error_page(
            TITLE,
            "Invalid App ID: The provided app ID does not look like a valid app ID.",
        );
    }
    if first(p, "config_id").is_none_or(str::is_empty) {
        return error_page(TITLE, "The config_id parameter is missing.");
    }
    let extras: Value = first(p, "extras")
        .and_then(|e| serde_json::from_str(e).ok())
        .unwrap_or_else(|| json!({}));
    if !extras.is_object() {
        return error_page(TITLE, "The extras parameter must be an object.");
    }
    let feature_type = extras
        .get("featureType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !matches!(feature_type, "" | "whatsapp_business_app_onboarding") {
        return error_page(
            TITLE,
            "Invalid featureType: the only feature type of Embedded Signup v3 and later is whatsapp_business_app_onboarding.",
        );
    }
    let business_app = feature_type == "whatsapp_business_app_onboarding";
    // Where the SDK shim listens; '*' when the opener's origin is not a plain origin.
    let target = first(p, "origin")
        .and_then(|o| url::Url::parse(o).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map_or_else(|| "*".to_owned(), |u| u.origin().ascii_serialization());
    if !submit {
        let accounts = lock(&state.inner).onboard.accounts.clone();
        let mut first_choice = true;
        let mut choices = String::new();
        for b in &accounts.businesses {
            for w in &b.wabas {
                for ph in &w.phone_numbers {
                    if ph.on_biz_app && !business_app {
                        continue;
                    }
                    choices.push_str(&format!(
                        "<label><input type=\"radio\" name=\"phone\" value=\"{}\"{}> {} {} <small>({} / WABA {} / phone {}{})</small></label>",
                        esc(&ph.id),
                        if first_choice { " checked" } else { "" },
                        esc(&ph.verified_name),
                        esc(&ph.display_phone_number),
                        esc(&b.name),
                        esc(&w.id),
                        esc(&ph.id),
                        if ph.on_biz_app { ", WhatsApp Business app" } else { "" },
                    ));
                    first_choice = false;
                }
            }
        }
        let app_button = if business_app {
            "<button type=\"submit\" name=\"action\" value=\"finish_business_app\" id=\"finish_business_app\">Connect your existing WhatsApp Business app</button>"
        } else {
            ""
        };
        let body = format!(
            "<p>Connect a WhatsApp Business account to <b>{APP_NAME}</b> ({APP_ID}) as <b>{}</b>.</p>\
<form method=\"post\"><fieldset><legend>Phone number</legend>{choices}</fieldset>{}{}{}{}\
<button type=\"submit\" name=\"action\" value=\"finish\" id=\"finish\">Finish</button>{app_button}\
<button type=\"submit\" name=\"action\" value=\"finish_only_waba\" id=\"finish_only_waba\">Finish without a phone number</button>\
<button type=\"submit\" name=\"action\" value=\"report_error\" id=\"report_error\">Report a problem</button>\
<button type=\"submit\" name=\"action\" value=\"error\" id=\"error\">Fail with an error</button>\
<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button></form>",
            esc(&accounts.user.name),
            hidden("app_id", Some(APP_ID)),
            hidden("config_id", first(p, "config_id")),
            hidden("origin", first(p, "origin")),
            hidden("extras", first(p, "extras")),
        );
        return ok(Reply::html(200, &html_page(TITLE, &body)));
    }
    let action = first(p, "action").unwrap_or("cancel");
    let (session, login) = if action.starts_with("finish") {
        let mut inner = lock(&state.inner);
        let Some((business_id, waba_id, phone_id, on_app)) = first(p, "phone").and_then(|id| {
            inner
                .onboard
                .accounts
                .phone(id)
                .map(|(b, w, ph)| (b.id.clone(), w.id.clone(), ph.id.clone(), ph.on_biz_app))
        }) else {
            drop(inner);
            return error_page(TITLE, "Choose a phone number.");
        };
        let session = match action {
            "finish_only_waba" => json!({"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH_ONLY_WABA",
                   "data": {"waba_id": waba_id, "business_id": business_id}}),
            "finish_business_app" => {
                if !business_app || !on_app {
                    drop(inner);
                    return error_page(
                        TITLE,
                        "This phone number is not in use with the WhatsApp Business app.",
                    );
                }
                json!({"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
                       "version": 3, "data": {"waba_id": waba_id}})
            }
            _ => {
                if on_app {
                    drop(inner);
                    return error_page(
                        TITLE,
                        "This phone number is in use with the WhatsApp Business app: connect it as your existing WhatsApp Business app.",
                    );
                }
                json!({"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH",
                       "data": {"phone_number_id": phone_id, "waba_id": waba_id, "business_id": business_id}})
            }
        };
        let ttl = inner.onboard.es_code_ttl.unwrap_or(state.opts.es_code_ttl);
        let code = new_code(
            &mut inner,
            CodeFlow::EmbeddedSignup {
                business_id: business_id.clone(),
                waba_id: waba_id.clone(),
            },
            ES_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            ttl,
        );
        (session, json!({"type": "SIM_FB_LOGIN", "code": code}))
    } else {
        let reported = json!({
            "error_message": first(p, "error_message").unwrap_or("Your verified name violates WhatsApp guidelines. Please edit your verified name and try again."),
            "error_code": first(p, "error_code").unwrap_or("524126"),
            "session_id": "f34b51dab5e0498",
            "timestamp": now_secs().to_string(),
        });
        let session = match action {
            "report_error" => {
                json!({"type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL", "data": reported})
            }
            "error" => json!({"type": "WA_EMBEDDED_SIGNUP", "event": "ERROR", "data": reported}),
            _ => json!({"type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL",
                        "data": {"current_step": first(p, "step").unwrap_or("PHONE_NUMBER_SETUP")}}),
        };
        (session, json!({"type": "SIM_FB_LOGIN", "code": null}))
    };
    let script = format!(
        "<script>(function(){{var s={},l={},t={};var o=window.opener;\
if(o){{o.postMessage(JSON.stringify(s),'*');o.postMessage(JSON.stringify(l),t);}}\
setTimeout(function(){{window.close();}},300);}})();</script>",
        script_json(&session),
        script_json(&login),
        script_json(&json!(target)),
    );
    let done = if login["code"].is_null() {
        "Cancelled."
    } else {
        "Done."
    };
    let mut h = ok(Reply::html(
        200,
        &html_page(
            TITLE,
            &format!("<p id=\"result\">{done} This window closes itself.</p>{script}"),
        ),
    ));
    h.body = Value::Null;
    h
}

fn sdk_js(state: &Arc<State>, req: &Request) -> Handled {
    let origin = origin_of(state, req);
    let js = format!(
        r#"/* Simulated Facebook JS SDK (metabridge Graph simulator): FB.init, FB.login (Embedded Signup popup), FB.getLoginStatus. */
(function () {{
  var SIM = {origin};
  var opts = {{ appId: null, version: 'v25.0' }};
  var pending = null;
  function finish(resp) {{
    if (!pending) return;
    var cb = pending.cb;
    clearInterval(pending.timer);
    pending = null;
    try {{ cb(resp); }} catch (e) {{ if (window.console) console.error(e); }}
  }}
  window.addEventListener('message', function (ev) {{
    if (ev.origin !== SIM) return;
    var d;
    try {{ d = typeof ev.data === 'string' ? JSON.parse(ev.data) : ev.data; }} catch (e) {{ return; }}
    if (!d || d.type !== 'SIM_FB_LOGIN') return;
    if (d.code) finish({{ authResponse: {{ code: d.code, userID: '', expiresIn: 0 }}, status: 'connected' }});
    else finish({{ authResponse: null, status: 'unknown' }});
  }});
  window.FB = {{
    init: function (o) {{ o = o || {{}}; opts.appId = o.appId || null; if (o.version) opts.version = o.version; }},
    login: function (cb, o) {{
      o = o || {{}};
      if (typeof cb !== 'function') cb = function () {{}};
      if (pending) finish({{ authResponse: null, status: 'unknown' }});
      var url = SIM + '/dialog-fb/' + encodeURIComponent(opts.version) + '/dialog/embedded_signup'
        + '?app_id=' + encodeURIComponent(opts.appId || '')
        + '&config_id=' + encodeURIComponent(o.config_id || '')
        + '&extras=' + encodeURIComponent(JSON.stringify(o.extras || {{}}))
        + '&origin=' + encodeURIComponent(window.location.origin);
      var w = window.open(url, 'sim_fb_login', 'width=620,height=720');
      if (!w) {{ cb({{ authResponse: null, status: 'unknown' }}); return; }}
      var p = {{ cb: cb, timer: null }};
      p.timer = setInterval(function () {{
        if (w.closed) {{
          clearInterval(p.timer);
          setTimeout(function () {{ if (pending === p) finish({{ authResponse: null, status: 'unknown' }}); }}, 500);
        }}
      }}, 300);
      pending = p;
    }},
    getLoginStatus: function (cb) {{ if (typeof cb === 'function') cb({{ authResponse: null, status: 'unknown' }}); }},
    logout: function (cb) {{ if (typeof cb === 'function') cb({{}}); }}
  }};
  if (typeof window.fbAsyncInit === 'function') setTimeout(function () {{ window.fbAsyncInit(); }}, 0);
}})();
"#,
        origin = script_json(&json!(origin)),
    );
    ok(Reply {
        status: 200,
        content_type: "application/javascript; charset=utf-8".into(),
        body: js.into_bytes(),
        // Like connect.facebook.net: loadable with `crossorigin="anonymous"`.
        headers: vec![
            ("cache-control", "no-store".into()),
            ("access-control-allow-origin", "*".into()),
        ],
    })
}

// ---------------------------------------------------------------------------------------
// Graph: tokens

/// Looks a code up for an exchange, marking it used (a failed exchange kills the code too).
fn take_code(
    inner: &mut Inner,
    code: &str,
    client_id: &str,
    redirect_uri: Option<&str>,
) -> Result<AuthCode, &'static str> {
    let Some(c) = inner.onboard.codes.get_mut(code) else {
        return Err("Invalid verification code format.");
    };
    if c.used {
        return Err("This authorization code has been used.");
    }
    c.used = true;
    if Instant::now() >= c.expires {
        return Err("This authorization code has expired.");
    }
    if c.client_id != client_id {
        return Err("Invalid verification code format.");
    }
    let redirect_needed = match &c.flow {
        CodeFlow::FbLogin { redirect_uri, .. } | CodeFlow::IgLogin { redirect_uri, .. } => {
            Some(redirect_uri.as_str())
        }
        CodeFlow::EmbeddedSignup { .. } => None,
    };
    if let Some(expected) = redirect_needed
        && redirect_uri != Some(expected)
    {
        return Err(
            "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
        );
    }
    Ok(c.clone())
}

fn code_subcode(message: &str) -> u32 {
    if message.contains("has been used") {
        36009
    } else if message.contains("expired") {
        36007
    } else {
        36008
    }
}

/// `GET /oauth/access_token`: code exchange (Facebook Login, Embedded Signup) and
/// `grant_type=fb_exchange_token`.
pub(super) fn oauth_access_token(state: &Arc<State>, req: &Request) -> Handled {
    let q = |k: &str| query_param(req, k);
    let client_id = q("client_id");
    if client_id.as_deref() != Some(APP_ID) {
        return oauth_err(
            400,
            101,
            None,
            "Error validating application. Invalid application ID.",
        );
    }
    if !secret_ok(state, q("client_secret").as_deref()) {
        return oauth_err(400, 1, None, "Error validating client secret.");
    }
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    if q("grant_type").as_deref() == Some("fb_exchange_token") {
        let Some(short) = q("fb_exchange_token").filter(|t| !t.is_empty()) else {
            return param_err("(#100) The parameter fb_exchange_token is required");
        };
        let token_state = inner.token_state(&short);
        let Some(m) = inner
            .onboard
            .tokens
            .get(&short)
            .filter(|m| m.kind == TokenKind::User)
            .cloned()
        else {
            return fail(err_token(TokenState::Unknown));
        };
        if token_state != TokenState::Valid {
            return fail(err_token(token_state));
        }
        let token = mint(
            inner,
            Mint {
                kind: TokenKind::User,
                user_id: &m.user_id,
                assets: m.assets,
                scopes: m.scopes,
                expires_in: Some(LONG_LIVED_SECS),
                long_lived: true,
            },
        );
        return ok_json(
            &json!({"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECS}),
        );
    }
    let Some(code) = q("code").filter(|c| !c.is_empty()) else {
        return param_err("(#100) The parameter code is required");
    };
    let c = match take_code(inner, &code, APP_ID, q("redirect_uri").as_deref()) {
        Ok(c) => c,
        Err(message) => return oauth_err(400, 100, Some(code_subcode(message)), message),
    };
    let user_id = inner.onboard.accounts.user.id.clone();
    match c.flow {
        CodeFlow::FbLogin { pages, .. } => {
            let mut assets = Vec::new();
            for id in pages {
                if let Some(ig) = inner
                    .onboard
                    .accounts
                    .page(&id)
                    .and_then(|p| p.instagram.as_ref())
                {
                    assets.push(ig.id.clone());
                }
                assets.push(id);
            }
            let token = mint(
                inner,
                Mint {
                    kind: TokenKind::User,
                    user_id: &user_id,
                    assets,
                    scopes: c.scopes,
                    expires_in: Some(SHORT_USER_SECS),
                    long_lived: false,
                },
            );
            ok_json(
                &json!({"access_token": token, "token_type": "bearer", "expires_in": SHORT_USER_SECS}),
            )
        }
        CodeFlow::EmbeddedSignup {
            business_id,
            waba_id,
        } => {
            let mut assets = vec![business_id, waba_id.clone()];
            if let Some((_, w)) = inner.onboard.accounts.waba(&waba_id) {
                assets.extend(w.phone_numbers.iter().map(|p| p.id.clone()));
            }
            let token = mint(
                inner,
                Mint {
                    kind: TokenKind::Business,
                    user_id: &user_id,
                    assets,
                    scopes: c.scopes,
                    expires_in: None,
                    long_lived: true,
                },
            );
            ok_json(&json!({"access_token": token, "token_type": "bearer"}))
        }
        CodeFlow::IgLogin { .. } => {
            oauth_err(400, 100, Some(36008), "Invalid verification code format.")
        }
    }
}

/// `GET /me`: the app-scoped user (user and business tokens) or the Page (Page tokens).
pub(super) fn me(state: &Arc<State>, req: &Request, token: Option<&str>) -> Handled {
    let inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    if let Some(reply) = host_refuses(&inner, t, Host::Facebook) {
        return fail(reply);
    }
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let fields = fields_param(req);
    let v = match inner.onboard.tokens.get(t) {
        Some(m) if m.kind == TokenKind::Page => {
            let page = m.assets.first().cloned().unwrap_or_default();
            let name = inner
                .onboard
                .accounts
                .page(&page)
                .map(|p| p.name.clone())
                .unwrap_or_default();
            json!({"id": page, "name": name})
        }
        Some(m) => json!({"id": m.user_id, "name": inner.onboard.accounts.user.name}),
        None => match inner.channels.values().find(|c| c.token == t) {
            Some(c) => json!({"id": c.external_id}),
            None => return fail(err_token(TokenState::Unknown)),
        },
    };
    ok_json(&only_fields(v, fields.as_deref()))
}

/// The Page token of `page` derived from `user_token` (minted once per pair).
fn page_token(inner: &mut Inner, user: &MintedToken, page: &SimPage) -> String {
    let key = (user.token.clone(), page.id.clone());
    if let Some(t) = inner.onboard.page_tokens.get(&key) {
        return t.clone();
    }
    let mut assets = vec![page.id.clone()];
    if let Some(ig) = &page.instagram {
        assets.push(ig.id.clone());
    }
    // From a long-lived user token a Page token never expires; otherwise it dies with the user
    // token.
    let expires_in = if user.long_lived {
        None
    } else {
        user.expires_at.map(|e| e.saturating_sub(now_secs()))
    };
    let token = mint(
        inner,
        Mint {
            kind: TokenKind::Page,
            user_id: &user.user_id,
            assets,
            scopes: user.scopes.clone(),
            expires_in,
            long_lived: user.long_lived,
        },
    );
    inner.onboard.page_tokens.insert(key, token.clone());
    token
}

/// `GET /me/accounts` (`limit`, `after` cursor).
pub(super) fn me_accounts(state: &Arc<State>, req: &Request, token: Option<&str>) -> Handled {
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(user) = inner.onboard.tokens.get(t).cloned() else {
        return fail(err_token(TokenState::Unknown));
    };
    if user.kind != TokenKind::User {
        return param_err(
            "(#100) Tried accessing nonexisting field (accounts) on node type (Page)",
        );
    }
    let pages: Vec<SimPage> = inner
        .onboard
        .accounts
        .pages
        .iter()
        .filter(|p| user.assets.contains(&p.id))
        .cloned()
        .collect();
    let limit = query_param(req, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, 100);
    let start = query_param(req, "after")
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(0)
        .min(pages.len());
    let end = (start + limit).min(pages.len());
    let mut data = Vec::new();
    for page in &pages[start..end] {
        let page_tok = page_token(inner, &user, page);
        let mut item = json!({
            "id": page.id,
            "name": page.name,
            "access_token": page_tok,
            "category": "Shopping & retail",
            "tasks": ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"],
        });
        if let Some(ig) = &page.instagram {
            item["instagram_business_account"] = json!({"id": ig.id, "username": ig.username});
        }
        data.push(item);
    }
    let mut paging = json!({"cursors": {"before": start.to_string(), "after": end.to_string()}});
    if end < pages.len()
        && let Ok(mut next) =
            url::Url::parse(&format!("{}{}", origin_of(state, req), req.uri().path()))
    {
        {
            let mut q = next.query_pairs_mut();
            if let Some(f) = query_param(req, "fields") {
                q.append_pair("fields", &f);
            }
            q.append_pair("limit", &limit.to_string());
            q.append_pair("after", &end.to_string());
        }
        paging["next"] = json!(next.to_string());
    }
    ok_json(&json!({"data": data, "paging": paging}))
}

/// The token may read `asset`: minted for it, or a registered channel token of that asset /
/// of a phone number of that WABA.
fn may_read(inner: &Inner, token: &str, asset: &str) -> bool {
    inner.onboard.grants(token, asset)
        || inner.channels.values().any(|c| {
            c.token == token && (c.external_id == asset || c.waba_id.as_deref() == Some(asset))
        })
}

/// `GET /{waba}/phone_numbers`.
pub(super) fn phone_numbers(state: &Arc<State>, waba: &str, token: Option<&str>) -> Handled {
    let inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some((_, w)) = inner.onboard.accounts.waba(waba) else {
        return fail(err_unknown_object("get", waba));
    };
    if !may_read(&inner, t, waba) {
        return fail(err_unknown_object("get", waba));
    }
    let data: Vec<Value> = w
        .phone_numbers
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "display_phone_number": p.display_phone_number,
                "verified_name": p.verified_name,
                "name_status": p.name_status,
                "code_verification_status": p.code_verification_status.as_deref().unwrap_or("VERIFIED"),
                "quality_rating": p.quality_rating,
                "platform_type": if p.cloud_api_registered || inner.onboard.registered.contains(&p.id) { "CLOUD_API" } else { "NOT_APPLICABLE" },
                "throughput": {"level": "STANDARD"},
                "is_on_biz_app": p.on_biz_app,
            })
        })
        .collect();
    let n = data.len();
    ok_json(&json!({"data": data, "paging": {"cursors": {"before": "0", "after": n.to_string()}}}))
}

fn app_entry(fields: &[String]) -> Value {
    json!({
        "category": "Business",
        "link": format!("https://www.facebook.com/games/?app_id={APP_ID}"),
        "name": APP_NAME,
        "id": APP_ID,
        "subscribed_fields": fields,
    })
}

/// Validates `subscribed_fields` (required for Pages and Instagram).
fn subscribed_fields(req: &Request) -> Result<Vec<String>, Box<Handled>> {
    let Some(raw) = query_param(req, "subscribed_fields") else {
        return Err(Box::new(param_err(
            "(#100) The parameter subscribed_fields is required.",
        )));
    };
    let fields: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if fields.is_empty() {
        return Err(Box::new(param_err(
            "(#100) The parameter subscribed_fields is required.",
        )));
    }
    if let Some((i, _)) = fields.iter().enumerate().find(|(_, f)| !is_field_name(f)) {
        return Err(Box::new(param_err(&format!(
            "(#100) Param subscribed_fields[{i}] must be a valid webhook field name"
        ))));
    }
    Ok(fields)
}

/// Page webhook fields that need a permission besides `pages_manage_metadata`, and the
/// permissions Meta accepts for each ("Webhooks for Pages": "pages_messaging is also required
/// for the messages related fields"; "Webhooks for Leads": `leadgen` needs `leads_retrieval`;
/// "Instagram webhook fields and permissions": Instagram messaging through a Page needs
/// `instagram_manage_messages`; read 2026-12-02). Meta's refusal names the field and the
/// permission: `(#200) To subscribe to the leadgen field, one of these permissions is needed:
/// leads_retrieval`.
fn page_field_permissions(field: &str, has_instagram: bool) -> Option<&'static [&'static str]> {
    const MESSAGING: &[&str] = &["pages_messaging"];
    const MESSAGING_OR_IG: &[&str] = &["pages_messaging", "instagram_manage_messages"];
    match field {
        "messages"
        | "messaging_postbacks"
        | "message_echoes"
        | "message_reactions"
        | "messaging_referrals"
        | "message_reads"
        | "message_deliveries"
        | "message_edits"
        | "messaging_optins"
        | "messaging_handovers"
        | "messaging_policy_enforcement"
        | "messaging_account_linking"
        | "standby" => Some(if has_instagram {
            MESSAGING_OR_IG
        } else {
            MESSAGING
        }),
        "leadgen" => Some(&["leads_retrieval"]),
        _ => None,
    }
}

/// The Page-level permission checks of `/{page}/subscribed_apps` for a token minted by the
/// connect flows (tokens registered by hand carry no scopes and are not checked).
fn page_permission_error(
    inner: &Inner,
    token: &str,
    page: &str,
    fields: Option<&[String]>,
) -> Option<Handled> {
    let m = inner.onboard.tokens.get(token)?;
    let has = |p: &str| m.scopes.iter().any(|s| s == p);
    if !has("pages_manage_metadata") {
        return Some(ok(graph_error(
            403,
            200,
            None,
            "(#200) Requires pages_manage_metadata permission to manage the object",
            None,
            None,
        )));
    }
    let has_instagram = inner
        .onboard
        .accounts
        .page(page)
        .is_some_and(|p| p.instagram.is_some());
    let refused: Vec<String> = fields
        .unwrap_or_default()
        .iter()
        .filter_map(|f| {
            let needs = page_field_permissions(f, has_instagram)?;
            (!needs.iter().any(|p| has(p))).then(|| {
                format!(
                    "To subscribe to the {f} field, one of these permissions is needed: {}",
                    needs.join(",")
                )
            })
        })
        .collect();
    if refused.is_empty() {
        return None;
    }
    Some(ok(graph_error(
        403,
        200,
        None,
        &format!("(#200) {}", refused.join(". ")),
        None,
        None,
    )))
}

/// `POST|GET|DELETE /{waba-or-page}/subscribed_apps`.
pub(super) fn subscribed_apps(
    state: &Arc<State>,
    req: &Request,
    object: &str,
    token: Option<&str>,
) -> Handled {
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let is_waba = inner.onboard.accounts.waba(object).is_some()
        || inner
            .channels
            .values()
            .any(|c| c.waba_id.as_deref() == Some(object));
    let is_page = inner.onboard.accounts.page(object).is_some()
        || inner
            .channels
            .get(object)
            .is_some_and(|c| c.kind == Kind::Messenger);
    let allowed = if is_waba {
        may_read(inner, t, object)
    } else if is_page {
        inner.onboard.covers(t, object) || inner.channels.get(object).is_some_and(|c| c.token == t)
    } else {
        false
    };
    if !allowed {
        let method = req.method().as_str().to_ascii_lowercase();
        return fail(err_unknown_object(&method, object));
    }
    let method = req.method().clone();
    if !is_waba && let Some(h) = page_permission_error(inner, t, object, None) {
        return h;
    }
    if method == Method::POST {
        let fields = if is_waba {
            Vec::new()
        } else {
            match subscribed_fields(req) {
                Ok(f) => f,
                Err(mut h) => {
                    h.authorization_ok = true;
                    return *h;
                }
            }
        };
        if !is_waba && let Some(h) = page_permission_error(inner, t, object, Some(&fields)) {
            return h;
        }
        inner
            .onboard
            .subscriptions
            .insert(object.to_owned(), fields);
        ok_json(&json!({"success": true}))
    } else if method == Method::DELETE {
        inner.onboard.subscriptions.remove(object);
        ok_json(&json!({"success": true}))
    } else if method == Method::GET {
        let data = match inner.onboard.subscriptions.get(object) {
            None => Vec::new(),
            Some(_) if is_waba => vec![json!({"whatsapp_business_api_data": {
                "id": APP_ID,
                "link": format!("https://www.facebook.com/games/?app_id={APP_ID}"),
                "name": APP_NAME,
            }})],
            Some(fields) => vec![app_entry(fields)],
        };
        ok_json(&json!({"data": data}))
    } else {
        unknown_path(req.uri().path())
    }
}

pub(super) fn is_phone(state: &Arc<State>, id: &str) -> bool {
    let inner = lock(&state.inner);
    inner.onboard.accounts.phone(id).is_some()
        || inner
            .channels
            .get(id)
            .is_some_and(|c| c.kind == Kind::WhatsApp)
}

/// The simulated number `id`: one of the accounts, or a WhatsApp channel registered by hand.
fn sim_phone(inner: &Inner, id: &str) -> Option<SimPhone> {
    if let Some((_, _, p)) = inner.onboard.accounts.phone(id) {
        return Some(p.clone());
    }
    let c = inner
        .channels
        .get(id)
        .filter(|c| c.kind == Kind::WhatsApp)?;
    Some(
        inner
            .onboard
            .channel_phones
            .get(id)
            .cloned()
            .unwrap_or_else(|| hand_phone(&c.external_id)),
    )
}

fn hand_phone(id: &str) -> SimPhone {
    SimPhone {
        id: id.to_owned(),
        name_status: "APPROVED".into(),
        ..SimPhone::default()
    }
}

fn sim_phone_mut<'a>(inner: &'a mut Inner, id: &str) -> Option<&'a mut SimPhone> {
    if inner.onboard.accounts.phone(id).is_some() {
        return inner.onboard.accounts.phone_mut(id);
    }
    if !inner
        .channels
        .get(id)
        .is_some_and(|c| c.kind == Kind::WhatsApp)
    {
        return None;
    }
    Some(
        inner
            .onboard
            .channel_phones
            .entry(id.to_owned())
            .or_insert_with(|| hand_phone(id)),
    )
}

/// `POST /{phone}` `{"pin":"123456"}`: sets the two-step verification PIN (no old PIN
/// needed). "Two-Step Verification", WhatsApp Cloud API, read 2026-12-02.
pub(super) async fn set_pin(
    state: &Arc<State>,
    phone: &str,
    token: Option<&str>,
    body: RequestBody,
) -> Handled {
    let json = super::graph::read_json(body).await;
    let mut recorded = json.clone();
    if recorded.get("pin").is_some() {
        recorded["pin"] = json!("[redacted]");
    }
    let mut h = set_pin_inner(state, phone, token, &json);
    h.body = recorded;
    h.sender_id = Some(phone.to_owned());
    h
}

fn set_pin_inner(state: &Arc<State>, phone: &str, token: Option<&str>, json: &Value) -> Handled {
    let mut inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(ph) = sim_phone(&inner, phone) else {
        return fail(err_unknown_object("post", phone));
    };
    let refuse = ph.refuse_pin_change;
    if !may_read(&inner, t, phone) {
        return fail(err_unknown_object("post", phone));
    }
    let Some(pin) = json
        .get("pin")
        .and_then(Value::as_str)
        .filter(|p| p.len() == 6 && p.chars().all(|c| c.is_ascii_digit()))
    else {
        return ok(graph_error(
            400,
            100,
            None,
            "(#100) Param pin must be a 6-digit string.",
            Some("Param pin must be a 6-digit string."),
            Some(Kind::WhatsApp),
        ));
    };
    if refuse {
        return ok(graph_error(
            403,
            200,
            None,
            "(#200) Permissions error",
            None,
            None,
        ));
    }
    if let Some(p) = sim_phone_mut(&mut inner, phone) {
        p.two_step_pin = Some(pin.to_owned());
    }
    ok_json(&json!({"success": true}))
}

/// `POST /{phone}/register` `{"messaging_product":"whatsapp","pin":"123456"}`.
pub(super) async fn register(
    state: &Arc<State>,
    phone: &str,
    token: Option<&str>,
    body: RequestBody,
) -> Handled {
    let json = super::graph::read_json(body).await;
    let mut recorded = json.clone();
    if recorded.get("pin").is_some() {
        recorded["pin"] = json!("[redacted]");
    }
    let mut h = register_inner(state, phone, token, &json);
    h.body = recorded;
    h.sender_id = Some(phone.to_owned());
    h
}

fn register_inner(state: &Arc<State>, phone: &str, token: Option<&str>, json: &Value) -> Handled {
    let mut inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(ph) = sim_phone(&inner, phone) else {
        return fail(err_unknown_object("post", phone));
    };
    if !may_read(&inner, t, phone) {
        return fail(err_unknown_object("post", phone));
    }
    let wa_err = |code: u32, message: &str, details: &str| {
        ok(graph_error(
            400,
            code,
            None,
            message,
            Some(details),
            Some(Kind::WhatsApp),
        ))
    };
    if json.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return wa_err(
            100,
            "(#100) The parameter messaging_product is required.",
            "The parameter messaging_product is required.",
        );
    }
    let Some(pin) = json
        .get("pin")
        .and_then(Value::as_str)
        .filter(|p| p.len() == 6 && p.chars().all(|c| c.is_ascii_digit()))
    else {
        return wa_err(
            100,
            "(#100) Param pin must be a 6-digit string.",
            "Param pin must be a 6-digit string.",
        );
    };
    if !matches!(
        ph.name_status.as_str(),
        "APPROVED" | "AVAILABLE_WITHOUT_REVIEW"
    ) {
        return wa_err(
            133015,
            "(#133015) Please wait a few minutes before attempting to register this phone number",
            "The display name of this phone number is not approved yet (name_status PENDING_REVIEW); register again once it is approved.",
        );
    }
    if ph.two_step_pin.as_deref().is_some_and(|p| p != pin) {
        return wa_err(
            133005,
            "(#133005) Two step verification PIN Mismatch",
            "The PIN does not match the two-step verification PIN of this phone number.",
        );
    }
    if let Some(p) = sim_phone_mut(&mut inner, phone) {
        p.two_step_pin = Some(pin.to_owned());
    }
    inner.onboard.registered.insert(phone.to_owned());
    ok_json(&json!({"success": true}))
}

/// The checks every phone-number edge shares: a valid token that may act for `phone`.
fn phone_edge(
    inner: &Inner,
    phone: &str,
    token: Option<&str>,
    method: &str,
) -> Result<(), Box<Handled>> {
    let Some(t) = token else {
        return Err(Box::new(fail(err_token(TokenState::Unknown))));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return Err(Box::new(fail(err_token(token_state))));
    }
    if inner.onboard.accounts.phone(phone).is_none() || !may_read(inner, t, phone) {
        return Err(Box::new(fail(err_unknown_object(method, phone))));
    }
    Ok(())
}

fn wa_error(code: u32, message: &str, details: &str) -> Handled {
    ok(graph_error(
        400,
        code,
        None,
        message,
        Some(details),
        Some(Kind::WhatsApp),
    ))
}

/// `POST /{phone}/request_code?code_method=SMS|VOICE|IVR&language=en_US` ("Whats App Business
/// Phone Number Request Code", Graph API reference,
/// https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status/request_code/,
/// read 2026-12-02): both parameters required (100 otherwise), `{"success":true}`, and the
/// code goes to the phone (here: [`GraphSim::verification_code`]).
pub(super) fn request_code(
    state: &Arc<State>,
    req: &Request,
    phone: &str,
    token: Option<&str>,
) -> Handled {
    let mut inner = lock(&state.inner);
    if let Err(h) = phone_edge(&inner, phone, token, "post") {
        return *h;
    }
    let method = query_param(req, "code_method");
    if !matches!(method.as_deref(), Some("SMS" | "VOICE" | "IVR")) {
        return wa_error(
            100,
            "(#100) Param code_method must be one of {SMS, VOICE, IVR}",
            "The parameter code_method is required and must be SMS, VOICE or IVR.",
        );
    }
    if query_param(req, "language").is_none_or(|l| l.trim().is_empty()) {
        return wa_error(
            100,
            "(#100) The parameter language is required",
            "The parameter language is required.",
        );
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    inner
        .onboard
        .verification_codes
        .insert(phone.to_owned(), code);
    let mut h = ok_json(&json!({"success": true}));
    h.sender_id = Some(phone.to_owned());
    h
}

/// `POST /{phone}/verify_code?code=...` ("Registering business phone numbers", step 3,
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/registering-phone-numbers/,
/// read 2026-12-02): the code from `request_code` verifies the number; no code, no pending
/// request or a wrong code answers 136025 ("Verify code error", corpus
/// `whatsapp.verify_code.json`); the code is never logged.
pub(super) fn verify_code(
    state: &Arc<State>,
    req: &Request,
    phone: &str,
    token: Option<&str>,
) -> Handled {
    let mut inner = lock(&state.inner);
    let mut h = (|| {
        if let Err(h) = phone_edge(&inner, phone, token, "post") {
            return *h;
        }
        let Some(code) = query_param(req, "code").filter(|c| !c.is_empty()) else {
            return wa_error(
                100,
                "(#100) The parameter code is required",
                "The parameter code is required.",
            );
        };
        let pending = inner.onboard.verification_codes.get(phone).cloned();
        if pending.as_deref() != Some(code.as_str()) {
            return wa_error(
                136025,
                "(#136025) Verify code error",
                "The verification code is wrong or was not requested for this phone number.",
            );
        }
        inner.onboard.verification_codes.remove(phone);
        if let Some(p) = inner.onboard.accounts.phone_mut(phone) {
            p.code_verification_status = Some("VERIFIED".into());
        }
        ok_json(&json!({"success": true}))
    })();
    h.sender_id = Some(phone.to_owned());
    h
}

/// `POST /{phone}/smb_app_data` `{"messaging_product":"whatsapp","sync_type":"smb_app_state_sync"|"history"}`
/// ("Onboard WhatsApp Business app users", Synchronizing WhatsApp Business app data,
/// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users,
/// read 2026-12-02): only for WhatsApp Business app numbers, each sync type once (again =
/// 2593107, corpus `whatsapp.smb_app_data.json`); answers `{"messaging_product","request_id"}`.
pub(super) async fn smb_app_data(
    state: &Arc<State>,
    phone: &str,
    token: Option<&str>,
    body: RequestBody,
) -> Handled {
    let json = super::graph::read_json(body).await;
    let mut inner = lock(&state.inner);
    let mut h = (|| {
        if let Err(h) = phone_edge(&inner, phone, token, "post") {
            return *h;
        }
        if json.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
            return wa_error(
                100,
                "(#100) The parameter messaging_product is required.",
                "The parameter messaging_product is required.",
            );
        }
        let Some(sync) = json
            .get("sync_type")
            .and_then(Value::as_str)
            .filter(|t| matches!(*t, "smb_app_state_sync" | "history"))
        else {
            return wa_error(
                100,
                "(#100) Param sync_type must be one of {smb_app_state_sync, history}",
                "The parameter sync_type must be smb_app_state_sync or history.",
            );
        };
        let on_app = inner
            .onboard
            .accounts
            .phone(phone)
            .is_some_and(|(_, _, p)| p.on_biz_app);
        if !on_app {
            return wa_error(
                100,
                "(#100) This phone number was not onboarded with the WhatsApp Business app",
                "smb_app_data is only available for numbers onboarded with the WhatsApp Business app.",
            );
        }
        if !inner
            .onboard
            .smb_syncs
            .insert((phone.to_owned(), sync.to_owned()))
        {
            return wa_error(
                2593107,
                "(#2593107) Synchronization was already requested for this phone number",
                "Each synchronization can be started once; offboard the business and run Embedded Signup again.",
            );
        }
        ok_json(&json!({"messaging_product": "whatsapp", "request_id": random_alnum(16)}))
    })();
    h.body = json;
    h.sender_id = Some(phone.to_owned());
    h
}

pub(super) fn is_lead(state: &Arc<State>, id: &str) -> bool {
    lock(&state.inner).onboard.leads.contains_key(id)
}

pub(super) fn is_lead_form(state: &Arc<State>, id: &str) -> bool {
    lock(&state.inner).onboard.forms.contains_key(id)
}

/// `GET /{leadgen_id}?fields=...` with a token of the lead's Page. Ad-level fields
/// ([`LEAD_AD_FIELDS`]) need `ads_management` or `ads_read` on the token: without, Meta answers
/// a permission error (code 200, "Graph API error handling": 200–299 = API permission) and
/// nothing else of the read.
pub(super) fn lead(state: &Arc<State>, req: &Request, id: &str, token: Option<&str>) -> Handled {
    let mut inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(lead) = inner.onboard.leads.get(id).cloned() else {
        return fail(err_unknown_object("get", id));
    };
    if !may_read(&inner, t, &lead.page_id) {
        return fail(err_unknown_object("get", id));
    }
    let fields = fields_param(req);
    let wants_ad_fields = fields
        .as_deref()
        .is_some_and(|f| f.iter().any(|x| LEAD_AD_FIELDS.contains(&x.as_str())));
    if wants_ad_fields
        && !inner.onboard.has_scope(t, "ads_management")
        && !inner.onboard.has_scope(t, "ads_read")
    {
        return oauth_err(
            400,
            200,
            None,
            "(#200) Reading the ad fields of a lead requires the ads_management or ads_read permission and advertiser access to the ad account",
        );
    }
    if inner.onboard.lead_failures > 0 {
        inner.onboard.lead_failures -= 1;
        let mut h = ok(Reply::json(
            500,
            &json!({"error": {
                "message": "An unexpected error has occurred. Please retry your request later.",
                "type": "OAuthException",
                "is_transient": true,
                "code": 2,
                "fbtrace_id": random_alnum(11),
            }}),
        ));
        h.fault = Some("lead_fetch");
        return h;
    }
    ok_json(&only_fields(lead.to_json(), fields.as_deref()))
}

/// `GET /{form_id}?fields=...` with a token of the form's Page.
pub(super) fn lead_form(
    state: &Arc<State>,
    req: &Request,
    id: &str,
    token: Option<&str>,
) -> Handled {
    let inner = lock(&state.inner);
    let Some(t) = token else {
        return fail(err_token(TokenState::Unknown));
    };
    let token_state = inner.token_state(t);
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    let Some(form) = inner.onboard.forms.get(id) else {
        return fail(err_unknown_object("get", id));
    };
    if !may_read(&inner, t, &form.page_id) {
        return fail(err_unknown_object("get", id));
    }
    let fields = fields_param(req);
    ok_json(&only_fields(form.to_json(), fields.as_deref()))
}

// ---------------------------------------------------------------------------------------
// Instagram Login hosts

/// `POST /ig-api/oauth/access_token` (form-encoded).
fn ig_exchange(state: &Arc<State>, p: &[(String, String)]) -> Handled {
    if first(p, "client_id") != Some(APP_ID) {
        return ig_api_err("Invalid platform app");
    }
    if !secret_ok(state, first(p, "client_secret")) {
        return ig_api_err("Error validating client secret.");
    }
    if first(p, "grant_type") != Some("authorization_code") {
        return ig_api_err("Invalid grant_type: only authorization_code is supported");
    }
    let Some(code) = first(p, "code").filter(|c| !c.is_empty()) else {
        return ig_api_err("Missing required field code");
    };
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    let c = match take_code(inner, code, APP_ID, first(p, "redirect_uri")) {
        Ok(c) => c,
        Err(message) => return ig_api_err(message),
    };
    let CodeFlow::IgLogin { ig_user_id, .. } = c.flow else {
        return ig_api_err("Invalid verification code format.");
    };
    let token = mint(
        inner,
        Mint {
            kind: TokenKind::IgShort,
            user_id: &ig_user_id,
            assets: vec![ig_user_id.clone()],
            scopes: c.scopes.clone(),
            expires_in: Some(SHORT_IG_SECS),
            long_lived: false,
        },
    );
    let shape = inner
        .onboard
        .ig_token_shape
        .unwrap_or(state.opts.ig_token_shape);
    let n = inner.onboard.ig_exchanges;
    inner.onboard.ig_exchanges += 1;
    let data = match shape {
        IgTokenShape::Flat => false,
        IgTokenShape::Data => true,
        IgTokenShape::Alternate => n % 2 == 1,
    };
    let body = if data {
        json!({"data": [{"access_token": token, "user_id": ig_user_id, "permissions": c.scopes.join(",")}]})
    } else {
        let uid = ig_user_id
            .parse::<u64>()
            .map_or_else(|_| json!(ig_user_id), |n| json!(n));
        json!({"access_token": token, "user_id": uid, "permissions": c.scopes})
    };
    ok_json(&body)
}

/// `GET /ig-graph/access_token?grant_type=ig_exchange_token&client_secret&access_token`.
fn ig_long_lived(state: &Arc<State>, req: &Request) -> Handled {
    if query_param(req, "grant_type").as_deref() != Some("ig_exchange_token") {
        return param_err("(#100) grant_type must be ig_exchange_token");
    }
    if !secret_ok(state, query_param(req, "client_secret").as_deref()) {
        return oauth_err(400, 1, None, "Error validating client secret.");
    }
    let Some(short) = query_param(req, "access_token").filter(|t| !t.is_empty()) else {
        return param_err("(#100) The parameter access_token is required");
    };
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    if let Some(reply) = host_refuses(inner, &short, Host::Instagram) {
        return fail(reply);
    }
    let token_state = inner.token_state(&short);
    let Some(m) = inner.onboard.tokens.get(&short).cloned() else {
        return fail(err_token(TokenState::Unknown));
    };
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    if m.kind != TokenKind::IgShort {
        return param_err("(#100) Only short-lived Instagram User access tokens can be exchanged");
    }
    let token = mint(
        inner,
        Mint {
            kind: TokenKind::IgLong,
            user_id: &m.user_id,
            assets: m.assets,
            scopes: m.scopes,
            expires_in: Some(LONG_LIVED_SECS),
            long_lived: true,
        },
    );
    ok_json(&json!({"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECS}))
}

/// `GET /ig-graph/refresh_access_token?grant_type=ig_refresh_token&access_token`.
fn ig_refresh(state: &Arc<State>, req: &Request) -> Handled {
    if query_param(req, "grant_type").as_deref() != Some("ig_refresh_token") {
        return param_err("(#100) grant_type must be ig_refresh_token");
    }
    let Some(long) = query_param(req, "access_token").filter(|t| !t.is_empty()) else {
        return param_err("(#100) The parameter access_token is required");
    };
    let mut guard = lock(&state.inner);
    let inner = &mut *guard;
    if let Some(reply) = host_refuses(inner, &long, Host::Instagram) {
        return fail(reply);
    }
    let token_state = inner.token_state(&long);
    let Some(m) = inner.onboard.tokens.get(&long).cloned() else {
        return fail(err_token(TokenState::Unknown));
    };
    if token_state != TokenState::Valid {
        return fail(err_token(token_state));
    }
    if m.kind != TokenKind::IgLong {
        return param_err("(#100) Only long-lived Instagram User access tokens can be refreshed");
    }
    let young_ok = inner
        .onboard
        .allow_young_refresh
        .unwrap_or(state.opts.allow_young_ig_refresh);
    if !young_ok && now_secs().saturating_sub(m.issued_at) < DAY {
        return param_err(
            "(#100) The access token can only be refreshed 24 hours after it was issued",
        );
    }
    // The old token keeps working until its own expiry, like Meta.
    let token = mint(
        inner,
        Mint {
            kind: TokenKind::IgLong,
            user_id: &m.user_id,
            assets: m.assets,
            scopes: m.scopes,
            expires_in: Some(LONG_LIVED_SECS),
            long_lived: true,
        },
    );
    ok_json(&json!({"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECS}))
}

/// Whether `token` is an Instagram User token (Instagram Login): one minted by the Instagram
/// Login flow here, or a registered channel token of that shape (Meta's Instagram User tokens
/// start with `IG`; Facebook user, Page and system-user tokens with `EAA`).
pub(super) fn is_instagram_user_token(inner: &Inner, token: &str) -> bool {
    match inner.onboard.tokens.get(token) {
        Some(m) => m.kind.is_ig(),
        None => token.starts_with("IG"),
    }
}

/// The Instagram Login account of a valid Instagram token (minted by the Instagram Login flow,
/// or the token of a registered Instagram channel). Any other token is refused as Meta's
/// graph.instagram.com refuses it ([`super::graph::err_wrong_host`]).
fn ig_account(inner: &Inner, token: Option<&str>) -> Result<String, Box<Handled>> {
    let dead = |s: TokenState| Box::new(fail(err_token(s)));
    let Some(t) = token else {
        return Err(dead(TokenState::Unknown));
    };
    if let Some(reply) = host_refuses(inner, t, Host::Instagram) {
        return Err(Box::new(fail(reply)));
    }
    let token_state = inner.token_state(t);
    let account = match inner.onboard.tokens.get(t) {
        Some(m) => m.assets.first().cloned(),
        None => inner
            .channels
            .values()
            .find(|c| c.kind == Kind::Instagram && c.token == t)
            .map(|c| c.external_id.clone()),
    };
    let Some(account) = account else {
        return Err(dead(TokenState::Unknown));
    };
    if token_state != TokenState::Valid {
        return Err(dead(token_state));
    }
    Ok(account)
}

/// `GET /ig-graph/{v}/me?fields=user_id,username,name`.
fn ig_me(state: &Arc<State>, req: &Request, token: Option<&str>) -> Handled {
    let inner = lock(&state.inner);
    let ig = match ig_account(&inner, token) {
        Ok(ig) => ig,
        Err(h) => return *h,
    };
    let acct = inner
        .onboard
        .accounts
        .ig_login(&ig)
        .cloned()
        .unwrap_or_default();
    // `id` is an app-scoped id, different from `user_id` (route on `user_id`).
    let v = json!({
        "id": format!("2{}", ig.chars().rev().collect::<String>()),
        "user_id": ig,
        "username": acct.username,
        "name": acct.name,
        "account_type": "BUSINESS",
        "profile_picture_url": "https://scontent.cdninstagram.com/sim.jpg",
    });
    let fields = fields_param(req).unwrap_or_else(|| vec!["id".into()]);
    ok_json(&only_fields(v, Some(fields.as_slice())))
}

/// `POST|GET|DELETE /ig-graph/{v}/me/subscribed_apps`.
fn ig_subscribed_apps(state: &Arc<State>, req: &Request, token: Option<&str>) -> Handled {
    let mut inner = lock(&state.inner);
    let ig = match ig_account(&inner, token) {
        Ok(ig) => ig,
        Err(h) => return *h,
    };
    let method = req.method().clone();
    if method == Method::POST {
        let fields = match subscribed_fields(req) {
            Ok(f) => f,
            Err(mut h) => {
                h.authorization_ok = true;
                return *h;
            }
        };
        inner.onboard.subscriptions.insert(ig, fields);
        ok_json(&json!({"success": true}))
    } else if method == Method::DELETE {
        inner.onboard.subscriptions.remove(&ig);
        ok_json(&json!({"success": true}))
    } else if method == Method::GET {
        let data: Vec<Value> = inner
            .onboard
            .subscriptions
            .get(&ig)
            .map(|f| vec![app_entry(f)])
            .unwrap_or_default();
        ok_json(&json!({"data": data}))
    } else {
        unknown_path(req.uri().path())
    }
}

// ---------------------------------------------------------------------------------------
// Control API and handle

fn ctl_ok() -> Reply {
    Reply::json(200, &json!({"ok": true}))
}

fn ctl_bad(msg: &str) -> Reply {
    Reply::json(400, &json!({"error": msg}))
}

pub(super) fn control_get(state: &Arc<State>, path: &str) -> Option<Reply> {
    let inner = lock(&state.inner);
    Some(match path {
        "/_sim/subscriptions" => Reply::json(200, &json!(inner.onboard.subscriptions)),
        "/_sim/accounts" => Reply::json(200, &json!(inner.onboard.accounts)),
        "/_sim/tokens" => {
            let list: Vec<&MintedToken> = inner
                .onboard
                .order
                .iter()
                .filter_map(|t| inner.onboard.tokens.get(t))
                .collect();
            Reply::json(200, &json!(list))
        }
        "/_sim/leads" => {
            let mut list: Vec<&SimLead> = inner.onboard.leads.values().collect();
            list.sort_by(|a, b| a.leadgen_id.cmp(&b.leadgen_id));
            Reply::json(200, &json!(list))
        }
        "/_sim/registered" => Reply::json(200, &json!(inner.onboard.registered)),
        // What `request_code` sent to each phone (the SMS the person reads).
        "/_sim/verification_codes" => Reply::json(200, &json!(inner.onboard.verification_codes)),
        _ => return None,
    })
}

pub(super) fn control_post(state: &Arc<State>, path: &str, json: &Value) -> Option<Reply> {
    let field = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut inner = lock(&state.inner);
    Some(match path {
        "/_sim/accounts" => match serde_json::from_value::<SimAccounts>(json.clone()) {
            Ok(a) => {
                inner.onboard.accounts = a;
                ctl_ok()
            }
            Err(e) => ctl_bad(&format!("accounts document: {e}")),
        },
        "/_sim/subscriptions/drop" => {
            let Some(id) = field("object_id") else {
                return Some(ctl_bad("object_id is required"));
            };
            inner.onboard.subscriptions.remove(&id);
            ctl_ok()
        }
        "/_sim/tokens/expire" => {
            let (Some(t), Some(secs)) = (
                field("token"),
                json.get("expires_in_secs").and_then(Value::as_i64),
            ) else {
                return Some(ctl_bad("token and expires_in_secs are required"));
            };
            if !set_expiry(&mut inner, &t, secs) {
                return Some(ctl_bad("unknown token"));
            }
            ctl_ok()
        }
        "/_sim/tokens/age" => {
            let (Some(t), Some(secs)) =
                (field("token"), json.get("age_secs").and_then(Value::as_i64))
            else {
                return Some(ctl_bad("token and age_secs are required"));
            };
            match inner.onboard.tokens.get_mut(&t) {
                Some(m) => {
                    m.issued_at = now_secs().saturating_sub(secs);
                    ctl_ok()
                }
                None => ctl_bad("unknown token"),
            }
        }
        "/_sim/leads" => match serde_json::from_value::<SimLead>(json.clone()) {
            Ok(lead) => {
                inner.onboard.leads.insert(lead.leadgen_id.clone(), lead);
                ctl_ok()
            }
            Err(e) => ctl_bad(&format!("lead: {e}")),
        },
        "/_sim/tokens/grant" => {
            let (Some(t), Some(scopes)) =
                (field("token"), json.get("scopes").and_then(Value::as_array))
            else {
                return Some(ctl_bad("token and scopes are required"));
            };
            let scopes: Vec<String> = scopes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            inner
                .onboard
                .extra_scopes
                .entry(t)
                .or_default()
                .extend(scopes);
            ctl_ok()
        }
        "/_sim/forms" => match serde_json::from_value::<SimLeadForm>(json.clone()) {
            Ok(form) => {
                inner.onboard.forms.insert(form.form_id.clone(), form);
                ctl_ok()
            }
            Err(e) => ctl_bad(&format!("form: {e}")),
        },
        "/_sim/leads/fail" => {
            let Some(n) = json.get("times").and_then(Value::as_u64) else {
                return Some(ctl_bad("times is required"));
            };
            inner.onboard.lead_failures = u32::try_from(n).unwrap_or(u32::MAX);
            ctl_ok()
        }
        "/_sim/phones/name_status" => {
            let (Some(id), Some(status)) = (field("phone_number_id"), field("name_status")) else {
                return Some(ctl_bad("phone_number_id and name_status are required"));
            };
            match inner.onboard.accounts.phone_mut(&id) {
                Some(p) => {
                    p.name_status = status;
                    ctl_ok()
                }
                None => ctl_bad("unknown phone number"),
            }
        }
        "/_sim/signed_request" => {
            let payload = json.get("payload").cloned().unwrap_or_else(|| json!({}));
            drop(inner);
            Reply::json(
                200,
                &json!({"signed_request": signed_request(state, payload)}),
            )
        }
        "/_sim/deauthorize" => {
            let revoked = deauthorize(&mut inner);
            let user_id = inner.onboard.accounts.user.id.clone();
            drop(inner);
            let payload = json!({"user_id": user_id});
            Reply::json(
                200,
                &json!({"signed_request": signed_request(state, payload), "revoked_tokens": revoked}),
            )
        }
        "/_sim/onboarding/options" => {
            if let Some(ms) = json.get("es_code_ttl_ms").and_then(Value::as_u64) {
                inner.onboard.es_code_ttl = Some(Duration::from_millis(ms));
            }
            if let Some(shape) = json.get("ig_token_shape") {
                match serde_json::from_value::<IgTokenShape>(shape.clone()) {
                    Ok(s) => inner.onboard.ig_token_shape = Some(s),
                    Err(_) => return Some(ctl_bad("ig_token_shape: flat, data or alternate")),
                }
            }
            if let Some(b) = json.get("allow_young_ig_refresh").and_then(Value::as_bool) {
                inner.onboard.allow_young_refresh = Some(b);
            }
            ctl_ok()
        }
        _ => return None,
    })
}

/// A `signed_request` over `payload` (an object; `algorithm` and `issued_at` are added when
/// missing) with the simulator's app secret, as Meta sends to the deauthorize and data deletion
/// callbacks.
fn signed_request(state: &State, payload: Value) -> String {
    let mut payload = if payload.is_object() {
        payload
    } else {
        json!({})
    };
    if payload.get("algorithm").is_none() {
        payload["algorithm"] = json!("HMAC-SHA256");
    }
    if payload.get("issued_at").is_none() {
        payload["issued_at"] = json!(now_secs());
    }
    crate::meta::oauth::sign_request(&payload, &app_secret(state))
}

/// The user removed the app: every Facebook token minted for them (user, Page, business)
/// is revoked. Instagram Login tokens are not affected. Returns how many were revoked.
fn deauthorize(inner: &mut Inner) -> usize {
    let user = inner.onboard.accounts.user.id.clone();
    let dead: Vec<String> = inner
        .onboard
        .tokens
        .values()
        .filter(|m| !m.kind.is_ig() && m.user_id == user)
        .map(|m| m.token.clone())
        .collect();
    let n = dead.len();
    inner.revoked.extend(dead);
    n
}

/// Sets the remaining lifetime of a minted token (or of a channel token); `false` when the
/// token is unknown.
fn set_expiry(inner: &mut Inner, token: &str, secs: i64) -> bool {
    let at = now_secs().saturating_add(secs);
    if let Some(m) = inner.onboard.tokens.get_mut(token) {
        m.expires_at = Some(at);
        true
    } else if inner.channels.values().any(|c| c.token == token) {
        inner.onboard.channel_expiry.insert(token.to_owned(), at);
        true
    } else {
        false
    }
}

/// Onboarding controls of the simulator handle.
impl GraphSim {
    /// The simulated accounts (user, businesses/WABAs/phones, Pages, Instagram Login accounts).
    pub fn accounts(&self) -> SimAccounts {
        lock(&self.state.inner).onboard.accounts.clone()
    }

    /// Replaces the simulated accounts.
    pub fn set_accounts(&self, accounts: SimAccounts) {
        lock(&self.state.inner).onboard.accounts = accounts;
    }

    /// Adds (or replaces) a lead served by `GET /{leadgen_id}`.
    pub fn add_lead(&self, lead: SimLead) {
        lock(&self.state.inner)
            .onboard
            .leads
            .insert(lead.leadgen_id.clone(), lead);
    }

    /// Adds (or replaces) a Lead Ads form served by `GET /{form_id}`.
    pub fn add_lead_form(&self, form: SimLeadForm) {
        lock(&self.state.inner)
            .onboard
            .forms
            .insert(form.form_id.clone(), form);
    }

    /// Grants `scopes` to a token (minted or channel token), e.g. `ads_read`.
    pub fn grant_scopes(&self, token: &str, scopes: &[&str]) {
        lock(&self.state.inner)
            .onboard
            .extra_scopes
            .entry(token.to_owned())
            .or_default()
            .extend(scopes.iter().map(|s| (*s).to_owned()));
    }

    /// The next `n` lead fetches answer 500 with Meta's transient envelope (code 2).
    pub fn fail_lead_fetches(&self, n: u32) {
        lock(&self.state.inner).onboard.lead_failures = n;
    }

    /// Sets a token's remaining lifetime; `0` or negative = expired (190/463 everywhere,
    /// `debug_token` invalid). Works for minted and channel tokens; `false` if unknown.
    pub fn expire_token(&self, token: &str, expires_in_secs: i64) -> bool {
        set_expiry(&mut lock(&self.state.inner), token, expires_in_secs)
    }

    /// Backdates a minted token's `issued_at` by `age_secs` (e.g. to refresh an Instagram
    /// token, which Meta allows only after 24 h); `false` if unknown.
    pub fn age_token(&self, token: &str, age_secs: i64) -> bool {
        match lock(&self.state.inner).onboard.tokens.get_mut(token) {
            Some(m) => {
                m.issued_at = now_secs().saturating_sub(age_secs);
                true
            }
            None => false,
        }
    }

    /// Meta dropping an app subscription (after delivery failures).
    pub fn drop_subscription(&self, object_id: &str) {
        lock(&self.state.inner)
            .onboard
            .subscriptions
            .remove(object_id);
    }

    /// Object id → subscribed fields (empty for WABAs).
    pub fn subscriptions(&self) -> BTreeMap<String, Vec<String>> {
        lock(&self.state.inner).onboard.subscriptions.clone()
    }

    /// Every token minted by the connect flows, oldest first.
    pub fn minted_tokens(&self) -> Vec<MintedToken> {
        let inner = lock(&self.state.inner);
        inner
            .onboard
            .order
            .iter()
            .filter_map(|t| inner.onboard.tokens.get(t).cloned())
            .collect()
    }

    /// The newest still-valid non-user token minted for `asset_id` (a Page, Instagram account,
    /// phone number, WABA or business).
    pub fn token_for(&self, asset_id: &str) -> Option<String> {
        let inner = lock(&self.state.inner);
        inner
            .onboard
            .order
            .iter()
            .rev()
            .filter(|t| inner.token_state(t) == TokenState::Valid)
            .find(|t| inner.onboard.covers(t, asset_id))
            .cloned()
    }

    /// Lifetime of Embedded Signup codes minted from now on.
    pub fn set_es_code_ttl(&self, ttl: Duration) {
        lock(&self.state.inner).onboard.es_code_ttl = Some(ttl);
    }

    /// Shape of the Instagram Login code-exchange answers from now on.
    pub fn set_ig_token_shape(&self, shape: IgTokenShape) {
        lock(&self.state.inner).onboard.ig_token_shape = Some(shape);
    }

    /// Let Instagram tokens younger than 24 h be refreshed.
    pub fn allow_young_ig_refresh(&self, allow: bool) {
        lock(&self.state.inner).onboard.allow_young_refresh = Some(allow);
    }

    /// Sets (or with `None` clears) a number's two-step verification PIN, as its owner would in
    /// WhatsApp Manager: `/register` then needs that PIN (133005 otherwise). Works for the
    /// accounts' numbers and for WhatsApp channels registered by hand.
    pub fn set_two_step_pin(&self, phone_number_id: &str, pin: Option<&str>) -> bool {
        match sim_phone_mut(&mut lock(&self.state.inner), phone_number_id) {
            Some(p) => {
                p.two_step_pin = pin.map(str::to_owned);
                true
            }
            None => false,
        }
    }

    /// Sets a phone number's display-name status (`APPROVED` lets `/register` succeed).
    pub fn set_name_status(&self, phone_number_id: &str, status: &str) -> bool {
        match lock(&self.state.inner)
            .onboard
            .accounts
            .phone_mut(phone_number_id)
        {
            Some(p) => {
                p.name_status = status.to_owned();
                true
            }
            None => false,
        }
    }

    /// A `signed_request` for `payload` signed with the simulator's app secret (`algorithm` and
    /// `issued_at` added when missing).
    pub fn signed_request(&self, payload: Value) -> String {
        signed_request(&self.state, payload)
    }

    /// The simulated user removes the app: their Facebook tokens (user, Page, business) are
    /// revoked (190 from now on) and the `signed_request` Meta would POST to the deauthorize
    /// callback is returned (`user_id` = the app-scoped user id).
    pub fn deauthorize(&self) -> String {
        let user_id = {
            let mut inner = lock(&self.state.inner);
            deauthorize(&mut inner);
            inner.onboard.accounts.user.id.clone()
        };
        signed_request(&self.state, json!({"user_id": user_id}))
    }

    /// POSTs `signed_request=<value>` form-encoded to `url` (a deauthorize or data deletion
    /// callback), like Meta; answers the status and the body.
    pub async fn post_signed_request(
        &self,
        url: &str,
        signed_request: &str,
    ) -> anyhow::Result<(u16, String)> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("signed_request", signed_request)
            .finish();
        let resp = self
            .state
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// Phone numbers registered through `/register`.
    /// The verification code `request_code` last sent to `phone_number_id` (what the person
    /// reads in the SMS), if one is pending.
    pub fn verification_code(&self, phone_number_id: &str) -> Option<String> {
        lock(&self.state.inner)
            .onboard
            .verification_codes
            .get(phone_number_id)
            .cloned()
    }

    /// `(phone number id, sync_type)` of every accepted `smb_app_data` request.
    pub fn smb_syncs(&self) -> Vec<(String, String)> {
        lock(&self.state.inner)
            .onboard
            .smb_syncs
            .iter()
            .cloned()
            .collect()
    }

    pub fn registered_phones(&self) -> Vec<String> {
        lock(&self.state.inner)
            .onboard
            .registered
            .iter()
            .cloned()
            .collect()
    }
}

/// Fixtures for tests that need a token or code without driving the dialogs (the conformance
/// harness): they mint exactly what the dialogs and code exchanges would.
impl GraphSim {
    /// A token of `kind` for `assets` with `scopes`, as the connect flows mint it: user tokens
    /// short-lived, the others long-lived (business and Page tokens never expire). Minting a
    /// sending token registers the asset as a channel when it has none yet.
    pub fn mint_token(&self, kind: TokenKind, assets: &[&str], scopes: &[&str]) -> String {
        let mut guard = lock(&self.state.inner);
        let inner = &mut *guard;
        let user_id = match kind {
            TokenKind::IgShort | TokenKind::IgLong => {
                assets.first().map(|a| (*a).to_owned()).unwrap_or_default()
            }
            _ => inner.onboard.accounts.user.id.clone(),
        };
        let (expires_in, long_lived) = match kind {
            TokenKind::User => (Some(SHORT_USER_SECS), false),
            TokenKind::IgShort => (Some(3_600), false),
            TokenKind::IgLong => (Some(60 * 86_400), true),
            TokenKind::Page | TokenKind::Business => (None, true),
        };
        mint(
            inner,
            Mint {
                kind,
                user_id: &user_id,
                assets: assets.iter().map(|a| (*a).to_owned()).collect(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                expires_in,
                long_lived,
            },
        )
    }

    /// An authorization code of the Facebook Login dialog for `redirect_uri` that grants every
    /// Page of the simulated accounts with `scopes` (valid 10 minutes, usable once).
    pub fn mint_login_code(&self, redirect_uri: &str, scopes: &[&str]) -> String {
        let mut guard = lock(&self.state.inner);
        let inner = &mut *guard;
        let pages = inner
            .onboard
            .accounts
            .pages
            .iter()
            .map(|p| p.id.clone())
            .collect();
        new_code(
            inner,
            CodeFlow::FbLogin {
                redirect_uri: redirect_uri.to_owned(),
                pages,
            },
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            Duration::from_secs(600),
        )
    }

    /// An Instagram Login code for `redirect_uri` and the first Instagram Login account, with
    /// `scopes` (valid 1 hour, usable once), as the Instagram dialog hands out.
    pub fn mint_ig_login_code(&self, redirect_uri: &str, scopes: &[&str]) -> Option<String> {
        let mut guard = lock(&self.state.inner);
        let inner = &mut *guard;
        let ig_user_id = inner
            .onboard
            .accounts
            .instagram_logins
            .first()?
            .user_id
            .clone();
        Some(new_code(
            inner,
            CodeFlow::IgLogin {
                redirect_uri: redirect_uri.to_owned(),
                ig_user_id,
            },
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            IG_CODE_TTL,
        ))
    }

    /// An Embedded Signup code (exchanged without `redirect_uri`) for the first WABA of the
    /// simulated accounts, with `scopes` (valid 10 minutes, usable once).
    pub fn mint_embedded_signup_code(&self, scopes: &[&str]) -> Option<String> {
        let mut guard = lock(&self.state.inner);
        let inner = &mut *guard;
        let business = inner.onboard.accounts.businesses.first()?;
        let flow = CodeFlow::EmbeddedSignup {
            business_id: business.id.clone(),
            waba_id: business.wabas.first()?.id.clone(),
        };
        Some(new_code(
            inner,
            flow,
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            Duration::from_secs(600),
        ))
    }
}

#[cfg(test)]
mod tests;
