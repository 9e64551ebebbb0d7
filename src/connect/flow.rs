//! The server side of Meta's connect flows: exchange the code (at once: an Embedded Signup
//! code lives about 30 seconds), discover the assets, let the person pick, subscribe the app
//! to each asset's webhooks, register WhatsApp numbers where Meta allows it, store the token
//! through the vault, create the channels (`channel.connected`), and end the session.
//! The app secret and every token stay on the server; nothing here logs a token.

use std::sync::Arc;

use super::grants::{self, Blocked, Grants, PagePlan};
use super::{Candidate, Flow, IG_FIELDS, TempData};
use crate::channels::ChannelKind;
use crate::config::ConnectConfig;
use crate::crypto::vault::Vault;
use crate::meta::graph::GraphCallError;
use crate::meta::oauth::OAuthClient;
use crate::store::{ConnectOutcome, ConnectSessionRow, ConnectedChannel, Store};

/// Why a connect attempt failed: a machine-readable code and a sentence for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn meta(step: &str, err: &GraphCallError) -> Self {
        // GraphCallError's Display never holds a token or a body (meta::graph).
        Self::new(
            "meta_error",
            format!("Meta refused a step of the connection ({step}): {err}"),
        )
    }
}

/// Where a connect attempt stands after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Several assets: the person picks (the candidates are kept encrypted in the session).
    Pick(Vec<Candidate>),
    /// A WhatsApp number that is not verified yet: the person asks Meta for a code and enters
    /// it (kept encrypted in the session like a pick).
    Verify(Candidate),
    /// Done: the channels that were connected, per-asset problems of the others, and notes on
    /// the connected ones (a permission was not granted: what will not arrive).
    Connected {
        channel_ids: Vec<String>,
        problems: Vec<String>,
        notices: Vec<String>,
    },
    /// A WhatsApp number has two-step verification with a PIN the bridge does not know: the
    /// person enters it (the candidates are kept encrypted in the session).
    NeedPin {
        candidates: Vec<Candidate>,
        message: String,
    },
}

/// What the browser reported from Embedded Signup's session-info message (untrusted: checked
/// against `debug_token`).
#[derive(Debug, Clone, Default)]
pub struct EsReport {
    pub waba_id: Option<String>,
    pub phone_number_id: Option<String>,
    /// The flow finished with `FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING`: a number that keeps
    /// working in the WhatsApp Business app ("coexistence").
    pub business_app: bool,
}

/// Runs the connect steps against Meta and the store.
#[derive(Clone)]
pub struct Connector {
    pub store: Store,
    pub vault: Arc<Vault>,
    pub oauth: OAuthClient,
    pub cfg: ConnectConfig,
    pub public_url: String,
    pub horizon_ms: i64,
    /// How long a pending WhatsApp registration waits before it is tried again.
    pub register_retry_ms: i64,
}

/// Registration errors that mean "not yet" rather than "no": Meta's registration server is
/// busy, asks to wait, or rate-limits registrations (decided on codes, never on texts; a
/// display name still in review is known from `phone_numbers` before registering).
fn registration_can_wait(err: &GraphCallError) -> bool {
    match err {
        GraphCallError::Graph { error, .. } => {
            matches!(error.code, 133004 | 133015 | 133016 | 131057) || err.is_retryable()
        }
        _ => err.is_retryable(),
    }
}

/// `code_verification_status` of a verified number ("Registering business phone numbers":
/// an unverified number needs `request_code` + `verify_code` before `/register`).
fn code_verified(status: Option<&str>) -> bool {
    status.is_none_or(|s| s.eq_ignore_ascii_case("VERIFIED"))
}

/// Display-name states in which Meta lets a number register.
fn name_approved(status: Option<&str>) -> bool {
    match status {
        None => true,
        Some(s) => matches!(
            s.to_ascii_uppercase().as_str(),
            "APPROVED" | "AVAILABLE_WITHOUT_REVIEW" | "NONE"
        ),
    }
}

/// The Meta error code of a failed call, if Meta answered with an error envelope.
fn meta_code(err: &GraphCallError) -> Option<i64> {
    match err {
        GraphCallError::Graph { error, .. } => Some(error.code),
        _ => None,
    }
}

/// Whether Meta said the token itself is invalid (190: expired, revoked, app removed). A
/// permission error (200-299) on one call is about that call, not the token.
fn token_invalid(err: &GraphCallError) -> bool {
    meta_code(err) == Some(190)
}

/// "Two step verification PIN Mismatch" (`POST /{phone}/register`).
pub const PIN_MISMATCH: i64 = 133005;
/// "Two step verification PIN Guessed Too Fast".
pub const PIN_TOO_FAST: i64 = 133009;

/// What the person reads when the bridge needs the number's existing PIN.
pub const PIN_HELP: &str = "Enter the number's current 6-digit two-step verification PIN. If nobody knows it, reset it in WhatsApp Manager (Account tools > Phone numbers > the number > Settings > Two-step verification > Change PIN), then enter the new PIN here.";

/// How registering one WhatsApp number went. Registration follows Meta's documented order:
/// set the two-step verification PIN (`POST /{phone}` `{"pin"}`), then `POST /{phone}/register`
/// with that PIN ("Two-Step Verification" and "Register a business phone number", WhatsApp
/// Cloud API docs, read 2026-12-02; errors 133005 / 133009 / 133015 / 133016 from the Graph
/// reference of `/register`,
/// <https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status/register>).
#[derive(Debug)]
pub enum Registration {
    /// Registered now; the PIN it has (kept encrypted for later re-registration).
    Registered { pin: String },
    /// Already registered with the Cloud API: left as it is (its PIN is not changed).
    AlreadyRegistered,
    /// Meta does not let it register yet; the worker tries again.
    Pending { pin: String, reason: String },
    /// Two-step verification is on with a PIN the bridge does not know (or the person's PIN
    /// was wrong): the person has to enter it.
    NeedsPin(String),
    /// Meta refused for another reason.
    Failed(String),
}

impl Connector {
    /// Disconnects a channel (of `instance_id` when given): removes the app's webhook
    /// subscription where Meta allows it (P13), then deletes the token, fails waiting sends and
    /// records `channel.disconnected` ([`crate::instances::remove_channel`]).
    pub async fn disconnect(
        &self,
        id: &str,
        instance_id: Option<&str>,
        by: crate::instances::DisconnectBy<'_>,
    ) -> Result<crate::store::Disconnected, crate::instances::OpError> {
        if let Ok(Some(row)) = self.store.get_channel(id, instance_id).await
            && row.status != crate::channels::Connection::Disconnected
        {
            self.unsubscribe(id).await;
        }
        crate::instances::remove_channel(&self.store, id, instance_id, by, self.horizon_ms).await
    }

    /// Removes the app's webhook subscription of a channel being disconnected, where Meta
    /// allows it (P13): a Page or an Instagram Login account always; a WhatsApp Business
    /// Account only when no other live channel of this bridge uses it. Best effort: a failure
    /// is logged and the disconnect goes on (the token is deleted either way).
    async fn unsubscribe(&self, channel_id: &str) {
        let Ok(Some(row)) = self.store.lifecycle_row(channel_id).await else {
            return;
        };
        let (Some(object), Some(token)) = (
            row.subscription_object.as_deref(),
            row.token_enc
                .as_deref()
                .and_then(|e| self.vault.decrypt(e).ok()),
        ) else {
            return;
        };
        if self
            .store
            .others_on_subscription(object, channel_id)
            .await
            .map_or(true, |n| n > 0)
        {
            return;
        }
        let result = if object == "me" {
            self.oauth.ig_unsubscribe(&token).await
        } else {
            self.oauth.unsubscribe_app(&token, object).await
        };
        match result {
            Ok(()) => tracing::info!(channel = %channel_id, "webhook subscription removed"),
            Err(e) => {
                tracing::warn!(channel = %channel_id, error = %e, "removing the webhook subscription failed")
            }
        }
    }
}

impl Connector {
    /// Registers `c` with `person_pin` (the PIN the person typed) or, without one, a new
    /// random PIN set on the number first. Writes nothing to the store.
    pub async fn register_number(
        &self,
        token: &str,
        c: &Candidate,
        person_pin: Option<&str>,
    ) -> Registration {
        if c.cloud_api_registered && person_pin.is_none() {
            return Registration::AlreadyRegistered;
        }
        let pin = person_pin.map_or_else(super::new_pin, str::to_string);
        if c.name_pending {
            return Registration::Pending {
                pin,
                reason: "the display name is waiting for Meta's review; the number is registered once it is approved".into(),
            };
        }
        if person_pin.is_none() {
            match self
                .oauth
                .set_two_step_pin(token, &c.external_id, &pin)
                .await
            {
                Ok(()) => {}
                Err(e) if token_invalid(&e) => {
                    return Registration::Failed(
                        Failure::meta("setting the two-step verification PIN", &e).message,
                    );
                }
                Err(e) if registration_can_wait(&e) => {
                    return Registration::Pending {
                        pin,
                        reason: format!(
                            "Meta cannot set the number's two-step verification PIN yet ({e}); it is tried again automatically"
                        ),
                    };
                }
                // Meta did not take the new PIN: registering may still work (a number without
                // two-step verification takes the PIN given to `/register`); a number with a
                // PIN answers 133005 and the person is asked for it.
                Err(e) => {
                    tracing::info!(phone = %c.external_id, error = %e, "setting the two-step verification PIN failed; registering anyway");
                }
            }
        }
        match self.oauth.register_phone(token, &c.external_id, &pin).await {
            Ok(()) => Registration::Registered { pin },
            Err(e) if meta_code(&e) == Some(PIN_MISMATCH) => {
                Registration::NeedsPin(if person_pin.is_some() {
                    format!(
                        "The PIN you entered is not the two-step verification PIN of {} (Meta answered 133005, PIN mismatch). Nothing was connected. {PIN_HELP}",
                        c.label
                    )
                } else {
                    format!(
                        "{} has two-step verification turned on, and Meta did not let the bridge set a new PIN. {PIN_HELP}",
                        c.label
                    )
                })
            }
            Err(e) if meta_code(&e) == Some(PIN_TOO_FAST) => Registration::NeedsPin(format!(
                "Meta stopped PIN attempts for {} for now because they came too fast (133009). Wait a few minutes, then enter the PIN again.",
                c.label
            )),
            Err(e) if registration_can_wait(&e) => Registration::Pending {
                pin,
                reason: format!(
                    "Meta cannot register the number yet ({e}); it is tried again automatically"
                ),
            },
            Err(e) => Registration::Failed(Failure::meta("phone number registration", &e).message),
        }
    }

    pub fn redirect_uri(&self) -> String {
        format!("{}/connect/callback", self.public_url)
    }

    /// WhatsApp Embedded Signup: the popup gave the browser a code (and, separately, the WABA
    /// and phone number ids).
    pub async fn embedded_signup(
        &self,
        session: &ConnectSessionRow,
        code: &str,
        report: &EsReport,
    ) -> Result<Step, Failure> {
        let token = self
            .oauth
            .exchange_code(code, None)
            .await
            .map_err(|e| Failure::meta("code exchange", &e))?;
        // The person's app-scoped id, as the deauthorize / data-deletion callbacks carry it:
        // `/me` with the token of the code exchange (not `debug_token`'s `user_id`, which
        // names the business integration system user of a business token).
        let me = match self.oauth.me_id(&token.access_token).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "reading the Embedded Signup user failed");
                None
            }
        };
        let debug = self
            .oauth
            .debug_token(&token.access_token)
            .await
            .map_err(|e| Failure::meta("token check", &e))?;
        if !debug.is_valid {
            return Err(Failure::new(
                "meta_error",
                "Meta reports the new access token as invalid. Please try again.",
            ));
        }
        let mut granted: Vec<String> = Vec::new();
        for g in &debug.granular_scopes {
            if g.scope == "whatsapp_business_management" || g.scope == "whatsapp_business_messaging"
            {
                for t in &g.target_ids {
                    if !granted.contains(t) {
                        granted.push(t.clone());
                    }
                }
            }
        }
        let wabas: Vec<String> = match &report.waba_id {
            Some(w) if granted.is_empty() || granted.contains(w) => vec![w.clone()],
            Some(_) => {
                return Err(Failure::new(
                    "asset_mismatch",
                    "The WhatsApp Business Account reported by the browser is not one this login granted access to.",
                ));
            }
            None => granted,
        };
        if wabas.is_empty() {
            return Err(Failure::new(
                "no_assets",
                "No WhatsApp Business Account was shared. Run the signup again and select an account.",
            ));
        }
        let mut candidates = Vec::new();
        let mut on_biz_app: Vec<String> = Vec::new();
        for waba in &wabas {
            let numbers = self
                .oauth
                .phone_numbers(&token.access_token, waba)
                .await
                .map_err(|e| Failure::meta("listing phone numbers", &e))?;
            for n in numbers {
                if n.is_on_biz_app {
                    on_biz_app.push(n.id.clone());
                }
                candidates.push(Candidate {
                    external_id: n.id.clone(),
                    label: if n.verified_name.is_empty() {
                        n.display_phone_number.clone()
                    } else {
                        format!("{} ({})", n.verified_name, n.display_phone_number)
                    },
                    detail: Some(format!("WhatsApp Business Account {waba}")),
                    waba_id: Some(waba.clone()),
                    page_id: None,
                    token: None,
                    name_pending: !name_approved(n.name_status.as_deref()),
                    coexistence: report.business_app,
                    // A WhatsApp Business app number was verified in the app.
                    unverified: !report.business_app
                        && !code_verified(n.code_verification_status.as_deref()),
                    // `platform_type` CLOUD_API: registered with the Cloud API already.
                    cloud_api_registered: n
                        .platform_type
                        .as_deref()
                        .is_some_and(|p| p.eq_ignore_ascii_case("CLOUD_API")),
                });
            }
        }
        // `FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING` names only the WABA: its number is the one
        // Meta reports in use with the WhatsApp Business app.
        if report.business_app && report.phone_number_id.is_none() {
            let on_app: Vec<Candidate> = candidates
                .iter()
                .filter(|c| on_biz_app.contains(&c.external_id))
                .cloned()
                .collect();
            if !on_app.is_empty() {
                candidates = on_app;
            }
        }
        if let Some(phone) = &report.phone_number_id {
            let Some(c) = candidates.iter().find(|c| &c.external_id == phone).cloned() else {
                return Err(Failure::new(
                    "asset_mismatch",
                    "The phone number reported by the browser does not belong to the shared WhatsApp Business Account.",
                ));
            };
            candidates = vec![c];
        }
        let temp = TempData {
            token: token.access_token.clone(),
            token_kind: "system_user".into(),
            token_expires_at: token
                .expires_in
                .filter(|s| *s > 0)
                .map(|s| crate::now_ms() + s * 1000),
            meta_user_id: me,
            candidates,
            grants: None,
            connected: Vec::new(),
            notices: Vec::new(),
        };
        self.offer(session, temp).await
    }

    /// The redirect dialog came back with a code (Facebook Login or Instagram Login).
    pub async fn oauth_code(
        &self,
        session: &ConnectSessionRow,
        code: &str,
    ) -> Result<Step, Failure> {
        let redirect = self.redirect_uri();
        let flow = Flow::parse(&session.flow).unwrap_or(Flow::FacebookLogin);
        let temp = if flow == Flow::InstagramLogin {
            let short = self
                .oauth
                .ig_exchange_code(code, &redirect)
                .await
                .map_err(|e| Failure::meta("code exchange", &e))?;
            let long = self
                .oauth
                .ig_long_lived(&short.access_token)
                .await
                .map_err(|e| Failure::meta("long-lived token", &e))?;
            let me = self
                .oauth
                .ig_me(&long.access_token)
                .await
                .map_err(|e| Failure::meta("reading the account", &e))?;
            TempData {
                token: long.access_token.clone(),
                token_kind: "instagram_login".into(),
                token_expires_at: long
                    .expires_in
                    .filter(|s| *s > 0)
                    .map(|s| crate::now_ms() + s * 1000),
                meta_user_id: short.user_id.clone().or_else(|| Some(me.user_id.clone())),
                candidates: vec![Candidate {
                    external_id: me.user_id.clone(),
                    label: me
                        .username
                        .as_ref()
                        .map(|u| format!("@{u}"))
                        .unwrap_or_else(|| me.user_id.clone()),
                    detail: me.name.clone(),
                    waba_id: None,
                    page_id: None,
                    token: None,
                    name_pending: false,
                    coexistence: false,
                    unverified: false,
                    cloud_api_registered: false,
                }],
                grants: None,
                connected: Vec::new(),
                notices: Vec::new(),
            }
        } else {
            let short = self
                .oauth
                .exchange_code(code, Some(&redirect))
                .await
                .map_err(|e| Failure::meta("code exchange", &e))?;
            let long = self
                .oauth
                .long_lived_user_token(&short.access_token)
                .await
                .map_err(|e| Failure::meta("long-lived token", &e))?;
            let user_id = self.oauth.me_id(&long.access_token).await.ok();
            // Which permissions the person granted, per Page: only the webhook fields they
            // cover are subscribed (connect::grants).
            let debug = self
                .oauth
                .debug_token(&long.access_token)
                .await
                .map_err(|e| Failure::meta("checking the granted permissions", &e))?;
            if !debug.is_valid {
                return Err(Failure::new(
                    "meta_error",
                    "Meta reports the new access token as invalid. Please try again.",
                ));
            }
            let grants = Grants::from_debug(&debug);
            let pages = self
                .oauth
                .pages(&long.access_token)
                .await
                .map_err(|e| Failure::meta("listing Pages", &e))?;
            let instagram = session.kind == "instagram";
            let candidates: Vec<Candidate> = pages
                .into_iter()
                .filter_map(|p| {
                    if instagram {
                        let ig = p.instagram?;
                        Some(Candidate {
                            label: ig
                                .username
                                .as_ref()
                                .map(|u| format!("@{u}"))
                                .unwrap_or_else(|| ig.id.clone()),
                            external_id: ig.id,
                            detail: Some(format!("linked to the Page {}", p.name)),
                            waba_id: None,
                            page_id: Some(p.id),
                            token: Some(p.access_token),
                            name_pending: false,
                            coexistence: false,
                            unverified: false,
                            cloud_api_registered: false,
                        })
                    } else {
                        Some(Candidate {
                            external_id: p.id.clone(),
                            label: p.name.clone(),
                            detail: Some(format!("Page {}", p.id)),
                            waba_id: None,
                            page_id: Some(p.id),
                            token: Some(p.access_token),
                            name_pending: false,
                            coexistence: false,
                            unverified: false,
                            cloud_api_registered: false,
                        })
                    }
                })
                .collect();
            TempData {
                token: long.access_token.clone(),
                token_kind: "page".into(),
                token_expires_at: None,
                meta_user_id: user_id,
                candidates,
                grants: Some(grants),
                connected: Vec::new(),
                notices: Vec::new(),
            }
        };
        self.offer(session, temp).await
    }

    /// Keeps `temp` (encrypted) in the session until the person's next step.
    async fn keep(&self, session: &ConnectSessionRow, temp: &TempData) -> Result<(), Failure> {
        let plain = serde_json::to_string(temp)
            .map_err(|_| Failure::new("internal_error", "Could not keep the session's data."))?;
        let stored = self
            .store
            .set_connect_temp(&session.id, Some(&self.vault.encrypt(&plain)))
            .await
            .map_err(|_| Failure::new("internal_error", "Could not keep the session's data."))?;
        if !stored {
            return Err(Failure::new(
                "session_closed",
                "This connection session has already ended.",
            ));
        }
        Ok(())
    }

    /// What the session keeps, decrypted.
    fn kept(&self, session: &ConnectSessionRow, what: &str) -> Result<TempData, Failure> {
        session
            .temp_enc
            .as_deref()
            .and_then(|enc| self.vault.decrypt(enc).ok())
            .and_then(|plain| serde_json::from_str(&plain).ok())
            .ok_or_else(|| Failure::new("session_closed", what.to_string()))
    }

    /// One asset: connect it at once; several: keep them (encrypted) for the picker.
    async fn offer(&self, session: &ConnectSessionRow, temp: TempData) -> Result<Step, Failure> {
        match temp.candidates.len() {
            0 => Err(Failure::new(
                "no_assets",
                match session.kind.as_str() {
                    "instagram" => {
                        "No Instagram professional account was shared. Make sure the account is a business or creator account (linked to a Facebook Page when you log in with Facebook) and that you selected it."
                    }
                    "messenger" => {
                        "No Facebook Page was shared. Run the login again and select at least one Page."
                    }
                    _ => "No WhatsApp phone number was found in the shared account.",
                },
            )),
            1 if temp.candidates[0].unverified => {
                let c = temp.candidates[0].clone();
                self.keep(session, &temp).await?;
                Ok(Step::Verify(c))
            }
            1 => {
                let chosen = temp.candidates.clone();
                self.connect(session, &temp, &chosen, None).await
            }
            _ => {
                self.keep(session, &temp).await?;
                Ok(Step::Pick(temp.candidates))
            }
        }
    }

    fn temp_of(&self, session: &ConnectSessionRow) -> Result<TempData, Failure> {
        session
            .temp_enc
            .as_deref()
            .and_then(|enc| self.vault.decrypt(enc).ok())
            .and_then(|plain| serde_json::from_str(&plain).ok())
            .ok_or_else(|| {
                Failure::new(
                    "session_closed",
                    "There is nothing waiting in this session.",
                )
            })
    }

    /// The number waiting for verification in this session.
    pub fn unverified_number(&self, session: &ConnectSessionRow) -> Result<Candidate, Failure> {
        let temp = self.temp_of(session)?;
        match temp.candidates.as_slice() {
            [c] if c.unverified => Ok(c.clone()),
            _ => Err(Failure::new(
                "session_closed",
                "No phone number is waiting for verification in this session.",
            )),
        }
    }

    /// Asks Meta to send the verification code of the waiting number (`SMS` or `VOICE`, in
    /// `language`, e.g. `en_US`).
    pub async fn request_verification(
        &self,
        session: &ConnectSessionRow,
        code_method: &str,
        language: &str,
    ) -> Result<Candidate, Failure> {
        let temp = self.temp_of(session)?;
        let c = self.unverified_number(session)?;
        self.oauth
            .request_code(&temp.token, &c.external_id, code_method, language)
            .await
            .map_err(|e| Failure::meta("sending the verification code", &e))?;
        Ok(c)
    }

    /// Verifies the waiting number with the code the person received, then connects (and
    /// registers) it. A wrong code (136025) is `wrong_code`: the person may try again.
    pub async fn verify(&self, session: &ConnectSessionRow, code: &str) -> Result<Step, Failure> {
        let mut temp = self.temp_of(session)?;
        let mut c = self.unverified_number(session)?;
        if let Err(e) = self
            .oauth
            .verify_code(&temp.token, &c.external_id, code)
            .await
        {
            return Err(match &e {
                GraphCallError::Graph { error, .. } if matches!(error.code, 136025 | 100) => {
                    Failure::new(
                        "wrong_code",
                        "Meta did not accept this code. Check the code in the latest message (or call) and enter it again, or ask for a new code.",
                    )
                }
                _ => Failure::meta("verifying the phone number", &e),
            });
        }
        c.unverified = false;
        temp.candidates = vec![c.clone()];
        self.connect(session, &temp, &[c], None).await
    }

    /// The person picked `chosen` external ids among the kept candidates.
    pub async fn pick(
        &self,
        session: &ConnectSessionRow,
        chosen: &[String],
    ) -> Result<Step, Failure> {
        let temp = self.kept(session, "There is nothing left to pick in this session.")?;
        let picked: Vec<Candidate> = temp
            .candidates
            .iter()
            .filter(|c| chosen.iter().any(|id| id == &c.external_id))
            .cloned()
            .collect();
        if picked.is_empty() {
            return Err(Failure::new(
                "nothing_selected",
                "Select at least one account to connect.",
            ));
        }
        if let [c] = picked.as_slice()
            && c.unverified
        {
            let keep = TempData {
                candidates: picked.clone(),
                ..temp
            };
            self.keep(session, &keep).await?;
            return Ok(Step::Verify(c.clone()));
        }
        self.connect(session, &temp, &picked, None).await
    }

    /// Starts the contacts and message-history synchronization of a WhatsApp Business app
    /// number ("Onboard WhatsApp Business app users", Synchronizing WhatsApp Business app data,
    /// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users,
    /// read 2026-12-02): contacts first, then history, within 24 hours of onboarding, each once
    /// (never retried: a second request is refused and only re-onboarding can repeat it). The
    /// data arrives as `smb_app_state_sync` and `history` webhooks. Returns the problems.
    async fn sync_business_app(&self, token: &str, c: &Candidate) -> Vec<String> {
        let mut problems = Vec::new();
        for (sync, what) in [
            ("smb_app_state_sync", "contacts"),
            ("history", "message history"),
        ] {
            match self.oauth.smb_app_data(token, &c.external_id, sync).await {
                Ok(request_id) => {
                    tracing::info!(phone = %c.external_id, sync, request_id = %request_id, "WhatsApp Business app sync requested");
                }
                Err(e) => problems.push(format!(
                    "{}: connected, but Meta did not start the {what} synchronization ({e}); the number works, its earlier {what} is not imported",
                    c.label
                )),
            }
        }
        problems
    }

    /// The person typed the two-step verification PIN of a kept WhatsApp number. A wrong PIN
    /// (`invalid_pin`, `two_step_pin_mismatch`) leaves the session open and stores nothing.
    pub async fn submit_pin(
        &self,
        session: &ConnectSessionRow,
        phone_number_id: &str,
        pin: &str,
    ) -> Result<Step, Failure> {
        let temp = self.kept(
            session,
            "No phone number is waiting for a PIN in this session.",
        )?;
        let Some(c) = temp
            .candidates
            .iter()
            .find(|c| c.external_id == phone_number_id)
            .cloned()
        else {
            return Err(Failure::new(
                "session_closed",
                "No phone number is waiting for a PIN in this session.",
            ));
        };
        if !super::is_pin(pin) {
            return Err(Failure::new(
                "invalid_pin",
                "A two-step verification PIN is exactly 6 digits.",
            ));
        }
        let rest: Vec<Candidate> = temp
            .candidates
            .iter()
            .filter(|o| o.external_id != c.external_id)
            .cloned()
            .collect();
        let step = self
            .connect(session, &temp, std::slice::from_ref(&c), Some(pin))
            .await;
        match step {
            // The same number wants the PIN again: the PIN was wrong. Nothing was stored and
            // the session keeps waiting (the kept data is unchanged).
            Ok(Step::NeedPin { message, .. }) => {
                Err(Failure::new("two_step_pin_mismatch", message))
            }
            Ok(Step::Connected {
                channel_ids,
                problems,
                notices,
            }) if !rest.is_empty() => {
                // Other numbers still wait for their PIN.
                let next = TempData {
                    candidates: rest.clone(),
                    connected: channel_ids,
                    notices: notices.into_iter().chain(problems).collect(),
                    ..temp
                };
                self.keep(session, &next).await?;
                Ok(Step::NeedPin {
                    candidates: rest,
                    message: PIN_HELP.to_string(),
                })
            }
            other => other,
        }
    }

    /// The Page subscription of a Facebook Login asset: the fields the granted permissions
    /// cover (all of them when the grants are unknown).
    fn page_plan(
        &self,
        session: &ConnectSessionRow,
        temp: &TempData,
        c: &Candidate,
        page: &str,
    ) -> Result<PagePlan, Blocked> {
        let kind = ChannelKind::parse(&session.kind).unwrap_or(ChannelKind::Messenger);
        match &temp.grants {
            Some(g) => grants::plan_page(kind, g, &[page, c.external_id.as_str()]),
            None => Ok(PagePlan {
                fields: grants::all_page_fields(kind),
                missing: Vec::new(),
            }),
        }
    }

    /// Subscribes, registers and stores each chosen asset. `person_pin` is the two-step
    /// verification PIN the person typed for the (single) chosen WhatsApp number.
    async fn connect(
        &self,
        session: &ConnectSessionRow,
        temp: &TempData,
        chosen: &[Candidate],
        person_pin: Option<&str>,
    ) -> Result<Step, Failure> {
        let flow = Flow::parse(&session.flow).unwrap_or(Flow::FacebookLogin);
        let mut channel_ids = temp.connected.clone();
        let mut problems = Vec::new();
        let mut notices = temp.notices.clone();
        let mut need_pin: Vec<(Candidate, String)> = Vec::new();
        let mut subscribed: Vec<String> = Vec::new();
        for c in chosen {
            let token = c.token.as_deref().unwrap_or(&temp.token);
            if c.unverified {
                problems.push(format!(
                    "{}: the number is not verified yet; connect it on its own to verify it with a code",
                    c.label
                ));
                continue;
            }
            let mut fields: Option<String> = None;
            let mut missing: Vec<String> = Vec::new();
            // 1. Webhooks first: nothing arrives until the app is subscribed.
            let subscription_object = match flow {
                Flow::InstagramLogin => {
                    if let Err(e) = self.oauth.ig_subscribe(token, IG_FIELDS).await {
                        problems.push(format!(
                            "{}: {}",
                            c.label,
                            Failure::meta("webhook subscription", &e).message
                        ));
                        continue;
                    }
                    fields = Some(IG_FIELDS.join(","));
                    "me".to_string()
                }
                Flow::EmbeddedSignup => {
                    let Some(waba) = c.waba_id.clone() else {
                        problems.push(format!("{}: no WhatsApp Business Account id", c.label));
                        continue;
                    };
                    if !subscribed.contains(&waba) {
                        if let Err(e) = self.oauth.subscribe_app(token, &waba, &[]).await {
                            problems.push(format!(
                                "{}: {}",
                                c.label,
                                Failure::meta("webhook subscription", &e).message
                            ));
                            continue;
                        }
                        subscribed.push(waba.clone());
                    }
                    waba
                }
                Flow::FacebookLogin => {
                    let page = c.page_id.clone().unwrap_or_else(|| c.external_id.clone());
                    let plan = match self.page_plan(session, temp, c, &page) {
                        Ok(plan) => plan,
                        Err(Blocked(why)) => {
                            problems.push(format!("{}: {why}.", c.label));
                            continue;
                        }
                    };
                    if let Err(e) = self.oauth.subscribe_app(token, &page, &plan.fields).await {
                        problems.push(format!(
                            "{}: {}",
                            c.label,
                            Failure::meta("webhook subscription", &e).message
                        ));
                        continue;
                    }
                    for m in &plan.missing {
                        notices.push(format!(
                            "{}: connected, but {}. To receive them, connect it again and allow {}.",
                            c.label,
                            m.sentence(),
                            m.permission
                        ));
                        missing.push(m.permission.clone());
                    }
                    fields = Some(plan.fields.join(","));
                    page
                }
            };
            // 2. WhatsApp numbers: the two-step verification PIN is set, then the number is
            //    registered, where Meta allows it; otherwise it waits. A WhatsApp Business app
            //    number is already registered: "skip the phone number registration step"
            //    ("Onboard WhatsApp Business app users", read 2026-12-02).
            let mut status = "active";
            let mut status_reason: Option<String> = None;
            let mut register_next_at = None;
            let mut pin_enc = None;
            if flow == Flow::EmbeddedSignup && !c.coexistence {
                match self.register_number(token, c, person_pin).await {
                    Registration::Registered { pin } => pin_enc = Some(self.vault.encrypt(&pin)),
                    Registration::AlreadyRegistered => notices.push(format!(
                        "{}: the number was already registered with the WhatsApp Cloud API; its registration and two-step verification PIN were left as they are.",
                        c.label
                    )),
                    Registration::Pending { pin, reason } => {
                        pin_enc = Some(self.vault.encrypt(&pin));
                        status = "pending";
                        status_reason = Some(reason);
                        register_next_at = Some(crate::now_ms() + self.register_retry_ms);
                    }
                    Registration::NeedsPin(message) => {
                        need_pin.push((c.clone(), message));
                        continue;
                    }
                    Registration::Failed(message) => {
                        problems.push(format!("{}: {message}", c.label));
                        continue;
                    }
                }
            }
            let kind = session.kind.as_str();
            let token_kind = match flow {
                Flow::EmbeddedSignup => "system_user",
                Flow::InstagramLogin => "instagram_login",
                Flow::FacebookLogin => "page",
            };
            let token_expires_at = match flow {
                Flow::FacebookLogin => None,
                _ => temp.token_expires_at,
            };
            // Which Graph host this channel's sends, refreshes and profile reads use
            // (meta::login): an Instagram Login token only works on graph.instagram.com.
            let login = match (kind, flow) {
                ("instagram", Flow::InstagramLogin) => Some("instagram"),
                ("instagram", _) => Some("facebook"),
                _ => None,
            };
            let token_enc = self.vault.encrypt(token);
            let stored = self
                .store
                .store_connected_channel(
                    &ConnectedChannel {
                        instance_id: &session.instance_id,
                        session_id: &session.id,
                        kind,
                        external_id: &c.external_id,
                        waba_id: c.waba_id.as_deref(),
                        name: Some(&c.label),
                        token_enc: &token_enc,
                        token_kind,
                        token_expires_at,
                        subscription_object: Some(&subscription_object),
                        subscribed_fields: fields.as_deref(),
                        missing_permissions: &missing,
                        meta_user_id: temp.meta_user_id.as_deref(),
                        register_pin_enc: pin_enc.as_deref(),
                        status,
                        status_reason: status_reason.as_deref(),
                        register_next_at,
                        login,
                    },
                    self.horizon_ms,
                )
                .await;
            match stored {
                Ok(ConnectOutcome::Created(id) | ConnectOutcome::Reconnected(id)) => {
                    channel_ids.push(id);
                    if flow == Flow::EmbeddedSignup && c.coexistence {
                        problems.extend(self.sync_business_app(token, c).await);
                    }
                }
                Ok(ConnectOutcome::TakenByAnotherInstance) => problems.push(format!(
                    "{}: this account is already connected to another workspace; disconnect it there first",
                    c.label
                )),
                Err(e) => {
                    tracing::error!(session = %session.id, error = %e, "storing a connected channel failed");
                    problems.push(format!("{}: could not be saved, please try again", c.label));
                }
            }
        }
        if !need_pin.is_empty() {
            // Keep what the PIN step needs; what is connected so far stays connected.
            let message = need_pin
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let candidates: Vec<Candidate> = need_pin.into_iter().map(|(c, _)| c).collect();
            let next = TempData {
                token: temp.token.clone(),
                token_kind: temp.token_kind.clone(),
                token_expires_at: temp.token_expires_at,
                meta_user_id: temp.meta_user_id.clone(),
                candidates: candidates.clone(),
                grants: temp.grants.clone(),
                connected: channel_ids,
                notices: notices.into_iter().chain(problems).collect(),
            };
            if person_pin.is_none() {
                self.keep(session, &next).await?;
            }
            return Ok(Step::NeedPin {
                candidates,
                message,
            });
        }
        if channel_ids.is_empty() {
            let message = if problems.is_empty() {
                "Nothing was connected.".to_string()
            } else {
                problems.join(" ")
            };
            let code = if problems
                .iter()
                .any(|p| p.contains("already connected to another"))
            {
                "asset_taken"
            } else if problems.iter().any(|p| p.contains("was not granted")) {
                "permission_denied"
            } else {
                "connect_failed"
            };
            return Err(Failure::new(code, message));
        }
        Ok(Step::Connected {
            channel_ids,
            problems,
            notices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_states() {
        assert!(name_approved(None));
        assert!(name_approved(Some("APPROVED")));
        assert!(name_approved(Some("available_without_review")));
        assert!(!name_approved(Some("PENDING_REVIEW")));
        assert!(!name_approved(Some("DECLINED")));
    }
}
