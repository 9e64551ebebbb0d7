//! Prefixed, time-ordered identifiers (`ins_…`, `ch_…`, `evt_…`, `msg_…`): UUID v7 in simple
//! hex form behind a short prefix, so ids sort by creation time and say what they name.
//!
//! [`InstanceId`], [`ChannelId`], [`EventId`] and [`MessageId`] hold an id of that kind that
//! passed the shape check: they are parsed at the edge (HTTP, JWT, CLI, database rows) and passed
//! typed inside, so one kind cannot be given where another is expected. On the wire (JSON) they
//! are the plain string; deserializing one validates it.

use std::fmt;

/// Prefix of instance ids.
pub const INSTANCE: &str = "ins_";
/// Prefix of channel ids.
pub const CHANNEL: &str = "ch_";
/// Prefix of event ids.
pub const EVENT: &str = "evt_";
/// Prefix of outbound message ids (also sent to Meta as `biz_opaque_callback_data`).
pub const MESSAGE: &str = "msg_";

/// A new id with the given prefix (also used for ids that have no type of their own: lease
/// owners, connect sessions).
pub fn new_id(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 32);
    s.push_str(prefix);
    s.push_str(&uuid::Uuid::now_v7().simple().to_string());
    s
}

/// Whether `id` looks like an id of ours with this prefix (cheap shape check used to answer
/// 404 early for garbage ids without touching the database).
pub fn is_valid(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A string that is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id (expected {prefix} followed by 32 hex digits)")]
pub struct InvalidId {
    /// What was expected: "instance", "channel", "event" or "message".
    pub kind: &'static str,
    /// The prefix such an id starts with.
    pub prefix: &'static str,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:expr, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix of this kind of id.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id (UUID v7, so later ids sort after earlier ones).
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(new_id($prefix))
            }

            /// The id in `s`, if it has the shape of one of ours of this kind.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                if is_valid($prefix, s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(Self::invalid())
                }
            }

            fn invalid() -> InvalidId {
                InvalidId { kind: $kind, prefix: $prefix }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                if is_valid($prefix, &s) {
                    Ok(Self(s))
                } else {
                    Err(Self::invalid())
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidId;
            fn try_from(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::try_from(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// An instance id (`ins_…`).
    InstanceId,
    INSTANCE,
    "instance"
);
prefixed_id!(
    /// A channel id (`ch_…`).
    ChannelId,
    CHANNEL,
    "channel"
);
prefixed_id!(
    /// An event id (`evt_…`).
    EventId,
    EVENT,
    "event"
);
prefixed_id!(
    /// An outbound message id (`msg_…`).
    MessageId,
    MESSAGE,
    "message"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_sort_by_time() {
        let a = new_id(EVENT);
        let b = new_id(EVENT);
        assert!(is_valid(EVENT, &a));
        assert!(a < b);
        assert!(!is_valid(CHANNEL, &a));
        assert!(!is_valid(EVENT, "evt_../../etc"));
    }

    #[test]
    fn typed_ids_round_trip() {
        let a = ChannelId::new();
        assert!(a.as_str().starts_with("ch_"));
        let b = ChannelId::parse(a.as_str()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), a.as_str());
        assert_eq!(ChannelId::try_from(a.to_string()).unwrap(), a);
        assert_eq!(String::from(a.clone()), a.clone().into_string());
        let later = ChannelId::new();
        assert!(a < later);
        for id in [
            InstanceId::new().into_string(),
            EventId::new().into_string(),
        ] {
            assert!(id.len() > 32);
        }
        assert!(MessageId::new().as_str().starts_with("msg_"));
    }

    #[test]
    fn wrong_prefix_or_shape_refused() {
        let ins = InstanceId::new();
        let err = ChannelId::parse(ins.as_str()).unwrap_err();
        assert_eq!(err.kind, "channel");
        assert!(err.to_string().contains("channel"));
        assert!(InstanceId::parse(ins.as_str()).is_ok());
        assert!(EventId::parse("evt_../../etc").is_err());
        assert!(MessageId::parse("msg_1").is_err());
        assert!(InstanceId::parse("").is_err());
        assert!(ChannelId::try_from(String::from("ch_1")).is_err());
    }

    #[test]
    fn serde_is_the_plain_string_and_validates() {
        let id = EventId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: EventId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<EventId>("\"evt_nope\"").is_err());
        assert!(serde_json::from_str::<ChannelId>(&json).is_err());
        #[derive(serde::Serialize, serde::Deserialize)]
        struct W {
            channel_id: ChannelId,
        }
        let ch = ChannelId::new();
        let v = serde_json::to_value(W {
            channel_id: ch.clone(),
        })
        .unwrap();
        assert_eq!(v, serde_json::json!({ "channel_id": ch.as_str() }));
    }
}
