//! Instagram / Messenger attachment files: the signed CDN address Meta puts in a webhook's
//! `attachments[].payload.url` (e.g. `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=…`,
//! as in Meta's "Instagram Post Shares: New Attachment Type" example payloads, updated Oct 30,
//! 2025, <https://developers.facebook.com/documentation/instagram-platform/webhooks/new>, read
//! 2026-12-04). Fetched without a token. The address comes from a signed webhook, but it is
//! still followed only to Meta's own CDN hosts, over https, with redirects checked the same
//! way, so a crafted payload cannot make the bridge call anything else (P11).

use std::time::Duration;

use url::Url;

use super::{
    GraphCallError, GraphClient, MAX_ERROR_BODY, describe_transport, error_from_status,
    read_limited,
};

/// Host suffixes of Meta's content delivery networks (lookaside.fbsbx.com,
/// scontent-*.xx.fbcdn.net, scontent.cdninstagram.com, …).
const META_CDN_SUFFIXES: &[&str] = &["fbsbx.com", "fbcdn.net", "cdninstagram.com"];

/// Whether `url` is an https address on one of Meta's CDN hosts, or on the configured Graph
/// origin (`base`: the simulator in tests and the demo).
pub(super) fn is_meta_cdn(url: &Url, base: &Url) -> bool {
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    if url.origin() == base.origin() {
        return true;
    }
    if url.scheme() != "https" {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    META_CDN_SUFFIXES
        .iter()
        .any(|s| host == *s || host.ends_with(&format!(".{s}")))
}

/// The client for attachment downloads: an idle-read timeout, no total one; at most 5
/// redirects, each to an address [`is_meta_cdn`] accepts.
pub(super) fn cdn_client(
    base: &Url,
    user_agent: &str,
    connect_timeout: Duration,
    read_timeout: Duration,
) -> Result<reqwest::Client, GraphCallError> {
    let base = base.clone();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 || !is_meta_cdn(attempt.url(), &base) {
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout)
        .redirect(policy)
        .build()
        .map_err(|e| GraphCallError::Invalid(format!("HTTP client: {}", e.without_url())))
}

impl GraphClient {
    /// `GET url` of an Instagram / Messenger attachment, unread so the caller can stream it.
    /// Refused before any request when `url` is not on Meta's CDN ([`GraphCallError::Invalid`]);
    /// a non-2xx answer is [`GraphCallError::Status`] (403/404/410: the address expired) or
    /// [`GraphCallError::Graph`]; a redirect the policy stopped is a 3xx status.
    pub async fn download_attachment(
        &self,
        url: &str,
    ) -> Result<reqwest::Response, GraphCallError> {
        let url = Url::parse(url)
            .map_err(|_| GraphCallError::Invalid("attachment URL does not parse".into()))?;
        if !is_meta_cdn(&url, &self.base) {
            return Err(GraphCallError::Invalid(
                "attachment URL is not on Meta's CDN".into(),
            ));
        }
        let response = self
            .cdn
            .get(url)
            .send()
            .await
            .map_err(|e| GraphCallError::Transport(describe_transport(&e, &[])))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = read_limited(response, MAX_ERROR_BODY).await;
        Err(error_from_status(status, body.ok().as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p11_attachment_downloads_go_only_to_metas_cdn_hosts_over_https() {
        let base = Url::parse("http://127.0.0.1:4000").expect("url");
        let ok = |u: &str| is_meta_cdn(&Url::parse(u).expect("url"), &base);
        assert!(ok(
            "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1&signature=x"
        ));
        assert!(ok("https://scontent-ams2-1.xx.fbcdn.net/v/t1/abc.jpg"));
        assert!(ok("https://scontent.cdninstagram.com/v/t51/x.mp4"));
        assert!(ok("http://127.0.0.1:4000/_cdn/abc"));
        assert!(!ok("http://lookaside.fbsbx.com/x"));
        assert!(!ok("https://fbsbx.com.evil.example/x"));
        assert!(!ok("https://evilfbcdn.net/x"));
        assert!(!ok("https://user:pw@lookaside.fbsbx.com/x"));
        assert!(!ok("http://127.0.0.1:4001/_cdn/abc"));
        assert!(!ok("https://169.254.169.254/latest/meta-data"));
    }
}
