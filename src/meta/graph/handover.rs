//! The handover protocol's calls (Messenger, and Instagram through its linked Page): pass,
//! take and request control of one conversation. Page token, graph.facebook.com.
//!
//! * `POST /{page-id}/pass_thread_control` `{recipient: {id}, target_app_id, metadata?}` —
//!   "Handover Protocol API Reference"
//!   (<https://developers.facebook.com/docs/messenger-platform/reference/handover-protocol>,
//!   read 2026-12-04): `target_app_id` is an int, the app to pass control to (`263902037430900`
//!   for the Page inbox, `1217981644879628` for the Instagram inbox); answer `{"success": true}`
//!   ("Pass Thread Control", <https://developers.facebook.com/docs/messenger-platform/reference/handover-protocol/pass-thread-control/>,
//!   read 2026-12-04).
//! * `POST /{page-id}/take_thread_control` `{recipient: {id}, metadata?}` — "Page Take Thread
//!   Control" (<https://developers.facebook.com/docs/graph-api/reference/page/take_thread_control/>,
//!   read 2026-12-04): returns `{success: bool}`; errors 551 (person not available), 100
//!   (invalid parameter), 200 (permissions), 190 (token), 230, 613 (rate), 210.
//! * `POST /{page-id}/request_thread_control` `{recipient: {id}, metadata?}` — "Request Thread
//!   Control" (<https://developers.facebook.com/docs/messenger-platform/handover-protocol/request-thread-control/>,
//!   read 2026-12-04): the app in control receives a `request_thread_control` webhook and may
//!   pass control, or ignore the request.
//!
//! Meta's examples post to `/me/...` with the Page token (`me` is the Page); an Instagram
//! account connected through its Page uses the same calls with the IGSID as recipient
//! ("Conversation Routing for Instagram": "backwards compatible with most Handover Protocol
//! APIs", <https://developers.facebook.com/docs/messenger-platform/instagram/features/conversation-routing/>,
//! read 2026-12-04). Corpus: `messenger.pass_thread_control.json`,
//! `messenger.take_thread_control.json`, `messenger.request_thread_control.json`.

use serde_json::{Map, Value, json};

use super::{GraphCallError, GraphClient};

/// Which handover call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverCall {
    Pass,
    Take,
    Request,
}

impl HandoverCall {
    /// The Graph edge.
    pub fn edge(self) -> &'static str {
        match self {
            HandoverCall::Pass => "pass_thread_control",
            HandoverCall::Take => "take_thread_control",
            HandoverCall::Request => "request_thread_control",
        }
    }
}

impl GraphClient {
    /// `POST {base}/{version}/{page}/pass_thread_control`: passes control of the conversation
    /// with `recipient` to `target_app_id` (digits).
    pub async fn pass_thread_control(
        &self,
        token: &str,
        page: &str,
        recipient: &str,
        target_app_id: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphCallError> {
        let target: u64 = target_app_id
            .parse()
            .map_err(|_| GraphCallError::Invalid("target_app_id is not an app id".into()))?;
        let mut body = Map::new();
        body.insert("recipient".into(), json!({ "id": recipient }));
        body.insert("target_app_id".into(), json!(target));
        if let Some(m) = metadata {
            body.insert("metadata".into(), json!(m));
        }
        self.handover(token, page, HandoverCall::Pass, Value::Object(body))
            .await
    }

    /// `POST {base}/{version}/{page}/take_thread_control`: takes control of the conversation
    /// with `recipient` (from another app, or while it is idle).
    pub async fn take_thread_control(
        &self,
        token: &str,
        page: &str,
        recipient: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphCallError> {
        self.handover(
            token,
            page,
            HandoverCall::Take,
            recipient_body(recipient, metadata),
        )
        .await
    }

    /// `POST {base}/{version}/{page}/request_thread_control`: asks the app in control of the
    /// conversation with `recipient` to pass it.
    pub async fn request_thread_control(
        &self,
        token: &str,
        page: &str,
        recipient: &str,
        metadata: Option<&str>,
    ) -> Result<(), GraphCallError> {
        self.handover(
            token,
            page,
            HandoverCall::Request,
            recipient_body(recipient, metadata),
        )
        .await
    }

    async fn handover(
        &self,
        token: &str,
        page: &str,
        call: HandoverCall,
        body: Value,
    ) -> Result<(), GraphCallError> {
        let url = self.endpoint(&[page, call.edge()])?;
        let request = self.api.post(url).bearer_auth(token).json(&body);
        let answer = self.call_json(request, &[token]).await?;
        match answer.get("success") {
            Some(Value::Bool(true)) => Ok(()),
            _ => Err(GraphCallError::Decode(format!(
                "{} did not answer success",
                call.edge()
            ))),
        }
    }
}

fn recipient_body(recipient: &str, metadata: Option<&str>) -> Value {
    let mut body = Map::new();
    body.insert("recipient".into(), json!({ "id": recipient }));
    if let Some(m) = metadata {
        body.insert("metadata".into(), json!(m));
    }
    Value::Object(body)
}
