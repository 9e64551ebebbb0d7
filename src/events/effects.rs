//! What WhatsApp account webhooks change on the channels they concern (issue 12, defect 10).
//!
//! Pure: from a parsed `account.updated` or `channel.quality` event to [`ChannelEffect`]s; the
//! store applies them to the WABA's channels in the same transaction that records the event, so
//! a webhook's effect is never lost or applied twice (a duplicate delivery is dropped before).
//!
//! Meta's pages, read 2026-12-02:
//! - "account_update webhook reference", WhatsApp Business Platform (updated Apr 20, 2026),
//!   https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/account_update
//!   — `event` values `PARTNER_APP_UNINSTALLED` (`waba_info.partner_app_id`), `PARTNER_REMOVED`,
//!   `ACCOUNT_DELETED`, `ACCOUNT_RESTRICTION` (`restriction_info[]` of `restriction_type` and
//!   `expiration`), `DISABLED_UPDATE` (`ban_info.waba_ban_state`: `DISABLE`, `REINSTATE`, …),
//!   `ACCOUNT_OFFBOARDED` / `ACCOUNT_RECONNECTED`, `ACCOUNT_VIOLATION`.
//! - "phone_number_quality_update webhook reference" (updated Nov 14, 2025), same site —
//!   `display_phone_number`, `event`, `max_daily_conversations_per_business` (the portfolio's
//!   messaging limit; `current_limit` is its deprecated older name).

use serde_json::Value;

use super::data::{AccountUpdatedData, ChannelQualityData, EventData};

/// A change a WhatsApp account webhook makes to the channels of its WABA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelEffect {
    /// Our app lost access to the account: the channels are disconnected (token deleted,
    /// `channel.disconnected`).
    Disconnect { reason: String },
    /// Meta restricted or disabled messaging: sends pause (inbound goes on) until `until` (unix
    /// ms), or for the configured pause when Meta gives no end.
    PauseSends { reason: String, until: Option<i64> },
    /// Meta lifted the restriction: paused sends resume.
    ResumeSends { reason: String },
    /// The messaging-limit tier Meta reports (portfolio-wide: every number of the WABA).
    SetTier { tier: String },
    /// Meta's quality event for one number (matched by its display number when known).
    SetQuality {
        display_phone_number: Option<String>,
        event: String,
    },
}

/// A non-empty string, trimmed.
fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Restrictions that stop customer-service replies too. `RESTRICTED_BIZ_INITIATED_MESSAGING`
/// only blocks business-initiated messages (templates), which then fail one by one with Meta's
/// code; replies to customers still go out, so that one does not pause the channel.
const MESSAGING_RESTRICTIONS: &[&str] = &["RESTRICTED_CUSTOMER_INITIATED_MESSAGING"];

/// The effects of one parsed event. `app_id` is this bridge's Meta app: an uninstall of
/// another partner's app changes nothing here.
pub fn channel_effects(data: &EventData, app_id: Option<&str>) -> Vec<ChannelEffect> {
    match data {
        EventData::AccountUpdated(d) => account_update(d, app_id),
        EventData::ChannelQuality(d) => quality_update(d),
        _ => Vec::new(),
    }
}

fn account_update(data: &AccountUpdatedData, app_id: Option<&str>) -> Vec<ChannelEffect> {
    let Some(event) = text(Some(&data.event)) else {
        return Vec::new();
    };
    match event.as_str() {
        "PARTNER_APP_UNINSTALLED" => {
            let partner = data.waba_info.as_ref().and_then(|w| {
                w.get("partner_app_id").and_then(|p| {
                    p.as_str()
                        .map(str::to_string)
                        .or_else(|| p.as_i64().map(|n| n.to_string()))
                })
            });
            // Only an uninstall of this bridge's own app disconnects: another partner's app
            // removed from the same account is not ours to act on, and without META_APP_ID the
            // two cannot be told apart (the event is relayed; the token check finds a token
            // that stopped working).
            if partner.is_none() || partner.as_deref() != app_id {
                return Vec::new();
            }
            vec![ChannelEffect::Disconnect {
                reason: "Meta reports that the business removed this app from its WhatsApp Business Account (PARTNER_APP_UNINSTALLED)".into(),
            }]
        }
        "PARTNER_REMOVED" => vec![ChannelEffect::Disconnect {
            reason: "Meta reports that the WhatsApp Business Account is no longer shared with this app (PARTNER_REMOVED)".into(),
        }],
        "ACCOUNT_DELETED" => vec![ChannelEffect::Disconnect {
            reason: "Meta reports that the WhatsApp Business Account was deleted (ACCOUNT_DELETED)"
                .into(),
        }],
        "ACCOUNT_RESTRICTION" => {
            let list = data
                .restriction_info
                .as_ref()
                .or_else(|| data.other.get("restrictions"));
            let items: Vec<&Value> = match list {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v @ Value::Object(_)) => vec![v],
                _ => Vec::new(),
            };
            let mut until: Option<i64> = None;
            let mut kinds = Vec::new();
            for item in items {
                let Some(kind) = text(item.get("restriction_type")) else {
                    continue;
                };
                if !MESSAGING_RESTRICTIONS.contains(&kind.as_str()) {
                    continue;
                }
                let exp = text(item.get("expiration")).and_then(|e| parse_time(&e));
                until = match (until, exp) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                kinds.push(kind);
            }
            if kinds.is_empty() {
                return Vec::new();
            }
            vec![ChannelEffect::PauseSends {
                reason: format!(
                    "Meta restricted messaging on the WhatsApp Business Account ({})",
                    kinds.join(", ")
                ),
                until,
            }]
        }
        "DISABLED_UPDATE" => {
            let state = data
                .ban_info
                .as_ref()
                .and_then(|b| text(b.get("waba_ban_state")))
                .unwrap_or_default();
            match state.as_str() {
                "DISABLE" => vec![ChannelEffect::PauseSends {
                    reason: "Meta disabled the WhatsApp Business Account (DISABLED_UPDATE: DISABLE)"
                        .into(),
                    until: None,
                }],
                "REINSTATE" => vec![ChannelEffect::ResumeSends {
                    reason: "Meta reinstated the WhatsApp Business Account".into(),
                }],
                _ => Vec::new(),
            }
        }
        "ACCOUNT_OFFBOARDED" => vec![ChannelEffect::PauseSends {
            reason: "Meta offboarded the WhatsApp Business Account after a device change or a re-registration of the number (ACCOUNT_OFFBOARDED)".into(),
            until: None,
        }],
        "ACCOUNT_RECONNECTED" => vec![ChannelEffect::ResumeSends {
            reason: "Meta reconnected the WhatsApp Business Account (ACCOUNT_RECONNECTED)".into(),
        }],
        _ => Vec::new(),
    }
}

fn quality_update(data: &ChannelQualityData) -> Vec<ChannelEffect> {
    let mut out = Vec::new();
    if let Some(tier) = text(data.max_daily_conversations_per_business.as_ref())
        .or_else(|| text(data.current_limit.as_ref()))
    {
        out.push(ChannelEffect::SetTier { tier });
    }
    if let Some(event) = text(Some(&data.event)) {
        out.push(ChannelEffect::SetQuality {
            display_phone_number: text(data.display_phone_number.as_ref()),
            event,
        });
    }
    out
}

/// Meta's times: RFC 3339 (`2026-04-19T13:59:20+0000` has no colon in its offset) or unix
/// seconds.
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<i64>() {
        return Some(secs.saturating_mul(1000));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z"))
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse::parse_webhook;
    use serde_json::json;

    /// `value` as the parser types it when Meta sends it as a WhatsApp `field` change.
    fn parsed(field: &str, value: Value) -> EventData {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
            "changes": [{"field": field, "value": value}]}]});
        let events = parse_webhook(body.to_string().as_bytes()).expect("parses");
        assert_eq!(events.len(), 1);
        events[0].data.clone()
    }

    fn account(value: Value) -> EventData {
        parsed("account_update", value)
    }

    #[test]
    fn uninstall_of_our_app_disconnects_and_of_another_app_does_not() {
        let data = json!({"event": "PARTNER_APP_UNINSTALLED",
            "waba_info": {"waba_id": "1", "owner_business_id": "2", "partner_app_id": "5731"}});
        assert!(matches!(
            channel_effects(&account(data.clone()), Some("5731"))[..],
            [ChannelEffect::Disconnect { .. }]
        ));
        assert!(channel_effects(&account(data.clone()), Some("9999")).is_empty());
        assert!(channel_effects(&account(data.clone()), None).is_empty());
        let removed = json!({"event": "PARTNER_REMOVED", "waba_info": {"waba_id": "1"}});
        assert!(matches!(
            channel_effects(&account(removed.clone()), Some("9999"))[..],
            [ChannelEffect::Disconnect { .. }]
        ));
    }

    #[test]
    fn restrictions_pause_until_their_expiration() {
        let data = json!({"event": "ACCOUNT_RESTRICTION", "restriction_info": [
            {"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION", "expiration": "2026-04-19T13:59:20+0000"},
            {"restriction_type": "RESTRICTED_CUSTOMER_INITIATED_MESSAGING", "expiration": "2026-04-20T00:00:00+0000"}]});
        let e = channel_effects(&account(data.clone()), None);
        // 2026-04-20T00:00:00Z in unix ms, computed by hand: 20563 days × 86 400 000.
        assert_eq!(
            e,
            vec![ChannelEffect::PauseSends {
                reason: "Meta restricted messaging on the WhatsApp Business Account (RESTRICTED_CUSTOMER_INITIATED_MESSAGING)".into(),
                until: Some(1_776_643_200_000),
            }]
        );
        let only_marketing = json!({"event": "ACCOUNT_RESTRICTION", "restriction_info": [
            {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": "2026-04-19T13:59:20+0000"}]});
        assert!(channel_effects(&account(only_marketing.clone()), None).is_empty());
    }

    #[test]
    fn bans_pause_and_reinstatements_resume() {
        let ban = json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "2026-11-30"}});
        assert!(matches!(
            channel_effects(&account(ban.clone()), None)[..],
            [ChannelEffect::PauseSends { until: None, .. }]
        ));
        let back = json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE"}});
        assert!(matches!(
            channel_effects(&account(back.clone()), None)[..],
            [ChannelEffect::ResumeSends { .. }]
        ));
        let violation =
            json!({"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}});
        assert!(channel_effects(&account(violation.clone()), None).is_empty());
    }

    #[test]
    fn quality_updates_carry_tier_and_event() {
        let data = json!({"display_phone_number": "15559990000", "event": "THROUGHPUT_UPGRADE",
            "current_limit": "TIER_UNLIMITED", "max_daily_conversations_per_business": "TIER_100K"});
        assert_eq!(
            channel_effects(&parsed("phone_number_quality_update", data.clone()), None),
            vec![
                ChannelEffect::SetTier {
                    tier: "TIER_100K".into()
                },
                ChannelEffect::SetQuality {
                    display_phone_number: Some("15559990000".into()),
                    event: "THROUGHPUT_UPGRADE".into()
                }
            ]
        );
        let message = parsed(
            "messages",
            json!({"metadata": {"phone_number_id": "2"}, "messages": [{"id": "wamid.1",
                "type": "text", "text": {"body": "TIER_100K"}}]}),
        );
        assert!(channel_effects(&message, None).is_empty());
    }
}
