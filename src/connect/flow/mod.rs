//! The server side of Meta's connect flows: exchange the code (at once: an Embedded Signup
//! code lives about 30 seconds), discover the assets, let the person pick, subscribe the app
//! to each asset's webhooks, register WhatsApp numbers where Meta allows it, store the token
//! through the vault, create the channels (`channel.connected`), and end the session.
//! The app secret and every token stay on the server; nothing here logs a token.

mod exchange;
mod finish;
mod steps;

use std::sync::Arc;

use super::Candidate;
use crate::config::ConnectConfig;
use crate::crypto::vault::Vault;
use crate::meta::graph::GraphCallError;
use crate::meta::oauth::OAuthClient;
use crate::store::Store;

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
        channel_ids: Vec<crate::ids::ChannelId>,
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
        id: &crate::ids::ChannelId,
        instance_id: Option<&crate::ids::InstanceId>,
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
    async fn unsubscribe(&self, channel_id: &crate::ids::ChannelId) {
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
