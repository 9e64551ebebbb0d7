//! App subscriptions of WABAs, Pages and Instagram accounts (`subscribed_apps`).

use super::*;

impl OAuthClient {
    /// `POST /{v}/{id}/subscribed_apps` (`subscribed_fields` when `fields` is non-empty; WABAs
    /// take none).
    pub async fn subscribe_app(
        &self,
        token: &str,
        object_id: &str,
        fields: &[&str],
    ) -> Result<(), GraphCallError> {
        let mut url = self.graph_url(&[object_id, "subscribed_apps"])?;
        if !fields.is_empty() {
            url.query_pairs_mut()
                .append_pair("subscribed_fields", &fields.join(","));
        }
        let json = self
            .call(self.http.post(url).bearer_auth(token), &[token])
            .await?;
        success(&json)
    }

    /// `DELETE /{v}/{id}/subscribed_apps`.
    pub async fn unsubscribe_app(
        &self,
        token: &str,
        object_id: &str,
    ) -> Result<(), GraphCallError> {
        let url = self.graph_url(&[object_id, "subscribed_apps"])?;
        let json = self
            .call(self.http.delete(url).bearer_auth(token), &[token])
            .await?;
        success(&json)
    }

    /// `GET /{v}/{id}/subscribed_apps` (WABA or Page).
    pub async fn subscribed_apps(
        &self,
        token: &str,
        object_id: &str,
    ) -> Result<Vec<SubscribedApp>, GraphCallError> {
        let url = self.graph_url(&[object_id, "subscribed_apps"])?;
        let json = self.get_bearer(url, token, &[]).await?;
        subscribed_apps_from(&json)
    }
}
