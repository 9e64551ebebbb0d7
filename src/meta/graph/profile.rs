//! The User Profile API: what Meta lets a business read about a person who wrote to it.
//!
//! * **Instagram** — `GET /{IGSID}?fields=name,username,profile_pic,follower_count,
//!   is_user_follow_business,is_business_follow_user`. With Instagram Login the call goes to
//!   graph.instagram.com with the Instagram User token ("Instagram User Profile API — Instagram
//!   API with Instagram Login", "All endpoints can be accessed via the graph.instagram.com
//!   host", <https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api/user-profile>,
//!   read 2026-12-03); through Facebook Login to graph.facebook.com with the linked Page's token
//!   ("User Profile API — Instagram Messaging",
//!   <https://developers.facebook.com/docs/messenger-platform/instagram/features/user-profile>,
//!   read 2026-12-03; `username` from v14.0, the follow and follower fields from v12.0).
//!   Consent: "User consent is set only when a person sends a message to a business, or clicks
//!   icebreakers or persistent menu"; before that Meta answers an error whose message is
//!   "User consent is required to access user profile" (the page names no code).
//! * **Messenger** — `GET /{PSID}?fields=first_name,last_name,profile_pic` with the Page token
//!   on graph.facebook.com ("User Profile API — Messenger Platform",
//!   <https://developers.facebook.com/docs/messenger-platform/identity/user-profile>, read
//!   2026-12-03); the person authorizes it by starting the conversation (a message, Get
//!   Started, ...).
//!
//! Both pages say the picture URL expires after a few days. Corpus:
//! `instagram.user_profile.json`, `instagram.facebook_login.user_profile.json`,
//! `messenger.user_profile.json`.

use serde_json::{Map, Value};

use super::{GraphCallError, GraphClient};

/// The Instagram fields asked for (the documented example's list).
pub const INSTAGRAM_PROFILE_FIELDS: &[&str] = &[
    "name",
    "username",
    "profile_pic",
    "follower_count",
    "is_user_follow_business",
    "is_business_follow_user",
];

/// The Messenger fields asked for.
pub const MESSENGER_PROFILE_FIELDS: &[&str] = &["first_name", "last_name", "profile_pic"];

impl GraphClient {
    /// `GET {base}/{version}/{user_id}?fields=…`: the profile fields Meta answered (only those
    /// asked for, with the types Meta documents; anything else is dropped). The token travels
    /// in the `Authorization` header.
    pub async fn contact_profile(
        &self,
        token: &str,
        user_id: &str,
        fields: &[&str],
    ) -> Result<Map<String, Value>, GraphCallError> {
        let mut url = self.endpoint(&[user_id])?;
        url.query_pairs_mut()
            .append_pair("fields", &fields.join(","));
        let request = self.api.get(url).bearer_auth(token);
        let json = self.call_json(request, &[token]).await?;
        let Value::Object(obj) = json else {
            return Err(GraphCallError::Decode(
                "profile is not a JSON object".into(),
            ));
        };
        Ok(obj
            .into_iter()
            .filter(|(k, v)| fields.contains(&k.as_str()) && fits(k, v))
            .collect())
    }
}

/// Whether a field's value has the documented type (strings, a count, booleans).
fn fits(key: &str, v: &Value) -> bool {
    match key {
        "follower_count" => v.is_u64() || v.is_i64(),
        "is_user_follow_business" | "is_business_follow_user" => v.is_boolean(),
        _ => v.is_string(),
    }
}
