//! `data` of the bridge's own types (built by the store and the workers, never by Meta).

use poem_openapi::Object;
use serde::Serialize;

use crate::channels::{self, Connection, SendState};

/// `data` of `message.sent`: Meta accepted a send made through `POST /v1/messages`.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessageSentData {
    /// The bridge's message id (`msg_…`).
    pub bridge_message_id: String,
    /// Meta's message id (wamid / mid); null when Meta gave none.
    #[oai(nullable)]
    pub meta_message_id: Option<String>,
    /// The bridge's channel id.
    pub channel_id: String,
    /// The recipient as given in the send.
    pub to: String,
    /// The send's message type (`text`, `template`, …).
    #[oai(rename = "type")]
    pub r#type: String,
    /// The send's `client_reference`; null when none was given.
    #[oai(nullable)]
    pub client_reference: Option<String>,
}

/// Why a send failed for good.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct SendError {
    /// Meta's code as text (`131047`), or the bridge's: `unknown_outcome`,
    /// `retries_exhausted`, `channel_disconnected`, `meta_error`, ….
    pub code: String,
    /// Meta's numeric code; null for the bridge's own reasons.
    #[oai(nullable)]
    pub meta_code: Option<i64>,
    /// Meta's subcode; null when none.
    #[oai(nullable)]
    pub meta_subcode: Option<i64>,
    /// A readable reason.
    pub reason: String,
}

/// `data` of `message.failed`: a send failed for good (once per message).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct MessageFailedData {
    /// The bridge's message id (`msg_…`).
    pub bridge_message_id: String,
    /// Meta's message id, when Meta had accepted the message; null otherwise.
    #[oai(nullable)]
    pub meta_message_id: Option<String>,
    pub channel_id: String,
    pub to: String,
    #[oai(rename = "type")]
    pub r#type: String,
    #[oai(nullable)]
    pub client_reference: Option<String>,
    pub error: SendError,
}

/// `data` of `channel.updated`: a channel's sending changed (its connection is unchanged: a
/// channel whose sends are paused or whose token is invalid keeps relaying its webhooks).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ChannelUpdatedData {
    pub channel_id: String,
    /// The one-word state after the change (`active`, `paused`, `token_invalid`, …), as
    /// `status` of `GET /v1/channels/{id}`.
    pub status: String,
    /// The one-word state before.
    pub previous_status: String,
    /// A readable reason (Meta's code and reason when Meta caused it).
    pub reason: String,
    /// `connected` or `disconnected` (unchanged by this event).
    pub connection: String,
    /// `sending`, `paused` or `token_invalid`.
    pub send_state: String,
    /// The send state before.
    pub previous_send_state: String,
    /// `paused`: when the sends resume on their own.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_paused_until: Option<String>,
}

impl ChannelUpdatedData {
    /// The event for a channel going from `before` to `after` (connection, send state): the
    /// one-word states and the API's connection name are derived here, once.
    pub fn new(
        channel_id: &str,
        before: (Connection, SendState),
        after: (Connection, SendState),
        reason: &str,
        send_paused_until: Option<i64>,
    ) -> Self {
        ChannelUpdatedData {
            channel_id: channel_id.to_owned(),
            status: channels::summary(after.0, after.1).to_owned(),
            previous_status: channels::summary(before.0, before.1).to_owned(),
            reason: reason.to_owned(),
            connection: after.0.api_name().to_owned(),
            send_state: after.1.as_str().to_owned(),
            previous_send_state: before.1.as_str().to_owned(),
            send_paused_until: send_paused_until.map(crate::ms_to_rfc3339),
        }
    }
}

/// `data` of `channel.disconnected`: a channel was disconnected (its token deleted; sends
/// still queued fail with `channel_disconnected`).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ChannelDisconnectedData {
    pub channel_id: String,
    /// A readable reason.
    pub reason: String,
}

/// `data` of `channel.connected`: a channel was connected (or reconnected) through a connect
/// session.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ChannelConnectedData {
    pub channel_id: String,
    /// `whatsapp`, `instagram` or `messenger`.
    pub kind: String,
    /// Meta's id of the channel (phone_number_id, Instagram account id, Page id).
    pub external_id: String,
    /// WhatsApp: the WhatsApp Business Account id; null otherwise.
    #[oai(nullable)]
    pub waba_id: Option<String>,
    /// The channel's display name; null when unknown.
    #[oai(nullable)]
    pub name: Option<String>,
    /// `active`, or `pending` (a WhatsApp number Meta does not let the bridge register yet).
    pub status: String,
    /// Why the status is what it is; null when active.
    #[oai(nullable)]
    pub reason: Option<String>,
    /// The connect session (`cs_…`).
    pub connect_session_id: String,
    /// True when the channel existed and was connected again.
    pub reconnected: bool,
    /// The permissions the person did not grant in Meta's dialog (empty when all were): the
    /// channel works without them, but what they allow (e.g. reading a Page's leads) does not.
    pub missing_permissions: Vec<String>,
}

/// `data` of `channel.token_expiring`: the channel's token expires soon and cannot be
/// refreshed automatically (connect the channel again before then).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ChannelTokenExpiringData {
    pub channel_id: String,
    /// When the token expires (RFC 3339).
    pub expires_at: String,
    /// A readable reason.
    pub reason: String,
}

/// `data` of `channel.subscription_restored`: Meta had dropped the channel's webhook
/// subscription and the bridge restored it (messages sent meanwhile may not have reached the
/// bridge).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ChannelSubscriptionRestoredData {
    pub channel_id: String,
    /// A readable reason.
    pub reason: String,
}

/// `data` of `channel.backfill`: the bridge read a Page's Lead Ads leads of a time window from
/// Meta and relayed those it had not received (`POST /v1/channels/{id}/leads/backfill`, or by
/// itself when the Page's lead webhooks stopped for longer than
/// `METABRIDGE_LEAD_GAP_MINUTES`). Each relayed lead arrives as its own `lead.received`, with
/// the same idempotency key as its webhook: a lead is never delivered twice.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ChannelBackfillData {
    pub channel_id: String,
    /// `api` (asked for through the API) or `gap` (the bridge found a gap in the Page's lead
    /// webhooks).
    pub trigger: String,
    /// Leads created after this time were read (RFC 3339).
    pub since: String,
    /// When the read ended (RFC 3339).
    pub until: String,
    /// The forms read.
    pub form_ids: Vec<String>,
    /// Leads Meta listed in the window.
    pub found: u64,
    /// Leads the bridge had not received: relayed now as `lead.received`.
    pub relayed: u64,
    /// Leads already received (by webhook or an earlier backfill): not relayed again.
    pub duplicates: u64,
    /// Forms whose leads could not be read (Meta refused or failed); their leads are not
    /// counted.
    pub failed_forms: Vec<String>,
    /// A form had more leads in the window than one backfill reads (10,000): run it again
    /// with a later `since` for the rest.
    pub truncated: bool,
}
