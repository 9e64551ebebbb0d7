//! Connecting the chosen assets: webhook subscriptions, number registration, the token
//! through the vault, the channels (`channel.connected`) and the end of the session.

use crate::channels::ChannelKind;
use crate::connect::grants::{self, Blocked, PagePlan};
use crate::connect::{Candidate, Flow, IG_FIELDS, TempData};
use crate::store::{ConnectOutcome, ConnectSessionRow, ConnectedChannel};

use super::{Connector, Failure, Registration, Step};

impl Connector {
    /// The Page subscription of a Facebook Login asset: the fields the granted permissions
    /// cover (all of them when the grants are unknown).
    fn page_plan(
        &self,
        session: &ConnectSessionRow,
        temp: &TempData,
        c: &Candidate,
        page: &str,
    ) -> Result<PagePlan, Blocked> {
        let kind = ChannelKind::parse(&session.kind).unwrap_or(ChannelKind::Messenger);
        match &temp.grants {
            Some(g) => grants::plan_page(kind, g, &[page, c.external_id.as_str()]),
            None => Ok(PagePlan {
                fields: grants::all_page_fields(kind),
                missing: Vec::new(),
            }),
        }
    }

    /// Subscribes, registers and stores each chosen asset. `person_pin` is the two-step
    /// verification PIN the person typed for the (single) chosen WhatsApp number.
    pub(super) async fn connect(
        &self,
        session: &ConnectSessionRow,
        temp: &TempData,
        chosen: &[Candidate],
        person_pin: Option<&str>,
    ) -> Result<Step, Failure> {
        let flow = Flow::parse(&session.flow).unwrap_or(Flow::FacebookLogin);
        let mut channel_ids = temp.connected.clone();
        let mut problems = Vec::new();
        let mut notices = temp.notices.clone();
        let mut need_pin: Vec<(Candidate, String)> = Vec::new();
        let mut subscribed: Vec<String> = Vec::new();
        for c in chosen {
            let token = c.token.as_deref().unwrap_or(&temp.token);
            if c.unverified {
                problems.push(format!(
                    "{}: the number is not verified yet; connect it on its own to verify it with a code",
                    c.label
                ));
                continue;
            }
            let mut fields: Option<String> = None;
            let mut missing: Vec<String> = Vec::new();
            // 1. Webhooks first: nothing arrives until the app is subscribed.
            let subscription_object = match flow {
                Flow::InstagramLogin => {
                    if let Err(e) = self.oauth.ig_subscribe(token, IG_FIELDS).await {
                        problems.push(format!(
                            "{}: {}",
                            c.label,
                            Failure::meta("webhook subscription", &e).message
                        ));
                        continue;
                    }
                    fields = Some(IG_FIELDS.join(","));
                    "me".to_string()
                }
                Flow::EmbeddedSignup => {
                    let Some(waba) = c.waba_id.clone() else {
                        problems.push(format!("{}: no WhatsApp Business Account id", c.label));
                        continue;
                    };
                    if !subscribed.contains(&waba) {
                        if let Err(e) = self.oauth.subscribe_app(token, &waba, &[]).await {
                            problems.push(format!(
                                "{}: {}",
                                c.label,
                                Failure::meta("webhook subscription", &e).message
                            ));
                            continue;
                        }
                        subscribed.push(waba.clone());
                    }
                    waba
                }
                Flow::FacebookLogin => {
                    let page = c.page_id.clone().unwrap_or_else(|| c.external_id.clone());
                    let plan = match self.page_plan(session, temp, c, &page) {
                        Ok(plan) => plan,
                        Err(Blocked(why)) => {
                            problems.push(format!("{}: {why}.", c.label));
                            continue;
                        }
                    };
                    if let Err(e) = self.oauth.subscribe_app(token, &page, &plan.fields).await {
                        problems.push(format!(
                            "{}: {}",
                            c.label,
                            Failure::meta("webhook subscription", &e).message
                        ));
                        continue;
                    }
                    for m in &plan.missing {
                        notices.push(format!(
                            "{}: connected, but {}. To receive them, connect it again and allow {}.",
                            c.label,
                            m.sentence(),
                            m.permission
                        ));
                        missing.push(m.permission.clone());
                    }
                    fields = Some(plan.fields.join(","));
                    page
                }
            };
            // 2. WhatsApp numbers: the two-step verification PIN is set, then the number is
            //    registered, where Meta allows it; otherwise it waits. A WhatsApp Business app
            //    number is already registered: "skip the phone number registration step"
            //    ("Onboard WhatsApp Business app users", read 2026-12-02).
            let mut status = "active";
            let mut status_reason: Option<String> = None;
            let mut register_next_at = None;
            let mut pin_enc = None;
            if flow == Flow::EmbeddedSignup && !c.coexistence {
                match self.register_number(token, c, person_pin).await {
                    Registration::Registered { pin } => pin_enc = Some(self.vault.encrypt(&pin)),
                    Registration::AlreadyRegistered => notices.push(format!(
                        "{}: the number was already registered with the WhatsApp Cloud API; its registration and two-step verification PIN were left as they are.",
                        c.label
                    )),
                    Registration::Pending { pin, reason } => {
                        pin_enc = Some(self.vault.encrypt(&pin));
                        status = "pending";
                        status_reason = Some(reason);
                        register_next_at = Some(crate::now_ms() + self.register_retry_ms);
                    }
                    Registration::NeedsPin(message) => {
                        need_pin.push((c.clone(), message));
                        continue;
                    }
                    Registration::Failed(message) => {
                        problems.push(format!("{}: {message}", c.label));
                        continue;
                    }
                }
            }
            let kind = session.kind.as_str();
            let token_kind = match flow {
                Flow::EmbeddedSignup => "system_user",
                Flow::InstagramLogin => "instagram_login",
                Flow::FacebookLogin => "page",
            };
            let token_expires_at = match flow {
                Flow::FacebookLogin => None,
                _ => temp.token_expires_at,
            };
            // Which Graph host this channel's sends, refreshes and profile reads use
            // (meta::login): an Instagram Login token only works on graph.instagram.com.
            let login = match (kind, flow) {
                ("instagram", Flow::InstagramLogin) => Some("instagram"),
                ("instagram", _) => Some("facebook"),
                _ => None,
            };
            let token_enc = self.vault.encrypt(token);
            let stored = self
                .store
                .store_connected_channel(
                    &ConnectedChannel {
                        instance_id: &session.instance_id,
                        session_id: &session.id,
                        kind,
                        external_id: &c.external_id,
                        waba_id: c.waba_id.as_deref(),
                        name: Some(&c.label),
                        token_enc: &token_enc,
                        token_kind,
                        token_expires_at,
                        subscription_object: Some(&subscription_object),
                        subscribed_fields: fields.as_deref(),
                        missing_permissions: &missing,
                        meta_user_id: temp.meta_user_id.as_deref(),
                        register_pin_enc: pin_enc.as_deref(),
                        status,
                        status_reason: status_reason.as_deref(),
                        register_next_at,
                        login,
                    },
                    self.horizon_ms,
                )
                .await;
            match stored {
                Ok(ConnectOutcome::Created(id) | ConnectOutcome::Reconnected(id)) => {
                    channel_ids.push(id);
                    if flow == Flow::EmbeddedSignup && c.coexistence {
                        problems.extend(self.sync_business_app(token, c).await);
                    }
                }
                Ok(ConnectOutcome::TakenByAnotherInstance) => problems.push(format!(
                    "{}: this account is already connected to another workspace; disconnect it there first",
                    c.label
                )),
                Err(e) => {
                    tracing::error!(session = %session.id, error = %e, "storing a connected channel failed");
                    problems.push(format!("{}: could not be saved, please try again", c.label));
                }
            }
        }
        if !need_pin.is_empty() {
            // Keep what the PIN step needs; what is connected so far stays connected.
            let message = need_pin
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let candidates: Vec<Candidate> = need_pin.into_iter().map(|(c, _)| c).collect();
            let next = TempData {
                token: temp.token.clone(),
                token_kind: temp.token_kind.clone(),
                token_expires_at: temp.token_expires_at,
                meta_user_id: temp.meta_user_id.clone(),
                candidates: candidates.clone(),
                grants: temp.grants.clone(),
                connected: channel_ids,
                notices: notices.into_iter().chain(problems).collect(),
            };
            if person_pin.is_none() {
                self.keep(session, &next).await?;
            }
            return Ok(Step::NeedPin {
                candidates,
                message,
            });
        }
        if channel_ids.is_empty() {
            let message = if problems.is_empty() {
                "Nothing was connected.".to_string()
            } else {
                problems.join(" ")
            };
            let code = if problems
                .iter()
                .any(|p| p.contains("already connected to another"))
            {
                "asset_taken"
            } else if problems.iter().any(|p| p.contains("was not granted")) {
                "permission_denied"
            } else {
                "connect_failed"
            };
            return Err(Failure::new(code, message));
        }
        Ok(Step::Connected {
            channel_ids,
            problems,
            notices,
        })
    }
}
