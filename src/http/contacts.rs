//! The Instagram / Messenger profile part of a contact (`GET /v1/channels/{id}/contacts/{contact}`,
//! answered in [`super::channels`] with the customer-service window): what Meta's User Profile
//! API told the bridge ([`crate::contacts`]).

use poem_openapi::Object;
use serde_json::Value;

use super::AppState;
use super::errors::ApiError;
use crate::channels::ChannelKind;
use crate::store::ChannelRow;

/// Longest contact id accepted (IGSIDs, PSIDs, WhatsApp ids and BSUIDs are far shorter).
const MAX_CONTACT: usize = 256;

/// A contact's profile as Meta's User Profile API answered it. Only the fields Meta returned
/// are present (a person may have no name or picture set).
#[derive(Debug, Clone, Default, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ContactProfile {
    /// Instagram: the person's name.
    pub name: Option<String>,
    /// Instagram: the username.
    pub username: Option<String>,
    /// Messenger: first name.
    pub first_name: Option<String>,
    /// Messenger: last name.
    pub last_name: Option<String>,
    /// The profile picture's URL; Meta's URLs expire after a few days.
    pub profile_pic: Option<String>,
    /// Instagram: how many accounts follow the person.
    pub follower_count: Option<i64>,
    /// Instagram: whether the person follows the business's account.
    pub is_user_follow_business: Option<bool>,
    /// Instagram: whether the business's account follows the person.
    pub is_business_follow_user: Option<bool>,
}

impl ContactProfile {
    fn from_json(text: &str) -> Option<Self> {
        let v: Value = serde_json::from_str(text).ok()?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let b = |k: &str| v.get(k).and_then(Value::as_bool);
        Some(Self {
            name: s("name"),
            username: s("username"),
            first_name: s("first_name"),
            last_name: s("last_name"),
            profile_pic: s("profile_pic"),
            follower_count: v.get("follower_count").and_then(Value::as_i64),
            is_user_follow_business: b("is_user_follow_business"),
            is_business_follow_user: b("is_business_follow_user"),
        })
    }
}

/// What the bridge holds of a contact's profile, for `GET /v1/channels/{id}/contacts/{contact}`.
#[derive(Debug, Default)]
pub struct ProfileParts {
    pub profile: Option<ContactProfile>,
    pub fetched_at: Option<String>,
    pub error: Option<String>,
    pub refreshing: bool,
}

/// The stored profile of `contact` on `ch` (the table all replicas share). When it is missing
/// or older than the TTL and the contact wrote on an Instagram or Messenger channel
/// (`last_inbound` is known: Meta's consent rule), a read is queued in the background
/// (`refreshing`); nothing here waits for Meta.
pub async fn profile_parts(
    state: &AppState,
    ch: &ChannelRow,
    contact: &str,
    last_inbound: Option<i64>,
) -> Result<ProfileParts, ApiError> {
    if !matches!(ch.kind, ChannelKind::Instagram | ChannelKind::Messenger)
        || contact.is_empty()
        || contact.len() > MAX_CONTACT
    {
        return Ok(ProfileParts::default());
    }
    let row = state
        .store
        .contact_profile(&ch.id, &ch.instance_id, contact)
        .await
        .map_err(|e| ApiError::store("read contact profile", e))?;
    let now = crate::now_ms();
    let stale = row.as_ref().is_none_or(|r| state.profiles.is_stale(r, now));
    let refreshing = stale && last_inbound.is_some();
    if refreshing {
        state
            .profiles
            .request_soon(vec![crate::contacts::ProfileRequest {
                external_id: ch.external_id.clone(),
                kind: ch.kind,
                contact: contact.to_owned(),
            }]);
    } else if let Some(p) = row.as_ref().and_then(|r| r.profile.as_deref()) {
        state.profiles.remember(&ch.id, contact, p).await;
    }
    Ok(ProfileParts {
        profile: row
            .as_ref()
            .and_then(|r| r.profile.as_deref())
            .and_then(ContactProfile::from_json),
        fetched_at: row
            .as_ref()
            .and_then(|r| r.fetched_at)
            .map(crate::ms_to_rfc3339),
        error: row.and_then(|r| r.last_error),
        refreshing,
    })
}
