//! Who controls an Instagram / Messenger conversation after a handover webhook (issue 16 §5).
//!
//! Pure: from a parsed `thread.control` event and this bridge's Meta app id to the thread's
//! new [`ThreadOwner`]. The store applies it in the transaction that records the event (so a
//! duplicate delivery, dropped before, never applies it twice) and writes `owned_by_bridge`
//! into the delivered event. Never does I/O.
//!
//! Meta's rules, from "Handover Protocol" (Messenger Platform,
//! <https://developers.facebook.com/docs/messenger-platform/handover-protocol/>, read
//! 2026-12-04) and "messaging_handovers Webhook Event Reference"
//! (<https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/messaging_handovers>,
//! read 2026-12-04):
//! - "Only one app has control at a time and other apps are not able to send a message until
//!   the controlling app releases control."
//! - A conversation starts idle, and "any app can take control of the conversation while the
//!   conversation is idle"; idle-mode messages reach every app through the handover-specific
//!   webhooks (`standby`). So a `standby` message says nothing about who controls the thread,
//!   and the bridge does not change ownership on one.
//! - `pass_thread_control` is sent "when thread ownership for a user has been passed to your
//!   application", `take_thread_control` "when thread ownership for a user has been taken away
//!   from your application"; both name `new_owner_app_id` (and `previous_owner_app_id`).
//! - `request_thread_control` asks the app in control to pass it: nothing changes.
//!
//! When the event names the new owner and the bridge knows its own app id
//! (`META_APP_ID`), the two are compared. Otherwise the page's wording decides: a
//! pass means this app now controls the thread, a take means another app does.

use super::data::{EventData, ThreadControlData};

/// Who controls a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadOwner {
    /// This bridge's Meta app.
    Bridge { app_id: Option<String> },
    /// Another Meta app (its id when Meta named it; `263902037430900` is the Page inbox,
    /// `1217981644879628` the Instagram inbox).
    Other { app_id: Option<String> },
}

impl ThreadOwner {
    /// `bridge` or `other` (the stored and API value).
    pub fn as_str(&self) -> &'static str {
        match self {
            ThreadOwner::Bridge { .. } => OWNER_BRIDGE,
            ThreadOwner::Other { .. } => OWNER_OTHER,
        }
    }

    pub fn app_id(&self) -> Option<&str> {
        match self {
            ThreadOwner::Bridge { app_id } | ThreadOwner::Other { app_id } => app_id.as_deref(),
        }
    }

    pub fn is_bridge(&self) -> bool {
        matches!(self, ThreadOwner::Bridge { .. })
    }

    /// From the stored columns; `None` for a value this version does not know.
    pub fn from_parts(owner: &str, app_id: Option<String>) -> Option<Self> {
        match owner {
            OWNER_BRIDGE => Some(ThreadOwner::Bridge { app_id }),
            OWNER_OTHER => Some(ThreadOwner::Other { app_id }),
            _ => None,
        }
    }
}

/// Stored and API value of [`ThreadOwner::Bridge`].
pub const OWNER_BRIDGE: &str = "bridge";
/// Stored and API value of [`ThreadOwner::Other`].
pub const OWNER_OTHER: &str = "other";

/// The owner of the thread after a `thread.control` event; `None` for a request (and for any
/// other event).
pub fn owner_after(data: &EventData, app_id: Option<&str>) -> Option<ThreadOwner> {
    let EventData::ThreadControl(d) = data else {
        return None;
    };
    owner_after_control(d, app_id)
}

/// [`owner_after`] of one handover item.
pub fn owner_after_control(d: &ThreadControlData, app_id: Option<&str>) -> Option<ThreadOwner> {
    let new_owner = d.new_owner_app_id.clone();
    let ours = match (new_owner.as_deref(), app_id.filter(|a| !a.is_empty())) {
        (Some(new), Some(us)) => new == us,
        _ => match d.action.as_str() {
            "pass" => true,
            "take" => false,
            _ => return None,
        },
    };
    match d.action.as_str() {
        "pass" | "take" if ours => Some(ThreadOwner::Bridge {
            app_id: new_owner.or_else(|| app_id.map(str::to_owned)),
        }),
        "pass" | "take" => Some(ThreadOwner::Other { app_id: new_owner }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(action: &str, new: Option<&str>) -> ThreadControlData {
        ThreadControlData {
            action: action.into(),
            new_owner_app_id: new.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn the_new_owner_is_compared_with_our_app_when_both_are_known() {
        let us = Some("236400000000001");
        for (action, new, want) in [
            (
                "pass",
                Some("236400000000001"),
                Some(ThreadOwner::Bridge {
                    app_id: Some("236400000000001".into()),
                }),
            ),
            (
                "pass",
                Some("263902037430900"),
                Some(ThreadOwner::Other {
                    app_id: Some("263902037430900".into()),
                }),
            ),
            (
                "take",
                Some("236400000000001"),
                Some(ThreadOwner::Bridge {
                    app_id: Some("236400000000001".into()),
                }),
            ),
            (
                "take",
                Some("555"),
                Some(ThreadOwner::Other {
                    app_id: Some("555".into()),
                }),
            ),
            ("request", Some("555"), None),
        ] {
            assert_eq!(
                owner_after_control(&control(action, new), us),
                want,
                "{action} {new:?}"
            );
        }
    }

    #[test]
    fn without_ids_the_action_decides_as_meta_words_it() {
        assert_eq!(
            owner_after_control(&control("pass", None), Some("236400000000001")),
            Some(ThreadOwner::Bridge {
                app_id: Some("236400000000001".into())
            })
        );
        assert_eq!(
            owner_after_control(&control("take", None), None),
            Some(ThreadOwner::Other { app_id: None })
        );
        // No app id configured: a pass naming an app is still ours (sent to the app it was
        // passed to), a take is another app's.
        assert_eq!(
            owner_after_control(&control("pass", Some("9")), None),
            Some(ThreadOwner::Bridge {
                app_id: Some("9".into())
            })
        );
        assert_eq!(
            owner_after_control(&control("take", Some("9")), None),
            Some(ThreadOwner::Other {
                app_id: Some("9".into())
            })
        );
        assert_eq!(owner_after_control(&control("request", None), None), None);
    }
}
