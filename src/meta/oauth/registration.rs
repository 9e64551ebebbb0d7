//! WhatsApp phone numbers: two-step PIN, registration, verification codes and the WhatsApp
//! Business app's data sync (coexistence).

use super::*;

impl OAuthClient {
    /// `POST /{v}/{phone_number_id}` `{"pin": "123456"}`: sets (or changes) the number's
    /// two-step verification PIN. Meta needs no old PIN for this; there is no call that turns
    /// two-step verification off. "Two-Step Verification",
    /// <https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/two-step-verification>
    /// (read 2026-12-02).
    pub async fn set_two_step_pin(
        &self,
        token: &str,
        phone_number_id: &str,
        pin: &str,
    ) -> Result<(), GraphCallError> {
        let url = self.graph_url(&[phone_number_id])?;
        let body = serde_json::json!({"pin": pin});
        let json = self
            .call(
                self.http.post(url).bearer_auth(token).json(&body),
                &[token, pin],
            )
            .await?;
        success(&json)
    }

    /// `POST /{v}/{phone_number_id}/register` with the two-step verification PIN: the number's
    /// PIN when two-step verification is on (else `133005`), otherwise the PIN it gets.
    /// "Register a business phone number",
    /// <https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/registration>
    /// (read 2026-12-02).
    pub async fn register_phone(
        &self,
        token: &str,
        phone_number_id: &str,
        pin: &str,
    ) -> Result<(), GraphCallError> {
        let url = self.graph_url(&[phone_number_id, "register"])?;
        let body = serde_json::json!({"messaging_product": "whatsapp", "pin": pin});
        let json = self
            .call(
                self.http.post(url).bearer_auth(token).json(&body),
                &[token, pin],
            )
            .await?;
        success(&json)
    }

    /// `POST /{v}/{phone_number_id}/request_code?code_method=SMS|VOICE&language=en_US`: Meta sends
    /// a verification code to an unverified business number. Settled by "Whats App Business Phone
    /// Number Request Code" (Graph API reference),
    /// https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account-to-number-current-status/request_code/
    /// and "Registering business phone numbers" step 2,
    /// https://developers.facebook.com/documentation/business-messaging/whatsapp/solution-providers/registering-phone-numbers/
    /// (both read 2026-12-02): parameters in the query, answer `{"success":true}`.
    pub async fn request_code(
        &self,
        token: &str,
        phone_number_id: &str,
        code_method: &str,
        language: &str,
    ) -> Result<(), GraphCallError> {
        let mut url = self.graph_url(&[phone_number_id, "request_code"])?;
        url.query_pairs_mut()
            .append_pair("code_method", code_method)
            .append_pair("language", language);
        let json = self
            .call(self.http.post(url).bearer_auth(token), &[token])
            .await?;
        success(&json)
    }

    /// `POST /{v}/{phone_number_id}/verify_code?code=...`: the code the person received. Settled
    /// by "Registering business phone numbers" step 3 (URL above, read 2026-12-02); a wrong code
    /// is a Graph error (136025), never a success.
    pub async fn verify_code(
        &self,
        token: &str,
        phone_number_id: &str,
        code: &str,
    ) -> Result<(), GraphCallError> {
        let mut url = self.graph_url(&[phone_number_id, "verify_code"])?;
        url.query_pairs_mut().append_pair("code", code);
        let json = self
            .call(self.http.post(url).bearer_auth(token), &[token, code])
            .await?;
        success(&json)
    }

    /// `POST /{v}/{phone_number_id}/smb_app_data` `{"messaging_product":"whatsapp","sync_type":...}`
    /// (`smb_app_state_sync` = contacts, `history` = message history) for a number onboarded
    /// with the WhatsApp Business app; answers the `request_id`. Each sync type can be started
    /// once, within 24 hours of onboarding: "Onboard WhatsApp Business app users",
    /// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users
    /// (read 2026-12-02).
    pub async fn smb_app_data(
        &self,
        token: &str,
        phone_number_id: &str,
        sync_type: &str,
    ) -> Result<String, GraphCallError> {
        let url = self.graph_url(&[phone_number_id, "smb_app_data"])?;
        let body = serde_json::json!({"messaging_product": "whatsapp", "sync_type": sync_type});
        let json = self
            .call(self.http.post(url).bearer_auth(token).json(&body), &[token])
            .await?;
        opt_string(&json, "request_id")
            .ok_or_else(|| GraphCallError::Decode("smb_app_data has no request_id".into()))
    }
}
