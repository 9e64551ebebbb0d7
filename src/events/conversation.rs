//! Conversations: the events of one channel and one contact are delivered in order, one at a
//! time. The parser gives each inbound event its conversation key; the rules here give a send's
//! own events (`message.sent`, `message.failed`) the key the parser gives the same contact, and
//! turn a key into the public conversation id. Pure.

use sha2::{Digest, Sha256};

use crate::channels::ChannelKind;

/// The conversation key the inbound parser gives the contact a send is addressed to, so a
/// send's events and the contact's own messages and statuses share one conversation (and its
/// delivery order). A WhatsApp contact known by a business-scoped user id gets `user:` keys
/// from Meta; a send addressed to its phone number stays under `wa:`. A channel of unknown kind
/// counts as WhatsApp.
pub fn outbound_key(kind: Option<ChannelKind>, recipient: &str) -> String {
    match kind {
        Some(ChannelKind::Instagram) => format!("igsid:{recipient}"),
        Some(ChannelKind::Messenger) => format!("psid:{recipient}"),
        Some(ChannelKind::Whatsapp) | None => {
            if crate::meta::bsuid::is_bsuid(recipient) {
                format!("user:{recipient}")
            } else {
                format!("wa:{recipient}")
            }
        }
    }
}

/// Public, stable conversation id: a digest of the channel's Meta id and the contact key, so
/// it never depends on registration order and does not expose the contact id by itself.
pub fn conversation_id(external_id: &str, conversation_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(external_id.as_bytes());
    h.update(b"|");
    h.update(conversation_key.as_bytes());
    let digest = h.finalize();
    format!("conv_{}", hex::encode(&digest[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_conversations_match_the_parsers_keys() {
        let wa = Some(ChannelKind::Whatsapp);
        assert_eq!(outbound_key(wa, "15550001234"), "wa:15550001234");
        assert_eq!(
            outbound_key(wa, "US.13491208655302741918"),
            "user:US.13491208655302741918"
        );
        assert_eq!(
            outbound_key(Some(ChannelKind::Instagram), "612"),
            "igsid:612"
        );
        assert_eq!(
            outbound_key(Some(ChannelKind::Messenger), "712"),
            "psid:712"
        );
        assert_eq!(outbound_key(None, "ção.x"), "wa:ção.x");
    }

    #[test]
    fn conversation_ids_are_a_digest_of_channel_and_key() {
        // sha256("106000000000001|wa:15550001234"), first 12 bytes, computed independently
        // with Python's hashlib.
        assert_eq!(
            conversation_id("106000000000001", "wa:15550001234"),
            "conv_3f3c74d3eac855375a9f7619"
        );
        assert_ne!(
            conversation_id("106000000000001", "wa:15550001234"),
            conversation_id("106000000000002", "wa:15550001234")
        );
    }
}
