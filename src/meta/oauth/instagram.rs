//! Instagram Login: the token calls on the Instagram hosts and the account's app subscription.

use super::*;

impl OAuthClient {
    // -----------------------------------------------------------------------------------
    // Instagram Login

    /// `POST {ig_api}/oauth/access_token` (form-encoded): the code of the Instagram Login
    /// redirect (a trailing `#_` is stripped) → a short-lived token. Accepts the flat and the
    /// `data[]` answer.
    pub async fn ig_exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<IgShortToken, GraphCallError> {
        let code = code.trim();
        let code = code.strip_suffix("#_").unwrap_or(code);
        if code.is_empty() {
            return Err(GraphCallError::Invalid("empty authorization code".into()));
        }
        let url = self.url(&self.ig_api, false, &["oauth", "access_token"])?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.ig_app.app_id)
            .append_pair("client_secret", &self.ig_app.app_secret)
            .append_pair("grant_type", "authorization_code")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code", code)
            .finish();
        let request = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        let json = self.call(request, &[&self.ig_app.app_secret, code]).await?;
        ig_short_token_from(&json)
    }

    /// `GET {ig_graph}/access_token?grant_type=ig_exchange_token`: short → long-lived (60 days).
    pub async fn ig_long_lived(&self, short: &str) -> Result<AccessToken, GraphCallError> {
        let mut url = self.url(&self.ig_graph, false, &["access_token"])?;
        url.query_pairs_mut()
            .append_pair("grant_type", "ig_exchange_token")
            .append_pair("client_secret", &self.ig_app.app_secret)
            .append_pair("access_token", short);
        let json = self
            .call(self.http.get(url), &[&self.ig_app.app_secret, short])
            .await?;
        access_token_from(&json)
    }

    /// `GET {ig_graph}/refresh_access_token?grant_type=ig_refresh_token`: a long-lived token at
    /// least 24 h old and not expired → a new one valid 60 days.
    pub async fn ig_refresh(&self, long: &str) -> Result<AccessToken, GraphCallError> {
        let mut url = self.url(&self.ig_graph, false, &["refresh_access_token"])?;
        url.query_pairs_mut()
            .append_pair("grant_type", "ig_refresh_token")
            .append_pair("access_token", long);
        let json = self.call(self.http.get(url), &[long]).await?;
        access_token_from(&json)
    }

    /// `GET {ig_graph}/{v}/me?fields=user_id,username,name`.
    pub async fn ig_me(&self, token: &str) -> Result<IgProfile, GraphCallError> {
        let mut url = self.url(&self.ig_graph, true, &["me"])?;
        url.query_pairs_mut()
            .append_pair("fields", "user_id,username,name");
        let json = self.get_bearer(url, token, &[]).await?;
        ig_profile_from(&json)
    }

    /// `POST {ig_graph}/{v}/me/subscribed_apps?subscribed_fields=...`.
    pub async fn ig_subscribe(&self, token: &str, fields: &[&str]) -> Result<(), GraphCallError> {
        let mut url = self.url(&self.ig_graph, true, &["me", "subscribed_apps"])?;
        if !fields.is_empty() {
            url.query_pairs_mut()
                .append_pair("subscribed_fields", &fields.join(","));
        }
        let json = self
            .call(self.http.post(url).bearer_auth(token), &[token])
            .await?;
        success(&json)
    }

    /// `DELETE {ig_graph}/{v}/me/subscribed_apps`.
    pub async fn ig_unsubscribe(&self, token: &str) -> Result<(), GraphCallError> {
        let url = self.url(&self.ig_graph, true, &["me", "subscribed_apps"])?;
        let json = self
            .call(self.http.delete(url).bearer_auth(token), &[token])
            .await?;
        success(&json)
    }

    /// `GET {ig_graph}/{v}/me/subscribed_apps`.
    pub async fn ig_subscribed_apps(
        &self,
        token: &str,
    ) -> Result<Vec<SubscribedApp>, GraphCallError> {
        let url = self.url(&self.ig_graph, true, &["me", "subscribed_apps"])?;
        let json = self.get_bearer(url, token, &[]).await?;
        subscribed_apps_from(&json)
    }
}
