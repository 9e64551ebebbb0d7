//! Parts shared by several `data` objects (Meta's errors, WhatsApp message content,
//! Instagram / Messenger attachments, history sync).

use poem_openapi::Object;
use serde::Serialize;
use serde_json::Value;

/// A Meta error as the bridge normalizes it (WhatsApp message, status and value-level errors).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct MetaError {
    /// Meta's error code: an integer (a numeric string is converted); kept as sent when it is
    /// not a number, null when missing.
    pub code: Value,
    /// Meta's `title` as sent (a string), null when missing.
    pub title: Value,
    /// Meta's `message` as sent (a string), null when missing.
    pub message: Value,
    /// Meta's `error_data.details` as sent (a string), null when missing.
    pub details: Value,
    /// Meta's `href` as sent (a string), when present.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<Value>,
}

/// WhatsApp `context` of a message (a reply, a forward, a product enquiry).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct MessageContext {
    /// The quoted message's id (wamid).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Who sent the quoted message (a phone number).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to_from: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequently_forwarded: Option<bool>,
    /// Meta's `referred_product` as sent (`{catalog_id, product_retailer_id}`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referred_product: Option<Value>,
}

/// WhatsApp media (image, audio, video, document, sticker). Fetch the bytes through the
/// bridge's media API with `id`.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct MessageMedia {
    /// Meta's media id.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// Documents only.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Meta's direct download URL, when Meta sent one (needs the channel's token).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Audio: a voice note.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice: Option<bool>,
    /// Stickers: animated.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub animated: Option<bool>,
    /// Present when the bridge keeps a copy of the file (the media cache,
    /// `METABRIDGE_MEDIA_CACHE`): fetch it from `cache.download_path` until
    /// `cache.expires_at`, whether or not Meta still has it.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<MediaCacheRef>,
}

/// A media file the bridge keeps a copy of (the media cache). The download starts as soon as
/// the webhook is stored, usually before the event reaches the instance; a request that comes
/// first is answered from Meta while the copy is made. Absent when the cache is off or the
/// kind is never kept (Instagram story mentions, shares, reels, posts).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct MediaCacheRef {
    /// The id to download it with: Meta's WhatsApp media id, or the bridge's `med_…` id of an
    /// Instagram / Messenger attachment.
    pub media_id: String,
    /// `GET` this path of the bridge's API (with the instance's token) for the file:
    /// `/v1/channels/{channel_id}/media/{media_id}`.
    pub download_path: String,
    /// When the bridge deletes its copy (RFC 3339; `METABRIDGE_MEDIA_RETENTION_HOURS` after the
    /// webhook arrived).
    pub expires_at: String,
}

/// A WhatsApp location pin.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct MessageLocation {
    /// A number (numeric strings are converted); kept as sent otherwise, null when missing.
    pub latitude: Value,
    /// A number (numeric strings are converted); kept as sent otherwise, null when missing.
    pub longitude: Value,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Value>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Value>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Value>,
}

/// A WhatsApp interactive reply. `button_reply` / `list_reply`: `id`, `title`,
/// `description`?; `nfm_reply` (a Flow): `name`?, `body`?, `response` and `response_json`;
/// other subtypes: `payload` (the subtype's object as sent).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct MessageInteractive {
    /// The subtype as sent (`button_reply`, `list_reply`, `nfm_reply`, …), null when missing.
    #[oai(rename = "type")]
    pub r#type: Value,
    /// The reply's id (the button or row id the business defined).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<Value>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Value>,
    /// `nfm_reply`: as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Value>,
    /// `nfm_reply`: as sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// `nfm_reply`: `response_json` parsed (always present for `nfm_reply`; null when it does
    /// not parse).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// `nfm_reply`: Meta's `response_json` as sent (a JSON string; always present for
    /// `nfm_reply`, null when missing).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_json: Option<Value>,
    /// Other subtypes: the subtype's object as sent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// A WhatsApp quick-reply button tap on a template.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct MessageButton {
    /// As sent (a string), null when missing.
    pub payload: Value,
    /// As sent (a string), null when missing.
    pub text: Value,
}

/// A WhatsApp catalog order.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct MessageOrder {
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_id: Option<String>,
    /// As sent (a string).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Value>,
    /// Meta's `product_items` as sent (`[{product_retailer_id, quantity, item_price,
    /// currency}]`); empty when missing.
    pub product_items: Vec<Value>,
}

/// An Instagram / Messenger attachment.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct MessageAttachment {
    /// As sent (`image`, `video`, `audio`, `file`, `share`, `story_mention`, `ig_reel`, …),
    /// null when missing.
    #[oai(rename = "type")]
    pub r#type: Value,
    /// `payload.url` when it is a string.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Meta's `payload` as sent, null when missing.
    pub payload: Value,
    /// Present when the bridge keeps a copy of the file (`image`, `video`, `audio`, `file`),
    /// see [`MediaCacheRef`].
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<MediaCacheRef>,
}

/// Where a `message.history` item sits in Meta's history sync (values as Meta sent them).
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
pub struct HistorySync {
    /// 0 (day 0–1 before onboarding), 1 (day 1–90) or 2 (day 90–180).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<Value>,
    /// Order of this chunk inside its phase.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_order: Option<Value>,
    /// Sync progress in percent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Value>,
    /// The message's status in the app (`history_context.status`, e.g. `READ`, `DELIVERED`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}
