//! `data` of `thread.control`: Meta's handover protocol on Instagram and Messenger.

use poem_openapi::Object;
use serde::Serialize;
use serde_json::Value;

/// `data` of `thread.control`: control of an Instagram / Messenger conversation moved between
/// Meta apps, or another app asked for it (Meta's `messaging_handovers` webhook items
/// `pass_thread_control`, `take_thread_control`, `request_thread_control`).
///
/// `action`: `pass` (control was passed, usually to this bridge's app), `take` (an app took
/// control, usually away from this bridge's app), `request` (another app asks this bridge's app
/// to pass control; nothing changed yet). `owned_by_bridge` says whether this bridge's app
/// controls the thread after the event; while another app does, `POST /v1/messages` to the
/// contact answers `409 thread_not_owned` unless the send sets `take_thread_control`.
#[derive(Debug, Clone, Default, Object, PartialEq, Serialize)]
#[oai(example)]
pub struct ThreadControlData {
    /// `pass`, `take` or `request`.
    pub action: String,
    /// pass / take: the app that controls the thread now (Meta's `new_owner_app_id`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_owner_app_id: Option<String>,
    /// pass / take: the app that had control (Meta's `previous_owner_app_id`; absent when the
    /// thread was idle).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_owner_app_id: Option<String>,
    /// request: the app that asks for control (Meta's `requested_owner_app_id`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_owner_app_id: Option<String>,
    /// The caller's `metadata` string, as Meta sent it.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// pass / take: whether this bridge's Meta app controls the thread after this event.
    /// Absent for `request` (control did not change).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owned_by_bridge: Option<bool>,
    /// True for items of `standby[]`.
    pub standby: bool,
}
