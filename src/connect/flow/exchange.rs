//! Exchanging the code Meta returned (Embedded Signup, Facebook Login, Instagram Login) and
//! discovering the assets it grants.

use crate::connect::grants::Grants;
use crate::connect::{Candidate, Flow, TempData};
use crate::store::ConnectSessionRow;

use super::{Connector, EsReport, Failure, Step, code_verified, name_approved};

impl Connector {
    /// Meta's `debug_token` of a token the flow just got (what it grants); a token Meta calls
    /// invalid ends the flow.
    async fn debug_new_token(
        &self,
        access_token: &str,
        step: &str,
    ) -> Result<crate::meta::oauth::DebugToken, Failure> {
        let debug = self
            .oauth
            .debug_token(access_token)
            .await
            .map_err(|e| Failure::meta(step, &e))?;
        if debug.is_valid {
            Ok(debug)
        } else {
            Err(Failure::new(
                "meta_error",
                "Meta reports the new access token as invalid. Please try again.",
            ))
        }
    }

    pub fn redirect_uri(&self) -> String {
        format!("{}/connect/callback", self.public_url)
    }

    /// WhatsApp Embedded Signup: the popup gave the browser a code (and, separately, the WABA
    /// and phone number ids).
    pub async fn embedded_signup(
        &self,
        session: &ConnectSessionRow,
        code: &str,
        report: &EsReport,
    ) -> Result<Step, Failure> {
        let token = self
            .oauth
            .exchange_code(code, None)
            .await
            .map_err(|e| Failure::meta("code exchange", &e))?;
        // The person's app-scoped id, as the deauthorize / data-deletion callbacks carry it:
        // `/me` with the token of the code exchange (not `debug_token`'s `user_id`, which
        // names the business integration system user of a business token).
        let me = match self.oauth.me_id(&token.access_token).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "reading the Embedded Signup user failed");
                None
            }
        };
        let debug = self
            .debug_new_token(&token.access_token, "token check")
            .await?;
        let mut granted: Vec<String> = Vec::new();
        for g in &debug.granular_scopes {
            if g.scope == "whatsapp_business_management" || g.scope == "whatsapp_business_messaging"
            {
                for t in &g.target_ids {
                    if !granted.contains(t) {
                        granted.push(t.clone());
                    }
                }
            }
        }
        let wabas: Vec<String> = match &report.waba_id {
            Some(w) if granted.is_empty() || granted.contains(w) => vec![w.clone()],
            Some(_) => {
                return Err(Failure::new(
                    "asset_mismatch",
                    "The WhatsApp Business Account reported by the browser is not one this login granted access to.",
                ));
            }
            None => granted,
        };
        if wabas.is_empty() {
            return Err(Failure::new(
                "no_assets",
                "No WhatsApp Business Account was shared. Run the signup again and select an account.",
            ));
        }
        let mut candidates = Vec::new();
        let mut on_biz_app: Vec<String> = Vec::new();
        for waba in &wabas {
            let numbers = self
                .oauth
                .phone_numbers(&token.access_token, waba)
                .await
                .map_err(|e| Failure::meta("listing phone numbers", &e))?;
            for n in numbers {
                if n.is_on_biz_app {
                    on_biz_app.push(n.id.clone());
                }
                candidates.push(Candidate {
                    external_id: n.id.clone(),
                    label: if n.verified_name.is_empty() {
                        n.display_phone_number.clone()
                    } else {
                        format!("{} ({})", n.verified_name, n.display_phone_number)
                    },
                    detail: Some(format!("WhatsApp Business Account {waba}")),
                    waba_id: Some(waba.clone()),
                    page_id: None,
                    token: None,
                    name_pending: !name_approved(n.name_status.as_deref()),
                    coexistence: report.business_app,
                    // A WhatsApp Business app number was verified in the app.
                    unverified: !report.business_app
                        && !code_verified(n.code_verification_status.as_deref()),
                    // `platform_type` CLOUD_API: registered with the Cloud API already.
                    cloud_api_registered: n
                        .platform_type
                        .as_deref()
                        .is_some_and(|p| p.eq_ignore_ascii_case("CLOUD_API")),
                });
            }
        }
        // `FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING` names only the WABA: its number is the one
        // Meta reports in use with the WhatsApp Business app.
        if report.business_app && report.phone_number_id.is_none() {
            let on_app: Vec<Candidate> = candidates
                .iter()
                .filter(|c| on_biz_app.contains(&c.external_id))
                .cloned()
                .collect();
            if !on_app.is_empty() {
                candidates = on_app;
            }
        }
        if let Some(phone) = &report.phone_number_id {
            let Some(c) = candidates.iter().find(|c| &c.external_id == phone).cloned() else {
                return Err(Failure::new(
                    "asset_mismatch",
                    "The phone number reported by the browser does not belong to the shared WhatsApp Business Account.",
                ));
            };
            candidates = vec![c];
        }
        let temp = TempData {
            token: token.access_token.clone(),
            token_kind: "system_user".into(),
            token_expires_at: token
                .expires_in
                .filter(|s| *s > 0)
                .map(|s| crate::now_ms() + s * 1000),
            meta_user_id: me,
            candidates,
            grants: None,
            connected: Vec::new(),
            notices: Vec::new(),
        };
        self.offer(session, temp).await
    }

    /// The redirect dialog came back with a code (Facebook Login or Instagram Login).
    pub async fn oauth_code(
        &self,
        session: &ConnectSessionRow,
        code: &str,
    ) -> Result<Step, Failure> {
        let redirect = self.redirect_uri();
        let flow = Flow::parse(&session.flow).unwrap_or(Flow::FacebookLogin);
        let temp = if flow == Flow::InstagramLogin {
            let short = self
                .oauth
                .ig_exchange_code(code, &redirect)
                .await
                .map_err(|e| Failure::meta("code exchange", &e))?;
            let long = self
                .oauth
                .ig_long_lived(&short.access_token)
                .await
                .map_err(|e| Failure::meta("long-lived token", &e))?;
            let me = self
                .oauth
                .ig_me(&long.access_token)
                .await
                .map_err(|e| Failure::meta("reading the account", &e))?;
            TempData {
                token: long.access_token.clone(),
                token_kind: "instagram_login".into(),
                token_expires_at: long
                    .expires_in
                    .filter(|s| *s > 0)
                    .map(|s| crate::now_ms() + s * 1000),
                meta_user_id: short.user_id.clone().or_else(|| Some(me.user_id.clone())),
                candidates: vec![Candidate {
                    external_id: me.user_id.clone(),
                    label: me
                        .username
                        .as_ref()
                        .map(|u| format!("@{u}"))
                        .unwrap_or_else(|| me.user_id.clone()),
                    detail: me.name.clone(),
                    waba_id: None,
                    page_id: None,
                    token: None,
                    name_pending: false,
                    coexistence: false,
                    unverified: false,
                    cloud_api_registered: false,
                }],
                grants: None,
                connected: Vec::new(),
                notices: Vec::new(),
            }
        } else {
            let short = self
                .oauth
                .exchange_code(code, Some(&redirect))
                .await
                .map_err(|e| Failure::meta("code exchange", &e))?;
            let long = self
                .oauth
                .long_lived_user_token(&short.access_token)
                .await
                .map_err(|e| Failure::meta("long-lived token", &e))?;
            let user_id = self.oauth.me_id(&long.access_token).await.ok();
            // Which permissions the person granted, per Page: only the webhook fields they
            // cover are subscribed (connect::grants).
            let debug = self
                .debug_new_token(&long.access_token, "checking the granted permissions")
                .await?;
            let grants = Grants::from_debug(&debug);
            let pages = self
                .oauth
                .pages(&long.access_token)
                .await
                .map_err(|e| Failure::meta("listing Pages", &e))?;
            let instagram = session.kind == "instagram";
            let candidates: Vec<Candidate> = pages
                .into_iter()
                .filter_map(|p| {
                    if instagram {
                        let ig = p.instagram?;
                        Some(Candidate {
                            label: ig
                                .username
                                .as_ref()
                                .map(|u| format!("@{u}"))
                                .unwrap_or_else(|| ig.id.clone()),
                            external_id: ig.id,
                            detail: Some(format!("linked to the Page {}", p.name)),
                            waba_id: None,
                            page_id: Some(p.id),
                            token: Some(p.access_token),
                            name_pending: false,
                            coexistence: false,
                            unverified: false,
                            cloud_api_registered: false,
                        })
                    } else {
                        Some(Candidate {
                            external_id: p.id.clone(),
                            label: p.name.clone(),
                            detail: Some(format!("Page {}", p.id)),
                            waba_id: None,
                            page_id: Some(p.id),
                            token: Some(p.access_token),
                            name_pending: false,
                            coexistence: false,
                            unverified: false,
                            cloud_api_registered: false,
                        })
                    }
                })
                .collect();
            TempData {
                token: long.access_token.clone(),
                token_kind: "page".into(),
                token_expires_at: None,
                meta_user_id: user_id,
                candidates,
                grants: Some(grants),
                connected: Vec::new(),
                notices: Vec::new(),
            }
        };
        self.offer(session, temp).await
    }
}
