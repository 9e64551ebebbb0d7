//! The admin API's view of a channel diagnosis ([`crate::doctor`]):
//! `GET /admin/v1/channels/{id}/diagnosis`.

use poem_openapi::{Enum, Object};

use crate::doctor::{Diagnosis, Verdict};

/// How one check came out: `fail` means messages do not arrive or cannot be sent until it is
/// fixed; `warn` works but needs attention; `skip` could not be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum CheckVerdict {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl From<Verdict> for CheckVerdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Pass => Self::Pass,
            Verdict::Warn => Self::Warn,
            Verdict::Fail => Self::Fail,
            Verdict::Skip => Self::Skip,
        }
    }
}

/// One check of a diagnosis.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CheckView {
    /// Stable id: `channel.connected`, `token.valid`, `token.scopes`, `app.subscribed`,
    /// `webhook.callback`, `phone.status`, `phone.quality`, `phone.name`, `phone.verification`,
    /// `phone.messaging_limit`, `phone.health`, `templates`, `instagram.linkage`.
    pub check: String,
    pub verdict: CheckVerdict,
    /// What was found.
    pub summary: String,
    /// How to fix it.
    pub fix: Option<String>,
}

/// A channel checked against Meta.
#[derive(Debug, Object)]
#[oai(example)]
pub struct DiagnosisView {
    pub channel_id: String,
    pub instance_id: String,
    pub kind: String,
    pub external_id: String,
    /// RFC 3339.
    pub checked_at: String,
    /// True when no check failed.
    pub healthy: bool,
    pub checks: Vec<CheckView>,
}

impl From<Diagnosis> for DiagnosisView {
    fn from(d: Diagnosis) -> Self {
        Self {
            channel_id: d.channel_id,
            instance_id: d.instance_id,
            kind: d.kind,
            external_id: d.external_id,
            checked_at: d.checked_at,
            healthy: d.healthy,
            checks: d
                .checks
                .into_iter()
                .map(|c| CheckView {
                    check: c.check.to_owned(),
                    verdict: c.verdict.into(),
                    summary: c.summary,
                    fix: c.fix,
                })
                .collect(),
        }
    }
}

impl poem_openapi::types::Example for DiagnosisView {
    fn example() -> Self {
        let c = |check: &str, verdict, summary: &str, fix: Option<&str>| CheckView {
            check: check.into(),
            verdict,
            summary: summary.into(),
            fix: fix.map(Into::into),
        };
        Self {
            channel_id: "ch_0193f6a4c8e07a6b9d1e2f3a4b5c6d7e".into(),
            instance_id: "ins_0193f6a4c8e07a6b9d1e2f3a4b5c6d7e".into(),
            kind: "whatsapp".into(),
            external_id: "106000000000001".into(),
            checked_at: "2026-12-04T16:00:00.000Z".into(),
            healthy: false,
            checks: vec![
                c(
                    "token.valid",
                    CheckVerdict::Pass,
                    "valid, does not expire",
                    None,
                ),
                c(
                    "webhook.callback",
                    CheckVerdict::Fail,
                    "Meta sends whatsapp_business_account webhooks to https://old.example.com/hook, not to this bridge (https://bridge.example.com/webhooks/meta)",
                    Some(
                        "in the app dashboard, Webhooks → whatsapp_business_account: callback URL https://bridge.example.com/webhooks/meta, verify token = META_VERIFY_TOKEN, and subscribe messages, message_template_status_update",
                    ),
                ),
                c(
                    "phone.quality",
                    CheckVerdict::Warn,
                    "YELLOW: recipients have been blocking or reporting the number's messages",
                    Some("review the templates and who receives them"),
                ),
            ],
        }
    }
}
