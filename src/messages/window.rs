//! The messaging windows Meta enforces, as the bridge checks them before calling Meta (pure).
//!
//! WhatsApp: free-form messages only within 24 hours of the contact's last message (a template
//! opens a conversation outside it). Instagram and Messenger: 24 hours as well; the
//! `HUMAN_AGENT` tag extends it to 7 days; Messenger's other message tags are allowed outside
//! the window for their purpose.

use crate::channels::ChannelKind;
use crate::messages::model::content::MessageTag;

/// The customer-service window: 24 h after the contact's last message.
pub const WINDOW_MS: i64 = 24 * 3600 * 1000;
/// Instagram/Messenger human-agent tag: 7 days after the contact's last message.
pub const HUMAN_AGENT_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// How long after the contact's last message a free-form send may go out; `None` when no
/// window applies (a Messenger update tag).
pub fn allowed_ms(kind: ChannelKind, tag: Option<MessageTag>) -> Option<i64> {
    match (kind, tag) {
        (ChannelKind::Whatsapp, _) => Some(WINDOW_MS),
        (_, Some(MessageTag::HumanAgent)) => Some(HUMAN_AGENT_WINDOW_MS),
        (ChannelKind::Messenger, Some(_)) => None,
        _ => Some(WINDOW_MS),
    }
}

/// Whether the window is open at `now` given the contact's last inbound message time.
pub fn is_open(last_inbound: Option<i64>, allowed_ms: i64, now: i64) -> bool {
    last_inbound.is_some_and(|at| now - at < allowed_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_by_kind_and_tag() {
        const H: i64 = 3600 * 1000;
        assert_eq!(allowed_ms(ChannelKind::Whatsapp, None), Some(24 * H));
        assert_eq!(
            allowed_ms(ChannelKind::Whatsapp, Some(MessageTag::HumanAgent)),
            Some(24 * H)
        );
        assert_eq!(
            allowed_ms(ChannelKind::Instagram, Some(MessageTag::HumanAgent)),
            Some(7 * 24 * H)
        );
        assert_eq!(allowed_ms(ChannelKind::Instagram, None), Some(24 * H));
        assert_eq!(
            allowed_ms(ChannelKind::Messenger, Some(MessageTag::AccountUpdate)),
            None
        );
        let now = 100 * 24 * H;
        assert!(is_open(Some(now - 24 * H + 1), 24 * H, now));
        assert!(!is_open(Some(now - 24 * H), 24 * H, now));
        assert!(!is_open(None, 24 * H, now));
    }
}
