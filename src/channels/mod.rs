//! Channels: one connected WhatsApp number, Instagram account or Facebook Page. This module
//! holds the names every other part uses for a channel's kind and its two independent states
//! (docs/architecture.md): its **connection** ([`Connection`]: consent and a token; inbound
//! relay depends on it alone) and its **sending** ([`SendState`]: Meta's answers pause it or
//! condemn the token). It has no I/O.

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

/// A stored value that is not one of the enum's names (a database written by another version).
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
}

macro_rules! named {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The stable name: stored, and shown by the APIs and events.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)*
                }
            }

            /// Inverse of `as_str`.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($name => Some($ty::$variant),)*
                    _ => None,
                }
            }
        }

        impl TryFrom<String> for $ty {
            type Error = UnknownName;

            fn try_from(value: String) -> Result<Self, UnknownName> {
                $ty::parse(&value).ok_or(UnknownName { what: $what, value })
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

impl TryFrom<String> for ChannelKind {
    type Error = UnknownName;

    fn try_from(value: String) -> Result<Self, UnknownName> {
        ChannelKind::parse(&value).ok_or(UnknownName {
            what: "channel kind",
            value,
        })
    }
}

/// A channel's connection: whether the business's consent and a token are in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Connection {
    /// Connected: webhooks are relayed and sends may go out (see [`SendState`]).
    Active,
    /// WhatsApp: the number's registration with Meta is still under way.
    Pending,
    /// Consent withdrawn or the channel disconnected: nothing is relayed or sent; the token is
    /// deleted.
    Disconnected,
}

named!(Connection, "channel connection", {
    Active => "active",
    Pending => "pending",
    Disconnected => "disconnected",
});

impl Connection {
    /// The connection as the API names it: `connected` (also while a WhatsApp registration
    /// waits) or `disconnected`.
    pub fn api_name(self) -> &'static str {
        match self {
            Connection::Disconnected => "disconnected",
            Connection::Active | Connection::Pending => "connected",
        }
    }
}

/// A channel's sending, decided from Meta's answers; never changes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendState {
    /// Sends go out.
    Sending,
    /// Meta restricted the account or number: sends wait until the pause ends.
    Paused,
    /// Meta said the token is invalid (confirmed by `debug_token`): reconnect.
    TokenInvalid,
}

named!(SendState, "send state", {
    Sending => "sending",
    Paused => "paused",
    TokenInvalid => "token_invalid",
});

/// The one-word state the channels API and `channel.updated` have always shown: the connection
/// when it is not `active`, else the send state when it is not `sending`, else `active`.
pub fn summary(connection: Connection, sending: SendState) -> &'static str {
    match (connection, sending) {
        (Connection::Active, SendState::Sending) => "active",
        (Connection::Active, s) => s.as_str(),
        (c, _) => c.as_str(),
    }
}

/// Whether a channel may send now.
pub fn can_send(connection: Connection, sending: SendState) -> bool {
    connection == Connection::Active && sending == SendState::Sending
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_unknown_names_are_errors() {
        for c in [
            Connection::Active,
            Connection::Pending,
            Connection::Disconnected,
        ] {
            assert_eq!(Connection::parse(c.as_str()), Some(c));
        }
        for s in [
            SendState::Sending,
            SendState::Paused,
            SendState::TokenInvalid,
        ] {
            assert_eq!(SendState::try_from(s.as_str().to_string()).ok(), Some(s));
        }
        let e = Connection::try_from("suspended".to_string()).expect_err("unknown");
        assert_eq!(e.to_string(), "unknown channel connection \"suspended\"");
        assert!(ChannelKind::try_from("telegram".to_string()).is_err());
    }

    #[test]
    fn the_summary_shows_the_connection_first_then_the_sending() {
        use Connection as C;
        use SendState as S;
        let table = [
            (C::Active, S::Sending, "active", true),
            (C::Active, S::Paused, "paused", false),
            (C::Active, S::TokenInvalid, "token_invalid", false),
            (C::Pending, S::Sending, "pending", false),
            (C::Disconnected, S::Paused, "disconnected", false),
            (C::Disconnected, S::Sending, "disconnected", false),
        ];
        for (c, s, shown, sends) in table {
            assert_eq!(summary(c, s), shown, "{c} {s}");
            assert_eq!(can_send(c, s), sends, "{c} {s}");
        }
    }

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
