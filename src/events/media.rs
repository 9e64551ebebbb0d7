//! Which media of a customer's message the bridge keeps a copy of (issue 16 §3), and what the
//! event says about it. Pure: no I/O; the store calls [`cache_items`] in the ingest transaction
//! and writes [`with_cache_refs`] into the delivered event, the media worker enforces
//! [`max_bytes`] and [`content_type_fits`] while it downloads.
//!
//! **What is kept.** `message.received` only (a customer's message):
//! - WhatsApp `image`, `audio`, `video`, `document`, `sticker` — Meta's media id; "Media IDs in
//!   webhooks expire after 7 days" and the download URL read from `GET /{media-id}` for 5 minutes
//!   ("Media", WhatsApp Business Platform, updated Jun 16, 2026,
//!   <https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media/>,
//!   read 2026-12-04).
//! - Instagram / Messenger attachments of type `image`, `video`, `audio`, `file` — the signed CDN
//!   address in `payload.url`, which expires on Meta's schedule.
//!
//! **Never kept:** Instagram `story_mention` (Meta: "You must not store/cache the media content
//! on your server", "Story Mention", Instagram Messaging,
//! <https://developers.facebook.com/docs/messenger-platform/instagram/features/story-mention>,
//! read 2026-12-04), story replies, shares, reels and posts (someone else's published media,
//! not the customer's file), templates, fallbacks, and anything of an echo or a history sync.
//!
//! **Limits per kind.** WhatsApp: Meta's supported media sizes (image 5 MB, sticker 500 KB,
//! audio and video 16 MB, document 100 MB; the same table `media_limit` of the upload API
//! uses). Instagram / Messenger: image 8 MB, audio, video and file 25 MB ("Upload Media for
//! Instagram Messaging", updated Apr 1, 2026,
//! <https://developers.facebook.com/documentation/business-messaging/instagram-messaging/features/attachment-upload>,
//! read 2026-12-04). A file over its limit, or whose content type does not fit its kind (an
//! HTML error page answered with 200, say), is not kept.

use sha2::{Digest, Sha256};

use super::data::{EventData, MediaCacheRef};
use crate::channels::ChannelKind;

const MB: u64 = 1024 * 1024;

/// Where a kept file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// WhatsApp: Meta's media id (read through `GET /{media-id}` with the channel's token), and
    /// the webhook's SHA-256 of the file when it gave one.
    WhatsApp { sha256: Option<String> },
    /// Instagram / Messenger: the attachment's CDN address (no token).
    Url(String),
}

/// One media file of an event the bridge keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheItem {
    /// The id the bridge serves it under: Meta's WhatsApp media id, or [`attachment_media_id`].
    pub media_id: String,
    /// `image`, `video`, `audio`, `document`, `sticker` (WhatsApp) or `file`.
    pub kind: String,
    pub source: MediaSource,
    /// Instagram / Messenger: the attachment's position in `attachments`.
    pub attachment: Option<usize>,
}

/// The bridge's id of the `index`th attachment of the event with `idempotency_key`: `med_` and
/// 32 hex digits of SHA-256 over both, so a redelivered webhook names the same file.
pub fn attachment_media_id(idempotency_key: &str, index: usize) -> String {
    let mut h = Sha256::new();
    h.update(idempotency_key.as_bytes());
    h.update(b"\n");
    h.update(index.to_string().as_bytes());
    let digest = hex::encode(h.finalize());
    format!("med_{}", &digest[..32])
}

/// Whether `id` has the form of the bridge's own media id (`med_` and 32 hex digits).
pub fn is_cache_id(id: &str) -> bool {
    id.strip_prefix("med_")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `id` names a file the cache may hold: Meta's WhatsApp media id (digits, as the send
/// model accepts it) or the bridge's own. Such an id is also a safe file name.
pub fn is_kept_id(id: &str) -> bool {
    is_cache_id(id) || crate::messages::model::is_media_id(id)
}

const WHATSAPP_KINDS: &[&str] = &["image", "audio", "video", "document", "sticker"];
const SOCIAL_KINDS: &[&str] = &["image", "video", "audio", "file"];

/// The media of `data` the bridge keeps, for a channel of `kind`.
pub fn cache_items(data: &EventData, kind: ChannelKind, idempotency_key: &str) -> Vec<CacheItem> {
    let EventData::MessageReceived(d) = data else {
        return Vec::new();
    };
    match kind {
        ChannelKind::Whatsapp => {
            let Some(media) = &d.media else {
                return Vec::new();
            };
            let Some(id) = media
                .id
                .as_deref()
                .filter(|id| crate::messages::model::is_media_id(id))
            else {
                return Vec::new();
            };
            if !WHATSAPP_KINDS.contains(&d.r#type.as_str()) {
                return Vec::new();
            }
            vec![CacheItem {
                media_id: id.to_owned(),
                kind: d.r#type.clone(),
                source: MediaSource::WhatsApp {
                    sha256: media.sha256.clone(),
                },
                attachment: None,
            }]
        }
        ChannelKind::Instagram | ChannelKind::Messenger => d
            .attachments
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, a)| {
                let kind = a.r#type.as_str().filter(|t| SOCIAL_KINDS.contains(t))?;
                let url = a
                    .url
                    .as_deref()
                    .filter(|u| u.starts_with("https://") || u.starts_with("http://"))?;
                Some(CacheItem {
                    media_id: attachment_media_id(idempotency_key, i),
                    kind: kind.to_owned(),
                    source: MediaSource::Url(url.to_owned()),
                    attachment: Some(i),
                })
            })
            .collect(),
    }
}

/// `data` with each kept item's [`MediaCacheRef`] (`items` from [`cache_items`] of the same
/// data), or `None` when nothing is kept.
pub fn with_cache_refs(
    data: &EventData,
    items: &[CacheItem],
    channel_id: &str,
    expires_at_ms: i64,
) -> Option<EventData> {
    if items.is_empty() {
        return None;
    }
    let EventData::MessageReceived(d) = data else {
        return None;
    };
    let reference = |media_id: &str| MediaCacheRef {
        media_id: media_id.to_owned(),
        download_path: format!("/v1/channels/{channel_id}/media/{media_id}"),
        expires_at: crate::ms_to_rfc3339(expires_at_ms),
    };
    let mut d = d.clone();
    for item in items {
        match item.attachment {
            None => {
                if let Some(media) = d.media.as_mut()
                    && media.id.as_deref() == Some(item.media_id.as_str())
                {
                    media.cache = Some(reference(&item.media_id));
                }
            }
            Some(i) => {
                if let Some(a) = d.attachments.as_mut().and_then(|a| a.get_mut(i)) {
                    a.cache = Some(reference(&item.media_id));
                }
            }
        }
    }
    Some(EventData::MessageReceived(d))
}

/// The largest file kept of `kind` on a channel of `channel`.
pub fn max_bytes(channel: ChannelKind, kind: &str) -> u64 {
    match (channel, kind) {
        (ChannelKind::Whatsapp, "image") => 5 * MB,
        (ChannelKind::Whatsapp, "sticker") => 500 * 1024,
        (ChannelKind::Whatsapp, "audio" | "video") => 16 * MB,
        (ChannelKind::Whatsapp, _) => 100 * MB,
        (_, "image") => 8 * MB,
        (_, _) => 25 * MB,
    }
}

/// Whether a file answered with `content_type` fits the media `kind`: images are `image/*`,
/// stickers `image/webp`, audio `audio/*`, video `video/*`; a document or file is anything but
/// a web page (`text/html`: a CDN error page answered with 200 is not the customer's file).
pub fn content_type_fits(kind: &str, content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence.is_empty() || !essence.contains('/') {
        return false;
    }
    match kind {
        "image" => essence.starts_with("image/"),
        "sticker" => essence == "image/webp",
        "audio" => essence.starts_with("audio/"),
        "video" => essence.starts_with("video/"),
        _ => essence != "text/html" && essence != "application/xhtml+xml",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::data::{MessageAttachment, MessageMedia, MessageReceivedData};

    fn wa(kind: &str, id: Option<&str>) -> EventData {
        EventData::from(MessageReceivedData {
            message_id: "wamid.A".into(),
            r#type: kind.into(),
            media: Some(MessageMedia {
                id: id.map(str::to_owned),
                mime_type: Some("image/jpeg".into()),
                sha256: Some("abc".into()),
                ..MessageMedia::default()
            }),
            ..MessageReceivedData::default()
        })
    }

    fn social(types: &[&str]) -> EventData {
        EventData::from(MessageReceivedData {
            message_id: "m_1".into(),
            r#type: "attachments".into(),
            attachments: Some(
                types
                    .iter()
                    .map(|t| MessageAttachment {
                        r#type: json!(t),
                        url: Some(format!("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={t}")),
                        payload: json!({"url": format!("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={t}")}),
                        cache: None,
                    })
                    .collect(),
            ),
            ..MessageReceivedData::default()
        })
    }

    #[test]
    fn whatsapp_media_is_kept_under_metas_id_with_the_webhooks_digest() {
        let items = cache_items(
            &wa("image", Some("1480000000000001")),
            ChannelKind::Whatsapp,
            "k",
        );
        assert_eq!(
            items,
            vec![CacheItem {
                media_id: "1480000000000001".into(),
                kind: "image".into(),
                source: MediaSource::WhatsApp {
                    sha256: Some("abc".into())
                },
                attachment: None,
            }]
        );
        assert!(cache_items(&wa("image", None), ChannelKind::Whatsapp, "k").is_empty());
        assert!(cache_items(&wa("image", Some("../x")), ChannelKind::Whatsapp, "k").is_empty());
        assert!(cache_items(&wa("location", Some("1")), ChannelKind::Whatsapp, "k").is_empty());
    }

    #[test]
    fn only_the_customers_own_attachments_are_kept_never_a_story_mention() {
        let data = social(&[
            "image",
            "story_mention",
            "share",
            "ig_reel",
            "video",
            "file",
            "audio",
        ]);
        let items = cache_items(&data, ChannelKind::Instagram, "ig:msg:1:m_1");
        let kept: Vec<(Option<usize>, &str)> = items
            .iter()
            .map(|i| (i.attachment, i.kind.as_str()))
            .collect();
        assert_eq!(
            kept,
            vec![
                (Some(0), "image"),
                (Some(4), "video"),
                (Some(5), "file"),
                (Some(6), "audio")
            ]
        );
        assert!(items.iter().all(|i| is_cache_id(&i.media_id)));
        // Stable across redeliveries, distinct per attachment.
        let again = cache_items(&data, ChannelKind::Instagram, "ig:msg:1:m_1");
        assert_eq!(items, again);
        assert_ne!(items[0].media_id, items[1].media_id);
    }

    #[test]
    fn the_event_names_the_bridge_path_of_each_kept_file() {
        let data = social(&["image", "story_mention"]);
        let items = cache_items(&data, ChannelKind::Messenger, "fb:msg:1:m_1");
        let out = with_cache_refs(&data, &items, "ch_1", 0).expect("refs written");
        let EventData::MessageReceived(d) = out else {
            panic!("type kept")
        };
        let a = d.attachments.expect("attachments kept");
        let r = a[0].cache.as_ref().expect("image kept");
        assert_eq!(
            r.download_path,
            format!("/v1/channels/ch_1/media/{}", items[0].media_id)
        );
        assert_eq!(r.expires_at, "1970-01-01T00:00:00.000Z");
        assert!(a[1].cache.is_none());
        assert!(with_cache_refs(&data, &[], "ch_1", 0).is_none());
    }

    #[test]
    fn limits_and_content_types_per_kind() {
        assert_eq!(max_bytes(ChannelKind::Whatsapp, "image"), 5 * 1024 * 1024);
        assert_eq!(max_bytes(ChannelKind::Whatsapp, "sticker"), 500 * 1024);
        assert_eq!(
            max_bytes(ChannelKind::Whatsapp, "document"),
            100 * 1024 * 1024
        );
        assert_eq!(max_bytes(ChannelKind::Instagram, "image"), 8 * 1024 * 1024);
        assert_eq!(max_bytes(ChannelKind::Messenger, "file"), 25 * 1024 * 1024);
        assert!(content_type_fits("image", "image/jpeg"));
        assert!(!content_type_fits("image", "text/html; charset=utf-8"));
        assert!(content_type_fits("sticker", "image/webp"));
        assert!(!content_type_fits("sticker", "image/png"));
        assert!(content_type_fits("audio", "audio/ogg; codecs=opus"));
        assert!(content_type_fits("document", "application/pdf"));
        assert!(!content_type_fits("file", "text/html"));
        assert!(!content_type_fits("file", ""));
    }
}
