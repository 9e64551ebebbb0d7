//! Prefixed, time-ordered identifiers (`ins_…`, `ch_…`, `evt_…`): UUID v7 in simple hex form
//! behind a short prefix, so ids sort by creation time and say what they name.

/// Prefix of instance ids.
pub const INSTANCE: &str = "ins_";
/// Prefix of channel ids.
pub const CHANNEL: &str = "ch_";
/// Prefix of event ids.
pub const EVENT: &str = "evt_";
/// Prefix of outbound message ids (also sent to Meta as `biz_opaque_callback_data`).
pub const MESSAGE: &str = "msg_";

/// A new id with the given prefix.
pub fn new_id(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 32);
    s.push_str(prefix);
    s.push_str(&uuid::Uuid::now_v7().simple().to_string());
    s
}

/// Whether `id` looks like an id of ours with this prefix (cheap shape check used to answer
/// 404 early for garbage ids without touching the database).
pub fn is_valid(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_sort_by_time() {
        let a = new_id(EVENT);
        let b = new_id(EVENT);
        assert!(is_valid(EVENT, &a));
        assert!(a < b);
        assert!(!is_valid(CHANNEL, &a));
        assert!(!is_valid(EVENT, "evt_../../etc"));
    }
}
