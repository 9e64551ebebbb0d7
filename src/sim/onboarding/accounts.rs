//! The simulated Meta world the connect flows see: the user, businesses, WABAs and phone
//! numbers, Pages, Instagram accounts, Lead Ads leads and forms.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sim::graph::Kind;

/// The simulated Meta side of the connect flows: one Facebook user with businesses (WABAs and
/// phone numbers) and Pages (optionally linked to an Instagram account), and Instagram Login
/// professional accounts. Readable and replaceable over `/_sim/accounts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimAccounts {
    pub user: SimUser,
    pub businesses: Vec<SimBusiness>,
    pub pages: Vec<SimPage>,
    pub instagram_logins: Vec<SimIgLogin>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimUser {
    /// App-scoped user id.
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimBusiness {
    pub id: String,
    pub name: String,
    pub wabas: Vec<SimWaba>,
    /// The business integration system user Embedded Signup creates for the app in this
    /// business: `debug_token` of an Embedded Signup business token names it as `user_id`,
    /// while `/me` with that token answers the person who ran the flow. Empty = derived from
    /// the business id.
    pub system_user_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimWaba {
    pub id: String,
    pub name: String,
    pub phone_numbers: Vec<SimPhone>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimPhone {
    pub id: String,
    pub display_phone_number: String,
    pub verified_name: String,
    /// `APPROVED` / `AVAILABLE_WITHOUT_REVIEW` register; anything else (`PENDING_REVIEW`,
    /// `DECLINED`) is refused with 133015 ("wait before registering", retryable).
    pub name_status: String,
    pub quality_rating: String,
    /// The two-step verification PIN once set (`POST /{phone}` `{"pin"}`, or the first
    /// successful `/register`); `/register` with a different PIN then answers 133005.
    pub two_step_pin: Option<String>,
    /// `code_verification_status` (`NOT_VERIFIED`, `EXPIRED`, ...); `None` = `VERIFIED`.
    /// `request_code` + `verify_code` with the right code make it `VERIFIED`.
    pub code_verification_status: Option<String>,
    /// In use with the WhatsApp Business app: Embedded Signup offers it only under
    /// `featureType: whatsapp_business_app_onboarding` (coexistence) and finishes with
    /// `FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING`.
    pub on_biz_app: bool,
    /// Registered with the Cloud API before the simulation starts (`platform_type`
    /// CLOUD_API), e.g. through another provider.
    pub cloud_api_registered: bool,
    /// Fault: Meta refuses to change this number's PIN (`POST /{phone}` answers `(#200)
    /// Permissions error`), so only its current PIN registers it.
    pub refuse_pin_change: bool,
    /// `status` of `GET /{phone}` (`FLAGGED`, `RESTRICTED`, ...); `None` = `CONNECTED` once
    /// registered, `PENDING` before.
    pub status: Option<String>,
    /// `whatsapp_business_manager_messaging_limit`; `None` = `TIER_2K`.
    pub messaging_limit: Option<String>,
    /// `health_status` as Meta answers it; `None` = every node `AVAILABLE`.
    pub health_status: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimPage {
    pub id: String,
    pub name: String,
    pub instagram: Option<SimIgAccount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimIgAccount {
    pub id: String,
    pub username: String,
}

/// An Instagram professional account reachable through Instagram Login (no Page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimIgLogin {
    /// The professional account id (`user_id`, `entry.id` of the webhooks).
    pub user_id: String,
    pub username: String,
    pub name: String,
}

impl Default for SimAccounts {
    fn default() -> Self {
        let phone = |id: &str, display: &str, name: &str, status: &str| SimPhone {
            id: id.into(),
            display_phone_number: display.into(),
            verified_name: name.into(),
            name_status: status.into(),
            quality_rating: "GREEN".into(),
            two_step_pin: None,
            code_verification_status: None,
            on_biz_app: false,
            cloud_api_registered: false,
            refuse_pin_change: false,
            status: None,
            messaging_limit: None,
            health_status: None,
        };
        Self {
            user: SimUser {
                id: "122100000000000001".into(),
                name: "Sim Tester".into(),
            },
            businesses: vec![SimBusiness {
                id: "101000000000001".into(),
                name: "Sim Business".into(),
                system_user_id: "129000000000001".into(),
                wabas: vec![SimWaba {
                    id: "102000000000001".into(),
                    name: "Sim Shop WABA".into(),
                    phone_numbers: vec![
                        phone("106000000000001", "+1 555-0100", "Sim Shop", "APPROVED"),
                        phone(
                            "106000000000002",
                            "+1 555-0101",
                            "Sim Shop Two",
                            "PENDING_REVIEW",
                        ),
                    ],
                }],
            }],
            pages: vec![
                SimPage {
                    id: "105000000000001".into(),
                    name: "Sim Page".into(),
                    instagram: Some(SimIgAccount {
                        id: "178410000000001".into(),
                        username: "sim.shop".into(),
                    }),
                },
                SimPage {
                    id: "105000000000002".into(),
                    name: "Sim Second Page".into(),
                    instagram: None,
                },
            ],
            instagram_logins: vec![SimIgLogin {
                user_id: "178410000000009".into(),
                username: "sim.direct".into(),
                name: "Sim Direct".into(),
            }],
        }
    }
}

impl SimAccounts {
    pub(super) fn waba(&self, id: &str) -> Option<(&SimBusiness, &SimWaba)> {
        self.businesses
            .iter()
            .find_map(|b| b.wabas.iter().find(|w| w.id == id).map(|w| (b, w)))
    }

    pub(super) fn phone(&self, id: &str) -> Option<(&SimBusiness, &SimWaba, &SimPhone)> {
        self.businesses.iter().find_map(|b| {
            b.wabas.iter().find_map(|w| {
                w.phone_numbers
                    .iter()
                    .find(|p| p.id == id)
                    .map(|p| (b, w, p))
            })
        })
    }

    pub(super) fn phone_mut(&mut self, id: &str) -> Option<&mut SimPhone> {
        self.businesses
            .iter_mut()
            .flat_map(|b| b.wabas.iter_mut())
            .flat_map(|w| w.phone_numbers.iter_mut())
            .find(|p| p.id == id)
    }

    pub(super) fn page(&self, id: &str) -> Option<&SimPage> {
        self.pages.iter().find(|p| p.id == id)
    }

    pub(super) fn ig_login(&self, id: &str) -> Option<&SimIgLogin> {
        self.instagram_logins.iter().find(|i| i.user_id == id)
    }

    pub(super) fn is_ig(&self, id: &str) -> bool {
        self.ig_login(id).is_some()
            || self
                .pages
                .iter()
                .any(|p| p.instagram.as_ref().is_some_and(|i| i.id == id))
    }

    pub(super) fn is_business(&self, id: &str) -> bool {
        self.businesses.iter().any(|b| b.id == id)
    }

    /// The channel an asset id sends as, if it is a sending account.
    pub(super) fn channel_kind(&self, id: &str) -> Option<(Kind, Option<String>)> {
        if let Some((_, waba, _)) = self.phone(id) {
            Some((Kind::WhatsApp, Some(waba.id.clone())))
        } else if self.page(id).is_some() {
            Some((Kind::Messenger, None))
        } else if self.is_ig(id) {
            Some((Kind::Instagram, None))
        } else {
            None
        }
    }
}

/// A lead of the Lead Ads registry (`GET /{leadgen_id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimLead {
    pub leadgen_id: String,
    pub page_id: String,
    pub form_id: String,
    #[serde(default)]
    pub ad_id: Option<String>,
    #[serde(default)]
    pub adset_id: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// ISO-8601 with `+0000`, like Meta.
    #[serde(default = "default_created_time")]
    pub created_time: String,
    /// `[{"name": "email", "values": ["a@b.com"]}, ...]`
    #[serde(default)]
    pub field_data: Value,
    #[serde(default)]
    pub is_organic: bool,
    #[serde(default = "default_platform")]
    pub platform: String,
}

fn default_created_time() -> String {
    "2026-11-17T12:00:00+0000".into()
}

fn default_platform() -> String {
    "fb".into()
}

impl SimLead {
    /// A paid lead (`ad_id` 120210000000001) created 2026-11-17T12:00:00+0000 on Facebook.
    pub fn new(leadgen_id: &str, page_id: &str, form_id: &str, field_data: Value) -> Self {
        Self {
            leadgen_id: leadgen_id.into(),
            page_id: page_id.into(),
            form_id: form_id.into(),
            ad_id: Some("120210000000001".into()),
            adset_id: Some("120210000000002".into()),
            campaign_id: Some("120210000000003".into()),
            created_time: default_created_time(),
            field_data,
            is_organic: false,
            platform: default_platform(),
        }
    }

    /// `created_time` as Unix seconds.
    pub(super) fn created_unix(&self) -> Option<i64> {
        chrono::DateTime::parse_from_str(&self.created_time, "%Y-%m-%dT%H:%M:%S%z")
            .ok()
            .map(|t| t.timestamp())
    }

    pub(super) fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.leadgen_id,
            "created_time": self.created_time,
            "form_id": self.form_id,
            "field_data": if self.field_data.is_array() { self.field_data.clone() } else { json!([]) },
            "is_organic": self.is_organic,
            "platform": self.platform,
        });
        for (k, val) in [
            ("ad_id", &self.ad_id),
            ("adset_id", &self.adset_id),
            ("campaign_id", &self.campaign_id),
        ] {
            if let Some(val) = val {
                v[k] = json!(val);
            }
        }
        v
    }
}

/// The lead fields Meta gives only to a token with an ads permission ("Retrieving Leads",
/// <https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving>, read
/// 2026-12-02: "To read ad specific fields, such as `ad_id` or `campaign_id`, you will need …
/// the `ads_management` permission").
pub(super) const LEAD_AD_FIELDS: &[&str] = &[
    "ad_id",
    "ad_name",
    "adset_id",
    "adset_name",
    "campaign_id",
    "campaign_name",
];

/// A Lead Ads form (`GET /{form_id}?fields=questions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimLeadForm {
    pub form_id: String,
    pub page_id: String,
    #[serde(default)]
    pub name: String,
    /// `[{"key": "email", "label": "Email", "type": "EMAIL", "id": "…"}, ...]` (Meta's
    /// `LeadGenQuestion`).
    #[serde(default)]
    pub questions: Value,
}

impl SimLeadForm {
    /// A form with `(key, label, type)` questions.
    pub fn new(form_id: &str, page_id: &str, questions: &[(&str, &str, &str)]) -> Self {
        Self {
            form_id: form_id.into(),
            page_id: page_id.into(),
            name: "Lead form".into(),
            questions: Value::Array(
                questions
                    .iter()
                    .enumerate()
                    .map(|(i, (key, label, kind))| {
                        json!({"key": key, "label": label, "type": kind, "id": format!("{}{i}", form_id)})
                    })
                    .collect(),
            ),
        }
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "id": self.form_id,
            "name": self.name,
            "status": "ACTIVE",
            "locale": "en_US",
            "created_time": "2026-11-01T09:00:00+0000",
            "questions": if self.questions.is_array() { self.questions.clone() } else { json!([]) },
        })
    }
}
