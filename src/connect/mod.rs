//! Channel-connect onboarding: the rules (no HTTP, no SQL here) and the flow that runs Meta's
//! OAuth steps ([`flow`]).
//!
//! A connect session is a one-time link an instance hands to a person. The link's secret is
//! shown once and stored only as a SHA-256 hash. The first browser that starts Meta's flow
//! binds the session (a random cookie whose hash is stored); the OAuth `state` is
//! `session.nonce.expiry.mac`, HMAC-SHA256 signed with a key derived from the first Fernet key,
//! bound to the session and to its current nonce, which the callback uses up exactly once.
//! Everything temporary (nonce, browser binding, the user token while assets are picked) is
//! deleted when the session completes, fails or expires (P06).

pub mod flow;
pub mod grants;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::channels::ChannelKind;
use crate::config::{ConnectConfig, InstagramFlow};

/// Prefix of connect session ids.
pub const SESSION_PREFIX: &str = "cs_";
/// Name of the browser-binding cookie (the only cookie the pages set, P16).
pub const COOKIE: &str = "mb_connect";

/// How a person connects a channel kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// WhatsApp: Meta's Embedded Signup through the JS SDK popup.
    EmbeddedSignup,
    /// Messenger, or Instagram through a Page: Facebook Login (for Business) redirect dialog.
    FacebookLogin,
    /// Instagram API with Instagram Login: Instagram's redirect dialog.
    InstagramLogin,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::EmbeddedSignup => "embedded_signup",
            Flow::FacebookLogin => "facebook_login",
            Flow::InstagramLogin => "instagram_login",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "embedded_signup" => Some(Flow::EmbeddedSignup),
            "facebook_login" => Some(Flow::FacebookLogin),
            "instagram_login" => Some(Flow::InstagramLogin),
            _ => None,
        }
    }

    /// The flow configured for a channel kind.
    pub fn for_kind(kind: ChannelKind, cfg: &ConnectConfig) -> Self {
        match kind {
            ChannelKind::Whatsapp => Flow::EmbeddedSignup,
            ChannelKind::Messenger => Flow::FacebookLogin,
            ChannelKind::Instagram => match cfg.instagram_flow {
                InstagramFlow::InstagramLogin => Flow::InstagramLogin,
                InstagramFlow::FacebookLogin => Flow::FacebookLogin,
            },
        }
    }
}

/// A permission Meta will ask for, and why the bridge needs it (shown on the page).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Permission {
    pub scope: &'static str,
    pub why: &'static str,
}

/// The permissions requested for a channel kind and flow.
pub fn permissions(kind: ChannelKind, flow: Flow) -> &'static [Permission] {
    const WA: &[Permission] = &[
        Permission {
            scope: "whatsapp_business_management",
            why: "to find your WhatsApp Business Account and phone numbers and to receive their messages",
        },
        Permission {
            scope: "whatsapp_business_messaging",
            why: "to send the messages your team writes from the platform",
        },
        Permission {
            scope: "business_management",
            why: "to read which business owns the account",
        },
    ];
    const MESSENGER: &[Permission] = &[
        Permission {
            scope: "pages_show_list",
            why: "to list the Pages you manage so you can pick one",
        },
        Permission {
            scope: "pages_messaging",
            why: "to receive and answer the Page's Messenger conversations",
        },
        Permission {
            scope: "pages_manage_metadata",
            why: "to subscribe the Page to message notifications (webhooks)",
        },
        Permission {
            scope: "pages_read_engagement",
            why: "to read the Page's name and conversations' participants",
        },
        Permission {
            scope: "leads_retrieval",
            why: "to pass on the leads your Lead Ads forms collect",
        },
    ];
    const IG_FB: &[Permission] = &[
        Permission {
            scope: "instagram_basic",
            why: "to find the Instagram professional account linked to your Page",
        },
        Permission {
            scope: "instagram_manage_messages",
            why: "to receive and answer Instagram Direct messages",
        },
        Permission {
            scope: "pages_show_list",
            why: "to list the Pages you manage so you can pick one",
        },
        Permission {
            scope: "pages_manage_metadata",
            why: "to subscribe the account to message notifications (webhooks)",
        },
        Permission {
            scope: "business_management",
            why: "to read which business owns the account",
        },
    ];
    const IG: &[Permission] = &[
        Permission {
            scope: "instagram_business_basic",
            why: "to read your professional account's id and username",
        },
        Permission {
            scope: "instagram_business_manage_messages",
            why: "to receive and answer Instagram Direct messages",
        },
    ];
    match (kind, flow) {
        (ChannelKind::Whatsapp, _) => WA,
        (ChannelKind::Messenger, _) => MESSENGER,
        (ChannelKind::Instagram, Flow::InstagramLogin) => IG,
        (ChannelKind::Instagram, _) => IG_FB,
    }
}

/// The comma-separated scope list for a redirect dialog.
pub fn scope_list(kind: ChannelKind, flow: Flow) -> String {
    permissions(kind, flow)
        .iter()
        .map(|p| p.scope)
        .collect::<Vec<_>>()
        .join(",")
}

/// Webhook fields of an Instagram Login account.
pub const IG_FIELDS: &[&str] = &[
    "messages",
    "messaging_postbacks",
    "messaging_seen",
    "message_reactions",
    "messaging_referral",
];

/// Random url-safe secret of `bytes` bytes.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Lowercase hex SHA-256 (how link secrets, cookies and nonces are stored).
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Whether `pin` is a WhatsApp two-step verification PIN: exactly six ASCII digits ("A 6-digit
/// PIN", Two-Step Verification,
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/two-step-verification>,
/// read 2026-12-02).
pub fn is_pin(pin: &str) -> bool {
    pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit())
}

/// A random six-digit two-step verification PIN for WhatsApp number registration.
pub fn new_pin() -> String {
    let mut buf = [0u8; 4];
    rand::rng().fill_bytes(&mut buf);
    format!("{:06}", u32::from_le_bytes(buf) % 1_000_000)
}

/// Whether `s` is a session id of ours.
pub fn is_session_id(s: &str) -> bool {
    crate::ids::is_valid(SESSION_PREFIX, s)
}

type HmacSha256 = hmac::Hmac<Sha256>;

/// Signs and checks OAuth `state` values.
#[derive(Clone)]
pub struct StateSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateSigner(***)")
    }
}

/// Why a `state` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the state parameter is missing or malformed")]
    Malformed,
    #[error("the state parameter's signature is wrong")]
    BadSignature,
    #[error("the state parameter has expired")]
    Expired,
}

/// What a verified `state` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateClaims {
    pub session_id: String,
    pub nonce: String,
}

impl StateSigner {
    /// A signer whose key is derived from `material` (the first Fernet key): replicas that
    /// share the Fernet keys accept each other's states.
    pub fn derive(material: &str) -> Self {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(material.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(b"metabridge/connect-state/v1");
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self, payload: &str) -> String {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(payload.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// `session.nonce.expiry.mac`.
    pub fn sign(&self, session_id: &str, nonce: &str, expires_at_secs: i64) -> String {
        let payload = format!("{session_id}.{nonce}.{expires_at_secs}");
        let mac = self.mac(&payload);
        format!("{payload}.{mac}")
    }

    pub fn verify(&self, state: &str, now_secs: i64) -> Result<StateClaims, StateError> {
        if state.len() > 512 {
            return Err(StateError::Malformed);
        }
        let parts: Vec<&str> = state.split('.').collect();
        let [session_id, nonce, expiry, mac] = parts.as_slice() else {
            return Err(StateError::Malformed);
        };
        if !is_session_id(session_id)
            || nonce.is_empty()
            || !nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(StateError::Malformed);
        }
        let expiry: i64 = expiry.parse().map_err(|_| StateError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| StateError::Malformed)?;
        let mut check = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        check.update(format!("{session_id}.{nonce}.{expiry}").as_bytes());
        check
            .verify_slice(&sig)
            .map_err(|_| StateError::BadSignature)?;
        if expiry <= now_secs {
            return Err(StateError::Expired);
        }
        Ok(StateClaims {
            session_id: (*session_id).to_string(),
            nonce: (*nonce).to_string(),
        })
    }
}

/// An asset the person may connect: a WhatsApp number, a Page or an Instagram account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Candidate {
    /// What the channel's `external_id` will be (phone number id, page id, Instagram id).
    pub external_id: String,
    pub label: String,
    pub detail: Option<String>,
    pub waba_id: Option<String>,
    /// The Page an Instagram account is linked to (Facebook Login path).
    pub page_id: Option<String>,
    /// The asset's own token (a Page token); `None` = the session's token.
    pub token: Option<String>,
    /// A WhatsApp number whose display name Meta has not approved yet.
    pub name_pending: bool,
    /// A WhatsApp number onboarded with the WhatsApp Business app (Embedded Signup finished
    /// with `FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING`): it stays registered with the app, so it
    /// is never `/register`ed; its contacts and history are synced instead.
    #[serde(default)]
    pub coexistence: bool,
    /// A WhatsApp number whose `code_verification_status` is not `VERIFIED`: the person
    /// verifies it with a code (`request_code` / `verify_code`) before it is registered.
    #[serde(default)]
    pub unverified: bool,
    /// A WhatsApp number already registered with the Cloud API (`platform_type` CLOUD_API):
    /// it is not registered again, and its two-step verification PIN is left alone.
    #[serde(default)]
    pub cloud_api_registered: bool,
}

/// What a session keeps (encrypted) between the callback and the person's pick.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TempData {
    pub token: String,
    pub token_kind: String,
    pub token_expires_at: Option<i64>,
    pub meta_user_id: Option<String>,
    pub candidates: Vec<Candidate>,
    /// The permissions the person granted (Facebook Login), read once with `debug_token`.
    #[serde(default)]
    pub grants: Option<grants::Grants>,
    /// Channels this session already connected while a WhatsApp number waits for its
    /// two-step verification PIN.
    #[serde(default)]
    pub connected: Vec<crate::ids::ChannelId>,
    /// Notes for the person about channels already connected (missing permissions).
    #[serde(default)]
    pub notices: Vec<String>,
}

/// Checks a return URL against the instance's allowed origins (`scheme://host[:port]`).
pub fn return_url_allowed(return_url: &str, origins: &[String]) -> Result<url::Url, &'static str> {
    let parsed = url::Url::parse(return_url).map_err(|_| "must be an absolute URL")?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err("must be an http(s) URL");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials");
    }
    let origin = parsed.origin().ascii_serialization();
    if origins.iter().any(|o| o.trim_end_matches('/') == origin) {
        Ok(parsed)
    } else {
        Err("is not on one of the instance's allowed return origins")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> StateSigner {
        StateSigner::derive("key material")
    }

    fn sid() -> String {
        crate::ids::new_id(SESSION_PREFIX)
    }

    #[test]
    fn state_round_trips_and_binds_session_and_nonce() {
        let id = sid();
        let s = signer().sign(&id, "n0nce_-x", 2_000);
        let claims = signer().verify(&s, 1_000).expect("valid");
        assert_eq!(claims.session_id, id);
        assert_eq!(claims.nonce, "n0nce_-x");
    }

    #[test]
    fn state_refuses_tampering_other_keys_expiry_and_garbage() {
        let id = sid();
        let s = signer().sign(&id, "abc", 2_000);
        assert_eq!(signer().verify(&s, 2_000), Err(StateError::Expired));
        assert_eq!(
            StateSigner::derive("other").verify(&s, 1_000),
            Err(StateError::BadSignature)
        );
        let other = sid();
        let swapped = s.replacen(&id, &other, 1);
        assert_eq!(
            signer().verify(&swapped, 1_000),
            Err(StateError::BadSignature)
        );
        let later = s.replacen(".2000.", ".9000.", 1);
        assert_eq!(
            signer().verify(&later, 1_000),
            Err(StateError::BadSignature)
        );
        for bad in [
            "",
            "a.b.c",
            "x.y.z.w",
            &format!("{id}.abc.1x.mac"),
            &"a".repeat(600),
        ] {
            assert_eq!(
                signer().verify(bad, 1_000),
                Err(StateError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            signer().verify(&format!("{id}.a%20b.2000.AAAA"), 1_000),
            Err(StateError::Malformed)
        );
    }

    #[test]
    fn return_urls_must_match_an_allowed_origin() {
        let origins = vec!["https://crm.example.com".to_string()];
        assert!(return_url_allowed("https://crm.example.com/done?x=1", &origins).is_ok());
        assert!(return_url_allowed("https://crm.example.com.evil.io/", &origins).is_err());
        assert!(return_url_allowed("https://user:pw@crm.example.com/", &origins).is_err());
        assert!(return_url_allowed("http://crm.example.com/", &origins).is_err());
        assert!(return_url_allowed("javascript:alert(1)", &origins).is_err());
        assert!(return_url_allowed("/relative", &origins).is_err());
    }

    #[test]
    fn pins_are_six_digits_and_secrets_hash_stably() {
        for _ in 0..50 {
            let p = new_pin();
            assert_eq!(p.len(), 6);
            assert!(p.bytes().all(|b| b.is_ascii_digit()));
        }
        assert_eq!(sha256_hex("a"), sha256_hex("a"));
        assert_ne!(random_secret(32), random_secret(32));
    }

    #[test]
    fn flows_and_scopes_follow_the_kind() {
        let mut cfg = crate::config::Config::for_tests("sqlite::memory:", "s", "k").connect;
        assert_eq!(
            Flow::for_kind(ChannelKind::Whatsapp, &cfg),
            Flow::EmbeddedSignup
        );
        assert_eq!(
            Flow::for_kind(ChannelKind::Instagram, &cfg),
            Flow::InstagramLogin
        );
        cfg.instagram_flow = InstagramFlow::FacebookLogin;
        assert_eq!(
            Flow::for_kind(ChannelKind::Instagram, &cfg),
            Flow::FacebookLogin
        );
        assert!(
            scope_list(ChannelKind::Messenger, Flow::FacebookLogin).contains("pages_messaging")
        );
        assert_eq!(
            scope_list(ChannelKind::Instagram, Flow::InstagramLogin),
            "instagram_business_basic,instagram_business_manage_messages"
        );
    }
}
