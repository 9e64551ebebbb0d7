//! Which login an Instagram channel's token belongs to, and so which Graph host accepts it.
//!
//! Meta has two Instagram messaging APIs with different tokens and hosts:
//!
//! * **Instagram API with Instagram Login** — an *Instagram User* access token; "All endpoints
//!   can be accessed via the graph.instagram.com host", sends are `POST /<IG_ID>/messages` (or
//!   `/me/messages`). Source: "Send Messages — Instagram API with Instagram Login",
//!   <https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api>
//!   (read 2026-12-02). Token refresh is `GET graph.instagram.com/refresh_access_token`
//!   ("Refresh Access Token", <https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token>,
//!   read 2026-12-02).
//! * **Messenger API support for Instagram** (Instagram through Facebook Login) — a *Page*
//!   access token of the Page linked to the Instagram account; "All endpoints can be accessed via
//!   the graph.facebook.com host" ("Overview", <https://developers.facebook.com/docs/messenger-platform/instagram/overview>),
//!   sends go to the Page: `POST /PAGE-ID/messages`, shown as
//!   `https://graph.facebook.com/<version>/me/messages?access_token=<PAGE_ACCESS_TOKEN>`
//!   ("Send a Message — Instagram Messaging", <https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message>,
//!   read 2026-12-02).
//!
//! An Instagram User token is refused by graph.facebook.com ("Invalid OAuth access token -
//! Cannot parse access token", code 190) and a Page token by graph.instagram.com, so the host
//! follows the login, never the channel kind alone.

/// The login an Instagram channel was connected with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstagramLogin {
    /// Instagram API with Instagram Login: Instagram User token, graph.instagram.com.
    Instagram,
    /// Instagram through the linked Facebook Page: Page token, graph.facebook.com.
    Facebook,
}

impl InstagramLogin {
    /// `instagram` or `facebook` (the stored and API value).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "instagram" => Some(Self::Instagram),
            "facebook" => Some(Self::Facebook),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instagram => "instagram",
            Self::Facebook => "facebook",
        }
    }

    /// The login a token belongs to, from its shape: Instagram User tokens (Instagram Login)
    /// start with `IG`; Facebook user and Page tokens start with `EAA`.
    pub fn of_token(token: &str) -> Self {
        if token.trim_start().starts_with("IG") {
            Self::Instagram
        } else {
            Self::Facebook
        }
    }

    /// The login a stored channel uses: its recorded `login`, else (a row the start-up
    /// backfill has not reached) the shape of its token.
    pub fn of_channel(recorded: Option<&str>, token: &str) -> Self {
        recorded
            .and_then(Self::parse)
            .unwrap_or_else(|| Self::of_token(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_derives_from_the_token() {
        assert_eq!(
            InstagramLogin::parse("instagram"),
            Some(InstagramLogin::Instagram)
        );
        assert_eq!(
            InstagramLogin::parse("facebook"),
            Some(InstagramLogin::Facebook)
        );
        assert_eq!(InstagramLogin::parse("Instagram"), None);
        assert_eq!(InstagramLogin::parse(""), None);
        assert_eq!(
            InstagramLogin::of_token("IGAAJx0example"),
            InstagramLogin::Instagram
        );
        assert_eq!(
            InstagramLogin::of_token("IGQVJexample"),
            InstagramLogin::Instagram
        );
        assert_eq!(
            InstagramLogin::of_token("EAAGexample"),
            InstagramLogin::Facebook
        );
        assert_eq!(
            InstagramLogin::of_channel(Some("facebook"), "IGAAx"),
            InstagramLogin::Facebook
        );
        assert_eq!(
            InstagramLogin::of_channel(None, "IGAAx"),
            InstagramLogin::Instagram
        );
    }
}
