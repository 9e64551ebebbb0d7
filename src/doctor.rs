//! `metabridge doctor` and `GET /admin/v1/channels/{id}/diagnosis`: a channel checked against
//! Meta, as a list of checks that each say what is wrong and how to fix it (issue 16 §6).
//!
//! What it checks, in order (each check's id is a stable string, [`checks`]):
//! the channel is connected and holds a token; Meta holds the token valid, for this app, with
//! the permissions the channel needs (`debug_token`; Instagram Login tokens: `GET /me` on
//! graph.instagram.com); the app is subscribed to the channel's WABA / Page / Instagram account
//! with the fields it needs (`subscribed_apps`); the app's own webhook subscription for the
//! channel's object is active, points at this bridge (`{METABRIDGE_PUBLIC_URL}/webhooks/meta`)
//! and has the fields (`/{app-id}/subscriptions`); WhatsApp: the number's status, quality
//! rating, display-name approval, code verification, messaging limit and messaging health
//! (`GET /{phone-number-id}`), and the channel's synced templates; Instagram: the account the
//! token and the Page are linked to. The Graph calls and their Meta pages are in
//! [`crate::meta::oauth`] (`diagnostics.rs`, `subscriptions.rs`, `instagram.rs`).
//!
//! It only reads: it never marks a token dead, restores a subscription or changes anything at
//! Meta (the lifecycle worker does that on its own schedule). Tokens and secrets never appear
//! in a check's text: Graph errors arrive here already scrubbed by the OAuth client.

use std::sync::Arc;

use serde::Serialize;

use crate::channels::ChannelKind;
use crate::connect::{IG_FIELDS, grants};
use crate::crypto::vault::Vault;
use crate::ids::ChannelId;
use crate::meta::login::InstagramLogin;
use crate::meta::oauth::{IgProfile, OAuthClient, PhoneStatus};
use crate::store::{LifecycleRow, Store};

/// The ids of the checks (stable: scripts match on them).
pub mod checks {
    pub const CHANNEL_CONNECTED: &str = "channel.connected";
    pub const TOKEN_VALID: &str = "token.valid";
    pub const TOKEN_SCOPES: &str = "token.scopes";
    pub const APP_SUBSCRIBED: &str = "app.subscribed";
    pub const WEBHOOK_CALLBACK: &str = "webhook.callback";
    pub const PHONE_STATUS: &str = "phone.status";
    pub const PHONE_QUALITY: &str = "phone.quality";
    pub const PHONE_NAME: &str = "phone.name";
    pub const PHONE_VERIFICATION: &str = "phone.verification";
    pub const PHONE_MESSAGING_LIMIT: &str = "phone.messaging_limit";
    pub const PHONE_HEALTH: &str = "phone.health";
    pub const TEMPLATES: &str = "templates";
    pub const INSTAGRAM_LINKAGE: &str = "instagram.linkage";
}

/// A token expiring sooner than this is a warning.
const EXPIRY_WARNING_SECS: i64 = 7 * 86_400;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    /// Works, but something needs attention (a token expiring soon, a yellow quality rating).
    Warn,
    /// Broken: messages do not arrive or cannot be sent until it is fixed.
    Fail,
    /// Could not be checked (an earlier check failed, or the bridge lacks what it needs).
    Skip,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Skip => "skip",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A [`checks`] id.
    pub check: &'static str,
    pub verdict: Verdict,
    /// What was found.
    pub summary: String,
    /// How to fix it (absent when nothing is to be done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// A channel's diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub channel_id: String,
    pub instance_id: String,
    pub kind: String,
    pub external_id: String,
    /// RFC 3339.
    pub checked_at: String,
    /// True when no check failed (warnings and skipped checks allowed).
    pub healthy: bool,
    pub checks: Vec<Check>,
}

impl Diagnosis {
    /// The exit status of `metabridge doctor`: 0 when every check passed (or could not be
    /// checked, which the report says), 1 when one failed, 3 when none failed but one warned.
    /// (2 is the command's own failure: no such channel, no database.)
    pub fn exit_code(&self) -> i32 {
        if self.checks.iter().any(|c| c.verdict == Verdict::Fail) {
            1
        } else if self.checks.iter().any(|c| c.verdict == Verdict::Warn) {
            3
        } else {
            0
        }
    }

    /// The report as a table for a terminal.
    pub fn to_table(&self) -> String {
        let width = self.checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
        let mut out = format!(
            "channel {} ({} {}), instance {}, checked {}\n\n",
            self.channel_id, self.kind, self.external_id, self.instance_id, self.checked_at
        );
        for c in &self.checks {
            out.push_str(&format!(
                "{:<4}  {:<width$}  {}\n",
                c.verdict.as_str().to_uppercase(),
                c.check,
                c.summary
            ));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("{:<4}  {:<width$}  fix: {fix}\n", "", ""));
            }
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .count();
        let warned = self
            .checks
            .iter()
            .filter(|c| c.verdict == Verdict::Warn)
            .count();
        out.push_str(&format!(
            "\n{}: {failed} failed, {warned} warning(s), {} check(s)\n",
            if self.healthy {
                "healthy"
            } else {
                "NOT healthy"
            },
            self.checks.len()
        ));
        out
    }
}

fn check(check: &'static str, verdict: Verdict, summary: impl Into<String>) -> Check {
    Check {
        check,
        verdict,
        summary: summary.into(),
        fix: None,
    }
}

fn with_fix(mut c: Check, fix: impl Into<String>) -> Check {
    c.fix = Some(fix.into());
    c
}

/// The webhook object of the app's subscription that carries a channel kind's events.
fn webhook_object(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Whatsapp => "whatsapp_business_account",
        ChannelKind::Messenger => "page",
        ChannelKind::Instagram => "instagram",
    }
}

/// Fields of the app's webhook subscription without which a channel (of any kind) receives no
/// messages.
const REQUIRED_WEBHOOK_FIELDS: &[&str] = &["messages"];

/// Fields the bridge uses besides the required ones (missing: a warning).
fn wanted_webhook_fields(kind: ChannelKind) -> Vec<&'static str> {
    match kind {
        ChannelKind::Whatsapp => vec!["messages", "message_template_status_update"],
        ChannelKind::Messenger => {
            let mut f = grants::MESSENGER_FIELDS.to_vec();
            f.push("leadgen");
            f
        }
        ChannelKind::Instagram => IG_FIELDS.to_vec(),
    }
}

/// Permissions a token of this channel needs: each entry is "any one of", with what is lost
/// without it and whether that breaks the channel (fail) or a part of it (warn). Meta's
/// Permissions Reference, <https://developers.facebook.com/docs/permissions>, read 2026-12-04.
fn needed_permissions(kind: ChannelKind) -> Vec<(&'static [&'static str], &'static str, Verdict)> {
    match kind {
        ChannelKind::Whatsapp => vec![
            (
                &["whatsapp_business_messaging"][..],
                "sends to WhatsApp",
                Verdict::Fail,
            ),
            (
                &["whatsapp_business_management"][..],
                "templates and the WABA's webhook subscription",
                Verdict::Warn,
            ),
        ],
        ChannelKind::Messenger => {
            let mut v: Vec<(&'static [&'static str], &'static str, Verdict)> = vec![(
                &[grants::SUBSCRIBE_PERMISSION][..],
                "the Page's webhook subscription",
                Verdict::Fail,
            )];
            for g in grants::page_groups(kind) {
                v.push((g.any_of, g.loses, Verdict::Warn));
            }
            v
        }
        ChannelKind::Instagram => vec![
            (
                &["instagram_manage_messages"][..],
                "Instagram Direct messages",
                Verdict::Fail,
            ),
            (
                &[grants::SUBSCRIBE_PERMISSION][..],
                "the Page's webhook subscription",
                Verdict::Fail,
            ),
        ],
    }
}

/// Runs diagnoses. Cheap to clone.
#[derive(Clone)]
pub struct Doctor {
    store: Store,
    vault: Arc<Vault>,
    oauth: OAuthClient,
    /// The app id and secret are configured (`debug_token` and `/{app-id}/subscriptions` need
    /// the app token).
    app_configured: bool,
    /// `METABRIDGE_PUBLIC_URL`: where Meta must send webhooks (`{public_url}/webhooks/meta`).
    public_url: Option<String>,
}

/// What the token checks learnt, for the checks after them.
struct TokenFacts {
    /// Meta answered with the token (it is usable).
    usable: bool,
    /// Instagram Login: the account the token belongs to.
    ig_profile: Option<IgProfile>,
}

impl Doctor {
    pub fn new(
        store: Store,
        vault: Arc<Vault>,
        oauth: OAuthClient,
        app_configured: bool,
        public_url: Option<String>,
    ) -> Self {
        Self {
            store,
            vault,
            oauth,
            app_configured,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
        }
    }

    /// The channel's diagnosis; `None` when no channel has that id.
    pub async fn diagnose(&self, id: &ChannelId) -> anyhow::Result<Option<Diagnosis>> {
        let Some(row) = self.store.lifecycle_row(id).await? else {
            return Ok(None);
        };
        let Some(kind) = ChannelKind::parse(&row.kind) else {
            anyhow::bail!("channel {id} has an unknown kind");
        };
        let mut out = Vec::new();
        let token = self.connection(&row, &mut out);
        let ig_login = row.token_kind.as_deref() == Some("instagram_login")
            || (kind == ChannelKind::Instagram
                && token.as_deref().is_some_and(|t| {
                    InstagramLogin::of_channel(row.login.as_deref(), t) == InstagramLogin::Instagram
                }));
        let facts = match &token {
            Some(t) => self.token_checks(kind, t, ig_login, &mut out).await,
            None => {
                for id in [checks::TOKEN_VALID, checks::TOKEN_SCOPES] {
                    out.push(check(id, Verdict::Skip, "no token to check"));
                }
                TokenFacts {
                    usable: false,
                    ig_profile: None,
                }
            }
        };
        let token = token.filter(|_| facts.usable);
        let needs_token = |id: &'static str| check(id, Verdict::Skip, "needs a token Meta accepts");
        // The checks below are independent of each other: asked at once, so a slow Meta costs
        // one call timeout, not one per check.
        let subscribed = async {
            match &token {
                Some(t) => self.app_subscribed(&row, kind, t, ig_login).await,
                None => needs_token(checks::APP_SUBSCRIBED),
            }
        };
        let kind_checks = async {
            let mut more = Vec::new();
            match (kind, &token) {
                (ChannelKind::Whatsapp, Some(t)) => self.phone_checks(&row, t, &mut more).await,
                (ChannelKind::Whatsapp, None) => more.extend(
                    [
                        checks::PHONE_STATUS,
                        checks::PHONE_QUALITY,
                        checks::PHONE_NAME,
                        checks::PHONE_VERIFICATION,
                        checks::PHONE_MESSAGING_LIMIT,
                        checks::PHONE_HEALTH,
                    ]
                    .map(needs_token),
                ),
                (ChannelKind::Instagram, Some(t)) => {
                    more.push(self.instagram_linkage(&row, t, facts.ig_profile).await);
                }
                (ChannelKind::Instagram, None) => more.push(needs_token(checks::INSTAGRAM_LINKAGE)),
                (ChannelKind::Messenger, _) => {}
            }
            more
        };
        let (subscribed, hook, more) =
            tokio::join!(subscribed, self.webhook_callback(kind), kind_checks);
        out.push(subscribed);
        out.push(hook);
        out.extend(more);
        if kind == ChannelKind::Whatsapp {
            out.push(self.templates(&row).await?);
        }
        let healthy = out.iter().all(|c| c.verdict != Verdict::Fail);
        Ok(Some(Diagnosis {
            channel_id: row.id.to_string(),
            instance_id: row.instance_id.to_string(),
            kind: row.kind.clone(),
            external_id: row.external_id.clone(),
            checked_at: crate::ms_to_rfc3339(crate::now_ms()),
            healthy,
            checks: out,
        }))
    }

    /// `channel.connected`: the channel relays and holds a token the bridge can decrypt.
    fn connection(&self, row: &LifecycleRow, out: &mut Vec<Check>) -> Option<String> {
        let reconnect = format!(
            "connect the channel again (a new connect session), or store a new token with PUT /admin/v1/channels/{}/token",
            row.id
        );
        if row.status != "active" {
            out.push(with_fix(
                check(
                    checks::CHANNEL_CONNECTED,
                    Verdict::Fail,
                    format!("the channel is {} and holds no usable token", row.status),
                ),
                reconnect,
            ));
            return None;
        }
        let Some(enc) = &row.token_enc else {
            out.push(with_fix(
                check(
                    checks::CHANNEL_CONNECTED,
                    Verdict::Fail,
                    "the channel holds no token",
                ),
                reconnect,
            ));
            return None;
        };
        match self.vault.decrypt(enc) {
            Ok(t) => {
                out.push(check(
                    checks::CHANNEL_CONNECTED,
                    Verdict::Pass,
                    "connected; its token is stored encrypted and decrypts with the configured keys",
                ));
                Some(t)
            }
            Err(_) => {
                out.push(with_fix(
                    check(
                        checks::CHANNEL_CONNECTED,
                        Verdict::Fail,
                        "the stored token does not decrypt with the configured Fernet keys",
                    ),
                    "add the key it was encrypted with to METABRIDGE_FERNET_KEYS (any position decrypts), or store a new token",
                ));
                None
            }
        }
    }

    /// `token.valid` and `token.scopes`.
    async fn token_checks(
        &self,
        kind: ChannelKind,
        token: &str,
        ig_login: bool,
        out: &mut Vec<Check>,
    ) -> TokenFacts {
        let reconnect = "connect the channel again so Meta issues a new token";
        if ig_login {
            return match self.oauth.ig_me(token).await {
                Ok(profile) => {
                    out.push(check(
                        checks::TOKEN_VALID,
                        Verdict::Pass,
                        format!(
                            "Instagram accepts the token (account {}{})",
                            profile.user_id,
                            profile
                                .username
                                .as_deref()
                                .map(|u| format!(", @{u}"))
                                .unwrap_or_default()
                        ),
                    ));
                    out.push(check(
                        checks::TOKEN_SCOPES,
                        Verdict::Skip,
                        "Instagram Login tokens are not inspected by debug_token; their permissions show in the calls below",
                    ));
                    TokenFacts {
                        usable: true,
                        ig_profile: Some(profile),
                    }
                }
                Err(e) => {
                    let fix = if e.is_token_refused() {
                        reconnect
                    } else {
                        "check that graph.instagram.com is reachable and try again"
                    };
                    out.push(with_fix(
                        check(
                            checks::TOKEN_VALID,
                            Verdict::Fail,
                            format!("Instagram refused or did not answer: {e}"),
                        ),
                        fix,
                    ));
                    out.push(check(
                        checks::TOKEN_SCOPES,
                        Verdict::Skip,
                        "needs a token Meta accepts",
                    ));
                    TokenFacts {
                        usable: false,
                        ig_profile: None,
                    }
                }
            };
        }
        if !self.app_configured {
            // Without the app token, the token can only ask for itself.
            let usable = match self.oauth.me_id(token).await {
                Ok(_) => {
                    out.push(check(
                        checks::TOKEN_VALID,
                        Verdict::Pass,
                        "Meta accepts the token (GET /me)",
                    ));
                    true
                }
                Err(e) => {
                    out.push(with_fix(
                        check(
                            checks::TOKEN_VALID,
                            Verdict::Fail,
                            format!("Meta refused or did not answer: {e}"),
                        ),
                        reconnect,
                    ));
                    false
                }
            };
            out.push(with_fix(
                check(
                    checks::TOKEN_SCOPES,
                    Verdict::Skip,
                    "the app id and secret are not configured, so debug_token cannot be asked",
                ),
                "set META_APP_ID and META_APP_SECRET",
            ));
            return TokenFacts {
                usable,
                ig_profile: None,
            };
        }
        let info = match self.oauth.debug_token(token).await {
            Ok(info) => info,
            Err(e) => {
                let fix = if e.is_token_refused() {
                    "Meta refused the app token: check META_APP_ID and META_APP_SECRET"
                } else {
                    "check that graph.facebook.com is reachable and try again"
                };
                out.push(with_fix(
                    check(
                        checks::TOKEN_VALID,
                        Verdict::Fail,
                        format!("debug_token failed: {e}"),
                    ),
                    fix,
                ));
                out.push(check(
                    checks::TOKEN_SCOPES,
                    Verdict::Skip,
                    "needs debug_token",
                ));
                return TokenFacts {
                    usable: false,
                    ig_profile: None,
                };
            }
        };
        if !info.is_valid {
            let why = match info.error_code {
                Some(c) => format!("Meta reports the token as invalid (code {c})"),
                None => "Meta reports the token as invalid".to_string(),
            };
            out.push(with_fix(
                check(checks::TOKEN_VALID, Verdict::Fail, why),
                reconnect,
            ));
            out.push(check(
                checks::TOKEN_SCOPES,
                Verdict::Skip,
                "needs a valid token",
            ));
            return TokenFacts {
                usable: false,
                ig_profile: None,
            };
        }
        let mine = self.oauth.app_id();
        let valid = match info.app_id.as_deref() {
            Some(app) if app != mine => with_fix(
                check(
                    checks::TOKEN_VALID,
                    Verdict::Fail,
                    format!("the token was issued to app {app}, not to this bridge's app {mine}"),
                ),
                "connect the channel through this bridge's connect pages (a token of another app cannot receive this app's webhooks)",
            ),
            _ => {
                let now = crate::now_ms() / 1000;
                match info.expires_at.filter(|e| *e > 0) {
                    Some(exp) if exp <= now + EXPIRY_WARNING_SECS => with_fix(
                        check(
                            checks::TOKEN_VALID,
                            Verdict::Warn,
                            format!(
                                "valid, but expires at {}",
                                crate::ms_to_rfc3339(exp.saturating_mul(1000))
                            ),
                        ),
                        reconnect,
                    ),
                    Some(exp) => check(
                        checks::TOKEN_VALID,
                        Verdict::Pass,
                        format!(
                            "valid until {}",
                            crate::ms_to_rfc3339(exp.saturating_mul(1000))
                        ),
                    ),
                    None => check(checks::TOKEN_VALID, Verdict::Pass, "valid, does not expire"),
                }
            }
        };
        let usable = valid.verdict != Verdict::Fail;
        out.push(valid);
        out.push(scopes_check(kind, &info.scopes));
        TokenFacts {
            usable,
            ig_profile: None,
        }
    }

    /// `app.subscribed`: the app is subscribed to the channel's WABA / Page / account.
    async fn app_subscribed(
        &self,
        row: &LifecycleRow,
        kind: ChannelKind,
        token: &str,
        ig_login: bool,
    ) -> Check {
        let object = if ig_login {
            Some("me".to_string())
        } else {
            match kind {
                ChannelKind::Whatsapp => row.waba_id.clone().or(row.subscription_object.clone()),
                ChannelKind::Messenger => row
                    .subscription_object
                    .clone()
                    .or_else(|| Some(row.external_id.clone())),
                ChannelKind::Instagram => row.subscription_object.clone(),
            }
        };
        let Some(object) = object else {
            return check(
                checks::APP_SUBSCRIBED,
                Verdict::Skip,
                "registered by hand without the object its webhooks come from (WABA or Page)",
            );
        };
        let listed = if object == "me" {
            self.oauth.ig_subscribed_apps(token).await
        } else {
            self.oauth.subscribed_apps(token, &object).await
        };
        let apps = match listed {
            Ok(a) => a,
            Err(e) => {
                return with_fix(
                    check(
                        checks::APP_SUBSCRIBED,
                        Verdict::Fail,
                        format!("reading the subscribed apps of {object} failed: {e}"),
                    ),
                    "check the token's permissions (token.scopes) and try again",
                );
            }
        };
        let mine = self.oauth.app_id();
        let ours = apps.iter().find(|a| match &a.app_id {
            Some(got) if self.app_configured => got == mine,
            _ => true,
        });
        let fix_resubscribe = format!(
            "the bridge restores a dropped subscription on its next subscription check (METABRIDGE_SUBSCRIPTION_CHECK_SECS); to do it now, connect the channel again ({})",
            row.id
        );
        let Some(ours) = ours else {
            return with_fix(
                check(
                    checks::APP_SUBSCRIBED,
                    Verdict::Fail,
                    format!(
                        "this app is not subscribed to {object}: its webhooks do not reach the bridge"
                    ),
                ),
                fix_resubscribe,
            );
        };
        // WABAs take no fields (they get whatever the app's webhook subscribes).
        if kind == ChannelKind::Whatsapp {
            return check(
                checks::APP_SUBSCRIBED,
                Verdict::Pass,
                format!("the app is subscribed to WABA {object}"),
            );
        }
        let expected: Vec<String> = match row.subscribed_fields.as_deref() {
            Some(f) => f
                .split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect(),
            None if ig_login => IG_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
            None => grants::all_page_fields(kind)
                .iter()
                .map(|f| (*f).to_owned())
                .collect(),
        };
        let missing: Vec<&str> = expected
            .iter()
            .filter(|f| !ours.subscribed_fields.iter().any(|g| g == *f))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            check(
                checks::APP_SUBSCRIBED,
                Verdict::Pass,
                format!(
                    "the app is subscribed to {object} with {}",
                    expected.join(", ")
                ),
            )
        } else {
            with_fix(
                check(
                    checks::APP_SUBSCRIBED,
                    Verdict::Fail,
                    format!(
                        "the app is subscribed to {object} without {}: those events do not arrive",
                        missing.join(", ")
                    ),
                ),
                fix_resubscribe,
            )
        }
    }

    /// `webhook.callback`: the app's webhook subscription for the channel's object.
    async fn webhook_callback(&self, kind: ChannelKind) -> Check {
        if !self.app_configured {
            return with_fix(
                check(
                    checks::WEBHOOK_CALLBACK,
                    Verdict::Skip,
                    "the app id and secret are not configured, so the app's subscriptions cannot be read",
                ),
                "set META_APP_ID and META_APP_SECRET",
            );
        }
        let object = webhook_object(kind);
        let expected_url = self
            .public_url
            .as_ref()
            .map(|u| format!("{u}/webhooks/meta"));
        let set_up = format!(
            "in the app dashboard, Webhooks → {object}: callback URL {}, verify token = META_VERIFY_TOKEN, and subscribe {}",
            expected_url
                .as_deref()
                .unwrap_or("<METABRIDGE_PUBLIC_URL>/webhooks/meta"),
            wanted_webhook_fields(kind).join(", ")
        );
        let subs = match self.oauth.app_subscriptions().await {
            Ok(s) => s,
            Err(e) => {
                return with_fix(
                    check(
                        checks::WEBHOOK_CALLBACK,
                        Verdict::Fail,
                        format!("reading the app's webhook subscriptions failed: {e}"),
                    ),
                    "check META_APP_ID and META_APP_SECRET",
                );
            }
        };
        let Some(sub) = subs.iter().find(|s| s.object == object) else {
            return with_fix(
                check(
                    checks::WEBHOOK_CALLBACK,
                    Verdict::Fail,
                    format!(
                        "the app has no webhook subscription for {object}: no event of this channel is sent anywhere"
                    ),
                ),
                set_up,
            );
        };
        if !sub.active {
            return with_fix(
                check(
                    checks::WEBHOOK_CALLBACK,
                    Verdict::Fail,
                    format!("the app's {object} webhook subscription is not active"),
                ),
                set_up,
            );
        }
        let got_url = sub.callback_url.as_deref().unwrap_or("");
        match &expected_url {
            Some(want) if got_url != want => {
                return with_fix(
                    check(
                        checks::WEBHOOK_CALLBACK,
                        Verdict::Fail,
                        format!(
                            "Meta sends {object} webhooks to {got_url}, not to this bridge ({want})"
                        ),
                    ),
                    set_up,
                );
            }
            _ => {}
        }
        let missing_required: Vec<&str> = REQUIRED_WEBHOOK_FIELDS
            .iter()
            .copied()
            .filter(|f| !sub.fields.iter().any(|g| g == f))
            .collect();
        if !missing_required.is_empty() {
            return with_fix(
                check(
                    checks::WEBHOOK_CALLBACK,
                    Verdict::Fail,
                    format!(
                        "the app's {object} webhook subscription lacks {}",
                        missing_required.join(", ")
                    ),
                ),
                set_up,
            );
        }
        let missing: Vec<&str> = wanted_webhook_fields(kind)
            .into_iter()
            .filter(|f| !sub.fields.iter().any(|g| g == f))
            .collect();
        match (&expected_url, missing.is_empty()) {
            (None, _) => with_fix(
                check(
                    checks::WEBHOOK_CALLBACK,
                    Verdict::Warn,
                    format!(
                        "Meta sends {object} webhooks to {got_url}; METABRIDGE_PUBLIC_URL is not set, so it cannot be compared with this bridge's address"
                    ),
                ),
                "set METABRIDGE_PUBLIC_URL to the bridge's public https address",
            ),
            (Some(_), false) => with_fix(
                check(
                    checks::WEBHOOK_CALLBACK,
                    Verdict::Warn,
                    format!(
                        "Meta sends {object} webhooks to this bridge, without {}",
                        missing.join(", ")
                    ),
                ),
                set_up,
            ),
            (Some(want), true) => check(
                checks::WEBHOOK_CALLBACK,
                Verdict::Pass,
                format!("Meta sends {object} webhooks to {want}"),
            ),
        }
    }

    /// The `phone.*` checks of a WhatsApp number.
    async fn phone_checks(&self, row: &LifecycleRow, token: &str, out: &mut Vec<Check>) {
        match self.oauth.phone_status(token, &row.external_id).await {
            Ok(p) => out.extend(phone_verdicts(&p)),
            Err(e) => {
                out.push(with_fix(
                    check(
                        checks::PHONE_STATUS,
                        Verdict::Fail,
                        format!("reading phone number {} failed: {e}", row.external_id),
                    ),
                    "check that the number still belongs to the channel's WABA and the token may manage it",
                ));
                for id in [
                    checks::PHONE_QUALITY,
                    checks::PHONE_NAME,
                    checks::PHONE_VERIFICATION,
                    checks::PHONE_MESSAGING_LIMIT,
                    checks::PHONE_HEALTH,
                ] {
                    out.push(check(id, Verdict::Skip, "needs the number's state"));
                }
            }
        }
    }

    /// `templates`: what the bridge has synced from the WABA.
    async fn templates(&self, row: &LifecycleRow) -> anyhow::Result<Check> {
        let counts = self.store.template_counts(&row.id).await?;
        let sync = self.store.template_sync(&row.id).await?;
        let approved = counts
            .iter()
            .find(|(s, _)| s == "APPROVED")
            .map_or(0, |(_, n)| *n);
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        let listed = counts
            .iter()
            .map(|(s, n)| format!("{n} {}", s.to_lowercase()))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(match sync {
            None => with_fix(
                check(
                    checks::TEMPLATES,
                    Verdict::Warn,
                    "the channel's templates have not been read from Meta yet",
                ),
                "they are read a minute after the channel connects and then every METABRIDGE_TEMPLATE_SYNC_SECS",
            ),
            Some(s) if s.synced_at.is_none() => with_fix(
                check(
                    checks::TEMPLATES,
                    Verdict::Warn,
                    format!(
                        "reading the templates has failed so far: {}",
                        s.last_error.unwrap_or_default()
                    ),
                ),
                "check the token's whatsapp_business_management permission",
            ),
            Some(_) if approved == 0 => with_fix(
                check(
                    checks::TEMPLATES,
                    Verdict::Warn,
                    if total == 0 {
                        "the WABA has no message template: customers cannot be reached outside the 24-hour window".to_string()
                    } else {
                        format!(
                            "no approved template ({listed}): customers cannot be reached outside the 24-hour window"
                        )
                    },
                ),
                format!(
                    "submit a template with POST /v1/channels/{}/templates and wait for Meta's approval",
                    row.id
                ),
            ),
            Some(_) => check(
                checks::TEMPLATES,
                Verdict::Pass,
                format!("{total} template(s): {listed}"),
            ),
        })
    }

    /// `instagram.linkage`: the token and the Page lead to this channel's Instagram account.
    async fn instagram_linkage(
        &self,
        row: &LifecycleRow,
        token: &str,
        ig_profile: Option<IgProfile>,
    ) -> Check {
        let reconnect = "connect the Instagram account again";
        if let Some(p) = ig_profile {
            return if p.user_id == row.external_id {
                check(
                    checks::INSTAGRAM_LINKAGE,
                    Verdict::Pass,
                    format!("the token belongs to this account ({})", row.external_id),
                )
            } else {
                with_fix(
                    check(
                        checks::INSTAGRAM_LINKAGE,
                        Verdict::Fail,
                        format!(
                            "the token belongs to account {}, not to this channel's {}",
                            p.user_id, row.external_id
                        ),
                    ),
                    reconnect,
                )
            };
        }
        let Some(page) = row.subscription_object.as_deref() else {
            return check(
                checks::INSTAGRAM_LINKAGE,
                Verdict::Skip,
                "registered by hand without its Page: the linkage cannot be read",
            );
        };
        match self.oauth.page_instagram_account(token, page).await {
            Ok(Some(ig)) if ig.id == row.external_id => check(
                checks::INSTAGRAM_LINKAGE,
                Verdict::Pass,
                format!(
                    "Page {page} is linked to this account ({}{})",
                    ig.id,
                    ig.username.map(|u| format!(", @{u}")).unwrap_or_default()
                ),
            ),
            Ok(Some(ig)) => with_fix(
                check(
                    checks::INSTAGRAM_LINKAGE,
                    Verdict::Fail,
                    format!(
                        "Page {page} is now linked to Instagram account {}, not to this channel's {}",
                        ig.id, row.external_id
                    ),
                ),
                "link the account to the Page again in the Page's settings (Linked accounts), or connect the new account",
            ),
            Ok(None) => with_fix(
                check(
                    checks::INSTAGRAM_LINKAGE,
                    Verdict::Fail,
                    format!(
                        "Page {page} is not linked to an Instagram professional account any more"
                    ),
                ),
                "link the account to the Page again in the Page's settings (Linked accounts)",
            ),
            Err(e) => with_fix(
                check(
                    checks::INSTAGRAM_LINKAGE,
                    Verdict::Fail,
                    format!("reading Page {page} failed: {e}"),
                ),
                reconnect,
            ),
        }
    }
}

/// `token.scopes` from `debug_token`'s scopes.
fn scopes_check(kind: ChannelKind, scopes: &[String]) -> Check {
    let mut lost_fail = Vec::new();
    let mut lost_warn = Vec::new();
    for (any_of, what, severity) in needed_permissions(kind) {
        if !any_of.iter().any(|need| scopes.iter().any(|s| s == need)) {
            let text = format!("{} ({what})", any_of.join(" or "));
            if severity == Verdict::Fail {
                lost_fail.push(text);
            } else {
                lost_warn.push(text);
            }
        }
    }
    let fix = "connect the channel again and grant every permission the dialog asks for";
    if !lost_fail.is_empty() {
        let mut all = lost_fail;
        all.extend(lost_warn);
        with_fix(
            check(
                checks::TOKEN_SCOPES,
                Verdict::Fail,
                format!("the token lacks {}", all.join("; ")),
            ),
            fix,
        )
    } else if !lost_warn.is_empty() {
        with_fix(
            check(
                checks::TOKEN_SCOPES,
                Verdict::Warn,
                format!("the token lacks {}", lost_warn.join("; ")),
            ),
            fix,
        )
    } else {
        check(
            checks::TOKEN_SCOPES,
            Verdict::Pass,
            format!("the token holds {}", scopes.join(", ")),
        )
    }
}

/// The `phone.*` checks from a number's state (pure: table-tested below).
pub fn phone_verdicts(p: &PhoneStatus) -> Vec<Check> {
    let mut out = Vec::new();
    // Status values: "WhatsApp Business Account To Number Current Status" (read 2026-12-04).
    out.push(match p.status.as_deref() {
        Some("CONNECTED") => check(checks::PHONE_STATUS, Verdict::Pass, "CONNECTED"),
        Some("FLAGGED") => with_fix(
            check(
                checks::PHONE_STATUS,
                Verdict::Warn,
                "FLAGGED: the quality rating dropped; the messaging limit may be lowered if it does not recover",
            ),
            "send fewer business-initiated messages and only to people who opted in, until quality recovers",
        ),
        Some(s @ ("PENDING" | "UNVERIFIED" | "NOT_VERIFIED")) => with_fix(
            check(
                checks::PHONE_STATUS,
                Verdict::Fail,
                format!("{s}: the number is not registered with the Cloud API"),
            ),
            "finish the number's registration (connect it again; the bridge registers it with its two-step PIN)",
        ),
        Some(s) => with_fix(
            check(
                checks::PHONE_STATUS,
                Verdict::Fail,
                format!("{s}: the number cannot send"),
            ),
            "see the number in WhatsApp Manager for Meta's reason and the review options",
        ),
        None => check(
            checks::PHONE_STATUS,
            Verdict::Warn,
            "Meta did not say the number's status",
        ),
    });
    out.push(match p.quality_rating.as_deref() {
        Some("GREEN") => check(checks::PHONE_QUALITY, Verdict::Pass, "GREEN"),
        Some("YELLOW") => with_fix(
            check(
                checks::PHONE_QUALITY,
                Verdict::Warn,
                "YELLOW: recipients have been blocking or reporting the number's messages",
            ),
            "review the templates and who receives them",
        ),
        Some("RED") => with_fix(
            check(
                checks::PHONE_QUALITY,
                Verdict::Fail,
                "RED: recipients block or report the number's messages; Meta may restrict it",
            ),
            "pause business-initiated campaigns and review the templates and who receives them",
        ),
        Some(other) => check(
            checks::PHONE_QUALITY,
            Verdict::Pass,
            format!("{other}: not rated yet"),
        ),
        None => check(checks::PHONE_QUALITY, Verdict::Skip, "no quality rating"),
    });
    out.push(match p.name_status.as_deref() {
        Some(s @ ("APPROVED" | "AVAILABLE_WITHOUT_REVIEW")) => check(
            checks::PHONE_NAME,
            Verdict::Pass,
            format!(
                "{s}{}",
                p.verified_name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ),
        ),
        Some("PENDING_REVIEW") => with_fix(
            check(
                checks::PHONE_NAME,
                Verdict::Warn,
                "PENDING_REVIEW: Meta is reviewing the display name",
            ),
            "wait for the review; the number is registered once the name is approved",
        ),
        Some(s) => with_fix(
            check(
                checks::PHONE_NAME,
                Verdict::Fail,
                format!("{s}: the display name is not approved"),
            ),
            "change the display name in WhatsApp Manager to one that follows Meta's display name guidelines",
        ),
        None => check(checks::PHONE_NAME, Verdict::Skip, "no display-name status"),
    });
    out.push(match p.code_verification_status.as_deref() {
        Some("VERIFIED") | None => check(checks::PHONE_VERIFICATION, Verdict::Pass, "VERIFIED"),
        Some(s) => with_fix(
            check(
                checks::PHONE_VERIFICATION,
                Verdict::Warn,
                format!("{s}: the number's ownership is not verified"),
            ),
            "connect the number on its own to verify it with a code",
        ),
    });
    out.push(match p.messaging_limit.as_deref() {
        Some(tier) => check(
            checks::PHONE_MESSAGING_LIMIT,
            Verdict::Pass,
            format!("{tier}: unique customers reached outside the 24-hour window per day, shared by the business portfolio"),
        ),
        None => check(
            checks::PHONE_MESSAGING_LIMIT,
            Verdict::Skip,
            "Meta did not say the messaging limit",
        ),
    });
    out.push(match &p.health {
        None => check(
            checks::PHONE_HEALTH,
            Verdict::Skip,
            "Meta did not say the messaging health",
        ),
        Some(h) => {
            let notes: Vec<String> = h
                .entities
                .iter()
                .filter(|e| e.can_send_message != "AVAILABLE")
                .map(|e| {
                    let mut parts: Vec<String> = e
                        .errors
                        .iter()
                        .map(|x| {
                            format!(
                                "{}{}{}",
                                x.error_code.map(|c| format!("{c} ")).unwrap_or_default(),
                                x.error_description.as_deref().unwrap_or(""),
                                x.possible_solution
                                    .as_deref()
                                    .map(|s| format!(" — {s}"))
                                    .unwrap_or_default()
                            )
                        })
                        .collect();
                    parts.extend(e.additional_info.iter().cloned());
                    format!(
                        "{} {}{}",
                        e.entity_type,
                        e.can_send_message,
                        if parts.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", parts.join("; "))
                        }
                    )
                })
                .collect();
            match h.can_send_message.as_str() {
                "AVAILABLE" => check(
                    checks::PHONE_HEALTH,
                    Verdict::Pass,
                    "AVAILABLE: every node involved in sending may send",
                ),
                "LIMITED" => with_fix(
                    check(
                        checks::PHONE_HEALTH,
                        Verdict::Warn,
                        format!("LIMITED: {}", notes.join(" | ")),
                    ),
                    "see Meta's additional information above",
                ),
                other => with_fix(
                    check(
                        checks::PHONE_HEALTH,
                        Verdict::Fail,
                        format!("{other}: {}", notes.join(" | ")),
                    ),
                    "follow Meta's possible solution above; sends fail until it is resolved",
                ),
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::oauth::{HealthEntity, HealthError, MessagingHealth};

    fn verdicts(p: &PhoneStatus) -> Vec<(&'static str, Verdict)> {
        phone_verdicts(p)
            .into_iter()
            .map(|c| (c.check, c.verdict))
            .collect()
    }

    #[test]
    fn a_healthy_number_passes_every_phone_check() {
        let p = PhoneStatus {
            status: Some("CONNECTED".into()),
            quality_rating: Some("GREEN".into()),
            name_status: Some("APPROVED".into()),
            code_verification_status: Some("VERIFIED".into()),
            messaging_limit: Some("TIER_2K".into()),
            health: Some(MessagingHealth {
                can_send_message: "AVAILABLE".into(),
                entities: vec![],
            }),
            ..PhoneStatus::default()
        };
        assert!(verdicts(&p).iter().all(|(_, v)| *v == Verdict::Pass));
    }

    #[test]
    fn each_phone_fault_has_its_verdict() {
        let table: &[(&str, &str, &str, Verdict)] = &[
            // (field, value, check, verdict)
            ("status", "FLAGGED", checks::PHONE_STATUS, Verdict::Warn),
            ("status", "PENDING", checks::PHONE_STATUS, Verdict::Fail),
            ("status", "BANNED", checks::PHONE_STATUS, Verdict::Fail),
            ("quality", "YELLOW", checks::PHONE_QUALITY, Verdict::Warn),
            ("quality", "RED", checks::PHONE_QUALITY, Verdict::Fail),
            ("quality", "NA", checks::PHONE_QUALITY, Verdict::Pass),
            ("name", "PENDING_REVIEW", checks::PHONE_NAME, Verdict::Warn),
            ("name", "DECLINED", checks::PHONE_NAME, Verdict::Fail),
            (
                "name",
                "AVAILABLE_WITHOUT_REVIEW",
                checks::PHONE_NAME,
                Verdict::Pass,
            ),
            ("code", "EXPIRED", checks::PHONE_VERIFICATION, Verdict::Warn),
        ];
        for (field, value, id, want) in table {
            let mut p = PhoneStatus::default();
            match *field {
                "status" => p.status = Some((*value).into()),
                "quality" => p.quality_rating = Some((*value).into()),
                "name" => p.name_status = Some((*value).into()),
                _ => p.code_verification_status = Some((*value).into()),
            }
            let got = verdicts(&p)
                .into_iter()
                .find(|(c, _)| c == id)
                .map(|(_, v)| v);
            assert_eq!(got, Some(*want), "{field}={value}");
        }
    }

    #[test]
    fn blocked_health_names_the_entity_and_metas_solution() {
        let p = PhoneStatus {
            health: Some(MessagingHealth {
                can_send_message: "BLOCKED".into(),
                entities: vec![
                    HealthEntity {
                        entity_type: "WABA".into(),
                        can_send_message: "BLOCKED".into(),
                        errors: vec![HealthError {
                            error_code: Some(141_010),
                            error_description: Some(
                                "The Business has not passed verification.".into(),
                            ),
                            possible_solution: Some("Verify the business.".into()),
                        }],
                        ..HealthEntity::default()
                    },
                    HealthEntity {
                        entity_type: "APP".into(),
                        can_send_message: "AVAILABLE".into(),
                        ..HealthEntity::default()
                    },
                ],
            }),
            ..PhoneStatus::default()
        };
        let c = phone_verdicts(&p)
            .into_iter()
            .find(|c| c.check == checks::PHONE_HEALTH)
            .expect("health");
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.summary.contains("WABA BLOCKED: 141010 The Business has not passed verification. — Verify the business."), "{}", c.summary);
        assert!(!c.summary.contains("APP"), "{}", c.summary);
    }

    #[test]
    fn the_table_lists_each_check_and_the_outcome() {
        let d = Diagnosis {
            channel_id: "ch_1".into(),
            instance_id: "ins_1".into(),
            kind: "whatsapp".into(),
            external_id: "1".into(),
            checked_at: "2026-12-04T00:00:00Z".into(),
            healthy: false,
            checks: vec![
                check(checks::TOKEN_VALID, Verdict::Pass, "valid"),
                with_fix(
                    check(checks::PHONE_NAME, Verdict::Fail, "DECLINED"),
                    "rename",
                ),
            ],
        };
        let t = d.to_table();
        assert!(t.contains("PASS  token.valid  valid"), "{t}");
        assert!(t.contains("FAIL  phone.name   DECLINED"), "{t}");
        assert!(t.contains("fix: rename"), "{t}");
        assert!(
            t.contains("NOT healthy: 1 failed, 0 warning(s), 2 check(s)"),
            "{t}"
        );
    }
}
