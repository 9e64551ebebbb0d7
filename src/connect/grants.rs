//! Which webhook fields a Page may be subscribed to with the permissions a person granted,
//! and what the person loses for each permission they did not grant (defect 5 of issue 12).
//!
//! Meta refuses `POST /{page-id}/subscribed_apps?subscribed_fields=...` as a whole when one
//! field needs a permission the token lacks (`(#200) To subscribe to the leadgen field, one of
//! these permissions is needed: leads_retrieval`). So the bridge reads the granted permissions
//! first (`debug_token`: `scopes` and, per Page / Instagram account, `granular_scopes`),
//! subscribes only the fields they cover, and tells the person on the connect page which
//! permission is missing and what they will not receive.
//!
//! Sources (read 2026-12-02):
//! - "Webhooks for Pages", <https://developers.facebook.com/docs/pages-api/webhooks-for-pages>:
//!   every Page subscription needs `pages_manage_metadata` (and `pages_show_list`);
//!   "pages_messaging is also required for the messages related fields".
//! - "Webhooks for Leads", <https://developers.facebook.com/docs/graph-api/webhooks/getting-started/webhooks-for-leadgen>:
//!   `leadgen` needs `leads_retrieval` (with `pages_manage_metadata`, `pages_show_list`,
//!   `pages_read_engagement`).
//! - "Instagram webhook fields and permissions",
//!   <https://developers.facebook.com/documentation/instagram-platform/webhooks/fields>, and
//!   "Webhooks for Instagram Messaging", <https://developers.facebook.com/docs/instagram-messaging/webhooks>:
//!   Instagram messaging fields through a Page (Facebook Login) need `instagram_basic`,
//!   `instagram_manage_messages` and `pages_manage_metadata`.
//! - "Page Subscribed Apps", <https://developers.facebook.com/docs/graph-api/reference/page/subscribed_apps>.

use serde::{Deserialize, Serialize};

use crate::channels::ChannelKind;
use crate::meta::oauth::DebugToken;

/// Needed for any Page subscription (create, read, delete).
pub const SUBSCRIBE_PERMISSION: &str = "pages_manage_metadata";

/// The Messenger webhook fields a Messenger channel subscribes its Page to.
pub const MESSENGER_FIELDS: &[&str] = &[
    "messages",
    "messaging_postbacks",
    "message_echoes",
    "message_reactions",
    "messaging_referrals",
    "message_reads",
    "message_deliveries",
    // Handover protocol: pass / take / request thread control, and the messages of
    // conversations this app does not control ("Handover Protocol", read 2026-12-04: "In
    // order to receive this notification an app needs to be subscribed to the handover
    // specific Webhooks").
    "messaging_handovers",
    "standby",
];

/// The Page fields an Instagram account linked to that Page needs (Facebook Login path).
pub const INSTAGRAM_PAGE_FIELDS: &[&str] = &[
    "messages",
    "messaging_postbacks",
    "message_reactions",
    "messaging_referrals",
];

/// Webhook fields that need one permission, and what the person loses without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldGroup {
    pub fields: &'static [&'static str],
    /// Any one of these permissions allows the fields (Meta's "one of these permissions").
    pub any_of: &'static [&'static str],
    /// What does not arrive when none of `any_of` was granted.
    pub loses: &'static str,
}

const MESSENGER_GROUPS: &[FieldGroup] = &[
    FieldGroup {
        fields: MESSENGER_FIELDS,
        any_of: &["pages_messaging"],
        loses: "Messenger messages (with their postbacks, reactions, reads and deliveries)",
    },
    FieldGroup {
        fields: &["leadgen"],
        any_of: &["leads_retrieval"],
        loses: "leads from the Page's Lead Ads forms",
    },
];

const INSTAGRAM_PAGE_GROUPS: &[FieldGroup] = &[FieldGroup {
    fields: INSTAGRAM_PAGE_FIELDS,
    any_of: &["instagram_manage_messages", "pages_messaging"],
    loses: "Instagram Direct messages",
}];

/// The field groups a Page-based channel of `kind` wants.
pub fn page_groups(kind: ChannelKind) -> &'static [FieldGroup] {
    match kind {
        ChannelKind::Instagram => INSTAGRAM_PAGE_GROUPS,
        _ => MESSENGER_GROUPS,
    }
}

/// Every field a Page-based channel of `kind` would like (the default when nothing is known).
pub fn all_page_fields(kind: ChannelKind) -> Vec<&'static str> {
    page_groups(kind)
        .iter()
        .flat_map(|g| g.fields.iter().copied())
        .collect()
}

/// One permission granted to a token, and the objects it is limited to (empty = all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub scope: String,
    #[serde(default)]
    pub target_ids: Vec<String>,
}

/// The permissions a token carries, as `debug_token` reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    pub grants: Vec<Grant>,
}

impl Grants {
    /// From `debug_token`: a scope of `granular_scopes` is limited to its `target_ids`; a scope
    /// only in `scopes` applies to everything.
    pub fn from_debug(d: &DebugToken) -> Self {
        let mut grants: Vec<Grant> = d
            .granular_scopes
            .iter()
            .map(|g| Grant {
                scope: g.scope.clone(),
                target_ids: g.target_ids.clone(),
            })
            .collect();
        for s in &d.scopes {
            if !grants.iter().any(|g| &g.scope == s) {
                grants.push(Grant {
                    scope: s.clone(),
                    target_ids: Vec::new(),
                });
            }
        }
        Self { grants }
    }

    /// Whether `scope` was granted for any of `objects` (a Page id, its Instagram account id).
    pub fn allows(&self, scope: &str, objects: &[&str]) -> bool {
        self.grants.iter().any(|g| {
            g.scope == scope
                && (g.target_ids.is_empty()
                    || g.target_ids.iter().any(|t| objects.contains(&t.as_str())))
        })
    }
}

/// A permission the person did not grant, and what they will not receive because of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    pub permission: String,
    pub loses: String,
}

impl Missing {
    /// A sentence for the connect page.
    pub fn sentence(&self) -> String {
        format!(
            "the permission {} was not granted, so {} will not be received",
            self.permission, self.loses
        )
    }
}

/// What to subscribe a Page to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagePlan {
    pub fields: Vec<&'static str>,
    /// Groups left out for a missing permission.
    pub missing: Vec<Missing>,
}

/// Why a Page cannot be subscribed at all: a sentence for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked(pub String);

/// The fields a Page-based channel of `kind` may subscribe with `grants` on `objects` (the
/// Page id, and the Instagram account id for an Instagram channel).
pub fn plan_page(
    kind: ChannelKind,
    grants: &Grants,
    objects: &[&str],
) -> Result<PagePlan, Blocked> {
    if !grants.allows(SUBSCRIBE_PERMISSION, objects) {
        return Err(Blocked(format!(
            "the permission {SUBSCRIBE_PERMISSION} was not granted for this Page; without it Meta does not let the app subscribe to the Page's webhooks, so nothing would arrive. Connect again and allow it"
        )));
    }
    let mut fields = Vec::new();
    let mut missing = Vec::new();
    for g in page_groups(kind) {
        if g.any_of.iter().any(|p| grants.allows(p, objects)) {
            fields.extend(g.fields.iter().copied());
        } else {
            missing.push(Missing {
                permission: g.any_of[0].to_string(),
                loses: g.loses.to_string(),
            });
        }
    }
    if fields.is_empty() {
        let what: Vec<String> = missing.iter().map(Missing::sentence).collect();
        return Err(Blocked(format!(
            "{}; nothing would arrive, so it was not connected. Connect again and allow the missing permission",
            what.join("; ")
        )));
    }
    Ok(PagePlan { fields, missing })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::graph::GranularScope;

    fn debug(scopes: &[&str], granular: &[(&str, &[&str])]) -> DebugToken {
        DebugToken {
            is_valid: true,
            scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
            granular_scopes: granular
                .iter()
                .map(|(s, t)| GranularScope {
                    scope: (*s).to_string(),
                    target_ids: t.iter().map(|x| (*x).to_string()).collect(),
                })
                .collect(),
            ..DebugToken::default()
        }
    }

    #[test]
    fn granular_targets_limit_a_scope_to_their_objects() {
        let g = Grants::from_debug(&debug(
            &["pages_messaging", "public_profile"],
            &[("pages_messaging", &["p1"])],
        ));
        assert!(g.allows("pages_messaging", &["p1"]));
        assert!(!g.allows("pages_messaging", &["p2"]));
        assert!(g.allows("public_profile", &["p2"]));
        assert!(!g.allows("leads_retrieval", &["p1"]));
    }

    #[test]
    fn messenger_without_leads_retrieval_subscribes_messaging_only() {
        let g = Grants::from_debug(&debug(&["pages_manage_metadata", "pages_messaging"], &[]));
        let plan = plan_page(ChannelKind::Messenger, &g, &["p1"]).expect("plan");
        assert_eq!(plan.fields, MESSENGER_FIELDS);
        assert_eq!(plan.missing.len(), 1);
        assert_eq!(plan.missing[0].permission, "leads_retrieval");
        assert!(plan.missing[0].sentence().contains("Lead Ads"));
    }

    #[test]
    fn leads_only_page_and_blocked_pages() {
        let leads = Grants::from_debug(&debug(&["pages_manage_metadata", "leads_retrieval"], &[]));
        let plan = plan_page(ChannelKind::Messenger, &leads, &["p1"]).expect("plan");
        assert_eq!(plan.fields, vec!["leadgen"]);
        assert_eq!(plan.missing[0].permission, "pages_messaging");
        let none = Grants::from_debug(&debug(&["pages_manage_metadata"], &[]));
        assert!(plan_page(ChannelKind::Messenger, &none, &["p1"]).is_err());
        let no_meta = Grants::from_debug(&debug(&["pages_messaging", "leads_retrieval"], &[]));
        let Err(Blocked(why)) = plan_page(ChannelKind::Messenger, &no_meta, &["p1"]) else {
            panic!("pages_manage_metadata is required");
        };
        assert!(why.contains("pages_manage_metadata"));
    }

    #[test]
    fn instagram_through_a_page_accepts_instagram_manage_messages_on_the_account() {
        let g = Grants::from_debug(&debug(
            &["pages_manage_metadata", "instagram_manage_messages"],
            &[
                ("instagram_manage_messages", &["ig1"]),
                ("pages_manage_metadata", &["p1"]),
            ],
        ));
        let plan = plan_page(ChannelKind::Instagram, &g, &["p1", "ig1"]).expect("plan");
        assert_eq!(plan.fields, INSTAGRAM_PAGE_FIELDS);
        assert!(plan.missing.is_empty());
        assert!(plan_page(ChannelKind::Instagram, &g, &["p2", "ig2"]).is_err());
    }
}
