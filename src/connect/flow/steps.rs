//! The person's steps between the exchange and the connection: the kept session data, the
//! offer, picking assets, verifying a number, and the two-step verification PIN.

use crate::connect::{Candidate, TempData};
use crate::meta::graph::GraphCallError;
use crate::store::ConnectSessionRow;

use super::{Connector, Failure, PIN_HELP, Step};

impl Connector {
    /// Keeps `temp` (encrypted) in the session until the person's next step.
    pub(super) async fn keep(
        &self,
        session: &ConnectSessionRow,
        temp: &TempData,
    ) -> Result<(), Failure> {
        let plain = serde_json::to_string(temp)
            .map_err(|_| Failure::new("internal_error", "Could not keep the session's data."))?;
        let stored = self
            .store
            .set_connect_temp(&session.id, Some(&self.vault.encrypt(&plain)))
            .await
            .map_err(|_| Failure::new("internal_error", "Could not keep the session's data."))?;
        if !stored {
            return Err(Failure::new(
                "session_closed",
                "This connection session has already ended.",
            ));
        }
        Ok(())
    }

    /// What the session keeps, decrypted.
    fn kept(&self, session: &ConnectSessionRow, what: &str) -> Result<TempData, Failure> {
        session
            .temp_enc
            .as_deref()
            .and_then(|enc| self.vault.decrypt(enc).ok())
            .and_then(|plain| serde_json::from_str(&plain).ok())
            .ok_or_else(|| Failure::new("session_closed", what.to_string()))
    }

    /// One asset: connect it at once; several: keep them (encrypted) for the picker.
    pub(super) async fn offer(
        &self,
        session: &ConnectSessionRow,
        temp: TempData,
    ) -> Result<Step, Failure> {
        match temp.candidates.len() {
            0 => Err(Failure::new(
                "no_assets",
                match session.kind.as_str() {
                    "instagram" => {
                        "No Instagram professional account was shared. Make sure the account is a business or creator account (linked to a Facebook Page when you log in with Facebook) and that you selected it."
                    }
                    "messenger" => {
                        "No Facebook Page was shared. Run the login again and select at least one Page."
                    }
                    _ => "No WhatsApp phone number was found in the shared account.",
                },
            )),
            1 if temp.candidates[0].unverified => {
                let c = temp.candidates[0].clone();
                self.keep(session, &temp).await?;
                Ok(Step::Verify(c))
            }
            1 => {
                let chosen = temp.candidates.clone();
                self.connect(session, &temp, &chosen, None).await
            }
            _ => {
                self.keep(session, &temp).await?;
                Ok(Step::Pick(temp.candidates))
            }
        }
    }

    fn temp_of(&self, session: &ConnectSessionRow) -> Result<TempData, Failure> {
        session
            .temp_enc
            .as_deref()
            .and_then(|enc| self.vault.decrypt(enc).ok())
            .and_then(|plain| serde_json::from_str(&plain).ok())
            .ok_or_else(|| {
                Failure::new(
                    "session_closed",
                    "There is nothing waiting in this session.",
                )
            })
    }

    /// The number waiting for verification in this session.
    pub fn unverified_number(&self, session: &ConnectSessionRow) -> Result<Candidate, Failure> {
        let temp = self.temp_of(session)?;
        match temp.candidates.as_slice() {
            [c] if c.unverified => Ok(c.clone()),
            _ => Err(Failure::new(
                "session_closed",
                "No phone number is waiting for verification in this session.",
            )),
        }
    }

    /// Asks Meta to send the verification code of the waiting number (`SMS` or `VOICE`, in
    /// `language`, e.g. `en_US`).
    pub async fn request_verification(
        &self,
        session: &ConnectSessionRow,
        code_method: &str,
        language: &str,
    ) -> Result<Candidate, Failure> {
        let temp = self.temp_of(session)?;
        let c = self.unverified_number(session)?;
        self.oauth
            .request_code(&temp.token, &c.external_id, code_method, language)
            .await
            .map_err(|e| Failure::meta("sending the verification code", &e))?;
        Ok(c)
    }

    /// Verifies the waiting number with the code the person received, then connects (and
    /// registers) it. A wrong code (136025) is `wrong_code`: the person may try again.
    pub async fn verify(&self, session: &ConnectSessionRow, code: &str) -> Result<Step, Failure> {
        let mut temp = self.temp_of(session)?;
        let mut c = self.unverified_number(session)?;
        if let Err(e) = self
            .oauth
            .verify_code(&temp.token, &c.external_id, code)
            .await
        {
            return Err(match &e {
                GraphCallError::Graph { error, .. } if matches!(error.code, 136025 | 100) => {
                    Failure::new(
                        "wrong_code",
                        "Meta did not accept this code. Check the code in the latest message (or call) and enter it again, or ask for a new code.",
                    )
                }
                _ => Failure::meta("verifying the phone number", &e),
            });
        }
        c.unverified = false;
        temp.candidates = vec![c.clone()];
        self.connect(session, &temp, &[c], None).await
    }

    /// The person picked `chosen` external ids among the kept candidates.
    pub async fn pick(
        &self,
        session: &ConnectSessionRow,
        chosen: &[String],
    ) -> Result<Step, Failure> {
        let temp = self.kept(session, "There is nothing left to pick in this session.")?;
        let picked: Vec<Candidate> = temp
            .candidates
            .iter()
            .filter(|c| chosen.iter().any(|id| id == &c.external_id))
            .cloned()
            .collect();
        if picked.is_empty() {
            return Err(Failure::new(
                "nothing_selected",
                "Select at least one account to connect.",
            ));
        }
        if let [c] = picked.as_slice()
            && c.unverified
        {
            let keep = TempData {
                candidates: picked.clone(),
                ..temp
            };
            self.keep(session, &keep).await?;
            return Ok(Step::Verify(c.clone()));
        }
        self.connect(session, &temp, &picked, None).await
    }

    /// Starts the contacts and message-history synchronization of a WhatsApp Business app
    /// number ("Onboard WhatsApp Business app users", Synchronizing WhatsApp Business app data,
    /// https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users,
    /// read 2026-12-02): contacts first, then history, within 24 hours of onboarding, each once
    /// (never retried: a second request is refused and only re-onboarding can repeat it). The
    /// data arrives as `smb_app_state_sync` and `history` webhooks. Returns the problems.
    pub(super) async fn sync_business_app(&self, token: &str, c: &Candidate) -> Vec<String> {
        let mut problems = Vec::new();
        for (sync, what) in [
            ("smb_app_state_sync", "contacts"),
            ("history", "message history"),
        ] {
            match self.oauth.smb_app_data(token, &c.external_id, sync).await {
                Ok(request_id) => {
                    tracing::info!(phone = %c.external_id, sync, request_id = %request_id, "WhatsApp Business app sync requested");
                }
                Err(e) => problems.push(format!(
                    "{}: connected, but Meta did not start the {what} synchronization ({e}); the number works, its earlier {what} is not imported",
                    c.label
                )),
            }
        }
        problems
    }

    /// The person typed the two-step verification PIN of a kept WhatsApp number. A wrong PIN
    /// (`invalid_pin`, `two_step_pin_mismatch`) leaves the session open and stores nothing.
    pub async fn submit_pin(
        &self,
        session: &ConnectSessionRow,
        phone_number_id: &str,
        pin: &str,
    ) -> Result<Step, Failure> {
        let temp = self.kept(
            session,
            "No phone number is waiting for a PIN in this session.",
        )?;
        let Some(c) = temp
            .candidates
            .iter()
            .find(|c| c.external_id == phone_number_id)
            .cloned()
        else {
            return Err(Failure::new(
                "session_closed",
                "No phone number is waiting for a PIN in this session.",
            ));
        };
        if !crate::connect::is_pin(pin) {
            return Err(Failure::new(
                "invalid_pin",
                "A two-step verification PIN is exactly 6 digits.",
            ));
        }
        let rest: Vec<Candidate> = temp
            .candidates
            .iter()
            .filter(|o| o.external_id != c.external_id)
            .cloned()
            .collect();
        let step = self
            .connect(session, &temp, std::slice::from_ref(&c), Some(pin))
            .await;
        match step {
            // The same number wants the PIN again: the PIN was wrong. Nothing was stored and
            // the session keeps waiting (the kept data is unchanged).
            Ok(Step::NeedPin { message, .. }) => {
                Err(Failure::new("two_step_pin_mismatch", message))
            }
            Ok(Step::Connected {
                channel_ids,
                problems,
                notices,
            }) if !rest.is_empty() => {
                // Other numbers still wait for their PIN.
                let next = TempData {
                    candidates: rest.clone(),
                    connected: channel_ids,
                    notices: notices.into_iter().chain(problems).collect(),
                    ..temp
                };
                self.keep(session, &next).await?;
                Ok(Step::NeedPin {
                    candidates: rest,
                    message: PIN_HELP.to_string(),
                })
            }
            other => other,
        }
    }
}
