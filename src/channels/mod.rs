//! Channels: one connected WhatsApp number, Instagram account or Facebook Page. This module
//! holds the names every other part uses for a channel's kind; it has no I/O.

use serde::{Deserialize, Serialize};

// The three Meta messaging products a channel can be. The string forms (`whatsapp`,
// `instagram`, `messenger`) are stable: stored, sent to instances and accepted by the APIs.
//
// The OpenAPI schema keeps the name `ChannelKindApi` it had when the API layer had its own copy
// of this enum (SDKs generated from the document name their type after it), and no description
// (a `///` comment here would become one): the published document is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename = "ChannelKindApi", rename_all = "lowercase")]
pub enum ChannelKind {
    Whatsapp,
    Instagram,
    Messenger,
}

impl ChannelKind {
    /// The stable name used outside the process.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Whatsapp => "whatsapp",
            ChannelKind::Instagram => "instagram",
            ChannelKind::Messenger => "messenger",
        }
    }

    /// The product's name as people read it (`WhatsApp`).
    pub fn display_name(self) -> &'static str {
        match self {
            ChannelKind::Whatsapp => "WhatsApp",
            ChannelKind::Instagram => "Instagram",
            ChannelKind::Messenger => "Messenger",
        }
    }

    /// Inverse of [`ChannelKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "whatsapp" => Some(ChannelKind::Whatsapp),
            "instagram" => Some(ChannelKind::Instagram),
            "messenger" => Some(ChannelKind::Messenger),
            _ => None,
        }
    }

    /// The kind implied by a webhook `object` value (`page` is Messenger and Lead Ads).
    pub fn from_object(object: &str) -> Option<Self> {
        match object {
            "whatsapp_business_account" => Some(ChannelKind::Whatsapp),
            "instagram" => Some(ChannelKind::Instagram),
            "page" => Some(ChannelKind::Messenger),
            _ => None,
        }
    }
}

impl std::fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ChannelKind;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for (name, kind) in [
            ("whatsapp", ChannelKind::Whatsapp),
            ("instagram", ChannelKind::Instagram),
            ("messenger", ChannelKind::Messenger),
        ] {
            assert_eq!(ChannelKind::parse(name), Some(kind));
            assert_eq!(kind.as_str(), name);
            assert_eq!(serde_json::to_value(kind).expect("json"), name);
        }
        assert_eq!(ChannelKind::parse("WhatsApp"), None);
        assert_eq!(
            ChannelKind::from_object("page"),
            Some(ChannelKind::Messenger)
        );
        assert_eq!(ChannelKind::from_object("user"), None);
    }
}
